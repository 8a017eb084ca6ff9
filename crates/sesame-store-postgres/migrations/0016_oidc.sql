-- Sign in with Sesame (issue #18): apps send people here; Sesame hands them an authorization
-- code, exchanged for tokens in a session of the app's own.

-- An app's session is a session like any other (listed, revoked, refreshed with rotation and
-- reuse detection), bound to the app: its refresh token works only for that client.
ALTER TABLE sessions ADD COLUMN client_id text;          -- the app; NULL for Sesame's own logins
ALTER TABLE sessions ADD COLUMN parent_id uuid;          -- the browser session it came from (`sid` of its ID tokens)
ALTER TABLE sessions ADD COLUMN scope text;              -- space-separated scopes granted to the app
ALTER TABLE sessions ADD COLUMN auth_time timestamptz;   -- when the person last signed in for it
CREATE INDEX sessions_parent_id ON sessions(parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX sessions_user_client ON sessions(user_id, client_id) WHERE client_id IS NOT NULL;

-- Ending a browser session (sign-out, RP-initiated logout) ends the app sessions it started; the
-- feed's own trigger then revokes each one's tokens everywhere.
CREATE FUNCTION sesame_end_child_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions SET revoked_at = NEW.revoked_at WHERE parent_id = NEW.id AND revoked_at IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER sessions_end_children AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL AND NEW.browser_hash IS NOT NULL)
EXECUTE FUNCTION sesame_end_child_sessions();

-- Authorization codes, by SHA-256 only. A used code is kept until it is purged so that a second
-- presentation is recognised and revokes what the first one issued (RFC 6749 §4.1.2).
CREATE TABLE oauth_codes (
    hash           bytea PRIMARY KEY,
    client_id      text NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id      uuid NOT NULL,          -- the browser session that approved it
    redirect_uri   text NOT NULL,          -- as presented: the token request must repeat it exactly
    scope          text NOT NULL,
    audience       text[] NOT NULL,
    code_challenge text NOT NULL,          -- PKCE S256
    nonce          text,
    auth_time      timestamptz NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    session_id     uuid                    -- the session the code was exchanged for
);
CREATE INDEX oauth_codes_expires_at ON oauth_codes(expires_at);

-- Consent a person gave an app, remembered per scope set.
CREATE TABLE oauth_grants (
    user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  text NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    scope      text NOT NULL,              -- space-separated, sorted
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX oauth_grants_client ON oauth_grants(client_id);
