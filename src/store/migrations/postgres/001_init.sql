-- 001_init (PostgreSQL twin of sqlite/001_init.sql): users, database
-- sessions, the JWT denylist, generated keys. Timestamps are unix seconds
-- (BIGINT); flags are INTEGER 0/1, as in SQLite, so that one statement text
-- of the operations reads the same in both dialects. Ids are UUIDv7 text.
-- Tokens are stored only as hex SHA-256 of their text.

CREATE TABLE users (
	id                  TEXT PRIMARY KEY NOT NULL,
	email               TEXT NOT NULL,
	email_lc            TEXT NOT NULL UNIQUE,
	username            TEXT,
	username_lc         TEXT UNIQUE,
	full_name           TEXT,
	hashed_password     TEXT,
	is_active           INTEGER NOT NULL DEFAULT 1,
	is_superuser        INTEGER NOT NULL DEFAULT 0,
	is_verified         INTEGER NOT NULL DEFAULT 0,
	password_changed_at BIGINT NOT NULL DEFAULT 0,
	created_at          BIGINT NOT NULL,
	updated_at          BIGINT NOT NULL
);
CREATE INDEX users_created ON users (created_at, id);

CREATE TABLE sessions (
	token_hash   TEXT PRIMARY KEY NOT NULL,
	user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL,
	ip           TEXT,
	user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE revoked_jti (
	jti        TEXT PRIMARY KEY NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_jti_expires ON revoked_jti (expires_at);

CREATE TABLE keys (
	name       TEXT PRIMARY KEY NOT NULL,
	value      TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

-- Many instances: every write that can change what an instance remembers
-- about a credential (authcache.c) notifies channel portcullis_gen when it
-- commits; each instance's listener moves its write generation on it.
CREATE FUNCTION portcullis_notify_gen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('portcullis_gen', '');
	RETURN NULL;
END;
$$;
CREATE TRIGGER users_notify_gen AFTER UPDATE OR DELETE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_gen();
CREATE TRIGGER sessions_notify_gen AFTER UPDATE OR DELETE ON sessions
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_gen();
CREATE TRIGGER revoked_jti_notify_gen AFTER INSERT OR UPDATE OR DELETE ON revoked_jti
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_gen();
