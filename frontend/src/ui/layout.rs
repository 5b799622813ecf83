//! The frame around every page: the skip link, the header with navigation and the signed-in
//! user, the banner saying what the backend runs against, and the offer to reload when a
//! newer version of Faro is live.

use super::org::Switcher;
use super::router::{use_location, use_navigate};
use super::session::{Auth, use_session};
use crate::api;
use crate::state::config::RuntimeConfig;
use crate::state::skew::{self, OwnBuild};
use faro_types::{NoticeLevel, OpsStatus};
use leptos::prelude::*;
use std::time::Duration;

/// How often the banner asks `/api/status` again.
const STATUS_EVERY: Duration = Duration::from_secs(60);
/// How often an open tab checks whether it is still the version to run.
const SKEW_EVERY: Duration = Duration::from_secs(300);

#[component]
pub fn Shell(children: Children) -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <Header/>
        <Banner/>
        <NewVersion/>
        <main id="main" tabindex="-1">{children()}</main>
    }
}

#[component]
fn Header() -> impl IntoView {
    let session = use_session();
    let config = expect_context::<RuntimeConfig>();
    let location = use_location();
    let navigate = use_navigate();
    let signing_out = RwSignal::new(false);
    let sign_out = move |_| {
        signing_out.set(true);
        leptos::task::spawn_local(async move {
            // Whatever the answer, this browser is signed out: the cookie is cleared on 204,
            // and a 401 means it was already over.
            let _ = api::logout().await;
            signing_out.set(false);
            session.expired.set(false);
            // Leave the page first, so it does not send us to sign-in with itself as `next`.
            navigate("/sign-in");
            session.auth.set(Auth::SignedOut);
        });
    };
    let current = move |prefix: &'static str| {
        move || {
            let path = location.pathname.get();
            let here = if prefix == "/" {
                path == "/"
            } else {
                path.starts_with(prefix)
            };
            here.then_some("page")
        }
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true"></span>
                "Faro"
            </a>
            {config.badge().map(|env| view! { <span class="env-badge" title="Environment">{env.to_owned()}</span> })}
            {move || session.user().map(|user| {
                view! {
                    <nav class="nav" aria-label="Main">
                        <a href="/" aria-current=current("/")>"Dashboard"</a>
                        <a href="/projects" aria-current=current("/projects")>"Projects"</a>
                    </nav>
                    <Switcher/>
                    <div class="who">
                        <a class="user-name" id="account-link" href="/account" title=user.email.clone()
                            aria-current=current("/account")>{user.name.clone()}</a>
                        <button
                            type="button"
                            class="button secondary small"
                            id="sign-out"
                            on:click=sign_out
                            disabled=move || signing_out.get()
                        >
                            "Sign out"
                        </button>
                    </div>
                }
            })}
        </header>
    }
}

/// "A new version of Faro is available — reload", when the backend no longer serves this app
/// or another frontend went live since it loaded ([`skew::verdict`]). Hidden otherwise;
/// `data-checked` says a check has answered, so a test can tell "fine" from "not asked yet".
#[component]
fn NewVersion() -> impl IntoView {
    let stale = RwSignal::new(false);
    let checked = RwSignal::new(false);
    let check = move || {
        leptos::task::spawn_local(async move {
            let backend = api::version().await.ok();
            let live = api::live_frontend().await.ok();
            let verdict = skew::verdict(OwnBuild::this(), backend.as_ref(), live.as_ref());
            stale.try_set(verdict.is_some());
            checked.try_set(true);
        });
    };
    check();
    let handle = set_interval_with_handle(check, SKEW_EVERY).ok();
    on_cleanup(move || {
        if let Some(h) = handle {
            h.clear();
        }
    });
    let reload = move |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    };
    view! {
        <section class="banner" role="status" id="new-version"
            hidden=move || !stale.get() data-checked=move || checked.get().to_string()>
            <p class="notice info">
                "A new version of Faro is available — "
                <button type="button" class="button link" on:click=reload>"reload"</button>
            </p>
        </section>
    }
}

/// Notices from `/api/status`: simulated services, a worker that is off, open circuits.
#[component]
fn Banner() -> impl IntoView {
    let status = RwSignal::new(None::<OpsStatus>);
    let refresh = move || {
        leptos::task::spawn_local(async move {
            // A failing status call is not news of its own: every page reports its own errors.
            if let Ok(s) = api::status().await {
                status.try_set(Some(s));
            }
        });
    };
    refresh();
    let handle = set_interval_with_handle(refresh, STATUS_EVERY).ok();
    on_cleanup(move || {
        if let Some(h) = handle {
            h.clear();
        }
    });
    move || {
        status.get().filter(|s| !s.notices.is_empty()).map(|s| {
            let simulated = s.simulated;
            view! {
                <section class="banner" class:simulated=simulated aria-label="Service status" id="status-banner">
                    <ul>
                        {s.notices.into_iter().map(|n| {
                            let class = match n.level {
                                NoticeLevel::Info => "notice info",
                                NoticeLevel::Warning => "notice warning",
                            };
                            view! { <li class=class>{n.message}</li> }
                        }).collect_view()}
                    </ul>
                </section>
            }
        })
    }
}
