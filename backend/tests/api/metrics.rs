//! `GET /api/projects/{slug}/metrics`: DORA figures from releases inserted at chosen times,
//! checked against figures computed by hand.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use faro_testkit::{ProjectWithEnvironments, Signed, TestApp};
use faro_types::{DeliveryMetrics, EnvironmentMetrics, Window};
use std::collections::BTreeMap;

struct Row {
    env: u64,
    status: &'static str,
    requested_at: DateTime<Utc>,
    commit_time: Option<DateTime<Utc>>,
    deployed_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    deployment_id: Option<&'static str>,
    /// The release this one rolled back.
    rollback_of: Option<u64>,
    /// When an owner approved or rejected it.
    decided_at: Option<DateTime<Utc>>,
}

/// Inserts `row`: its id.
async fn insert(app: &TestApp, fx: &ProjectWithEnvironments, who: &Signed, row: Row) -> u64 {
    sqlx::query(
        "INSERT INTO releases (project_id, environment_id, branch, commit_sha, commit_time, status, \
         sleakops_deployment_id, requested_by, requested_at, deployed_at, finished_at, updated_at, \
         rollback_of, decided_at) \
         VALUES (?, ?, 'main', 'abcdef1', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(fx.project_id)
    .bind(row.env)
    .bind(row.commit_time)
    .bind(row.status)
    .bind(row.deployment_id)
    .bind(who.user.id)
    .bind(row.requested_at)
    .bind(row.deployed_at)
    .bind(row.finished_at)
    .bind(row.requested_at)
    .bind(row.rollback_of)
    .bind(row.decided_at)
    .execute(&app.state.db)
    .await
    .expect("release")
    .last_insert_id()
}

fn deployed(env: u64, at: DateTime<Utc>, lead_secs: i64, with_commit_time: bool) -> Row {
    let origin = at - Duration::seconds(lead_secs);
    Row {
        env,
        status: "deployed",
        // With a commit time, lead time counts from it and the later request time is ignored.
        requested_at: if with_commit_time {
            at - Duration::seconds(5)
        } else {
            origin
        },
        commit_time: with_commit_time.then_some(origin),
        deployed_at: Some(at),
        finished_at: Some(at),
        deployment_id: Some("dep-1"),
        rollback_of: None,
        decided_at: None,
    }
}

fn failed(env: u64, at: DateTime<Utc>, deployment_started: bool) -> Row {
    Row {
        env,
        status: "failed",
        requested_at: at - Duration::seconds(300),
        commit_time: None,
        deployed_at: None,
        finished_at: Some(at),
        deployment_id: deployment_started.then_some("dep-2"),
        rollback_of: None,
        decided_at: None,
    }
}

async fn metrics(app: &TestApp, who: &Signed, slug: &str, query: &str) -> DeliveryMetrics {
    app.get_as(who, &format!("/api/projects/{slug}/metrics{query}"))
        .await
}

fn env<'a>(m: &'a DeliveryMetrics, name: &str) -> &'a EnvironmentMetrics {
    m.environments
        .iter()
        .find(|e| e.environment == name)
        .unwrap_or_else(|| panic!("environment {name} is listed"))
}

#[tokio::test]
async fn figures_match_hand_computed_ones() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    app.create_environment(&ada, &fx.slug, "qa", false).await;
    let base = Utc::now() - Duration::days(3);
    let minutes = |m: i64| base + Duration::minutes(m);
    let put = |row: Row| insert(&app, &fx, &ada, row);

    // Staging: ten deployments an hour apart with lead times 100..1000 s, alternately from
    // the commit time and from the request time.
    let mut deployed_days: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for k in 0..10 {
        let at = minutes(60 * k);
        put(deployed(fx.staging, at, (k + 1) * 100, k % 2 == 0)).await;
        *deployed_days.entry(at.date_naive()).or_default() += 1;
    }
    // Failed deployments: restored after 50 min (at 10, next success at 60), 30 min (150 →
    // 180), 10 min (530 → 540); one at 600 not restored yet.
    let mut failed_days: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for m in [10, 150, 530, 600] {
        put(failed(fx.staging, minutes(m), true)).await;
        *failed_days.entry(minutes(m).date_naive()).or_default() += 1;
    }
    // A build failure (no deployment started) is no failed deployment.
    put(failed(fx.staging, minutes(200), false)).await;
    // Queued and cancelled releases count for nothing (the cancelled one has finished).
    for (status, at, finished) in [("queued", 20, false), ("cancelled", 25, true)] {
        let row = deployed(fx.staging, minutes(at), 10, false);
        let finished_at = row.finished_at.filter(|_| finished);
        put(Row {
            status,
            deployed_at: None,
            finished_at,
            ..row
        })
        .await;
    }
    // Ten days ago: outside 7d, inside 30d.
    put(deployed(
        fx.staging,
        Utc::now() - Duration::days(10),
        5000,
        true,
    ))
    .await;
    // Production: one deployment, after staging's last failure (which it does not restore).
    put(deployed(fx.production, minutes(700), 42, false)).await;

    let week = metrics(&app, &ada, &fx.slug, "?window=7d").await;
    assert_eq!(week.window, Window::Days7);
    assert_eq!(
        week.environments
            .iter()
            .map(|e| e.environment.as_str())
            .collect::<Vec<_>>(),
        ["production", "qa", "staging"]
    );
    let staging = env(&week, "staging");
    assert!(!staging.production);
    assert_eq!(staging.deployments, 10);
    assert_eq!(staging.failed_deployments, 4);
    assert!((staging.deployments_per_day - 10.0 / 7.0).abs() < 1e-9);
    // Nearest rank: median = 5th of 10, p90 = 9th of 10.
    assert_eq!(staging.lead_time_median_secs, Some(500));
    assert_eq!(staging.lead_time_p90_secs, Some(900));
    assert!((staging.change_failure_rate.expect("rate") - 4.0 / 14.0).abs() < 1e-9);
    // Restores of 3000, 1800 and 600 s: the median is 1800.
    assert_eq!(staging.time_to_restore_median_secs, Some(1800));
    assert_eq!(staging.daily.len(), 7);
    let today = Utc::now().date_naive();
    assert_eq!(staging.daily.last().map(|d| d.date), Some(today));
    assert_eq!(staging.daily[0].date, today - Duration::days(6));
    for day in &staging.daily {
        assert_eq!(
            day.deployments,
            deployed_days.get(&day.date).copied().unwrap_or(0),
            "{}",
            day.date
        );
        assert_eq!(
            day.failures,
            failed_days.get(&day.date).copied().unwrap_or(0),
            "{}",
            day.date
        );
    }

    let production = env(&week, "production");
    assert!(production.production);
    assert_eq!(
        (production.deployments, production.failed_deployments),
        (1, 0)
    );
    assert_eq!(production.lead_time_median_secs, Some(42));
    assert_eq!(production.lead_time_p90_secs, Some(42));
    assert_eq!(production.change_failure_rate, Some(0.0));
    assert_eq!(production.time_to_restore_median_secs, None);

    let qa = env(&week, "qa");
    assert_eq!((qa.deployments, qa.failed_deployments), (0, 0));
    assert_eq!(qa.deployments_per_day, 0.0);
    assert_eq!(
        (qa.lead_time_median_secs, qa.lead_time_p90_secs),
        (None, None)
    );
    assert_eq!(
        (qa.change_failure_rate, qa.time_to_restore_median_secs),
        (None, None)
    );
    assert_eq!(qa.daily.len(), 7);
    assert!(
        qa.daily
            .iter()
            .all(|d| d.deployments == 0 && d.failures == 0)
    );

    // Thirty days take in the old deployment: 11 lead times, median the 6th, p90 the 10th.
    let month = metrics(&app, &ada, &fx.slug, "").await;
    assert_eq!(month.window, Window::Days30);
    let staging = env(&month, "staging");
    assert_eq!(staging.deployments, 11);
    assert_eq!(staging.lead_time_median_secs, Some(600));
    assert_eq!(staging.lead_time_p90_secs, Some(1000));
    assert_eq!(staging.daily.len(), 30);
    assert_eq!(staging.daily.iter().map(|d| d.deployments).sum::<u64>(), 11);
    assert_eq!(
        env(
            &metrics(&app, &ada, &fx.slug, "?window=90d").await,
            "staging"
        )
        .daily
        .len(),
        90
    );
}

#[tokio::test]
async fn a_rolled_back_release_is_a_failed_change_restored_by_its_rollback() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let base = Utc::now() - Duration::days(2);
    let minutes = |m: i64| base + Duration::minutes(m);
    let put = |row: Row| insert(&app, &fx, &ada, row);

    let good = put(deployed(fx.staging, minutes(0), 60, false)).await;
    let bad = put(deployed(fx.staging, minutes(60), 60, false)).await;
    // Deployed 40 minutes after the release it replaces.
    let rollback = minutes(100);
    put(Row {
        rollback_of: Some(bad),
        ..deployed(fx.staging, rollback, 60, false)
    })
    .await;
    // A rollback still on its way replaces nothing yet.
    put(Row {
        status: "deploying",
        deployed_at: None,
        finished_at: None,
        rollback_of: Some(good),
        ..deployed(fx.staging, minutes(120), 60, false)
    })
    .await;

    let week = metrics(&app, &ada, &fx.slug, "?window=7d").await;
    let staging = env(&week, "staging");
    assert_eq!(
        (staging.deployments, staging.failed_deployments),
        (3, 1),
        "the rollback is a deployment, the release it replaced a failed change"
    );
    // Three deployments, one of which failed: the rolled-back release is counted once.
    assert!((staging.change_failure_rate.expect("rate") - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(staging.time_to_restore_median_secs, Some(40 * 60));
    let day = |date| {
        staging
            .daily
            .iter()
            .find(|d| d.date == date)
            .expect("a day")
    };
    assert_eq!(
        day(rollback.date_naive()).failures,
        1,
        "on the rollback's day"
    );
    assert_eq!(staging.daily.iter().map(|d| d.failures).sum::<u64>(), 1);
}

#[tokio::test]
async fn the_approval_wait_is_the_median_of_approved_releases_only() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let at = Utc::now() - Duration::days(1);
    let put = |row: Row| insert(&app, &fx, &ada, row);
    let waiting = |wait_secs: i64, status: &'static str| Row {
        status,
        requested_at: at - Duration::seconds(wait_secs),
        decided_at: Some(at),
        deployed_at: (status == "deployed").then_some(at + Duration::seconds(30)),
        finished_at: (status != "queued").then_some(at + Duration::seconds(30)),
        ..deployed(fx.production, at, 0, false)
    };
    // Approved: two deployed since, one still queued. Waits 60, 600 and 6000 s.
    put(waiting(60, "deployed")).await;
    put(waiting(600, "deployed")).await;
    put(waiting(6000, "queued")).await;
    // Rejected (a decision, but no approval) and expired (no decision): no wait, nothing else.
    put(waiting(5, "rejected")).await;
    put(waiting(7, "rejected")).await;
    put(Row {
        decided_at: None,
        ..waiting(9000, "expired")
    })
    .await;
    // Decided before the window.
    put(Row {
        decided_at: Some(at - Duration::days(20)),
        ..waiting(1, "queued")
    })
    .await;

    let week = metrics(&app, &ada, &fx.slug, "?window=7d").await;
    let production = env(&week, "production");
    assert_eq!(production.approval_wait_median_secs, Some(600));
    assert_eq!(
        (production.deployments, production.failed_deployments),
        (2, 0),
        "rejected and expired releases are neither deployments nor failures"
    );
    assert_eq!(env(&week, "staging").approval_wait_median_secs, None);
}

#[tokio::test]
async fn the_window_is_validated() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let cases = [
        ("?window=1d", "window"),
        ("?window=", "window"),
        ("?span=7d", "span"),
    ];
    let path = format!("/api/projects/{}/metrics", fx.slug);
    app.expect_invalid_queries(&ada, &path, &cases).await;
    let empty = metrics(&app, &ada, &fx.slug, "?window=7d").await;
    assert_eq!(empty.environments.len(), 2);
}
