//! What the load generator sends. A scenario is one pre-serialized HTTP/1.1 request repeated over
//! keep-alive connections; POSTs with JSON bodies or auth headers are scenarios like any other.

/// One kind of request and how many connections send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub name: String,
    pub method: String,
    /// Path and query, e.g. `/api/projects?limit=20`.
    pub path: String,
    /// Extra headers; `Host` and (with a body) `Content-Length` are added.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub connections: usize,
}

impl Scenario {
    pub fn get(name: &str, path: &str, connections: usize) -> Self {
        Self {
            name: name.into(),
            method: "GET".into(),
            path: path.into(),
            headers: Vec::new(),
            body: None,
            connections,
        }
    }

    /// The request as it goes on the wire, for a server at `authority` (`host:port`).
    pub fn request_bytes(&self, authority: &str) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {authority}\r\n",
            self.method, self.path
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let has_length = self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
        if let (Some(body), false) = (&self.body, has_length) {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if let Some(body) = &self.body {
            bytes.extend_from_slice(body);
        }
        bytes
    }
}

/// The scenarios that need no data, each with `connections` connections.
pub fn all(connections: usize) -> Vec<Scenario> {
    vec![
        // the cheapest route: the HTTP stack and the runtime alone
        Scenario::get("healthz", "/healthz", connections),
        // a round trip to MySQL and to DynamoDB per request
        Scenario::get("readyz", "/readyz", connections),
    ]
}

/// The names of the scenarios that run against seeded data ([`api`]).
pub const API: [&str; 4] = [
    "list-releases",
    "get-release",
    "release-timeline",
    "create-release",
];

/// The release cockpit's scenarios, signed in as `token`, against the seeded project `slug` and
/// its release `release_id`.
pub fn api(connections: usize, token: &str, slug: &str, release_id: u64) -> Vec<Scenario> {
    let auth = ("Authorization".to_string(), format!("Bearer {token}"));
    let get = |name: &str, path: String| Scenario {
        headers: vec![auth.clone()],
        ..Scenario::get(name, &path, connections)
    };
    vec![
        // a session lookup, a membership check and a keyset page of 20 of 10,000 releases
        get(API[0], format!("/api/projects/{slug}/releases?limit=20")),
        get(API[1], format!("/api/releases/{release_id}")),
        // the release's access check in MySQL, its events from DynamoDB
        get(API[2], format!("/api/releases/{release_id}/timeline")),
        // a transaction (release + outbox), a timeline put and an idempotency record each
        Scenario {
            name: API[3].into(),
            method: "POST".into(),
            path: format!("/api/projects/{slug}/releases"),
            headers: vec![
                auth.clone(),
                ("Content-Type".into(), "application/json".into()),
                ("Idempotency-Key".into(), format!("bench-{}", super::loadgen::SEQ)),
            ],
            body: Some(
                br#"{"environment":"staging","branch":"main","commit_sha":"0123456789abcdef0123456789abcdef01234567"}"#
                    .to_vec(),
            ),
            connections,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_requests() {
        let s = Scenario::get("healthz", "/healthz", 64);
        assert_eq!(
            s.request_bytes("127.0.0.1:8080"),
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
        );
    }

    #[test]
    fn post_with_json_and_auth() {
        let s = Scenario {
            name: "create-project".into(),
            method: "POST".into(),
            path: "/api/projects".into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Authorization".into(), "Bearer t0k3n".into()),
            ],
            body: Some(br#"{"name":"faro"}"#.to_vec()),
            connections: 8,
        };
        assert_eq!(
            String::from_utf8(s.request_bytes("h:1")).unwrap(),
            "POST /api/projects HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\n\
             Authorization: Bearer t0k3n\r\nContent-Length: 15\r\n\r\n{\"name\":\"faro\"}"
        );
    }

    #[test]
    fn names_are_unique() {
        let scenarios = all(64);
        let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), scenarios.len());
        assert!(scenarios.iter().all(|s| s.connections == 64));
    }
}
