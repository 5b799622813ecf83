//! The data the API scenarios run against: a user, a project with an environment, 10,000
//! releases (inserted in one SQL statement: the API would take minutes) and one release made
//! through the API, so it has a real timeline.

use std::net::SocketAddr;
use std::time::Duration;

use crate::http::{self, Request};
use crate::stack::mysql::{self, MysqlUrl};

const TIMEOUT: Duration = Duration::from_secs(30);
pub const SLUG: &str = "bench";
const PASSWORD: &str = "bench password, long enough";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Http(#[from] http::Error),
    #[error("{what} answered {status}: {body}")]
    Status {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("{what} answered JSON without `{field}`")]
    Shape {
        what: &'static str,
        field: &'static str,
    },
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

fn call(
    addr: SocketAddr,
    what: &'static str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> Result<serde_json::Value, Error> {
    let body = body.to_string();
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let request = Request {
        method,
        path,
        headers: &all,
        body: body.as_bytes(),
    };
    let (status, bytes) = http::exchange(addr, &request, TIMEOUT)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if !(200..300).contains(&status) {
        return Err(Error::Status {
            what,
            status,
            body: text,
        });
    }
    serde_json::from_str(&text).map_err(|_| Error::Shape {
        what,
        field: "body",
    })
}

fn number(
    value: &serde_json::Value,
    what: &'static str,
    field: &'static str,
) -> Result<u64, Error> {
    value
        .pointer(field)
        .and_then(serde_json::Value::as_u64)
        .ok_or(Error::Shape { what, field })
}

/// Seeds `releases` releases into the backend at `addr`, whose database is `database`.
pub fn seed(
    addr: SocketAddr,
    database: &MysqlUrl,
    name: &str,
    releases: u32,
) -> Result<Seeded, Error> {
    let session = call(
        addr,
        "sign-up",
        "POST",
        "/api/auth/signup",
        &[],
        &serde_json::json!({"email": "bench@faro.test", "password": PASSWORD, "name": "Bench"}),
    )?;
    let token = session
        .pointer("/token")
        .and_then(serde_json::Value::as_str)
        .ok_or(Error::Shape {
            what: "sign-up",
            field: "/token",
        })?
        .to_owned();
    let user_id = number(&session, "sign-up", "/user/id")?;
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let project = call(
        addr,
        "creating the project",
        "POST",
        "/api/projects",
        &auth,
        &serde_json::json!({
            "slug": SLUG, "name": "Bench", "sleakops_project": "bench",
            "repository_url": "https://example.com/bench.git", "default_branch": "main"
        }),
    )?;
    let project_id = number(&project, "creating the project", "/id")?;
    let environment = call(
        addr,
        "creating the environment",
        "POST",
        &format!("/api/projects/{SLUG}/environments"),
        &auth,
        &serde_json::json!({"name": "staging", "sleakops_environment": "staging"}),
    )?;
    let environment_id = number(&environment, "creating the environment", "/id")?;

    // 10^4 rows from a cross join of digits: portable between MySQL 8 and MariaDB, no
    // recursion limits.
    let seq = numbers(releases);
    let statement = format!(
        "INSERT INTO `{name}`.releases (project_id, environment_id, branch, commit_sha, status, \
         requested_by, requested_at, deployed_at, finished_at, updated_at, event_seq) \
         SELECT {project_id}, {environment_id}, 'main', LPAD(HEX(n), 40, '0'), 'deployed', {user_id}, \
         NOW(6) - INTERVAL n MINUTE, NOW(6) - INTERVAL n MINUTE, NOW(6) - INTERVAL n MINUTE, NOW(6), 0 \
         FROM {seq} ORDER BY n DESC"
    );
    mysql::execute(database, &statement)?;

    let release = call(
        addr,
        "creating a release",
        "POST",
        &format!("/api/projects/{SLUG}/releases"),
        &[auth[0], ("Idempotency-Key", "bench-seed")],
        &serde_json::json!({"environment": "staging", "branch": "main", "commit_sha": "abcdef1"}),
    )?;
    let release_id = number(&release, "creating a release", "/id")?;
    Ok(Seeded {
        token,
        user_id,
        release_id,
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
