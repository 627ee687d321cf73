//! `portcullis admin role …` and `portcullis admin authz explain` as a real process against a
//! real SQLite store: roles from the configuration and the store, grants scoped everywhere and
//! to one server, decisions explained, and mistakes refused with nothing written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use common::portcullis;
use serde_json::Value;

fn write_config(dir: &Path) -> String {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\n[store]\nurl = \"sqlite://{}/p.db\"\n\
             [[roles]]\nname = \"files-reader\"\ninherits = [\"viewer\"]\n\
             permissions = [\"mcp.tools.call:files/read_*\"]\ndescription = \"Reads files\"\n\
             [[upstreams]]\nname = \"files\"\nurl = \"http://127.0.0.1:9/mcp\"\n\
             [[upstreams]]\nname = \"notes\"\nurl = \"http://127.0.0.1:9/mcp\"\n",
            dir.display()
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn admin(config: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = portcullis()
        .args(["admin", "--config", config, "--json"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => {}
    }
    child.wait_with_output().unwrap()
}

fn ok(config: &str, args: &[&str]) -> Value {
    let output = admin(config, args, "");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn refused(config: &str, args: &[&str]) -> String {
    let output = admin(config, args, "");
    assert!(!output.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Creates the account `alice` (no tenant, no role).
fn create_alice(config: &str) {
    let created = admin(
        config,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
}

fn explain(config: &str, server: &str, method: &str, name: Option<&str>) -> Value {
    let mut args = vec![
        "authz", "explain", "--user", "alice", "--server", server, "--method", method,
    ];
    if let Some(name) = name {
        args.extend(["--name", name]);
    }
    ok(config, &args)
}

#[test]
fn roles_are_granted_explained_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    create_alice(&config);

    let roles = ok(&config, &["role", "list"]);
    let names: Vec<(&str, &str)> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["source"].as_str().unwrap()))
        .collect();
    assert!(names.contains(&("owner", "builtin")));
    assert!(names.contains(&("files-reader", "config")));

    // Nothing granted yet: denied, and why.
    let denied = explain(&config, "files", "tools/call", Some("read_file"));
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["reason"], "the account holds no role");

    let grant = ok(
        &config,
        &["role", "grant", "--user", "alice", "--role", "files-reader"],
    );
    assert_eq!(grant["role"], "files-reader");
    assert_eq!(grant["scope_kind"], "all");
    let allowed = explain(&config, "files", "tools/call", Some("read_file"));
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert_eq!(allowed["rule"], "mcp.tools.call:files/read_*");
    assert_eq!(allowed["role"], "files-reader");
    assert_eq!(
        explain(&config, "files", "tools/call", Some("write_file"))["decision"],
        "deny"
    );
    assert_eq!(
        explain(&config, "notes", "tools/list", None)["decision"],
        "allow"
    );
    let unknown = explain(&config, "files", "tools/explode", None);
    assert_eq!(unknown["decision"], "deny");
    assert!(unknown["permission"].is_null());

    // A stored role, granted on one server only.
    ok(
        &config,
        &[
            "role",
            "create",
            "--name",
            "notes-writer",
            "--inherits",
            "files-reader",
            "--permission",
            "mcp.tools.call:notes",
        ],
    );
    ok(
        &config,
        &[
            "role",
            "grant",
            "--user",
            "alice",
            "--role",
            "notes-writer",
            "--server",
            "notes",
        ],
    );
    assert_eq!(
        explain(&config, "notes", "tools/call", Some("append"))["decision"],
        "allow"
    );
    let grants = ok(&config, &["role", "grants"]);
    assert_eq!(grants.as_array().unwrap().len(), 2);

    // Mistakes are refused and write nothing.
    for (args, expected) in [
        (
            vec![
                "role",
                "create",
                "--name",
                "bad",
                "--permission",
                "users.fly",
            ],
            "not a permission",
        ),
        (vec!["role", "create", "--name", "viewer"], "built-in"),
        (
            vec!["role", "grant", "--user", "alice", "--role", "wizard"],
            "no role",
        ),
        (
            vec!["role", "grant", "--user", "bob", "--role", "viewer"],
            "no user",
        ),
        (
            vec![
                "role", "grant", "--user", "alice", "--role", "viewer", "--server", "db",
            ],
            "no server",
        ),
        (
            vec!["role", "grant", "--user", "alice", "--role", "files-reader"],
            "granted so already",
        ),
        (vec!["role", "delete", "--name", "notes-writer"], "granted"),
        (
            vec!["role", "delete", "--name", "files-reader"],
            "not a stored role",
        ),
    ] {
        let error = refused(&config, &args);
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    assert_eq!(
        ok(&config, &["role", "grants"]).as_array().unwrap().len(),
        2
    );

    ok(
        &config,
        &[
            "role",
            "revoke",
            "--user",
            "alice",
            "--role",
            "notes-writer",
            "--server",
            "notes",
        ],
    );
    ok(&config, &["role", "delete", "--name", "notes-writer"]);
    ok(
        &config,
        &[
            "role",
            "revoke",
            "--user",
            "alice",
            "--role",
            "files-reader",
        ],
    );
    assert_eq!(
        explain(&config, "files", "tools/call", Some("read_file"))["decision"],
        "deny"
    );
}

#[test]
fn people_of_other_validators_are_granted_by_subject() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let granted = ok(
        &config,
        &[
            "role",
            "grant",
            "--subject",
            "corp:248289761001",
            "--role",
            "developer",
            "--server",
            "files",
        ],
    );
    assert_eq!(granted["grantee"], "corp:248289761001", "{granted}");
    for subject in ["portcullis:usr_x", "no-colon", ":x", "corp:"] {
        let why = refused(
            &config,
            &["role", "grant", "--subject", subject, "--role", "developer"],
        );
        assert!(why.contains("subject"), "{subject}: {why}");
    }
    let grants = ok(&config, &["role", "grants"]);
    assert_eq!(grants.as_array().unwrap().len(), 1, "{grants}");
}

#[test]
fn explain_reports_the_condition_that_forbids_what_the_roles_allow() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let policies = dir.path().join("conditions.cedar");
    std::fs::write(
        &policies,
        r#"
        @id("no-etc")
        forbid (principal, action == Action::"tools/call", resource)
        when { context.arguments.hasTag("path") && context.arguments.getTag("path") like "/etc/*" };

        @id("acme-only")
        forbid (principal, action, resource == Tool::"read_secrets")
        unless { principal has tenant && principal.tenant == "acme" };
        "#,
    )
    .unwrap();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[authorization]\ncedar_policies = \"{}\"\n",
        policies.display()
    ));
    std::fs::write(&config, text).unwrap();
    create_alice(&config);
    ok(
        &config,
        &["role", "grant", "--user", "alice", "--role", "files-reader"],
    );
    let call = |name: &'static str, arguments: &'static str| {
        [
            "authz",
            "explain",
            "--user",
            "alice",
            "--server",
            "files",
            "--method",
            "tools/call",
            "--name",
            name,
            "--arguments",
            arguments,
        ]
    };
    let explain_with = |name, arguments| ok(&config, &call(name, arguments));

    let forbidden = explain_with("read_file", r#"{"path": "/etc/passwd"}"#);
    assert_eq!(forbidden["decision"], "deny", "{forbidden}");
    assert_eq!(forbidden["policy"], "no-etc");
    assert_eq!(forbidden["role"], "files-reader");
    assert_eq!(forbidden["conditions"], "deny");

    let allowed = explain_with("read_file", r#"{"path": "/srv/notes"}"#);
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert_eq!(allowed["conditions"], "pass");

    // The account has no tenant.
    let tenant = explain_with("read_secrets", "{}");
    assert_eq!(tenant["policy"], "acme-only", "{tenant}");

    // What the roles refuse is refused by them, before any condition.
    let roles = explain_with("write_file", r#"{"path": "/etc/passwd"}"#);
    assert_eq!(roles["reason"], "no role granted here allows it", "{roles}");
    assert!(roles.get("policy").is_none());

    // The text form says both.
    let output = portcullis()
        .args(["admin", "--config", &config])
        .args(call("read_file", r#"{"path":"/etc/x"}"#))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("deny: the roles allow it (mcp.tools.call via role files-reader")
            && text.contains("the condition \"no-etc\" forbids it"),
        "{text}"
    );

    assert!(refused(&config, &call("x", "[1]")).contains("JSON object"));
}
