-- Profile changes join the revocation feed (kind 'profile', subject = user id), so that every
-- replica can hold the rows its hot reads need (GET /profile) in memory and drop a user's row
-- within a poll of any change to what the profile shows, made by any replica or the CLI.
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
-- Rolling upgrades: a replica of the previous version skips the unknown kind with a warning.

ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check
    CHECK (kind IN ('session', 'token', 'client', 'key', 'user', 'profile'));

CREATE FUNCTION sesame_profile_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO revocations (kind, subject, until)
        VALUES ('profile', OLD.id::text, clock_timestamp() + interval '10 minutes');
        RETURN OLD;
    END IF;
    INSERT INTO revocations (kind, subject, until)
    VALUES ('profile', NEW.id::text, clock_timestamp() + interval '10 minutes');
    RETURN NEW;
END;
$$;

CREATE TRIGGER users_profile_changed
AFTER UPDATE OF email, username, display_name, email_verified, disabled, updated_at OR DELETE
ON users FOR EACH ROW EXECUTE FUNCTION sesame_profile_changed();

CREATE FUNCTION sesame_email_change_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.email_canonical <> (SELECT email_canonical FROM users WHERE id = NEW.user_id) THEN
        INSERT INTO revocations (kind, subject, until)
        VALUES ('profile', NEW.user_id::text, clock_timestamp() + interval '10 minutes');
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER email_change_pending AFTER INSERT ON email_tokens
FOR EACH ROW WHEN (NEW.purpose = 'verify') EXECUTE FUNCTION sesame_email_change_pending();
