-- The audit log (docs/audit.md): append-only and hash-chained. Each row carries the hash of the
-- row before it (`prev_hash`) and its own (`hash`, SHA-256 over its fields and `prev_hash`), so a
-- changed, removed or reordered row breaks the chain, which `portcullis admin audit verify`
-- finds. Rows are appended in the same transaction as the change they record; appenders take a
-- transaction-scoped advisory lock first, so replicas writing at once take turns and the chain
-- cannot fork.
CREATE TABLE audit_log (
    seq        BIGINT      NOT NULL PRIMARY KEY,
    time       TIMESTAMPTZ NOT NULL,
    actor      TEXT,
    tenant     TEXT,
    client     TEXT,
    action     TEXT        NOT NULL,
    target     TEXT,
    decision   TEXT        NOT NULL,
    reason     TEXT,
    request_id TEXT,
    source     TEXT,
    prev_hash  BYTEA       NOT NULL CHECK (length(prev_hash) = 32),
    hash       BYTEA       NOT NULL CHECK (length(hash) = 32)
);

CREATE INDEX audit_log_time ON audit_log (time);

-- Append-only: rows are never changed or deleted, not even by Portcullis itself.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
