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
CREATE TRIGGER client_deleted AFTER DELETE ON clients
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('client', OLD.client_id, NULL, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
