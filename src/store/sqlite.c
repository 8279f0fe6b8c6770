/*
 * sqlite.c - the SQLite back end: a statement table, WAL, a connection per thread.
 *
 * URL: as SQLAlchemy spells it. "sqlite:///rel/path.db" is the relative path
 * "rel/path.db", "sqlite:////abs/path.db" the absolute "/abs/path.db". An
 * in-memory database ("sqlite://", "sqlite:///:memory:") is refused: every
 * thread has its own connection, and each would see a different database.
 *
 * Connections. A thread's first call opens its own connection and keeps it
 * under the store's pthread key; the key's destructor closes it when the
 * thread exits. Every connection is also on the store's list, under the
 * store's mutex, so sqlite_close() can close those whose threads still live.
 * A connection is used only by the thread that opened it (SQLITE_OPEN_NOMUTEX).
 * Each is set up with journal_mode=WAL (readers never wait for the writer),
 * synchronous=NORMAL, foreign_keys=ON (sessions cascade with their user),
 * mmap_size 1 GiB, and a busy timeout of 10 s: a writer waits for the write
 * lock rather than fail with "database is locked".
 *
 * Statements. enum sqlite_stmt indexes sqlite_sql[]. A connection prepares a
 * statement the first time it needs it (SQLITE_PREPARE_PERSISTENT) and keeps
 * it until it closes; every use ends in stmt_done() (reset + clear bindings),
 * so no statement keeps a read snapshot open or points at a caller's buffer.
 * Every value is a bound parameter: an op lists its statement's parameters in
 * order, as a table of struct sqlite_arg on its stack, and stmt_bind() binds
 * them. A hot path (user_by_id, jti_is_revoked, session_user) is one step of
 * one cached statement and allocates nothing.
 *
 * Transactions. A single statement is its own transaction. Several statements
 * that write together run inside BEGIN IMMEDIATE, which takes the write lock
 * up front (waiting on the busy timeout); a deferred transaction that upgrades
 * from read to write can get SQLITE_BUSY without the busy handler being tried.
 *
 * Invariants: text read back is copied into its bounded field, and a value
 * that does not fit is PC_ESTORE, never truncated. Database errors are logged
 * to stderr as one line (SQLite's message, its code, the statement text):
 * never a parameter value.
 *
 * sqlite_close() must not run while other threads still call the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"

#define SQLITE_URL_SCHEME "sqlite://"
#define SQLITE_BUSY_TIMEOUT_MS 10000
#define SQLITE_WAL_CHECKPOINT_FRAMES 1000 /* SQLite's own wal_autocheckpoint default */
/* Reads of the database file through the page cache, no read() copy: ~20 %
 * off a user_by_id over 1 000 000 users. Address space only; SQLite caps it
 * at its compile-time SQLITE_MAX_MMAP_SIZE. */
#define SQLITE_MMAP_BYTES "1073741824"
#define SQLITE_OPEN_FLAGS \
	(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX)

/* ---- statements ------------------------------------------------------------ */

enum sqlite_stmt {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_PING,
	STMT_SCHEMA_CURRENT,
	STMT_SCHEMA_INSERT,
	STMT_USER_INSERT,
	STMT_USER_BY_ID,
	STMT_USER_BY_ID_UNREVOKED,
	STMT_USER_BY_EMAIL,
	STMT_USER_BY_USERNAME,
	STMT_USER_UPDATE,
	STMT_USER_DELETE,
	STMT_USER_LIST,
	STMT_USER_COUNT,
	STMT_SESSION_INSERT,
	STMT_SESSION_USER,
	STMT_SESSION_DELETE,
	STMT_SESSION_DELETE_USER,
	STMT_JTI_REVOKE,
	STMT_JTI_IS_REVOKED,
	STMT_PURGE_SESSIONS,
	STMT_PURGE_JTI,
	STMT_KEY_GET,
	STMT_KEY_PUT,
	STMT_OT_VOID,
	STMT_OT_INSERT,
	STMT_OT_GET,
	STMT_OT_USE,
	STMT_USER_SET_PASSWORD,
	STMT_USER_SET_VERIFIED,
	STMT_OUTBOX_INSERT,
	STMT_OUTBOX_DUE,
	STMT_OUTBOX_NEXT,
	STMT_OUTBOX_LEASE,
	STMT_OUTBOX_GET,
	STMT_OUTBOX_SENT,
	STMT_OUTBOX_RETRY,
	STMT_OUTBOX_GIVE_UP,
	STMT_PURGE_ONETIME,
	STMT_PURGE_OUTBOX,
	STMT__MAX
};

/* The columns of struct pc_user, in the order row_user() reads them. */
#define USER_COLS \
	"id, email, username, full_name, hashed_password, is_active, is_superuser, " \
	"is_verified, password_changed_at, created_at, updated_at"
#define SQLITE_USER_NCOLS 11 /* the columns above */
#define USER_COLS_U \
	"u.id, u.email, u.username, u.full_name, u.hashed_password, u.is_active, " \
	"u.is_superuser, u.is_verified, u.password_changed_at, u.created_at, u.updated_at"

/* The columns of struct pc_onetime_row, in the order row_onetime() reads them. */
#define ONETIME_COLS \
	"token_hash, purpose, user_id, email, created_at, expires_at, coalesce(used_at, 0)"
/* The columns of struct pc_outbox_row, in the order row_outbox() reads them. */
#define OUTBOX_COLS \
	"id, kind, recipient, subject, body_text, body_html, payload, attempts, " \
	"next_attempt_at, claimed_until, coalesce(sent_at, 0), coalesce(gave_up_at, 0), " \
	"last_error, created_at"
/* A row a sender may take now (?1): unsent, not given up, due, no lease running. */
#define OUTBOX_DUE_WHERE \
	"sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ?1 AND claimed_until <= ?1"

/* The parameters of both user writes are bound by user_write(). */
static const char *const sqlite_sql[STMT__MAX] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_PING] = "SELECT 1",
	[STMT_SCHEMA_CURRENT] = "SELECT coalesce(max(version), 0) FROM schema_version",
	[STMT_SCHEMA_INSERT] =
		"INSERT INTO schema_version (version, name, applied_at) VALUES (?1, ?2, ?3)",
	[STMT_USER_INSERT] =
		"INSERT INTO users (id, email, email_lc, username, username_lc, full_name, "
		"hashed_password, is_active, is_superuser, is_verified, password_changed_at, "
		"updated_at, created_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[STMT_USER_BY_ID] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
	[STMT_USER_BY_ID_UNREVOKED] = "SELECT " USER_COLS " FROM users WHERE id = ?1 "
		"AND NOT EXISTS (SELECT 1 FROM revoked_jti WHERE jti = ?2)",
	[STMT_USER_BY_EMAIL] = "SELECT " USER_COLS " FROM users WHERE email_lc = ?1",
	[STMT_USER_BY_USERNAME] = "SELECT " USER_COLS " FROM users WHERE username_lc = ?1",
	[STMT_USER_UPDATE] =
		"UPDATE users SET email = ?2, email_lc = ?3, username = ?4, username_lc = ?5, "
		"full_name = ?6, hashed_password = ?7, is_active = ?8, is_superuser = ?9, "
		"is_verified = ?10, password_changed_at = ?11, updated_at = ?12 WHERE id = ?1",
	[STMT_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
	[STMT_USER_LIST] =
		"SELECT " USER_COLS " FROM users ORDER BY created_at, id LIMIT ?1 OFFSET ?2",
	[STMT_USER_COUNT] = "SELECT count(*) FROM users",
	[STMT_SESSION_INSERT] =
		"INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at, "
		"ip, user_agent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[STMT_SESSION_USER] =
		"SELECT " USER_COLS_U ", s.expires_at FROM sessions AS s JOIN users AS u ON u.id = s.user_id "
		"WHERE s.token_hash = ?1 AND s.expires_at > ?2",
	[STMT_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1",
	[STMT_SESSION_DELETE_USER] = "DELETE FROM sessions WHERE user_id = ?1",
	[STMT_JTI_REVOKE] =
		"INSERT INTO revoked_jti (jti, expires_at) VALUES (?1, ?2) "
		"ON CONFLICT (jti) DO NOTHING",
	[STMT_JTI_IS_REVOKED] = "SELECT 1 FROM revoked_jti WHERE jti = ?1",
	[STMT_PURGE_SESSIONS] = "DELETE FROM sessions WHERE expires_at <= ?1",
	[STMT_PURGE_JTI] = "DELETE FROM revoked_jti WHERE expires_at <= ?1",
	[STMT_KEY_GET] = "SELECT value FROM keys WHERE name = ?1",
	[STMT_KEY_PUT] =
		"INSERT INTO keys (name, value, created_at) VALUES (?1, ?2, ?3) "
		"ON CONFLICT (name) DO NOTHING",
	[STMT_OT_VOID] =
		"UPDATE one_time_tokens SET used_at = ?3 "
		"WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL",
	[STMT_OT_INSERT] =
		"INSERT INTO one_time_tokens (token_hash, purpose, user_id, email, created_at, "
		"expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[STMT_OT_GET] = "SELECT " ONETIME_COLS " FROM one_time_tokens WHERE token_hash = ?1",
	[STMT_OT_USE] =
		"UPDATE one_time_tokens SET used_at = ?3 WHERE token_hash = ?1 AND purpose = ?2 "
		"AND used_at IS NULL AND expires_at > ?3",
	[STMT_USER_SET_PASSWORD] =
		"UPDATE users SET hashed_password = ?2, "
		"password_changed_at = max(?3, password_changed_at + 1), updated_at = ?3 "
		"WHERE id = ?1 AND is_active = 1 AND email_lc = ?4",
	[STMT_USER_SET_VERIFIED] =
		"UPDATE users SET is_verified = 1, updated_at = ?2 "
		"WHERE id = ?1 AND email_lc = ?3 AND is_verified = 0",
	[STMT_OUTBOX_INSERT] =
		"INSERT INTO mail_outbox (kind, recipient, subject, body_text, body_html, payload, "
		"next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[STMT_OUTBOX_DUE] = "SELECT 1 FROM mail_outbox WHERE " OUTBOX_DUE_WHERE " LIMIT 1",
	[STMT_OUTBOX_NEXT] =
		"SELECT id FROM mail_outbox WHERE " OUTBOX_DUE_WHERE
		" ORDER BY next_attempt_at, id LIMIT 1",
	[STMT_OUTBOX_LEASE] =
		"UPDATE mail_outbox SET claimed_until = ?2, attempts = attempts + 1 WHERE id = ?1",
	[STMT_OUTBOX_GET] = "SELECT " OUTBOX_COLS " FROM mail_outbox WHERE id = ?1",
	[STMT_OUTBOX_SENT] =
		"UPDATE mail_outbox SET sent_at = ?2, claimed_until = 0, body_text = '', "
		"body_html = '', payload = '' WHERE id = ?1",
	[STMT_OUTBOX_RETRY] =
		"UPDATE mail_outbox SET claimed_until = 0, next_attempt_at = ?2, last_error = ?3 "
		"WHERE id = ?1",
	[STMT_OUTBOX_GIVE_UP] =
		"UPDATE mail_outbox SET claimed_until = 0, gave_up_at = ?2, last_error = ?3, "
		"body_text = '', body_html = '', payload = '' WHERE id = ?1",
	[STMT_PURGE_ONETIME] = "DELETE FROM one_time_tokens WHERE expires_at <= ?1",
	[STMT_PURGE_OUTBOX] =
		"DELETE FROM mail_outbox WHERE (sent_at IS NOT NULL AND sent_at <= ?1) "
		"OR (gave_up_at IS NOT NULL AND gave_up_at <= ?1)",
};

/* Made outside the statement table: it must exist before STMT_SCHEMA_* prepare. */
static const char sqlite_schema_version_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_version ("
	"version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";

/* ---- the store and its connections --------------------------------------------- */

struct sqlite_store;

struct sqlite_conn {
	struct sqlite_conn *next;  /* on store->conns */
	struct sqlite_conn *prev;
	struct sqlite_store *store;
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT__MAX]; /* NULL until first used */
};

struct sqlite_store {
	struct pc_store base; /* first: a struct pc_store * is a struct sqlite_store * */
	pthread_key_t key;    /* this thread's struct sqlite_conn */
	pthread_mutex_t lock; /* guards conns */
	struct sqlite_conn *conns;
	char path[PATH_MAX];
};

static struct sqlite_store *sqlite_store_of(struct pc_store *s)
{
	return (struct sqlite_store *)s;
}

/* One line: SQLite's message and code, and what we were doing. No values. */
static void db_log(sqlite3 *db, const char *what)
{
	fprintf(stderr, "portcullis: sqlite: %s (code %d) in: %.80s\n", sqlite3_errmsg(db),
		sqlite3_extended_errcode(db), what);
}

/* Finalizes the statements and closes the database. Not on the list any more. */
static void conn_free(struct sqlite_conn *c)
{
	size_t i;

	for (i = 0; i < STMT__MAX; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close_v2(c->db);
	free(c);
}

/* Called with store->lock held. */
static void conn_unlink(struct sqlite_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->store->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->next = NULL;
	c->prev = NULL;
}

/* The pthread key's destructor: runs when a thread that used the store exits. */
static void conn_destroy(void *p)
{
	struct sqlite_conn *c = p;
	struct sqlite_store *st = c->store;

	pthread_mutex_lock(&st->lock);
	conn_unlink(c);
	pthread_mutex_unlock(&st->lock);
	conn_free(c);
}

/* Receives the one row of PRAGMA journal_mode: the mode now in force. */
static int journal_mode_row(void *arg, int ncols, char **vals, char **names)
{
	bool *is_wal = arg;

	*is_wal = ncols == 1 && vals[0] != NULL && strcmp(vals[0], "wal") == 0;
	return 0;
}

/*
 * SQLite calls this after each commit that wrote something in WAL mode, once
 * the write lock is released: the write generation moves only after the
 * data is there to be read (store.h). It replaces SQLite's default hook, so
 * it also checkpoints as that one does, passively, at the same WAL size.
 */
static int conn_on_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sqlite_store *st = arg;

	atomic_fetch_add(&st->base.gen, 1);
	if (frames >= SQLITE_WAL_CHECKPOINT_FRAMES)
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

/*
 * Opens this thread's connection, sets it up, registers it under the key and
 * on the list. PC_ESTORE (logged; ei->detail says why when ei is given), PC_ENOMEM.
 */
static enum pc_err conn_open(struct sqlite_store *st, struct sqlite_conn **out,
			     struct pc_errinfo *ei)
{
	struct sqlite_conn *c;
	bool is_wal = false;
	char msg[sizeof(ei->detail)];
	int rc;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return PC_ENOMEM;
	c->store = st;
	rc = sqlite3_open_v2(st->path, &c->db, SQLITE_OPEN_FLAGS, NULL);
	if (rc != SQLITE_OK) {
		snprintf(msg, sizeof(msg), "cannot open database %.128s: %s", st->path,
			 c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto out_fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	/* First: the pragmas below may themselves have to wait for a lock. */
	rc = sqlite3_busy_timeout(c->db, SQLITE_BUSY_TIMEOUT_MS);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", journal_mode_row, &is_wal, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
				  "PRAGMA mmap_size = " SQLITE_MMAP_BYTES, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(msg, sizeof(msg), "cannot set up database %.128s: %s", st->path,
			 sqlite3_errmsg(c->db));
		goto out_fail;
	}
	if (!is_wal) {
		fprintf(stderr, "portcullis: sqlite: WAL journal not available for %s; "
			"concurrent requests will wait for each other\n", st->path);
		atomic_store(&st->base.gen_tracked, false);
	} else {
		sqlite3_wal_hook(c->db, conn_on_commit, st);
	}
	if (pthread_setspecific(st->key, c) != 0) {
		snprintf(msg, sizeof(msg), "cannot keep a connection for this thread");
		goto out_fail;
	}
	pthread_mutex_lock(&st->lock);
	c->next = st->conns;
	if (st->conns != NULL)
		st->conns->prev = c;
	st->conns = c;
	pthread_mutex_unlock(&st->lock);
	*out = c;
	return PC_OK;

out_fail:
	fprintf(stderr, "portcullis: sqlite: %s\n", msg);
	pc_errinfo_setf(ei, NULL, "database_url", PC_V_RULE, "%s", msg);
	conn_free(c);
	return PC_ESTORE;
}

/* This thread's connection, opened on first use. PC_ESTORE, PC_ENOMEM. */
static enum pc_err conn_get(struct sqlite_store *st, struct sqlite_conn **out)
{
	*out = pthread_getspecific(st->key);
	if (*out != NULL)
		return PC_OK;
	return conn_open(st, out, NULL);
}

/*
 * This thread's prepared statement id, prepared on first use; borrowed until
 * stmt_done(). PC_ESTORE (logged), PC_ENOMEM.
 */
static enum pc_err stmt_get(struct pc_store *s, enum sqlite_stmt id, sqlite3_stmt **out)
{
	struct sqlite_conn *c;
	enum pc_err err;
	int rc;

	err = conn_get(sqlite_store_of(s), &c);
	if (err != PC_OK)
		return err;
	if (c->stmt[id] == NULL) {
		rc = sqlite3_prepare_v3(c->db, sqlite_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					&c->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			db_log(c->db, sqlite_sql[id]);
			c->stmt[id] = NULL;
			return PC_ESTORE;
		}
	}
	*out = c->stmt[id];
	return PC_OK;
}

/* Ends a use: no snapshot held, no pointer to the caller's strings kept. */
static void stmt_done(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

/*
 * Maps a failed step. A unique violation is PC_EEXISTS with ei->field "email",
 * "username" or "id"; a missing parent row (foreign key) is PC_ENOTFOUND;
 * anything else is logged and PC_ESTORE.
 */
static enum pc_err stmt_error(sqlite3_stmt *stmt, struct pc_errinfo *ei)
{
	sqlite3 *db = sqlite3_db_handle(stmt);
	int xrc = sqlite3_extended_errcode(db);
	const char *m, *cols;
	const char *field = "id";

	if (xrc == SQLITE_CONSTRAINT_UNIQUE || xrc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		/* "UNIQUE constraint failed: users.email_lc" */
		m = sqlite3_errmsg(db);
		cols = strstr(m, "failed: ");
		cols = cols != NULL ? cols + strlen("failed: ") : "";
		if (strcmp(cols, "users.email_lc") == 0)
			field = "email";
		else if (strcmp(cols, "users.username_lc") == 0)
			field = "username";
		pc_errinfo_setf(ei, NULL, field, PC_V_TAKEN, "already exists");
		return PC_EEXISTS;
	}
	if (xrc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return PC_ENOTFOUND;
	db_log(db, sqlite3_sql(stmt));
	return PC_ESTORE;
}

/* Steps a statement that returns no rows. PC_OK or stmt_error(). */
static enum pc_err stmt_exec(sqlite3_stmt *stmt, struct pc_errinfo *ei)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return PC_OK;
	return stmt_error(stmt, ei);
}

/* ---- binding ----------------------------------------------------------------------- */

static enum pc_err bind_rc(sqlite3_stmt *stmt, int rc)
{
	if (rc == SQLITE_OK)
		return PC_OK;
	db_log(sqlite3_db_handle(stmt), sqlite3_sql(stmt));
	return rc == SQLITE_NOMEM ? PC_ENOMEM : PC_ESTORE;
}

/* Binds s (NULL binds SQL NULL). Borrowed until stmt_done(). */
static enum pc_err bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s == NULL)
		return bind_rc(stmt, sqlite3_bind_null(stmt, i));
	return bind_rc(stmt, sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC));
}

/* Binds a bounded field of size sz; "" binds NULL when empty_is_null.
 * PC_EINVAL when the field is not NUL-terminated within sz. */
static enum pc_err bind_field(sqlite3_stmt *stmt, int i, const char *f, size_t sz,
			      bool empty_is_null)
{
	size_t n = strnlen(f, sz);

	if (n == sz)
		return PC_EINVAL;
	if (n == 0 && empty_is_null)
		return bind_rc(stmt, sqlite3_bind_null(stmt, i));
	return bind_rc(stmt, sqlite3_bind_text(stmt, i, f, (int)n, SQLITE_STATIC));
}

/*
 * The parameters of a statement as a table: entry k binds ?k+1, so an op reads
 * as its SQL's parameters in order. Made with the A_* macros; a value is taken
 * when the table is made, text is borrowed until stmt_done().
 */
enum sqlite_arg_kind {
	ARG_TEXT,          /* a C string; NULL binds NULL */
	ARG_FIELD,         /* a char array: PC_EINVAL when not NUL-terminated within it */
	ARG_FIELD_OR_NULL, /* as ARG_FIELD; "" binds NULL */
	ARG_INT,
};

struct sqlite_arg {
	enum sqlite_arg_kind kind;
	const char *text; /* ARG_TEXT, ARG_FIELD* */
	size_t size;      /* ARG_FIELD*: sizeof the array */
	int64_t i;        /* ARG_INT */
};

/* sizeof(f); does not compile when f is a pointer rather than an array. */
#define FIELD_SIZE(f) \
	(sizeof(f) + 0 * sizeof(char[1 - 2 * __builtin_types_compatible_p(__typeof__(f), \
								    __typeof__(&(f)[0]))]))
#define A_TEXT(s) { .kind = ARG_TEXT, .text = (s), .size = 0, .i = 0 }
#define A_FIELD(f) { .kind = ARG_FIELD, .text = (f), .size = FIELD_SIZE(f), .i = 0 }
#define A_FIELD_OR_NULL(f) \
	{ .kind = ARG_FIELD_OR_NULL, .text = (f), .size = FIELD_SIZE(f), .i = 0 }
#define A_INT(v) { .kind = ARG_INT, .text = NULL, .size = 0, .i = (v) }
#define NARGS(args) (sizeof(args) / sizeof((args)[0]))

/* Binds args[0..n) to ?1..?n, stopping at the first error: PC_EINVAL for a
 * field not NUL-terminated; PC_ESTORE, PC_ENOMEM (logged, without the value). */
static enum pc_err stmt_bind(sqlite3_stmt *stmt, const struct sqlite_arg *args, size_t n)
{
	enum pc_err err = PC_OK;
	size_t k;

	for (k = 0; k < n && err == PC_OK; k++) {
		const struct sqlite_arg *a = &args[k];
		int i = (int)k + 1;

		switch (a->kind) {
		case ARG_TEXT:
			err = bind_text(stmt, i, a->text);
			break;
		case ARG_FIELD:
		case ARG_FIELD_OR_NULL:
			err = bind_field(stmt, i, a->text, a->size, a->kind == ARG_FIELD_OR_NULL);
			break;
		case ARG_INT:
			err = bind_rc(stmt, sqlite3_bind_int64(stmt, i, a->i));
			break;
		}
	}
	return err;
}

/*
 * Runs statement id, which returns no rows, with args bound. *changes (when
 * not NULL) gets the rows it changed, 0 on an error. PC_EINVAL from
 * stmt_bind(); PC_EEXISTS (ei->field), PC_ENOTFOUND, PC_ESTORE from stmt_error().
 */
static enum pc_err stmt_write(struct pc_store *s, enum sqlite_stmt id,
			      const struct sqlite_arg *args, size_t n, struct pc_errinfo *ei,
			      int64_t *changes)
{
	sqlite3_stmt *stmt;
	enum pc_err err;

	if (changes != NULL)
		*changes = 0;
	err = stmt_get(s, id, &stmt);
	if (err != PC_OK)
		return err;
	err = stmt_bind(stmt, args, n);
	if (err == PC_OK)
		err = stmt_exec(stmt, ei);
	if (err == PC_OK && changes != NULL)
		*changes = sqlite3_changes(sqlite3_db_handle(stmt));
	stmt_done(stmt);
	return err;
}

/* Runs one of the argument-less statements (BEGIN, COMMIT, ...). */
static enum pc_err stmt_run(struct pc_store *s, enum sqlite_stmt id)
{
	return stmt_write(s, id, NULL, 0, NULL, NULL);
}

/* Rolls back when a transaction is open; the error that led here wins. */
static void tx_rollback(struct pc_store *s)
{
	sqlite3_stmt *stmt;

	if (stmt_get(s, STMT_ROLLBACK, &stmt) != PC_OK)
		return;
	if (!sqlite3_get_autocommit(sqlite3_db_handle(stmt)))
		stmt_exec(stmt, NULL);
	stmt_done(stmt);
}

/*
 * Statement id with args bound, for the caller to step. On PC_OK *out is
 * borrowed until the caller's stmt_done(); on an error it is done already.
 */
static enum pc_err stmt_query(struct pc_store *s, enum sqlite_stmt id,
			      const struct sqlite_arg *args, size_t n, sqlite3_stmt **out)
{
	enum pc_err err;

	err = stmt_get(s, id, out);
	if (err != PC_OK)
		return err;
	err = stmt_bind(*out, args, n);
	if (err != PC_OK)
		stmt_done(*out);
	return err;
}

/*
 * stmt_query(), stepped to the one row of a lookup: on PC_OK *out is on it,
 * borrowed until the caller's stmt_done(). PC_ENOTFOUND when there is no row;
 * on that and any other error the statement is done already.
 */
static enum pc_err stmt_row(struct pc_store *s, enum sqlite_stmt id,
			    const struct sqlite_arg *args, size_t n, sqlite3_stmt **out)
{
	enum pc_err err;
	int rc;

	err = stmt_query(s, id, args, n, out);
	if (err != PC_OK)
		return err;
	rc = sqlite3_step(*out);
	if (rc == SQLITE_ROW)
		return PC_OK;
	err = rc == SQLITE_DONE ? PC_ENOTFOUND : stmt_error(*out, NULL);
	stmt_done(*out);
	return err;
}

/* Steps an argument-less statement to its one row: *out gets its integer.
 * No row is an error like any other (logged, PC_ESTORE). */
static enum pc_err stmt_int(struct pc_store *s, enum sqlite_stmt id, int64_t *out)
{
	sqlite3_stmt *stmt;
	enum pc_err err;

	err = stmt_get(s, id, &stmt);
	if (err != PC_OK)
		return err;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	else
		err = stmt_error(stmt, NULL);
	stmt_done(stmt);
	return err;
}

/* ASCII lower-case copy of s into out[outsz]. PC_ETOOBIG when it does not fit. */
static enum pc_err lower_copy(const char *s, char *out, size_t outsz)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i + 1 >= outsz)
			return PC_ETOOBIG;
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	}
	out[i] = '\0';
	return PC_OK;
}

/* ---- reading ----------------------------------------------------------------------- */

/* Copies text column col into out[outsz]; NULL reads as "". PC_ESTORE when
 * it does not fit (logged, without the value). */
static enum pc_err col_text(sqlite3_stmt *stmt, int col, char *out, size_t outsz)
{
	const unsigned char *t;
	size_t n;

	if (sqlite3_column_type(stmt, col) == SQLITE_NULL) {
		out[0] = '\0';
		return PC_OK;
	}
	t = sqlite3_column_text(stmt, col);
	n = (size_t)sqlite3_column_bytes(stmt, col);
	if (t == NULL) {
		db_log(sqlite3_db_handle(stmt), sqlite3_sql(stmt));
		return PC_ESTORE;
	}
	if (n >= outsz) {
		fprintf(stderr, "portcullis: sqlite: column %s holds %zu bytes, more than its "
			"field (%zu) in: %.80s\n", sqlite3_column_name(stmt, col), n, outsz - 1,
			sqlite3_sql(stmt));
		return PC_ESTORE;
	}
	memcpy(out, t, n);
	out[n] = '\0';
	return PC_OK;
}

/* Reads the USER_COLS of the current row. On error out is zeroed. */
static enum pc_err row_user(sqlite3_stmt *stmt, struct pc_user *out)
{
	enum pc_err err;

	err = col_text(stmt, 0, out->id, sizeof(out->id));
	if (err == PC_OK)
		err = col_text(stmt, 1, out->email, sizeof(out->email));
	if (err == PC_OK)
		err = col_text(stmt, 2, out->username, sizeof(out->username));
	if (err == PC_OK)
		err = col_text(stmt, 3, out->full_name, sizeof(out->full_name));
	if (err == PC_OK)
		err = col_text(stmt, 4, out->hashed_password, sizeof(out->hashed_password));
	if (err != PC_OK) {
		memset(out, 0, sizeof(*out));
		return err;
	}
	out->is_active = sqlite3_column_int64(stmt, 5) != 0;
	out->is_superuser = sqlite3_column_int64(stmt, 6) != 0;
	out->is_verified = sqlite3_column_int64(stmt, 7) != 0;
	out->password_changed_at = sqlite3_column_int64(stmt, 8);
	out->created_at = sqlite3_column_int64(stmt, 9);
	out->updated_at = sqlite3_column_int64(stmt, 10);
	return PC_OK;
}

/* Steps statement id, with args bound, to its one user row. PC_ENOTFOUND
 * when there is none. */
static enum pc_err user_row(struct pc_store *s, enum sqlite_stmt id,
			    const struct sqlite_arg *args, size_t n, struct pc_user *out)
{
	sqlite3_stmt *stmt;
	enum pc_err err;

	err = stmt_row(s, id, args, n, &stmt);
	if (err != PC_OK)
		return err;
	err = row_user(stmt, out);
	stmt_done(stmt);
	return err;
}

/* ---- open, close, migrate ---------------------------------------------------------- */

/*
 * Turns the URL into a file path in out[outsz]. PC_EINVAL (ei->detail) for an
 * in-memory database, a host part, an empty or too long path.
 */
static enum pc_err url_path(const char *url, char *out, size_t outsz, struct pc_errinfo *ei)
{
	const char *p = url + strlen(SQLITE_URL_SCHEME);
	const char *msg = NULL;

	if (strncmp(url, SQLITE_URL_SCHEME, strlen(SQLITE_URL_SCHEME)) != 0)
		msg = "not a sqlite:// URL";
	else if (*p == '\0' || strcmp(p, "/:memory:") == 0)
		msg = "in-memory SQLite databases are not supported (each thread has its own "
		      "connection); use sqlite:///relative/path.db or sqlite:////absolute/path.db";
	else if (*p != '/')
		msg = "a SQLite URL has no host: use sqlite:///relative/path.db or "
		      "sqlite:////absolute/path.db";
	else if (p[1] == '\0')
		msg = "the SQLite URL names no file";
	else if (strlen(p + 1) >= outsz)
		msg = "the SQLite database path is too long";
	if (msg != NULL) {
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_RULE, "%s", msg);
		return PC_EINVAL;
	}
	snprintf(out, outsz, "%s", p + 1);
	return PC_OK;
}

/*
 * Creates the database file readable by its owner only when it does not exist
 * yet (it will hold password hashes and secrets); SQLite gives its -wal and
 * -shm files the same mode. PC_EINVAL (ei->detail) when it cannot be created.
 */
static enum pc_err create_private(const char *path, struct pc_errinfo *ei)
{
	char msg[sizeof(ei->detail)];
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		close(fd);
		return PC_OK;
	}
	if (errno == EEXIST)
		return PC_OK;
	snprintf(msg, sizeof(msg), "cannot create database %s: %m", path);
	pc_errinfo_setf(ei, NULL, "database_url", PC_V_RULE, "%s", msg);
	return PC_EINVAL;
}

/*
 * Makes path[PATH_MAX] absolute, so the connections that threads open later
 * name the same file even if the process changes directory. The file exists.
 */
static enum pc_err absolute_path(char path[PATH_MAX], struct pc_errinfo *ei)
{
	char resolved[PATH_MAX];
	char msg[sizeof(ei->detail)];

	if (realpath(path, resolved) == NULL) {
		snprintf(msg, sizeof(msg), "cannot resolve database path %.128s: %m", path);
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_RULE, "%s", msg);
		return PC_EINVAL;
	}
	memcpy(path, resolved, strlen(resolved) + 1);
	return PC_OK;
}

/*
 * Opens the store at url and this thread's connection (so a bad path fails
 * here, not on the first request). *out is released with sqlite_close().
 * PC_EINVAL (bad URL, cannot create), PC_ESTORE (cannot open), PC_ENOMEM.
 */
static enum pc_err sqlite_open(const char *url, struct pc_store **out, struct pc_errinfo *ei)
{
	struct sqlite_store *st;
	struct sqlite_conn *c;
	enum pc_err err;

	*out = NULL;
	/* Before SQLite initialises (a no-op afterwards): memory statistics take
	 * a global mutex on every allocation, contended by every thread. */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_threadsafe() == 0) {
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_RULE, "the SQLite library was built without thread support");
		return PC_EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return PC_ENOMEM;
	st->base.ops = &store_sqlite_ops;
	atomic_init(&st->base.gen, 1);
	atomic_init(&st->base.gen_tracked, true);
	err = url_path(url, st->path, sizeof(st->path), ei);
	if (err == PC_OK)
		err = create_private(st->path, ei);
	if (err == PC_OK)
		err = absolute_path(st->path, ei);
	if (err != PC_OK)
		goto out_free;
	if (pthread_key_create(&st->key, conn_destroy) != 0) {
		err = PC_ENOMEM;
		goto out_free;
	}
	pthread_mutex_init(&st->lock, NULL);
	err = conn_open(st, &c, ei);
	if (err != PC_OK)
		goto out_key;
	*out = &st->base;
	return PC_OK;

out_key:
	pthread_mutex_destroy(&st->lock);
	pthread_key_delete(st->key);
out_free:
	free(st);
	return err;
}

/*
 * Closes every connection still open, whichever thread opened it, and frees
 * the store. No other thread may be calling it.
 */
static void sqlite_close(struct pc_store *s)
{
	struct sqlite_store *st = sqlite_store_of(s);
	struct sqlite_conn *c;

	pthread_setspecific(st->key, NULL);
	pthread_key_delete(st->key); /* threads exiting later run no destructor */
	pthread_mutex_lock(&st->lock);
	while (st->conns != NULL) {
		c = st->conns;
		conn_unlink(c);
		conn_free(c);
	}
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/*
 * Applies migration m if the schema is older, in one BEGIN IMMEDIATE
 * transaction with its schema_version row: a second process starting at the
 * same time waits for the write lock, then finds the step done.
 * *applied is set to whether it ran. PC_ESTORE (logged).
 */
static enum pc_err migrate_one(struct pc_store *s, const struct pc_migration *m, bool *applied)
{
	struct sqlite_conn *c;
	char *errmsg = NULL;
	int64_t current = 0;
	enum pc_err err;

	*applied = false;
	err = conn_get(sqlite_store_of(s), &c);
	if (err != PC_OK)
		return err;
	err = stmt_run(s, STMT_BEGIN);
	if (err != PC_OK)
		return err;
	if (sqlite3_exec(c->db, sqlite_schema_version_sql, NULL, NULL, NULL) != SQLITE_OK) {
		db_log(c->db, sqlite_schema_version_sql);
		err = PC_ESTORE;
		goto out_rollback;
	}
	/* The highest version applied. */
	err = stmt_int(s, STMT_SCHEMA_CURRENT, &current);
	if (err != PC_OK)
		goto out_rollback;
	if (m->number > current) {
		const struct sqlite_arg row[] = {
			A_INT(m->number), A_TEXT(m->name), A_INT(time_now()),
		};

		if (sqlite3_exec(c->db, m->sql, NULL, NULL, &errmsg) != SQLITE_OK) {
			fprintf(stderr, "portcullis: sqlite: migration %03d_%s: %s\n", m->number,
				m->name, errmsg != NULL ? errmsg : "failed");
			sqlite3_free(errmsg);
			err = PC_ESTORE;
			goto out_rollback;
		}
		err = stmt_write(s, STMT_SCHEMA_INSERT, row, NARGS(row), NULL, NULL);
		if (err != PC_OK)
			goto out_rollback;
	}
	err = stmt_run(s, STMT_COMMIT);
	if (err != PC_OK)
		goto out_rollback;
	*applied = m->number > current;
	return PC_OK;

out_rollback:
	tx_rollback(s);
	return err;
}

/* Applies the pending migrations in order; *applied counts those run here. */
static enum pc_err sqlite_migrate(struct pc_store *s, int *applied)
{
	enum pc_err err = PC_OK;
	bool ran;
	size_t i;

	*applied = 0;
	for (i = 0; i < sqlite_migrations_count && err == PC_OK; i++) {
		err = migrate_one(s, &sqlite_migrations[i], &ran);
		if (err == PC_OK && ran)
			(*applied)++;
	}
	return err;
}

static enum pc_err sqlite_ping(struct pc_store *s)
{
	return stmt_run(s, STMT_PING);
}

/* ---- users ------------------------------------------------------------------------ */

/*
 * Runs STMT_USER_INSERT (nparams 13) or STMT_USER_UPDATE (nparams 12: all but
 * created_at) from u; email_lc and username_lc are derived here. PC_EINVAL for
 * a field not NUL-terminated; else as stmt_write().
 */
static enum pc_err user_write(struct pc_store *s, enum sqlite_stmt id, size_t nparams,
			      const struct pc_user *u, struct pc_errinfo *ei, int64_t *changes)
{
	char email_lc[sizeof(u->email)];
	char username_lc[sizeof(u->username)];
	const struct sqlite_arg args[] = {
		A_FIELD(u->id), A_FIELD(u->email), A_FIELD(email_lc),
		A_FIELD_OR_NULL(u->username), A_FIELD_OR_NULL(username_lc),
		A_FIELD_OR_NULL(u->full_name), A_FIELD_OR_NULL(u->hashed_password),
		A_INT(u->is_active), A_INT(u->is_superuser), A_INT(u->is_verified),
		A_INT(u->password_changed_at), A_INT(u->updated_at), A_INT(u->created_at),
	};

	/* Each copy has its field's size: it does not fit only when the field
	 * is not NUL-terminated, and reads no further than the field's end. */
	if (lower_copy(u->email, email_lc, sizeof(email_lc)) != PC_OK ||
	    lower_copy(u->username, username_lc, sizeof(username_lc)) != PC_OK)
		return PC_EINVAL;
	return stmt_write(s, id, args, nparams, ei, changes);
}

/* PC_EEXISTS (ei->field "email", "username" or "id"), PC_EINVAL, PC_ESTORE. */
static enum pc_err sqlite_user_insert(struct pc_store *s, const struct pc_user *u,
				      struct pc_errinfo *ei)
{
	return user_write(s, STMT_USER_INSERT, 13, u, ei, NULL);
}

/* Runs a user lookup by one text key: lower-cased first when lower is set. */
static enum pc_err user_by(struct pc_store *s, enum sqlite_stmt id, const char *key, bool lower,
			   struct pc_user *out)
{
	char lc[PC_EMAIL_MAX + 1]; /* the longest key: emails */
	struct sqlite_arg arg = A_TEXT(key);

	if (key == NULL)
		return PC_EINVAL;
	if (lower) {
		if (lower_copy(key, lc, sizeof(lc)) != PC_OK)
			return PC_ENOTFOUND; /* longer than any stored key */
		arg.text = lc;
	}
	return user_row(s, id, &arg, 1, out);
}

/* PC_ENOTFOUND, PC_ESTORE. */
static enum pc_err sqlite_user_by_id(struct pc_store *s, const char *id, struct pc_user *out)
{
	return user_by(s, STMT_USER_BY_ID, id, false, out);
}

/* PC_ENOTFOUND (no user, or jti revoked), PC_ESTORE. */
static enum pc_err sqlite_user_by_id_unrevoked(struct pc_store *s, const char *id,
					       const char *jti, struct pc_user *out)
{
	const struct sqlite_arg args[] = { A_TEXT(id), A_TEXT(jti) };

	if (id == NULL || jti == NULL)
		return PC_EINVAL;
	return user_row(s, STMT_USER_BY_ID_UNREVOKED, args, NARGS(args), out);
}

/* email_lc is lower-cased again here, so any case finds the user. */
static enum pc_err sqlite_user_by_email(struct pc_store *s, const char *email_lc,
					struct pc_user *out)
{
	return user_by(s, STMT_USER_BY_EMAIL, email_lc, true, out);
}

static enum pc_err sqlite_user_by_username(struct pc_store *s, const char *username_lc,
					   struct pc_user *out)
{
	if (username_lc == NULL || username_lc[0] == '\0')
		return PC_ENOTFOUND;
	return user_by(s, STMT_USER_BY_USERNAME, username_lc, true, out);
}

/* Writes every column but id and created_at. PC_ENOTFOUND, PC_EEXISTS, PC_ESTORE. */
static enum pc_err sqlite_user_update(struct pc_store *s, const struct pc_user *u,
				      struct pc_errinfo *ei)
{
	int64_t n;
	enum pc_err err = user_write(s, STMT_USER_UPDATE, 12, u, ei, &n);

	if (err == PC_OK && n == 0)
		err = PC_ENOTFOUND;
	return err;
}

/* Runs a one-key DELETE; *n gets the rows it removed (cascades not counted). */
static enum pc_err delete_by(struct pc_store *s, enum sqlite_stmt id, const char *key, int64_t *n)
{
	const struct sqlite_arg args[] = { A_TEXT(key) };

	if (key == NULL)
		return PC_EINVAL;
	return stmt_write(s, id, args, NARGS(args), NULL, n);
}

/* The user's sessions go with it (ON DELETE CASCADE). PC_ENOTFOUND, PC_ESTORE. */
static enum pc_err sqlite_user_delete(struct pc_store *s, const char *id)
{
	int64_t n;
	enum pc_err err = delete_by(s, STMT_USER_DELETE, id, &n);

	if (err == PC_OK && n == 0)
		err = PC_ENOTFOUND;
	return err;
}

/*
 * Calls cb for each user in (created_at, id) order, skipping offset, at most
 * limit. cb may call the store, but not user_list: the statement is in use.
 * PC_EINVAL for a negative offset or limit; PC_ESTORE.
 */
static enum pc_err sqlite_user_list(struct pc_store *s, int64_t offset, int limit,
				    pc_user_cb *cb, void *arg)
{
	const struct sqlite_arg args[] = { A_INT(limit), A_INT(offset) };
	struct pc_user u;
	sqlite3_stmt *stmt;
	enum pc_err err;
	int rc;

	if (offset < 0 || limit < 0 || cb == NULL)
		return PC_EINVAL;
	err = stmt_query(s, STMT_USER_LIST, args, NARGS(args), &stmt);
	if (err != PC_OK)
		return err;
	while (err == PC_OK) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			err = stmt_error(stmt, NULL);
			break;
		}
		err = row_user(stmt, &u);
		if (err == PC_OK && cb(&u, arg) != 0)
			break;
	}
	stmt_done(stmt);
	return err;
}

static enum pc_err sqlite_user_count(struct pc_store *s, int64_t *out)
{
	return stmt_int(s, STMT_USER_COUNT, out);
}

/* ---- sessions --------------------------------------------------------------------- */

/* PC_EEXISTS for a token hash already stored; PC_ENOTFOUND when the user is gone. */
static enum pc_err sqlite_session_insert(struct pc_store *s, const struct pc_session_row *row)
{
	const struct sqlite_arg args[] = {
		A_FIELD(row->token_hash), A_FIELD(row->user_id), A_INT(row->created_at),
		A_INT(row->expires_at), A_INT(row->last_seen_at), A_FIELD_OR_NULL(row->ip),
		A_FIELD_OR_NULL(row->user_agent),
	};

	return stmt_write(s, STMT_SESSION_INSERT, args, NARGS(args), NULL, NULL);
}

/* One joined lookup: the user of the session when expires_at > now, and the
 * expiry (the column after the user's). PC_ENOTFOUND. */
static enum pc_err sqlite_session_user(struct pc_store *s, const char *token_hash, int64_t now,
				       struct pc_user *out, int64_t *expires_at)
{
	const struct sqlite_arg args[] = { A_TEXT(token_hash), A_INT(now) };
	sqlite3_stmt *stmt;
	enum pc_err err;

	if (token_hash == NULL)
		return PC_EINVAL;
	err = stmt_row(s, STMT_SESSION_USER, args, NARGS(args), &stmt);
	if (err != PC_OK)
		return err;
	err = row_user(stmt, out);
	if (err == PC_OK && expires_at != NULL)
		*expires_at = sqlite3_column_int64(stmt, SQLITE_USER_NCOLS);
	stmt_done(stmt);
	return err;
}

/* PC_ENOTFOUND when no session has that hash. */
static enum pc_err sqlite_session_delete(struct pc_store *s, const char *token_hash)
{
	int64_t n;
	enum pc_err err = delete_by(s, STMT_SESSION_DELETE, token_hash, &n);

	if (err == PC_OK && n == 0)
		err = PC_ENOTFOUND;
	return err;
}

/* PC_OK also when the user had no session. */
static enum pc_err sqlite_session_delete_user(struct pc_store *s, const char *user_id)
{
	int64_t n;

	return delete_by(s, STMT_SESSION_DELETE_USER, user_id, &n);
}

/* ---- JWT denylist ------------------------------------------------------------------ */

/* Revoking a jti twice is PC_OK; the first expiry stays. */
static enum pc_err sqlite_jti_revoke(struct pc_store *s, const char *jti, int64_t exp)
{
	const struct sqlite_arg args[] = { A_TEXT(jti), A_INT(exp) };

	if (jti == NULL)
		return PC_EINVAL;
	return stmt_write(s, STMT_JTI_REVOKE, args, NARGS(args), NULL, NULL);
}

static enum pc_err sqlite_jti_is_revoked(struct pc_store *s, const char *jti, bool *out)
{
	const struct sqlite_arg args[] = { A_TEXT(jti) };
	sqlite3_stmt *stmt;
	enum pc_err err;
	int rc;

	if (jti == NULL)
		return PC_EINVAL;
	err = stmt_query(s, STMT_JTI_IS_REVOKED, args, NARGS(args), &stmt);
	if (err != PC_OK)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*out = rc == SQLITE_ROW;
	else
		err = stmt_error(stmt, NULL);
	stmt_done(stmt);
	return err;
}

/* ---- housekeeping ------------------------------------------------------------------- */

/* Runs a DELETE ... WHERE expires_at <= ?1 and adds its row count to *removed. */
static enum pc_err purge_one(struct pc_store *s, enum sqlite_stmt id, int64_t now,
			     int64_t *removed)
{
	const struct sqlite_arg args[] = { A_INT(now) };
	int64_t n;
	enum pc_err err = stmt_write(s, id, args, NARGS(args), NULL, &n);

	*removed += n; /* 0 on an error */
	return err;
}

/* Two purges in one write transaction: statement a with ?1 = a_before, then b
 * with ?1 = b_before. *removed counts the rows of both; 0 on an error. */
static enum pc_err purge_two(struct pc_store *s, enum sqlite_stmt a, int64_t a_before,
			     enum sqlite_stmt b, int64_t b_before, int64_t *removed)
{
	enum pc_err err;
	int64_t n = 0;

	*removed = 0;
	err = stmt_run(s, STMT_BEGIN);
	if (err != PC_OK)
		return err;
	err = purge_one(s, a, a_before, &n);
	if (err == PC_OK)
		err = purge_one(s, b, b_before, &n);
	if (err == PC_OK)
		err = stmt_run(s, STMT_COMMIT);
	if (err != PC_OK) {
		tx_rollback(s);
		return err;
	}
	*removed = n;
	return PC_OK;
}

/* Expired sessions and denylist entries. */
static enum pc_err sqlite_purge_expired(struct pc_store *s, int64_t now, int64_t *removed)
{
	return purge_two(s, STMT_PURGE_SESSIONS, now, STMT_PURGE_JTI, now, removed);
}

/* ---- generated keys ---------------------------------------------------------------- */

/* Copies the value into out[outsz]. PC_ENOTFOUND; PC_ESTORE when it does not fit. */
static enum pc_err sqlite_key_get(struct pc_store *s, const char *name, char *out, size_t outsz)
{
	const struct sqlite_arg args[] = { A_TEXT(name) };
	sqlite3_stmt *stmt;
	enum pc_err err;

	if (name == NULL || out == NULL || outsz == 0)
		return PC_EINVAL;
	err = stmt_row(s, STMT_KEY_GET, args, NARGS(args), &stmt);
	if (err != PC_OK)
		return err;
	err = col_text(stmt, 0, out, outsz);
	stmt_done(stmt);
	return err;
}

/* Keeps an existing value: the first writer wins, later ones get PC_OK too. */
static enum pc_err sqlite_key_put_if_absent(struct pc_store *s, const char *name,
					    const char *value)
{
	const struct sqlite_arg args[] = { A_TEXT(name), A_TEXT(value), A_INT(time_now()) };

	if (name == NULL || value == NULL)
		return PC_EINVAL;
	return stmt_write(s, STMT_KEY_PUT, args, NARGS(args), NULL, NULL);
}

/* ---- one-time tokens ------------------------------------------------------------------- */

/* Reads the ONETIME_COLS of the current row. */
static enum pc_err row_onetime(sqlite3_stmt *stmt, struct pc_onetime_row *out)
{
	enum pc_err err;

	err = col_text(stmt, 0, out->token_hash, sizeof(out->token_hash));
	if (err == PC_OK)
		err = col_text(stmt, 1, out->purpose, sizeof(out->purpose));
	if (err == PC_OK)
		err = col_text(stmt, 2, out->user_id, sizeof(out->user_id));
	if (err == PC_OK)
		err = col_text(stmt, 3, out->email, sizeof(out->email));
	if (err != PC_OK)
		return err;
	out->created_at = sqlite3_column_int64(stmt, 4);
	out->expires_at = sqlite3_column_int64(stmt, 5);
	out->used_at = sqlite3_column_int64(stmt, 6);
	return PC_OK;
}

/* Marks the user's unused tokens of a purpose used at `at`. Inside a transaction. */
static enum pc_err onetime_void(struct pc_store *s, const char *user_id, const char *purpose,
				int64_t at)
{
	const struct sqlite_arg args[] = { A_TEXT(user_id), A_TEXT(purpose), A_INT(at) };

	return stmt_write(s, STMT_OT_VOID, args, NARGS(args), NULL, NULL);
}

static enum pc_err onetime_insert(struct pc_store *s, const struct pc_onetime_row *t)
{
	const struct sqlite_arg args[] = {
		A_FIELD(t->token_hash), A_FIELD(t->purpose), A_FIELD(t->user_id),
		A_FIELD(t->email), A_INT(t->created_at), A_INT(t->expires_at),
	};

	return stmt_write(s, STMT_OT_INSERT, args, NARGS(args), NULL, NULL);
}

/* Inserts one outbox row; the columns a sender owns take their defaults. */
static enum pc_err outbox_insert(struct pc_store *s, const struct pc_outbox_row *m)
{
	const struct sqlite_arg args[] = {
		A_FIELD(m->kind), A_FIELD(m->recipient), A_FIELD(m->subject),
		A_FIELD(m->body_text), A_FIELD(m->body_html), A_FIELD(m->payload),
		A_INT(m->next_attempt_at), A_INT(m->created_at),
	};

	return stmt_write(s, STMT_OUTBOX_INSERT, args, NARGS(args), NULL, NULL);
}

static enum pc_err outbox_insert_all(struct pc_store *s, const struct pc_outbox_row *const *msgs,
				     size_t n)
{
	enum pc_err err = PC_OK;
	size_t i;

	for (i = 0; i < n && err == PC_OK; i++)
		err = outbox_insert(s, msgs[i]);
	return err;
}

/* The token, the voiding of older ones and the messages: all or nothing. */
static enum pc_err sqlite_onetime_issue(struct pc_store *s, const struct pc_onetime_row *tok,
					bool void_older, const struct pc_outbox_row *const *msgs,
					size_t nmsgs)
{
	enum pc_err err;

	if (tok == NULL && nmsgs == 0)
		return PC_OK;
	err = stmt_run(s, STMT_BEGIN);
	if (err != PC_OK)
		return err;
	if (tok != NULL && void_older)
		err = onetime_void(s, tok->user_id, tok->purpose, tok->created_at);
	if (err == PC_OK && tok != NULL)
		err = onetime_insert(s, tok);
	if (err == PC_OK)
		err = outbox_insert_all(s, msgs, nmsgs);
	if (err == PC_OK)
		err = stmt_run(s, STMT_COMMIT);
	if (err != PC_OK)
		tx_rollback(s);
	return err;
}

/* Steps a one-row SELECT of ONETIME_COLS. PC_ENOTFOUND. */
static enum pc_err onetime_read(struct pc_store *s, const char *token_hash,
				struct pc_onetime_row *out)
{
	const struct sqlite_arg args[] = { A_TEXT(token_hash) };
	sqlite3_stmt *stmt;
	enum pc_err err;

	err = stmt_row(s, STMT_OT_GET, args, NARGS(args), &stmt);
	if (err != PC_OK)
		return err;
	err = row_onetime(stmt, out);
	stmt_done(stmt);
	return err;
}

static enum pc_err sqlite_onetime_get(struct pc_store *s, const char *token_hash,
				      struct pc_onetime_row *out)
{
	if (token_hash == NULL || out == NULL)
		return PC_EINVAL;
	memset(out, 0, sizeof(*out));
	return onetime_read(s, token_hash, out);
}

/* The user write apply asks for, if any, inside the consume transaction.
 * 0 rows changed (its condition on the user failed) is PC_ENOTFOUND. */
static enum pc_err apply_user_write(struct pc_store *s, const struct pc_onetime_row *t,
				    const struct pc_onetime_apply *apply, int64_t now)
{
	const struct sqlite_arg set_password[] = {
		A_TEXT(t->user_id), A_TEXT(apply->password_hash), A_INT(now), A_TEXT(t->email),
	};
	const struct sqlite_arg set_verified[] = {
		A_TEXT(t->user_id), A_INT(now), A_TEXT(t->email),
	};
	int64_t n;
	enum pc_err err;

	if (apply->password_hash != NULL)
		err = stmt_write(s, STMT_USER_SET_PASSWORD, set_password, NARGS(set_password),
				 NULL, &n);
	else if (apply->set_verified)
		err = stmt_write(s, STMT_USER_SET_VERIFIED, set_verified, NARGS(set_verified),
				 NULL, &n);
	else
		return PC_OK;
	if (err == PC_OK && n == 0)
		err = PC_ENOTFOUND;
	return err;
}

/* Marks the token used (only if it is still good) and applies; all or nothing. */
static enum pc_err sqlite_onetime_consume(struct pc_store *s, const char *token_hash,
					  const char *purpose, int64_t now,
					  const struct pc_onetime_apply *apply)
{
	static const struct pc_onetime_apply nothing = { 0 };
	const struct sqlite_arg use[] = { A_TEXT(token_hash), A_TEXT(purpose), A_INT(now) };
	struct pc_onetime_row t;
	int64_t n = 0;
	enum pc_err err;

	if (token_hash == NULL || purpose == NULL)
		return PC_EINVAL;
	if (apply == NULL)
		apply = &nothing;
	err = stmt_run(s, STMT_BEGIN);
	if (err != PC_OK)
		return err;
	err = stmt_write(s, STMT_OT_USE, use, NARGS(use), NULL, &n);
	if (err == PC_OK && n == 0)
		err = PC_ENOTFOUND;
	if (err == PC_OK)
		err = onetime_read(s, token_hash, &t);
	if (err == PC_OK)
		err = apply_user_write(s, &t, apply, now);
	if (err == PC_OK && apply->end_sessions)
		err = delete_by(s, STMT_SESSION_DELETE_USER, t.user_id, &n);
	if (err == PC_OK)
		err = outbox_insert_all(s, apply->msgs, apply->nmsgs);
	if (err == PC_OK)
		err = stmt_run(s, STMT_COMMIT);
	if (err != PC_OK)
		tx_rollback(s);
	return err;
}

/* ---- the outbox --------------------------------------------------------------------------- */

/* Reads the OUTBOX_COLS of the current row. */
static enum pc_err row_outbox(sqlite3_stmt *stmt, struct pc_outbox_row *out)
{
	enum pc_err err;

	out->id = sqlite3_column_int64(stmt, 0);
	err = col_text(stmt, 1, out->kind, sizeof(out->kind));
	if (err == PC_OK)
		err = col_text(stmt, 2, out->recipient, sizeof(out->recipient));
	if (err == PC_OK)
		err = col_text(stmt, 3, out->subject, sizeof(out->subject));
	if (err == PC_OK)
		err = col_text(stmt, 4, out->body_text, sizeof(out->body_text));
	if (err == PC_OK)
		err = col_text(stmt, 5, out->body_html, sizeof(out->body_html));
	if (err == PC_OK)
		err = col_text(stmt, 6, out->payload, sizeof(out->payload));
	if (err == PC_OK)
		err = col_text(stmt, 12, out->last_error, sizeof(out->last_error));
	if (err != PC_OK)
		return err;
	out->attempts = sqlite3_column_int64(stmt, 7);
	out->next_attempt_at = sqlite3_column_int64(stmt, 8);
	out->claimed_until = sqlite3_column_int64(stmt, 9);
	out->sent_at = sqlite3_column_int64(stmt, 10);
	out->gave_up_at = sqlite3_column_int64(stmt, 11);
	out->created_at = sqlite3_column_int64(stmt, 13);
	return PC_OK;
}

static enum pc_err sqlite_outbox_get(struct pc_store *s, int64_t id, struct pc_outbox_row *out)
{
	const struct sqlite_arg args[] = { A_INT(id) };
	sqlite3_stmt *stmt;
	enum pc_err err;

	err = stmt_row(s, STMT_OUTBOX_GET, args, NARGS(args), &stmt);
	if (err != PC_OK)
		return err;
	err = row_outbox(stmt, out);
	stmt_done(stmt);
	return err;
}

/* Steps a statement bound with ?1 = now that yields at most one integer. */
static enum pc_err outbox_first(struct pc_store *s, enum sqlite_stmt id, int64_t now,
				int64_t *out, bool *found)
{
	const struct sqlite_arg args[] = { A_INT(now) };
	sqlite3_stmt *stmt;
	enum pc_err err;
	int rc;

	*found = false;
	err = stmt_query(s, id, args, NARGS(args), &stmt);
	if (err != PC_OK)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(stmt, 0);
		*found = true;
	} else if (rc != SQLITE_DONE) {
		err = stmt_error(stmt, NULL);
	}
	stmt_done(stmt);
	return err;
}

static enum pc_err sqlite_outbox_due(struct pc_store *s, int64_t now, bool *out)
{
	int64_t one;

	return outbox_first(s, STMT_OUTBOX_DUE, now, &one, out);
}

/* Leases row id until lease_until. Inside the claim transaction. */
static enum pc_err outbox_lease(struct pc_store *s, int64_t id, int64_t lease_until)
{
	const struct sqlite_arg args[] = { A_INT(id), A_INT(lease_until) };

	return stmt_write(s, STMT_OUTBOX_LEASE, args, NARGS(args), NULL, NULL);
}

/* Select and lease in one write transaction: two senders never hold one row. */
static enum pc_err sqlite_outbox_claim(struct pc_store *s, int64_t now, int64_t lease_until,
				       struct pc_outbox_row *out)
{
	int64_t id = 0;
	bool found;
	enum pc_err err;

	err = stmt_run(s, STMT_BEGIN);
	if (err != PC_OK)
		return err;
	err = outbox_first(s, STMT_OUTBOX_NEXT, now, &id, &found);
	if (err == PC_OK && !found)
		err = PC_ENOTFOUND;
	if (err == PC_OK)
		err = outbox_lease(s, id, lease_until);
	if (err == PC_OK)
		err = sqlite_outbox_get(s, id, out);
	if (err == PC_OK)
		err = stmt_run(s, STMT_COMMIT);
	if (err != PC_OK)
		tx_rollback(s);
	return err;
}

/* Binds ?1 = id, ?2 = at, ?3 = error (when has_error) and runs; PC_ENOTFOUND for no row. */
static enum pc_err outbox_mark(struct pc_store *s, enum sqlite_stmt sid, int64_t id, int64_t at,
			       bool has_error, const char *error)
{
	char msg[PC_OUTBOX_ERROR_MAX + 1];
	const struct sqlite_arg args[] = {
		A_INT(id), A_INT(at), A_TEXT(error != NULL ? msg : NULL),
	};
	int64_t n;
	enum pc_err err;

	snprintf(msg, sizeof(msg), "%s", error != NULL ? error : "");
	err = stmt_write(s, sid, args, has_error ? 3 : 2, NULL, &n);
	if (err == PC_OK && n == 0)
		err = PC_ENOTFOUND;
	return err;
}

static enum pc_err sqlite_outbox_sent(struct pc_store *s, int64_t id, int64_t now)
{
	return outbox_mark(s, STMT_OUTBOX_SENT, id, now, false, NULL);
}

static enum pc_err sqlite_outbox_failed(struct pc_store *s, int64_t id, int64_t now,
					int64_t next_attempt_at, const char *error, bool give_up)
{
	if (give_up)
		return outbox_mark(s, STMT_OUTBOX_GIVE_UP, id, now, true, error);
	return outbox_mark(s, STMT_OUTBOX_RETRY, id, next_attempt_at, true, error);
}

/* One-time tokens expired at or before now; outbox rows sent or given up at or
 * before done_before. */
static enum pc_err sqlite_mail_purge(struct pc_store *s, int64_t now, int64_t done_before,
				     int64_t *removed)
{
	return purge_two(s, STMT_PURGE_ONETIME, now, STMT_PURGE_OUTBOX, done_before, removed);
}

/* ---- the operations table -------------------------------------------------------------- */

const struct pc_store_ops store_sqlite_ops = {
	.version = PC_STORE_OPS_VERSION,
	.name = "sqlite",
	.scheme = SQLITE_URL_SCHEME,
	.open = sqlite_open,
	.close = sqlite_close,
	.migrate = sqlite_migrate,
	.ping = sqlite_ping,
	.user_insert = sqlite_user_insert,
	.user_by_id = sqlite_user_by_id,
	.user_by_email = sqlite_user_by_email,
	.user_by_username = sqlite_user_by_username,
	.user_update = sqlite_user_update,
	.user_delete = sqlite_user_delete,
	.user_list = sqlite_user_list,
	.user_count = sqlite_user_count,
	.session_insert = sqlite_session_insert,
	.session_user = sqlite_session_user,
	.session_delete = sqlite_session_delete,
	.session_delete_user = sqlite_session_delete_user,
	.jti_revoke = sqlite_jti_revoke,
	.jti_is_revoked = sqlite_jti_is_revoked,
	.purge_expired = sqlite_purge_expired,
	.key_get = sqlite_key_get,
	.key_put_if_absent = sqlite_key_put_if_absent,
	.onetime_issue = sqlite_onetime_issue,
	.onetime_get = sqlite_onetime_get,
	.onetime_consume = sqlite_onetime_consume,
	.outbox_due = sqlite_outbox_due,
	.outbox_claim = sqlite_outbox_claim,
	.outbox_sent = sqlite_outbox_sent,
	.outbox_failed = sqlite_outbox_failed,
	.user_by_id_unrevoked = sqlite_user_by_id_unrevoked,
	.outbox_get = sqlite_outbox_get,
	.mail_purge = sqlite_mail_purge,
};
