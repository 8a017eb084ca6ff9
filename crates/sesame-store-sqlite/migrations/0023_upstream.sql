-- Sign in with another provider (issue #22): upstream identities linked to accounts, and the
-- sign-ins in flight to a provider. An identity is (provider, subject) — never an email alone.

CREATE TABLE user_identities (
    id        TEXT PRIMARY KEY,                -- uuid
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,  -- gone with the account
    provider  TEXT NOT NULL,                   -- the [[upstream]] id
    subject   TEXT NOT NULL,                   -- the provider's stable id of the person (sub; GitHub's user id)
    email     TEXT,                            -- what the provider said at linking, for display only
    linked_at INTEGER NOT NULL,                -- ms
    UNIQUE (provider, subject)                 -- one account per upstream identity
);
CREATE INDEX user_identities_user ON user_identities(user_id);

-- A sign-in sent to a provider: taken (deleted) by its callback, so a callback works once.
CREATE TABLE upstream_logins (
    hash          BLOB PRIMARY KEY,            -- SHA-256 of the state (256 random bits)
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,               -- the ID token must carry it
    pkce_verifier TEXT NOT NULL,               -- RFC 7636; useless without the code, gone in ten minutes
    return_to     TEXT,                        -- same-origin path to continue to
    link_user_id  TEXT REFERENCES users(id) ON DELETE CASCADE,  -- linking from /account/security
    created_at    INTEGER NOT NULL,            -- ms
    expires_at    INTEGER NOT NULL             -- ms
);
CREATE INDEX upstream_logins_expires_at ON upstream_logins(expires_at);
