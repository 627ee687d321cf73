use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use portcullis_core::auth::Principal;
use portcullis_policy::{
    GrantScope, GrantSubject, ListKind, Policy, RoleDefinition, RoleGrant, RoleSet,
};
use serde_json::{Value, json};

use super::*;
use crate::authorize::{Rights, UpstreamRules};

fn rights() -> Rights {
    let roles = RoleSet::build(&[RoleDefinition {
        name: "reader".into(),
        inherits: vec![],
        permissions: vec![
            "mcp.tools.list".into(),
            "mcp.tools.call:files/read_*".into(),
        ],
    }])
    .unwrap();
    let policy = Policy::new(
        roles,
        vec![RoleGrant {
            subject: GrantSubject::User("usr_a".into()),
            role: "reader".into(),
            scope: GrantScope::All,
        }],
    )
    .unwrap();
    Rights::new(
        Arc::new(policy),
        Arc::new(Principal::new("portcullis", "usr_a")),
        Arc::new(UpstreamRules {
            name: "files".into(),
            ..UpstreamRules::default()
        }),
    )
}

fn by_id(id: Value) -> ListFilter {
    ListFilter {
        rights: rights(),
        targets: Targets::Ids(vec![(id, ListKind::Tools)]),
        upstream: "files".into(),
    }
}

fn tools_result(id: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
        {"name": "read_a", "inputSchema": {}},
        {"name": "write_a", "inputSchema": {}},
        {"name": "read_b"},
        {"title": "no name"},
        {"name": 7},
    ], "nextCursor": "c"}})
}

fn names(message: &Value) -> Vec<&str> {
    message["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

fn response(content_type: &str, status: StatusCode, chunks: Vec<Vec<u8>>) -> Response<Body> {
    let stream = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
    );
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn text(response: Response<Body>) -> String {
    String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

#[tokio::test]
async fn json_answers_lose_the_items_the_caller_may_not_use_in_any_spelling_and_status() {
    for (content_type, status) in [
        ("application/json", StatusCode::OK),
        ("Application/JSON; charset=utf-8", StatusCode::OK),
        ("application/json-rpc+json", StatusCode::CREATED),
        ("APPLICATION/JSON", StatusCode::ACCEPTED),
        ("application/json", StatusCode::BAD_REQUEST),
    ] {
        let body = serde_json::to_vec(&tools_result(json!(1))).unwrap();
        let filtered = by_id(json!(1))
            .apply(response(content_type, status, vec![body]))
            .await
            .unwrap();
        assert_eq!(filtered.status(), status);
        let length: usize = filtered.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let text = text(filtered).await;
        assert_eq!(length, text.len());
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(names(&value), ["read_a", "read_b"], "{content_type}");
        assert_eq!(value["result"]["nextCursor"], "c");
    }
}

#[tokio::test]
async fn only_the_answer_to_the_list_request_is_filtered_and_batches_too() {
    let other = serde_json::to_vec(&tools_result(json!(2))).unwrap();
    let kept = text(
        by_id(json!(1))
            .apply(response(
                "application/json",
                StatusCode::OK,
                vec![other.clone()],
            ))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(kept.as_bytes(), other.as_slice());
    let batch =
        serde_json::to_vec(&json!([tools_result(json!(2)), tools_result(json!(1))])).unwrap();
    let filtered: Value = serde_json::from_str(
        &text(
            by_id(json!(1))
                .apply(response("application/json", StatusCode::OK, vec![batch]))
                .await
                .unwrap(),
        )
        .await,
    )
    .unwrap();
    assert_eq!(filtered[0]["result"]["tools"].as_array().unwrap().len(), 5);
    assert_eq!(names(&filtered[1]), ["read_a", "read_b"]);
}

#[tokio::test]
async fn sse_answers_are_filtered_whatever_the_chunking_and_line_endings() {
    let payload = serde_json::to_string(&tools_result(json!("x"))).unwrap();
    for ending in ["\n", "\r\n", "\r"] {
        let stream = format!(
            ": comment{ending}event: message{ending}id: 1{ending}data: {payload}{ending}{ending}data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}}{ending}{ending}"
        );
        for size in [1, 3, 7, 64, stream.len()] {
            let chunks: Vec<Vec<u8>> = stream.as_bytes().chunks(size).map(<[u8]>::to_vec).collect();
            let filtered = by_id(json!("x"))
                .apply(response(
                    "Text/Event-Stream; charset=utf-8",
                    StatusCode::OK,
                    chunks,
                ))
                .await
                .unwrap();
            let out = text(filtered).await;
            let data: Vec<&str> = out
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            // A CR-only stream's last event waits for a byte that never comes: nothing else is lost.
            assert!(!data.is_empty(), "{ending:?} {size}: {out:?}");
            let first: Value = serde_json::from_str(data[0]).unwrap();
            assert_eq!(names(&first), ["read_a", "read_b"], "{ending:?} {size}");
            assert!(out.contains("id: 1"), "{out:?}");
            assert!(!out.contains("write_a"), "{out:?}");
        }
    }
}

#[tokio::test]
async fn a_data_field_split_over_lines_is_joined_before_filtering() {
    let stream = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\ndata: \"result\":{\"tools\":[{\"name\":\"write_a\"},{\"name\":\"read_a\"}]}}\n\n";
    let out = text(
        by_id(json!(1))
            .apply(response(
                "text/event-stream",
                StatusCode::OK,
                vec![stream.as_bytes().to_vec()],
            ))
            .await
            .unwrap(),
    )
    .await;
    assert!(!out.contains("write_a"), "{out}");
    assert!(out.contains("read_a"), "{out}");
}

#[tokio::test]
async fn answers_that_cannot_be_filtered_are_not_relayed() {
    let body = serde_json::to_vec(&tools_result(json!(1))).unwrap();
    for content_type in ["text/plain", "application/octet-stream", ""] {
        let result = by_id(json!(1))
            .apply(response(content_type, StatusCode::OK, vec![body.clone()]))
            .await;
        assert!(
            matches!(result, Err(RelayError::Unavailable { .. })),
            "{content_type:?}"
        );
    }
    let mut gzipped = response("application/json", StatusCode::OK, vec![body]);
    gzipped
        .headers_mut()
        .insert("content-encoding", http::HeaderValue::from_static("gzip"));
    assert!(by_id(json!(1)).apply(gzipped).await.is_err());
    // An error page of another kind is not a list.
    let page = response(
        "text/html",
        StatusCode::BAD_GATEWAY,
        vec![b"<h1>down</h1>".to_vec()],
    );
    assert_eq!(by_id(json!(1)).apply(page).await.unwrap().status(), 502);
}

#[tokio::test]
async fn streams_filtered_by_shape_catch_lists_answering_earlier_requests() {
    let filter = ListFilter {
        rights: rights(),
        targets: Targets::Shape(vec![ListKind::Tools]),
        upstream: "files".into(),
    };
    let payload = serde_json::to_string(&tools_result(json!(99))).unwrap();
    let out = text(
        filter
            .apply(response(
                "text/event-stream",
                StatusCode::OK,
                vec![format!("id: 5\ndata: {payload}\n\n").into_bytes()],
            ))
            .await
            .unwrap(),
    )
    .await;
    assert!(!out.contains("write_a"), "{out}");
}

#[test]
fn events_end_at_an_empty_line_only() {
    let mut split = EventSplitter::default();
    split.push(b"data: a\r");
    assert!(split.next_event().is_none());
    split.push(b"\n\r\ndata: b\n");
    assert_eq!(split.next_event().unwrap().as_ref(), b"data: a\r\n\r\n");
    assert!(split.next_event().is_none());
    split.push(b"\n");
    assert_eq!(split.next_event().unwrap().as_ref(), b"data: b\n\n");
    assert_eq!(split.pending(), 0);
}
