-- 008_password_voids_magic: a password change voids the user's outstanding
-- magic links too, not only its reset links. A magic link is a credential
-- (it signs the user in); a user who changes a password after a compromise
-- expects every way in that was mailed before to stop. As before, the
-- statement that changes the password does it: no code path can forget.
-- Rehashing on login rewrites hashed_password but not password_changed_at,
-- and so voids nothing.

DROP TRIGGER users_password_change_voids_reset;

CREATE TRIGGER users_password_change_voids_reset
AFTER UPDATE OF password_changed_at ON users
WHEN NEW.password_changed_at IS NOT OLD.password_changed_at
BEGIN
	UPDATE one_time_tokens SET used_at = NEW.password_changed_at
	WHERE user_id = NEW.id AND purpose IN ('reset', 'magic') AND used_at IS NULL;
END;
