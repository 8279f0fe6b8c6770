/*
 * driver.h - what a SQL back end provides to the store, and the statements
 * the store runs through it.
 *
 * The operations (ops.c) are written once, over this interface. A driver is a
 * const method table, as SQLite's VFS or curl's Curl_ssl are: it opens and
 * closes a store, keeps the connections (per thread, a pool: its own
 * business), prepares the statements of the enum below from its dialect's SQL
 * text table, binds, steps, reads columns, and runs transactions. It maps its
 * database's errors to enum pc_err (a unique violation is PC_EEXISTS, a
 * missing parent row PC_ENOTFOUND, the rest PC_ESTORE, logged without
 * parameter values) and moves the store's write generation after each
 * committed write (store.h), or clears gen_tracked.
 *
 * Statements. enum store_stmt is the one list of statements; each dialect has
 * one SQL text table indexed by it (sql_sqlite.c), written with designated
 * initializers so order cannot drift. The text names its parameters
 * (":email_lc"): an operation binds a const table of struct store_arg, each
 * entry naming its parameter, and the driver refuses (PC_ESTORE, logged) a
 * name the statement lacks or a parameter left unbound. A statement that
 * returns rows yields the columns of its set in store_stmt_cols[] (ops.c), in
 * that order and with those names; the driver checks this when it prepares
 * the statement, so an operation reads a column by its enum (COL_USER_EMAIL),
 * never by a number it has to keep in step with the text.
 *
 * SQLite binds ":name" natively; the PostgreSQL driver (pg.c) rewrites the
 * names to $1..$n when it prepares (so no text may use a "::" cast: write
 * CAST()).
 *
 * There is no version number in the table: drivers are compiled into the
 * binary from this header, so there is no older table to tell apart, only an
 * unfinished one; store_open() refuses a driver that leaves a slot empty.
 *
 * A prepared statement (struct store_ps) is borrowed from the driver between
 * prepare and done, by the thread that prepared it; done resets it and drops
 * its bindings, so it holds no read snapshot and no pointer to the caller's
 * strings. Text bound is borrowed until done.
 */
#ifndef PC_STORE_DRIVER_H
#define PC_STORE_DRIVER_H

#include <string.h>

#include "store/store.h"

/* ---- the statements ---------------------------------------------------------------- */

enum store_stmt {
	STMT_BEGIN, /* the driver's begin/commit/rollback run these three */
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_PING,
	STMT_SCHEMA_CREATE, /* run as a script (exec), before STMT_SCHEMA_* can prepare */
	STMT_SCHEMA_CURRENT,
	STMT_SCHEMA_INSERT,
	STMT_FOREIGN_KEYS_OFF, /* exec, outside a transaction */
	STMT_FOREIGN_KEYS_ON,  /* exec, outside a transaction */
	STMT_FOREIGN_KEYS_BROKEN, /* one row, column n: references that point at nothing */
	STMT_USER_INSERT,
	STMT_USER_BY_ID,
	STMT_USER_BY_ID_UNREVOKED,
	STMT_USER_BY_EMAIL,
	STMT_USER_BY_USERNAME,
	STMT_USER_UPDATE,
	STMT_USER_DELETE,
	STMT_USER_LIST,
	STMT_USER_PAGES,
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
	STMT_WRITE_PROBE, /* one committed write of a row of its own (/readyz) */
	STMT_TOKEN_DECOY, /* :tag, :owner, :payload into ring slot :slot at :now (014) */
	STMT_MAIL_DECOY,  /* :payload into ring slot :slot at :now (014_mail_decoys) */
	STMT_SYNCHRONOUS, /* n: 2 when a commit is durable before it returns, 1 when not */
	STMT_RL_HIT,              /* counts one hit of :key in a window of :window s at :now */
	STMT_RL_GET,              /* hits, locked_until of :key */
	STMT_RL_WINDOW,           /* hits, window_start of :key */
	STMT_RL_FAIL,             /* one more failure of :key at :now */
	STMT_RL_LOCK,             /* locked_until = :until when later */
	STMT_RL_CLEAR,            /* deletes :key */
	STMT_RL_PURGE,            /* rows idle since :before and not locked at :now */
	STMT_SIGNINS_OF_USER,     /* :user_id's live sessions and refresh families, at :now */
	STMT_SESSION_DELETE_ONE,  /* :user_id's session whose id is :key */
	STMT_RF_FAMILY_REVOKE_OF, /* :user_id's family :key, at :now */
	STMT_RF_REVOKE_TOKENS_OF, /* its tokens */
	STMT_OT_VOID,
	STMT_OT_INSERT,
	STMT_OT_GET,
	STMT_OT_USE,
	STMT_USER_SET_PASSWORD,
	STMT_USER_SET_VERIFIED,
	STMT_USER_MAGIC_LOGIN,
	STMT_OUTBOX_INSERT,
	STMT_OUTBOX_DUE,
	STMT_OUTBOX_NEXT,
	STMT_OUTBOX_LEASE,
	STMT_OUTBOX_GET,
	STMT_OUTBOX_SENT,
	STMT_OUTBOX_RETRY,
	STMT_OUTBOX_GIVE_UP,
	STMT_OUTBOX_STATS,  /* one row: pending, failed (with a last_error), oldest (its created_at) */
	STMT_PURGE_ONETIME,
	STMT_PURGE_OUTBOX,
	STMT_USER_BY_ID_UNREVOKED_FAMILY,
	STMT_RF_FAMILY_INSERT,
	STMT_RF_INSERT,
	STMT_RF_USE,
	STMT_RF_GET,
	STMT_RF_FAMILY_REVOKE,
	STMT_RF_REVOKE_TOKENS,
	STMT_RF_FAMILY_REVOKE_USER, /* every live family of :key, at :now */
	STMT_RF_REVOKE_TOKENS_USER,
	STMT_RF_PURGE_TOKENS,
	STMT_RF_PURGE_FAMILIES,
	STMT_TOTP_GET,
	STMT_TOTP_SET_PENDING,
	STMT_TOTP_ENABLE,
	STMT_TOTP_USER_FLAG,
	STMT_TOTP_DELETE,
	STMT_TOTP_STEP_USE,
	STMT_TOTP_FAIL,
	STMT_TOTP_RESET_FAILURES,
	STMT_TOTP_OTHER_KEY,
	STMT_TOTP_RC_DELETE,
	STMT_TOTP_RC_INSERT,
	STMT_TOTP_RC_USE,
	STMT_USER_PROFILE_GET, /* the user_account face's fields (006: phone, contacts) */
	STMT_USER_PROFILE_SET,
	STMT_OAUTH_BY_ACCOUNT, /* 009_oauth: a linked provider account (link columns) */
	STMT_OAUTH_LIST_USER,  /* the user's links, ordered (link columns) */
	STMT_OAUTH_INSERT,
	STMT_OAUTH_UPDATE,     /* fresh tokens and email of a link */
	STMT_OAUTH_STATE_USE,  /* records a spent state; a second insert is PC_EEXISTS */
	STMT_OAUTH_STATE_PURGE,
	STMT_SK_LIST, /* every signing key, newest first (010) */
	STMT_SK_INSERT,
	STMT_SK_RETIRE, /* every unretired key but :kid, at :at */
	STMT_SK_PURGE,  /* retired at or before :before */
	STMT_AUDIT_INSERT,    /* 013: one audit row */
	STMT_AUDIT_LIST,      /* rows with id > :after, oldest first, at most :limit */
	STMT_AUDIT_LIST_USER, /* the same, of :user_id only */
	STMT_AUDIT_PURGE,     /* rows at before :before */
	STMT_CRED_CHANGES,    /* 015, SQLite: the log's top seq (top 1), then its rows after
	                       * :last (top 0), at most :limit, in seq order */
	STMT_PURGE_CRED_CHANGES, /* 015: log rows at before :before (PostgreSQL: none) */
	STMT__MAX
};

/* ---- result columns, by name ------------------------------------------------------------ */

#define COL_ENUM(e, name) e,
#define COL_NAME(e, name) name,

/* struct pc_user, in every statement that returns users. */
#define USER_COLUMNS(X) \
	X(COL_USER_ID, "id") \
	X(COL_USER_EMAIL, "email") \
	X(COL_USER_USERNAME, "username") \
	X(COL_USER_FULL_NAME, "full_name") \
	X(COL_USER_HASHED_PASSWORD, "hashed_password") \
	X(COL_USER_IS_ACTIVE, "is_active") \
	X(COL_USER_IS_SUPERUSER, "is_superuser") \
	X(COL_USER_IS_VERIFIED, "is_verified") \
	X(COL_USER_PASSWORD_CHANGED_AT, "password_changed_at") \
	X(COL_USER_CREATED_AT, "created_at") \
	X(COL_USER_UPDATED_AT, "updated_at") \
	X(COL_USER_TOTP_ENABLED, "totp_enabled") \
	X(COL_USER_ROLES, "roles")

enum store_user_col {
	USER_COLUMNS(COL_ENUM)
	COL_USER__N,
	COL_SESSION_EXPIRES_AT = COL_USER__N, /* STMT_SESSION_USER: the user's, then this */
};

/* struct pc_onetime_row. */
#define ONETIME_COLUMNS(X) \
	X(COL_OT_TOKEN_HASH, "token_hash") \
	X(COL_OT_PURPOSE, "purpose") \
	X(COL_OT_USER_ID, "user_id") \
	X(COL_OT_EMAIL, "email") \
	X(COL_OT_CLAIM_HASH, "claim_hash") \
	X(COL_OT_CREATED_AT, "created_at") \
	X(COL_OT_EXPIRES_AT, "expires_at") \
	X(COL_OT_USED_AT, "used_at")

enum store_onetime_col { ONETIME_COLUMNS(COL_ENUM) COL_OT__N };

/* struct pc_outbox_row. */
#define OUTBOX_COLUMNS(X) \
	X(COL_OB_ID, "id") \
	X(COL_OB_KIND, "kind") \
	X(COL_OB_RECIPIENT, "recipient") \
	X(COL_OB_SUBJECT, "subject") \
	X(COL_OB_BODY_TEXT, "body_text") \
	X(COL_OB_BODY_HTML, "body_html") \
	X(COL_OB_PAYLOAD, "payload") \
	X(COL_OB_ATTEMPTS, "attempts") \
	X(COL_OB_NEXT_ATTEMPT_AT, "next_attempt_at") \
	X(COL_OB_CLAIMED_UNTIL, "claimed_until") \
	X(COL_OB_SENT_AT, "sent_at") \
	X(COL_OB_GAVE_UP_AT, "gave_up_at") \
	X(COL_OB_LAST_ERROR, "last_error") \
	X(COL_OB_CREATED_AT, "created_at")

enum store_outbox_col { OUTBOX_COLUMNS(COL_ENUM) COL_OB__N };

/* struct pc_refresh_row. */
#define REFRESH_COLUMNS(X) \
	X(COL_RF_TOKEN_HASH, "token_hash") \
	X(COL_RF_FAMILY_ID, "family_id") \
	X(COL_RF_USER_ID, "user_id") \
	X(COL_RF_CREATED_AT, "created_at") \
	X(COL_RF_EXPIRES_AT, "expires_at") \
	X(COL_RF_USED_AT, "used_at") \
	X(COL_RF_REVOKED_AT, "revoked_at")

enum store_refresh_col { REFRESH_COLUMNS(COL_ENUM) COL_RF__N };

/* struct pc_user_profile. */
#define PROFILE_COLUMNS(X) \
	X(COL_PROFILE_PHONE, "phone") \
	X(COL_PROFILE_CONTACTS, "contacts") \
	X(COL_PROFILE_HAS_PHONE, "has_phone")

enum store_profile_col { PROFILE_COLUMNS(COL_ENUM) COL_PROFILE__N };

/* struct pc_totp_row. */
#define TOTP_COLUMNS(X) \
	X(COL_TOTP_USER_ID, "user_id") \
	X(COL_TOTP_SECRET_ENC, "secret_enc") \
	X(COL_TOTP_PENDING_ENC, "pending_enc") \
	X(COL_TOTP_LAST_STEP, "last_step") \
	X(COL_TOTP_FAILURES, "failures") \
	X(COL_TOTP_LOCKED_UNTIL, "locked_until") \
	X(COL_TOTP_ENABLED, "enabled")

enum store_totp_col { TOTP_COLUMNS(COL_ENUM) COL_TOTP__N };

/* struct pc_oauth_link: an oauth_accounts row without its tokens (which
 * are written, never read back). */
#define OAUTH_COLUMNS(X) \
	X(COL_OA_ID, "id") \
	X(COL_OA_USER_ID, "user_id") \
	X(COL_OA_NAME, "oauth_name") \
	X(COL_OA_ACCOUNT_ID, "account_id") \
	X(COL_OA_ACCOUNT_EMAIL, "account_email")

enum store_oauth_col { OAUTH_COLUMNS(COL_ENUM) COL_OA__N };

/* struct pc_signing_key_row. */
#define SIGNING_KEY_COLUMNS(X) \
	X(COL_SK_KID, "kid") \
	X(COL_SK_ALG, "alg") \
	X(COL_SK_PRIVATE_PEM, "private_pem") \
	X(COL_SK_CREATED_AT, "created_at") \
	X(COL_SK_RETIRED_AT, "retired_at")

enum store_signing_key_col { SIGNING_KEY_COLUMNS(COL_ENUM) COL_SK__N };

/* A statement of one column (a count, an id, a value): its name is the
 * statement's own (store_stmt_cols[]). */
enum store_value_col { COL_VALUE = 0 };

/* The result columns of a statement: names[0..n) in order; n = 0 for one
 * that returns no rows. */
struct store_cols {
	const char *const *names;
	int n;
};

extern const struct store_cols store_stmt_cols[STMT__MAX]; /* ops.c */

/* ---- arguments --------------------------------------------------------------------------- */

/*
 * One parameter of a statement: its name as the SQL text writes it (":id")
 * and its value. Made with the A_* macros into a const table on the caller's
 * stack; a value is taken when the table is made, text is borrowed until the
 * statement is done. The order of a table is free.
 */
enum store_arg_kind {
	ARG_TEXT,          /* a C string; NULL binds NULL */
	ARG_FIELD,         /* a char array: PC_EINVAL when not NUL-terminated within it */
	ARG_FIELD_OR_NULL, /* as ARG_FIELD; "" binds NULL */
	ARG_INT,
};

struct store_arg {
	const char *name; /* ":email_lc" */
	enum store_arg_kind kind;
	const char *text; /* ARG_TEXT, ARG_FIELD* */
	size_t size;      /* ARG_FIELD*: sizeof the array */
	int64_t i;        /* ARG_INT */
};

/* sizeof(f); does not compile when f is a pointer rather than an array. */
#define FIELD_SIZE(f) \
	(sizeof(f) + 0 * sizeof(char[1 - 2 * __builtin_types_compatible_p(__typeof__(f), \
								    __typeof__(&(f)[0]))]))
#define A_TEXT(n, s) { .name = (n), .kind = ARG_TEXT, .text = (s), .size = 0, .i = 0 }
#define A_FIELD(n, f) { .name = (n), .kind = ARG_FIELD, .text = (f), .size = FIELD_SIZE(f), .i = 0 }
#define A_FIELD_OR_NULL(n, f) \
	{ .name = (n), .kind = ARG_FIELD_OR_NULL, .text = (f), .size = FIELD_SIZE(f), .i = 0 }
#define A_INT(n, v) { .name = (n), .kind = ARG_INT, .text = NULL, .size = 0, .i = (v) }
#define NARGS(args) (sizeof(args) / sizeof((args)[0]))

/*
 * The text an ARG_TEXT or ARG_FIELD* argument binds: *text NULL for SQL NULL,
 * else *len bytes at *text (no NUL counted). PC_EINVAL for a field not
 * NUL-terminated within its array. Every driver's bind uses this, so the
 * rules of the kinds are here once.
 */
static inline enum pc_err store_arg_text(const struct store_arg *a, const char **text,
					 size_t *len)
{
	size_t n;

	*text = NULL;
	*len = 0;
	if (a->kind == ARG_TEXT) {
		if (a->text != NULL) {
			*text = a->text;
			*len = strlen(a->text);
		}
		return PC_OK;
	}
	n = strnlen(a->text, a->size);
	if (n == a->size)
		return PC_EINVAL;
	if (n == 0 && a->kind == ARG_FIELD_OR_NULL)
		return PC_OK;
	*text = a->text;
	*len = n;
	return PC_OK;
}

/* ---- the driver ---------------------------------------------------------------------- */

/* One numbered schema step. The tables are generated at build time from
 * src/store/migrations/<dialect>/NNN_name.sql by gen_migrations.py, sorted
 * by number; schema_version records the ones applied. */
struct pc_migration {
	int number;        /* NNN of the file name, from 1 */
	const char *name;  /* the rest of the file name: "init" */
	const char *sql;   /* the whole file; may hold several statements */
	/* The file holds the line "-- portcullis: foreign keys off": it rebuilds
	 * a table other tables reference (SQLite's twelve-step ALTER), so it runs
	 * with foreign keys off (their cascades would empty the children when the
	 * old table is dropped) and must leave none broken (checked before its
	 * commit). */
	bool foreign_keys_off;
};

enum store_dialect {
	STORE_DIALECT_SQLITE,
	STORE_DIALECT_POSTGRES,
};

struct store_ps; /* a driver's prepared statement; opaque to the operations */

struct store_driver {
	const char *name;               /* "sqlite": logs and tests */
	enum store_dialect dialect;
	const char *scheme;             /* URL prefix it claims: "sqlite://" */
	const char *const *sql;         /* [STMT__MAX]: the dialect's text of each statement */
	const struct pc_migration *migrations;
	const size_t *nmigrations;

	/* url is the whole database URL; *out is released with close. PC_EINVAL
	 * (ei->detail) for a URL it cannot use; PC_ESTORE, PC_ENOMEM. */
	enum pc_err (*open)(const char *url, const struct store_conf *conf, struct pc_store **out,
			    struct pc_errinfo *ei);
	/* Closes every connection; no other thread may still call the store. */
	void (*close)(struct pc_store *s);
	/* Runs a script of several statements, no parameters (migrations). */
	enum pc_err (*exec)(struct pc_store *s, const char *sql);

	/* Statement id of this thread's connection, prepared on first use;
	 * borrowed until done. PC_ESTORE (logged), PC_ENOMEM. */
	enum pc_err (*prepare)(struct pc_store *s, enum store_stmt id, struct store_ps **out);
	/* Binds args[0..n) by name; n must cover every parameter of the text.
	 * PC_EINVAL (store_arg_text), PC_ESTORE (logged), PC_ENOMEM. */
	enum pc_err (*bind)(struct store_ps *ps, const struct store_arg *args, size_t n);
	/* One step: PC_OK with *row true on a row, false when done. Else the
	 * error mapped (PC_EEXISTS with ei->field, PC_ENOTFOUND, PC_ESTORE). */
	enum pc_err (*step)(struct store_ps *ps, struct pc_errinfo *ei, bool *row);
	/* The current row's column col (an enum of its set). Text: *text NULL
	 * for SQL NULL, else *len bytes, valid until the next step or done;
	 * PC_ESTORE (logged) when the driver cannot give it. */
	int64_t (*column_int)(struct store_ps *ps, int col);
	enum pc_err (*column_text)(struct store_ps *ps, int col, const char **text, size_t *len);
	/* Rows the last step of a write changed (cascades not counted). */
	int64_t (*changes)(struct store_ps *ps);
	void (*done)(struct store_ps *ps);

	/* A transaction of this thread's connection; it takes the write lock up
	 * front where the dialect needs that. No nesting: begin inside an open
	 * transaction, or commit or rollback outside one, is PC_EINVAL and changes
	 * nothing. A commit that fails leaves the transaction open (roll back). */
	enum pc_err (*begin)(struct pc_store *s);
	enum pc_err (*commit)(struct pc_store *s);
	enum pc_err (*rollback)(struct pc_store *s);

	/* Optional (NULL: none): reads the log of credential-relevant writes,
	 * other processes' included, on this thread's connection and bumps the
	 * users it names (store.h, store_cred_*); on any doubt (an error, a gap,
	 * too many rows) bumps all. store_cred_poll calls it. */
	void (*cred_sync)(struct pc_store *s);
};

extern const struct store_driver store_sqlite_driver; /* sqlite.c */
extern const char *const store_sql_sqlite[STMT__MAX]; /* sql_sqlite.c */
extern const struct pc_migration sqlite_migrations[];  /* generated */
extern const size_t sqlite_migrations_count;
extern const struct store_driver store_postgres_driver; /* pg.c */
extern const char *const store_sql_postgres[STMT__MAX]; /* sql_pg.c */
extern const struct pc_migration postgres_migrations[]; /* generated */
extern const size_t postgres_migrations_count;

/*
 * Whether a statement writes only what no credential check reads and no
 * remembered answer depends on: the attempt counters (rate limits, lockout),
 * the audit log, the mail outbox, the write probe's own row (/readyz), the
 * one-time tokens a mail request writes and voids, and the decoys an unknown
 * address writes in their place (so that a flood of forgot-password requests,
 * known addresses or not, leaves the caches alone, and both paths alike). A commit whose writes are all of these does
 * not move the write generation (store.h), so that every login attempt's
 * counter, every audit row and every mail sent does not void each thread's
 * credential cache (authcache.c) and the user list's buckets (ops.c). Any
 * other write moves it: a statement missing here costs only a cache miss.
 */
static inline bool store_stmt_gen_neutral(enum store_stmt id)
{
	switch (id) {
	case STMT_BEGIN: /* writes nothing itself (SQLite calls BEGIN IMMEDIATE a write) */
	case STMT_COMMIT:
	case STMT_ROLLBACK:
	case STMT_WRITE_PROBE:
	case STMT_RL_HIT:
	case STMT_RL_FAIL:
	case STMT_RL_LOCK:
	case STMT_RL_CLEAR:
	case STMT_RL_PURGE:
	case STMT_AUDIT_INSERT:
	case STMT_AUDIT_PURGE:
	case STMT_OUTBOX_INSERT:
	case STMT_OUTBOX_LEASE:
	case STMT_OUTBOX_SENT:
	case STMT_OUTBOX_RETRY:
	case STMT_OUTBOX_GIVE_UP:
	case STMT_OT_VOID:
	case STMT_OT_INSERT:
	case STMT_TOKEN_DECOY:
	case STMT_MAIL_DECOY:
		return true;
	default:
		return false;
	}
}

#endif /* PC_STORE_DRIVER_H */
