//! Integration tests: the real app on 127.0.0.1:0 against real MariaDB and DynamoDB Local.
//! Each test gets its own database and table, so the suite runs in parallel.
//! `cargo xtask test` starts the services and sets the `FARO_TEST_*` variables.

mod accounts;
mod ai;
mod authorization;
mod binary;
mod environments;
mod errors;
mod forgery;
mod health;
mod http;
mod members;
mod metrics;
mod migrations;
mod openapi;
mod orgs;
mod projects;
mod release_events;
mod releases;
mod sealing;
mod sessions;
mod shutdown;
mod worker;
mod writes;
