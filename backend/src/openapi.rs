//! The OpenAPI 3.1 document, generated from the handlers' annotations (the paths come with
//! the routes, see [`crate::routes`]), and the problem responses handlers list by name.

use faro_types::{PROBLEM_CONTENT_TYPE, Problem};
use std::collections::BTreeMap;
use utoipa::{
    OpenApi,
    openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Faro API",
        description = "The release cockpit: projects, environments, releases on SleakOps, their live timelines and delivery metrics. Errors are RFC 9457 problem documents (`application/problem+json`).",
    ),
    // The problem responses refer to it by name.
    components(schemas(Problem)),
    tags(
        (name = "operations", description = "Health, readiness, build information, and what the app runs against"),
        (name = "accounts", description = "Sign-up, sign-in and sessions"),
        (name = "releases", description = "Releases, their timelines and live events, and delivery metrics"),
        (name = "organizations", description = "Organizations: their members, invitations (the only way in), and the SleakOps API key their projects deploy with"),
        (name = "projects", description = "Projects, their environments and members, and each project's audit log"),
        (name = "ai", description = "DeepSeek's help with a release: notes, explanations of failures, and a chat"),
    )
)]
struct ApiDoc;

/// The document's frame (title, tags, shared components); [`crate::routes`] adds the paths.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Declares a problem response: a type an operation lists by name in its `responses(...)`,
/// which describes the problem under its status (a `Problem` body, as
/// `application/problem+json`).
macro_rules! problem {
    ($(#[doc = $doc:literal])+ $name:ident = $status:literal) => {
        $(#[doc = $doc])+
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                let description = [$($doc),+].map(str::trim).join(" ");
                let content = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build();
                let response = ResponseBuilder::new()
                    .description(description)
                    .content(PROBLEM_CONTENT_TYPE, content)
                    .build();
                BTreeMap::from([($status.to_string(), response.into())])
            }
        }
    };
}

problem! {
    /// Not signed in: send the session cookie or `Authorization: Bearer <token>`.
    NotSignedIn = 401
}

problem! {
    /// Not allowed; the detail says why. The caller's role in the project (or organization)
    /// does not allow this (the detail names the role needed, and `field` the input only a
    /// higher role may set), or the request, signed in with the session cookie, came from none
    /// of the app's origins (field `origin`: see the other 403).
    Forbidden = 403
}

problem! {
    /// The request, signed in with the session cookie, came from none of the app's origins
    /// (`FARO_CORS_ORIGINS`, or the backend's own when it serves the app); field `origin`.
    /// Browsers send `Origin` themselves; other clients sign in with
    /// `Authorization: Bearer <token>`, which needs no `Origin`.
    ForeignOrigin = 403
}

problem! {
    /// No such object, or the caller is not a member of its project (or organization).
    NotFound = 404
}

problem! {
    /// The request conflicts with the current state; the detail says how, and `field`
    /// names the input concerned.
    Conflict = 409
}

problem! {
    /// Invalid or unknown fields or parameters; `errors` names each.
    InvalidInput = 422
}

problem! {
    /// Too many requests; see Retry-After.
    TooManyRequests = 429
}

problem! {
    /// A dependency (MySQL, DynamoDB or DeepSeek) is unavailable or busy, or the instance
    /// is draining; see Retry-After. Nothing changed.
    Unavailable = 503
}
