//! API types shared by the backend and the frontend.
//!
//! Everything here compiles for the host and for `wasm32-unknown-unknown`, so it depends on
//! nothing but `serde`.

mod problem;
mod version;

pub use problem::{FieldError, PROBLEM_CONTENT_TYPE, Problem, ProblemType};
pub use version::VersionInfo;
