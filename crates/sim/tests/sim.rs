//! The simulators' admin routes and the `faro-sim` binary.

use faro_sim::{Faults, Settings, Stats, deepseek, sleakops};
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.expect("answered")
}

async fn json<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    send(request).await.json().await.expect("a JSON body")
}

#[tokio::test]
async fn faults_settings_and_stats_are_controlled_over_http() {
    let sim = sleakops::start(sleakops::Options::default())
        .await
        .expect("starts");
    let admin = sim.base_url.trim_end_matches("api/").to_owned();
    let http = reqwest::Client::new();

    let set: Faults = json(
        http.post(format!("{admin}_sim/faults"))
            .json(&json!({"status": 503, "times": 1, "method": "GET"})),
    )
    .await;
    assert_eq!(set.status, Some(503));
    assert_eq!(sim.control.faults(), set);

    let unauthorized = send(http.get(format!("{}cli-build/1/", sim.base_url))).await;
    assert_eq!(unauthorized.status(), 503, "the fault comes first");
    let unauthorized = send(
        http.get(format!("{}cli-build/1/", sim.base_url))
            .header("Authorization", "Api-Key nope"),
    )
    .await;
    assert_eq!(unauthorized.status(), 401);
    let body: Value = unauthorized.json().await.expect("json");
    assert_eq!(body, json!({"detail": "Invalid API key."}));

    let stats: Stats = json(http.get(format!("{admin}_sim/stats"))).await;
    assert_eq!(stats.total, 2);
    assert_eq!(stats.requests[sleakops::GET_BUILD], 2);

    let settings: Settings = json(
        http.post(format!("{admin}_sim/settings"))
            .json(&json!({"step_ms": 5})),
    )
    .await;
    assert_eq!(settings.step_ms, 5);
    assert_eq!(sim.control.settings().step_ms, 5);

    let reset = send(http.post(format!("{admin}_sim/reset"))).await;
    assert_eq!(reset.status(), 204);
    assert_eq!(sim.control.total_requests(), 0);
}

#[tokio::test]
async fn a_hold_keeps_builds_and_deployments_short_of_their_end_until_resumed() {
    // With no pacing, everything is finished as soon as it is created, unless held.
    let sim = sleakops::start(sleakops::Options {
        step: Duration::ZERO,
        ..Default::default()
    })
    .await
    .expect("starts");
    let admin = sim.base_url.trim_end_matches("api/").to_owned();
    let http = reqwest::Client::new();
    let call = |request: reqwest::RequestBuilder| {
        send(request.header(
            "Authorization",
            format!("Api-Key {}", sleakops::DEFAULT_KEY),
        ))
    };
    let hold = |method| json::<Value>(http.request(method, format!("{admin}_sim/hold")));

    assert_eq!(hold(reqwest::Method::POST).await, json!({"held": true}));
    assert!(sim.control.is_held());
    let build: Value = call(
        http.post(format!("{}cli-build/", sim.base_url))
            .json(&json!({"project_env": {"project_name": "shop"}, "branch": "main"})),
    )
    .await
    .json()
    .await
    .expect("the build");
    assert_eq!(build["state"], "creating");
    let build_url = format!("{}cli-build/{}/", sim.base_url, build["id"]);
    let state = |url: String| {
        let request = http.get(url);
        async move {
            let view: Value = call(request).await.json().await.expect("json");
            view["state"].clone()
        }
    };
    assert_eq!(state(build_url.clone()).await, "creating");
    let deployment = json!({
        "project_env": {"project_name": "shop", "environment_name": "staging"},
        "build": build["id"],
    });
    let refused = call(
        http.post(format!("{}cli-deployment/", sim.base_url))
            .json(&deployment),
    );
    assert_eq!(refused.await.status(), 412, "the build is not ready");

    assert_eq!(hold(reqwest::Method::GET).await, json!({"held": true}));
    assert_eq!(hold(reqwest::Method::DELETE).await, json!({"held": false}));
    assert_eq!(state(build_url).await, "created");
    let started = call(
        http.post(format!("{}cli-deployment/", sim.base_url))
            .json(&deployment),
    );
    assert_eq!(started.await.status(), 201);

    sim.control.hold();
    sim.control.reset();
    assert!(!sim.control.is_held(), "a reset ends the hold");
}

#[tokio::test]
async fn deepseek_errors_have_the_real_shape() {
    let sim = deepseek::start(deepseek::Options::default())
        .await
        .expect("starts");
    let response = send(
        reqwest::Client::new()
            .post(format!("{}/chat/completions", sim.base_url))
            .bearer_auth("wrong")
            .json(&json!({"model": "deepseek-chat", "messages": []})),
    )
    .await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], "authentication_error");
    assert!(body["error"]["message"].is_string());
    assert!(body["error"].get("code").is_some());
}

#[test]
fn the_binary_prints_where_the_simulators_listen() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faro-sim"))
        .args(["--step-ms", "10", "--token-delay-ms", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if line == "READY" {
            break;
        }
        lines.push(line);
    }
    let vars: std::collections::HashMap<_, _> =
        lines.iter().filter_map(|l| l.split_once('=')).collect();
    let sleakops_url = vars["FARO_SLEAKOPS_BASE_URL"].to_owned();
    assert!(sleakops_url.starts_with("http://127.0.0.1:") && sleakops_url.ends_with("/api/"));
    assert!(vars["FARO_DEEPSEEK_BASE_URL"].starts_with("http://127.0.0.1:"));
    assert_eq!(vars["FARO_SLEAKOPS_API_KEY"], sleakops::DEFAULT_KEY);
    assert_eq!(vars["FARO_DEEPSEEK_API_KEY"], deepseek::DEFAULT_KEY);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = runtime.block_on(async {
        send(
            reqwest::Client::new()
                .post(format!("{sleakops_url}cli-build/"))
                .header(
                    "Authorization",
                    format!("Api-Key {}", sleakops::DEFAULT_KEY),
                )
                .json(&json!({"project_env": {"project_name": "shop"}, "branch": "main"}))
                .timeout(Duration::from_secs(5)),
        )
        .await
        .status()
    });
    assert_eq!(status, 201);
    // SIGTERM stops it cleanly.
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "{exit:?}");
}
