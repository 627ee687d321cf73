//! `portcullis-bench-policy`: the CPU cost of one authorization decision.
//!
//! Builds a policy of 100 custom roles (each inheriting another and `viewer`, with narrowed MCP
//! patterns) and 1,000 grants (users, groups and services, everywhere, per tenant and per
//! upstream), and an allow-all policy (one `owner` grant), then times `Policy::decide` for the
//! kinds of decision the gateway makes: an allowed tool call found on the principal's own grant,
//! one found through a group, one denied after every grant was tried, and a list; then the Cedar
//! conditions evaluated after an allowed call (five forbids on arguments, claims, tenant and
//! time; a call none forbids, and one a forbid refuses). Runs on one thread; prints a table and,
//! with `--json`, one JSON document.
//!
//!     portcullis-bench-policy [--iterations N] [--json]

// A benchmark binary: a failed step is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Instant;

use portcullis_policy::conditions::{Caller, Request};
use portcullis_policy::{
    Action, Conditions, Facts, GrantScope, GrantSubject, Outcome, Policy, RoleDefinition,
    RoleGrant, RoleSet,
};
use serde_json::json;

const ROLES: usize = 100;
const GRANTS: usize = 1000;

fn big_policy() -> Policy {
    let roles: Vec<RoleDefinition> = (0..ROLES)
        .map(|i| RoleDefinition {
            name: format!("role-{i}"),
            inherits: if i == 0 {
                vec!["viewer".to_owned()]
            } else {
                vec![format!("role-{}", i - 1), "viewer".to_owned()]
            },
            permissions: vec![
                format!("mcp.tools.call:server-{}/tool_{i}_*", i % 10),
                format!("mcp.prompts.get:server-{}", i % 10),
            ],
        })
        .collect();
    let roles = RoleSet::build(&roles).unwrap();
    let grants = (0..GRANTS)
        .map(|i| RoleGrant {
            subject: match i % 3 {
                0 => GrantSubject::User(format!("usr_{}", i % 300)),
                1 => GrantSubject::Group(format!("group-{}", i % 50)),
                _ => GrantSubject::Service(format!("service:{}", i % 100)),
            },
            // Shallow roles mostly, like real deployments; every tenth deep.
            role: format!("role-{}", if i % 10 == 0 { 99 } else { i % 20 }),
            scope: match i % 4 {
                0 => GrantScope::All,
                1 => GrantScope::Tenant(format!("tenant-{}", i % 7)),
                _ => GrantScope::Upstream(format!("server-{}", i % 10)),
            },
        })
        .collect();
    Policy::new(roles, grants).unwrap()
}

fn allow_all() -> Policy {
    Policy::new(
        RoleSet::build(&[]).unwrap(),
        vec![RoleGrant {
            subject: GrantSubject::User("usr_0".to_owned()),
            role: "owner".to_owned(),
            scope: GrantScope::All,
        }],
    )
    .unwrap()
}

/// Five forbids of the kinds the documentation shows.
const CONDITIONS: &str = r#"
@id("no-etc")
forbid (principal, action == Action::"tools/call", resource)
when { context.arguments.hasTag("path") && context.arguments.getTag("path") like "/etc/*" };
@id("page-size")
forbid (principal, action, resource)
when { context.long_arguments.hasTag("limit") && context.long_arguments.getTag("limit") > 100 };
@id("verified-mail")
forbid (principal, action == Action::"tools/call", resource == Tool::"send_mail")
unless { principal has email && principal.email_verified };
@id("tenant")
forbid (principal, action, resource in Upstream::"billing")
unless { principal has tenant && principal.tenant == "acme" };
@id("office-hours")
forbid (principal, action == Action::"tools/call", resource == Tool::"deploy")
when { context.hour < 8 || context.hour >= 18 || context.weekday > 5 };
"#;

/// Nanoseconds per call of `f` over `iterations` calls, after a tenth as many unmeasured.
fn measure(iterations: u32, mut f: impl FnMut() -> bool) -> f64 {
    for _ in 0..iterations / 10 + 1 {
        black_box(f());
    }
    let started = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    started.elapsed().as_secs_f64() * 1e9 / f64::from(iterations)
}

fn main() {
    let mut iterations = 200_000u32;
    let mut json_out = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--iterations" => iterations = args.next().and_then(|n| n.parse().ok()).unwrap(),
            "--json" => json_out = true,
            other => panic!("unknown argument {other:?}"),
        }
    }
    let big = big_policy();
    let all = allow_all();
    let no_groups: Vec<String> = Vec::new();
    let groups: Vec<String> = vec!["group-1".to_owned(), "group-7".to_owned()];
    let user = |subject, groups| Facts {
        subject,
        service: false,
        groups,
        tenant: Some("tenant-3"),
    };
    let call = |upstream, name| Action {
        permission: "mcp.tools.call",
        tenant: Some("tenant-3"),
        upstream: Some(upstream),
        name: Some(name),
        hints: None,
    };
    let list = Action {
        permission: "mcp.tools.list",
        tenant: Some("tenant-3"),
        upstream: Some("server-4"),
        name: None,
        hints: None,
    };
    // usr_0 holds role-0 everywhere and role-99 (every pattern) through grant 0.
    /// A case's name and the decision it times (whether it allows).
    type Case<'a> = (&'static str, Box<dyn Fn() -> bool + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "allow-all policy: tools/call",
            Box::new(|| {
                all.decide(&user("usr_0", &no_groups), &call("server-4", "tool_4_x"))
                    .is_allowed()
            }),
        ),
        (
            "100 roles, 1000 grants: tools/call allowed (own grant)",
            Box::new(|| {
                big.decide(&user("usr_0", &no_groups), &call("server-4", "tool_4_x"))
                    .is_allowed()
            }),
        ),
        (
            "100 roles, 1000 grants: tools/call allowed (group grant)",
            Box::new(|| {
                big.decide(&user("usr_999", &groups), &call("server-1", "tool_1_x"))
                    .is_allowed()
            }),
        ),
        (
            "100 roles, 1000 grants: tools/call denied (every grant tried)",
            Box::new(|| {
                big.decide(
                    &user("usr_0", &groups),
                    &call("server-4", "delete_everything"),
                )
                .is_allowed()
            }),
        ),
        (
            "100 roles, 1000 grants: tools/list",
            Box::new(|| big.decide(&user("usr_0", &no_groups), &list).is_allowed()),
        ),
    ];
    let conditions = Conditions::parse("bench.cedar", CONDITIONS).unwrap();
    let groups_of_caller = vec!["staff".to_owned()];
    let scopes = vec!["files:read".to_owned()];
    let amr = vec!["pwd".to_owned()];
    let caller = Caller {
        subject: "portcullis:usr_0",
        validator: "portcullis",
        service: false,
        tenant: Some("tenant-3"),
        email: Some("alice@example.com"),
        email_verified: true,
        name: None,
        login: None,
        client_id: Some("client_bench"),
        groups: &groups_of_caller,
        scopes: &scopes,
        amr: &amr,
    };
    let conditioned = |arguments| Request {
        caller,
        upstream: "server-4",
        method: "tools/call",
        target: Some("tool_4_x"),
        hints: None,
        arguments: Some(arguments),
        // 2026-12-04T10:00:00Z.
        now: 1_796_378_400,
    };
    let passing = conditioned(r#"{"path":"/srv/notes/a.txt","limit":20,"recursive":false}"#);
    let forbidden = conditioned(r#"{"path":"/etc/passwd","limit":20,"recursive":false}"#);
    let cases: Vec<Case<'_>> = cases
        .into_iter()
        .chain([
            (
                "conditions (5 forbids): tools/call, 3 arguments, none forbids",
                Box::new(|| conditions.evaluate(&passing) == Outcome::Pass)
                    as Box<dyn Fn() -> bool>,
            ),
            (
                "conditions (5 forbids): tools/call, 3 arguments, forbidden",
                Box::new(|| conditions.evaluate(&forbidden) == Outcome::Pass),
            ),
        ])
        .collect();
    let mut rows = Vec::new();
    for (name, f) in &cases {
        let expected = f();
        let ns = measure(iterations, f);
        rows.push((name.to_string(), ns, expected));
    }
    if json_out {
        let doc = json!({
            "roles": ROLES,
            "grants": GRANTS,
            "iterations": iterations,
            "decisions": rows.iter().map(|(name, ns, allowed)| json!({
                "case": name, "ns_per_decision": ns, "allowed": allowed,
            })).collect::<Vec<_>>(),
        });
        println!("{doc}");
    } else {
        println!("{:<64} {:>12} {:>8}", "decision", "ns/decision", "answer");
        for (name, ns, allowed) in &rows {
            println!(
                "{name:<64} {ns:>12.0} {:>8}",
                if *allowed { "allow" } else { "deny" }
            );
        }
    }
}
