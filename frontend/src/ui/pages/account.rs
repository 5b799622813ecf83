//! The signed-in user's account: a new password, and signing out everywhere.

use crate::api;
use crate::ui::components::{Field, FormEnd, set_title};
use crate::ui::form::Form;
use crate::ui::router::use_navigate;
use crate::ui::session::{Auth, use_session};
use faro_types::ChangePassword;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn Account() -> impl IntoView {
    set_title("Your account");
    let session = use_session();
    let email = move || session.user().map(|u| u.email).unwrap_or_default();
    view! {
        <section class="panel" aria-labelledby="account-title">
            <h1 id="account-title">"Your account"</h1>
            <p class="muted">"Signed in as " <strong>{email}</strong></p>
        </section>
        <NewPassword/>
        <SignOutEverywhere/>
    }
}

#[component]
fn NewPassword() -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let changed = RwSignal::new(false);
    let form = Form::new("new-password", &["current_password", "new_password"]);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        changed.set(false);
        let request = ChangePassword {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        };
        let checked = request.validate();
        form.submit(checked, api::change_password(&request), move |()| {
            current.set(String::new());
            new.set(String::new());
            changed.set(true);
        });
    };
    view! {
        <section class="panel" aria-labelledby="new-password-title">
            <h2 id="new-password-title">"Password"</h2>
            <form id="new-password" novalidate on:submit=submit>
                <Field form="new-password" name="current_password" label="Current password" kind="password" value=current errors=form.errors
                    autocomplete="current-password" required=true/>
                <Field form="new-password" name="new_password" label="New password" kind="password" value=new errors=form.errors
                    autocomplete="new-password" required=true hint="At least 12 characters. Your other sessions end; this one stays."/>
                <FormEnd form="new-password" errors=form.errors label="Change password" busy_label="Changing…" busy=form.busy/>
            </form>
            <p id="new-password-status" role="status">
                {move || changed.get().then_some("Password changed. Every other session has ended.")}
            </p>
        </section>
    }
}

#[component]
fn SignOutEverywhere() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let busy = RwSignal::new(false);
    let failed = RwSignal::new(None::<String>);
    let sign_out = move |_| {
        busy.set(true);
        failed.set(None);
        leptos::task::spawn_local(async move {
            match api::logout_all().await {
                // A 401: this session had already ended, and with it this browser's sign-in.
                Err(e) if !e.is_unauthorized() => {
                    failed.try_set(Some(e.to_string()));
                    busy.try_set(false);
                }
                _ => {
                    busy.try_set(false);
                    session.expired.set(false);
                    navigate("/sign-in");
                    session.auth.set(Auth::SignedOut);
                }
            }
        });
    };
    view! {
        <section class="panel" aria-labelledby="everywhere-title">
            <h2 id="everywhere-title">"Sessions"</h2>
            <p>"Signed in on a device you no longer use, or one that is not yours? End every session of your account, this one included."</p>
            <button type="button" class="button danger" id="sign-out-everywhere" on:click=sign_out
                disabled=move || busy.get() aria-busy=move || busy.get().then_some("true")>
                {move || if busy.get() { "Signing out…" } else { "Sign out everywhere" }}
            </button>
            {move || failed.get().map(|why| view! { <p class="field-error" role="alert">{why}</p> })}
        </section>
    }
}
