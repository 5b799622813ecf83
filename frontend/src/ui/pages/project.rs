//! A project: its environments (what runs where), its releases (filtered, page by page) and
//! the "New release" form.

use super::environment_cards::EnvironmentCards;
use super::not_found::missing;
use super::release_list::ReleaseTable;
use crate::api::{self, ReleaseFilter};
use crate::state::form::{FormErrors, optional};
use crate::ui::components::{
    Field, FormEnd, SelectField, environment_options, focus_first_error, set_title,
};
use crate::ui::fetched::{Fetched, no_items};
use crate::ui::form::Once;
use crate::ui::loaded::Loaded;
use crate::ui::paging::MorePages;
use crate::ui::router::use_navigate;
use faro_types::{CreateRelease, Environment, Project, ReleaseStatus};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn ProjectPage(slug: String) -> impl IntoView {
    let project = super::project_named(&slug);
    let environments = Loaded::new(move || api::environments(&slug));
    Effect::new(move || {
        if let Some(Ok(p)) = project.get() {
            set_title(&p.name);
        }
    });

    view! {
        <Fetched what="the project" load=project
            not_found=missing("No such project", "It does not exist, or you are not one of its members.",
                ("/projects", "All projects"))
            let:p>
            <ProjectView project=p environments=environments/>
        </Fetched>
    }
}

/// The project's page once it is loaded.
#[component]
fn ProjectView(project: Project, environments: Loaded<Vec<Environment>>) -> impl IntoView {
    let p = project;
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
                    p.slug, p.sleakops_project, p.default_branch, crate::state::format::role_label(p.role))}
            </p>
            <EnvironmentCards slug=p.slug.clone() environments=envs can_write=p.role.can_write()/>
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
    let first = Loaded::new(move || {
        let filter = filter.get();
        let slug = slug.get_value();
        api::releases(&slug, &filter, None)
    });
    let more = MorePages::after(first, move |cursor| {
        let (slug, filter) = (slug.get_value(), filter.get_untracked());
        api::releases(&slug, &filter, Some(&cursor))
    });
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
                    crate::state::format::status_label(s).to_owned(),
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
            <Fetched what="releases" load=first is_empty=no_items
                empty={move || view! { <p>{if filter.get() == ReleaseFilter::default() {
                    "No releases yet."
                } else {
                    "No release matches these filters."
                }}</p> }}
                let:page>
                <ReleaseTable releases=page.items caption="Releases of this project, newest first"/>
                {move || {
                    let extra = more.items.get();
                    (!extra.is_empty()).then(|| view! { <ReleaseTable releases=extra caption="More releases"/> })
                }}
                {more.button(Some("load-more"))}
            </Fetched>
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
    let once = Once::default();
    let busy = once.busy();
    let slug = project.slug.clone();
    let options = environment_options(environment, environments, |e| {
        e.production.then_some("production")
    });

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = CreateRelease {
            environment: environment.get_untracked(),
            branch: branch.get_untracked().trim().to_owned(),
            commit_sha: optional(&sha.get_untracked()),
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
        let slug = slug.clone();
        let body = request.clone();
        let sent = once.send(
            &request,
            move |key| async move { api::create_release(&slug, &body, &key).await },
            move |answer| match answer {
                Ok(release) => navigate(&format!("/releases/{}", release.id)),
                Err(e) => {
                    let shown =
                        FormErrors::from_api(&e, &["environment", "branch", "commit_sha", "tag"]);
                    focus_first_error("new-release", &shown);
                    errors.try_set(shown);
                }
            },
        );
        if sent {
            errors.set(FormErrors::none());
        }
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
                <Field form="new-release" name="commit_sha" label="Commit SHA (optional)" value=sha errors=errors
                    hint="7 to 40 hexadecimal characters; leave empty to release the branch's head." autocomplete="off"/>
                <Field form="new-release" name="tag" label="Tag (optional)" value=tag errors=errors autocomplete="off"/>
                <FormEnd form="new-release" errors=errors label="Start release" busy_label="Starting…" busy=busy id="start-release"/>
            </form>
        </section>
    }
}
