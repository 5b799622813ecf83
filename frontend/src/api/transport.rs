//! `fetch` through web-sys: the session cookie goes along (`credentials: include`, so it also
//! works when the API is on another origin of the same site), bodies are JSON, and error
//! statuses become [`ApiError`]s from their problem documents.

use super::ApiError;
use js_sys::{Reflect, Uint8Array};
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortSignal, Headers, Request, RequestCache, RequestCredentials, RequestInit, Response,
};

thread_local! {
    /// The API's base URL, from `/config.json` (empty: this origin).
    static BASE: RefCell<String> = const { RefCell::new(String::new()) };
    /// Called when a request answers 401: the session ended.
    static ON_SIGNED_OUT: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
}

pub fn set_base(base: &str) {
    BASE.with(|b| *b.borrow_mut() = base.to_owned());
}

pub fn url(path: &str) -> String {
    BASE.with(|b| format!("{}{path}", b.borrow()))
}

/// Registers what to do when the session turns out to be over.
pub fn on_signed_out(f: impl Fn() + 'static) {
    ON_SIGNED_OUT.with(|hook| *hook.borrow_mut() = Some(Box::new(f)));
}

/// The session is over (a 401, or a stream that says so): what [`on_signed_out`] registered.
pub fn signed_out() {
    ON_SIGNED_OUT.with(|hook| {
        if let Some(f) = hook.borrow().as_ref() {
            f();
        }
    });
}

fn js_error(value: JsValue) -> ApiError {
    let text = value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "no answer".into());
    ApiError::Network(text)
}

/// One request. `json` is the body; `headers` are extra headers.
#[derive(Debug, Default)]
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub json: Option<String>,
    pub headers: &'a [(&'a str, &'a str)],
    pub signal: Option<&'a AbortSignal>,
    /// A 401 here is an answer (wrong password, no session yet), not a session that ended.
    pub expect_unauthorized: bool,
    /// A file of the app's own origin (`/version.json`), asked of the server, not the cache.
    pub own_origin: bool,
}

/// Sends the request; a 2xx answer comes back as the response, anything else as an error.
pub async fn send(call: Call<'_>) -> Result<Response, ApiError> {
    let init = RequestInit::new();
    init.set_method(call.method);
    init.set_credentials(RequestCredentials::Include);
    let headers = Headers::new().map_err(js_error)?;
    headers
        .set("accept", "application/json")
        .map_err(js_error)?;
    if let Some(body) = &call.json {
        headers
            .set("content-type", "application/json")
            .map_err(js_error)?;
        init.set_body(&JsValue::from_str(body));
    }
    for (name, value) in call.headers {
        headers.set(name, value).map_err(js_error)?;
    }
    init.set_headers(&headers);
    if let Some(signal) = call.signal {
        init.set_signal(Some(signal));
    }
    let target = if call.own_origin {
        // Never a conditional request: a static server whose Last-Modified counts whole seconds
        // answers 304 for a file replaced within the same second, and the app would keep
        // believing the commit it saw before. The file is a few bytes.
        init.set_cache(RequestCache::NoStore);
        call.path.to_owned()
    } else {
        url(call.path)
    };
    let request = Request::new_with_str_and_init(&target, &init).map_err(js_error)?;
    let window = web_sys::window().ok_or_else(|| ApiError::Network("no window".into()))?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(js_error)?
        .dyn_into()
        .map_err(js_error)?;
    let status = response.status();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let body = text(&response).await.unwrap_or_default();
    let error = ApiError::from_status(status, &body);
    if status == 401 && !call.expect_unauthorized {
        signed_out();
    }
    Err(error)
}

pub async fn text(response: &Response) -> Result<String, ApiError> {
    let value = JsFuture::from(response.text().map_err(js_error)?)
        .await
        .map_err(js_error)?;
    Ok(value.as_string().unwrap_or_default())
}

/// The body of a streaming answer, chunk by chunk.
#[derive(Debug)]
pub struct BodyStream {
    reader: web_sys::ReadableStreamDefaultReader,
}

impl BodyStream {
    pub fn of(response: &Response) -> Result<Self, ApiError> {
        let body = response.body().ok_or_else(|| ApiError::Unexpected {
            status: response.status(),
            detail: "the answer has no body to stream".into(),
        })?;
        let reader = body
            .get_reader()
            .dyn_into()
            .map_err(|object| js_error(object.into()))?;
        Ok(Self { reader })
    }

    /// The next chunk, or `None` once the body is complete.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        let result = JsFuture::from(self.reader.read()).await.map_err(js_error)?;
        let done = Reflect::get(&result, &JsValue::from_str("done"))
            .map_err(js_error)?
            .as_bool()
            .unwrap_or(true);
        if done {
            return Ok(None);
        }
        let value = Reflect::get(&result, &JsValue::from_str("value")).map_err(js_error)?;
        Ok(Some(Uint8Array::new(&value).to_vec()))
    }
}

/// Resolves after `ms` milliseconds.
pub async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                &resolve,
                ms.min(i32::MAX as u32) as i32,
            );
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// A random UUID from the browser's CSPRNG, for idempotency keys.
pub fn random_key() -> String {
    web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|c| c.random_uuid())
        .unwrap_or_else(|| format!("k-{}", js_sys::Date::now()))
}
