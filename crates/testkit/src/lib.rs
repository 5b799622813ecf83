//! Faro's test kit, one place for what the backend's integration tests, the browser tests and
//! the bench seed share.
//!
//! - [`Api`]: the HTTP API at a base URL, called as a signed-in user or signed out, and the
//!   fixtures on it (sign-up, projects, environments, members, releases) in [`fixtures`].
//!   They talk HTTP only, so `xtask` seeds its bench through them without linking the backend.
//! - [`problem`]: the check of a problem+json answer.
//! - `app` (feature `app`): [`TestApp`], the backend started in process on port 0 against the
//!   test services, with the simulators, a built frontend and the test's own variables.

mod api;
pub mod fixtures;
mod problem;

#[cfg(feature = "app")]
pub mod app;

pub use api::{Api, expect_event_stream, expect_json, header};
pub use fixtures::{PASSWORD, ProjectWithEnvironments, Signed, Team};
pub use problem::problem;

#[cfg(feature = "app")]
pub use app::{Sibling, Sims, TestApp};
