-- An app's session keeps the `sid` its ID tokens named (issue #18 review): a sign-in again by
-- the same person moves the app's session under the new browser session (`parent_id`, so that
-- signing out still ends it), but the app matches logout tokens to its own session by `sid`, so
-- the `sid` must not move with it.
ALTER TABLE sessions ADD COLUMN sid UUID;
UPDATE sessions SET sid = parent_id WHERE client_id IS NOT NULL AND parent_id IS NOT NULL;

CREATE OR REPLACE FUNCTION sesame_backchannel_logout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO backchannel_logouts (client_id, sub, sid, created_at, next_attempt_at)
    SELECT c.client_id, NEW.user_id, NEW.sid, NEW.revoked_at, NEW.revoked_at
    FROM clients c WHERE c.client_id = NEW.client_id AND c.backchannel_logout_uri IS NOT NULL
    ON CONFLICT (client_id, sid) WHERE status = 'pending' DO NOTHING;
    RETURN NULL;
END $$;
DROP TRIGGER sessions_backchannel_on_revoke ON sessions;
CREATE TRIGGER sessions_backchannel_on_revoke AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL AND NEW.client_id IS NOT NULL AND NEW.sid IS NOT NULL)
EXECUTE FUNCTION sesame_backchannel_logout();

-- An app's session can end without a statement of the store's naming it: a trigger ends it with
-- its browser session (0016). Its `session.revoked` webhook must still be written in that
-- transaction, so every app session's end is noted here and the store takes the notes back
-- (deleting them) when it writes the transaction's audit entries and webhooks. A transaction
-- sees only its own uncommitted notes, and takes them all before it commits.
CREATE TABLE ended_app_sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    expires_at   timestamptz NOT NULL,
    access_until timestamptz,
    revoked_at   timestamptz NOT NULL
);
CREATE FUNCTION sesame_note_app_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ended_app_sessions (id, user_id, expires_at, access_until, revoked_at)
    VALUES (NEW.id, NEW.user_id, NEW.expires_at, NEW.access_until, NEW.revoked_at)
    ON CONFLICT (id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER sessions_app_end_noted AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL AND NEW.client_id IS NOT NULL)
EXECUTE FUNCTION sesame_note_app_end();
