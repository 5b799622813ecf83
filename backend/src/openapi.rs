//! The OpenAPI 3.1 document, generated from the handlers' annotations (the paths come with
//! the routes, see [`crate::routes`]), and the problem responses handlers list by name.

use faro_types::{PROBLEM_CONTENT_TYPE, Problem, contract::FIELD_RULES};
use std::collections::BTreeMap;
use utoipa::{
    IntoResponses, OpenApi,
    openapi::{
        ContentBuilder, Ref, RefOr, Response, ResponseBuilder, Schema,
        path::{Operation, ParameterIn},
    },
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

/// What every operation can answer beyond its handler's own statuses, added in one place so
/// that an operation cannot forget them (a new route gets them as it is merged):
/// - 400 when it takes a path parameter (a value that does not parse, or bad percent-encoding),
///   and 422 when it takes query parameters (`ApiQuery` names the parameter);
/// - 409 when it takes a `cursor` (one this API did not issue);
/// - 400, 413, 415 and 422 when it takes a JSON body (`ApiJson`);
/// - 503 from every operation but the probes (load shedding, the request timeout, a busy
///   dependency).
///
/// It also writes each request field's rule ([`FIELD_RULES`], the rules `validate()` checks)
/// into its schema. A rule naming a schema or property the document lacks is a programming
/// error, and panics at start-up (the API tests see it).
pub fn complete(api: &mut utoipa::openapi::OpenApi) {
    for (path, item) in api.paths.paths.iter_mut() {
        // The probes are never shed; readiness lists the 503 it answers when not ready.
        let sheddable = !crate::http::shed::EXEMPT.contains(&path.as_str());
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_statuses(operation, sheddable);
        }
    }
    let schemas = &mut api
        .components
        .as_mut()
        .expect("the document has components")
        .schemas;
    for (schema, property, rule) in FIELD_RULES {
        let field = match schemas.get_mut(*schema) {
            Some(RefOr::T(Schema::Object(object))) => object.properties.get_mut(*property),
            _ => panic!("FIELD_RULES names schema {schema}, which the document lacks"),
        };
        let Some(RefOr::T(Schema::Object(field))) = field else {
            panic!("FIELD_RULES names {schema}.{property}, which is not a string property");
        };
        field.min_length = (rule.min_length > 0).then_some(rule.min_length);
        field.max_length = (rule.max_length < usize::MAX).then_some(rule.max_length);
        field.pattern = rule.pattern.map(str::to_owned);
    }
}

fn add_statuses(operation: &mut Operation, sheddable: bool) {
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| parameters.iter().any(|p| p.parameter_in == place);
    let mut extra = BTreeMap::new();
    if sheddable {
        extra.extend(Unavailable::responses());
    }
    if has(ParameterIn::Path) {
        extra.extend(MalformedRequest::responses());
    }
    if has(ParameterIn::Query) {
        extra.extend(InvalidInput::responses());
    }
    // A cursor this API did not issue is well formed but names no position: a 409.
    if parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Query && p.name == "cursor")
    {
        extra.extend(Conflict::responses());
    }
    if operation.request_body.is_some() {
        extra.extend(MalformedRequest::responses());
        extra.extend(PayloadTooLarge::responses());
        extra.extend(UnsupportedMediaType::responses());
        extra.extend(InvalidInput::responses());
    }
    let responses = &mut operation.responses.responses;
    for (status, response) in extra {
        responses.entry(status).or_insert(response);
    }
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
    /// The request is malformed: a path parameter that does not parse, or a body that is not
    /// valid JSON.
    MalformedRequest = 400
}

problem! {
    /// The body is larger than this API accepts.
    PayloadTooLarge = 413
}

problem! {
    /// The body is not sent as JSON (`Content-Type: application/json`).
    UnsupportedMediaType = 415
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
    /// A dependency (MySQL, DynamoDB or DeepSeek) is unavailable or busy, the instance is
    /// draining, or it serves as many requests as it can (load shedding, which every
    /// operation but the probes may answer); see Retry-After. Nothing changed.
    Unavailable = 503
}
