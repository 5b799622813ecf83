//! The address bar as signals: where the app is ([`use_location`]), how to go elsewhere
//! ([`use_navigate`], [`Redirect`]), links followed without reloading, and the back button.
//! Which page an address shows is [`crate::state::route`].

use crate::state::route::{self, Follow};
use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The address shown: its path and its query (with the `?`, or empty).
#[derive(Debug, Clone, Copy)]
pub struct Location {
    pub pathname: RwSignal<String>,
    pub search: RwSignal<String>,
}

impl Location {
    fn read() -> (String, String) {
        let location = window().location();
        (
            location.pathname().unwrap_or_else(|_| "/".into()),
            location.search().unwrap_or_default(),
        )
    }

    fn sync(self) {
        let (pathname, search) = Self::read();
        // Only what changed notifies: a new query alone does not rebuild the page.
        if self.pathname.get_untracked() != pathname {
            self.pathname.set(pathname);
        }
        if self.search.get_untracked() != search {
            self.search.set(search);
        }
    }

    /// Shows `to` (path, query and fragment of this app): a new history entry, or in place of
    /// the current one with `replace` (a redirect the back button should skip).
    fn go(self, to: &str, replace: bool) {
        let Ok(history) = window().history() else {
            return;
        };
        let pushed = if replace {
            history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(to))
        } else {
            history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(to))
        };
        if pushed.is_err() {
            // Not an address of this origin: let the browser go there.
            let _ = window().location().set_href(to);
            return;
        }
        self.sync();
        let fragment = to.split_once('#').map(|(_, f)| f.to_owned());
        // After the new page has rendered: to its anchor when it names one, else to the top.
        request_animation_frame(move || {
            match fragment.and_then(|f| document().get_element_by_id(&f)) {
                Some(anchor) => anchor.scroll_into_view(),
                None => window().scroll_to_with_x_and_y(0.0, 0.0),
            }
        });
    }

    /// The query parameter `name`, decoded.
    pub fn query(self, name: &str) -> Option<String> {
        web_sys::UrlSearchParams::new_with_str(&self.search.get())
            .ok()
            .and_then(|params| params.get(name))
    }
}

pub fn use_location() -> Location {
    expect_context::<Location>()
}

/// Goes to an address of the app, as a click on a link to it would.
pub fn use_navigate() -> impl Fn(&str) + Copy + 'static {
    let location = use_location();
    move |to: &str| location.go(to, false)
}

/// Provides the [`Location`] to `children`, and keeps it in step with the back and forward
/// buttons and with clicks on the app's own links.
#[component]
pub fn Router(children: Children) -> impl IntoView {
    let (pathname, search) = Location::read();
    let location = Location {
        pathname: RwSignal::new(pathname),
        search: RwSignal::new(search),
    };
    provide_context(location);
    let popstate = window_event_listener(ev::popstate, move |_| location.sync());
    let click = window_event_listener(ev::click, move |event| follow_link(location, &event));
    on_cleanup(move || {
        popstate.remove();
        click.remove();
    });
    children()
}

/// A click on a link to another page of the app shows it without reloading; any other click
/// (a new tab, a download, another site, a jump within the page) is the browser's.
fn follow_link(location: Location, event: &web_sys::MouseEvent) {
    if event.default_prevented()
        || event.button() != 0
        || event.meta_key()
        || event.ctrl_key()
        || event.shift_key()
        || event.alt_key()
    {
        return;
    }
    let Some(link) = event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|e| e.closest("a[href]").ok().flatten())
    else {
        return;
    };
    let opens_elsewhere = link
        .get_attribute("target")
        .is_some_and(|t| !t.is_empty() && t != "_self");
    let external = link
        .get_attribute("rel")
        .is_some_and(|r| r.split_whitespace().any(|r| r == "external"));
    if opens_elsewhere || external || link.has_attribute("download") {
        return;
    }
    let href = link.get_attribute("href").unwrap_or_default();
    let here = window().location();
    let Ok(url) = web_sys::Url::new_with_base(&href, &here.href().unwrap_or_default()) else {
        return;
    };
    if Some(url.origin()) != here.origin().ok() {
        return;
    }
    let to = format!("{}{}{}", url.pathname(), url.search(), url.hash());
    let shown = format!(
        "{}{}",
        location.pathname.get_untracked(),
        location.search.get_untracked()
    );
    if route::follow(&shown, &to) == Follow::Navigate {
        event.prevent_default();
        location.go(&to, false);
    }
}

/// Sends the browser to `path` in place of the page that rendered this (the back button does
/// not come back to a page that only redirects).
#[component]
pub fn Redirect(#[prop(into)] path: String) -> impl IntoView {
    let location = use_location();
    // Not while rendering: the new page replaces the one being built.
    queue_microtask(move || location.go(&path, true));
}
