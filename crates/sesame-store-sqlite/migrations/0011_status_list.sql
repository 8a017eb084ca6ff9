-- Token Status List (issue #20, draft-ietf-oauth-status-list): every access token carries the
-- index of a bit that is set when its session (or, for client-credentials tokens, its client)
-- is revoked, so services that verify offline learn of a logout within the list's `ttl`.
--
-- * A session with refresh tokens (not a browser session, which issues no access tokens) and a
--   client each hold one index, unique while the row exists.
-- * When the row is deleted (purge, user or client deletion) its index goes to `status_free`
--   with the moment the last token that carried it expires (`free_at`, ms). A new session or
--   client takes a free index only once `free_at` is far enough in the past (the margin is
--   Sesame's, passed in by the caller), else the next never-used one from `status_counter`.
-- * The feed entries of revoked or deleted sessions and deleted clients carry the index, so
--   every replica sets the same bits from the feed it already reads.
--
-- Tokens issued before this migration carry no `status` claim, so revocations already in the
-- feed need no index; live sessions and clients get one here, for the tokens issued from now on.

ALTER TABLE sessions ADD COLUMN status_idx INTEGER;
CREATE UNIQUE INDEX sessions_status_idx ON sessions(status_idx) WHERE status_idx IS NOT NULL;
ALTER TABLE clients ADD COLUMN status_idx INTEGER;
CREATE UNIQUE INDEX clients_status_idx ON clients(status_idx) WHERE status_idx IS NOT NULL;
ALTER TABLE revocations ADD COLUMN status_idx INTEGER;

CREATE TABLE status_free (
    idx     INTEGER PRIMARY KEY,
    free_at INTEGER NOT NULL                    -- ms: every token that carried it has expired
);
CREATE INDEX status_free_at ON status_free(free_at);

CREATE TABLE status_counter (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    next INTEGER NOT NULL                       -- the lowest index never handed out
);

WITH numbered AS (
    SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) - 1 AS n
    FROM sessions WHERE browser_hash IS NULL
)
UPDATE sessions SET status_idx = numbered.n FROM numbered WHERE sessions.id = numbered.id;

WITH numbered AS (
    SELECT client_id, ROW_NUMBER() OVER (ORDER BY created_at, client_id) - 1
           + (SELECT COUNT(*) FROM sessions WHERE status_idx IS NOT NULL) AS n
    FROM clients
)
UPDATE clients SET status_idx = numbered.n FROM numbered WHERE clients.client_id = numbered.client_id;

INSERT INTO status_counter (one, next)
VALUES (1, (SELECT COUNT(*) FROM sessions WHERE status_idx IS NOT NULL)
         + (SELECT COUNT(*) FROM clients));

-- Handing out an index: off the free list, or past the counter.
CREATE TRIGGER sessions_status_taken AFTER INSERT ON sessions
WHEN NEW.status_idx IS NOT NULL
BEGIN
    DELETE FROM status_free WHERE idx = NEW.status_idx;
    UPDATE status_counter SET next = MAX(next, NEW.status_idx + 1);
END;
CREATE TRIGGER clients_status_taken AFTER INSERT ON clients
WHEN NEW.status_idx IS NOT NULL
BEGIN
    DELETE FROM status_free WHERE idx = NEW.status_idx;
    UPDATE status_counter SET next = MAX(next, NEW.status_idx + 1);
END;

-- Giving it back: free once the newest access token issued under it has expired.
CREATE TRIGGER sessions_status_freed AFTER DELETE ON sessions
WHEN OLD.status_idx IS NOT NULL
BEGIN
    INSERT OR REPLACE INTO status_free (idx, free_at)
    VALUES (OLD.status_idx, COALESCE(OLD.access_until, OLD.expires_at));
END;
CREATE TRIGGER clients_status_freed AFTER DELETE ON clients
WHEN OLD.status_idx IS NOT NULL
BEGIN
    INSERT OR REPLACE INTO status_free (idx, free_at)
    VALUES (OLD.status_idx, COALESCE(OLD.access_until, 0));
END;

-- The feed entries of 0007, now with the index.
DROP TRIGGER sessions_revoked;
CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
BEGIN
    INSERT INTO revocations (kind, subject, until, at, status_idx)
    VALUES ('session', NEW.id, COALESCE(NEW.access_until, NEW.expires_at),
            CAST(unixepoch('subsec') * 1000 AS INTEGER), NEW.status_idx);
END;

DROP TRIGGER sessions_deleted;
CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions
WHEN OLD.revoked_at IS NULL
 AND MAX(OLD.expires_at, COALESCE(OLD.access_until, OLD.expires_at))
     > CAST(unixepoch('subsec') * 1000 AS INTEGER) - 300000
BEGIN
    INSERT INTO revocations (kind, subject, until, at, status_idx)
    VALUES ('session', OLD.id, COALESCE(OLD.access_until, OLD.expires_at),
            CAST(unixepoch('subsec') * 1000 AS INTEGER), OLD.status_idx);
END;

DROP TRIGGER client_deleted;
CREATE TRIGGER client_deleted AFTER DELETE ON clients
BEGIN
    INSERT INTO revocations (kind, subject, until, at, status_idx)
    VALUES ('client', OLD.client_id, OLD.access_until, CAST(unixepoch('subsec') * 1000 AS INTEGER),
            OLD.status_idx);
END;
