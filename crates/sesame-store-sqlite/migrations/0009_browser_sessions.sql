-- Browser sessions (issue #17): a person signed in on Sesame's own pages holds a session like any
-- other (listed, ended by logout-all, a password change, an admin disable), but it is carried by
-- the `__Host-sesame` cookie instead of refresh tokens. Only the cookie's hash is kept, so a copy
-- of the database signs no one in. API sessions leave it NULL.
ALTER TABLE sessions ADD COLUMN browser_hash BLOB;  -- SHA-256 of the cookie value; NULL for API sessions
CREATE UNIQUE INDEX sessions_browser_hash ON sessions(browser_hash) WHERE browser_hash IS NOT NULL;  -- the lookup of every signed-in page view
