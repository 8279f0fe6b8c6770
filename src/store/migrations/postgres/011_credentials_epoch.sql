-- 011_credentials_epoch (PostgreSQL twin of sqlite/011_credentials_epoch.sql):
-- credentials end with the password. credentials_epoch_ms is when the
-- password last changed (unix ms, 0: never); an access JWT is good only when
-- issued strictly after it (its issue millisecond rides in its jti). A change
-- of password_changed_at ends the user's sessions and revokes its refresh
-- families and tokens in the same statement, so no path can forget it; the
-- writes notify portcullis_gen through those tables' own triggers.
ALTER TABLE users ADD COLUMN credentials_epoch_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_families ADD COLUMN ip TEXT;
ALTER TABLE refresh_families ADD COLUMN user_agent TEXT;

CREATE FUNCTION users_password_change_ends_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM sessions WHERE user_id = NEW.id;
	UPDATE refresh_families SET revoked_at = NEW.password_changed_at
	WHERE user_id = NEW.id AND revoked_at IS NULL;
	UPDATE refresh_tokens SET revoked_at = NEW.password_changed_at
	WHERE user_id = NEW.id AND revoked_at IS NULL;
	RETURN NULL;
END;
$$;
CREATE TRIGGER users_password_change_ends_sessions AFTER UPDATE OF password_changed_at ON users
	FOR EACH ROW WHEN (NEW.password_changed_at IS DISTINCT FROM OLD.password_changed_at)
	EXECUTE FUNCTION users_password_change_ends_sessions();
