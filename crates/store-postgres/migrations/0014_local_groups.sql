-- Local groups (`portcullis admin group …`) and their members. A role granted to a group
-- applies to its members; a change here moves the authorization version (and is announced on
-- `portcullis_authorization`) like a grant does.
CREATE TABLE local_groups (
    name        TEXT        NOT NULL PRIMARY KEY,
    tenant      TEXT,
    description TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE local_group_members (
    group_name TEXT NOT NULL REFERENCES local_groups (name) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_name, user_id)
);

CREATE INDEX local_group_members_user ON local_group_members (user_id);

CREATE TRIGGER local_groups_changed AFTER INSERT OR UPDATE OR DELETE ON local_groups
    FOR EACH STATEMENT EXECUTE FUNCTION authorization_changed();
CREATE TRIGGER local_group_members_changed AFTER INSERT OR UPDATE OR DELETE ON local_group_members
    FOR EACH STATEMENT EXECUTE FUNCTION authorization_changed();
