-- Sesame on PostgreSQL, first schema. Append-only: a change is a new numbered file, never an
-- edit here (sqlx refuses to start when an applied migration's checksum changed).
-- Native types throughout: uuid, timestamptz (microsecond UTC instants that compare and sort
-- correctly), bytea for hashes and key material, jsonb for documents, text[] for short lists.
-- citext is an extension we cannot count on, so case-insensitive uniqueness lives in canonical
-- (lower-cased) columns with named UNIQUE constraints; the store maps a violation of
-- users_email_key / users_username_key to a Conflict by that name.
-- Sorting that must match Rust's byte order (roles, client ids) says COLLATE "C" in the queries,
-- whatever locale the database was created with.

-- One row per account.
CREATE TABLE users (
    id                 uuid PRIMARY KEY,          -- UUIDv7: time-ordered, so paging by id follows creation
    email              text NOT NULL,             -- trimmed, domain lower-cased, as shown to the user
    email_canonical    text NOT NULL,             -- whole address lower-cased: uniqueness ignores case
    username           text,                      -- optional, as the user spelled it
    username_canonical text,                      -- lower-cased; NULLs do not collide
    display_name       text,                      -- free text the user chose for greetings; not unique
    password_hash      text NOT NULL,             -- argon2id PHC string; never leaves the core
    email_verified     boolean NOT NULL DEFAULT false,  -- proven by a mailed link; a changed address is unproven again
    disabled           boolean NOT NULL DEFAULT false,  -- set by an admin: no login, no refresh
    failed_logins      integer NOT NULL DEFAULT 0       -- consecutive wrong passwords since the last success or lock
                       CHECK (failed_logins >= 0),
    locked_until       timestamptz,               -- lockout end; login answers 403 until then
    last_login_at      timestamptz,               -- shown to admins: spots dormant accounts
    created_at         timestamptz NOT NULL,      -- set by the core's clock (injected), not now(), so tests control it
    updated_at         timestamptz NOT NULL,      -- last profile, password, role or status change
    -- Named so the store can tell which uniqueness a registration or profile change broke.
    CONSTRAINT users_email_key UNIQUE (email_canonical),
    CONSTRAINT users_username_key UNIQUE (username_canonical)
);

-- Role-based access: one row per role a user holds.
CREATE TABLE user_roles (
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,  -- roles go with their user
    role    text NOT NULL,                        -- [a-z0-9_:-]{1,50}, checked by the core
    PRIMARY KEY (user_id, role)                   -- also serves "roles of a user" look-ups
);

-- Free-form settings a user stores (a JSON object, at most 16 KiB, checked by the core).
CREATE TABLE preferences (
    user_id    uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,  -- one document per user, gone with them
    data       jsonb NOT NULL,                    -- read and written whole, never queried inside
    updated_at timestamptz NOT NULL               -- last write, for support questions
);

-- A session is one login; its refresh tokens rotate inside it.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,                -- the `sid` claim of its access tokens
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,  -- sessions end with the account
    audience     text[] NOT NULL,                 -- refreshed tokens keep the login's audience
    created_at   timestamptz NOT NULL,            -- the login; lists show newest first
    last_used_at timestamptz NOT NULL,            -- last refresh: lets a user spot a session that is not theirs
    expires_at   timestamptz NOT NULL,            -- expiry of its newest refresh token (sliding)
    revoked_at   timestamptz,                     -- logout, reuse detection, password change, admin
    ip           text,                            -- as the edge reported it; text, not inet, so an odd value cannot fail a login
    user_agent   text                             -- shown in the session list so a user recognises devices
);
CREATE INDEX sessions_user_id ON sessions(user_id);        -- a user's session list, revoke-all, cascade
CREATE INDEX sessions_expires_at ON sessions(expires_at);  -- purge of expired sessions

-- Every refresh token issued, by SHA-256 only. Spent ones are kept until they expire so that a
-- replayed old token is recognised (and ends its session) instead of looking merely unknown.
CREATE TABLE refresh_tokens (
    hash       bytea PRIMARY KEY,                 -- SHA-256 of the token; the token itself is never stored
    session_id uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,  -- the chain it belongs to; gone with it
    issued_at  timestamptz NOT NULL,              -- for investigating a reuse: when this link of the chain was made
    spent_at   timestamptz,                       -- set by the one conditional UPDATE that rotates it
    expires_at timestamptz NOT NULL               -- a token past this never rotates; purge removes it
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens(session_id);  -- cascade from sessions
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens(expires_at);  -- purge

-- Access tokens revoked before their expiry (logout with a bearer token, RFC 7009 revoke).
CREATE TABLE denied_tokens (
    jti        text PRIMARY KEY,                  -- checked on every authenticated request
    expires_at timestamptz NOT NULL               -- after this the token is dead anyway: purge
);
CREATE INDEX denied_tokens_expires_at ON denied_tokens(expires_at);

-- Signing keys, shared by every replica. Private keys are PKCS#8 DER.
CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,                -- derived from the public key; the JWT header's `kid`
    alg          text NOT NULL,                   -- EdDSA | ES256 | RS256
    state        text NOT NULL                    -- next | current | retired
                 CHECK (state IN ('next', 'current', 'retired')),
    private_der  bytea NOT NULL,                  -- shared so every replica signs with the same key
    public_jwk   jsonb NOT NULL,                  -- as published in the JWKS
    created_at   timestamptz NOT NULL,            -- list order; also when it was first published
    activated_at timestamptz,                     -- when it started signing
    retire_until timestamptz                      -- retired keys stay published until their tokens expire
);
-- At most one key signs and one waits: two replicas that somehow both rotated would otherwise
-- sign with different keys. The store serialises rotation; these make the database say so too.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys(state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys(state) WHERE state = 'next';

-- Instance-wide secrets every replica must share (e.g. the refresh-successor MAC key).
CREATE TABLE instance_secrets (
    name       text PRIMARY KEY,                  -- the first replica's INSERT wins, the rest read it
    value      bytea NOT NULL,                    -- raw key bytes (e.g. 32 random bytes for HMAC)
    created_at timestamptz NOT NULL DEFAULT now() -- for operators only
);

-- Who did what, when, from where. Written in the same transaction as the change it records.
CREATE TABLE audit_log (
    id         uuid PRIMARY KEY,                  -- UUIDv7: time-ordered, the pagination cursor
    at         timestamptz NOT NULL,              -- the core's clock at the change; retention purges by it
    event      text NOT NULL,                     -- register, login_failed, refresh_reused, ...
    user_id    uuid,                              -- no foreign key: the trail outlives deleted users
    ip         text,                              -- client address as the edge saw it (after trusted proxies)
    user_agent text,                              -- helps tell a user's own devices from an attacker's
    detail     jsonb NOT NULL                     -- JSON object; never a password, token or hash
);
CREATE INDEX audit_log_user_id ON audit_log(user_id, id);  -- one user's trail, newest first
CREATE INDEX audit_log_event ON audit_log(event, id);      -- one kind of event, newest first
CREATE INDEX audit_log_at ON audit_log(at);                -- retention purge

-- Service clients for OAuth 2.0 client credentials.
CREATE TABLE clients (
    client_id   text PRIMARY KEY,                 -- generated by Sesame (svc_...), sent by the client with its secret
    name        text NOT NULL,                    -- human label for admins; not unique
    secret_hash bytea NOT NULL,                   -- HMAC-SHA-256 of the 256-bit secret (shown once)
    audiences   text[] NOT NULL,                  -- audiences it may request
    scopes      text[] NOT NULL,                  -- scopes it may request
    created_at  timestamptz NOT NULL              -- list order
);
