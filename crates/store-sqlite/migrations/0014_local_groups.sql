-- Local groups (`portcullis admin group …`) and their members. A role granted to a group
-- applies to its members; a change here moves the authorization version like a grant does.
CREATE TABLE local_groups (
    name        TEXT    NOT NULL PRIMARY KEY,
    tenant      TEXT,
    description TEXT,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE local_group_members (
    group_name TEXT NOT NULL REFERENCES local_groups (name) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_name, user_id)
) STRICT;

CREATE INDEX local_group_members_user ON local_group_members (user_id);

CREATE TRIGGER local_groups_inserted AFTER INSERT ON local_groups
BEGIN UPDATE authorization_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER local_groups_deleted AFTER DELETE ON local_groups
BEGIN UPDATE authorization_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER local_group_members_inserted AFTER INSERT ON local_group_members
BEGIN UPDATE authorization_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER local_group_members_deleted AFTER DELETE ON local_group_members
BEGIN UPDATE authorization_version SET version = version + 1 WHERE id = 1; END;
