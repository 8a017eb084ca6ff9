-- Emailed tokens (verification, password reset) and the outbox that delivers their messages.
-- A token and its message are written in one transaction; a background sender delivers the
-- outbox over SMTP and marks a row sent only after the server accepted it, so a crash between
-- commit and send delays an email but never drops it.

-- Single-use tokens mailed as links. Only the SHA-256 of the token is kept: it has 256 bits of
-- entropy, so a fast hash leaves nothing to brute-force, and a leaked table grants nothing.
CREATE TABLE email_tokens (
    hash            bytea PRIMARY KEY,           -- SHA-256 of the token
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose         text NOT NULL CHECK (purpose IN ('verify', 'reset')),
    email           text NOT NULL,               -- where it was sent; for 'verify' the address it proves
    email_canonical text NOT NULL,               -- lower-cased, compared with users.email_canonical
    created_at      timestamptz NOT NULL,        -- per-account send limits count these
    expires_at      timestamptz NOT NULL,        -- refused after this, purged later
    used_at         timestamptz                  -- set once by a conditional UPDATE (one winner)
);
CREATE INDEX email_tokens_user ON email_tokens(user_id, purpose, created_at);
CREATE INDEX email_tokens_expiry ON email_tokens(expires_at);

-- Messages waiting for delivery (the transactional outbox).
CREATE TABLE email_outbox (
    id              uuid PRIMARY KEY,            -- UUIDv7: time-ordered, so oldest go first
    recipient       text NOT NULL,
    subject         text NOT NULL,
    text_body       text NOT NULL,               -- holds the one-time link: cleared once sent
    html_body       text NOT NULL,               -- same
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,  -- failed deliveries so far; drives the backoff
    next_attempt_at timestamptz NOT NULL,        -- due then; also the lease of a sender working on it
    last_error      text,                        -- the last SMTP failure, for operators
    sent_at         timestamptz                  -- set only after the SMTP server accepted it
);
CREATE INDEX email_outbox_due ON email_outbox(next_attempt_at) WHERE sent_at IS NULL;
