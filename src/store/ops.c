/*
 * ops.c - every operation of the store, written once over the driver.
 *
 * An operation names its statement (enum store_stmt), binds a const table of
 * named arguments, steps, and reads the columns of the statement's set by
 * their enum; the driver (driver.h) supplies the dialect's text and does the
 * database's part. Nothing here knows which database is underneath.
 *
 * Transactions. A single statement is its own transaction (or joins the
 * caller's, store_begin). Several statements that must be written together
 * run between tx_begin and tx_end: onetime_issue, onetime_consume,
 * outbox_claim and the purges (refresh_purge too). They refuse (PC_EINVAL) to run inside a
 * caller's transaction, as store_begin does: there is no nesting.
 *
 * Hot paths (user_by_id_unrevoked, session_user, jti_is_revoked): one cached
 * statement, one step, no allocation.
 *
 * Invariants: text read back is copied into its bounded field, and a value
 * that does not fit is PC_ESTORE (logged: the column's name and the
 * statement, never a value), never truncated.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/driver.h"

/* ---- the statements' result columns ---------------------------------------------------- */

static const char *const user_cols[] = { USER_COLUMNS(COL_NAME) };
static const char *const session_user_cols[] = { USER_COLUMNS(COL_NAME) "expires_at" };
static const char *const onetime_cols[] = { ONETIME_COLUMNS(COL_NAME) };
static const char *const outbox_cols[] = { OUTBOX_COLUMNS(COL_NAME) };
static const char *const refresh_cols[] = { REFRESH_COLUMNS(COL_NAME) };
static const char *const totp_cols[] = { TOTP_COLUMNS(COL_NAME) };
static const char *const profile_cols[] = { PROFILE_COLUMNS(COL_NAME) };
static const char *const oauth_cols[] = { OAUTH_COLUMNS(COL_NAME) };
static const char *const signing_key_cols[] = { SIGNING_KEY_COLUMNS(COL_NAME) };
static const char *const one_cols[] = { "one" };
static const char *const version_cols[] = { "version" };
static const char *const n_cols[] = { "n" };
static const char *const id_cols[] = { "id" };
static const char *const value_cols[] = { "value" };
static const char *const page_cols[] = { "first_created_at", "first_id", "n" };
static const char *const outbox_stats_cols[] = { "pending", "failed", "oldest" };
static const char *const rl_cols[] = { "hits", "at" };
static const char *const audit_cols[] = {
	"id", "at", "event", "user_id", "actor_id", "ip", "detail",
};
static const char *const signin_cols[] = {
	"id", "kind", "created_at", "last_seen_at", "expires_at", "ip", "user_agent",
};

static const char *const cred_change_cols[] = { "seq", "user_id", "top" };

#define COLS(a) { .names = (a), .n = (int)(sizeof(a) / sizeof((a)[0])) }

/* Statements absent here return no rows. */
const struct store_cols store_stmt_cols[STMT__MAX] = {
	[STMT_PING] = COLS(one_cols),
	[STMT_SCHEMA_CURRENT] = COLS(version_cols),
	[STMT_FOREIGN_KEYS_BROKEN] = COLS(n_cols),
	[STMT_SYNCHRONOUS] = COLS(n_cols),
	[STMT_SIGNINS_OF_USER] = COLS(signin_cols),
	[STMT_RL_HIT] = COLS(rl_cols),
	[STMT_RL_GET] = COLS(rl_cols),
	[STMT_RL_WINDOW] = COLS(rl_cols),
	[STMT_RL_FAIL] = COLS(rl_cols),
	[STMT_USER_BY_ID] = COLS(user_cols),
	[STMT_USER_BY_ID_UNREVOKED] = COLS(user_cols),
	[STMT_USER_BY_ID_UNREVOKED_FAMILY] = COLS(user_cols),
	[STMT_RF_GET] = COLS(refresh_cols),
	[STMT_USER_BY_EMAIL] = COLS(user_cols),
	[STMT_USER_BY_USERNAME] = COLS(user_cols),
	[STMT_USER_LIST] = COLS(user_cols),
	[STMT_USER_PAGES] = COLS(page_cols),
	[STMT_USER_COUNT] = COLS(n_cols),
	[STMT_SESSION_USER] = COLS(session_user_cols),
	[STMT_JTI_IS_REVOKED] = COLS(one_cols),
	[STMT_KEY_GET] = COLS(value_cols),
	[STMT_OT_GET] = COLS(onetime_cols),
	[STMT_OUTBOX_DUE] = COLS(one_cols),
	[STMT_OUTBOX_NEXT] = COLS(id_cols),
	[STMT_OUTBOX_GET] = COLS(outbox_cols),
	[STMT_OUTBOX_STATS] = COLS(outbox_stats_cols),
	[STMT_TOTP_GET] = COLS(totp_cols),
	[STMT_TOTP_OTHER_KEY] = COLS(n_cols),
	[STMT_USER_PROFILE_GET] = COLS(profile_cols),
	[STMT_OAUTH_BY_ACCOUNT] = COLS(oauth_cols),
	[STMT_OAUTH_LIST_USER] = COLS(oauth_cols),
	[STMT_SK_LIST] = COLS(signing_key_cols),
	[STMT_AUDIT_LIST] = COLS(audit_cols),
	[STMT_AUDIT_LIST_USER] = COLS(audit_cols),
	[STMT_CRED_CHANGES] = COLS(cred_change_cols),
};

/* ---- one use of a statement ---------------------------------------------------------------- */

struct q {
	struct pc_store *s;
	const struct store_driver *d;
	struct store_ps *ps;
	enum store_stmt id;
};

/*
 * Statement id with args bound, for the caller to step. On PC_OK q is
 * borrowed until q_done(); on an error it is done already.
 */
static enum pc_err q_open(struct pc_store *s, enum store_stmt id, const struct store_arg *args,
			  size_t n, struct q *q)
{
	enum pc_err err;

	q->s = s;
	q->d = s->drv;
	q->id = id;
	err = q->d->prepare(s, id, &q->ps);
	if (err != PC_OK)
		return err;
	err = q->d->bind(q->ps, args, n);
	if (err != PC_OK)
		q->d->done(q->ps);
	return err;
}

static void q_done(struct q *q)
{
	q->d->done(q->ps);
}

static enum pc_err q_step(struct q *q, struct pc_errinfo *ei, bool *row)
{
	return q->d->step(q->ps, ei, row);
}

static int64_t q_int(struct q *q, int col)
{
	return q->d->column_int(q->ps, col);
}

/* Copies text column col into out[outsz]; NULL reads as "". PC_ESTORE when
 * it does not fit (logged, without the value). */
static enum pc_err q_text(struct q *q, int col, char *out, size_t outsz)
{
	const char *t;
	size_t n;
	enum pc_err err = q->d->column_text(q->ps, col, &t, &n);

	if (err != PC_OK)
		return err;
	if (t == NULL) {
		out[0] = '\0';
		return PC_OK;
	}
	if (n >= outsz) {
		log_error("store", "%s: column %s holds %zu bytes, more than its "
			"field (%zu) in: %.80s", q->d->name, store_stmt_cols[q->id].names[col], n,
			outsz - 1, q->d->sql[q->id]);
		return PC_ESTORE;
	}
	memcpy(out, t, n);
	out[n] = '\0';
	return PC_OK;
}

/*
 * q_open(), stepped to the one row of a lookup: on PC_OK q is on it, borrowed
 * until q_done(). PC_ENOTFOUND when there is no row; on that and any other
 * error the statement is done already.
 */
static enum pc_err q_row(struct pc_store *s, enum store_stmt id, const struct store_arg *args,
			 size_t n, struct q *q)
{
	bool row = false;
	enum pc_err err;

	err = q_open(s, id, args, n, q);
	if (err != PC_OK)
		return err;
	err = q_step(q, NULL, &row);
	if (err == PC_OK && row)
		return PC_OK;
	q_done(q);
	return err != PC_OK ? err : PC_ENOTFOUND;
}

/*
 * Runs statement id, which returns no rows, with args bound. *changes (when
 * not NULL) gets the rows it changed, 0 on an error. PC_EINVAL from binding;
 * PC_EEXISTS (ei->field), PC_ENOTFOUND, PC_ESTORE from the step.
 */
static enum pc_err q_write(struct pc_store *s, enum store_stmt id, const struct store_arg *args,
			   size_t n, struct pc_errinfo *ei, int64_t *changes)
{
	struct q q;
	bool row;
	enum pc_err err;

	if (changes != NULL)
		*changes = 0;
	err = q_open(s, id, args, n, &q);
	if (err != PC_OK)
		return err;
	err = q_step(&q, ei, &row);
	if (err == PC_OK && changes != NULL)
		*changes = q.d->changes(q.ps);
	q_done(&q);
	return err;
}

/* q_write(), with 0 rows changed as PC_ENOTFOUND. */
static enum pc_err q_write_one(struct pc_store *s, enum store_stmt id,
			       const struct store_arg *args, size_t n, struct pc_errinfo *ei)
{
	int64_t changed;
	enum pc_err err = q_write(s, id, args, n, ei, &changed);

	if (err == PC_OK && changed == 0)
		err = PC_ENOTFOUND;
	return err;
}

/* The integer of the one column of statement id's first row: *found false
 * (and *out untouched) when there is no row. */
static enum pc_err q_value(struct pc_store *s, enum store_stmt id, const struct store_arg *args,
			   size_t n, int64_t *out, bool *found)
{
	struct q q;
	enum pc_err err;

	*found = false;
	err = q_row(s, id, args, n, &q);
	if (err == PC_ENOTFOUND)
		return PC_OK;
	if (err != PC_OK)
		return err;
	*out = q_int(&q, COL_VALUE);
	*found = true;
	q_done(&q);
	return PC_OK;
}

/* ---- transactions --------------------------------------------------------------------------- */

enum pc_err store_begin(struct pc_store *s)
{
	return s->drv->begin(s);
}

enum pc_err store_commit(struct pc_store *s)
{
	return s->drv->commit(s);
}

enum pc_err store_rollback(struct pc_store *s)
{
	return s->drv->rollback(s);
}

/* An operation's own transaction: PC_EINVAL inside the caller's. */
static enum pc_err tx_begin(struct pc_store *s)
{
	return s->drv->begin(s);
}

/* Ends the operation's transaction: commits when err is PC_OK, else (or when
 * the commit fails) rolls back. The error that led here wins. */
static enum pc_err tx_end(struct pc_store *s, enum pc_err err)
{
	if (err == PC_OK)
		err = s->drv->commit(s);
	if (err != PC_OK)
		(void)s->drv->rollback(s);
	return err;
}

/* ---- migrations ----------------------------------------------------------------------------- */

/*
 * Applies migration m if the schema is older, in one transaction with its
 * schema_version row: a second process starting at the same time waits for
 * the write lock, then finds the step done. *applied is set to whether it
 * ran. PC_ESTORE (logged).
 */
/* After a rebuild with foreign keys off: every reference still points at a
 * row (PRAGMA foreign_key_check finds none broken), else PC_ESTORE. */
static enum pc_err migrate_keys_intact(struct pc_store *s)
{
	int64_t broken = 0;
	bool found;
	enum pc_err err = q_value(s, STMT_FOREIGN_KEYS_BROKEN, NULL, 0, &broken, &found);

	if (err == PC_OK && broken > 0) {
		log_error("store", "%s: %lld references point at no row after the "
			"migration", s->drv->name, (long long)broken);
		err = PC_ESTORE;
	}
	return err;
}

static enum pc_err migrate_one(struct pc_store *s, const struct pc_migration *m, bool *applied)
{
	const struct store_arg row[] = {
		A_INT(":version", m->number), A_TEXT(":name", m->name),
		A_INT(":applied_at", time_now()),
	};
	int64_t current = 0;
	bool found;
	enum pc_err err;

	*applied = false;
	if (m->foreign_keys_off) {
		err = s->drv->exec(s, s->drv->sql[STMT_FOREIGN_KEYS_OFF]);
		if (err != PC_OK)
			return err;
	}
	err = tx_begin(s);
	if (err != PC_OK)
		goto out_keys;
	err = s->drv->exec(s, s->drv->sql[STMT_SCHEMA_CREATE]);
	if (err == PC_OK)
		err = q_value(s, STMT_SCHEMA_CURRENT, NULL, 0, &current, &found);
	if (err == PC_OK && m->number > current) {
		err = s->drv->exec(s, m->sql);
		if (err == PC_OK && m->foreign_keys_off)
			err = migrate_keys_intact(s);
		if (err != PC_OK)
			log_error("store", "%s: migration %03d_%s failed", s->drv->name,
				m->number, m->name);
		if (err == PC_OK)
			err = q_write(s, STMT_SCHEMA_INSERT, row, NARGS(row), NULL, NULL);
	}
	err = tx_end(s, err);
	if (err == PC_OK)
		*applied = m->number > current;
out_keys:
	if (m->foreign_keys_off) {
		enum pc_err on = s->drv->exec(s, s->drv->sql[STMT_FOREIGN_KEYS_ON]);

		if (err == PC_OK)
			err = on;
	}
	return err;
}

/* Applies the driver's pending migrations in order; *applied counts those run here. */
enum pc_err store_migrate(struct pc_store *s, int *applied)
{
	const struct pc_migration *m = s->drv->migrations;
	enum pc_err err = PC_OK;
	bool ran;
	size_t i;

	*applied = 0;
	for (i = 0; i < *s->drv->nmigrations && err == PC_OK; i++) {
		err = migrate_one(s, &m[i], &ran);
		if (err == PC_OK && ran)
			(*applied)++;
	}
	return err;
}

enum pc_err store_ping(struct pc_store *s)
{
	return q_write(s, STMT_PING, NULL, 0, NULL, NULL);
}

enum pc_err store_durability(struct pc_store *s, int64_t *level)
{
	bool found = false;
	enum pc_err err = q_value(s, STMT_SYNCHRONOUS, NULL, 0, level, &found);

	if (err == PC_OK && !found)
		err = PC_ESTORE;
	return err;
}

/* A committed write: that the database takes writes (not full, not read-only,
 * not locked past the busy timeout). The row is the probe's own, in keys
 * ('write_probe'); nothing reads it. PC_ESTORE when refused. */
enum pc_err store_write_probe(struct pc_store *s, int64_t now)
{
	const struct store_arg args[] = { A_INT(":now", now) };

	return q_write(s, STMT_WRITE_PROBE, args, NARGS(args), NULL, NULL);
}

/* ---- users ---------------------------------------------------------------------------------- */

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

/* Reads the user columns of the current row (the first COL_USER__N of its
 * set). On error out is zeroed. */
/* One result column and the field of the struct it fills (row_read). */
struct row_field {
	int col;
	enum { ROW_TEXT, ROW_INT, ROW_BOOL } type;
	size_t off;  /* of the field in the struct */
	size_t size; /* ROW_TEXT: the char array's */
};

#define ROW_T(c, type, m) { c, ROW_TEXT, offsetof(type, m), sizeof(((type *)0)->m) }
#define ROW_I(c, type, m) { c, ROW_INT, offsetof(type, m), sizeof(int64_t) }
#define ROW_B(c, type, m) { c, ROW_BOOL, offsetof(type, m), sizeof(bool) }

/* Fills out (outsz bytes, zeroed first) from q's current row, field by
 * field: text columns copied whole (PC_ETOOBIG when one does not fit, and
 * out is zeroed again), numbers as int64_t (NULL: 0), booleans as != 0. */
static enum pc_err row_read(struct q *q, void *out, size_t outsz, const struct row_field *f,
			    size_t n)
{
	char *base = out;
	enum pc_err err;

	memset(out, 0, outsz);
	for (size_t i = 0; i < n; i++) {
		switch (f[i].type) {
		case ROW_TEXT:
			err = q_text(q, f[i].col, base + f[i].off, f[i].size);
			if (err != PC_OK) {
				memset(out, 0, outsz);
				return err;
			}
			break;
		case ROW_INT:
			*(int64_t *)(void *)(base + f[i].off) = q_int(q, f[i].col);
			break;
		case ROW_BOOL:
			*(bool *)(void *)(base + f[i].off) = q_int(q, f[i].col) != 0;
			break;
		}
	}
	return PC_OK;
}

/* The one row statement id finds by its one argument (name = key), read
 * into out by its field table. PC_EINVAL for a NULL key or out; out is
 * zeroed on every failure; PC_ENOTFOUND, PC_ESTORE as q_row. */
static enum pc_err row_get(struct pc_store *s, enum store_stmt id, const struct store_arg *key,
			   void *out, size_t outsz, const struct row_field *f, size_t n)
{
	struct q q;
	enum pc_err err;

	if (out == NULL)
		return PC_EINVAL;
	memset(out, 0, outsz);
	if (key->kind == ARG_TEXT && key->text == NULL)
		return PC_EINVAL;
	err = q_row(s, id, key, 1, &q);
	if (err != PC_OK)
		return err;
	err = row_read(&q, out, outsz, f, n);
	q_done(&q);
	return err;
}

#define ROW_GET(s, id, key, out, fields) row_get((s), (id), (key), (out), sizeof(*(out)), \
						 (fields), sizeof(fields) / sizeof((fields)[0]))

static enum pc_err row_user(struct q *q, struct pc_user *out)
{
	enum pc_err err;

	err = q_text(q, COL_USER_ID, out->id, sizeof(out->id));
	if (err == PC_OK)
		err = q_text(q, COL_USER_EMAIL, out->email, sizeof(out->email));
	if (err == PC_OK)
		err = q_text(q, COL_USER_USERNAME, out->username, sizeof(out->username));
	if (err == PC_OK)
		err = q_text(q, COL_USER_FULL_NAME, out->full_name, sizeof(out->full_name));
	if (err == PC_OK)
		err = q_text(q, COL_USER_HASHED_PASSWORD, out->hashed_password,
			     sizeof(out->hashed_password));
	if (err == PC_OK)
		err = q_text(q, COL_USER_ROLES, out->roles, sizeof(out->roles));
	if (err != PC_OK) {
		memset(out, 0, sizeof(*out));
		return err;
	}
	out->is_active = q_int(q, COL_USER_IS_ACTIVE) != 0;
	out->is_superuser = q_int(q, COL_USER_IS_SUPERUSER) != 0;
	out->is_verified = q_int(q, COL_USER_IS_VERIFIED) != 0;
	out->password_changed_at = q_int(q, COL_USER_PASSWORD_CHANGED_AT);
	out->created_at = q_int(q, COL_USER_CREATED_AT);
	out->updated_at = q_int(q, COL_USER_UPDATED_AT);
	out->totp_enabled = q_int(q, COL_USER_TOTP_ENABLED) != 0;
	return PC_OK;
}

/* Steps statement id, with args bound, to its one user row. PC_ENOTFOUND
 * when there is none. */
static enum pc_err user_row(struct pc_store *s, enum store_stmt id, const struct store_arg *args,
			    size_t n, struct pc_user *out)
{
	struct q q;
	enum pc_err err;

	err = q_row(s, id, args, n, &q);
	if (err != PC_OK)
		return err;
	err = row_user(&q, out);
	q_done(&q);
	return err;
}

/*
 * Runs STMT_USER_INSERT or STMT_USER_UPDATE from u; email_lc and username_lc
 * are derived here. The last argument differs: the insert's :created_at,
 * the update's :now_ms (credentials_epoch_ms when password_changed_at
 * moves, migration 011).
 * PC_EINVAL for a field not NUL-terminated; else as q_write().
 */
static enum pc_err user_write(struct pc_store *s, enum store_stmt id, const struct pc_user *u,
			      struct pc_errinfo *ei, int64_t *changes)
{
	char email_lc[sizeof(u->email)];
	char username_lc[sizeof(u->username)];
	bool update = id == STMT_USER_UPDATE;
	const struct store_arg args[] = {
		A_FIELD(":id", u->id),
		A_FIELD_OR_NULL(":email", u->email), /* "": none (a username-only user) */
		A_FIELD_OR_NULL(":email_lc", email_lc),
		A_FIELD_OR_NULL(":username", u->username),
		A_FIELD_OR_NULL(":username_lc", username_lc),
		A_FIELD_OR_NULL(":full_name", u->full_name),
		A_FIELD_OR_NULL(":hashed_password", u->hashed_password),
		A_INT(":is_active", u->is_active),
		A_INT(":is_superuser", u->is_superuser),
		A_INT(":is_verified", u->is_verified),
		A_INT(":password_changed_at", u->password_changed_at),
		A_FIELD(":roles", u->roles),
		A_INT(":updated_at", u->updated_at),
		A_INT(update ? ":now_ms" : ":created_at", update ? time_now_ms() : u->created_at),
	};
	size_t n = NARGS(args);

	/* Each copy has its field's size: it does not fit only when the field
	 * is not NUL-terminated, and reads no further than the field's end. */
	if (lower_copy(u->email, email_lc, sizeof(email_lc)) != PC_OK ||
	    lower_copy(u->username, username_lc, sizeof(username_lc)) != PC_OK)
		return PC_EINVAL;
	return q_write(s, id, args, n, ei, changes);
}

enum pc_err store_user_insert(struct pc_store *s, const struct pc_user *u, struct pc_errinfo *ei)
{
	return user_write(s, STMT_USER_INSERT, u, ei, NULL);
}

enum pc_err store_user_update(struct pc_store *s, const struct pc_user *u, struct pc_errinfo *ei)
{
	int64_t n;
	enum pc_err err = user_write(s, STMT_USER_UPDATE, u, ei, &n);

	if (err == PC_OK && n == 0)
		err = PC_ENOTFOUND;
	return err;
}

/* Runs a user lookup by one text key (:key): lower-cased first when lower is set. */
static enum pc_err user_by(struct pc_store *s, enum store_stmt id, const char *key, bool lower,
			   struct pc_user *out)
{
	char lc[PC_EMAIL_MAX + 1]; /* the longest key: emails */
	struct store_arg arg = A_TEXT(":key", key);

	if (key == NULL)
		return PC_EINVAL;
	if (lower) {
		if (lower_copy(key, lc, sizeof(lc)) != PC_OK)
			return PC_ENOTFOUND; /* longer than any stored key */
		arg.text = lc;
	}
	return user_row(s, id, &arg, 1, out);
}

enum pc_err store_user_by_id(struct pc_store *s, const char *id, struct pc_user *out)
{
	const struct store_arg args[] = { A_TEXT(":id", id) };

	if (id == NULL)
		return PC_EINVAL;
	return user_row(s, STMT_USER_BY_ID, args, NARGS(args), out);
}

enum pc_err store_user_by_id_unrevoked(struct pc_store *s, const char *id, const char *jti,
				       int64_t issued_ms, struct pc_user *out)
{
	const struct store_arg args[] = {
		A_TEXT(":id", id), A_TEXT(":jti", jti), A_INT(":issued_ms", issued_ms),
	};

	if (id == NULL || jti == NULL)
		return PC_EINVAL;
	return user_row(s, STMT_USER_BY_ID_UNREVOKED, args, NARGS(args), out);
}

enum pc_err store_user_by_id_unrevoked_in_family(struct pc_store *s, const char *id,
						 const char *jti, const char *family,
						 int64_t issued_ms, struct pc_user *out)
{
	const struct store_arg args[] = {
		A_TEXT(":id", id), A_TEXT(":jti", jti), A_TEXT(":family", family),
		A_INT(":issued_ms", issued_ms),
	};

	if (id == NULL || jti == NULL || family == NULL)
		return PC_EINVAL;
	return user_row(s, STMT_USER_BY_ID_UNREVOKED_FAMILY, args, NARGS(args), out);
}

enum pc_err store_user_by_email(struct pc_store *s, const char *email_lc, struct pc_user *out)
{
	return user_by(s, STMT_USER_BY_EMAIL, email_lc, true, out);
}

enum pc_err store_user_by_username(struct pc_store *s, const char *username_lc,
				   struct pc_user *out)
{
	if (username_lc == NULL || username_lc[0] == '\0')
		return PC_ENOTFOUND;
	return user_by(s, STMT_USER_BY_USERNAME, username_lc, true, out);
}

/* Runs a one-key DELETE (:key); *n gets the rows it removed (cascades not counted). */
static enum pc_err delete_by(struct pc_store *s, enum store_stmt id, const char *key, int64_t *n)
{
	const struct store_arg args[] = { A_TEXT(":key", key) };

	if (key == NULL)
		return PC_EINVAL;
	return q_write(s, id, args, NARGS(args), NULL, n);
}

/* The user's sessions and tokens go with it (ON DELETE CASCADE). */
enum pc_err store_user_delete(struct pc_store *s, const char *id)
{
	int64_t n;
	enum pc_err err = delete_by(s, STMT_USER_DELETE, id, &n);

	if (err == PC_OK && n == 0)
		err = PC_ENOTFOUND;
	return err;
}

/*
 * The users at [offset, offset + limit) in (created_at, id) order.
 * PC_EINVAL for a negative offset or limit.
 *
 * The offset is found in the count index user_pages (migration 007: buckets
 * of about 1000 consecutive users, each keyed by a key <= every key in it,
 * with its exact count): walk the buckets in order summing n until the one
 * where the offset falls, then seek to its key in users_created and skip
 * the rest of the offset inside it. Cost: about N/1000 bucket rows plus up
 * to ~1000 index steps, at any page, instead of walking the whole offset.
 * Page 1 reads one bucket row. An offset at or past the end finds no bucket:
 * no rows.
 *
 * The bucket scan stays open (not done) while the list runs: on SQLite an
 * open statement holds the connection's read snapshot, so both statements
 * read one snapshot without a transaction of ours (which would take the
 * write lock). A driver without that property must run both in a read
 * transaction.
 */
/*
 * The user_pages walk, remembered per store. Finding the bucket of an offset
 * reads every bucket before it (1 000 rows at page 10 000 of 1 000 000
 * users): the list remembers the buckets' keys and running counts and looks
 * the offset up by bisection. What it remembers counts only while the
 * store's write generation has not moved since the walk began (a write of
 * this process, or one another instance announced) and for
 * PAGES_MEMO_MS at most (a registration by another instance on the same
 * SQLite file moves no generation here: its page shifts by a row for that
 * long at most). A small store (under PAGES_MEMO_MIN buckets) is walked
 * every time: the walk costs little there, and a list stays exact.
 * An offset past what is remembered walks again.
 */
#define PAGES_MEMO_MIN 8
#define PAGES_MEMO_MS 1000

struct pages_memo_bucket {
	int64_t first_created_at;
	int64_t before; /* users in the buckets before this one */
	int64_t n;
	char first_id[PC_ID_LEN + 1];
};

struct store_pages_memo {
	uint64_t gen;
	int64_t loaded_ms; /* monotonic */
	size_t len;
	struct pages_memo_bucket b[];
};

static pthread_mutex_t pages_memo_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t pages_memo_now_ms(void)
{
	return time_mono_us() / 1000;
}

/* The bucket of offset from what is remembered: true with its key and the
 * users before it; false when nothing good is remembered or offset is past
 * it. */
static bool pages_memo_find(struct pc_store *s, int64_t offset, int64_t *created_at,
			    char id[PC_ID_LEN + 1], int64_t *before)
{
	struct store_pages_memo *m;
	uint64_t gen;
	size_t lo, hi, mid;
	bool ok = false;

	if (!store_generation_use(s, &gen))
		return false;
	pthread_mutex_lock(&pages_memo_lock);
	m = s->pages_memo;
	if (m != NULL && m->gen == gen && pages_memo_now_ms() - m->loaded_ms < PAGES_MEMO_MS &&
	    m->len > 0 && offset < m->b[m->len - 1].before + m->b[m->len - 1].n) {
		lo = 0;
		hi = m->len - 1;
		while (lo < hi) { /* the last bucket with before <= offset */
			mid = lo + (hi - lo + 1) / 2;
			if (m->b[mid].before <= offset)
				lo = mid;
			else
				hi = mid - 1;
		}
		*created_at = m->b[lo].first_created_at;
		memcpy(id, m->b[lo].first_id, PC_ID_LEN + 1);
		*before = m->b[lo].before;
		ok = true;
	}
	pthread_mutex_unlock(&pages_memo_lock);
	return ok;
}

/* Walks STMT_USER_PAGES to the bucket of offset; remembers the whole walk
 * when the store is large (gen: the generation read before the walk). */
static enum pc_err pages_walk(struct pc_store *s, int64_t offset, uint64_t gen, bool tracked,
			      bool *found, int64_t *created_at, char id[PC_ID_LEN + 1],
			      int64_t *before)
{
	struct store_pages_memo *m = NULL, *old;
	size_t cap = 0;
	int64_t seen = 0, n;
	struct q pq;
	bool row = true;
	enum pc_err err;

	*found = false;
	err = q_open(s, STMT_USER_PAGES, NULL, 0, &pq);
	while (err == PC_OK) {
		struct pages_memo_bucket b;

		err = q_step(&pq, NULL, &row);
		if (err != PC_OK || !row)
			break;
		n = q_int(&pq, 2);
		b.first_created_at = q_int(&pq, 0);
		b.before = seen;
		b.n = n;
		err = q_text(&pq, 1, b.first_id, sizeof(b.first_id));
		if (err != PC_OK)
			break;
		if (!*found && offset - seen < n) {
			*created_at = b.first_created_at;
			memcpy(id, b.first_id, sizeof(b.first_id));
			*before = seen;
			*found = true;
			if (!tracked)
				break;
		}
		seen += n;
		if (tracked) {
			if (m == NULL || m->len == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct store_pages_memo *g =
					realloc(m, sizeof(*m) + ncap * sizeof(m->b[0]));

				if (g == NULL) {
					free(m);
					m = NULL;
					tracked = false;
					continue;
				}
				if (m == NULL)
					g->len = 0;
				m = g;
				cap = ncap;
			}
			m->b[m->len++] = b;
		}
	}
	q_done(&pq);
	if (err != PC_OK || m == NULL || m->len < PAGES_MEMO_MIN) {
		free(m);
		return err;
	}
	m->gen = gen;
	m->loaded_ms = pages_memo_now_ms();
	pthread_mutex_lock(&pages_memo_lock);
	old = s->pages_memo;
	s->pages_memo = m;
	pthread_mutex_unlock(&pages_memo_lock);
	free(old);
	return PC_OK;
}

enum pc_err store_user_list(struct pc_store *s, int64_t offset, int limit, pc_user_cb *cb,
			    void *arg)
{
	struct pc_user u;
	char first_id[sizeof(u.id)];
	int64_t before = 0, first_created_at = 0;
	uint64_t gen = 0;
	struct q q;
	bool row = true, found, tracked;
	enum pc_err err = PC_OK;

	if (offset < 0 || limit < 0 || cb == NULL)
		return PC_EINVAL;
	found = pages_memo_find(s, offset, &first_created_at, first_id, &before);
	if (!found) {
		tracked = store_generation(s, &gen); /* before the walk */
		err = pages_walk(s, offset, gen, tracked, &found, &first_created_at, first_id,
				 &before);
	}
	if (err != PC_OK || !found || limit == 0)
		return err;
	{
		const struct store_arg args[] = {
			A_INT(":first_created_at", first_created_at),
			A_TEXT(":first_id", first_id),
			A_INT(":limit", limit),
			A_INT(":skip", offset - before),
		};

		err = q_open(s, STMT_USER_LIST, args, NARGS(args), &q);
	}
	if (err != PC_OK)
		return err;
	while (err == PC_OK) {
		err = q_step(&q, NULL, &row);
		if (err != PC_OK || !row)
			break;
		err = row_user(&q, &u);
		if (err == PC_OK && cb(&u, arg) != 0)
			break;
	}
	q_done(&q);
	return err;
}

enum pc_err store_user_count(struct pc_store *s, int64_t *out)
{
	bool found;
	enum pc_err err = q_value(s, STMT_USER_COUNT, NULL, 0, out, &found);

	if (err == PC_OK && !found)
		err = PC_ESTORE;
	return err;
}

/* ---- sessions ------------------------------------------------------------------------------ */

enum pc_err store_session_insert(struct pc_store *s, const struct pc_session_row *row)
{
	const struct store_arg args[] = {
		A_FIELD(":token_hash", row->token_hash),
		A_FIELD(":user_id", row->user_id),
		A_INT(":created_at", row->created_at),
		A_INT(":expires_at", row->expires_at),
		A_INT(":last_seen_at", row->last_seen_at),
		A_FIELD_OR_NULL(":ip", row->ip),
		A_FIELD_OR_NULL(":user_agent", row->user_agent),
	};

	return q_write(s, STMT_SESSION_INSERT, args, NARGS(args), NULL, NULL);
}

/* One joined lookup: the user of the session when expires_at > now, and the expiry. */
enum pc_err store_session_user(struct pc_store *s, const char *token_hash, int64_t now,
			       struct pc_user *out, int64_t *expires_at)
{
	const struct store_arg args[] = { A_TEXT(":token_hash", token_hash), A_INT(":now", now) };
	struct q q;
	enum pc_err err;

	if (token_hash == NULL)
		return PC_EINVAL;
	err = q_row(s, STMT_SESSION_USER, args, NARGS(args), &q);
	if (err != PC_OK)
		return err;
	err = row_user(&q, out);
	if (err == PC_OK && expires_at != NULL)
		*expires_at = q_int(&q, COL_SESSION_EXPIRES_AT);
	q_done(&q);
	return err;
}

enum pc_err store_session_delete(struct pc_store *s, const char *token_hash)
{
	int64_t n;
	enum pc_err err = delete_by(s, STMT_SESSION_DELETE, token_hash, &n);

	if (err == PC_OK && n == 0)
		err = PC_ENOTFOUND;
	return err;
}

/* PC_OK also when the user had no session. */
enum pc_err store_session_delete_user(struct pc_store *s, const char *user_id)
{
	int64_t n;

	return delete_by(s, STMT_SESSION_DELETE_USER, user_id, &n);
}

/* ---- rate limits (migration 012) --------------------------------------------------------------- */

/* Runs a statement of rl_cols with args into *hits and *at. */
static enum pc_err rl_row(struct pc_store *s, enum store_stmt id, const struct store_arg *args,
			  size_t n, int64_t *hits, int64_t *at)
{
	struct q q;
	enum pc_err err = q_row(s, id, args, n, &q);

	*hits = 0;
	*at = 0;
	if (err == PC_ENOTFOUND)
		return PC_OK;
	if (err != PC_OK)
		return err;
	*hits = q_int(&q, 0);
	*at = q_int(&q, 1);
	q_done(&q);
	return PC_OK;
}

enum pc_err store_rl_hit(struct pc_store *s, const char *key, int64_t now, int64_t window,
			 int64_t *hits, int64_t *window_start)
{
	const struct store_arg args[] = {
		A_TEXT(":key", key), A_INT(":now", now), A_INT(":window", window),
	};

	if (key == NULL)
		return PC_EINVAL;
	return rl_row(s, STMT_RL_HIT, args, NARGS(args), hits, window_start);
}

enum pc_err store_rl_get(struct pc_store *s, const char *key, int64_t *hits, int64_t *locked_until)
{
	const struct store_arg args[] = { A_TEXT(":key", key) };

	if (key == NULL)
		return PC_EINVAL;
	return rl_row(s, STMT_RL_GET, args, NARGS(args), hits, locked_until);
}

enum pc_err store_rl_window(struct pc_store *s, const char *key, int64_t *hits,
			    int64_t *window_start)
{
	const struct store_arg args[] = { A_TEXT(":key", key) };

	if (key == NULL)
		return PC_EINVAL;
	return rl_row(s, STMT_RL_WINDOW, args, NARGS(args), hits, window_start);
}

enum pc_err store_rl_fail(struct pc_store *s, const char *key, int64_t now, int64_t *hits,
			  int64_t *locked_until)
{
	const struct store_arg args[] = { A_TEXT(":key", key), A_INT(":now", now) };

	if (key == NULL)
		return PC_EINVAL;
	return rl_row(s, STMT_RL_FAIL, args, NARGS(args), hits, locked_until);
}

enum pc_err store_rl_lock(struct pc_store *s, const char *key, int64_t until)
{
	const struct store_arg args[] = { A_TEXT(":key", key), A_INT(":until", until) };

	if (key == NULL)
		return PC_EINVAL;
	return q_write(s, STMT_RL_LOCK, args, NARGS(args), NULL, NULL);
}

enum pc_err store_rl_clear(struct pc_store *s, const char *key)
{
	int64_t n;

	return delete_by(s, STMT_RL_CLEAR, key, &n);
}

enum pc_err store_rl_purge(struct pc_store *s, int64_t before, int64_t now)
{
	const struct store_arg args[] = { A_INT(":before", before), A_INT(":now", now) };

	return q_write(s, STMT_RL_PURGE, args, NARGS(args), NULL, NULL);
}

/* ---- a user's sign-ins: its sessions and refresh families ------------------------------------- */

enum pc_err store_signins_of_user(struct pc_store *s, const char *user_id, int64_t now,
				  store_signin_cb *cb, void *arg)
{
	const struct store_arg args[] = { A_TEXT(":user_id", user_id), A_INT(":now", now) };
	struct pc_signin r;
	struct q q;
	bool row;
	enum pc_err err;

	if (user_id == NULL || cb == NULL)
		return PC_EINVAL;
	err = q_open(s, STMT_SIGNINS_OF_USER, args, NARGS(args), &q);
	if (err != PC_OK)
		return err;
	while (err == PC_OK) {
		err = q_step(&q, NULL, &row);
		if (err != PC_OK || !row)
			break;
		memset(&r, 0, sizeof(r));
		err = q_text(&q, 0, r.id, sizeof(r.id));
		if (err == PC_OK)
			err = q_text(&q, 1, r.kind, sizeof(r.kind));
		if (err == PC_OK)
			err = q_text(&q, 5, r.ip, sizeof(r.ip));
		if (err == PC_OK)
			err = q_text(&q, 6, r.user_agent, sizeof(r.user_agent));
		r.created_at = q_int(&q, 2);
		r.last_seen_at = q_int(&q, 3);
		r.expires_at = q_int(&q, 4);
		if (err == PC_OK && cb(&r, arg) != 0)
			break;
	}
	q_done(&q);
	return err;
}

enum pc_err store_signin_end(struct pc_store *s, const char *user_id, const char *id, int64_t now)
{
	const struct store_arg args[] = {
		A_TEXT(":user_id", user_id), A_TEXT(":key", id != NULL ? id + 1 : NULL),
		A_INT(":now", now),
	};
	int64_t n = 0;
	enum pc_err err;

	if (user_id == NULL || id == NULL || (id[0] != 's' && id[0] != 'r') || id[1] == '\0')
		return PC_ENOTFOUND;
	if (id[0] == 's')
		return q_write_one(s, STMT_SESSION_DELETE_ONE, args, 2, NULL);
	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	err = q_write(s, STMT_RF_FAMILY_REVOKE_OF, args, NARGS(args), NULL, &n);
	if (err == PC_OK && n == 0)
		err = PC_ENOTFOUND;
	if (err == PC_OK)
		err = q_write(s, STMT_RF_REVOKE_TOKENS_OF, args, NARGS(args), NULL, NULL);
	return tx_end(s, err);
}

enum pc_err store_signins_end_all(struct pc_store *s, const char *user_id, int64_t now)
{
	const struct store_arg args[] = { A_TEXT(":key", user_id), A_INT(":now", now) };
	int64_t n;
	enum pc_err err;

	if (user_id == NULL)
		return PC_EINVAL;
	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	err = delete_by(s, STMT_SESSION_DELETE_USER, user_id, &n);
	if (err == PC_OK)
		err = q_write(s, STMT_RF_FAMILY_REVOKE_USER, args, NARGS(args), NULL, NULL);
	if (err == PC_OK)
		err = q_write(s, STMT_RF_REVOKE_TOKENS_USER, args, NARGS(args), NULL, NULL);
	return tx_end(s, err);
}

/* ---- JWT denylist ------------------------------------------------------------------------- */

enum pc_err store_jti_revoke(struct pc_store *s, const char *jti, const char *user_id,
			     int64_t exp)
{
	const struct store_arg args[] = {
		A_TEXT(":jti", jti), A_TEXT(":user_id", user_id), A_INT(":expires_at", exp),
	};

	if (jti == NULL)
		return PC_EINVAL;
	return q_write(s, STMT_JTI_REVOKE, args, NARGS(args), NULL, NULL);
}

enum pc_err store_jti_is_revoked(struct pc_store *s, const char *jti, bool *out)
{
	const struct store_arg args[] = { A_TEXT(":jti", jti) };
	int64_t one;

	if (jti == NULL)
		return PC_EINVAL;
	return q_value(s, STMT_JTI_IS_REVOKED, args, NARGS(args), &one, out);
}

/* ---- housekeeping -------------------------------------------------------------------------- */

/* Runs a DELETE ... WHERE x <= :before and adds its row count to *removed. */
static enum pc_err purge_one(struct pc_store *s, enum store_stmt id, int64_t before,
			     int64_t *removed)
{
	const struct store_arg args[] = { A_INT(":before", before) };
	int64_t n;
	enum pc_err err = q_write(s, id, args, NARGS(args), NULL, &n);

	*removed += n; /* 0 on an error */
	return err;
}

/* Two purges in one transaction: statement a before a_before, then b before
 * b_before. *removed counts the rows of both; 0 on an error. */
static enum pc_err purge_two(struct pc_store *s, enum store_stmt a, int64_t a_before,
			     enum store_stmt b, int64_t b_before, int64_t *removed)
{
	enum pc_err err;
	int64_t n = 0;

	*removed = 0;
	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	err = purge_one(s, a, a_before, &n);
	if (err == PC_OK)
		err = purge_one(s, b, b_before, &n);
	err = tx_end(s, err);
	if (err == PC_OK)
		*removed = n;
	return err;
}

enum pc_err store_purge_expired(struct pc_store *s, int64_t now, int64_t *removed)
{
	enum pc_err err;
	int64_t n = 0, log_rows = 0;

	*removed = 0;
	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	err = purge_one(s, STMT_PURGE_SESSIONS, now, &n);
	if (err == PC_OK)
		err = purge_one(s, STMT_PURGE_JTI, now, &n);
	/* the change log (015) by the wall clock its triggers write */
	if (err == PC_OK)
		err = purge_one(s, STMT_PURGE_CRED_CHANGES, time_now() - STORE_CRED_LOG_KEEP_S,
				&log_rows);
	err = tx_end(s, err);
	if (err == PC_OK)
		*removed = n;
	return err;
}

enum pc_err store_mail_purge(struct pc_store *s, int64_t now, int64_t done_before,
			     int64_t *removed)
{
	return purge_two(s, STMT_PURGE_ONETIME, now, STMT_PURGE_OUTBOX, done_before, removed);
}

/* ---- generated keys -------------------------------------------------------------------------- */

enum pc_err store_key_get(struct pc_store *s, const char *name, char *out, size_t outsz)
{
	const struct store_arg args[] = { A_TEXT(":name", name) };
	struct q q;
	enum pc_err err;

	if (name == NULL || out == NULL || outsz == 0)
		return PC_EINVAL;
	err = q_row(s, STMT_KEY_GET, args, NARGS(args), &q);
	if (err != PC_OK)
		return err;
	err = q_text(&q, COL_VALUE, out, outsz);
	q_done(&q);
	return err;
}

enum pc_err store_key_put_if_absent(struct pc_store *s, const char *name, const char *value)
{
	const struct store_arg args[] = {
		A_TEXT(":name", name), A_TEXT(":value", value), A_INT(":created_at", time_now()),
	};

	if (name == NULL || value == NULL)
		return PC_EINVAL;
	return q_write(s, STMT_KEY_PUT, args, NARGS(args), NULL, NULL);
}

/* ---- signing keys (010) ------------------------------------------------------------------------ */

static const struct row_field signing_key_fields[] = {
	ROW_T(COL_SK_KID, struct pc_signing_key_row, kid),
	ROW_T(COL_SK_ALG, struct pc_signing_key_row, alg),
	ROW_T(COL_SK_PRIVATE_PEM, struct pc_signing_key_row, private_pem),
	ROW_I(COL_SK_CREATED_AT, struct pc_signing_key_row, created_at),
	ROW_I(COL_SK_RETIRED_AT, struct pc_signing_key_row, retired_at),
};

enum pc_err store_signing_key_list(struct pc_store *s, pc_signing_key_cb *cb, void *arg)
{
	struct pc_signing_key_row *row;
	struct q q;
	bool more = true;
	enum pc_err err;

	if (cb == NULL)
		return PC_EINVAL;
	row = malloc(sizeof(*row));
	if (row == NULL)
		return PC_ENOMEM;
	err = q_open(s, STMT_SK_LIST, NULL, 0, &q);
	if (err != PC_OK)
		goto out_free_row;
	while (err == PC_OK) {
		err = q_step(&q, NULL, &more);
		if (err != PC_OK || !more)
			break;
		err = row_read(&q, row, sizeof(*row), signing_key_fields,
			       sizeof(signing_key_fields) / sizeof(signing_key_fields[0]));
		if (err == PC_OK && cb(row, arg) != 0)
			break;
	}
	q_done(&q);
out_free_row:
	crypto_wipe(row, sizeof(*row)); /* it held a private key */
	free(row);
	return err;
}

enum pc_err store_signing_key_add(struct pc_store *s, const struct pc_signing_key_row *k)
{
	const struct store_arg ins[] = {
		A_FIELD(":kid", k->kid), A_FIELD(":alg", k->alg),
		A_FIELD(":private_pem", k->private_pem), A_INT(":created_at", k->created_at),
	};
	const struct store_arg ret[] = { A_FIELD(":kid", k->kid), A_INT(":at", k->created_at) };
	enum pc_err err;

	if (k->kid[0] == '\0' || k->alg[0] == '\0' || k->private_pem[0] == '\0')
		return PC_EINVAL;
	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	err = q_write(s, STMT_SK_INSERT, ins, NARGS(ins), NULL, NULL);
	if (err == PC_OK)
		err = q_write(s, STMT_SK_RETIRE, ret, NARGS(ret), NULL, NULL);
	return tx_end(s, err);
}

enum pc_err store_signing_key_purge(struct pc_store *s, int64_t before, int64_t *removed)
{
	const struct store_arg args[] = { A_INT(":before", before) };
	int64_t n = 0;
	enum pc_err err = q_write(s, STMT_SK_PURGE, args, NARGS(args), NULL, &n);

	if (removed != NULL)
		*removed = err == PC_OK ? n : 0;
	return err;
}

/* ---- one-time tokens ---------------------------------------------------------------------- */

static const struct row_field onetime_fields[] = {
	ROW_T(COL_OT_TOKEN_HASH, struct pc_onetime_row, token_hash),
	ROW_T(COL_OT_PURPOSE, struct pc_onetime_row, purpose),
	ROW_T(COL_OT_USER_ID, struct pc_onetime_row, user_id),
	ROW_T(COL_OT_EMAIL, struct pc_onetime_row, email),
	ROW_T(COL_OT_CLAIM_HASH, struct pc_onetime_row, claim_hash),
	ROW_I(COL_OT_CREATED_AT, struct pc_onetime_row, created_at),
	ROW_I(COL_OT_EXPIRES_AT, struct pc_onetime_row, expires_at),
	ROW_I(COL_OT_USED_AT, struct pc_onetime_row, used_at),
};

static enum pc_err onetime_insert(struct pc_store *s, const struct pc_onetime_row *t)
{
	const struct store_arg args[] = {
		A_FIELD(":token_hash", t->token_hash),
		A_FIELD(":purpose", t->purpose),
		A_FIELD(":user_id", t->user_id),
		A_FIELD(":email", t->email),
		A_FIELD_OR_NULL(":claim_hash", t->claim_hash),
		A_INT(":created_at", t->created_at),
		A_INT(":expires_at", t->expires_at),
	};

	return q_write(s, STMT_OT_INSERT, args, NARGS(args), NULL, NULL);
}

/* Marks the user's unused tokens of the token's purpose used at its creation. */
static enum pc_err onetime_void_older(struct pc_store *s, const struct pc_onetime_row *t)
{
	const struct store_arg args[] = {
		A_FIELD(":user_id", t->user_id),
		A_FIELD(":purpose", t->purpose),
		A_INT(":at", t->created_at),
	};

	return q_write(s, STMT_OT_VOID, args, NARGS(args), NULL, NULL);
}

/* Inserts one outbox row; the columns a sender owns take their defaults. */
static enum pc_err outbox_insert(struct pc_store *s, const struct pc_outbox_row *m)
{
	const struct store_arg args[] = {
		A_FIELD(":kind", m->kind),
		A_FIELD(":recipient", m->recipient),
		A_FIELD(":subject", m->subject),
		A_FIELD(":body_text", m->body_text),
		A_FIELD(":body_html", m->body_html),
		A_FIELD(":payload", m->payload),
		A_INT(":next_attempt_at", m->next_attempt_at),
		A_INT(":created_at", m->created_at),
	};

	return q_write(s, STMT_OUTBOX_INSERT, args, NARGS(args), NULL, NULL);
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
enum pc_err store_onetime_issue(struct pc_store *s, const struct pc_onetime_row *tok,
				bool void_older, const struct pc_outbox_row *const *msgs,
				size_t nmsgs)
{
	enum pc_err err;

	if (tok == NULL && nmsgs == 0)
		return PC_OK;
	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	if (tok != NULL && void_older)
		err = onetime_void_older(s, tok);
	if (err == PC_OK && tok != NULL)
		err = onetime_insert(s, tok);
	if (err == PC_OK)
		err = outbox_insert_all(s, msgs, nmsgs);
	return tx_end(s, err);
}

/* len random hex characters into buf (which holds len + 2). */
static enum pc_err decoy_text(char *buf, size_t len)
{
	unsigned char raw[256];
	size_t i, n;
	enum pc_err err = PC_OK;

	for (i = 0; i < len && err == PC_OK; i += 2 * n) {
		n = (len - i + 1) / 2 < sizeof(raw) ? (len - i + 1) / 2 : sizeof(raw);
		err = crypto_random(raw, n);
		if (err == PC_OK)
			crypto_hex_encode(raw, n, buf + i);
	}
	buf[len] = '\0';
	return err;
}

/* One decoy row of len characters into a random slot of table id's ring:
 * token_decoys (with a random tag and owner, as a token's hash and user) or
 * mail_decoys. */
static enum pc_err decoy_put(struct pc_store *s, enum store_stmt id, char *buf, size_t len,
			     int64_t now)
{
	unsigned char slot;
	char tag[PC_SHA256_HEX], owner[PC_ID_LEN + 2];
	enum pc_err err = crypto_random(&slot, 1);

	if (err == PC_OK)
		err = decoy_text(tag, PC_SHA256_HEX - 1);
	if (err == PC_OK)
		err = decoy_text(owner, PC_ID_LEN);
	if (err == PC_OK)
		err = decoy_text(buf, len);
	if (err == PC_OK) {
		const struct store_arg args[] = {
			A_INT(":slot", slot % STORE_DECOY_SLOTS),
			A_TEXT(":payload", buf),
			A_INT(":now", now),
			A_TEXT(":tag", tag),     /* token_decoys' only */
			A_TEXT(":owner", owner), /* token_decoys' only */
		};

		err = q_write(s, id, args, id == STMT_TOKEN_DECOY ? NARGS(args) : 3, NULL, NULL);
	}
	return err;
}

enum pc_err store_mail_decoy(struct pc_store *s, const char *purpose, bool void_older,
			     const size_t *lens, size_t n, int64_t now)
{
	struct pc_onetime_row nobody;
	size_t i, most = 0;
	char *buf;
	enum pc_err err;

	for (i = 0; i < n; i++) {
		if (lens[i] > STORE_DECOY_MAX)
			return PC_ETOOBIG;
		most = lens[i] > most ? lens[i] : most;
	}
	buf = malloc(most + 2);
	if (buf == NULL)
		return PC_ENOMEM;
	memset(&nobody, 0, sizeof(nobody)); /* user "": voids nothing */
	snprintf(nobody.purpose, sizeof(nobody.purpose), "%s", purpose);
	nobody.created_at = now;
	err = tx_begin(s);
	if (err != PC_OK) {
		free(buf);
		return err;
	}
	if (void_older)
		err = onetime_void_older(s, &nobody);
	for (i = 0; i < n && err == PC_OK; i++)
		err = decoy_put(s, i == 0 ? STMT_TOKEN_DECOY : STMT_MAIL_DECOY, buf, lens[i], now);
	err = tx_end(s, err);
	free(buf);
	return err;
}

enum pc_err store_onetime_get(struct pc_store *s, const char *token_hash,
			      struct pc_onetime_row *out)
{
	const struct store_arg key = A_TEXT(":token_hash", token_hash);

	return ROW_GET(s, STMT_OT_GET, &key, out, onetime_fields);
}

/* Writes a reset's new password and its password_changed_at; PC_ENOTFOUND
 * unless the user is active and its email is still the token's. */
static enum pc_err set_password(struct pc_store *s, const struct pc_onetime_row *t,
				const char *hash, int64_t changed_at, int64_t now)
{
	const struct store_arg args[] = {
		A_FIELD(":id", t->user_id),
		A_TEXT(":hashed_password", hash),
		A_INT(":password_changed_at", changed_at),
		A_INT(":now", now),
		A_INT(":now_ms", time_now_ms()),
		A_FIELD(":email_lc", t->email),
	};

	return q_write_one(s, STMT_USER_SET_PASSWORD, args, NARGS(args), NULL);
}

/*
 * A reset, inside the consume transaction: password_changed_at moves by
 * store_password_changed_at() from its value read here, under the
 * transaction's write lock.
 */
static enum pc_err apply_password(struct pc_store *s, const struct pc_onetime_row *t,
				  const char *hash, int64_t now)
{
	struct pc_user u;
	enum pc_err err;

	err = store_user_by_id(s, t->user_id, &u);
	if (err != PC_OK)
		return err;
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	return set_password(s, t, hash, store_password_changed_at(u.password_changed_at, now), now);
}

/* A verify: is_verified = 1 while the user's email is still the token's and
 * the user is not verified yet; otherwise PC_ENOTFOUND. */
static enum pc_err apply_verified(struct pc_store *s, const struct pc_onetime_row *t, int64_t now)
{
	const struct store_arg args[] = {
		A_FIELD(":id", t->user_id), A_INT(":now", now), A_FIELD(":email_lc", t->email),
	};

	return q_write_one(s, STMT_USER_SET_VERIFIED, args, NARGS(args), NULL);
}

/* A magic-link login: is_verified = 1 while the user is active and its email
 * is still the token's (verified already is fine); otherwise PC_ENOTFOUND. */
static enum pc_err apply_login(struct pc_store *s, const struct pc_onetime_row *t, int64_t now)
{
	const struct store_arg args[] = {
		A_FIELD(":id", t->user_id), A_INT(":now", now), A_FIELD(":email_lc", t->email),
	};

	return q_write_one(s, STMT_USER_MAGIC_LOGIN, args, NARGS(args), NULL);
}

/* Marks the token used (only if it is still good) and applies; all or nothing. */
enum pc_err store_onetime_consume(struct pc_store *s, const char *token_hash,
				  const char *purpose, int64_t now,
				  const struct pc_onetime_apply *apply)
{
	static const struct pc_onetime_apply nothing = { 0 };
	const struct store_arg use[] = {
		A_TEXT(":token_hash", token_hash), A_TEXT(":purpose", purpose), A_INT(":now", now),
	};
	struct pc_onetime_row t;
	enum pc_err err;

	if (token_hash == NULL || purpose == NULL)
		return PC_EINVAL;
	if (apply == NULL)
		apply = &nothing;
	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	err = q_write_one(s, STMT_OT_USE, use, NARGS(use), NULL);
	if (err == PC_OK)
		err = store_onetime_get(s, token_hash, &t);
	if (err == PC_OK && apply->password_hash != NULL)
		err = apply_password(s, &t, apply->password_hash, now);
	else if (err == PC_OK && apply->set_verified)
		err = apply_verified(s, &t, now);
	else if (err == PC_OK && apply->login)
		err = apply_login(s, &t, now);
	if (err == PC_OK)
		err = outbox_insert_all(s, apply->msgs, apply->nmsgs);
	return tx_end(s, err);
}

/* ---- the outbox ------------------------------------------------------------------------------ */

static const struct row_field outbox_fields[] = {
	ROW_T(COL_OB_KIND, struct pc_outbox_row, kind),
	ROW_T(COL_OB_RECIPIENT, struct pc_outbox_row, recipient),
	ROW_T(COL_OB_SUBJECT, struct pc_outbox_row, subject),
	ROW_T(COL_OB_BODY_TEXT, struct pc_outbox_row, body_text),
	ROW_T(COL_OB_BODY_HTML, struct pc_outbox_row, body_html),
	ROW_T(COL_OB_PAYLOAD, struct pc_outbox_row, payload),
	ROW_T(COL_OB_LAST_ERROR, struct pc_outbox_row, last_error),
	ROW_I(COL_OB_ID, struct pc_outbox_row, id),
	ROW_I(COL_OB_ATTEMPTS, struct pc_outbox_row, attempts),
	ROW_I(COL_OB_NEXT_ATTEMPT_AT, struct pc_outbox_row, next_attempt_at),
	ROW_I(COL_OB_CLAIMED_UNTIL, struct pc_outbox_row, claimed_until),
	ROW_I(COL_OB_SENT_AT, struct pc_outbox_row, sent_at),
	ROW_I(COL_OB_GAVE_UP_AT, struct pc_outbox_row, gave_up_at),
	ROW_I(COL_OB_CREATED_AT, struct pc_outbox_row, created_at),
};

enum pc_err store_outbox_get(struct pc_store *s, int64_t id, struct pc_outbox_row *out)
{
	const struct store_arg key = A_INT(":id", id);

	return ROW_GET(s, STMT_OUTBOX_GET, &key, out, outbox_fields);
}

enum pc_err store_outbox_due(struct pc_store *s, int64_t now, bool *out)
{
	const struct store_arg args[] = { A_INT(":now", now) };
	int64_t one;

	return q_value(s, STMT_OUTBOX_DUE, args, NARGS(args), &one, out);
}

enum pc_err store_outbox_stats(struct pc_store *s, struct pc_outbox_stats *out)
{
	struct q q;
	enum pc_err err = q_row(s, STMT_OUTBOX_STATS, NULL, 0, &q);

	memset(out, 0, sizeof(*out));
	if (err != PC_OK)
		return err == PC_ENOTFOUND ? PC_ESTORE : err;
	out->pending = q_int(&q, 0);
	out->failed = q_int(&q, 1);
	out->oldest_created_at = q_int(&q, 2);
	q_done(&q);
	return PC_OK;
}

/* Select and lease in one write transaction: two senders never hold one row.
 * (The dialect's STMT_OUTBOX_NEXT takes whatever row lock that needs.) */
enum pc_err store_outbox_claim(struct pc_store *s, int64_t now, int64_t lease_until,
			       struct pc_outbox_row *out)
{
	const struct store_arg next[] = { A_INT(":now", now) };
	int64_t id = 0;
	bool found;
	enum pc_err err;

	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	err = q_value(s, STMT_OUTBOX_NEXT, next, NARGS(next), &id, &found);
	if (err == PC_OK && !found)
		err = PC_ENOTFOUND;
	if (err == PC_OK) {
		const struct store_arg lease[] = {
			A_INT(":id", id), A_INT(":lease_until", lease_until),
		};

		err = q_write(s, STMT_OUTBOX_LEASE, lease, NARGS(lease), NULL, NULL);
	}
	if (err == PC_OK)
		err = store_outbox_get(s, id, out);
	return tx_end(s, err);
}

enum pc_err store_outbox_sent(struct pc_store *s, int64_t id, int64_t now)
{
	const struct store_arg args[] = { A_INT(":id", id), A_INT(":at", now) };

	return q_write_one(s, STMT_OUTBOX_SENT, args, NARGS(args), NULL);
}

enum pc_err store_outbox_failed(struct pc_store *s, int64_t id, int64_t now,
				int64_t next_attempt_at, const char *error, bool give_up)
{
	char msg[PC_OUTBOX_ERROR_MAX + 1];
	const struct store_arg args[] = {
		A_INT(":id", id),
		A_INT(":at", give_up ? now : next_attempt_at),
		A_TEXT(":error", error != NULL ? msg : NULL),
	};

	snprintf(msg, sizeof(msg), "%s", error != NULL ? error : "");
	return q_write_one(s, give_up ? STMT_OUTBOX_GIVE_UP : STMT_OUTBOX_RETRY, args,
			   NARGS(args), NULL);
}

/* ---- refresh families ------------------------------------------------------------------------ */

enum pc_err store_refresh_family_insert(struct pc_store *s, const char *family_id,
					const char *user_id, int64_t now, const char *ip,
					const char *user_agent)
{
	const struct store_arg args[] = {
		A_TEXT(":family_id", family_id), A_TEXT(":user_id", user_id),
		A_INT(":created_at", now), A_TEXT(":ip", ip), A_TEXT(":user_agent", user_agent),
	};

	if (family_id == NULL || user_id == NULL)
		return PC_EINVAL;
	return q_write(s, STMT_RF_FAMILY_INSERT, args, NARGS(args), NULL, NULL);
}

enum pc_err store_refresh_insert(struct pc_store *s, const struct pc_refresh_row *row)
{
	const struct store_arg args[] = {
		A_FIELD(":token_hash", row->token_hash),
		A_FIELD(":family_id", row->family_id),
		A_FIELD(":user_id", row->user_id),
		A_INT(":created_at", row->created_at),
		A_INT(":expires_at", row->expires_at),
	};

	return q_write(s, STMT_RF_INSERT, args, NARGS(args), NULL, NULL);
}

/* The compare-and-swap: the statement's condition decides, changes() == 1 says who won. */
enum pc_err store_refresh_use(struct pc_store *s, const char *token_hash, int64_t now)
{
	const struct store_arg args[] = { A_TEXT(":token_hash", token_hash), A_INT(":now", now) };
	int64_t changed;
	enum pc_err err;

	if (token_hash == NULL)
		return PC_EINVAL;
	err = q_write(s, STMT_RF_USE, args, NARGS(args), NULL, &changed);
	if (err == PC_OK && changed != 1)
		err = PC_ENOTFOUND;
	return err;
}

static const struct row_field refresh_fields[] = {
	ROW_T(COL_RF_TOKEN_HASH, struct pc_refresh_row, token_hash),
	ROW_T(COL_RF_FAMILY_ID, struct pc_refresh_row, family_id),
	ROW_T(COL_RF_USER_ID, struct pc_refresh_row, user_id),
	ROW_I(COL_RF_CREATED_AT, struct pc_refresh_row, created_at),
	ROW_I(COL_RF_EXPIRES_AT, struct pc_refresh_row, expires_at),
	ROW_I(COL_RF_USED_AT, struct pc_refresh_row, used_at),
	ROW_I(COL_RF_REVOKED_AT, struct pc_refresh_row, revoked_at),
};

enum pc_err store_refresh_get(struct pc_store *s, const char *token_hash,
			      struct pc_refresh_row *out)
{
	const struct store_arg key = A_TEXT(":token_hash", token_hash);

	return ROW_GET(s, STMT_RF_GET, &key, out, refresh_fields);
}

enum pc_err store_refresh_family_revoke(struct pc_store *s, const char *family_id, int64_t now)
{
	const struct store_arg args[] = { A_TEXT(":family_id", family_id), A_INT(":now", now) };
	enum pc_err err;

	if (family_id == NULL)
		return PC_EINVAL;
	err = q_write(s, STMT_RF_FAMILY_REVOKE, args, NARGS(args), NULL, NULL);
	if (err == PC_OK)
		err = q_write(s, STMT_RF_REVOKE_TOKENS, args, NARGS(args), NULL, NULL);
	return err;
}

enum pc_err store_refresh_purge(struct pc_store *s, int64_t now, int64_t *removed)
{
	return purge_two(s, STMT_RF_PURGE_TOKENS, now, STMT_RF_PURGE_FAMILIES, now, removed);
}

/* ---- the user_account face's profile fields ----------------------------------------------- */

static const struct row_field profile_fields[] = {
	ROW_T(COL_PROFILE_PHONE, struct pc_user_profile, phone),
	ROW_T(COL_PROFILE_CONTACTS, struct pc_user_profile, contacts),
	ROW_B(COL_PROFILE_HAS_PHONE, struct pc_user_profile, has_phone),
};

enum pc_err store_user_profile_get(struct pc_store *s, const char *id, struct pc_user_profile *out)
{
	const struct store_arg key = A_TEXT(":id", id);

	return ROW_GET(s, STMT_USER_PROFILE_GET, &key, out, profile_fields);
}

enum pc_err store_user_profile_set(struct pc_store *s, const char *id,
				   const struct pc_user_profile *p, int64_t now)
{
	if (id == NULL || p == NULL)
		return PC_EINVAL;

	const struct store_arg args[] = {
		A_TEXT(":id", id),
		A_TEXT(":phone", p->has_phone ? p->phone : NULL),
		A_FIELD_OR_NULL(":contacts", p->contacts),
		A_INT(":now", now),
	};

	return q_write_one(s, STMT_USER_PROFILE_SET, args, NARGS(args), NULL);
}

/* ---- TOTP ------------------------------------------------------------------------------------ */

static const struct row_field totp_fields[] = {
	ROW_T(COL_TOTP_USER_ID, struct pc_totp_row, user_id),
	ROW_T(COL_TOTP_SECRET_ENC, struct pc_totp_row, secret_enc),
	ROW_T(COL_TOTP_PENDING_ENC, struct pc_totp_row, pending_enc),
	ROW_I(COL_TOTP_LAST_STEP, struct pc_totp_row, last_step),
	ROW_I(COL_TOTP_FAILURES, struct pc_totp_row, failures),
	ROW_I(COL_TOTP_LOCKED_UNTIL, struct pc_totp_row, locked_until),
	ROW_B(COL_TOTP_ENABLED, struct pc_totp_row, enabled),
};

enum pc_err store_totp_get(struct pc_store *s, const char *user_id, struct pc_totp_row *out)
{
	const struct store_arg key = A_TEXT(":user_id", user_id);

	return ROW_GET(s, STMT_TOTP_GET, &key, out, totp_fields);
}

enum pc_err store_totp_set_pending(struct pc_store *s, const char *user_id,
				   const char *pending_enc, int64_t now)
{
	const struct store_arg args[] = {
		A_TEXT(":user_id", user_id), A_TEXT(":pending_enc", pending_enc), A_INT(":now", now),
	};

	if (user_id == NULL || pending_enc == NULL)
		return PC_EINVAL;
	return q_write(s, STMT_TOTP_SET_PENDING, args, NARGS(args), NULL, NULL);
}

/* Sets users.totp_enabled; PC_ENOTFOUND when the user is gone. */
static enum pc_err totp_user_flag(struct pc_store *s, const char *user_id, bool on, int64_t now)
{
	const struct store_arg args[] = {
		A_TEXT(":user_id", user_id), A_INT(":enabled", on ? 1 : 0), A_INT(":now", now),
	};

	return q_write_one(s, STMT_TOTP_USER_FLAG, args, NARGS(args), NULL);
}

static enum pc_err totp_codes_delete(struct pc_store *s, const char *user_id)
{
	const struct store_arg args[] = { A_TEXT(":user_id", user_id) };

	return q_write(s, STMT_TOTP_RC_DELETE, args, NARGS(args), NULL, NULL);
}

enum pc_err store_totp_enable(struct pc_store *s, const char *user_id, const char *pending_enc,
			      int64_t step, int64_t now, const char (*code_hashes)[PC_SHA256_HEX],
			      size_t n)
{
	const struct store_arg args[] = {
		A_TEXT(":user_id", user_id), A_TEXT(":pending_enc", pending_enc),
		A_INT(":step", step), A_INT(":now", now),
	};
	enum pc_err err;

	if (user_id == NULL || pending_enc == NULL || (n > 0 && code_hashes == NULL))
		return PC_EINVAL;
	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	err = q_write_one(s, STMT_TOTP_ENABLE, args, NARGS(args), NULL);
	if (err == PC_OK)
		err = totp_user_flag(s, user_id, true, now);
	if (err == PC_OK)
		err = totp_codes_delete(s, user_id);
	for (size_t i = 0; i < n && err == PC_OK; i++) {
		const struct store_arg rc[] = {
			A_TEXT(":user_id", user_id), A_TEXT(":code_hash", code_hashes[i]),
		};

		err = q_write(s, STMT_TOTP_RC_INSERT, rc, NARGS(rc), NULL, NULL);
	}
	return tx_end(s, err);
}

enum pc_err store_totp_disable(struct pc_store *s, const char *user_id, int64_t now)
{
	const struct store_arg args[] = { A_TEXT(":user_id", user_id) };
	enum pc_err err;

	if (user_id == NULL)
		return PC_EINVAL;
	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	err = q_write(s, STMT_TOTP_DELETE, args, NARGS(args), NULL, NULL);
	if (err == PC_OK)
		err = totp_codes_delete(s, user_id);
	if (err == PC_OK)
		err = totp_user_flag(s, user_id, false, now);
	return tx_end(s, err);
}

/* A compare-and-swap: the statement's condition decides, one row changed
 * says this call won; PC_ENOTFOUND otherwise. */
static enum pc_err totp_cas(struct pc_store *s, enum store_stmt id, const struct store_arg *args,
			    size_t n)
{
	int64_t changed;
	enum pc_err err = q_write(s, id, args, n, NULL, &changed);

	return err == PC_OK && changed != 1 ? PC_ENOTFOUND : err;
}

enum pc_err store_totp_step_use(struct pc_store *s, const char *user_id, int64_t step,
				int64_t now)
{
	const struct store_arg args[] = {
		A_TEXT(":user_id", user_id), A_INT(":step", step), A_INT(":now", now),
	};

	if (user_id == NULL)
		return PC_EINVAL;
	return totp_cas(s, STMT_TOTP_STEP_USE, args, NARGS(args));
}

enum pc_err store_totp_recovery_use(struct pc_store *s, const char *user_id,
				    const char *code_hash, int64_t now)
{
	const struct store_arg args[] = {
		A_TEXT(":user_id", user_id), A_TEXT(":code_hash", code_hash), A_INT(":now", now),
	};
	const struct store_arg reset[] = { A_TEXT(":user_id", user_id), A_INT(":now", now) };
	enum pc_err err;

	if (user_id == NULL || code_hash == NULL)
		return PC_EINVAL;
	err = tx_begin(s);
	if (err != PC_OK)
		return err;
	err = totp_cas(s, STMT_TOTP_RC_USE, args, NARGS(args));
	if (err == PC_OK)
		err = q_write(s, STMT_TOTP_RESET_FAILURES, reset, NARGS(reset), NULL, NULL);
	return tx_end(s, err);
}

enum pc_err store_totp_fail(struct pc_store *s, const char *user_id, int64_t now,
			    const struct pc_totp_lockout *rule, int64_t *locked_until)
{
	const struct store_arg args[] = {
		A_TEXT(":user_id", user_id), A_INT(":now", now),
		A_INT(":threshold", rule->threshold), A_INT(":base", rule->base),
		A_INT(":cap", rule->cap),
	};
	struct pc_totp_row row;
	enum pc_err err;

	*locked_until = 0;
	if (user_id == NULL)
		return PC_EINVAL;
	err = q_write(s, STMT_TOTP_FAIL, args, NARGS(args), NULL, NULL);
	if (err == PC_OK)
		err = store_totp_get(s, user_id, &row);
	if (err == PC_OK && row.locked_until > now)
		*locked_until = row.locked_until;
	crypto_wipe(&row, sizeof(row));
	return err;
}

enum pc_err store_totp_count_other_key(struct pc_store *s, const char *prefix, int64_t *out)
{
	const struct store_arg args[] = { A_TEXT(":prefix", prefix) };
	bool found;

	*out = 0;
	if (prefix == NULL)
		return PC_EINVAL;
	return q_value(s, STMT_TOTP_OTHER_KEY, args, NARGS(args), out, &found);
}

/* ---- OAuth accounts and spent states (009_oauth) ------------------------------------------ */

static const struct row_field oauth_fields[] = {
	ROW_T(COL_OA_ID, struct pc_oauth_link, id),
	ROW_T(COL_OA_USER_ID, struct pc_oauth_link, user_id),
	ROW_T(COL_OA_NAME, struct pc_oauth_link, oauth_name),
	ROW_T(COL_OA_ACCOUNT_ID, struct pc_oauth_link, account_id),
	ROW_T(COL_OA_ACCOUNT_EMAIL, struct pc_oauth_link, account_email),
};

#define N_OAUTH_FIELDS (sizeof(oauth_fields) / sizeof(oauth_fields[0]))

enum pc_err store_oauth_account_get(struct pc_store *s, const char *oauth_name,
				    const char *account_id, struct pc_oauth_link *out)
{
	const struct store_arg args[] = {
		A_TEXT(":oauth_name", oauth_name), A_TEXT(":account_id", account_id),
	};
	struct q q;
	enum pc_err err;

	memset(out, 0, sizeof(*out));
	if (oauth_name == NULL || account_id == NULL)
		return PC_EINVAL;
	err = q_row(s, STMT_OAUTH_BY_ACCOUNT, args, NARGS(args), &q);
	if (err != PC_OK)
		return err;
	err = row_read(&q, out, sizeof(*out), oauth_fields, N_OAUTH_FIELDS);
	q_done(&q);
	return err;
}

enum pc_err store_oauth_account_list(struct pc_store *s, const char *user_id,
				     struct pc_oauth_link *out, size_t max, size_t *n)
{
	const struct store_arg args[] = { A_TEXT(":user_id", user_id) };
	struct q q;
	bool row = false;
	enum pc_err err;

	*n = 0;
	if (user_id == NULL)
		return PC_EINVAL;
	err = q_open(s, STMT_OAUTH_LIST_USER, args, NARGS(args), &q);
	if (err != PC_OK)
		return err;
	while (*n < max) {
		err = q_step(&q, NULL, &row);
		if (err != PC_OK || !row)
			break;
		err = row_read(&q, &out[*n], sizeof(out[0]), oauth_fields, N_OAUTH_FIELDS);
		if (err != PC_OK)
			break;
		(*n)++;
	}
	q_done(&q);
	if (err != PC_OK)
		*n = 0;
	return err;
}

enum pc_err store_oauth_account_insert(struct pc_store *s, const struct pc_oauth_link *l,
				       const struct pc_oauth_tokens *t, int64_t now)
{
	const struct store_arg args[] = {
		A_FIELD(":id", l->id), A_FIELD(":user_id", l->user_id),
		A_FIELD(":oauth_name", l->oauth_name), A_FIELD(":account_id", l->account_id),
		A_FIELD(":account_email", l->account_email),
		A_TEXT(":access_token", t->access_enc), A_TEXT(":refresh_token", t->refresh_enc),
		A_INT(":expires_at", t->expires_at), A_INT(":now", now),
	};

	return q_write(s, STMT_OAUTH_INSERT, args, NARGS(args), NULL, NULL);
}

enum pc_err store_oauth_account_update(struct pc_store *s, const char *id,
				       const char *account_email,
				       const struct pc_oauth_tokens *t, int64_t now)
{
	const struct store_arg args[] = {
		A_TEXT(":id", id), A_TEXT(":account_email", account_email),
		A_TEXT(":access_token", t->access_enc), A_TEXT(":refresh_token", t->refresh_enc),
		A_INT(":expires_at", t->expires_at), A_INT(":now", now),
	};

	if (id == NULL || account_email == NULL)
		return PC_EINVAL;
	return q_write_one(s, STMT_OAUTH_UPDATE, args, NARGS(args), NULL);
}

enum pc_err store_oauth_state_use(struct pc_store *s, const char *state_hash, int64_t expires_at)
{
	const struct store_arg args[] = {
		A_TEXT(":state_hash", state_hash), A_INT(":expires_at", expires_at),
	};

	if (state_hash == NULL)
		return PC_EINVAL;
	return q_write(s, STMT_OAUTH_STATE_USE, args, NARGS(args), NULL, NULL);
}

enum pc_err store_oauth_state_purge(struct pc_store *s, int64_t now, int64_t *removed)
{
	*removed = 0;
	return purge_one(s, STMT_OAUTH_STATE_PURGE, now, removed);
}

/* ---- the audit log (migration 013) ------------------------------------------------------------ */

enum pc_err store_audit_insert(struct pc_store *s, const struct pc_audit_row *r,
			       const struct pc_outbox_row *hook)
{
	const struct store_arg args[] = {
		A_FIELD(":id", r->id),
		A_INT(":at", r->at),
		A_FIELD(":event", r->event),
		A_FIELD_OR_NULL(":user_id", r->user_id),
		A_FIELD_OR_NULL(":actor_id", r->actor_id),
		A_FIELD_OR_NULL(":ip", r->ip),
		A_FIELD(":detail", r->detail),
	};
	bool own;
	enum pc_err err;

	if (hook == NULL)
		return q_write(s, STMT_AUDIT_INSERT, args, NARGS(args), NULL, NULL);
	/* both or neither: in the caller's transaction when one is open */
	err = tx_begin(s);
	own = err == PC_OK;
	if (err != PC_OK && err != PC_EINVAL)
		return err;
	err = q_write(s, STMT_AUDIT_INSERT, args, NARGS(args), NULL, NULL);
	if (err == PC_OK)
		err = outbox_insert(s, hook);
	return own ? tx_end(s, err) : err;
}

enum pc_err store_audit_list(struct pc_store *s, const char *user_id, const char *after,
			     int limit, store_audit_cb *cb, void *arg)
{
	const struct store_arg args[] = {
		A_TEXT(":after", after != NULL ? after : ""),
		A_INT(":limit", limit),
		A_TEXT(":user_id", user_id),
	};
	struct pc_audit_row r;
	struct q q;
	bool row;
	enum pc_err err;

	if (cb == NULL || limit < 1)
		return PC_EINVAL;
	err = q_open(s, user_id != NULL ? STMT_AUDIT_LIST_USER : STMT_AUDIT_LIST, args,
		     user_id != NULL ? 3 : 2, &q);
	if (err != PC_OK)
		return err;
	while (err == PC_OK) {
		err = q_step(&q, NULL, &row);
		if (err != PC_OK || !row)
			break;
		memset(&r, 0, sizeof(r));
		err = q_text(&q, 0, r.id, sizeof(r.id));
		r.at = q_int(&q, 1);
		if (err == PC_OK)
			err = q_text(&q, 2, r.event, sizeof(r.event));
		if (err == PC_OK)
			err = q_text(&q, 3, r.user_id, sizeof(r.user_id));
		if (err == PC_OK)
			err = q_text(&q, 4, r.actor_id, sizeof(r.actor_id));
		if (err == PC_OK)
			err = q_text(&q, 5, r.ip, sizeof(r.ip));
		if (err == PC_OK)
			err = q_text(&q, 6, r.detail, sizeof(r.detail));
		if (err == PC_OK && cb(&r, arg) != 0)
			break;
	}
	q_done(&q);
	return err;
}

enum pc_err store_audit_purge(struct pc_store *s, int64_t before)
{
	const struct store_arg args[] = { A_INT(":before", before) };

	return q_write(s, STMT_AUDIT_PURGE, args, NARGS(args), NULL, NULL);
}
