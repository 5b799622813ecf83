//! Environments: CRUD, validation, the production flag only owners may set, and the
//! history a deletion must not destroy.

use crate::releases::insert_release_row;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use faro_testkit::ProjectWithEnvironments;
use faro_testkit::{Signed, Team, TestApp, expect_json, problem, problem_naming};
use faro_types::{Environment, Role, RunningRelease};
use serde_json::json;

/// Asserts that `who` finds no environment `name` in project `slug`, by any route that names
/// one: a read, an empty and a real patch, a deletion.
async fn no_environment(app: &TestApp, who: &Signed, slug: &str, name: &str) {
    problem(app.get_environment(who, slug, name).await, 404).await;
    for patch in [json!({}), json!({"sleakops_environment": "stolen"})] {
        let response = app.patch_environment(who, slug, name, &patch).await;
        problem(response, 404).await;
    }
    problem(app.delete_environment(who, slug, name).await, 404).await;
}

#[tokio::test]
async fn create_list_get_update_and_delete_environments() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    app.create_project(&ada, "shop").await;

    let staging = app.create_environment(&ada, "shop", "staging", false).await;
    assert_eq!(
        (
            staging.name.as_str(),
            staging.sleakops_environment.as_str(),
            staging.production
        ),
        ("staging", "staging-env", false)
    );
    let prod = app.create_environment(&ada, "shop", "prod", true).await;
    assert!(prod.production);
    // `production` defaults to false.
    let body = json!({"name": "dev", "sleakops_environment": "dev"});
    let response = app.post_environment(&ada, "shop", &body).await;
    let dev: Environment = expect_json(response, 201, "dev, with no production flag").await;
    assert!(!dev.production);

    let listed = app.environments(&ada, "shop").await;
    let names: Vec<&str> = listed.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["dev", "prod", "staging"], "ordered by name");
    assert_eq!(app.environment(&ada, "shop", "staging").await, staging);

    let patch = json!({"sleakops_environment": "stg-2", "production": true});
    let updated = app
        .update_environment(&ada, "shop", "staging", &patch)
        .await;
    assert_eq!(
        (updated.sleakops_environment.as_str(), updated.production),
        ("stg-2", true)
    );
    assert!(updated.updated_at > staging.updated_at);
    assert_eq!(app.environment(&ada, "shop", "staging").await, updated);
    // An empty patch changes nothing.
    let unchanged = app
        .update_environment(&ada, "shop", "staging", &json!({}))
        .await;
    assert_eq!(unchanged, updated);

    let response = app.delete_environment(&ada, "shop", "staging").await;
    assert_eq!(response.status(), 204);
    no_environment(&app, &ada, "shop", "staging").await;
}

#[tokio::test]
async fn invalid_environment_fields_are_named() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    app.create_project(&ada, "shop").await;
    app.create_environment(&ada, "shop", "staging", false).await;

    let bad = json!({"name": "Staging!", "sleakops_environment": ""});
    let p = problem(app.post_environment(&ada, "shop", &bad).await, 422).await;
    let mut fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["name", "sleakops_environment"]);

    for (body, field) in [
        (json!({"name": "x", "sleakops_environment": "x"}), "name"),
        (
            json!({"name": "qa", "sleakops_environment": "a b"}),
            "sleakops_environment",
        ),
        (
            json!({"name": "qa", "sleakops_environment": "x".repeat(101)}),
            "sleakops_environment",
        ),
        (json!({"name": "qa"}), "sleakops_environment"),
        (
            json!({"name": "qa", "sleakops_environment": "qa", "production": "yes"}),
            "production",
        ),
        (
            json!({"name": "qa", "sleakops_environment": "qa", "project_id": 2}),
            "project_id",
        ),
    ] {
        let response = app.post_environment(&ada, "shop", &body).await;
        problem_naming(response, 422, field, &body).await;
    }
    for (patch, field) in [
        (json!({"name": "renamed"}), "name"),
        (
            json!({"sleakops_environment": "a/b"}),
            "sleakops_environment",
        ),
        (json!({"production": 1}), "production"),
        (json!({"id": 9}), "id"),
    ] {
        let response = app.patch_environment(&ada, "shop", "staging", &patch).await;
        problem_naming(response, 422, field, &patch).await;
    }
    assert_eq!(app.environments(&ada, "shop").await.len(), 1);
}

#[tokio::test]
async fn a_duplicate_environment_name_is_409_naming_name() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    app.create_project(&ada, "shop").await;
    app.create_project(&ada, "blog").await;
    app.create_environment(&ada, "shop", "staging", false).await;
    let body = json!({"name": "staging", "sleakops_environment": "other"});
    let response = app.post_environment(&ada, "shop", &body).await;
    problem_naming(response, 409, "name", &body).await;
    // Names are per project.
    app.create_environment(&ada, "blog", "staging", false).await;
}

#[tokio::test]
async fn only_owners_decide_what_is_production() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    team.project(&app, "shop").await;
    let maintainer = &team.maintainer;

    let body = json!({"name": "prod", "sleakops_environment": "prod", "production": true});
    let response = app.post_environment(maintainer, "shop", &body).await;
    problem_naming(response, 403, "production", &body).await;
    problem(app.get_environment(maintainer, "shop", "prod").await, 404).await;
    // Not production: fine, also said explicitly.
    let body = json!({"name": "staging", "sleakops_environment": "stg", "production": false});
    let response = app.post_environment(maintainer, "shop", &body).await;
    assert_eq!(response.status(), 201);
    app.create_environment(&team.owner, "shop", "prod", true)
        .await;

    // Changing the flag either way is the owner's; sending the current value is no change.
    let patch = json!({"sleakops_environment": "stg-2", "production": true});
    let response = app
        .patch_environment(maintainer, "shop", "staging", &patch)
        .await;
    problem_naming(response, 403, "production", &patch).await;
    let staging = app.environment(maintainer, "shop", "staging").await;
    assert_eq!(
        (staging.sleakops_environment.as_str(), staging.production),
        ("stg", false),
        "nothing half-written"
    );
    let patch = json!({"sleakops_environment": "stg-2", "production": false});
    app.update_environment(maintainer, "shop", "staging", &patch)
        .await;
    let patch = json!({"production": false});
    let response = app
        .patch_environment(maintainer, "shop", "prod", &patch)
        .await;
    problem_naming(response, 403, "production", &patch).await;
    // Where a production environment deploys to is the owners' too (this reverses what a
    // maintainer could do before organizations, on purpose); the owner may.
    let patch = json!({"sleakops_environment": "prod-2"});
    let response = app
        .patch_environment(maintainer, "shop", "prod", &patch)
        .await;
    problem_naming(response, 403, "sleakops_environment", &patch).await;
    assert_eq!(
        app.environment(maintainer, "shop", "prod")
            .await
            .sleakops_environment,
        "prod-env",
        "unchanged"
    );
    app.update_environment(&team.owner, "shop", "prod", &patch)
        .await;

    // Deleting production is the owner's too.
    problem(
        app.delete_environment(maintainer, "shop", "prod").await,
        403,
    )
    .await;
    let response = app.delete_environment(&team.owner, "shop", "prod").await;
    assert_eq!(response.status(), 204);
    let response = app.delete_environment(maintainer, "shop", "staging").await;
    assert_eq!(response.status(), 204);

    // A viewer writes nothing, whatever the body.
    let body = json!({"name": "qa", "sleakops_environment": "qa"});
    problem(app.post_environment(&team.viewer, "shop", &body).await, 403).await;

    assert_eq!(app.project(&team.owner, "shop").await.role, Role::Owner);
}

#[tokio::test]
async fn an_environment_with_releases_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let project = app.create_project(&ada, "shop").await;
    let staging = app.create_environment(&ada, "shop", "staging", false).await;
    let db = &app.state.db;
    insert_release_row(db, project.id, staging.id, ada.user.id, "deployed", "main").await;

    let p = problem(app.delete_environment(&ada, "shop", "staging").await, 409).await;
    assert!(p.detail.unwrap_or_default().contains("releases"));
    let response = app.get_environment(&ada, "shop", "staging").await;
    assert_eq!(response.status(), 200);
    // The project itself may go, releases and all.
    assert_eq!(app.delete_project(&ada, "shop").await.status(), 204);
    assert_eq!(app.count("SELECT COUNT(*) FROM releases").await, 0);
}

#[tokio::test]
async fn environment_names_resolve_only_within_their_project() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    app.create_project(&ada, "shop").await;
    app.create_project(&bob, "blog").await;
    app.create_environment(&bob, "blog", "qa", false).await;

    // Ada's project has no "qa", and Bob's is not reachable through her URL.
    for slug in ["shop", "blog"] {
        no_environment(&app, &ada, slug, "qa").await;
    }
    let qa = app.environment(&bob, "blog", "qa").await;
    assert_eq!(qa.sleakops_environment, "qa-env");
}

/// Inserts a release of `branch` to `env` with `status`, deployed at `deployed_at` (if it
/// was): its id.
async fn release_at(
    app: &TestApp,
    fx: &ProjectWithEnvironments,
    who: &Signed,
    env: u64,
    status: &str,
    deployed_at: Option<DateTime<Utc>>,
    commit_sha: Option<&str>,
) -> u64 {
    sqlx::query(
        "INSERT INTO releases (project_id, environment_id, branch, commit_sha, tag, status, \
         sleakops_build_id, requested_by, requested_at, deployed_at, updated_at) \
         VALUES (?, ?, 'main', ?, 'v1', ?, 'b-7', ?, ?, ?, ?)",
    )
    .bind(fx.project_id)
    .bind(env)
    .bind(commit_sha)
    .bind(status)
    .bind(who.user.id)
    .bind(Utc::now())
    .bind(deployed_at)
    .bind(Utc::now())
    .execute(&app.state.db)
    .await
    .expect("release")
    .last_insert_id()
}

#[tokio::test]
async fn environments_show_the_release_that_reached_deployed_last() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let listed = app.environments(&ada, &fx.slug).await;
    assert!(
        listed.iter().all(|e| e.running.is_none()),
        "nothing runs yet"
    );

    let now = Utc::now().trunc_subsecs(6);
    let hours_ago = |h: i64| Some(now - Duration::hours(h));
    let put = |env, status, at, commit| release_at(&app, &fx, &ada, env, status, at, commit);
    put(fx.staging, "deployed", hours_ago(3), Some("abcdef1")).await;
    let head = put(fx.staging, "deployed", hours_ago(2), None).await;
    // Later, but not deployed: what runs is unchanged.
    put(fx.staging, "failed", None, Some("abcdef2")).await;
    put(fx.staging, "deploying", None, Some("abcdef3")).await;
    // Deployed at the same instant: the later release wins.
    put(fx.production, "deployed", hours_ago(1), Some("1234567")).await;
    let later = put(fx.production, "deployed", hours_ago(1), Some("7654321")).await;

    let listed = app.environments(&ada, &fx.slug).await;
    let running = |name: &str| {
        listed
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.running.clone())
    };
    assert_eq!(
        running("staging"),
        Some(RunningRelease {
            release_id: head,
            branch: "main".into(),
            commit_sha: None,
            tag: Some("v1".into()),
            sleakops_build_id: Some("b-7".into()),
            deployed_at: now - Duration::hours(2),
        })
    );
    assert_eq!(running("production").map(|r| r.release_id), Some(later));

    // One environment answers the same, and so does a change of it.
    let staging = app.environment(&ada, &fx.slug, "staging").await;
    assert_eq!(staging.running, running("staging"));
    for patch in [json!({}), json!({"sleakops_environment": "stg-2"})] {
        let updated = app
            .update_environment(&ada, &fx.slug, "staging", &patch)
            .await;
        assert_eq!(updated.running, running("staging"), "{patch}");
    }
    let created = app.create_environment(&ada, &fx.slug, "qa", false).await;
    assert_eq!(created.running, None);

    // The list reads each environment's release by index, never a whole table.
    sqlx::query("ANALYZE TABLE environments, releases")
        .execute(&app.state.db)
        .await
        .expect("analyze");
    let plan = sqlx::query(&format!(
        "EXPLAIN {}",
        faro_backend::projects::store::ENVIRONMENTS
    ))
    .bind(fx.project_id)
    .fetch_all(&app.state.db)
    .await
    .expect("explain");
    use sqlx::Row;
    let keys: Vec<(Option<String>, Option<String>, Option<String>)> = plan
        .iter()
        .map(|step| {
            (
                step.try_get("table").unwrap_or_default(),
                step.try_get("type").unwrap_or_default(),
                step.try_get("key").unwrap_or_default(),
            )
        })
        .collect();
    println!("EXPLAIN {keys:?}");
    for (table, access, key) in &keys {
        assert!(
            key.is_some() && access.as_deref() != Some("ALL"),
            "{table:?} is read by an index: {access:?} {key:?}"
        );
    }
    assert!(
        keys.iter()
            .any(|(table, _, key)| table.as_deref() == Some("d")
                && key.as_deref() == Some("ix_releases_env_deployed")),
        "{keys:?}"
    );
}
