//! The simulators' admin routes and the `faro-sim` binary.

use faro_sim::{Faults, Projects, Settings, Stats, deepseek, key_fingerprint, sleakops};
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

/// A SleakOps simulator and a way to call its API with a key.
struct Api {
    sim: faro_sim::Running,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Self {
        let sim = sleakops::start(sleakops::Options {
            step: Duration::ZERO,
            ..Default::default()
        })
        .await
        .expect("starts");
        Self {
            sim,
            http: reqwest::Client::new(),
        }
    }

    fn admin(&self, path: &str) -> String {
        format!("{}_sim/{path}", self.sim.base_url.trim_end_matches("api/"))
    }

    async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        send(
            self.http
                .get(format!("{}{path}", self.sim.base_url))
                .header("Authorization", format!("Api-Key {key}")),
        )
        .await
    }

    async fn get_json(&self, key: &str, path: &str) -> Value {
        self.get(key, path).await.json().await.expect("a JSON body")
    }

    async fn post(&self, key: &str, path: &str, body: Value) -> reqwest::Response {
        send(
            self.http
                .post(format!("{}{path}", self.sim.base_url))
                .header("Authorization", format!("Api-Key {key}"))
                .json(&body),
        )
        .await
    }

    async fn build(&self, key: &str, project: &str) -> reqwest::Response {
        self.post(
            key,
            "cli-build/",
            json!({"project_env": {"project_name": project}, "branch": "main"}),
        )
        .await
    }

    async fn deploy(&self, key: &str, project: &str, environment: &str, build: &Value) -> u16 {
        self.post(
            key,
            "cli-deployment/",
            json!({
                "project_env": {"project_name": project, "environment_name": environment},
                "build": build,
            }),
        )
        .await
        .status()
        .as_u16()
    }
}

#[tokio::test]
async fn accounts_made_over_http_reach_their_own_projects_only() {
    let api = Api::start().await;
    let created = send(
        api.http
            .post(api.admin("sleakops/accounts"))
            .json(&json!({"projects": {"shop": ["staging", "production"]}})),
    )
    .await;
    assert_eq!(created.status(), 201);
    let shop_key = created.json::<Value>().await.expect("json")["api_key"]
        .as_str()
        .expect("a key")
        .to_owned();
    let blog_key = api
        .sim
        .control
        .create_account(Projects::new().with("blog", ["production"]));

    let build = api.build(&shop_key, "shop").await;
    assert_eq!(build.status(), 201);
    let build: Value = build.json().await.expect("json");
    assert_eq!(api.build(&shop_key, "blog").await.status(), 404);
    assert_eq!(api.build("sim-so-unknown", "shop").await.status(), 401);
    assert_eq!(api.deploy(&shop_key, "shop", "qa", &build["id"]).await, 404);
    assert_eq!(
        api.deploy(&shop_key, "blog", "production", &Value::Null)
            .await,
        404
    );
    assert_eq!(
        api.deploy(&shop_key, "shop", "staging", &build["id"]).await,
        201
    );

    // Another account's build does not exist for this key.
    let url = format!("cli-build/{}/", build["id"]);
    assert_eq!(api.get(&shop_key, &url).await.status(), 200);
    assert_eq!(api.get(&blog_key, &url).await.status(), 404);
    assert_eq!(
        api.deploy(&blog_key, "blog", "production", &build["id"])
            .await,
        400
    );

    // Accounts grow.
    let grow = |key: &str| {
        send(
            api.http
                .post(api.admin(&format!("sleakops/accounts/{key}/projects")))
                .json(&json!({"projects": {"blog": ["staging"]}})),
        )
    };
    assert_eq!(grow(&shop_key).await.status(), 204);
    assert_eq!(grow("sim-so-unknown").await.status(), 404);
    assert_eq!(
        api.deploy(&shop_key, "blog", "staging", &Value::Null).await,
        201
    );

    let stats: Stats = json(api.http.get(api.admin("stats"))).await;
    assert_eq!(stats.by_key[&key_fingerprint(&shop_key)], 7);
    assert_eq!(api.sim.control.requests_by_key(&blog_key), 2);
    let shown = serde_json::to_string(&stats).expect("json");
    assert!(
        !shown.contains(&shop_key) && !shown.contains(&blog_key),
        "{shown}"
    );
}

#[tokio::test]
async fn a_build_without_a_commit_builds_and_reports_its_branch_head() {
    let api = Api::start().await;
    let control = &api.sim.control;
    let key = control.create_account(Projects::new().with("shop", ["staging"]));
    let head = control
        .branch_head(&key, "shop", "main")
        .expect("a known key");
    assert_eq!(head.len(), 40);
    assert!(
        head.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{head}"
    );

    let built: Value = api.build(&key, "shop").await.json().await.expect("json");
    assert_eq!(built["commit"], json!(head));
    let shown = api
        .get_json(&key, &format!("cli-build/{}/", built["id"]))
        .await;
    assert_eq!(shown["commit"], json!(head), "the build keeps reporting it");

    let asked: Value = api
        .post(
            &key,
            "cli-build/",
            json!({"project_env": {"project_name": "shop"}, "branch": "main", "commit": "abc1234"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        asked["commit"], "abc1234",
        "a commit asked for is the one built"
    );

    // Each branch, project and account has its own head, and the seed moves them all.
    let other_account = control.create_account(Projects::new().with("shop", ["staging"]));
    for (who, project, branch) in [
        (key.as_str(), "shop", "develop"),
        (key.as_str(), "blog", "main"),
        (other_account.as_str(), "shop", "main"),
    ] {
        assert_ne!(
            control.branch_head(who, project, branch),
            Some(head.clone())
        );
    }
    assert_eq!(control.branch_head("sim-so-unknown", "shop", "main"), None);
    let reseeded = sleakops::start(sleakops::Options {
        seed: 7,
        ..Default::default()
    })
    .await
    .expect("starts");
    let default_head = |sim: &faro_sim::Running| {
        sim.control
            .branch_head(sleakops::DEFAULT_KEY, "shop", "main")
    };
    assert_ne!(default_head(&reseeded), default_head(&api.sim));
}

#[tokio::test]
async fn project_environments_are_listed_whole_or_in_pages() {
    let api = Api::start().await;
    let key = api.sim.control.create_account(
        Projects::new()
            .with("shop", ["staging", "production"])
            .with("blog", ["production"]),
    );
    let listing = api.get_json(&key, "project-env/").await;
    let names: Vec<_> = listing
        .as_array()
        .expect("an array")
        .iter()
        .map(|pe| format!("{}/{}", pe["project_name"], pe["environment"]["name"]))
        .collect();
    assert_eq!(
        names,
        [
            r#""blog"/"production""#,
            r#""shop"/"production""#,
            r#""shop"/"staging""#
        ]
    );
    assert_eq!(listing[0]["name"], "blog-production");
    assert_eq!(api.get("nope", "project-env/").await.status(), 401);

    api.sim.control.set_settings(Settings {
        page_size: 2,
        ..api.sim.control.settings()
    });
    let first = api.get_json(&key, "project-env/").await;
    assert_eq!(first["count"], 3);
    assert_eq!(first["results"].as_array().expect("results").len(), 2);
    assert_eq!(first["previous"], Value::Null);
    let next = first["next"].as_str().expect("a next page");
    assert!(next.ends_with("/api/project-env/?page=2"), "{next}");
    let second: Value = json(
        api.http
            .get(next)
            .header("Authorization", format!("Api-Key {key}")),
    )
    .await;
    assert_eq!(second["results"][0]["name"], "shop-staging");
    assert_eq!(second["next"], Value::Null);
    assert_eq!(api.get(&key, "project-env/?page=3").await.status(), 404);
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
        .args(["--sleakops-projects", "shop=staging,production;blog"])
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
    let listing: Value = runtime.block_on(json(
        reqwest::Client::new()
            .get(format!("{sleakops_url}project-env/"))
            .header(
                "Authorization",
                format!("Api-Key {}", sleakops::DEFAULT_KEY),
            )
            .timeout(Duration::from_secs(5)),
    ));
    assert_eq!(listing.as_array().map(Vec::len), Some(2), "{listing}");
    // SIGTERM stops it cleanly.
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn a_build_deploys_to_any_environment_of_its_project_as_sent_but_not_to_another_project() {
    let api = Api::start().await;
    let key = api.sim.control.create_account(
        Projects::new()
            .with("shop", ["staging", "production"])
            .with("blog", ["production"]),
    );
    let build: Value = api.build(&key, "shop").await.json().await.expect("json");
    // Sent as a string, as the SleakOps CLI sends ids it read from the command line.
    let sent = json!(build["id"].to_string());
    for environment in ["staging", "production", "production"] {
        let deployment = api
            .post(
                &key,
                "cli-deployment/",
                json!({
                    "project_env": {"project_name": "shop", "environment_name": environment},
                    "build": sent,
                    "tag": "v1.2.0",
                    "image": "registry.example/shop:v1.2.0",
                }),
            )
            .await;
        assert_eq!(deployment.status(), 201, "to {environment}");
        let deployment: Value = deployment.json().await.expect("json");
        let shown = api
            .get_json(&key, &format!("cli-deployment/{}/", deployment["id"]))
            .await;
        assert_eq!(shown["build"], sent, "the build id as sent");
        assert_eq!(shown["tag"], "v1.2.0");
        assert_eq!(shown["image"], "registry.example/shop:v1.2.0");
    }

    let refused = api
        .post(
            &key,
            "cli-deployment/",
            json!({
                "project_env": {"project_name": "blog", "environment_name": "production"},
                "build": build["id"],
            }),
        )
        .await;
    assert_eq!(refused.status(), 400, "a build of another project");
    let body: Value = refused.json().await.expect("json");
    assert!(
        body["build"][0]
            .as_str()
            .is_some_and(|m| m.starts_with("Invalid pk")),
        "{body}"
    );
}
