//! The authorization matrix of issues 14 and 17: for every organization role (and someone
//! from outside the organization), project role, action, and environment (production or
//! not), the server's answer against what [`expected`] says the rule is. Every cell runs and the
//! mismatches are reported together, so one run shows the whole picture.
//!
//! One app, one project, one account per (organization role, project role). What an action
//! uses up (a release to cancel, a cancelled release to retry, an environment to change or
//! delete, a project to delete, someone to add, a release awaiting approval) is made fresh
//! for its cell by the organization's owner. The worker is off, so releases stay queued,
//! cancellable, for the whole run; the failed releases AI explanations need, and the deployed
//! ones promotions and rollbacks start from, are written to the database.

use crate::releases::{insert_deployed, insert_release};
use chrono::Utc;
use faro_testkit::{
    ProjectWithEnvironments, Signed, Sims, TestApp,
    fixtures::{new_key, release_body, unique, unique_email},
};
use faro_types::{OrgRole, Role};
use futures_util::{StreamExt, stream};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use std::{fmt, time::Duration};

/// Where a caller stands towards the project's organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    In(OrgRole),
    /// Not in the organization; in one of their own.
    Outsider,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    View,
    EditProject,
    AddMember,
    ChangeMemberRole,
    CreateEnvironment,
    EditEnvironment,
    DeleteEnvironment,
    StartRelease,
    RetryRelease,
    CancelRelease,
    /// A release to an environment that requires approval, which then waits for a decision.
    RequestApproval,
    Approve,
    Reject,
    /// The other environment's deployed release, to this one.
    Promote,
    /// This environment, to the build deployed before the running one.
    RollBack,
    AiNotes,
    AiExplain,
    AiChat,
    DeleteProject,
}

const ACTIONS: [Action; 19] = [
    Action::View,
    Action::EditProject,
    Action::AddMember,
    Action::ChangeMemberRole,
    Action::CreateEnvironment,
    Action::EditEnvironment,
    Action::DeleteEnvironment,
    Action::StartRelease,
    Action::RetryRelease,
    Action::CancelRelease,
    Action::RequestApproval,
    Action::Approve,
    Action::Reject,
    Action::Promote,
    Action::RollBack,
    Action::AiNotes,
    Action::AiExplain,
    Action::AiChat,
    Action::DeleteProject,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed,
    /// 403.
    Forbidden,
    /// 404: the project does not exist for the caller.
    Hidden,
}

impl Action {
    /// The least project role that may do this, to a production environment or not.
    fn needs(self, production: bool) -> Role {
        use Action::*;
        match self {
            View | AiExplain | AiChat => Role::Viewer,
            // A second person decides, so a maintainer may ask even for production.
            EditProject | AiNotes | RequestApproval => Role::Maintainer,
            AddMember | ChangeMemberRole | DeleteProject | Approve | Reject => Role::Owner,
            CreateEnvironment | EditEnvironment | DeleteEnvironment | StartRelease
            | RetryRelease | CancelRelease | Promote | RollBack => {
                if production {
                    Role::Owner
                } else {
                    Role::Maintainer
                }
            }
        }
    }
}

/// The rule: organization owners and admins act as the project's owners, members as their
/// project role says, and a project someone has no role in does not exist for them.
fn expected(
    standing: Standing,
    project_role: Option<Role>,
    action: Action,
    production: bool,
) -> Outcome {
    let effective = match standing {
        Standing::In(OrgRole::Owner | OrgRole::Admin) => Some(Role::Owner),
        Standing::In(OrgRole::Member) => project_role,
        Standing::Outsider => None,
    };
    match effective {
        None => Outcome::Hidden,
        Some(role) if role >= action.needs(production) => Outcome::Allowed,
        Some(_) => Outcome::Forbidden,
    }
}

/// Every row: each organization role with each project role (or none), and an outsider.
fn rows() -> Vec<(Standing, Option<Role>)> {
    let project_roles = [
        Some(Role::Owner),
        Some(Role::Maintainer),
        Some(Role::Viewer),
        None,
    ];
    let mut rows: Vec<_> = [OrgRole::Owner, OrgRole::Admin, OrgRole::Member]
        .into_iter()
        .flat_map(|org| project_roles.map(|role| (Standing::In(org), role)))
        .collect();
    rows.push((Standing::Outsider, None));
    rows
}

/// The account of a row.
struct Principal {
    standing: Standing,
    project_role: Option<Role>,
    who: Signed,
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.standing {
            Standing::In(role) => write!(f, "org {role:?}")?,
            Standing::Outsider => write!(f, "outsider")?,
        }
        match self.project_role {
            Some(role) => write!(f, " / project {role:?}"),
            None => write!(f, " / no project role"),
        }
    }
}

/// A principal doing an action, aimed at a production environment or not.
struct Cell<'a> {
    principal: &'a Principal,
    action: Action,
    production: bool,
}

impl Cell<'_> {
    fn expected(&self) -> Outcome {
        let Principal {
            standing,
            project_role,
            ..
        } = self.principal;
        expected(*standing, *project_role, self.action, self.production)
    }
}

impl fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let environment = environment(self.production);
        write!(f, "{} / {:?} / {environment}", self.principal, self.action)
    }
}

impl Action {
    /// Whether the cell needs someone of the organization to add, or whose role to change.
    fn needs_person(self) -> bool {
        matches!(self, Action::AddMember | Action::ChangeMemberRole)
    }
}

/// What a cell acts on beyond the shared project and releases, made for it alone.
enum Target {
    Shared,
    /// Someone of the organization, outside the project or a viewer in it.
    Person(Signed),
    /// An environment of the shared project.
    Environment(String),
    /// A release in the shared project: queued, cancelled for a retry, or awaiting approval.
    Release(u64),
    /// A project of its own with the principal's role in it, to delete.
    Project(String),
}

fn environment(production: bool) -> &'static str {
    if production { "production" } else { "staging" }
}

/// The environment of the shared project that requires approval, production or not.
fn gated(production: bool) -> &'static str {
    if production {
        "gated-production"
    } else {
        "gated-staging"
    }
}

/// The app and what every cell shares.
struct World {
    app: TestApp,
    /// The organization's owner: made the project, makes what cells use up.
    boss: Signed,
    project: ProjectWithEnvironments,
    /// A queued release, a failed one and the running (deployed) one per environment,
    /// staging then production.
    queued: [u64; 2],
    failed: [u64; 2],
    running: [u64; 2],
}

impl World {
    async fn new(sims: &Sims) -> Self {
        let app = TestApp::builder()
            .sims(sims)
            .set("FARO_WORKER_ENABLED", "false")
            .set("FARO_AI_REQUESTS_PER_MINUTE", "1000")
            .set("FARO_AI_MAX_CONCURRENT", "100")
            .spawn()
            .await;
        let boss = app.signup("Boss").await;
        let project = app.project_with_environments(&boss).await;
        let mut queued = [0; 2];
        let mut failed = [0; 2];
        let mut running = [0; 2];
        let hour_ago = Utc::now() - chrono::Duration::hours(1);
        for production in [false, true] {
            let (kind, name) = (usize::from(production), environment(production));
            let env = [project.staging, project.production][kind];
            queued[kind] = app.start_release(&boss, &project, name).await.id;
            failed[kind] = insert_release(&app, &project, env, &boss, "failed", "main").await;
            let earlier = hour_ago - chrono::Duration::hours(1);
            insert_deployed(&app, &project, env, &boss, &format!("b-{kind}-1"), earlier).await;
            let build = format!("b-{kind}-2");
            running[kind] = insert_deployed(&app, &project, env, &boss, &build, hour_ago).await;
            let body = json!({"name": gated(production), "sleakops_environment": "stg",
                "production": production, "requires_approval": true});
            let response = app.post_environment(&boss, &project.slug, &body).await;
            assert_eq!(response.status(), 201, "create {}", gated(production));
        }
        Self {
            app,
            boss,
            project,
            queued,
            failed,
            running,
        }
    }

    /// An account for each of `standings`. The invitations go out one at a time (concurrent
    /// invitations and acceptances of one organization can deadlock in MySQL, answering
    /// 500); the sign-ups, slow for their password hashing, run a few at a time.
    async fn accounts(&self, standings: Vec<Standing>) -> Vec<Signed> {
        let org = self.app.own_org(&self.boss).await.slug;
        let mut invitations = Vec::with_capacity(standings.len());
        for standing in standings {
            let email = unique_email("someone");
            let token = match standing {
                Standing::In(role) => {
                    let invitation = self.app.invite(&self.boss, &org, &email, role).await;
                    Some(invitation.token)
                }
                Standing::Outsider => None,
            };
            invitations.push((email, token));
        }
        stream::iter(invitations)
            .map(|(email, token)| async move {
                match token {
                    Some(token) => self.app.signup_invited("Someone", &email, &token).await,
                    None => self.app.signup("Outsider").await,
                }
            })
            .buffered(4)
            .collect()
            .await
    }

    /// A new environment of the shared project, made by the boss.
    async fn new_environment(&self, production: bool) -> String {
        let name = unique("env");
        let body = json!({"name": name, "sleakops_environment": "stg", "production": production});
        let response = self
            .app
            .post_environment(&self.boss, &self.project.slug, &body)
            .await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 201, "create environment {name}: {text}");
        name
    }

    /// What `cell` uses up, made by the boss; `person` is a new member of the organization
    /// for the cells that [need one](Action::needs_person).
    async fn prepare(&self, cell: &Cell<'_>, person: Option<Signed>) -> Target {
        let (app, boss, slug) = (&self.app, &self.boss, self.project.slug.as_str());
        let production = cell.production;
        let person = || person.clone().expect("a person for this cell");
        match cell.action {
            Action::AddMember => Target::Person(person()),
            Action::ChangeMemberRole => {
                let member = person();
                app.add_member(boss, slug, &member, Role::Viewer).await;
                Target::Person(member)
            }
            Action::EditEnvironment | Action::DeleteEnvironment => {
                Target::Environment(self.new_environment(production).await)
            }
            Action::Approve | Action::Reject => {
                let waiting = app
                    .start_release(boss, &self.project, gated(production))
                    .await;
                Target::Release(waiting.id)
            }
            Action::CancelRelease | Action::RetryRelease => {
                let release = app
                    .start_release(boss, &self.project, environment(production))
                    .await;
                if cell.action == Action::RetryRelease {
                    app.cancel_release(boss, release.id).await;
                }
                Target::Release(release.id)
            }
            Action::DeleteProject => {
                let doomed = unique("doomed");
                app.create_project(boss, &doomed).await;
                let name = environment(production);
                app.create_environment(boss, &doomed, name, production)
                    .await;
                if let Some(role) = cell.principal.project_role {
                    app.add_member(boss, &doomed, &cell.principal.who, role)
                        .await;
                }
                Target::Project(doomed)
            }
            _ => Target::Shared,
        }
    }

    /// The server's answer to `cell`'s request, on `target`.
    async fn act(&self, cell: &Cell<'_>, target: Target) -> Response {
        let (app, who, slug) = (&self.app, &cell.principal.who, self.project.slug.as_str());
        let production = cell.production;
        let kind = usize::from(production);
        match (cell.action, target) {
            (Action::View, _) => app.get_project(who, slug).await,
            (Action::EditProject, _) => {
                let patch = json!({"name": unique("Renamed")});
                app.patch_project(who, slug, &patch).await
            }
            (Action::AddMember, Target::Person(person)) => {
                let body = json!({"email": person.user.email, "role": "viewer"});
                app.post_member(who, slug, &body).await
            }
            (Action::ChangeMemberRole, Target::Person(member)) => {
                let patch = json!({"role": "maintainer"});
                app.patch_member(who, slug, member.user.id, &patch).await
            }
            (Action::CreateEnvironment, _) => {
                let body = json!({"name": unique("env"), "sleakops_environment": "qa", "production": production});
                app.post_environment(who, slug, &body).await
            }
            (Action::EditEnvironment, Target::Environment(name)) => {
                let patch = json!({"sleakops_environment": "stg-2"});
                app.patch_environment(who, slug, &name, &patch).await
            }
            (Action::DeleteEnvironment, Target::Environment(name)) => {
                app.delete_environment(who, slug, &name).await
            }
            (Action::StartRelease, _) => {
                let body = release_body(environment(production));
                app.post_release(who, slug, Some(&new_key()), &body).await
            }
            (Action::RetryRelease, Target::Release(id)) => {
                app.post_retry(who, id, Some(&new_key())).await
            }
            (Action::CancelRelease, Target::Release(id)) => app.post_cancel(who, id).await,
            (Action::RequestApproval, _) => {
                let body = release_body(gated(production));
                app.post_release(who, slug, Some(&new_key()), &body).await
            }
            (Action::Approve, Target::Release(id)) => app.post_approve(who, id).await,
            (Action::Reject, Target::Release(id)) => {
                app.post_reject(who, id, "Not this week").await
            }
            (Action::Promote, _) => {
                let source = self.running[1 - kind];
                let to = environment(production);
                app.post_promote(who, source, to, &new_key()).await
            }
            (Action::RollBack, _) => {
                let name = environment(production);
                app.post_rollback(who, slug, name, &new_key(), None).await
            }
            (Action::AiNotes, _) => {
                let body = json!({"changelog": "feat: faster checkout\nfix: currency rounding"});
                self.ai(who, self.queued[kind], "notes", &body).await
            }
            (Action::AiExplain, _) => self.ai(who, self.failed[kind], "explain", &json!({})).await,
            (Action::AiChat, _) => {
                let body = json!({"message": "What does this release change?"});
                self.ai(who, self.queued[kind], "chat", &body).await
            }
            (Action::DeleteProject, Target::Project(doomed)) => {
                app.delete_project(who, &doomed).await
            }
            (action, _) => panic!("{action:?} was prepared for another action"),
        }
    }

    async fn ai(&self, who: &Signed, release: u64, what: &str, body: &Value) -> Response {
        let path = format!("/api/releases/{release}/{what}");
        self.app
            .send(Some(who), Method::POST, &path, Some(body))
            .await
    }
}

/// What the server's answer means in the matrix; anything but 2xx, 403 or 404 is an error
/// with its status and body.
async fn outcome(response: Response) -> Result<Outcome, String> {
    let status = response.status().as_u16();
    let outcome = match status {
        200..=299 => Outcome::Allowed,
        403 => Outcome::Forbidden,
        404 => Outcome::Hidden,
        _ => {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("{status} {body}"));
        }
    };
    // Read to the end: a chat answer streams, and is stored once it ends.
    let _ = response.bytes().await;
    Ok(outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_what_the_rule_says_for_every_action_on_every_environment() {
    let sims = Sims::start(Duration::from_millis(30)).await;
    let world = World::new(&sims).await;

    let rows = rows();
    let people = rows.len() * 2 * ACTIONS.iter().filter(|a| a.needs_person()).count();
    let standings = rows.iter().map(|&(standing, _)| standing);
    let newcomers = std::iter::repeat_n(Standing::In(OrgRole::Member), people);
    let mut accounts = world
        .accounts(standings.chain(newcomers).collect())
        .await
        .into_iter();
    let principals: Vec<Principal> = rows
        .into_iter()
        .zip(accounts.by_ref())
        .map(|((standing, project_role), who)| Principal {
            standing,
            project_role,
            who,
        })
        .collect();
    let slug = &world.project.slug;
    for principal in &principals {
        if let Some(role) = principal.project_role {
            world
                .app
                .add_member(&world.boss, slug, &principal.who, role)
                .await;
        }
    }

    let cells: Vec<Cell> = principals
        .iter()
        .flat_map(|principal| {
            ACTIONS.into_iter().flat_map(move |action| {
                [false, true].map(|production| Cell {
                    principal,
                    action,
                    production,
                })
            })
        })
        .collect();
    assert_eq!(cells.len(), 13 * ACTIONS.len() * 2, "every cell is there");
    // Made, then acted on, one cell after another: the matrix is about who may act, not
    // about how acts interleave (two writes to one project at once can deadlock in MySQL
    // and answer 500, which would show here as noise).
    let mut targets = Vec::with_capacity(cells.len());
    for cell in &cells {
        let person = cell.action.needs_person().then(|| accounts.next());
        targets.push(world.prepare(cell, person.flatten()).await);
    }
    let mut failures = Vec::new();
    for (cell, target) in cells.iter().zip(targets) {
        let want = cell.expected();
        match outcome(world.act(cell, target).await).await {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("{cell}: expected {want:?}, got {got:?}")),
            Err(answer) => failures.push(format!("{cell}: expected {want:?}, got {answer}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cells differ from the rule:\n{}",
        failures.len(),
        cells.len(),
        failures.join("\n")
    );
}
