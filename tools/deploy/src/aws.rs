//! One SDK configuration for every AWS service the deploy drives.
//!
//! Endpoints come from the SDK's own settings: `AWS_ENDPOINT_URL` and the per-service
//! `AWS_ENDPOINT_URL_<SERVICE>` (`…_CLOUDFORMATION`, `…_ECS`, `…_ECR`, `…_CLOUDWATCH_LOGS`,
//! `…_STS`, `…_SECRETS_MANAGER`, `…_AMPLIFY`, `…_CLOUDWATCH`) point the tests at the stand-ins.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_smithy_http_client::{Builder as HttpClientBuilder, tls};

/// Clients of one account and region.
#[derive(Debug, Clone)]
pub struct Aws {
    pub region: String,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sts: aws_sdk_sts::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub amplify: aws_sdk_amplify::Client,
}

impl Aws {
    pub async fn connect(region: &str) -> Self {
        let config = shared(region).await;
        Self {
            region: region.to_string(),
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            amplify: aws_sdk_amplify::Client::new(&config),
        }
    }
}

/// The shared SDK configuration of `region` (credentials and endpoints from the usual places).
pub async fn shared(region: &str) -> SdkConfig {
    // rustls with ring, like the backend, so the workspace carries one TLS stack.
    let http_client = HttpClientBuilder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .http_client(http_client)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(4))
        .load()
        .await
}

/// Sends an SDK request and turns its failure into the caller's error: `error`, a
/// `FnOnce(String) -> E` such as an error variant or a module's `call(name)`, gets the
/// failure as one line ([`describe`]). A macro because the SDK's request builders share no
/// trait with `send`.
macro_rules! sdk {
    ($request:expr, $error:expr $(,)?) => {
        $request
            .send()
            .await
            .map_err(|e| ($error)($crate::aws::describe(&e)))
    };
}
pub(crate) use sdk;

/// An SDK error as one line: the service's code and message when it answered, else the
/// transport's chain of causes.
pub fn describe<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_sdk_cloudformation::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    if let Some(service) = err.as_service_error() {
        match (service.code(), service.message()) {
            (Some(code), Some(message)) => return format!("{code}: {message}"),
            (Some(code), None) => return code.to_string(),
            _ => {}
        }
    }
    causes(err)
}

/// An error and its chain of causes as one line (`a: b: c`): the top error alone often hides
/// whether DNS, TLS or the connection failed.
pub fn causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
