//! Server-Sent Events: writing the events the bridge sends, and reading a legacy upstream's.

use bytes::{BufMut, Bytes, BytesMut};

/// Encodes one `message` event carrying a JSON-RPC message.
pub(crate) fn message_event(id: Option<&str>, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 48);
    if let Some(id) = id {
        out.put_slice(b"id: ");
        out.put_slice(id.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_slice(b"event: message\ndata: ");
    // JSON-RPC messages are single-line JSON as serde_json writes them; any newline inside
    // becomes its own data line, which SSE joins back with '\n'.
    let mut first = true;
    for line in data.split(|b| *b == b'\n') {
        if !first {
            out.put_slice(b"\ndata: ");
        }
        out.put_slice(line);
        first = false;
    }
    out.put_slice(b"\n\n");
    out.freeze()
}

/// How long a client should wait before reconnecting a broken stream, in milliseconds.
const RETRY_MS: u32 = 1000;

/// Encodes the priming event (an id and empty data, SEP-1699) that gives the client an event id
/// to resume from, with the reconnection delay.
pub(crate) fn priming_event(id: &str) -> Bytes {
    Bytes::from(format!("id: {id}\nretry: {RETRY_MS}\ndata: \n\n"))
}

/// One event read from a stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Event {
    pub event: String,
    pub data: String,
}

/// An incremental SSE parser (the WHATWG event-stream rules that matter here).
#[derive(Debug, Default)]
pub(crate) struct Parser {
    buffer: Vec<u8>,
    current: Event,
    has_data: bool,
}

impl Parser {
    /// Feeds bytes; returns the events completed by them.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=pos).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if self.has_data {
                    let mut event = std::mem::take(&mut self.current);
                    if event.event.is_empty() {
                        event.event = "message".to_owned();
                    }
                    events.push(event);
                }
                self.current = Event::default();
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_ref(), ""),
            };
            match field {
                "event" => self.current.event = value.to_owned(),
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                _ => {}
            }
        }
        events
    }

    /// Bytes held while waiting for the end of a line (bounded by the caller).
    pub(crate) fn pending(&self) -> usize {
        self.buffer.len() + self.current.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_anywhere() {
        let text = "event: endpoint\ndata: /messages?sessionId=1\n\n: comment\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n";
        for split in 0..text.len() {
            let mut p = Parser::default();
            let (a, b) = text.as_bytes().split_at(split);
            let mut events = p.feed(a);
            events.extend(p.feed(b));
            assert_eq!(events.len(), 2, "split at {split}");
            assert_eq!(
                events[0],
                Event {
                    event: "endpoint".into(),
                    data: "/messages?sessionId=1".into()
                }
            );
            assert_eq!(
                events[1],
                Event {
                    event: "message".into(),
                    data: "{\"a\":\n1}".into()
                }
            );
        }
    }

    #[test]
    fn writes_events_the_parser_reads() {
        let bytes = message_event(Some("s-1"), b"{\"x\":\n1}");
        let mut p = Parser::default();
        assert_eq!(
            p.feed(&bytes),
            vec![Event {
                event: "message".into(),
                data: "{\"x\":\n1}".into()
            }]
        );
    }
}
