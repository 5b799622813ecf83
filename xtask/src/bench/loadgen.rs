//! A closed-loop HTTP/1.1 load generator: N connections, each sending one request at a time over
//! a keep-alive TCP connection for a fixed duration, recording every latency.
//!
//! Responses are parsed just enough to find where they end (Content-Length or chunked) and
//! whether the server closes the connection; a connection the server closed is reopened.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use super::scenarios::Scenario;
use crate::{http, proc};

/// Larger response heads are refused (no server of ours sends them).
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;
/// How long requests still in flight at the end may take before they count as errors.
const LINGER: Duration = Duration::from_secs(2);

/// What one scenario measured (after the warm-up).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Responses received for requests sent in the measured window.
    pub requests: u64,
    /// Non-2xx responses plus requests that got no response at all.
    pub errors: u64,
    /// The measured window.
    pub elapsed: Duration,
    /// Latency of every response, in microseconds, ascending.
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `scenario` against `addr`: `warmup` unmeasured, then `duration` measured. Stops early
/// on Ctrl-C (check [`proc::shutdown_requested`] afterwards).
pub fn run(
    runtime: &Runtime,
    addr: SocketAddr,
    scenario: &Scenario,
    warmup: Duration,
    duration: Duration,
) -> Outcome {
    let request = Arc::new(Template::new(scenario.request_bytes(&addr.to_string())));
    let measure_from = Instant::now() + warmup;
    let until = measure_from + duration;
    let mut outcome = runtime.block_on(async {
        let connections: Vec<_> = (0..scenario.connections)
            .map(|index| {
                tokio::spawn(connection(
                    addr,
                    Arc::clone(&request),
                    index,
                    measure_from,
                    until,
                ))
            })
            .collect();
        let mut total = Outcome::default();
        for connection in connections {
            if let Ok(tally) = connection.await {
                total.requests += tally.requests;
                total.errors += tally.errors;
                total.latencies_us.extend(tally.latencies_us);
            }
        }
        total
    });
    outcome.elapsed = Instant::now()
        .min(until)
        .saturating_duration_since(measure_from);
    outcome.latencies_us.sort_unstable();
    outcome
}

/// A serialized request, split at [`SEQ`] when the scenario needs a value unique to every
/// request (an `Idempotency-Key`, say).
#[derive(Debug)]
struct Template {
    before: Vec<u8>,
    after: Option<Vec<u8>>,
    /// Keeps keys of this run apart from those of earlier runs against the same data.
    nonce: u128,
}

/// The placeholder a scenario writes where each request needs its own value.
pub const SEQ: &str = "{seq}";

impl Template {
    fn new(bytes: Vec<u8>) -> Self {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        match bytes.windows(SEQ.len()).position(|w| w == SEQ.as_bytes()) {
            Some(at) => Self {
                before: bytes[..at].to_vec(),
                after: Some(bytes[at + SEQ.len()..].to_vec()),
                nonce,
            },
            None => Self {
                before: bytes,
                after: None,
                nonce,
            },
        }
    }

    /// The `n`th request of connection `conn`; borrowed when nothing varies.
    fn render(&self, conn: usize, n: u64) -> std::borrow::Cow<'_, [u8]> {
        match &self.after {
            None => std::borrow::Cow::Borrowed(&self.before),
            Some(after) => {
                let mut bytes = self.before.clone();
                bytes.extend_from_slice(format!("{:x}-{conn}-{n}", self.nonce).as_bytes());
                bytes.extend_from_slice(after);
                std::borrow::Cow::Owned(bytes)
            }
        }
    }
}

/// One connection's closed loop.
async fn connection(
    addr: SocketAddr,
    request: Arc<Template>,
    index: usize,
    measure_from: Instant,
    until: Instant,
) -> Outcome {
    let mut sent_count: u64 = 0;
    let mut tally = Outcome::default();
    let hard_stop = tokio::time::Instant::from_std(until + LINGER);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    'connect: while Instant::now() < until && !proc::shutdown_requested() {
        let mut stream = match tokio::time::timeout_at(hard_stop, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            _ => {
                if Instant::now() >= measure_from {
                    tally.errors += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        buf.clear();
        loop {
            let sent = Instant::now();
            if sent >= until || proc::shutdown_requested() {
                break 'connect;
            }
            let measured = sent >= measure_from;
            sent_count += 1;
            let bytes = request.render(index, sent_count);
            let exchange = async {
                stream.write_all(&bytes).await?;
                read_response(&mut stream, &mut buf).await
            };
            match tokio::time::timeout_at(hard_stop, exchange).await {
                Ok(Ok(response)) => {
                    if measured {
                        let micros = sent.elapsed().as_micros();
                        tally
                            .latencies_us
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        tally.requests += 1;
                        if !(200..300).contains(&response.status) {
                            tally.errors += 1;
                        }
                    }
                    if response.close {
                        continue 'connect;
                    }
                }
                Ok(Err(_)) | Err(_) => {
                    if measured {
                        tally.errors += 1;
                    }
                    continue 'connect;
                }
            }
        }
    }
    tally
}

async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Response> {
    loop {
        if !buf.is_empty() {
            let parsed = parse_response(buf).map_err(io::Error::other)?;
            if let Some((response, used)) = parsed {
                buf.drain(..used);
                return Ok(response);
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// The parts of a response the load generator needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The server closes the connection after this response.
    pub close: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed status line")]
    StatusLine,
    #[error("malformed header line")]
    Header,
    #[error("bad Content-Length")]
    ContentLength,
    #[error("malformed chunked body")]
    Chunk,
    #[error("response head over {MAX_HEAD} bytes")]
    TooLarge,
    #[error("response with neither Content-Length nor chunked encoding")]
    Unframed,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses one complete response at the start of `buf`: `Ok(None)` when more bytes are needed,
/// else the response and how many bytes it took. Interim 1xx responses are skipped.
pub fn parse_response(buf: &[u8]) -> Result<Option<(Response, usize)>, ParseError> {
    let mut offset = 0;
    loop {
        let rest = &buf[offset..];
        let Some(head_end) = find(rest, b"\r\n\r\n") else {
            return if rest.len() > MAX_HEAD {
                Err(ParseError::TooLarge)
            } else {
                Ok(None)
            };
        };
        let head = &rest[..head_end];
        let body_start = offset + head_end + 4;
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let status_line = lines.next().ok_or(ParseError::StatusLine)?;
        let status = http::parse_status_line(status_line).ok_or(ParseError::StatusLine)?;
        let http10 = status_line.starts_with(b"HTTP/1.0");

        let mut content_length: Option<usize> = None;
        let mut chunked = false;
        let mut close = http10;
        for line in lines {
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or(ParseError::Header)?;
            let name = std::str::from_utf8(&line[..colon])
                .map_err(|_| ParseError::Header)?
                .trim();
            let value = std::str::from_utf8(&line[colon + 1..])
                .map_err(|_| ParseError::Header)?
                .trim();
            if name.eq_ignore_ascii_case("content-length") {
                let length = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= MAX_BODY)
                    .ok_or(ParseError::ContentLength)?;
                if content_length.is_some_and(|n| n != length) {
                    return Err(ParseError::ContentLength);
                }
                content_length = Some(length);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                        close = false;
                    }
                }
            }
        }

        if (100..200).contains(&status) && status != 101 {
            offset = body_start;
            continue;
        }
        let body_len = if status == 204 || status == 304 || status == 101 {
            0
        } else if chunked {
            match chunked_length(&buf[body_start..])? {
                Some(length) => length,
                None => return Ok(None),
            }
        } else if let Some(length) = content_length {
            length
        } else {
            return Err(ParseError::Unframed);
        };
        if buf.len() - body_start < body_len {
            return Ok(None);
        }
        return Ok(Some((Response { status, close }, body_start + body_len)));
    }
}

/// The length of a complete chunked body (chunks, last chunk, trailers, final CRLF) at the start
/// of `body`, or `None` when it is not all there yet.
fn chunked_length(body: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut pos = 0;
    loop {
        let Some(line_len) = find(&body[pos..], b"\r\n") else {
            return if body.len() - pos > 1024 {
                Err(ParseError::Chunk)
            } else {
                Ok(None)
            };
        };
        let line = &body[pos..pos + line_len];
        let size = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(size)
            .map_err(|_| ParseError::Chunk)?
            .trim();
        if size.is_empty() {
            return Err(ParseError::Chunk);
        }
        let size = usize::from_str_radix(size, 16)
            .ok()
            .filter(|n| *n <= MAX_BODY)
            .ok_or(ParseError::Chunk)?;
        pos += line_len + 2;
        if size == 0 {
            // trailer fields, then an empty line
            loop {
                let Some(len) = find(&body[pos..], b"\r\n") else {
                    return Ok(None);
                };
                pos += len + 2;
                if len == 0 {
                    return Ok(Some(pos));
                }
            }
        }
        let data_end = pos + size;
        if body.len() < data_end + 2 {
            return Ok(None);
        }
        if &body[data_end..data_end + 2] != b"\r\n" {
            return Err(ParseError::Chunk);
        }
        pos = data_end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_vary_only_where_asked() {
        let fixed = Template::new(b"GET / HTTP/1.1\r\n\r\n".to_vec());
        assert_eq!(&*fixed.render(0, 1), b"GET / HTTP/1.1\r\n\r\n");
        let varying =
            Template::new(b"POST / HTTP/1.1\r\nIdempotency-Key: k-{seq}\r\n\r\n{}".to_vec());
        let first = varying.render(3, 1).into_owned();
        let second = varying.render(3, 2).into_owned();
        assert_ne!(first, second);
        let text = String::from_utf8(first).unwrap();
        assert!(
            text.starts_with("POST / HTTP/1.1\r\nIdempotency-Key: k-"),
            "{text}"
        );
        assert!(text.ends_with("-3-1\r\n\r\n{}"), "{text}");
    }

    fn parse(bytes: &[u8]) -> Result<Option<(Response, usize)>, ParseError> {
        parse_response(bytes)
    }

    /// Every strict prefix is incomplete, the whole is complete: as read in pieces of any size.
    fn assert_split_reads(bytes: &[u8], expected: Response) {
        for cut in 0..bytes.len() {
            assert_eq!(
                parse(&bytes[..cut]),
                Ok(None),
                "complete after {cut} of {} bytes",
                bytes.len()
            );
        }
        assert_eq!(parse(bytes), Ok(Some((expected, bytes.len()))));
    }

    const OK: Response = Response {
        status: 200,
        close: false,
    };

    #[test]
    fn content_length() {
        let response =
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
        assert_split_reads(response, OK);
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-checksum: abc\r\n\r\n";
        assert_split_reads(response, OK);
        let simple = b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
        assert_split_reads(
            simple,
            Response {
                status: 503,
                close: false,
            },
        );
    }

    #[test]
    fn leaves_the_next_response_in_the_buffer() {
        let one = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc".to_vec();
        let mut two = one.clone();
        two.extend_from_slice(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(parse(&two), Ok(Some((OK, one.len()))));
        assert_eq!(
            parse(&two[one.len()..]),
            Ok(Some((
                Response {
                    status: 404,
                    close: false
                },
                two.len() - one.len()
            )))
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        let response =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n";
        assert_split_reads(
            response,
            Response {
                status: 201,
                close: false,
            },
        );
    }

    #[test]
    fn connection_close() {
        let closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(parse(closing).unwrap().unwrap().0.close);
        let http10 = b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(parse(http10).unwrap().unwrap().0.close);
        let http10_keep = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n";
        assert!(!parse(http10_keep).unwrap().unwrap().0.close);
        let no_body = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(
            parse(no_body),
            Ok(Some((
                Response {
                    status: 204,
                    close: false
                },
                no_body.len()
            )))
        );
    }

    #[test]
    fn malformed_responses() {
        assert_eq!(
            parse(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(ParseError::StatusLine)
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"),
            Err(ParseError::Header)
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n"),
            Err(ParseError::ContentLength)
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
            Err(ParseError::ContentLength)
        );
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\n\r\n"), Err(ParseError::Unframed));
        let bad_chunk = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(parse(bad_chunk), Err(ParseError::Chunk));
        let long_chunk =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n";
        assert_eq!(parse(long_chunk), Err(ParseError::Chunk));
        let endless = vec![b'x'; MAX_HEAD + 1];
        assert_eq!(parse(&endless), Err(ParseError::TooLarge));
    }

    #[test]
    fn against_a_local_server() {
        use std::io::{Read, Write};
        // A keep-alive server that answers in pieces, chunked, and closes every third response.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    for n in 1.. {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let close = n % 3 == 0;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{}\r\n2\r\n",
                            if close { "connection: close\r\n" } else { "" }
                        );
                        if conn.write_all(head.as_bytes()).is_err() {
                            return;
                        }
                        let _ = conn.flush();
                        if conn.write_all(b"ok\r\n0\r\n\r\n").is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let scenario = Scenario::get("test", "/", 4);
        let outcome = run(
            &runtime,
            addr,
            &scenario,
            Duration::from_millis(50),
            Duration::from_millis(300),
        );
        assert!(outcome.requests > 10, "{outcome:?}");
        assert_eq!(outcome.errors, 0);
        assert_eq!(outcome.latencies_us.len() as u64, outcome.requests);
        assert!(outcome.latencies_us.is_sorted());
        assert!(outcome.per_second() > 0.0);
    }
}
