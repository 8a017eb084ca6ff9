-- Second factors (issue #19): TOTP, recovery codes, the pending second step of a sign-in, and
-- how each session's user signed in. Passkeys will get a table of their own; "has a second
-- factor" is then "a confirmed TOTP or a passkey", and recovery codes stand in for either.

-- One authenticator app per user (RFC 6238: SHA-1, 6 digits, 30 s).
CREATE TABLE mfa_totp (
    user_id      TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,  -- gone with the account
    secret       BLOB NOT NULL,               -- AES-256-GCM under the instance key `mfa_totp_key`, the user id as associated data: a copied row decrypts for no one else, a dump of this table alone reveals nothing
    created_at   INTEGER NOT NULL,            -- ms; when this secret was made (a new enrollment replaces a pending one)
    confirmed_at INTEGER,                     -- ms; NULL while pending: a pending secret never signs anyone in
    last_step    INTEGER                      -- the newest 30-second step whose code was accepted: a code (and any older one) works once, decided by one conditional UPDATE so two replicas cannot both accept it
);

-- Single-use codes for when the phone is lost: 80 random bits each, stored only as a keyed hash.
CREATE TABLE mfa_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash       BLOB NOT NULL,                 -- HMAC-SHA-256 of the normalised code under the instance key `mfa_recovery_mac`
    created_at INTEGER NOT NULL,              -- ms; the set it belongs to (a new set replaces the old one whole)
    used_at    INTEGER,                       -- ms; set once by a conditional UPDATE (one winner)
    PRIMARY KEY (user_id, hash)               -- the look-up of a presented code
);

-- The second step of a sign-in whose password was right: the `mfa_token` handed to the client,
-- kept here (by hash) so that any replica can finish what another started.
CREATE TABLE mfa_challenges (
    hash       BLOB PRIMARY KEY,              -- SHA-256 of the mfa_token (256 random bits: nothing to brute-force)
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,  -- the token works for this user only
    kind       TEXT NOT NULL,                 -- 'api' (POST /auth/mfa/verify) or 'browser' (the sign-in page)
    audience   TEXT NOT NULL,                 -- JSON list: the audiences the login asked for, given to the tokens at the end
    created_at INTEGER NOT NULL,              -- ms
    expires_at INTEGER NOT NULL,              -- ms; five minutes after the password was checked
    used_at    INTEGER                        -- ms; set once when a right code finishes the sign-in; a wrong code leaves it
);
CREATE INDEX mfa_challenges_user ON mfa_challenges(user_id);         -- dropped with the user's factors
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges(expires_at);  -- purge

-- How a session's user signed in, copied into every access token of the session (refreshes
-- keep them). Sessions opened before this migration were password sign-ins.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '["pwd"]';  -- JSON list of RFC 8176 methods: pwd, otp, mfa, ...
ALTER TABLE sessions ADD COLUMN acr TEXT NOT NULL DEFAULT 'aal1';     -- aal1 (one factor) or aal2 (two)
