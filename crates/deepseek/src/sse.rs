//! An incremental parser of server-sent events: feed it bytes as they arrive, in pieces of
//! any size, and it hands back the data of each complete event.
//!
//! Only `data:` fields matter to chat completions; comment lines (`: keep-alive`) and the
//! other fields (`event:`, `id:`, `retry:`) are skipped. Lines end with `\n` or `\r\n`; a
//! line, and the UTF-8 characters in it, are only decoded once complete.

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being received.
    line: Vec<u8>,
    /// The `data` lines of the event being received.
    data: Option<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `bytes` and returns the data of every event they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            self.line.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(data) = self.line_done(&line) {
                events.push(data);
            }
        }
        self.line.extend_from_slice(rest);
        events
    }

    /// The end of the input: an event whose blank line never came is still delivered.
    pub fn finish(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            let _ = self.line_done(&line);
        }
        self.data.take()
    }

    fn line_done(&mut self, line: &[u8]) -> Option<String> {
        if line.is_empty() {
            return self.data.take();
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            let value = String::from_utf8_lossy(value);
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(&value);
                }
                None => self.data = Some(value.into_owned()),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = ": keep-alive\r\n\r\ndata: {\"a\":\"héllo\"}\r\n\r\nevent: x\nid: 3\ndata: one\ndata: two\n\n:\ndata:[DONE]\n\n";

    fn parse_in_pieces(size: usize) -> Vec<String> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for piece in STREAM.as_bytes().chunks(size) {
            out.extend(parser.push(piece));
        }
        out.extend(parser.finish());
        out
    }

    #[test]
    fn events_survive_any_split() {
        let whole = parse_in_pieces(STREAM.len());
        assert_eq!(whole, ["{\"a\":\"héllo\"}", "one\ntwo", "[DONE]"]);
        for size in 1..12 {
            assert_eq!(parse_in_pieces(size), whole, "pieces of {size} bytes");
        }
    }

    #[test]
    fn an_unterminated_last_event_is_delivered_at_the_end() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"data: tail").is_empty());
        assert_eq!(parser.finish().as_deref(), Some("tail"));
        assert_eq!(parser.finish(), None);
    }
}
