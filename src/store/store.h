/*
 * store.h - the one storage interface, and its row structs.
 *
 * A back end is a versioned table of operations (struct pc_store_ops), as
 * SQLite's VFS is: slots are added at the end and the version bumped. The
 * core reaches storage only through store_*() below, which dispatch through
 * the table. Every query is parameterized; every string column that comes
 * back is copied into a bounded field (truncation is an error, PC_ESTORE).
 *
 * Threads: a store may be called from any thread at once. The SQLite back end
 * keeps one connection per thread, opened on first use, and one prepared
 * statement per (connection, statement).
 *
 * Errors: PC_ENOTFOUND when the row is absent; PC_EEXISTS on a unique
 * violation, with ei->field set to "email" or "username" when ei is given;
 * PC_ESTORE for anything the database reports otherwise (logged by the back
 * end without parameter values).
 */
#ifndef PC_STORE_H
#define PC_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "portcullis.h"
#include "core/core.h"

/* ---- rows ---------------------------------------------------------------- */

struct pc_session_row {
	char token_hash[PC_SHA256_HEX];
	char user_id[PC_ID_LEN + 1];
	int64_t created_at;
	int64_t expires_at;
	int64_t last_seen_at;
	char ip[64];
	char user_agent[256];
};

/* ---- the operations table -------------------------------------------------------- */

struct pc_store;

#define PC_STORE_OPS_VERSION 1

struct pc_store_ops {
	int version;      /* PC_STORE_OPS_VERSION of the back end */
	const char *name; /* "sqlite" */
	const char *scheme; /* URL prefix it claims: "sqlite://" */

	/* url is the whole database URL. */
	enum pc_err (*open)(const char *url, struct pc_store **out, struct pc_errinfo *ei);
	void (*close)(struct pc_store *s);
	/* Applies pending numbered migrations in one transaction each; *applied counts them. */
	enum pc_err (*migrate)(struct pc_store *s, int *applied);
	enum pc_err (*ping)(struct pc_store *s);

	/* users; email_lc and username_lc are derived by the back end from u. */
	enum pc_err (*user_insert)(struct pc_store *s, const struct pc_user *u, struct pc_errinfo *ei);
	enum pc_err (*user_by_id)(struct pc_store *s, const char *id, struct pc_user *out);
	enum pc_err (*user_by_email)(struct pc_store *s, const char *email_lc, struct pc_user *out);
	enum pc_err (*user_by_username)(struct pc_store *s, const char *username_lc, struct pc_user *out);
	/* Writes every column but id and created_at. PC_ENOTFOUND, PC_EEXISTS. */
	enum pc_err (*user_update)(struct pc_store *s, const struct pc_user *u, struct pc_errinfo *ei);
	/* Deletes the user and, by cascade, its sessions. PC_ENOTFOUND. */
	enum pc_err (*user_delete)(struct pc_store *s, const char *id);
	/* Ordered by created_at, id. cb returning nonzero stops the walk. */
	enum pc_err (*user_list)(struct pc_store *s, int64_t offset, int limit, pc_user_cb *cb, void *arg);
	enum pc_err (*user_count)(struct pc_store *s, int64_t *out);

	/* sessions */
	enum pc_err (*session_insert)(struct pc_store *s, const struct pc_session_row *row);
	/* The user of an unexpired session (expires_at > now). PC_ENOTFOUND otherwise. */
	enum pc_err (*session_user)(struct pc_store *s, const char *token_hash, int64_t now,
				    struct pc_user *out);
	enum pc_err (*session_delete)(struct pc_store *s, const char *token_hash);
	enum pc_err (*session_delete_user)(struct pc_store *s, const char *user_id);

	/* JWT denylist */
	enum pc_err (*jti_revoke)(struct pc_store *s, const char *jti, int64_t exp);
	enum pc_err (*jti_is_revoked)(struct pc_store *s, const char *jti, bool *out);

	/* Deletes expired sessions and denylist entries; *removed counts rows. */
	enum pc_err (*purge_expired)(struct pc_store *s, int64_t now, int64_t *removed);

	/* Generated secrets of the embedded default. get: PC_ENOTFOUND when absent.
	 * put_if_absent keeps an existing value (first writer wins). */
	enum pc_err (*key_get)(struct pc_store *s, const char *name, char *out, size_t outsz);
	enum pc_err (*key_put_if_absent)(struct pc_store *s, const char *name, const char *value);
};

/* Every back end's struct pc_store starts with this. */
struct pc_store {
	const struct pc_store_ops *ops;
};

extern const struct pc_store_ops pc_store_sqlite;

/* ---- migrations ----------------------------------------------------------------------- */

/* One numbered schema step. The tables are generated at build time from
 * src/store/migrations/<dialect>/NNN_name.sql by gen_migrations.py, sorted
 * by number; schema_version records the ones applied. */
struct pc_migration {
	int number;        /* NNN of the file name, from 1 */
	const char *name;  /* the rest of the file name: "init" */
	const char *sql;   /* the whole file; may hold several statements */
};

extern const struct pc_migration sqlite_migrations[];
extern const size_t sqlite_migrations_count;

/* ---- dispatch (store.c) ------------------------------------------------------------ */

/* Picks the back end by URL scheme. PC_EINVAL with ei for an unknown scheme. */
enum pc_err store_open(const char *url, struct pc_store **out, struct pc_errinfo *ei);
void store_close(struct pc_store *s);

#define STORE_CALL(s, op, ...) ((s)->ops->op((s), __VA_ARGS__))

#endif /* PC_STORE_H */
