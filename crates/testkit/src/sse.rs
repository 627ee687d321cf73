//! A small incremental Server-Sent Events parser for tests that read SSE bodies (from the
//! mocks or through the gateway) chunk by chunk, as they arrive.
//!
//! It follows the WHATWG event-stream rules the tests need: `\n`, `\r\n` and `\r` line
//! ends, comment lines (`:`), `id`, `event`, `data` (several lines joined with `\n`) and
//! `retry` fields, and an event dispatched at each blank line. Events with no field at all
//! (a lone blank line) are skipped.

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field, when the event had one.
    pub id: Option<String>,
    /// The `event:` field, when the event had one (clients treat none as `message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `retry:` field, when the event had a valid one.
    pub retry: Option<u64>,
}

impl SseEvent {
    /// The data parsed as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.data).ok()
    }
}

/// Collects bytes and yields complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being received; kept as bytes so a UTF-8 sequence split across
    /// chunks is decoded whole.
    line: Vec<u8>,
    /// Whether the last byte seen was `\r`, so a following `\n` belongs to the same line end.
    after_cr: bool,
    current: SseEvent,
    has_fields: bool,
    /// Whether the current event has a `data` line yet (later ones are joined with `\n`).
    seen_data: bool,
    /// Comment lines seen so far (without the leading `:`), for keep-alive tests.
    comments: Vec<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line =
                        String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                    if let Some(event) = self.end_line(&line) {
                        events.push(event);
                    }
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
        events
    }

    /// Comment lines seen so far, in order, without the leading `:`.
    pub fn comments(&self) -> &[String] {
        &self.comments
    }

    fn end_line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            self.seen_data = false;
            if !std::mem::take(&mut self.has_fields) {
                return None;
            }
            return Some(std::mem::take(&mut self.current));
        }
        if let Some(comment) = line.strip_prefix(':') {
            self.comments.push(comment.trim_start().to_owned());
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        self.has_fields = true;
        match field {
            "id" => self.current.id = Some(value.to_owned()),
            "event" => self.current.event = Some(value.to_owned()),
            "data" => {
                if std::mem::replace(&mut self.seen_data, true) {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
            }
            "retry" => self.current.retry = value.parse().ok(),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_across_chunks() {
        let mut parser = SseParser::new();
        let mut events = parser.push(b": hello\n\nid: 1\nevent: mess");
        assert!(events.is_empty());
        events.extend(parser.push(b"age\r\ndata: {\"a\":\r\ndata:1}\r\n\r\ndata: h\xc3"));
        events.extend(parser.push(b"\xa9\rretry: 50\r\r"));
        assert_eq!(
            events,
            vec![
                SseEvent {
                    id: Some("1".to_owned()),
                    event: Some("message".to_owned()),
                    data: "{\"a\":\n1}".to_owned(),
                    retry: None,
                },
                SseEvent {
                    id: None,
                    event: None,
                    data: "h\u{e9}".to_owned(),
                    retry: Some(50),
                },
            ]
        );
        assert_eq!(parser.comments(), ["hello"]);
        assert_eq!(events[0].json(), Some(serde_json::json!({"a": 1})));
    }
}
