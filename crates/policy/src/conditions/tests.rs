// Test code: a failed expectation is a failed test.
#![allow(clippy::panic)]

use super::*;

/// 2026-12-04T07:41:17Z, a Friday.
const FRIDAY_MORNING: i64 = 1_796_370_077;

fn caller<'a>(groups: &'a [String], amr: &'a [String]) -> Caller<'a> {
    Caller {
        subject: "portcullis:usr_alice",
        validator: "portcullis",
        service: false,
        tenant: Some("acme"),
        email: Some("alice@acme.test"),
        email_verified: true,
        name: None,
        login: None,
        client_id: None,
        groups,
        scopes: &[],
        amr,
    }
}

fn call<'a>(caller: Caller<'a>, tool: &'a str, arguments: Option<&'a str>) -> Request<'a> {
    Request {
        caller,
        upstream: "files",
        method: "tools/call",
        target: Some(tool),
        hints: None,
        arguments,
        now: FRIDAY_MORNING,
    }
}

fn conditions(text: &str) -> Conditions {
    match Conditions::parse("test.cedar", text) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// The problems of an invalid file, one line each.
fn refused(text: &str) -> String {
    match Conditions::parse("test.cedar", text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

fn forbidden(outcome: Outcome) -> String {
    match outcome {
        Outcome::Forbidden(id) => id,
        other => panic!("not forbidden: {other:?}"),
    }
}

#[test]
fn the_schema_is_valid_and_names_every_method_that_needs_a_permission() {
    let (schema, warnings) = cedar_policy::Schema::from_cedarschema_str(SCHEMA).unwrap();
    assert_eq!(warnings.count(), 0);
    let actions: Vec<String> = schema
        .actions()
        .map(|a| a.id().unescaped().to_owned())
        .collect();
    for method in crate::mcp::tests::NEEDING_PERMISSION {
        assert!(crate::mcp_permission(method).is_some(), "{method}");
        assert!(
            actions.iter().any(|a| a == method),
            "{method} is not an action"
        );
    }
}

#[test]
fn an_empty_file_forbids_nothing() {
    let c = conditions("// nothing yet\n");
    assert!(c.ids().is_empty());
    assert_eq!(
        c.evaluate(&call(caller(&[], &[]), "read", None)),
        Outcome::Pass
    );
}

#[test]
fn syntax_errors_name_the_file_and_the_place() {
    let e = refused("forbid (principal, action, resource)\nwhen { context.hour > };");
    assert!(e.starts_with("test.cedar: 2:"), "{e}");
}

#[test]
fn a_permit_is_refused_with_the_reason() {
    let e = refused(
        "@id(\"open-all\")\npermit (principal, action, resource);\n\
         forbid (principal, action, resource) when { context.hour == 3 };",
    );
    assert!(e.contains("policy \"open-all\""), "{e}");
    assert!(e.contains("conditions can only forbid"), "{e}");
    // Every problem of the file is reported, one line each, the policy named once.
    let e = refused(
        "@id(\"open\") permit (principal, action, resource);\n\
         @id(\"dept\") forbid (principal, action, resource) when { principal.department == 1 };",
    );
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].starts_with("test.cedar: policy \"open\": a permit"),
        "{e}"
    );
    assert!(
        lines[1].starts_with("test.cedar: 2:")
            && lines[1].contains("policy \"dept\": attribute `department`"),
        "{e}"
    );
}

#[test]
fn templates_are_refused_as_unattached() {
    let e = refused("@id(\"per-user\")\nforbid (principal == ?principal, action, resource);");
    assert!(e.contains("policy \"per-user\""), "{e}");
    assert!(e.contains("unattached"), "{e}");
}

#[test]
fn unknown_attributes_entity_types_and_actions_are_refused_naming_the_policy() {
    for (text, expected) in [
        (
            "@id(\"dept\")\nforbid (principal, action, resource) when { principal.department == \"x\" };",
            "department",
        ),
        (
            "@id(\"user-type\")\nforbid (principal == User::\"bob\", action, resource);",
            "User",
        ),
        (
            "@id(\"bad-action\")\nforbid (principal, action == Action::\"tools/delete\", resource);",
            "tools/delete",
        ),
        // An optional attribute must be tested with `has` first.
        (
            "@id(\"tenant\")\nforbid (principal, action, resource) when { principal.tenant == \"x\" };",
            "tenant",
        ),
        // Types are checked: an hour is a Long.
        (
            "@id(\"hour\")\nforbid (principal, action, resource) when { context.hour == \"3\" };",
            "hour",
        ),
    ] {
        let e = refused(text);
        assert!(e.contains(expected), "{e}");
        let id = text.split('"').nth(1).unwrap();
        assert!(e.contains(&format!("policy {id:?}")), "{e}");
        assert!(e.starts_with("test.cedar: 2:"), "{e}");
    }
}

#[test]
fn duplicate_ids_are_refused() {
    let e = refused(
        "@id(\"a\") forbid (principal, action, resource) when { context.hour == 1 };\n\
         @id(\"a\") forbid (principal, action, resource) when { context.hour == 2 };",
    );
    assert!(e.contains("used twice"), "{e}");
    let e =
        refused("@id(\"portcullis.roles\") forbid (principal, action, resource) when { false };");
    assert!(e.contains("Portcullis's own"), "{e}");
}

#[test]
fn policies_without_an_id_are_numbered_in_file_order() {
    let c = conditions(
        "forbid (principal, action, resource) when { context.hour == 1 };\n\
         @id(\"named\") forbid (principal, action, resource) when { context.hour == 2 };\n\
         forbid (principal, action == Action::\"tools/call\", resource) when { context.hour == 7 };",
    );
    assert_eq!(c.ids(), ["policy0", "named", "policy2"]);
    assert_eq!(
        forbidden(c.evaluate(&call(caller(&[], &[]), "read", None))),
        "policy2"
    );
}

#[test]
fn string_long_and_bool_arguments_are_tags_of_their_type() {
    let c = conditions(
        r#"
        @id("no-etc")
        forbid (principal, action == Action::"tools/call", resource)
        when { context.arguments.hasTag("path") && context.arguments.getTag("path") like "/etc/*" };

        @id("small-pages")
        forbid (principal, action, resource)
        when { context.long_arguments.hasTag("limit") && context.long_arguments.getTag("limit") > 100 };

        @id("no-recursion")
        forbid (principal, action, resource)
        when { context.bool_arguments.hasTag("recursive") && context.bool_arguments.getTag("recursive") };

        @id("path-is-a-string")
        forbid (principal, action, resource)
        when { context.argument_names.contains("path") && !context.arguments.hasTag("path") };
        "#,
    );
    let who = caller(&[], &[]);
    for (arguments, expected) in [
        (r#"{"path":"/etc/passwd"}"#, Some("no-etc")),
        (r#"{"path":"/home/alice/notes"}"#, None),
        (r#"{"limit":500}"#, Some("small-pages")),
        (r#"{"limit":100}"#, None),
        (r#"{"recursive":true}"#, Some("no-recursion")),
        (r#"{"recursive":false}"#, None),
        // A path that is not a string is not a string tag: the last policy catches it.
        (r#"{"path":["/etc/passwd"]}"#, Some("path-is-a-string")),
        (r#"{"path":7}"#, Some("path-is-a-string")),
        // Other types are named only; a float is not a Long.
        (r#"{"limit":500.5,"other":{"a":1},"n":null}"#, None),
        (r#"{}"#, None),
        ("null", None),
    ] {
        let outcome = c.evaluate(&call(who, "read", Some(arguments)));
        match expected {
            Some(id) => assert_eq!(forbidden(outcome), id, "{arguments}"),
            None => assert_eq!(outcome, Outcome::Pass, "{arguments}"),
        }
    }
    assert_eq!(c.evaluate(&call(who, "read", None)), Outcome::Pass);
    // Arguments that are not an object cannot be described: refused.
    let outcome = c.evaluate(&call(who, "read", Some(r#"["/etc/passwd"]"#)));
    assert!(
        matches!(outcome, Outcome::Failed { policy: None, .. }),
        "{outcome:?}"
    );
}

#[test]
fn claims_tenant_and_groups_are_principal_attributes() {
    let c = conditions(
        r#"
        @id("acme-only")
        forbid (principal, action, resource in Upstream::"files")
        unless { principal has tenant && principal.tenant == "acme" };

        @id("verified-email")
        forbid (principal, action == Action::"tools/call", resource == Tool::"send_mail")
        unless { principal has email && principal.email_verified && principal.email like "*@acme.test" };

        @id("mfa-for-delete")
        forbid (principal, action, resource)
        when { resource is Tool && resource.name like "delete_*" && !principal.amr.contains("otp") };

        @id("contractors")
        forbid (principal, action, resource is Tool) when { principal.groups.contains("contractors") };
        "#,
    );
    let groups = ["staff".to_owned()];
    let otp = ["pwd".to_owned(), "otp".to_owned()];
    let contractors = ["contractors".to_owned()];
    let alice = caller(&groups, &otp);
    let cases = [
        ("every condition met", alice, "delete_x", "files", None),
        ("a verified address", alice, "send_mail", "files", None),
        (
            "another tenant",
            Caller {
                tenant: Some("globex"),
                ..alice
            },
            "read",
            "files",
            Some("acme-only"),
        ),
        (
            "no tenant",
            Caller {
                tenant: None,
                ..alice
            },
            "read",
            "files",
            Some("acme-only"),
        ),
        (
            "no tenant, on an upstream the condition does not name",
            Caller {
                tenant: None,
                ..alice
            },
            "read",
            "notes",
            None,
        ),
        (
            "an unverified address",
            Caller {
                email_verified: false,
                ..alice
            },
            "send_mail",
            "files",
            Some("verified-email"),
        ),
        (
            "an unverified address, for another tool",
            Caller {
                email_verified: false,
                ..alice
            },
            "read",
            "files",
            None,
        ),
        (
            "a password only",
            caller(&groups, &[]),
            "delete_x",
            "files",
            Some("mfa-for-delete"),
        ),
        (
            "a contractor",
            caller(&contractors, &otp),
            "read",
            "files",
            Some("contractors"),
        ),
    ];
    for (case, who, tool, upstream, expected) in cases {
        let outcome = c.evaluate(&Request {
            upstream,
            ..call(who, tool, None)
        });
        match expected {
            Some(id) => assert_eq!(forbidden(outcome), id, "{case}"),
            None => assert_eq!(outcome, Outcome::Pass, "{case}"),
        }
    }
    // Methods whose resource is the upstream are not tool calls.
    let list = Request {
        method: "tools/list",
        target: None,
        ..call(caller(&contractors, &otp), "read", None)
    };
    assert_eq!(c.evaluate(&list), Outcome::Pass);
}

#[test]
fn time_conditions_see_the_request_time_in_utc() {
    let c = conditions(
        r#"
        @id("office-hours")
        forbid (principal, action == Action::"tools/call", resource)
        when { context.hour < 8 || context.hour >= 18 || context.weekday > 5 };

        @id("until-2027")
        forbid (principal, action, resource) when { context.now >= datetime("2027-01-01T00:00:00Z") };
        "#,
    );
    let who = caller(&[], &[]);
    let at = |now: i64| Request {
        now,
        ..call(who, "read", None)
    };
    // 07:41 on a Friday: before hours.
    assert_eq!(forbidden(c.evaluate(&at(FRIDAY_MORNING))), "office-hours");
    // 10:41 the same day.
    assert_eq!(c.evaluate(&at(FRIDAY_MORNING + 3 * 3600)), Outcome::Pass);
    // 10:41 the next day, a Saturday.
    assert_eq!(
        forbidden(c.evaluate(&at(FRIDAY_MORNING + 27 * 3600))),
        "office-hours"
    );
    // 2027-01-04 10:00, a Monday.
    assert_eq!(forbidden(c.evaluate(&at(1_799_056_800))), "until-2027");
}

#[test]
fn annotations_are_present_only_when_known() {
    let c = conditions(
        r#"
        @id("read-only-tools")
        forbid (principal, action == Action::"tools/call", resource)
        unless { context has annotations && context.annotations.readOnlyHint };
        "#,
    );
    let who = caller(&[], &[]);
    let with = |hints| Request {
        hints,
        ..call(who, "read", None)
    };
    let read_only = ToolHints {
        read_only: true,
        non_destructive: true,
    };
    assert_eq!(c.evaluate(&with(Some(read_only))), Outcome::Pass);
    assert_eq!(
        forbidden(c.evaluate(&with(Some(ToolHints::default())))),
        "read-only-tools"
    );
    assert_eq!(forbidden(c.evaluate(&with(None))), "read-only-tools");

    let c = conditions(
        r#"
        @id("no-destruction")
        forbid (principal, action, resource)
        when { context has annotations && context.annotations.destructiveHint };
        "#,
    );
    let with = |hints| Request {
        hints,
        ..call(who, "read", None)
    };
    assert_eq!(
        forbidden(c.evaluate(&with(Some(ToolHints::default())))),
        "no-destruction"
    );
    let additive = ToolHints {
        read_only: false,
        non_destructive: true,
    };
    assert_eq!(c.evaluate(&with(Some(additive))), Outcome::Pass);
}

#[test]
fn an_evaluation_error_refuses_the_request() {
    // Strict validation refuses what it cannot prove safe, like a tag read without `hasTag`.
    let e = refused(
        r#"@id("careless")
        forbid (principal, action, resource) when { context.arguments.getTag("path") like "/etc/*" };"#,
    );
    assert!(
        e.contains("policy \"careless\"") && e.contains("hasTag"),
        "{e}"
    );
    let who = caller(&[], &[]);
    // What it cannot see coming, like an overflow, fails at run time: refused.
    let c = conditions(
        r#"
        @id("overflow")
        forbid (principal, action, resource)
        when { context.long_arguments.hasTag("n") && context.long_arguments.getTag("n") + 1 > 0 };
        "#,
    );
    let outcome = c.evaluate(&call(
        who,
        "read",
        Some(&format!(r#"{{"n":{}}}"#, i64::MAX)),
    ));
    assert!(
        matches!(&outcome, Outcome::Failed { policy: Some(p), .. } if p == "overflow"),
        "{outcome:?}"
    );
}

#[test]
fn a_request_that_cannot_be_described_is_refused() {
    let c = conditions("forbid (principal, action, resource) when { false };");
    let who = caller(&[], &[]);
    // A tool call that names no tool.
    let nameless = Request {
        target: None,
        ..call(who, "read", None)
    };
    assert!(matches!(c.evaluate(&nameless), Outcome::Failed { .. }));
    // A method the schema does not know.
    let unknown = Request {
        method: "tools/delete",
        ..call(who, "read", None)
    };
    assert!(matches!(c.evaluate(&unknown), Outcome::Failed { .. }));
}

#[test]
fn the_documentation_prints_the_schema_and_its_examples_validate() {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/authorization.md"
    ))
    .unwrap();
    assert!(
        docs.contains(&format!("```cedarschema\n{SCHEMA}```")),
        "docs/authorization.md does not print the schema as it is"
    );
    let mut examples = 0;
    for block in docs.split("```cedar\n").skip(1) {
        let text = block.split("```").next().unwrap();
        conditions(text);
        examples += 1;
    }
    assert!(examples >= 3, "{examples} examples");
}

#[test]
fn conditions_see_the_oauth_client_of_the_token() {
    let c = conditions(
        "@id(\"no-scripts\")\nforbid (principal, action, resource) when { principal has client_id && principal.client_id == \"client_script\" };\n",
    );
    let groups = Vec::new();
    let amr = Vec::new();
    let through = |client_id| Caller {
        client_id,
        ..caller(&groups, &amr)
    };
    assert_eq!(
        forbidden(c.evaluate(&call(through(Some("client_script")), "read", None))),
        "no-scripts"
    );
    assert_eq!(
        c.evaluate(&call(through(Some("client_ide")), "read", None)),
        Outcome::Pass
    );
    assert_eq!(
        c.evaluate(&call(through(None), "read", None)),
        Outcome::Pass
    );
}
