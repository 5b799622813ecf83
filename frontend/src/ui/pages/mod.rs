//! One module per screen.

pub mod auth;
pub mod dashboard;
pub mod not_found;
pub mod project;
pub mod projects;
pub mod release;
mod release_ai;
mod release_list;
pub mod settings;
