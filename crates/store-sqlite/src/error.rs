//! Mapping `sqlx` and SQLite errors onto [`StoreError`].
//!
//! Unique-key violations become `Conflict`; anything that says "the database cannot serve us right
//! now" (busy or locked past `busy_timeout`, I/O errors, a full disk, a closed or exhausted pool)
//! becomes `Unavailable`, which the server answers with 503.

use portcullis_store::StoreError;
use sqlx::migrate::MigrateError;

// Primary SQLite result codes (the low byte of an extended code), from sqlite3.h.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_NOMEM: i32 = 7;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_PROTOCOL: i32 = 15;

pub(crate) fn from_sqlx(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            let primary_code = db
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .map(|code| code & 0xff);
            if db.is_unique_violation() {
                StoreError::Conflict(db.message().to_owned())
            } else if primary_code.is_some_and(|code| {
                matches!(
                    code,
                    SQLITE_BUSY
                        | SQLITE_LOCKED
                        | SQLITE_NOMEM
                        | SQLITE_IOERR
                        | SQLITE_FULL
                        | SQLITE_CANTOPEN
                        | SQLITE_PROTOCOL
                )
            }) {
                StoreError::Unavailable(db.to_string())
            } else {
                StoreError::Backend(db.to_string())
            }
        }
        sqlx::Error::Io(_)
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

/// A timestamp that cannot be stored or read back; `time`'s range is far inside SQLite's, so this
/// only fires on a corrupted row.
pub(crate) fn timestamp_out_of_range(what: &str) -> StoreError {
    StoreError::Backend(format!("{what} timestamp out of range"))
}
