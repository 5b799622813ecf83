//! Projects: CRUD, validation, pagination, the audit log, and the authorization matrix of
//! every route under `/api/projects`.

use faro_testkit::{Signed, Team, TestApp, fixtures::project_body, problem, problem_naming};
use faro_types::{AuditEntry, Page, Project, Role};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn create_get_update_and_delete_a_project() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;

    let created = app.create_project(&ada, "shop-api").await;
    assert_eq!(created.slug, "shop-api");
    assert_eq!(created.name, "Project shop-api");
    assert_eq!(created.sleakops_project, "shop");
    assert_eq!(created.repository_url, "https://github.com/acme/shop");
    assert_eq!(created.default_branch, "main");
    assert_eq!(created.role, Role::Owner);

    assert_eq!(app.project(&ada, "shop-api").await, created);

    // The creator is the owner, in the member list too.
    let members = app.members(&ada, "shop-api").await;
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].user_id, members[0].role),
        (ada.user.id, Role::Owner)
    );

    let patch = json!({"name": "  Shop API  ", "default_branch": "develop", "repository_url": "git@github.com:acme/shop.git"});
    let updated = app.update_project(&ada, "shop-api", &patch).await;
    assert_eq!(updated.name, "Shop API", "names are stored trimmed");
    assert_eq!(updated.default_branch, "develop");
    assert_eq!(updated.repository_url, "git@github.com:acme/shop.git");
    assert_eq!(
        updated.sleakops_project, "shop",
        "absent fields do not change"
    );
    assert!(updated.updated_at > created.updated_at);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(app.project(&ada, "shop-api").await, updated);

    // Deleting takes environments and memberships with it.
    app.create_environment(&ada, "shop-api", "staging", false)
        .await;
    let response = app.delete_project(&ada, "shop-api").await;
    assert_eq!(response.status(), 204);
    problem(app.get_project(&ada, "shop-api").await, 404).await;
    for table in ["environments", "memberships"] {
        let sql = format!(
            "SELECT COUNT(*) FROM {table} WHERE project_id = {}",
            created.id
        );
        assert_eq!(app.count(&sql).await, 0, "{table} rows cascade");
    }
    // The slug is free again.
    app.create_project(&ada, "shop-api").await;
}

#[tokio::test]
async fn every_invalid_field_is_named() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;

    let bad = json!({
        "slug": "Shop_API",
        "name": " ",
        "sleakops_project": "has space",
        "repository_url": "ftp://example.com/x",
        "default_branch": "bad..branch",
    });
    let p = problem(app.post_project(&ada, &bad).await, 422).await;
    let mut fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "default_branch",
            "name",
            "repository_url",
            "sleakops_project",
            "slug"
        ]
    );

    // One field at a time, including missing, mistyped and unknown ones.
    let cases: Vec<(Value, &str)> = vec![
        (json!({"slug": "a"}), "slug"),
        (json!({"slug": "x".repeat(65)}), "slug"),
        (json!({"name": "n".repeat(101)}), "name"),
        (json!({"default_branch": "-x"}), "default_branch"),
        (json!({"repository_url": 7}), "repository_url"),
        (json!({"owner_id": 1}), "owner_id"),
        (json!({"role": "owner"}), "role"),
    ];
    for (change, field) in cases {
        let mut body = project_body("shop");
        for (k, v) in change.as_object().expect("object") {
            body[k] = v.clone();
        }
        problem_naming(app.post_project(&ada, &body).await, 422, field, &body).await;
    }
    let mut body = project_body("shop");
    body.as_object_mut()
        .expect("object")
        .remove("default_branch");
    let response = app.post_project(&ada, &body).await;
    problem_naming(response, 422, "default_branch", &body).await;

    // Nothing was created by any of them.
    assert!(app.projects(&ada).await.is_empty());

    app.create_project(&ada, "shop").await;
    for (patch, field) in [
        (json!({"slug": "other"}), "slug"),
        (json!({"name": ""}), "name"),
        (json!({"default_branch": "a b"}), "default_branch"),
        (json!({"repository_url": "nope"}), "repository_url"),
        (json!({"sleakops_project": "a/b"}), "sleakops_project"),
        (json!({"created_by": 5}), "created_by"),
    ] {
        let response = app.patch_project(&ada, "shop", &patch).await;
        problem_naming(response, 422, field, &patch).await;
    }
}

#[tokio::test]
async fn a_duplicate_slug_is_409_naming_slug() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    app.create_project(&ada, "shop").await;
    let response = app.post_project(&bob, &project_body("shop")).await;
    problem_naming(response, 409, "slug", "a taken slug").await;
    // Bob got nothing half-made: no project, no membership.
    assert!(app.projects(&bob).await.is_empty());
}

#[tokio::test]
async fn an_empty_patch_returns_the_project_unchanged() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let created = app.create_project(&ada, "shop").await;
    assert_eq!(app.update_project(&ada, "shop", &json!({})).await, created);
    // Same values are no change either.
    let same = json!({"name": created.name, "default_branch": "main"});
    assert_eq!(app.update_project(&ada, "shop", &same).await, created);
    let actions: Vec<String> = app
        .audit(&ada, "shop")
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["project.create"], "no-op patches are not audited");
}

#[tokio::test]
async fn only_owners_set_sleakops_project() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    team.project(&app, "shop").await;

    // A maintainer may change the rest, but not where deployments go.
    let patch = json!({"name": "Renamed", "sleakops_project": "elsewhere"});
    let response = app.patch_project(&team.maintainer, "shop", &patch).await;
    problem_naming(response, 403, "sleakops_project", &patch).await;
    let project = app.project(&team.owner, "shop").await;
    assert_eq!(
        (project.name.as_str(), project.sleakops_project.as_str()),
        ("Project shop", "shop"),
        "nothing half-written"
    );

    // Sending the current value back is not a change.
    let patch = json!({"name": "Renamed", "sleakops_project": "shop"});
    let project = app.update_project(&team.maintainer, "shop", &patch).await;
    assert_eq!(project.role, Role::Maintainer, "the role is the caller's");

    let patch = json!({"sleakops_project": "elsewhere"});
    let project = app.update_project(&team.owner, "shop", &patch).await;
    assert_eq!(project.sleakops_project, "elsewhere");
}

async fn page_of(app: &TestApp, who: &Signed, query: &str) -> Page<Project> {
    app.get_as(who, &format!("/api/projects{query}")).await
}

#[tokio::test]
async fn the_list_shows_only_the_callers_projects_in_stable_pages() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    for slug in ["p-c", "p-a", "p-e", "p-g", "p-b"] {
        app.create_project(&ada, slug).await;
    }
    app.create_project(&bob, "p-bob-only").await;
    app.create_project(&bob, "p-d").await;
    app.add_member(&bob, "p-d", &ada, Role::Viewer).await;

    // Page through two at a time, inserting projects on both sides of the cursor meanwhile.
    let mut seen: Vec<Project> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let page = page_of(&app, &ada, &query).await;
        assert!(page.items.len() <= 2);
        seen.extend(page.items);
        pages += 1;
        if pages == 2 {
            app.create_project(&ada, "p-0-before").await; // sorts before the cursor
            app.create_project(&ada, "p-f").await; // sorts after it
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let slugs: Vec<&str> = seen.iter().map(|p| p.slug.as_str()).collect();
    assert_eq!(
        slugs,
        ["p-a", "p-b", "p-c", "p-d", "p-e", "p-f", "p-g"],
        "complete, ordered, no repeats"
    );
    assert_eq!(pages, 4);
    let bobs = seen.iter().find(|p| p.slug == "p-d").expect("p-d");
    assert_eq!(bobs.role, Role::Viewer);

    // Unpaged, the default limit covers everything; the last page has no cursor.
    let page = page_of(&app, &ada, "").await;
    assert_eq!(page.items.len(), 8);
    assert_eq!(page.next_cursor, None);
    let page = page_of(&app, &ada, "?limit=8&cursor=").await;
    assert_eq!(
        (page.items.len(), page.next_cursor),
        (8, None),
        "an empty cursor is the first page"
    );
    // Exactly a full page: the cursor leads to an empty last page, never a lost item.
    let page = page_of(&app, &ada, "?limit=4").await;
    let rest = page_of(
        &app,
        &ada,
        &format!("?limit=4&cursor={}", page.next_cursor.expect("more")),
    )
    .await;
    assert_eq!(rest.items.len(), 4);

    let page = page_of(&app, &bob, "").await;
    let slugs: Vec<&str> = page.items.iter().map(|p| p.slug.as_str()).collect();
    assert_eq!(slugs, ["p-bob-only", "p-d"]);
}

#[tokio::test]
async fn bad_paging_parameters_are_named() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    app.create_project(&ada, "shop").await;
    let cases = [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
        ("?limit=-1", "limit"),
        ("?offset=10", "offset"),
    ];
    for path in ["/api/projects", "/api/projects/shop/audit"] {
        app.expect_invalid_queries(&ada, path, &cases).await;
        // A cursor this API did not issue is a string like any other to the document: 409.
        for cursor in ["zz", "41"] {
            let url = format!("{path}?cursor={cursor}");
            let response = app.call(&ada, Method::GET, &url).await;
            problem_naming(response, 409, "cursor", &url).await;
        }
    }
    assert_eq!(page_of(&app, &ada, "?limit=100").await.items.len(), 1);
}

#[tokio::test]
async fn writes_are_audited_with_who_and_from_where() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    team.project(&app, "shop").await;
    let patch = json!({"name": "Shop"});
    app.update_project(&team.maintainer, "shop", &patch).await;
    app.create_environment(&team.maintainer, "shop", "staging", false)
        .await;
    let viewer = team.viewer.user.id;
    app.set_role(&team.owner, "shop", viewer, Role::Maintainer)
        .await;

    // Any member reads it, newest first.
    let entries = app.audit(&team.viewer, "shop").await;
    let summary: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.actor_email.as_str(), e.target.as_str()))
        .collect();
    let viewer_target = format!("user:{}", team.viewer.user.id);
    let maintainer_target = format!("user:{}", team.maintainer.user.id);
    assert_eq!(
        summary,
        [
            (
                "member.update",
                team.owner.user.email.as_str(),
                viewer_target.as_str()
            ),
            (
                "environment.create",
                team.maintainer.user.email.as_str(),
                "environment:staging"
            ),
            (
                "project.update",
                team.maintainer.user.email.as_str(),
                "project:shop"
            ),
            (
                "member.add",
                team.owner.user.email.as_str(),
                viewer_target.as_str()
            ),
            (
                "member.add",
                team.owner.user.email.as_str(),
                maintainer_target.as_str()
            ),
            (
                "project.create",
                team.owner.user.email.as_str(),
                "project:shop"
            ),
        ]
    );
    for entry in &entries {
        assert_eq!(entry.source_ip, "127.0.0.1");
        assert!(entry.actor_id > 0);
        assert!(entry.details.is_some(), "{} has details", entry.action);
    }
    let update: Value =
        serde_json::from_str(entries[2].details.as_deref().expect("details")).expect("json");
    assert_eq!(
        update,
        json!({"name": "Shop"}),
        "details name the changed fields"
    );
    let role: Value =
        serde_json::from_str(entries[0].details.as_deref().expect("details")).expect("json");
    assert_eq!(role, json!({"role": "maintainer"}));

    // Pages of two cover the same entries.
    let mut paged = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let response = app
            .send(
                Some(&team.owner),
                Method::GET,
                &format!("/api/projects/shop/audit{query}"),
                None,
            )
            .await;
        let page: Page<AuditEntry> = response.json().await.expect("page");
        paged.extend(page.items);
        match page.next_cursor {
            Some(c) => query = format!("?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, entries);

    // Another project's log is not reachable, and failed writes leave no entries.
    let response = app
        .call(&team.outsider, Method::GET, "/api/projects/shop/audit")
        .await;
    problem(response, 404).await;
    let patch = json!({"name": "Nope"});
    problem(app.patch_project(&team.outsider, "shop", &patch).await, 404).await;
    assert_eq!(app.audit(&team.owner, "shop").await.len(), entries.len());

    // A deletion is recorded in the project's log.
    assert_eq!(app.delete_project(&team.owner, "shop").await.status(), 204);
}

/// Who calls, in the order of the expected statuses in [`Case`].
#[derive(Debug, Clone, Copy)]
enum Caller {
    Owner,
    Maintainer,
    Viewer,
    Outsider,
    SignedOut,
}

const CALLERS: [Caller; 5] = [
    Caller::Owner,
    Caller::Maintainer,
    Caller::Viewer,
    Caller::Outsider,
    Caller::SignedOut,
];

struct Case {
    method: Method,
    /// `{p}` is the project's slug, `{extra}` the user id of a viewer other than the caller.
    path: &'static str,
    body: Option<Value>,
    /// The status for the owner, maintainer, viewer, outsider and a signed-out caller.
    expect: [u16; 5],
}

fn case(method: Method, path: &'static str, body: Option<Value>, expect: [u16; 5]) -> Case {
    Case {
        method,
        path,
        body,
        expect,
    }
}

/// Every route under `/api/projects`, for every kind of caller. A write expected to succeed
/// gets a fresh project so it cannot disturb later rows; everything else shares one project
/// (and must leave it as it was).
#[tokio::test]
async fn authorization_matrix_of_every_route() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let [extra, newcomer] = app.signup_each(["Extra", "Newcomer"]).await;
    // Project members come from the owner's organization.
    let org = app.own_org(&team.owner).await.slug;
    app.enlist(&team.owner, &org, &newcomer).await;
    let mut fresh = 0;
    let setup = |slug: String| {
        let (app, team, extra) = (&app, &team, &extra);
        async move {
            team.project(app, &slug).await;
            app.add_member(&team.owner, &slug, extra, Role::Viewer)
                .await;
            app.create_environment(&team.owner, &slug, "staging", false)
                .await;
            app.create_environment(&team.owner, &slug, "prod", true)
                .await;
            slug
        }
    };
    let shared = setup("shared".to_owned()).await;

    let cases = [
        case(
            Method::GET,
            "/api/projects",
            None,
            [200, 200, 200, 200, 401],
        ),
        case(
            Method::POST,
            "/api/projects",
            Some(project_body("{new}")),
            // Projects are created by an organization's admins and owners: the team's
            // maintainer and viewer are members of the owner's organization; the outsider
            // owns one of their own.
            [201, 403, 403, 201, 401],
        ),
        case(
            Method::GET,
            "/api/projects/{p}",
            None,
            [200, 200, 200, 404, 401],
        ),
        case(
            Method::PATCH,
            "/api/projects/{p}",
            Some(json!({"name": "Renamed"})),
            [200, 200, 403, 404, 401],
        ),
        case(
            Method::DELETE,
            "/api/projects/{p}",
            None,
            [204, 403, 403, 404, 401],
        ),
        case(
            Method::GET,
            "/api/projects/{p}/environments",
            None,
            [200, 200, 200, 404, 401],
        ),
        case(
            Method::POST,
            "/api/projects/{p}/environments",
            Some(json!({"name": "qa", "sleakops_environment": "qa"})),
            [201, 201, 403, 404, 401],
        ),
        case(
            Method::GET,
            "/api/projects/{p}/environments/staging",
            None,
            [200, 200, 200, 404, 401],
        ),
        case(
            Method::PATCH,
            "/api/projects/{p}/environments/staging",
            Some(json!({"sleakops_environment": "stg"})),
            [200, 200, 403, 404, 401],
        ),
        case(
            Method::DELETE,
            "/api/projects/{p}/environments/staging",
            None,
            [204, 204, 403, 404, 401],
        ),
        case(
            Method::DELETE,
            "/api/projects/{p}/environments/prod",
            None,
            [204, 403, 403, 404, 401],
        ),
        case(
            Method::GET,
            "/api/projects/{p}/members",
            None,
            [200, 200, 200, 404, 401],
        ),
        case(
            Method::POST,
            "/api/projects/{p}/members",
            Some(json!({"email": newcomer.user.email, "role": "viewer"})),
            [201, 403, 403, 404, 401],
        ),
        case(
            Method::PATCH,
            "/api/projects/{p}/members/{extra}",
            Some(json!({"role": "maintainer"})),
            [200, 403, 403, 404, 401],
        ),
        case(
            Method::DELETE,
            "/api/projects/{p}/members/{extra}",
            None,
            [204, 403, 403, 404, 401],
        ),
        case(
            Method::GET,
            "/api/projects/{p}/audit",
            None,
            [200, 200, 200, 404, 401],
        ),
    ];

    for case in &cases {
        for (caller, expected) in CALLERS.iter().zip(case.expect) {
            let mutates = case.method != Method::GET && (200..300).contains(&expected);
            let slug = if mutates && case.path.contains("{p}") {
                fresh += 1;
                setup(format!("fresh-{fresh}")).await
            } else {
                shared.clone()
            };
            fresh += 1;
            let path = case
                .path
                .replace("{p}", &slug)
                .replace("{extra}", &extra.user.id.to_string());
            let body = case.body.as_ref().map(|b| {
                let text = b.to_string().replace("{new}", &format!("new-{fresh}"));
                serde_json::from_str::<Value>(&text).expect("json")
            });
            let who = match caller {
                Caller::Owner => Some(&team.owner),
                Caller::Maintainer => Some(&team.maintainer),
                Caller::Viewer => Some(&team.viewer),
                Caller::Outsider => Some(&team.outsider),
                Caller::SignedOut => None,
            };
            let response = app
                .send(who, case.method.clone(), &path, body.as_ref())
                .await;
            let status = response.status().as_u16();
            assert_eq!(status, expected, "{caller:?} {} {}", case.method, case.path);
            if status >= 400 {
                problem(response, expected).await;
            }
        }
    }

    // The refused writes left the shared project as it was.
    let project = app.project(&team.owner, "shared").await;
    assert_eq!(project.name, "Project shared");
    let envs = app.environments(&team.owner, "shared").await;
    let names: Vec<(&str, &str)> = envs
        .iter()
        .map(|e| (e.name.as_str(), e.sleakops_environment.as_str()))
        .collect();
    assert_eq!(names, [("prod", "prod-env"), ("staging", "staging-env")]);
    let members = app.members(&team.owner, "shared").await;
    let roles: Vec<(u64, Role)> = members.iter().map(|m| (m.user_id, m.role)).collect();
    assert_eq!(
        roles,
        [
            (team.owner.user.id, Role::Owner),
            (team.maintainer.user.id, Role::Maintainer),
            (team.viewer.user.id, Role::Viewer),
            (extra.user.id, Role::Viewer),
        ]
    );
}
