-- The console's charts (issue #21) count audit events of a few kinds per bucket of time over
-- the last day: an index on (event, at) reads exactly those rows, whatever else was audited.
CREATE INDEX audit_log_event_at ON audit_log(event, at);
