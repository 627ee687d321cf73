//! Table-driven tests of the decision: who holds what where, and what each may do.

use super::*;
use crate::grants::GrantScope;
use crate::roles::RoleDefinition;

fn grant(subject: GrantSubject, role: &str, scope: GrantScope) -> RoleGrant {
    RoleGrant {
        subject,
        role: role.to_owned(),
        scope,
    }
}

fn user(id: &str) -> GrantSubject {
    GrantSubject::User(id.to_owned())
}

fn policy() -> Policy {
    let roles = RoleSet::build(&[
        RoleDefinition {
            name: "files-reader".into(),
            inherits: vec!["viewer".into()],
            permissions: vec!["mcp.tools.call:files/read_*".into()],
        },
        RoleDefinition {
            name: "oncall".into(),
            inherits: vec![],
            permissions: vec!["mcp.tools.call:*/restart_*".into()],
        },
    ])
    .unwrap();
    Policy::new(
        roles,
        vec![
            grant(user("owner"), "owner", GrantScope::All),
            grant(user("alice"), "files-reader", GrantScope::All),
            grant(
                user("bob"),
                "developer",
                GrantScope::Upstream("notes".into()),
            ),
            grant(
                user("tara"),
                "tenant_admin",
                GrantScope::Tenant("acme".into()),
            ),
            grant(user("sam"), "security_admin", GrantScope::All),
            grant(GrantSubject::Group("sre".into()), "oncall", GrantScope::All),
            grant(
                GrantSubject::Service("ci".into()),
                "service",
                GrantScope::Upstream("files".into()),
            ),
        ],
    )
    .unwrap()
}

struct Case {
    who: &'static str,
    service: bool,
    groups: &'static [&'static str],
    tenant: Option<&'static str>,
    permission: &'static str,
    action_tenant: Option<&'static str>,
    upstream: Option<&'static str>,
    name: Option<&'static str>,
    allowed: bool,
}

const fn mcp(
    who: &'static str,
    permission: &'static str,
    upstream: &'static str,
    name: Option<&'static str>,
    allowed: bool,
) -> Case {
    Case {
        who,
        service: false,
        groups: &[],
        tenant: None,
        permission,
        action_tenant: None,
        upstream: Some(upstream),
        name,
        allowed,
    }
}

const fn admin(
    who: &'static str,
    permission: &'static str,
    action_tenant: Option<&'static str>,
    allowed: bool,
) -> Case {
    Case {
        who,
        service: false,
        groups: &[],
        tenant: None,
        permission,
        action_tenant,
        upstream: None,
        name: None,
        allowed,
    }
}

#[test]
fn decisions_follow_roles_scopes_and_patterns() {
    let call = "mcp.tools.call";
    let cases = [
        // A custom role narrowed to read_* tools of files, inheriting the viewer's lists.
        mcp("alice", call, "files", Some("read_file"), true),
        mcp("alice", call, "files", Some("write_file"), false),
        mcp("alice", call, "files", Some("READ_file"), false),
        mcp("alice", call, "notes", Some("read_file"), false),
        mcp("alice", "mcp.tools.list", "notes", None, true),
        mcp("alice", "mcp.resources.subscribe", "files", None, false),
        // A developer granted on one upstream only.
        mcp("bob", call, "notes", Some("anything"), true),
        mcp("bob", call, "files", Some("anything"), false),
        // Nobody else holds anything.
        mcp("mallory", "mcp.tools.list", "files", None, false),
        // The owner may do everything.
        mcp("owner", call, "files", Some("rm_rf"), true),
        admin("owner", "keys.rotate", None, true),
        // A tenant admin acts in its tenant only, and never outside every tenant.
        admin("tara", "users.create", Some("acme"), true),
        admin("tara", "users.create", Some("globex"), false),
        admin("tara", "users.create", None, false),
        admin("tara", "keys.rotate", None, false),
        // A security admin rotates keys and reads the audit log but creates no account.
        admin("sam", "keys.rotate", None, true),
        admin("sam", "audit.read", None, true),
        admin("sam", "users.create", None, false),
        // Unknown permissions are denied even to the owner.
        admin("owner", "users.fly", None, false),
    ];
    let policy = policy();
    for case in cases.iter().chain(&[
        // Group grants reach members only.
        Case {
            groups: &["sre"],
            ..mcp("carol", call, "db", Some("restart_primary"), true)
        },
        mcp("carol", call, "db", Some("restart_primary"), false),
        // Service principals: their own grants, never a user's of the same name, never groups.
        Case {
            service: true,
            ..mcp("ci", call, "files", Some("deploy"), true)
        },
        mcp("ci", call, "files", Some("deploy"), false),
        Case {
            service: true,
            groups: &["sre"],
            ..mcp("ci", call, "db", Some("restart_primary"), false)
        },
        Case {
            service: true,
            ..mcp("alice", call, "files", Some("read_file"), false)
        },
    ]) {
        let groups: Vec<String> = case.groups.iter().map(|g| (*g).to_owned()).collect();
        let facts = Facts {
            subject: case.who,
            service: case.service,
            groups: &groups,
            tenant: case.tenant,
        };
        let action = Action {
            permission: case.permission,
            tenant: case.action_tenant,
            upstream: case.upstream,
            name: case.name,
            hints: None,
        };
        let decision = policy.decide(&facts, &action);
        assert_eq!(
            decision.is_allowed(),
            case.allowed,
            "{} (service {}, groups {:?}) {} {:?} {:?} {:?}: {decision:?}",
            case.who,
            case.service,
            case.groups,
            case.permission,
            case.action_tenant,
            case.upstream,
            case.name
        );
    }
}

#[test]
fn a_decision_says_which_grant_and_pattern_allowed_it_and_why_not() {
    let policy = policy();
    let facts = Facts {
        subject: "alice",
        service: false,
        groups: &[],
        tenant: None,
    };
    let action = Action {
        permission: "mcp.tools.call",
        tenant: None,
        upstream: Some("files"),
        name: Some("read_file"),
        hints: None,
    };
    let Decision::Allowed(reason) = policy.decide(&facts, &action) else {
        panic!("allowed");
    };
    assert_eq!(reason.grant.role, "files-reader");
    assert_eq!(reason.pattern, "mcp.tools.call:files/read_*");
    let denied = policy.decide(
        &facts,
        &Action {
            name: Some("write_file"),
            hints: None,
            ..action
        },
    );
    assert_eq!(denied, Decision::Denied(Denial::NotAllowed));
    let stranger = Facts {
        subject: "nobody",
        ..facts
    };
    assert_eq!(
        policy.decide(&stranger, &action),
        Decision::Denied(Denial::NoGrant)
    );
    assert_eq!(
        policy.decide(
            &facts,
            &Action {
                permission: "mcp.tools.explode",
                ..action
            }
        ),
        Decision::Denied(Denial::UnknownPermission)
    );
}

#[test]
fn a_grant_of_an_unknown_role_is_refused() {
    let roles = RoleSet::build(&[]).unwrap();
    let error = Policy::new(roles, vec![grant(user("a"), "wizard", GrantScope::All)]).unwrap_err();
    assert!(error.to_string().contains("wizard"), "{error}");
}

/// The merged index decides exactly as trying each grant in order would: the same answer, the
/// same grant and the same pattern, for roles that inherit each other and grants in several
/// scopes, given in any order.
#[test]
fn merged_grants_decide_as_a_grant_by_grant_scan() {
    let mut definitions = Vec::new();
    for i in 0..12 {
        definitions.push(RoleDefinition {
            name: format!("chain-{i}"),
            inherits: if i == 0 {
                vec![]
            } else {
                vec![format!("chain-{}", i - 1)]
            },
            permissions: vec![
                format!("mcp.tools.call:files/tool-{i}-*"),
                format!("mcp.tools.call:*/shared-{}", i % 3),
            ],
        });
    }
    let roles = RoleSet::build(&definitions).unwrap();
    let scopes = [
        GrantScope::All,
        GrantScope::Upstream("files".into()),
        GrantScope::Upstream("notes".into()),
        GrantScope::Tenant("acme".into()),
    ];
    let mut grants = Vec::new();
    for i in (0..12).rev() {
        grants.push(grant(
            GrantSubject::Service("svc".into()),
            &format!("chain-{i}"),
            scopes[i % scopes.len()].clone(),
        ));
    }
    grants.push(grant(
        GrantSubject::Service("svc".into()),
        "viewer",
        GrantScope::All,
    ));
    let policy = Policy::new(roles, grants.clone()).unwrap();
    let mut sorted = grants;
    sorted.sort();
    let facts = Facts {
        subject: "svc",
        service: true,
        groups: &[],
        tenant: None,
    };
    let mut allowed = 0;
    for upstream in ["files", "notes", "other"] {
        for tenant in [None, Some("acme")] {
            for name in [
                "tool-0-a",
                "tool-5-b",
                "tool-11-c",
                "tool-12-d",
                "shared-0",
                "shared-2",
                "x",
            ] {
                let action = Action {
                    permission: "mcp.tools.call",
                    tenant,
                    upstream: Some(upstream),
                    name: Some(name),
                    hints: None,
                };
                let facts = Facts { tenant, ..facts };
                let scan = sorted.iter().find_map(|g| {
                    if !g.scope.covers(action.tenant, action.upstream) {
                        return None;
                    }
                    policy
                        .roles()
                        .covering(&g.role, action.permission)
                        .find(|p| {
                            p.matches_tool(action.permission, action.upstream, action.name, None)
                        })
                        .map(|p| Reason {
                            grant: g.clone(),
                            pattern: p.as_str().to_owned(),
                        })
                });
                let decision = policy.decide(&facts, &action);
                match scan {
                    Some(reason) => {
                        allowed += 1;
                        assert_eq!(
                            decision,
                            Decision::Allowed(reason),
                            "{upstream} {tenant:?} {name}"
                        );
                        assert!(policy.allows(&facts, &action));
                    }
                    None => {
                        assert_eq!(
                            decision,
                            Decision::Denied(Denial::NotAllowed),
                            "{upstream} {tenant:?} {name}"
                        );
                        assert!(!policy.allows(&facts, &action));
                    }
                }
            }
        }
    }
    assert!(
        allowed > 10 && allowed < 42,
        "{allowed} of 42 allowed: the table tests both"
    );
}
