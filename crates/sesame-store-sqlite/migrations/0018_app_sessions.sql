-- An app's session keeps the `sid` its ID tokens named (issue #18 review): a sign-in again by
-- the same person moves the app's session under the new browser session (`parent_id`, so that
-- signing out still ends it), but the app matches logout tokens to its own session by `sid`, so
-- the `sid` must not move with it.
ALTER TABLE sessions ADD COLUMN sid TEXT;
UPDATE sessions SET sid = parent_id WHERE client_id IS NOT NULL AND parent_id IS NOT NULL;

DROP TRIGGER sessions_backchannel_on_revoke;
CREATE TRIGGER sessions_backchannel_on_revoke AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL AND NEW.client_id IS NOT NULL AND NEW.sid IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO backchannel_logouts (client_id, sub, sid, created_at, next_attempt_at)
    SELECT c.client_id, NEW.user_id, NEW.sid, NEW.revoked_at, NEW.revoked_at
    FROM clients c WHERE c.client_id = NEW.client_id AND c.backchannel_logout_uri IS NOT NULL;
END;

-- An app's session can end without a statement of the store's naming it: a trigger ends it with
-- its browser session (0016). Its `session.revoked` webhook must still be written in that
-- transaction, so every app session's end is noted here and the store takes the notes back
-- (deleting them) when it writes the transaction's audit entries and webhooks.
CREATE TABLE ended_app_sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    access_until INTEGER,
    revoked_at   INTEGER NOT NULL
);
CREATE TRIGGER sessions_app_end_noted AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL AND NEW.client_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO ended_app_sessions (id, user_id, expires_at, access_until, revoked_at)
    VALUES (NEW.id, NEW.user_id, NEW.expires_at, NEW.access_until, NEW.revoked_at);
END;
