//! Faro in the browser: the release cockpit as a Leptos client-side app.
//!
//! Three layers, each a folder:
//! - [`state`]: the logic the interface relies on, in plain modules that compile and are tested
//!   on the host (`cargo test -p faro-frontend`): the live timeline's and the chat's state
//!   machines, form errors, the once-only submission of create requests, formatting, chart
//!   geometry and the runtime configuration.
//! - [`api`]: talking to the backend with `fetch`: one function per call, and the two event
//!   streams (timeline, chat) fed through `faro_sse` into `state`.
//! - [`ui`]: the interface itself: shared components, the frame, and one module per page.

pub mod api;
pub mod state;
pub mod ui;

/// Mounts the app (the binary's whole `main`).
pub fn start() {
    ui::start();
}
