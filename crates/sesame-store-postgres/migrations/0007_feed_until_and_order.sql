-- The revocation feed of 0002/0004, made safe against configuration changes and late commits,
-- and carrying key changes.
--
-- 1. Every entry says how long it matters (`until`): the latest moment a token it covers can
--    still be accepted. Until now a session's or a client's entry was kept for the *current*
--    access-token lifetime, so a restart with a shorter SESAME_ACCESS_TTL forgot revocations of
--    tokens issued under the longer one. The access lifetime that matters is the one in force
--    when each token was issued, so the session (and the client) remember the expiry of the
--    newest access token issued to them, and the triggers copy it into the entry.
-- 2. Pollers read the feed in commit order. A poll by timestamp (or by identity: values are
--    taken at insert, not at commit) misses a row whose transaction commits after the poller
--    moved past it. Each row records the id of the transaction that wrote it (`xid`); a poller
--    reads every row at or after its cursor and moves the cursor to the xmin of its statement's
--    snapshot: every transaction below it has ended, and every later writer gets a larger id,
--    so no row can ever commit behind the cursor (the usual outbox-polling technique). Rows of
--    transactions still open are read once they commit, however late.
-- 3. Key changes (rotation by any replica or the CLI) write a 'key' entry, so every replica
--    reloads its key set within a poll (about 1 s) instead of the 30 s periodic reload.
-- 4. Removing a role writes a 'user' entry (written by the core right after the role change
--    commits, see `issued_before`): forward-auth, introspection and token exchange refuse that
--    user's access tokens issued before the change (their `roles` claim is stale); a refresh
--    gets the new roles. Sesame's own API re-reads roles from the database anyway.
--
-- Rolling upgrades: a replica of the previous version skips entries of a kind it does not know
-- ('key', 'user') with a warning (RevocationKind::from_feed), so it refuses nothing more and
-- nothing less than before; it keeps reloading keys every 30 s and reads the feed by `at`,
-- which every row still carries. It keeps sessions' entries for its own access-token lifetime,
-- and purges the table by age, as before: long enough for every entry of this version as long as
-- SESAME_ACCESS_TTL is not changed during the upgrade (the tokens an entry covers expire within
-- one access lifetime plus ~90 s of its stamp; change lifetimes in a separate rollout). A session it refreshes keeps the `access_until` of its previous access token
-- (too early by at most one access lifetime) until a replica of this version refreshes it.

-- Sessions: the expiry (plus the verifiers' leeway) of the newest access token issued in the
-- session, by Sesame's clock — what a revocation of the session must be remembered until, and
-- what keeps a session whose refresh token expired before its last access token "live" for
-- logout-all and the purge. NULL for sessions opened before this migration: their refresh
-- expiry bounds it (start-up refused a refresh lifetime shorter than access + grace + leeway),
-- so a revocation of such a session is kept up to one refresh lifetime — longer than needed,
-- never shorter — until those sessions are gone.
ALTER TABLE sessions ADD COLUMN access_until timestamptz;

-- Clients: the same for the access tokens issued to the client (client credentials and token
-- exchange), raised ahead of issuance in steps, so a deleted client's tokens stay refused for as
-- long as they can live. NULL until the client first authenticates after this migration.
ALTER TABLE clients ADD COLUMN access_until timestamptz;

-- The writing transaction's id (64-bit, never wraps): the commit-safe poll cursor (see 2.).
-- Existing rows get the migration's transaction id, so they are read once more; harmless (sets).
ALTER TABLE revocations ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX revocations_xid ON revocations(xid);
-- The purge deletes by `until`.
CREATE INDEX revocations_until ON revocations(until);
COMMENT ON COLUMN revocations.until IS
    'latest moment a token this entry covers can still be accepted (expiry + leeway); NULL only for rows written before 0007';

-- For a 'user' entry: the user's access tokens issued before this instant (Sesame's clock, taken
-- after the role change committed, so a token issued later read the new roles) are refused.
-- NULL for every other kind.
ALTER TABLE revocations ADD COLUMN issued_before timestamptz;

ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check
    CHECK (kind IN ('session', 'token', 'client', 'key', 'user'));  -- a sid, a jti, a client id, a kid, a user id

-- Sessions: the entry carries the expiry of the session's newest access token. Deleting a
-- session (with its user) is a revocation while the session is in force (its refresh token or
-- that access token alive): compared with the database clock, with five minutes of room for a
-- database clock ahead of Sesame's (an entry for a dead session costs a row until the purge).
CREATE OR REPLACE FUNCTION sesame_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL THEN
            INSERT INTO revocations (kind, subject, until)
            VALUES ('session', NEW.id::text, COALESCE(NEW.access_until, NEW.expires_at));
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.revoked_at IS NULL
       AND GREATEST(OLD.expires_at, OLD.access_until) > clock_timestamp() - interval '5 minutes' THEN
        INSERT INTO revocations (kind, subject, until)
        VALUES ('session', OLD.id::text, COALESCE(OLD.access_until, OLD.expires_at));
    END IF;
    RETURN OLD;
END;
$$;

-- Clients: the entry carries the expiry of the client's newest access token (NULL: none issued
-- since 0007; the reader then falls back to its own access lifetime, as before).
CREATE OR REPLACE FUNCTION sesame_client_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO revocations (kind, subject, until) VALUES ('client', OLD.client_id, OLD.access_until);
    RETURN OLD;
END;
$$;

-- Keys: one entry per statement that changes the key set; readers only reload. Kept ten
-- minutes: a running replica reads it within a second, and a starting one loads the keys anyway.
CREATE FUNCTION sesame_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO revocations (kind, subject, until)
    VALUES ('key', '', clock_timestamp() + interval '10 minutes');
    RETURN NULL;
END;
$$;

CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
FOR EACH STATEMENT EXECUTE FUNCTION sesame_keys_changed();
