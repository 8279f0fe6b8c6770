-- 011_credentials_epoch: credentials end with the password (issue 13).
--
-- credentials_epoch_ms: when the password last changed, in unix
-- milliseconds (0: never). Written by the statements that change
-- password_changed_at (STMT_USER_UPDATE when it moves, STMT_USER_SET_PASSWORD)
-- from the server's clock. An access JWT is good only when it was issued
-- strictly after it: its issue time in milliseconds rides in its jti
-- (jwt.c), and the store's per-request user read compares it
-- (STMT_USER_BY_ID_UNREVOKED*), so a token issued in the same second as
-- the change, before it, is refused while one issued after it is not.
--
-- A password change (PATCH, admin, reset) ends the user's database
-- sessions and revokes its refresh families and their tokens, in the
-- statement that changes it (as 002 and 008 void the reset and magic links):
-- no code path can forget it. Rehashing on login does not move
-- password_changed_at and ends nothing.

ALTER TABLE users ADD COLUMN credentials_epoch_ms INTEGER NOT NULL DEFAULT 0;

-- Where a refresh family (a token login) began, as database sessions keep
-- it, for the user's list of its sign-ins (GET /users/me/sessions).
ALTER TABLE refresh_families ADD COLUMN ip TEXT;
ALTER TABLE refresh_families ADD COLUMN user_agent TEXT;

CREATE TRIGGER users_password_change_ends_sessions
AFTER UPDATE OF password_changed_at ON users
WHEN NEW.password_changed_at IS NOT OLD.password_changed_at
BEGIN
	DELETE FROM sessions WHERE user_id = NEW.id;
	UPDATE refresh_families SET revoked_at = NEW.password_changed_at
	WHERE user_id = NEW.id AND revoked_at IS NULL;
	UPDATE refresh_tokens SET revoked_at = NEW.password_changed_at
	WHERE user_id = NEW.id AND revoked_at IS NULL;
END;
