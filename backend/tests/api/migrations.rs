use faro_backend::db::{self, MIGRATOR};
use faro_testkit::TestApp;
use faro_testkit::app::{services, unique_name};
use faro_types::{AuditEntry, Page, Role};
use sqlx::{MySql, MySqlPool, migrate::MigrateDatabase, mysql::MySqlPoolOptions};

#[tokio::test]
async fn migrations_applied_twice_are_a_no_op() {
    let services = services();
    let url = format!("{}/{}", services.mysql_server, unique_name(&services));
    MySql::create_database(&url).await.expect("create database");
    let pool = MySqlPoolOptions::new()
        .connect(&url)
        .await
        .expect("connect");

    db::migrate(&pool).await.expect("first run");
    let tables = |pool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name",
        )
        .fetch_all(pool)
        .await
        .expect("list tables")
    };
    let applied = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    let first_tables = tables(&pool).await;
    let first_applied = applied().await;
    assert!(MIGRATOR.iter().count() > 0);
    assert_eq!(first_applied, MIGRATOR.iter().count() as i64);
    for table in [
        "users",
        "projects",
        "environments",
        "memberships",
        "releases",
        "outbox",
    ] {
        assert!(
            first_tables.iter().any(|t| t == table),
            "{table} missing from {first_tables:?}"
        );
    }

    db::migrate(&pool).await.expect("second run is fine");
    assert_eq!(applied().await, first_applied);
    assert_eq!(tables(&pool).await, first_tables);

    pool.close().await;
    MySql::drop_database(&url).await.expect("drop database");
}

/// A new database with this build's migrations older than `until` applied: its URL, and a
/// connection to it.
pub(crate) async fn database_migrated_before(until: i64) -> (String, MySqlPool) {
    let services = services();
    let url = format!("{}/{}", services.mysql_server, unique_name(&services));
    MySql::create_database(&url).await.expect("create database");
    let pool = MySqlPoolOptions::new()
        .connect(&url)
        .await
        .expect("connect");
    let older = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            MIGRATOR
                .iter()
                .filter(|m| m.version < until)
                .cloned()
                .collect(),
        ),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    };
    older.run(&pool).await.expect("the older migrations");
    (url, pool)
}

/// The version of the migration that brought organizations.
const ORGANIZATIONS: i64 = 20261207000001;

/// Fills a database of the schema before organizations the way the app did, then migrates.
/// Two accounts own "shop" (Ada earliest), Bob maintains "blog" of Ada's, and Carol owns
/// "notes" alone: every project moves to its earliest owner's organization, every other
/// member joins that organization, and nobody's access changes.
#[tokio::test]
async fn the_organizations_migration_keeps_everyones_access() {
    let (url, pool) = database_migrated_before(ORGANIZATIONS).await;
    let hash = faro_backend::auth::password::hash(faro_testkit::PASSWORD.to_owned())
        .await
        .expect("hash");
    for (id, email, name) in [
        (1, "ada@example.com", "Ada Lovelace"),
        (2, "bob@example.com", "Bob"),
        (3, "carol@example.com", "42 Carol"),
    ] {
        sqlx::query(
            "INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at) \
             VALUES (?, ?, ?, ?, NOW(6), NOW(6))",
        )
        .bind(id)
        .bind(email)
        .bind(name)
        .bind(&hash)
        .execute(&pool)
        .await
        .expect("user");
    }
    sqlx::raw_sql(
        "INSERT INTO projects (id, slug, name, sleakops_project, repository_url, default_branch, \
           created_by, created_at, updated_at) VALUES \
           (10, 'shop', 'Shop', 'shop', 'https://x.test/shop', 'main', 2, NOW(6), NOW(6)), \
           (11, 'blog', 'Blog', 'blog', 'https://x.test/blog', 'main', 1, NOW(6), NOW(6)), \
           (12, 'notes', 'Notes', 'notes', 'https://x.test/notes', 'main', 3, NOW(6), NOW(6)); \
         INSERT INTO memberships (project_id, user_id, role, created_at) VALUES \
           (10, 1, 'owner', '2026-01-01'), (10, 2, 'owner', '2026-01-02'), \
           (11, 1, 'owner', '2026-01-01'), (11, 2, 'maintainer', '2026-01-03'), \
           (12, 3, 'owner', '2026-01-04'); \
         INSERT INTO environments (id, project_id, name, sleakops_environment, production, \
           created_at, updated_at) VALUES (20, 10, 'production', 'prod', TRUE, NOW(6), NOW(6)); \
         INSERT INTO releases (project_id, environment_id, branch, commit_sha, status, \
           requested_by, requested_at, updated_at) \
           VALUES (10, 20, 'main', 'abcdef1', 'deployed', 2, NOW(6), NOW(6));",
    )
    .execute(&pool)
    .await
    .expect("data of the old schema");

    db::migrate(&pool)
        .await
        .expect("the organizations migration");

    let orgs: Vec<(u64, String, String, u64)> =
        sqlx::query_as("SELECT id, slug, name, created_by FROM organizations ORDER BY created_by")
            .fetch_all(&pool)
            .await
            .expect("orgs");
    let slugs: Vec<&str> = orgs.iter().map(|o| o.1.as_str()).collect();
    assert_eq!(slugs, ["ada-lovelace-1", "bob-2", "org-42-carol-3"]);
    assert_eq!(orgs[0].2, "Ada Lovelace's organization");
    let homes: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.slug, o.slug FROM projects p JOIN organizations o ON o.id = p.org_id \
         ORDER BY p.slug",
    )
    .fetch_all(&pool)
    .await
    .expect("homes");
    let homes: Vec<(&str, &str)> = homes
        .iter()
        .map(|(p, o)| (p.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        homes,
        [
            ("blog", "ada-lovelace-1"),
            ("notes", "org-42-carol-3"),
            ("shop", "ada-lovelace-1")
        ]
    );
    let members: Vec<(String, u64, String)> = sqlx::query_as(
        "SELECT o.slug, m.user_id, m.role FROM org_members m \
         JOIN organizations o ON o.id = m.org_id ORDER BY o.slug, m.user_id",
    )
    .fetch_all(&pool)
    .await
    .expect("members");
    let members: Vec<(&str, u64, &str)> = members
        .iter()
        .map(|(o, u, r)| (o.as_str(), *u, r.as_str()))
        .collect();
    assert_eq!(
        members,
        [
            ("ada-lovelace-1", 1, "owner"),
            ("ada-lovelace-1", 2, "member"),
            ("bob-2", 2, "owner"),
            ("org-42-carol-3", 3, "owner"),
        ]
    );
    let (releases, memberships): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM releases), (SELECT COUNT(*) FROM memberships)",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!((releases, memberships), (1, 5), "nothing lost");
    pool.close().await;

    // The app on the migrated database: Bob's access is what it was, and his joining Ada's
    // organization is in its audit log.
    let app = TestApp::builder().set("DATABASE_URL", &url).spawn().await;
    let bob = app.login("bob@example.com").await;
    let seen: Vec<(String, Role)> = app
        .projects(&bob)
        .await
        .into_iter()
        .map(|p| (p.slug, p.role))
        .collect();
    assert_eq!(
        seen,
        [
            ("blog".to_owned(), Role::Maintainer),
            ("shop".to_owned(), Role::Owner)
        ]
    );
    let ada = app.login("ada@example.com").await;
    let started = std::time::Instant::now();
    loop {
        let page: Page<AuditEntry> = app.get_as(&ada, "/api/orgs/ada-lovelace-1/audit").await;
        if let Some(entry) = page.items.iter().find(|e| e.action == "org.member.migrate") {
            assert_eq!(entry.target, "user:2");
            assert_eq!(entry.actor_email, "faro-migration");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            page.items
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let project_log = app.audit(&ada, "shop").await;
    assert!(
        project_log
            .iter()
            .any(|e| e.action == "project.organization")
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_outbox").await,
        0,
        "all delivered"
    );
}
