//! A project: its releases (filtered, page by page) and the "New release" form.

use super::release_list::ReleaseTable;
use crate::api::{self, ReleaseFilter};
use crate::forms::{FormErrors, optional};
use crate::idempotency::OnceGuard;
use crate::ui::components::{
    Empty, ErrorState, Field, FormError, Loading, SelectField, Submit, focus_first_error, set_title,
};
use faro_types::{CreateRelease, Environment, Project, Release, ReleaseStatus};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_params_map};

#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let slug = Memo::new(move |_| params.with(|p| p.get("slug").unwrap_or_default()));
    let project = LocalResource::new(move || {
        let slug = slug.get();
        async move { api::project(&slug).await }
    });
    let environments = LocalResource::new(move || {
        let slug = slug.get();
        async move { api::environments(&slug).await }
    });
    Effect::new(move || {
        if let Some(Ok(p)) = project.get() {
            set_title(&p.name);
        }
    });

    move || match project.get() {
        None => view! { <Loading what="the project"/> }.into_any(),
        Some(Err(e)) if e.is_not_found() => view! {
            <section class="panel">
                <h1>"No such project"</h1>
                <p>"It does not exist, or you are not one of its members."</p>
                <p><a href="/projects">"All projects"</a></p>
            </section>
        }
        .into_any(),
        Some(Err(e)) => view! { <ErrorState error=e retry=move || project.refetch()/> }.into_any(),
        Some(Ok(p)) => {
            let envs = Signal::derive(move || match environments.get() {
                Some(Ok(list)) => list,
                _ => Vec::new(),
            });
            view! {
                <div class="page">
                    <nav class="crumbs" aria-label="Breadcrumb"><a href="/projects">"Projects"</a>" / "</nav>
                    <div class="page-head">
                        <h1>{p.name.clone()}</h1>
                        <a class="button secondary small" href=format!("/projects/{}/settings", p.slug)>"Settings, environments and members"</a>
                    </div>
                    <p class="muted">
                        {format!("{} · SleakOps project {} · default branch {} · your role: {}",
                            p.slug, p.sleakops_project, p.default_branch, crate::format::role_label(p.role))}
                    </p>
                    <div class="columns">
                        <Releases slug=p.slug.clone() environments=envs/>
                        {if p.role.can_write() {
                            view! { <NewRelease project=p.clone() environments=envs/> }.into_any()
                        } else {
                            view! { <section class="panel"><p class="muted">"Viewers follow releases; a maintainer or owner starts them."</p></section> }.into_any()
                        }}
                    </div>
                </div>
            }
            .into_any()
        }
    }
}

#[component]
fn Releases(slug: String, environments: Signal<Vec<Environment>>) -> impl IntoView {
    let environment = RwSignal::new(String::new());
    let status = RwSignal::new(String::new());
    let branch = RwSignal::new(String::new());
    // The branch filter applies on submit, not on every keystroke.
    let branch_applied = RwSignal::new(String::new());
    let filter = Memo::new(move |_| ReleaseFilter {
        environment: optional(&environment.get()),
        status: optional(&status.get()),
        branch: optional(&branch_applied.get()),
    });
    let slug = StoredValue::new(slug);
    let first = LocalResource::new(move || {
        let filter = filter.get();
        let slug = slug.get_value();
        async move { api::releases(&slug, &filter, None).await }
    });
    let more = RwSignal::new(Vec::<Release>::new());
    let cursor = RwSignal::new(None::<String>);
    let loading_more = RwSignal::new(false);
    let more_error = RwSignal::new(None::<String>);
    Effect::new(move || {
        if let Some(Ok(page)) = first.get() {
            more.set(Vec::new());
            cursor.set(page.next_cursor);
        }
    });
    let load_more = move |_| {
        let Some(next) = cursor.get_untracked() else {
            return;
        };
        loading_more.set(true);
        leptos::task::spawn_local(async move {
            match api::releases(&slug.get_value(), &filter.get_untracked(), Some(&next)).await {
                Ok(page) => {
                    more.update(|m| m.extend(page.items));
                    cursor.set(page.next_cursor);
                    more_error.set(None);
                }
                Err(e) => more_error.set(Some(e.to_string())),
            }
            loading_more.set(false);
        });
    };
    let no_errors = RwSignal::new(FormErrors::none());
    let env_options = Signal::derive(move || {
        std::iter::once((String::new(), "All environments".to_owned()))
            .chain(
                environments
                    .get()
                    .into_iter()
                    .map(|e| (e.name.clone(), e.name)),
            )
            .collect::<Vec<_>>()
    });
    let status_options = Signal::derive(|| {
        std::iter::once((String::new(), "Any status".to_owned()))
            .chain(ReleaseStatus::ALL.into_iter().map(|s| {
                (
                    s.as_str().to_owned(),
                    crate::format::status_label(s).to_owned(),
                )
            }))
            .collect::<Vec<_>>()
    });

    view! {
        <section class="panel wide" aria-labelledby="releases-title">
            <h2 id="releases-title">"Releases"</h2>
            <form class="filters" id="filters" role="search" on:submit=move |ev: SubmitEvent| {
                ev.prevent_default();
                branch_applied.set(branch.get_untracked().trim().to_owned());
            }>
                <SelectField form="filter" name="environment" label="Environment" value=environment errors=no_errors options=env_options/>
                <SelectField form="filter" name="status" label="Status" value=status errors=no_errors options=status_options/>
                <Field form="filter" name="branch" label="Branch" value=branch errors=no_errors/>
                <button type="submit" class="button secondary">"Filter"</button>
            </form>
            {move || match first.get() {
                None => view! { <Loading what="releases"/> }.into_any(),
                Some(Err(e)) => view! { <ErrorState error=e retry=move || first.refetch()/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! {
                    <Empty><p>{if filter.get() == ReleaseFilter::default() {
                        "No releases yet."
                    } else {
                        "No release matches these filters."
                    }}</p></Empty>
                }.into_any(),
                Some(Ok(page)) => view! {
                    <ReleaseTable releases=page.items caption="Releases of this project, newest first"/>
                    {move || {
                        let extra = more.get();
                        (!extra.is_empty()).then(|| view! { <ReleaseTable releases=extra caption="More releases"/> })
                    }}
                    <p class="form-error" role="alert" hidden=move || more_error.get().is_none()>{move || more_error.get()}</p>
                    {move || cursor.get().map(|_| view! {
                        <button type="button" class="button secondary" id="load-more" on:click=load_more disabled=move || loading_more.get()>
                            {move || if loading_more.get() { "Loading…" } else { "Load more" }}
                        </button>
                    })}
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn NewRelease(project: Project, environments: Signal<Vec<Environment>>) -> impl IntoView {
    let navigate = use_navigate();
    let environment = RwSignal::new(String::new());
    let branch = RwSignal::new(project.default_branch.clone());
    let sha = RwSignal::new(String::new());
    let tag = RwSignal::new(String::new());
    let errors = RwSignal::new(FormErrors::none());
    let guard = RwSignal::new(OnceGuard::<CreateRelease>::new(api::random_key()));
    let busy = Signal::derive(move || guard.with(OnceGuard::in_flight));
    let slug = project.slug.clone();
    // Preselect the first environment once they are known.
    Effect::new(move || {
        let envs = environments.get();
        if environment.get_untracked().is_empty()
            && let Some(first) = envs.first()
        {
            environment.set(first.name.clone());
        }
    });
    let options = Signal::derive(move || {
        environments
            .get()
            .into_iter()
            .map(|e| {
                let label = if e.production {
                    format!("{} (production)", e.name)
                } else {
                    e.name.clone()
                };
                (e.name, label)
            })
            .collect::<Vec<_>>()
    });

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = CreateRelease {
            environment: environment.get_untracked(),
            branch: branch.get_untracked().trim().to_owned(),
            commit_sha: sha.get_untracked().trim().to_owned(),
            tag: optional(&tag.get_untracked()),
            commit_time: None,
        };
        let checked = FormErrors::from_validation(request.validate());
        if !checked.is_empty() {
            focus_first_error("new-release", &checked);
            errors.set(checked);
            return;
        }
        // A second click while the first is in flight sends nothing.
        let mut key = None;
        guard.update(|g| key = g.begin(&request, api::random_key));
        let Some(key) = key else {
            return;
        };
        errors.set(FormErrors::none());
        let navigate = navigate.clone();
        let slug = slug.clone();
        leptos::task::spawn_local(async move {
            match api::create_release(&slug, &request, &key).await {
                Ok(release) => {
                    guard.try_update(|g| g.succeeded(api::random_key()));
                    navigate(
                        &format!("/releases/{}", release.id),
                        NavigateOptions::default(),
                    );
                }
                Err(e) => {
                    guard.try_update(OnceGuard::failed);
                    let shown =
                        FormErrors::from_api(&e, &["environment", "branch", "commit_sha", "tag"]);
                    focus_first_error("new-release", &shown);
                    errors.try_set(shown);
                }
            }
        });
    };

    view! {
        <section class="panel" aria-labelledby="new-release-title">
            <h2 id="new-release-title">"New release"</h2>
            {move || environments.get().is_empty().then(|| view! {
                <p class="notice warning">
                    "This project has no environment to release to yet. "
                    <a href=format!("/projects/{}/settings", project.slug)>"Add one in the settings."</a>
                </p>
            })}
            <form id="new-release" novalidate on:submit=submit>
                <SelectField form="new-release" name="environment" label="Environment" value=environment errors=errors options=options/>
                <Field form="new-release" name="branch" label="Branch" value=branch errors=errors required=true/>
                <Field form="new-release" name="commit_sha" label="Commit SHA" value=sha errors=errors required=true
                    hint="7 to 40 hexadecimal characters." autocomplete="off"/>
                <Field form="new-release" name="tag" label="Tag (optional)" value=tag errors=errors autocomplete="off"/>
                <FormError form="new-release" errors=errors/>
                <Submit label="Start release" busy_label="Starting…" busy=busy id="start-release"/>
            </form>
        </section>
    }
}
