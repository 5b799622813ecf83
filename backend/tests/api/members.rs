//! Members: adding by email, changing roles, leaving and removal, the last owner, and user
//! ids from other projects.

use faro_testkit::{Signed, Team, TestApp, expect_json, problem, problem_naming};
use faro_types::{AuditEntry, Member, Page, Role};
use reqwest::Method;
use serde_json::{Value, json};

/// Each member's user id and role, as `who` sees them.
async fn roles(app: &TestApp, who: &Signed, slug: &str) -> Vec<(u64, Role)> {
    let members = app.members(who, slug).await;
    members.into_iter().map(|m| (m.user_id, m.role)).collect()
}

/// A member patch that sets `role`.
fn role(role: &str) -> Value {
    json!({"role": role})
}

/// Asserts that `who` may neither make `member` of "shop" a viewer nor remove them: both
/// answer `status`.
async fn cannot_demote_or_remove(app: &TestApp, who: &Signed, member: &Signed, status: u16) {
    let id = member.user.id;
    let response = app.patch_member(who, "shop", id, &role("viewer")).await;
    problem(response, status).await;
    problem(app.delete_member(who, "shop", id).await, status).await;
}

#[tokio::test]
async fn add_change_and_remove_members() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    app.create_project(&ada, "shop").await;
    // Only people in the project's organization can be added: Bob accepts Ada's invitation.
    let org = app.own_org(&ada).await.slug;
    app.enlist(&ada, &org, &bob).await;

    // Emails match whatever their case and surrounding spaces.
    let body = json!({"email": format!("  {}  ", bob.user.email.to_uppercase()), "role": "viewer"});
    let response = app.post_member(&ada, "shop", &body).await;
    let added: Member = expect_json(response, 201, "adding Bob").await;
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
    let projects = app.projects(&bob).await;
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].role, Role::Viewer);
    assert_eq!(
        roles(&app, &bob, "shop").await,
        [(ada.user.id, Role::Owner), (bob.user.id, Role::Viewer)]
    );

    let bob_id = bob.user.id;
    let changed = app.set_role(&ada, "shop", bob_id, Role::Maintainer).await;
    assert_eq!(changed.role, Role::Maintainer);
    // The new role takes effect at once.
    let patch = json!({"name": "By Bob"});
    assert_eq!(app.patch_project(&bob, "shop", &patch).await.status(), 200);
    app.set_role(&ada, "shop", bob_id, Role::Viewer).await;
    problem(app.patch_project(&bob, "shop", &patch).await, 403).await;

    assert_eq!(app.delete_member(&ada, "shop", bob_id).await.status(), 204);
    problem(app.get_project(&bob, "shop").await, 404).await;
    assert_eq!(
        roles(&app, &ada, "shop").await,
        [(ada.user.id, Role::Owner)]
    );
    problem(app.delete_member(&ada, "shop", bob_id).await, 404).await;
}

#[tokio::test]
async fn adding_members_validates_and_names_the_field() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    app.create_project(&ada, "shop").await;

    let body = json!({"email": "nobody@example.com", "role": "viewer"});
    let response = app.post_member(&ada, "shop", &body).await;
    // Well formed but naming no one the project could add: a 409, not input the schema refuses.
    let p = problem_naming(response, 409, "email", &body).await;
    let not_in_org = "no member of the project's organization has this email: invite them to \
                      the organization first";
    assert_eq!(p.error_for("email"), Some(not_in_org));
    // An account outside the organization is refused alike: nobody learns who has one.
    let body = json!({"email": bob.user.email, "role": "viewer"});
    let p = problem_naming(
        app.post_member(&ada, "shop", &body).await,
        409,
        "email",
        &body,
    )
    .await;
    assert_eq!(p.error_for("email"), Some(not_in_org));

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
        let response = app.post_member(&ada, "shop", &body).await;
        problem_naming(response, 422, field, &body).await;
    }

    app.add_member(&ada, "shop", &bob, Role::Viewer).await;
    let body = json!({"email": bob.user.email, "role": "owner"});
    let response = app.post_member(&ada, "shop", &body).await;
    problem_naming(response, 409, "email", &body).await;
    assert_eq!(
        roles(&app, &ada, "shop").await,
        [(ada.user.id, Role::Owner), (bob.user.id, Role::Viewer)]
    );

    for (patch, field) in [
        (json!({"role": "root"}), "role"),
        (json!({}), "role"),
        (json!({"role": "viewer", "email": "x@y.z"}), "email"),
    ] {
        let response = app.patch_member(&ada, "shop", bob.user.id, &patch).await;
        problem_naming(response, 422, field, &patch).await;
    }
}

#[tokio::test]
async fn the_last_owner_cannot_be_demoted_or_removed() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.signup_each(["Ada", "Bob"]).await;
    app.create_project(&ada, "shop").await;
    let (ada_id, bob_id) = (ada.user.id, bob.user.id);

    let response = app
        .patch_member(&ada, "shop", ada_id, &role("maintainer"))
        .await;
    problem_naming(response, 409, "role", "the last owner's demotion").await;
    problem(app.delete_member(&ada, "shop", ada_id).await, 409).await;
    // Re-stating the owner's role is not a demotion.
    app.set_role(&ada, "shop", ada_id, Role::Owner).await;

    // With a second owner, either may step down, but not both.
    app.add_member(&ada, "shop", &bob, Role::Owner).await;
    app.set_role(&ada, "shop", ada_id, Role::Viewer).await;
    cannot_demote_or_remove(&app, &bob, &bob, 409).await;
    // Ada, now a viewer, manages nobody.
    // A viewer manages nobody. (Ada, the organization's owner, still runs the project:
    // organization owners act as every project's owner.)
    let carol = app.signup("Carol").await;
    app.add_member(&ada, "shop", &carol, Role::Viewer).await;
    cannot_demote_or_remove(&app, &carol, &bob, 403).await;
    assert_eq!(
        roles(&app, &bob, "shop").await,
        [
            (ada_id, Role::Viewer),
            (bob_id, Role::Owner),
            (carol.user.id, Role::Viewer)
        ]
    );

    // Two owners demoting each other at once: one of them stays an owner.
    app.set_role(&bob, "shop", ada_id, Role::Owner).await;
    let demote = role("maintainer");
    let (a, b) = tokio::join!(
        app.patch_member(&ada, "shop", bob_id, &demote),
        app.patch_member(&bob, "shop", ada_id, &demote),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert!(matches!(statuses, [200, 403] | [200, 409]), "{statuses:?}");
    let owners = roles(&app, &ada, "shop")
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
        let response = app.delete_member(who, "shop", who.user.id).await;
        assert_eq!(response.status(), 204);
        problem(app.get_project(who, "shop").await, 404).await;
    }
    assert_eq!(
        roles(&app, &team.owner, "shop").await,
        [(team.owner.user.id, Role::Owner)]
    );
    let entries: Page<AuditEntry> = app
        .get_as(&team.owner, "/api/projects/shop/audit?limit=2")
        .await;
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

    // Ada owns "shop"; Carol is a member of "blog" only. The failures name the URL.
    let carol_id = carol.user.id.to_string();
    for (slug, user) in [
        ("shop", carol_id.as_str()),
        // Nor are ids that are no ids.
        ("shop", "abc"),
        ("shop", "-1"),
        ("shop", "99999999999999999999999"),
        // Nor through Bob's project, where Ada is nobody.
        ("blog", carol_id.as_str()),
    ] {
        let response = app.patch_member(&ada, slug, user, &role("owner")).await;
        problem(response, 404).await;
        problem(app.delete_member(&ada, slug, user).await, 404).await;
    }
    let response = app
        .call(&ada, Method::GET, "/api/projects/blog/members")
        .await;
    problem(response, 404).await;

    assert_eq!(
        roles(&app, &bob, "blog").await,
        [(bob.user.id, Role::Owner), (carol.user.id, Role::Viewer)]
    );
}
