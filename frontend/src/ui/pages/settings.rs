//! A project's settings: its details, environments and members.

use crate::api;
use crate::state::form::FormErrors;
use crate::state::format;
use crate::ui::components::{
    Field, FormEnd, FormError, SelectField, Submit, focus_first_error, set_title,
};
use crate::ui::fetched::Fetched;
use crate::ui::form::Form;
use crate::ui::loaded::Loaded;
use crate::ui::members::{MemberTable, Of, Row};
use crate::ui::org::SleakopsChoices;
use crate::ui::session::use_session;
use faro_types::{
    AddMember, CreateEnvironment, Environment, Member, Project, Role, UpdateEnvironment,
    UpdateProject,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn Settings(slug: String) -> impl IntoView {
    let project = super::project_named(&slug);
    Effect::new(move || {
        if let Some(Ok(p)) = project.get() {
            set_title(&format!("{} settings", p.name));
        }
    });
    view! {
        <Fetched what="the project" load=project let:p>
            <div class="page">
                <nav class="crumbs" aria-label="Breadcrumb">
                    <a href="/projects">"Projects"</a>" / "<a href=format!("/projects/{}", p.slug)>{p.name.clone()}</a>" / "
                </nav>
                <h1>{format!("{} settings", p.name)}</h1>
                <div class="columns">
                    <Environments project=p.clone()/>
                    <EditProject project=p.clone() on_saved=move || project.refetch()/>
                </div>
                <Members project=p/>
            </div>
        </Fetched>
    }
}

#[component]
fn EditProject(project: Project, #[prop(into)] on_saved: Callback<()>) -> impl IntoView {
    let name = RwSignal::new(project.name.clone());
    let sleakops = RwSignal::new(project.sleakops_project.clone());
    let repository = RwSignal::new(project.repository_url.clone());
    let branch = RwSignal::new(project.default_branch.clone());
    let errors = RwSignal::new(FormErrors::none());
    let busy = RwSignal::new(false);
    let saved = RwSignal::new(false);
    let original = StoredValue::new(project.clone());
    let can_write = project.role.can_write();

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let before = original.get_value();
        // Only what changed is sent: a maintainer may edit the rest without being refused for
        // the owner-only `sleakops_project`.
        let changed = |now: String, was: &str| (now.trim() != was).then(|| now.trim().to_owned());
        let request = UpdateProject {
            name: changed(name.get_untracked(), &before.name),
            sleakops_project: changed(sleakops.get_untracked(), &before.sleakops_project),
            repository_url: changed(repository.get_untracked(), &before.repository_url),
            default_branch: changed(branch.get_untracked(), &before.default_branch),
        };
        let checked = FormErrors::from_validation(request.validate());
        if !checked.is_empty() {
            focus_first_error("edit-project", &checked);
            errors.set(checked);
            return;
        }
        if request == UpdateProject::default() {
            errors.set(FormErrors::general("Nothing changed."));
            return;
        }
        errors.set(FormErrors::none());
        busy.set(true);
        saved.set(false);
        leptos::task::spawn_local(async move {
            match api::update_project(&before.slug, &request).await {
                Ok(_) => {
                    saved.set(true);
                    on_saved.run(());
                }
                Err(e) => {
                    let shown = FormErrors::from_api(
                        &e,
                        &[
                            "name",
                            "sleakops_project",
                            "repository_url",
                            "default_branch",
                        ],
                    );
                    focus_first_error("edit-project", &shown);
                    errors.set(shown);
                }
            }
            busy.set(false);
        });
    };

    view! {
        <section class="panel" aria-labelledby="edit-project-title">
            <h2 id="edit-project-title">"Project"</h2>
            <form id="edit-project" novalidate on:submit=submit>
                <fieldset disabled=!can_write>
                    <Field form="edit-project" name="name" label="Name" value=name errors=errors/>
                    <Field form="edit-project" name="sleakops_project" label="SleakOps project" value=sleakops errors=errors
                        hint="Where deployments go: only owners may change it."/>
                    <Field form="edit-project" name="repository_url" label="Repository URL" value=repository errors=errors/>
                    <Field form="edit-project" name="default_branch" label="Default branch" value=branch errors=errors/>
                    <FormError form="edit-project" errors=errors/>
                    <p class="notice ok" role="status" hidden=move || !saved.get()>"Saved."</p>
                    <Submit label="Save" busy_label="Saving…" busy=busy/>
                </fieldset>
            </form>
        </section>
    }
}

#[component]
fn Environments(project: Project) -> impl IntoView {
    let slug = StoredValue::new(project.slug.clone());
    let list = Loaded::new(move || api::environments(&slug.get_value()));
    let name = RwSignal::new(String::new());
    let sleakops = RwSignal::new(String::new());
    let production = RwSignal::new(false);
    // Unless an owner sets it, as `production`.
    let approval = RwSignal::new(None::<bool>);
    let requires_approval =
        Signal::derive(move || approval.get().unwrap_or_else(|| production.get()));
    let form = Form::new(
        "new-environment",
        &[
            "name",
            "sleakops_environment",
            "production",
            "requires_approval",
        ],
    );
    let can_write = project.role.can_write();
    let owner = project.role == Role::Owner;
    let (org, sleakops_project) = (project.organization, project.sleakops_project);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = CreateEnvironment {
            name: name.get_untracked().trim().to_owned(),
            sleakops_environment: sleakops.get_untracked().trim().to_owned(),
            production: production.get_untracked(),
            requires_approval: approval.get_untracked(),
        };
        let checked = request.validate();
        let sent = api::create_environment(&slug.get_value(), &request);
        form.submit(checked, sent, move |_| {
            name.set(String::new());
            sleakops.set(String::new());
            production.set(false);
            approval.set(None);
            list.refetch();
        });
    };

    view! {
        <section class="panel wide" aria-labelledby="environments-title">
            <h2 id="environments-title">"Environments"</h2>
            <Fetched what="environments" load=list is_empty=Vec::is_empty
                empty={|| view! { <p>"No environments yet. Add the first one below to start releasing."</p> }}
                let:envs>
                <ul class="env-list">
                    {envs.into_iter().map(|e| view! {
                        <EnvironmentRow slug=slug.get_value() environment=e can_write=can_write owner=owner on_change=move || list.refetch()/>
                    }).collect_view()}
                </ul>
            </Fetched>
            {can_write.then(|| view! {
                <h3>"Add an environment"</h3>
                <form id="new-environment" novalidate on:submit=submit>
                    <Field form="new-environment" name="name" label="Name" value=name errors=form.errors required=true
                        hint="Lowercase, e.g. staging."/>
                    <Field form="new-environment" name="sleakops_environment" label="SleakOps environment" value=sleakops errors=form.errors required=true
                        list="sleakops-environments"/>
                    <SleakopsChoices org=Some(org.clone()) id="sleakops-environments" project=sleakops_project.clone()/>
                    <div class="field checkbox">
                        <input type="checkbox" id="new-environment-production" disabled=!owner
                            prop:checked=move || production.get()
                            on:change=move |ev| production.set(event_target_checked(&ev))/>
                        <label for="new-environment-production">"Production"{(!owner).then_some(" (owners only)")}</label>
                        <p class="field-error" id="new-environment-production-error" hidden=move || form.errors.with(|e| e.field("production").is_none())>
                            {move || form.errors.with(|e| e.field("production"))}
                        </p>
                    </div>
                    <ApprovalCheckbox form="new-environment" checked=requires_approval owner=owner
                        on_change=move |on| approval.set(Some(on)) errors=form.errors/>
                    <FormEnd form="new-environment" errors=form.errors label="Add environment" busy_label="Adding…" busy=form.busy/>
                </form>
            })}
        </section>
    }
}

#[component]
fn EnvironmentRow(
    slug: String,
    environment: Environment,
    can_write: bool,
    owner: bool,
    #[prop(into)] on_change: Callback<()>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let sleakops = RwSignal::new(environment.sleakops_environment.clone());
    let production = RwSignal::new(environment.production);
    let approval = RwSignal::new(environment.requires_approval);
    let errors = RwSignal::new(FormErrors::none());
    let busy = RwSignal::new(false);
    let form = StoredValue::new(format!("env-{}", environment.name));
    let names = StoredValue::new((slug, environment.name.clone()));
    let original = StoredValue::new(environment.clone());

    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let was = original.get_value();
        let now = sleakops.get_untracked().trim().to_owned();
        let request = UpdateEnvironment {
            sleakops_environment: (now != was.sleakops_environment).then_some(now),
            production: (production.get_untracked() != was.production)
                .then(|| production.get_untracked()),
            requires_approval: (approval.get_untracked() != was.requires_approval)
                .then(|| approval.get_untracked()),
        };
        let checked = FormErrors::from_validation(request.validate());
        if !checked.is_empty() {
            focus_first_error(&form.get_value(), &checked);
            errors.set(checked);
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let (slug, name) = names.get_value();
            match api::update_environment(&slug, &name, &request).await {
                Ok(_) => {
                    editing.set(false);
                    on_change.run(());
                }
                Err(e) => errors.set(FormErrors::from_api(
                    &e,
                    &["sleakops_environment", "production", "requires_approval"],
                )),
            }
            busy.set(false);
        });
    };
    let remove = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            let (slug, name) = names.get_value();
            match api::delete_environment(&slug, &name).await {
                Ok(()) => on_change.run(()),
                Err(e) => errors.set(FormErrors::general(e.to_string())),
            }
            busy.set(false);
        });
    };

    view! {
        <li class="env-row" data-environment=environment.name.clone()>
            <div class="env-summary">
                <strong>{environment.name.clone()}</strong>
                {environment.production.then_some(view! { " " <span class="tag">"production"</span> })}
                {environment.requires_approval.then_some(view! { " " <span class="tag">"needs approval"</span> })}
                <span class="muted small">{format!(" SleakOps: {}", environment.sleakops_environment)}</span>
                {can_write.then(|| view! {
                    <button type="button" class="button link" on:click=move |_| editing.update(|e| *e = !*e)
                        aria-expanded=move || editing.get().to_string()>
                        "Edit"
                    </button>
                })}
            </div>
            <p class="form-error" role="alert" hidden=move || editing.get() || errors.with(|e| e.general.is_none())>
                {move || errors.with(|e| e.general.clone())}
            </p>
            {move || editing.get().then(|| view! {
                <form id=form.get_value() novalidate on:submit=save class="inline-form">
                    <Field form=form.get_value() name="sleakops_environment" label="SleakOps environment" value=sleakops errors=errors/>
                    <div class="field checkbox">
                        <input type="checkbox" id=format!("{}-production", form.get_value()) disabled=!owner
                            prop:checked=move || production.get()
                            on:change=move |ev| production.set(event_target_checked(&ev))/>
                        <label for=format!("{}-production", form.get_value())>"Production"{(!owner).then_some(" (owners only)")}</label>
                    </div>
                    <ApprovalCheckbox form=form.get_value() checked=approval owner=owner
                        on_change=move |on| approval.set(on) errors=errors/>
                    <FormError form=form.get_value() errors=errors/>
                    <div class="actions">
                        <Submit label="Save" busy_label="Saving…" busy=busy/>
                        <button type="button" class="button danger" on:click=remove disabled=move || busy.get()>"Delete"</button>
                    </div>
                </form>
            })}
        </li>
    }
}

/// An owner's choice whether releases to the environment wait for a second person's approval,
/// and what that means while it is on.
#[component]
fn ApprovalCheckbox(
    #[prop(into)] form: String,
    #[prop(into)] checked: Signal<bool>,
    owner: bool,
    #[prop(into)] on_change: Callback<bool>,
    errors: RwSignal<FormErrors>,
) -> impl IntoView {
    let id = format!("{form}-requires_approval");
    let hint = format!("{id}-hint");
    view! {
        <div class="field checkbox">
            <input type="checkbox" id=id.clone() disabled=!owner aria-describedby=hint.clone()
                prop:checked=move || checked.get()
                on:change=move |ev| on_change.run(event_target_checked(&ev))/>
            <label for=id.clone()>"Requires approval"{(!owner).then_some(" (owners only)")}</label>
            <p class="hint" id=hint>
                "While this is on, every release, promotion and rollback here waits until a second owner \
                 (a project owner, or an organization owner or admin, other than the requester) approves it. \
                 An organization with a single owner turns it off knowingly: nobody else could approve."
            </p>
            <p class="field-error" id=format!("{id}-error") hidden=move || errors.with(|e| e.field("requires_approval").is_none())>
                {move || errors.with(|e| e.field("requires_approval"))}
            </p>
        </div>
    }
}

#[component]
fn Members(project: Project) -> impl IntoView {
    let session = use_session();
    let slug = StoredValue::new(project.slug.clone());
    let list = Loaded::new(move || api::members(&slug.get_value()));
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("maintainer".to_owned());
    let form = Form::new("add-member", &["email", "role"]);
    let owner = project.role == Role::Owner;
    let me = session.user().map(|u| u.id);
    let role_options = Signal::derive(|| {
        [Role::Viewer, Role::Maintainer, Role::Owner]
            .into_iter()
            .map(|r| (r.as_str().to_owned(), format::role_label(r).to_owned()))
            .collect::<Vec<_>>()
    });

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = AddMember {
            email: email.get_untracked().trim().to_owned(),
            role: Role::parse(&role.get_untracked()).unwrap_or(Role::Viewer),
        };
        let checked = request.validate();
        let sent = api::add_member(&slug.get_value(), &request);
        form.submit(checked, sent, move |_| {
            email.set(String::new());
            list.refetch();
        });
    };

    view! {
        <section class="panel" aria-labelledby="members-title">
            <h2 id="members-title">"Members and roles"</h2>
            <p class="muted small">"Owners manage members; maintainers change the project and release; viewers follow."</p>
            <Fetched what="members" load=list let:members>
                <MemberTable of=Of::Project(slug.get_value()) caption="Members of this project"
                    rows=members.into_iter().map(|m| member_row(m, owner, me)).collect() on_change=move || list.refetch()/>
            </Fetched>
            {owner.then(|| view! {
                <h3>"Add a member"</h3>
                <form id="add-member" class="inline-form" novalidate on:submit=submit>
                    <Field form="add-member" name="email" label="Email of an existing account" kind="email" value=email errors=form.errors required=true/>
                    <SelectField form="add-member" name="role" label="Role" value=role errors=form.errors options=role_options/>
                    <FormEnd form="add-member" errors=form.errors label="Add member" busy_label="Adding…" busy=form.busy/>
                </form>
            })}
        </section>
    }
}

fn member_row(m: Member, owner: bool, me: Option<u64>) -> Row {
    Row {
        roles: if owner {
            [Role::Viewer, Role::Maintainer, Role::Owner]
                .into_iter()
                .map(|r| (r.as_str(), format::role_label(r)))
                .collect()
        } else {
            Vec::new()
        },
        role: m.role.as_str(),
        role_label: format::role_label(m.role),
        removable: owner,
        is_me: me == Some(m.user_id),
        user_id: m.user_id,
        name: m.name,
        email: m.email,
        since: m.added_at,
    }
}
