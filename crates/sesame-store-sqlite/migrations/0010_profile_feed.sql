-- Profile changes join the revocation feed (kind 'profile', subject = user id), so that every
-- replica can hold the rows its hot reads need (GET /profile) in memory and drop a user's row
-- within a poll of any change to what the profile shows, made by any replica or the CLI.
-- (The PostgreSQL file of the same number says the same.)
--
-- What the profile shows is the user row (email, username, display name, email_verified,
-- disabled, updated_at), its roles, and the address waiting for verification:
-- - every statement that changes the row or the roles sets `updated_at` (role changes do, see
--   `set_roles`), so one trigger on the listed columns sees them all; logins, which touch only
--   `last_login_at` and the lockout counters, write nothing here;
-- - deleting the user writes an entry too;
-- - a verification link for an address other than the current one makes a pending change;
--   caches never hold a profile with one (it expires by time), so only its creation matters.
--
-- Entries revoke nothing; readers only drop the user from their cache. Kept ten minutes: a
-- running replica reads it within a second, and a starting one starts with an empty cache.
-- Rolling upgrades: a process of the previous version skips the unknown kind with a warning.

CREATE TRIGGER users_profile_changed
AFTER UPDATE OF email, username, display_name, email_verified, disabled, updated_at ON users
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('profile', NEW.id, CAST(unixepoch('subsec') * 1000 AS INTEGER) + 600000,
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

CREATE TRIGGER users_profile_deleted AFTER DELETE ON users
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('profile', OLD.id, CAST(unixepoch('subsec') * 1000 AS INTEGER) + 600000,
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

CREATE TRIGGER email_change_pending AFTER INSERT ON email_tokens
WHEN NEW.purpose = 'verify'
 AND NEW.email_canonical <> (SELECT email_canonical FROM users WHERE id = NEW.user_id)
BEGIN
    INSERT INTO revocations (kind, subject, until, at)
    VALUES ('profile', NEW.user_id, CAST(unixepoch('subsec') * 1000 AS INTEGER) + 600000,
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
