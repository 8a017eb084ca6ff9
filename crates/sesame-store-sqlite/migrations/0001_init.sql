-- Sesame on SQLite, first schema.
-- Times are INTEGER Unix milliseconds (UTC): compact, and they compare and sort correctly,
-- which text timestamps of varying precision do not. Ids are UUID text.

-- One row per account.
CREATE TABLE users (
    id                 TEXT PRIMARY KEY,        -- UUIDv7: time-ordered, so paging by id follows creation
    email              TEXT NOT NULL,           -- trimmed, domain lower-cased, as shown to the user
    email_canonical    TEXT NOT NULL UNIQUE,    -- whole address lower-cased: uniqueness ignores case
    username           TEXT,                    -- optional, as the user spelled it
    username_canonical TEXT UNIQUE,             -- lower-cased; NULLs do not collide
    display_name       TEXT,
    password_hash      TEXT NOT NULL,           -- argon2id PHC string; never leaves the core
    email_verified     INTEGER NOT NULL DEFAULT 0,
    disabled           INTEGER NOT NULL DEFAULT 0,  -- set by an admin: no login, no refresh
    failed_logins      INTEGER NOT NULL DEFAULT 0,  -- consecutive wrong passwords since the last success or lock
    locked_until       INTEGER,                 -- lockout end; login answers 403 until then
    last_login_at      INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

-- Role-based access (seed 002's user_roles): one row per role a user holds.
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL,                      -- [a-z0-9_:-]{1,50}, checked by the core
    PRIMARY KEY (user_id, role)
);

-- Free-form settings a user stores (a JSON object, at most 16 KiB).
CREATE TABLE preferences (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    data       TEXT NOT NULL,                   -- JSON object
    updated_at INTEGER NOT NULL
);

-- A session is one login; its refresh tokens rotate inside it.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,              -- the `sid` claim of its access tokens
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    audience     TEXT NOT NULL,                 -- JSON list: refreshed tokens keep the login's audience
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,              -- expiry of its newest refresh token (sliding)
    revoked_at   INTEGER,                       -- logout, reuse detection, password change, admin
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user_id ON sessions(user_id);
CREATE INDEX sessions_expires_at ON sessions(expires_at);  -- purge of expired sessions

-- Every refresh token issued, by SHA-256 only. Spent ones are kept until they expire so that a
-- replayed old token is recognised (and ends its session) instead of looking merely unknown.
CREATE TABLE refresh_tokens (
    hash       BLOB PRIMARY KEY,                -- SHA-256 of the token; the token itself is never stored
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    spent_at   INTEGER,                         -- set by the one conditional UPDATE that rotates it
    expires_at INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens(session_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens(expires_at);

-- Access tokens revoked before their expiry (logout with a bearer token, RFC 7009 revoke).
CREATE TABLE denied_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL                 -- after this the token is dead anyway: purge
);
CREATE INDEX denied_tokens_expires_at ON denied_tokens(expires_at);

-- Signing keys, shared by every replica. Private keys are PKCS#8 DER.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,                 -- EdDSA | ES256 | RS256
    state        TEXT NOT NULL,                 -- next | current | retired
    private_der  BLOB NOT NULL,
    public_jwk   TEXT NOT NULL,                 -- JSON, as published in the JWKS
    created_at   INTEGER NOT NULL,
    activated_at INTEGER,                       -- when it started signing
    retire_until INTEGER                        -- retired keys stay published until their tokens expire
);

-- Instance-wide secrets every replica must share (e.g. the refresh-successor MAC key).
CREATE TABLE instance_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- Who did what, when, from where. Written in the same transaction as the change it records.
CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,                -- UUIDv7: time-ordered, the pagination cursor
    at         INTEGER NOT NULL,
    event      TEXT NOT NULL,                   -- register, login_failed, refresh_reused, ...
    user_id    TEXT,                            -- no foreign key: the trail outlives deleted users
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT NOT NULL                    -- JSON object; never a password, token or hash
);
CREATE INDEX audit_log_user_id ON audit_log(user_id, id);
CREATE INDEX audit_log_event ON audit_log(event, id);
CREATE INDEX audit_log_at ON audit_log(at);   -- retention purge

-- Service clients for OAuth 2.0 client credentials.
CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash BLOB NOT NULL,                  -- HMAC-SHA-256 of the 256-bit secret (shown once)
    audiences   TEXT NOT NULL,                  -- JSON list of audiences it may request
    scopes      TEXT NOT NULL,                  -- JSON list of scopes it may request
    created_at  INTEGER NOT NULL
);
