//! All of the caller's projects, and a new one.

use crate::api;
use crate::state::format;
use crate::ui::components::{Field, FormEnd, set_title};
use crate::ui::fetched::{Fetched, no_items};
use crate::ui::form::Form;
use crate::ui::org::{SleakopsChoices, use_orgs};
use crate::ui::paging::MorePages;
use crate::ui::router::use_navigate;
use faro_types::{CreateProject, Project};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn Projects() -> impl IntoView {
    set_title("Projects");
    let orgs = use_orgs();
    let first = orgs.projects();
    let more = MorePages::after(first, move |cursor| orgs.more_projects(cursor));

    view! {
        <div class="page">
            <h1>"Projects"</h1>
            <div class="columns">
                <section class="panel wide" aria-labelledby="all-projects">
                    <h2 id="all-projects">"Your projects"</h2>
                    <Fetched what="projects" load=first is_empty=no_items
                        empty={|| view! { <p>"No projects yet: create one with the form."</p> }}
                        let:page>
                        <ul class="project-list">
                            {page.items.into_iter().map(project_item).collect_view()}
                            {move || more.items.get().into_iter().map(project_item).collect_view()}
                        </ul>
                        {more.button(None)}
                    </Fetched>
                </section>
                <NewProject/>
            </div>
        </div>
    }
}

fn project_item(p: Project) -> impl IntoView {
    view! {
        <li>
            <a href=format!("/projects/{}", p.slug)>{p.name}</a>
            <span class="muted small">
                {format!(" {} · SleakOps {} · {}", p.slug, p.sleakops_project, format::role_label(p.role))}
            </span>
        </li>
    }
}

#[component]
fn NewProject() -> impl IntoView {
    let navigate = use_navigate();
    // Created in the organization shown.
    let orgs = use_orgs();
    let org = Signal::derive(move || orgs.shown());
    let name = RwSignal::new(String::new());
    let slug = RwSignal::new(String::new());
    let sleakops = RwSignal::new(String::new());
    let repository = RwSignal::new(String::new());
    let branch = RwSignal::new("main".to_owned());
    let form = Form::new(
        "new-project",
        &[
            "slug",
            "name",
            "sleakops_project",
            "repository_url",
            "default_branch",
        ],
    );

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = CreateProject {
            organization: org.get_untracked(),
            slug: slug.get_untracked().trim().to_owned(),
            name: name.get_untracked().trim().to_owned(),
            sleakops_project: sleakops.get_untracked().trim().to_owned(),
            repository_url: repository.get_untracked().trim().to_owned(),
            default_branch: branch.get_untracked().trim().to_owned(),
        };
        let checked = request.validate();
        form.submit(checked, api::create_project(&request), move |project| {
            navigate(&format!("/projects/{}/settings", project.slug))
        });
    };

    view! {
        <section class="panel" aria-labelledby="new-project-title" id="new-project">
            <h2 id="new-project-title">"New project"</h2>
            <form id="new-project-form" novalidate on:submit=submit>
                <Field form="new-project" name="name" label="Name" value=name errors=form.errors required=true/>
                <Field form="new-project" name="slug" label="Slug" value=slug errors=form.errors required=true
                    hint="In URLs: lowercase letters, digits and hyphens, e.g. shop-api."/>
                <Field form="new-project" name="sleakops_project" label="SleakOps project" value=sleakops errors=form.errors required=true
                    list="sleakops-projects"/>
                <SleakopsChoices org=org id="sleakops-projects"/>
                <Field form="new-project" name="repository_url" label="Repository URL" value=repository errors=form.errors required=true
                    placeholder="https://github.com/acme/shop"/>
                <Field form="new-project" name="default_branch" label="Default branch" value=branch errors=form.errors required=true/>
                <FormEnd form="new-project" errors=form.errors label="Create project" busy_label="Creating…" busy=form.busy/>
            </form>
        </section>
    }
}
