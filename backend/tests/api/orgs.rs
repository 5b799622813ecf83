//! Organizations: one's own at sign-up, invitations as the only way in, roles, the sealed
//! SleakOps key, and what an outsider can and cannot reach.

use faro_sim::{Projects, key_fingerprint};
use faro_testkit::{
    Signed, Sims, TestApp, expect_json, fixtures::release_body, problem, problem_naming,
};
use faro_types::{
    AuditEntry, Invitation, InvitationPreview, InvitationStatus, OrgRole, Organization, Page,
    Project, Release, ReleaseStatus, SleakopsKeyStatus,
};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

/// An app wired to simulators whose builds and deployments move quickly.
async fn app_with_sims() -> (TestApp, Sims) {
    let sims = Sims::start(Duration::from_millis(40)).await;
    let app = TestApp::builder().sims(&sims).spawn().await;
    (app, sims)
}

/// A fresh SleakOps account on the simulator that owns `project` with `environments`.
fn sleakops_account(sims: &Sims, project: &str, environments: &[&str]) -> String {
    let projects = Projects::new().with(project, environments.iter().copied());
    sims.sleakops.control.create_account(projects)
}

async fn org_audit(app: &TestApp, who: &Signed, org: &str) -> Vec<AuditEntry> {
    let page: Page<AuditEntry> = app
        .get_as(who, &format!("/api/orgs/{org}/audit?limit=100"))
        .await;
    page.items
}

#[tokio::test]
async fn signing_up_creates_an_organization_of_ones_own() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let org = app.own_org(&ada).await;
    assert_eq!(org.name, "Ada's organization");
    assert_eq!(org.slug, "ada-s-organization");
    assert_eq!(org.role, OrgRole::Owner);
    assert_eq!(org.sleakops_key, SleakopsKeyStatus::default());

    // The same name again gets a slug of its own; a chosen name is kept.
    let other = app.signup("Ada").await;
    assert_eq!(app.own_org(&other).await.slug, "ada-s-organization-2");
    let body = json!({"email": "grace@example.com", "password": faro_testkit::PASSWORD,
        "name": "Grace", "organization": "Navy Labs"});
    let response = app
        .send(None, Method::POST, "/api/auth/signup", Some(&body))
        .await;
    assert_eq!(response.status(), 201);
    let token = response.json::<serde_json::Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let grace = app.session(&token).await;
    let navy = app.own_org(&grace).await;
    assert_eq!(
        (navy.slug.as_str(), navy.name.as_str()),
        ("navy-labs", "Navy Labs")
    );

    // Nobody sees anyone else's organization.
    problem(app.get(&format!("/api/orgs/{}", navy.slug)).await, 401).await;
    let path = format!("/api/orgs/{}", navy.slug);
    problem(app.call(&ada, Method::GET, &path).await, 404).await;
}

#[tokio::test]
async fn owners_rename_and_delete_organizations_without_projects() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let response = app
        .post_org(&ada, &json!({"slug": "acme", "name": "Acme"}))
        .await;
    let acme: Organization = expect_json(response, 201, "create acme").await;
    assert_eq!(acme.role, OrgRole::Owner);
    let taken = app
        .post_org(&ada, &json!({"slug": "acme", "name": "Again"}))
        .await;
    problem_naming(taken, 409, "slug", "a taken slug").await;
    let invalid = app
        .post_org(&ada, &json!({"slug": "Acme!", "name": ""}))
        .await;
    problem(invalid, 422).await;
    assert_eq!(app.orgs(&ada).await.len(), 2);

    // An admin manages members but not the organization itself.
    let bob = app.signup("Bob").await;
    app.enlist(&ada, "acme", &bob).await;
    let patch = json!({"role": "admin"});
    let path = format!("/api/orgs/acme/members/{}", bob.user.id);
    let response = app
        .send(Some(&ada), Method::PATCH, &path, Some(&patch))
        .await;
    assert_eq!(response.status(), 200);
    let rename = json!({"name": "Acme Inc."});
    let response = app
        .send(Some(&bob), Method::PATCH, "/api/orgs/acme", Some(&rename))
        .await;
    problem(response, 403).await;
    let response = app
        .send(Some(&ada), Method::PATCH, "/api/orgs/acme", Some(&rename))
        .await;
    let renamed: Organization = expect_json(response, 200, "rename").await;
    assert_eq!(renamed.name, "Acme Inc.");

    let mut body = faro_testkit::fixtures::project_body("rockets");
    body["organization"] = json!("acme");
    assert_eq!(
        app.post_project(&bob, &body).await.status(),
        201,
        "admins create projects"
    );
    problem(app.call(&bob, Method::DELETE, "/api/orgs/acme").await, 403).await;
    problem(app.call(&ada, Method::DELETE, "/api/orgs/acme").await, 409).await;
    assert_eq!(app.delete_project(&ada, "rockets").await.status(), 204);
    assert_eq!(
        app.call(&ada, Method::DELETE, "/api/orgs/acme")
            .await
            .status(),
        204
    );
    problem(app.call(&bob, Method::GET, "/api/orgs/acme").await, 404).await;
    let actions: Vec<String> = org_audit(&app, &ada, &app.own_org(&ada).await.slug)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["org.create"]);
}

#[tokio::test]
async fn an_invitation_is_accepted_once_by_the_invited_email_only() {
    let app = TestApp::spawn().await;
    let [ada, bob, eve] = app.signup_each(["Ada", "Bob", "Eve"]).await;
    let org = app.own_org(&ada).await.slug;
    let invitation = app
        .invite(&ada, &org, &bob.user.email.to_uppercase(), OrgRole::Member)
        .await;
    assert_eq!(
        invitation.accept_path,
        format!("/invitations/{}", invitation.token)
    );
    assert_eq!(
        invitation.invitation.email, bob.user.email,
        "stored normalized"
    );

    // The link's holder sees what it is for, signed in or not.
    let preview: InvitationPreview = expect_json(
        app.get(&format!("/api/invitations/{}", invitation.token))
            .await,
        200,
        "preview",
    )
    .await;
    assert_eq!(
        (preview.organization.as_str(), preview.role),
        (org.as_str(), OrgRole::Member)
    );
    assert_eq!(preview.invited_by.as_deref(), Some(ada.user.email.as_str()));
    problem(
        app.get(&format!("/api/invitations/{}", "0".repeat(64)))
            .await,
        404,
    )
    .await;
    problem(app.get("/api/invitations/not-a-token").await, 404).await;

    // Someone else holding the link cannot use it; the invited person can, once.
    problem(app.post_accept(&eve, &invitation.token).await, 403).await;
    let joined: Organization = expect_json(
        app.post_accept(&bob, &invitation.token).await,
        200,
        "accept",
    )
    .await;
    assert_eq!(
        (joined.slug.as_str(), joined.role),
        (org.as_str(), OrgRole::Member)
    );
    problem(app.post_accept(&bob, &invitation.token).await, 409).await;
    problem(
        app.get(&format!("/api/invitations/{}", invitation.token))
            .await,
        409,
    )
    .await;

    // Members do not invite; admins do not invite owners; a member cannot be invited again.
    let body = json!({"email": "x@example.com", "role": "member"});
    problem(app.post_invitation(&bob, &org, &body).await, 403).await;
    let again = json!({"email": bob.user.email, "role": "admin"});
    problem_naming(
        app.post_invitation(&ada, &org, &again).await,
        409,
        "email",
        "again",
    )
    .await;

    // A revoked link no longer works, and the list says what became of each.
    let second = app
        .invite(&ada, &org, "carol@example.com", OrgRole::Admin)
        .await;
    let path = format!("/api/orgs/{org}/invitations/{}", second.invitation.id);
    assert_eq!(app.call(&ada, Method::DELETE, &path).await.status(), 204);
    let body = json!({"email": "carol@example.com", "password": faro_testkit::PASSWORD,
        "name": "Carol", "invitation": second.token});
    let response = app
        .send(None, Method::POST, "/api/auth/signup", Some(&body))
        .await;
    problem(response, 409).await;
    let listed: Vec<Invitation> = app
        .get_as(&ada, &format!("/api/orgs/{org}/invitations"))
        .await;
    let statuses: Vec<InvitationStatus> = listed.iter().map(|i| i.status).collect();
    assert_eq!(
        statuses,
        [InvitationStatus::Revoked, InvitationStatus::Accepted]
    );
    problem(
        app.call(&bob, Method::GET, &format!("/api/orgs/{org}/invitations"))
            .await,
        403,
    )
    .await;

    let actions: Vec<String> = org_audit(&app, &ada, &org)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "org.invitation.revoke",
            "org.invitation.create",
            "org.invitation.accept",
            "org.invitation.create",
            "org.create"
        ]
    );
    let audit = serde_json::to_string(&org_audit(&app, &ada, &org).await).expect("json");
    assert!(
        !audit.contains(&invitation.token),
        "no token in the audit log"
    );
}

#[tokio::test]
async fn signing_up_with_an_invitation_joins_that_organization_instead() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let org = app.own_org(&ada).await.slug;
    let bob = app.join_org(&ada, "Bob", OrgRole::Admin).await;
    let orgs = app.orgs(&bob).await;
    assert_eq!(orgs.len(), 1, "no organization of Bob's own");
    assert_eq!(
        (orgs[0].slug.as_str(), orgs[0].role),
        (org.as_str(), OrgRole::Admin)
    );

    // An invitation for another e-mail, or no invitation at all, creates no account.
    let invitation = app
        .invite(&ada, &org, "dan@example.com", OrgRole::Member)
        .await;
    let body = json!({"email": "mallory@example.com", "password": faro_testkit::PASSWORD,
        "name": "Mallory", "invitation": invitation.token});
    let response = app
        .send(None, Method::POST, "/api/auth/signup", Some(&body))
        .await;
    problem_naming(response, 403, "invitation", "another e-mail").await;
    let body = json!({"email": "mallory@example.com", "password": faro_testkit::PASSWORD,
        "name": "Mallory", "invitation": "f".repeat(64)});
    let response = app
        .send(None, Method::POST, "/api/auth/signup", Some(&body))
        .await;
    problem_naming(response, 409, "invitation", "unknown token").await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'mallory@example.com'")
            .await,
        0
    );
}

#[tokio::test]
async fn organization_admins_run_every_project_and_members_see_only_their_own() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let org = app.own_org(&ada).await.slug;
    let admin = app.join_org(&ada, "Admin", OrgRole::Admin).await;
    let member = app.join_org(&ada, "Member", OrgRole::Member).await;
    let outsider = app.signup("Outsider").await;
    app.create_project(&ada, "shop").await;
    app.create_project(&ada, "blog").await;
    use faro_types::Role::{Owner, Viewer};
    app.add_member(&ada, "blog", &member, Viewer).await;

    let seen = |projects: Vec<Project>| -> Vec<(String, faro_types::Role)> {
        projects.into_iter().map(|p| (p.slug, p.role)).collect()
    };
    assert_eq!(
        seen(app.projects(&admin).await),
        [("blog".to_owned(), Owner), ("shop".to_owned(), Owner)]
    );
    assert_eq!(
        seen(app.projects(&member).await),
        [("blog".to_owned(), Viewer)]
    );
    assert!(app.projects(&outsider).await.is_empty());
    problem(app.get_project(&member, "shop").await, 404).await;
    problem(app.get_project(&outsider, "blog").await, 404).await;
    let patch = json!({"name": "Admin's shop"});
    assert_eq!(
        app.patch_project(&admin, "shop", &patch).await.status(),
        200
    );
    let filtered: Page<Project> = app
        .get_as(&admin, &format!("/api/projects?organization={org}"))
        .await;
    assert_eq!(filtered.items.len(), 2);
    let elsewhere: Page<Project> = app
        .get_as(&outsider, &format!("/api/projects?organization={org}"))
        .await;
    assert!(elsewhere.items.is_empty());

    // Members create no projects; an organization is named when one has several.
    let body = faro_testkit::fixtures::project_body("members-shop");
    problem_naming(
        app.post_project(&member, &body).await,
        403,
        "organization",
        "member",
    )
    .await;
    app.post_org(&ada, &json!({"slug": "second", "name": "Second"}))
        .await;
    let body = faro_testkit::fixtures::project_body("ambiguous");
    problem_naming(
        app.post_project(&ada, &body).await,
        409,
        "organization",
        "two orgs",
    )
    .await;

    // Only people in the organization become project members, and leaving it ends them.
    let body = json!({"email": outsider.user.email, "role": "viewer"});
    problem_naming(
        app.post_member(&ada, "shop", &body).await,
        409,
        "email",
        "outsider",
    )
    .await;
    let path = format!("/api/orgs/{org}/members/{}", member.user.id);
    assert_eq!(app.call(&admin, Method::DELETE, &path).await.status(), 204);
    problem(app.get_project(&member, "blog").await, 404).await;
    assert_eq!(app.members(&ada, "blog").await.len(), 1);

    // The last owner stays; an admin does not touch owners.
    let path = format!("/api/orgs/{org}/members/{}", ada.user.id);
    problem(app.call(&ada, Method::DELETE, &path).await, 409).await;
    problem(app.call(&admin, Method::DELETE, &path).await, 403).await;
    let demote = json!({"role": "member"});
    problem(
        app.send(Some(&ada), Method::PATCH, &path, Some(&demote))
            .await,
        409,
    )
    .await;
}

#[tokio::test]
async fn the_sleakops_key_is_verified_sealed_and_never_shown() {
    let (app, sims) = app_with_sims().await;
    let ada = app.signup("Ada").await;
    let org = app.own_org(&ada).await.slug;
    let key = sleakops_account(&sims, "shop", &["staging", "production"]);

    let bad = app
        .put_sleakops_key(&ada, &org, "sim-so-not-a-real-key")
        .await;
    problem_naming(bad, 409, "api_key", "a key SleakOps refuses").await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sleakops_keys").await,
        0,
        "nothing stored"
    );

    let member = app.join_org(&ada, "Member", OrgRole::Admin).await;
    problem(app.put_sleakops_key(&member, &org, &key).await, 403).await;

    let response = app.put_sleakops_key(&ada, &org, &key).await;
    let status: SleakopsKeyStatus = expect_json(response, 200, "set the key").await;
    let last4 = &key[key.len() - 4..];
    assert_eq!(status.last4.as_deref(), Some(last4));
    let seen = app.own_org(&ada).await.sleakops_key;
    assert!(seen.configured);
    assert_eq!(seen.set_by.as_deref(), Some(ada.user.email.as_str()));

    // At rest: sealed bytes, no piece of the key but its last four characters.
    let (ciphertext, stored_last4): (Vec<u8>, String) =
        sqlx::query_as("SELECT ciphertext, last4 FROM sleakops_keys")
            .fetch_one(&app.state.db)
            .await
            .expect("one row");
    assert_eq!(stored_last4, last4);
    let raw = String::from_utf8_lossy(&ciphertext);
    assert!(
        !raw.contains(&key[..12]) && !raw.contains(&key[8..]),
        "sealed"
    );
    for answer in [
        serde_json::to_string(&app.orgs(&ada).await).expect("json"),
        serde_json::to_string(&org_audit(&app, &ada, &org).await).expect("json"),
    ] {
        assert!(!answer.contains(&key[..key.len() - 4]), "{answer}");
    }

    // What the key reaches is what the forms offer and the server accepts.
    let reach: Vec<faro_types::SleakopsProject> = app
        .get_as(&member, &format!("/api/orgs/{org}/sleakops/projects"))
        .await;
    assert_eq!(reach.len(), 1);
    assert_eq!(reach[0].environments, ["production", "staging"]);
    let mut body = faro_testkit::fixtures::project_body("shop");
    body["sleakops_project"] = json!("someone-elses");
    problem_naming(
        app.post_project(&ada, &body).await,
        409,
        "sleakops_project",
        "unreached",
    )
    .await;
    app.create_project(&ada, "shop").await;
    let env = json!({"name": "qa", "sleakops_environment": "qa"});
    let response = app.post_environment(&ada, "shop", &env).await;
    problem_naming(response, 409, "sleakops_environment", "unreached env").await;
    let env = json!({"name": "staging", "sleakops_environment": "staging"});
    assert_eq!(app.post_environment(&ada, "shop", &env).await.status(), 201);

    let cached = app.state.external.sleakops.len();
    let path = format!("/api/orgs/{org}/sleakops-key");
    let response = app.call(&ada, Method::DELETE, &path).await;
    assert_eq!(response.status(), 204);
    assert!(!app.own_org(&ada).await.sleakops_key.configured);
    assert_eq!(
        app.state.external.sleakops.len(),
        cached - 1,
        "the removed key's client and breaker are dropped"
    );
    let response = app
        .post_release(&ada, "shop", Some("k-1"), &release_body("staging"))
        .await;
    let refused = problem_naming(response, 409, "environment", "no key").await;
    assert!(
        refused.errors[0].message.contains("no SleakOps API key"),
        "{refused:?}"
    );
}

/// Waits until release `id` is final.
async fn final_release(app: &TestApp, who: &Signed, id: u64) -> Release {
    let started = Instant::now();
    loop {
        let release = app.release(who, id).await;
        if release.status.is_final() {
            return release;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "release {id} never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_outsider_cannot_release_to_another_organizations_sleakops_project() {
    let (app, sims) = app_with_sims().await;
    // The victim's organization deploys SleakOps project "payments" with its own key.
    let victim = app.signup("Victim").await;
    let victim_org = app.own_org(&victim).await.slug;
    let victim_key = sleakops_account(&sims, "payments", &["production"]);
    assert_eq!(
        app.put_sleakops_key(&victim, &victim_org, &victim_key)
            .await
            .status(),
        200
    );
    let mut body = faro_testkit::fixtures::project_body("payments");
    body["sleakops_project"] = json!("payments");
    assert_eq!(app.post_project(&victim, &body).await.status(), 201);
    let env = json!({"name": "production", "sleakops_environment": "production", "production": true,
            // This test is about whose SleakOps key is used, not about approvals.
            "requires_approval": false});
    assert_eq!(
        app.post_environment(&victim, "payments", &env)
            .await
            .status(),
        201
    );
    let victim_requests = || sims.sleakops.control.requests_by_key(&victim_key);
    let before = victim_requests();

    // An outsider signs up and names the victim's SleakOps project and environment.
    let outsider = app.signup("Outsider").await;
    let outsider_org = app.own_org(&outsider).await.slug;
    let mut body = faro_testkit::fixtures::project_body("heist");
    body["sleakops_project"] = json!("payments");
    assert_eq!(
        app.post_project(&outsider, &body).await.status(),
        201,
        "no key to check yet"
    );
    let env = json!({"name": "prod", "sleakops_environment": "production", "production": true,
        "requires_approval": false});
    assert_eq!(
        app.post_environment(&outsider, "heist", &env)
            .await
            .status(),
        201
    );

    // Path 1: release without a key of their own: refused, nothing queued.
    let response = app
        .post_release(&outsider, "heist", Some("h-1"), &release_body("prod"))
        .await;
    problem_naming(response, 409, "environment", "no key").await;

    // Path 2: the victim's organization, its projects and its key are out of sight.
    for path in [
        format!("/api/orgs/{victim_org}"),
        format!("/api/orgs/{victim_org}/sleakops/projects"),
        format!("/api/orgs/{victim_org}/members"),
        "/api/projects/payments".to_owned(),
        "/api/projects/payments/environments".to_owned(),
    ] {
        problem(app.call(&outsider, Method::GET, &path).await, 404).await;
    }
    let response = app
        .put_sleakops_key(&outsider, &victim_org, "sim-so-anything-at-all")
        .await;
    problem(response, 404).await;
    let mut body = faro_testkit::fixtures::project_body("inside-job");
    body["organization"] = json!(victim_org);
    problem_naming(
        app.post_project(&outsider, &body).await,
        409,
        "organization",
        "theirs",
    )
    .await;
    let response = app
        .post_release(
            &outsider,
            "payments",
            Some("h-2"),
            &release_body("production"),
        )
        .await;
    problem(response, 404).await;
    let invite = json!({"email": outsider.user.email, "role": "owner"});
    problem(
        app.post_invitation(&outsider, &victim_org, &invite).await,
        404,
    )
    .await;

    // Path 3: with a key of their own, SleakOps itself refuses the victim's project: the
    // listing refuses new names at once, and a release of the old project fails at SleakOps.
    let outsider_key = sleakops_account(&sims, "heist-app", &["prod"]);
    assert_eq!(
        app.put_sleakops_key(&outsider, &outsider_org, &outsider_key)
            .await
            .status(),
        200
    );
    let mut body = faro_testkit::fixtures::project_body("heist-2");
    body["sleakops_project"] = json!("payments");
    let response = app.post_project(&outsider, &body).await;
    problem_naming(response, 409, "sleakops_project", "unreached").await;

    let release: Release = expect_json(
        app.post_release(&outsider, "heist", Some("h-3"), &release_body("prod"))
            .await,
        201,
        "queued with the outsider's own key",
    )
    .await;
    let ended = final_release(&app, &outsider, release.id).await;
    assert_eq!(
        ended.status,
        ReleaseStatus::Failed,
        "{:?}",
        ended.failure_reason
    );

    assert_eq!(
        victim_requests(),
        before,
        "no request carried the victim's key"
    );
    assert!(sims.sleakops.control.requests_by_key(&outsider_key) > 0);
    let stats: serde_json::Value = reqwest::get(format!(
        "{}/_sim/stats",
        sims.sleakops.base_url.trim_end_matches("/api/")
    ))
    .await
    .expect("stats")
    .json()
    .await
    .expect("json");
    let by_key = stats["by_key"].to_string();
    assert!(!by_key.contains(&victim_key), "stats never show a key");
    assert_eq!(
        stats["by_key"][key_fingerprint(&victim_key)]
            .as_u64()
            .unwrap_or(0),
        before
    );
}

#[tokio::test]
async fn an_idempotency_key_never_replays_a_release_of_another_project() {
    let (app, _sims) = app_with_sims().await;
    let (ada, first) = app.signup_with_project("Ada").await;
    let second = app.project_with_environments(&ada).await;
    let made: Release = expect_json(
        app.post_release(
            &ada,
            &first.slug,
            Some("same-key"),
            &release_body("staging"),
        )
        .await,
        201,
        "first",
    )
    .await;
    // A day later the key's DynamoDB record has expired; MySQL still ties it to the release,
    // which a repeat in its own project gets back.
    let forget = || async {
        let key = |v: String| aws_sdk_dynamodb::types::AttributeValue::S(v);
        app.state
            .dynamo
            .delete_item()
            .table_name(&*app.state.table)
            .key("pk", key(format!("IDEMPOTENCY#{}#same-key", ada.user.id)))
            .key("sk", key("IDEMPOTENCY".into()))
            .send()
            .await
            .expect("forget the key's record");
    };
    forget().await;
    let response = app
        .post_release(
            &ada,
            &first.slug,
            Some("same-key"),
            &release_body("staging"),
        )
        .await;
    let replayed: Release = expect_json(response, 200, "replay").await;
    assert_eq!(replayed.id, made.id);

    // In another project it names nothing: the key was used for a different request.
    forget().await;
    let response = app
        .post_release(
            &ada,
            &second.slug,
            Some("same-key"),
            &release_body("staging"),
        )
        .await;
    let refused = problem_naming(response, 409, "Idempotency-Key", "another project").await;
    assert!(
        refused.errors[0]
            .message
            .starts_with("reused for a different request"),
        "{refused:?}"
    );
    assert_eq!(
        app.releases(&ada, &second.slug).await.len(),
        0,
        "nothing created"
    );
}
