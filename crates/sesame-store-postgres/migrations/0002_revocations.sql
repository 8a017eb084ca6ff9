-- The revocation feed: every replica keeps revoked sessions and deny-listed access tokens in
-- memory (so verifying a token never touches the database) and polls this table for what other
-- replicas revoked. Rows are written by triggers, inside the same transaction as the revocation,
-- so no code path can forget one.
CREATE TABLE revocations (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind    text NOT NULL CHECK (kind IN ('session', 'token')),  -- a sid or a jti
    subject text NOT NULL,                 -- the sid or jti
    until   timestamptz,                   -- for a token: when it expires anyway; NULL for a session
    -- clock_timestamp(), not now(): the time of the write, not of the transaction's start, so a
    -- poller's look-back window covers commits that land a little after their timestamp.
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX revocations_at ON revocations(at);

CREATE FUNCTION sesame_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Revoked (logout, reuse, password change, admin), or a live session deleted with its user.
    -- Expired sessions removed by the purge are not revocations.
    IF TG_OP = 'UPDATE' THEN
        IF NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL THEN
            INSERT INTO revocations (kind, subject) VALUES ('session', NEW.id::text);
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.revoked_at IS NULL AND OLD.expires_at > clock_timestamp() THEN
        INSERT INTO revocations (kind, subject) VALUES ('session', OLD.id::text);
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at OR DELETE ON sessions
FOR EACH ROW EXECUTE FUNCTION sesame_session_revoked();

CREATE FUNCTION sesame_token_denied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO revocations (kind, subject, until) VALUES ('token', NEW.jti, NEW.expires_at);
    RETURN NEW;
END;
$$;

CREATE TRIGGER denied_token_added AFTER INSERT ON denied_tokens
FOR EACH ROW EXECUTE FUNCTION sesame_token_denied();
