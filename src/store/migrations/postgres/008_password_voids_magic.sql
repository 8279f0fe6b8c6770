-- 008_password_voids_magic (PostgreSQL twin): a password change voids the
-- user's outstanding magic links too, not only its reset links.
CREATE OR REPLACE FUNCTION users_password_change_voids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE one_time_tokens SET used_at = NEW.password_changed_at
	WHERE user_id = NEW.id AND purpose IN ('reset', 'magic') AND used_at IS NULL;
	RETURN NULL;
END;
$$;
