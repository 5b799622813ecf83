//! The smoke test through the public endpoints: the API runs the new commit and is ready; the
//! app's domain answers (on a first deploy Amplify's certificate and DNS take a while, so this
//! waits up to its own bound, saying what it waits for); and the live frontend is this
//! environment's and was built from the commit the backend runs.

use std::time::{Duration, Instant};

use crate::Hint;
use crate::frontend::VERSION_FILE;
use crate::poll::Pace;

/// How long the smoke test waits for the app's domain by default: Amplify issues the
/// certificate of a new custom domain and its DNS records propagate within minutes, usually
/// well under 20 (`--domain-timeout` changes it).
pub const DOMAIN_WITHIN: Duration = Duration::from_secs(20 * 60);

/// How often the wait for the domain says it is still waiting, when nothing else changed.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// How often the checks look again.
const PACE: Pace = Pace {
    settle: Duration::from_secs(10),
    quick: Duration::from_millis(500),
    slow: Duration::from_secs(5),
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("smoke test failed: {0}")]
    Failed(String),
    #[error("{url} did not answer within {} s (last: {last})", waited.as_secs())]
    DomainNotReady {
        url: String,
        waited: Duration,
        last: String,
    },
    #[error(
        "the live frontend was built from {frontend}, but the backend runs {backend} \
         ({url}/version.json)"
    )]
    Skew {
        url: String,
        frontend: String,
        backend: String,
    },
    #[error("smoke test failed: {0}")]
    Frontend(String),
}

impl Error {
    /// Whether the backend failed (and going back to the previous image may help), rather
    /// than the frontend or its domain.
    pub fn concerns_backend(&self) -> bool {
        matches!(self, Self::Failed(_))
    }
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Failed(_) | Self::Frontend(_) => {
                "look at the backend's logs (`cargo xtask logs --env … --since 15m`) and \
                 `cargo xtask status --env …`; rerun the deploy once fixed"
                    .into()
            }
            Self::DomainNotReady { .. } => {
                "a new custom domain waits for its certificate and DNS: see Domain management in \
                 the Amplify console; the backend and the frontend are deployed, so rerun the \
                 deploy later (or with a longer --domain-timeout) to finish the smoke test"
                    .into()
            }
            Self::Skew { .. } => {
                "something else published the frontend (an Amplify auto-build of a push?): keep \
                 EnableAutoBuild off on the branch (infra/frontend.yaml), then rerun \
                 `cargo xtask deploy --env …` to publish the deployed commit's frontend"
                    .into()
            }
        })
    }
}

/// What the smoke test checks.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub api_url: &'a str,
    pub app_url: Option<&'a str>,
    pub git_sha: &'a str,
    pub environment: &'a str,
    /// How long the load balancer may keep answering from old tasks, and the CDN old files.
    pub within: Duration,
    /// How long the app's domain may take to answer at all.
    pub domain_within: Duration,
}

async fn get(client: &reqwest::Client, url: &str) -> Result<(u16, String), String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", crate::aws::causes(&e)))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok((status, body))
}

/// Runs the checks, each retried until its bound runs out; returns the lines to show.
pub async fn check(expect: &Expect<'_>) -> Result<Vec<String>, Error> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a TLS backend is compiled in");
    let api = expect.api_url.trim_end_matches('/');
    let mut lines = retry(expect.within, || api_once(&client, api, expect))
        .await
        .map_err(Error::Failed)?;
    if let Some(app) = expect.app_url {
        let app = app.trim_end_matches('/');
        lines.push(domain(&client, app, expect.domain_within).await?);
        let frontend = retry(expect.within, || frontend_once(&client, app, expect)).await;
        match frontend {
            Ok(line) => lines.push(line),
            Err(FrontendFailure::Skew(frontend)) => {
                return Err(Error::Skew {
                    url: app.to_string(),
                    frontend,
                    backend: expect.git_sha.to_string(),
                });
            }
            Err(FrontendFailure::Other(why)) => return Err(Error::Frontend(why)),
        }
    }
    Ok(lines)
}

/// `attempt` until it succeeds or `within` has passed; the last failure then.
async fn retry<T, E, F, Fut>(within: Duration, mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(why) if started.elapsed() >= within => return Err(why),
            Err(_) => PACE.pause(started).await,
        }
    }
}

async fn api_once(
    client: &reqwest::Client,
    api: &str,
    expect: &Expect<'_>,
) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let (status, body) = get(client, &format!("{api}/api/version")).await?;
    let version: serde_json::Value = serde_json::from_str(&body)
        .map_err(|_| format!("{api}/api/version answered {status} with no JSON"))?;
    let sha = version["git_sha"].as_str().unwrap_or_default();
    if sha != expect.git_sha {
        return Err(format!(
            "{api}/api/version says git_sha {sha}, expected {}",
            expect.git_sha
        ));
    }
    lines.push(format!("{api}/api/version → {sha}"));
    let (status, body) = get(client, &format!("{api}/readyz")).await?;
    if status != 200 {
        return Err(format!("{api}/readyz answered {status}: {}", body.trim()));
    }
    lines.push(format!("{api}/readyz → 200"));
    Ok(lines)
}

/// Waits until the app's page answers 200, printing what it waits for when that changes and
/// every [`PROGRESS_EVERY`] otherwise.
async fn domain(client: &reqwest::Client, app: &str, within: Duration) -> Result<String, Error> {
    let started = Instant::now();
    let mut said: Option<(String, Instant)> = None;
    loop {
        let why = match get(client, &format!("{app}/")).await {
            Ok((200, _)) => return Ok(format!("{app}/ → 200")),
            Ok((status, _)) => format!("{app}/ answered {status}"),
            Err(why) => why,
        };
        let elapsed = started.elapsed();
        if elapsed >= within {
            return Err(Error::DomainNotReady {
                url: app.to_string(),
                waited: elapsed,
                last: why,
            });
        }
        let due = said
            .as_ref()
            .is_none_or(|(last, at)| *last != why || at.elapsed() >= PROGRESS_EVERY);
        if due {
            println!(
                "  waiting for the app's domain (DNS and certificate), {} s of at most {} s: {why}",
                elapsed.as_secs(),
                within.as_secs()
            );
            said = Some((why, Instant::now()));
        }
        PACE.pause(started).await;
    }
}

enum FrontendFailure {
    /// The live frontend's commit, which is not the backend's.
    Skew(String),
    Other(String),
}

async fn frontend_once(
    client: &reqwest::Client,
    app: &str,
    expect: &Expect<'_>,
) -> Result<String, FrontendFailure> {
    let json = |file: &'static str| async move {
        let (status, body) = get(client, &format!("{app}/{file}"))
            .await
            .map_err(FrontendFailure::Other)?;
        serde_json::from_str::<serde_json::Value>(&body).map_err(|_| {
            FrontendFailure::Other(format!("{app}/{file} answered {status} with no JSON"))
        })
    };
    let config = json("config.json").await?;
    if config["environment"] != expect.environment {
        return Err(FrontendFailure::Other(format!(
            "{app}/config.json names environment {}, expected {}",
            config["environment"], expect.environment
        )));
    }
    let version = json(VERSION_FILE).await?;
    let built = version["git_sha"].as_str().unwrap_or_default();
    if built != expect.git_sha {
        return Err(FrontendFailure::Skew(if built.is_empty() {
            "an unknown commit".into()
        } else {
            built.to_string()
        }));
    }
    Ok(format!(
        "{app}/config.json for {}, {VERSION_FILE} → {built}",
        expect.environment
    ))
}
