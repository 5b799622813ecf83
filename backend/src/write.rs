//! The one way a handler changes a project's data: re-read the caller's role under a lock,
//! make the change in that transaction, commit, publish the release events the change
//! appended (streams wake at once), then record the audit entry.
//!
//! Re-reading the role inside the transaction means a role taken away concurrently cannot
//! authorize a write; locking membership rows before any other row gives every write the
//! same lock order. Dropping a [`ProjectWrite`] without [`ProjectWrite::commit`] rolls back.

use crate::{
    access::ProjectAccess,
    audit::{self, Entry, Scope},
    auth::Caller,
    error::ApiError,
    projects::store,
};
use faro_types::{Role, TimelineEvent};
use sqlx::{MySql, MySqlConnection, Transaction};

/// Which membership rows a write locks before it changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The caller's own, shared: a concurrent demotion or removal waits for this write, or
    /// this write sees it and is refused.
    Caller,
    /// All of the project's, for update: member changes and project deletion serialize on
    /// them, so "the last owner" is decided on a consistent view.
    Members,
}

/// A write in progress: an open transaction in which the caller's role was re-read.
#[derive(Debug)]
pub struct ProjectWrite<'a> {
    caller: &'a Caller,
    tx: Transaction<'static, MySql>,
    access: ProjectAccess,
    members: Vec<(u64, Role)>,
    events: Vec<(u64, TimelineEvent)>,
}

impl<'a> ProjectWrite<'a> {
    /// Begins a write to `access`'s project that needs the caller to be at least `needs`,
    /// re-checked under `lock`. The caller's membership gone meanwhile is a 404.
    pub async fn begin(
        caller: &'a Caller,
        access: &ProjectAccess,
        lock: Lock,
        needs: Role,
    ) -> Result<Self, ApiError> {
        let Caller { state, user, .. } = caller;
        let mut tx = state.db.begin().await?;
        let (role, members) = match lock {
            Lock::Caller => {
                let role =
                    store::caller_role(&mut tx, access.org_id, access.project_id, user.id).await?;
                (role, Vec::new())
            }
            Lock::Members => {
                let org_role =
                    crate::orgs::store::caller_role(&mut tx, access.org_id, user.id).await?;
                let members = store::lock_members(&mut tx, access.project_id).await?;
                let project_role = members
                    .iter()
                    .find(|(id, _)| *id == user.id)
                    .map(|(_, role)| *role);
                (store::effective(org_role, project_role), members)
            }
        };
        let access = ProjectAccess {
            role: role.ok_or(ApiError::NotFound)?,
            ..access.clone()
        };
        access.require(needs)?;
        Ok(Self {
            caller,
            tx,
            access,
            members,
            events: Vec::new(),
        })
    }

    /// Begins the write that creates a project, which has no members yet to lock; the
    /// audit entry goes to the project [`ProjectWrite::created`] names.
    pub async fn create(caller: &'a Caller, org_id: u64) -> Result<Self, ApiError> {
        Ok(Self {
            caller,
            tx: caller.state.db.begin().await?,
            access: ProjectAccess {
                project_id: 0,
                org_id,
                slug: String::new(),
                role: Role::Owner,
            },
            members: Vec::new(),
            events: Vec::new(),
        })
    }

    /// Names the project a [`ProjectWrite::create`] made.
    pub fn created(&mut self, project_id: u64, slug: &str) {
        self.access.project_id = project_id;
        self.access.slug = slug.to_owned();
    }

    /// The caller's access with the role read under the lock.
    pub fn access(&self) -> &ProjectAccess {
        &self.access
    }

    /// The project's memberships (user id, role), with [`Lock::Members`] only.
    pub fn members(&self) -> &[(u64, Role)] {
        &self.members
    }

    pub fn tx(&mut self) -> &mut MySqlConnection {
        &mut self.tx
    }

    /// Publishes `event` of release `release_id` once the write commits.
    pub fn publish(&mut self, release_id: u64, event: TimelineEvent) {
        self.events.push((release_id, event));
    }

    /// Commits, publishes the events, and records `entry` in the project's audit log.
    pub async fn commit(self, entry: Entry) -> Result<(), ApiError> {
        self.tx.commit().await?;
        let Caller {
            state,
            user,
            client,
        } = self.caller;
        for (release_id, event) in self.events {
            state.release_events.publish(release_id, event);
        }
        let scope = Scope::Project(self.access.project_id);
        let event = audit::Event::new(scope, user, client, entry);
        audit::record(state, event).await;
        Ok(())
    }
}
