//! The database's own ceiling for the release list: the list endpoint's exact query
//! (`releases::store::member_page`) in a closed loop over the pool, without HTTP, auth or JSON.
//! `cargo xtask bench` runs it after the HTTP scenarios so the endpoint's overhead shows as a
//! ratio. Configured by `DATABASE_URL`, `FARO_BENCH_USER_ID`, `FARO_BENCH_PROJECT`, `FARO_BENCH_SECS` and
//! `FARO_BENCH_CONNECTIONS`; prints one line of results.

use faro_backend::releases::store::{ListFilter, member_page};
use sqlx::mysql::MySqlPoolOptions;
use std::time::{Duration, Instant};

fn var<T: std::str::FromStr>(name: &str, default: Option<T>) -> T {
    match std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .or(default)
    {
        Some(value) => value,
        None => {
            eprintln!("list_ceiling: set {name} (cargo xtask bench does)");
            std::process::exit(2);
        }
    }
}

fn main() {
    let url: String = var("DATABASE_URL", None);
    let user_id: u64 = var("FARO_BENCH_USER_ID", None);
    let slug: String = var("FARO_BENCH_PROJECT", None);
    let secs: u64 = var("FARO_BENCH_SECS", Some(5));
    let connections: usize = var("FARO_BENCH_CONNECTIONS", Some(32));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let pool = MySqlPoolOptions::new()
            .max_connections(connections as u32)
            .connect(&url)
            .await
            .expect("connect");
        let until = Instant::now() + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let pool = pool.clone();
                let slug = slug.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while Instant::now() < until {
                        let started = Instant::now();
                        let rows = member_page(&pool, user_id, &slug, &ListFilter::default(), None, 21)
                            .await
                            .expect("query");
                        assert_eq!(rows.len(), 21, "the bench project has at least 21 releases");
                        latencies.push(started.elapsed().as_micros() as u64);
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("task"));
        }
        all.sort_unstable();
        let at = |p: f64| all[((p / 100.0) * (all.len() - 1) as f64).round() as usize] as f64 / 1000.0;
        println!(
            "list_ceiling: {:.0} queries/s  p50 {:.2} ms  p99 {:.2} ms  ({} queries, {connections} connections, {secs} s)",
            all.len() as f64 / secs as f64,
            at(50.0),
            at(99.0),
            all.len()
        );
    });
}
