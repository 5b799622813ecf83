//! An incremental parser of `text/event-stream` (the WHATWG server-sent events format).
//!
//! A body arrives in chunks that may end anywhere, even inside a UTF-8 character; the parser
//! keeps what is incomplete and yields each event once its blank line arrives. Lines end with
//! `\n`, `\r\n` or `\r`. Three readers share it: the DeepSeek client (chat completions stream
//! `data:` lines), and in the browser the release timeline and the chat's answers (the chat is
//! a POST, which `EventSource` cannot send). It has no dependencies, so it compiles to wasm32.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:`, or `message` when the event named none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` of this event, if it carried one.
    pub id: Option<String>,
}

/// Feed it bytes as they arrive with [`SseParser::feed`]; [`SseParser::finish`] at the end.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes after the last complete line.
    pending: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    /// The last line ended with `\r`: a `\n` starting the next chunk belongs to it.
    after_cr: bool,
    /// The stream's reconnection time, from `retry:` (milliseconds).
    pub retry_ms: Option<u32>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; returns the events it completed, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut bytes = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'\n' || b == b'\r' {
                self.pending.extend_from_slice(&bytes[start..i]);
                let line = std::mem::take(&mut self.pending);
                if let Some(event) = self.line(&String::from_utf8_lossy(&line)) {
                    events.push(event);
                }
                if b == b'\r' {
                    if i + 1 == bytes.len() {
                        self.after_cr = true;
                    } else if bytes[i + 1] == b'\n' {
                        i += 1;
                    }
                }
                start = i + 1;
            }
            i += 1;
        }
        self.pending.extend_from_slice(&bytes[start..]);
        events
    }

    /// The end of the input: an event whose blank line never came is still delivered.
    pub fn finish(&mut self) -> Option<SseEvent> {
        self.after_cr = false;
        let line = std::mem::take(&mut self.pending);
        if !line.is_empty() {
            let _ = self.line(&String::from_utf8_lossy(&line));
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None; // a comment: keep-alives
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            // An id with NUL is ignored, as the standard says.
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry_ms = Some(ms);
                }
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let id = self.id.take();
        // An event without data is not dispatched.
        let data = self.data.take()?;
        Some(SseEvent {
            event: event
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "message".into()),
            data,
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: name.into(),
            data: data.into(),
            id: id.map(Into::into),
        }
    }

    #[test]
    fn parses_named_events_with_ids_and_skips_comments() {
        let mut parser = SseParser::new();
        let events = parser.feed(
            b": keep-alive\n\nid: 3\nevent: timeline\ndata: {\"seq\":3}\n\nevent: end\ndata: {}\n\n",
        );
        assert_eq!(
            events,
            [
                event("timeline", "{\"seq\":3}", Some("3")),
                event("end", "{}", None)
            ]
        );
    }

    #[test]
    fn chunks_may_split_anywhere_even_inside_a_character() {
        let stream = "event: token\ndata: {\"text\":\"héllo wörld\"}\n\n".as_bytes();
        for split in 0..stream.len() {
            let mut parser = SseParser::new();
            let mut events = parser.feed(&stream[..split]);
            events.extend(parser.feed(&stream[split..]));
            assert_eq!(
                events,
                [event("token", "{\"text\":\"héllo wörld\"}", None)],
                "split at {split}"
            );
        }
    }

    #[test]
    fn every_line_ending_and_multi_line_data() {
        let mut parser = SseParser::new();
        let mut events = parser.feed(b"data: a\r\ndata: b\r");
        events.extend(parser.feed(b"\n\r\ndata:c\rdata:  d\n\n"));
        assert_eq!(
            events,
            [
                event("message", "a\nb", None),
                event("message", "c\n d", None)
            ]
        );
    }

    #[test]
    fn events_without_data_are_dropped_and_retry_is_kept() {
        let mut parser = SseParser::new();
        let events = parser.feed(b"event: end\nid: 9\n\nretry: 2500\n\n");
        assert!(events.is_empty());
        assert_eq!(parser.retry_ms, Some(2500));
        // the id of the dropped event does not leak into the next one
        assert_eq!(parser.feed(b"data: x\n\n"), [event("message", "x", None)]);
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        let mut parser = SseParser::new();
        let events = parser.feed(b"event: token\ndata: {\"text\":\"par");
        assert!(events.is_empty());
        assert!(parser.feed(b"tial\"}\n").is_empty());
        assert_eq!(parser.feed(b"\n").len(), 1);
    }

    /// The shape of a chat completions stream: comments, CRLF, fields other than `data:`.
    const COMPLETIONS: &str = ": keep-alive\r\n\r\ndata: {\"a\":\"héllo\"}\r\n\r\nevent: x\nid: 3\ndata: one\ndata: two\n\n:\ndata:[DONE]\n\n";

    fn data_in_pieces(size: usize) -> Vec<String> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for piece in COMPLETIONS.as_bytes().chunks(size) {
            out.extend(parser.feed(piece).into_iter().map(|e| e.data));
        }
        out.extend(parser.finish().map(|e| e.data));
        out
    }

    #[test]
    fn data_survives_any_split() {
        let whole = data_in_pieces(COMPLETIONS.len());
        assert_eq!(whole, ["{\"a\":\"héllo\"}", "one\ntwo", "[DONE]"]);
        for size in 1..12 {
            assert_eq!(data_in_pieces(size), whole, "pieces of {size} bytes");
        }
    }

    #[test]
    fn an_unterminated_last_event_is_delivered_at_the_end() {
        let mut parser = SseParser::new();
        assert!(parser.feed(b"event: token\ndata: tail").is_empty());
        assert_eq!(parser.finish(), Some(event("token", "tail", None)));
        assert_eq!(parser.finish(), None);
    }
}
