//! The Faro backend: the release cockpit's HTTP API.
//!
//! `main.rs` is a thin shell around [`App`]; integration tests build the same [`App`] on
//! port 0 against real MariaDB and DynamoDB Local.

pub mod access;
pub mod accounts;
pub mod ai;
pub mod app;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod dynamo;
pub mod error;
pub mod external;
pub mod frontend_assets;
pub mod health;
pub mod http;
pub mod openapi;
pub mod orgs;
pub mod paging;
pub mod projects;
pub mod releases;
pub mod routes;
pub mod sealing;
pub mod shutdown;
pub mod slots;
pub mod telemetry;
pub mod version;
pub mod worker;
pub mod write;

pub use app::{App, AppState, StartupError, prepare_stores};
pub use config::Config;
pub use error::ApiError;
