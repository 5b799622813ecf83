//! The shipped binary: configuration errors, the `migrate` subcommand, JSON logs, SIGTERM.

use faro_testkit::app::{Services, Vars, services, test_vars, unique_name};
use std::{process::Stdio, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

const BIN: &str = env!("CARGO_BIN_EXE_faro-backend");

/// The test services, a database and table name of the binary's own, and the variables that
/// point it at them with `var` set to `value` besides.
fn own_store(var: &str, value: &str) -> (Services, String, Vars) {
    let services = services();
    let name = unique_name(&services);
    let mut vars = test_vars(&services, &name);
    vars.insert(var.to_owned(), value.to_owned());
    (services, name, vars)
}

fn command(vars: &Vars) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .envs(vars)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn config_error(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().envs(vars.iter().copied());
    let out = cmd.output().await.expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_missing_variable_stops_start_up_with_one_line_naming_it() {
    let (code, stderr) = config_error(&[]).await;
    assert_eq!(code, Some(78), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");
}

#[tokio::test]
async fn a_malformed_variable_is_named_and_secrets_stay_hidden() {
    let (code, stderr) = config_error(&[
        ("DATABASE_URL", "mysql://faro:hunter2@db:3306/faro"),
        ("FARO_PORT", "http"),
    ])
    .await;
    assert_eq!(code, Some(78));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("FARO_PORT is invalid"), "{stderr}");
    assert!(!stderr.contains("hunter2"));
}

#[tokio::test]
async fn migrate_prepares_both_stores_and_is_repeatable() {
    let (services, name, vars) = own_store("FARO_CREATE_TABLE", "true");
    for run in 0..2 {
        let out = command(&vars).arg("migrate").output().await.expect("runs");
        assert!(
            out.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let url = format!("{}/{name}", services.mysql_server);
    let pool = sqlx::MySqlPool::connect(&url)
        .await
        .expect("the database exists");
    let releases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM releases")
        .fetch_one(&pool)
        .await
        .expect("the schema is there");
    assert_eq!(releases, 0);
    pool.close().await;
    use sqlx::migrate::MigrateDatabase;
    sqlx::MySql::drop_database(&url).await.expect("drop");

    let config = faro_backend::Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
    let client = faro_backend::dynamo::client(&config.dynamodb).await;
    let table = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("the table exists");
    let keys: Vec<String> = table
        .table()
        .map(|t| {
            t.key_schema()
                .iter()
                .map(|k| k.attribute_name().to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(keys, ["pk", "sk"]);
    let _ = client.delete_table().table_name(&name).send().await;
}

type LogLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// The next log line, which must be a JSON object.
async fn next_json(lines: &mut LogLines) -> serde_json::Value {
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("logs in time")
        .expect("read")
        .expect("the process still logs");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("every log line is JSON ({e}): {line}"))
}

#[tokio::test]
async fn serves_json_logs_with_request_id_and_latency_then_stops_on_sigterm() {
    let (services, name, vars) = own_store("RUST_LOG", "info");
    let mut child = command(&vars)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();

    let addr = loop {
        let line = next_json(&mut lines).await;
        if line["message"] == "listening" {
            break line["addr"].as_str().expect("addr").to_owned();
        }
    };

    let response = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .header("x-request-id", "test-logs-1")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let access = loop {
        let line = next_json(&mut lines).await;
        if line["message"] == "request served" {
            break line;
        }
    };
    assert_eq!(access["span"]["request_id"], "test-logs-1", "{access}");
    assert_eq!(access["status"], 200);
    assert!(access["latency_ms"].as_f64().is_some(), "{access}");
    assert_eq!(access["span"]["path"], "/healthz");

    // The container health check probes the same port without the rest of the configuration.
    let port = addr.rsplit(':').next().expect("a port").to_owned();
    let healthy = Command::new(BIN)
        .env_clear()
        .env("FARO_PORT", &port)
        .arg("healthcheck")
        .status()
        .await
        .expect("runs");
    assert!(healthy.success());
    let closed = Command::new(BIN)
        .env_clear()
        .env("FARO_PORT", faro_testkit::app::closed_port().to_string())
        .arg("healthcheck")
        .output()
        .await
        .expect("runs");
    assert!(!closed.status.success());

    let pid = child.id().expect("running").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    use sqlx::migrate::MigrateDatabase;
    let _ = sqlx::MySql::drop_database(&format!("{}/{name}", services.mysql_server)).await;
}
