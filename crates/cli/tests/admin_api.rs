//! The admin REST API of a running `portcullis serve`, over HTTP: who gets in (Portcullis access
//! tokens issued for the API, API keys; nothing else), what each caller may do (its grants, in
//! the tenant it acts in; delegation never escalating), that every operation does what the CLI
//! does and leaves the same audit trail, and that refused requests change nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::oauth::basic;
use common::portcullis;
use common::process::Deployment;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `portcullis admin … --json` against the deployment's store.
fn cli(deployment: &Deployment, args: &[&str]) -> Value {
    let output = portcullis()
        .arg("admin")
        .args(args)
        .arg("--config")
        .arg(&deployment.config)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// An API key for the service principal `subject`, holding `role` (everywhere, or in `tenant`),
/// once the running process knows of the grant (within its change poll).
async fn key_with_role(
    deployment: &Deployment,
    subject: &str,
    role: &str,
    tenant: Option<&str>,
) -> String {
    let mut grant = vec!["role", "grant", "--service", subject, "--role", role];
    if let Some(tenant) = tenant {
        grant.extend(["--tenant", tenant]);
    }
    cli(deployment, &grant);
    deployment.policy_loaded().await;
    key_for(deployment, subject)
}

fn key_for(deployment: &Deployment, subject: &str) -> String {
    let created = cli(
        deployment,
        &["api-key", "create", "--name", "test", "--subject", subject],
    );
    created["api_key"].as_str().unwrap().to_owned()
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(deployment: &Deployment) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("{}/admin/api/v1", deployment.base),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {credential}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        assert_eq!(
            response.headers()["cache-control"],
            "no-store",
            "{path}: admin answers are never cached"
        );
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, credential: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, credential, None)
            .await
    }

    async fn post(&self, path: &str, credential: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, credential, Some(body))
            .await
    }

    async fn delete(&self, path: &str, credential: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, credential, None)
            .await
    }
}

fn usernames(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn only_credentials_for_the_api_get_in() {
    let mut deployment = Deployment::start("", &[]).await;
    let api = Api::new(&deployment);
    let http = reqwest::Client::new();

    // No credential: 401 with a challenge naming the API's protected resource metadata.
    let response = http
        .get(format!("{}/users", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let metadata_url = format!(
        "{}/.well-known/oauth-protected-resource/admin/api/v1",
        deployment.base
    );
    assert!(challenge.contains(&metadata_url), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    let metadata: Value = http
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["resource"],
        format!("{}/admin/api/v1", deployment.base)
    );
    assert_eq!(metadata["authorization_servers"], json!([deployment.base]));

    // A token in the query string is refused, never read.
    let key = key_with_role(&deployment, "service:ops", "admin", None).await;
    let response = http
        .get(format!("{}/users?access_token={key}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // A garbage credential: 401 invalid_token.
    let (status, body) = api.get("/users", "pcl_not-a-key").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");

    // An access token for the MCP server is not one for the API, though alice is an owner.
    cli(
        &deployment,
        &["role", "grant", "--user", "alice", "--role", "owner"],
    );
    let for_mcp = deployment
        .authorized(&format!("{}/servers/files/mcp", deployment.base))
        .await;
    let mcp_token = for_mcp.tokens["access_token"].as_str().unwrap();
    let (status, body) = api.get("/users", mcp_token).await;
    assert_eq!(status, 401, "{body}");

    // One issued for the API works, and acts as alice.
    let for_api = deployment
        .authorized(&format!("{}/admin/api/v1", deployment.base))
        .await;
    let token = for_api.tokens["access_token"].as_str().unwrap();
    // The owner grant reaches the running process within its change poll.
    deployment.policy_loaded().await;
    let (status, me) = api.get("/whoami", token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["service"], false);
    assert_eq!(me["client_id"], for_api.client_id.as_str());
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("keys.rotate")),
        "{me}"
    );
    let (status, users) = api.get("/users", token).await;
    assert_eq!(status, 200);
    assert_eq!(usernames(&users), ["alice"]);

    // A client acting as itself (client credentials) is a service principal `client:<id>`.
    let client = cli(
        &deployment,
        &[
            "client",
            "create",
            "--name",
            "robot",
            "--confidential",
            "--grant-type",
            "client_credentials",
        ],
    );
    let client_id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let resource = format!("{}/admin/api/v1", deployment.base);
    let tokens: Value = http
        .post(format!("{}/token", deployment.base))
        .header("authorization", basic(client_id, secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", &resource),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let robot = tokens["access_token"].as_str().unwrap();
    let (status, body) = api.get("/users", robot).await;
    assert_eq!(status, 403, "no grant yet: {body}");
    assert_eq!(body["error"], "forbidden");
    let subject = format!("client:{client_id}");
    cli(
        &deployment,
        &["role", "grant", "--service", &subject, "--role", "auditor"],
    );
    // The grant reaches the running process within the change poll.
    deployment.policy_loaded().await;
    let (status, _) = api.get("/users", robot).await;
    assert_eq!(status, 200);
    let (status, _) = api
        .post(
            "/users",
            robot,
            json!({"username": "x", "email": "x@example.com"}),
        )
        .await;
    assert_eq!(status, 403, "an auditor reads, changes nothing");
    for role in ["developer", "no-such-role"] {
        let (status, _) = api
            .post("/grants", robot, json!({"user": "nobody", "role": role}))
            .await;
        assert_eq!(status, 403, "refused before anything is looked up");
    }

    // A revoked key stops at once.
    let (status, _) = api.get("/users", &key).await;
    assert_eq!(status, 200);
    let keys = cli(
        &deployment,
        &["api-key", "list", "--subject", "service:ops"],
    );
    let id = keys[0]["id"].as_str().unwrap();
    cli(&deployment, &["api-key", "revoke", "--id", id]);
    let mut status = StatusCode::OK;
    for _ in 0..40 {
        (status, _) = api.get("/users", &key).await;
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401);
    deployment.stop().await;
}

#[tokio::test]
async fn an_admin_does_through_the_api_what_the_cli_does() {
    let mut deployment = Deployment::start("", &[]).await;
    let api = Api::new(&deployment);
    let admin = key_with_role(&deployment, "service:ops", "admin", None).await;

    // Accounts: create with a generated one-time password, show, list, disable, enable, reset.
    let (status, bob) = api
        .post(
            "/users",
            &admin,
            json!({"username": "bob", "email": "bob@example.com", "tenant": "acme"}),
        )
        .await;
    assert_eq!(status, 201, "{bob}");
    assert_eq!(bob["must_change_password"], true);
    assert_eq!(bob["password"].as_str().unwrap().len(), 20);
    let (status, again) = api
        .post(
            "/users",
            &admin,
            json!({"username": "BOB", "email": "b@example.com"}),
        )
        .await;
    assert_eq!(status, 409, "{again}");
    let (status, bad) = api
        .post(
            "/users",
            &admin,
            json!({"username": "carol", "email": "c@example.com", "admin": true}),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused: {bad}");
    let (status, _) = api
        .post(
            "/users",
            &admin,
            json!({"username": "carol", "email": "c@example.com", "password": "short"}),
        )
        .await;
    assert_eq!(status, 400, "the password policy holds");
    let shown = cli(&deployment, &["user", "show", "--username", "bob"]);
    let (status, via_api) = api.get("/users/bob", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(via_api, shown, "the API and the CLI answer in one shape");
    let (_, users) = api.get("/users", &admin).await;
    assert_eq!(usernames(&users), ["alice", "bob"]);
    let (status, disabled) = api.post("/users/bob/disable", &admin, json!({})).await;
    assert_eq!(
        (status.as_u16(), disabled["status"].as_str()),
        (200, Some("disabled"))
    );
    let (_, enabled) = api.post("/users/bob/enable", &admin, json!({})).await;
    assert_eq!(enabled["status"], "active");
    let (status, reset) = api
        .post("/users/bob/reset-password", &admin, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_ne!(reset["password"], bob["password"]);
    let (status, mfa) = api.post("/users/bob/reset-mfa", &admin, json!({})).await;
    assert_eq!(
        (status.as_u16(), mfa["factors_removed"].as_u64()),
        (200, Some(0))
    );
    let (status, _) = api.get("/users/nobody", &admin).await;
    assert_eq!(status, 404);

    // Roles and grants.
    // bob holds the default role (developer) everywhere; take it back, so that only what is
    // granted below decides.
    let (_, grants) = api.get("/grants", &admin).await;
    let default = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["grantee"] == bob["id"] && g["role"] == "developer")
        .unwrap();
    let (status, _) = api
        .delete(
            &format!("/grants/{}", default["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(status, 200);
    let (status, role) = api
        .call(
            reqwest::Method::PUT,
            "/roles/files-reader",
            &admin,
            Some(json!({"permissions": ["mcp.tools.list", "mcp.tools.call:files/read_*"]})),
        )
        .await;
    assert_eq!(status, 201, "{role}");
    let (status, granted) = api
        .post(
            "/grants",
            &admin,
            json!({"user": "bob", "role": "files-reader", "server": "files"}),
        )
        .await;
    assert_eq!(status, 201, "{granted}");
    let grant_id = granted["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .post(
            "/grants",
            &admin,
            json!({"user": "bob", "role": "files-reader", "server": "files"}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, explained) = api
        .post(
            "/authz/explain",
            &admin,
            json!({"user": "bob", "server": "files", "method": "tools/call", "name": "read_file"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(explained["decision"], "allow", "{explained}");
    assert_eq!(explained["role"], "files-reader");
    let (status, _) = api.delete("/roles/files-reader", &admin).await;
    assert_eq!(status, 409, "a granted role stays");
    let (status, revoked) = api.delete(&format!("/grants/{grant_id}"), &admin).await;
    assert_eq!(
        (status.as_u16(), revoked["id"].as_str()),
        (200, Some(grant_id.as_str()))
    );
    let (status, _) = api.delete("/roles/files-reader", &admin).await;
    assert_eq!(status, 200);

    // Local groups: a role granted to a group applies to its members, and only while they are.
    let (status, group) = api
        .post(
            "/groups",
            &admin,
            json!({"name": "readers", "description": "Read files."}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let (status, _) = api
        .post(
            "/grants",
            &admin,
            json!({"group": "readers", "role": "developer", "server": "files"}),
        )
        .await;
    assert_eq!(status, 201);
    let explain =
        json!({"user": "bob", "server": "files", "method": "tools/call", "name": "read_file"});
    let (_, explained) = api.post("/authz/explain", &admin, explain.clone()).await;
    assert_eq!(
        explained["decision"], "deny",
        "not a member yet: {explained}"
    );
    let (status, group) = api
        .post("/groups/readers/members", &admin, json!({"user": "bob"}))
        .await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["members"][0]["username"], "bob");
    assert_eq!(
        cli(&deployment, &["group", "show", "--name", "readers"]),
        group
    );
    let (_, explained) = api.post("/authz/explain", &admin, explain.clone()).await;
    assert_eq!(explained["decision"], "allow", "{explained}");
    let (status, _) = api.delete("/groups/readers/members/bob", &admin).await;
    assert_eq!(status, 200);
    let (_, explained) = api.post("/authz/explain", &admin, explain).await;
    assert_eq!(explained["decision"], "deny");
    let (_, grants) = api.get("/grants", &admin).await;
    for grant in grants
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["grantee"] == "readers")
    {
        let (status, _) = api
            .delete(
                &format!("/grants/{}", grant["id"].as_str().unwrap()),
                &admin,
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = api.delete("/groups/readers", &admin).await;
    assert_eq!(status, 200);

    // Clients.
    let (status, client) = api
        .post(
            "/clients",
            &admin,
            json!({"name": "ci", "redirect_uris": ["http://127.0.0.1:9999/cb"], "confidential": true}),
        )
        .await;
    assert_eq!(status, 201, "{client}");
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let first_secret = client["client_secret"].as_str().unwrap().to_owned();
    let (status, shown) = api.get(&format!("/clients/{client_id}"), &admin).await;
    assert_eq!(status, 200);
    assert!(
        shown.get("client_secret").is_none(),
        "a secret is shown once"
    );
    let (_, rotated) = api
        .post(
            &format!("/clients/{client_id}/rotate-secret"),
            &admin,
            json!({}),
        )
        .await;
    assert_ne!(rotated["client_secret"].as_str().unwrap(), first_secret);
    let (status, _) = api.delete(&format!("/clients/{client_id}"), &admin).await;
    assert_eq!(status, 200);
    let (status, _) = api.get(&format!("/clients/{client_id}"), &admin).await;
    assert_eq!(status, 404);

    // API keys: made for a service principal without grants, listed, revoked.
    let (status, key) = api
        .post(
            "/api-keys",
            &admin,
            json!({"name": "ci", "subject": "service:ci", "scopes": ["files:read"], "expires_in": "30d"}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    assert!(key["api_key"].as_str().unwrap().starts_with("pcl_"));
    let (_, listed) = api.get("/api-keys?subject=service:ci", &admin).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("api_key").is_none());
    let (_, revoked) = api
        .post(
            &format!("/api-keys/{}/revoke", key["id"].as_str().unwrap()),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(revoked["status"], "revoked");

    // Signing keys are the owner's: an admin may not rotate them.
    let (status, _) = api.post("/keys/rotate", &admin, json!({})).await;
    assert_eq!(status, 403);
    let owner = key_with_role(&deployment, "service:root", "owner", None).await;
    let (status, keys) = api.get("/keys", &owner).await;
    assert_eq!(status, 200);
    let before = keys.as_array().unwrap().len();
    let (status, rotation) = api
        .call(reqwest::Method::POST, "/keys/rotate", &owner, None)
        .await;
    assert_eq!(status, 200, "an empty body is the defaults: {rotation}");
    let (_, keys) = api.get("/keys", &owner).await;
    assert_eq!(keys.as_array().unwrap().len(), before + 1);

    // The audit log names the API caller and its request, and the chain holds.
    let (status, records) = api.get("/audit?limit=1000", &owner).await;
    assert_eq!(status, 200);
    let created = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "user.create" && r["target"].as_str().unwrap().contains("bob"))
        .unwrap();
    assert_eq!(created["actor"], "service:ops");
    assert!(created["request_id"].is_string(), "{created}");
    assert_eq!(created["source"], "127.0.0.1");
    assert!(
        records
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "signing_key.rotate")
    );
    let (_, verified) = api.get("/audit/verify", &owner).await;
    assert_eq!(verified["intact"], true, "{verified}");
    let response = api
        .http
        .get(format!("{}/audit/export", api.base))
        .header("authorization", format!("Bearer {owner}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let lines = response.text().await.unwrap();
    assert_eq!(
        lines.lines().count() as u64,
        verified["count"].as_u64().unwrap()
    );
    let (status, _) = api.get("/audit?limit=0", &owner).await;
    assert_eq!(status, 400);
    let (status, _) = api.get("/audit?bogus=1", &owner).await;
    assert_eq!(status, 400);

    // Bodies: JSON only, and small.
    let response = api
        .http
        .post(format!("{}/users", api.base))
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "text/plain")
        .body("username=eve")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = api
        .http
        .post(format!("{}/users", api.base))
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "application/json")
        .body(format!("{{\"username\": \"{}\"}}", "e".repeat(70_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let (status, _) = api.get("/nothing-here", &admin).await;
    assert_eq!(status, 404);
    deployment.stop().await;
}

#[tokio::test]
async fn delegation_never_escalates_and_tenants_stay_apart() {
    let mut deployment = Deployment::start("", &[]).await;
    let api = Api::new(&deployment);
    let admin = key_with_role(&deployment, "service:ops", "admin", None).await;
    let tenant_admin = key_with_role(
        &deployment,
        "service:acme-ops",
        "tenant_admin",
        Some("acme"),
    )
    .await;
    cli(
        &deployment,
        &[
            "role",
            "grant",
            "--service",
            "service:root",
            "--role",
            "owner",
        ],
    );
    cli(
        &deployment,
        &["role", "grant", "--user", "alice", "--role", "owner"],
    );
    // Both reach the process within its change poll.
    deployment.policy_loaded().await;
    let audit_count = |deployment: &Deployment| {
        cli(deployment, &["audit", "verify"])["count"]
            .as_u64()
            .unwrap()
    };
    let before = audit_count(&deployment);

    // An admin cannot make anyone (itself included) an owner, nor mint a key that acts as one,
    // nor take over an owner's account.
    let (status, body) = api
        .post(
            "/grants",
            &admin,
            json!({"service": "service:ops", "role": "owner"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("keys."),
        "{body}"
    );
    let (status, _) = api
        .post(
            "/api-keys",
            &admin,
            json!({"name": "x", "subject": "service:root"}),
        )
        .await;
    assert_eq!(status, 403);
    for action in ["reset-password", "reset-mfa", "disable"] {
        let (status, _) = api
            .post(&format!("/users/alice/{action}"), &admin, json!({}))
            .await;
        assert_eq!(status, 403, "{action} on an owner");
    }
    let (status, _) = api.delete("/users/alice", &admin).await;
    assert_eq!(status, 403);
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            "/roles/everything",
            &admin,
            Some(json!({"permissions": ["*"]})),
        )
        .await;
    assert_eq!(status, 403, "nor define a role carrying what it lacks");
    assert_eq!(audit_count(&deployment), before, "refusals write nothing");
    // alice's default role, her owner grant and the three service principals' grants.
    assert_eq!(
        cli(&deployment, &["role", "grants"])
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // A tenant admin manages its tenant's accounts and nothing else.
    let (status, carol) = api
        .post(
            "/users",
            &tenant_admin,
            json!({"username": "carol", "email": "carol@acme.example", "tenant": "acme"}),
        )
        .await;
    assert_eq!(status, 201, "{carol}");
    for body in [
        json!({"username": "dave", "email": "dave@globex.example", "tenant": "globex"}),
        json!({"username": "dave", "email": "dave@example.com"}),
    ] {
        let (status, _) = api.post("/users", &tenant_admin, body).await;
        assert_eq!(status, 403);
    }
    let (status, _) = api
        .post(
            "/users",
            &admin,
            json!({"username": "gina", "email": "gina@globex.example", "tenant": "globex"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, seen) = api.get("/users", &tenant_admin).await;
    assert_eq!(usernames(&seen), ["carol"], "only its tenant's accounts");
    let (status, _) = api.get("/users/gina", &tenant_admin).await;
    assert_eq!(status, 404, "another tenant's account is not there");
    let (status, _) = api
        .post("/users/gina/disable", &tenant_admin, json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post("/users/carol/disable", &tenant_admin, json!({}))
        .await;
    assert_eq!(status, 200);
    // Grants in its tenant, of roles it holds there; never everywhere, never a stronger role.
    // (carol holds the default role, developer, in acme already: accounts made in a tenant get
    // their default roles there.)
    let (status, grant) = api
        .post(
            "/grants",
            &tenant_admin,
            json!({"user": "carol", "role": "operator", "tenant": "acme"}),
        )
        .await;
    assert_eq!(
        status, 403,
        "operator carries upstreams.*, which it lacks: {grant}"
    );
    let (status, grant) = api
        .post(
            "/grants",
            &tenant_admin,
            json!({"user": "carol", "role": "tenant_admin", "tenant": "acme"}),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    for body in [
        json!({"user": "carol", "role": "developer"}),
        json!({"user": "carol", "role": "admin", "tenant": "acme"}),
        json!({"user": "carol", "role": "developer", "tenant": "globex"}),
        json!({"user": "carol", "role": "developer", "server": "files"}),
    ] {
        let (status, refused) = api.post("/grants", &tenant_admin, body.clone()).await;
        assert_eq!(status, 403, "{body}: {refused}");
    }
    let (_, grants) = api.get("/grants", &tenant_admin).await;
    let scopes: Vec<&str> = grants
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["scope"].as_str().unwrap_or("everywhere"))
        .collect();
    assert!(scopes.iter().all(|s| *s == "acme"), "{grants}");
    // Its tenant's groups; members from its tenant; never a group that holds more than it does.
    let (status, _) = api
        .post(
            "/groups",
            &tenant_admin,
            json!({"name": "acme-eng", "tenant": "acme"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = api
        .post("/groups", &tenant_admin, json!({"name": "everyone"}))
        .await;
    assert_eq!(status, 403);
    let (status, gina) = api
        .post(
            "/groups/acme-eng/members",
            &tenant_admin,
            json!({"user": "gina"}),
        )
        .await;
    assert_eq!(status, 400, "gina is globex's: answered as no such account");
    let (status, nobody) = api
        .post(
            "/groups/acme-eng/members",
            &tenant_admin,
            json!({"user": "nobody"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(gina["error"], nobody["error"]);
    assert_eq!(
        gina["error_description"]
            .as_str()
            .unwrap()
            .replace("gina", "nobody"),
        nobody["error_description"].as_str().unwrap()
    );
    let (status, _) = api
        .post(
            "/groups/acme-eng/members",
            &tenant_admin,
            json!({"user": "carol"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .post(
            "/grants",
            &admin,
            json!({"group": "acme-eng", "role": "admin", "tenant": "acme"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, dave) = api
        .post(
            "/users",
            &tenant_admin,
            json!({"username": "dave", "email": "dave@acme.example", "tenant": "acme"}),
        )
        .await;
    assert_eq!(status, 201, "{dave}");
    let (status, refused) = api
        .post(
            "/groups/acme-eng/members",
            &tenant_admin,
            json!({"user": "dave"}),
        )
        .await;
    assert_eq!(status, 403, "the group holds admin in acme: {refused}");
    for (path, status) in [
        ("/clients", 403),
        ("/keys", 403),
        ("/audit/verify", 403),
        ("/roles", 200),
    ] {
        let (got, _) = api.get(path, &tenant_admin).await;
        assert_eq!(got.as_u16(), status, "{path}");
    }
    let (status, records) = api.get("/audit", &tenant_admin).await;
    assert_eq!(status, 200);
    assert!(!records.as_array().unwrap().is_empty());
    assert!(
        records
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant"] == "acme"),
        "{records}"
    );
    deployment.stop().await;
}
