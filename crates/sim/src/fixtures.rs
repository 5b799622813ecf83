//! The client settings the tests of `faro-deepseek` and `faro-sleakops` use against these
//! simulators, written once so the two suites agree on what "fast" means.

/// Defines, in a client crate's tests, `config(base_url)`, `config_without_retries(base_url)`
/// and `client(base_url)` for the client crate `$krate` with the simulator's key `$key`:
/// short timeouts so a hung test fails in seconds, two quick retries, and a breaker that
/// only trips in the tests that lower its threshold.
///
/// A macro because each client crate has its own `Config` and `Client` types, which share
/// nothing but these field names (all from `faro-resilience`).
#[macro_export]
macro_rules! client_fixtures {
    ($krate:ident, $key:expr) => {
        fn config(base_url: &str) -> $krate::Config {
            let mut config = $krate::Config::new(base_url, $key);
            config.timeouts = $krate::Timeouts {
                connect: ::std::time::Duration::from_secs(2),
                first_byte: ::std::time::Duration::from_secs(5),
                total: ::std::time::Duration::from_secs(10),
            };
            config.retry = $krate::RetryPolicy::new(
                2,
                $krate::Backoff::new(
                    ::std::time::Duration::from_millis(5),
                    ::std::time::Duration::from_millis(20),
                ),
            );
            config.breaker = $krate::BreakerConfig {
                failure_threshold: 100,
                cool_down: ::std::time::Duration::from_secs(30),
            };
            config
        }

        /// For tests that count requests or expect the first error as it is.
        fn config_without_retries(base_url: &str) -> $krate::Config {
            let mut config = config(base_url);
            config.retry = $krate::RetryPolicy::none();
            config
        }

        fn client(base_url: &str) -> $krate::Client {
            $krate::Client::new(config(base_url)).expect("client")
        }
    };
}
