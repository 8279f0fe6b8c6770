-- 015_credential_changes: what a remembered credential depends on, per user
-- (issue 15, item 3; store.h, store_cred_*; authcache.c).
--
-- revoked_jti.user_id: the subject of the revoked token (NULL for rows
-- written before, and when unknown), so that a logout voids its user's
-- remembered credentials only.
--
-- credential_changes: one row per change of a row that a credential check
-- reads (STMT_USER_BY_ID_UNREVOKED*, STMT_SESSION_USER: users, sessions,
-- revoked_jti, refresh_families), written by the triggers below, so that
-- every writer is seen: this server, another one on the same file, the CLI,
-- a hand edit with the sqlite3 shell. user_id NULL: a user not known (every
-- remembered credential is voided). The server reads the rows after its own
-- commits and, for other processes' writes, at least every auth_cache_ms / 2
-- while it answers from the cache; rows older than an hour are purged
-- (store_purge_expired). Inserts (a new user, session or family, a login)
-- change no answer a cache holds and are not logged, nor are the denylist's
-- deletes (a cache remembers successes only).
ALTER TABLE revoked_jti ADD COLUMN user_id TEXT;

CREATE TABLE credential_changes (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id TEXT,
	at      INTEGER NOT NULL
);
CREATE INDEX credential_changes_at ON credential_changes (at);

CREATE TRIGGER credential_changes_users_update AFTER UPDATE ON users
BEGIN
	INSERT INTO credential_changes (user_id, at)
	VALUES (OLD.id, CAST(strftime('%s', 'now') AS INTEGER));
END;

CREATE TRIGGER credential_changes_users_delete AFTER DELETE ON users
BEGIN
	INSERT INTO credential_changes (user_id, at)
	VALUES (OLD.id, CAST(strftime('%s', 'now') AS INTEGER));
END;

CREATE TRIGGER credential_changes_sessions_update AFTER UPDATE ON sessions
BEGIN
	INSERT INTO credential_changes (user_id, at)
	VALUES (OLD.user_id, CAST(strftime('%s', 'now') AS INTEGER));
END;

CREATE TRIGGER credential_changes_sessions_delete AFTER DELETE ON sessions
BEGIN
	INSERT INTO credential_changes (user_id, at)
	VALUES (OLD.user_id, CAST(strftime('%s', 'now') AS INTEGER));
END;

CREATE TRIGGER credential_changes_revoked_jti_insert AFTER INSERT ON revoked_jti
BEGIN
	INSERT INTO credential_changes (user_id, at)
	VALUES (NEW.user_id, CAST(strftime('%s', 'now') AS INTEGER));
END;

CREATE TRIGGER credential_changes_refresh_families_update AFTER UPDATE ON refresh_families
BEGIN
	INSERT INTO credential_changes (user_id, at)
	VALUES (OLD.user_id, CAST(strftime('%s', 'now') AS INTEGER));
END;

CREATE TRIGGER credential_changes_refresh_families_delete AFTER DELETE ON refresh_families
BEGIN
	INSERT INTO credential_changes (user_id, at)
	VALUES (OLD.user_id, CAST(strftime('%s', 'now') AS INTEGER));
END;
