use std::sync::Arc;

use portcullis_core::auth::Principal;
use portcullis_policy::{
    GrantScope, GrantSubject, ListKind, Policy, RoleDefinition, RoleGrant, RoleSet, ScopeRules,
};
use portcullis_proto::jsonrpc::{self, Limits};

use super::*;

fn policy(grants: Vec<RoleGrant>) -> Arc<Policy> {
    let roles = RoleSet::build(&[RoleDefinition {
        name: "files-reader".into(),
        inherits: vec!["viewer".into()],
        permissions: vec!["mcp.tools.call:files/read_*".into()],
    }])
    .unwrap();
    Arc::new(Policy::new(roles, grants).unwrap())
}

fn grant(subject: GrantSubject, role: &str, scope: GrantScope) -> RoleGrant {
    RoleGrant {
        subject,
        role: role.into(),
        scope,
    }
}

fn user(id: &str) -> Arc<Principal> {
    Arc::new(Principal::new(PORTCULLIS_VALIDATOR, id))
}

fn rules(roles: &[&str], scopes: ScopeRules) -> Arc<UpstreamRules> {
    Arc::new(UpstreamRules {
        name: "files".into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        scopes,
        hints: HintCache::default(),
    })
}

fn message(body: &str) -> jsonrpc::Message<'_> {
    match jsonrpc::inspect(body.as_bytes(), Limits { max_depth: 64 }).unwrap() {
        jsonrpc::Body::Single(m) => m,
        jsonrpc::Body::Batch(_) => panic!("a batch"),
    }
}

fn call(name: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{name}"}}}}"#)
}

fn reader_rights() -> Rights {
    reader_rights_of(user("usr_a"))
}

/// The rights of `principal` (the account `usr_a`) when it holds `files-reader` everywhere.
fn reader_rights_of(principal: Arc<Principal>) -> Rights {
    Rights::new(
        policy(vec![grant(
            GrantSubject::User("usr_a".into()),
            "files-reader",
            GrantScope::All,
        )]),
        principal,
        rules(&[], ScopeRules::default()),
    )
}

#[test]
fn a_role_allows_exactly_its_tools_and_the_rest_look_unknown() {
    let rights = reader_rights();
    assert_eq!(check(&rights, &message(&call("read_file")), 0), Ok(None));
    assert_eq!(
        check(&rights, &message(&call("delete_file")), 0),
        Err(Refusal::NotFound {
            code: -32602,
            message: "Unknown tool: delete_file".into()
        })
    );
    // Case and trailing space variants are other names.
    for name in ["Read_file", " read_file", "READ_FILE", "re\\u0061d"] {
        let refused = check(&rights, &message(&call(name)), 0);
        assert!(matches!(refused, Err(Refusal::NotFound { .. })), "{name:?}");
    }
    // A unicode escape spells the same name as the upstream will read it: decided on that.
    let escaped =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u0064elete_file"}}"#;
    assert!(check(&rights, &message(escaped), 0).is_err());
    let escaped_ok =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u0072ead_x"}}"#;
    assert_eq!(check(&rights, &message(escaped_ok), 0), Ok(None));
}

#[test]
fn unknown_methods_are_refused_as_not_found_and_plumbing_is_open() {
    let rights = reader_rights();
    for method in [
        "tools/execute",
        "Tools/Call",
        "admin/shutdown",
        "sampling/createMessage",
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}"}}"#);
        assert_eq!(
            check(&rights, &message(&body), 0),
            Err(Refusal::NotFound {
                code: -32601,
                message: "Method not found".into()
            }),
            "{method}"
        );
    }
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":7,"result":{}}"#,
    ] {
        assert_eq!(check(&rights, &message(body), 0), Ok(None), "{body}");
    }
}

#[test]
fn nobody_without_a_grant_may_do_anything_but_authenticated_roles_give_rights() {
    let nobody = Rights::new(
        policy(vec![]),
        user("usr_b"),
        rules(&[], ScopeRules::default()),
    );
    assert!(check(&nobody, &message(&call("read_file")), 0).is_err());
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert!(check(&nobody, &message(list), 0).is_err());
    let everyone = Rights::new(
        policy(vec![]),
        user("usr_b"),
        rules(&["developer"], ScopeRules::default()),
    );
    assert_eq!(check(&everyone, &message(&call("anything")), 0), Ok(None));
    assert_eq!(check(&everyone, &message(list), 0), Ok(None));
}

#[test]
fn a_narrowed_role_gets_its_lists_filtered() {
    let rights = reader_rights();
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert_eq!(check(&rights, &message(list), 0), Ok(Some(ListKind::Tools)));
    assert!(rights.shows(ListKind::Tools, "read_x", None));
    assert!(!rights.shows(ListKind::Tools, "write_x", None));
    // The viewer role reads every prompt: that list needs no filter.
    let prompts = r#"{"jsonrpc":"2.0","id":1,"method":"prompts/list"}"#;
    assert_eq!(check(&rights, &message(prompts), 0), Ok(None));
}

#[test]
fn grants_scoped_elsewhere_do_not_apply_and_services_do_not_inherit_groups() {
    let policy = policy(vec![
        grant(
            GrantSubject::User("usr_a".into()),
            "developer",
            GrantScope::Upstream("notes".into()),
        ),
        grant(
            GrantSubject::User("usr_a".into()),
            "developer",
            GrantScope::Tenant("acme".into()),
        ),
        grant(
            GrantSubject::Group("sre".into()),
            "developer",
            GrantScope::All,
        ),
    ]);
    let plain = Rights::new(
        policy.clone(),
        user("usr_a"),
        rules(&[], ScopeRules::default()),
    );
    assert!(check(&plain, &message(&call("x")), 0).is_err());
    let mut in_acme = Principal::new(PORTCULLIS_VALIDATOR, "usr_a");
    in_acme.tenant = Some("acme".into());
    let acme = Rights::new(
        policy.clone(),
        Arc::new(in_acme),
        rules(&[], ScopeRules::default()),
    );
    assert_eq!(check(&acme, &message(&call("x")), 0), Ok(None));
    let mut sre = Principal::new("corp", "someone");
    sre.groups = vec!["sre".into()];
    let member = Rights::new(
        policy.clone(),
        Arc::new(sre.clone()),
        rules(&[], ScopeRules::default()),
    );
    assert_eq!(check(&member, &message(&call("x")), 0), Ok(None));
    // An API key claiming the group in its principal is a service: groups do not apply.
    let mut key = sre;
    key.validator = API_KEY_VALIDATOR.into();
    key.subject = "usr_a".into();
    let service = Rights::new(policy, Arc::new(key), rules(&[], ScopeRules::default()));
    assert!(check(&service, &message(&call("x")), 0).is_err());
}

#[test]
fn a_missing_scope_asks_for_a_step_up_naming_every_scope_to_hold() {
    let scopes = ScopeRules::new([
        (
            "files:read",
            vec!["mcp.tools.list", "mcp.tools.call:files/read_*"],
        ),
        ("files:write", vec!["mcp.tools.*"]),
    ])
    .unwrap();
    let mut token = Principal::new(PORTCULLIS_VALIDATOR, "usr_a");
    token.scopes = vec!["files:read".into(), "openid".into()];
    let rights = Rights::new(
        policy(vec![]),
        Arc::new(token),
        rules(&["developer"], scopes),
    );
    assert_eq!(check(&rights, &message(&call("read_a")), 0), Ok(None));
    let refused = check(&rights, &message(&call("delete_a")), 0);
    assert_eq!(refused, Err(Refusal::StepUp("files:write".into())));
    assert_eq!(
        rights.step_up_scopes("files:write".into()),
        vec!["files:read".to_owned(), "files:write".to_owned()]
    );
    // No scope maps prompts: a role allowing them is not enough with this token.
    let prompt = r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#;
    assert!(matches!(
        check(&rights, &message(prompt), 0),
        Err(Refusal::NotFound { code: -32602, .. })
    ));
}

#[test]
fn a_step_up_is_never_offered_to_someone_the_roles_refuse() {
    let scopes = ScopeRules::new([("files:write", vec!["mcp.tools.*"])]).unwrap();
    let mut token = Principal::new(PORTCULLIS_VALIDATOR, "usr_a");
    token.scopes = vec![];
    let rights = Rights::new(
        policy(vec![grant(
            GrantSubject::User("usr_a".into()),
            "files-reader",
            GrantScope::All,
        )]),
        Arc::new(token),
        rules(&[], scopes),
    );
    assert!(matches!(
        check(&rights, &message(&call("delete_a")), 0),
        Err(Refusal::NotFound { .. })
    ));
    assert_eq!(
        check(&rights, &message(&call("read_a")), 0),
        Err(Refusal::StepUp("files:write".into()))
    );
}

#[test]
fn read_only_rules_follow_the_tools_annotations_learned_from_lists() {
    let scopes = ScopeRules::new([
        (
            "files:read",
            vec!["mcp.tools.list", "mcp.tools.call:files/*#readOnly"],
        ),
        ("files:write", vec!["mcp.tools.*"]),
    ])
    .unwrap();
    let mut token = Principal::new(PORTCULLIS_VALIDATOR, "usr_a");
    token.scopes = vec!["files:read".into()];
    let rights = Rights::new(
        policy(vec![]),
        Arc::new(token),
        rules(&["developer"], scopes),
    );
    let get = serde_json::json!({"name": "get", "annotations": {"readOnlyHint": true}});
    let put = serde_json::json!({"name": "put", "annotations": {"destructiveHint": false}});
    // Before a list says so, nothing is known to be read-only: a step-up.
    assert_eq!(
        check(&rights, &message(&call("get")), 0),
        Err(Refusal::StepUp("files:write".into()))
    );
    assert!(rights.shows(ListKind::Tools, "get", Some(hints_of(&get))));
    rights.learn_hints("get", hints_of(&get));
    rights.learn_hints("put", hints_of(&put));
    assert_eq!(check(&rights, &message(&call("get")), 0), Ok(None));
    assert_eq!(
        check(&rights, &message(&call("put")), 0),
        Err(Refusal::StepUp("files:write".into()))
    );
    assert_eq!(
        hints_of(&put),
        ToolHints {
            read_only: false,
            non_destructive: true
        }
    );
    assert_eq!(
        hints_of(&serde_json::json!({"name": "x"})),
        ToolHints::default()
    );
}

#[cfg(feature = "cedar")]
mod conditions {
    use portcullis_policy::Outcome;

    use super::*;

    /// 2026-12-04T07:41:17Z, a Friday.
    const FRIDAY_MORNING: i64 = 1_796_370_077;

    fn with(rights: Rights, text: &str) -> Rights {
        rights.with_conditions(Some(Arc::new(
            Conditions::parse("test.cedar", text).unwrap(),
        )))
    }

    fn call_with(name: &str, arguments: &str) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{name}","arguments":{arguments}}}}}"#
        )
    }

    #[test]
    fn conditions_see_a_persons_local_groups() {
        let policy = Policy::clone(&policy(vec![grant(
            GrantSubject::User("usr_a".into()),
            "files-reader",
            GrantScope::All,
        )]))
        .with_local_groups([("usr_a".to_owned(), "contractors".to_owned())]);
        let rights = with(
            Rights::new(
                Arc::new(policy),
                user("usr_a"),
                rules(&[], ScopeRules::default()),
            ),
            r#"
            @id("no-contractors")
            forbid (principal, action, resource) when { principal.groups.contains("contractors") };
            "#,
        );
        assert_eq!(
            check(&rights, &message(&call("read_file")), 0),
            Err(Refusal::Condition(Outcome::Forbidden(
                "no-contractors".into()
            )))
        );
    }

    #[test]
    fn a_condition_takes_away_what_the_roles_allow_and_only_that() {
        let rights = with(
            reader_rights(),
            r#"
            @id("no-etc")
            forbid (principal, action == Action::"tools/call", resource)
            when { context.arguments.hasTag("path") && context.arguments.getTag("path") like "/etc/*" };
            "#,
        );
        let refused = check(
            &rights,
            &message(&call_with("read_file", r#"{"path":"/etc/passwd"}"#)),
            0,
        );
        assert_eq!(
            refused,
            Err(Refusal::Condition(Outcome::Forbidden("no-etc".into())))
        );
        assert_eq!(
            check(
                &rights,
                &message(&call_with("read_file", r#"{"path":"/srv/a"}"#)),
                0
            ),
            Ok(None)
        );
        // What the roles refuse is refused as before, whatever the conditions say: the caller
        // cannot learn from the answer that the tool exists.
        assert!(matches!(
            check(
                &rights,
                &message(&call_with("delete_file", r#"{"path":"/etc/passwd"}"#)),
                0
            ),
            Err(Refusal::NotFound { code: -32602, .. })
        ));
        // The handshake is open to every caller, conditions or not.
        let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        assert_eq!(check(&rights, &message(ping), 0), Ok(None));
    }

    #[test]
    fn the_refusal_is_an_invalid_request_that_names_no_policy() {
        let id = serde_json::value::RawValue::from_string("7".into()).unwrap();
        let error = Refusal::Condition(Outcome::Forbidden("secret-policy-name".into())).into_error(
            &reader_rights(),
            Arc::new(crate::auth::ResourceChallenge {
                resource_metadata: String::new(),
                scopes: vec![],
            }),
            Some(&id),
        );
        let RelayError::Refused { code, message, id } = error else {
            panic!("not a refusal: {error:?}");
        };
        assert_eq!(code, -32600);
        assert_eq!(message, CONDITION_REFUSED);
        assert!(!message.contains("secret"));
        assert_eq!(id.unwrap().get(), "7");
    }

    #[test]
    fn conditions_see_the_callers_claims_the_time_and_learned_annotations() {
        let mut principal = Principal::new(PORTCULLIS_VALIDATOR, "usr_a");
        principal.tenant = Some("globex".into());
        let rights = reader_rights_of(Arc::new(principal));
        let tenant = with(
            rights.clone(),
            r#"@id("acme") forbid (principal, action, resource)
               unless { principal has tenant && principal.tenant == "acme" };"#,
        );
        assert_eq!(
            check(&tenant, &message(&call("read_file")), FRIDAY_MORNING),
            Err(Refusal::Condition(Outcome::Forbidden("acme".into())))
        );

        let hours = with(
            rights.clone(),
            r#"@id("hours") forbid (principal, action, resource) when { context.hour < 8 };"#,
        );
        assert!(check(&hours, &message(&call("read_file")), FRIDAY_MORNING).is_err());
        assert_eq!(
            check(&hours, &message(&call("read_file")), FRIDAY_MORNING + 3600),
            Ok(None)
        );

        let read_only = with(
            rights,
            r#"@id("ro") forbid (principal, action == Action::"tools/call", resource)
               unless { context has annotations && context.annotations.readOnlyHint };"#,
        );
        assert!(check(&read_only, &message(&call("read_file")), 0).is_err());
        read_only.learn_hints(
            "read_file",
            hints_of(
                &serde_json::json!({"name": "read_file", "annotations": {"readOnlyHint": true}}),
            ),
        );
        assert_eq!(check(&read_only, &message(&call("read_file")), 0), Ok(None));
    }
}
