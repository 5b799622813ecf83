//! `cargo xtask bench --scenario abuse`: what an attacker can make one backend task spend.
//!
//! Four attacks, one after another, each a fixed number of requests sent at once against one
//! backend that trusts `X-Forwarded-For` (as it does behind the ALB), so that this one machine
//! speaks for many client addresses:
//! - 300 sign-ups from 300 IPv4 addresses (a botnet: per-address limits alone do not help);
//! - 500 wrong sign-ins for one account from 500 addresses of one IPv6 /64;
//! - 1,000 live timelines opened by one user and held;
//! - 50 AI calls from one user.
//!
//! Each reports how it was answered, the backend's peak RSS during it, and `/healthz`'s
//! latency measured on a connection of its own *during* the attack. Beside each, a legitimate
//! request shows whether the real user still gets through: the victim's correct password from
//! another network during the spray, a second user's stream and AI call while the first user is
//! capped.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faro_fixtures::{Signed, fixtures::PASSWORD, fixtures::release_body};
use faro_types::OrgRole;
use reqwest::{Client, RequestBuilder};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::{Error, free_port, memory, seed, stats, with_database};
use crate::backend::{self, Env};
use crate::stack::LocalStack;
use crate::{proc, sim};

pub const NAME: &str = "abuse";

const SIGN_UPS: usize = 300;
const WRONG_SIGN_INS: usize = 500;
const STREAMS: usize = 1_000;
const AI_CALLS: usize = 50;
/// Streams that opened are held at least this long, so the backend carries them all at once.
const HOLD: Duration = Duration::from_secs(3);
/// A request unanswered after this counts as unanswered: every attack ends within it.
const ANSWER_LIMIT: Duration = Duration::from_secs(60);
/// Requests the legitimate user makes at most, following `Retry-After`.
const LEGIT_TRIES: u32 = 4;
/// Pause between two `/healthz` probes.
const PROBE_GAP: Duration = Duration::from_millis(5);

/// How one attack's requests were answered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub ok: u64,
    pub limited: u64,
    pub shed: u64,
    /// Other 4xx answers (409 for a taken e-mail, 401 for a wrong password…).
    pub refused: u64,
    /// 5xx answers other than 503: never intended.
    pub server_errors: u64,
    /// No answer within [`ANSWER_LIMIT`], or the connection failed.
    pub unanswered: u64,
}

impl Tally {
    fn count(&mut self, status: Option<u16>) {
        match status {
            Some(200..=299) => self.ok += 1,
            Some(429) => self.limited += 1,
            Some(503) => self.shed += 1,
            Some(400..=499) => self.refused += 1,
            Some(_) => self.server_errors += 1,
            None => self.unanswered += 1,
        }
    }
}

/// A request the real user makes during an attack, and how it was answered.
#[derive(Debug, Clone)]
pub struct Legit {
    pub what: &'static str,
    /// The last answer's status.
    pub status: Option<u16>,
    /// Requests made: a refusal with `Retry-After` is tried again after it, as a client that
    /// honours the header does.
    pub tries: u32,
    /// From the first request to the last answer.
    pub took: Duration,
}

/// One attack's results.
#[derive(Debug)]
pub struct Attack {
    pub name: &'static str,
    pub sent: usize,
    pub tally: Tally,
    pub elapsed: Duration,
    pub peak_kib: Option<u64>,
    /// `/healthz` latencies during the attack, in microseconds, ascending.
    pub healthz_us: Vec<u32>,
    /// `/healthz` probes that got no 200.
    pub healthz_failed: u64,
    pub legit: Option<Legit>,
}

/// When the legitimate request is made.
#[derive(Debug, Clone, Copy)]
enum LegitAt {
    /// Right after the attack's requests are sent, while they are being answered.
    During,
    /// Once every attack request has its answer, while the successful ones are still held.
    WhileHeld,
}

/// Runs the attacks against a backend of their own (database `{name}_abuse`).
pub fn run(
    stack: &LocalStack,
    binary: &Path,
    name: &str,
    simulators: &sim::Simulators,
    base_env: &dyn Fn(&str, u16) -> Env,
) -> Result<Vec<Attack>, Error> {
    let database = format!("{name}_abuse");
    with_database(stack, &database, || {
        attacks(binary, &database, simulators, base_env)
    })
}

fn attacks(
    binary: &Path,
    database: &str,
    simulators: &sim::Simulators,
    base_env: &dyn Fn(&str, u16) -> Env,
) -> Result<Vec<Attack>, Error> {
    let port = free_port()?;
    let mut env = base_env(database, port);
    env.extend(simulators.env.iter().cloned());
    // As behind the ALB: the last X-Forwarded-For hop is the client.
    env.push(("FARO_TRUST_FORWARDED_FOR", "true".into()));
    backend::migrate(binary, &env)?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    eprintln!("xtask: abuse: starting a backend on {addr}");
    let since = Instant::now();
    let mut child = backend::spawn(binary, &env)?;
    backend::wait_ready(
        &mut child,
        addr,
        since,
        Duration::from_secs(30),
        Duration::from_millis(20),
    )?;
    let pid = child.pid();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            what: "starting the attackers' runtime",
            source,
        })?;
    let cast = seed_cast(&runtime, addr, simulators.sleakops_key.as_deref())?;
    let base = format!("http://{addr}");
    let mut attacks = Vec::new();
    for plan in plans(&base, &cast) {
        let _ = memory::reset_peak(pid);
        eprintln!(
            "xtask: abuse: {} ({} requests at once)…",
            plan.name,
            plan.requests.len()
        );
        let name = plan.name;
        let mut attack = runtime.block_on(plan.run(&base));
        attack.peak_kib = memory::read(pid).ok().map(|m| m.peak_kib);
        eprintln!("  {}", line(&attack));
        attacks.push(attack);
        if proc::shutdown_requested() {
            return Err(proc::Error::Interrupted.into());
        }
        if let Some(status) = child.try_status()? {
            return Err(Error::BackendDied {
                scenario: format!("{NAME}: {name}"),
                status: proc::describe(status),
            });
        }
    }
    drop(runtime);
    eprintln!("xtask: faro-backend (pid {pid}) {}", child.stop());
    Ok(attacks)
}

/// Who the attacks aim at and who must still get through.
struct Cast {
    /// Owns the project; the sign-in spray's victim, the streams' and AI calls' attacker.
    owner: Signed,
    /// An admin of the same organization: the legitimate second user.
    teammate: Signed,
    release_id: u64,
}

fn seed_cast(
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    sleakops_key: Option<&str>,
) -> Result<Cast, Error> {
    let (api, project) = seed::project(runtime, addr, sleakops_key)?;
    let owner = project.owner;
    seed::fixture(runtime, async move {
        let teammate = api.join_org(&owner, "Teammate", OrgRole::Admin).await;
        let release = api
            .create_release(&owner, seed::SLUG, &release_body("staging"))
            .await;
        Cast {
            owner,
            teammate,
            release_id: release.id,
        }
    })
    .map_err(Error::from)
}

/// One attack: its requests and the legitimate one.
struct Plan {
    name: &'static str,
    requests: Vec<RequestBuilder>,
    legit: Option<(&'static str, LegitAt, RequestBuilder)>,
}

fn plans(base: &str, cast: &Cast) -> Vec<Plan> {
    // One pool for every attacker: as many connections as requests in flight.
    let client = Client::builder()
        .timeout(ANSWER_LIMIT)
        .build()
        .expect("a client without TLS settings builds");
    let url = |path: &str| format!("{base}{path}");
    let from =
        |request: RequestBuilder, address: String| request.header("x-forwarded-for", address);
    let bearer = |request: RequestBuilder, who: &Signed| request.bearer_auth(&who.token);

    let sign_ups = (0..SIGN_UPS)
        .map(|i| {
            let body = json!({
                "email": format!("bot-{i}@abuse.example.com"),
                "password": PASSWORD,
                "name": format!("Bot {i}"),
            });
            from(client.post(url("/api/auth/signup")).json(&body), botnet(i))
        })
        .collect();

    let wrong = json!({"email": cast.owner.user.email, "password": "not the password at all"});
    let sign_ins = (0..WRONG_SIGN_INS)
        .map(|i| {
            from(
                client.post(url("/api/auth/login")).json(&wrong),
                one_slash_64(i),
            )
        })
        .collect();
    let right = json!({"email": cast.owner.user.email, "password": PASSWORD});
    let correct = from(
        client.post(url("/api/auth/login")).json(&right),
        "192.0.2.44".into(),
    );

    let events = url(&format!("/api/releases/{}/events", cast.release_id));
    let stream = |who: &Signed| from(bearer(client.get(&events), who), "198.51.100.7".into());
    let streams = (0..STREAMS).map(|_| stream(&cast.owner)).collect();

    let notes = url(&format!("/api/releases/{}/notes", cast.release_id));
    let changelog = json!({"changelog": "fix: the checkout total rounds half-up\nfeat: dark mode"});
    let ai_call = |who: &Signed| {
        from(
            bearer(client.post(&notes).json(&changelog), who),
            "198.51.100.7".into(),
        )
    };
    let ai_calls = (0..AI_CALLS).map(|_| ai_call(&cast.owner)).collect();

    vec![
        Plan {
            name: "sign-ups, 300 addresses",
            requests: sign_ups,
            legit: None,
        },
        Plan {
            name: "wrong sign-ins, one /64",
            requests: sign_ins,
            legit: Some((
                "the victim's correct password from another network",
                LegitAt::During,
                correct,
            )),
        },
        Plan {
            name: "live timelines, one user",
            requests: streams,
            legit: Some((
                "a second user's stream",
                LegitAt::WhileHeld,
                stream(&cast.teammate),
            )),
        },
        Plan {
            name: "AI calls, one user",
            requests: ai_calls,
            legit: Some((
                "a second user's AI call",
                LegitAt::During,
                ai_call(&cast.teammate),
            )),
        },
    ]
}

/// How long a refusal asks to wait before trying again (429 and 503 with `Retry-After`), if
/// that is short enough for a person to wait.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    if !matches!(response.status().as_u16(), 429 | 503) {
        return None;
    }
    let secs: u64 = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    (secs <= 10).then(|| Duration::from_secs(secs))
}

/// The `i`-th address of a botnet: one per request, from the benchmarking range 198.18.0.0/15.
fn botnet(i: usize) -> String {
    Ipv4Addr::new(198, 18, (i / 256) as u8, (i % 256) as u8).to_string()
}

/// The `i`-th address of one /64 (2001:db8:ab:cd::/64), scattered over its interface bits as a
/// host rotating its address would.
fn one_slash_64(i: usize) -> String {
    let i = i as u64;
    let scattered = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i;
    let [a, b, c, d] = [48, 32, 16, 0].map(|shift| (scattered >> shift) as u16);
    format!("2001:db8:ab:cd:{a:x}:{b:x}:{c:x}:{d:x}")
}

impl Plan {
    async fn run(self, base: &str) -> Attack {
        let (stop_probe, probe) = probe(base);
        let (answered_tx, mut answered) = mpsc::unbounded_channel();
        let (release, held) = watch::channel(false);
        let started = Instant::now();
        let sent = self.requests.len();
        let attackers: Vec<_> = self
            .requests
            .into_iter()
            .map(|request| {
                let answered = answered_tx.clone();
                let mut held = held.clone();
                tokio::spawn(async move {
                    let response = request.send().await.ok();
                    let status = response.as_ref().map(|r| r.status().as_u16());
                    let _ = answered.send(status);
                    // The count of answers ends when every attacker has answered, while those
                    // that succeeded may still be held.
                    drop(answered);
                    if let Some(response) = response {
                        if response.status().is_success() {
                            // Held (a stream stays open) until the attack is over.
                            let _ = held.wait_for(|released| *released).await;
                        } else {
                            let _ = response.bytes().await;
                        }
                    }
                })
            })
            .collect();
        drop(answered_tx);

        let legit_call = |request: RequestBuilder, what| async move {
            let since = Instant::now();
            let (mut status, mut tries) = (None, 0);
            while tries < LEGIT_TRIES {
                let Some(attempt) = request.try_clone() else {
                    break;
                };
                tries += 1;
                let response = attempt.send().await.ok();
                status = response.as_ref().map(|r| r.status().as_u16());
                match response.as_ref().and_then(retry_after) {
                    Some(wait) if tries < LEGIT_TRIES => tokio::time::sleep(wait).await,
                    _ => break,
                }
            }
            Legit {
                what,
                status,
                tries,
                took: since.elapsed(),
            }
        };
        let mut tally = Tally::default();
        let mut legit = None;
        let mut during = None;
        let mut after_answers = None;
        match self.legit {
            Some((what, LegitAt::During, request)) => {
                during = Some(tokio::spawn(legit_call(request, what)));
            }
            Some((what, LegitAt::WhileHeld, request)) => after_answers = Some((what, request)),
            None => {}
        }
        while let Some(status) = answered.recv().await {
            tally.count(status);
        }
        let elapsed = started.elapsed();
        if let Some((what, request)) = after_answers {
            legit = Some(legit_call(request, what).await);
        }
        if let Some(during) = during {
            legit = during.await.ok();
        }
        tokio::time::sleep_until((started + HOLD).into()).await;
        let _ = release.send(true);
        for attacker in attackers {
            let _ = attacker.await;
        }
        let _ = stop_probe.send(true);
        let (healthz_us, healthz_failed) = probe.await.unwrap_or_default();
        Attack {
            name: self.name,
            sent,
            tally,
            elapsed,
            peak_kib: None,
            healthz_us,
            healthz_failed,
            legit,
        }
    }
}

/// Asks `/healthz` over one keep-alive connection of its own until told to stop: the latencies
/// (µs, ascending) and how many probes failed.
fn probe(
    base: &str,
) -> (
    watch::Sender<bool>,
    tokio::task::JoinHandle<(Vec<u32>, u64)>,
) {
    let (stop, mut stopped) = watch::channel(false);
    let url = Arc::new(format!("{base}/healthz"));
    let client = Client::builder()
        .timeout(ANSWER_LIMIT)
        .pool_max_idle_per_host(1)
        .build()
        .expect("a client without TLS settings builds");
    let task = tokio::spawn(async move {
        let (mut latencies, mut failed) = (Vec::new(), 0);
        while !*stopped.borrow_and_update() {
            let since = Instant::now();
            match client.get(url.as_str()).send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    latencies.push(since.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
                _ => failed += 1,
            }
            tokio::select! {
                _ = tokio::time::sleep(PROBE_GAP) => {}
                _ = stopped.changed() => {}
            }
        }
        latencies.sort_unstable();
        (latencies, failed)
    });
    (stop, task)
}

/// The attacks' table columns.
pub const HEADER: [&str; 10] = [
    "attack",
    "sent",
    "2xx",
    "429",
    "503",
    "other 4xx",
    "5xx",
    "no answer",
    "peak RSS",
    "healthz p99 ms",
];

pub fn cells(attack: &Attack) -> [String; 10] {
    let t = &attack.tally;
    let p99 = stats::percentile(&attack.healthz_us, 99.0)
        .map(stats::ms)
        .unwrap_or_else(|| "?".into());
    let failed = match attack.healthz_failed {
        0 => String::new(),
        n => format!(" ({n} failed)"),
    };
    [
        attack.name.to_string(),
        stats::thousands(attack.sent as u64),
        stats::thousands(t.ok),
        stats::thousands(t.limited),
        stats::thousands(t.shed),
        stats::thousands(t.refused),
        stats::thousands(t.server_errors),
        stats::thousands(t.unanswered),
        attack.peak_kib.map(stats::mb).unwrap_or_else(|| "?".into()),
        format!("{p99}{failed}"),
    ]
}

/// The legitimate request's line under the table.
pub fn legit_line(attack: &Attack) -> Option<String> {
    let legit = attack.legit.as_ref()?;
    let answer = legit
        .status
        .map_or_else(|| "no answer".to_string(), |s| s.to_string());
    let tries = match legit.tries {
        1 => String::new(),
        n => format!(" after {n} tries (following Retry-After)"),
    };
    Some(format!(
        "{} during \"{}\": {answer}{tries} in {:.2} s",
        legit.what,
        attack.name,
        legit.took.as_secs_f64()
    ))
}

/// One attack in a line, for the progress log.
fn line(attack: &Attack) -> String {
    let [
        _,
        sent,
        ok,
        limited,
        shed,
        refused,
        errors,
        unanswered,
        peak,
        p99,
    ] = cells(attack);
    let mut line = format!(
        "{sent} sent in {:.1} s: {ok} 2xx, {limited} 429, {shed} 503, {refused} other 4xx, \
         {errors} other 5xx, {unanswered} unanswered; peak RSS {peak}; /healthz p99 {p99} ms",
        attack.elapsed.as_secs_f64()
    );
    if let Some(legit) = legit_line(attack) {
        line.push_str("\n  ");
        line.push_str(&legit);
    }
    line
}

pub const BUDGET: &str = "abuse: peak RSS < 150 MB and /healthz p99 < 50 ms during every attack; no 5xx but 503, every request answered";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_kind() {
        let mut tally = Tally::default();
        for status in [
            Some(201),
            Some(200),
            Some(429),
            Some(503),
            Some(401),
            Some(409),
        ] {
            tally.count(status);
        }
        tally.count(Some(500));
        tally.count(Some(502));
        tally.count(None);
        let expected = Tally {
            ok: 2,
            limited: 1,
            shed: 1,
            refused: 2,
            server_errors: 2,
            unanswered: 1,
        };
        assert_eq!(tally, expected);
    }

    #[test]
    fn the_spray_stays_in_one_slash_64_with_distinct_addresses() {
        let addresses: std::collections::HashSet<std::net::Ipv6Addr> = (0..WRONG_SIGN_INS)
            .map(|i| one_slash_64(i).parse().expect("an IPv6 address"))
            .collect();
        assert_eq!(addresses.len(), WRONG_SIGN_INS);
        for address in addresses {
            assert_eq!(address.segments()[..4], [0x2001, 0xdb8, 0xab, 0xcd]);
        }
    }

    #[test]
    fn the_botnet_has_one_address_per_sign_up() {
        let addresses: std::collections::HashSet<String> = (0..SIGN_UPS).map(botnet).collect();
        assert_eq!(addresses.len(), SIGN_UPS);
        assert!(addresses.iter().all(|a| a.parse::<Ipv4Addr>().is_ok()));
    }
}
