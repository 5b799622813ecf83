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
async fn a_missing_or_malformed_encryption_key_is_a_configuration_error() {
    let url = ("DATABASE_URL", "mysql://faro:hunter2@db:3306/faro");
    let (code, stderr) = config_error(&[url]).await;
    assert_eq!(code, Some(78), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("FARO_ENCRYPTION_KEY is not set"),
        "{stderr}"
    );

    let weak = "hunter2".repeat(8);
    let (code, stderr) = config_error(&[url, ("FARO_ENCRYPTION_KEY", &weak)]).await;
    assert_eq!(code, Some(78), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("FARO_ENCRYPTION_KEY is invalid"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// Runs the binary's `args` with `vars`: its exit code, stdout and stderr.
async fn run(vars: &Vars, args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), command(vars).args(args).output())
        .await
        .expect("exits")
        .expect("runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn a_wrong_encryption_key_stops_serving_and_rekey_moves_keys_under_the_new_one() {
    use super::sealing::{KEY_A, KEY_B, organization, store};
    let (services, name, mut vars) = own_store("FARO_ENCRYPTION_KEY", KEY_A);
    vars.insert("FARO_CREATE_TABLE".into(), "false".into());
    let (code, _, stderr) = run(&vars, &["migrate"]).await;
    assert_eq!(code, Some(0), "{stderr}");

    // One organization's key, sealed under key A.
    let url = format!("{}/{name}", services.mysql_server);
    let pool = sqlx::MySqlPool::connect(&url).await.expect("the database");
    let config = faro_backend::Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
    let keys_a = faro_backend::sealing::KeyRing::from_config(&config.encryption);
    let ann = sqlx::query(
        "INSERT INTO users (email, display_name, password_hash, created_at, updated_at) \
         VALUES ('ann@example.com', 'Ann', 'x', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
    )
    .execute(&pool)
    .await
    .expect("an account")
    .last_insert_id();
    let org = organization(&pool).await;
    store(&pool, &keys_a, org, "sk-sleakops-binary-key", ann).await;

    vars.insert("FARO_ENCRYPTION_KEY".into(), KEY_B.into());
    let (code, _, stderr) = run(&vars, &[]).await;
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.starts_with("faro-backend: configuration error: 1 SleakOps key(s)")
            && stderr.contains(keys_a.current_id())
            && stderr.contains("FARO_ENCRYPTION_KEY_PREVIOUS"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&vars, &["rekey"]).await;
    assert_eq!(
        code,
        Some(78),
        "without key A, nothing to open with: {stderr}"
    );

    vars.insert("FARO_ENCRYPTION_KEY_PREVIOUS".into(), KEY_A.into());
    let printed = |stdout: &str, line: &str| stdout.lines().any(|l| l == line);
    let (code, stdout, stderr) = run(&vars, &["rekey"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let line = "re-encrypted 1 of 1 SleakOps keys; 0 already under the current key";
    assert!(printed(&stdout, line), "{stdout}");

    vars.remove("FARO_ENCRYPTION_KEY_PREVIOUS");
    let (code, stdout, stderr) = run(&vars, &["rekey"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let line = "re-encrypted 0 of 1 SleakOps keys; 1 already under the current key";
    assert!(printed(&stdout, line), "{stdout}");

    pool.close().await;
    use sqlx::migrate::MigrateDatabase;
    let _ = sqlx::MySql::drop_database(&url).await;
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
