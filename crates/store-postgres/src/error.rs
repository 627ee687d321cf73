//! Mapping `sqlx` and PostgreSQL errors onto [`StoreError`].
//!
//! Unique-key violations (SQLSTATE 23505) become `Conflict`; anything that says "the server cannot
//! serve us right now" (connection exceptions, too many connections, shutdown or recovery, a
//! cancelled or timed-out statement, a closed or exhausted pool) becomes `Unavailable`, which the
//! server answers with 503. Messages never include the connection URL, which may hold a password.

use portcullis_store::StoreError;
use sqlx::migrate::MigrateError;

/// SQLSTATE classes and codes that mean the server is unreachable, overloaded or going away.
fn is_unavailable(sqlstate: &str) -> bool {
    // Class 08: connection exception; class 53: insufficient resources (disk full, out of memory,
    // too many connections); class 58: system error (I/O).
    sqlstate.starts_with("08")
        || sqlstate.starts_with("53")
        || sqlstate.starts_with("58")
        // query_canceled (statement_timeout), admin_shutdown, crash_shutdown, cannot_connect_now.
        || matches!(sqlstate, "57014" | "57P01" | "57P02" | "57P03")
}

pub(crate) fn from_sqlx(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                StoreError::Conflict(db.message().to_owned())
            } else if db.code().is_some_and(|code| is_unavailable(&code)) {
                StoreError::Unavailable(db.to_string())
            } else {
                StoreError::Backend(db.to_string())
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
        sqlx::Error::Configuration(_) => StoreError::Config(err.to_string()),
        sqlx::Error::Migrate(err) => from_migrate(*err),
        other => StoreError::Backend(other.to_string()),
    }
}

pub(crate) fn from_migrate(err: MigrateError) -> StoreError {
    match err {
        // Failing to reach the database is not a broken migration.
        MigrateError::Execute(err) => match from_sqlx(err) {
            StoreError::Unavailable(message) => StoreError::Unavailable(message),
            other => StoreError::Migration(other.to_string()),
        },
        other => StoreError::Migration(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates() {
        for code in [
            "08006", "08001", "53300", "53100", "57P01", "57P03", "57014", "58030",
        ] {
            assert!(is_unavailable(code), "{code}");
        }
        for code in ["23505", "23503", "40001", "42P01", "22001"] {
            assert!(!is_unavailable(code), "{code}");
        }
    }

    #[test]
    fn pool_errors_are_unavailable() {
        assert!(matches!(
            from_sqlx(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            from_sqlx(sqlx::Error::PoolClosed),
            StoreError::Unavailable(_)
        ));
    }
}
