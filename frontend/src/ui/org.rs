//! The organization the app shows: the caller's organizations, the one chosen (remembered in
//! this browser), the switcher in the header, and the SleakOps names its key reaches.

use super::loaded::Loaded;
use super::router::{use_location, use_navigate};
use super::session::Session;
use crate::api::{self, ApiError};
use crate::state::org;
use faro_types::{Organization, Page, Project};
use leptos::prelude::*;

/// Where the chosen organization's slug is kept between visits.
const REMEMBERED: &str = "faro.organization";

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

#[derive(Debug, Clone, Copy)]
pub struct Orgs {
    /// The caller's organizations; waits while nobody is signed in.
    pub list: Loaded<Vec<Organization>>,
    chosen: RwSignal<Option<String>>,
    /// The slug of the organization shown: `None` while the list loads, empty without any
    /// (or when the list failed: then nothing is filtered).
    pub current: Signal<Option<String>>,
}

impl Orgs {
    pub fn start(session: Session) -> Self {
        let list = Loaded::when(move || session.user().map(|_| api::orgs()));
        let chosen = RwSignal::new(storage().and_then(|s| s.get_item(REMEMBERED).ok().flatten()));
        let current = Signal::derive(move || {
            let answer = list.get()?;
            let chosen = chosen.get();
            Some(
                answer
                    .ok()
                    .and_then(|orgs| org::current(&orgs, chosen.as_deref()).map(|o| o.slug.clone()))
                    .unwrap_or_default(),
            )
        });
        Self {
            list,
            chosen,
            current,
        }
    }

    /// Shows `slug` from now on, in this browser.
    pub fn choose(self, slug: &str) {
        if let Some(storage) = storage() {
            let _ = storage.set_item(REMEMBERED, slug);
        }
        if self.chosen.get_untracked().as_deref() != Some(slug) {
            self.chosen.set(Some(slug.to_owned()));
        }
    }

    /// The slug of the organization shown, once known.
    pub fn shown(self) -> Option<String> {
        self.current.get().filter(|slug| !slug.is_empty())
    }

    /// One of the caller's organizations, as last loaded.
    pub fn named(self, slug: &str) -> Option<Organization> {
        self.list
            .get()
            .and_then(Result::ok)
            .and_then(|orgs| orgs.into_iter().find(|o| o.slug == slug))
    }

    /// The caller's projects (one page) in the organization shown; waits for it to be known.
    pub fn projects(self) -> Loaded<Page<Project>> {
        let current = self.current;
        Loaded::when(move || {
            let shown = current.get()?;
            Some(projects_in(Some(shown).filter(|s| !s.is_empty()), None))
        })
    }

    /// The page of projects at `cursor` in the organization shown now.
    pub fn more_projects(
        self,
        cursor: String,
    ) -> impl Future<Output = Result<Page<Project>, ApiError>> {
        let shown = self.current.get_untracked().filter(|s| !s.is_empty());
        projects_in(shown, Some(cursor))
    }
}

/// A page of the caller's projects in `org` (all without one): the server filters, so a
/// page is never emptied by another organization's projects.
async fn projects_in(
    org: Option<String>,
    cursor: Option<String>,
) -> Result<Page<Project>, ApiError> {
    api::projects(org.as_deref(), cursor.as_deref()).await
}

pub fn use_orgs() -> Orgs {
    expect_context::<Orgs>()
}

/// The header's organization picker and the link to its settings.
#[component]
pub fn Switcher() -> impl IntoView {
    let orgs = use_orgs();
    let location = use_location();
    let navigate = use_navigate();
    let change = move |ev: leptos::ev::Event| {
        let slug = event_target_value(&ev);
        orgs.choose(&slug);
        // On an organization's page, show the one chosen.
        if location.pathname.get_untracked().starts_with("/orgs/") {
            navigate(&format!("/orgs/{slug}"));
        }
    };
    move || {
        let list = orgs.list.get().and_then(Result::ok).unwrap_or_default();
        let current = orgs.shown()?;
        Some(view! {
            <div class="org-switcher">
                <label class="visually-hidden" for="org-switcher">"Organization"</label>
                <select id="org-switcher" on:change=change>
                    {list.into_iter().map(|o| {
                        let selected = o.slug == current;
                        view! { <option value=o.slug selected=selected>{o.name}</option> }
                    }).collect_view()}
                </select>
                <a href=format!("/orgs/{current}") class="small">"Organization settings"</a>
            </div>
        })
    }
}

/// The SleakOps names `org`'s key reaches, offered to the input whose `list` is `id`: the
/// projects, or with `project` that project's environments. Without a key, a note says to
/// set it first.
#[component]
pub fn SleakopsChoices(
    #[prop(into)] org: Signal<Option<String>>,
    id: &'static str,
    #[prop(optional)] project: Option<String>,
) -> impl IntoView {
    let orgs = use_orgs();
    // The organization's slug, and whether it has a key.
    let keyed = move || {
        let slug = org.get()?;
        let configured = orgs.named(&slug)?.sleakops_key.configured;
        Some((slug, configured))
    };
    let reached = Loaded::when(move || match keyed() {
        Some((slug, true)) => Some(api::sleakops_projects(&slug)),
        _ => None,
    });
    let project = StoredValue::new(project.unwrap_or_default());
    move || match keyed() {
        Some((slug, false)) => view! {
            <p class="hint">
                "SleakOps names cannot be offered: "
                <a href=format!("/orgs/{slug}")>"set the organization's SleakOps key first"</a>"."
            </p>
        }
        .into_any(),
        _ => {
            let reached = reached.get().and_then(Result::ok).unwrap_or_default();
            let project = project.get_value();
            let names: Vec<String> = if project.is_empty() {
                reached.into_iter().map(|p| p.name).collect()
            } else {
                reached
                    .into_iter()
                    .find(|p| p.name == project)
                    .map(|p| p.environments)
                    .unwrap_or_default()
            };
            view! {
                <datalist id=id>
                    {names.into_iter().map(|n| view! { <option value=n></option> }).collect_view()}
                </datalist>
            }
            .into_any()
        }
    }
}
