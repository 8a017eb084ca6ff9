-- Refresh tokens name their session (issue #23): a rotation updates the session's row in place
-- (the hash of its live token, and of the one it spent) instead of inserting a row per token into
-- `refresh_tokens`, whose four B-trees were most of a refresh's writes. `refresh_tokens` keeps
-- the tokens issued before this migration until they expire (they still work, and their reuse is
-- still detected); nothing new is written there.
ALTER TABLE sessions ADD COLUMN refresh_hash BLOB;   -- SHA-256 of the live refresh token; NULL for browser sessions
ALTER TABLE sessions ADD COLUMN spent_hash BLOB;     -- SHA-256 of the token the last rotation spent
ALTER TABLE sessions ADD COLUMN spent_at INTEGER;    -- when it was spent (the grace window starts)

UPDATE sessions SET refresh_hash =
    (SELECT r.hash FROM refresh_tokens r WHERE r.session_id = sessions.id AND r.spent_at IS NULL
     ORDER BY r.issued_at DESC LIMIT 1)
WHERE browser_hash IS NULL;

UPDATE sessions SET (spent_hash, spent_at) =
    (SELECT r.hash, r.spent_at FROM refresh_tokens r WHERE r.session_id = sessions.id AND r.spent_at IS NOT NULL
     ORDER BY r.spent_at DESC LIMIT 1)
WHERE browser_hash IS NULL;
