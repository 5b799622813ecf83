//! Pushing and pulling images over the OCI distribution API: blob `HEAD` to skip what the
//! registry has, chunked uploads (`POST`, `PATCH`…, `PUT ?digest=`), manifest `PUT` by tag.
//!
//! Authentication: anonymous, HTTP basic (ECR's `AWS:<token>` from `GetAuthorizationToken`,
//! an htpasswd registry), or the bearer token dance (`WWW-Authenticate: Bearer realm=…`) that
//! Docker Hub-style registries ask for, with the basic credentials when given.

pub mod ecr;

use std::fs;
use std::time::Instant;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};

use crate::Hint;
use crate::image::layout::{self, Descriptor, Image, MANIFEST_MEDIA_TYPE, sha256_digest};

/// Uploads go in chunks of this size (ECR wants at least 5 MiB per chunk but the last).
const CHUNK: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{0}` is not an image reference (expected [http[s]://]HOST[:PORT]/REPOSITORY[:TAG])")]
    Reference(String),
    #[error("registry {registry} did not answer: {source}")]
    Unreachable {
        registry: String,
        source: reqwest::Error,
    },
    #[error("registry {registry} refused the credentials ({status}) for {what}")]
    Unauthorized {
        registry: String,
        status: StatusCode,
        what: String,
    },
    #[error("registry {registry} answered {status} to {what}: {body}")]
    Status {
        registry: String,
        status: StatusCode,
        what: String,
        body: String,
    },
    #[error("registry {registry} stored {what} under digest {got}, expected {expected}")]
    DigestMismatch {
        registry: String,
        what: String,
        expected: String,
        got: String,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Reference(_) => {
                "for example `--registry 127.0.0.1:5000/faro/backend` or the ECR repository URI".into()
            }
            Self::Unreachable { registry, .. } => format!(
                "check that {registry} is up and reachable (for a local one: `docker-registry serve /etc/docker/registry/config.yml`)"
            ),
            Self::Unauthorized { .. } => {
                "for ECR check the AWS credentials (`cargo xtask status --env …` shows the account); \
                 for another registry set FARO_REGISTRY_USER and FARO_REGISTRY_PASSWORD"
                    .into()
            }
            Self::Status { .. } => "the registry's answer above says why; rerun to retry".into(),
            Self::DigestMismatch { .. } => {
                "something between here and the registry changed the bytes; push again, and check any proxy"
                    .into()
            }
            Self::Read { .. } => "build the image first: `cargo xtask image build`".into(),
        })
    }
}

/// `[scheme://]host[:port]/repository[:tag]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `https://host:port` or `http://…`.
    pub base: String,
    pub repository: String,
    pub tag: Option<String>,
}

impl Reference {
    /// Without a scheme, loopback hosts are plain HTTP (a local registry), others HTTPS.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = || Error::Reference(text.to_string());
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme @ ("http" | "https"), rest)) => (Some(scheme), rest),
            Some(_) => return Err(bad()),
            None => (None, text),
        };
        let (host, path) = rest.split_once('/').ok_or_else(bad)?;
        if host.is_empty() || path.is_empty() {
            return Err(bad());
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (path, None),
        };
        let scheme = scheme.unwrap_or({
            let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
            if matches!(hostname, "localhost" | "127.0.0.1" | "[::1]") {
                "http"
            } else {
                "https"
            }
        });
        Ok(Self {
            base: format!("{scheme}://{host}"),
            repository: repository.to_string(),
            tag,
        })
    }

    /// `host[:port]/repository` as docker and ECS write it.
    pub fn name(&self) -> String {
        let host = self
            .base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, h)| h);
        format!("{host}/{}", self.repository)
    }
}

/// How to authenticate.
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    /// `FARO_REGISTRY_USER` / `FARO_REGISTRY_PASSWORD`, or anonymous.
    pub fn from_env() -> Self {
        Self {
            username: std::env::var("FARO_REGISTRY_USER")
                .ok()
                .filter(|s| !s.is_empty()),
            password: std::env::var("FARO_REGISTRY_PASSWORD").ok(),
        }
    }
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub reference: String,
    pub digest: String,
    pub uploaded: Vec<Descriptor>,
    pub skipped: Vec<Descriptor>,
    pub took: std::time::Duration,
}

/// A client of one repository of one registry.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    reference: Reference,
    credentials: Credentials,
    /// `Authorization` value once known (basic, or a bearer token).
    authorization: Option<String>,
}

impl Client {
    pub fn new(reference: Reference, credentials: Credentials) -> Self {
        Self {
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .timeout(std::time::Duration::from_secs(300))
                .build()
                .expect("a TLS backend is compiled in"),
            reference,
            credentials,
            authorization: None,
        }
    }

    fn registry(&self) -> String {
        self.reference.base.clone()
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/v2/{}/{path}",
            self.reference.base, self.reference.repository
        )
    }

    /// Sends a request built by `build`; on a 401 learns the auth scheme and tries once more.
    async fn send(
        &mut self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Error> {
        for attempt in 0..2 {
            let mut request = build(&self.http);
            if let Some(auth) = &self.authorization {
                request = request.header(AUTHORIZATION, auth);
            }
            let response = request.send().await.map_err(|source| Error::Unreachable {
                registry: self.registry(),
                source,
            })?;
            if response.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                if matches!(
                    response.status(),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) {
                    return Err(Error::Unauthorized {
                        registry: self.registry(),
                        status: response.status(),
                        what: what.to_string(),
                    });
                }
                return Ok(response);
            }
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            self.authorization = Some(self.authorize(&challenge, what).await?);
        }
        unreachable!("the loop returns on its second pass")
    }

    async fn authorize(&self, challenge: &str, what: &str) -> Result<String, Error> {
        use base64::Engine;
        let basic = self.credentials.username.as_ref().map(|user| {
            let pair = format!(
                "{user}:{}",
                self.credentials.password.as_deref().unwrap_or("")
            );
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        let unauthorized = || Error::Unauthorized {
            registry: self.registry(),
            status: StatusCode::UNAUTHORIZED,
            what: what.to_string(),
        };
        let Some(params) = challenge.strip_prefix("Bearer ") else {
            // Basic (or no scheme named): only credentials can help.
            return basic.ok_or_else(unauthorized);
        };
        let param = |name: &str| {
            params.split(',').find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name).then(|| v.trim_matches('"').to_string())
            })
        };
        let realm = param("realm").ok_or_else(unauthorized)?;
        let mut request = self.http.get(&realm).query(&[(
            "scope",
            param("scope")
                .unwrap_or_else(|| format!("repository:{}:pull,push", self.reference.repository)),
        )]);
        if let Some(service) = param("service") {
            request = request.query(&[("service", service)]);
        }
        if let Some(basic) = &basic {
            request = request.header(AUTHORIZATION, basic);
        }
        let response = request.send().await.map_err(|source| Error::Unreachable {
            registry: realm.clone(),
            source,
        })?;
        if !response.status().is_success() {
            return Err(unauthorized());
        }
        let body: serde_json::Value =
            response.json().await.map_err(|source| Error::Unreachable {
                registry: realm,
                source,
            })?;
        let token = body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .ok_or_else(unauthorized)?;
        Ok(format!("Bearer {token}"))
    }

    async fn expect(
        &self,
        response: reqwest::Response,
        ok: &[StatusCode],
        what: &str,
    ) -> Result<reqwest::Response, Error> {
        if ok.contains(&response.status()) {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Err(Error::Status {
            registry: self.registry(),
            status,
            what: what.to_string(),
            body: body.chars().take(500).collect(),
        })
    }

    /// True when the registry already has the blob.
    pub async fn has_blob(&mut self, digest: &str) -> Result<bool, Error> {
        let url = self.url(&format!("blobs/{digest}"));
        let what = format!("HEAD blob {digest}");
        let response = self.send(&what, |c| c.head(&url)).await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => self.expect(response, &[], &what).await.map(|_| false),
        }
    }

    /// Uploads one blob in chunks.
    pub async fn upload_blob(&mut self, digest: &str, bytes: &[u8]) -> Result<(), Error> {
        let what = format!("upload of blob {digest}");
        let start = self.url("blobs/uploads/");
        let response = self
            .send(&what, |c| c.post(&start).header(CONTENT_LENGTH, "0"))
            .await?;
        let response = self
            .expect(response, &[StatusCode::ACCEPTED], &what)
            .await?;
        let mut location = self.location(&response, &what)?;
        let mut offset = 0;
        while offset < bytes.len() {
            let end = (offset + CHUNK).min(bytes.len());
            let chunk = bytes[offset..end].to_vec();
            let range = format!("{offset}-{}", end - 1);
            let url = location.clone();
            let response = self
                .send(&what, |c| {
                    c.patch(&url)
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_RANGE, &range)
                        .body(chunk.clone())
                })
                .await?;
            let response = self
                .expect(response, &[StatusCode::ACCEPTED], &what)
                .await?;
            location = self.location(&response, &what)?;
            offset = end;
        }
        let separator = if location.contains('?') { '&' } else { '?' };
        let finish = format!("{location}{separator}digest={digest}");
        let response = self
            .send(&what, |c| c.put(&finish).header(CONTENT_LENGTH, "0"))
            .await?;
        self.expect(response, &[StatusCode::CREATED], &what).await?;
        Ok(())
    }

    /// The absolute upload URL of a `Location` header (registries may answer a path).
    fn location(&self, response: &reqwest::Response, what: &str) -> Result<String, Error> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Status {
                registry: self.registry(),
                status: response.status(),
                what: what.to_string(),
                body: "no Location header".into(),
            })?;
        Ok(
            if location.starts_with("http://") || location.starts_with("https://") {
                location.to_string()
            } else {
                format!("{}{location}", self.reference.base)
            },
        )
    }

    /// Pushes the image under `tag`, skipping blobs the registry has.
    pub async fn push(&mut self, image: &Image, tag: &str) -> Result<Pushed, Error> {
        let started = Instant::now();
        let mut uploaded = Vec::new();
        let mut skipped = Vec::new();
        for blob in image.layers.iter().chain(std::iter::once(&image.config)) {
            if self.has_blob(&blob.digest).await? {
                skipped.push(blob.clone());
                continue;
            }
            let path = image.blob_path(&blob.digest);
            let bytes = fs::read(&path).map_err(|source| Error::Read { path, source })?;
            self.upload_blob(&blob.digest, &bytes).await?;
            uploaded.push(blob.clone());
        }
        let path = image.blob_path(&image.manifest.digest);
        let manifest = fs::read(&path).map_err(|source| Error::Read { path, source })?;
        let what = format!("PUT manifest {tag}");
        let url = self.url(&format!("manifests/{tag}"));
        let response = self
            .send(&what, |c| {
                c.put(&url)
                    .header(CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
                    .body(manifest.clone())
            })
            .await?;
        let response = self
            .expect(response, &[StatusCode::CREATED, StatusCode::OK], &what)
            .await?;
        if let Some(got) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && got != image.manifest.digest
        {
            return Err(Error::DigestMismatch {
                registry: self.registry(),
                what: format!("manifest {tag}"),
                expected: image.manifest.digest.clone(),
                got: got.to_string(),
            });
        }
        Ok(Pushed {
            reference: format!("{}:{tag}", self.reference.name()),
            digest: image.manifest.digest.clone(),
            uploaded,
            skipped,
            took: started.elapsed(),
        })
    }

    /// `GET <path>` answered 200: the body and its digest.
    async fn fetch(
        &mut self,
        path: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<(Vec<u8>, String), Error> {
        let url = self.url(path);
        let response = self
            .send(what, |c| match accept {
                Some(accept) => c.get(&url).header(ACCEPT, accept),
                None => c.get(&url),
            })
            .await?;
        let response = self.expect(response, &[StatusCode::OK], what).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|source| Error::Unreachable {
                registry: self.registry(),
                source,
            })?;
        let digest = sha256_digest(&bytes);
        Ok((bytes.to_vec(), digest))
    }

    /// The manifest stored under `tag_or_digest`: its bytes and their digest.
    pub async fn manifest(&mut self, tag_or_digest: &str) -> Result<(Vec<u8>, String), Error> {
        let what = format!("GET manifest {tag_or_digest}");
        self.fetch(
            &format!("manifests/{tag_or_digest}"),
            Some(MANIFEST_MEDIA_TYPE),
            &what,
        )
        .await
    }

    /// A blob, checked against its digest.
    pub async fn blob(&mut self, digest: &str) -> Result<Vec<u8>, Error> {
        let what = format!("GET blob {digest}");
        let (bytes, got) = self.fetch(&format!("blobs/{digest}"), None, &what).await?;
        if got != digest {
            return Err(Error::DigestMismatch {
                registry: self.registry(),
                what: "blob".into(),
                expected: digest.to_string(),
                got,
            });
        }
        Ok(bytes)
    }

    /// Pulls manifest, config and layers of `tag` and returns the manifest digest and the
    /// layers (every blob checked against its digest on the way).
    pub async fn pull(&mut self, tag: &str) -> Result<Pulled, Error> {
        let (manifest, digest) = self.manifest(tag).await?;
        let parsed: layout::ManifestFile =
            serde_json::from_slice(&manifest).map_err(|e| Error::Status {
                registry: self.registry(),
                status: StatusCode::OK,
                what: format!("manifest {tag}"),
                body: e.to_string(),
            })?;
        let config = self.blob(&parsed.config.digest).await?;
        let mut layers = Vec::new();
        for layer in &parsed.layers {
            layers.push(self.blob(&layer.digest).await?);
        }
        Ok(Pulled {
            digest,
            config,
            layers,
        })
    }
}

/// An image as pulled from a registry.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub digest: String,
    pub config: Vec<u8>,
    pub layers: Vec<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("127.0.0.1:5000/faro/backend:abc").unwrap();
        assert_eq!(r.base, "http://127.0.0.1:5000");
        assert_eq!(r.repository, "faro/backend");
        assert_eq!(r.tag.as_deref(), Some("abc"));
        let r =
            Reference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/faro-staging/backend")
                .unwrap();
        assert_eq!(
            r.base,
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(r.tag, None);
        assert_eq!(
            r.name(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/faro-staging/backend"
        );
        let r = Reference::parse("http://registry.internal:5000/x").unwrap();
        assert_eq!(r.base, "http://registry.internal:5000");
        assert!(Reference::parse("no-repository").is_err());
        assert!(Reference::parse("ftp://h/x").is_err());
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = Credentials {
            username: Some("AWS".into()),
            password: Some("secret-token".into()),
        };
        assert!(!format!("{c:?}").contains("secret-token"));
    }
}
