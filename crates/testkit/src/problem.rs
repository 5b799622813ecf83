//! The shape every error answer has.

use crate::api::header;

/// Asserts a problem+json answer with `status` that quotes its request id, and returns it.
pub async fn problem(response: reqwest::Response, status: u16) -> faro_types::Problem {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    assert_eq!(
        header(&response, "content-type").unwrap_or_default(),
        "application/problem+json"
    );
    let request_id = header(&response, "x-request-id");
    let problem: faro_types::Problem = response.json().await.expect("a problem document");
    assert_eq!(problem.status, status);
    assert!(!problem.title.is_empty());
    assert_eq!(
        problem.request_id, request_id,
        "the problem quotes the request id"
    );
    problem
}
