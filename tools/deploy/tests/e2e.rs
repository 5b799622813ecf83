//! End to end against local stand-ins: moto (CloudFormation, ECS control plane, ECR's
//! GetAuthorizationToken, CloudWatch Logs, STS), Debian's docker-registry (the image really goes
//! there and comes back with the same digest), the Fargate stand-in (the backend really runs from
//! the image, against the test MariaDB and DynamoDB Local) and the Amplify stand-in.
//!
//! `cargo xtask test` provides what this needs (FARO_TEST_* variables): moto's Python, the
//! registry binary, the release image built once, MariaDB and DynamoDB Local.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use faro_aws_standin::amplify::{Amplify, Repository};
use faro_aws_standin::fargate::{self, Fargate};
use faro_aws_standin::local::{Moto, Registry, required_var as var};

const ENV: &str = "e2e";
const APP_ID: &str = "d1e2eapp";

/// The JSON body of a GET that must succeed.
async fn get_json(url: &str) -> serde_json::Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// The checkout whose commit is deployed (its HEAD must be the image's revision):
/// `FARO_TEST_WORKSPACE`, else this one.
fn workspace() -> PathBuf {
    match std::env::var_os("FARO_TEST_WORKSPACE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .unwrap(),
    }
}

/// This checkout's `infra/`.
fn real_infra() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra")
}

/// The templates of the fixture environment (each test writes its parameters).
fn fixture_infra() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/infra")
}

/// The built frontend of the fixture, without the commit's `version.json`.
fn fixture_dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dist")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The stand-ins of one test, stopped when dropped.
struct Standins {
    dir: PathBuf,
    moto: Moto,
    registry: Registry,
    amplify: Amplify,
    fargate: Fargate,
}

impl Standins {
    /// The stand-ins, with an Amplify app connected to `repository` when there is one.
    async fn start(name: &str, repository: Option<Repository>) -> Self {
        let dir = std::env::temp_dir().join(format!("faro-deploy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (python, registry_bin) = (var("FARO_TEST_MOTO_PYTHON"), var("FARO_TEST_REGISTRY_BIN"));
        let (moto, registry) = tokio::join!(
            Moto::start(Path::new(&python), &dir),
            Registry::start(Path::new(&registry_bin), &dir, None),
        );
        let (moto, registry) = (moto.unwrap(), registry.unwrap());
        let amplify = Amplify::start(APP_ID, "main", repository).await.unwrap();
        // SAFETY of the environment: the stand-in's own SDK client reads credentials from here.
        let fargate = Fargate::start(fargate::Config {
            moto_url: moto.url.clone(),
            registry_url: registry.url.clone(),
            work_dir: dir.join("fargate"),
            region: "us-east-1".into(),
        })
        .await
        .unwrap();
        Self {
            dir,
            moto,
            registry,
            amplify,
            fargate,
        }
    }

    /// A copy of `infra` in the test's directory, which the test may change.
    fn infra_copy(&self, infra: &Path) -> PathBuf {
        let copy = self.dir.join("infra");
        copy_dir(infra, &copy);
        copy
    }

    /// The fixture's frontend as `cargo xtask frontend build` leaves it for commit `sha`.
    fn dist_for(&self, sha: &str) -> PathBuf {
        let dist = self.dir.join(format!("dist-{sha}"));
        copy_dir(&fixture_dist(), &dist);
        let version = serde_json::json!({ "git_sha": sha });
        std::fs::write(dist.join("version.json"), version.to_string()).unwrap();
        dist
    }

    /// `faro-deploy ARGS` against the stand-ins: (exit ok, stdout + stderr).
    async fn run(&self, args: &[&str]) -> (bool, String) {
        self.run_in(&workspace(), args).await
    }

    /// `faro-deploy ARGS` with `checkout` as the workspace (the commit it builds and deploys).
    async fn run_in(&self, checkout: &Path, args: &[&str]) -> (bool, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_faro-deploy"))
            .args(args)
            .env("FARO_WORKSPACE", checkout)
            .env("AWS_ENDPOINT_URL", &self.moto.url)
            .env("AWS_ENDPOINT_URL_ECS", &self.fargate.url)
            .env("AWS_ENDPOINT_URL_AMPLIFY", &self.amplify.url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env("FARO_REGISTRY_URL", &self.registry.url)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        eprintln!("$ faro-deploy {}\n{text}", args.join(" "));
        (out.status.success(), text)
    }
}

impl Drop for Standins {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What the stand-ins said is the first thing to read when a step failed.
            for log in ["moto.log", "registry.log"] {
                let text = std::fs::read_to_string(self.dir.join(log)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().filter(|l| !l.contains(" 200 -")).collect();
                eprintln!(
                    "--- last lines of {log}:\n{}",
                    lines[lines.len().saturating_sub(40)..].join("\n")
                );
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_env(infra: &Path, service_extra: &[(&str, &str)], s: &Standins) {
    let prefix = std::env::var("FARO_TEST_DB_PREFIX").unwrap_or_else(|_| "faro_t_".into());
    let mysql = var("FARO_TEST_MYSQL_URL");
    let mut service = serde_json::json!({
        "EnvironmentName": ENV,
        "DatabaseUrl": format!("{}/{prefix}deploy_e2e", mysql.trim_end_matches('/')),
        "DynamoDbEndpoint": var("FARO_TEST_DYNAMODB_URL"),
        "DynamoDbTable": format!("{prefix}deploy_e2e"),
        "PublicApiUrl": s.fargate.lb_url,
    });
    for (k, v) in service_extra {
        service[*k] = serde_json::json!(v);
    }
    let env = serde_json::json!({
        "environment": ENV,
        "region": "us-east-1",
        "parameters": {
            "network": { "EnvironmentName": ENV },
            "data": { "EnvironmentName": ENV },
            "registry": { "EnvironmentName": ENV },
            "service": service,
            "frontend": {
                "EnvironmentName": ENV, "AppId": APP_ID, "BranchName": "main",
                "AppUrl": s.amplify.site_url(APP_ID, "main"),
            },
        },
    });
    // The fixture holds templates only: each test writes its own environment.
    std::fs::create_dir_all(infra.join("env")).unwrap();
    std::fs::write(
        infra.join("env").join(format!("{ENV}.json")),
        serde_json::to_vec_pretty(&env).unwrap(),
    )
    .unwrap();
}

/// `deploy` of the fixture environment in `infra` with the test's image and the frontend of
/// this checkout's commit.
fn fixture_deploy(s: &Standins, infra: &Path, extra: &[&str]) -> Vec<String> {
    let dist = s.dist_for(&head_sha());
    fixture_deploy_of(infra, Path::new(&var("FARO_TEST_IMAGE_DIR")), &dist, extra)
}

/// `deploy` of the fixture environment in `infra` with the image in `image_dir` and the
/// frontend in `dist`.
fn fixture_deploy_of(infra: &Path, image_dir: &Path, dist: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["deploy", "--env", ENV, "--allow-dirty", "--infra-dir"]
        .map(String::from)
        .to_vec();
    args.push(infra.display().to_string());
    args.extend(["--image-dir".into(), image_dir.display().to_string()]);
    args.extend(["--frontend-dir".into(), dist.display().to_string()]);
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// A git checkout in `dir` whose HEAD is a commit of its own, not the one the test's backend was
/// built from; returns its SHA.
fn other_checkout(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("README"),
        "not the commit the backend was built from\n",
    )
    .unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=Faro tests",
                "-c",
                "user.email=t@faro.invalid",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q"]);
    git(&["add", "README"]);
    git(&["commit", "-q", "-m", "another commit"]);
    git(&["rev-parse", "HEAD"]).trim().to_string()
}

/// An ECS client of the stand-in, as Application Auto Scaling would call it.
async fn ecs_client(s: &Standins) -> aws_sdk_ecs::Client {
    let shared = faro_deploy::aws::shared("us-east-1").await;
    let config = aws_sdk_ecs::config::Builder::from(&shared)
        .endpoint_url(&s.fargate.url)
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "e2e",
        ))
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

/// What the operator does once the data stack exists (docs/operations.md): store the DeepSeek
/// key, which the preflight of every later deploy looks for. The real data stack creates the
/// secret; moto's CloudFormation cannot, so the fixture's data stack leaves it out.
async fn store_deepseek_key(s: &Standins) {
    let shared = faro_deploy::aws::shared("us-east-1").await;
    let config = aws_sdk_secretsmanager::config::Builder::from(&shared)
        .endpoint_url(&s.moto.url)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "e2e",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
        .create_secret()
        .name(format!("faro/{ENV}/deepseek-api-key"))
        .secret_string("sk-e2e")
        .send()
        .await
        .unwrap();
}

async fn desired_count(ecs: &aws_sdk_ecs::Client) -> i32 {
    let out = ecs
        .describe_services()
        .cluster(format!("faro-{ENV}"))
        .services("backend")
        .send()
        .await
        .unwrap();
    out.services()[0].desired_count()
}

fn head_sha() -> String {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(workspace())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_deploy_noop_failed_rollout_and_rollback() {
    let s = Standins::start("e2e", None).await;
    let infra = s.infra_copy(&fixture_infra());
    write_env(&infra, &[], &s);
    let image_dir = var("FARO_TEST_IMAGE_DIR");
    let infra_arg = infra.display().to_string();
    let deploy_args = fixture_deploy(
        &s,
        &infra,
        &["--rollout-timeout", "120", "--smoke-timeout", "30"],
    );
    let deploy: Vec<&str> = deploy_args.iter().map(String::as_str).collect();

    // --plan: every stack's diff, nothing created.
    let mut plan = deploy.to_vec();
    plan.push("--plan");
    let (ok, out) = s.run(&plan).await;
    assert!(ok, "plan failed:\n{out}");
    assert!(
        out.contains("faro-e2e-network: new stack") && out.contains("add Vpc [AWS::EC2::VPC]"),
        "{out}"
    );
    assert!(out.contains("plan only: nothing was changed"), "{out}");
    let (_, status) = s
        .run(&["status", "--env", ENV, "--infra-dir", &infra_arg])
        .await;
    assert!(
        status.contains("faro-e2e-network") && status.contains("not deployed"),
        "{status}"
    );

    // The first deploy: every step, the real backend behind the load balancer.
    let (ok, out) = s.run(&deploy).await;
    assert!(ok, "deploy failed:\n{out}");
    for step in [
        "[1/8] preflight",
        "[4/8] database migrations",
        "[7/8] smoke test",
        "[8/8] summary",
    ] {
        assert!(out.contains(step), "{step} missing:\n{out}");
    }
    assert!(out.contains("exited 0"), "the migration ran: {out}");
    // The first deploy creates the ECS service only once the migration has ended: no task of
    // the new image ever ran against an empty schema.
    assert!(
        out.contains("the schema is current: creating the ECS service with"),
        "{out}"
    );
    let history = s.fargate.history();
    let migration = history
        .iter()
        .find(|t| t.group == "faro-deploy")
        .unwrap_or_else(|| panic!("no migration task: {history:#?}"));
    assert_eq!(migration.exit_code, Some(0), "{history:#?}");
    let migrated_at = migration.stopped_at.expect("the migration ended");
    let first_service_task = history
        .iter()
        .find(|t| t.group.starts_with("service:"))
        .unwrap_or_else(|| panic!("no service task: {history:#?}"));
    assert!(
        first_service_task.created_at > migrated_at,
        "a service task started before the migration ended: {history:#?}"
    );
    // No DesiredCount in the template: the scalable target brought the new service to MinTasks.
    let ecs = ecs_client(&s).await;
    assert_eq!(desired_count(&ecs).await, 2);
    store_deepseek_key(&s).await;
    let version = get_json(&format!("{}/api/version", s.fargate.lb_url)).await;
    assert_eq!(version["git_sha"], head_sha());
    let config = get_json(&format!(
        "{}/config.json",
        s.amplify.site_url(APP_ID, "main")
    ))
    .await;
    assert_eq!(config["environment"], ENV);
    assert_eq!(config["api_base_url"], s.fargate.lb_url.as_str());
    // The bundle built for the commit went live, by a manual deployment.
    let live = get_json(&format!(
        "{}/version.json",
        s.amplify.site_url(APP_ID, "main")
    ))
    .await;
    assert_eq!(live["git_sha"], head_sha());
    assert!(
        out.contains(&format!("version.json → {}", head_sha())),
        "the smoke test checked the live frontend's commit:\n{out}"
    );
    assert_eq!(s.amplify.calls("StartJob"), 0);

    // The image came back from the registry with the digest it was pushed with.
    let image = faro_deploy::image::layout::open(Path::new(&image_dir)).unwrap();
    let tag = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("image ")
                .and_then(|r| r.split(":").last())
        })
        .map(str::to_owned);
    let mut reference =
        faro_deploy::registry::Reference::parse(&format!("{}/faro-{ENV}/backend", s.registry.host))
            .unwrap();
    reference.base = s.registry.url.clone();
    let mut client = faro_deploy::registry::Client::new(reference, Default::default());
    let full_tag = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("image        ")
                .map(|r| r.rsplit(':').next().unwrap_or("").to_string())
        })
        .or(tag)
        .expect("the summary names the image");
    let pulled = client.pull(&full_tag).await.unwrap();
    assert_eq!(pulled.digest, image.manifest.digest);

    // A second deploy changes nothing and is quick.
    let started = Instant::now();
    let (ok, out) = s.run(&deploy).await;
    let noop = started.elapsed();
    assert!(ok, "no-op deploy failed:\n{out}");
    assert!(out.contains("already in the registry"), "{out}");
    assert!(out.contains("skipped: the image did not change"), "{out}");
    assert!(out.contains("unchanged (bundle"), "{out}");
    assert!(
        !out.contains("applying "),
        "a no-op deploy applied a change set:\n{out}"
    );
    eprintln!("NO-OP DEPLOY: {:.2} s", noop.as_secs_f64());
    assert_eq!(
        s.amplify.calls("CreateDeployment"),
        1,
        "the unchanged frontend was not re-published"
    );

    // A configuration the tasks cannot start with: the circuit breaker fails the rollout.
    write_env(&infra, &[("ReadinessTimeoutMs", "soon")], &s);
    let (ok, out) = s.run(&deploy).await;
    assert!(!ok, "a failing rollout must end non-zero:\n{out}");
    assert!(out.contains("circuit breaker"), "{out}");
    assert!(
        out.contains("FARO_READINESS_TIMEOUT_MS"),
        "the failing task's log lines are shown:\n{out}"
    );
    assert!(out.contains("hint:"), "{out}");
    // The service is back on the working configuration and still answers.
    let ready = reqwest::get(format!("{}/readyz", s.fargate.lb_url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    write_env(&infra, &[], &s);

    // Autoscaling scales the service out; the image-only change sets that follow (rollbacks,
    // and a deploy of another image below) leave the task count alone: the service's template
    // has no DesiredCount for CloudFormation to send again.
    ecs.update_service()
        .cluster(format!("faro-{ENV}"))
        .service("backend")
        .desired_count(3)
        .send()
        .await
        .unwrap();

    // Rollback: to a named image, then back to the previous one.
    let registry_ref = format!("{}/faro-{ENV}/backend", s.registry.url);
    let (ok, out) = s
        .run(&[
            "image",
            "push",
            "--registry",
            &registry_ref,
            "--image-dir",
            &image_dir,
            "--tag",
            "e2e-previous",
        ])
        .await;
    assert!(
        ok && out.contains("0 blobs uploaded, 2 already in the registry"),
        "{out}"
    );
    let (ok, out) = s
        .run(&[
            "rollback",
            "--env",
            ENV,
            "--infra-dir",
            &infra_arg,
            "--to",
            "e2e-previous",
        ])
        .await;
    assert!(ok, "rollback --to failed:\n{out}");
    assert!(
        out.contains("parameter ImageTag:"),
        "an image-only change set:\n{out}"
    );
    assert_eq!(
        desired_count(&ecs).await,
        3,
        "the image-only change set reset the scaled-out service:\n{out}"
    );
    let (ok, out) = s
        .run(&["rollback", "--env", ENV, "--infra-dir", &infra_arg])
        .await;
    assert!(ok, "rollback failed:\n{out}");
    assert!(out.contains(&format!("now runs {full_tag}")), "{out}");

    let (ok, out) = s
        .run(&["status", "--env", ENV, "--infra-dir", &infra_arg])
        .await;
    assert!(
        ok && out.contains("tasks: 3 running of 3 desired") && out.contains(&full_tag),
        "{out}"
    );
    let (ok, out) = s
        .run(&[
            "logs",
            "--env",
            ENV,
            "--infra-dir",
            &infra_arg,
            "--since",
            "1h",
            "--filter",
            "listening",
        ])
        .await;
    assert!(ok && out.contains("listening"), "{out}");

    // A deploy whose backend does not report the commit being deployed: the image of another
    // commit (a checkout of its own) holding this test's backend, which names this commit in
    // /api/version. The rollout succeeds, the smoke test fails, and the service goes back to
    // the image it ran before.
    let other = s.dir.join("other-checkout");
    let other_sha = other_checkout(&other);
    assert_ne!(other_sha, head_sha());
    let binary = s.dir.join("faro-backend");
    let (bytes, _) = faro_deploy::image::layout::extract_file(
        &std::fs::read(image.blob_path(&image.layers[0].digest)).unwrap(),
        faro_deploy::image::layout::BINARY_PATH,
    )
    .unwrap();
    std::fs::write(&binary, bytes).unwrap();
    let other_image = s.dir.join("other-image");
    let (ok, out) = s
        .run_in(
            &other,
            &[
                "image",
                "build",
                "--binary",
                &binary.display().to_string(),
                "--output",
                &other_image.display().to_string(),
            ],
        )
        .await;
    assert!(
        ok && out.contains(&format!("revision      {other_sha}")),
        "{out}"
    );
    let wrong = fixture_deploy_of(
        &infra,
        &other_image,
        &s.dist_for(&other_sha),
        &["--rollout-timeout", "120", "--smoke-timeout", "5"],
    );
    let (ok, out) = s
        .run_in(
            &other,
            &wrong.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
    assert!(!ok, "a failed smoke test must end non-zero:\n{out}");
    assert!(
        out.contains(&format!("running {other_sha}")),
        "the service switched to the new image first:\n{out}"
    );
    assert!(
        out.contains(&format!(
            "/api/version says git_sha {}, expected {other_sha}",
            head_sha()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("rolling the service back to {full_tag}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("the service was rolled back to {full_tag}")),
        "{out}"
    );
    assert!(!out.contains("[8/8] summary"), "{out}");
    // The service still answers, and `status` shows the previous image (both images hold the
    // same backend, so /api/version cannot tell them apart).
    let version = get_json(&format!("{}/api/version", s.fargate.lb_url)).await;
    assert_eq!(version["git_sha"], head_sha());
    let ready = reqwest::get(format!("{}/readyz", s.fargate.lb_url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let (ok, out) = s
        .run(&["status", "--env", ENV, "--infra-dir", &infra_arg])
        .await;
    let running = out.lines().find_map(|l| l.trim().strip_prefix("image: "));
    assert!(
        ok && out.contains("tasks: 3 running of 3 desired")
            && out.contains(&format!("stack ImageTag: {full_tag}"))
            && running.is_some_and(|image| image.ends_with(&format!(":{full_tag}"))),
        "{out}"
    );

    // destroy: a wrong name deletes nothing; the right one deletes all but the data stacks
    // and the network they import from (which CloudFormation would refuse to delete).
    let destroy = |confirm: &'static str, include_data: bool| {
        let infra: &str = &infra_arg;
        let mut args = vec![
            "destroy",
            "--env",
            ENV,
            "--infra-dir",
            infra,
            "--confirm",
            confirm,
        ];
        if include_data {
            args.push("--include-data");
        }
        args
    };
    let (ok, out) = s.run(&destroy("staging", false)).await;
    assert!(!ok && out.contains("nothing was deleted"), "{out}");
    let (ok, out) = s.run(&destroy(ENV, false)).await;
    assert!(ok, "destroy failed:\n{out}");
    for kept in [
        "keeping faro-e2e-registry (holds data",
        "keeping faro-e2e-data (holds data",
        "keeping faro-e2e-network (exports what data imports",
    ] {
        assert!(out.contains(kept), "{kept}:\n{out}");
    }
    let (_, status) = s
        .run(&["status", "--env", ENV, "--infra-dir", &infra_arg])
        .await;
    assert_eq!(status.matches("not deployed").count(), 2, "{status}");

    // With --include-data everything goes, and what outlives its stack is listed.
    let (ok, out) = s.run(&destroy(ENV, true)).await;
    assert!(ok, "destroy --include-data failed:\n{out}");
    assert!(out.contains("retained after deletion"), "{out}");
    for left in [
        "DynamoDB::Table faro-e2e-data (Table, DeletionPolicy Retain, from faro-e2e-data)",
        "ECR::Repository faro-e2e/backend (BackendRepository, DeletionPolicy Retain",
    ] {
        assert!(out.contains(left), "{left}:\n{out}");
    }
    let (_, status) = s
        .run(&["status", "--env", ENV, "--infra-dir", &infra_arg])
        .await;
    assert_eq!(status.matches("not deployed").count(), 5, "{status}");
}

/// A migration that fails stops the deploy before the service or the frontend change, and
/// shows the task's log lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migration_stops_the_deploy() {
    let s = Standins::start("migration", None).await;
    let infra = s.infra_copy(&fixture_infra());
    // Nothing listens on port 9: the migration cannot connect.
    write_env(
        &infra,
        &[("DatabaseUrl", "mysql://root@127.0.0.1:9/faro")],
        &s,
    );
    let args = fixture_deploy(&s, &infra, &["--migration-timeout", "120"]);
    let (ok, out) = s
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert!(!ok, "{out}");
    assert!(out.contains("the migration ended with exit code"), "{out}");
    assert!(out.contains("last log lines of task"), "{out}");
    assert!(
        out.contains("      | "),
        "the task's own lines are shown:\n{out}"
    );
    assert!(!out.contains("[6/8] frontend"), "{out}");
    assert_eq!(s.amplify.calls("CreateDeployment"), 0);
}

/// An app connected to a repository builds the commit being deployed, not the branch's head
/// (a newer push here), and the smoke test waits for the app's domain, saying so. When a push
/// is published anyway (an auto-build), the smoke test names both commits; a domain that
/// never comes up fails it after its bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connected_app_builds_the_deployed_commit_after_its_domain_is_up() {
    let repository = Repository {
        url: "https://git.example.com/faro/faro".into(),
        artifacts: fixture_dist(),
    };
    let s = Standins::start("connected", Some(repository)).await;
    let infra = s.infra_copy(&fixture_infra());
    write_env(&infra, &[], &s);
    let deployed = head_sha();
    let newer = "f".repeat(40);
    s.amplify.push(APP_ID, "main", &deployed);
    s.amplify.push(APP_ID, "main", &newer);
    s.amplify.set_variables(
        APP_ID,
        "main",
        &[
            ("FARO_API_BASE_URL", s.fargate.lb_url.as_str()),
            ("FARO_ENVIRONMENT", ENV),
        ],
    );
    // The certificate of a new domain: the site answers 503 for a while after it is published.
    s.amplify.domain_pending(APP_ID, Duration::from_secs(4));
    let args = fixture_deploy(
        &s,
        &infra,
        &["--rollout-timeout", "120", "--domain-timeout", "60"],
    );
    let deploy: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = s.run(&deploy).await;
    assert!(ok, "deploy failed:\n{out}");
    assert!(
        out.contains(&format!("Amplify CI builds commit {deployed}")),
        "{out}"
    );
    assert_eq!(s.amplify.job_commits(APP_ID, "main"), [deployed.as_str()]);
    assert_eq!(s.amplify.calls("CreateDeployment"), 0);
    assert!(
        out.contains("waiting for the app's domain (DNS and certificate)")
            && out.contains("answered 503"),
        "the wait says what it waits for:\n{out}"
    );
    let site = s.amplify.site_url(APP_ID, "main");
    let live = get_json(&format!("{site}/version.json")).await;
    assert_eq!(live["git_sha"], deployed);
    assert!(out.contains(&format!("version.json → {deployed}")), "{out}");
    store_deepseek_key(&s).await;

    // Deployed again, the commit is live already: no new job.
    let (ok, out) = s.run(&deploy).await;
    assert!(ok, "{out}");
    assert!(out.contains("unchanged (commit"), "{out}");
    assert_eq!(s.amplify.job_commits(APP_ID, "main").len(), 1);

    // A push published by Amplify on its own (what auto-build does): the branch's head.
    let started = reqwest::Client::new()
        .post(format!(
            "{}/apps/{APP_ID}/branches/main/jobs",
            s.amplify.url
        ))
        .json(&serde_json::json!({ "jobType": "RELEASE" }))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    let live_is = |sha: String| {
        let url = format!("{site}/version.json");
        async move {
            for _ in 0..50 {
                if get_json(&url).await["git_sha"] == sha.as_str() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("{sha} never went live");
        }
    };
    live_is(newer.clone()).await;
    let expect = faro_deploy::smoke::Expect {
        api_url: &s.fargate.lb_url,
        app_url: Some(&site),
        git_sha: &deployed,
        environment: ENV,
        within: Duration::from_secs(1),
        domain_within: Duration::from_secs(5),
    };
    let err = faro_deploy::smoke::check(&expect).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "the live frontend was built from {newer}, but the backend runs {deployed}"
        )),
        "{err}"
    );
    let hint = faro_deploy::Hint::hint(&err).unwrap();
    assert!(hint.contains("EnableAutoBuild"), "{hint}");
    assert!(!err.concerns_backend());

    // A domain that does not come up within the bound fails the smoke test, naming it.
    s.amplify.domain_pending(APP_ID, Duration::from_secs(3600));
    let err = faro_deploy::smoke::check(&faro_deploy::smoke::Expect {
        domain_within: Duration::from_secs(2),
        ..expect
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, faro_deploy::smoke::Error::DomainNotReady { .. })
            && err.to_string().contains("answered 503"),
        "{err}"
    );
}

/// The real `infra/` templates, planned against moto: every stack gets a change set and a
/// readable diff. moto cannot execute them (it lacks Amplify and skips or mis-parses some of
/// their resource types), so this stops at `--plan`; the deploy itself is the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_of_the_real_templates() {
    let s = Standins::start("plan", None).await;
    let infra = s.infra_copy(&real_infra());
    // The shipped placeholders are refused by the preflight (a test of its own below); the
    // image here is linux/amd64.
    let path = infra.join("env/staging.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("staging.faro.example.com", "staging.faro.dev")
        .replace("Z000000000STAGINGEXAMPLE", "Z0123456789ABCDEFGHIJ")
        .replace(
            r#""CpuArchitecture": "ARM64""#,
            r#""CpuArchitecture": "X86_64""#,
        );
    std::fs::write(&path, text).unwrap();
    let image_dir = var("FARO_TEST_IMAGE_DIR");
    let infra_arg = infra.display().to_string();
    let (ok, out) = s
        .run(&[
            "deploy",
            "--env",
            "staging",
            "--plan",
            "--allow-dirty",
            "--infra-dir",
            &infra_arg,
            "--image-dir",
            &image_dir,
        ])
        .await;
    assert!(ok, "plan failed:\n{out}");
    for stack in [
        "network",
        "data",
        "registry",
        "service",
        "frontend",
        "dns",
        "observability",
    ] {
        assert!(
            out.contains(&format!("faro-staging-{stack}: new stack")),
            "{stack} not planned:\n{out}"
        );
    }
    assert!(out.contains("add Database [AWS::RDS::DBInstance]"), "{out}");
    assert!(out.contains("add App [AWS::Amplify::App]"), "{out}");
    // What an operator needs to see is planned with the rest, whether or not moto could
    // create it (it has no CloudFormation model of WAFv2 or Budgets).
    for resource in [
        "FlowLog [AWS::EC2::FlowLog]",
        "DatabaseSlowQueryLogGroup [AWS::Logs::LogGroup]",
        "WebAcl [AWS::WAFv2::WebACL]",
        "WebAclAssociation [AWS::WAFv2::WebACLAssociation]",
        "DeploymentFailedRule [AWS::Events::Rule]",
        "DatabaseFailoverRule [AWS::Events::Rule]",
        "MonthlyBudget [AWS::Budgets::Budget]",
        "FrontendErrorsAlarm [AWS::CloudWatch::Alarm]",
    ] {
        assert!(
            out.contains(&format!("add {resource}")),
            "{resource}:\n{out}"
        );
    }
    assert!(out.contains("(plan) the image is not pushed"), "{out}");
    // Nothing stays behind: no stack, not even one under review.
    let (_, status) = s
        .run(&["status", "--env", "staging", "--infra-dir", &infra_arg])
        .await;
    assert_eq!(status.matches("not deployed").count(), 7, "{status}");
}

/// The shipped parameter files still hold placeholders, and the preflight names each of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_refuses_placeholders() {
    let s = Standins::start("preflight", None).await;
    let infra = real_infra().display().to_string();
    let image_dir = var("FARO_TEST_IMAGE_DIR");
    let (ok, out) = s
        .run(&[
            "deploy",
            "--env",
            "production",
            "--plan",
            "--infra-dir",
            &infra,
            "--image-dir",
            &image_dir,
        ])
        .await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("service: HostedZoneId is still the placeholder `Z0000000000000EXAMPLE`"),
        "{out}"
    );
    assert!(
        out.contains("hint: edit infra/env/production.json"),
        "{out}"
    );
}
