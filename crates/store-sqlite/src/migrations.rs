//! The SQLite schema migrations, embedded in the binary.
//!
//! The SQL files in `migrations/` are `include_str!`'d and listed here rather than read by
//! `sqlx::migrate!`, which would need sqlx's `macros` feature (and a second build of the TLS stack
//! for the proc-macro host). The versions, descriptions and checksums are the ones `sqlx migrate`
//! (and `Migrator::new` on the directory) would compute, and a test checks that this list and the
//! directory agree, so a file added there but not here fails the build's tests.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// `(version, description, sql)` of every migration, oldest first.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "relay sessions",
        include_str!("../migrations/0001_relay_sessions.sql"),
    ),
    (
        2,
        "api keys",
        include_str!("../migrations/0002_api_keys.sql"),
    ),
    (
        3,
        "signing keys",
        include_str!("../migrations/0003_signing_keys.sql"),
    ),
    (
        4,
        "api keys revoked",
        include_str!("../migrations/0004_api_keys_revoked.sql"),
    ),
    (
        5,
        "oauth clients",
        include_str!("../migrations/0005_oauth_clients.sql"),
    ),
    (
        6,
        "accounts",
        include_str!("../migrations/0006_accounts.sql"),
    ),
    (
        7,
        "authorization server",
        include_str!("../migrations/0007_authorization_server.sql"),
    ),
    (
        8,
        "account security",
        include_str!("../migrations/0008_account_security.sql"),
    ),
    (
        9,
        "webauthn ceremonies",
        include_str!("../migrations/0009_webauthn_ceremonies.sql"),
    ),
    (
        10,
        "federation",
        include_str!("../migrations/0010_federation.sql"),
    ),
    (
        11,
        "authorization model",
        include_str!("../migrations/0011_authorization_model.sql"),
    ),
    (
        12,
        "authorization version",
        include_str!("../migrations/0012_authorization_version.sql"),
    ),
    (
        13,
        "audit log",
        include_str!("../migrations/0013_audit_log.sql"),
    ),
    (
        14,
        "local groups",
        include_str!("../migrations/0014_local_groups.sql"),
    ),
];

/// A migrator over [`MIGRATIONS`] that refuses a database holding migrations it does not know.
pub(crate) fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}
