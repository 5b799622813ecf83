//! Headless Chromium through chromedriver, and the few waits the scenarios need.
//!
//! Every session is also watched for Content-Security-Policy violations: chromedriver keeps
//! Chromium's console (its `browser` log, every page of the session, also those navigated
//! away from), and each navigation and the end of the session fail the test when it holds a
//! violation. The app must run whole under the policy the backend serves.

use fantoccini::{
    Client, ClientBuilder, Locator, elements::Element, wd::WebDriverCompatibleCommand,
};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a page may take to show what a step waits for.
pub const PATIENCE: Duration = Duration::from_secs(30);

const CHROMIUM: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const CHROMEDRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

fn find(candidates: &[&str], name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .iter()
        .map(PathBuf::from)
        .chain(on_path)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed, so the end-to-end tests cannot run: \
                 `apt-get install -y chromium chromium-driver` (`cargo xtask test` installs them)"
            )
        })
}

/// Where screenshots go: `target/e2e-screenshots/` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    let dir = faro_testkit::app::frontend::workspace_root().join("target/e2e-screenshots");
    std::fs::create_dir_all(&dir).expect("create target/e2e-screenshots");
    dir
}

/// A browser session; chromedriver (and with it Chromium) stops on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Prefixes screenshot names.
    test: &'static str,
}

impl Browser {
    pub async fn launch(test: &'static str) -> Self {
        let chromium = find(CHROMIUM, "chromium");
        let chromedriver = find(CHROMEDRIVER, "chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // Its own process group: on drop, the group's kill takes Chromium along.
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", chromedriver.display()));
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                ],
            },
            // Chromium's console, CSP violations included, kept for `assert_no_csp_violation`.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object literal"),
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver did not start a Chromium session: {e}"),
            }
        };
        Self {
            client,
            driver,
            test,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.assert_no_csp_violation().await;
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Saves a PNG as `target/e2e-screenshots/<test>-<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(format!("{}-{name}.png", self.test));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Fails the test with what the page shows, and a screenshot of it.
    async fn fail(&self, what: &str) -> ! {
        let shot = self.screenshot("failure").await;
        let path = self.path().await;
        let text = match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let text: String = text.chars().take(1500).collect();
        panic!(
            "{what} (page {path}; screenshot {}); the page says:\n{text}",
            shot.display()
        );
    }

    /// The element matching `css`, once it exists.
    pub async fn element(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(_) => self.fail(&format!("no element matches `{css}`")).await,
        }
    }

    /// Waits until the text of `css` satisfies `ok`; returns it.
    pub async fn text_where(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.text_within(css, what, PATIENCE, ok).await
    }

    pub async fn text_within(
        &self,
        css: &str,
        what: &str,
        limit: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < limit {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if ok(&text) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!(
            "`{css}` never showed {what} within {} s (last: {last:?})",
            limit.as_secs()
        ))
        .await
    }

    /// Waits until the page's path (with query) satisfies `ok`.
    pub async fn path_where(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            let path = self.path().await;
            if ok(&path) {
                return path;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!("the app never went to {what}")).await
    }

    /// Types into the field with id `id`, replacing what it held.
    pub async fn fill(&self, id: &str, value: &str) {
        let field = self.element(&format!("#{id}")).await;
        field.clear().await.expect("clear a field");
        field.send_keys(value).await.expect("type into a field");
    }

    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        if let Err(e) = element.click().await {
            self.fail(&format!("could not click `{css}`: {e}")).await;
        }
    }

    /// Runs JavaScript in the page and returns its result.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("running {script:?}: {e}"))
    }

    /// The token of the session the app's cookie holds.
    pub async fn session_token(&self) -> String {
        let cookie = self
            .client
            .get_named_cookie("faro_session")
            .await
            .expect("the session cookie");
        cookie.value().to_owned()
    }

    /// Fails the test when Chromium's console, since the last look, reports a violation of
    /// the Content-Security-Policy (a refused script, style, connection, frame…).
    pub async fn assert_no_csp_violation(&self) {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver's browser log");
        let entries = log.get("value").unwrap_or(&log);
        let violations: Vec<&str> = entries
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["message"].as_str())
            .filter(|message| is_csp_violation(message))
            .collect();
        if !violations.is_empty() {
            self.fail(&format!(
                "Chromium reported {} Content-Security-Policy violation(s):\n{}",
                violations.len(),
                violations.join("\n")
            ))
            .await;
        }
    }

    /// Ends the session (Chromium quits) once its console is checked for CSP violations;
    /// drop then stops chromedriver.
    pub async fn close(self) {
        self.assert_no_csp_violation().await;
        let _ = self.client.clone().close().await;
    }
}

/// Chromium's words for a refusal by the policy ("Refused to execute inline script because it
/// violates the following Content Security Policy directive: …").
fn is_csp_violation(message: &str) -> bool {
    message.contains("Content Security Policy") || message.contains("Content-Security-Policy")
}

/// chromedriver's console of the session since the last call (`POST /session/{id}/se/log`
/// with `{"type": "browser"}`), which WebDriver itself does not define.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(r#"{"type": "browser"}"#.to_owned()),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started, by process group id.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }
}
