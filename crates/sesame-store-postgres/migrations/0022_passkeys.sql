-- Passkeys (issue #19): WebAuthn credentials, and the ceremonies that add and use them. A
-- passkey is a second factor like a confirmed TOTP ("has a second factor" is either), and a
-- user-verified passkey alone signs in at aal2.

CREATE TABLE passkeys (
    id            uuid PRIMARY KEY,            -- the id the API and the pages show
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,  -- gone with the account
    credential_id bytea NOT NULL UNIQUE,       -- the authenticator's credential id: one account per credential (WebAuthn §7.1 step 22)
    name          text NOT NULL,               -- the user's name for it ("Laptop"), renamable
    credential    text NOT NULL,               -- webauthn-rs's Passkey as JSON: public key, counter, backup flags — public data, nothing secret
    sign_count    bigint NOT NULL,             -- the signature counter last accepted: a use must move it forward (or both stay 0), decided by one conditional UPDATE
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz                  -- the last sign-in with it
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- A started registration or sign-in: webauthn-rs's state (the challenge, the allowed
-- credentials), kept here by the SHA-256 of the challenge_id handed to the browser so that any
-- replica can finish it. Taken (deleted) by the finish, whatever its outcome: a challenge is
-- answered once.
CREATE TABLE webauthn_ceremonies (
    hash       bytea PRIMARY KEY,              -- SHA-256 of the challenge_id (256 random bits)
    kind       text NOT NULL CHECK (kind IN ('register', 'login', 'second_factor')),
    user_id    uuid REFERENCES users(id) ON DELETE CASCADE,  -- NULL for a discoverable sign-in (the authenticator names the user)
    mfa_hash   bytea,                          -- the mfa_challenges row a second-factor ceremony finishes
    name       text,                           -- a registration's name for the new passkey
    state      text NOT NULL,                  -- webauthn-rs's ceremony state as JSON
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL            -- five minutes after the start
);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies(expires_at);  -- purge
