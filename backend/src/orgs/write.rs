//! The one way a handler changes an organization: re-read the caller's role under a lock,
//! change, commit, then record the audit entry in the organization's log.

use super::{OrgAccess, store};
use crate::{
    audit::{self, Entry, Scope},
    auth::Caller,
    error::ApiError,
};
use faro_types::OrgRole;
use sqlx::{MySql, MySqlConnection, Transaction};

/// Which organization membership rows a write locks before it changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The caller's own, shared.
    Caller,
    /// All of the organization's, for update: member changes serialize on them, so "the last
    /// owner" is decided on a consistent view.
    Members,
}

#[derive(Debug)]
pub struct OrgWrite<'a> {
    caller: &'a Caller,
    tx: Transaction<'static, MySql>,
    access: OrgAccess,
    members: Vec<(u64, OrgRole)>,
}

impl<'a> OrgWrite<'a> {
    /// Begins a write to `access`'s organization that needs the caller to be at least
    /// `needs`, re-checked under `lock`; the caller's membership gone meanwhile is a 404.
    pub async fn begin(
        caller: &'a Caller,
        access: &OrgAccess,
        lock: Lock,
        needs: OrgRole,
    ) -> Result<Self, ApiError> {
        let mut tx = caller.state.db.begin().await?;
        let user_id = caller.user.id;
        let (role, members) = match lock {
            Lock::Caller => (
                store::caller_role(&mut tx, access.org_id, user_id).await?,
                Vec::new(),
            ),
            Lock::Members => {
                let members = store::lock_members(&mut tx, access.org_id).await?;
                let role = members
                    .iter()
                    .find(|(id, _)| *id == user_id)
                    .map(|(_, role)| *role);
                (role, members)
            }
        };
        let access = OrgAccess {
            role: role.ok_or(ApiError::NotFound)?,
            ..access.clone()
        };
        access.require(needs)?;
        Ok(Self {
            caller,
            tx,
            access,
            members,
        })
    }

    /// The caller's access with the role read under the lock.
    pub fn access(&self) -> &OrgAccess {
        &self.access
    }

    /// The organization's memberships, with [`Lock::Members`] only.
    pub fn members(&self) -> &[(u64, OrgRole)] {
        &self.members
    }

    pub fn tx(&mut self) -> &mut MySqlConnection {
        &mut self.tx
    }

    /// Commits, and records `entry` in the organization's audit log.
    pub async fn commit(self, entry: Entry) -> Result<(), ApiError> {
        self.tx.commit().await?;
        let Caller { state, user, client } = self.caller;
        let event = audit::Event::new(Scope::Org(self.access.org_id), user, client, entry);
        audit::record(state, event).await;
        Ok(())
    }
}
