//! Who is signed in. The session itself is an HttpOnly cookie the app never sees: on start the
//! app asks `/api/me`, and any 401 later means the session ended.

use super::fetched::Loading;
use super::router::{Redirect, use_location};
use crate::api;
use crate::state::route::Route;
use faro_types::User;
use leptos::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Asking `/api/me`.
    Checking,
    SignedIn(User),
    SignedOut,
    /// `/api/me` failed for another reason than 401.
    Unreachable(String),
}

#[derive(Debug, Clone, Copy)]
pub struct Session {
    pub auth: RwSignal<Auth>,
    /// The session ended while the app was in use (not a first visit): the sign-in page says so.
    pub expired: RwSignal<bool>,
}

impl Session {
    pub fn start() -> Self {
        let session = Self {
            auth: RwSignal::new(Auth::Checking),
            expired: RwSignal::new(false),
        };
        api::on_signed_out(move || {
            if matches!(session.auth.get_untracked(), Auth::SignedIn(_)) {
                session.expired.set(true);
            }
            session.auth.set(Auth::SignedOut);
        });
        session.check();
        session
    }

    /// Asks the API who the cookie belongs to.
    pub fn check(self) {
        self.auth.set(Auth::Checking);
        leptos::task::spawn_local(async move {
            let auth = match api::me().await {
                Ok(Some(user)) => Auth::SignedIn(user),
                Ok(None) => Auth::SignedOut,
                Err(e) => Auth::Unreachable(e.to_string()),
            };
            self.auth.set(auth);
        });
    }

    pub fn signed_in(self, user: User) {
        self.expired.set(false);
        self.auth.set(Auth::SignedIn(user));
    }

    pub fn user(self) -> Option<User> {
        match self.auth.get() {
            Auth::SignedIn(user) => Some(user),
            _ => None,
        }
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// Where the sign-in page sends the user afterwards: a path of this app only, never another
/// site (`next` comes from the URL, which anyone can craft).
pub fn safe_next(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\"))
        .unwrap_or_else(|| "/".into())
}

/// Shows `children` to a signed-in user; sends anyone else to the sign-in page, which comes
/// back here afterwards.
#[component]
pub fn Protected(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let location = use_location();
    move || match session.auth.get() {
        Auth::Checking => view! { <Loading what="your session"/> }.into_any(),
        Auth::SignedIn(_) => children().into_any(),
        Auth::SignedOut => {
            let path = location.pathname.get_untracked();
            // Already on its way to a sign page (signing out navigates there itself).
            if Route::of(&path).is_public() {
                return ().into_any();
            }
            let here = format!("{path}{}", location.search.get_untracked());
            let to = format!("/sign-in?next={}", api::encode(&here));
            view! { <Redirect path=to/> }.into_any()
        }
        Auth::Unreachable(why) => view! {
            <div class="panel error-state" role="alert">
                <h1>"Faro cannot reach its server"</h1>
                <p>{why}</p>
                <button class="button" on:click=move |_| session.check()>"Try again"</button>
            </div>
        }
        .into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_in_the_app() {
        assert_eq!(safe_next(Some("/releases/4".into())), "/releases/4");
        assert_eq!(safe_next(Some("/projects?x=1".into())), "/projects?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "releases",
        ] {
            assert_eq!(safe_next(Some(bad.into())), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
