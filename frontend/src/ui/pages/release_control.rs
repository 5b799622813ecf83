//! The release page's release control: its approval (the waiting state, Approve and Reject
//! with the reason, the decision once made) and "Promote to …" of a deployed release.

use crate::api;
use crate::state::form::{FormErrors, optional};
use crate::state::format;
use crate::state::release_control::{ApprovalView, promotion_targets};
use crate::ui::components::{
    Alert, Confirm, Field, FormError, SelectField, Submit, environment_options,
};
use crate::ui::form::{Form, Once};
use crate::ui::loaded::Loaded;
use crate::ui::router::use_navigate;
use crate::ui::session::use_session;
use faro_types::{PromoteRelease, RejectRelease, Release, ReleaseStatus, Role};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn ApprovalPanel(
    release: Signal<Option<Release>>,
    status: Signal<ReleaseStatus>,
    role: RwSignal<Option<Role>>,
    #[prop(into)] on_change: Callback<()>,
) -> impl IntoView {
    let me = use_session().user().map(|u| u.id);
    let approval = move || {
        release.with(|r| {
            r.as_ref()
                .map(|r| (r.id, ApprovalView::of(r, status.get(), me, role.get())))
        })
    };
    move || {
        approval().and_then(|(id, view)| {
            let shown = view.text()?;
            Some(view! {
                <section class=format!("panel approval {}", shown.state) id="approval" data-state=shown.state aria-labelledby="approval-title">
                    <h2 id="approval-title">{shown.heading}</h2>
                    <p id="approval-text">{shown.text}</p>
                    {shown.to_requester.map(|text| view! { <p class="notice info" id="approval-mine">{text}</p> })}
                    {view.may_decide().then(|| view! { <Decide id=id on_change=on_change/> })}
                </section>
            })
        })
    }
}

/// Approve, or reject with a reason, for an owner who did not ask for the release.
#[component]
fn Decide(id: u64, on_change: Callback<()>) -> impl IntoView {
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let rejecting = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let form = Form::new("reject", &["reason"]);

    let approve = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::approve_release(id).await {
                Ok(_) => on_change.run(()),
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
            busy.try_set(false);
        });
    };
    let reject = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = RejectRelease {
            reason: optional(&reason.get_untracked()).unwrap_or_default(),
        };
        let checked = request.validate();
        let sent = api::reject_release(id, &request);
        form.submit(checked, sent, move |_| on_change.run(()));
    };
    view! {
        <div class="actions">
            <button type="button" class="button primary" id="approve-release" on:click=approve
                disabled=move || busy.get() || form.busy.get()>
                "Approve"
            </button>
            <button type="button" class="button danger" id="reject-start" aria-expanded=move || rejecting.get().to_string()
                aria-controls="reject" on:click=move |_| rejecting.update(|r| *r = !*r)>
                "Reject…"
            </button>
            <Alert error=error/>
        </div>
        <form id="reject" novalidate on:submit=reject hidden=move || !rejecting.get()>
            <Field form="reject" name="reason" label="Why (the requester reads it)" value=reason errors=form.errors rows=3
                hint="1 to 500 characters."/>
            <FormError form="reject" errors=form.errors/>
            <Submit label="Reject release" busy_label="Rejecting…" busy=form.busy id="reject-release"/>
        </form>
    }
}

/// "Promote to …": the same build, deployed to another environment of the project, once
/// confirmed.
#[component]
pub fn Promote(
    project: String,
    release: Signal<Option<Release>>,
    status: Signal<ReleaseStatus>,
    can_write: Signal<bool>,
) -> impl IntoView {
    let navigate = use_navigate();
    let environments = Loaded::new(move || api::environments(&project));
    let targets = Signal::derive(move || match (release.get(), environments.get()) {
        (Some(r), Some(Ok(envs))) => promotion_targets(&r, &envs),
        _ => Vec::new(),
    });
    let environment = RwSignal::new(String::new());
    let confirming = RwSignal::new(false);
    let errors = RwSignal::new(FormErrors::none());
    let once = Once::default();
    let busy = once.busy();
    let options = environment_options(environment, targets, |e| {
        e.requires_approval.then_some("needs an owner's approval")
    });
    let shown = move || {
        can_write.get()
            && status.get() == ReleaseStatus::Deployed
            && release.with(|r| r.as_ref().is_some_and(|r| r.sleakops_build_id.is_some()))
            && !targets.with(Vec::is_empty)
    };

    let ask = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = PromoteRelease {
            environment: environment.get_untracked(),
        };
        let checked = FormErrors::from_validation(request.validate());
        errors.set(checked.clone());
        confirming.set(checked.is_empty());
    };
    let confirm = move || {
        let Some(id) = release.with_untracked(|r| r.as_ref().map(|r| r.id)) else {
            return;
        };
        let request = PromoteRelease {
            environment: environment.get_untracked(),
        };
        let body = request.clone();
        let sent = once.send(
            &request,
            move |key| async move { api::promote_release(id, &body, &key).await },
            move |answer| match answer {
                Ok(new) => navigate(&format!("/releases/{}", new.id)),
                Err(e) => {
                    confirming.try_set(false);
                    errors.try_set(FormErrors::from_api(&e, &["environment"]));
                }
            },
        );
        if sent {
            errors.set(FormErrors::none());
        }
    };
    let question = Signal::derive(move || {
        release
            .with(|r| {
                r.as_ref().map(|r| {
                format!(
                    "Deploy the build of release #{} (commit {}) to {} without building it again?",
                    r.id,
                    format::short_sha(r.commit_sha.as_deref()),
                    environment.get()
                )
            })
            })
            .unwrap_or_default()
    });
    move || {
        shown().then(|| {
            view! {
                <section class="panel" aria-labelledby="promote-title">
                    <h2 id="promote-title">"Promote"</h2>
                    <form id="promote" novalidate on:submit=ask>
                        <SelectField form="promote" name="environment" label="Promote to" value=environment errors=errors options=options/>
                        <FormError form="promote" errors=errors/>
                        <div class="actions" hidden=move || confirming.get()>
                            <button type="submit" class="button secondary" id="promote-release">"Promote…"</button>
                        </div>
                    </form>
                    <Confirm id="promote" question=question label="Promote" busy_label="Promoting…"
                        keep_label="Not now" busy=busy on_confirm=Box::new(confirm)
                        on_keep=Box::new(move || confirming.set(false))
                        hidden=Signal::derive(move || !confirming.get())/>
                </section>
            }
        })
    }
}
