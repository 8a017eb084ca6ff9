-- Token exchange (RFC 8693) carries only the user roles an admin allowed the exchanging client
-- to delegate. Before this, an exchanged token copied every role of the subject token, `admin`
-- included, so any client holding an admin's token could mint an admin token for its own
-- audiences. Existing clients get the empty list: their exchanged tokens carry no roles until
-- an admin creates a client that may delegate some (clients are never changed in place).
-- A constant default: PostgreSQL adds the column without rewriting the table.
ALTER TABLE clients
    ADD COLUMN delegable_roles text[] NOT NULL DEFAULT '{}';  -- roles an exchanged token may carry (those the user has)
