//! The OpenAPI document is the contract: schemathesis, driven by the document alone, finds
//! no response that breaks it (an undocumented status, a body unlike its schema, a request
//! the schema calls valid refused for its form, or an invalid one accepted, a server error).
//!
//! Ignored by default: schemathesis is a Python tool. `cargo xtask test` installs it into a
//! venv of its own and runs this test as its `contract` step, with the venv's Python in
//! `FARO_SCHEMATHESIS_PYTHON`.

use faro_testkit::{Sims, TestApp};
use std::time::Duration;

/// Test cases per operation and phase: the step's time (at most 90 s on two cores) bounds it.
const MAX_EXAMPLES: &str = "12";

/// Operations the run leaves out, and why: each would end the session every other operation
/// is signed in with. (A new operation that ends sessions goes here.)
const SESSION_ENDING: &str = "^/api/auth/logout(-all)?$";

/// schemathesis's command-line entry point, run by the venv's Python (what its script does,
/// without the script's absolute shebang).
const SCHEMATHESIS_MAIN: &str = "import sys; sys.argv[0] = 'schemathesis'; \
    from schemathesis.cli import schemathesis; sys.exit(schemathesis())";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis: `cargo xtask test` runs it as its `contract` step"]
async fn schemathesis_finds_nothing_the_document_does_not_promise() {
    let python = std::env::var("FARO_SCHEMATHESIS_PYTHON").expect(
        "FARO_SCHEMATHESIS_PYTHON names the Python of schemathesis's venv; \
         `cargo xtask test` sets it",
    );
    let sims = Sims::start(Duration::from_millis(20)).await;
    let app = TestApp::builder().sims(&sims).spawn().await;
    let signed = app.signup("Contract").await;

    // schemathesis keeps caches (`.schemathesis/`) in its working directory: a directory of
    // the run's own, not the repository.
    let workdir = std::env::temp_dir().join(format!("faro-schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).expect("a working directory for schemathesis");
    let mut run = tokio::process::Command::new(python);
    run.current_dir(&workdir)
        .args(["-c", SCHEMATHESIS_MAIN, "run"])
        .arg(app.url("/api/openapi.json"))
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--checks", "all"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", "1"])
        // One worker: two share schemathesis's generation caches, and have been seen to race
        // on them (a KeyError inside schemathesis, reported as a finding).
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(["--generation-database", "none"])
        .args(["--exclude-path-regex", SESSION_ENDING])
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", signed.token))
        .args(["--no-color", "--output-truncate", "false"])
        .kill_on_drop(true);
    let status = run.status().await.expect("schemathesis runs");
    let _ = std::fs::remove_dir_all(&workdir);
    assert!(
        status.success(),
        "schemathesis found responses the document does not promise ({status}); \
         its report is above"
    );
}
