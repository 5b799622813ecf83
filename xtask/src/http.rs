//! A tiny blocking HTTP/1.1 client for readiness polls: one request per connection
//! (`Connection: close`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("talking to {addr}: {source}")]
    Io { addr: SocketAddr, source: io::Error },
    #[error("{addr} did not answer with an HTTP status line")]
    NotHttp { addr: SocketAddr },
}

/// One request; `Host`, `Connection: close` and `Content-Length` are added.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// `GET path` and the status code.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, Error> {
    send(
        addr,
        &Request {
            method: "GET",
            path,
            headers: &[],
            body: &[],
        },
        timeout,
    )
}

/// Sends `request` and returns the response's status code; `timeout` bounds each step.
pub fn send(addr: SocketAddr, request: &Request<'_>, timeout: Duration) -> Result<u16, Error> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| Error::Connect { addr, source })?;
    let io = |source| Error::Io { addr, source };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    stream.write_all(&serialize(addr, request)).map_err(io)?;

    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            return parse_status_line(&buf[..end]).ok_or(Error::NotHttp { addr });
        }
        if buf.len() > 4096 {
            return Err(Error::NotHttp { addr });
        }
        match stream.read(&mut chunk).map_err(io)? {
            0 => return Err(Error::NotHttp { addr }),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn serialize(addr: SocketAddr, request: &Request<'_>) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
        request.method, request.path
    );
    for (name, value) in request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !request.body.is_empty() || !matches!(request.method, "GET" | "HEAD") {
        head.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(request.body);
    bytes
}

/// `HTTP/1.1 200 OK` → 200.
pub fn parse_status_line(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|c| (100..=599).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 204"), Some(204));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 20 OK"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 999 What"), None);
    }

    #[test]
    fn post_with_headers_and_body() {
        let addr: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let bytes = serialize(
            addr,
            &Request {
                method: "POST",
                path: "/",
                headers: &[("X-Amz-Target", "DynamoDB_20120810.ListTables")],
                body: b"{}",
            },
        );
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nConnection: close\r\n\
             X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn get_against_a_local_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"GET /readyz HTTP/1.1\r\n"));
            // the status line arrives in two pieces
            conn.write_all(b"HTTP/1.1 50").unwrap();
            conn.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            conn.write_all(b"3 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        });
        assert_eq!(get(addr, "/readyz", Duration::from_secs(2)).unwrap(), 503);
        server.join().unwrap();
    }
}
