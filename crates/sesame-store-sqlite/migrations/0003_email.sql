-- Emailed tokens (verification, password reset) and the outbox that delivers their messages.
-- A token and its message are written in one transaction; a background sender delivers the
-- outbox over SMTP and marks a row sent only after the server accepted it, so a crash between
-- commit and send delays an email but never drops it.

-- Single-use tokens mailed as links. Only the SHA-256 of the token is kept: it has 256 bits of
-- entropy, so a fast hash leaves nothing to brute-force, and a leaked table grants nothing.
CREATE TABLE email_tokens (
    hash            BLOB PRIMARY KEY,            -- SHA-256 of the token
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL,               -- 'verify' or 'reset'
    email           TEXT NOT NULL,               -- where it was sent; for 'verify' the address it proves
    email_canonical TEXT NOT NULL,               -- lower-cased, compared with users.email_canonical
    created_at      INTEGER NOT NULL,            -- ms; per-account send limits count these
    expires_at      INTEGER NOT NULL,            -- ms; refused after this, purged later
    used_at         INTEGER                      -- ms; set once by a conditional UPDATE (one winner)
);
CREATE INDEX email_tokens_user ON email_tokens(user_id, purpose, created_at);
CREATE INDEX email_tokens_expiry ON email_tokens(expires_at);

-- Messages waiting for delivery (the transactional outbox).
CREATE TABLE email_outbox (
    id              TEXT PRIMARY KEY,            -- UUIDv7: time-ordered, so oldest go first
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,               -- holds the one-time link: cleared once sent
    html_body       TEXT NOT NULL,               -- same
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,  -- failed deliveries so far; drives the backoff
    next_attempt_at INTEGER NOT NULL,            -- ms; due then; also the lease of a sender working on it
    last_error      TEXT,                        -- the last SMTP failure, for operators
    sent_at         INTEGER                      -- ms; set only after the SMTP server accepted it
);
CREATE INDEX email_outbox_due ON email_outbox(next_attempt_at) WHERE sent_at IS NULL;
