//! Publishing the frontend on Amplify Hosting, the way the app allows:
//!
//! - an app without a repository takes a manual deployment of the bundle built for the commit
//!   (CreateDeployment, the zip to the presigned URL, StartDeployment);
//! - an app connected to a repository refuses manual deployments and builds on its own: a
//!   RELEASE job with `commitId` set to the commit being deployed, so Amplify CI builds that
//!   commit (amplify.yml) and not whatever the branch's head is by then.
//!
//! Either way the job is watched (GetJob) until it ends. GetApp's `repository` says which case
//! an app is ([`repository`]).

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
    #[error("Amplify job {job} built commit {built}, not {wanted}")]
    WrongCommit {
        job: String,
        built: String,
        wanted: String,
    },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Call { .. } => "check that the frontend stack exists (`cargo xtask status --env …`) and the credentials allow amplify:GetApp, amplify:*Deployment, amplify:StartJob and amplify:GetJob".into(),
            Self::Upload(_) => "the presigned URL expires after a while: rerun the deploy".into(),
            Self::JobFailed { .. } => "open the job in the Amplify console for its log, fix, and rerun the deploy".into(),
            Self::TimedOut { .. } => "the job may still finish: check the Amplify console before rerunning".into(),
            Self::WrongCommit { .. } => "the app built another commit than it was asked to: check the branch in the Amplify console, then rerun the deploy".into(),
        })
    }
}

fn call(name: &'static str) -> impl Fn(String) -> Error {
    move |detail| Error::Call { call: name, detail }
}

/// The repository the app is connected to, or `None` for an app that takes manual deployments.
pub async fn repository(aws: &Aws, app_id: &str) -> Result<Option<String>, Error> {
    let app = sdk!(aws.amplify.get_app().app_id(app_id), call("GetApp"))?;
    Ok(app
        .app()
        .map(|a| a.repository().to_string())
        .filter(|r| !r.is_empty()))
}

/// A manual deployment of `zip` on an app without a repository; returns the job's id once it
/// succeeded.
pub async fn deploy_bundle(
    aws: &Aws,
    app_id: &str,
    branch: &str,
    zip: Vec<u8>,
    limit: Duration,
) -> Result<String, Error> {
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
    wait(aws, app_id, branch, &job_id, limit).await?;
    Ok(job_id)
}

/// Amplify CI's build of `commit` on a connected app; returns the job's id once it succeeded.
/// Without the commit, a RELEASE job builds the branch's head, which may be a push the
/// backend being deployed does not serve.
pub async fn release_commit(
    aws: &Aws,
    app_id: &str,
    branch: &str,
    commit: &str,
    limit: Duration,
) -> Result<String, Error> {
    let out = sdk!(
        aws.amplify
            .start_job()
            .app_id(app_id)
            .branch_name(branch)
            .job_type(JobType::Release)
            .commit_id(commit)
            .job_reason("cargo xtask deploy"),
        call("StartJob")
    )?;
    let job_id = out
        .job_summary()
        .map(|j| j.job_id().to_string())
        .unwrap_or_default();
    println!("    Amplify CI builds commit {commit} (job {job_id})");
    let built = wait(aws, app_id, branch, &job_id, limit).await?;
    if built != commit {
        return Err(Error::WrongCommit {
            job: job_id,
            built,
            wanted: commit.to_string(),
        });
    }
    Ok(job_id)
}

/// Watches a job until it succeeds (returning the commit it built) or ends otherwise.
async fn wait(
    aws: &Aws,
    app_id: &str,
    branch: &str,
    job_id: &str,
    limit: Duration,
) -> Result<String, Error> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let out = sdk!(
            aws.amplify
                .get_job()
                .app_id(app_id)
                .branch_name(branch)
                .job_id(job_id),
            call("GetJob")
        )?;
        let job = out.job();
        let summary = job.and_then(|j| j.summary());
        let status = summary.map(|s| s.status().clone());
        let text = status
            .as_ref()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        if text != last {
            println!("    amplify job {job_id}: {text}");
            last = text.clone();
        }
        match status {
            Some(JobStatus::Succeed) => {
                return Ok(summary
                    .map(|s| s.commit_id().to_string())
                    .unwrap_or_default());
            }
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
                    job: job_id.to_string(),
                    status: text,
                    reason,
                });
            }
            _ => {}
        }
        if started.elapsed() > limit {
            return Err(Error::TimedOut {
                job: job_id.to_string(),
                limit,
            });
        }
        JOB_PACE.pause(started).await;
    }
}
