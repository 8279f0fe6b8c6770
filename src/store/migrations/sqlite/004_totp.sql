-- 004_totp: TOTP second factor (src/core/totp.c draws its states).
-- users.totp_enabled is the one flag saying whether a login needs the
-- second factor: a column of users so that every user read (the access
-- check included) carries it without a second query. It is written only by
-- the TOTP operations (never by user_update), in the transaction that
-- writes user_totp.
-- user_totp holds the rest, one row per user that has started enrolment:
-- secret_enc (the enabled secret) and pending_enc (the one new-totp handed
-- out, not yet confirmed), both AES-256-GCM text "v1:<key id>:<base64>"
-- (never the secret in clear); last_step, the last accepted time step (the
-- replay guard's compare-and-swap); failures and locked_until, the lockout
-- of wrong codes (kept here so that they survive restarts).
-- totp_recovery_codes: the hex SHA-256 of each recovery code, used_at set
-- once when it is spent.

ALTER TABLE users ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;

CREATE TABLE user_totp (
	user_id      TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	secret_enc   TEXT,
	pending_enc  TEXT,
	last_step    INTEGER NOT NULL DEFAULT 0,
	failures     INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE totp_recovery_codes (
	user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash TEXT NOT NULL,
	used_at   INTEGER,
	PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;
