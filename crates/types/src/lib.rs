//! API types shared by the backend and the frontend, so the compiler keeps both in step.
//!
//! Everything here compiles for the host and for `wasm32-unknown-unknown`. The `openapi`
//! feature (backend only) derives the OpenAPI schemas; the `sqlx` feature (backend only) maps
//! the enums stored as text to their MySQL columns.

mod accounts;
mod ai;
mod audit;
pub mod contract;
mod metrics;
mod orgs;
mod page;
mod problem;
mod projects;
mod releases;
#[cfg(feature = "sqlx")]
mod sql;
mod status;
pub mod validate;
mod version;

pub use accounts::{ChangePassword, LoginRequest, Session, SignupRequest, User};
pub use ai::{
    AiBudget, AiUsage, ChatDone, ChatMessage, ChatRequest, ChatRole, ChatStarted, ChatToken,
    Conversation, DraftNotes, Explanation, MAX_CHANGELOG, MAX_CHAT_MESSAGE, MAX_NOTES,
    ReleaseNotes, UpdateRelease, conversation_id_problem,
};
pub use audit::AuditEntry;
pub use metrics::{DailyCount, DeliveryMetrics, EnvironmentMetrics, Window};
pub use orgs::{
    CreateInvitation, CreateOrg, CreatedInvitation, Invitation, InvitationPreview,
    InvitationStatus, MAX_ORGS_PER_ACCOUNT, OrgMember, OrgRole, Organization, SetSleakopsKey,
    SleakopsKeyStatus, SleakopsProject, UpdateOrg, UpdateOrgMember, invitation_token,
    invitation_token_problem,
};
pub use page::Page;
pub use problem::{FieldError, PROBLEM_CONTENT_TYPE, Problem, ProblemType};
pub use projects::{
    AddMember, CreateEnvironment, CreateProject, Environment, Member, Project, Role,
    RunningRelease, UpdateEnvironment, UpdateMember, UpdateProject,
};
pub use releases::{
    Approval, ApprovalDecision, BRANCH_HEAD, CreateRelease, EventKind, PromoteRelease,
    RejectRelease, Release, ReleaseStatus, RollBack, StreamEnd, TimelineEvent, UserRef,
    short_commit,
};
pub use status::{
    CircuitState, ExternalService, Notice, NoticeLevel, OpsStatus, ServiceMode, WorkerStatus,
};
pub use version::{API_REVISION, VersionInfo};
