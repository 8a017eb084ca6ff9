-- Passkeys (issue #19): WebAuthn credentials, and the ceremonies that add and use them. A
-- passkey is a second factor like a confirmed TOTP ("has a second factor" is either), and a
-- user-verified passkey alone signs in at aal2.

CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,            -- uuid, the id the API and the pages show
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,  -- gone with the account
    credential_id BLOB NOT NULL UNIQUE,        -- the authenticator's credential id: one account per credential (WebAuthn §7.1 step 22)
    name          TEXT NOT NULL,               -- the user's name for it ("Laptop"), renamable
    credential    TEXT NOT NULL,               -- webauthn-rs's Passkey as JSON: public key, counter, backup flags — public data, nothing secret
    sign_count    INTEGER NOT NULL,            -- the signature counter last accepted: a use must move it forward (or both stay 0), decided by one conditional UPDATE
    created_at    INTEGER NOT NULL,            -- ms
    last_used_at  INTEGER                      -- ms; the last sign-in with it
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- A started registration or sign-in: webauthn-rs's state (the challenge, the allowed
-- credentials), kept here by the SHA-256 of the challenge_id handed to the browser so that any
-- replica can finish it. Taken (deleted) by the finish, whatever its outcome: a challenge is
-- answered once.
CREATE TABLE webauthn_ceremonies (
    hash       BLOB PRIMARY KEY,               -- SHA-256 of the challenge_id (256 random bits)
    kind       TEXT NOT NULL,                  -- 'register', 'login' or 'second_factor'
    user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,  -- NULL for a discoverable sign-in (the authenticator names the user)
    mfa_hash   BLOB,                           -- the mfa_challenges row a second-factor ceremony finishes
    name       TEXT,                           -- a registration's name for the new passkey
    state      TEXT NOT NULL,                  -- webauthn-rs's ceremony state as JSON
    created_at INTEGER NOT NULL,               -- ms
    expires_at INTEGER NOT NULL                -- ms; five minutes after the start
);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies(expires_at);  -- purge
