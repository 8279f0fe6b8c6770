-- 004_totp (PostgreSQL twin of sqlite/004_totp.sql): TOTP second factor.
ALTER TABLE users ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;

CREATE TABLE user_totp (
	user_id      TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	secret_enc   TEXT,
	pending_enc  TEXT,
	last_step    BIGINT NOT NULL DEFAULT 0,
	failures     BIGINT NOT NULL DEFAULT 0,
	locked_until BIGINT NOT NULL DEFAULT 0,
	updated_at   BIGINT NOT NULL
);

CREATE TABLE totp_recovery_codes (
	user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash TEXT NOT NULL,
	used_at   BIGINT,
	PRIMARY KEY (user_id, code_hash)
);
