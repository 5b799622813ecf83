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

use crate::api::{self, ApiError};
use faro_types::Project;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// The route's `:slug` and its project, loaded again when the slug changes.
fn project_of_route() -> (Memo<String>, LocalResource<Result<Project, ApiError>>) {
    let params = use_params_map();
    let slug = Memo::new(move |_| params.with(|p| p.get("slug").unwrap_or_default()));
    let project = LocalResource::new(move || {
        let slug = slug.get();
        async move { api::project(&slug).await }
    });
    (slug, project)
}
