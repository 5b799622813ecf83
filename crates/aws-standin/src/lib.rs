//! Test support of the deploy tests (tools/deploy/tests): what they run instead of AWS, speaking
//! the real wire protocols so that the deploy code under test is the code that runs against AWS.
//! Not part of the product: `faro-deploy` has it as a dev-dependency only.
//!
//! - [`amplify`]: Amplify Hosting's manual deployments (CreateDeployment, the presigned upload,
//!   StartDeployment, GetJob), StartJob for connected apps, and the published site itself.
//! - [`fargate`]: ECS's data plane in front of moto's ECS control plane: tasks really run (the
//!   backend binary pulled from the registry), exit codes and logs are real, a service rolls
//!   out with health checks and the deployment circuit breaker, and a load balancer answers.
//! - [`local`]: moto (CloudFormation, ECS's control plane, ECR, CloudWatch Logs, STS) and
//!   Debian's docker-registry as child processes on free ports.

pub mod amplify;
pub mod fargate;
pub mod local;
mod serve;

pub use serve::Served;
