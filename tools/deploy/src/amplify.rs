//! Publishing the frontend on Amplify Hosting: a manual deployment (CreateDeployment, upload
//! the zip to the presigned URL, StartDeployment, poll GetJob), or for an app connected to a
//! repository, a RELEASE job of the branch (Amplify CI builds it from amplify.yml).

use std::time::{Duration, Instant};

use aws_sdk_amplify::types::{JobStatus, JobType};

use crate::Hint;
use crate::aws::{Aws, sdk};
use crate::poll::Pace;

/// How often the wait on an Amplify job looks again.
const JOB_PACE: Pace = Pace {
    settle: Duration::from_secs(10),
    quick: Duration::from_millis(300),
    slow: Duration::from_secs(3),
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Amplify {call} failed: {detail}")]
    Call { call: &'static str, detail: String },
    #[error("uploading the frontend zip failed: {0}")]
    Upload(String),
    #[error("Amplify job {job} ended {status}: {reason}")]
    JobFailed {
        job: String,
        status: String,
        reason: String,
    },
    #[error("Amplify job {job} did not finish within {} s", limit.as_secs())]
    TimedOut { job: String, limit: Duration },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Call { .. } => "check that the frontend stack exists (`cargo xtask status --env …`) and the credentials allow amplify:*Deployment and amplify:GetJob".into(),
            Self::Upload(_) => "the presigned URL expires after a while: rerun the deploy".into(),
            Self::JobFailed { .. } => "open the job in the Amplify console for its log, fix, and rerun the deploy".into(),
            Self::TimedOut { .. } => "the job may still finish: check the Amplify console before rerunning".into(),
        })
    }
}

fn call(name: &'static str) -> impl Fn(String) -> Error {
    move |detail| Error::Call { call: name, detail }
}

/// How the frontend reached Amplify.
#[derive(Debug, Clone)]
pub struct Published {
    pub job_id: String,
    pub manual: bool,
}

pub async fn publish(
    aws: &Aws,
    app_id: &str,
    branch: &str,
    zip: Vec<u8>,
    limit: Duration,
) -> Result<Published, Error> {
    let app = sdk!(aws.amplify.get_app().app_id(app_id), call("GetApp"))?;
    let connected = app
        .app()
        .map(|a| a.repository())
        .is_some_and(|r| !r.is_empty());
    let (job_id, manual) = if connected {
        println!("    app is connected to a repository: starting the branch's CI job");
        let out = sdk!(
            aws.amplify
                .start_job()
                .app_id(app_id)
                .branch_name(branch)
                .job_type(JobType::Release)
                .job_reason("cargo xtask deploy"),
            call("StartJob")
        )?;
        (
            out.job_summary()
                .map(|j| j.job_id().to_string())
                .unwrap_or_default(),
            false,
        )
    } else {
        let created = sdk!(
            aws.amplify
                .create_deployment()
                .app_id(app_id)
                .branch_name(branch),
            call("CreateDeployment")
        )?;
        let job_id = created.job_id().unwrap_or_default().to_string();
        let size = zip.len();
        let response = reqwest::Client::new()
            .put(created.zip_upload_url())
            .header("content-type", "application/zip")
            .body(zip)
            .send()
            .await
            .map_err(|e| Error::Upload(e.to_string()))?;
        if !response.status().is_success() {
            return Err(Error::Upload(format!(
                "the upload URL answered {}",
                response.status()
            )));
        }
        println!("    uploaded {} KB (job {job_id})", size / 1024);
        sdk!(
            aws.amplify
                .start_deployment()
                .app_id(app_id)
                .branch_name(branch)
                .job_id(&job_id),
            call("StartDeployment")
        )?;
        (job_id, true)
    };
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let out = sdk!(
            aws.amplify
                .get_job()
                .app_id(app_id)
                .branch_name(branch)
                .job_id(&job_id),
            call("GetJob")
        )?;
        let job = out.job();
        let status = job.and_then(|j| j.summary()).map(|s| s.status().clone());
        let text = status
            .as_ref()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        if text != last {
            println!("    amplify job {job_id}: {text}");
            last = text.clone();
        }
        match status {
            Some(JobStatus::Succeed) => return Ok(Published { job_id, manual }),
            Some(JobStatus::Failed | JobStatus::Cancelled) => {
                let reason = job
                    .map(|j| j.steps())
                    .unwrap_or_default()
                    .iter()
                    .find(|s| s.status() == &JobStatus::Failed)
                    .map(|s| {
                        format!(
                            "step {}: {}",
                            s.step_name(),
                            s.status_reason().unwrap_or("failed")
                        )
                    })
                    .unwrap_or_else(|| "no failed step named".into());
                return Err(Error::JobFailed {
                    job: job_id,
                    status: text,
                    reason,
                });
            }
            _ => {}
        }
        if started.elapsed() > limit {
            return Err(Error::TimedOut { job: job_id, limit });
        }
        JOB_PACE.pause(started).await;
    }
}
