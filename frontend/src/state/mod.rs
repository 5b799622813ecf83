//! What the interface knows and decides, without a browser: plain Rust that compiles and is
//! tested on the host (`cargo test -p faro-frontend`). Each module here has its view under
//! [`crate::ui`] with the same name where there is one (`state::chart` ↔ `ui::chart`,
//! `state::form` ↔ `ui::form`).

pub mod chart;
pub mod chat;
pub mod config;
pub mod form;
pub mod format;
pub mod idempotency;
pub mod org;
pub mod release_control;
pub mod route;
pub mod skew;
pub mod timeline;
