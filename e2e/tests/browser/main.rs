//! Faro in a real headless Chromium against the real backend, MariaDB, DynamoDB Local and the
//! simulators. Each test has its own database, table, backend, simulators and browser.

mod browser;

use browser::Browser;
use faro_testkit::{
    PASSWORD, Sims, TestApp,
    app::frontend,
    fixtures::{release_body, unique_email},
};
use faro_types::OrgRole;
use std::time::{Duration, Instant};

/// How long a simulated release may take to finish.
const RELEASE_DONE: Duration = Duration::from_secs(90);

/// The real backend, in process on port 0 with the simulators, serving a copy of the built
/// frontend: one origin, as `cargo xtask dev` serves it.
async fn start() -> (TestApp, Sims) {
    let sims = Sims::start_with(
        faro_sim::deepseek::Options {
            // Slow enough that an answer visibly streams, quick enough for a test.
            token_delay: Duration::from_millis(15),
            ..Default::default()
        },
        faro_sim::sleakops::Options {
            step: Duration::from_millis(400),
            ..Default::default()
        },
    )
    .await;
    let app = TestApp::builder()
        .sims_unpaced(&sims)
        .frontend(&frontend::built())
        .set("FARO_WORKER_POLL_MS", "100")
        .set("FARO_WORKER_STATUS_POLL_MS", "100")
        .set("FARO_WORKER_STATUS_POLL_MAX_MS", "300")
        .set("FARO_EVENTS_POLL_MS", "200")
        // Every test signs in a few times from 127.0.0.1.
        .set("FARO_LOGIN_ATTEMPTS_PER_ADDRESS", "1000")
        .set("FARO_AI_REQUESTS_PER_MINUTE", "100")
        .spawn()
        .await;
    (app, sims)
}

/// Fills in the sign-up form on the page with [`PASSWORD`] and sends it.
async fn send_sign_up(browser: &Browser, name: &str, email: &str) {
    browser.fill("sign-up-name", name).await;
    browser.fill("sign-up-email", email).await;
    browser.fill("sign-up-password", PASSWORD).await;
    browser.click("#sign-up button[type=submit]").await;
}

/// Fills in the sign-in form on the page and sends it.
async fn send_sign_in(browser: &Browser, email: &str, password: &str) {
    browser.fill("sign-in-email", email).await;
    browser.fill("sign-in-password", password).await;
    browser.click("#sign-in button[type=submit]").await;
}

/// Fills in the new project form on the projects page, `[name, slug, sleakops_project,
/// repository_url]`, and sends it.
async fn send_new_project(browser: &Browser, fields: [&str; 4]) {
    let ids = ["name", "slug", "sleakops_project", "repository_url"];
    for (id, value) in ids.into_iter().zip(fields) {
        browser.fill(&format!("new-project-{id}"), value).await;
    }
    browser.click("#new-project-form button[type=submit]").await;
}

/// Sets the SleakOps key of the organization the header shows, from its settings page.
async fn set_sleakops_key(browser: &Browser, key: &str) {
    browser.click(".org-switcher a").await;
    browser.fill("sleakops-key-api_key", key).await;
    browser.click("#sleakops-key button[type=submit]").await;
    let last4 = &key[key.len() - 4..];
    browser
        .text_where("#sleakops-key-status", "the key's status", |t| {
            t.contains(&format!("••••{last4}"))
        })
        .await;
}

async fn sign_up_in_browser(browser: &Browser, app: &TestApp, name: &str) -> String {
    let email = unique_email(name);
    browser.goto(&app.url("/sign-up")).await;
    send_sign_up(browser, name, &email).await;
    browser.element(".dashboard[data-ready=true]").await;
    email
}

/// The id of the release page the browser goes to, once it is on one (other than `leaving`'s).
async fn release_page_id(browser: &Browser, leaving: Option<u64>) -> u64 {
    let left = leaving.map(|id| format!("/releases/{id}"));
    let path = browser
        .path_where("a release page", |p| {
            p.starts_with("/releases/") && left.as_deref() != Some(p)
        })
        .await;
    path.trim_start_matches("/releases/")
        .parse()
        .expect("the release page's path ends with its id")
}

/// Starts a release to staging from the project page; returns its id from the URL it lands on.
async fn start_release(
    browser: &Browser,
    app: &TestApp,
    slug: &str,
    branch: &str,
    sha: &str,
    double_click: bool,
) -> u64 {
    browser.goto(&app.url(&format!("/projects/{slug}"))).await;
    // Chosen, not assumed: the environments are listed by name.
    browser
        .click("#new-release-environment option[value=staging]")
        .await;
    browser.fill("new-release-branch", branch).await;
    browser.fill("new-release-commit_sha", sha).await;
    if double_click {
        // Two clicks as fast as WebDriver sends them: the form must send one request.
        let button = browser.element("#start-release").await;
        let _ = button.click().await;
        let _ = button.click().await;
    } else {
        browser.click("#start-release").await;
    }
    release_page_id(browser, None).await
}

/// Waits until the release page's timeline says the release is over.
async fn release_completes(browser: &Browser) {
    browser
        .text_within(
            "#timeline-state",
            "the end of the release",
            RELEASE_DONE,
            |t| t == "Complete",
        )
        .await;
}

fn write_measure(line: &str) {
    use std::io::Write;
    println!("e2e: {line}");
    let path = browser::screenshot_dir().join("measures.txt");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}

/// Sign up → project → environment → release (double-clicked, created once) → live timeline
/// reaches deployed → release notes drafted, edited and saved → a failing release explained →
/// a chat answer streams in → the dashboard shows the delivery metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_from_sign_up_to_explained_failure() {
    let (app, _sims) = start().await;
    let browser = Browser::launch("flow").await;

    sign_up_in_browser(&browser, &app, "Ada").await;
    let banner = browser
        .text_where("#status-banner", "the simulator notice", |t| {
            t.contains("simulated")
        })
        .await;
    assert!(banner.contains("SleakOps"), "{banner}");
    browser.screenshot("dashboard-empty").await;

    // A project, from the projects page.
    browser.click("nav a[href='/projects']").await;
    let shop = [
        "Shop API",
        "shop-api",
        "shop",
        "https://github.com/acme/shop",
    ];
    send_new_project(&browser, shop).await;
    browser
        .path_where("the new project's settings", |p| {
            p == "/projects/shop-api/settings"
        })
        .await;

    // Its environment.
    browser.fill("new-environment-name", "staging").await;
    browser
        .fill("new-environment-sleakops_environment", "staging")
        .await;
    browser.click("#new-environment button[type=submit]").await;
    browser.element("li[data-environment=staging]").await;
    browser.screenshot("settings").await;

    // Releases deploy with the organization's SleakOps key (set after the project: the
    // simulator's default key reaches any project but lists none to check against).
    set_sleakops_key(&browser, faro_sim::sleakops::DEFAULT_KEY).await;

    // A release, double-clicked.
    let id = start_release(&browser, &app, "shop-api", "main", "abc1234", true).await;
    release_completes(&browser).await;
    let status = browser.element(".page-head .badge").await;
    assert_eq!(
        status.attr("data-status").await.unwrap().as_deref(),
        Some("deployed")
    );
    let kinds = browser
        .js("return [...document.querySelectorAll('#timeline li')].map(li => li.dataset.kind)")
        .await;
    let kinds: Vec<&str> = kinds
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"requested"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"deployed"), "{kinds:?}");
    browser.screenshot("release-deployed").await;

    // Release notes: generate, edit, save.
    browser
        .fill(
            "draft-notes-changelog",
            "feat: one-click checkout\nfix: totals rounding",
        )
        .await;
    browser.click("#generate-notes").await;
    browser.element("#notes-saved:not([hidden])").await;
    let drafted = browser
        .js("return document.getElementById('notes-notes').value")
        .await;
    let drafted = drafted.as_str().unwrap_or_default().to_owned();
    assert!(!drafted.trim().is_empty(), "notes were drafted");
    let edited = format!("{drafted}\nEdited by Ada.");
    browser.fill("notes-notes", &edited).await;
    browser.click("#save-notes").await;
    browser.element("#notes-saved:not([hidden])").await;
    browser.screenshot("release-notes").await;
    // What the API holds now, read with the browser's own session.
    let me = app.session(&browser.session_token().await).await;
    let stored: serde_json::Value = app.get_as(&me, &format!("/api/releases/{id}")).await;
    assert!(
        stored["notes"]
            .as_str()
            .unwrap_or_default()
            .ends_with("Edited by Ada."),
        "{stored}"
    );
    assert_eq!(
        app.releases(&me, "shop-api").await.len(),
        1,
        "the double click created one release"
    );

    // A failing release, and its explanation.
    let failed = start_release(
        &browser,
        &app,
        "shop-api",
        "fail-build-demo",
        "def5678",
        false,
    )
    .await;
    assert_ne!(failed, id);
    release_completes(&browser).await;
    browser
        .text_where("#failure-reason", "the failure reason", |t| !t.is_empty())
        .await;
    browser.click("#explain-failure").await;
    let explanation = browser
        .text_where("#explanation", "an explanation", |t| t.len() > 20)
        .await;
    assert!(!explanation.is_empty());
    browser.screenshot("release-failed-explained").await;

    // A chat answer streams in: the page records the answer's length at every change.
    browser
        .js("window.answerLengths = []; new MutationObserver(() => { \
               const a = document.querySelector('#chat-log .message.assistant .text'); \
               if (a) window.answerLengths.push(a.textContent.length); \
             }).observe(document.getElementById('chat-log'), \
               {subtree: true, childList: true, characterData: true})")
        .await;
    browser
        .fill("chat-message", "What should I check first?")
        .await;
    browser.click("#chat-send").await;
    browser
        .text_where(
            "#chat-log .message.assistant .text",
            "a streamed answer",
            |t| t.len() > 10,
        )
        .await;
    browser
        .element("#chat-log .message.assistant:not([aria-busy])")
        .await;
    let errors = browser
        .js("return document.querySelectorAll('#chat-log .field-error').length")
        .await;
    assert_eq!(errors, serde_json::json!(0), "the answer completed");
    let lengths = browser.js("return window.answerLengths").await;
    let mut seen: Vec<u64> = lengths
        .as_array()
        .expect("recorded lengths")
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .filter(|n| *n > 1)
        .collect();
    seen.dedup();
    assert!(
        seen.len() >= 3,
        "the answer appeared piece by piece, not at once: {seen:?}"
    );
    browser.screenshot("release-chat").await;

    // The dashboard: recent releases and the delivery cards with their trend.
    browser.click("nav a[href='/']").await;
    browser.element(".dashboard[data-ready=true]").await;
    browser.element(".metric-card svg.trend").await;
    let recent = browser
        .js("return document.querySelectorAll('table.releases tbody tr').length")
        .await;
    assert_eq!(
        recent,
        serde_json::json!(2),
        "two releases, the double click made one"
    );
    browser.screenshot("dashboard").await;
    browser
        .client
        .set_window_size(360, 800)
        .await
        .expect("resize");
    browser.element(".dashboard[data-ready=true]").await;
    browser.screenshot("dashboard-360px").await;
    browser.close().await;
}

/// A deep link opened directly (signed out, then in), a session surviving reloads, the time to
/// an interactive dashboard, and the way back to sign-in when the session ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_links_sessions_and_load_time() {
    let (app, _sims) = start().await;
    let owner = app.signup("Grace").await;
    app.create_project(&owner, "billing").await;
    app.create_environment(&owner, "billing", "staging", false)
        .await;
    app.give_sleakops_key(&owner).await;
    let release = app
        .create_release(&owner, "billing", &release_body("staging"))
        .await;

    // Cold load of the dashboard: a fresh browser with a session cookie and an empty cache.
    let browser = Browser::launch("session").await;
    // On the origin (a tiny file, so nothing of the app is cached), the session cookie as the
    // sign-in would set it (scripts may set it; the server only reads it).
    browser.goto(&app.url("/config.json")).await;
    browser
        .js(&format!(
            "document.cookie = 'faro_session={}; path=/'",
            owner.token
        ))
        .await;
    let started = Instant::now();
    browser.goto(&app.url("/")).await;
    browser.element(".dashboard[data-ready=true]").await;
    let wall = started.elapsed();
    let in_page = browser.js("return performance.now()").await;
    write_measure(&format!(
        "navigation to dashboard interactive, cold cache: {:.0} ms in the page (performance.now at ready), {:.0} ms as WebDriver saw it",
        in_page.as_f64().unwrap_or_default(),
        wall.as_secs_f64() * 1000.0
    ));
    let started = Instant::now();
    browser.client.refresh().await.expect("reload");
    browser.element(".dashboard[data-ready=true]").await;
    let in_page = browser.js("return performance.now()").await;
    write_measure(&format!(
        "navigation to dashboard interactive, warm cache: {:.0} ms in the page, {:.0} ms as WebDriver saw it",
        in_page.as_f64().unwrap_or_default(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    browser.close().await;

    // A deep link, signed out: sign-in first, then straight to the release.
    let browser = Browser::launch("deep-link").await;
    let deep = format!("/releases/{}", release.id);
    browser.goto(&app.url(&deep)).await;
    browser
        .path_where("the sign-in page", |p| p.starts_with("/sign-in?next="))
        .await;
    send_sign_in(&browser, &owner.user.email, PASSWORD).await;
    browser.path_where("the deep link", |p| p == deep).await;
    browser
        .text_where("h1", "the release's heading", |t| {
            t == format!("Release #{}", release.id)
        })
        .await;
    browser.element("#timeline li[data-kind=requested]").await;
    browser.screenshot("release-deep-link").await;

    // The session survives a reload, and a deep link into settings works too.
    browser.client.refresh().await.expect("reload");
    browser
        .text_where("h1", "the release's heading after a reload", |t| {
            t.starts_with("Release #")
        })
        .await;
    browser.goto(&app.url("/projects/billing/settings")).await;
    browser.element("li[data-environment=staging]").await;
    browser.element("table.members").await;

    // The session ends elsewhere: the next request sends the app back to sign-in.
    app.logout(&browser.session_token().await).await;
    browser.click("nav a[href='/projects']").await;
    browser
        .path_where("the sign-in page", |p| p.starts_with("/sign-in"))
        .await;
    browser
        .text_where(".auth", "the ended-session notice", |t| {
            t.contains("session has ended")
        })
        .await;

    // Signing out from the header.
    send_sign_in(&browser, &owner.user.email, PASSWORD).await;
    browser
        .path_where("the projects page", |p| p == "/projects")
        .await;
    browser.click("#sign-out").await;
    browser
        .path_where("the sign-in page", |p| p == "/sign-in")
        .await;
    browser.goto(&app.url("/")).await;
    browser
        .path_where("the sign-in page", |p| p.starts_with("/sign-in"))
        .await;

    // An invitation for an existing account. Signed in as someone else, its page says so and
    // signs out; signed in as the invited account, one click joins.
    let alan = app.signup("Alan").await;
    let org = app.own_org(&owner).await;
    let invitation = app
        .invite(&owner, &org.slug, &alan.user.email, OrgRole::Admin)
        .await;
    browser.goto(&app.url(&invitation.accept_path)).await;
    browser.click("#invitation-sign-in").await;
    send_sign_in(&browser, &owner.user.email, PASSWORD).await;
    browser
        .text_where("#other-account", "the other account's notice", |t| {
            t.contains(&alan.user.email)
        })
        .await;
    browser.click("#invitation-sign-out").await;
    browser.click("#invitation-sign-in").await;
    send_sign_in(&browser, &alan.user.email, PASSWORD).await;
    browser.click("#accept-invitation").await;
    browser
        .path_where("the projects page", |p| p == "/projects")
        .await;
    // The organization joined is the one shown.
    browser
        .element(&format!(
            "#org-switcher option[value='{}']:checked",
            org.slug
        ))
        .await;
    browser.screenshot("invitation-accepted").await;
    browser.click("#sign-out").await;
    browser
        .path_where("the sign-in page", |p| p == "/sign-in")
        .await;

    // An unknown path shows the app's own not-found page, not the server's.
    browser.goto(&app.url("/no/such/page")).await;
    browser
        .text_where("h1", "the not-found page", |t| t == "Nothing here")
        .await;
    browser.close().await;
}

/// The account page: a new password keeps this browser's session and ends the account's
/// others; signing out everywhere ends them all, this one included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_then_signing_out_everywhere() {
    let (app, _sims) = start().await;
    let browser = Browser::launch("account").await;
    let email = sign_up_in_browser(&browser, &app, "Ada").await;
    let elsewhere = app.login(&email).await;
    let me = |token: String| {
        let request = app.client.get(app.url("/api/me")).bearer_auth(token);
        async move { request.send().await.expect("answered").status().as_u16() }
    };

    browser.click("#account-link").await;
    let new_password = "a brand new passphrase";
    browser
        .fill("new-password-current_password", PASSWORD)
        .await;
    browser
        .fill("new-password-new_password", new_password)
        .await;
    browser.click("#new-password button[type=submit]").await;
    browser
        .text_where("#new-password-status", "the change confirmed", |t| {
            t.contains("Password changed")
        })
        .await;
    browser.screenshot("account").await;
    assert_eq!(
        me(elsewhere.token.clone()).await,
        401,
        "the other session ended"
    );
    browser.click("nav a[href='/projects']").await;
    browser.element("#new-project-form").await;

    let body = serde_json::json!({"email": email, "password": new_password});
    let response = app
        .send(None, reqwest::Method::POST, "/api/auth/login", Some(&body))
        .await;
    assert_eq!(response.status(), 200, "the new password signs in");
    let another: faro_types::Session = response.json().await.expect("a session");
    browser.click("#account-link").await;
    browser.click("#sign-out-everywhere").await;
    browser
        .path_where("the sign-in page", |p| p == "/sign-in")
        .await;
    assert_eq!(me(another.token).await, 401, "every session ended");
    browser.goto(&app.url("/")).await;
    browser
        .path_where("the sign-in page", |p| p.starts_with("/sign-in"))
        .await;
    browser.close().await;
}

/// Bad input: the app's own checks and the API's problem+json errors, next to their fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_forms_show_errors_next_to_their_fields() {
    let (app, _sims) = start().await;
    let taken = app.signup("Taken").await;
    let browser = Browser::launch("forms").await;

    // Nothing filled in: every field says what it needs, and the focus goes to the first.
    browser.goto(&app.url("/sign-up")).await;
    browser.click("#sign-up button[type=submit]").await;
    browser
        .text_where("#sign-up-name-error", "the name's error", |t| {
            t.contains("must not be empty")
        })
        .await;
    browser
        .text_where("#sign-up-email-error", "the email's error", |t| {
            t.contains("characters")
        })
        .await;
    browser
        .text_where("#sign-up-password-error", "the password's error", |t| {
            t.contains("12")
        })
        .await;
    let focused = browser.js("return document.activeElement.id").await;
    assert_eq!(focused, serde_json::json!("sign-up-name"));
    let invalid = browser
        .element("#sign-up-email")
        .await
        .attr("aria-invalid")
        .await
        .expect("attribute");
    assert_eq!(invalid.as_deref(), Some("true"));
    browser.screenshot("sign-up-errors").await;

    // The API's verdict (problem+json 409 naming `email`) lands next to the email field.
    send_sign_up(&browser, "Someone", &taken.user.email).await;
    browser
        .text_where("#sign-up-email-error", "the API's conflict", |t| {
            t.contains("already exists")
        })
        .await;
    browser.element("#sign-up-name-error[hidden]").await;

    // Signed in: a project whose slug is taken is refused by the API, next to the slug.
    browser.goto(&app.url("/sign-in")).await;
    send_sign_in(&browser, &taken.user.email, "not the password").await;
    browser
        .text_where("#sign-in-error", "the refusal", |t| {
            t.contains("Wrong email or password")
        })
        .await;
    send_sign_in(&browser, &taken.user.email, PASSWORD).await;
    browser.element(".dashboard[data-ready=true]").await;
    app.create_project(&taken, "taken-slug").await;
    app.create_environment(&taken, "taken-slug", "staging", false)
        .await;
    browser.goto(&app.url("/projects")).await;
    let again = [
        "Again",
        "Not A Slug",
        "again",
        "https://github.com/acme/again",
    ];
    send_new_project(&browser, again).await;
    browser
        .text_where("#new-project-slug-error", "the slug rule", |t| {
            t.contains("lowercase")
        })
        .await;
    browser.fill("new-project-slug", "taken-slug").await;
    browser.click("#new-project-form button[type=submit]").await;
    browser
        .text_where(
            "#new-project-slug-error",
            "the API's conflict on the slug",
            |t| !t.is_empty() && !t.contains("lowercase"),
        )
        .await;
    browser.screenshot("project-errors").await;

    // A release with a bad commit SHA.
    browser.goto(&app.url("/projects/taken-slug")).await;
    browser
        .element("#new-release-environment option[value=staging]")
        .await;
    browser.fill("new-release-commit_sha", "not-a-sha").await;
    browser.click("#start-release").await;
    browser
        .text_where("#new-release-commit_sha-error", "the SHA rule", |t| {
            t.contains("hexadecimal")
        })
        .await;
    assert!(
        app.releases(&taken, "taken-slug").await.is_empty(),
        "nothing was sent"
    );

    // A good release of a project whose organization has no SleakOps key: the API's refusal
    // (422 naming `environment`) says why, at the environment.
    browser.fill("new-release-commit_sha", "abc1234").await;
    browser.click("#start-release").await;
    browser
        .text_where("#new-release-environment-error", "the missing key", |t| {
            t.contains("no SleakOps API key")
        })
        .await;
    browser.screenshot("release-without-key").await;
    assert!(
        app.releases(&taken, "taken-slug").await.is_empty(),
        "nothing was created"
    );
    browser.close().await;
}

/// A new SleakOps account in the simulator reaching `projects` (name → environments); its key.
async fn sleakops_account(sims: &Sims, projects: serde_json::Value) -> String {
    // The admin routes are at the simulator's root, beside the API's base path.
    let url = format!("http://{}/_sim/sleakops/accounts", sims.sleakops.addr);
    let response = reqwest::Client::new()
        .post(&url)
        .json(&serde_json::json!({ "projects": projects }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    assert_eq!(response.status(), 201, "the simulator made an account");
    let body: serde_json::Value = response.json().await.expect("a JSON answer");
    body["api_key"]
        .as_str()
        .expect("the account's api_key")
        .to_owned()
}

/// The value of the input with id `id`.
async fn value_of(browser: &Browser, id: &str) -> String {
    let value = browser
        .js(&format!("return document.getElementById('{id}').value"))
        .await;
    value.as_str().unwrap_or_default().to_owned()
}

/// An owner signs up (their organization is created), gives it a SleakOps key, makes a
/// project and an environment from what the key reaches and invites a teammate; the teammate
/// opens the link in their own browser, signs up with the invitation and lands in the
/// organization; once the owner adds them to the project as maintainer, they release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_teammate_joins_the_organization_and_releases() {
    let (app, sims) = start().await;
    let key = sleakops_account(
        &sims,
        serde_json::json!({"robots": ["staging", "production"]}),
    )
    .await;
    let owner = Browser::launch("org-owner").await;

    // Sign-up names the organization.
    owner.goto(&app.url("/sign-up")).await;
    owner.fill("sign-up-organization", "Acme Robotics").await;
    send_sign_up(&owner, "Olga", &unique_email("olga")).await;
    owner.element(".dashboard[data-ready=true]").await;
    let switcher = owner
        .text_where("#org-switcher", "the new organization", |t| {
            t.contains("Acme Robotics")
        })
        .await;
    assert!(!switcher.contains("Olga's"), "{switcher}");

    // Without a key, the project form says to set it first.
    owner.click("nav a[href='/projects']").await;
    owner
        .text_where("#new-project", "the note about the key", |t| {
            t.contains("set the organization's SleakOps key first")
        })
        .await;

    // The organization's settings: a key SleakOps refuses is named at its field, a good one
    // is stored and shown by its last four characters only.
    owner.click(".org-switcher a").await;
    let org_page = owner
        .path_where("the organization's page", |p| p.starts_with("/orgs/"))
        .await;
    owner
        .text_where("h1", "the organization's name", |t| t == "Acme Robotics")
        .await;
    owner
        .fill("sleakops-key-api_key", "not-a-key-sleakops-knows")
        .await;
    owner.click("#sleakops-key button[type=submit]").await;
    owner
        .text_where("#sleakops-key-api_key-error", "the refused key", |t| {
            !t.is_empty()
        })
        .await;
    set_sleakops_key(&owner, &key).await;
    let status = owner
        .element("#sleakops-key-status")
        .await
        .text()
        .await
        .expect("text");
    assert!(!status.contains(&key), "the key is never shown: {status}");
    assert_eq!(
        value_of(&owner, "sleakops-key-api_key").await,
        "",
        "the field was emptied"
    );
    owner.screenshot("org-key-set").await;

    // A project and an environment, offered from what the key reaches.
    owner.click("nav a[href='/projects']").await;
    owner
        .element("#sleakops-projects option[value=robots]")
        .await;
    send_new_project(
        &owner,
        [
            "Robots",
            "robots",
            "robots",
            "https://github.com/acme/robots",
        ],
    )
    .await;
    owner
        .path_where("the new project's settings", |p| {
            p == "/projects/robots/settings"
        })
        .await;
    owner
        .element("#sleakops-environments option[value=staging]")
        .await;
    owner.fill("new-environment-name", "staging").await;
    owner
        .fill("new-environment-sleakops_environment", "staging")
        .await;
    owner.click("#new-environment button[type=submit]").await;
    owner.element("li[data-environment=staging]").await;

    // The invitation: its link is shown once.
    let teammate_email = unique_email("tomas");
    owner.goto(&app.url(&org_page)).await;
    owner.fill("invite-email", &teammate_email).await;
    owner.click("#invite button[type=submit]").await;
    owner
        .text_where("#invitation-link", "the link's warning", |t| {
            t.contains("shown only now")
        })
        .await;
    let link = value_of(&owner, "invitation-link-url").await;
    assert!(
        link.starts_with(&app.url("/invitations/")),
        "a full link to this app: {link}"
    );
    owner
        .element(&format!(
            "li[data-email='{teammate_email}'][data-status=pending]"
        ))
        .await;
    owner.screenshot("org-invitation-link").await;

    // The teammate, in their own browser: the link says what it invites to.
    let teammate = Browser::launch("org-teammate").await;
    teammate.goto(&link).await;
    teammate
        .text_where("#invitation-what", "who is invited", |t| {
            t.contains(&teammate_email) && t.contains("member")
        })
        .await;
    teammate.screenshot("invitation").await;
    teammate.click("#invitation-sign-up").await;
    teammate
        .text_where("#joining", "the organization joined", |t| {
            t == "You are joining Acme Robotics as member."
        })
        .await;
    assert_eq!(
        value_of(&teammate, "sign-up-email").await,
        teammate_email,
        "the invited e-mail is filled in"
    );
    assert_eq!(
        teammate
            .js("return document.getElementById('sign-up-organization')")
            .await,
        serde_json::Value::Null,
        "no organization of their own to name"
    );
    teammate.fill("sign-up-name", "Tomas").await;
    teammate.fill("sign-up-password", PASSWORD).await;
    teammate.click("#sign-up button[type=submit]").await;
    teammate.element(".dashboard[data-ready=true]").await;
    teammate
        .text_where("#org-switcher", "the organization joined", |t| {
            t.contains("Acme Robotics")
        })
        .await;
    teammate.screenshot("teammate-joined").await;

    // A member sees only the projects they are added to; the owner adds them as maintainer.
    owner.goto(&app.url(&org_page)).await;
    owner
        .element(&format!(
            "li[data-email='{teammate_email}'][data-status=accepted]"
        ))
        .await;
    owner.goto(&app.url("/projects/robots/settings")).await;
    owner.fill("add-member-email", &teammate_email).await;
    owner.click("#add-member button[type=submit]").await;
    owner
        .element(&format!("table.members tr[data-email='{teammate_email}']"))
        .await;

    // The teammate releases.
    teammate.goto(&app.url("/projects")).await;
    teammate.click("a[href='/projects/robots']").await;
    start_release(&teammate, &app, "robots", "main", "abc1234", false).await;
    teammate.element("#timeline li[data-kind=requested]").await;
    teammate.screenshot("teammate-release-started").await;
    release_completes(&teammate).await;
    let status = teammate.element(".page-head .badge").await;
    assert_eq!(
        status.attr("data-status").await.unwrap().as_deref(),
        Some("deployed")
    );
    teammate.screenshot("teammate-release-deployed").await;
    teammate.close().await;
    owner.close().await;
}

/// An open tab learns that another frontend went live: the build's own `version.json` offers
/// nothing, one naming another commit offers "A new version of Faro is available — reload".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_frontend_going_live_is_offered_as_a_reload() {
    let (app, _sims) = start().await;
    let dist = app
        .state
        .config
        .frontend_dir
        .clone()
        .expect("a served frontend");
    let own = std::fs::read_to_string(dist.join("version.json")).expect("the build's version.json");
    let browser = Browser::launch("new-version").await;
    browser.goto(&app.url("/sign-in")).await;
    browser.element("#new-version[data-checked=true]").await;
    browser.element("#new-version[hidden]").await;

    // A deploy publishes another commit's frontend while the tab stays open.
    std::fs::write(
        dist.join("version.json"),
        r#"{"git_sha":"0000000000000000000000000000000000000000"}"#,
    )
    .expect("write version.json");
    browser.client.refresh().await.expect("reload");
    browser
        .element("#new-version[data-checked=true]:not([hidden])")
        .await;
    browser
        .text_where("#new-version", "the offer to reload", |t| {
            t.contains("A new version of Faro is available")
        })
        .await;
    browser.screenshot("new-version").await;

    // Back to this build's commit: nothing to offer.
    std::fs::write(dist.join("version.json"), own).expect("restore version.json");
    browser.client.refresh().await.expect("reload");
    browser
        .element("#new-version[data-checked=true][hidden]")
        .await;
    browser.close().await;
}

/// A browser signed in as `who` (their session cookie set on the app's origin, as the
/// sign-in would set it), on the dashboard.
async fn browser_as(app: &TestApp, test: &'static str, who: &faro_testkit::Signed) -> Browser {
    let browser = Browser::launch(test).await;
    browser.goto(&app.url("/config.json")).await;
    browser
        .js(&format!(
            "document.cookie = 'faro_session={}; path=/'",
            who.token
        ))
        .await;
    browser.goto(&app.url("/")).await;
    browser.element(".dashboard[data-ready=true]").await;
    browser
}

/// The status the release page's badge shows once it is `status`.
async fn release_status_is(browser: &Browser, status: &str) {
    browser
        .element(&format!(".page-head .badge[data-status={status}]"))
        .await;
}

/// Release control with two owners in two browsers: a production release is requested and
/// waits ("needs someone else's approval" for the requester, who has no Approve button); the
/// second owner rejects it, with a reason the form checks first; a staging release is promoted
/// to production (the same SleakOps build), waits, and the second owner's approval deploys it;
/// staging is rolled back to its previous build from its environment card, which names the
/// target before the click that confirms it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_promotion_and_rollback() {
    let (app, _sims) = start().await;
    let olga = app.signup("Olga").await;
    let slug = "robots";
    app.create_project(&olga, slug).await;
    for (name, production) in [("staging", false), ("production", true)] {
        let body = serde_json::json!({"name": name, "sleakops_environment": format!("{name}-env"),
            "production": production, "requires_approval": production});
        let response = app.post_environment(&olga, slug, &body).await;
        let _: faro_types::Environment =
            faro_testkit::expect_json(response, 201, &format!("create {name}")).await;
    }
    app.give_sleakops_key(&olga).await;
    let bea = app.signup("Bea").await;
    app.add_member(&olga, slug, &bea, faro_types::Role::Owner)
        .await;

    let requester = browser_as(&app, "control-requester", &olga).await;
    // The rule, as an owner sees it in the settings.
    requester
        .goto(&app.url(&format!("/projects/{slug}/settings")))
        .await;
    requester
        .click("li[data-environment=production] .env-summary button")
        .await;
    requester.element("#env-production-requires_approval").await;
    let checked = requester
        .js("return document.getElementById('env-production-requires_approval').checked")
        .await;
    assert_eq!(
        checked,
        serde_json::json!(true),
        "production requires approval"
    );
    requester.screenshot("settings-requires-approval").await;

    // A production release is requested: it waits, and the requester cannot approve it.
    requester.goto(&app.url(&format!("/projects/{slug}"))).await;
    requester
        .text_where(
            ".env-card[data-environment=production]",
            "the approval rule",
            |t| t.contains("need a second owner's approval"),
        )
        .await;
    requester
        .click("#new-release-environment option[value=production]")
        .await;
    requester.fill("new-release-commit_sha", "abc1234").await;
    requester.click("#start-release").await;
    let requested = release_page_id(&requester, None).await;
    release_status_is(&requester, "awaiting_approval").await;
    requester
        .element("#timeline li[data-kind=approval_requested]")
        .await;
    requester
        .text_where("#approval-mine", "who must approve", |t| {
            t.contains("needs someone else's approval")
        })
        .await;
    assert_eq!(
        requester
            .js("return document.getElementById('approve-release')")
            .await,
        serde_json::Value::Null,
        "no Approve button for the requester"
    );
    requester.screenshot("request-waiting").await;

    // The second owner rejects it: the reason is required, then shown to everyone.
    let approver = browser_as(&app, "control-approver", &bea).await;
    approver
        .goto(&app.url(&format!("/releases/{requested}")))
        .await;
    approver
        .text_where("#approval", "the waiting state", |t| {
            t.contains("Waiting for approval by an owner") && t.contains("Olga requested it")
        })
        .await;
    approver.screenshot("approver-sees-request").await;
    approver.click("#reject-start").await;
    approver.click("#reject-release").await;
    approver
        .text_where("#reject-reason-error", "the reason's rule", |t| {
            !t.is_empty()
        })
        .await;
    approver
        .fill(
            "reject-reason",
            "Not during the sale; promote the tested build instead.",
        )
        .await;
    approver.click("#reject-release").await;
    release_status_is(&approver, "rejected").await;
    approver
        .text_where("#approval-text", "the reason", |t| {
            t.contains("Not during the sale")
        })
        .await;
    approver.screenshot("request-rejected").await;
    // The requester's page follows live.
    release_status_is(&requester, "rejected").await;
    requester
        .text_where("#approval", "who rejected it", |t| {
            t.contains("Rejected by Bea")
        })
        .await;

    // Staging gets a release, which is promoted to production.
    let staged = start_release(&requester, &app, slug, "main", "abc1234", false).await;
    release_completes(&requester).await;
    requester.click("#promote-release").await;
    requester
        .text_where("#promote-question", "the promotion's question", |t| {
            t.contains(&format!("release #{staged}")) && t.contains("to production")
        })
        .await;
    requester.screenshot("promote-confirm").await;
    requester.click("#promote-confirm").await;
    let promoted = release_page_id(&requester, Some(staged)).await;
    release_status_is(&requester, "awaiting_approval").await;
    requester
        .text_where("#promoted-from", "the source", |t| {
            t == format!("#{staged}")
        })
        .await;
    requester.screenshot("promotion-waiting").await;

    // The second owner approves: it deploys the build staging tested.
    approver
        .goto(&app.url(&format!("/releases/{promoted}")))
        .await;
    approver.click("#approve-release").await;
    release_completes(&approver).await;
    release_status_is(&approver, "deployed").await;
    approver
        .text_where("#approval", "who approved it", |t| {
            t.contains("Approved by Bea")
        })
        .await;
    approver.screenshot("promotion-approved-deployed").await;
    let source = app.release(&olga, staged).await;
    let target = app.release(&olga, promoted).await;
    assert_eq!(target.promoted_from, Some(staged));
    assert_eq!(source.promoted_to, vec![promoted]);
    assert!(source.sleakops_build_id.is_some());
    assert_eq!(
        target.sleakops_build_id, source.sleakops_build_id,
        "production runs the build staging tested"
    );

    // A newer staging release, then a rollback to the one before, from its card.
    let newer = start_release(&requester, &app, slug, "main", "def5678", false).await;
    release_completes(&requester).await;
    requester.goto(&app.url(&format!("/projects/{slug}"))).await;
    requester
        .text_where(
            ".env-card[data-environment=staging] .running",
            "what runs in staging",
            |t| t.contains(&format!("release #{newer}")) && t.contains("def5678"),
        )
        .await;
    requester
        .text_where(
            ".env-card[data-environment=production] .running",
            "what runs in production",
            |t| t.contains(&format!("release #{promoted}")) && t.contains("abc1234"),
        )
        .await;
    requester.screenshot("environment-cards").await;
    requester.click("#rollback-staging").await;
    requester
        .text_where("#rollback-staging-question", "the rollback's target", |t| {
            t.starts_with(&format!(
                "Roll back staging to release #{staged} (commit abc1234"
            ))
        })
        .await;
    requester.screenshot("rollback-confirm").await;
    requester.click("#rollback-staging-confirm").await;
    let rollback = release_page_id(&requester, None).await;
    requester
        .text_where("#rollback-of", "the release rolled back", |t| {
            t == format!("#{newer}")
        })
        .await;
    release_completes(&requester).await;
    release_status_is(&requester, "deployed").await;
    requester.screenshot("rollback-deployed").await;
    let rolled = app.release(&olga, rollback).await;
    assert_eq!(rolled.build_of, Some(staged));
    assert_eq!(
        rolled.sleakops_build_id, source.sleakops_build_id,
        "the rollback deploys the earlier build again"
    );
    requester.goto(&app.url(&format!("/projects/{slug}"))).await;
    requester
        .text_where(
            ".env-card[data-environment=staging] .running",
            "the rollback running",
            |t| t.contains(&format!("release #{rollback}")),
        )
        .await;
    requester
        .screenshot("environment-cards-after-rollback")
        .await;
    approver.close().await;
    requester.close().await;
}
