//! The demo's tools: their definitions (name, description, JSON Schema for input and
//! output, annotations) and their implementations.
//!
//! Every tool is read-only and, except for `current_time` and `generate_uuid`, a pure
//! function of its arguments, so the gateway's tests and a newcomer's first call see the
//! same answers. Argument problems are reported the way MCP asks: as a tool result with
//! `isError: true` that the model can read and correct, while an unknown tool name is a
//! protocol error (-32602) the caller sees.

use serde_json::{Map, Number, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The most UUIDs one `generate_uuid` call returns; a demo has no use for bulk generation.
const MAX_UUIDS: i64 = 100;
/// Real-world UTC offsets run from -12:00 to +14:00.
const MIN_OFFSET_MINUTES: i64 = -12 * 60;
const MAX_OFFSET_MINUTES: i64 = 14 * 60;

/// Why a `tools/call` could not even start; both become JSON-RPC -32602.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CallError {
    /// No tool has this name.
    UnknownTool(String),
    /// The request's params are not shaped like `{name, arguments?}`.
    InvalidParams(String),
}

impl CallError {
    pub(crate) fn message(&self) -> String {
        match self {
            Self::UnknownTool(name) => format!("unknown tool: {name}"),
            Self::InvalidParams(reason) => format!("invalid params: {reason}"),
        }
    }
}

/// The `tools` array of a `tools/list` result.
pub(crate) fn definitions() -> Value {
    let read_only = |title: &str, idempotent: bool| {
        json!({
            "title": title,
            "readOnlyHint": true,
            "destructiveHint": false,
            "idempotentHint": idempotent,
            "openWorldHint": false,
        })
    };
    json!([
        {
            "name": "echo",
            "title": "Echo",
            "description": "Returns the given message unchanged. Useful to check that a connection works end to end.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "message": { "type": "string", "description": "The text to send back." }
                },
                "required": ["message"],
                "additionalProperties": false
            },
            "outputSchema": {
                "type": "object",
                "properties": { "message": { "type": "string" } },
                "required": ["message"]
            },
            "annotations": read_only("Echo", true)
        },
        {
            "name": "add",
            "title": "Add two numbers",
            "description": "Adds two numbers and returns the sum. Integers are added exactly; other numbers as 64-bit floating point.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "a": { "type": "number", "description": "The first addend." },
                    "b": { "type": "number", "description": "The second addend." }
                },
                "required": ["a", "b"],
                "additionalProperties": false
            },
            "outputSchema": {
                "type": "object",
                "properties": { "sum": { "type": "number" } },
                "required": ["sum"]
            },
            "annotations": read_only("Add two numbers", true)
        },
        {
            "name": "current_time",
            "title": "Current time",
            "description": "Returns the current time as an RFC 3339 timestamp in UTC and as Unix seconds, and optionally as local time at a fixed UTC offset.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "offset_minutes": {
                        "type": "integer",
                        "minimum": MIN_OFFSET_MINUTES,
                        "maximum": MAX_OFFSET_MINUTES,
                        "description": "Offset from UTC in minutes for the `local` field, e.g. 120 for UTC+02:00. Defaults to 0."
                    }
                },
                "additionalProperties": false
            },
            "outputSchema": {
                "type": "object",
                "properties": {
                    "utc": { "type": "string", "format": "date-time" },
                    "unix_seconds": { "type": "integer" },
                    "offset_minutes": { "type": "integer" },
                    "local": { "type": "string", "format": "date-time" }
                },
                "required": ["utc", "unix_seconds", "offset_minutes", "local"]
            },
            "annotations": read_only("Current time", false)
        },
        {
            "name": "generate_uuid",
            "title": "Generate UUIDs",
            "description": "Generates random (version 4) UUIDs.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "count": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_UUIDS,
                        "description": "How many UUIDs to generate. Defaults to 1."
                    }
                },
                "additionalProperties": false
            },
            "outputSchema": {
                "type": "object",
                "properties": {
                    "uuids": { "type": "array", "items": { "type": "string", "format": "uuid" } }
                },
                "required": ["uuids"]
            },
            "annotations": read_only("Generate UUIDs", false)
        },
        {
            "name": "sha256",
            "title": "SHA-256 digest",
            "description": "Returns the SHA-256 digest of the UTF-8 bytes of a string, as lowercase hexadecimal.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "text": { "type": "string", "description": "The text to hash." }
                },
                "required": ["text"],
                "additionalProperties": false
            },
            "outputSchema": {
                "type": "object",
                "properties": {
                    "sha256": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                    "bytes": { "type": "integer" }
                },
                "required": ["sha256", "bytes"]
            },
            "annotations": read_only("SHA-256 digest", true)
        },
        {
            "name": "word_count",
            "title": "Count words",
            "description": "Counts the words (whitespace-separated), lines and characters (Unicode scalar values) of a text.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "text": { "type": "string", "description": "The text to count." }
                },
                "required": ["text"],
                "additionalProperties": false
            },
            "outputSchema": {
                "type": "object",
                "properties": {
                    "words": { "type": "integer" },
                    "lines": { "type": "integer" },
                    "characters": { "type": "integer" },
                    "bytes": { "type": "integer" }
                },
                "required": ["words", "lines", "characters", "bytes"]
            },
            "annotations": read_only("Count words", true)
        }
    ])
}

/// Runs `tools/call` with the request's params and returns the `CallToolResult`.
pub(crate) fn call(params: &Map<String, Value>, now: OffsetDateTime) -> Result<Value, CallError> {
    let name = match params.get("name") {
        Some(Value::String(name)) => name.as_str(),
        Some(_) => {
            return Err(CallError::InvalidParams(
                "`name` must be a string".to_owned(),
            ));
        }
        None => return Err(CallError::InvalidParams("`name` is required".to_owned())),
    };
    let empty = Map::new();
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(arguments)) => arguments,
        Some(_) => {
            return Err(CallError::InvalidParams(
                "`arguments` must be an object".to_owned(),
            ));
        }
    };
    let outcome = match name {
        "echo" => echo(arguments),
        "add" => add(arguments),
        "current_time" => current_time(arguments, now),
        "generate_uuid" => generate_uuid(arguments),
        "sha256" => sha256(arguments),
        "word_count" => word_count(arguments),
        other => return Err(CallError::UnknownTool(other.to_owned())),
    };
    Ok(match outcome {
        Ok((text, structured)) => json!({
            "content": [{ "type": "text", "text": text }],
            "structuredContent": structured,
            "isError": false,
        }),
        Err(message) => json!({
            "content": [{ "type": "text", "text": format!("invalid arguments for {name}: {message}") }],
            "isError": true,
        }),
    })
}

/// A tool's success: the text shown to the model and the matching structured content.
type ToolOutcome = Result<(String, Value), String>;

fn echo(arguments: &Map<String, Value>) -> ToolOutcome {
    only(arguments, &["message"])?;
    let message = required_string(arguments, "message")?;
    Ok((message.to_owned(), json!({ "message": message })))
}

fn add(arguments: &Map<String, Value>) -> ToolOutcome {
    only(arguments, &["a", "b"])?;
    let a = required_number(arguments, "a")?;
    let b = required_number(arguments, "b")?;
    // Integers first, so `2 + 2` is `4` rather than `4.0` and large integers stay exact.
    let exact = match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.checked_add(y).map(Number::from),
        _ => None,
    };
    let sum = match exact {
        Some(sum) => sum,
        None => {
            let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
                return Err("both addends must be numbers".to_owned());
            };
            Number::from_f64(x + y).ok_or_else(|| "the sum is too large to represent".to_owned())?
        }
    };
    Ok((sum.to_string(), json!({ "sum": sum })))
}

fn current_time(arguments: &Map<String, Value>, now: OffsetDateTime) -> ToolOutcome {
    only(arguments, &["offset_minutes"])?;
    let offset_minutes = match arguments.get("offset_minutes") {
        None | Some(Value::Null) => 0,
        Some(value) => value
            .as_i64()
            .filter(|m| (MIN_OFFSET_MINUTES..=MAX_OFFSET_MINUTES).contains(m))
            .ok_or_else(|| {
                format!(
                    "`offset_minutes` must be an integer from {MIN_OFFSET_MINUTES} to {MAX_OFFSET_MINUTES}"
                )
            })?,
    };
    let seconds = i32::try_from(offset_minutes * 60)
        .map_err(|_| "`offset_minutes` is out of range".to_owned())?;
    let offset = time::UtcOffset::from_whole_seconds(seconds)
        .map_err(|_| "`offset_minutes` is out of range".to_owned())?;
    // Whole seconds read better and match `unix_seconds` exactly.
    let utc = now
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|_| "the clock returned an invalid time".to_owned())?;
    let local = utc.to_offset(offset);
    let utc_text = utc
        .format(&Rfc3339)
        .map_err(|_| "the current time cannot be formatted".to_owned())?;
    let local_text = local
        .format(&Rfc3339)
        .map_err(|_| "the current time cannot be formatted".to_owned())?;
    let unix_seconds = utc.unix_timestamp();
    let text = if offset_minutes == 0 {
        format!("{utc_text} (unix {unix_seconds})")
    } else {
        format!("{utc_text} (unix {unix_seconds}); local {local_text}")
    };
    Ok((
        text,
        json!({
            "utc": utc_text,
            "unix_seconds": unix_seconds,
            "offset_minutes": offset_minutes,
            "local": local_text,
        }),
    ))
}

fn generate_uuid(arguments: &Map<String, Value>) -> ToolOutcome {
    only(arguments, &["count"])?;
    let count = match arguments.get("count") {
        None | Some(Value::Null) => 1,
        Some(value) => value
            .as_i64()
            .filter(|c| (1..=MAX_UUIDS).contains(c))
            .ok_or_else(|| format!("`count` must be an integer from 1 to {MAX_UUIDS}"))?,
    };
    let uuids: Vec<String> = (0..count)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    Ok((uuids.join("\n"), json!({ "uuids": uuids })))
}

fn sha256(arguments: &Map<String, Value>) -> ToolOutcome {
    only(arguments, &["text"])?;
    let text = required_string(arguments, "text")?;
    let digest = hex(&Sha256::digest(text.as_bytes()));
    Ok((
        digest.clone(),
        json!({ "sha256": digest, "bytes": text.len() }),
    ))
}

fn word_count(arguments: &Map<String, Value>) -> ToolOutcome {
    only(arguments, &["text"])?;
    let text = required_string(arguments, "text")?;
    let words = text.split_whitespace().count();
    let lines = text.lines().count();
    let characters = text.chars().count();
    let bytes = text.len();
    Ok((
        format!("words: {words}, lines: {lines}, characters: {characters}, bytes: {bytes}"),
        json!({ "words": words, "lines": lines, "characters": characters, "bytes": bytes }),
    ))
}

/// Refuses arguments the schema does not declare (`additionalProperties: false`), so a
/// misspelt argument is reported instead of silently ignored.
fn only(arguments: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match arguments.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(format!("unknown argument `{unknown}`")),
        None => Ok(()),
    }
}

fn required_string<'a>(arguments: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match arguments.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("`{key}` must be a string")),
        None => Err(format!("`{key}` is required")),
    }
}

fn required_number<'a>(arguments: &'a Map<String, Value>, key: &str) -> Result<&'a Number, String> {
    match arguments.get(key) {
        Some(Value::Number(n)) => Ok(n),
        Some(_) => Err(format!("`{key}` must be a number")),
        None => Err(format!("`{key}` is required")),
    }
}

/// Lowercase hexadecimal, as digests are conventionally printed.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            // Writing to a String cannot fail.
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-02T03:04:05.678Z, a fixed instant for `current_time`.
    fn fixed_now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(1_767_323_045_678_000_000).unwrap()
    }

    /// `value` as JSON text with every object's keys sorted, whatever order serde_json's maps
    /// keep (insertion order when another crate of the build turns on `preserve_order`).
    fn sorted(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let entries: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), sorted(v)))
                    .collect();
                format!("{{{}}}", entries.join(","))
            }
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(sorted).collect();
                format!("[{}]", items.join(","))
            }
            other => other.to_string(),
        }
    }

    /// Calls `name` with `arguments` and renders the outcome as one line: `ok <text> <structured>`,
    /// `tool-error <text>` or `protocol-error <message>`.
    fn check(name: &str, arguments: Value, expect: &str) {
        let params = json!({ "name": name, "arguments": arguments });
        let got = match call(params.as_object().unwrap(), fixed_now()) {
            Ok(result) => {
                let text = result["content"][0]["text"].as_str().unwrap().to_owned();
                if result["isError"] == json!(true) {
                    format!("tool-error {text}")
                } else {
                    format!("ok {text} {}", sorted(&result["structuredContent"]))
                }
            }
            Err(e) => format!("protocol-error {}", e.message()),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn echo() {
        check(
            "echo",
            json!({"message": "hi"}),
            r#"ok hi {"message":"hi"}"#,
        );
        check(
            "echo",
            json!({}),
            "tool-error invalid arguments for echo: `message` is required",
        );
        check(
            "echo",
            json!({"message": 3}),
            "tool-error invalid arguments for echo: `message` must be a string",
        );
        check(
            "echo",
            json!({"message": "x", "extra": 1}),
            "tool-error invalid arguments for echo: unknown argument `extra`",
        );
    }

    #[test]
    fn add() {
        check("add", json!({"a": 2, "b": 3}), r#"ok 5 {"sum":5}"#);
        check(
            "add",
            json!({"a": 1.5, "b": -0.25}),
            r#"ok 1.25 {"sum":1.25}"#,
        );
        check(
            "add",
            json!({"a": 9_007_199_254_740_993_i64, "b": 1}),
            r#"ok 9007199254740994 {"sum":9007199254740994}"#,
        );
        check(
            "add",
            json!({"a": i64::MAX, "b": 1}),
            r#"ok 9.223372036854776e+18 {"sum":9.223372036854776e+18}"#,
        );
        check(
            "add",
            json!({"a": 1.7e308, "b": 1.7e308}),
            "tool-error invalid arguments for add: the sum is too large to represent",
        );
        check(
            "add",
            json!({"a": "1", "b": 2}),
            "tool-error invalid arguments for add: `a` must be a number",
        );
        check(
            "add",
            json!({"a": 1}),
            "tool-error invalid arguments for add: `b` is required",
        );
    }

    #[test]
    fn current_time() {
        check(
            "current_time",
            json!({}),
            r#"ok 2026-01-02T03:04:05Z (unix 1767323045) {"local":"2026-01-02T03:04:05Z","offset_minutes":0,"unix_seconds":1767323045,"utc":"2026-01-02T03:04:05Z"}"#,
        );
        check(
            "current_time",
            json!({"offset_minutes": -330}),
            r#"ok 2026-01-02T03:04:05Z (unix 1767323045); local 2026-01-01T21:34:05-05:30 {"local":"2026-01-01T21:34:05-05:30","offset_minutes":-330,"unix_seconds":1767323045,"utc":"2026-01-02T03:04:05Z"}"#,
        );
        check(
            "current_time",
            json!({"offset_minutes": 900}),
            "tool-error invalid arguments for current_time: `offset_minutes` must be an integer from -720 to 840",
        );
        check(
            "current_time",
            json!({"offset_minutes": 1.5}),
            "tool-error invalid arguments for current_time: `offset_minutes` must be an integer from -720 to 840",
        );
    }

    #[test]
    fn generate_uuid() {
        let params = json!({"name": "generate_uuid", "arguments": {"count": 3}});
        let result = call(params.as_object().unwrap(), fixed_now()).unwrap();
        let uuids = result["structuredContent"]["uuids"].as_array().unwrap();
        assert_eq!(uuids.len(), 3);
        for u in uuids {
            let parsed = uuid::Uuid::parse_str(u.as_str().unwrap()).unwrap();
            assert_eq!(parsed.get_version_num(), 4);
        }
        assert_ne!(uuids[0], uuids[1]);
        check(
            "generate_uuid",
            json!({"count": 0}),
            "tool-error invalid arguments for generate_uuid: `count` must be an integer from 1 to 100",
        );
    }

    #[test]
    fn sha256() {
        check(
            "sha256",
            json!({"text": "abc"}),
            r#"ok ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad {"bytes":3,"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#,
        );
        check(
            "sha256",
            json!({"text": ""}),
            r#"ok e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 {"bytes":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}"#,
        );
    }

    #[test]
    fn word_count() {
        check(
            "word_count",
            json!({"text": "héllo  world\nsecond line\n"}),
            r#"ok words: 4, lines: 2, characters: 25, bytes: 26 {"bytes":26,"characters":25,"lines":2,"words":4}"#,
        );
        check(
            "word_count",
            json!({"text": ""}),
            r#"ok words: 0, lines: 0, characters: 0, bytes: 0 {"bytes":0,"characters":0,"lines":0,"words":0}"#,
        );
    }

    #[test]
    fn protocol_errors() {
        check("nope", json!({}), "protocol-error unknown tool: nope");
        check(
            "echo",
            json!("not an object"),
            "protocol-error invalid params: `arguments` must be an object",
        );
        let no_name = json!({"arguments": {}});
        assert_eq!(
            call(no_name.as_object().unwrap(), fixed_now()),
            Err(CallError::InvalidParams("`name` is required".to_owned()))
        );
    }

    #[test]
    fn every_definition_is_complete() {
        let definitions = definitions();
        let names: Vec<&str> = definitions
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                assert!(t["description"].as_str().is_some_and(|d| !d.is_empty()));
                assert_eq!(t["inputSchema"]["type"], "object");
                assert_eq!(t["annotations"]["readOnlyHint"], true);
                t["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            names,
            [
                "echo",
                "add",
                "current_time",
                "generate_uuid",
                "sha256",
                "word_count"
            ]
        );
    }
}
