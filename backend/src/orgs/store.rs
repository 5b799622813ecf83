//! Organizations, their members and invitations in MySQL: every statement of the feature
//! but the sealed SleakOps keys (`crate::sealing::store`).
//!
//! Lock order: an organization write locks organization memberships first
//! ([`caller_role`] or [`lock_members`]), then project memberships, then the rows it
//! changes — the same order project writes use ([`crate::projects::store::caller_role`]).

use chrono::{DateTime, Utc};
use faro_types::{Invitation, InvitationStatus, OrgMember, OrgRole, Organization, SleakopsKeyStatus};
use sqlx::{MySqlConnection, MySqlExecutor};

// Organizations.

/// The id of the new organization, or `None` when the slug is taken.
pub async fn insert_org(
    tx: &mut MySqlConnection,
    slug: &str,
    name: &str,
    created_by: u64,
    now: DateTime<Utc>,
) -> Result<Option<u64>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO organizations (slug, name, created_by, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(slug)
    .bind(name)
    .bind(created_by)
    .bind(now)
    .bind(now)
    .execute(tx)
    .await;
    Ok(crate::db::unless_duplicate(inserted)?.map(|done| done.last_insert_id()))
}

/// An organization as a caller sees it, with its key's public status.
#[derive(Debug, sqlx::FromRow)]
struct OrgRow {
    id: u64,
    slug: String,
    name: String,
    role: OrgRole,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    key_last4: Option<String>,
    key_set_by: Option<String>,
    key_set_at: Option<DateTime<Utc>>,
}

impl From<OrgRow> for Organization {
    fn from(row: OrgRow) -> Self {
        Self {
            id: row.id,
            slug: row.slug,
            name: row.name,
            role: row.role,
            sleakops_key: SleakopsKeyStatus {
                configured: row.key_set_at.is_some(),
                last4: row.key_last4,
                set_by: row.key_set_by,
                set_at: row.key_set_at,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// An [`OrgRow`] of `organizations o` for the member `om`.
macro_rules! select_orgs {
    () => {
        "SELECT o.id, o.slug, o.name, om.role, o.created_at, o.updated_at, \
         k.last4 AS key_last4, u.email AS key_set_by, k.set_at AS key_set_at \
         FROM org_members om JOIN organizations o ON o.id = om.org_id \
         LEFT JOIN sleakops_keys k ON k.org_id = o.id LEFT JOIN users u ON u.id = k.set_by "
    };
}

/// The organizations `user_id` belongs to, by slug (at most [`faro_types::MAX_ORGS_PER_ACCOUNT`]).
pub async fn orgs_of(
    db: impl MySqlExecutor<'_>,
    user_id: u64,
) -> Result<Vec<Organization>, sqlx::Error> {
    let rows: Vec<OrgRow> = sqlx::query_as(concat!(
        select_orgs!(),
        "WHERE om.user_id = ? ORDER BY o.slug"
    ))
    .bind(user_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Organization::from).collect())
}

/// Organization `org_id` as its member `user_id` sees it.
pub async fn org(
    db: impl MySqlExecutor<'_>,
    org_id: u64,
    user_id: u64,
) -> Result<Option<Organization>, sqlx::Error> {
    let row: Option<OrgRow> = sqlx::query_as(concat!(
        select_orgs!(),
        "WHERE om.org_id = ? AND om.user_id = ?"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Organization::from))
}

/// The id of the organization `slug` names and `user_id`'s role in it, if they belong to it.
pub async fn membership(
    db: impl MySqlExecutor<'_>,
    user_id: u64,
    slug: &str,
) -> Result<Option<(u64, OrgRole)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.id, om.role FROM organizations o \
         JOIN org_members om ON om.org_id = o.id AND om.user_id = ? WHERE o.slug = ?",
    )
    .bind(user_id)
    .bind(slug)
    .fetch_optional(db)
    .await
}

pub async fn rename(
    tx: &mut MySqlConnection,
    org_id: u64,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE organizations SET name = ?, updated_at = ? WHERE id = ?")
        .bind(name)
        .bind(now)
        .bind(org_id)
        .execute(tx)
        .await
        .map(drop)
}

/// How many projects the organization has, under a shared lock on them (a concurrent
/// project creation in it waits, or is seen).
pub async fn count_projects(tx: &mut MySqlConnection, org_id: u64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE org_id = ? LOCK IN SHARE MODE")
        .bind(org_id)
        .fetch_one(tx)
        .await
}

/// Deletes the organization; members, invitations and its key cascade.
pub async fn delete_org(tx: &mut MySqlConnection, org_id: u64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM organizations WHERE id = ?")
        .bind(org_id)
        .execute(tx)
        .await
        .map(drop)
}

// Members.

/// `user_id`'s role in the organization, under a shared lock held until commit.
pub async fn caller_role(
    tx: &mut MySqlConnection,
    org_id: u64,
    user_id: u64,
) -> Result<Option<OrgRole>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT role FROM org_members WHERE org_id = ? AND user_id = ? LOCK IN SHARE MODE",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(tx)
    .await
}

/// Every membership of the organization (user id, role), locked for update until commit.
pub async fn lock_members(
    tx: &mut MySqlConnection,
    org_id: u64,
) -> Result<Vec<(u64, OrgRole)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, role FROM org_members WHERE org_id = ? ORDER BY user_id FOR UPDATE",
    )
    .bind(org_id)
    .fetch_all(tx)
    .await
}

/// How many organizations `user_id` belongs to, under a shared lock on those memberships.
pub async fn count_orgs_of(tx: &mut MySqlConnection, user_id: u64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM org_members WHERE user_id = ? LOCK IN SHARE MODE")
        .bind(user_id)
        .fetch_one(tx)
        .await
}

/// Adds a member; `false` when they already were one.
pub async fn insert_member(
    tx: &mut MySqlConnection,
    org_id: u64,
    user_id: u64,
    role: OrgRole,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(tx)
    .await;
    Ok(crate::db::unless_duplicate(inserted)?.is_some())
}

pub async fn set_role(
    tx: &mut MySqlConnection,
    org_id: u64,
    user_id: u64,
    role: OrgRole,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE org_members SET role = ? WHERE org_id = ? AND user_id = ?")
        .bind(role)
        .bind(org_id)
        .bind(user_id)
        .execute(tx)
        .await
        .map(drop)
}

/// Removes a member from the organization and from every project of it.
pub async fn delete_member(
    tx: &mut MySqlConnection,
    org_id: u64,
    user_id: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE m FROM memberships m JOIN projects p ON p.id = m.project_id \
         WHERE p.org_id = ? AND m.user_id = ?",
    )
    .bind(org_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM org_members WHERE org_id = ? AND user_id = ?")
        .bind(org_id)
        .bind(user_id)
        .execute(tx)
        .await
        .map(drop)
}

/// An [`OrgMember`]: a membership with its account's email and name.
macro_rules! select_members {
    () => {
        "SELECT om.user_id, u.email, u.display_name AS name, om.role, om.created_at AS joined_at \
         FROM org_members om JOIN users u ON u.id = om.user_id "
    };
}

pub async fn members(
    db: impl MySqlExecutor<'_>,
    org_id: u64,
) -> Result<Vec<OrgMember>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_members!(),
        "WHERE om.org_id = ? ORDER BY om.created_at, om.user_id"
    ))
    .bind(org_id)
    .fetch_all(db)
    .await
}

pub async fn member(
    db: impl MySqlExecutor<'_>,
    org_id: u64,
    user_id: u64,
) -> Result<Option<OrgMember>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_members!(),
        "WHERE om.org_id = ? AND om.user_id = ?"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

// Invitations.

/// The fields of a new invitation.
#[derive(Debug)]
pub struct NewInvitation<'a> {
    pub org_id: u64,
    pub email: &'a str,
    pub role: OrgRole,
    pub token_hash: &'a str,
    pub invited_by: u64,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_invitation(
    tx: &mut MySqlConnection,
    new: &NewInvitation<'_>,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO invitations (org_id, email, role, token_hash, invited_by, created_at, \
         expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(new.org_id)
    .bind(new.email)
    .bind(new.role)
    .bind(new.token_hash)
    .bind(new.invited_by)
    .bind(new.now)
    .bind(new.expires_at)
    .execute(tx)
    .await
    .map(|done| done.last_insert_id())
}

/// An invitation's row, with its organization and inviter.
#[derive(Debug, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: u64,
    pub org_id: u64,
    pub org_slug: String,
    pub org_name: String,
    pub email: String,
    pub role: OrgRole,
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl InvitationRow {
    pub fn status(&self, now: DateTime<Utc>) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }

    pub fn to_invitation(&self, now: DateTime<Utc>) -> Invitation {
        Invitation {
            id: self.id,
            email: self.email.clone(),
            role: self.role,
            status: self.status(now),
            invited_by: self.invited_by.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

macro_rules! select_invitations {
    () => {
        "SELECT i.id, i.org_id, o.slug AS org_slug, o.name AS org_name, i.email, i.role, \
         u.email AS invited_by, i.created_at, i.expires_at, i.accepted_at, i.revoked_at \
         FROM invitations i JOIN organizations o ON o.id = i.org_id \
         LEFT JOIN users u ON u.id = i.invited_by "
    };
}

/// The organization's newest invitations, at most `limit`.
pub async fn invitations(
    db: impl MySqlExecutor<'_>,
    org_id: u64,
    limit: u32,
) -> Result<Vec<InvitationRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_invitations!(),
        "WHERE i.org_id = ? ORDER BY i.id DESC LIMIT ?"
    ))
    .bind(org_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The invitation whose token hashes to `token_hash`.
pub async fn invitation_by_token(
    db: impl MySqlExecutor<'_>,
    token_hash: &str,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    sqlx::query_as(concat!(select_invitations!(), "WHERE i.token_hash = ?"))
        .bind(token_hash)
        .fetch_optional(db)
        .await
}

/// The invitation whose token hashes to `token_hash`, its row (only: not its organization's
/// or its inviter's, which concurrent membership changes need) locked for update.
pub async fn lock_invitation_by_token(
    tx: &mut MySqlConnection,
    token_hash: &str,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    let id: Option<u64> =
        sqlx::query_scalar("SELECT id FROM invitations WHERE token_hash = ? FOR UPDATE")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
    match id {
        Some(id) => invitation(tx, id).await,
        None => Ok(None),
    }
}

/// The organization's invitation `id`, its row locked for update.
pub async fn lock_invitation(
    tx: &mut MySqlConnection,
    org_id: u64,
    id: u64,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    let locked: Option<u64> =
        sqlx::query_scalar("SELECT id FROM invitations WHERE org_id = ? AND id = ? FOR UPDATE")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match locked {
        Some(id) => invitation(tx, id).await,
        None => Ok(None),
    }
}

async fn invitation(
    db: impl MySqlExecutor<'_>,
    id: u64,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    sqlx::query_as(concat!(select_invitations!(), "WHERE i.id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// How many invitations of the organization wait for an answer.
pub async fn count_pending(
    tx: &mut MySqlConnection,
    org_id: u64,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM invitations WHERE org_id = ? AND accepted_at IS NULL \
         AND revoked_at IS NULL AND expires_at > ?",
    )
    .bind(org_id)
    .bind(now)
    .fetch_one(tx)
    .await
}

pub async fn mark_accepted(
    tx: &mut MySqlConnection,
    id: u64,
    user_id: u64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invitations SET accepted_at = ?, accepted_by = ? WHERE id = ?")
        .bind(now)
        .bind(user_id)
        .bind(id)
        .execute(tx)
        .await
        .map(drop)
}

pub async fn mark_revoked(
    tx: &mut MySqlConnection,
    id: u64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invitations SET revoked_at = ? WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(tx)
        .await
        .map(drop)
}

// Migration-made audit entries.

/// An audit entry a migration left for the audit log.
#[derive(Debug, sqlx::FromRow)]
pub struct PendingAudit {
    pub id: u64,
    pub scope: String,
    pub action: String,
    pub target: String,
    pub details: Option<String>,
}

/// Whether any entry waits.
pub async fn has_pending_audit(db: impl MySqlExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit_outbox)")
        .fetch_one(db)
        .await
}

/// Up to `limit` of the entries, locked until commit; rows another task holds are skipped.
pub async fn claim_pending_audit(
    tx: &mut MySqlConnection,
    limit: u32,
) -> Result<Vec<PendingAudit>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, scope, action, target, details FROM audit_outbox ORDER BY id LIMIT ? \
         FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(tx)
    .await
}

pub async fn forget_audit(db: impl MySqlExecutor<'_>, id: u64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM audit_outbox WHERE id = ?")
        .bind(id)
        .execute(db)
        .await
        .map(drop)
}
