//! Members: adding by email, changing roles, leaving and removal, the last owner, and user
//! ids from other projects.

use faro_testkit::{Signed, Team, TestApp, problem};
use faro_types::{Member, Page, Project, Role};
use reqwest::Method;
use serde_json::json;

async fn members(app: &TestApp, who: &Signed, slug: &str) -> Vec<(u64, Role)> {
    let members: Vec<Member> = app
        .get_as(who, &format!("/api/projects/{slug}/members"))
        .await;
    members.into_iter().map(|m| (m.user_id, m.role)).collect()
}

#[tokio::test]
async fn add_change_and_remove_members() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    app.create_project(&ada, "shop").await;

    // Emails match whatever their case and surrounding spaces.
    let body = json!({"email": format!("  {}  ", bob.user.email.to_uppercase()), "role": "viewer"});
    let response = app
        .send(
            Some(&ada),
            Method::POST,
            "/api/projects/shop/members",
            Some(&body),
        )
        .await;
    assert_eq!(response.status(), 201);
    let added: Member = response.json().await.expect("member");
    assert_eq!(
        (
            added.user_id,
            added.email.as_str(),
            added.name.as_str(),
            added.role
        ),
        (bob.user.id, bob.user.email.as_str(), "Bob", Role::Viewer)
    );

    // Bob now sees the project, as a viewer.
    let page: Page<Project> = app
        .send(Some(&bob), Method::GET, "/api/projects", None)
        .await
        .json()
        .await
        .expect("page");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].role, Role::Viewer);
    assert_eq!(
        members(&app, &bob, "shop").await,
        [(ada.user.id, Role::Owner), (bob.user.id, Role::Viewer)]
    );

    let path = format!("/api/projects/shop/members/{}", bob.user.id);
    let response = app
        .send(
            Some(&ada),
            Method::PATCH,
            &path,
            Some(&json!({"role": "maintainer"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Member>().await.expect("member").role,
        Role::Maintainer
    );
    // The new role takes effect at once.
    let patch = json!({"name": "By Bob"});
    assert_eq!(
        app.send(
            Some(&bob),
            Method::PATCH,
            "/api/projects/shop",
            Some(&patch)
        )
        .await
        .status(),
        200
    );
    let response = app
        .send(
            Some(&ada),
            Method::PATCH,
            &path,
            Some(&json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    problem(
        app.send(
            Some(&bob),
            Method::PATCH,
            "/api/projects/shop",
            Some(&patch),
        )
        .await,
        403,
    )
    .await;

    assert_eq!(
        app.send(Some(&ada), Method::DELETE, &path, None)
            .await
            .status(),
        204
    );
    problem(
        app.send(Some(&bob), Method::GET, "/api/projects/shop", None)
            .await,
        404,
    )
    .await;
    assert_eq!(
        members(&app, &ada, "shop").await,
        [(ada.user.id, Role::Owner)]
    );
    problem(app.send(Some(&ada), Method::DELETE, &path, None).await, 404).await;
}

#[tokio::test]
async fn adding_members_validates_and_names_the_field() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    app.create_project(&ada, "shop").await;
    let path = "/api/projects/shop/members";

    let body = json!({"email": "nobody@example.com", "role": "viewer"});
    let p = problem(
        app.send(Some(&ada), Method::POST, path, Some(&body)).await,
        422,
    )
    .await;
    assert_eq!(p.field.as_deref(), Some("email"));
    assert_eq!(p.error_for("email"), Some("no account with this email"));

    for (body, field) in [
        (json!({"email": "not-an-email", "role": "viewer"}), "email"),
        (json!({"email": bob.user.email, "role": "admin"}), "role"),
        (json!({"email": bob.user.email}), "role"),
        (json!({"role": "viewer"}), "email"),
        (
            json!({"email": bob.user.email, "role": "viewer", "user_id": 1}),
            "user_id",
        ),
    ] {
        let p = problem(
            app.send(Some(&ada), Method::POST, path, Some(&body)).await,
            422,
        )
        .await;
        assert_eq!(p.field.as_deref(), Some(field), "{body}");
    }

    app.add_member(&ada, "shop", &bob, Role::Viewer).await;
    let body = json!({"email": bob.user.email, "role": "owner"});
    let p = problem(
        app.send(Some(&ada), Method::POST, path, Some(&body)).await,
        409,
    )
    .await;
    assert_eq!(p.field.as_deref(), Some("email"));
    assert_eq!(
        members(&app, &ada, "shop").await,
        [(ada.user.id, Role::Owner), (bob.user.id, Role::Viewer)]
    );

    let member_path = format!("/api/projects/shop/members/{}", bob.user.id);
    for (patch, field) in [
        (json!({"role": "root"}), "role"),
        (json!({}), "role"),
        (json!({"role": "viewer", "email": "x@y.z"}), "email"),
    ] {
        let p = problem(
            app.send(Some(&ada), Method::PATCH, &member_path, Some(&patch))
                .await,
            422,
        )
        .await;
        assert_eq!(p.field.as_deref(), Some(field), "{patch}");
    }
}

#[tokio::test]
async fn the_last_owner_cannot_be_demoted_or_removed() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    app.create_project(&ada, "shop").await;
    let ada_path = format!("/api/projects/shop/members/{}", ada.user.id);
    let bob_path = format!("/api/projects/shop/members/{}", bob.user.id);

    let p = problem(
        app.send(
            Some(&ada),
            Method::PATCH,
            &ada_path,
            Some(&json!({"role": "maintainer"})),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p.field.as_deref(), Some("role"));
    problem(
        app.send(Some(&ada), Method::DELETE, &ada_path, None).await,
        409,
    )
    .await;
    // Re-stating the owner's role is not a demotion.
    assert_eq!(
        app.send(
            Some(&ada),
            Method::PATCH,
            &ada_path,
            Some(&json!({"role": "owner"}))
        )
        .await
        .status(),
        200
    );

    // With a second owner, either may step down, but not both.
    app.add_member(&ada, "shop", &bob, Role::Owner).await;
    let response = app
        .send(
            Some(&ada),
            Method::PATCH,
            &ada_path,
            Some(&json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    problem(
        app.send(
            Some(&bob),
            Method::PATCH,
            &bob_path,
            Some(&json!({"role": "viewer"})),
        )
        .await,
        409,
    )
    .await;
    problem(
        app.send(Some(&bob), Method::DELETE, &bob_path, None).await,
        409,
    )
    .await;
    // Ada, now a viewer, manages nobody.
    problem(
        app.send(
            Some(&ada),
            Method::PATCH,
            &bob_path,
            Some(&json!({"role": "viewer"})),
        )
        .await,
        403,
    )
    .await;
    problem(
        app.send(Some(&ada), Method::DELETE, &bob_path, None).await,
        403,
    )
    .await;
    assert_eq!(
        members(&app, &bob, "shop").await,
        [(ada.user.id, Role::Viewer), (bob.user.id, Role::Owner)]
    );

    // Two owners demoting each other at once: one of them stays an owner.
    let patch = json!({"role": "owner"});
    assert_eq!(
        app.send(Some(&bob), Method::PATCH, &ada_path, Some(&patch))
            .await
            .status(),
        200
    );
    let demote = json!({"role": "maintainer"});
    let (a, b) = tokio::join!(
        app.send(Some(&ada), Method::PATCH, &bob_path, Some(&demote)),
        app.send(Some(&bob), Method::PATCH, &ada_path, Some(&demote)),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert!(matches!(statuses, [200, 403] | [200, 409]), "{statuses:?}");
    let owners = members(&app, &ada, "shop")
        .await
        .into_iter()
        .filter(|(_, r)| *r == Role::Owner)
        .count();
    assert_eq!(owners, 1);
}

#[tokio::test]
async fn any_member_may_leave() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    team.project(&app, "shop").await;
    for who in [&team.viewer, &team.maintainer] {
        let path = format!("/api/projects/shop/members/{}", who.user.id);
        assert_eq!(
            app.send(Some(who), Method::DELETE, &path, None)
                .await
                .status(),
            204
        );
        problem(
            app.send(Some(who), Method::GET, "/api/projects/shop", None)
                .await,
            404,
        )
        .await;
    }
    assert_eq!(
        members(&app, &team.owner, "shop").await,
        [(team.owner.user.id, Role::Owner)]
    );
    let entries: Page<faro_types::AuditEntry> = app
        .send(
            Some(&team.owner),
            Method::GET,
            "/api/projects/shop/audit?limit=2",
            None,
        )
        .await
        .json()
        .await
        .expect("audit");
    let actions: Vec<(&str, &str)> = entries
        .items
        .iter()
        .map(|e| (e.action.as_str(), e.actor_email.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("member.leave", team.maintainer.user.email.as_str()),
            ("member.leave", team.viewer.user.email.as_str())
        ]
    );
}

#[tokio::test]
async fn user_ids_of_other_projects_are_404() {
    let app = TestApp::spawn().await;
    let [ada, bob, carol] = app.signup_each(["Ada", "Bob", "Carol"]).await;
    app.create_project(&ada, "shop").await;
    app.create_project(&bob, "blog").await;
    app.add_member(&bob, "blog", &carol, Role::Viewer).await;

    // Ada owns "shop"; Carol is a member of "blog" only.
    let path = format!("/api/projects/shop/members/{}", carol.user.id);
    problem(
        app.send(
            Some(&ada),
            Method::PATCH,
            &path,
            Some(&json!({"role": "owner"})),
        )
        .await,
        404,
    )
    .await;
    problem(app.send(Some(&ada), Method::DELETE, &path, None).await, 404).await;
    for bad in ["abc", "-1", "99999999999999999999999"] {
        let path = format!("/api/projects/shop/members/{bad}");
        problem(
            app.send(
                Some(&ada),
                Method::PATCH,
                &path,
                Some(&json!({"role": "owner"})),
            )
            .await,
            404,
        )
        .await;
        problem(app.send(Some(&ada), Method::DELETE, &path, None).await, 404).await;
    }
    // Nor through Bob's project, where Ada is nobody.
    let path = format!("/api/projects/blog/members/{}", carol.user.id);
    problem(
        app.send(
            Some(&ada),
            Method::PATCH,
            &path,
            Some(&json!({"role": "owner"})),
        )
        .await,
        404,
    )
    .await;
    problem(app.send(Some(&ada), Method::DELETE, &path, None).await, 404).await;
    problem(
        app.send(Some(&ada), Method::GET, "/api/projects/blog/members", None)
            .await,
        404,
    )
    .await;

    assert_eq!(
        members(&app, &bob, "blog").await,
        [(bob.user.id, Role::Owner), (carol.user.id, Role::Viewer)]
    );
}
