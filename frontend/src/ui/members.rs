//! The member table of a project and of an organization: one view for both (their roles
//! differ, so a row holds its role as the API writes it), compiled once.

use super::components::{Alert, Time};
use crate::api::{self, ApiError};
use chrono::{DateTime, Utc};
use faro_types::{OrgRole, Role, UpdateMember, UpdateOrgMember};
use leptos::prelude::*;

/// Whose members a table shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Of {
    Project(String),
    Org(String),
}

impl Of {
    async fn set_role(&self, user_id: u64, role: &str) -> Result<(), ApiError> {
        match self {
            Self::Project(slug) => {
                let role = Role::parse(role).unwrap_or(Role::Viewer);
                api::update_member(slug, user_id, &UpdateMember { role })
                    .await
                    .map(drop)
            }
            Self::Org(slug) => {
                let role = OrgRole::parse(role).unwrap_or(OrgRole::Member);
                api::update_org_member(slug, user_id, &UpdateOrgMember { role })
                    .await
                    .map(drop)
            }
        }
    }

    async fn remove(&self, user_id: u64) -> Result<(), ApiError> {
        match self {
            Self::Project(slug) => api::remove_member(slug, user_id).await,
            Self::Org(slug) => api::remove_org_member(slug, user_id).await,
        }
    }
}

/// A person in a member table, and what the caller may do to them.
#[derive(Debug, Clone)]
pub struct Row {
    pub user_id: u64,
    pub name: String,
    pub email: String,
    /// As the API writes it (`maintainer`, `admin`…).
    pub role: &'static str,
    pub since: DateTime<Utc>,
    /// (value, label) of the roles the caller may give them; empty: the role is only shown.
    pub roles: Vec<(&'static str, &'static str)>,
    pub role_label: &'static str,
    pub removable: bool,
    pub is_me: bool,
}

#[component]
pub fn MemberTable(
    of: Of,
    caption: &'static str,
    rows: Vec<Row>,
    #[prop(into)] on_change: Callback<()>,
) -> impl IntoView {
    let of = StoredValue::new(of);
    view! {
        <div class="table-wrap">
            <table class="members">
                <caption class="visually-hidden">{caption}</caption>
                <thead><tr><th scope="col">"Name"</th><th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Since"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|row| view! { <MemberRow of=of row=row on_change=on_change/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn MemberRow(of: StoredValue<Of>, row: Row, on_change: Callback<()>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let user_id = row.user_id;
    let held = row.role;
    let shown = RwSignal::new(held.to_owned());
    // A change reloads the table; a refusal says why and shows the role still held.
    let act = move |change: Option<String>| {
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let of = of.get_value();
            let done = match change {
                Some(role) => of.set_role(user_id, &role).await,
                None => of.remove(user_id).await,
            };
            match done {
                Ok(()) => on_change.run(()),
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                    shown.try_set(held.to_owned());
                }
            }
            busy.try_set(false);
        });
    };
    let select_id = format!("member-{user_id}-role");
    let role = if row.roles.is_empty() {
        row.role_label.into_any()
    } else {
        view! {
            <label class="visually-hidden" for=select_id.clone()>{format!("Role of {}", row.name)}</label>
            <select id=select_id on:change=move |ev| act(Some(event_target_value(&ev)))
                prop:value=move || shown.get() disabled=move || busy.get()>
                {row.roles.iter().map(|(value, label)| view! {
                    <option value=*value selected=*value == row.role>{*label}</option>
                }).collect_view()}
            </select>
        }
        .into_any()
    };
    view! {
        <tr data-email=row.email.clone()>
            <td>{row.name.clone()}{row.is_me.then_some(" (you)")}</td>
            <td>{row.email.clone()}</td>
            <td>
                {role}
                <Alert error=error/>
            </td>
            <td><Time at=row.since/></td>
            <td>
                {(row.removable || row.is_me).then(|| view! {
                    <button type="button" class="button link danger" on:click=move |_| act(None) disabled=move || busy.get()>
                        {if row.is_me { "Leave" } else { "Remove" }}
                    </button>
                })}
            </td>
        </tr>
    }
}
