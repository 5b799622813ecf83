//! Where an invitation link leads: who is invited to what, and the way to accept it (signed
//! in as the invited e-mail), or to sign in or up first.

use super::not_found::missing;
use crate::api;
use crate::state::org::same_email;
use crate::ui::components::{FormEnd, set_title};
use crate::ui::fetched::{Fetched, Loading};
use crate::ui::form::Form;
use crate::ui::loaded::Loaded;
use crate::ui::org::use_orgs;
use crate::ui::router::use_navigate;
use crate::ui::session::{Auth, use_session};
use faro_types::{InvitationPreview, Organization};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn InvitationPage(token: String) -> impl IntoView {
    set_title("Invitation");
    let token = StoredValue::new(token);
    let preview = Loaded::new(move || api::invitation(&token.get_value()));
    view! {
        <Fetched what="the invitation" load=preview
            not_found=missing("This invitation link is not valid",
                "No invitation has this link: check that it was copied whole, or ask for a new one.",
                ("/", "Go to Faro"))
            let:p>
            <Invited token=token.get_value() preview=p/>
        </Fetched>
    }
}

#[component]
fn Invited(token: String, preview: InvitationPreview) -> impl IntoView {
    let session = use_session();
    let orgs = use_orgs();
    let navigate = use_navigate();
    let form = Form::new("accept", &[]);
    let invited = preview.email.clone();
    let here = api::encode(&format!("/invitations/{token}"));
    let sign_up = format!("/sign-up?invitation={}", api::encode(&token));
    let token = StoredValue::new(token);
    let accept = move |ev: SubmitEvent| {
        ev.prevent_default();
        let sent = api::accept_invitation(&token.get_value());
        form.submit(Ok(()), sent, move |org: Organization| {
            orgs.choose(&org.slug);
            orgs.list.refetch();
            navigate("/projects");
        });
    };
    let sign_out = move |_| {
        leptos::task::spawn_local(async move {
            // Whatever the answer, this browser is signed out (as the header's button does).
            let _ = api::logout().await;
            session.auth.set(Auth::SignedOut);
        });
    };
    let next = move || {
        match session.auth.get() {
        Auth::Checking => view! { <Loading what="your session"/> }.into_any(),
        Auth::SignedIn(user) if same_email(&user.email, &invited) => view! {
            <form id="accept" novalidate on:submit=accept>
                <FormEnd form="accept" errors=form.errors label="Accept" busy_label="Joining…" busy=form.busy id="accept-invitation"/>
            </form>
        }
        .into_any(),
        Auth::SignedIn(user) => view! {
            <p class="notice warning" id="other-account">
                {format!("You are signed in as {}, but this invitation is for {}. Sign out, then sign in or up with that e-mail.", user.email, invited)}
            </p>
            <button type="button" class="button secondary" id="invitation-sign-out" on:click=sign_out>"Sign out"</button>
        }
        .into_any(),
        _ => view! {
            <p>
                <a class="button primary" id="invitation-sign-up" href=sign_up.clone()>"Create an account"</a>
                " or "
                <a href=format!("/sign-in?next={here}") id="invitation-sign-in">"sign in"</a>
                {format!(" as {invited} to accept it.")}
            </p>
        }
        .into_any(),
    }
    };
    view! {
        <section class="auth panel" aria-labelledby="invitation-title">
            <h1 id="invitation-title">{format!("Join {}", preview.organization_name)}</h1>
            <p id="invitation-what">
                {format!("{} invites {} to join as {}.",
                    preview.invited_by.as_deref().unwrap_or("An admin of the organization"),
                    preview.email, preview.role.as_str())}
                " It expires " <crate::ui::components::Time at=preview.expires_at/> "."
            </p>
            {next}
        </section>
    }
}
