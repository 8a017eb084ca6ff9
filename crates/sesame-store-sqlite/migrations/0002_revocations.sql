-- The revocation feed: every replica keeps revoked sessions and deny-listed access tokens in
-- memory (so verifying a token never touches the database) and polls this table for what other
-- replicas revoked. Rows are written by triggers, so they are part of the same transaction as
-- the revocation itself and no code path can forget one.
CREATE TABLE revocations (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,      -- 'session' (a sid) or 'token' (a jti)
    subject TEXT NOT NULL,      -- the sid or jti
    until   INTEGER,            -- for a token: when it expires anyway (ms); NULL for a session
    at      INTEGER NOT NULL    -- when it was recorded, database clock (ms); the pollers' cursor
);
CREATE INDEX revocations_at ON revocations(at);

-- A session revoked (logout, reuse detection, password change, admin, ...).
CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('session', NEW.id, NULL, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

-- A live session deleted (its user was deleted). Expired sessions removed by the purge are not
-- revocations: their access tokens expired long before.
CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions
WHEN OLD.revoked_at IS NULL AND OLD.expires_at > CAST(unixepoch('subsec') * 1000 AS INTEGER)
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('session', OLD.id, NULL, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

-- An access token deny-listed.
CREATE TRIGGER denied_token_added AFTER INSERT ON denied_tokens
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('token', NEW.jti, NEW.expires_at, CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
