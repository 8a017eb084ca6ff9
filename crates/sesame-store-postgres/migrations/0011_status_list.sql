-- Token Status List (issue #20, draft-ietf-oauth-status-list): every access token carries the
-- index of a bit that is set when its session (or, for client-credentials tokens, its client)
-- is revoked, so services that verify offline learn of a logout within the list's `ttl`.
--
-- * A session with refresh tokens (not a browser session, which issues no access tokens) and a
--   client each hold one index, unique while the row exists.
-- * When the row is deleted (purge, user or client deletion) its index goes to `status_free`
--   with the moment the last token that carried it expires (`free_at`). A new session or client
--   takes a free index (FOR UPDATE SKIP LOCKED: concurrent logins never take the same one) only
--   once `free_at` is far enough in the past (the margin is Sesame's, passed in by the caller),
--   else the next value of `status_idx_seq`.
-- * The feed entries of revoked or deleted sessions and deleted clients carry the index, so
--   every replica sets the same bits from the feed it already reads.
--
-- Tokens issued before this migration carry no `status` claim, so revocations already in the
-- feed need no index; live sessions and clients get one here, for the tokens issued from now on.

ALTER TABLE sessions ADD COLUMN status_idx bigint;
CREATE UNIQUE INDEX sessions_status_idx ON sessions(status_idx) WHERE status_idx IS NOT NULL;
ALTER TABLE clients ADD COLUMN status_idx bigint;
CREATE UNIQUE INDEX clients_status_idx ON clients(status_idx) WHERE status_idx IS NOT NULL;
ALTER TABLE revocations ADD COLUMN status_idx bigint;

CREATE TABLE status_free (
    idx     bigint PRIMARY KEY,
    free_at timestamptz NOT NULL              -- every token that carried it has expired
);
CREATE INDEX status_free_at ON status_free(free_at);

CREATE SEQUENCE status_idx_seq AS bigint MINVALUE 0 START WITH 0;

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

-- The next index never handed out (is_called = false: nextval returns exactly this).
SELECT setval('status_idx_seq',
              (SELECT COUNT(*) FROM sessions WHERE status_idx IS NOT NULL)
              + (SELECT COUNT(*) FROM clients), false);

-- Giving an index back: free once the newest access token issued under it has expired.
-- (A session opened before 0007 has no `access_until`: its refresh expiry bounds its tokens; a
-- client without one never got a token with an index.)
CREATE FUNCTION sesame_status_freed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    free_at timestamptz;
BEGIN
    IF OLD.status_idx IS NOT NULL THEN
        IF TG_TABLE_NAME = 'sessions' THEN
            free_at := COALESCE(OLD.access_until, OLD.expires_at);
        ELSE
            free_at := COALESCE(OLD.access_until, '-infinity'::timestamptz);
        END IF;
        INSERT INTO status_free (idx, free_at)
        VALUES (OLD.status_idx, free_at)
        ON CONFLICT (idx) DO UPDATE SET free_at = GREATEST(status_free.free_at, EXCLUDED.free_at);
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER sessions_status_freed AFTER DELETE ON sessions
FOR EACH ROW EXECUTE FUNCTION sesame_status_freed();
CREATE TRIGGER clients_status_freed AFTER DELETE ON clients
FOR EACH ROW EXECUTE FUNCTION sesame_status_freed();

-- The feed entries of 0007, now with the index.
CREATE OR REPLACE FUNCTION sesame_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL THEN
            INSERT INTO revocations (kind, subject, until, status_idx)
            VALUES ('session', NEW.id::text, COALESCE(NEW.access_until, NEW.expires_at), NEW.status_idx);
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.revoked_at IS NULL
       AND GREATEST(OLD.expires_at, OLD.access_until) > clock_timestamp() - interval '5 minutes' THEN
        INSERT INTO revocations (kind, subject, until, status_idx)
        VALUES ('session', OLD.id::text, COALESCE(OLD.access_until, OLD.expires_at), OLD.status_idx);
    END IF;
    RETURN OLD;
END;
$$;

CREATE OR REPLACE FUNCTION sesame_client_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO revocations (kind, subject, until, status_idx)
    VALUES ('client', OLD.client_id, OLD.access_until, OLD.status_idx);
    RETURN OLD;
END;
$$;
