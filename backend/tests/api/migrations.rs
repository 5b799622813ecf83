use faro_backend::db::{self, MIGRATOR};
use faro_testkit::app::{services, unique_name};
use sqlx::{MySql, migrate::MigrateDatabase, mysql::MySqlPoolOptions};

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
