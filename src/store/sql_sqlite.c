/*
 * sql_sqlite.c - the SQL text of every statement of enum store_stmt, for SQLite.
 *
 * Parameters are named (":id") and bound by name (driver.h). A statement that
 * returns rows lists the columns of its set in store_stmt_cols[] (ops.c), in
 * that order: the driver checks the names when it prepares the statement.
 *
 * Where SQLite differs from PostgreSQL:
 *  - BEGIN IMMEDIATE takes the write lock up front, waiting on the busy
 *    timeout; a deferred transaction that upgrades from read to write can get
 *    SQLITE_BUSY without the busy handler being tried.
 *  - STMT_OUTBOX_NEXT needs no row lock: the transaction that claims already
 *    holds the one write lock of the database (PostgreSQL: FOR UPDATE SKIP
 *    LOCKED, so that two senders pass each other instead of waiting).
 */
#include "store/driver.h"

/* The columns of struct pc_user (USER_COLUMNS). */
#define USER_COLS \
	"id, email, username, full_name, hashed_password, is_active, is_superuser, " \
	"is_verified, password_changed_at, created_at, updated_at, totp_enabled, roles"
#define USER_COLS_U \
	"u.id, u.email, u.username, u.full_name, u.hashed_password, u.is_active, " \
	"u.is_superuser, u.is_verified, u.password_changed_at, u.created_at, u.updated_at, " \
	"u.totp_enabled, u.roles"
/* The columns of struct pc_onetime_row (ONETIME_COLUMNS). */
#define ONETIME_COLS \
	"token_hash, purpose, user_id, email, coalesce(claim_hash, '') AS claim_hash, " \
	"created_at, expires_at, " \
	"coalesce(used_at, 0) AS used_at"
/* The columns of struct pc_outbox_row (OUTBOX_COLUMNS). */
#define OUTBOX_COLS \
	"id, kind, recipient, subject, body_text, body_html, payload, attempts, " \
	"next_attempt_at, claimed_until, coalesce(sent_at, 0) AS sent_at, " \
	"coalesce(gave_up_at, 0) AS gave_up_at, last_error, created_at"
/* The columns of struct pc_refresh_row (REFRESH_COLUMNS). */
#define REFRESH_COLS \
	"token_hash, family_id, user_id, created_at, expires_at, " \
	"coalesce(used_at, 0) AS used_at, coalesce(revoked_at, 0) AS revoked_at"
/* A row a sender may take at :now: unsent, not given up, due, no lease running. */
#define OUTBOX_DUE_WHERE \
	"sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= :now " \
	"AND claimed_until <= :now"

const char *const store_sql_sqlite[STMT__MAX] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_PING] = "SELECT 1 AS one",
	[STMT_SCHEMA_CREATE] =
		"CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY NOT NULL, "
		"name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
	[STMT_SCHEMA_CURRENT] =
		"SELECT coalesce(max(version), 0) AS version FROM schema_version",
	[STMT_SCHEMA_INSERT] =
		"INSERT INTO schema_version (version, name, applied_at) "
		"VALUES (:version, :name, :applied_at)",
	[STMT_FOREIGN_KEYS_OFF] = "PRAGMA foreign_keys = OFF",
	[STMT_FOREIGN_KEYS_ON] = "PRAGMA foreign_keys = ON",
	[STMT_FOREIGN_KEYS_BROKEN] = "SELECT count(*) AS n FROM pragma_foreign_key_check",
	[STMT_USER_INSERT] =
		"INSERT INTO users (id, email, email_lc, username, username_lc, full_name, "
		"hashed_password, is_active, is_superuser, is_verified, password_changed_at, "
		"roles, updated_at, created_at) "
		"VALUES (:id, :email, :email_lc, :username, :username_lc, :full_name, "
		":hashed_password, :is_active, :is_superuser, :is_verified, :password_changed_at, "
		":roles, :updated_at, :created_at)",
	[STMT_USER_BY_ID] = "SELECT " USER_COLS " FROM users WHERE id = :id",
	[STMT_USER_BY_ID_UNREVOKED] = "SELECT " USER_COLS " FROM users WHERE id = :id "
		"AND credentials_epoch_ms < :issued_ms "
		"AND NOT EXISTS (SELECT 1 FROM revoked_jti WHERE jti = :jti)",
	[STMT_USER_BY_EMAIL] = "SELECT " USER_COLS " FROM users WHERE email_lc = :key",
	[STMT_USER_BY_USERNAME] = "SELECT " USER_COLS " FROM users WHERE username_lc = :key",
	[STMT_USER_UPDATE] =
		"UPDATE users SET email = :email, email_lc = :email_lc, username = :username, "
		"username_lc = :username_lc, full_name = :full_name, "
		"hashed_password = :hashed_password, is_active = :is_active, "
		"is_superuser = :is_superuser, is_verified = :is_verified, "
		"credentials_epoch_ms = CASE WHEN password_changed_at = :password_changed_at "
		"THEN credentials_epoch_ms ELSE :now_ms END, "
		"password_changed_at = :password_changed_at, roles = :roles, "
		"updated_at = :updated_at WHERE id = :id",
	[STMT_USER_DELETE] = "DELETE FROM users WHERE id = :key",
	/* The list seeks to the key of the user_pages bucket where its offset
	 * falls (found by store_user_list walking STMT_USER_PAGES) and skips the
	 * rest of the offset inside that bucket: at most about 1000 index steps at
	 * any page (migration 006). The steps skipped and the page's keys come
	 * from the covering index (created_at, id) alone; only the page's own
	 * rows are then read from the table (a skip over full rows read each one:
	 * 2.6x slower at page 10 000 of 1 000 000). */
	[STMT_USER_LIST] =
		"SELECT " USER_COLS_U " FROM (SELECT created_at AS k_created, id AS k_id "
		"FROM users WHERE (created_at, id) >= (:first_created_at, :first_id) "
		"ORDER BY created_at, id LIMIT :limit OFFSET :skip) AS k "
		"JOIN users AS u ON u.id = k.k_id ORDER BY k.k_created, k.k_id",
	[STMT_USER_PAGES] =
		"SELECT first_created_at, first_id, n FROM user_pages "
		"ORDER BY first_created_at, first_id",
	[STMT_USER_COUNT] = "SELECT count(*) AS n FROM users",
	[STMT_SESSION_INSERT] =
		"INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at, "
		"ip, user_agent) VALUES (:token_hash, :user_id, :created_at, :expires_at, "
		":last_seen_at, :ip, :user_agent)",
	[STMT_SESSION_USER] =
		"SELECT " USER_COLS_U ", s.expires_at FROM sessions AS s "
		"JOIN users AS u ON u.id = s.user_id "
		"WHERE s.token_hash = :token_hash AND s.expires_at > :now",
	[STMT_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = :key",
	[STMT_SESSION_DELETE_USER] = "DELETE FROM sessions WHERE user_id = :key",
	[STMT_JTI_REVOKE] =
		"INSERT INTO revoked_jti (jti, user_id, expires_at) VALUES (:jti, :user_id, :expires_at) "
		"ON CONFLICT (jti) DO NOTHING",
	[STMT_JTI_IS_REVOKED] = "SELECT 1 AS one FROM revoked_jti WHERE jti = :jti",
	[STMT_PURGE_SESSIONS] = "DELETE FROM sessions WHERE expires_at <= :before",
	[STMT_PURGE_JTI] = "DELETE FROM revoked_jti WHERE expires_at <= :before",
	[STMT_KEY_GET] = "SELECT value FROM keys WHERE name = :name",
	[STMT_KEY_PUT] =
		"INSERT INTO keys (name, value, created_at) VALUES (:name, :value, :created_at) "
		"ON CONFLICT (name) DO NOTHING",
	/* A session's id is 's' and the first 32 hex digits of its token's hash
	 * (the hash of a hash: it opens nothing); a refresh family's is 'r' and
	 * its id. A family's last use is its newest token's creation. */
	/* A window that began :window seconds ago or more starts again. */
	[STMT_RL_HIT] =
		"INSERT INTO rate_limits (key, window_start, hits) VALUES (:key, :now, 1) "
		"ON CONFLICT (key) DO UPDATE SET "
		"hits = CASE WHEN rate_limits.window_start <= :now - :window THEN 1 "
		"ELSE rate_limits.hits + 1 END, "
		"window_start = CASE WHEN rate_limits.window_start <= :now - :window THEN :now "
		"ELSE rate_limits.window_start END "
		"RETURNING hits, window_start AS at",
	[STMT_RL_GET] = "SELECT hits, locked_until AS at FROM rate_limits WHERE key = :key",
	[STMT_RL_WINDOW] = "SELECT hits, window_start AS at FROM rate_limits WHERE key = :key",
	[STMT_RL_FAIL] =
		"INSERT INTO rate_limits (key, window_start, hits) VALUES (:key, :now, 1) "
		"ON CONFLICT (key) DO UPDATE SET hits = rate_limits.hits + 1, window_start = :now "
		"RETURNING hits, locked_until AS at",
	[STMT_RL_LOCK] =
		"UPDATE rate_limits SET locked_until = :until WHERE key = :key AND locked_until < :until",
	[STMT_RL_CLEAR] = "DELETE FROM rate_limits WHERE key = :key",
	[STMT_RL_PURGE] =
		"DELETE FROM rate_limits WHERE window_start <= :before AND locked_until <= :now",
	[STMT_SIGNINS_OF_USER] =
		"SELECT 's' || substr(token_hash, 1, 32) AS id, 'session' AS kind, created_at, "
		"last_seen_at, expires_at, coalesce(ip, '') AS ip, "
		"coalesce(user_agent, '') AS user_agent FROM sessions "
		"WHERE user_id = :user_id AND expires_at > :now "
		"UNION ALL "
		"SELECT 'r' || f.family_id AS id, 'refresh' AS kind, f.created_at, "
		"(SELECT max(t.created_at) FROM refresh_tokens AS t "
		"WHERE t.family_id = f.family_id) AS last_seen_at, "
		"(SELECT max(t.expires_at) FROM refresh_tokens AS t "
		"WHERE t.family_id = f.family_id) AS expires_at, coalesce(f.ip, '') AS ip, "
		"coalesce(f.user_agent, '') AS user_agent "
		"FROM refresh_families AS f WHERE f.user_id = :user_id AND f.revoked_at IS NULL "
		"AND EXISTS (SELECT 1 FROM refresh_tokens AS t WHERE t.family_id = f.family_id "
		"AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > :now) "
		"ORDER BY created_at, id",
	[STMT_SESSION_DELETE_ONE] =
		"DELETE FROM sessions WHERE user_id = :user_id AND substr(token_hash, 1, 32) = :key",
	[STMT_RF_FAMILY_REVOKE_OF] =
		"UPDATE refresh_families SET revoked_at = :now "
		"WHERE family_id = :key AND user_id = :user_id AND revoked_at IS NULL",
	[STMT_RF_REVOKE_TOKENS_OF] =
		"UPDATE refresh_tokens SET revoked_at = :now "
		"WHERE family_id = :key AND user_id = :user_id AND revoked_at IS NULL",
	/* NORMAL with the driver's group commit is as durable as FULL (sqlite.c) */
	[STMT_SYNCHRONOUS] =
		"SELECT CASE WHEN synchronous = 1 AND portcullis_group_commit() = 1 THEN 2 "
		"ELSE synchronous END AS n FROM pragma_synchronous",
	[STMT_WRITE_PROBE] =
		"INSERT INTO keys (name, value, created_at) VALUES ('write_probe', '', :now) "
		"ON CONFLICT (name) DO UPDATE SET created_at = :now",
	[STMT_TOKEN_DECOY] =
		"INSERT INTO token_decoys (slot, tag, owner, payload, written_at) "
		"VALUES (:slot, :tag, :owner, :payload, :now) ON CONFLICT (slot) DO UPDATE "
		"SET tag = :tag, owner = :owner, payload = :payload, written_at = :now",
	[STMT_MAIL_DECOY] =
		"INSERT INTO mail_decoys (slot, payload, written_at) VALUES (:slot, :payload, :now) "
		"ON CONFLICT (slot) DO UPDATE SET payload = :payload, written_at = :now",
	[STMT_OT_VOID] =
		"UPDATE one_time_tokens SET used_at = :at "
		"WHERE user_id = :user_id AND purpose = :purpose AND used_at IS NULL",
	[STMT_OT_INSERT] =
		"INSERT INTO one_time_tokens (token_hash, purpose, user_id, email, claim_hash, "
		"created_at, expires_at) VALUES (:token_hash, :purpose, :user_id, :email, "
		":claim_hash, :created_at, :expires_at)",
	[STMT_OT_GET] = "SELECT " ONETIME_COLS " FROM one_time_tokens WHERE token_hash = :token_hash",
	[STMT_OT_USE] =
		"UPDATE one_time_tokens SET used_at = :now WHERE token_hash = :token_hash "
		"AND purpose = :purpose AND used_at IS NULL AND expires_at > :now",
	[STMT_USER_SET_PASSWORD] =
		"UPDATE users SET hashed_password = :hashed_password, "
		"password_changed_at = :password_changed_at, credentials_epoch_ms = :now_ms, "
		"updated_at = :now WHERE id = :id AND is_active = 1 AND email_lc = :email_lc",
	[STMT_USER_SET_VERIFIED] =
		"UPDATE users SET is_verified = 1, updated_at = :now "
		"WHERE id = :id AND email_lc = :email_lc AND is_verified = 0",
	[STMT_USER_MAGIC_LOGIN] =
		"UPDATE users SET is_verified = 1, "
		"updated_at = CASE WHEN is_verified = 0 THEN :now ELSE updated_at END "
		"WHERE id = :id AND is_active = 1 AND email_lc = :email_lc",
	[STMT_OUTBOX_STATS] =
		"SELECT count(*) AS pending, "
		"coalesce(sum(last_error IS NOT NULL), 0) AS failed, "
		"coalesce(min(created_at), 0) AS oldest "
		"FROM mail_outbox WHERE sent_at IS NULL AND gave_up_at IS NULL",
	[STMT_OUTBOX_INSERT] =
		"INSERT INTO mail_outbox (kind, recipient, subject, body_text, body_html, payload, "
		"next_attempt_at, created_at) VALUES (:kind, :recipient, :subject, :body_text, "
		":body_html, :payload, :next_attempt_at, :created_at)",
	[STMT_OUTBOX_DUE] = "SELECT 1 AS one FROM mail_outbox WHERE " OUTBOX_DUE_WHERE " LIMIT 1",
	[STMT_OUTBOX_NEXT] =
		"SELECT id FROM mail_outbox WHERE " OUTBOX_DUE_WHERE
		" ORDER BY next_attempt_at, id LIMIT 1",
	[STMT_OUTBOX_LEASE] =
		"UPDATE mail_outbox SET claimed_until = :lease_until, attempts = attempts + 1 "
		"WHERE id = :id",
	[STMT_OUTBOX_GET] = "SELECT " OUTBOX_COLS " FROM mail_outbox WHERE id = :id",
	[STMT_OUTBOX_SENT] =
		"UPDATE mail_outbox SET sent_at = :at, claimed_until = 0, body_text = '', "
		"body_html = '', payload = '' WHERE id = :id",
	[STMT_OUTBOX_RETRY] =
		"UPDATE mail_outbox SET claimed_until = 0, next_attempt_at = :at, "
		"last_error = :error WHERE id = :id",
	[STMT_OUTBOX_GIVE_UP] =
		"UPDATE mail_outbox SET claimed_until = 0, gave_up_at = :at, last_error = :error, "
		"body_text = '', body_html = '', payload = '' WHERE id = :id",
	[STMT_PURGE_ONETIME] = "DELETE FROM one_time_tokens WHERE expires_at <= :before",
	[STMT_PURGE_OUTBOX] =
		"DELETE FROM mail_outbox WHERE (sent_at IS NOT NULL AND sent_at <= :before) "
		"OR (gave_up_at IS NOT NULL AND gave_up_at <= :before)",
	/* The access check of a token that names its refresh family: the user,
	 * unless the jti is denied, while the family is the user's and live. */
	[STMT_USER_BY_ID_UNREVOKED_FAMILY] = "SELECT " USER_COLS " FROM users WHERE id = :id "
		"AND credentials_epoch_ms < :issued_ms "
		"AND NOT EXISTS (SELECT 1 FROM revoked_jti WHERE jti = :jti) "
		"AND EXISTS (SELECT 1 FROM refresh_families AS f WHERE f.family_id = :family "
		"AND f.user_id = :id AND f.revoked_at IS NULL)",
	[STMT_RF_FAMILY_INSERT] =
		"INSERT INTO refresh_families (family_id, user_id, created_at, ip, user_agent) "
		"VALUES (:family_id, :user_id, :created_at, :ip, :user_agent)",
	[STMT_RF_INSERT] =
		"INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) "
		"VALUES (:token_hash, :family_id, :user_id, :created_at, :expires_at)",
	/* The compare-and-swap that spends a token: one winner, whatever the race. */
	[STMT_RF_USE] =
		"UPDATE refresh_tokens SET used_at = :now WHERE token_hash = :token_hash "
		"AND used_at IS NULL AND revoked_at IS NULL AND expires_at > :now",
	[STMT_RF_GET] = "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE token_hash = :token_hash",
	[STMT_RF_FAMILY_REVOKE] =
		"UPDATE refresh_families SET revoked_at = :now "
		"WHERE family_id = :family_id AND revoked_at IS NULL",
	[STMT_RF_REVOKE_TOKENS] =
		"UPDATE refresh_tokens SET revoked_at = :now "
		"WHERE family_id = :family_id AND revoked_at IS NULL",
	[STMT_RF_FAMILY_REVOKE_USER] =
		"UPDATE refresh_families SET revoked_at = :now "
		"WHERE user_id = :key AND revoked_at IS NULL",
	[STMT_RF_REVOKE_TOKENS_USER] =
		"UPDATE refresh_tokens SET revoked_at = :now "
		"WHERE user_id = :key AND revoked_at IS NULL",
	[STMT_RF_PURGE_TOKENS] = "DELETE FROM refresh_tokens WHERE expires_at <= :before",
	[STMT_RF_PURGE_FAMILIES] =
		"DELETE FROM refresh_families WHERE created_at <= :before AND NOT EXISTS "
		"(SELECT 1 FROM refresh_tokens AS t WHERE t.family_id = refresh_families.family_id)",
	/* the user_account face's profile fields (006) */
	[STMT_USER_PROFILE_GET] =
		"SELECT phone, contacts, phone IS NOT NULL AS has_phone FROM users WHERE id = :id",
	[STMT_USER_PROFILE_SET] =
		"UPDATE users SET phone = :phone, contacts = :contacts, updated_at = :now "
		"WHERE id = :id",
	/* TOTP (004_totp; core/totp.c). The row with the user's flag. */
	[STMT_TOTP_GET] =
		"SELECT t.user_id, t.secret_enc, t.pending_enc, t.last_step, t.failures, "
		"t.locked_until, u.totp_enabled AS enabled FROM user_totp AS t "
		"JOIN users AS u ON u.id = t.user_id WHERE t.user_id = :user_id",
	[STMT_TOTP_SET_PENDING] =
		"INSERT INTO user_totp (user_id, pending_enc, updated_at) "
		"VALUES (:user_id, :pending_enc, :now) ON CONFLICT (user_id) DO UPDATE SET "
		"pending_enc = excluded.pending_enc, updated_at = excluded.updated_at",
	/* Only while the pending secret is still the one checked (a second
	 * new-totp in between makes this change nothing). */
	[STMT_TOTP_ENABLE] =
		"UPDATE user_totp SET secret_enc = pending_enc, pending_enc = NULL, "
		"last_step = :step, failures = 0, locked_until = 0, updated_at = :now "
		"WHERE user_id = :user_id AND pending_enc = :pending_enc",
	[STMT_TOTP_USER_FLAG] =
		"UPDATE users SET totp_enabled = :enabled, updated_at = :now WHERE id = :user_id",
	[STMT_TOTP_DELETE] = "DELETE FROM user_totp WHERE user_id = :user_id",
	/* The replay guard (RFC 6238 5.2): a step is accepted once, and only
	 * after the last one accepted, by this one compare-and-swap; never while
	 * locked. */
	[STMT_TOTP_STEP_USE] =
		"UPDATE user_totp SET last_step = :step, failures = 0, locked_until = 0, "
		"updated_at = :now WHERE user_id = :user_id AND secret_enc IS NOT NULL "
		"AND last_step < :step AND locked_until <= :now",
	/* One more wrong code; from the threshold on, locked for base seconds,
	 * doubling per further failure, at most cap. */
	[STMT_TOTP_FAIL] =
		"UPDATE user_totp SET failures = failures + 1, updated_at = :now, "
		"locked_until = CASE WHEN failures + 1 >= :threshold THEN "
		":now + min(:cap, :base << min(failures + 1 - :threshold, 20)) "
		"ELSE locked_until END WHERE user_id = :user_id",
	[STMT_TOTP_RESET_FAILURES] =
		"UPDATE user_totp SET failures = 0, locked_until = 0, updated_at = :now "
		"WHERE user_id = :user_id",
	/* Users whose stored secrets were sealed under another key ("v1:<id>:"). */
	[STMT_TOTP_OTHER_KEY] =
		"SELECT count(*) AS n FROM user_totp WHERE "
		"(secret_enc IS NOT NULL AND substr(secret_enc, 1, 12) <> :prefix) OR "
		"(pending_enc IS NOT NULL AND substr(pending_enc, 1, 12) <> :prefix)",
	[STMT_TOTP_RC_DELETE] = "DELETE FROM totp_recovery_codes WHERE user_id = :user_id",
	[STMT_TOTP_RC_INSERT] =
		"INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES (:user_id, :code_hash)",
	/* A recovery code is spent once: one compare-and-swap. */
	[STMT_TOTP_RC_USE] =
		"UPDATE totp_recovery_codes SET used_at = :now WHERE user_id = :user_id "
		"AND code_hash = :code_hash AND used_at IS NULL",
	/* OAuth (009_oauth; core/oauth.c). Plain portable SQL. */
	[STMT_OAUTH_BY_ACCOUNT] =
		"SELECT id, user_id, oauth_name, account_id, account_email FROM oauth_accounts "
		"WHERE oauth_name = :oauth_name AND account_id = :account_id",
	[STMT_OAUTH_LIST_USER] =
		"SELECT id, user_id, oauth_name, account_id, account_email FROM oauth_accounts "
		"WHERE user_id = :user_id ORDER BY oauth_name, account_id",
	[STMT_OAUTH_INSERT] =
		"INSERT INTO oauth_accounts (id, user_id, oauth_name, account_id, account_email, "
		"access_token, expires_at, refresh_token, created_at, updated_at) VALUES (:id, "
		":user_id, :oauth_name, :account_id, :account_email, :access_token, :expires_at, "
		":refresh_token, :now, :now)",
	[STMT_OAUTH_UPDATE] =
		"UPDATE oauth_accounts SET account_email = :account_email, access_token = "
		":access_token, expires_at = :expires_at, refresh_token = :refresh_token, "
		"updated_at = :now WHERE id = :id",
	/* The replay record: the primary key refuses a state spent before. */
	[STMT_OAUTH_STATE_USE] =
		"INSERT INTO oauth_used_states (state_hash, expires_at) VALUES (:state_hash, "
		":expires_at)",
	[STMT_OAUTH_STATE_PURGE] = "DELETE FROM oauth_used_states WHERE expires_at <= :before",
	/* Signing keys (010): newest first, the one that signs (unretired) among them. */
	[STMT_SK_LIST] =
		"SELECT kid, alg, private_pem, created_at, coalesce(retired_at, 0) AS retired_at "
		"FROM signing_keys ORDER BY retired_at IS NULL DESC, created_at DESC, kid DESC",
	[STMT_SK_INSERT] =
		"INSERT INTO signing_keys (kid, alg, private_pem, created_at) "
		"VALUES (:kid, :alg, :private_pem, :created_at)",
	[STMT_SK_RETIRE] =
		"UPDATE signing_keys SET retired_at = :at WHERE retired_at IS NULL AND kid <> :kid",
	[STMT_SK_PURGE] =
		"DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at <= :before",
	[STMT_AUDIT_INSERT] =
		"INSERT INTO audit_log (id, at, event, user_id, actor_id, ip, detail) "
		"VALUES (:id, :at, :event, :user_id, :actor_id, :ip, :detail)",
	[STMT_AUDIT_LIST] =
		"SELECT id, at, event, coalesce(user_id, '') AS user_id, "
		"coalesce(actor_id, '') AS actor_id, coalesce(ip, '') AS ip, detail "
		"FROM audit_log WHERE id > :after ORDER BY id LIMIT :limit",
	[STMT_AUDIT_LIST_USER] =
		"SELECT id, at, event, coalesce(user_id, '') AS user_id, "
		"coalesce(actor_id, '') AS actor_id, coalesce(ip, '') AS ip, detail "
		"FROM audit_log WHERE user_id = :user_id AND id > :after ORDER BY id LIMIT :limit",
	[STMT_AUDIT_PURGE] = "DELETE FROM audit_log WHERE at < :before",
	/* 015: the change log of credential-relevant writes, read after this
	 * process's own commits and now and then for other processes' (sqlite.c,
	 * cred_sync). One statement: one snapshot, so the top seq and the rows
	 * agree. */
	[STMT_CRED_CHANGES] =
		"SELECT coalesce((SELECT seq FROM sqlite_sequence "
		"WHERE name = 'credential_changes'), 0) AS seq, NULL AS user_id, 1 AS top "
		"UNION ALL SELECT * FROM (SELECT seq, user_id, 0 AS top FROM credential_changes "
		"WHERE seq > :last ORDER BY seq LIMIT :limit)",
	[STMT_PURGE_CRED_CHANGES] = "DELETE FROM credential_changes WHERE at <= :before",
};
