//! Serving a simulator: its own accept loop (so a fault can close a connection without
//! answering), request counting, fault injection, and the `/_sim/…` admin routes.

use crate::control::{Control, Faults, Settings};
use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::{net::TcpListener, sync::oneshot, task::JoinSet};
use tower::ServiceExt;

/// Renders a simulator's error answer for a status, in that service's own format.
pub(crate) type ErrorBody = fn(u16) -> Response<Body>;

/// Marks a request whose answer must be cut off; streaming handlers honour it themselves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Truncate;

/// The connection was closed on purpose, without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// A simulator running in this process.
#[derive(Debug)]
pub struct Running {
    /// The base URL clients are configured with.
    pub base_url: String,
    pub addr: SocketAddr,
    pub control: Control,
    stop: Option<oneshot::Sender<()>>,
}

impl Running {
    /// Stops accepting and closes every connection.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `routes` under `base_path` and the admin routes (the common ones and the service's
/// own `admin`, all under `/_sim/`).
pub(crate) async fn start(
    addr: SocketAddr,
    base_path: &str,
    routes: Router,
    admin: Router,
    control: Control,
    error_body: ErrorBody,
) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let admin = admin_routes(control.clone()).merge(admin);
    tokio::spawn(accept_loop(
        listener,
        routes,
        admin,
        control.clone(),
        error_body,
        stopped,
    ));
    Ok(Running {
        base_url: format!("http://{addr}{base_path}"),
        addr,
        control,
        stop: Some(stop),
    })
}

async fn accept_loop(
    listener: TcpListener,
    routes: Router,
    admin: Router,
    control: Control,
    error_body: ErrorBody,
    mut stopped: oneshot::Receiver<()>,
) {
    // Dropping the set when the loop ends closes every open connection.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let routes = routes.clone();
        let admin = admin.clone();
        let control = control.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                handle(
                    request,
                    routes.clone(),
                    admin.clone(),
                    control.clone(),
                    error_body,
                )
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    request: Request<hyper::body::Incoming>,
    routes: Router,
    admin: Router,
    control: Control,
    error_body: ErrorBody,
) -> Result<Response<Body>, Dropped> {
    let path = request.uri().path().to_owned();
    let method = request.method().as_str().to_owned();
    if path.starts_with("/_sim/") {
        return Ok(answer(admin, request).await);
    }
    let key = credential(request.headers()).map(str::to_owned);
    control.count(&method, &path, key.as_deref());
    let plan = control.plan(&method, &path, key.as_deref());
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if plan.drop {
        let _ = request.into_body().collect().await;
        return Err(Dropped);
    }
    if let Some(status) = plan.status {
        let _ = request.into_body().collect().await;
        return Ok(error_body(status));
    }
    let mut request = request;
    if plan.truncate {
        request.extensions_mut().insert(Truncate);
    }
    let response = answer(routes, request).await;
    if !plan.answer_delay.is_zero() {
        tokio::time::sleep(plan.answer_delay).await;
    }
    if !plan.truncate || is_stream(&response) {
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(
        parts,
        Body::from(bytes.slice(..bytes.len() / 2)),
    ))
}

/// The credential of a request: what follows the scheme (`Api-Key`, `Bearer`) in its
/// `Authorization` header.
pub(crate) fn credential(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, credential)| credential.trim())
        .filter(|credential| !credential.is_empty())
}

async fn answer(router: Router, request: Request<hyper::body::Incoming>) -> Response<Body> {
    match router.oneshot(request.map(Body::new)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn is_stream(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

fn admin_routes(control: Control) -> Router {
    Router::new()
        .route(
            "/_sim/faults",
            get(|State(c): State<Control>| async move { Json(c.faults()) })
                .post(
                    |State(c): State<Control>, Json(faults): Json<Faults>| async move {
                        c.set_faults(faults);
                        Json(c.faults())
                    },
                )
                .delete(|State(c): State<Control>| async move {
                    c.clear_faults();
                    Json(c.faults())
                }),
        )
        .route(
            "/_sim/settings",
            get(|State(c): State<Control>| async move { Json(c.settings()) }).post(
                |State(c): State<Control>, Json(settings): Json<Settings>| async move {
                    c.set_settings(settings);
                    Json(c.settings())
                },
            ),
        )
        .route(
            "/_sim/hold",
            get(|State(c): State<Control>| async move { held(&c) })
                .post(|State(c): State<Control>| async move {
                    c.hold();
                    held(&c)
                })
                .delete(|State(c): State<Control>| async move {
                    c.resume();
                    held(&c)
                }),
        )
        .route(
            "/_sim/stats",
            get(|State(c): State<Control>| async move { Json(c.stats()) }),
        )
        .route(
            "/_sim/reset",
            post(|State(c): State<Control>| async move {
                c.reset();
                StatusCode::NO_CONTENT
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such admin route").into_response() })
        .with_state(control)
}

fn held(control: &Control) -> Json<serde_json::Value> {
    Json(serde_json::json!({"held": control.is_held()}))
}

/// A JSON answer with a status.
pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An HTML error page such as a load balancer or a crashed framework answers.
pub(crate) fn html(status: u16, title: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!(
        "<html><head><title>{status} {title}</title></head><body><h1>{status} {title}</h1></body></html>"
    )));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

pub(crate) fn with_retry_after(mut response: Response<Body>, secs: u64) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}
