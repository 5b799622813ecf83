//! An organization's settings: its name, members, invitations and SleakOps key.

use super::not_found::missing;
use crate::api;
use crate::state::org::{masked_key, role_label};
use crate::ui::ai_budget::AiBudgetLine;
use crate::ui::components::{Alert, Field, FormEnd, SelectField, Time, set_title};
use crate::ui::fetched::Fetched;
use crate::ui::form::Form;
use crate::ui::loaded::Loaded;
use crate::ui::members::{MemberTable, Of, Row};
use crate::ui::org::use_orgs;
use crate::ui::session::use_session;
use faro_types::{
    CreateInvitation, Invitation, InvitationStatus, OrgMember, OrgRole, Organization,
    SetSleakopsKey, UpdateOrg,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn OrgPage(slug: String) -> impl IntoView {
    let orgs = use_orgs();
    let org = Loaded::new(move || api::org(&slug));
    Effect::new(move || {
        if let Some(Ok(o)) = org.get() {
            set_title(&o.name);
            // Opening an organization's page shows that organization everywhere.
            orgs.choose(&o.slug);
        }
    });
    view! {
        <Fetched what="the organization" load=org
            not_found=missing("No such organization", "It does not exist, or you are not one of its members.",
                ("/", "Go to the dashboard"))
            let:o>
            <div class="page">
                <h1>{o.name.clone()}</h1>
                <p class="muted">{format!("{} · your role: {}", o.slug, role_label(o.role))}</p>
                <AiBudgetLine org=Some(o.slug.clone())/>
                <div class="columns">
                    // Other pages offer what the key reaches: they learn of it from the list.
                    <SleakopsKey org=o.clone() on_change=move || {
                        orgs.list.refetch();
                        org.refetch();
                    }/>
                    {(o.role == OrgRole::Owner).then(|| view! { <Rename org=o.clone() on_saved=move || org.refetch()/> })}
                </div>
                <Members org=o.clone()/>
                {o.role.runs_projects().then(|| view! { <Invitations org=o/> })}
            </div>
        </Fetched>
    }
}

#[component]
fn Rename(org: Organization, #[prop(into)] on_saved: Callback<()>) -> impl IntoView {
    let orgs = use_orgs();
    let name = RwSignal::new(org.name);
    let slug = StoredValue::new(org.slug);
    let form = Form::new("org-name", &["name"]);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = UpdateOrg {
            name: Some(name.get_untracked().trim().to_owned()),
        };
        let checked = request.validate();
        let sent = api::update_org(&slug.get_value(), &request);
        form.submit(checked, sent, move |_| {
            orgs.list.refetch();
            on_saved.run(());
        });
    };
    view! {
        <section class="panel" aria-labelledby="org-name-title">
            <h2 id="org-name-title">"Name"</h2>
            <form id="org-name" novalidate on:submit=submit>
                <Field form="org-name" name="name" label="Name" value=name errors=form.errors required=true
                    hint="Its address stays the same."/>
                <FormEnd form="org-name" errors=form.errors label="Rename" busy_label="Saving…" busy=form.busy/>
            </form>
        </section>
    }
}

/// The key's status for everyone; owners set, replace or remove it (then the page shows the
/// organization afresh). The key itself never comes back from the API, so it is never shown.
#[component]
fn SleakopsKey(org: Organization, #[prop(into)] on_change: Callback<()>) -> impl IntoView {
    let owner = org.role == OrgRole::Owner;
    let status = org.sleakops_key;
    let configured = status.configured;
    let slug = StoredValue::new(org.slug);
    let key = RwSignal::new(String::new());
    let form = Form::new("sleakops-key", &["api_key"]);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = SetSleakopsKey {
            api_key: key.get_untracked().trim().to_owned(),
        };
        let checked = request.validate();
        let sent = api::set_sleakops_key(&slug.get_value(), &request);
        form.submit(checked, sent, move |_| on_change.run(()));
    };
    let remove = move |_| {
        let sent = api::delete_sleakops_key(&slug.get_value());
        form.submit(Ok(()), sent, move |()| on_change.run(()));
    };
    let shown = if configured {
        let by = status.set_by.map(|who| format!(" by {who}"));
        view! {
            "Set: " <code>{masked_key(status.last4.as_deref())}</code> {by}
            {status.set_at.map(|at| view! { " · " <Time at=at/> })}
        }
        .into_any()
    } else {
        "Not set: releases cannot deploy until an owner sets it.".into_any()
    };
    view! {
        <section class="panel" aria-labelledby="sleakops-key-title">
            <h2 id="sleakops-key-title">"SleakOps key"</h2>
            <p id="sleakops-key-status">{shown}</p>
            {if owner {
                view! {
                    <form id="sleakops-key" novalidate on:submit=submit>
                        <Field form="sleakops-key" name="api_key" label="API key" kind="password" value=key errors=form.errors
                            autocomplete="off" hint="Checked with SleakOps before it is stored, sealed."/>
                        <FormEnd form="sleakops-key" errors=form.errors label="Save key" busy_label="Checking…" busy=form.busy/>
                        {configured.then(|| view! {
                            <button type="button" class="button danger" id="remove-sleakops-key" on:click=remove>"Remove key"</button>
                        })}
                    </form>
                }
                .into_any()
            } else {
                view! { <p class="muted small">"Only owners may set or remove it."</p> }.into_any()
            }}
        </section>
    }
}

/// The roles `caller` may give: owners any, admins up to admin.
fn grantable(caller: OrgRole) -> Vec<(&'static str, &'static str)> {
    OrgRole::ALL
        .into_iter()
        .filter(|r| *r <= caller)
        .map(|r| (r.as_str(), role_label(r)))
        .collect()
}

#[component]
fn Members(org: Organization) -> impl IntoView {
    let me = use_session().user().map(|u| u.id);
    let slug = StoredValue::new(org.slug);
    let list = Loaded::new(move || api::org_members(&slug.get_value()));
    let caller = org.role;
    // Admins manage members and admins; owners everyone.
    let row = move |m: OrgMember| {
        let manages = caller.runs_projects() && m.role <= caller;
        Row {
            roles: if manages {
                grantable(caller)
            } else {
                Vec::new()
            },
            role: m.role.as_str(),
            role_label: role_label(m.role),
            removable: manages,
            is_me: me == Some(m.user_id),
            user_id: m.user_id,
            name: m.name,
            email: m.email,
            since: m.joined_at,
        }
    };
    view! {
        <section class="panel" aria-labelledby="org-members-title">
            <h2 id="org-members-title">"Members"</h2>
            <p class="muted small">"Owners hold the key and the organization; admins manage members and every project; members see the projects they are added to."</p>
            <Fetched what="members" load=list let:members>
                <MemberTable of=Of::Org(slug.get_value()) caption="Members of this organization"
                    rows=members.into_iter().map(row).collect() on_change=move || list.refetch()/>
            </Fetched>
        </section>
    }
}

#[component]
fn Invitations(org: Organization) -> impl IntoView {
    let slug = StoredValue::new(org.slug);
    let list = Loaded::new(move || api::invitations(&slug.get_value()));
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("member".to_owned());
    let form = Form::new("invite", &["email", "role"]);
    let roles = grantable(org.role)
        .into_iter()
        .map(|(v, l)| (v.to_owned(), l.to_owned()))
        .collect::<Vec<_>>();
    // The link of the invitation just made: the API shows its token this once.
    let link = RwSignal::new(None::<String>);
    let invited = RwSignal::new(String::new());
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = CreateInvitation {
            email: email.get_untracked().trim().to_owned(),
            role: OrgRole::parse(&role.get_untracked()).unwrap_or(OrgRole::Member),
        };
        let checked = request.validate();
        let sent = api::invite(&slug.get_value(), &request);
        form.submit(checked, sent, move |created| {
            let origin = window().location().origin().unwrap_or_default();
            invited.set(created.invitation.email);
            link.set(Some(format!("{origin}{}", created.accept_path)));
            email.set(String::new());
            list.refetch();
        });
    };
    view! {
        <section class="panel" aria-labelledby="invitations-title">
            <h2 id="invitations-title">"Invitations"</h2>
            <p class="muted small">"People join by opening the link of an invitation and signing in (or up) with the invited e-mail."</p>
            <form id="invite" class="inline-form" novalidate on:submit=submit>
                <Field form="invite" name="email" label="Email" kind="email" value=email errors=form.errors required=true/>
                <SelectField form="invite" name="role" label="Role" value=role errors=form.errors options=roles/>
                <FormEnd form="invite" errors=form.errors label="Invite" busy_label="Inviting…" busy=form.busy/>
            </form>
            {move || link.get().map(|url| view! { <NewLink to=invited.get_untracked() url=url/> })}
            <Fetched what="invitations" load=list is_empty=Vec::is_empty
                empty={|| view! { <p>"No invitations yet."</p> }}
                let:all>
                <ul class="invitation-list">
                    {all.into_iter().map(|i| view! { <InvitationItem slug=slug.get_value() invitation=i on_change=move || list.refetch()/> }).collect_view()}
                </ul>
            </Fetched>
        </section>
    }
}

/// The link of a new invitation, with a Copy button: it cannot be shown again.
#[component]
fn NewLink(to: String, url: String) -> impl IntoView {
    let copied = RwSignal::new(None::<String>);
    let text = StoredValue::new(url.clone());
    let copy = move |_| {
        let promise = window()
            .navigator()
            .clipboard()
            .write_text(&text.get_value());
        leptos::task::spawn_local(async move {
            let done = wasm_bindgen_futures::JsFuture::from(promise).await;
            copied.try_set(Some(
                if done.is_ok() {
                    "Copied."
                } else {
                    "The browser refused: select the link and copy it."
                }
                .to_owned(),
            ));
        });
    };
    view! {
        <div class="notice ok" id="invitation-link" role="status">
            <p>{format!("Send this link to {to}. It is shown only now: copy it before leaving the page.")}</p>
            <div class="actions">
                <input id="invitation-link-url" aria-label="Invitation link" readonly value=url/>
                <button type="button" class="button secondary small" id="copy-invitation-link" on:click=copy>"Copy"</button>
            </div>
            <Alert error=copied class="small"/>
        </div>
    }
}

#[component]
fn InvitationItem(
    slug: String,
    invitation: Invitation,
    #[prop(into)] on_change: Callback<()>,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let id = invitation.id;
    let revoke = move |_| {
        let slug = slug.clone();
        leptos::task::spawn_local(async move {
            match api::revoke_invitation(&slug, id).await {
                Ok(()) => on_change.run(()),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let status = match invitation.status {
        InvitationStatus::Pending => "pending",
        InvitationStatus::Accepted => "accepted",
        InvitationStatus::Revoked => "revoked",
        InvitationStatus::Expired => "expired",
    };
    let pending = invitation.status == InvitationStatus::Pending;
    let email = invitation.email;
    view! {
        <li data-email=email.clone() data-status=status>
            <strong>{email.clone()}</strong>
            <span class="muted small">
                {format!(" {} · {status}", role_label(invitation.role))}
                {invitation.invited_by.map(|by| format!(" · invited by {by}"))}
                " · expires " <Time at=invitation.expires_at/>
            </span>
            {pending.then(|| view! {
                <button type="button" class="button link danger" on:click=revoke>"Revoke"</button>
            })}
            <Alert error=error/>
        </li>
    }
}
