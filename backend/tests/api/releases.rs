//! Releases: creation with idempotency keys, validation, authorization, lists and pagination,
//! timelines, cancel and retry.

use chrono::{DateTime, Utc};
use faro_testkit::{
    ProjectWithEnvironments, Signed, Team, TestApp, expect_json,
    fixtures::{new_key, release_body},
    header, problem, problem_naming,
};
use faro_types::{EventKind, Page, Release, ReleaseStatus, Role};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use sqlx::MySqlPool;
use std::collections::HashSet;

/// Inserts a release row of `project_id` directly, for states the API cannot reach without
/// the worker.
pub async fn insert_release_row(
    db: &MySqlPool,
    project_id: u64,
    env: u64,
    requested_by: u64,
    status: &str,
    branch: &str,
) -> u64 {
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO releases (project_id, environment_id, branch, commit_sha, status, requested_by, \
         requested_at, updated_at) VALUES (?, ?, ?, 'abcdef1', ?, ?, ?, ?)",
    )
    .bind(project_id)
    .bind(env)
    .bind(branch)
    .bind(status)
    .bind(requested_by)
    .bind(now)
    .bind(now)
    .execute(db)
    .await
    .expect("release")
    .last_insert_id()
}

/// [`insert_release_row`] of `who` to environment `env` of `fx`.
pub async fn insert_release(
    app: &TestApp,
    fx: &ProjectWithEnvironments,
    env: u64,
    who: &Signed,
    status: &str,
    branch: &str,
) -> u64 {
    insert_release_row(
        &app.state.db,
        fx.project_id,
        env,
        who.user.id,
        status,
        branch,
    )
    .await
}

/// A release of `main` by `who` to environment `env` of `fx` as the worker leaves one
/// deployed: with SleakOps build `build`, deployed at `deployed_at`.
pub async fn insert_deployed(
    app: &TestApp,
    fx: &ProjectWithEnvironments,
    env: u64,
    who: &Signed,
    build: &str,
    deployed_at: DateTime<Utc>,
) -> u64 {
    let id = insert_release(app, fx, env, who, "deployed", "main").await;
    sqlx::query(
        "UPDATE releases SET sleakops_build_id = ?, deployed_at = ?, finished_at = ? WHERE id = ?",
    )
    .bind(build)
    .bind(deployed_at)
    .bind(deployed_at)
    .bind(id)
    .execute(&app.state.db)
    .await
    .expect("deployed");
    id
}

/// Asserts how many releases and outbox rows there are: one of each per release made.
async fn assert_stored(app: &TestApp, releases: i64, outbox: i64) {
    let stored = (
        app.count("SELECT COUNT(*) FROM releases").await,
        app.count("SELECT COUNT(*) FROM outbox").await,
    );
    assert_eq!(stored, (releases, outbox), "releases and outbox rows");
}

/// `who`'s release of `main` to staging under idempotency key `key`, which must answer
/// `status`: 201 for a new release, 200 for the one the key already made.
async fn release_with_key(
    app: &TestApp,
    who: &Signed,
    fx: &ProjectWithEnvironments,
    key: &str,
    status: u16,
) -> Release {
    let response = app
        .post_release(who, &fx.slug, Some(key), &release_body("staging"))
        .await;
    expect_json(response, status, &format!("a release under key {key}")).await
}

#[tokio::test]
async fn creating_a_release_queues_it_with_its_first_event_and_outbox_row() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let commit_time: DateTime<Utc> = "2026-01-02T03:04:05.123456789Z".parse().expect("time");
    let response = app.post_release(&ada,
        &fx.slug,
        Some(&new_key()),
        &json!({"environment": "production", "branch": "release/1.2", "commit_sha": "ABCDEF0123456",
                "tag": "v1.2.0", "commit_time": commit_time}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let release: Release = response.json().await.expect("a release");
    assert_eq!(release.project, fx.slug);
    assert_eq!(release.environment, "production");
    assert!(release.production);
    assert_eq!(release.branch, "release/1.2");
    assert_eq!(
        release.commit_sha.as_deref(),
        Some("abcdef0123456"),
        "stored lowercase"
    );
    assert_eq!(release.tag.as_deref(), Some("v1.2.0"));
    assert_eq!(
        release.commit_time.map(|t| t.to_rfc3339()),
        Some("2026-01-02T03:04:05.123456+00:00".to_owned())
    );
    assert_eq!(release.status, ReleaseStatus::Queued);
    assert_eq!(release.requested_by.id, ada.user.id);
    assert_eq!(release.requested_by.name, "Ada");
    assert_eq!(release.retry_of, None);

    assert_eq!(app.release(&ada, release.id).await, release);

    let (kind, payload, done): (String, String, bool) =
        sqlx::query_as("SELECT kind, payload, done FROM outbox WHERE release_id = ?")
            .bind(release.id)
            .fetch_one(&app.state.db)
            .await
            .expect("one outbox row");
    assert_eq!(kind, "release.start");
    assert_eq!(
        serde_json::from_str::<Value>(&payload).expect("json"),
        json!({"release_id": release.id})
    );
    assert!(!done);

    let events = app.timeline(&ada, release.id, "").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 1);
    assert_eq!(events[0].kind, EventKind::Requested);
    assert_eq!(events[0].status, ReleaseStatus::Queued);
    assert_eq!(events[0].actor.as_ref().map(|a| a.id), Some(ada.user.id));
}

#[tokio::test]
async fn invalid_fields_are_422_naming_each_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let base = release_body("staging");
    let with = |field: &str, value: Value| {
        let mut b = base.clone();
        b[field] = value;
        b
    };
    let cases = [
        (with("branch", json!("feature..x")), "branch"),
        (with("branch", json!("-x")), "branch"),
        (with("branch", json!("")), "branch"),
        (with("branch", json!("a b")), "branch"),
        (with("branch", json!("x.lock")), "branch"),
        (with("commit_sha", json!("abc123")), "commit_sha"),
        (with("commit_sha", json!("a".repeat(41))), "commit_sha"),
        (with("commit_sha", json!("xyz1234")), "commit_sha"),
        (with("tag", json!("v1..0")), "tag"),
        (with("tag", json!("v".repeat(129))), "tag"),
        (with("environment", json!("Staging!")), "environment"),
        (with("commit_time", json!("yesterday")), "commit_time"),
        (with("admin", json!(true)), "admin"),
        (with("commit_sha", json!("")), "commit_sha"),
    ];
    for (body, field) in cases {
        let response = app
            .post_release(&ada, &fx.slug, Some(&new_key()), &body)
            .await;
        problem_naming(response, 422, field, &body).await;
    }
    // An environment the project lacks is well formed: a 409 naming it.
    let body = with("environment", json!("qa"));
    let response = app
        .post_release(&ada, &fx.slug, Some(&new_key()), &body)
        .await;
    problem_naming(response, 409, "environment", &body).await;
    // Several bad fields are all named.
    let response = app
        .post_release(
            &ada,
            &fx.slug,
            None,
            &json!({"environment": "staging", "branch": "a..b", "commit_sha": "nope"}),
        )
        .await;
    let p = problem(response, 422).await;
    let fields: HashSet<_> = p.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        HashSet::from(["branch", "commit_sha", "Idempotency-Key"])
    );
    assert_stored(&app, 0, 0).await;
}

/// Changed on purpose with issue 17: a release without a commit (once a 422) is of the
/// branch's head.
#[tokio::test]
async fn a_release_without_a_commit_is_of_the_branch_head_stored_empty() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    for body in [
        json!({"environment": "staging", "branch": "main"}),
        json!({"environment": "staging", "branch": "main", "commit_sha": null}),
    ] {
        let response = app
            .post_release(&ada, &fx.slug, Some(&new_key()), &body)
            .await;
        assert_eq!(response.status(), 201, "{body}");
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["commit_sha"], Value::Null, "answered null: {body}");
        let id = answer["id"].as_u64().expect("an id");
        let stored: Option<String> =
            sqlx::query_scalar("SELECT commit_sha FROM releases WHERE id = ?")
                .bind(id)
                .fetch_one(&app.state.db)
                .await
                .expect("stored");
        assert_eq!(stored, None, "stored NULL");
        assert_eq!(app.release(&ada, id).await.commit_sha, None);
        let events = app.timeline(&ada, id, "").await;
        assert!(
            events[0].message.contains("main (branch head)"),
            "{}",
            events[0].message
        );
    }
}

#[tokio::test]
async fn the_idempotency_key_is_required_and_checked() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let long = "k".repeat(256);
    for key in [None, Some(""), Some("has space"), Some(long.as_str())] {
        let response = app
            .post_release(&ada, &fx.slug, key, &release_body("staging"))
            .await;
        problem_naming(response, 422, "Idempotency-Key", format!("{key:?}")).await;
    }
    let ok = "k".repeat(255);
    let response = app
        .post_release(&ada, &fx.slug, Some(&ok), &release_body("staging"))
        .await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_repeat_with_the_same_key_and_body_answers_the_same_release() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let key = new_key();
    let first = release_with_key(&app, &ada, &fx, &key, 201).await;

    // The same JSON written differently is the same request.
    let reordered =
        r#"{ "commit_sha": "0a1b2c3d4e5f",  "branch": "main", "environment": "staging" }"#;
    for _ in 0..2 {
        let again = app
            .as_user(
                &ada,
                Method::POST,
                &format!("/api/projects/{}/releases", fx.slug),
            )
            .header("Idempotency-Key", &key)
            .header("content-type", "application/json")
            .body(reordered)
            .send()
            .await
            .expect("answered");
        assert_eq!(again.status(), 200);
        assert_eq!(
            header(&again, "location"),
            Some(format!("/api/releases/{}", first.id))
        );
        let again: Release = again.json().await.expect("release");
        assert_eq!(again, first);
    }
    assert_stored(&app, 1, 1).await;

    // Keys belong to their user: Grace's identical key is a different request.
    let grace = app.signup("Grace").await;
    app.add_member(&ada, &fx.slug, &grace, Role::Maintainer)
        .await;
    let hers = release_with_key(&app, &grace, &fx, &key, 201).await;
    assert_ne!(hers.id, first.id);
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_409() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let key = new_key();
    release_with_key(&app, &ada, &fx, &key, 201).await;
    let response = app
        .post_release(&ada, &fx.slug, Some(&key), &release_body("production"))
        .await;
    problem_naming(
        response,
        409,
        "Idempotency-Key",
        "the key with another body",
    )
    .await;
    assert_stored(&app, 1, 1).await;
}

#[tokio::test]
async fn a_dynamodb_outage_records_nothing_and_the_key_stays_usable() {
    // Sessions stay verified in memory, so the outage hits the release, not the sign-in.
    let app = TestApp::spawn_setting("FARO_SESSION_CACHE_MS", "60000").await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    // Verified once while DynamoDB is up, so this task remembers the session.
    let me = app.as_user(&ada, Method::GET, "/api/me").send().await;
    assert_eq!(me.expect("answered").status(), 200);
    let (dynamo, table) = (&app.state.dynamo, &*app.state.table);
    dynamo
        .delete_table()
        .table_name(table)
        .send()
        .await
        .expect("table deleted");
    let me = app.as_user(&ada, Method::GET, "/api/me").send().await;
    assert_eq!(
        me.expect("answered").status(),
        200,
        "the session is verified from memory, so what fails below is the release"
    );

    let key = new_key();
    let response = app
        .post_release(&ada, &fx.slug, Some(&key), &release_body("staging"))
        .await;
    let p = problem(response, 503).await;
    assert!(p.detail.unwrap_or_default().contains("DynamoDB"));
    assert_stored(&app, 0, 0).await;

    // Once DynamoDB is back, the same request under the same key is a new release.
    faro_backend::dynamo::ensure_table(dynamo, table)
        .await
        .expect("table created");
    release_with_key(&app, &ada, &fx, &key, 201).await;
    assert_stored(&app, 1, 1).await;
}

#[tokio::test]
async fn concurrent_duplicates_create_one_release_and_one_outbox_row() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let key = new_key();
    let body = release_body("staging");
    let responses = futures_util::future::join_all(
        (0..8).map(|_| app.post_release(&ada, &fx.slug, Some(&key), &body)),
    )
    .await;
    let mut created = 0;
    let mut ids = HashSet::new();
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            200 => {}
            other => panic!("unexpected status {other}"),
        }
        let release: Release = response.json().await.expect("release");
        ids.insert(release.id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    assert_stored(&app, 1, 1).await;
}

/// `who`'s request to `path` (signed out without `who`) carrying an idempotency key and a
/// release body, whatever the route wants: a refusal comes before either matters.
async fn attempt(app: &TestApp, who: Option<&Signed>, method: &Method, path: &str) -> Response {
    let request = app.client.request(method.clone(), app.url(path));
    let request = match who {
        Some(who) => request.bearer_auth(&who.token),
        None => request,
    };
    request
        .header("Idempotency-Key", new_key())
        .json(&release_body("staging"))
        .send()
        .await
        .expect("answered")
}

#[tokio::test]
async fn authorization_matrix() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let (owner, viewer, stranger) = (&team.owner, &team.viewer, &team.outsider);
    let fx = team.project_with_environments(&app).await;

    // Owners and maintainers release; viewers may not.
    let by_owner = app.start_release(owner, &fx, "staging").await;
    let by_maintainer = app.start_release(&team.maintainer, &fx, "staging").await;
    let response = app
        .post_release(viewer, &fx.slug, Some(&new_key()), &release_body("staging"))
        .await;
    problem(response, 403).await;
    problem(app.post_cancel(viewer, by_owner.id).await, 403).await;
    let response = app.post_retry(viewer, by_owner.id, Some(&new_key())).await;
    problem(response, 403).await;
    // Viewers read.
    for path in [
        format!("/api/releases/{}", by_owner.id),
        format!("/api/releases/{}/timeline", by_owner.id),
        format!("/api/projects/{}/releases", fx.slug),
        format!("/api/projects/{}/metrics", fx.slug),
    ] {
        let response = app.call(viewer, Method::GET, &path).await;
        assert_eq!(response.status(), 200, "{path}");
    }

    // A stranger sees nothing: every URL is 404, like a release that does not exist.
    let id = by_maintainer.id;
    let urls = [
        (Method::POST, format!("/api/projects/{}/releases", fx.slug)),
        (Method::GET, format!("/api/projects/{}/releases", fx.slug)),
        (Method::GET, format!("/api/projects/{}/metrics", fx.slug)),
        (Method::GET, format!("/api/releases/{id}")),
        (Method::GET, format!("/api/releases/{id}/timeline")),
        (Method::GET, format!("/api/releases/{id}/events")),
        (Method::POST, format!("/api/releases/{id}/cancel")),
        (Method::POST, format!("/api/releases/{id}/retry")),
    ];
    for (method, path) in &urls {
        problem(attempt(&app, Some(stranger), method, path).await, 404).await;
        if let Some(rest) = path.strip_prefix(&format!("/api/releases/{id}")) {
            let missing = format!("/api/releases/999999{rest}");
            problem(attempt(&app, Some(owner), method, &missing).await, 404).await;
        }
    }
    let recent: Vec<Release> = app.get_as(stranger, "/api/releases").await;
    assert!(recent.is_empty());

    // Signed out: 401 everywhere.
    for (method, path) in urls
        .iter()
        .chain([(Method::GET, "/api/releases".to_owned())].iter())
    {
        problem(attempt(&app, None, method, path).await, 401).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM releases").await, 2);
}

async fn list(app: &TestApp, who: &Signed, slug: &str, query: &str) -> Page<Release> {
    app.get_as(who, &format!("/api/projects/{slug}/releases{query}"))
        .await
}

#[tokio::test]
async fn lists_filter_by_environment_status_and_branch() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let a = app.start_release(&ada, &fx, "staging").await;
    let mut hotfix = release_body("production");
    hotfix["branch"] = json!("hotfix/login");
    let b = app.create_release(&ada, &fx.slug, &hotfix).await;
    let c = app.start_release(&ada, &fx, "production").await;
    app.cancel_release(&ada, c.id).await;

    let ids = |page: &Page<Release>| page.items.iter().map(|r| r.id).collect::<Vec<_>>();
    for (query, expected) in [
        ("", vec![c.id, b.id, a.id]),
        ("?environment=production", vec![c.id, b.id]),
        ("?status=queued", vec![b.id, a.id]),
        ("?status=cancelled", vec![c.id]),
        ("?branch=hotfix%2Flogin", vec![b.id]),
        ("?environment=staging&status=cancelled", vec![]),
    ] {
        let page = list(&app, &ada, &fx.slug, query).await;
        assert_eq!(ids(&page), expected, "{query}");
    }
    let page = list(&app, &ada, &fx.slug, "?limit=2").await;
    assert_eq!(ids(&page), [c.id, b.id]);
    let cursor = page.next_cursor.expect("more");
    let rest = list(&app, &ada, &fx.slug, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&rest), [a.id]);
    assert_eq!(rest.next_cursor, None);

    let releases = format!("/api/projects/{}/releases", fx.slug);
    let cases = [
        ("?status=shipped", "status"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
        ("?colour=red", "colour"),
    ];
    app.expect_invalid_queries(&ada, &releases, &cases).await;
    // Well formed, but naming no environment of the project, no page this API issued: 409.
    for (query, field) in [
        ("?environment=qa", "environment"),
        ("?cursor=nonsense", "cursor"),
    ] {
        let url = format!("{releases}{query}");
        let response = app.call(&ada, Method::GET, &url).await;
        problem_naming(response, 409, field, &url).await;
    }

    // A stranger learns nothing, whatever the parameters.
    let bob = app.signup("Bob").await;
    for query in ["", "?environment=production", "?environment=qa", "?limit=0"] {
        let response = app
            .call(&bob, Method::GET, &format!("{releases}{query}"))
            .await;
        problem(response, 404).await;
    }
}

#[tokio::test]
async fn pages_stay_stable_while_releases_are_inserted() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let mut existing = Vec::new();
    for i in 0..45 {
        existing
            .push(insert_release(&app, &fx, fx.staging, &ada, "queued", &format!("b{i}")).await);
    }
    let writer = {
        let db = app.state.db.clone();
        let fx = fx.clone();
        let user = ada.user.id;
        tokio::spawn(async move {
            for _ in 0..30 {
                insert_release_row(&db, fx.project_id, fx.staging, user, "queued", "new").await;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=7&cursor={c}"),
            None => "?limit=7".to_owned(),
        };
        let page = list(&app, &ada, &fx.slug, &query).await;
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|r| r.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    writer.await.expect("writer");
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, no duplicates: {seen:?}"
    );
    let seen: HashSet<u64> = seen.into_iter().collect();
    for id in existing {
        assert!(seen.contains(&id), "release {id} was skipped");
    }
}

#[tokio::test]
async fn recent_releases_span_the_callers_projects_only() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    let shop = app.project_with_environments(&ada).await;
    let blog = app.project_with_environments(&ada).await;
    let bobs = app.project_with_environments(&bob).await;
    let a = app.start_release(&ada, &shop, "staging").await;
    let b = app.start_release(&ada, &blog, "production").await;
    app.start_release(&bob, &bobs, "staging").await;
    let c = app.start_release(&ada, &shop, "production").await;

    for (query, expected) in [("", vec![c.id, b.id, a.id]), ("?limit=2", vec![c.id, b.id])] {
        let recent: Vec<Release> = app.get_as(&ada, &format!("/api/releases{query}")).await;
        let ids: Vec<u64> = recent.iter().map(|r| r.id).collect();
        assert_eq!(ids, expected, "{query}");
    }
    app.expect_invalid_queries(&ada, "/api/releases", &[("?limit=51", "limit")])
        .await;
}

/// The numbers 1 to 10,000 as a derived table `seq(n)`, without binding any.
const SEQ: &str = "(SELECT a.d + 10 * b.d + 100 * c.d + 1000 * t.d + 1 AS n FROM \
     (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
      UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) a \
     CROSS JOIN (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
      UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b \
     CROSS JOIN (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
      UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c \
     CROSS JOIN (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
      UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) t) seq";

/// Runs one statement of the test's own bulk setup.
async fn bulk(app: &TestApp, sql: &str, binds: &[u64]) {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = query.bind(bind);
    }
    query.execute(&app.state.db).await.expect(sql);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_of_a_member_of_5000_projects_is_one_indexed_query_with_the_right_releases() {
    const PROJECTS: u64 = 5_000;
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let bob = app.join_org(&ada, "Bob", faro_types::OrgRole::Member).await;
    let org_id: u64 = sqlx::query_scalar("SELECT org_id FROM projects WHERE id = ?")
        .bind(fx.project_id)
        .fetch_one(&app.state.db)
        .await
        .expect("org");
    // Bob is a member of 5,000 projects of Ada's organization, each with one environment
    // and one release; Ada's own project (Bob is not in it) gets newer releases after them.
    bulk(
        &app,
        &format!(
            "INSERT INTO projects (org_id, slug, name, sleakops_project, repository_url, \
             default_branch, created_by, created_at, updated_at) \
             SELECT ?, CONCAT('bulk-', n), CONCAT('Bulk ', n), 'shop', 'https://git.example/x', \
             'main', ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) FROM {SEQ} WHERE n <= ?"
        ),
        &[org_id, ada.user.id, PROJECTS],
    )
    .await;
    let bulk_projects = "SELECT id FROM projects WHERE slug LIKE 'bulk-%'";
    bulk(
        &app,
        &format!(
            "INSERT INTO memberships (project_id, user_id, role, created_at) \
             SELECT id, ?, 'viewer', UTC_TIMESTAMP(6) FROM ({bulk_projects}) p"
        ),
        &[bob.user.id],
    )
    .await;
    bulk(
        &app,
        &format!(
            "INSERT INTO environments (project_id, name, sleakops_environment, created_at, updated_at) \
             SELECT id, 'staging', 'staging', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) FROM ({bulk_projects}) p"
        ),
        &[],
    )
    .await;
    bulk(
        &app,
        "INSERT INTO releases (project_id, environment_id, branch, commit_sha, status, \
         requested_by, requested_at, updated_at) \
         SELECT p.id, e.id, 'main', 'abcdef1', 'deployed', ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) \
         FROM projects p JOIN environments e ON e.project_id = p.id \
         WHERE p.slug LIKE 'bulk-%' ORDER BY p.id",
        &[ada.user.id],
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM memberships WHERE user_id = {}",
            bob.user.id
        ))
        .await,
        PROJECTS as i64
    );
    let mut adas = Vec::new();
    for _ in 0..3 {
        adas.push(insert_release(&app, &fx, fx.staging, &ada, "queued", "main").await);
    }
    let bulk_ids: Vec<u64> = sqlx::query_scalar(
        "SELECT r.id FROM releases r JOIN projects p ON p.id = r.project_id \
         WHERE p.slug LIKE 'bulk-%' ORDER BY r.id DESC LIMIT 50",
    )
    .fetch_all(&app.state.db)
    .await
    .expect("ids");

    let recent: Vec<Release> = app.get_as(&bob, "/api/releases?limit=50").await;
    let ids: Vec<u64> = recent.iter().map(|r| r.id).collect();
    assert_eq!(
        ids, bulk_ids,
        "Bob's newest, none of a project he is not in"
    );
    assert!(recent.iter().all(|r| r.project.starts_with("bulk-")));
    // An organization owner sees every project of it, memberships or not.
    let recent: Vec<Release> = app.get_as(&ada, "/api/releases?limit=5").await;
    let ids: Vec<u64> = recent.iter().map(|r| r.id).collect();
    let newest: Vec<u64> = adas
        .iter()
        .rev()
        .copied()
        .chain(bulk_ids[..2].iter().copied())
        .collect();
    assert_eq!(ids, newest);
    // A stranger sees none.
    let stranger = app.signup("Stan").await;
    let recent: Vec<Release> = app.get_as(&stranger, "/api/releases").await;
    assert!(recent.is_empty());

    // The plan reads indexes only, never a whole table.
    sqlx::query("ANALYZE TABLE projects, memberships, org_members, releases")
        .execute(&app.state.db)
        .await
        .expect("analyze");
    let plan = sqlx::query(&format!(
        "EXPLAIN {}",
        faro_backend::releases::store::NEWEST_SEEN_BY
    ))
    .bind(bob.user.id)
    .bind(50u32)
    .fetch_all(&app.state.db)
    .await
    .expect("explain");
    use sqlx::Row;
    for step in &plan {
        let table: Option<String> = step.try_get("table").unwrap_or_default();
        let access: Option<String> = step.try_get("type").unwrap_or_default();
        let key: Option<String> = step.try_get("key").unwrap_or_default();
        let extra: Option<String> = step.try_get("Extra").unwrap_or_default();
        let rows: Option<u64> = step.try_get("rows").ok().flatten().or_else(|| {
            let signed: Option<i64> = step.try_get("rows").ok().flatten();
            signed.map(|n| n.unsigned_abs())
        });
        println!("EXPLAIN {table:?} type={access:?} key={key:?} rows={rows:?} extra={extra:?}");
        if matches!(table.as_deref(), Some("p" | "m" | "om" | "r" | "e" | "u")) {
            assert!(
                key.is_some() && access.as_deref() != Some("ALL"),
                "{table:?} is read by an index: {access:?} {key:?}"
            );
        }
    }
}

#[tokio::test]
async fn timelines_read_in_either_order() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let release = app.start_release(&ada, &fx, "staging").await;
    app.cancel_release(&ada, release.id).await;

    let asc = app.timeline(&ada, release.id, "").await;
    assert_eq!(
        asc.iter()
            .map(|e| (e.seq, e.kind, e.status))
            .collect::<Vec<_>>(),
        [
            (1, EventKind::Requested, ReleaseStatus::Queued),
            (2, EventKind::Cancelled, ReleaseStatus::Cancelled)
        ]
    );
    assert_eq!(app.timeline(&ada, release.id, "?order=asc").await, asc);
    let desc = app.timeline(&ada, release.id, "?order=desc").await;
    assert_eq!(desc, asc.iter().rev().cloned().collect::<Vec<_>>());
    let newest = app.timeline(&ada, release.id, "?order=desc&limit=1").await;
    assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);
    let path = format!("/api/releases/{}/timeline", release.id);
    let cases = [("?order=sideways", "order"), ("?limit=0", "limit")];
    app.expect_invalid_queries(&ada, &path, &cases).await;
}

#[tokio::test]
async fn cancel_is_allowed_until_a_release_finishes() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let queued = app.start_release(&ada, &fx, "staging").await;
    let cancelled = app.cancel_release(&ada, queued.id).await;
    assert_eq!(cancelled.status, ReleaseStatus::Cancelled);
    assert!(cancelled.finished_at.is_some());
    let (done,): (bool,) = sqlx::query_as("SELECT done FROM outbox WHERE release_id = ?")
        .bind(queued.id)
        .fetch_one(&app.state.db)
        .await
        .expect("outbox");
    assert!(done, "the worker has nothing left to do");

    let again = app.post_cancel(&ada, queued.id).await;
    let p = problem_naming(again, 409, "status", "a second cancel").await;
    assert!(p.detail.unwrap_or_default().contains("cancelled"));

    for (status, allowed) in [
        ("building", true),
        ("deploying", true),
        ("deployed", false),
        ("failed", false),
    ] {
        let id = insert_release(&app, &fx, fx.staging, &ada, status, "main").await;
        let response = app.post_cancel(&ada, id).await;
        if allowed {
            assert_eq!(response.status(), 200, "{status}");
        } else {
            let p = problem(response, 409).await;
            assert!(p.detail.unwrap_or_default().contains(status), "{status}");
        }
    }
}

#[tokio::test]
async fn retry_starts_a_new_release_from_a_failed_or_cancelled_one() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let mut tagged = release_body("production");
    tagged["tag"] = json!("v2.0.0");
    tagged["commit_time"] = json!("2026-01-02T03:04:05Z");
    let original = app.create_release(&ada, &fx.slug, &tagged).await;
    let id = original.id;

    // Queued: nothing to retry yet.
    let p = problem(app.post_retry(&ada, id, Some(&new_key())).await, 409).await;
    assert!(p.detail.unwrap_or_default().contains("queued"));

    app.cancel_release(&ada, id).await;
    let response = app.post_retry(&ada, id, None).await;
    problem_naming(response, 422, "Idempotency-Key", "a retry without a key").await;

    let key = new_key();
    let response = app.post_retry(&ada, id, Some(&key)).await;
    let retry: Release = expect_json(response, 201, "the retry").await;
    assert_ne!(retry.id, original.id);
    assert_eq!(retry.retry_of, Some(original.id));
    assert_eq!(retry.status, ReleaseStatus::Queued);
    assert_eq!(
        (
            &retry.environment,
            &retry.branch,
            &retry.commit_sha,
            &retry.tag,
            retry.commit_time
        ),
        (
            &original.environment,
            &original.branch,
            &original.commit_sha,
            &original.tag,
            original.commit_time
        )
    );
    // A repeat answers with the same new release.
    let again = app.post_retry(&ada, id, Some(&key)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Release>().await.expect("release").id, retry.id);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE release_id = {}",
            retry.id
        ))
        .await,
        1
    );
    assert_eq!(
        app.timeline(&ada, retry.id, "").await[0].kind,
        EventKind::Requested
    );
    let old = app.timeline(&ada, original.id, "").await;
    assert_eq!(
        old.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [
            EventKind::Requested,
            EventKind::Cancelled,
            EventKind::Retried
        ]
    );
    assert_eq!(old[2].status, ReleaseStatus::Cancelled);

    // Each write is audited once (a repeat is not a write), with who, what and from where.
    let entries = app.audit(&ada, &fx.slug).await;
    let releases: Vec<(&str, String)> = entries
        .iter()
        .filter(|e| e.action.starts_with("release."))
        .map(|e| (e.action.as_str(), e.target.clone()))
        .collect();
    assert_eq!(
        releases,
        [
            ("release.retry", format!("release:{}", retry.id)),
            ("release.cancel", format!("release:{}", original.id)),
            ("release.create", format!("release:{}", original.id)),
        ]
    );
    for entry in entries.iter().filter(|e| e.action.starts_with("release.")) {
        assert_eq!(
            (entry.actor_id, entry.source_ip.as_str()),
            (ada.user.id, "127.0.0.1")
        );
        assert!(entry.details.is_some(), "{} has details", entry.action);
    }

    // Failed releases retry too; deployed ones do not.
    let failed = insert_release(&app, &fx, fx.staging, &ada, "failed", "main").await;
    let response = app.post_retry(&ada, failed, Some(&new_key())).await;
    assert_eq!(response.status(), 201);
    let deployed = insert_release(&app, &fx, fx.staging, &ada, "deployed", "main").await;
    let p = problem(app.post_retry(&ada, deployed, Some(&new_key())).await, 409).await;
    assert!(p.detail.unwrap_or_default().contains("deployed"));
}

/// Rewrites fields of `who`'s idempotency record for `key`, as a crashed claimant leaves it.
/// Moves the end of the lease on `who`'s claim of `key`.
async fn set_lease(app: &TestApp, who: &Signed, key: &str, lease_until_ms: i64) {
    use aws_sdk_dynamodb::types::AttributeValue;
    app.state
        .dynamo
        .update_item()
        .table_name(&*app.state.table)
        .key(
            "pk",
            AttributeValue::S(format!("IDEMPOTENCY#{}#{key}", who.user.id)),
        )
        .key("sk", AttributeValue::S("IDEMPOTENCY".into()))
        .update_expression("SET #until = :until")
        .expression_attribute_names("#until", "lease_until")
        .expression_attribute_values(":until", AttributeValue::N(lease_until_ms.to_string()))
        .send()
        .await
        .expect("update");
}

#[tokio::test]
async fn a_key_whose_claimant_died_is_taken_over() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let key = new_key();
    let first = release_with_key(&app, &ada, &fx, &key, 201).await;
    let now_ms = Utc::now().timestamp_millis();

    // The claimant's commit failed (or it died before): the key is claimed, no release has it.
    sqlx::query("DELETE FROM releases WHERE id = ?")
        .bind(first.id)
        .execute(&app.state.db)
        .await
        .expect("delete");
    // While its lease lasts it may still be committing: a repeat waits, then gives up.
    set_lease(&app, &ada, &key, now_ms + 60_000).await;
    let started = std::time::Instant::now();
    let response = app
        .post_release(&ada, &fx.slug, Some(&key), &release_body("staging"))
        .await;
    problem_naming(response, 409, "Idempotency-Key", "a key under lease").await;
    assert!(started.elapsed() >= std::time::Duration::from_secs(4));
    // Once the lease is over, the repeat takes the key over and creates the release.
    set_lease(&app, &ada, &key, now_ms - 1).await;
    let second = release_with_key(&app, &ada, &fx, &key, 201).await;
    assert_ne!(second.id, first.id);
    // And from then on the key answers with the new release.
    let again = release_with_key(&app, &ada, &fx, &key, 200).await;
    assert_eq!(again.id, second.id);
    assert_stored(&app, 1, 1).await;
}

#[tokio::test]
async fn a_key_never_creates_two_releases_even_when_its_claim_is_lost() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let key = new_key();
    let first = release_with_key(&app, &ada, &fx, &key, 201).await;
    // The claim is gone (as if a slow request's lease had been taken over and it committed
    // last): the repeat claims the key afresh and reaches its insert, which MySQL refuses.
    app.state
        .dynamo
        .delete_item()
        .table_name(&*app.state.table)
        .key(
            "pk",
            AttributeValue::S(format!("IDEMPOTENCY#{}#{key}", ada.user.id)),
        )
        .key("sk", AttributeValue::S("IDEMPOTENCY".into()))
        .send()
        .await
        .expect("delete");
    // The repeat answers with the release.
    let again = release_with_key(&app, &ada, &fx, &key, 200).await;
    assert_eq!(again.id, first.id);
    assert_stored(&app, 1, 1).await;
    let (events,): (u32,) = sqlx::query_as("SELECT event_seq FROM releases WHERE id = ?")
        .bind(first.id)
        .fetch_one(&app.state.db)
        .await
        .expect("seq");
    assert_eq!(events, 1);
}

#[tokio::test]
async fn the_openapi_document_describes_the_release_routes() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    for (path, methods) in [
        ("/api/projects/{slug}/releases", &["get", "post"][..]),
        ("/api/projects/{slug}/metrics", &["get"]),
        ("/api/releases", &["get"]),
        ("/api/releases/{id}", &["get"]),
        ("/api/releases/{id}/timeline", &["get"]),
        ("/api/releases/{id}/events", &["get"]),
        ("/api/releases/{id}/cancel", &["post"]),
        ("/api/releases/{id}/retry", &["post"]),
    ] {
        for method in methods {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} is documented");
            assert_eq!(op["tags"][0], "releases", "{method} {path}");
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path} documents 401"
            );
        }
    }
    // Every schema the release routes refer to is in the document.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc["paths"], &mut found);
    refs(&doc["components"], &mut found);
    for r in &found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .expect("a schema ref");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} is defined"
        );
    }
    let page = &doc["paths"]["/api/projects/{slug}/releases"]["get"]["responses"]["200"];
    assert!(page.to_string().contains("Page"), "{page}");
    let create = &doc["paths"]["/api/projects/{slug}/releases"]["post"];
    assert!(
        create["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
    );
}
