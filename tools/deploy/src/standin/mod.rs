//! Stand-ins for the AWS parts the tests cannot reach and moto does not serve, speaking the
//! real wire protocols so that the deploy code under test is the code that runs against AWS.
//!
//! - [`amplify`]: Amplify Hosting's manual deployments (CreateDeployment, the presigned upload,
//!   StartDeployment, GetJob), StartJob for connected apps, and the published site itself.
//! - [`fargate`]: ECS's data plane in front of moto's ECS control plane: tasks really run (the
//!   backend binary pulled from the registry), exit codes and logs are real, a service rolls
//!   out with health checks and the deployment circuit breaker, and a load balancer answers.

pub mod amplify;
pub mod fargate;
mod serve;

pub use serve::Served;
