//! Verified TLS to MySQL: the backend's pool, configured as the task definition configures it
//! (`FARO_DATABASE_TLS=verify-identity` and a CA bundle), against a private `mariadbd` whose
//! certificate the test makes with a CA of its own and changes between connections.

use crate::mariadbd::PrivateMariaDb;
use faro_backend::{config::Config, db};
use faro_testkit::app::TEST_ENCRYPTION_KEY;
use faro_testkit::{TestApp, problem};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use reqwest::Method;
use serde_json::json;
use std::path::Path;

/// A certificate authority of this test.
struct TestCa(CertifiedIssuer<'static, KeyPair>);

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        Self(CertifiedIssuer::self_signed(params, key).expect("a CA certificate"))
    }

    fn pem(&self) -> String {
        self.0.pem()
    }

    /// A server certificate for `host` and its key, in PEM.
    fn server(&self, host: &str) -> (String, String) {
        let mut params = CertificateParams::new(vec![host.to_owned()]).expect("a host name");
        params.distinguished_name.push(DnType::CommonName, host);
        let key = KeyPair::generate().expect("a server key");
        let cert = params
            .signed_by(&key, &self.0)
            .expect("a server certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// The database variables of an app on `server`, as the task definition sets them.
fn tls_vars(server: &PrivateMariaDb, ca_file: &Path, mode: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "DATABASE_URL",
            format!("mysql://root@localhost:{}/faro", server.port),
        ),
        ("FARO_DATABASE_TLS", mode.to_owned()),
        ("FARO_DATABASE_CA_FILE", ca_file.display().to_string()),
    ]
}

/// Connects through the backend's own pool as these variables configure it; the connection's
/// TLS cipher.
async fn cipher(vars: &[(&'static str, String)]) -> Result<String, sqlx::Error> {
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| value.clone())
            .or_else(|| (name == "FARO_ENCRYPTION_KEY").then(|| TEST_ENCRYPTION_KEY.to_owned()))
            .or_else(|| (name == "FARO_ENV").then(|| "test".to_owned()))
    })
    .expect("a valid configuration");
    let pool = db::pool(&config.database);
    let cipher = sqlx::query_scalar(
        "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
         WHERE VARIABLE_NAME = 'Ssl_cipher'",
    )
    .fetch_one(&pool)
    .await;
    pool.close().await;
    cipher
}

/// Asserts that `result` is a refused TLS handshake for the reason `why` (rustls's name for
/// it), which the app counts as MySQL out of reach.
fn assert_refused(result: Result<String, sqlx::Error>, why: &str) {
    let err = result.expect_err("the handshake is refused");
    assert!(format!("{err:?}").contains(why), "{err:?}");
    assert!(db::is_unreachable(&err), "{err:?}");
}

/// One server for the whole story: starting `mariadbd` costs seconds, changing its
/// certificate (`FLUSH SSL`) does not.
#[tokio::test]
async fn tls_verify_identity_connects_only_to_a_server_certified_for_its_host_by_the_ca() {
    let ca = TestCa::new("Faro test CA");
    let (cert, key) = ca.server("localhost");
    let server = PrivateMariaDb::start(&cert, &key).await;
    server.execute("CREATE DATABASE faro").await;
    let ca_file = server.file("ca.pem", &ca.pem());
    let verify_identity = tls_vars(&server, &ca_file, "verify-identity");

    // The certificate names the host and chains to the CA: connected, encrypted.
    let used = cipher(&verify_identity).await.expect("connects");
    assert!(!used.is_empty(), "the connection is encrypted");

    // A certificate of the same CA for another host: refused, although it chains.
    let (cert, key) = ca.server("db.elsewhere.test");
    server.serve(&cert, &key).await;
    assert_refused(cipher(&verify_identity).await, "NotValidForName");

    // A certificate for the host, from a CA the bundle does not hold: refused.
    let (cert, key) = TestCa::new("Another CA").server("localhost");
    server.serve(&cert, &key).await;
    assert_refused(cipher(&verify_identity).await, "UnknownIssuer");

    // An app so configured answers 503, not 500: the database is out of reach, not broken.
    // So does one whose bundle rustls cannot load (a TLS error before any handshake).
    let corrupt = server.file(
        "corrupt.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    for vars in [
        verify_identity,
        tls_vars(&server, &corrupt, "verify-identity"),
    ] {
        let app = vars
            .iter()
            .fold(TestApp::builder(), |app, (var, value)| app.set(var, value))
            .set("FARO_AUTO_MIGRATE", "false")
            .spawn()
            .await;
        let body =
            json!({"email": "tls@example.com", "password": faro_testkit::PASSWORD, "name": "T"});
        let response = app
            .send(None, Method::POST, "/api/auth/signup", Some(&body))
            .await;
        let problem = problem(response, 503).await;
        assert_eq!(problem.type_uri, "/problems/service-unavailable");
        assert_eq!(app.get("/readyz").await.status(), 503);
    }
}
