//! Version skew: whether this app, already loaded in a tab, is out of step with what is live.
//!
//! A tab keeps running the frontend it loaded while deploys go by. Two answers tell it that
//! it should reload: the backend's `/api/version` names the oldest app revision it still
//! serves ([`faro_types::API_REVISION`] is this app's, compiled in), and the site's
//! `/version.json` names the commit of the frontend live now (this app's own commit is
//! compiled in by `cargo xtask frontend build` as `FARO_GIT_SHA`).

use serde::Deserialize;

/// The live frontend's record of its commit, on the app's own origin.
pub const VERSION_PATH: &str = "/version.json";

/// The commit this app was built from; `unknown` for a build outside xtask.
pub const OWN_COMMIT: &str = match option_env!("FARO_GIT_SHA") {
    Some(sha) => sha,
    None => "unknown",
};

/// What this app reads of `/api/version`: only what it needs, so that any backend's answer,
/// older or newer than this app, reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BackendBuild {
    /// An older backend does not say: it serves every app.
    #[serde(default)]
    pub oldest_app_revision: u32,
}

/// `/version.json` of the live frontend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LiveBuild {
    #[serde(default)]
    pub git_sha: String,
}

/// This app's own build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnBuild<'a> {
    pub revision: u32,
    pub commit: &'a str,
}

impl OwnBuild<'static> {
    pub const fn this() -> Self {
        Self {
            revision: faro_types::API_REVISION,
            commit: OWN_COMMIT,
        }
    }
}

/// Why this app should be reloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The backend no longer serves apps of this revision.
    Unsupported,
    /// Another frontend has been published since this one loaded.
    NewerLive,
}

/// Whether `own` should be reloaded, given what the backend and the site answered (`None`
/// for an answer that did not come: no news is no reason to reload).
pub fn verdict(
    own: OwnBuild<'_>,
    backend: Option<&BackendBuild>,
    live: Option<&LiveBuild>,
) -> Option<Reload> {
    if backend.is_some_and(|b| own.revision < b.oldest_app_revision) {
        return Some(Reload::Unsupported);
    }
    let known = |sha: &str| !sha.is_empty() && sha != "unknown";
    match live {
        Some(live) if known(&live.git_sha) && known(own.commit) && live.git_sha != own.commit => {
            Some(Reload::NewerLive)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: OwnBuild<'static> = OwnBuild {
        revision: 3,
        commit: "aaaa",
    };

    fn backend(oldest: u32) -> BackendBuild {
        BackendBuild {
            oldest_app_revision: oldest,
        }
    }

    fn live(sha: &str) -> LiveBuild {
        LiveBuild {
            git_sha: sha.into(),
        }
    }

    #[test]
    fn an_app_older_than_the_backend_serves_is_told_to_reload() {
        assert_eq!(
            verdict(OWN, Some(&backend(4)), Some(&live("aaaa"))),
            Some(Reload::Unsupported)
        );
        assert_eq!(verdict(OWN, Some(&backend(3)), Some(&live("aaaa"))), None);
        assert_eq!(verdict(OWN, Some(&backend(1)), None), None);
    }

    #[test]
    fn a_newer_live_frontend_is_offered() {
        assert_eq!(
            verdict(OWN, Some(&backend(1)), Some(&live("bbbb"))),
            Some(Reload::NewerLive)
        );
        assert_eq!(
            verdict(OWN, None, Some(&live("bbbb"))),
            Some(Reload::NewerLive)
        );
    }

    #[test]
    fn unknown_commits_and_missing_answers_are_no_reason_to_reload() {
        for sha in ["", "unknown"] {
            assert_eq!(verdict(OWN, Some(&backend(1)), Some(&live(sha))), None);
        }
        let unknown = OwnBuild {
            revision: 3,
            commit: "unknown",
        };
        assert_eq!(verdict(unknown, None, Some(&live("bbbb"))), None);
        assert_eq!(verdict(OWN, None, None), None);
    }

    #[test]
    fn any_backends_version_answer_reads() {
        let old: BackendBuild =
            serde_json::from_str(r#"{"version":"0.1.0","git_sha":"x","commit_time":null}"#)
                .unwrap();
        assert_eq!(old.oldest_app_revision, 0);
        let newer: BackendBuild = serde_json::from_str(
            r#"{"git_sha":"x","api_revision":9,"oldest_app_revision":7,"something_new":true}"#,
        )
        .unwrap();
        assert_eq!(newer.oldest_app_revision, 7);
    }
}
