//! Faro in the browser: the release cockpit as a Leptos client-side app.
//!
//! The logic the interface relies on lives in plain modules that compile and are tested on
//! the host (`cargo test -p faro-frontend`): the server-sent events parser ([`sse`]), the live
//! timeline's and the chat's state machines ([`timeline`], [`chat`]), form errors ([`forms`]),
//! the once-only submission of create requests ([`idempotency`]), formatting ([`format`]),
//! chart geometry ([`chart`]) and the runtime configuration ([`config`]). [`api`] talks to the
//! backend with `fetch`; [`ui`] is the interface itself.

pub mod api;
pub mod chart;
pub mod chat;
pub mod config;
pub mod format;
pub mod forms;
pub mod idempotency;
pub mod sse;
pub mod timeline;
pub mod ui;

/// Mounts the app (the binary's whole `main`).
pub fn start() {
    ui::start();
}
