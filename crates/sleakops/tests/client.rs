//! The SleakOps client against the simulator.

use faro_sim::{
    Faults, Projects, Running,
    sleakops::{self, CREATE_BUILD, CREATE_DEPLOYMENT, GET_BUILD, GET_DEPLOYMENT},
};
use faro_sleakops::{
    BreakerConfig, BreakerState, Build, BuildRequest, Client, Clients, Config, DeploymentRequest,
    MAX_PAGES, Phase, ProjectListing, ResourceId, Secret, SleakOpsError, State,
};
use std::time::Duration;

async fn sim(step_ms: u64) -> Running {
    sleakops::start(sleakops::Options {
        step: Duration::from_millis(step_ms),
        ..Default::default()
    })
    .await
    .expect("simulator starts")
}

faro_sim::client_fixtures!(faro_sleakops, sleakops::DEFAULT_KEY);

/// A client of `config` whose calls fail unless the answer starts within `first_byte`.
fn impatient(mut config: Config, first_byte: Duration) -> Client {
    config.timeouts.first_byte = first_byte;
    Client::new(config).expect("client")
}

fn build_request(branch: &str) -> BuildRequest {
    let mut request = BuildRequest::new("shop", branch);
    request.commit = Some("0a1b2c3d".into());
    request
}

/// A build of `branch` of the shop, started.
async fn started_build(client: &Client, branch: &str) -> Build {
    client
        .create_build(&build_request(branch))
        .await
        .expect("created")
}

/// Starting a build while `faults` are injected, on a simulator reset first: the error.
async fn failed_build(sim: &Running, client: &Client, faults: Faults) -> SleakOpsError {
    sim.control.reset();
    sim.control.set_faults(faults);
    client
        .create_build(&build_request("main"))
        .await
        .expect_err("fails")
}

async fn wait_build(client: &Client, id: &ResourceId) -> Build {
    for _ in 0..200 {
        let build = client.build(id).await.expect("build");
        if build.state.is_final() {
            return build;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("build {id} never finished");
}

#[tokio::test]
async fn a_build_and_its_deployment_advance_to_created() {
    let sim = sim(60).await;
    let client = client(&sim.base_url);
    let build = started_build(&client, "main").await;
    assert_eq!(build.state, State::Initial);
    let mut seen = vec![build.state.clone()];
    let finished = loop {
        let now = client.build(&build.id).await.expect("build");
        if seen.last() != Some(&now.state) {
            seen.push(now.state.clone());
        }
        if now.state.is_final() {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(seen, [State::Initial, State::Creating, State::Created]);
    assert!(finished.errors.is_empty());

    // Deploying an unfinished build is refused with SleakOps' reason (412).
    let other = started_build(&client, "main").await;
    let mut early = DeploymentRequest::new("shop", "production");
    early.build = Some(other.id.clone());
    let err = client
        .create_deployment(&early)
        .await
        .expect_err("not ready");
    assert!(
        matches!(&err, SleakOpsError::PreconditionFailed { reason } if reason.contains("not ready")),
        "{err:?}"
    );

    let mut request = DeploymentRequest::new("shop", "production");
    request.build = Some(build.id.clone());
    let deployment = client.create_deployment(&request).await.expect("created");
    assert_ne!(deployment.id, build.id);
    let mut deployed = client.deployment(&deployment.id).await.expect("get");
    while !deployed.state.is_final() {
        tokio::time::sleep(Duration::from_millis(10)).await;
        deployed = client.deployment(&deployment.id).await.expect("get");
    }
    assert_eq!(deployed.state, State::Created);
    assert_eq!(sim.control.requests(CREATE_BUILD), 2);
    assert_eq!(sim.control.requests(CREATE_DEPLOYMENT), 2);
    assert!(sim.control.requests(GET_BUILD) >= 3);
    assert!(sim.control.requests(GET_DEPLOYMENT) >= 1);
}

#[tokio::test]
async fn a_build_reports_the_commit_asked_for_or_the_branch_head_it_built() {
    let sim = sim(0).await;
    let client = client(&sim.base_url);
    let asked = started_build(&client, "main").await;
    assert_eq!(asked.commit.as_deref(), Some("0a1b2c3d"));

    let head = client
        .create_build(&BuildRequest::new("shop", "main"))
        .await
        .expect("created");
    let expected = sim
        .control
        .branch_head(sleakops::DEFAULT_KEY, "shop", "main")
        .expect("a known key");
    assert_eq!(head.commit.as_deref(), Some(expected.as_str()));
    assert_eq!(
        wait_build(&client, &head.id).await.commit,
        Some(expected),
        "and keeps reporting it"
    );
}

#[tokio::test]
async fn conventional_names_make_builds_and_deployments_fail_with_errors() {
    let sim = sim(0).await;
    let client = client(&sim.base_url);
    let build = started_build(&client, "feature/fail-build").await;
    let build = wait_build(&client, &build.id).await;
    assert_eq!(build.state, State::Error);
    assert!(
        build.errors[0].contains("non-zero code"),
        "{:?}",
        build.errors
    );

    let good = started_build(&client, "main").await;
    let good = wait_build(&client, &good.id).await;
    let mut request = DeploymentRequest::new("shop", "staging-fail-deploy");
    request.build = Some(good.id);
    let deployment = client.create_deployment(&request).await.expect("created");
    let deployment = client.deployment(&deployment.id).await.expect("get");
    assert_eq!(deployment.state, State::Error);
    assert!(deployment.errors[0].contains("pods did not become ready"));
}

#[tokio::test]
async fn every_status_has_its_variant() {
    let sim = sim(0).await;
    let config = config_without_retries(&sim.base_url);
    let client = Client::new(config.clone()).expect("client");

    // Real refusals from the simulator's own validation.
    let err = client
        .create_build(&BuildRequest::new("shop", ""))
        .await
        .expect_err("no branch");
    assert!(
        matches!(&err, SleakOpsError::BadRequest { reason } if reason == "branch: This field is required."),
        "{err:?}"
    );
    let err = client
        .build(&ResourceId::new("999"))
        .await
        .expect_err("unknown");
    assert!(
        matches!(&err, SleakOpsError::NotFound { what } if what == "build 999"),
        "{err:?}"
    );
    let mut bad_key = config.clone();
    bad_key.api_key = "key-that-is-wrong".into();
    let err = Client::new(bad_key)
        .expect("client")
        .build(&ResourceId::new("1"))
        .await
        .expect_err("bad key");
    assert_eq!(err, SleakOpsError::Unauthorized);
    assert!(!err.to_string().contains("key-that-is-wrong"));

    // Injected statuses, on reads and on triggers.
    let faulted = |status, trigger: bool| {
        let client = client.clone();
        let sim_control = sim.control.clone();
        async move {
            sim_control.set_faults(Faults::status(status));
            let result = if trigger {
                client.create_build(&build_request("main")).await
            } else {
                client.build(&ResourceId::new("1")).await
            };
            sim_control.clear_faults();
            result.expect_err("fails")
        }
    };
    let read = |status| faulted(status, false);
    let trigger = |status| faulted(status, true);
    assert!(matches!(read(400).await, SleakOpsError::BadRequest { .. }));
    assert!(matches!(read(403).await, SleakOpsError::Forbidden { .. }));
    assert!(matches!(
        read(412).await,
        SleakOpsError::PreconditionFailed { .. }
    ));
    assert!(matches!(
        read(429).await,
        SleakOpsError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(1)
    ));
    assert!(matches!(
        read(500).await,
        SleakOpsError::Server { status: 500, .. }
    ));
    assert!(matches!(
        read(503).await,
        SleakOpsError::Unavailable { status: 503, .. }
    ));
    assert!(matches!(
        read(502).await,
        SleakOpsError::Server { status: 502, .. }
    ));
    // A trigger answered 500 may have been acted on; 503 and 429 certainly were not.
    let err = trigger(500).await;
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert!(err.to_string().contains("check SleakOps"), "{err}");
    assert!(matches!(
        trigger(503).await,
        SleakOpsError::Unavailable { .. }
    ));
    assert!(matches!(
        trigger(429).await,
        SleakOpsError::RateLimited { .. }
    ));
    assert!(
        matches!(trigger(412).await, SleakOpsError::PreconditionFailed { reason } if reason == "Precondition failed.")
    );
}

#[tokio::test]
async fn reads_are_retried_within_the_bound() {
    let sim = sim(0).await;
    let client = client(&sim.base_url);
    let build = started_build(&client, "main").await;
    for faults in [
        Faults::status(503).times(2),
        Faults::status(500).times(2),
        Faults::status(429).times(1),
        Faults::drop_connections().times(2),
    ] {
        sim.control.reset();
        sim.control.set_faults(faults.clone());
        client
            .build(&build.id)
            .await
            .unwrap_or_else(|e| panic!("{faults:?}: {e}"));
        let expected = faults.times.expect("times") as u64 + 1;
        assert_eq!(sim.control.requests(GET_BUILD), expected, "{faults:?}");
    }
    sim.control.reset();
    sim.control.set_faults(Faults::status(503));
    client.build(&build.id).await.expect_err("gives up");
    assert_eq!(
        sim.control.requests(GET_BUILD),
        3,
        "one try and two retries"
    );
}

#[tokio::test]
async fn triggers_are_never_repeated_once_they_may_have_been_received() {
    let sim = sim(0).await;
    let client = impatient(config(&sim.base_url), Duration::from_millis(200));

    // A dropped connection after the request was sent.
    let err = failed_build(
        &sim,
        &client,
        Faults::drop_connections().on("POST", "cli-build"),
    )
    .await;
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert_eq!(sim.control.requests(CREATE_BUILD), 1, "not repeated");

    // A timeout after sending: the simulator still creates the build, late.
    sim.control.reset();
    sim.control
        .set_faults(Faults::latency(Duration::from_millis(500)).on("POST", "cli-"));
    let err = client
        .create_deployment(&DeploymentRequest::new("shop", "production"))
        .await
        .expect_err("too slow");
    assert!(
        matches!(&err, SleakOpsError::OutcomeUnknown { operation, .. } if *operation == "started the deployment"),
        "{err:?}"
    );
    assert_eq!(sim.control.requests(CREATE_DEPLOYMENT), 1, "not repeated");

    // A half-written answer: acted on, but the id is lost.
    let err = failed_build(&sim, &client, Faults::truncate().on("POST", "cli-build")).await;
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert_eq!(sim.control.requests(CREATE_BUILD), 1);

    // Refusals before acting are retried.
    sim.control.reset();
    sim.control.set_faults(Faults::status(503).times(2));
    client
        .create_build(&build_request("main"))
        .await
        .expect("retried");
    assert_eq!(sim.control.requests(CREATE_BUILD), 3);

    // So is a connection that could not be made (nothing was sent).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let err = Client::new(config(&format!("http://127.0.0.1:{port}/api/")))
        .expect("client")
        .create_build(&build_request("main"))
        .await
        .expect_err("refused");
    assert!(matches!(err, SleakOpsError::Connection { .. }), "{err:?}");
    assert!(err.is_transient() && !err.is_outcome_unknown());
}

#[tokio::test]
async fn reads_time_out_and_malformed_answers_are_errors() {
    let sim = sim(0).await;
    let client = impatient(
        config_without_retries(&sim.base_url),
        Duration::from_millis(150),
    );
    let build = started_build(&client, "main").await;
    sim.control
        .set_faults(Faults::latency(Duration::from_millis(500)));
    let err = client.build(&build.id).await.expect_err("slow");
    assert!(
        matches!(
            err,
            SleakOpsError::Timeout {
                phase: Phase::FirstByte,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    sim.control.set_faults(Faults::truncate());
    let err = client.build(&build.id).await.expect_err("half a body");
    assert!(matches!(err, SleakOpsError::Malformed { .. }), "{err:?}");
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_probes_after_the_cool_down() {
    let sim = sim(0).await;
    let mut config = config_without_retries(&sim.base_url);
    config.breaker = BreakerConfig {
        failure_threshold: 3,
        cool_down: Duration::from_millis(300),
    };
    let client = Client::new(config).expect("client");
    let id = ResourceId::new("1");
    started_build(&client, "main").await;
    sim.control.set_faults(Faults::status(502));
    for _ in 0..3 {
        client.build(&id).await.expect_err("fails");
    }
    let err = client.build(&id).await.expect_err("fails fast");
    assert!(matches!(err, SleakOpsError::CircuitOpen { .. }), "{err:?}");
    assert!(err.is_transient());
    // Triggers are refused too, before anything is sent.
    let err = client
        .create_build(&build_request("main"))
        .await
        .expect_err("fails fast");
    assert!(matches!(err, SleakOpsError::CircuitOpen { .. }), "{err:?}");
    assert_eq!(sim.control.requests(GET_BUILD), 3);
    assert_eq!(sim.control.requests(CREATE_BUILD), 1);

    sim.control.clear_faults();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(client.circuit(), BreakerState::HalfOpen);
    client.build(&id).await.expect("the probe succeeds");
    assert_eq!(client.circuit(), BreakerState::Closed);
}

#[tokio::test]
async fn debug_output_hides_the_key() {
    let mut config = config("https://api.sleakops.com/api/");
    config.api_key = "so-live-abcdef0123456789".into();
    assert!(!format!("{config:?}").contains("abcdef0123456789"));
    let client = Client::new(config).expect("client");
    let debug = format!("{client:?}");
    assert!(!debug.contains("abcdef0123456789"), "{debug}");
    assert!(debug.contains("Secret(***)"), "{debug}");
}

/// The client of a new account of `sim` that owns `projects`.
fn account(sim: &Running, projects: Projects) -> (String, Client) {
    let key = sim.control.create_account(projects);
    let mut config = config_without_retries(&sim.base_url);
    config.api_key = key.as_str().into();
    (key, Client::new(config).expect("client"))
}

fn shop() -> Projects {
    Projects::new().with("shop", ["staging", "production"])
}

fn listing(name: &str, environments: &[&str]) -> ProjectListing {
    ProjectListing {
        name: name.to_owned(),
        environments: environments.iter().map(|e| e.to_string()).collect(),
    }
}

#[tokio::test]
async fn verify_accepts_a_known_key_and_rejects_an_unknown_one() {
    let sim = sim(0).await;
    let (_, client) = account(&sim, shop());
    client.verify().await.expect("a known key");

    let mut config = config(&sim.base_url);
    config.api_key = "so-revoked-key".into();
    let err = Client::new(config)
        .expect("client")
        .verify()
        .await
        .expect_err("an unknown key");
    assert_eq!(err, SleakOpsError::Unauthorized);
    assert!(err.is_key_rejected() && !err.is_transient());
    assert_eq!(
        sim.control.requests_by_key("so-revoked-key"),
        1,
        "a refused key is not retried"
    );
}

#[tokio::test]
async fn projects_lists_what_the_key_reaches_across_pages() {
    let sim = sim(0).await;
    let (key, client) = account(&sim, shop().with("blog", ["production"]));
    let expected = [
        listing("blog", &["production"]),
        listing("shop", &["production", "staging"]),
    ];
    assert_eq!(client.projects().await.expect("one array"), expected);

    sim.control.set_settings(faro_sim::Settings {
        page_size: 2,
        ..sim.control.settings()
    });
    sim.control.reset();
    assert_eq!(client.projects().await.expect("two pages"), expected);
    assert_eq!(sim.control.requests_by_key(&key), 2);

    // Another account's projects are not listed.
    let (_, other) = account(&sim, Projects::new().with("wiki", ["production"]));
    assert_eq!(
        other.projects().await.expect("listed"),
        [listing("wiki", &["production"])]
    );
}

#[tokio::test]
async fn a_listing_longer_than_the_page_bound_is_an_error() {
    let sim = sim(0).await;
    let environments: Vec<String> = (0..=MAX_PAGES).map(|n| format!("env-{n:02}")).collect();
    let (key, client) = account(&sim, Projects::new().with("shop", environments));
    sim.control.set_settings(faro_sim::Settings {
        page_size: 1,
        ..sim.control.settings()
    });
    let err = client.projects().await.expect_err("too long");
    assert_eq!(err, SleakOpsError::TooManyPages { limit: MAX_PAGES });
    assert_eq!(sim.control.requests_by_key(&key), MAX_PAGES as u64);
}

#[tokio::test]
async fn a_key_reaches_only_its_own_accounts_projects_builds_and_deployments() {
    let sim = sim(0).await;
    let (_, shop_client) = account(&sim, shop());
    let (_, blog_client) = account(&sim, Projects::new().with("blog", ["production"]));
    let build = started_build(&shop_client, "main").await;

    let err = blog_client.build(&build.id).await.expect_err("not blog's");
    assert!(matches!(err, SleakOpsError::NotFound { .. }), "{err:?}");
    let err = blog_client
        .create_build(&build_request("main"))
        .await
        .expect_err("shop is not blog's");
    assert!(matches!(err, SleakOpsError::NotFound { .. }), "{err:?}");
    let err = shop_client
        .create_deployment(&DeploymentRequest::new("shop", "qa"))
        .await
        .expect_err("shop has no qa");
    assert!(matches!(err, SleakOpsError::NotFound { .. }), "{err:?}");
    let mut request = DeploymentRequest::new("blog", "production");
    request.build = Some(build.id.clone());
    let err = blog_client
        .create_deployment(&request)
        .await
        .expect_err("shop's build");
    assert!(matches!(err, SleakOpsError::BadRequest { .. }), "{err:?}");
}

#[tokio::test]
async fn a_rejected_key_never_opens_the_breaker() {
    let sim = sim(0).await;
    let mut config = config_without_retries(&sim.base_url);
    config.api_key = "so-revoked-key".into();
    config.breaker = BreakerConfig {
        failure_threshold: 1,
        cool_down: Duration::from_secs(30),
    };
    let client = Client::new(config).expect("client");
    for _ in 0..3 {
        let err = client.verify().await.expect_err("refused");
        assert_eq!(err, SleakOpsError::Unauthorized);
    }
    sim.control.set_faults(Faults::status(403));
    let err = client
        .build(&ResourceId::new("1"))
        .await
        .expect_err("refused");
    assert!(err.is_key_rejected(), "{err:?}");
    assert_eq!(client.circuit(), BreakerState::Closed);
    assert_eq!(sim.control.requests_by_key("so-revoked-key"), 4);
}

#[tokio::test]
async fn each_key_has_its_own_breaker() {
    let sim = sim(0).await;
    let mut settings = config_without_retries(&sim.base_url).settings();
    settings.breaker = BreakerConfig {
        failure_threshold: 2,
        cool_down: Duration::from_secs(30),
    };
    let clients = Clients::new(settings).expect("clients");
    let failing = Secret::new(sim.control.create_account(shop()));
    let healthy = Secret::new(sim.control.create_account(shop()));
    sim.control
        .set_faults(Faults::status(502).for_key(failing.expose()));

    for _ in 0..2 {
        let err = clients.for_key(&failing).verify().await.expect_err("502");
        assert!(
            matches!(err, SleakOpsError::Server { status: 502, .. }),
            "{err:?}"
        );
    }
    let err = clients.for_key(&failing).verify().await.expect_err("open");
    assert!(matches!(err, SleakOpsError::CircuitOpen { .. }), "{err:?}");
    assert!(
        clients.circuit().is_open(),
        "the only client used lately is open"
    );

    let client = clients.for_key(&healthy);
    client.verify().await.expect("another key goes through");
    client
        .create_build(&build_request("main"))
        .await
        .expect("and builds");
    assert_eq!(client.circuit(), BreakerState::Closed);
    assert_eq!(
        clients.circuit(),
        BreakerState::Closed,
        "one key's failures do not show SleakOps as down"
    );
    assert!(clients.for_key(&failing).circuit().is_open());
    assert_eq!(sim.control.requests_by_key(failing.expose()), 2);
}
