-- Deleting a service client revokes the access tokens already issued to it: the feed of
-- 0002_revocations.sql gets a third kind, 'client', whose subject is the client id. Every
-- replica refuses a token whose `client_id` claim names a deleted client for one access-token
-- lifetime after the deletion (every token of it has expired by then), and drops the client
-- from its in-memory credentials cache. Client ids are random (svc_ + 128 bits) and never
-- reused, so refusing by id cannot catch a later, different client.
--
-- Written by a trigger, like the other kinds, so the entry is part of the deleting transaction
-- and no code path (HTTP, CLI, a future bulk delete) can forget it.
--
-- Rolling upgrades: a replica still running the previous version reads a 'client' row as a
-- revoked session whose sid is "svc_...". No session has such an id (sids are UUIDs), so it
-- refuses nothing more and nothing less than before; it only keeps admitting the deleted
-- client's tokens, as it always did, until it is upgraded.

-- The kind's CHECK (named by PostgreSQL after the inline column constraint of 0002) admits the
-- new kind. Widening it cannot fail on existing rows; the table holds one access-token
-- lifetime of entries, so validating it under the brief lock is cheap.
ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check
    CHECK (kind IN ('session', 'token', 'client'));  -- a sid, a jti, or a client id

CREATE FUNCTION sesame_client_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO revocations (kind, subject) VALUES ('client', OLD.client_id);
    RETURN OLD;
END;
$$;

CREATE TRIGGER client_deleted AFTER DELETE ON clients
FOR EACH ROW EXECUTE FUNCTION sesame_client_deleted();
