//! Faro's test kit for the integration tests (`backend/tests`, `e2e`): [`TestApp`], the backend
//! started in process on port 0 against the test services, with the simulators, a built
//! frontend and the test's own variables; and, re-exported, the fixtures over the HTTP API
//! (`faro-fixtures`, which the bench seed uses without linking the backend).

pub mod app;
pub mod cut;

pub use app::{Sibling, Sims, TestApp};
pub use cut::CutProxy;
pub use faro_fixtures::{
    Api, PASSWORD, ProjectWithEnvironments, Signed, Team, expect_event_stream, expect_json,
    fixtures, header, problem, problem_naming,
};
