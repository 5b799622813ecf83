//! Renders every error response as `application/problem+json`: problems raised by handlers
//! (carried as [`ProblemExt`]) and bare error statuses produced by axum or tower layers
//! (unknown route, wrong method, body limit, timeout), so a client never sees an empty body
//! or an HTML page.

use super::RequestId;
use crate::error::{ProblemExt, title_for};
use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};
use faro_types::{PROBLEM_CONTENT_TYPE, Problem, ProblemType};

pub async fn problem_layer(request: Request, next: Next) -> Response {
    let request_id = request.extensions().get::<RequestId>().cloned();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;

    let status = response.status();
    let (mut parts, body) = response.into_parts();
    let problem = match parts.extensions.remove::<ProblemExt>() {
        Some(ProblemExt(problem)) => problem,
        None if status.is_client_error() || status.is_server_error() => {
            let already_problem = parts
                .headers
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
            if already_problem {
                return Response::from_parts(parts, body);
            }
            synthesize(status.as_u16(), title_for(status))
        }
        None => return Response::from_parts(parts, body),
    };
    let problem = Problem {
        instance: Some(path),
        request_id: request_id.map(|id| id.as_str().to_owned()),
        ..problem
    };
    let bytes = serde_json::to_vec(&problem).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

fn synthesize(status: u16, title: &str) -> Problem {
    let problem = Problem::new(ProblemType::for_status(status), status, title);
    match status {
        // axum adds `Allow` outside this layer, so the header is not visible here.
        405 => problem.with_detail(
            "This URL does not accept this method; the Allow header lists those it does.",
        ),
        413 => problem.with_detail("The request body is larger than this API accepts."),
        404 => problem.with_detail("No resource exists at this URL."),
        503 => problem.with_detail("The request could not be completed in time; try again."),
        _ => problem,
    }
}
