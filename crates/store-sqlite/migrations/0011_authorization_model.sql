-- Custom roles and role grants managed with `portcullis admin role …` (beside `[[roles]]` in the
-- configuration). Timestamps are INTEGER microseconds since the Unix epoch (UTC), as in 0001.

-- `inherits` and `permissions` hold one name or pattern per line.
CREATE TABLE roles (
    name        TEXT    NOT NULL PRIMARY KEY,
    inherits    TEXT    NOT NULL,
    permissions TEXT    NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- A role granted to a user, group or service principal, everywhere, in a tenant or on an
-- upstream (`scope` is '' for everywhere). A role granted is not deleted before its grants.
CREATE TABLE role_grants (
    id           TEXT    NOT NULL PRIMARY KEY,
    grantee_kind TEXT    NOT NULL CHECK (grantee_kind IN ('user', 'group', 'service')),
    grantee      TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    scope_kind   TEXT    NOT NULL CHECK (scope_kind IN ('all', 'tenant', 'upstream')),
    scope        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (grantee_kind, grantee, role, scope_kind, scope)
) STRICT;

CREATE INDEX role_grants_role ON role_grants (role);
