-- Lockout per source (security review, findings 2, 3 and 7; see docs/security.md "Lockout").
--
-- Before: one counter and one lock per account (users.failed_logins / users.locked_until), read
-- before hashing and cleared by any success. Anyone who knew a login name could keep the owner
-- locked out for ever, and concurrent guesses all got checked before the lock held.
--
-- Now: wrong passwords are counted per (account, source), where the source is the client's IPv4
-- address or its IPv6 /64. A source that reaches lockout.max_failures is locked for
-- lockout.duration; other sources of the same account are not. Every attempt is reserved here
-- BEFORE its password is hashed (one conditional upsert), so at most max_failures passwords per
-- source are ever checked before the lock holds, and a right password is accepted only by a
-- conditional update that finds the source (and the account) unlocked at that moment.
--
-- users.failed_logins / users.locked_until (0001) keep their columns with a new meaning: the
-- account-wide count and lock against attacks spread over many sources, at a higher threshold
-- (4 x max_failures). While that lock holds only the owner's known sources (below) get in; a
-- password reset and an admin or CLI unlock clear it.

-- One row per (account, source) that tried a password recently.
CREATE TABLE login_attempts (
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,  -- attempts go with their account
    source       TEXT NOT NULL,            -- IPv4 address or IPv6 /64 of the client; '' when unknown (CLI, tests)
    failures     INTEGER NOT NULL DEFAULT 0,  -- wrong passwords from this source since its last success, lock or idle window
    pending      INTEGER NOT NULL DEFAULT 0,  -- attempts reserved and being hashed now: they count against max_failures
    locked_until INTEGER,                  -- ms; this source is refused (403 account_locked) until then
    updated_at   INTEGER NOT NULL,         -- ms; last reservation or outcome: idle rows restart counting and are purged
    PRIMARY KEY (user_id, source)          -- also serves "every source of a user" (admin view, unlock)
);
CREATE INDEX login_attempts_updated_at ON login_attempts(updated_at);  -- purge of idle rows

-- Sources the owner signed in from with the right password: they still get in while the
-- account-wide lock holds. At most a few per user (the most recent ones), trimmed on insert.
CREATE TABLE known_sources (
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,  -- goes with its account
    source    TEXT NOT NULL,               -- as login_attempts.source
    last_seen INTEGER NOT NULL,            -- ms; last successful sign-in from it: the oldest is dropped first
    PRIMARY KEY (user_id, source)
);
