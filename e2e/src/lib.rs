//! End-to-end tests of Faro: the built app (`frontend/dist`) in a real headless Chromium,
//! driven over WebDriver (chromedriver), against the real backend started in process on port
//! 0 with MariaDB, DynamoDB Local and the DeepSeek and SleakOps simulators.
//!
//! The tests live in `tests/browser/`; `cargo xtask test` builds the frontend, installs
//! Chromium when missing and runs them. Screenshots of the main screens land in
//! `target/e2e-screenshots/`.
