//! The OpenAPI 3.1 document of the admin API, built here next to the routes it describes (a
//! test checks that the router and the document name the same operations), served at
//! `/admin/api/v1/openapi.json`.

use serde_json::{Map, Value, json};

/// One operation: where, what it needs, what it takes and what it answers.
struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    /// The permission it needs (and where), for the description.
    needs: &'static str,
    /// The JSON request body's schema, when it takes one (and whether it may be empty).
    body: Option<(Value, bool)>,
    /// Query parameters: name, schema, description.
    query: &'static [(&'static str, &'static str)],
    /// The success status and its schema.
    ok: (u16, Value),
    /// Error statuses besides those every authenticated operation can answer.
    errors: &'static [u16],
}

const PUBLIC_ERRORS: &[u16] = &[404];

/// An RFC 3339 time (days to the 28th, so that every match is a date).
const RFC3339: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])$";
/// A duration as the configuration writes them (`90s`, `15m`, `12h`, `30d`).
const DURATION: &str = "^[0-9]{1,6}(ms|s|m|h|d)$";
/// A positive duration.
const POSITIVE_DURATION: &str = "^0{0,5}[1-9][0-9]{0,5}(s|m|h|d)$";
/// A publish delay: 30 days at most.
const PUBLISH_DELAY: &str = "^([0-9]{1,4}(ms|s|m)|[0-9]{1,2}h|([0-9]|[12][0-9]|30)d)$";
/// Text of one line: no control characters, something besides white space.
const LABEL: &str =
    "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$";
/// An OAuth scope token (RFC 6749 §3.3).
const SCOPE_TOKEN: &str = "^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$";
/// What every authenticated operation can answer: a bad credential, a refused permission, too
/// many credential checks, an unavailable store.
const COMMON_ERRORS: &[u16] = &[400, 401, 403, 429, 503];

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn array_of(name: &str) -> Value {
    json!({ "type": "array", "items": schema_ref(name) })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn nullable_time() -> Value {
    json!({ "type": ["string", "null"], "format": "date-time" })
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

/// A request body object: every field known, nothing else accepted.
fn request(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// An example of each request body (shown in the document, and tried first by schemathesis).
fn examples() -> [(&'static str, Value); 9] {
    [
        (
            "NewGroup",
            json!({"name": "engineering", "description": "Builds things."}),
        ),
        ("NewMember", json!({"user": "alice"})),
        (
            "NewUser",
            json!({"username": "bob", "email": "bob@example.com", "tenant": "acme"}),
        ),
        (
            "RoleDefinition",
            json!({"inherits": ["viewer"], "permissions": ["mcp.tools.call:demo/echo"], "description": "Calls the demo's echo tool."}),
        ),
        (
            "NewGrant",
            json!({"user": "alice", "role": "developer", "server": "demo"}),
        ),
        (
            "ExplainRequest",
            json!({"user": "alice", "server": "demo", "method": "tools/call", "name": "echo"}),
        ),
        (
            "NewClient",
            json!({"name": "CI", "redirect_uris": ["http://127.0.0.1:9999/cb"], "confidential": true}),
        ),
        (
            "NewApiKey",
            json!({"name": "laptop", "subject": "service:ci", "scopes": ["files:read"], "expires_in": "30d"}),
        ),
        ("RotateRequest", json!({"publish_delay": "10m"})),
    ]
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let schema = if name == "name" {
                // A role's or a group's name.
                json!({ "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$" })
            } else {
                json!({ "type": "string", "minLength": 1, "maxLength": 255 })
            };
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect()
}

fn error_response(status: u16) -> Value {
    let description = match status {
        400 => "The request is malformed; nothing was changed.",
        401 => "No valid credential: a Portcullis access token issued for this API, or an API key.",
        403 => "The caller's grants do not allow this here; nothing was changed.",
        404 => "Nothing by that name (or nothing the caller may see).",
        409 => "It conflicts with what exists; nothing was changed.",
        413 => "The request body is larger than 64 KiB.",
        415 => "The request body is not application/json.",
        429 => "Too many credential checks from this address.",
        500 => "Portcullis could not do this (a signing key that does not open).",
        _ => "The store is unavailable; try again.",
    };
    let mut response = json!({
        "description": description,
        "content": { "application/json": { "schema": schema_ref("Error") } },
    });
    let header = |name: &str, description: &str, schema: Value| json!({ name: { "description": description, "schema": schema } });
    let headers = match status {
        401 => Some(header(
            "WWW-Authenticate",
            "A Bearer challenge naming the API's protected resource metadata (RFC 9728).",
            json!({ "type": "string" }),
        )),
        429 | 503 => Some(header(
            "Retry-After",
            "Seconds to wait.",
            json!({ "type": "integer", "minimum": 1 }),
        )),
        _ => None,
    };
    if let (Some(headers), Some(map)) = (headers, response.as_object_mut()) {
        map.insert("headers".to_owned(), headers);
    }
    response
}

fn operation(op: &Op) -> Value {
    let mut responses = Map::new();
    let (status, schema) = &op.ok;
    responses.insert(
        status.to_string(),
        if op.id == "exportAudit" {
            json!({
                "description": "Every record, one JSON object per line.",
                "content": { "application/x-ndjson": { "schema": schema } },
            })
        } else {
            json!({
                "description": if *status == 201 { "Created." } else { "Done." },
                "content": { "application/json": { "schema": schema } },
            })
        },
    );
    if op.method == "put" {
        // A PUT creates (201) or replaces (200).
        responses.insert(
            "201".to_owned(),
            json!({
                "description": "Created.",
                "content": { "application/json": { "schema": schema } },
            }),
        );
    }
    let public = op.needs.is_empty();
    let mut errors: Vec<u16> = if public {
        PUBLIC_ERRORS.to_vec()
    } else {
        COMMON_ERRORS.to_vec()
    };
    errors.extend_from_slice(op.errors);
    if op.body.is_some() {
        errors.extend_from_slice(&[413, 415]);
    }
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        responses.insert(status.to_string(), error_response(status));
    }
    let mut parameters = path_params(op.path);
    for (name, description) in op.query {
        parameters.push(json!({
            "name": name,
            "in": "query",
            "required": false,
            "description": description,
            "schema": match *name {
                "limit" => json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
                "since" => json!({ "anyOf": [
                    { "type": "string", "pattern": RFC3339 },
                    { "type": "string", "pattern": DURATION },
                ] }),
                _ => json!({ "type": "string", "minLength": 1, "maxLength": 255 }),
            },
        }));
    }
    let description = if public {
        "Public: no credential needed.".to_owned()
    } else {
        format!("Needs {}.", op.needs)
    };
    let mut out = json!({
        "operationId": op.id,
        "tags": [op.tag],
        "summary": op.summary,
        "description": description,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(map) = out.as_object_mut() {
        if public {
            map.insert("security".to_owned(), json!([]));
        }
        if let Some((schema, optional)) = &op.body {
            map.insert(
                "requestBody".to_owned(),
                json!({
                    "required": !optional,
                    "content": { "application/json": { "schema": schema } },
                }),
            );
        }
    }
    out
}

fn user_schema() -> Value {
    object(
        json!({
            "id": { "type": "string" },
            "username": { "type": "string" },
            "email": { "type": "string" },
            "email_verified": { "type": "boolean" },
            "display_name": nullable("string"),
            "tenant": nullable("string"),
            "status": { "enum": ["active", "disabled"] },
            "has_password": { "type": "boolean" },
            "must_change_password": { "type": "boolean" },
            "created_at": time(),
            "updated_at": time(),
            "password": { "type": "string", "description": "A one-time password, answered once." },
            "deleted": { "type": "boolean" },
            "grants_revoked": { "type": "integer", "minimum": 0 },
            "factors_removed": { "type": "integer", "minimum": 0 },
        }),
        &[
            "id",
            "username",
            "email",
            "email_verified",
            "display_name",
            "tenant",
            "status",
            "has_password",
            "must_change_password",
            "created_at",
            "updated_at",
        ],
    )
}

fn schemas() -> Value {
    let mut all = every_schema();
    for (name, example) in examples() {
        if let Some(schema) = all.get_mut(name).and_then(Value::as_object_mut) {
            schema.insert("examples".to_owned(), json!([example]));
        }
    }
    all
}

fn every_schema() -> Value {
    let name = json!({ "type": "string", "minLength": 1, "maxLength": 255 });
    let tenant = json!({ "type": ["string", "null"], "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$" });
    json!({
        "Error": object(json!({
            "error": { "type": "string" },
            "error_description": { "type": "string" },
        }), &["error", "error_description"]),
        "Caller": object(json!({
            "subject": { "type": "string" },
            "service": { "type": "boolean" },
            "tenant": nullable("string"),
            "validator": { "type": "string" },
            "client_id": nullable("string"),
            "permissions": { "type": "array", "items": { "type": "string" } },
            "tenant_permissions": { "type": "array", "items": { "type": "string" } },
        }), &["subject", "service", "tenant", "validator", "client_id", "permissions", "tenant_permissions"]),
        "User": user_schema(),
        "NewUser": request(json!({
            "username": { "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$" },
            "email": { "type": "string", "format": "email", "maxLength": 254 },
            "display_name": { "type": ["string", "null"], "minLength": 1, "maxLength": 100 },
            "tenant": tenant,
            "password": {
                "type": ["string", "null"],
                "maxLength": 1024,
                "description": "The first password; without it, a one-time password is generated and answered once.",
            },
        }), &["username", "email"]),
        "Role": object(json!({
            "name": { "type": "string" },
            "source": { "enum": ["builtin", "config", "store"] },
            "inherits": { "type": "array", "items": { "type": "string" } },
            "permissions": { "type": "array", "items": { "type": "string" } },
            "description": nullable("string"),
        }), &["name", "source", "inherits", "permissions", "description"]),
        "RoleDefinition": request(json!({
            "inherits": { "type": "array", "items": name, "maxItems": 64 },
            "permissions": { "type": "array", "items": name, "maxItems": 256 },
            "description": { "type": ["string", "null"], "minLength": 1, "maxLength": 1000 },
        }), &[]),
        "Group": object(json!({
            "name": { "type": "string" },
            "tenant": nullable("string"),
            "description": nullable("string"),
            "created_at": time(),
            "members": {
                "type": "array",
                "items": object(json!({ "id": { "type": "string" }, "username": { "type": "string" } }), &["id", "username"]),
            },
        }), &["name", "tenant", "description", "created_at", "members"]),
        "NewGroup": request(json!({
            "name": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$" },
            "tenant": tenant,
            "description": { "type": ["string", "null"], "minLength": 1, "maxLength": 1000, "pattern": LABEL },
        }), &["name"]),
        "NewMember": request(json!({
            "user": { "type": "string", "minLength": 1, "maxLength": 255, "description": "The account's username." },
        }), &["user"]),
        "Deleted": object(json!({ "deleted": { "type": "string" } }), &["deleted"]),
        "Grant": object(json!({
            "id": { "type": "string" },
            "grantee_kind": { "enum": ["user", "group", "service"] },
            "grantee": { "type": "string" },
            "role": { "type": "string" },
            "scope_kind": { "enum": ["all", "tenant", "upstream"] },
            "scope": nullable("string"),
            "created_at": time(),
        }), &["id", "grantee_kind", "grantee", "role", "scope_kind", "scope", "created_at"]),
        "NewGrant": request(json!({
            "user": { "type": "string", "description": "An account's username." },
            "group": name,
            "service": { "type": "string", "description": "A service principal's subject." },
            "subject": { "type": "string", "description": "Another validator's `{validator}:{sub}` subject." },
            "role": name,
            "tenant": tenant,
            "server": { "type": ["string", "null"] },
        }), &["role"]),
        "ExplainRequest": request(json!({
            "user": name,
            "server": name,
            "method": name,
            "name": { "type": ["string", "null"], "minLength": 1, "maxLength": 255 },
            "arguments": { "type": ["object", "null"] },
        }), &["user", "server", "method"]),
        "Explanation": object(json!({
            "decision": { "enum": ["allow", "deny"] },
            "permission": nullable("string"),
            "role": { "type": "string" },
            "rule": { "type": "string" },
            "grant": { "type": "string" },
            "reason": { "type": "string" },
            "conditions": { "enum": ["pass", "deny"] },
            "policy": nullable("string"),
            "explanation": { "type": "string" },
        }), &["decision", "permission", "explanation"]),
        "Client": object(json!({
            "client_id": { "type": "string" },
            "name": { "type": "string" },
            "source": { "type": "string" },
            "redirect_uris": { "type": "array", "items": { "type": "string" } },
            "grant_types": { "type": "array", "items": { "type": "string" } },
            "token_endpoint_auth_method": { "type": "string" },
            "confidential": { "type": "boolean" },
            "scope": nullable("string"),
            "application_type": { "type": "string" },
            "created_at": time(),
            "expires_at": nullable_time(),
            "last_used_at": nullable_time(),
            "client_secret": { "type": "string", "description": "Answered once." },
        }), &["client_id", "name", "source", "redirect_uris", "grant_types", "token_endpoint_auth_method", "confidential", "scope", "application_type", "created_at", "expires_at", "last_used_at"]),
        "NewClient": request(json!({
            "name": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": LABEL },
            "redirect_uris": { "type": "array", "items": { "type": "string" }, "maxItems": 20 },
            "confidential": { "type": "boolean" },
            "grant_types": {
                "type": "array",
                "items": { "enum": ["authorization_code", "refresh_token", "client_credentials"] },
            },
            "scope": { "type": ["string", "null"] },
        }), &["name"]),
        "ApiKey": object(json!({
            "id": { "type": "string" },
            "name": { "type": "string" },
            "subject": { "type": "string" },
            "kind": { "enum": ["api_key", "service_token"] },
            "client_id": nullable("string"),
            "scopes": { "type": "array", "items": { "type": "string" } },
            "status": { "enum": ["active", "expired", "revoked"] },
            "created_at": time(),
            "expires_at": nullable_time(),
            "last_used_at": nullable_time(),
            "revoked_at": nullable_time(),
            "api_key": { "type": "string", "description": "The key, answered once." },
            "client_secret": { "type": "string", "description": "A service token's secret, answered once." },
        }), &["id", "name", "subject", "kind", "client_id", "scopes", "status", "created_at", "expires_at", "last_used_at", "revoked_at"]),
        "NewApiKey": request(json!({
            "name": { "type": "string", "minLength": 1, "maxLength": 100, "pattern": LABEL },
            "subject": { "type": "string", "minLength": 1, "maxLength": 256, "pattern": LABEL },
            "scopes": { "type": "array", "items": { "type": "string", "pattern": SCOPE_TOKEN } },
            "expires_in": { "type": ["string", "null"], "pattern": POSITIVE_DURATION, "description": "`30d`, `12h`, …; never, when absent." },
            "service_token": { "type": "boolean" },
        }), &["name", "subject"]),
        "SigningKey": object(json!({
            "kid": { "type": "string" },
            "alg": { "type": "string" },
            "status": { "enum": ["signing", "published", "retiring", "retired"] },
            "created_at": time(),
            "not_before": time(),
            "retire_after": nullable_time(),
        }), &["kid", "alg", "status", "created_at", "not_before", "retire_after"]),
        "Rotation": object(json!({
            "new_kid": { "type": "string" },
            "signs_from": time(),
            "retiring": {
                "type": "array",
                "items": object(json!({ "kid": { "type": "string" }, "retire_after": time() }), &["kid", "retire_after"]),
            },
        }), &["new_kid", "signs_from", "retiring"]),
        "RotateRequest": request(json!({
            "publish_delay": { "type": ["string", "null"], "pattern": PUBLISH_DELAY, "description": "How long the new key is published before it signs (`10m` when absent)." },
        }), &[]),
        "AuditRecord": object(json!({
            "seq": { "type": "integer" },
            "time": { "type": "string" },
            "actor": nullable("string"),
            "tenant": nullable("string"),
            "client": nullable("string"),
            "action": { "type": "string" },
            "target": nullable("string"),
            "decision": { "type": "string" },
            "reason": nullable("string"),
            "request_id": nullable("string"),
            "source": nullable("string"),
            "prev_hash": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
            "hash": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
        }), &["seq", "time", "actor", "tenant", "client", "action", "target", "decision", "reason", "request_id", "source", "prev_hash", "hash"]),
        "AuditVerification": object(json!({
            "intact": { "type": "boolean" },
            "count": { "type": "integer" },
            "head": nullable("string"),
            "broken_at": { "type": "integer" },
            "problem": { "type": "string" },
            "intact_before": { "type": "integer" },
        }), &["intact"]),
    })
}

fn operations() -> Vec<Op> {
    let user_ops = |method, path, id, summary, needs, ok: Value, errors: &'static [u16]| Op {
        method,
        path,
        id,
        tag: "users",
        summary,
        needs,
        body: None,
        query: &[],
        ok: (200, ok),
        errors,
    };
    vec![
        Op {
            method: "get",
            path: "/openapi.json",
            id: "getOpenApi",
            tag: "meta",
            summary: "This document.",
            needs: "",
            body: None,
            query: &[],
            ok: (200, json!({ "type": "object" })),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/whoami",
            id: "whoami",
            tag: "meta",
            summary: "The caller, and the administrative permissions it holds everywhere and in its tenant.",
            needs: "a valid credential only",
            body: None,
            query: &[],
            ok: (200, schema_ref("Caller")),
            errors: &[],
        },
        user_ops(
            "get",
            "/users",
            "listUsers",
            "List accounts (those of the tenants the caller manages).",
            "`users.list` (each account in its tenant)",
            array_of("User"),
            &[],
        ),
        Op {
            method: "post",
            path: "/users",
            id: "createUser",
            tag: "users",
            summary: "Create an account; without a password, a one-time password is answered once.",
            needs: "`users.create` in the account's tenant",
            body: Some((schema_ref("NewUser"), false)),
            query: &[],
            ok: (201, schema_ref("User")),
            errors: &[409],
        },
        user_ops(
            "get",
            "/users/{username}",
            "getUser",
            "Show an account.",
            "`users.read` in its tenant",
            schema_ref("User"),
            &[404],
        ),
        user_ops(
            "delete",
            "/users/{username}",
            "deleteUser",
            "Delete an account: its grants are revoked, then it and what is its own are removed.",
            "`users.delete` in its tenant, and the right to give each grant acting for the account",
            schema_ref("User"),
            &[404],
        ),
        user_ops(
            "post",
            "/users/{username}/disable",
            "disableUser",
            "Disable an account: its sign-ins are refused, its sessions end and its tokens stop.",
            "`users.disable` in its tenant, and the right to give each grant acting for the account",
            schema_ref("User"),
            &[404],
        ),
        user_ops(
            "post",
            "/users/{username}/enable",
            "enableUser",
            "Enable a disabled account.",
            "`users.enable` in its tenant, and the right to give each grant acting for the account",
            schema_ref("User"),
            &[404],
        ),
        user_ops(
            "post",
            "/users/{username}/reset-password",
            "resetUserPassword",
            "Give an account a one-time password (answered once) and end its sessions.",
            "`users.reset_password` in its tenant, and the right to give each grant acting for the account",
            schema_ref("User"),
            &[404],
        ),
        user_ops(
            "post",
            "/users/{username}/reset-mfa",
            "resetUserMfa",
            "Remove an account's second factors and recovery codes and end its sessions.",
            "`users.reset_mfa` in its tenant, and the right to give each grant acting for the account",
            schema_ref("User"),
            &[404],
        ),
        Op {
            method: "get",
            path: "/groups",
            id: "listGroups",
            tag: "groups",
            summary: "List local groups and their members (those of the tenants the caller manages).",
            needs: "`groups.list` (each group in its tenant)",
            body: None,
            query: &[],
            ok: (200, array_of("Group")),
            errors: &[],
        },
        Op {
            method: "post",
            path: "/groups",
            id: "createGroup",
            tag: "groups",
            summary: "Create a local group; with a tenant, only that tenant's accounts can be members.",
            needs: "`groups.create` in the group's tenant",
            body: Some((schema_ref("NewGroup"), false)),
            query: &[],
            ok: (201, schema_ref("Group")),
            errors: &[409],
        },
        Op {
            method: "get",
            path: "/groups/{name}",
            id: "getGroup",
            tag: "groups",
            summary: "Show a group and its members.",
            needs: "`groups.read` in its tenant",
            body: None,
            query: &[],
            ok: (200, schema_ref("Group")),
            errors: &[404],
        },
        Op {
            method: "delete",
            path: "/groups/{name}",
            id: "deleteGroup",
            tag: "groups",
            summary: "Delete a group; its memberships end (grants to its name stay).",
            needs: "`groups.delete` in its tenant",
            body: None,
            query: &[],
            ok: (200, schema_ref("Group")),
            errors: &[404],
        },
        Op {
            method: "post",
            path: "/groups/{name}/members",
            id: "addGroupMember",
            tag: "groups",
            summary: "Make an account a member: the group's grants apply to it from the next policy rebuild.",
            needs: "`groups.members.add` in the group's tenant, and the right to give each of the group's grants",
            body: Some((schema_ref("NewMember"), false)),
            query: &[],
            ok: (200, schema_ref("Group")),
            errors: &[404, 409],
        },
        Op {
            method: "delete",
            path: "/groups/{name}/members/{username}",
            id: "removeGroupMember",
            tag: "groups",
            summary: "End an account's membership.",
            needs: "`groups.members.remove` in the group's tenant",
            body: None,
            query: &[],
            ok: (200, schema_ref("Group")),
            errors: &[404],
        },
        Op {
            method: "get",
            path: "/roles",
            id: "listRoles",
            tag: "roles",
            summary: "List every role: built in, configured and stored.",
            needs: "`roles.list` everywhere or in the caller's tenant",
            body: None,
            query: &[],
            ok: (200, array_of("Role")),
            errors: &[],
        },
        Op {
            method: "put",
            path: "/roles/{name}",
            id: "putRole",
            tag: "roles",
            summary: "Create (201) or replace (200) a stored role; every role must still resolve.",
            needs: "`roles.create` or `roles.update` everywhere, and every administrative permission the role would carry",
            body: Some((schema_ref("RoleDefinition"), false)),
            query: &[],
            ok: (200, schema_ref("Role")),
            errors: &[409],
        },
        Op {
            method: "delete",
            path: "/roles/{name}",
            id: "deleteRole",
            tag: "roles",
            summary: "Delete a stored role that no grant and no role uses.",
            needs: "`roles.delete` everywhere",
            body: None,
            query: &[],
            ok: (200, schema_ref("Deleted")),
            errors: &[404, 409],
        },
        Op {
            method: "get",
            path: "/grants",
            id: "listGrants",
            tag: "grants",
            summary: "List role grants (those in the tenants the caller manages).",
            needs: "`grants.list` (each grant in its tenant)",
            body: None,
            query: &[],
            ok: (200, array_of("Grant")),
            errors: &[],
        },
        Op {
            method: "post",
            path: "/grants",
            id: "createGrant",
            tag: "grants",
            summary: "Grant a role to a user, group, service principal or subject, everywhere, in a tenant or on a server.",
            needs: "`grants.create` in the grant's tenant, and every administrative permission the role carries there",
            body: Some((schema_ref("NewGrant"), false)),
            query: &[],
            ok: (201, schema_ref("Grant")),
            errors: &[404, 409],
        },
        Op {
            method: "delete",
            path: "/grants/{id}",
            id: "revokeGrant",
            tag: "grants",
            summary: "Take a grant back.",
            needs: "`grants.revoke` in the grant's tenant, and every administrative permission its role carries there",
            body: None,
            query: &[],
            ok: (200, schema_ref("Grant")),
            errors: &[404],
        },
        Op {
            method: "post",
            path: "/authz/explain",
            id: "explainDecision",
            tag: "grants",
            summary: "Whether an account may send an MCP request to a server, and the grant and rule behind the answer.",
            needs: "`authz.explain` in the account's tenant",
            body: Some((schema_ref("ExplainRequest"), false)),
            query: &[],
            ok: (200, schema_ref("Explanation")),
            errors: &[404],
        },
        Op {
            method: "get",
            path: "/clients",
            id: "listClients",
            tag: "clients",
            summary: "List OAuth clients: the configuration file's and the stored ones (never a secret).",
            needs: "`clients.list` everywhere",
            body: None,
            query: &[],
            ok: (200, array_of("Client")),
            errors: &[],
        },
        Op {
            method: "post",
            path: "/clients",
            id: "createClient",
            tag: "clients",
            summary: "Register a client: public, or confidential with a secret answered once.",
            needs: "`clients.create` everywhere",
            body: Some((schema_ref("NewClient"), false)),
            query: &[],
            ok: (201, schema_ref("Client")),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/clients/{client_id}",
            id: "getClient",
            tag: "clients",
            summary: "Show a client.",
            needs: "`clients.read` everywhere",
            body: None,
            query: &[],
            ok: (200, schema_ref("Client")),
            errors: &[404],
        },
        Op {
            method: "delete",
            path: "/clients/{client_id}",
            id: "deleteClient",
            tag: "clients",
            summary: "Delete a stored client; its grants end.",
            needs: "`clients.delete` everywhere",
            body: None,
            query: &[],
            ok: (200, schema_ref("Client")),
            errors: &[404, 409],
        },
        Op {
            method: "post",
            path: "/clients/{client_id}/rotate-secret",
            id: "rotateClientSecret",
            tag: "clients",
            summary: "Give a confidential client a new secret, answered once; the old one stops working.",
            needs: "`clients.rotate_secret` everywhere",
            body: None,
            query: &[],
            ok: (200, schema_ref("Client")),
            errors: &[404, 409],
        },
        Op {
            method: "get",
            path: "/api-keys",
            id: "listApiKeys",
            tag: "api-keys",
            summary: "List API keys and service tokens (never a secret).",
            needs: "`api_keys.list` everywhere",
            body: None,
            query: &[("subject", "Only the keys of this subject.")],
            ok: (200, array_of("ApiKey")),
            errors: &[],
        },
        Op {
            method: "post",
            path: "/api-keys",
            id: "createApiKey",
            tag: "api-keys",
            summary: "Create an API key or service token acting as a service principal; its secret is answered once.",
            needs: "`api_keys.create` everywhere, and the right to give each grant of the subject",
            body: Some((schema_ref("NewApiKey"), false)),
            query: &[],
            ok: (201, schema_ref("ApiKey")),
            errors: &[],
        },
        Op {
            method: "post",
            path: "/api-keys/{id}/revoke",
            id: "revokeApiKey",
            tag: "api-keys",
            summary: "Revoke a key: every replica refuses it from its next request and ends its streams.",
            needs: "`api_keys.revoke` everywhere",
            body: None,
            query: &[],
            ok: (200, schema_ref("ApiKey")),
            errors: &[404],
        },
        Op {
            method: "get",
            path: "/keys",
            id: "listSigningKeys",
            tag: "keys",
            summary: "List the signing keys and their state.",
            needs: "`keys.list` everywhere",
            body: None,
            query: &[],
            ok: (200, array_of("SigningKey")),
            errors: &[],
        },
        Op {
            method: "post",
            path: "/keys/rotate",
            id: "rotateSigningKeys",
            tag: "keys",
            summary: "Start a rotation without downtime: a new key is published now and signs after the publish delay.",
            needs: "`keys.rotate` everywhere",
            body: Some((schema_ref("RotateRequest"), true)),
            query: &[],
            ok: (200, schema_ref("Rotation")),
            errors: &[500],
        },
        Op {
            method: "get",
            path: "/audit",
            id: "listAudit",
            tag: "audit",
            summary: "The most recent audit records, oldest first (those of the tenants the caller may read).",
            needs: "`audit.read` (each record in its tenant)",
            body: None,
            query: &[
                (
                    "since",
                    "Only records at or after this time: RFC 3339, or a duration before now (`1h`).",
                ),
                ("limit", "At most this many, the newest (100 when absent)."),
            ],
            ok: (200, array_of("AuditRecord")),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/audit/export",
            id: "exportAudit",
            tag: "audit",
            summary: "Every record (at or after `since`) as JSON lines, hashes included.",
            needs: "`audit.export` everywhere",
            body: None,
            query: &[("since", "Only records at or after this time.")],
            ok: (200, schema_ref("AuditRecord")),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/audit/verify",
            id: "verifyAudit",
            tag: "audit",
            summary: "Walk the whole hash chain; name the first broken record.",
            needs: "`audit.read` everywhere",
            body: None,
            query: &[],
            ok: (200, schema_ref("AuditVerification")),
            errors: &[],
        },
    ]
}

/// The document, with `server` (the API's base URL) as its one server.
pub(crate) fn document(server: &str) -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let entry = paths
            .entry(op.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(map) = entry.as_object_mut() {
            map.insert(op.method.to_owned(), operation(&op));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Portcullis admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "What `portcullis admin …` does, over HTTP. Authenticate with a Portcullis access token issued for this API's URL (RFC 8707 `resource`) or a Portcullis API key, as `Authorization: Bearer …`. What the caller may do comes from its grants of administrative permissions; a grant scoped to a tenant acts in that tenant only.",
        },
        "servers": [{ "url": server }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A Portcullis access token for this API, or a Portcullis API key.",
                },
            },
            "schemas": schemas(),
        },
    })
}

/// Every operation the document names, as `METHOD /path` under the API's base.
#[cfg(test)]
pub(crate) fn operation_keys() -> Vec<String> {
    operations()
        .iter()
        .map(|op| format!("{} {}", op.method.to_uppercase(), op.path))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `METHOD /path` of every route the router of `admin_api.rs` declares, read from its source.
    fn routed() -> Vec<String> {
        let source = include_str!("../admin_api.rs");
        let start = source.find("let api = Router::new()").unwrap_or(0);
        let end = source[start..]
            .find(".fallback(")
            .map_or(source.len(), |e| start + e);
        let mut out = Vec::new();
        for chunk in source[start..end].split(".route(").skip(1) {
            let path = chunk.split('"').nth(1).unwrap_or_default();
            for method in ["get", "post", "put", "delete"] {
                let calls = chunk
                    .match_indices(&format!("{method}("))
                    .filter(|(i, _)| {
                        let before = chunk[..*i].chars().last().unwrap_or(' ');
                        !before.is_alphanumeric() && before != '_'
                    })
                    .count();
                if calls > 0 {
                    out.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_routed() {
        let mut documented = operation_keys();
        documented.sort();
        let routed = routed();
        assert!(routed.len() > 20, "{routed:?}");
        assert_eq!(routed, documented);
    }

    #[test]
    fn the_document_is_well_formed() {
        let doc = document("http://127.0.0.1:8080/admin/api/v1");
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        // Every reference resolves.
        let text = doc.to_string();
        for reference in text.split("#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "{name}");
        }
        let mut ids = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                ids.push(op["operationId"].as_str().unwrap().to_owned());
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{method} {path}"
                );
                if op.get("security").is_none() {
                    assert!(responses.contains_key("401"), "{method} {path}");
                    assert!(responses.contains_key("403"), "{method} {path}");
                }
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids are unique");
    }
}
