//! Environments: CRUD, validation, the production flag only owners may set, and the
//! history a deletion must not destroy.

use faro_testkit::{Team, TestApp, problem};
use faro_types::{Environment, Role};
use reqwest::Method;
use serde_json::json;

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
    let response = app
        .send(
            Some(&ada),
            Method::POST,
            "/api/projects/shop/environments",
            Some(&body),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert!(
        !response
            .json::<Environment>()
            .await
            .expect("environment")
            .production
    );

    let listed: Vec<Environment> = app.get_as(&ada, "/api/projects/shop/environments").await;
    let names: Vec<&str> = listed.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["dev", "prod", "staging"], "ordered by name");

    let response = app
        .send(
            Some(&ada),
            Method::GET,
            "/api/projects/shop/environments/staging",
            None,
        )
        .await;
    assert_eq!(
        response.json::<Environment>().await.expect("environment"),
        staging
    );

    let patch = json!({"sleakops_environment": "stg-2", "production": true});
    let response = app
        .send(
            Some(&ada),
            Method::PATCH,
            "/api/projects/shop/environments/staging",
            Some(&patch),
        )
        .await;
    assert_eq!(response.status(), 200);
    let updated: Environment = response.json().await.expect("environment");
    assert_eq!(
        (updated.sleakops_environment.as_str(), updated.production),
        ("stg-2", true)
    );
    assert!(updated.updated_at > staging.updated_at);
    let response = app
        .send(
            Some(&ada),
            Method::GET,
            "/api/projects/shop/environments/staging",
            None,
        )
        .await;
    assert_eq!(
        response.json::<Environment>().await.expect("environment"),
        updated
    );
    // An empty patch changes nothing.
    let response = app
        .send(
            Some(&ada),
            Method::PATCH,
            "/api/projects/shop/environments/staging",
            Some(&json!({})),
        )
        .await;
    assert_eq!(
        response.json::<Environment>().await.expect("environment"),
        updated
    );

    let response = app
        .send(
            Some(&ada),
            Method::DELETE,
            "/api/projects/shop/environments/staging",
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    problem(
        app.send(
            Some(&ada),
            Method::GET,
            "/api/projects/shop/environments/staging",
            None,
        )
        .await,
        404,
    )
    .await;
    problem(
        app.send(
            Some(&ada),
            Method::DELETE,
            "/api/projects/shop/environments/staging",
            None,
        )
        .await,
        404,
    )
    .await;
    problem(
        app.send(
            Some(&ada),
            Method::PATCH,
            "/api/projects/shop/environments/staging",
            Some(&json!({})),
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn invalid_environment_fields_are_named() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    app.create_project(&ada, "shop").await;
    app.create_environment(&ada, "shop", "staging", false).await;

    let bad = json!({"name": "Staging!", "sleakops_environment": ""});
    let p = problem(
        app.send(
            Some(&ada),
            Method::POST,
            "/api/projects/shop/environments",
            Some(&bad),
        )
        .await,
        422,
    )
    .await;
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
        let p = problem(
            app.send(
                Some(&ada),
                Method::POST,
                "/api/projects/shop/environments",
                Some(&body),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(p.field.as_deref(), Some(field), "{body}");
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
        let path = "/api/projects/shop/environments/staging";
        let p = problem(
            app.send(Some(&ada), Method::PATCH, path, Some(&patch))
                .await,
            422,
        )
        .await;
        assert_eq!(p.field.as_deref(), Some(field), "{patch}");
    }
    let response = app
        .send(
            Some(&ada),
            Method::GET,
            "/api/projects/shop/environments",
            None,
        )
        .await;
    assert_eq!(
        response
            .json::<Vec<Environment>>()
            .await
            .expect("environments")
            .len(),
        1
    );
}

#[tokio::test]
async fn a_duplicate_environment_name_is_409_naming_name() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    app.create_project(&ada, "shop").await;
    app.create_project(&ada, "blog").await;
    app.create_environment(&ada, "shop", "staging", false).await;
    let body = json!({"name": "staging", "sleakops_environment": "other"});
    let p = problem(
        app.send(
            Some(&ada),
            Method::POST,
            "/api/projects/shop/environments",
            Some(&body),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p.field.as_deref(), Some("name"));
    // Names are per project.
    app.create_environment(&ada, "blog", "staging", false).await;
}

#[tokio::test]
async fn only_owners_decide_what_is_production() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    team.project(&app, "shop").await;
    let maintainer = Some(&team.maintainer);

    let body = json!({"name": "prod", "sleakops_environment": "prod", "production": true});
    let p = problem(
        app.send(
            maintainer,
            Method::POST,
            "/api/projects/shop/environments",
            Some(&body),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(p.field.as_deref(), Some("production"));
    problem(
        app.send(
            maintainer,
            Method::GET,
            "/api/projects/shop/environments/prod",
            None,
        )
        .await,
        404,
    )
    .await;
    // Not production: fine, also said explicitly.
    let body = json!({"name": "staging", "sleakops_environment": "stg", "production": false});
    assert_eq!(
        app.send(
            maintainer,
            Method::POST,
            "/api/projects/shop/environments",
            Some(&body)
        )
        .await
        .status(),
        201
    );
    app.create_environment(&team.owner, "shop", "prod", true)
        .await;

    // Changing the flag either way is the owner's; sending the current value is no change.
    let path = "/api/projects/shop/environments/staging";
    let patch = json!({"sleakops_environment": "stg-2", "production": true});
    let p = problem(
        app.send(maintainer, Method::PATCH, path, Some(&patch))
            .await,
        403,
    )
    .await;
    assert_eq!(p.field.as_deref(), Some("production"));
    let staging: Environment = app
        .send(maintainer, Method::GET, path, None)
        .await
        .json()
        .await
        .expect("environment");
    assert_eq!(
        (staging.sleakops_environment.as_str(), staging.production),
        ("stg", false),
        "nothing half-written"
    );
    let patch = json!({"sleakops_environment": "stg-2", "production": false});
    assert_eq!(
        app.send(maintainer, Method::PATCH, path, Some(&patch))
            .await
            .status(),
        200
    );
    let prod_path = "/api/projects/shop/environments/prod";
    let p = problem(
        app.send(
            maintainer,
            Method::PATCH,
            prod_path,
            Some(&json!({"production": false})),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(p.field.as_deref(), Some("production"));
    // A maintainer may still rename where a production environment deploys to.
    let patch = json!({"sleakops_environment": "prod-2"});
    assert_eq!(
        app.send(maintainer, Method::PATCH, prod_path, Some(&patch))
            .await
            .status(),
        200
    );

    // Deleting production is the owner's too.
    problem(
        app.send(maintainer, Method::DELETE, prod_path, None).await,
        403,
    )
    .await;
    assert_eq!(
        app.send(Some(&team.owner), Method::DELETE, prod_path, None)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.send(maintainer, Method::DELETE, path, None)
            .await
            .status(),
        204
    );

    // A viewer writes nothing, whatever the body.
    let body = json!({"name": "qa", "sleakops_environment": "qa"});
    problem(
        app.send(
            Some(&team.viewer),
            Method::POST,
            "/api/projects/shop/environments",
            Some(&body),
        )
        .await,
        403,
    )
    .await;

    let owner_role = app
        .send(Some(&team.owner), Method::GET, "/api/projects/shop", None)
        .await;
    assert_eq!(
        owner_role
            .json::<faro_types::Project>()
            .await
            .expect("project")
            .role,
        Role::Owner
    );
}

#[tokio::test]
async fn an_environment_with_releases_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let project = app.create_project(&ada, "shop").await;
    let staging = app.create_environment(&ada, "shop", "staging", false).await;
    let now = faro_backend::db::now();
    sqlx::query(
        "INSERT INTO releases (project_id, environment_id, branch, commit_sha, status, \
         requested_by, requested_at, updated_at) VALUES (?, ?, 'main', 'abc1234', 'deployed', ?, ?, ?)",
    )
    .bind(project.id)
    .bind(staging.id)
    .bind(ada.user.id)
    .bind(now)
    .bind(now)
    .execute(&app.state.db)
    .await
    .expect("a release");

    let path = "/api/projects/shop/environments/staging";
    let p = problem(app.send(Some(&ada), Method::DELETE, path, None).await, 409).await;
    assert!(p.detail.unwrap_or_default().contains("releases"));
    assert_eq!(
        app.send(Some(&ada), Method::GET, path, None).await.status(),
        200
    );
    // The project itself may go, releases and all.
    assert_eq!(
        app.send(Some(&ada), Method::DELETE, "/api/projects/shop", None)
            .await
            .status(),
        204
    );
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM releases")
        .fetch_one(&app.state.db)
        .await
        .expect("count");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn environment_names_resolve_only_within_their_project() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    app.create_project(&ada, "shop").await;
    app.create_project(&bob, "blog").await;
    app.create_environment(&bob, "blog", "qa", false).await;

    // Ada's project has no "qa": Bob's is not reachable through her URL.
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({"sleakops_environment": "stolen"}));
        problem(
            app.send(
                Some(&ada),
                method.clone(),
                "/api/projects/shop/environments/qa",
                body.as_ref(),
            )
            .await,
            404,
        )
        .await;
        problem(
            app.send(
                Some(&ada),
                method,
                "/api/projects/blog/environments/qa",
                body.as_ref(),
            )
            .await,
            404,
        )
        .await;
    }
    let qa: Environment = app
        .send(
            Some(&bob),
            Method::GET,
            "/api/projects/blog/environments/qa",
            None,
        )
        .await
        .json()
        .await
        .expect("environment");
    assert_eq!(qa.sleakops_environment, "qa-env");
}
