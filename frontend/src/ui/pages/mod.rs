//! One module per screen.

pub mod account;
pub mod auth;
pub mod dashboard;
mod environment_cards;
pub mod invitation;
pub mod not_found;
pub mod org;
pub mod project;
pub mod projects;
pub mod release;
mod release_ai;
mod release_control;
mod release_list;
pub mod settings;

use crate::api;
use crate::ui::loaded::Loaded;
use faro_types::Project;

/// The project an address names (another slug is another page, built afresh).
fn project_named(slug: &str) -> Loaded<Project> {
    let slug = slug.to_owned();
    Loaded::new(move || api::project(&slug))
}
