//! `GET project-env/`: the project environments a key reaches, grouped into projects.

use crate::{Client, SleakOpsError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Pages [`Client::projects`] reads at most; a longer listing is
/// [`SleakOpsError::TooManyPages`] rather than a silently shortened one.
pub const MAX_PAGES: usize = 20;

/// What a missing listing is called in [`SleakOpsError::NotFound`].
pub(crate) const WHAT: &str = "project environments";

/// A project the key reaches, with the names of its environments, both sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectListing {
    pub name: String,
    pub environments: Vec<String>,
}

/// One project environment; SleakOps sends more fields, which are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct WireProjectEnv {
    project_name: String,
    environment: WireEnvironment,
}

#[derive(Debug, Deserialize)]
struct WireEnvironment {
    name: String,
}

/// The answer: the whole listing, or one page of it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Listing {
    Page {
        results: Vec<WireProjectEnv>,
        #[serde(default)]
        next: Option<String>,
    },
    All(Vec<WireProjectEnv>),
}

/// Reads every page of the listing and groups it by project.
pub(crate) async fn collect(client: &Client) -> Result<Vec<ProjectListing>, SleakOpsError> {
    let mut url = client.url(crate::PROJECT_ENVS);
    let mut projects = BTreeMap::<String, BTreeSet<String>>::new();
    for _ in 0..MAX_PAGES {
        let (entries, next) = match client.read::<Listing>(&url, WHAT).await? {
            Listing::All(entries) => (entries, None),
            Listing::Page { results, next } => (results, next),
        };
        for entry in entries {
            projects
                .entry(entry.project_name)
                .or_default()
                .insert(entry.environment.name);
        }
        match next {
            None => {
                return Ok(projects
                    .into_iter()
                    .map(|(name, environments)| ProjectListing {
                        name,
                        environments: environments.into_iter().collect(),
                    })
                    .collect());
            }
            Some(next) => url = next_page(client.base_url(), &next)?,
        }
    }
    Err(SleakOpsError::TooManyPages { limit: MAX_PAGES })
}

/// Where the `next` link of a page leads, on the client's own origin: only its path and
/// query are kept, so the key is never sent to another host, and a server behind a proxy
/// that writes its own scheme or host into links is still followed.
fn next_page(base_url: &str, next: &str) -> Result<String, SleakOpsError> {
    let path = |url: &str| match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|at| rest[at..].to_owned()),
        None => url.starts_with('/').then(|| url.to_owned()),
    };
    let origin = |url: &str| {
        let (scheme, rest) = url.split_once("://")?;
        let host = rest.split('/').next()?;
        Some(format!("{scheme}://{host}"))
    };
    let (Some(origin), Some(base_path), Some(next_path)) =
        (origin(base_url), path(base_url), path(next))
    else {
        return Err(SleakOpsError::Malformed {
            detail: format!("a next page link that cannot be followed: {next:?}"),
        });
    };
    if !next_path.starts_with(&base_path) {
        return Err(SleakOpsError::Malformed {
            detail: format!("a next page link outside {base_path}: {next:?}"),
        });
    }
    Ok(format!("{origin}{next_path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://api.sleakops.com/api/";

    #[test]
    fn next_links_are_followed_on_the_clients_own_origin() {
        assert_eq!(
            next_page(BASE, "http://internal:8000/api/project-env/?page=2").expect("followed"),
            "https://api.sleakops.com/api/project-env/?page=2"
        );
        assert_eq!(
            next_page(BASE, "/api/project-env/?page=3").expect("followed"),
            "https://api.sleakops.com/api/project-env/?page=3"
        );
        for bad in ["https://evil.example/steal?page=2", "page=2", ""] {
            let err = next_page(BASE, bad).expect_err(bad);
            assert!(matches!(err, SleakOpsError::Malformed { .. }), "{err:?}");
        }
    }

    #[test]
    fn both_shapes_of_the_listing_are_read() {
        let all: Listing = serde_json::from_str(
            r#"[{"id": 1, "name": "shop-prod", "project_name": "shop", "environment": {"id": 4, "name": "prod"}}]"#,
        )
        .expect("array");
        assert!(matches!(all, Listing::All(entries) if entries.len() == 1));
        let page: Listing =
            serde_json::from_str(r#"{"count": 3, "next": null, "previous": null, "results": []}"#)
                .expect("page");
        assert!(matches!(page, Listing::Page { next: None, .. }));
    }
}
