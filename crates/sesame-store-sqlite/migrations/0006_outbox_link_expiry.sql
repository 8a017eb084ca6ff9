-- An outbox row holds a working one-time link in plain text until it is delivered. Once the
-- link has expired, delivering it is pointless and keeping it is a risk for nothing: the sender
-- gives the message up instead of retrying it forever, and its bodies are cleared then, as a
-- sent message's are. (docs/security.md, "Emailed links".)
ALTER TABLE email_outbox ADD COLUMN expires_at INTEGER;     -- ms; when the link in the message stops working: never sent after that
ALTER TABLE email_outbox ADD COLUMN abandoned_at INTEGER;   -- ms; set when the link expired before delivery (bodies cleared then); purged a day later like sent rows
-- Rows queued before this migration: a day after they were made, the longest default lifetime
-- of a link (SESAME_EMAIL_VERIFY_TTL); a reset link among them died long before.
UPDATE email_outbox SET expires_at = created_at + 86400000 WHERE expires_at IS NULL;
-- The sender gives up on expired undelivered rows every round: found by this index.
CREATE INDEX email_outbox_expiry ON email_outbox(expires_at) WHERE sent_at IS NULL AND abandoned_at IS NULL;
