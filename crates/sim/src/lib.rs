//! Simulators of DeepSeek and SleakOps that speak their real wire protocols, for tests (in
//! process, on 127.0.0.1:0) and for `cargo xtask dev` without API keys (the `faro-sim`
//! binary).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let deepseek = faro_sim::deepseek::start(Default::default()).await?;
//! let sleakops = faro_sim::sleakops::start(Default::default()).await?;
//! // Point the clients at deepseek.base_url and sleakops.base_url, then, for instance:
//! sleakops.control.set_faults(faro_sim::Faults::status(503).times(2));
//! assert_eq!(sleakops.control.requests(faro_sim::sleakops::CREATE_BUILD), 0);
//! # Ok(()) }
//! ```
//!
//! Each simulator also answers admin routes beside its API (not counted, never faulted):
//!
//! | route | |
//! |---|---|
//! | `GET/POST/DELETE /_sim/faults` | read, set ([`Faults`] as JSON) or clear the faults |
//! | `GET/POST /_sim/settings` | read or set the pacing ([`Settings`]) |
//! | `GET/POST/DELETE /_sim/hold` | read (`{"held": bool}`), start or end holding SleakOps' builds and deployments short of their end ([`Control::hold`]) |
//! | `GET /_sim/stats` | request counters ([`Stats`]) |
//! | `POST /_sim/reset` | clear faults, a hold and counters |
//! | `POST /_sim/sleakops/accounts` | SleakOps: a new account owning `{"projects": {"shop": ["staging"]}}`; answers 201 `{"api_key": "…"}` |
//! | `POST /_sim/sleakops/accounts/{api_key}/projects` | SleakOps: add projects (same body) to an account; 204, or 404 for an unknown key |
//!
//! `/_sim/stats` counts requests by route and by API key; a key shows as its
//! [`key_fingerprint`] (`sha256:` and 12 hex digits), never as itself.

mod accounts;
pub mod control;
pub mod deepseek;
mod fixtures;
mod server;
pub mod sleakops;

pub use accounts::{Projects, key_fingerprint};
pub use control::{Control, Faults, Settings, Stats, route_key};
pub use server::Running;
