//! The data the API scenarios run against: a user whose organization has the SleakOps
//! simulator's key, a project with an environment, 10,000 releases (inserted in one SQL
//! statement: the API would take minutes) and one release made through the API, so it has a
//! real timeline. The API calls are `faro-fixtures`'.

use std::net::SocketAddr;

use faro_fixtures::{Api, Signed, fixtures::release_body};

use crate::stack::mysql::{self, MysqlUrl};

pub const SLUG: &str = "bench";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The fixtures assert as tests do; their panic message says which call failed and how.
    #[error("{0}")]
    Fixture(String),
    #[error(transparent)]
    Sql(#[from] mysql::Error),
}

/// What the scenarios need to know about the seeded data.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub token: String,
    /// The signed-up user (the project's owner).
    pub user_id: u64,
    /// A release created through the API, with its first timeline event.
    pub release_id: u64,
}

/// A signed-up owner whose organization has a SleakOps key, its project [`SLUG`] and the
/// project's environment `staging`, all made through the API.
#[derive(Debug, Clone)]
pub struct Project {
    pub owner: Signed,
    pub project_id: u64,
    pub environment_id: u64,
}

/// Makes a [`Project`] in the backend at `addr`, its organization given `sleakops_key` (which
/// the backend verifies against the SleakOps it is wired to).
pub fn project(
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    sleakops_key: Option<&str>,
) -> Result<(Api, Project), Error> {
    let mut api = Api::new(format!("http://{addr}"));
    if let Some(key) = sleakops_key {
        api = api.with_sleakops_key(key);
    }
    let project = fixture(runtime, {
        let api = api.clone();
        async move {
            let owner = api.signup("Bench").await;
            api.give_sleakops_key(&owner).await;
            let project = api.create_project(&owner, SLUG).await;
            let staging = api.create_environment(&owner, SLUG, "staging", false).await;
            Project {
                owner,
                project_id: project.id,
                environment_id: staging.id,
            }
        }
    })?;
    Ok((api, project))
}

/// Seeds `releases` releases into the backend at `addr`, whose database is `database`.
pub fn seed(
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    sleakops_key: Option<&str>,
    database: &MysqlUrl,
    name: &str,
    releases: u32,
) -> Result<Seeded, Error> {
    let (
        api,
        Project {
            owner,
            project_id,
            environment_id,
        },
    ) = project(runtime, addr, sleakops_key)?;

    // 10^4 rows from a cross join of digits: portable between MySQL 8 and MariaDB, no
    // recursion limits.
    let seq = numbers(releases);
    let user_id = owner.user.id;
    let statement = format!(
        "INSERT INTO `{name}`.releases (project_id, environment_id, branch, commit_sha, status, \
         requested_by, requested_at, deployed_at, finished_at, updated_at, event_seq) \
         SELECT {project_id}, {environment_id}, 'main', LPAD(HEX(n), 40, '0'), 'deployed', {user_id}, \
         NOW(6) - INTERVAL n MINUTE, NOW(6) - INTERVAL n MINUTE, NOW(6) - INTERVAL n MINUTE, NOW(6), 0 \
         FROM {seq} ORDER BY n DESC"
    );
    mysql::execute(database, &statement)?;

    let release = fixture(runtime, {
        let owner = owner.clone();
        async move {
            api.create_release(&owner, SLUG, &release_body("staging"))
                .await
        }
    })?;
    Ok(Seeded {
        token: owner.token,
        user_id,
        release_id: release.id,
    })
}

/// Runs fixtures on `runtime`, their panic an [`Error`].
pub(super) fn fixture<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    calls: impl Future<Output = T> + Send + 'static,
) -> Result<T, Error> {
    runtime.block_on(runtime.spawn(calls)).map_err(|e| {
        let message = match e.try_into_panic() {
            Ok(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a fixture panicked".into()),
            Err(e) => e.to_string(),
        };
        Error::Fixture(format!("seeding through the API failed: {message}"))
    })
}

/// A derived table `seq` of the numbers `0..count` in a column `n` (at most 10,000), in SQL
/// both MySQL and MariaDB run.
pub fn numbers(count: u32) -> String {
    let digits = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL \
                  SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL \
                  SELECT 8 UNION ALL SELECT 9)";
    format!(
        "(SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS n \
          FROM {digits} a CROSS JOIN {digits} b CROSS JOIN {digits} c CROSS JOIN {digits} e \
          WHERE a.d + 10 * b.d + 100 * c.d + 1000 * e.d < {count}) seq"
    )
}
