//! The image against Debian's docker-registry behind HTTP basic auth: refused without or with
//! wrong credentials, pushed with the right ones, pushed again without uploading a blob, and
//! pulled back with the digest it was pushed with.

use std::path::Path;

use faro_aws_standin::local::{Registry, required_var as var};
use faro_deploy::image::layout::{self, BINARY_PATH};
use faro_deploy::registry::{Client, Credentials, Error, Reference};

#[tokio::test]
async fn push_with_basic_auth_skip_existing_and_pull_back() {
    let dir = std::env::temp_dir().join(format!("faro-registry-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(dir.join("htpasswd"), format!("faro:{hash}\n")).unwrap();
    let registry = Registry::start(
        Path::new(&var("FARO_TEST_REGISTRY_BIN")),
        &dir,
        Some(&dir.join("htpasswd")),
    )
    .await
    .unwrap();
    let image = layout::open(Path::new(&var("FARO_TEST_IMAGE_DIR"))).unwrap();
    let reference = Reference::parse(&format!("{}/faro/backend", registry.host)).unwrap();
    let client = |user: Option<&str>, password: &str| {
        Client::new(
            reference.clone(),
            Credentials {
                username: user.map(str::to_owned),
                password: Some(password.to_string()),
            },
        )
    };

    let err = client(None, "").push(&image, "t1").await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    let err = client(Some("faro"), "wrong")
        .push(&image, "t1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");

    let mut good = client(Some("faro"), "s3cret");
    let first = good.push(&image, "t1").await.unwrap();
    assert_eq!(first.uploaded.len(), 2, "config and layer");
    assert_eq!(first.digest, image.manifest.digest);
    let second = good.push(&image, "t2").await.unwrap();
    assert!(
        second.uploaded.is_empty(),
        "the registry had every blob: {second:?}"
    );
    assert_eq!(second.skipped.len(), 2);

    let pulled = good.pull("t2").await.unwrap();
    assert_eq!(
        pulled.digest, image.manifest.digest,
        "pulled back with the pushed digest"
    );
    let (binary, mode) = layout::extract_file(&pulled.layers[0], BINARY_PATH).unwrap();
    assert_eq!(mode & 0o777, 0o755);
    assert!(binary.starts_with(b"\x7fELF"));
    let config: serde_json::Value = serde_json::from_slice(&pulled.config).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"][0],
        "/usr/local/bin/faro-backend"
    );
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.revision"],
        image.revision().unwrap()
    );
    // The size is a budget that `cargo xtask bench --scenario image` reports for the release
    // image; the image here may be built from the debug backend.
    let _ = std::fs::remove_dir_all(&dir);
}
