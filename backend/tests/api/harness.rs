//! The test harness itself: whatever state a test leaves its app in, its database goes.

use faro_testkit::TestApp;
use sqlx::Connection;

#[tokio::test]
async fn a_transaction_left_open_does_not_keep_the_database_from_being_dropped() {
    let app = TestApp::spawn().await;
    let database: String = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(&app.state.db)
        .await
        .expect("the app's database");
    // As a worker's transaction is left when the test's end stops its runtime mid-way.
    let mut tx = app.state.db.begin().await.expect("begin");
    sqlx::query("SELECT COUNT(*) FROM users FOR UPDATE")
        .execute(&mut *tx)
        .await
        .expect("lock the users");
    std::mem::forget(tx);

    drop(app);

    let server = faro_testkit::app::services::services().mysql_server;
    let mut conn = sqlx::MySqlConnection::connect(&server)
        .await
        .expect("the test MySQL server");
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(&database)
    .fetch_one(&mut conn)
    .await
    .expect("count");
    assert_eq!(left, 0, "database {database} is still there");
}
