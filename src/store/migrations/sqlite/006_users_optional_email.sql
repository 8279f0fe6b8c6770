-- 006_users_optional_email: a user needs an email or a username, not both
-- (simplejwt's register takes a username and a password only). users is
-- rebuilt (SQLite cannot drop NOT NULL in place) with email and email_lc
-- nullable; email_lc stays UNIQUE (any number of NULLs may stand) and a
-- CHECK keeps at least one of email and username. It also gains phone and
-- contacts (JSON text) for the user_account face (DESIGN 3); nothing reads
-- them yet.
-- portcullis: foreign keys off
-- SQLite's table rebuild: with foreign keys off, dropping users does not
-- cascade into sessions, one_time_tokens, refresh_*, totp_*; the runner
-- checks every reference still points at a row (foreign_key_check) before
-- committing. Every index and trigger on users is made again.

CREATE TABLE users_new (
	id                  TEXT PRIMARY KEY NOT NULL,
	email               TEXT,
	email_lc            TEXT UNIQUE,
	username            TEXT,
	username_lc         TEXT UNIQUE,
	full_name           TEXT,
	hashed_password     TEXT,
	is_active           INTEGER NOT NULL DEFAULT 1,
	is_superuser        INTEGER NOT NULL DEFAULT 0,
	is_verified         INTEGER NOT NULL DEFAULT 0,
	password_changed_at INTEGER NOT NULL DEFAULT 0,
	created_at          INTEGER NOT NULL,
	updated_at          INTEGER NOT NULL,
	totp_enabled        INTEGER NOT NULL DEFAULT 0,
	roles               TEXT NOT NULL DEFAULT '',
	phone               TEXT,
	contacts            TEXT,
	CHECK (email IS NOT NULL OR username IS NOT NULL),
	CHECK ((email IS NULL) = (email_lc IS NULL))
) WITHOUT ROWID;

INSERT INTO users_new (id, email, email_lc, username, username_lc, full_name, hashed_password,
	is_active, is_superuser, is_verified, password_changed_at, created_at, updated_at,
	totp_enabled, roles)
SELECT id, email, email_lc, username, username_lc, full_name, hashed_password,
	is_active, is_superuser, is_verified, password_changed_at, created_at, updated_at,
	totp_enabled, roles
FROM users;

DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

CREATE INDEX users_created ON users (created_at, id);

CREATE TRIGGER users_password_change_voids_reset
AFTER UPDATE OF password_changed_at ON users
WHEN NEW.password_changed_at IS NOT OLD.password_changed_at
BEGIN
	UPDATE one_time_tokens SET used_at = NEW.password_changed_at
	WHERE user_id = NEW.id AND purpose = 'reset' AND used_at IS NULL;
END;
