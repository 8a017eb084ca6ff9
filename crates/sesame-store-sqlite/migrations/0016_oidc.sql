-- Sign in with Sesame (issue #18): apps send people here; Sesame hands them an authorization
-- code, exchanged for tokens in a session of the app's own.

-- An app's session is a session like any other (listed, revoked, refreshed with rotation and
-- reuse detection), bound to the app: its refresh token works only for that client.
ALTER TABLE sessions ADD COLUMN client_id TEXT;   -- the app; NULL for Sesame's own logins
ALTER TABLE sessions ADD COLUMN parent_id TEXT;   -- the browser session it came from (`sid` of its ID tokens)
ALTER TABLE sessions ADD COLUMN scope TEXT;       -- space-separated scopes granted to the app
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;  -- when the person last signed in for it
CREATE INDEX sessions_parent_id ON sessions(parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX sessions_user_client ON sessions(user_id, client_id) WHERE client_id IS NOT NULL;

-- Ending a browser session (sign-out, RP-initiated logout) ends the app sessions it started; the
-- feed's own trigger then revokes each one's tokens everywhere.
CREATE TRIGGER sessions_end_children AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL AND NEW.browser_hash IS NOT NULL
BEGIN
    UPDATE sessions SET revoked_at = NEW.revoked_at WHERE parent_id = NEW.id AND revoked_at IS NULL;
END;

-- Authorization codes, by SHA-256 only. A used code is kept until it is purged so that a second
-- presentation is recognised and revokes what the first one issued (RFC 6749 §4.1.2).
CREATE TABLE oauth_codes (
    hash           BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id      TEXT NOT NULL,       -- the browser session that approved it
    redirect_uri   TEXT NOT NULL,       -- as presented: the token request must repeat it exactly
    scope          TEXT NOT NULL,
    audience       TEXT NOT NULL,       -- JSON list
    code_challenge TEXT NOT NULL,       -- PKCE S256
    nonce          TEXT,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    session_id     TEXT                 -- the session the code was exchanged for
);
CREATE INDEX oauth_codes_expires_at ON oauth_codes(expires_at);

-- Consent a person gave an app, remembered per scope set.
CREATE TABLE oauth_grants (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,           -- space-separated, sorted
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX oauth_grants_client ON oauth_grants(client_id);
