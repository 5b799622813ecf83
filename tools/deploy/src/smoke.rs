//! The smoke test through the public endpoints: the API runs the new commit and is ready, and
//! the frontend answers with this environment's configuration.

use std::time::{Duration, Instant};

use crate::Hint;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("smoke test failed: {0}")]
    Failed(String),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(
            "look at the backend's logs (`cargo xtask logs --env … --since 15m`) and \
             `cargo xtask status --env …`; rerun the deploy once fixed"
                .into(),
        )
    }
}

/// What the smoke test checks.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub api_url: &'a str,
    pub app_url: Option<&'a str>,
    pub git_sha: &'a str,
    pub environment: &'a str,
    /// How long the load balancer may keep answering from old tasks.
    pub within: Duration,
}

async fn get(client: &reqwest::Client, url: &str) -> Result<(u16, String), String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok((status, body))
}

/// Runs the checks, retrying until `within` runs out; returns the lines to show.
pub async fn check(expect: &Expect<'_>) -> Result<Vec<String>, Error> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a TLS backend is compiled in");
    let started = Instant::now();
    let api = expect.api_url.trim_end_matches('/');
    loop {
        match once(&client, api, expect).await {
            Ok(lines) => return Ok(lines),
            Err(why) if started.elapsed() >= expect.within => return Err(Error::Failed(why)),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

async fn once(
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
    if let Some(app) = expect.app_url {
        let app = app.trim_end_matches('/');
        let (status, _) = get(client, &format!("{app}/")).await?;
        if status != 200 {
            return Err(format!("{app}/ answered {status}"));
        }
        let (status, body) = get(client, &format!("{app}/config.json")).await?;
        let config: serde_json::Value = serde_json::from_str(&body)
            .map_err(|_| format!("{app}/config.json answered {status} with no JSON"))?;
        if config["environment"] != expect.environment {
            return Err(format!(
                "{app}/config.json names environment {}, expected {}",
                config["environment"], expect.environment
            ));
        }
        lines.push(format!(
            "{app}/ → 200, config.json for {}",
            expect.environment
        ));
    }
    Ok(lines)
}
