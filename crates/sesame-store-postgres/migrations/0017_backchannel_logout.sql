-- OpenID Back-Channel Logout 1.0 (issue #18): when an app's session ends, its
-- `backchannel_logout_uri` is told so. The row is written by triggers in the very transaction that
-- ends the session, whatever ended it (sign-out, RP-initiated logout, logout-all, a password
-- change or reset, an admin disabling or deleting the account, refresh-token reuse, a revoked
-- grant; an account's deletion writes them itself), so no code path can forget it and a crash can delay it but never drop it.
CREATE TABLE backchannel_logouts (
    id              bigserial PRIMARY KEY,
    client_id       text NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    sub             uuid NOT NULL,          -- the user's id (the user may be gone by delivery)
    sid             uuid NOT NULL,          -- the browser session the app's ID tokens named
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,   -- also the lease of a claimed row
    attempts        integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'pending',  -- pending | delivered | failed
    last_error      text
);
CREATE INDEX backchannel_logouts_due ON backchannel_logouts(next_attempt_at) WHERE status = 'pending';
-- One pending logout per app and browser session is enough (several app sessions may share it).
CREATE UNIQUE INDEX backchannel_logouts_pending ON backchannel_logouts(client_id, sid) WHERE status = 'pending';

CREATE FUNCTION sesame_backchannel_logout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO backchannel_logouts (client_id, sub, sid, created_at, next_attempt_at)
    SELECT c.client_id, NEW.user_id, NEW.parent_id, NEW.revoked_at, NEW.revoked_at
    FROM clients c WHERE c.client_id = NEW.client_id AND c.backchannel_logout_uri IS NOT NULL
    ON CONFLICT (client_id, sid) WHERE status = 'pending' DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER sessions_backchannel_on_revoke AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL AND NEW.client_id IS NOT NULL AND NEW.parent_id IS NOT NULL)
EXECUTE FUNCTION sesame_backchannel_logout();
-- An account deleted takes its sessions with it (cascade) without revoking them: the store's
-- delete_user writes their logouts itself, in the same transaction (a trigger cannot tell that
-- deletion from the purge of expired sessions).
