//! The frontend bundle of an environment: the static files of `frontend/dist/` (built by
//! `cargo xtask frontend build --release`, with the `version.json` naming the commit they were
//! built from) plus a `config.json` naming the environment's API and Amplify's `customHttp.yml`
//! with the app's headers for that API's origin (the same file `cargo xtask frontend configure`
//! writes for Amplify CI), zipped the way Amplify's manual deployments take it; and
//! [`publish`], which puts the deployed commit's frontend live on either kind of Amplify app.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use faro_app_headers::AppHeaders;

use crate::aws::Aws;
use crate::{Hint, amplify};

/// Amplify Hosting's file of custom headers, at the root of a manual deployment's zip.
pub const CUSTOM_HTTP: &str = "customHttp.yml";

/// The build's own record of the commit it was built from (`{"git_sha": …}`), written by
/// `cargo xtask frontend build`; the smoke test reads it from the live site.
pub const VERSION_FILE: &str = "version.json";

/// Holds the bundle's hash on the published site, so an unchanged frontend is not re-published.
pub const BUNDLE_MARKER: &str = "faro-bundle.txt";

/// How long an Amplify job may take.
const JOB_LIMIT: std::time::Duration = std::time::Duration::from_secs(900);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`cargo xtask frontend build --release` failed")]
    Build,
    #[error("could not run cargo: {0}")]
    Spawn(std::io::Error),
    #[error("{0} has no index.html")]
    NoIndex(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot zip the frontend: {0}")]
    Zip(String),
    #[error("{0}")]
    ApiBaseUrl(String),
    #[error(
        "the frontend in {dist} was built from {built}, but the commit being deployed is {deploying}"
    )]
    Stale {
        dist: PathBuf,
        built: String,
        deploying: String,
    },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Build | Self::Spawn(_) => {
                "run `cargo xtask frontend build --release` alone to see why, or pass --frontend-dir with a built bundle".into()
            }
            Self::NoIndex(dir) => format!("build the frontend into {} first", dir.display()),
            Self::Read { .. } | Self::Zip(_) => "check the frontend folder and rerun".into(),
            Self::ApiBaseUrl(_) => {
                "the API's URL comes from the service stack's outputs: check them with `cargo xtask status`".into()
            }
            Self::Stale { .. } => {
                "rebuild it for this commit (`cargo xtask frontend build --release`), or drop --frontend-dir so the deploy builds it".into()
            }
        })
    }
}

/// Builds the frontend with xtask; returns `frontend/dist`.
pub fn build(root: &Path) -> Result<PathBuf, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["xtask", "frontend", "build", "--release"])
        .status()
        .map_err(Error::Spawn)?;
    if !status.success() {
        return Err(Error::Build);
    }
    Ok(root.join("frontend").join("dist"))
}

/// `config.json` of an environment: what the app reads at start-up.
fn config_json(api_base_url: &str, environment: &str) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&serde_json::json!({
        "api_base_url": api_base_url,
        "environment": environment,
    }))
    .expect("JSON serializes");
    bytes.push(b'\n');
    bytes
}

/// What an environment adds to the build, each in place of a file of the same name:
/// `config.json`, and `customHttp.yml` with the app's Content-Security-Policy naming the API's
/// origin and the hardening headers.
pub fn environment_files(
    api_base_url: &str,
    environment: &str,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let headers =
        AppHeaders::for_api(api_base_url).map_err(|e| Error::ApiBaseUrl(e.to_string()))?;
    Ok(vec![
        ("config.json".into(), config_json(api_base_url, environment)),
        (
            CUSTOM_HTTP.into(),
            headers.amplify_custom_http().into_bytes(),
        ),
    ])
}

/// The commit `dist`'s `version.json` names; refuses a bundle of another commit (or of none),
/// since the site would then serve a frontend the backend being deployed was not built with.
pub fn check_commit(dist: &Path, deploying: &str) -> Result<(), Error> {
    let path = dist.join(VERSION_FILE);
    let built = fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v["git_sha"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("an unknown commit (no readable {VERSION_FILE})"));
    if built == deploying {
        return Ok(());
    }
    Err(Error::Stale {
        dist: dist.to_path_buf(),
        built,
        deploying: deploying.to_string(),
    })
}

/// Where a deploy puts the frontend, and what it must serve.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub app_id: &'a str,
    pub branch: &'a str,
    pub app_url: Option<&'a str>,
    pub api_url: &'a str,
    pub environment: &'a str,
    /// The commit being deployed, whose frontend goes live.
    pub commit: &'a str,
}

/// Puts the frontend of `target.commit` live, unless the site already serves it; returns a
/// note for the summary. An app connected to a repository builds the commit itself (`dist`
/// is not used); any other gets `dist`'s bundle with the environment's files.
pub async fn publish(aws: &Aws, dist: &Path, target: &Target<'_>) -> Result<String, crate::Error> {
    let short = target.commit.get(..12).unwrap_or(target.commit);
    if let Some(repository) = amplify::repository(aws, target.app_id).await? {
        println!("    the app builds from {repository}: asking Amplify CI for commit {short}");
        if live_is(target).await {
            return Ok(format!("unchanged (commit {short} is live)"));
        }
        let job =
            amplify::release_commit(aws, target.app_id, target.branch, target.commit, JOB_LIMIT)
                .await?;
        return Ok(format!("commit {short}, job {job} (Amplify CI)"));
    }
    check_commit(dist, target.commit)?;
    let mut added = environment_files(target.api_url, target.environment)?;
    let (zip, files) = bundle(dist, &added)?;
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&zip));
    if let Some(url) = target.app_url {
        let live = reqwest::get(format!("{}/{BUNDLE_MARKER}", url.trim_end_matches('/'))).await;
        if let Ok(response) = live
            && response.status().is_success()
            && response.text().await.unwrap_or_default().trim() == hash
        {
            return Ok(format!("unchanged (bundle {})", &hash[..12]));
        }
    }
    added.push((BUNDLE_MARKER.into(), hash.clone().into_bytes()));
    let (zip, _) = bundle(dist, &added)?;
    let job = amplify::deploy_bundle(aws, target.app_id, target.branch, zip, JOB_LIMIT).await?;
    Ok(format!(
        "{files} files, bundle {}, job {job} (manual deployment)",
        &hash[..12]
    ))
}

/// Whether the live site already serves the target's commit with the target's configuration
/// (a connected app's build has nothing else that could differ).
async fn live_is(target: &Target<'_>) -> bool {
    let Some(app) = target.app_url else {
        return false;
    };
    let app = app.trim_end_matches('/');
    let fetch = |file: &'static str| async move {
        let response = reqwest::get(format!("{app}/{file}")).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json::<serde_json::Value>().await.ok()
    };
    let (version, config) = tokio::join!(fetch(VERSION_FILE), fetch("config.json"));
    let (Some(version), Some(config)) = (version, config) else {
        return false;
    };
    version["git_sha"] == target.commit
        && config["api_base_url"] == target.api_url
        && config["environment"] == target.environment
}

fn files(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            files(&path, base, out)?;
        } else {
            let name = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((name, path));
        }
    }
    Ok(())
}

/// The zip Amplify gets: every file of `dist` at the zip's root, sorted, then the
/// environment's `added` files (which replace those of the same name). Returns the bytes and
/// the number of files.
pub fn bundle(dist: &Path, added: &[(String, Vec<u8>)]) -> Result<(Vec<u8>, usize), Error> {
    if !dist.join("index.html").is_file() {
        return Err(Error::NoIndex(dist.to_path_buf()));
    }
    let mut list = Vec::new();
    files(dist, dist, &mut list)?;
    list.retain(|(name, _)| added.iter().all(|(added, _)| added != name));
    list.sort();
    let zip_err = |e: zip::result::ZipError| Error::Zip(e.to_string());
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // A fixed timestamp: the same build gives the same zip.
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let mut count = 0;
    for (name, path) in &list {
        let bytes = fs::read(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        writer.start_file(name.as_str(), options).map_err(zip_err)?;
        writer
            .write_all(&bytes)
            .map_err(|e| Error::Zip(e.to_string()))?;
        count += 1;
    }
    for (name, bytes) in added {
        writer.start_file(name.as_str(), options).map_err(zip_err)?;
        writer
            .write_all(bytes)
            .map_err(|e| Error::Zip(e.to_string()))?;
        count += 1;
    }
    let cursor = writer.finish().map_err(zip_err)?;
    Ok((cursor.into_inner(), count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_replaces_config_and_is_reproducible() {
        let dir = std::env::temp_dir().join(format!("faro-frontend-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("pkg")).unwrap();
        fs::write(dir.join("index.html"), "<html></html>").unwrap();
        fs::write(dir.join("pkg/app.wasm"), [0, 97, 115, 109]).unwrap();
        fs::write(
            dir.join("config.json"),
            r#"{"api_base_url":"http://localhost:8080"}"#,
        )
        .unwrap();
        let added = environment_files("https://api.faro.dev/", "staging").unwrap();
        let (a, n) = bundle(&dir, &added).unwrap();
        let (b, _) = bundle(&dir, &added).unwrap();
        assert_eq!(a, b);
        assert_eq!(n, 4);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(a)).unwrap();
        let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
        assert_eq!(
            names,
            ["index.html", "pkg/app.wasm", "config.json", CUSTOM_HTTP]
        );
        let mut read = |name: &str| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
            text
        };
        let value: serde_json::Value = serde_json::from_str(&read("config.json")).unwrap();
        assert_eq!(value["api_base_url"], "https://api.faro.dev/");
        assert_eq!(value["environment"], "staging");
        // Amplify's headers: the app's policy with this API's origin.
        let policy = AppHeaders::for_api("https://api.faro.dev")
            .unwrap()
            .content_security_policy();
        assert!(policy.contains("connect-src 'self' https://api.faro.dev;"));
        let custom_http = read(CUSTOM_HTTP);
        assert!(
            custom_http.contains(&serde_json::to_string(&policy).unwrap()),
            "{custom_http}"
        );
        assert!(matches!(
            environment_files("api.faro.dev", "staging"),
            Err(Error::ApiBaseUrl(_))
        ));
        assert!(matches!(
            bundle(&dir.join("pkg"), &added),
            Err(Error::NoIndex(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bundle_of_another_commit_is_refused() {
        let dir = std::env::temp_dir().join(format!("faro-frontend-sha-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let err = check_commit(&dir, "abc").unwrap_err();
        assert!(
            err.to_string().contains("no readable version.json"),
            "{err}"
        );
        fs::write(dir.join(VERSION_FILE), r#"{"git_sha":"def"}"#).unwrap();
        let err = check_commit(&dir, "abc").unwrap_err();
        assert!(
            err.to_string().contains("built from def") && err.to_string().contains("is abc"),
            "{err}"
        );
        check_commit(&dir, "def").unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
