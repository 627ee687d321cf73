-- A counter that moves whenever a custom role or a role grant changes, whoever changes it (the
-- CLI, another replica, an account created with default roles): each replica polls it and
-- rebuilds its authorization policy when it moves. The change is also announced on the
-- `portcullis_authorization` channel for replicas that LISTEN.
CREATE TABLE authorization_version (
    id      SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    version BIGINT   NOT NULL
);

INSERT INTO authorization_version (id, version) VALUES (1, 0);

CREATE FUNCTION authorization_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE authorization_version SET version = version + 1 WHERE id = 1;
    PERFORM pg_notify('portcullis_authorization', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER roles_changed AFTER INSERT OR UPDATE OR DELETE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION authorization_changed();
CREATE TRIGGER role_grants_changed AFTER INSERT OR UPDATE OR DELETE ON role_grants
    FOR EACH STATEMENT EXECUTE FUNCTION authorization_changed();
