//! The interface: the router, the frame around every page, and the pages.

mod ai_budget;
pub mod chart;
pub mod components;
pub mod fetched;
mod form;
mod layout;
pub mod loaded;
mod members;
pub mod org;
mod pages;
pub mod paging;
pub mod router;
pub mod session;

use crate::state::config::{self, RuntimeConfig};
use crate::state::route::Route;
use leptos::prelude::*;
use pages::{
    account::Account,
    auth::{SignIn, SignUp},
    dashboard::Dashboard,
    invitation::InvitationPage,
    not_found::NotFound,
    org::OrgPage,
    project::ProjectPage,
    projects::Projects,
    release::ReleasePage,
    settings::Settings,
};
use router::{Router, use_location};
use session::{Protected, Session};

/// Loads `/config.json`, then mounts the app (or says why it cannot start).
pub fn start() {
    report_panics();
    // Leptos's executor starts with the mount; until then, wasm-bindgen's own.
    wasm_bindgen_futures::spawn_local(async {
        let loaded = load_config().await;
        if let Some(boot) = document().get_element_by_id("boot") {
            boot.remove();
        }
        match loaded {
            Ok(config) => {
                crate::api::set_base(&config.api_base_url);
                mount_to_body(move || view! { <App config=config.clone()/> });
            }
            Err(why) => mount_to_body(move || {
                view! {
                    <main class="boot-failed" role="alert">
                        <h1>"Faro cannot start"</h1>
                        <p>{why.clone()}</p>
                    </main>
                }
            }),
        }
    });
}

/// A bug must not leave a silently frozen page: say so on the page and in the console.
fn report_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message =
            format!("Faro stopped because of a bug ({info}). Reload the page to continue.");
        web_sys::console::error_1(&message.as_str().into());
        if let Some(body) = document().body()
            && let Ok(notice) = document().create_element("p")
        {
            notice.set_class_name("panic");
            let _ = notice.set_attribute("role", "alert");
            notice.set_text_content(Some(&message));
            let _ = body.prepend_with_node_1(&notice);
        }
    }));
}

async fn load_config() -> Result<RuntimeConfig, String> {
    let response = crate::api::send(crate::api::Call {
        method: "GET",
        path: config::PATH,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("{} could not be loaded: {e}", config::PATH))?;
    let text = response.text().map_err(|_| "no body".to_owned())?;
    let text = wasm_bindgen_futures::JsFuture::from(text)
        .await
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default();
    RuntimeConfig::parse(&text).map_err(|e| e.to_string())
}

#[component]
fn App(config: RuntimeConfig) -> impl IntoView {
    let session = Session::start();
    provide_context(session);
    provide_context(org::Orgs::start(session));
    provide_context(config);
    view! {
        <Router>
            <layout::Shell>
                <Pages/>
            </layout::Shell>
        </Router>
    }
}

/// The page the address names; rebuilt when it names another page, not on every change of
/// the address (a new query is the page's own business).
#[component]
fn Pages() -> impl IntoView {
    let location = use_location();
    let route = Memo::new(move |_| Route::of(&location.pathname.get()));
    move || match route.get() {
        Route::SignIn => view! { <SignIn/> }.into_any(),
        Route::SignUp => view! { <SignUp/> }.into_any(),
        Route::Dashboard => view! { <Protected><Dashboard/></Protected> }.into_any(),
        Route::Projects => view! { <Protected><Projects/></Protected> }.into_any(),
        Route::Project { slug } => {
            view! { <Protected><ProjectPage slug=slug.clone()/></Protected> }.into_any()
        }
        Route::Settings { slug } => {
            view! { <Protected><Settings slug=slug.clone()/></Protected> }.into_any()
        }
        Route::Release { id } => {
            view! { <Protected><ReleasePage id=id.clone()/></Protected> }.into_any()
        }
        Route::Org { slug } => {
            view! { <Protected><OrgPage slug=slug.clone()/></Protected> }.into_any()
        }
        Route::Account => view! { <Protected><Account/></Protected> }.into_any(),
        Route::Invitation { token } => view! { <InvitationPage token=token/> }.into_any(),
        Route::NotFound => view! { <NotFound/> }.into_any(),
    }
}
