-- The revocation feed of 0002/0004, made safe against configuration changes, and carrying key
-- changes. (The PostgreSQL file of the same number says the same at more length.)
--
-- 1. Every entry says how long it matters (`until`, ms): the latest moment a token it covers can
--    still be accepted. Until now a session's or a client's entry was kept for the *current*
--    access-token lifetime, so a restart with a shorter SESAME_ACCESS_TTL forgot revocations of
--    tokens issued under the longer one. The lifetime that matters is the one in force when each
--    token was issued, so sessions and clients remember the expiry of the newest access token
--    issued to them, and the triggers copy it into the entry.
-- 2. Pollers read by `id`. SQLite has one writer at a time (a write transaction holds the lock
--    from its first write to its commit), so AUTOINCREMENT ids are handed out in commit order:
--    no row can commit behind a reader's cursor. (PostgreSQL needs the writer's xid instead.)
-- 3. Key changes write a 'key' entry, so every process reloads its key set within a poll.
-- 4. Removing a role writes a 'user' entry: forward-auth, introspection and token exchange
--    refuse that user's access tokens issued before `issued_before` (see 0007 on PostgreSQL).
--
-- Rolling upgrades: a process of the previous version skips entries of a kind it does not know
-- ('key', 'user') with a warning, so it refuses nothing more and nothing less than before.

-- The expiry (plus the verifiers' leeway, ms) of the newest access token issued in the session,
-- by Sesame's clock: how long a revocation of the session matters, and what keeps a session
-- whose refresh token expired before its last access token live for logout-all and the purge.
-- NULL for sessions opened before this migration: their refresh expiry bounds it.
ALTER TABLE sessions ADD COLUMN access_until INTEGER;

-- The same for the access tokens issued to a client (ms), raised ahead of issuance in steps.
-- NULL until the client first authenticates after this migration.
ALTER TABLE clients ADD COLUMN access_until INTEGER;

-- For a 'user' entry: the user's access tokens issued before this instant (ms, Sesame's clock,
-- taken after the role change committed) are refused. NULL for every other kind.
ALTER TABLE revocations ADD COLUMN issued_before INTEGER;

-- The purge deletes by `until`.
CREATE INDEX revocations_until ON revocations(until);

DROP TRIGGER sessions_revoked;
CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('session', NEW.id, COALESCE(NEW.access_until, NEW.expires_at),
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

-- A session deleted (with its user) while in force (its refresh token or its newest access token
-- alive); five minutes of room for a database clock ahead of Sesame's.
DROP TRIGGER sessions_deleted;
CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions
WHEN OLD.revoked_at IS NULL
 AND MAX(OLD.expires_at, COALESCE(OLD.access_until, OLD.expires_at))
     > CAST(unixepoch('subsec') * 1000 AS INTEGER) - 300000
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('session', OLD.id, COALESCE(OLD.access_until, OLD.expires_at),
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

-- NULL `until`: no token issued since 0007; the reader falls back to its own access lifetime.
DROP TRIGGER client_deleted;
CREATE TRIGGER client_deleted AFTER DELETE ON clients
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('client', OLD.client_id, OLD.access_until, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

-- Key changes: readers only reload. Kept ten minutes (a starting process loads keys anyway).
CREATE TRIGGER signing_keys_inserted AFTER INSERT ON signing_keys
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('key', NEW.kid, CAST(unixepoch('subsec') * 1000 AS INTEGER) + 600000,
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
CREATE TRIGGER signing_keys_updated AFTER UPDATE ON signing_keys
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('key', NEW.kid, CAST(unixepoch('subsec') * 1000 AS INTEGER) + 600000,
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
CREATE TRIGGER signing_keys_deleted AFTER DELETE ON signing_keys
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('key', OLD.kid, CAST(unixepoch('subsec') * 1000 AS INTEGER) + 600000,
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
