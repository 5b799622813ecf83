//! Which page an address shows. The app has ten addresses, so a match on the path's segments
//! does the routing a router crate would (at a sixth of a general router's weight in the wasm).

/// A page of the app and what its address names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    SignIn,
    SignUp,
    Dashboard,
    Projects,
    Project {
        slug: String,
    },
    Settings {
        slug: String,
    },
    /// `id` as written: the page itself says when it is not a number.
    Release {
        id: String,
    },
    /// An organization's settings: name, members, invitations, SleakOps key.
    Org {
        slug: String,
    },
    /// The signed-in user's account: password, sessions.
    Account,
    /// Where an invitation link leads: the token as written (the API judges it).
    Invitation {
        token: String,
    },
    NotFound,
}

impl Route {
    /// The page at `path` (the address's path, without query or fragment). A trailing slash
    /// names the same page.
    pub fn of(path: &str) -> Self {
        let trimmed = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
        match segments.as_slice() {
            [""] => Self::Dashboard,
            ["sign-in"] => Self::SignIn,
            ["sign-up"] => Self::SignUp,
            ["projects"] => Self::Projects,
            ["account"] => Self::Account,
            ["projects", slug] if !slug.is_empty() => Self::Project {
                slug: (*slug).to_owned(),
            },
            ["projects", slug, "settings"] if !slug.is_empty() => Self::Settings {
                slug: (*slug).to_owned(),
            },
            ["releases", id] if !id.is_empty() => Self::Release {
                id: (*id).to_owned(),
            },
            ["orgs", slug] if !slug.is_empty() => Self::Org {
                slug: (*slug).to_owned(),
            },
            ["invitations", token] if !token.is_empty() => Self::Invitation {
                token: (*token).to_owned(),
            },
            _ => Self::NotFound,
        }
    }

    /// The pages anyone may see, signed in or not (an invitation says how to sign in to
    /// accept it).
    pub fn is_public(&self) -> bool {
        matches!(self, Self::SignIn | Self::SignUp | Self::Invitation { .. })
    }
}

/// What a click on a link to `to` should do, seen from the page at `here` (both as path, query
/// and fragment, on this app's origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Show another page of the app without reloading.
    Navigate,
    /// A jump within the page shown (`#main`): the browser does it.
    Browser,
}

pub fn follow(here: &str, to: &str) -> Follow {
    let (to_page, fragment) = to.split_once('#').unwrap_or((to, ""));
    let here_page = here.split_once('#').map_or(here, |(page, _)| page);
    if !fragment.is_empty() && (to_page.is_empty() || to_page == here_page) {
        Follow::Browser
    } else {
        Follow::Navigate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(slug: &str) -> Route {
        Route::Project { slug: slug.into() }
    }

    #[test]
    fn each_address_names_its_page() {
        for (path, route) in [
            ("/", Route::Dashboard),
            ("/sign-in", Route::SignIn),
            ("/sign-up", Route::SignUp),
            ("/projects", Route::Projects),
            ("/projects/", Route::Projects),
            ("/account", Route::Account),
            ("/projects/shop", project("shop")),
            (
                "/projects/shop/settings",
                Route::Settings {
                    slug: "shop".into(),
                },
            ),
            ("/releases/42", Route::Release { id: "42".into() }),
            ("/releases/x", Route::Release { id: "x".into() }),
            (
                "/orgs/acme",
                Route::Org {
                    slug: "acme".into(),
                },
            ),
            (
                "/invitations/abc_-9",
                Route::Invitation {
                    token: "abc_-9".into(),
                },
            ),
        ] {
            assert_eq!(Route::of(path), route, "{path}");
        }
    }

    #[test]
    fn any_other_address_is_not_found() {
        for path in [
            "",
            "/nope",
            "/projects//settings",
            "/projects/shop/other",
            "/releases",
            "/releases/",
            "/releases/1/2",
            "/orgs",
            "/orgs/acme/members",
            "/account/password",
            "/invitations/",
        ] {
            assert_eq!(Route::of(path), Route::NotFound, "{path:?}");
        }
    }

    #[test]
    fn only_the_sign_pages_and_invitations_are_public() {
        assert!(Route::SignIn.is_public());
        assert!(Route::SignUp.is_public());
        assert!(Route::Invitation { token: "t".into() }.is_public());
        assert!(
            !Route::Org {
                slug: "acme".into()
            }
            .is_public()
        );
        assert!(!Route::Dashboard.is_public());
        assert!(!project("shop").is_public());
    }

    #[test]
    fn a_jump_within_the_page_is_left_to_the_browser() {
        assert_eq!(
            follow("/projects", "/projects#new-project"),
            Follow::Browser
        );
        assert_eq!(follow("/projects#top", "#main"), Follow::Browser);
        assert_eq!(follow("/", "/projects#new-project"), Follow::Navigate);
        assert_eq!(follow("/projects?x=1", "/projects#new"), Follow::Navigate);
        assert_eq!(follow("/projects", "/projects"), Follow::Navigate);
    }
}
