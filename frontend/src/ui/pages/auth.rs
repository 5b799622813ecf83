//! Sign in and sign up.

use crate::api::{self, ApiError};
use crate::state::form::optional;
use crate::state::org::default_name;
use crate::ui::components::{Field, FormEnd, set_title};
use crate::ui::form::Form;
use crate::ui::loaded::Loaded;
use crate::ui::org::use_orgs;
use crate::ui::router::{Redirect, use_location};
use crate::ui::session::{Auth, safe_next, use_session};
use faro_types::{LoginRequest, Problem, ProblemType, Session as SignedIn, SignupRequest};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

const FORM_IN: &str = "sign-in";
const FORM_UP: &str = "sign-up";

/// Where to go once signed in: `?next=` when it is a path of this app.
fn next_path() -> Signal<String> {
    let location = use_location();
    Signal::derive(move || safe_next(location.query("next")))
}

#[component]
pub fn SignIn() -> impl IntoView {
    set_title("Sign in");
    let session = use_session();
    let next = next_path();
    let done = move |signed: SignedIn| session.signed_in(signed.user);
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let form = Form::new(FORM_IN, &["email", "password"]);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = LoginRequest {
            email: email.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
        };
        let checked = request.validate();
        // A 401 here is a wrong password, not a session that ended.
        let sent = async move {
            api::login(&request).await.map_err(|e| {
                if e.is_unauthorized() {
                    ApiError::Problem(Box::new(Problem::new(
                        ProblemType::Unauthorized,
                        401,
                        "Wrong email or password.",
                    )))
                } else {
                    e
                }
            })
        };
        form.submit(checked, sent, done);
    };

    let page = move || {
        view! {
            <section class="auth panel" aria-labelledby="sign-in-title">
                <h1 id="sign-in-title">"Sign in to Faro"</h1>
                {move || session.expired.get().then_some(view! {
                    <p class="notice warning" role="status">"Your session has ended. Sign in again to continue."</p>
                })}
                <form id="sign-in" novalidate on:submit=submit>
                    <Field form="sign-in" name="email" label="Email" kind="email" value=email errors=form.errors autocomplete="email" required=true/>
                    <Field form="sign-in" name="password" label="Password" kind="password" value=password errors=form.errors autocomplete="current-password" required=true/>
                    <FormEnd form="sign-in" errors=form.errors label="Sign in" busy_label="Signing in…" busy=form.busy/>
                </form>
                <p class="muted">"New to Faro? " <a href=move || format!("/sign-up?next={}", api::encode(&next.get()))>"Create an account"</a></p>
            </section>
        }
    };
    view! { <UnlessSignedIn next=next page=page/> }
}

#[component]
pub fn SignUp() -> impl IntoView {
    set_title("Create an account");
    let next = next_path();
    let session = use_session();
    let orgs = use_orgs();
    let name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let organization = RwSignal::new(String::new());
    // Fields the API may name that have no input here (`invitation`) show above the button.
    let form = Form::new(FORM_UP, &["name", "email", "password", "organization"]);
    // With an invitation link's token, the account joins its organization instead of
    // creating one.
    let token =
        StoredValue::new(untrack(|| use_location().query("invitation")).unwrap_or_default());
    let preview = Loaded::when(move || {
        let token = optional(&token.get_value())?;
        Some(api::invitation(&token))
    });
    Effect::new(move || {
        if let Some(Ok(p)) = preview.get()
            && email.get_untracked().is_empty()
        {
            email.set(p.email);
        }
    });
    let joining = move || match preview.get()? {
        Ok(p) => Some(
            view! {
                <p class="notice info" id="joining">
                    "You are joining " <strong>{p.organization_name}</strong>
                    {format!(" as {}.", p.role.as_str())}
                </p>
            }
            .into_any(),
        ),
        Err(e) => {
            Some(view! { <p class="notice warning" role="alert">{e.to_string()}</p> }.into_any())
        }
    };

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = SignupRequest {
            email: email.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
            name: name.get_untracked().trim().to_owned(),
            organization: optional(&organization.get_untracked()),
            invitation: optional(&token.get_value()),
        };
        let checked = request.validate();
        let joined = untrack(|| preview.get())
            .and_then(Result::ok)
            .map(|p| p.organization);
        form.submit(
            checked,
            async move { api::signup(&request).await },
            move |signed: SignedIn| {
                if let Some(org) = joined {
                    orgs.choose(&org);
                }
                session.signed_in(signed.user);
            },
        );
    };
    let placeholder = Signal::derive(move || default_name(&name.get()));

    let page = move || {
        view! {
            <section class="auth panel" aria-labelledby="sign-up-title">
                <h1 id="sign-up-title">"Create your Faro account"</h1>
                {joining}
                <form id="sign-up" novalidate on:submit=submit>
                    <Field form="sign-up" name="name" label="Name" value=name errors=form.errors autocomplete="name" required=true/>
                    <Field form="sign-up" name="email" label="Email" kind="email" value=email errors=form.errors autocomplete="email" required=true/>
                    <Field form="sign-up" name="password" label="Password" kind="password" value=password errors=form.errors autocomplete="new-password" required=true
                        hint="At least 12 characters."/>
                    {token.get_value().is_empty().then(|| view! {
                        <Field form="sign-up" name="organization" label="Organization name (optional)" value=organization errors=form.errors
                            autocomplete="organization" placeholder=placeholder
                            hint="Your projects belong to it; you can invite others later."/>
                    })}
                    <FormEnd form="sign-up" errors=form.errors label="Create account" busy_label="Creating…" busy=form.busy/>
                </form>
                <p class="muted">"Already have an account? " <a href=move || format!("/sign-in?next={}", api::encode(&next.get()))>"Sign in"</a></p>
            </section>
        }
    };
    view! { <UnlessSignedIn next=next page=page/> }
}

/// Shows `page` until the visitor is signed in (already, or by this page's form): then on to
/// `next`, in place of the sign page in the history.
#[component]
fn UnlessSignedIn<P, V>(next: Signal<String>, page: P) -> impl IntoView
where
    P: Fn() -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let session = use_session();
    move || {
        if let Auth::SignedIn(_) = session.auth.get() {
            return view! { <Redirect path=next.get_untracked()/> }.into_any();
        }
        page().into_any()
    }
}
