//! Data-driven tests of `inspect`: one `check` helper, one line per case.

use super::*;

fn check(input: &str, expect: &str) {
    let got = match inspect(input.as_bytes(), Limits { max_depth: 8 }) {
        Ok(Body::Single(m)) => describe(&m),
        Ok(Body::Batch(ms)) => format!(
            "batch[{}]",
            ms.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        Err(e) => format!("error {}: {e}", e.code()),
    };
    assert!(
        got.starts_with(expect),
        "input: {input}\n  got: {got}\n want: {expect}"
    );
}

fn describe(m: &Message) -> String {
    let mut s = format!("{:?}", m.kind);
    if let Some(id) = &m.id {
        s += &format!(" id={}", id.get());
    }
    if let Some(method) = &m.method {
        s += &format!(" method={method}");
    }
    if let Some(t) = m.target() {
        s += &format!(" target={t}");
    }
    if let Some(v) = &m.requested_version {
        s += &format!(" requested={v}");
    }
    if let Some(v) = &m.meta_version {
        s += &format!(" meta={v}");
    }
    if let Some(p) = &m.progress_token {
        s += &format!(" progress={}", p.get());
    }
    if let Some(a) = &m.arguments {
        s += &format!(" arguments={}", a.get());
    }
    s
}

#[test]
fn messages_are_classified() {
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        "Request id=1 method=ping",
    );
    check(
        r#"{"jsonrpc":"2.0","id":"a-1","method":"tools/list","params":{}}"#,
        r#"Request id="a-1" method=tools/list"#,
    );
    check(
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "Notification method=notifications/initialized",
    );
    check(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#, "Response id=7");
    check(
        r#"{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"x"}}"#,
        "Response id=7",
    );
}

#[test]
fn targets_versions_and_tokens_are_extracted() {
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"name":"not this"},"_meta":{"progressToken":5,"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        "Request id=1 method=tools/call target=echo meta=2026-07-28 progress=5 arguments={\"name\":\"not this\"}",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}"#,
        "Request id=1 method=resources/read target=file:///a",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#,
        "Request id=1 method=prompts/get target=p",
    );
    check(
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}"#,
        "Request id=0 method=initialize requested=2025-11-25",
    );
    // Escapes are decoded before comparison, so "na\u006de" is the key "name".
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"na\u006de":"secret_tool"}}"#,
        "Request id=1 method=tools/call target=secret_tool",
    );
    // A non-string name is no target.
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":{"x":1}}}"#,
        "Request id=1 method=tools/call",
    );
}

#[test]
fn duplicate_keys_are_rejected_anywhere() {
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
        "error -32700: invalid JSON: duplicate object key \"name\"",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}"#,
        "error -32700: invalid JSON: duplicate object key \"method\"",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"a","params":{"x":[{"k":1,"k":2}]}}"#,
        "error -32700: invalid JSON: duplicate object key \"k\"",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","n\u0061me":"b"}}"#,
        "error -32700: invalid JSON: duplicate object key \"name\"",
    );
    // Past the keys kept inline, in a hash set: a repeat is still found, whichever key it is.
    let many = |repeat: &str| {
        let keys: String = (0..20).map(|i| format!(r#""k{i}":{i},"#)).collect();
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"a","params":{{{keys}"{repeat}":0}}}}"#)
    };
    check(&many("k20"), "Request id=1 method=a");
    for repeat in ["k0", "k7", "k8", "k19"] {
        check(
            &many(repeat),
            &format!("error -32700: invalid JSON: duplicate object key \"{repeat}\""),
        );
    }
}

#[test]
fn arguments_are_kept_as_written_and_checked_like_the_rest() {
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{ "path" : "/etc" },"name":"r"}}"#,
        r#"Request id=1 method=tools/call target=r arguments={ "path" : "/etc" }"#,
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"r","arguments":{"p":"a","p":"b"}}}"#,
        "error -32700: invalid JSON: duplicate object key \"p\"",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"r","arguments":{"p":"a","\u0070":"b"}}}"#,
        "error -32700: invalid JSON: duplicate object key \"p\"",
    );
    // Envelope (1) + params (2) + arguments (3) + 5 arrays reach depth 8; 6 exceed it.
    let deep = |n: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"arguments":{{"x":{}1{}}}}}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    check(&deep(5), "Request id=1 method=tools/call arguments=");
    check(
        &deep(6),
        "error -32700: invalid JSON: nesting deeper than 8 levels",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"r","arguments":[1]}}"#,
        "Request id=1 method=tools/call target=r arguments=[1]",
    );
}

#[test]
fn depth_is_limited() {
    let deep = |n: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"a","params":{{"x":{}1{}}}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    // Envelope (1) + params (2) + n arrays: 6 arrays reach depth 8, 7 exceed it.
    check(&deep(6), "Request id=1 method=a");
    check(
        &deep(7),
        "error -32700: invalid JSON: nesting deeper than 8 levels",
    );
    // Far past serde_json's own recursion limit: still a clean parse error, no stack overflow.
    let body = deep(100_000);
    let result = inspect(body.as_bytes(), Limits { max_depth: 8 });
    assert_eq!(result.err().map(|e| e.code()), Some(-32700));
}

#[test]
fn bad_envelopes_are_invalid_requests() {
    check(
        r#"{"jsonrpc":"1.0","id":1,"method":"a"}"#,
        "error -32600: the jsonrpc member must be \"2.0\"",
    );
    check(
        r#"{"id":1,"method":"a"}"#,
        "error -32600: the jsonrpc member must be \"2.0\"",
    );
    check(
        r#"{"jsonrpc":"2.0","id":{"a":1},"method":"a"}"#,
        "error -32600: the id must be a string or a number",
    );
    check(
        r#"{"jsonrpc":"2.0","id":null,"method":"a"}"#,
        "error -32600: the id must be a string or a number",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
        "error -32600: the method must be a string",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1}"#,
        "error -32600: a message needs a method",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#,
        "error -32600: a response needs an id and exactly one of result or error",
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"a","params":"x"}"#,
        "error -32600: params must be an object or an array",
    );
    check(
        r#""hello""#,
        "error -32600: the body must be a JSON-RPC message object",
    );
    check(
        r#"[]"#,
        "error -32600: an empty batch is not a valid request",
    );
}

#[test]
fn syntax_errors_are_parse_errors() {
    check("", "error -32700");
    check("{", "error -32700");
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"a"} trailing"#,
        "error -32700",
    );
    check("\u{feff}{}", "error -32700");
}

#[test]
fn batches_are_read_element_by_element() {
    check(
        r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"n"}]"#,
        "batch[Request id=1 method=a, Notification method=n]",
    );
    check(
        r#"[{"jsonrpc":"2.0","id":1,"method":"a"},5]"#,
        "error -32600",
    );
}

#[test]
fn error_bodies_keep_the_id() {
    let id = serde_json::value::RawValue::from_string("\"abc\"".to_owned()).unwrap();
    let body = error_body(Some(&id), -32601, "method not found", None);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"{"jsonrpc":"2.0","id":"abc","error":{"code":-32601,"message":"method not found"}}"#
    );
    let body = error_body(
        None,
        -32700,
        "parse error",
        Some(serde_json::json!({"reason":"x"})),
    );
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error","data":{"reason":"x"}}}"#
    );
}
