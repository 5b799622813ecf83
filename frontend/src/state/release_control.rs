//! What the interface decides about release control: a release's approval as its page shows
//! it (who may decide, what the others read), where a deployed release may be promoted, and
//! which release a rollback of an environment goes back to, so the card can name it before
//! anyone confirms.

use super::format;
use chrono::{DateTime, Utc};
use faro_types::{Environment, Release, ReleaseStatus, Role, RunningRelease};

/// A release's approval, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalView {
    /// The environment did not ask for one.
    NotNeeded,
    /// Waiting for a second person.
    Waiting {
        requested_by: String,
        until: DateTime<Utc>,
        /// The viewer asked for it: someone else must approve.
        mine: bool,
        /// The viewer may approve or reject: an owner who did not ask for it.
        may_decide: bool,
    },
    Approved {
        by: String,
        at: DateTime<Utc>,
    },
    Rejected {
        by: String,
        at: DateTime<Utc>,
        reason: String,
    },
    /// Nobody answered before `at`.
    Expired {
        at: DateTime<Utc>,
    },
}

impl ApprovalView {
    /// `status` is the live one (the timeline's), which may be ahead of `release`'s.
    pub fn of(
        release: &Release,
        status: ReleaseStatus,
        me: Option<u64>,
        role: Option<Role>,
    ) -> Self {
        let Some(approval) = &release.approval else {
            return Self::NotNeeded;
        };
        if let Some(decision) = &approval.decision {
            let by = decision.by.name.clone();
            return if decision.approved {
                Self::Approved {
                    by,
                    at: decision.at,
                }
            } else {
                Self::Rejected {
                    by,
                    at: decision.at,
                    reason: decision.reason.clone().unwrap_or_default(),
                }
            };
        }
        match status {
            ReleaseStatus::AwaitingApproval => {
                let mine = me == Some(release.requested_by.id);
                Self::Waiting {
                    requested_by: release.requested_by.name.clone(),
                    until: approval.expires_at,
                    mine,
                    may_decide: !mine && role == Some(Role::Owner),
                }
            }
            ReleaseStatus::Expired => Self::Expired {
                at: approval.expires_at,
            },
            // Decided a moment ago: the release with its decision is on its way.
            _ => Self::NotNeeded,
        }
    }
}

/// Who approves: the words every waiting state uses.
const APPROVERS: &str = "a project owner or an organization owner or admin";

/// How the release page shows an approval: its state (for styles and tests), heading and
/// sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalText {
    pub state: &'static str,
    pub heading: String,
    pub text: String,
    /// Said to the requester of a waiting release.
    pub to_requester: Option<String>,
}

impl ApprovalView {
    pub fn text(&self) -> Option<ApprovalText> {
        let (state, heading, text) = match self {
            Self::NotNeeded => return None,
            Self::Waiting {
                requested_by,
                until,
                mine,
                ..
            } => {
                return Some(ApprovalText {
                    state: "waiting",
                    heading: "Waiting for approval by an owner".into(),
                    text: format!(
                        "{requested_by} requested it. Nothing is built or deployed until \
                         {APPROVERS} other than {requested_by} approves it; unanswered, it \
                         expires at {}.",
                        format::datetime(*until)
                    ),
                    to_requester: mine.then(|| {
                        format!(
                            "You requested this release: it needs someone else's approval \
                             ({APPROVERS})."
                        )
                    }),
                });
            }
            Self::Approved { by, at } => (
                "approved",
                "Approved".to_owned(),
                format!("Approved by {by} at {}.", format::datetime(*at)),
            ),
            Self::Rejected { by, at, reason } => (
                "rejected",
                format!("Rejected by {by} at {}", format::datetime(*at)),
                reason.clone(),
            ),
            Self::Expired { at } => (
                "expired",
                "Expired".to_owned(),
                format!(
                    "Nobody approved it before {}, so nothing was deployed. Retry to ask again.",
                    format::datetime(*at)
                ),
            ),
        };
        Some(ApprovalText {
            state,
            heading,
            text,
            to_requester: None,
        })
    }

    /// Whether the viewer may approve or reject it now.
    pub fn may_decide(&self) -> bool {
        matches!(
            self,
            Self::Waiting {
                may_decide: true,
                ..
            }
        )
    }
}

/// The environments a deployed release may be promoted to: the project's others.
pub fn promotion_targets(release: &Release, environments: &[Environment]) -> Vec<Environment> {
    environments
        .iter()
        .filter(|e| e.name != release.environment)
        .cloned()
        .collect()
}

/// The release a rollback of an environment goes back to, as the API picks it: among the
/// environment's deployed releases (`deployed`, any order), the newest one deployed before the
/// running one whose SleakOps build is another than the running one's.
pub fn rollback_target<'a>(
    running: &RunningRelease,
    deployed: &'a [Release],
) -> Option<&'a Release> {
    let before = |r: &Release| {
        r.deployed_at.is_some_and(|at| {
            at < running.deployed_at || (at == running.deployed_at && r.id < running.release_id)
        })
    };
    deployed
        .iter()
        .filter(|r| r.id != running.release_id && before(r))
        .filter(|r| {
            r.sleakops_build_id.is_some() && r.sleakops_build_id != running.sleakops_build_id
        })
        .max_by_key(|r| (r.deployed_at, r.id))
}

/// "Roll back production to release #12 (commit abc1234, deployed 2026-12-07 14:03 UTC)?"
pub fn rollback_question(environment: &str, target: &Release) -> String {
    let deployed = target
        .deployed_at
        .map(|at| format!(", deployed {}", format::datetime(at)))
        .unwrap_or_default();
    format!(
        "Roll back {environment} to release #{} (commit {}{deployed})?",
        target.id,
        format::short_sha(target.commit_sha.as_deref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use faro_types::{Approval, ApprovalDecision, UserRef};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 14, minute, 0).unwrap()
    }

    fn release(id: u64, build: Option<&str>, deployed_at: Option<DateTime<Utc>>) -> Release {
        Release {
            sleakops_build_id: build.map(str::to_owned),
            requested_at: at(0),
            deployed_at,
            ..crate::state::fixtures::release(id)
        }
    }

    fn running(r: &Release) -> RunningRelease {
        RunningRelease {
            release_id: r.id,
            branch: r.branch.clone(),
            commit_sha: r.commit_sha.clone(),
            tag: None,
            sleakops_build_id: r.sleakops_build_id.clone(),
            deployed_at: r.deployed_at.unwrap(),
        }
    }

    fn waiting(requester: u64) -> Release {
        let mut r = release(9, None, None);
        r.status = ReleaseStatus::AwaitingApproval;
        r.requested_by.id = requester;
        r.approval = Some(Approval {
            expires_at: at(30),
            decision: None,
        });
        r
    }

    #[test]
    fn an_owner_who_did_not_ask_may_decide_and_the_requester_may_not() {
        let r = waiting(1);
        let view = |me, role| ApprovalView::of(&r, r.status, Some(me), Some(role));
        assert_eq!(
            view(2, Role::Owner),
            ApprovalView::Waiting {
                requested_by: "Ada".into(),
                until: at(30),
                mine: false,
                may_decide: true
            }
        );
        assert!(matches!(
            view(1, Role::Owner),
            ApprovalView::Waiting {
                mine: true,
                may_decide: false,
                ..
            }
        ));
        assert!(matches!(
            view(2, Role::Maintainer),
            ApprovalView::Waiting {
                mine: false,
                may_decide: false,
                ..
            }
        ));
    }

    #[test]
    fn decisions_and_expiry_say_who_and_why() {
        let mut r = waiting(1);
        assert_eq!(
            ApprovalView::of(&r, ReleaseStatus::Expired, Some(2), Some(Role::Owner)),
            ApprovalView::Expired { at: at(30) }
        );
        r.approval.as_mut().unwrap().decision = Some(ApprovalDecision {
            approved: false,
            by: UserRef {
                id: 2,
                name: "Bob".into(),
            },
            at: at(5),
            reason: Some("not on a Friday".into()),
        });
        assert_eq!(
            ApprovalView::of(&r, ReleaseStatus::Rejected, Some(1), None),
            ApprovalView::Rejected {
                by: "Bob".into(),
                at: at(5),
                reason: "not on a Friday".into()
            }
        );
        let plain = release(3, Some("b3"), Some(at(1)));
        assert_eq!(
            ApprovalView::of(&plain, plain.status, Some(1), Some(Role::Owner)),
            ApprovalView::NotNeeded
        );
    }

    #[test]
    fn each_state_reads_as_a_sentence() {
        let r = waiting(1);
        let mine = ApprovalView::of(&r, r.status, Some(1), Some(Role::Owner))
            .text()
            .expect("shown");
        assert_eq!(mine.state, "waiting");
        assert!(
            mine.text.starts_with("Ada requested it.")
                && mine.text.ends_with("expires at 2026-12-07 14:30 UTC."),
            "{}",
            mine.text
        );
        assert!(
            mine.to_requester
                .unwrap()
                .contains("it needs someone else's approval")
        );
        let other = ApprovalView::of(&r, r.status, Some(2), Some(Role::Owner));
        assert_eq!(other.text().unwrap().to_requester, None);
        assert!(other.may_decide());
        let rejected = ApprovalView::Rejected {
            by: "Bob".into(),
            at: at(5),
            reason: "not on a Friday".into(),
        }
        .text()
        .unwrap();
        assert_eq!(
            (rejected.heading.as_str(), rejected.text.as_str()),
            ("Rejected by Bob at 2026-12-07 14:05 UTC", "not on a Friday")
        );
        assert!(!ApprovalView::Expired { at: at(30) }.may_decide());
        assert_eq!(ApprovalView::NotNeeded.text(), None);
    }

    #[test]
    fn promotion_goes_to_the_projects_other_environments() {
        let env = |name: &str| Environment {
            id: 1,
            name: name.into(),
            sleakops_environment: name.into(),
            production: false,
            requires_approval: false,
            created_at: at(0),
            updated_at: at(0),
            running: None,
        };
        let mut r = release(1, Some("b1"), Some(at(1)));
        r.environment = "staging".into();
        let targets = promotion_targets(&r, &[env("staging"), env("production"), env("qa")]);
        let names: Vec<&str> = targets.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["production", "qa"]);
    }

    #[test]
    fn a_rollback_goes_to_the_newest_earlier_deployment_of_another_build() {
        let first = release(1, Some("b1"), Some(at(1)));
        let second = release(2, Some("b2"), Some(at(2)));
        // #3 redeployed #2's build: going back from #4 skips it and #2.
        let same_build = release(3, Some("b2"), Some(at(3)));
        let no_build = release(4, None, Some(at(4)));
        let now = release(5, Some("b2"), Some(at(5)));
        // Deployed after the running one (a list may hold it): never a rollback target.
        let later = release(6, Some("b6"), Some(at(6)));
        let list = [
            later,
            now.clone(),
            no_build,
            same_build,
            second,
            first.clone(),
        ];
        let target = rollback_target(&running(&now), &list).expect("a target");
        assert_eq!(target.id, 1);
        assert_eq!(rollback_target(&running(&first), &list), None);
        assert_eq!(
            rollback_question("production", target),
            "Roll back production to release #1 (commit abc0001, deployed 2026-12-07 14:01 UTC)?"
        );
    }
}
