//! What the interface knows and decides, without a browser: plain Rust that compiles and is
//! tested on the host (`cargo test -p faro-frontend`). Each module here has its view under
//! [`crate::ui`] with the same name where there is one (`state::chart` ↔ `ui::chart`,
//! `state::form` ↔ `ui::form`).

pub mod chart;
pub mod chat;
pub mod config;
pub mod form;
pub mod format;
pub mod idempotency;
pub mod org;
pub mod release_control;
pub mod route;
pub mod skew;
pub mod timeline;

/// What the state modules' tests build on.
#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::DateTime;
    use faro_types::{Release, ReleaseStatus, UserRef};

    /// Release `id` of `main` at commit `abc{id:04}def` to `production` of `shop`, deployed,
    /// requested by Ada (user 1) at the epoch; no build, no links, no approval.
    pub fn release(id: u64) -> Release {
        Release {
            id,
            project: "shop".into(),
            environment: "production".into(),
            production: true,
            branch: "main".into(),
            commit_sha: Some(format!("abc{id:04}def")),
            tag: None,
            commit_time: None,
            status: ReleaseStatus::Deployed,
            sleakops_build_id: None,
            sleakops_deployment_id: None,
            requested_by: UserRef {
                id: 1,
                name: "Ada".into(),
            },
            requested_at: DateTime::UNIX_EPOCH,
            started_at: None,
            deployed_at: None,
            finished_at: None,
            failure_reason: None,
            notes: None,
            retry_of: None,
            promoted_from: None,
            promoted_to: Vec::new(),
            rollback_of: None,
            build_of: None,
            approval: None,
        }
    }
}
