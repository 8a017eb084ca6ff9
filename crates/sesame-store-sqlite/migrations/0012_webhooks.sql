-- Webhooks (issue #20): endpoints an admin adds, and the outbox of their deliveries. A change
-- and the delivery rows of the events it makes are written in one transaction (the store
-- derives the events from the change's audit entries and the sessions it ended, see
-- sesame_core::webhooks), one row per endpoint subscribed at that moment; a background worker
-- sends them and records each attempt. So a crash between commit and send delays a delivery,
-- never drops it.

CREATE TABLE webhook_endpoints (
    id         TEXT PRIMARY KEY,                -- UUIDv7: time-ordered, so listed oldest first
    url        TEXT NOT NULL,                   -- https:// (http:// only to a private receiver, see webhooks::target)
    events     TEXT NOT NULL,                   -- JSON list of event types it subscribes to
    secret     BLOB NOT NULL,                   -- the 32-byte signing key: kept as it is, since it must sign again
                                                -- (a key, like signing_keys.private_der; shown once as whsec_ + base64)
    status     TEXT NOT NULL DEFAULT 'active',  -- 'active' | 'disabled' (it answered 410 Gone)
    created_at INTEGER NOT NULL
);

-- One event's delivery to one endpoint. No foreign key to the endpoint: a change committing
-- while its endpoint is deleted must not fail for it (its row is purged as an orphan instead).
CREATE TABLE webhook_deliveries (
    endpoint_id     TEXT NOT NULL,
    id              TEXT NOT NULL,              -- the event's UUIDv7: the webhook-id header at every attempt
    event           TEXT NOT NULL,              -- its type (user.created, session.revoked, ...)
    body            TEXT NOT NULL,              -- the exact JSON sent and signed; ids only, never a secret
    created_at      INTEGER NOT NULL,           -- ms; the event's time: retries stop 24 h after it
    status          TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | failed | disabled
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,           -- ms; due then; also the lease of a worker sending it
    last_attempt_at INTEGER,
    response_status INTEGER,                    -- HTTP status of the last answer (none on a network error)
    last_error      TEXT,                       -- why the last attempt failed, for operators
    settled_at      INTEGER,                    -- ms; when it left 'pending': purged a while after
    PRIMARY KEY (endpoint_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_settled ON webhook_deliveries(settled_at) WHERE status <> 'pending';
