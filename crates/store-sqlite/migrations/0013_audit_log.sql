-- The audit log (docs/audit.md): append-only and hash-chained. Each row carries the hash of the
-- row before it (`prev_hash`) and its own (`hash`, SHA-256 over its fields and `prev_hash`), so a
-- changed, removed or reordered row breaks the chain, which `portcullis admin audit verify`
-- finds. Rows are appended in the same `BEGIN IMMEDIATE` transaction as the change they record,
-- which also serialises appends: the chain cannot fork. Times are microseconds since the epoch.
CREATE TABLE audit_log (
    seq        INTEGER NOT NULL PRIMARY KEY,
    time       INTEGER NOT NULL,
    actor      TEXT,
    tenant     TEXT,
    client     TEXT,
    action     TEXT    NOT NULL,
    target     TEXT,
    decision   TEXT    NOT NULL,
    reason     TEXT,
    request_id TEXT,
    source     TEXT,
    prev_hash  BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash       BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

CREATE INDEX audit_log_time ON audit_log (time);

-- Append-only: rows are never changed or deleted, not even by Portcullis itself.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
