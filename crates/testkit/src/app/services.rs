//! Where the test services are, as `cargo xtask test` passes them, and the variables an app
//! needs to run against them.

use std::collections::HashMap;

/// The variables an app starts from; a test adjusts them before spawning.
pub type Vars = HashMap<String, String>;

/// MariaDB and DynamoDB Local, from `FARO_TEST_*`.
#[derive(Debug, Clone)]
pub struct Services {
    /// `mysql://user@host:port`, without a database.
    pub mysql_server: String,
    /// Every database and table name a test makes starts with it, so a run can drop its own.
    pub db_prefix: String,
    pub dynamodb: String,
}

pub fn services() -> Services {
    let dynamodb = std::env::var("FARO_TEST_DYNAMODB_URL").unwrap_or_else(|_| {
        panic!(
            "FARO_TEST_DYNAMODB_URL is not set: run the tests with `cargo xtask test`, \
             which starts DynamoDB Local and MariaDB and sets it"
        )
    });
    Services {
        mysql_server: std::env::var("FARO_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
            .trim_end_matches('/')
            .to_owned(),
        db_prefix: std::env::var("FARO_TEST_DB_PREFIX").unwrap_or_else(|_| "faro_t_adhoc_".into()),
        dynamodb,
    }
}

/// A database and table name no other test uses.
pub fn unique_name(services: &Services) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{}{}", services.db_prefix, &id[..12])
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The key-encryption key of every test app (`FARO_ENCRYPTION_KEY`): each test's database is
/// its own, so one fixed key serves them all. Tests of the keys themselves set others.
pub const TEST_ENCRYPTION_KEY: &str = "faro-test-kek-0123456789abcdefghijklmnopqrstuvwxyz";

/// The variables of an app on port 0 with database and table `name`.
pub fn test_vars(services: &Services, name: &str) -> Vars {
    [
        ("FARO_ENV", "test".to_owned()),
        ("FARO_HOST", "127.0.0.1".to_owned()),
        ("FARO_PORT", "0".to_owned()),
        ("DATABASE_URL", format!("{}/{name}", services.mysql_server)),
        ("FARO_DYNAMODB_TABLE", name.to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", services.dynamodb.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("FARO_LOG_FORMAT", "json".to_owned()),
        ("FARO_READINESS_TIMEOUT_MS", "1000".to_owned()),
        ("FARO_ENCRYPTION_KEY", TEST_ENCRYPTION_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
