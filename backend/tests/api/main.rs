//! Integration tests: the real app on 127.0.0.1:0 against real MariaDB and DynamoDB Local.
//! Each test gets its own database and table, so the suite runs in parallel.
//! `cargo xtask test` starts the services and sets the `FARO_TEST_*` variables.

mod accounts;
mod ai;
mod approvals;
mod auth_limits;
mod authorization;
mod binary;
mod contract;
mod database_tls;
mod db_credentials;
mod environments;
mod errors;
mod forgery;
mod frontend;
mod harness;
mod health;
mod http;
mod load_shedding;
mod mariadbd;
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

/// Waits (at most 10 s) until `condition` holds, for what the server does after an answer (a
/// closed stream noticed, a permit given back); `what` names it when it never does.
async fn until(what: &str, condition: impl Fn() -> bool) {
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !condition() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within 10 s"));
}
