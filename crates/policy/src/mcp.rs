//! MCP methods and what they need: the permission a client request needs, the requests every
//! authenticated caller may make, and the list methods whose results are filtered item by item.
//!
//! Fail closed: a method not in these tables is unknown, and an unknown method is denied.

/// What a client-to-server MCP method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodRule {
    /// Part of the protocol's plumbing (the handshake, liveness, a client's own notifications):
    /// every authenticated caller may send it.
    Open,
    /// Needs this permission of the catalog.
    Needs(&'static str),
    /// Not a method Portcullis knows: denied.
    Unknown,
}

/// The rule for `method`, exactly as spelled (JSON-RPC method names are case-sensitive).
pub fn method_rule(method: &str) -> MethodRule {
    match method {
        "initialize"
        | "ping"
        | "server/discover"
        | "notifications/initialized"
        | "notifications/cancelled"
        | "notifications/progress"
        | "notifications/roots/list_changed" => MethodRule::Open,
        other => match mcp_permission(other) {
            Some(permission) => MethodRule::Needs(permission),
            None => MethodRule::Unknown,
        },
    }
}

/// The permission an MCP method needs, when it is one Portcullis knows.
pub fn mcp_permission(method: &str) -> Option<&'static str> {
    Some(match method {
        "tools/list" => "mcp.tools.list",
        "tools/call" => "mcp.tools.call",
        "prompts/list" => "mcp.prompts.list",
        "prompts/get" => "mcp.prompts.get",
        "resources/list" => "mcp.resources.list",
        "resources/templates/list" => "mcp.resources.templates.list",
        "resources/read" => "mcp.resources.read",
        "resources/subscribe" | "resources/unsubscribe" => "mcp.resources.subscribe",
        "completion/complete" => "mcp.completion.complete",
        "logging/setLevel" => "mcp.logging.set_level",
        "tasks/list" => "mcp.tasks.list",
        "tasks/get" => "mcp.tasks.get",
        "tasks/result" => "mcp.tasks.result",
        "tasks/cancel" => "mcp.tasks.cancel",
        _ => return None,
    })
}

/// A list whose items are shown only to callers who may use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
    ResourceTemplates,
}

impl ListKind {
    pub const ALL: [ListKind; 4] = [
        ListKind::Tools,
        ListKind::Prompts,
        ListKind::Resources,
        ListKind::ResourceTemplates,
    ];

    /// The list `method` returns, if it is a list method.
    pub fn of_method(method: &str) -> Option<ListKind> {
        Some(match method {
            "tools/list" => ListKind::Tools,
            "prompts/list" => ListKind::Prompts,
            "resources/list" => ListKind::Resources,
            "resources/templates/list" => ListKind::ResourceTemplates,
            _ => return None,
        })
    }

    /// The member of `result` holding the items.
    pub fn result_key(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources => "resources",
            ListKind::ResourceTemplates => "resourceTemplates",
        }
    }

    /// The member of an item that names it for permissions.
    pub fn name_key(self) -> &'static str {
        match self {
            ListKind::Tools | ListKind::Prompts => "name",
            ListKind::Resources => "uri",
            ListKind::ResourceTemplates => "uriTemplate",
        }
    }

    /// The permission an item is shown for: the one that uses it.
    pub fn item_permission(self) -> &'static str {
        match self {
            ListKind::Tools => "mcp.tools.call",
            ListKind::Prompts => "mcp.prompts.get",
            ListKind::Resources | ListKind::ResourceTemplates => "mcp.resources.read",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::is_permission;

    /// Every method that needs a permission.
    pub(crate) const NEEDING_PERMISSION: [&str; 15] = [
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "completion/complete",
        "logging/setLevel",
        "tasks/list",
        "tasks/get",
        "tasks/result",
        "tasks/cancel",
    ];

    #[test]
    fn every_permission_named_here_is_in_the_catalog() {
        for method in NEEDING_PERMISSION {
            let Some(permission) = mcp_permission(method) else {
                panic!("{method} has no permission");
            };
            assert!(is_permission(permission), "{permission}");
            assert_eq!(method_rule(method), MethodRule::Needs(permission));
        }
        for kind in ListKind::ALL {
            assert!(is_permission(kind.item_permission()));
        }
    }

    #[test]
    fn unknown_and_misspelt_methods_are_unknown() {
        for method in [
            "",
            "Tools/Call",
            "tools/call ",
            "tools/call\u{0}",
            "tools/*",
            "sampling/createMessage",
            "elicitation/create",
            "notifications/tools/list_changed",
            "notifications/message",
            "rpc.discover",
        ] {
            assert_eq!(method_rule(method), MethodRule::Unknown, "{method:?}");
        }
        assert_eq!(method_rule("initialize"), MethodRule::Open);
        assert_eq!(method_rule("notifications/cancelled"), MethodRule::Open);
    }
}
