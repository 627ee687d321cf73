-- A counter that moves whenever a custom role or a role grant changes, whoever changes it (the
-- CLI, another replica, an account created with default roles): each replica polls it and
-- rebuilds its authorization policy when it moves.
CREATE TABLE authorization_version (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;

INSERT INTO authorization_version (id, version) VALUES (1, 0);

CREATE TRIGGER roles_inserted AFTER INSERT ON roles
BEGIN UPDATE authorization_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER roles_updated AFTER UPDATE ON roles
BEGIN UPDATE authorization_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER roles_deleted AFTER DELETE ON roles
BEGIN UPDATE authorization_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER role_grants_inserted AFTER INSERT ON role_grants
BEGIN UPDATE authorization_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER role_grants_updated AFTER UPDATE ON role_grants
BEGIN UPDATE authorization_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER role_grants_deleted AFTER DELETE ON role_grants
BEGIN UPDATE authorization_version SET version = version + 1 WHERE id = 1; END;
