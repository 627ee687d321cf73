//! `portcullis admin user …` as a real process against a real SQLite store (the password piped to
//! `--password-stdin`), and the accounts it makes signing in to `portcullis serve` on that store.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::Path;
use std::process::Output;

use common::{admin_with_stdin, free_port, serve_ready, sign_in, stop};
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";

fn write_config(dir: &Path, port: u16) -> String {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             [store]\nurl = \"sqlite://{}/p.db\"\n",
            dir.display()
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn admin_json(args: &[&str]) -> Value {
    json_of(&admin_with_stdin(args, ""))
}

#[tokio::test]
async fn accounts_made_by_the_cli_sign_in_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);

    // The password arrives through a pipe, with the newline `echo` adds.
    let alice = json_of(&admin_with_stdin(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--display-name",
            "Alice Liddell",
            "--tenant",
            "acme",
            "--password-stdin",
            "--config",
            &config,
            "--json",
        ],
        &format!("{PASSWORD}\n"),
    ));
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["display_name"], "Alice Liddell");
    assert_eq!(alice["tenant"], "acme");
    assert_eq!(alice["status"], "active");
    assert_eq!(alice["must_change_password"], false);
    assert!(alice["id"].as_str().unwrap().starts_with("usr_"));
    assert!(alice.get("password").is_none() && alice.get("password_hash").is_none());

    let bob = admin_json(&[
        "--config",
        &config,
        "--json",
        "user",
        "create",
        "--username",
        "bob",
        "--email",
        "bob@example.com",
        "--generate-password",
    ]);
    let one_time = bob["password"].as_str().unwrap().to_owned();
    assert_eq!(one_time.len(), 20);
    assert_eq!(bob["must_change_password"], true);

    // Text output shows a generated password once, and says what happens next.
    let carol = admin_with_stdin(
        &[
            "user",
            "create",
            "--username",
            "carol",
            "--email",
            "carol@example.com",
            "--generate-password",
            "--config",
            &config,
        ],
        "",
    );
    let text = String::from_utf8(carol.stdout).unwrap();
    assert!(text.contains("One-time password: "), "{text}");
    assert!(text.contains("must choose a new password"), "{text}");

    // Refusals: a taken username in another case, a short password, an empty pipe, and the
    // password options both or neither.
    let refusals: [(&[&str], &str, &str); 5] = [
        (
            &[
                "--username",
                "ALICE",
                "--email",
                "a@example.com",
                "--password-stdin",
            ],
            "another long password\n",
            "taken",
        ),
        (
            &[
                "--username",
                "dave",
                "--email",
                "d@example.com",
                "--password-stdin",
            ],
            "short\n",
            "at least 12 characters",
        ),
        (
            &[
                "--username",
                "dave",
                "--email",
                "d@example.com",
                "--password-stdin",
            ],
            "",
            "no password",
        ),
        (
            &[
                "--username",
                "dave",
                "--email",
                "d@example.com",
                "--password-stdin",
                "--generate-password",
            ],
            "another long password\n",
            "cannot be used with",
        ),
        (
            &["--username", "dave", "--email", "d@example.com"],
            "",
            "--password-stdin|--generate-password",
        ),
    ];
    for (args, stdin, needle) in refusals {
        let mut all = vec!["user", "create", "--config", &config];
        all.extend_from_slice(args);
        let out = admin_with_stdin(&all, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains(PASSWORD) && !stderr.contains("another long"));
    }

    let listed = admin_json(&["user", "list", "--config", &config, "--json"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    let listing =
        String::from_utf8(admin_with_stdin(&["user", "list", "--config", &config], "").stdout)
            .unwrap();
    assert!(!listing.contains("argon2") && !listing.contains(&one_time));
    let shown = admin_json(&[
        "user",
        "show",
        "--username",
        "ALICE",
        "--config",
        &config,
        "--json",
    ]);
    assert_eq!(shown["id"], alice["id"]);

    let server = serve_ready(Path::new(&config), port).await;
    let (status, location, session) = sign_in(port, "alice", PASSWORD).await;
    assert_eq!(status, 303);
    assert_eq!(location, format!("http://127.0.0.1:{port}/account"));
    let session = session.unwrap();
    assert!(session.starts_with("portcullis-session="), "{session}");
    let (status, location, _) = sign_in(port, "bob", &one_time).await;
    assert_eq!(status, 303);
    assert_eq!(
        location,
        format!("http://127.0.0.1:{port}/account/password")
    );
    assert_eq!(sign_in(port, "alice", "not her password").await.0, 401);

    // Disabling through the CLI ends the running server's session at once.
    let account = |cookie: String| async move {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/account"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(account(session.clone()).await, 200);
    let disabled = admin_json(&[
        "user",
        "disable",
        "--username",
        "alice",
        "--config",
        &config,
        "--json",
    ]);
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(account(session).await, 303);
    assert_eq!(sign_in(port, "alice", PASSWORD).await.0, 401);
    stop(server).await;
}

#[tokio::test]
async fn operators_reset_passwords_and_second_factors_and_delete_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let create = |username: &'static str| {
        json_of(&admin_with_stdin(
            &[
                "user",
                "create",
                "--username",
                username,
                "--email",
                &format!("{username}@example.com"),
                "--password-stdin",
                "--config",
                &config,
                "--json",
            ],
            PASSWORD,
        ))
    };
    create("alice");
    create("bob");
    let server = serve_ready(Path::new(&config), port).await;
    let (status, _, session) = sign_in(port, "alice", PASSWORD).await;
    assert_eq!(status, 303);
    let session = session.unwrap();
    let account = |cookie: String| async move {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/account"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(account(session.clone()).await, 200);

    // A reset password is printed once, must be changed, and ends the sessions.
    let reset = admin_json(&[
        "user",
        "reset-password",
        "--username",
        "ALICE",
        "--config",
        &config,
        "--json",
    ]);
    let one_time = reset["password"].as_str().unwrap().to_owned();
    assert_eq!(reset["must_change_password"], true);
    assert_eq!(account(session).await, 303);
    assert_eq!(sign_in(port, "alice", PASSWORD).await.0, 401);
    let (status, location, _) = sign_in(port, "alice", &one_time).await;
    assert_eq!(status, 303);
    assert!(location.ends_with("/account/password"), "{location}");

    // Resetting second factors of an account without any is fine and says so.
    let mfa = admin_json(&[
        "user",
        "reset-mfa",
        "--username",
        "bob",
        "--config",
        &config,
        "--json",
    ]);
    assert_eq!(mfa["factors_removed"], 0);
    let text = String::from_utf8(
        admin_with_stdin(
            &[
                "user",
                "reset-mfa",
                "--username",
                "bob",
                "--config",
                &config,
            ],
            "",
        )
        .stdout,
    )
    .unwrap();
    assert!(text.contains("removed 0 second factor(s)"), "{text}");

    // Deleting: the account is gone, and so are its sign-ins and its roles.
    admin_json(&[
        "role",
        "grant",
        "--user",
        "bob",
        "--role",
        "developer",
        "--config",
        &config,
        "--json",
    ]);
    let (_, _, bob_session) = sign_in(port, "bob", PASSWORD).await;
    let deleted = admin_json(&[
        "user",
        "delete",
        "--username",
        "bob",
        "--config",
        &config,
        "--json",
    ]);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["grants_revoked"], 0);
    let role_grants = admin_json(&["role", "grants", "--config", &config, "--json"]);
    assert!(
        role_grants
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["role"] != "developer"),
        "{role_grants}"
    );
    assert_eq!(account(bob_session.unwrap()).await, 303);
    assert_eq!(sign_in(port, "bob", PASSWORD).await.0, 401);
    for command in ["delete", "reset-password", "reset-mfa"] {
        let out = admin_with_stdin(
            &["user", command, "--username", "bob", "--config", &config],
            "",
        );
        assert!(!out.status.success(), "{command}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no account has the username"),
            "{command}"
        );
    }
    stop(server).await;
}
