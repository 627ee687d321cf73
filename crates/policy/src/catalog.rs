//! Every permission Portcullis knows: each administrative action and each MCP capability has a
//! name here, and nothing else can be granted. `docs/permissions.md` is rendered from
//! [`PERMISSIONS`] and a test keeps it current.

/// Whether a permission guards an administrative action or MCP traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PermissionKind {
    Admin,
    /// MCP permissions can be narrowed to an upstream and to item names
    /// (`mcp.tools.call:files/read_*`).
    Mcp,
}

/// One permission: its name and what it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionInfo {
    pub name: &'static str,
    pub kind: PermissionKind,
    pub description: &'static str,
}

const fn admin(name: &'static str, description: &'static str) -> PermissionInfo {
    PermissionInfo {
        name,
        kind: PermissionKind::Admin,
        description,
    }
}

const fn mcp(name: &'static str, description: &'static str) -> PermissionInfo {
    PermissionInfo {
        name,
        kind: PermissionKind::Mcp,
        description,
    }
}

/// The catalog, grouped by what the permissions are about.
pub const PERMISSIONS: &[PermissionInfo] = &[
    admin("users.list", "List accounts."),
    admin(
        "users.read",
        "See one account: its fields, factors in use, sessions and grants.",
    ),
    admin("users.create", "Create an account."),
    admin(
        "users.update",
        "Change an account's email, display name or tenant.",
    ),
    admin(
        "users.disable",
        "Disable an account (its sessions end and its grants are revoked).",
    ),
    admin("users.enable", "Enable a disabled account."),
    admin("users.delete", "Delete an account and what is its own."),
    admin(
        "users.reset_password",
        "Give an account a new one-time password.",
    ),
    admin(
        "users.reset_mfa",
        "Remove an account's second factors and recovery codes.",
    ),
    admin(
        "users.link_identity",
        "Link or unlink an identity at a provider for an account.",
    ),
    admin("roles.list", "List the built-in and custom roles."),
    admin(
        "roles.read",
        "See a role's permissions and what it inherits.",
    ),
    admin("roles.create", "Create a custom role."),
    admin(
        "roles.update",
        "Change a custom role's permissions or inheritance.",
    ),
    admin("roles.delete", "Delete a custom role."),
    admin("grants.list", "List role grants."),
    admin(
        "grants.create",
        "Grant a role to a user, group or service principal.",
    ),
    admin("grants.revoke", "Take a role grant back."),
    admin("groups.list", "List groups."),
    admin("groups.read", "See a group and its members."),
    admin("groups.create", "Create a local group."),
    admin("groups.update", "Rename a group or change its description."),
    admin("groups.delete", "Delete a local group."),
    admin("groups.members.add", "Add an account to a group."),
    admin("groups.members.remove", "Remove an account from a group."),
    admin("tenants.list", "List tenants."),
    admin("tenants.read", "See a tenant and its settings."),
    admin("tenants.create", "Create a tenant."),
    admin("tenants.update", "Change a tenant's settings."),
    admin("tenants.delete", "Delete a tenant."),
    admin("clients.list", "List OAuth clients."),
    admin("clients.read", "See an OAuth client."),
    admin("clients.create", "Register an OAuth client."),
    admin("clients.update", "Change an OAuth client's metadata."),
    admin("clients.delete", "Delete an OAuth client (its grants end)."),
    admin(
        "clients.rotate_secret",
        "Give a confidential client a new secret.",
    ),
    admin(
        "api_keys.list",
        "List API keys and service tokens (never their secrets).",
    ),
    admin("api_keys.create", "Create an API key or service token."),
    admin("api_keys.revoke", "Revoke an API key or service token."),
    admin(
        "tokens.list",
        "List grants and the tokens issued under them.",
    ),
    admin(
        "tokens.revoke",
        "Revoke an access token, a refresh token family or a grant.",
    ),
    admin("sessions.list", "List browser sessions."),
    admin("sessions.revoke", "End browser sessions."),
    admin("keys.list", "List signing keys and their state."),
    admin("keys.rotate", "Rotate the signing keys."),
    admin("audit.read", "Read the audit log."),
    admin("audit.export", "Export the audit log."),
    admin(
        "config.read",
        "See the running configuration (without secrets).",
    ),
    admin(
        "upstreams.list",
        "List the MCP servers Portcullis publishes.",
    ),
    admin("upstreams.read", "See an MCP server's settings and health."),
    admin(
        "upstreams.restart",
        "Restart a stdio MCP server's child processes.",
    ),
    admin("identity_providers.list", "List the identity providers."),
    admin("policies.read", "Read the policy conditions."),
    admin(
        "authz.explain",
        "Ask why a principal may or may not do something.",
    ),
    admin("metrics.read", "Read the Prometheus metrics."),
    mcp(
        "mcp.tools.list",
        "List an MCP server's tools (filtered to those the caller may call).",
    ),
    mcp("mcp.tools.call", "Call a tool."),
    mcp("mcp.prompts.list", "List prompts (filtered)."),
    mcp("mcp.prompts.get", "Get a prompt."),
    mcp("mcp.resources.list", "List resources (filtered)."),
    mcp(
        "mcp.resources.templates.list",
        "List resource templates (filtered).",
    ),
    mcp("mcp.resources.read", "Read a resource."),
    mcp(
        "mcp.resources.subscribe",
        "Subscribe to and unsubscribe from a resource's updates.",
    ),
    mcp(
        "mcp.completion.complete",
        "Ask for argument completions of a prompt or resource template.",
    ),
    mcp(
        "mcp.logging.set_level",
        "Set an MCP server's logging level.",
    ),
    mcp("mcp.tasks.list", "List the caller's tasks."),
    mcp("mcp.tasks.get", "See a task's state."),
    mcp("mcp.tasks.result", "Get a task's result."),
    mcp("mcp.tasks.cancel", "Cancel a task."),
];

/// Whether `name` is a permission of the catalog (a hash lookup: decisions ask it every time).
pub fn is_permission(name: &str) -> bool {
    static NAMES: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| PERMISSIONS.iter().map(|p| p.name).collect())
        .contains(name)
}

/// The catalog entry of `name`.
pub fn info(name: &str) -> Option<&'static PermissionInfo> {
    PERMISSIONS.iter().find(|p| p.name == name)
}

/// The catalog as a Markdown table (the body of `docs/permissions.md`).
pub fn render_markdown() -> String {
    let mut out = String::from(
        "# Permissions\n\n\
         <!-- Generated from crates/policy/src/catalog.rs; a test fails when this file is stale. \
         Regenerate with `UPDATE_DOCS=1 cargo test -p portcullis-policy`. -->\n\n\
         Every administrative action and every MCP capability is one of these permissions. Roles \
         list them (`[[roles]] permissions = [...]`) as exact names, families ending in `.*` \
         (`users.*`, `mcp.tools.*`) or `*`. MCP permissions can be narrowed to an upstream and to \
         item names: `mcp.tools.call:files` (every tool of `files`), `mcp.tools.call:files/read_*` \
         (its tools whose names start with `read_`), `mcp.resources.read:*/file:///srv/*`. Names \
         compare exactly, case included; `*` matches any run of characters. A pattern for tool \
         calls can end with `#readOnly` or `#nonDestructive` (`mcp.tools.call:files#readOnly`): \
         it then allows only calls of tools whose MCP annotations say so.\n\n\
         | Permission | Kind | Allows |\n|---|---|---|\n",
    );
    for p in PERMISSIONS {
        let kind = match p.kind {
            PermissionKind::Admin => "admin",
            PermissionKind::Mcp => "MCP",
        };
        out.push_str(&format!("| `{}` | {kind} | {} |\n", p.name, p.description));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_large_unique_and_well_formed() {
        assert!(PERMISSIONS.len() >= 60, "{}", PERMISSIONS.len());
        let mut names: Vec<_> = PERMISSIONS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PERMISSIONS.len(), "duplicate names");
        for p in PERMISSIONS {
            assert!(
                p.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
                "{}",
                p.name
            );
            assert_eq!(p.name.starts_with("mcp."), p.kind == PermissionKind::Mcp);
            assert!(p.description.ends_with('.'), "{}", p.name);
        }
    }

    #[test]
    fn docs_permissions_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/permissions.md");
        let rendered = render_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &rendered).unwrap_or_default();
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == rendered,
            "docs/permissions.md is stale: run UPDATE_DOCS=1 cargo test -p portcullis-policy"
        );
    }
}
