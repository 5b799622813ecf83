//! The DeepSeek client against the simulator (and, for byte-level stream framing, a raw
//! TCP server).

use faro_deepseek::{
    BreakerConfig, BreakerState, ChatRequest, Client, DeepSeekError, Message, Phase,
    REASONER_MODEL, Usage,
};
use faro_sim::{
    Faults, Running,
    deepseek::{self, CHAT, SimMessage},
};
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn sim() -> Running {
    deepseek::start(deepseek::Options::default())
        .await
        .expect("simulator starts")
}

faro_sim::client_fixtures!(faro_deepseek, deepseek::DEFAULT_KEY);

/// The whole answer to `request` as a stream that did start, or why it broke off.
async fn stream_text(
    client: &Client,
    request: &ChatRequest,
) -> Result<(String, Option<Usage>), DeepSeekError> {
    client
        .chat_stream(request)
        .await
        .expect("the stream starts")
        .collect_text()
        .await
}

/// Where the timeout struck, when `err` is one.
fn timeout_phase(err: &DeepSeekError) -> Option<Phase> {
    match err {
        DeepSeekError::Timeout { phase, .. } => Some(*phase),
        _ => None,
    }
}

fn request(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::system("You are terse."), Message::user(text)])
}

fn expected(model: &str, text: &str) -> String {
    deepseek::answer(
        model,
        &[
            SimMessage {
                role: "system".into(),
                content: "You are terse.".into(),
            },
            SimMessage {
                role: "user".into(),
                content: text.into(),
            },
        ],
    )
}

#[tokio::test]
async fn chat_answers_with_content_and_usage() {
    let sim = sim().await;
    let client = client(&sim.base_url);
    let answer = client
        .chat(&request("Why did build 7 fail?"))
        .await
        .expect("answered");
    let text = expected("deepseek-chat", "Why did build 7 fail?");
    assert_eq!(answer.content, text);
    assert_eq!(answer.model, "deepseek-chat");
    assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
    assert_eq!(answer.reasoning, None);
    let completion = deepseek::tokens(&text).len() as u32;
    assert_eq!(answer.usage.completion_tokens, completion);
    assert_eq!(answer.usage.prompt_tokens, 3 + 5 + 2);
    assert_eq!(
        answer.usage.total_tokens,
        answer.usage.prompt_tokens + completion
    );

    let reasoned = client
        .chat(&request("hi").model(REASONER_MODEL).max_tokens(3))
        .await
        .expect("answered");
    assert!(reasoned.reasoning.is_some());
    assert_eq!(reasoned.usage.completion_tokens, 3);
    assert_eq!(reasoned.finish_reason.as_deref(), Some("length"));
    assert_eq!(sim.control.requests(CHAT), 2);
}

#[tokio::test]
async fn streams_token_by_token_with_usage_at_the_end() {
    let sim = sim().await;
    sim.control.set_settings(faro_sim::Settings {
        token_delay_ms: 5,
        ..sim.control.settings()
    });
    let client = client(&sim.base_url);
    let mut stream = client
        .chat_stream(&request("stream this please"))
        .await
        .expect("stream starts");
    let mut pieces = Vec::new();
    let mut usage = None;
    let mut finish = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("a chunk");
        if !chunk.content.is_empty() {
            pieces.push(chunk.content);
        }
        usage = chunk.usage.or(usage);
        finish = chunk.finish_reason.or(finish);
    }
    let text = expected("deepseek-chat", "stream this please");
    assert_eq!(pieces, deepseek::tokens(&text), "one token per chunk");
    assert_eq!(pieces.concat(), text);
    assert_eq!(usage.expect("usage").completion_tokens, pieces.len() as u32);
    assert_eq!(finish.as_deref(), Some("stop"));

    let (text, usage) = stream_text(&client, &request("again").model(REASONER_MODEL))
        .await
        .expect("whole stream");
    assert_eq!(text, expected(REASONER_MODEL, "again"));
    assert!(usage.is_some());
}

#[tokio::test]
async fn every_error_status_has_its_variant_and_an_actionable_message() {
    let sim = sim().await;
    let client = Client::new(config_without_retries(&sim.base_url)).expect("client");
    type IsExpected = fn(&DeepSeekError) -> bool;
    let cases: [(u16, IsExpected); 7] = [
        (400, |e| matches!(e, DeepSeekError::InvalidFormat { .. })),
        (401, |e| matches!(e, DeepSeekError::Authentication)),
        (402, |e| matches!(e, DeepSeekError::InsufficientBalance)),
        (422, |e| {
            matches!(e, DeepSeekError::InvalidParameters { .. })
        }),
        (
            429,
            |e| matches!(e, DeepSeekError::RateLimited { retry_after: Some(d) } if *d == Duration::from_secs(1)),
        ),
        (500, |e| matches!(e, DeepSeekError::ServerError { .. })),
        (503, |e| matches!(e, DeepSeekError::Overloaded { .. })),
    ];
    for (status, is_expected) in cases {
        sim.control.set_faults(Faults::status(status));
        for err in [
            client.chat(&request("x")).await.expect_err("fails"),
            client.chat_stream(&request("x")).await.expect_err("fails"),
        ] {
            assert!(is_expected(&err), "{status}: {err:?}");
            assert_eq!(err.status(), Some(status));
            let message = err.to_string();
            assert!(
                message.contains(&status.to_string()) && message.contains("DeepSeek"),
                "{message}"
            );
        }
    }
    let balance = DeepSeekError::InsufficientBalance.to_string();
    assert!(balance.contains("top it up"), "{balance}");
    sim.control.clear_faults();

    // The simulator validates like DeepSeek does.
    let unknown_model = client
        .chat(&request("x").model("gpt-4"))
        .await
        .expect_err("no such model");
    assert!(
        matches!(&unknown_model, DeepSeekError::InvalidFormat { message } if message == "Model Not Exist"),
        "{unknown_model:?}"
    );
    let hot = client
        .chat(&request("x").temperature(3.0))
        .await
        .expect_err("too hot");
    assert!(
        matches!(hot, DeepSeekError::InvalidParameters { .. }),
        "{hot:?}"
    );
    let mut wrong_key = config(&sim.base_url);
    wrong_key.api_key = "sk-wrong-key-123".into();
    let err = Client::new(wrong_key)
        .expect("client")
        .chat(&request("x"))
        .await
        .expect_err("bad key");
    assert_eq!(err, DeepSeekError::Authentication);
    assert!(!err.to_string().contains("sk-wrong-key-123"));
}

#[tokio::test]
async fn retries_429_500_503_and_dropped_connections_within_the_bound() {
    let sim = sim().await;
    let client = client(&sim.base_url);
    for status in [429, 500, 503] {
        sim.control.reset();
        sim.control.set_faults(Faults::status(status).times(2));
        let started = Instant::now();
        client
            .chat(&request("retry me"))
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(sim.control.requests(CHAT), 3, "{status}: two retries");
        if status == 429 {
            assert!(
                started.elapsed() >= Duration::from_secs(2),
                "Retry-After: 1 honoured twice"
            );
        }
    }

    sim.control.reset();
    sim.control.set_faults(Faults::status(500));
    let err = client.chat(&request("x")).await.expect_err("gives up");
    assert!(matches!(err, DeepSeekError::ServerError { .. }), "{err:?}");
    assert_eq!(sim.control.requests(CHAT), 3, "one try and two retries");

    sim.control.reset();
    sim.control.set_faults(Faults::drop_connections().times(1));
    client.chat(&request("x")).await.expect("retried");
    assert_eq!(sim.control.requests(CHAT), 2);

    // A stream is retried too, as long as it has not started.
    sim.control.reset();
    sim.control.set_faults(Faults::status(503).times(1));
    stream_text(&client, &request("x")).await.expect("whole");
    assert_eq!(sim.control.requests(CHAT), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let sim = sim().await;
    let client = client(&sim.base_url);
    for status in [400, 401, 402, 422] {
        sim.control.reset();
        sim.control.set_faults(Faults::status(status));
        client.chat(&request("x")).await.expect_err("fails");
        assert_eq!(sim.control.requests(CHAT), 1, "{status}");
    }
}

#[tokio::test]
async fn first_byte_total_and_idle_timeouts() {
    let sim = sim().await;
    let mut config = config_without_retries(&sim.base_url);
    config.timeouts.first_byte = Duration::from_millis(150);
    config.timeouts.total = Duration::from_secs(5);
    config.stream_timeout = Duration::from_secs(5);
    let client = Client::new(config.clone()).expect("client");

    sim.control
        .set_faults(Faults::latency(Duration::from_millis(600)));
    let err = client.chat(&request("x")).await.expect_err("too slow");
    assert_eq!(timeout_phase(&err), Some(Phase::FirstByte), "{err:?}");
    assert!(err.to_string().contains("did not answer in time"), "{err}");
    sim.control.clear_faults();

    // Each token within the idle bound, but the whole stream over its limit.
    sim.control.set_settings(faro_sim::Settings {
        token_delay_ms: 60,
        ..sim.control.settings()
    });
    config.stream_timeout = Duration::from_millis(400);
    let client = Client::new(config.clone()).expect("client");
    let err = stream_text(&client, &request("a long answer"))
        .await
        .expect_err("too long");
    assert_eq!(timeout_phase(&err), Some(Phase::Total), "{err:?}");

    // A stream that stalls between tokens.
    sim.control.set_settings(faro_sim::Settings {
        token_delay_ms: 400,
        ..sim.control.settings()
    });
    config.stream_timeout = Duration::from_secs(10);
    let client = Client::new(config).expect("client");
    let err = stream_text(&client, &request("x"))
        .await
        .expect_err("stalls");
    assert_eq!(timeout_phase(&err), Some(Phase::Idle), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_service_is_a_connection_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let client = client(&format!("http://127.0.0.1:{port}"));
    let err = client.chat(&request("x")).await.expect_err("refused");
    assert!(matches!(err, DeepSeekError::Connection { .. }), "{err:?}");
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_probes_after_the_cool_down() {
    let sim = sim().await;
    let mut config = config_without_retries(&sim.base_url);
    config.breaker = BreakerConfig {
        failure_threshold: 2,
        cool_down: Duration::from_millis(300),
    };
    let client = Client::new(config).expect("client");
    sim.control.set_faults(Faults::status(503));
    for _ in 0..2 {
        client.chat(&request("x")).await.expect_err("fails");
    }
    assert!(client.circuit().is_open());
    let err = client.chat(&request("x")).await.expect_err("fails fast");
    assert!(
        matches!(err, DeepSeekError::CircuitOpen { retry_in } if retry_in <= Duration::from_millis(300)),
        "{err:?}"
    );
    assert_eq!(
        err.retry_after().map(|d| d <= Duration::from_millis(300)),
        Some(true)
    );
    assert_eq!(
        sim.control.requests(CHAT),
        2,
        "the open circuit sent nothing"
    );

    // After the cool-down one probe goes through; it fails, so the circuit opens again.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(client.circuit(), BreakerState::HalfOpen);
    client.chat(&request("x")).await.expect_err("probe fails");
    assert_eq!(sim.control.requests(CHAT), 3);
    assert!(client.circuit().is_open());

    // The next probe succeeds and closes it.
    sim.control.clear_faults();
    tokio::time::sleep(Duration::from_millis(350)).await;
    client.chat(&request("x")).await.expect("probe succeeds");
    assert_eq!(client.circuit(), BreakerState::Closed);
    client.chat(&request("x")).await.expect("closed");
    assert_eq!(sim.control.requests(CHAT), 5);
}

#[tokio::test]
async fn truncated_and_malformed_answers_are_errors() {
    let sim = sim().await;
    let client = Client::new(config_without_retries(&sim.base_url)).expect("client");
    sim.control.set_faults(Faults::truncate());
    let err = client.chat(&request("x")).await.expect_err("half a body");
    assert!(
        matches!(err, DeepSeekError::MalformedBody { .. }),
        "{err:?}"
    );

    let mut stream = client
        .chat_stream(&request("a few words here"))
        .await
        .expect("starts");
    let mut tokens = 0;
    let err = loop {
        match stream.next().await.expect("ends with an error") {
            Ok(chunk) => tokens += usize::from(!chunk.content.is_empty()),
            Err(err) => break err,
        }
    };
    assert!(tokens > 0, "some tokens came first");
    assert!(
        matches!(err, DeepSeekError::StreamInterrupted { .. }),
        "{err:?}"
    );
    assert!(
        stream.next().await.is_none(),
        "the stream ends after its error"
    );
}

/// Serves one HTTP response written a byte at a time, and returns the base URL.
async fn raw_server(body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        socket.set_nodelay(true).expect("nodelay");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then the body its Content-Length announces.
        loop {
            let n = socket.read(&mut buf).await.expect("read");
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap_or(0));
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
        socket.write_all(head.as_bytes()).await.expect("head");
        for byte in body.as_bytes() {
            socket.write_all(&[*byte]).await.expect("byte");
            socket.flush().await.expect("flush");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn server_sent_events_split_across_reads_are_reassembled() {
    let body = concat!(
        ": keep-alive\r\n\r\n",
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"Grüße\"}}]}\n\n",
        ": keep-alive\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\" aus \"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"日本\"},\"finish_reason\":\"stop\"}],",
        "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":3,\"total_tokens\":6}}\n\n",
        "data: [DONE]\n\n",
    );
    let base = raw_server(body).await;
    let (text, usage) = stream_text(&client(&base), &request("x"))
        .await
        .expect("whole stream");
    assert_eq!(text, "Grüße aus 日本");
    assert_eq!(usage.expect("usage").total_tokens, 6);
}

/// How a stream that starts but then sends `body` (raw, after the response head) fails.
async fn broken_stream(body: &'static str) -> DeepSeekError {
    let base = raw_server(body).await;
    stream_text(&client(&base), &request("x"))
        .await
        .expect_err("the stream fails")
}

#[tokio::test]
async fn a_malformed_chunk_or_a_missing_done_is_an_error() {
    let err = broken_stream(
        "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: {not json\n\n",
    )
    .await;
    assert!(
        matches!(err, DeepSeekError::MalformedBody { .. }),
        "{err:?}"
    );

    let err = broken_stream("data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n").await;
    assert!(
        matches!(err, DeepSeekError::StreamInterrupted { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn debug_output_hides_the_key() {
    let mut config = config("http://127.0.0.1:9");
    config.api_key = "sk-live-0123456789abcdef".into();
    let debug = format!("{config:?}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
    let client = Client::new(config).expect("client");
    let debug = format!("{client:?}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
    assert!(debug.contains("Secret(***)"), "{debug}");
}
