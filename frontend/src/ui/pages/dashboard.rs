//! The dashboard: the caller's projects, recent releases across them, and each environment's
//! delivery (DORA) figures with their trend.

use super::release_list::ReleaseTable;
use crate::api::{self, ApiError};
use crate::ui::chart::MetricCard;
use crate::ui::components::set_title;
use crate::ui::fetched::{Fetched, no_items};
use crate::ui::loaded::Loaded;
use crate::ui::org::use_orgs;
use faro_types::{DeliveryMetrics, Project, Window};
use leptos::prelude::*;

/// Metrics are fetched for this many projects at most (one request each).
const METRIC_PROJECTS: usize = 6;
const RECENT: u32 = 10;

#[component]
pub fn Dashboard() -> impl IntoView {
    set_title("Dashboard");
    let projects = use_orgs().projects();
    let recent = Loaded::new(|| api::recent_releases(RECENT));
    let window = RwSignal::new(Window::Days30);
    let metrics = Loaded::when(move || {
        let window = window.get();
        // Loading until the projects are.
        let projects = projects.get()?;
        Some(async move {
            let page = projects?;
            let mut all: Vec<(String, DeliveryMetrics)> = Vec::new();
            for project in page.items.iter().take(METRIC_PROJECTS) {
                all.push((
                    project.slug.clone(),
                    api::metrics(&project.slug, window).await?,
                ));
            }
            Ok::<_, ApiError>(all)
        })
    });
    let ready =
        move || matches!(projects.get(), Some(Ok(_))) && matches!(recent.get(), Some(Ok(_)));

    view! {
        <div class="page dashboard" data-ready=move || ready().then_some("true")>
            <h1>"Dashboard"</h1>
            <div class="columns">
                <section class="panel" aria-labelledby="projects-title">
                    <div class="panel-head">
                        <h2 id="projects-title">"Your projects"</h2>
                        <a class="button secondary small" href="/projects#new-project">"New project"</a>
                    </div>
                    <Fetched what="projects" load=projects is_empty=no_items
                        empty={|| view! {
                            <p>"You are not in any project yet."</p>
                            <p><a href="/projects#new-project">"Create your first project"</a>" or ask an owner to add you."</p>
                        }}
                        let:page>
                        <ProjectList projects=page.items/>
                    </Fetched>
                </section>
                <section class="panel wide" aria-labelledby="recent-title">
                    <h2 id="recent-title">"Recent releases"</h2>
                    <Fetched what="releases" load=recent is_empty=Vec::is_empty
                        empty={|| view! { <p>"No releases yet. Start one from a project's page."</p> }}
                        let:list>
                        <ReleaseTable releases=list show_project=true caption="Recent releases across your projects"/>
                    </Fetched>
                </section>
            </div>
            <section class="panel" aria-labelledby="metrics-title">
                <div class="panel-head">
                    <h2 id="metrics-title">"Delivery"</h2>
                    <WindowPicker window=window/>
                </div>
                <Fetched what="delivery metrics" load=metrics
                    is_empty=no_environments
                    empty={|| view! { <p>"Metrics appear once a project has environments."</p> }}
                    let:all>
                    <div class="card-grid">
                        {all
                            .into_iter()
                            .flat_map(|(project, m)| m.environments.into_iter().map(move |e| (project.clone(), e)))
                            .map(|(project, m)| view! { <MetricCard project=project metrics=m/> })
                            .collect_view()}
                    </div>
                </Fetched>
            </section>
        </div>
    }
}

/// No card to show: no environment in any project.
#[expect(
    clippy::ptr_arg,
    reason = "`Fetched`'s `is_empty` takes a `fn(&T)` of the loaded `Vec`"
)]
fn no_environments(all: &Vec<(String, DeliveryMetrics)>) -> bool {
    all.iter().all(|(_, m)| m.environments.is_empty())
}

#[component]
fn ProjectList(projects: Vec<Project>) -> impl IntoView {
    view! {
        <ul class="project-list">
            {projects
                .into_iter()
                .map(|p| view! {
                    <li>
                        <a href=format!("/projects/{}", p.slug)>{p.name}</a>
                        <span class="muted small">{format!(" {} · {}", p.slug, crate::state::format::role_label(p.role))}</span>
                    </li>
                })
                .collect_view()}
        </ul>
    }
}

/// 7, 30 or 90 days, as a group of toggle buttons.
#[component]
fn WindowPicker(window: RwSignal<Window>) -> impl IntoView {
    let choices = [
        (Window::Days7, "7 days"),
        (Window::Days30, "30 days"),
        (Window::Days90, "90 days"),
    ];
    view! {
        <div class="segmented" role="group" aria-label="Period">
            {choices
                .into_iter()
                .map(|(w, label)| view! {
                    <button
                        type="button"
                        aria-pressed=move || (window.get() == w).to_string()
                        on:click=move |_| window.set(w)
                    >
                        {label}
                    </button>
                })
                .collect_view()}
        </div>
    }
}
