/*
 * test_store.c - the store conformance suite.
 *
 * Every test reaches the database through the store's operations (ops.c),
 * which run over the driver of the back end under test. The helpers at the
 * top are all that names a back end (the per-back-end setup hook): its
 * driver, the URL of a fresh database for this test, and a way to read and
 * write rows behind the store's back. A PostgreSQL back end runs the same
 * tests by providing those; nothing below them changes.
 *
 * Each test gets its own temporary directory (mkdtemp), removed afterwards.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <stdatomic.h>
#include <time.h>
#include <sqlite3.h>

#include "helpers.h"
#include "store/driver.h"

static char test_dir[PATH_MAX];

/* ---- the back end under test ------------------------------------------------------ */

/*
 * SQLite by default. With PORTCULLIS_TEST_DATABASE_URL set to a postgres://
 * URL (make test sets it to its throwaway cluster), PostgreSQL: each test
 * gets a schema of its own (pc_t_<dir suffix>), named to every connection
 * by the URL's options (search_path), dropped afterwards.
 */
static const char *pg_base_url(void)
{
	const char *u = getenv("PORTCULLIS_TEST_DATABASE_URL");

	return u != NULL && strncmp(u, "postgres", 8) == 0 ? u : NULL;
}

static bool backend_is_pg(void)
{
	return pg_base_url() != NULL;
}

static const struct store_driver *backend_driver(void)
{
	return backend_is_pg() ? &store_postgres_driver : &store_sqlite_driver;
}

/* The test's schema: "pc_t_" and the suffix mkdtemp gave its directory. */
static void pg_schema(char *out, size_t outsz)
{
	const char *x = strrchr(test_dir, '_');
	size_t i;

	snprintf(out, outsz, "pc_t_%s", x != NULL ? x + 1 : "none");
	for (i = 0; out[i] != '\0'; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
}

/* A database of its own for this test: a file in the test's directory, or
 * a schema of the PostgreSQL test database. */
static void backend_url(char *out, size_t outsz)
{
	char schema[64];
	int n;

	if (backend_is_pg()) {
		pg_schema(schema, sizeof(schema));
		n = snprintf(out, outsz, "%s%soptions=-csearch_path%%3D%s", pg_base_url(),
			     strchr(pg_base_url(), '?') != NULL ? "&" : "?", schema);
	} else {
		n = snprintf(out, outsz, "sqlite:///%s/store.db", test_dir);
	}
	cr_assert(n > 0 && (size_t)n < outsz);
}

/* The back end's generated migration table. */
static const struct pc_migration *backend_migrations(size_t *count)
{
	*count = *backend_driver()->nmigrations;
	return backend_driver()->migrations;
}

/* A libpq connection to the test's schema. */
static PGconn *pg_raw_connect(void)
{
	char url[PATH_MAX + 128];
	PGconn *db;

	backend_url(url, sizeof(url));
	db = PQconnectdb(url);
	cr_assert_eq(PQstatus(db), CONNECTION_OK, "%s", PQerrorMessage(db));
	return db;
}

static void pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Runs sql on the base database, outside any test schema. */
static void pg_base_exec(const char *sql)
{
	PGconn *db = PQconnectdb(pg_base_url());
	PGresult *r;

	cr_assert_eq(PQstatus(db), CONNECTION_OK, "%s", PQerrorMessage(db));
	PQsetNoticeProcessor(db, pg_quiet, NULL);
	r = PQexec(db, sql);
	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(db));
	PQclear(r);
	PQfinish(db);
}

/* Runs sql on the test's database directly, not through the store. */
static void backend_raw_exec(const char *sql)
{
	char path[PATH_MAX + 16];
	sqlite3 *db;
	char *errmsg = NULL;
	int rc;

	if (backend_is_pg()) {
		PGconn *pg = pg_raw_connect();
		PGresult *r = PQexec(pg, sql);

		cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK ||
			  PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(pg));
		PQclear(r);
		PQfinish(pg);
		return;
	}
	snprintf(path, sizeof(path), "%s/store.db", test_dir);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	cr_assert_eq(rc, SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	rc = sqlite3_exec(db, sql, NULL, NULL, &errmsg);
	cr_assert_eq(rc, SQLITE_OK, "%s", errmsg != NULL ? errmsg : "");
	sqlite3_free(errmsg);
	sqlite3_close(db);
}

/* Runs a one-value query on the test's database directly (counts, checks). */
static int64_t backend_raw_int(const char *sql)
{
	char path[PATH_MAX + 16];
	sqlite3_stmt *stmt;
	sqlite3 *db;
	int64_t v = -1;

	if (backend_is_pg()) {
		PGconn *pg = pg_raw_connect();
		PGresult *r = PQexec(pg, sql);

		cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(pg));
		if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
			v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		PQfinish(pg);
		return v;
	}
	snprintf(path, sizeof(path), "%s/store.db", test_dir);
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s", sql);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

/* Skips a test that is about SQLite itself when PostgreSQL is under test. */
#define SQLITE_ONLY() \
	do { \
		if (backend_is_pg()) \
			cr_skip_test("SQLite only"); \
	} while (0)

/* ---- fixture --------------------------------------------------------------------- */

static struct pc_store *st;
static int applied_at_setup;

static void make_test_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(test_dir, sizeof(test_dir), "%s/pc_store_XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(test_dir));
	if (backend_is_pg()) {
		char schema[64], sql[128];

		pg_schema(schema, sizeof(schema));
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
		pg_base_exec(sql);
	}
}

static void remove_test_dir(void)
{
	if (test_dir[0] == '\0')
		return;
	if (backend_is_pg()) {
		char schema[64], sql[128];

		pg_schema(schema, sizeof(schema));
		snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
		pg_base_exec(sql);
	}
	test_dir_remove(test_dir);
}

/* Opens the test's database through the back end's own open. */
static struct pc_store *open_store(void)
{
	char url[PATH_MAX + 32];
	struct pc_errinfo ei = { 0 };
	struct pc_store *s = NULL;
	enum pc_err err;

	backend_url(url, sizeof(url));
	err = backend_driver()->open(url, NULL, &s, &ei);
	cr_assert_eq(err, PC_OK, "open: %s: %s", pc_strerror(err), ei.detail);
	cr_assert_not_null(s);
	cr_assert_eq(s->drv, backend_driver());
	return s;
}

static void setup(void)
{
	enum pc_err err;

	make_test_dir();
	st = open_store();
	err = store_migrate(st, &applied_at_setup);
	cr_assert_eq(err, PC_OK, "migrate: %s", pc_strerror(err));
}

static void teardown(void)
{
	store_close(st);
	st = NULL;
	remove_test_dir();
}

static void setup_dir_only(void)
{
	make_test_dir();
}

TestSuite(store, .init = setup, .fini = teardown);
TestSuite(store_open, .init = setup_dir_only, .fini = remove_test_dir);

/* ---- helpers ------------------------------------------------------------------------ */

/* A user with a made-up, distinct id (the store does not check the form). */
static void make_user(struct pc_user *u, unsigned n, const char *email, const char *username)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->id, sizeof(u->id), "0190a000-0000-7000-8000-%012x", n);
	snprintf(u->email, sizeof(u->email), "%s", email);
	snprintf(u->username, sizeof(u->username), "%s", username != NULL ? username : "");
	snprintf(u->hashed_password, sizeof(u->hashed_password), "$argon2id$v=19$m=19456,t=2,p=1$x$y");
	u->is_active = true;
	u->created_at = 1700000000 + (int64_t)n;
	u->updated_at = u->created_at;
	u->password_changed_at = u->created_at;
}

static void insert_ok(const struct pc_user *u)
{
	struct pc_errinfo ei = { 0 };
	enum pc_err err = STORE_CALL(st, user_insert, u, &ei);

	cr_assert_eq(err, PC_OK, "insert %s: %s (field %s)", u->email, pc_strerror(err), ei.field);
}

static void make_session(struct pc_session_row *row, const char *hash_seed, const char *user_id,
			 int64_t expires_at)
{
	memset(row, 0, sizeof(*row));
	/* 64 hex digits, like a SHA-256 */
	snprintf(row->token_hash, sizeof(row->token_hash), "%-64.64s", hash_seed);
	for (char *p = row->token_hash; *p != '\0'; p++)
		if (*p == ' ')
			*p = '0';
	snprintf(row->user_id, sizeof(row->user_id), "%s", user_id);
	row->created_at = expires_at - 3600;
	row->last_seen_at = row->created_at;
	row->expires_at = expires_at;
	snprintf(row->ip, sizeof(row->ip), "2001:db8::1");
	snprintf(row->user_agent, sizeof(row->user_agent), "test/1.0");
}

static void assert_same_user(const struct pc_user *a, const struct pc_user *b)
{
	cr_assert_str_eq(a->id, b->id);
	cr_assert_str_eq(a->email, b->email);
	cr_assert_str_eq(a->username, b->username);
	cr_assert_str_eq(a->full_name, b->full_name);
	cr_assert_str_eq(a->hashed_password, b->hashed_password);
	cr_assert_eq(a->is_active, b->is_active);
	cr_assert_eq(a->is_superuser, b->is_superuser);
	cr_assert_eq(a->is_verified, b->is_verified);
	cr_assert_eq(a->password_changed_at, b->password_changed_at);
	cr_assert_eq(a->created_at, b->created_at);
	cr_assert_eq(a->updated_at, b->updated_at);
}

/* ---- migrations --------------------------------------------------------------------- */

Test(store, migrating_twice_applies_each_step_once)
{
	struct pc_store *again;
	int applied = -1;

	cr_assert_gt(applied_at_setup, 0);
	cr_assert_eq(STORE_CALL(st, migrate, &applied), PC_OK);
	cr_assert_eq(applied, 0);

	again = open_store();
	applied = -1;
	cr_assert_eq(store_migrate(again, &applied), PC_OK);
	cr_assert_eq(applied, 0);
	store_close(again);
}

Test(store, the_generated_migration_table_is_numbered_in_order)
{
	size_t i;

	size_t count;
	const struct pc_migration *m = backend_migrations(&count);

	cr_assert_geq(count, 1);
	cr_assert_eq(m[0].number, 1);
	cr_assert_str_eq(m[0].name, "init");
	for (i = 0; i < count; i++) {
		cr_assert_gt(m[i].number, i == 0 ? 0 : m[i - 1].number);
		cr_assert_neq(m[i].name[0], '\0');
		cr_assert_not_null(strstr(m[i].sql, ";"), "step %d holds SQL", m[i].number);
	}
}

struct migrate_arg {
	enum pc_err err;
	int applied;
};

/* Two stores on one fresh database, as two processes starting at once. */
static void *migrate_thread(void *p)
{
	struct migrate_arg *a = p;
	char url[PATH_MAX + 32];
	struct pc_store *s = NULL;

	backend_url(url, sizeof(url));
	a->err = backend_driver()->open(url, NULL, &s, NULL);
	if (a->err == PC_OK)
		a->err = store_migrate(s, &a->applied);
	store_close(s);
	return NULL;
}

Test(store_open, two_migrations_at_once_apply_each_step_exactly_once)
{
	struct migrate_arg args[4] = { { 0 } };
	pthread_t t[4];
	int total = 0;
	size_t i, count;

	for (i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, migrate_thread, &args[i]), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(args[i].err, PC_OK, "thread %zu: %s", i, pc_strerror(args[i].err));
		total += args[i].applied;
	}
	backend_migrations(&count);
	cr_assert_eq(total, (int)count);
}

/* ---- users -------------------------------------------------------------------------- */

Test(store, a_user_reads_back_by_id_email_and_username)
{
	struct pc_user u, got;

	make_user(&u, 1, "Alice@Example.COM", "AliceW");
	snprintf(u.full_name, sizeof(u.full_name), "Alice Wonder");
	u.is_superuser = true;
	u.is_verified = true;
	u.password_changed_at = 1700000123;
	u.updated_at = 1700000456;
	insert_ok(&u);

	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &got), PC_OK);
	assert_same_user(&got, &u);

	memset(&got, 0, sizeof(got));
	cr_assert_eq(STORE_CALL(st, user_by_email, "alice@example.com", &got), PC_OK);
	assert_same_user(&got, &u);
	cr_assert_str_eq(got.email, "Alice@Example.COM", "the email keeps its case");

	memset(&got, 0, sizeof(got));
	cr_assert_eq(STORE_CALL(st, user_by_username, "alicew", &got), PC_OK);
	assert_same_user(&got, &u);
}

Test(store, an_absent_user_is_not_found)
{
	struct pc_user got;

	cr_assert_eq(STORE_CALL(st, user_by_id, "0190a000-0000-7000-8000-00000000dead", &got),
		     PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, user_by_email, "nobody@example.com", &got), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, user_by_username, "nobody", &got), PC_ENOTFOUND);
}

Test(store, empty_optional_fields_read_back_empty_and_never_collide)
{
	struct pc_user a, b, got;

	make_user(&a, 1, "a@example.com", NULL);
	make_user(&b, 2, "b@example.com", "");
	a.hashed_password[0] = '\0'; /* passwordless */
	insert_ok(&a);
	insert_ok(&b); /* two users without a username are no conflict */

	cr_assert_eq(STORE_CALL(st, user_by_id, a.id, &got), PC_OK);
	cr_assert_str_eq(got.username, "");
	cr_assert_str_eq(got.full_name, "");
	cr_assert_str_eq(got.hashed_password, "");
	cr_assert_eq(STORE_CALL(st, user_by_username, "", &got), PC_ENOTFOUND);
}

Test(store, an_email_differing_only_in_case_is_taken)
{
	struct pc_errinfo ei = { 0 };
	struct pc_user a, b;
	int64_t n = -1;

	make_user(&a, 1, "king.arthur@camelot.bt", NULL);
	make_user(&b, 2, "King.Arthur@CAMELOT.bt", NULL);
	insert_ok(&a);
	cr_assert_eq(STORE_CALL(st, user_insert, &b, &ei), PC_EEXISTS);
	cr_assert_str_eq(ei.field, "email");
	cr_assert_eq(STORE_CALL(st, user_count, &n), PC_OK);
	cr_assert_eq(n, 1);
}

Test(store, a_username_differing_only_in_case_is_taken)
{
	struct pc_errinfo ei = { 0 };
	struct pc_user a, b;

	make_user(&a, 1, "a@example.com", "Merlin");
	make_user(&b, 2, "b@example.com", "merlin");
	insert_ok(&a);
	cr_assert_eq(STORE_CALL(st, user_insert, &b, &ei), PC_EEXISTS);
	cr_assert_str_eq(ei.field, "username");
}

Test(store, a_reused_id_is_taken)
{
	struct pc_errinfo ei = { 0 };
	struct pc_user a, b;

	make_user(&a, 1, "a@example.com", NULL);
	make_user(&b, 1, "b@example.com", NULL);
	insert_ok(&a);
	cr_assert_eq(STORE_CALL(st, user_insert, &b, &ei), PC_EEXISTS);
	cr_assert_str_eq(ei.field, "id");
}

Test(store, update_writes_every_column_and_moves_the_email)
{
	struct pc_errinfo ei = { 0 };
	struct pc_user u, got;

	make_user(&u, 1, "old@example.com", "old");
	insert_ok(&u);

	snprintf(u.email, sizeof(u.email), "New@Example.com");
	snprintf(u.username, sizeof(u.username), "NewName");
	snprintf(u.full_name, sizeof(u.full_name), "New Name");
	snprintf(u.hashed_password, sizeof(u.hashed_password), "$argon2id$new");
	u.is_active = false;
	u.is_superuser = true;
	u.is_verified = true;
	u.password_changed_at = 1800000000;
	u.updated_at = 1800000001;
	cr_assert_eq(STORE_CALL(st, user_update, &u, &ei), PC_OK);

	cr_assert_eq(STORE_CALL(st, user_by_email, "new@example.com", &got), PC_OK);
	assert_same_user(&got, &u);
	cr_assert_eq(STORE_CALL(st, user_by_username, "newname", &got), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_email, "old@example.com", &got), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, user_by_username, "old", &got), PC_ENOTFOUND);

	/* created_at is not written by update */
	u.created_at = 1;
	cr_assert_eq(STORE_CALL(st, user_update, &u, &ei), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &got), PC_OK);
	cr_assert_eq(got.created_at, 1700000001);
}

Test(store, update_to_a_taken_email_or_username_is_refused)
{
	struct pc_errinfo ei = { 0 };
	struct pc_user a, b, got;

	make_user(&a, 1, "a@example.com", "alpha");
	make_user(&b, 2, "b@example.com", "beta");
	insert_ok(&a);
	insert_ok(&b);

	snprintf(b.email, sizeof(b.email), "A@EXAMPLE.COM");
	cr_assert_eq(STORE_CALL(st, user_update, &b, &ei), PC_EEXISTS);
	cr_assert_str_eq(ei.field, "email");

	snprintf(b.email, sizeof(b.email), "b@example.com");
	snprintf(b.username, sizeof(b.username), "Alpha");
	memset(&ei, 0, sizeof(ei));
	cr_assert_eq(STORE_CALL(st, user_update, &b, &ei), PC_EEXISTS);
	cr_assert_str_eq(ei.field, "username");

	cr_assert_eq(STORE_CALL(st, user_by_id, b.id, &got), PC_OK);
	cr_assert_str_eq(got.email, "b@example.com", "a refused update changes nothing");
	cr_assert_str_eq(got.username, "beta");
}

Test(store, update_of_an_absent_user_is_not_found)
{
	struct pc_user u;

	make_user(&u, 9, "ghost@example.com", NULL);
	cr_assert_eq(STORE_CALL(st, user_update, &u, NULL), PC_ENOTFOUND);
}

Test(store, delete_removes_the_user_and_its_sessions)
{
	struct pc_session_row row;
	struct pc_user u, got;
	int64_t now = 1700000000;

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_session(&row, "aa", u.id, now + 3600);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);

	cr_assert_eq(STORE_CALL(st, user_delete, u.id), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &got), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, user_delete, u.id), PC_ENOTFOUND);

	/* A new user with the same id must not inherit the old session. */
	insert_ok(&u);
	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, now, &got, NULL), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, session_delete, row.token_hash), PC_ENOTFOUND);
}

struct list_acc {
	char ids[16][PC_ID_LEN + 1];
	int n;
	int stop_after; /* 0: never */
};

static int list_cb(const struct pc_user *u, void *arg)
{
	struct list_acc *acc = arg;

	if (acc->n < 16)
		snprintf(acc->ids[acc->n], sizeof(acc->ids[0]), "%s", u->id);
	acc->n++;
	return acc->stop_after != 0 && acc->n >= acc->stop_after;
}

Test(store, list_is_ordered_by_creation_then_id_with_offset_and_limit)
{
	/* created_at per user number; 2 and 4 tie and order by id */
	static const int64_t created[] = { 0, 30, 10, 20, 10, 40 };
	static const unsigned order[] = { 2, 4, 3, 1, 5 };
	struct list_acc acc;
	struct pc_user u, want;
	char email[64];
	int64_t n = -1;
	unsigned i;

	for (i = 5; i >= 1; i--) {
		snprintf(email, sizeof(email), "u%u@example.com", i);
		make_user(&u, i, email, NULL);
		u.created_at = created[i];
		insert_ok(&u);
	}
	cr_assert_eq(STORE_CALL(st, user_count, &n), PC_OK);
	cr_assert_eq(n, 5);

	memset(&acc, 0, sizeof(acc));
	cr_assert_eq(STORE_CALL(st, user_list, 0, 100, list_cb, &acc), PC_OK);
	cr_assert_eq(acc.n, 5);
	for (i = 0; i < 5; i++) {
		make_user(&want, order[i], "x", NULL);
		cr_assert_str_eq(acc.ids[i], want.id, "position %u", i);
	}

	memset(&acc, 0, sizeof(acc));
	cr_assert_eq(STORE_CALL(st, user_list, 1, 2, list_cb, &acc), PC_OK);
	cr_assert_eq(acc.n, 2);
	make_user(&want, 4, "x", NULL);
	cr_assert_str_eq(acc.ids[0], want.id);
	make_user(&want, 3, "x", NULL);
	cr_assert_str_eq(acc.ids[1], want.id);

	memset(&acc, 0, sizeof(acc));
	cr_assert_eq(STORE_CALL(st, user_list, 4, 10, list_cb, &acc), PC_OK);
	cr_assert_eq(acc.n, 1);
	memset(&acc, 0, sizeof(acc));
	cr_assert_eq(STORE_CALL(st, user_list, 5, 10, list_cb, &acc), PC_OK);
	cr_assert_eq(acc.n, 0);
	memset(&acc, 0, sizeof(acc));
	cr_assert_eq(STORE_CALL(st, user_list, 0, 0, list_cb, &acc), PC_OK);
	cr_assert_eq(acc.n, 0);

	memset(&acc, 0, sizeof(acc));
	acc.stop_after = 2;
	cr_assert_eq(STORE_CALL(st, user_list, 0, 100, list_cb, &acc), PC_OK);
	cr_assert_eq(acc.n, 2, "a nonzero callback stops the walk");

	cr_assert_eq(STORE_CALL(st, user_list, -1, 10, list_cb, &acc), PC_EINVAL);
	cr_assert_eq(STORE_CALL(st, user_list, 0, -1, list_cb, &acc), PC_EINVAL);
}

/* A large store's list remembers its buckets (ops.c, pages memo): a page
 * read through what is remembered is the page a walk gives, and a write of
 * this process (a user added before every other) is seen by the next list at
 * once, not after the memo's second. */
Test(store, a_remembered_page_is_exact_and_a_write_moves_it)
{
	enum { N = 8300 }; /* 9 buckets of user_pages: enough to be remembered */
	struct list_acc acc;
	struct pc_user u, want;
	char email[64];
	unsigned i;

	cr_assert_eq(store_begin(st), PC_OK);
	for (i = 1; i <= N; i++) {
		snprintf(email, sizeof(email), "m%u@example.com", i);
		make_user(&u, i, email, NULL);
		insert_ok(&u);
	}
	cr_assert_eq(store_commit(st), PC_OK);
	for (i = 0; i < 2; i++) { /* the walk, then what it remembered */
		memset(&acc, 0, sizeof(acc));
		cr_assert_eq(STORE_CALL(st, user_list, 8100, 3, list_cb, &acc), PC_OK);
		cr_assert_eq(acc.n, 3);
		make_user(&want, 8101, "x", NULL);
		cr_assert_str_eq(acc.ids[0], want.id, "round %u", i);
		make_user(&want, 8103, "x", NULL);
		cr_assert_str_eq(acc.ids[2], want.id, "round %u", i);
	}
	memset(&acc, 0, sizeof(acc));
	cr_assert_eq(STORE_CALL(st, user_list, N, 3, list_cb, &acc), PC_OK);
	cr_assert_eq(acc.n, 0, "past the end");

	make_user(&u, N + 1, "first@example.com", NULL);
	u.created_at = 1; /* before everyone: every later position moves by one */
	insert_ok(&u);
	memset(&acc, 0, sizeof(acc));
	cr_assert_eq(STORE_CALL(st, user_list, 8100, 3, list_cb, &acc), PC_OK);
	cr_assert_eq(acc.n, 3);
	make_user(&want, 8100, "x", NULL);
	cr_assert_str_eq(acc.ids[0], want.id, "the write is seen at once");
	memset(&acc, 0, sizeof(acc));
	cr_assert_eq(STORE_CALL(st, user_list, N, 3, list_cb, &acc), PC_OK);
	cr_assert_eq(acc.n, 1, "the last user, one place further");
	make_user(&want, N, "x", NULL);
	cr_assert_str_eq(acc.ids[0], want.id);
}

Test(store, sql_metacharacters_are_stored_as_data)
{
	struct pc_user u, got;
	int64_t n = -1;

	make_user(&u, 1, "a'b;--@x.io", "o'reilly");
	snprintf(u.full_name, sizeof(u.full_name), "Robert'); DROP TABLE users;-- \"%%_\\");
	insert_ok(&u);

	cr_assert_eq(STORE_CALL(st, user_by_email, "a'b;--@x.io", &got), PC_OK);
	assert_same_user(&got, &u);
	cr_assert_eq(STORE_CALL(st, user_by_username, "o'reilly", &got), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_email, "%", &got), PC_ENOTFOUND, "no LIKE matching");
	cr_assert_eq(STORE_CALL(st, user_by_email, "' OR '1'='1", &got), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, user_count, &n), PC_OK);
	cr_assert_eq(n, 1);
}

Test(store, a_field_without_its_terminator_is_refused_not_read_past)
{
	struct pc_user *u = malloc(sizeof(*u)); /* on the heap: ASan sees any overread */
	struct pc_user got;

	cr_assert_not_null(u);
	make_user(u, 1, "a@example.com", NULL);
	memset(u->full_name, 'x', sizeof(u->full_name)); /* no NUL */
	cr_assert_eq(STORE_CALL(st, user_insert, u, NULL), PC_EINVAL);
	cr_assert_eq(STORE_CALL(st, user_by_id, u->id, &got), PC_ENOTFOUND);
	free(u);
}

Test(store, a_stored_value_too_long_for_its_field_is_an_error_not_an_overflow)
{
	struct pc_user *got = malloc(sizeof(*got));
	struct pc_user u;
	char sql[256];

	cr_assert_not_null(got);
	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	/* 300 bytes: over PC_NAME_MAX (255), written behind the store's back */
	snprintf(sql, sizeof(sql), "UPDATE users SET full_name = %s WHERE id = '%s'",
		 backend_is_pg() ? "repeat('x', 300)" : "printf('%.300c', 'x')", u.id);
	backend_raw_exec(sql);

	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, got), PC_ESTORE);
	cr_assert_eq(STORE_CALL(st, user_by_email, "a@example.com", got), PC_ESTORE);
	free(got);
}

/* ---- sessions ------------------------------------------------------------------------ */

Test(store, a_session_finds_its_user_until_it_expires)
{
	struct pc_session_row row;
	struct pc_user u, got;
	int64_t exp = 1700003600, got_exp = 0;

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_session(&row, "ab12", u.id, exp);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);

	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, exp - 1, &got, &got_exp), PC_OK);
	assert_same_user(&got, &u);
	cr_assert_eq(got_exp, exp, "the session's own expiry comes back");
	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, exp, &got, NULL), PC_ENOTFOUND,
		     "expired at expires_at");
	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, exp + 100, &got, NULL), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, session_user, "cd34", exp - 1, &got, NULL), PC_ENOTFOUND);

	cr_assert_eq(STORE_CALL(st, session_delete, row.token_hash), PC_OK);
	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, exp - 1, &got, NULL), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, session_delete, row.token_hash), PC_ENOTFOUND);
}

Test(store, a_session_needs_an_existing_user_and_a_fresh_hash)
{
	struct pc_session_row row;
	struct pc_user u;

	make_session(&row, "ab", "0190a000-0000-7000-8000-00000000dead", 1700003600);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_ENOTFOUND);

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_session(&row, "ab", u.id, 1700003600);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_EEXISTS);
}

Test(store, deleting_a_users_sessions_leaves_the_others)
{
	struct pc_session_row row;
	struct pc_user a, b, got;
	int64_t exp = 1700003600;

	make_user(&a, 1, "a@example.com", NULL);
	make_user(&b, 2, "b@example.com", NULL);
	insert_ok(&a);
	insert_ok(&b);
	make_session(&row, "a1", a.id, exp);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);
	make_session(&row, "a2", a.id, exp);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);
	make_session(&row, "b1", b.id, exp);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);

	cr_assert_eq(STORE_CALL(st, session_delete_user, a.id), PC_OK);
	make_session(&row, "a1", a.id, exp);
	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, exp - 1, &got, NULL), PC_ENOTFOUND);
	make_session(&row, "a2", a.id, exp);
	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, exp - 1, &got, NULL), PC_ENOTFOUND);
	make_session(&row, "b1", b.id, exp);
	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, exp - 1, &got, NULL), PC_OK);
	cr_assert_str_eq(got.id, b.id);
	cr_assert_eq(STORE_CALL(st, session_delete_user, a.id), PC_OK, "none left is fine");
}

/* ---- denylist, purge --------------------------------------------------------------------- */

Test(store, a_revoked_jti_stays_revoked)
{
	bool revoked = true;

	cr_assert_eq(STORE_CALL(st, jti_is_revoked, "jti-1", &revoked), PC_OK);
	cr_assert_eq(revoked, false);
	cr_assert_eq(STORE_CALL(st, jti_revoke, "jti-1", "u-1", 1700003600), PC_OK);
	cr_assert_eq(STORE_CALL(st, jti_is_revoked, "jti-1", &revoked), PC_OK);
	cr_assert_eq(revoked, true);
	cr_assert_eq(STORE_CALL(st, jti_revoke, "jti-1", "u-1", 1700003600), PC_OK, "twice is fine");
	cr_assert_eq(STORE_CALL(st, jti_is_revoked, "jti-2", &revoked), PC_OK);
	cr_assert_eq(revoked, false);
}

Test(store, the_access_check_reads_the_user_unless_its_jti_is_revoked)
{
	struct pc_user u, got;

	make_user(&u, 71, "token@holder.io", NULL);
	insert_ok(&u);
	cr_assert_eq(STORE_CALL(st, user_by_id_unrevoked, u.id, "jti-a", INT64_MAX, &got), PC_OK);
	cr_expect_str_eq(got.email, "token@holder.io");
	cr_assert_eq(STORE_CALL(st, jti_revoke, "jti-a", NULL, 1700003600), PC_OK);
	cr_expect_eq(STORE_CALL(st, user_by_id_unrevoked, u.id, "jti-a", INT64_MAX, &got), PC_ENOTFOUND);
	cr_expect_eq(STORE_CALL(st, user_by_id_unrevoked, u.id, "jti-b", INT64_MAX, &got), PC_OK,
		     "another token of the same user still counts");
	cr_expect_eq(STORE_CALL(st, user_by_id_unrevoked, "0190a000-0000-7000-8000-00000000ffff",
				"jti-b", INT64_MAX, &got), PC_ENOTFOUND);
}

/* ---- a user's sign-ins, rate limits, the password epoch (issue 13) ---------------------------- */

static int signins_collect(const struct pc_signin *r, void *arg)
{
	struct pc_signin *out = arg;
	int i = 0;

	while (out[i].id[0] != '\0')
		i++;
	out[i] = *r;
	return 0;
}

Test(store, sign_ins_are_listed_and_ended_per_user)
{
	const int64_t now = 1700000000;
	struct pc_signin got[8];
	struct pc_session_row sess;
	struct pc_refresh_row rt;
	struct pc_user u, other;

	make_user(&u, 81, "signin@example.com", NULL);
	make_user(&other, 82, "other@example.com", NULL);
	insert_ok(&u);
	insert_ok(&other);
	make_session(&sess, "a1", u.id, now + 3600);
	cr_assert_eq(STORE_CALL(st, session_insert, &sess), PC_OK);
	make_session(&sess, "b2", other.id, now + 3600);
	cr_assert_eq(STORE_CALL(st, session_insert, &sess), PC_OK);
	cr_assert_eq(STORE_CALL(st, refresh_family_insert, "0190a000-0000-7000-8000-0000000000f1",
				u.id, now - 10, "2001:db8::1", "app/1"), PC_OK);
	memset(&rt, 0, sizeof(rt));
	snprintf(rt.token_hash, sizeof(rt.token_hash), "%064d", 7);
	snprintf(rt.family_id, sizeof(rt.family_id), "0190a000-0000-7000-8000-0000000000f1");
	snprintf(rt.user_id, sizeof(rt.user_id), "%s", u.id);
	rt.created_at = now - 5;
	rt.expires_at = now + 100;
	cr_assert_eq(STORE_CALL(st, refresh_insert, &rt), PC_OK);

	memset(got, 0, sizeof(got));
	cr_assert_eq(STORE_CALL(st, signins_of_user, u.id, now, signins_collect, got), PC_OK);
	cr_assert_str_eq(got[0].kind, "refresh", "oldest first");
	cr_assert_str_eq(got[0].id, "r0190a000-0000-7000-8000-0000000000f1");
	cr_assert_eq(got[0].last_seen_at, now - 5);
	cr_assert_eq(got[0].expires_at, now + 100);
	cr_assert_str_eq(got[0].ip, "2001:db8::1");
	cr_assert_str_eq(got[0].user_agent, "app/1");
	cr_assert_str_eq(got[1].kind, "session");
	cr_assert_eq(strlen(got[1].id), 33);
	cr_assert_eq(got[2].id[0], '\0', "only the user's");

	cr_assert_eq(STORE_CALL(st, signin_end, other.id, got[1].id, now), PC_ENOTFOUND,
		     "not another user's");
	cr_assert_eq(STORE_CALL(st, signin_end, other.id, got[0].id, now), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, signin_end, u.id, "x", now), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, signin_end, u.id, got[1].id, now), PC_OK);
	cr_assert_eq(STORE_CALL(st, signin_end, u.id, got[0].id, now), PC_OK);
	cr_assert_eq(STORE_CALL(st, signin_end, u.id, got[0].id, now), PC_ENOTFOUND, "once");
	memset(got, 0, sizeof(got));
	cr_assert_eq(STORE_CALL(st, signins_of_user, u.id, now, signins_collect, got), PC_OK);
	cr_assert_eq(got[0].id[0], '\0');
	cr_assert_eq(STORE_CALL(st, signins_end_all, other.id, now), PC_OK);
	memset(got, 0, sizeof(got));
	cr_assert_eq(STORE_CALL(st, signins_of_user, other.id, now, signins_collect, got), PC_OK);
	cr_assert_eq(got[0].id[0], '\0');
}

Test(store, a_window_counter_restarts_after_its_window)
{
	int64_t hits, start;

	cr_assert_eq(STORE_CALL(st, rl_hit, "k", 1000, 60, &hits, &start), PC_OK);
	cr_assert_eq(hits, 1);
	cr_assert_eq(STORE_CALL(st, rl_hit, "k", 1059, 60, &hits, &start), PC_OK);
	cr_assert_eq(hits, 2);
	cr_assert_eq(start, 1000);
	cr_assert_eq(STORE_CALL(st, rl_hit, "k", 1060, 60, &hits, &start), PC_OK);
	cr_assert_eq(hits, 1, "a new window");
	cr_assert_eq(start, 1060);
	cr_assert_eq(STORE_CALL(st, rl_window, "k", &hits, &start), PC_OK);
	cr_assert_eq(hits, 1);
	cr_assert_eq(STORE_CALL(st, rl_fail, "lock:x", 1000, &hits, &start), PC_OK);
	cr_assert_eq(STORE_CALL(st, rl_fail, "lock:x", 1001, &hits, &start), PC_OK);
	cr_assert_eq(hits, 2);
	cr_assert_eq(STORE_CALL(st, rl_lock, "lock:x", 1500), PC_OK);
	cr_assert_eq(STORE_CALL(st, rl_lock, "lock:x", 1400), PC_OK, "never earlier");
	cr_assert_eq(STORE_CALL(st, rl_get, "lock:x", &hits, &start), PC_OK);
	cr_assert_eq(start, 1500);
	cr_assert_eq(STORE_CALL(st, rl_purge, 2000, 1200), PC_OK);
	cr_assert_eq(STORE_CALL(st, rl_get, "lock:x", &hits, &start), PC_OK);
	cr_assert_eq(hits, 2, "a lock running at now is kept");
	cr_assert_eq(STORE_CALL(st, rl_window, "k", &hits, &start), PC_OK);
	cr_assert_eq(hits, 0, "an idle counter is purged");
	cr_assert_eq(STORE_CALL(st, rl_clear, "lock:x"), PC_OK);
	cr_assert_eq(STORE_CALL(st, rl_get, "lock:x", &hits, &start), PC_OK);
	cr_assert_eq(hits, 0);
}

static int audit_collect(const struct pc_audit_row *r, void *arg)
{
	struct pc_audit_row *out = arg;

	while (out->id[0] != '\0')
		out++;
	*out = *r;
	return 0;
}

static void make_audit(struct pc_audit_row *r, const char *id, int64_t at, const char *event,
		       const char *user_id, const char *ip)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->at = at;
	snprintf(r->event, sizeof(r->event), "%s", event);
	snprintf(r->user_id, sizeof(r->user_id), "%s", user_id != NULL ? user_id : "");
	snprintf(r->ip, sizeof(r->ip), "%s", ip != NULL ? ip : "");
	snprintf(r->detail, sizeof(r->detail), "{\"reason\":\"x\"}");
}

Test(store, audit_rows_list_by_cursor_and_user_and_purge_by_age)
{
	const char *uid = "0190a000-0000-7000-8000-0000000000a1";
	struct pc_audit_row r, got[8];

	make_audit(&r, "0190a000-0000-7000-8000-000000000001", 1000, "login.failure", NULL, "192.0.2.1");
	cr_assert_eq(STORE_CALL(st, audit_insert, &r, NULL), PC_OK);
	make_audit(&r, "0190a000-0000-7000-8000-000000000002", 2000, "login.success", uid, NULL);
	cr_assert_eq(STORE_CALL(st, audit_insert, &r, NULL), PC_OK);
	make_audit(&r, "0190a000-0000-7000-8000-000000000003", 3000, "admin.unlock", uid, "::/64");
	snprintf(r.actor_id, sizeof(r.actor_id), "0190a000-0000-7000-8000-0000000000b2");
	cr_assert_eq(STORE_CALL(st, audit_insert, &r, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, audit_insert, &r, NULL), PC_EEXISTS, "ids are unique");

	memset(got, 0, sizeof(got));
	cr_assert_eq(STORE_CALL(st, audit_list, NULL, "", 10, audit_collect, got), PC_OK);
	cr_assert_str_eq(got[0].event, "login.failure");
	cr_assert_str_eq(got[0].user_id, "", "NULL reads as empty");
	cr_assert_str_eq(got[0].ip, "192.0.2.1");
	cr_assert_str_eq(got[0].detail, "{\"reason\":\"x\"}");
	cr_assert_str_eq(got[2].actor_id, "0190a000-0000-7000-8000-0000000000b2");
	cr_assert_eq(got[2].at, 3000);
	cr_assert_eq(got[3].id[0], '\0');

	memset(got, 0, sizeof(got));
	cr_assert_eq(STORE_CALL(st, audit_list, uid, "0190a000-0000-7000-8000-000000000002", 10,
				audit_collect, got), PC_OK);
	cr_assert_str_eq(got[0].event, "admin.unlock", "after the cursor, the user's only");
	cr_assert_eq(got[1].id[0], '\0');
	memset(got, 0, sizeof(got));
	cr_assert_eq(STORE_CALL(st, audit_list, NULL, "", 1, audit_collect, got), PC_OK);
	cr_assert_eq(got[1].id[0], '\0', "the limit holds");

	cr_assert_eq(STORE_CALL(st, audit_purge, 2000), PC_OK);
	memset(got, 0, sizeof(got));
	cr_assert_eq(STORE_CALL(st, audit_list, NULL, "", 10, audit_collect, got), PC_OK);
	cr_assert_str_eq(got[0].event, "login.success", "older than the bound: purged");
	cr_assert_str_eq(got[1].event, "admin.unlock");
	cr_assert_eq(got[2].id[0], '\0');
}

Test(store, a_password_change_moves_the_epoch_and_ends_sessions_and_families)
{
	const int64_t now = 1700000000;
	struct pc_session_row sess;
	struct pc_user u, got;
	int64_t before_ms = time_now_ms();

	make_user(&u, 91, "epoch@example.com", NULL);
	insert_ok(&u);
	make_session(&sess, "e1", u.id, now + 3600);
	cr_assert_eq(STORE_CALL(st, session_insert, &sess), PC_OK);
	cr_assert_eq(STORE_CALL(st, refresh_family_insert, "0190a000-0000-7000-8000-0000000000f9",
				u.id, now, NULL, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_id_unrevoked, u.id, "j", 1, &got), PC_OK,
		     "never changed: every token counts");
	snprintf(u.full_name, sizeof(u.full_name), "Not a password change");
	cr_assert_eq(STORE_CALL(st, user_update, &u, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_id_unrevoked, u.id, "j", 1, &got), PC_OK);
	make_session(&sess, "e1", u.id, now + 3600);
	cr_assert_eq(STORE_CALL(st, session_user, sess.token_hash, now, &got, NULL), PC_OK);

	u.password_changed_at = store_password_changed_at(u.password_changed_at, now);
	cr_assert_eq(STORE_CALL(st, user_update, &u, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_id_unrevoked, u.id, "j", before_ms - 1, &got),
		     PC_ENOTFOUND, "issued before the change");
	cr_assert_eq(STORE_CALL(st, user_by_id_unrevoked, u.id, "j", time_now_ms() + 1, &got),
		     PC_OK, "issued after it");
	cr_assert_eq(STORE_CALL(st, session_user, sess.token_hash, now, &got, NULL), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, user_by_id_unrevoked_in_family, u.id, "j",
				"0190a000-0000-7000-8000-0000000000f9", time_now_ms() + 1, &got),
		     PC_ENOTFOUND, "the family is revoked");
}

Test(store, purge_removes_exactly_the_expired_rows)
{
	struct pc_session_row row;
	struct pc_user u, got;
	int64_t now = 1700000000, removed = -1;
	bool revoked;

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_session(&row, "e1", u.id, now - 10);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);
	make_session(&row, "e2", u.id, now);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);
	make_session(&row, "live", u.id, now + 100);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);
	cr_assert_eq(STORE_CALL(st, jti_revoke, "old", u.id, now - 1), PC_OK);
	cr_assert_eq(STORE_CALL(st, jti_revoke, "new", NULL, now + 100), PC_OK);

	cr_assert_eq(STORE_CALL(st, purge_expired, now, &removed), PC_OK);
	cr_assert_eq(removed, 3);

	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, now, &got, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, jti_is_revoked, "new", &revoked), PC_OK);
	cr_assert_eq(revoked, true);
	cr_assert_eq(STORE_CALL(st, jti_is_revoked, "old", &revoked), PC_OK);
	cr_assert_eq(revoked, false);
	make_session(&row, "e1", u.id, now - 10);
	cr_assert_eq(STORE_CALL(st, session_delete, row.token_hash), PC_ENOTFOUND);

	cr_assert_eq(STORE_CALL(st, purge_expired, now, &removed), PC_OK);
	cr_assert_eq(removed, 0);
}

/* ---- keys ------------------------------------------------------------------------------ */

Test(store, the_first_key_written_wins)
{
	char out[64];

	cr_assert_eq(STORE_CALL(st, key_get, "jwt_secret", out, sizeof(out)), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, key_put_if_absent, "jwt_secret", "first"), PC_OK);
	cr_assert_eq(STORE_CALL(st, key_put_if_absent, "jwt_secret", "second"), PC_OK);
	cr_assert_eq(STORE_CALL(st, key_get, "jwt_secret", out, sizeof(out)), PC_OK);
	cr_assert_str_eq(out, "first");
	cr_assert_eq(STORE_CALL(st, key_get, "other", out, sizeof(out)), PC_ENOTFOUND);
}

Test(store, a_key_too_long_for_the_buffer_is_an_error_not_an_overflow)
{
	char value[101];
	char *out = malloc(16); /* on the heap: ASan sees any overflow */

	cr_assert_not_null(out);
	memset(value, 'k', 100);
	value[100] = '\0';
	cr_assert_eq(STORE_CALL(st, key_put_if_absent, "big", value), PC_OK);
	cr_assert_eq(STORE_CALL(st, key_get, "big", out, 16), PC_ESTORE);
	free(out);

	out = malloc(101);
	cr_assert_not_null(out);
	cr_assert_eq(STORE_CALL(st, key_get, "big", out, 100), PC_ESTORE, "no room for the NUL");
	cr_assert_eq(STORE_CALL(st, key_get, "big", out, 101), PC_OK);
	cr_assert_str_eq(out, value);
	free(out);
}

/* ---- concurrency, durability ----------------------------------------------------------------- */

#define CONC_THREADS 8
#define CONC_USERS 200

struct conc_arg {
	unsigned thread;
	int failures;
	enum pc_err first_err;
};

static void *conc_insert(void *p)
{
	struct conc_arg *a = p;
	struct pc_user u, got;
	char email[64];
	enum pc_err err;
	unsigned i;

	for (i = 0; i < CONC_USERS; i++) {
		snprintf(email, sizeof(email), "t%u.u%u@example.com", a->thread, i);
		make_user(&u, a->thread * 1000 + i, email, NULL);
		err = STORE_CALL(st, user_insert, &u, NULL);
		if (err == PC_OK)
			err = STORE_CALL(st, user_by_id, u.id, &got);
		if (err != PC_OK) {
			if (a->failures++ == 0)
				a->first_err = err;
		}
	}
	return NULL;
}

/* Runs fn on n threads at once (each its struct conc_arg, numbered from 1)
 * and asserts that none of them counted a failure. */
static void conc_run(void *(*fn)(void *), unsigned n)
{
	struct conc_arg args[16];
	pthread_t t[16];
	unsigned i;

	cr_assert_leq(n, 16);
	for (i = 0; i < n; i++) {
		args[i] = (struct conc_arg){ .thread = i + 1 };
		cr_assert_eq(pthread_create(&t[i], NULL, fn, &args[i]), 0);
	}
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < n; i++)
		cr_assert_eq(args[i].failures, 0, "thread %u: %d failures, first %s", i,
			     args[i].failures, pc_strerror(args[i].first_err));
}

Test(store, concurrent_registrations_all_succeed, .timeout = 60)
{
	int64_t n = -1;

	conc_run(conc_insert, CONC_THREADS);
	cr_assert_eq(STORE_CALL(st, user_count, &n), PC_OK);
	cr_assert_eq(n, CONC_THREADS * CONC_USERS);
}

Test(store, data_survives_closing_and_reopening)
{
	struct pc_session_row row;
	struct pc_user u, got;
	char key[32];
	int applied = -1;
	bool revoked = false;

	make_user(&u, 1, "a@example.com", "keeper");
	insert_ok(&u);
	make_session(&row, "s1", u.id, 1700003600);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);
	cr_assert_eq(STORE_CALL(st, jti_revoke, "j1", u.id, 1700003600), PC_OK);
	cr_assert_eq(STORE_CALL(st, key_put_if_absent, "k", "v"), PC_OK);
	store_close(st);

	st = open_store();
	cr_assert_eq(STORE_CALL(st, migrate, &applied), PC_OK);
	cr_assert_eq(applied, 0);
	cr_assert_eq(STORE_CALL(st, user_by_username, "keeper", &got), PC_OK);
	assert_same_user(&got, &u);
	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, 1700000000, &got, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, jti_is_revoked, "j1", &revoked), PC_OK);
	cr_assert_eq(revoked, true);
	cr_assert_eq(STORE_CALL(st, key_get, "k", key, sizeof(key)), PC_OK);
	cr_assert_str_eq(key, "v");
}

Test(store, ping_answers)
{
	cr_assert_eq(store_ping(st), PC_OK);
}

/* ---- opening by URL ------------------------------------------------------------------------ */

/* What a reader makes of the bytes waiting on PostgreSQL's listening
 * socket (store_gen_fd_announces): a notification is an announcement; the
 * answer to the listener's probe (its LISTEN again) is not, alone or twice;
 * behind it a notification still is; an error (a server going down) is
 * not; an empty socket (the listener read it) and a closed one are not;
 * what cannot be told apart (TLS, a cut message, more than is peeked) is.
 * Each whole notification bumps the user its payload names, '' or a payload
 * that is no id every user; anything in doubt bumps every user. */
static struct pc_store peek_store; /* its stamps only */

static bool announces_after(const void *bytes, size_t n, bool close_writer)
{
	int sv[2];
	bool got;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (n > 0)
		cr_assert_eq(write(sv[1], bytes, n), (ssize_t)n);
	if (close_writer) {
		close(sv[1]);
		sv[1] = -1;
	}
	got = store_gen_fd_announces(&peek_store, sv[0]);
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return got;
}

/* Whether user id's remembered answers, stamped at stamp, still count. */
static bool peek_fresh(uint64_t stamp, const char *id)
{
	return store_cred_fresh(&peek_store, stamp, store_cred_bucket(id, strlen(id)));
}

/* A notification of channel portcullis_gen with payload into out; its size. */
static size_t notification(unsigned char *out, const char *payload)
{
	static const char chan[] = "portcullis_gen";
	size_t len = 4 + 4 + sizeof(chan) + strlen(payload) + 1;

	out[0] = 'A';
	out[1] = (unsigned char)(len >> 24);
	out[2] = (unsigned char)(len >> 16);
	out[3] = (unsigned char)(len >> 8);
	out[4] = (unsigned char)len;
	memcpy(out + 5, "\0\0\x30\x39", 4); /* the sender's pid */
	memcpy(out + 9, chan, sizeof(chan));
	memcpy(out + 9 + sizeof(chan), payload, strlen(payload) + 1);
	return 1 + len;
}

Test(store_open, a_notification_is_told_from_the_probes_answer)
{
	static const unsigned char notify[] = { 'A', 0, 0, 0, 10, 0, 0, 0, 1, 'x', 0 };
	static const unsigned char answer[] = { 'C', 0, 0, 0, 11, 'L', 'I', 'S', 'T', 'E', 'N', 0,
						'Z', 0, 0, 0, 5, 'I' };
	static const unsigned char error[] = { 'E', 0, 0, 0, 8, 'S', 'x', 0, 0 };
	unsigned char buf[3 * sizeof(answer) + sizeof(notify)], big[STORE_GEN_PEEK + 18];
	size_t i;

	atomic_init(&peek_store.cred_seq, 1);
	cr_assert(announces_after(notify, sizeof(notify), false));
	cr_assert_not(announces_after(answer, sizeof(answer), false), "the probe's answer");
	memcpy(buf, answer, sizeof(answer));
	memcpy(buf + sizeof(answer), answer, sizeof(answer));
	cr_assert_not(announces_after(buf, 2 * sizeof(answer), false), "two answers");
	memcpy(buf + sizeof(answer), notify, sizeof(notify));
	cr_assert(announces_after(buf, sizeof(answer) + sizeof(notify), false),
		  "a notification behind an answer");
	cr_assert_not(announces_after(error, sizeof(error), false), "a server going down");
	cr_assert_not(announces_after(NULL, 0, false), "read by the listener already");
	cr_assert_not(announces_after(NULL, 0, true), "closed");
	cr_assert(announces_after("\x17\x03\x03\x00\x20", 5, false), "TLS");
	cr_assert(announces_after(answer, 3, false), "cut short");
	cr_assert(announces_after(answer, 14, false), "the answer, its second message cut short");
	for (i = 0; i + sizeof(answer) <= sizeof(big); i += sizeof(answer))
		memcpy(big + i, answer, sizeof(answer));
	cr_assert(announces_after(big, i, false), "more than is peeked");
}

Test(store_open, a_peeked_notification_bumps_the_user_it_names)
{
	static const char x[] = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
	static const char y[] = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";
	static const char z[] = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d";
	static const char *const not_ids[] = {
		"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b0", /* one byte too long */
		"0190a1b2 c3d4",                       /* a byte no id holds */
		"user'1",
	};
	static const unsigned char answer[] = { 'C', 0, 0, 0, 11, 'L', 'I', 'S', 'T', 'E', 'N', 0,
						'Z', 0, 0, 0, 5, 'I' };
	unsigned char buf[4 * 96];
	uint64_t stamp;
	size_t n, one;

	cr_assert(store_cred_bucket(x, strlen(x)) != store_cred_bucket(y, strlen(y)));
	cr_assert(store_cred_bucket(x, strlen(x)) != store_cred_bucket(z, strlen(z)));
	cr_assert(store_cred_bucket(y, strlen(y)) != store_cred_bucket(z, strlen(z)));
	atomic_init(&peek_store.cred_seq, 1);

	/* one user's notification: that user, nobody else */
	stamp = store_cred_stamp(&peek_store);
	n = notification(buf, x);
	cr_assert(announces_after(buf, n, false));
	cr_assert_not(peek_fresh(stamp, x), "the named user is bumped");
	cr_assert(peek_fresh(stamp, y), "another user is not");

	/* two, behind the probe's answer: both users, not the third */
	stamp = store_cred_stamp(&peek_store);
	memcpy(buf, answer, sizeof(answer));
	n = sizeof(answer);
	n += notification(buf + n, x);
	n += notification(buf + n, y);
	cr_assert(announces_after(buf, n, false));
	cr_assert_not(peek_fresh(stamp, x));
	cr_assert_not(peek_fresh(stamp, y));
	cr_assert(peek_fresh(stamp, z), "a user no notification names");

	/* '' is every user */
	stamp = store_cred_stamp(&peek_store);
	n = notification(buf, "");
	cr_assert(announces_after(buf, n, false));
	cr_assert_not(peek_fresh(stamp, z), "'' bumps every user");

	/* a payload that is no id is every user */
	for (size_t i = 0; i < sizeof(not_ids) / sizeof(not_ids[0]); i++) {
		stamp = store_cred_stamp(&peek_store);
		n = notification(buf, not_ids[i]);
		cr_assert(announces_after(buf, n, false));
		cr_assert_not(peek_fresh(stamp, z), "payload %s bumps every user", not_ids[i]);
	}

	/* a whole one, then one cut short: every user */
	stamp = store_cred_stamp(&peek_store);
	one = notification(buf, x);
	n = one + notification(buf + one, y);
	cr_assert(announces_after(buf, n - 3, false));
	cr_assert_not(peek_fresh(stamp, x));
	cr_assert_not(peek_fresh(stamp, z), "a cut notification bumps every user");

	/* a length that runs past its strings, or strings past its length */
	stamp = store_cred_stamp(&peek_store);
	n = notification(buf, x);
	buf[4]--; /* the payload's end falls outside the message */
	cr_assert(announces_after(buf, n, false));
	cr_assert_not(peek_fresh(stamp, z), "a malformed notification bumps every user");

	/* the probe's answer alone and an error bump nobody */
	stamp = store_cred_stamp(&peek_store);
	cr_assert_not(announces_after(answer, sizeof(answer), false));
	cr_assert_not(announces_after(NULL, 0, true));
	cr_assert(peek_fresh(stamp, x) && peek_fresh(stamp, z));
}

Test(store_open, an_unknown_scheme_is_refused_with_a_message)
{
	struct pc_errinfo ei = { 0 };
	struct pc_store *s = (struct pc_store *)1;

	cr_assert_eq(store_open("mysql://localhost/db", &s, &ei), PC_EINVAL);
	cr_assert_null(s);
	cr_assert_str_eq(ei.detail, "unsupported database URL scheme");
	cr_assert_eq(store_open("", &s, NULL), PC_EINVAL);
	cr_assert_eq(store_open(NULL, &s, NULL), PC_EINVAL);
}

Test(store_open, the_url_scheme_picks_the_back_end)
{
	char url[PATH_MAX + 32];
	struct pc_store *s = NULL;

	backend_url(url, sizeof(url));
	cr_assert_eq(store_open(url, &s, NULL), PC_OK);
	cr_assert_eq(s->drv, backend_driver());
	store_close(s);
	store_close(NULL);
}

Test(store_open, postgres_urls_of_both_schemes_open_and_a_bad_one_never_echoes_its_password)
{
	static const char *const bad[] = {
		"postgres://u:s3cret-pw@host:notaport/db",
		"postgresql://u:s3cret-pw@h/db?nosuchparameter=1",
		"postgresx://u:s3cret-pw@h/db",
	};
	char url[PATH_MAX + 128];
	struct pc_errinfo ei;
	struct pc_store *s = NULL;
	enum pc_err err;
	size_t i;

	if (!backend_is_pg())
		cr_skip_test("PostgreSQL only");
	backend_url(url, sizeof(url));
	cr_assert_eq(strncmp(url, "postgres://", 11), 0);
	{
		char other[sizeof(url) + 2];

		snprintf(other, sizeof(other), "postgresql://%s", url + 11);
		cr_assert_eq(store_open(other, &s, NULL), PC_OK);
		cr_assert_eq(s->drv, &store_postgres_driver);
		store_close(s);
	}
	if (getenv("PORTCULLIS_TEST_PG_DIR") != NULL) {
		/* the unix socket of scripts/with-postgres' cluster, as ?host=/dir */
		const char *port = strrchr(pg_base_url(), ':');
		char sock[PATH_MAX + 128];

		cr_assert_not_null(port);
		snprintf(sock, sizeof(sock), "postgres://postgres@/portcullis?host=%s&port=%d",
			 getenv("PORTCULLIS_TEST_PG_DIR"), atoi(port + 1));
		cr_assert_eq(store_open(sock, &s, NULL), PC_OK, "%s", sock);
		cr_assert_eq(store_ping(s), PC_OK);
		store_close(s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ei, 0, sizeof(ei));
		s = NULL;
		/* refused by the parse (PC_EINVAL) or by the connection (PC_ESTORE) */
		err = store_open(bad[i], &s, &ei);
		cr_assert(err == PC_EINVAL || err == PC_ESTORE, "%s: %s", bad[i], pc_strerror(err));
		cr_assert_null(s);
		cr_assert_null(strstr(ei.detail, "s3cret"), "%s", ei.detail);
	}
}

Test(store_open, postgres_that_nobody_answers_fails_at_open_in_time)
{
	const struct store_conf conf = { .pool_size = 2, .timeout_ms = 2000 };
	struct pc_errinfo ei = { 0 };
	struct pc_store *s = NULL;
	int64_t t0;

	if (!backend_is_pg())
		cr_skip_test("PostgreSQL only");
	t0 = time_now_ms();
	/* port 1: nothing listens; refused at once */
	cr_assert_eq(store_open_conf("postgres://u:s3cret-pw@127.0.0.1:1/db", &conf, &s, &ei),
		     PC_ESTORE);
	cr_assert_null(s);
	cr_assert_null(strstr(ei.detail, "s3cret"), "%s", ei.detail);
	cr_assert_lt(time_now_ms() - t0, 3000);
}

struct ping_arg {
	struct pc_store *s;
	enum pc_err err;
	int64_t ms;
};

static void *ping_thread(void *p)
{
	struct ping_arg *a = p;
	int64_t t0 = time_now_ms();

	a->err = store_ping(a->s);
	a->ms = time_now_ms() - t0;
	return NULL;
}

Test(store_open, postgres_a_full_pool_answers_busy_after_its_timeout)
{
	const struct store_conf conf = { .pool_size = 1, .timeout_ms = 300 };
	char url[PATH_MAX + 128];
	struct ping_arg a = { 0 };
	pthread_t t;

	if (!backend_is_pg())
		cr_skip_test("PostgreSQL only");
	backend_url(url, sizeof(url));
	cr_assert_eq(store_open_conf(url, &conf, &a.s, NULL), PC_OK);
	cr_assert_eq(store_begin(a.s), PC_OK); /* this thread holds the one connection */
	cr_assert_eq(pthread_create(&t, NULL, ping_thread, &a), 0);
	pthread_join(t, NULL);
	cr_expect_eq(a.err, PC_EBUSY, "%s", pc_strerror(a.err));
	cr_expect(a.ms >= 250 && a.ms < 2000, "waited %lld ms", (long long)a.ms);
	cr_assert_eq(store_rollback(a.s), PC_OK); /* given back */
	cr_assert_eq(pthread_create(&t, NULL, ping_thread, &a), 0);
	pthread_join(t, NULL);
	cr_expect_eq(a.err, PC_OK, "%s", pc_strerror(a.err));
	store_close(a.s);
}

Test(store_open, sqlite_in_memory_and_hosts_are_refused)
{
	static const char *const bad[] = {
		"sqlite://", "sqlite:///:memory:", "sqlite:///", "sqlite://host/x.db",
	};
	struct pc_errinfo ei;
	struct pc_store *s;
	size_t i;

	if (backend_driver()->dialect != STORE_DIALECT_SQLITE)
		cr_skip_test("SQLite URLs only");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ei, 0, sizeof(ei));
		cr_assert_eq(store_open(bad[i], &s, &ei), PC_EINVAL, "%s", bad[i]);
		cr_assert_neq(ei.detail[0], '\0', "%s has a message", bad[i]);
	}
	memset(&ei, 0, sizeof(ei));
	cr_assert_eq(store_open("sqlite:///:memory:", &s, &ei), PC_EINVAL);
	cr_assert_not_null(strstr(ei.detail, "memory"));
}

Test(store_open, sqlite_commits_are_durable_unless_the_url_says_normal)
{
	char url[PATH_MAX + 64];
	struct pc_errinfo ei = { 0 };
	struct pc_store *s = NULL;
	int64_t level = -1;

	if (backend_driver()->dialect != STORE_DIALECT_SQLITE)
		cr_skip_test("SQLite URLs only");
	backend_url(url, sizeof(url));
	cr_assert_eq(store_open(url, &s, NULL), PC_OK);
	cr_assert_eq(store_durability(s, &level), PC_OK);
	cr_assert_eq(level, 2, "synchronous=FULL by default");
	store_close(s);
	strcat(url, "?synchronous=normal");
	cr_assert_eq(store_open(url, &s, NULL), PC_OK);
	cr_assert_eq(store_durability(s, &level), PC_OK);
	cr_assert_eq(level, 1);
	store_close(s);
	backend_url(url, sizeof(url));
	strcat(url, "?synchronous=off");
	cr_assert_eq(store_open(url, &s, &ei), PC_EINVAL);
	cr_assert_not_null(strstr(ei.detail, "synchronous"));
}

Test(store_open, sqlite_url_takes_synchronous_and_mmap_mb_joined_by_ampersand)
{
	static const char *const bad[] = { "?mmap_mb=1025", "?mmap_mb=", "?mmap_mb=-1",
					   "?mmap_mb=1x", "?synchronous=normal&", "?mmap_mb=8&x=1",
					   "?mmap_mb=99999999999" };
	char url[PATH_MAX + 64];
	struct pc_errinfo ei;
	struct pc_store *s = NULL;
	int64_t level = -1;
	size_t i;

	if (backend_driver()->dialect != STORE_DIALECT_SQLITE)
		cr_skip_test("SQLite URLs only");
	backend_url(url, sizeof(url));
	strcat(url, "?mmap_mb=16&synchronous=normal");
	cr_assert_eq(store_open(url, &s, NULL), PC_OK, "%s", url);
	cr_assert_eq(store_durability(s, &level), PC_OK);
	cr_assert_eq(level, 1, "both parameters read");
	store_close(s);
	backend_url(url, sizeof(url));
	strcat(url, "?synchronous=full&mmap_mb=0");
	cr_assert_eq(store_open(url, &s, NULL), PC_OK, "%s", url);
	cr_assert_eq(store_durability(s, &level), PC_OK);
	cr_assert_eq(level, 2);
	store_close(s);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		backend_url(url, sizeof(url));
		strcat(url, bad[i]);
		memset(&ei, 0, sizeof(ei));
		cr_expect_eq(store_open(url, &s, &ei), PC_EINVAL, "%s", bad[i]);
		cr_expect_not_null(strstr(ei.detail, "mmap_mb"), "%s", ei.detail);
	}
}

Test(store_open, a_sqlite_file_others_may_read_is_refused)
{
	static const char *const files[] = { "", "-wal", "-shm" };
	char url[PATH_MAX + 64], path[PATH_MAX + 16];
	struct pc_errinfo ei;
	struct pc_store *s = NULL;
	struct stat sb;
	size_t i;

	if (backend_driver()->dialect != STORE_DIALECT_SQLITE)
		cr_skip_test("SQLite files only");
	backend_url(url, sizeof(url));
	cr_assert_eq(store_open(url, &s, NULL), PC_OK);
	store_close(s);
	snprintf(path, sizeof(path), "%s/store.db", test_dir);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600, "made private");
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/store.db%s", test_dir, files[i]);
		close(open(path, O_WRONLY | O_CREAT, 0600));
		cr_assert_eq(chmod(path, 0644), 0);
		memset(&ei, 0, sizeof(ei));
		cr_assert_eq(store_open(url, &s, &ei), PC_EINVAL, "%s", files[i]);
		cr_assert_not_null(strstr(ei.detail, "0644"), "%s", ei.detail);
		cr_assert_not_null(strstr(ei.detail, "chmod 600"), "%s", ei.detail);
		cr_assert_eq(chmod(path, 0600), 0);
	}
	cr_assert_eq(chmod(path, 0620), 0);
	cr_assert_eq(store_open(url, &s, &ei), PC_EINVAL, "group-writable too");
	cr_assert_eq(chmod(path, 0600), 0);
	cr_assert_eq(store_open(url, &s, NULL), PC_OK);
	store_close(s);
}

struct lookup_arg {
	struct pc_store *s;
	const char *id;
	enum pc_err err;
};

static void *lookup_thread(void *p)
{
	struct lookup_arg *a = p;
	struct pc_user got;

	a->err = STORE_CALL(a->s, user_by_id, a->id, &got);
	return NULL;
}

Test(store_open, sqlite_three_slashes_is_a_relative_path)
{
	struct lookup_arg arg;
	struct pc_store *s = NULL;
	struct pc_user u;
	struct stat sb;
	pthread_t t;
	int applied = 0;

	if (backend_driver()->dialect != STORE_DIALECT_SQLITE)
		cr_skip_test("SQLite URLs only");

	cr_assert_eq(chdir(test_dir), 0);
	cr_assert_eq(store_open("sqlite:///rel.db", &s, NULL), PC_OK);
	cr_assert_eq(store_migrate(s, &applied), PC_OK);
	make_user(&u, 1, "a@example.com", NULL);
	cr_assert_eq(STORE_CALL(s, user_insert, &u, NULL), PC_OK);

	/* A thread's first call after a chdir still opens the same file. */
	cr_assert_eq(chdir("/"), 0);
	arg = (struct lookup_arg){ .s = s, .id = u.id, .err = PC_EINTERNAL };
	cr_assert_eq(pthread_create(&t, NULL, lookup_thread, &arg), 0);
	pthread_join(t, NULL);
	cr_assert_eq(arg.err, PC_OK, "%s", pc_strerror(arg.err));
	store_close(s);

	cr_assert_eq(chdir(test_dir), 0);
	cr_assert_eq(stat("rel.db", &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600, "the database is private to its owner");
}

Test(store_open, sqlite_a_missing_directory_is_reported)
{
	char url[PATH_MAX + 64];
	struct pc_errinfo ei = { 0 };
	struct pc_store *s = NULL;
	enum pc_err err;

	if (backend_driver()->dialect != STORE_DIALECT_SQLITE)
		cr_skip_test("SQLite URLs only");

	snprintf(url, sizeof(url), "sqlite:///%s/no/such/dir/x.db", test_dir);
	err = store_open(url, &s, &ei);
	cr_assert(err == PC_EINVAL || err == PC_ESTORE);
	cr_assert_null(s);
	cr_assert_not_null(strstr(ei.detail, "no/such/dir"), "%s", ei.detail);
}

/* ---- one-time tokens and the outbox  ------------------------------------------ */

static void make_token(struct pc_onetime_row *t, const char *seed, const struct pc_user *u,
		       const char *purpose, int64_t created, int64_t expires)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->token_hash, sizeof(t->token_hash), "%-64.64s", seed);
	for (char *p = t->token_hash; *p != '\0'; p++)
		if (*p == ' ')
			*p = '0';
	snprintf(t->purpose, sizeof(t->purpose), "%s", purpose);
	snprintf(t->user_id, sizeof(t->user_id), "%s", u->id);
	snprintf(t->email, sizeof(t->email), "%s", u->email);
	for (char *p = t->email; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	t->created_at = created;
	t->expires_at = expires;
}

/* An outbox row on the heap (it is large); free() it. */
static struct pc_outbox_row *make_msg(const char *kind, const char *rcpt, const char *body,
				      int64_t now)
{
	struct pc_outbox_row *m = calloc(1, sizeof(*m));

	cr_assert_not_null(m);
	snprintf(m->kind, sizeof(m->kind), "%s", kind);
	snprintf(m->recipient, sizeof(m->recipient), "%s", rcpt);
	snprintf(m->subject, sizeof(m->subject), "Subject of %s", body);
	snprintf(m->body_text, sizeof(m->body_text), "%s", body);
	snprintf(m->body_html, sizeof(m->body_html), "<p>%s</p>", body);
	m->next_attempt_at = now;
	m->created_at = now;
	return m;
}

static void issue_ok(const struct pc_onetime_row *t, bool void_older)
{
	enum pc_err err = STORE_CALL(st, onetime_issue, t, void_older, NULL, 0);

	cr_assert_eq(err, PC_OK, "issue: %s", pc_strerror(err));
}

static int64_t outbox_rows(void)
{
	return backend_raw_int("SELECT count(*) FROM mail_outbox");
}

Test(store, a_token_and_its_mails_are_written_together)
{
	const int64_t now = 1700000000;
	struct pc_outbox_row *a = make_msg("mail", "a@example.com", "first", now);
	struct pc_outbox_row *b = make_msg("webhook", "http://127.0.0.1:9/h", "", now);
	struct pc_outbox_row *got = calloc(1, sizeof(*got));
	const struct pc_outbox_row *msgs[] = { a, b };
	struct pc_onetime_row t, tgot;
	struct pc_user u;

	snprintf(b->payload, sizeof(b->payload), "{\"event\":\"x\"}");
	make_user(&u, 1, "A@Example.com", NULL);
	insert_ok(&u);
	make_token(&t, "t1", &u, "reset", now, now + 3600);
	cr_assert_eq(STORE_CALL(st, onetime_issue, &t, true, msgs, 2), PC_OK);

	cr_assert_eq(STORE_CALL(st, onetime_get, t.token_hash, &tgot), PC_OK);
	cr_assert_str_eq(tgot.purpose, "reset");
	cr_assert_str_eq(tgot.user_id, u.id);
	cr_assert_str_eq(tgot.email, "a@example.com");
	cr_assert_eq(tgot.created_at, now);
	cr_assert_eq(tgot.expires_at, now + 3600);
	cr_assert_eq(tgot.used_at, 0);

	cr_assert_eq(STORE_CALL(st, outbox_claim, now, now + 60, got), PC_OK);
	cr_assert_str_eq(got->kind, "mail");
	cr_assert_str_eq(got->recipient, "a@example.com");
	cr_assert_str_eq(got->subject, "Subject of first");
	cr_assert_str_eq(got->body_text, "first");
	cr_assert_str_eq(got->body_html, "<p>first</p>");
	cr_assert_eq(got->attempts, 1);
	cr_assert_eq(got->claimed_until, now + 60);
	cr_assert_eq(STORE_CALL(st, outbox_claim, now, now + 60, got), PC_OK);
	cr_assert_str_eq(got->kind, "webhook");
	cr_assert_str_eq(got->payload, "{\"event\":\"x\"}");
	cr_assert_eq(STORE_CALL(st, outbox_claim, now, now + 60, got), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, onetime_get, "ff", &tgot), PC_ENOTFOUND);
	free(a);
	free(b);
	free(got);
}

Test(store, issuing_for_a_missing_user_writes_nothing)
{
	const int64_t now = 1700000000;
	struct pc_outbox_row *a = make_msg("mail", "ghost@example.com", "x", now);
	const struct pc_outbox_row *msgs[] = { a };
	struct pc_onetime_row t, got;
	struct pc_user ghost;

	make_user(&ghost, 9, "ghost@example.com", NULL); /* never inserted */
	make_token(&t, "t1", &ghost, "reset", now, now + 3600);
	cr_assert_eq(STORE_CALL(st, onetime_issue, &t, true, msgs, 1), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, onetime_get, t.token_hash, &got), PC_ENOTFOUND);
	cr_assert_eq(outbox_rows(), 0, "the mail went with its token");

	/* messages alone (an event without a token) */
	cr_assert_eq(STORE_CALL(st, onetime_issue, NULL, false, msgs, 1), PC_OK);
	cr_assert_eq(outbox_rows(), 1);
	free(a);
}

Test(store, a_new_token_voids_the_older_ones_of_its_purpose_only)
{
	const int64_t now = 1700000000;
	struct pc_onetime_row a, v, b, got;
	struct pc_user u;

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_token(&a, "a", &u, "reset", now, now + 3600);
	make_token(&v, "v", &u, "verify", now, now + 3600);
	make_token(&b, "b", &u, "reset", now + 5, now + 3605);
	issue_ok(&a, true);
	issue_ok(&v, true);
	issue_ok(&b, true);

	cr_assert_eq(STORE_CALL(st, onetime_get, a.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, now + 5, "the older reset token is void");
	cr_assert_eq(STORE_CALL(st, onetime_get, v.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, 0, "a token of another purpose is not");
	cr_assert_eq(STORE_CALL(st, onetime_get, b.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, 0);
	cr_assert_eq(STORE_CALL(st, onetime_issue, &b, true, NULL, 0), PC_EEXISTS);
}

Test(store, a_token_is_consumed_once_and_only_while_good)
{
	const int64_t now = 1700000000;
	struct pc_onetime_row t, got;
	struct pc_user u;

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_token(&t, "t", &u, "verify", now, now + 100);
	issue_ok(&t, false);

	cr_assert_eq(STORE_CALL(st, onetime_consume, t.token_hash, "reset", now, NULL), PC_ENOTFOUND,
		     "another purpose");
	cr_assert_eq(STORE_CALL(st, onetime_consume, t.token_hash, "verify", now + 100, NULL),
		     PC_ENOTFOUND, "expired at expires_at");
	cr_assert_eq(STORE_CALL(st, onetime_consume, "ab", "verify", now, NULL), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, onetime_get, t.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, 0, "refusals leave it unused");

	cr_assert_eq(STORE_CALL(st, onetime_consume, t.token_hash, "verify", now + 99, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, onetime_get, t.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, now + 99);
	cr_assert_eq(STORE_CALL(st, onetime_consume, t.token_hash, "verify", now + 99, NULL),
		     PC_ENOTFOUND, "once only");
}

Test(store, a_reset_sets_the_password_voids_the_rest_and_ends_sessions)
{
	const int64_t now = 1700000000;
	struct pc_outbox_row *ev = make_msg("webhook", "http://127.0.0.1:9/h", "", now);
	const struct pc_outbox_row *msgs[] = { ev };
	struct pc_onetime_apply apply = { 0 };
	struct pc_onetime_row a, b, got;
	struct pc_session_row sess;
	struct pc_user u, other, ugot;

	make_user(&u, 1, "A@example.com", NULL);
	make_user(&other, 2, "b@example.com", NULL);
	insert_ok(&u);
	insert_ok(&other);
	make_session(&sess, "s1", u.id, now + 3600);
	cr_assert_eq(STORE_CALL(st, session_insert, &sess), PC_OK);
	make_session(&sess, "s2", other.id, now + 3600);
	cr_assert_eq(STORE_CALL(st, session_insert, &sess), PC_OK);
	make_token(&a, "a", &u, "reset", now, now + 3600);
	make_token(&b, "b", &u, "reset", now, now + 3600);
	issue_ok(&a, false);
	issue_ok(&b, false);

	apply.password_hash = "$argon2id$v=19$m=1024,t=1,p=1$new$hash";
	apply.msgs = msgs;
	apply.nmsgs = 1;
	cr_assert_eq(STORE_CALL(st, onetime_consume, a.token_hash, "reset", now + 10, &apply), PC_OK);

	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &ugot), PC_OK);
	cr_assert_str_eq(ugot.hashed_password, apply.password_hash);
	cr_assert_eq(ugot.password_changed_at, now + 10);
	cr_assert_eq(ugot.updated_at, now + 10);
	cr_assert_eq(STORE_CALL(st, onetime_get, b.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, now + 10, "the user's other reset token is void");
	make_session(&sess, "s1", u.id, now + 3600);
	cr_assert_eq(STORE_CALL(st, session_user, sess.token_hash, now, &ugot, NULL), PC_ENOTFOUND);
	make_session(&sess, "s2", other.id, now + 3600);
	cr_assert_eq(STORE_CALL(st, session_user, sess.token_hash, now, &ugot, NULL), PC_OK,
		     "other users keep theirs");
	cr_assert_eq(outbox_rows(), 1, "the event went with it");
	free(ev);
}

Test(store, a_reset_moves_password_changed_at_strictly_later)
{
	const int64_t now = 1700000000;
	struct pc_onetime_apply apply = { .password_hash = "$argon2id$new" };
	struct pc_onetime_row t;
	struct pc_user u, ugot;

	make_user(&u, 1, "a@example.com", NULL);
	u.password_changed_at = now + 5; /* changed "later" than this reset's clock */
	insert_ok(&u);
	make_token(&t, "t", &u, "reset", now, now + 3600);
	issue_ok(&t, false);
	cr_assert_eq(STORE_CALL(st, onetime_consume, t.token_hash, "reset", now, &apply), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &ugot), PC_OK);
	cr_assert_eq(ugot.password_changed_at, store_password_changed_at(now + 5, now));
	cr_assert_eq(ugot.password_changed_at, now + 6);
	cr_assert_eq(ugot.updated_at, now);
}

Test(store, a_reset_for_an_inactive_or_moved_user_changes_nothing)
{
	const int64_t now = 1700000000;
	struct pc_outbox_row *ev = make_msg("webhook", "http://127.0.0.1:9/h", "", now);
	const struct pc_outbox_row *msgs[] = { ev };
	struct pc_onetime_apply apply = { .password_hash = "$argon2id$new",
					  .msgs = msgs, .nmsgs = 1 };
	struct pc_onetime_row t, got;
	struct pc_user u, ugot;

	make_user(&u, 1, "a@example.com", NULL);
	u.is_active = false;
	insert_ok(&u);
	make_token(&t, "t", &u, "reset", now, now + 3600);
	issue_ok(&t, false);
	cr_assert_eq(STORE_CALL(st, onetime_consume, t.token_hash, "reset", now, &apply),
		     PC_ENOTFOUND);

	u.is_active = true;
	snprintf(u.email, sizeof(u.email), "moved@example.com");
	cr_assert_eq(STORE_CALL(st, user_update, &u, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, onetime_consume, t.token_hash, "reset", now, &apply),
		     PC_ENOTFOUND, "the token went to the old address");

	cr_assert_eq(STORE_CALL(st, onetime_get, t.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, 0, "rolled back: the token is not spent");
	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &ugot), PC_OK);
	cr_assert_str_eq(ugot.hashed_password, u.hashed_password);
	cr_assert_eq(outbox_rows(), 0);
	free(ev);
}

Test(store, a_verify_token_verifies_only_the_address_it_was_sent_to)
{
	const int64_t now = 1700000000;
	struct pc_onetime_apply apply = { .set_verified = true };
	struct pc_onetime_row t1, t2, got;
	struct pc_user u, ugot;

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_token(&t1, "t1", &u, "verify", now, now + 3600);
	issue_ok(&t1, false);
	snprintf(u.email, sizeof(u.email), "new@example.com");
	cr_assert_eq(STORE_CALL(st, user_update, &u, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, onetime_consume, t1.token_hash, "verify", now, &apply),
		     PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &ugot), PC_OK);
	cr_assert_eq(ugot.is_verified, false);
	cr_assert_eq(STORE_CALL(st, onetime_get, t1.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, 0);

	make_token(&t2, "t2", &u, "verify", now, now + 3600);
	issue_ok(&t2, false);
	cr_assert_eq(STORE_CALL(st, onetime_consume, t2.token_hash, "verify", now + 1, &apply), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &ugot), PC_OK);
	cr_assert_eq(ugot.is_verified, true);
	cr_assert_eq(ugot.updated_at, now + 1);
}

Test(store, a_password_change_voids_outstanding_reset_tokens)
{
	const int64_t now = 1700000000;
	struct pc_onetime_row r, v, got;
	struct pc_user u;

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_token(&r, "r", &u, "reset", now, now + 3600);
	make_token(&v, "v", &u, "verify", now, now + 3600);
	issue_ok(&r, false);
	issue_ok(&v, false);

	/* a rehash (same password_changed_at) voids nothing */
	snprintf(u.hashed_password, sizeof(u.hashed_password), "$argon2id$rehashed");
	cr_assert_eq(STORE_CALL(st, user_update, &u, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, onetime_get, r.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, 0);

	u.password_changed_at = now + 7;
	cr_assert_eq(STORE_CALL(st, user_update, &u, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, onetime_get, r.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, now + 7);
	cr_assert_eq(STORE_CALL(st, onetime_get, v.token_hash, &got), PC_OK);
	cr_assert_eq(got.used_at, 0, "verify tokens are not about the password");
}

Test(store, deleting_a_user_deletes_its_tokens)
{
	const int64_t now = 1700000000;
	struct pc_onetime_row t, got;
	struct pc_user u;

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_token(&t, "t", &u, "reset", now, now + 3600);
	issue_ok(&t, false);
	cr_assert_eq(STORE_CALL(st, user_delete, u.id), PC_OK);
	cr_assert_eq(STORE_CALL(st, onetime_get, t.token_hash, &got), PC_ENOTFOUND);
}

/* One row in the outbox, due at now; its id. */
static int64_t enqueue_one(int64_t now, const char *body)
{
	struct pc_outbox_row *m = make_msg("mail", "a@example.com", body, now);
	const struct pc_outbox_row *msgs[] = { m };

	cr_assert_eq(STORE_CALL(st, onetime_issue, NULL, false, msgs, 1), PC_OK);
	free(m);
	return backend_raw_int("SELECT max(id) FROM mail_outbox");
}

Test(store, a_claim_leases_the_row_until_the_lease_runs_out)
{
	const int64_t now = 1700000000;
	struct pc_outbox_row *got = calloc(1, sizeof(*got));
	int64_t id = enqueue_one(now, "hello");
	bool due = false;

	cr_assert_eq(STORE_CALL(st, outbox_due, now - 1, &due), PC_OK);
	cr_assert_eq(due, false, "not due before next_attempt_at");
	cr_assert_eq(STORE_CALL(st, outbox_due, now, &due), PC_OK);
	cr_assert_eq(due, true);
	cr_assert_eq(STORE_CALL(st, outbox_claim, now, now + 10, got), PC_OK);
	cr_assert_eq(got->id, id);
	cr_assert_eq(got->attempts, 1);

	cr_assert_eq(STORE_CALL(st, outbox_due, now + 9, &due), PC_OK);
	cr_assert_eq(due, false, "leased");
	cr_assert_eq(STORE_CALL(st, outbox_claim, now + 9, now + 19, got), PC_ENOTFOUND);

	/* the sender died: the lease runs out and the row is taken again */
	cr_assert_eq(STORE_CALL(st, outbox_claim, now + 10, now + 20, got), PC_OK);
	cr_assert_eq(got->id, id);
	cr_assert_eq(got->attempts, 2);
	cr_assert_str_eq(got->body_text, "hello");
	free(got);
}

Test(store, a_failed_attempt_waits_for_its_retry_and_keeps_the_error)
{
	const int64_t now = 1700000000;
	struct pc_outbox_row *got = calloc(1, sizeof(*got));
	int64_t id = enqueue_one(now, "hello");
	bool due = true;

	cr_assert_eq(STORE_CALL(st, outbox_claim, now, now + 60, got), PC_OK);
	cr_assert_eq(STORE_CALL(st, outbox_failed, id, now, now + 5, "smtp: connection refused",
				 false), PC_OK);
	cr_assert_eq(STORE_CALL(st, outbox_due, now + 4, &due), PC_OK);
	cr_assert_eq(due, false, "the lease is released but the retry is not due yet");
	cr_assert_eq(STORE_CALL(st, outbox_due, now + 5, &due), PC_OK);
	cr_assert_eq(due, true);
	cr_assert_eq(STORE_CALL(st, outbox_get, id, got), PC_OK);
	cr_assert_str_eq(got->last_error, "smtp: connection refused");
	cr_assert_eq(got->claimed_until, 0);
	cr_assert_eq(got->next_attempt_at, now + 5);
	cr_assert_eq(got->sent_at, 0);
	cr_assert_str_eq(got->body_text, "hello", "kept for the retry");
	cr_assert_eq(STORE_CALL(st, outbox_failed, 999, now, now, NULL, false), PC_ENOTFOUND);
	free(got);
}

Test(store, outbox_stats_count_the_waiting_the_failed_and_the_oldest)
{
	const int64_t now = 1700000000;
	struct pc_outbox_row *got = calloc(1, sizeof(*got));
	struct pc_outbox_stats os;
	int64_t a, b, c;

	cr_assert_eq(STORE_CALL(st, outbox_stats, &os), PC_OK);
	cr_assert_eq(os.pending, 0);
	cr_assert_eq(os.failed, 0);
	cr_assert_eq(os.oldest_created_at, 0);
	a = enqueue_one(now, "one");
	b = enqueue_one(now + 5, "two");
	c = enqueue_one(now + 9, "three");
	backend_raw_exec("UPDATE mail_outbox SET created_at = next_attempt_at");
	cr_assert_eq(STORE_CALL(st, outbox_claim, now, now + 60, got), PC_OK);
	cr_assert_eq(got->id, a);
	cr_assert_eq(STORE_CALL(st, outbox_stats, &os), PC_OK);
	cr_assert_eq(os.pending, 3);
	cr_assert_eq(os.failed, 0, "an attempt in flight has not failed");
	cr_assert_eq(os.oldest_created_at, now);
	cr_assert_eq(STORE_CALL(st, outbox_failed, a, now, now + 5, "refused", false), PC_OK);
	cr_assert_eq(STORE_CALL(st, outbox_stats, &os), PC_OK);
	cr_assert_eq(os.failed, 1);
	/* delivered and given-up rows leave the figures */
	cr_assert_eq(STORE_CALL(st, outbox_sent, a, now + 6), PC_OK);
	cr_assert_eq(STORE_CALL(st, outbox_claim, now + 6, now + 60, got), PC_OK);
	cr_assert_eq(got->id, b);
	cr_assert_eq(STORE_CALL(st, outbox_failed, b, now + 7, 0, "550", true), PC_OK);
	cr_assert_eq(STORE_CALL(st, outbox_stats, &os), PC_OK);
	cr_assert_eq(os.pending, 1);
	cr_assert_eq(os.failed, 0);
	cr_assert_eq(os.oldest_created_at, now + 9);
	(void)c;
	free(got);
}

Test(store, a_sent_or_given_up_row_loses_its_bodies_and_is_never_claimed_again)
{
	const int64_t now = 1700000000;
	struct pc_outbox_row *got = calloc(1, sizeof(*got));
	int64_t sent = enqueue_one(now, "secret link one");
	int64_t dead = enqueue_one(now, "secret link two");
	bool due = true;

	cr_assert_eq(STORE_CALL(st, outbox_claim, now, now + 60, got), PC_OK);
	cr_assert_eq(got->id, sent);
	cr_assert_eq(STORE_CALL(st, outbox_sent, sent, now + 1), PC_OK);
	cr_assert_eq(STORE_CALL(st, outbox_claim, now, now + 60, got), PC_OK);
	cr_assert_eq(got->id, dead);
	cr_assert_eq(STORE_CALL(st, outbox_failed, dead, now + 2, 0, "550 no such user", true), PC_OK);

	cr_assert_eq(STORE_CALL(st, outbox_due, now + 1000000, &due), PC_OK);
	cr_assert_eq(due, false);
	cr_assert_eq(STORE_CALL(st, outbox_get, sent, got), PC_OK);
	cr_assert_eq(got->sent_at, now + 1);
	cr_assert_str_eq(got->body_text, "");
	cr_assert_str_eq(got->body_html, "");
	cr_assert_str_eq(got->recipient, "a@example.com", "metadata stays");
	cr_assert_eq(STORE_CALL(st, outbox_get, dead, got), PC_OK);
	cr_assert_eq(got->gave_up_at, now + 2);
	cr_assert_str_eq(got->last_error, "550 no such user");
	cr_assert_str_eq(got->body_text, "");
	cr_assert_eq(backend_raw_int("SELECT count(*) FROM mail_outbox WHERE body_text LIKE '%secret%'"
				     " OR body_html LIKE '%secret%'"), 0);
	free(got);
}

Test(store, purge_removes_expired_tokens_and_old_finished_rows)
{
	const int64_t now = 1700000000;
	struct pc_outbox_row *got = calloc(1, sizeof(*got));
	struct pc_onetime_row old, live, tgot;
	int64_t removed = -1, a, b;
	struct pc_user u;

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_token(&old, "old", &u, "verify", now - 100, now);
	make_token(&live, "live", &u, "verify", now, now + 1);
	issue_ok(&old, false);
	issue_ok(&live, false);
	a = enqueue_one(now - 50, "a");
	b = enqueue_one(now - 50, "b");
	cr_assert_eq(STORE_CALL(st, outbox_claim, now, now + 60, got), PC_OK);
	cr_assert_eq(STORE_CALL(st, outbox_sent, a, now - 10), PC_OK);

	cr_assert_eq(STORE_CALL(st, mail_purge, now, now - 10, &removed), PC_OK);
	cr_assert_eq(removed, 2);
	cr_assert_eq(STORE_CALL(st, onetime_get, old.token_hash, &tgot), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, onetime_get, live.token_hash, &tgot), PC_OK);
	cr_assert_eq(STORE_CALL(st, outbox_get, a, got), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, outbox_get, b, got), PC_OK, "unsent rows are never purged");
	free(got);
}

#define CLAIM_ROWS 60
#define CLAIM_THREADS 8

struct claim_arg {
	int64_t ids[CLAIM_ROWS];
	int n;
	int errors;
};

static void *claim_thread(void *p)
{
	struct claim_arg *a = p;
	struct pc_outbox_row *row = calloc(1, sizeof(*row));
	enum pc_err err;

	/* each sender its own store, as instances have: no pool in common */
	struct pc_store *own = open_store();

	for (;;) {
		err = STORE_CALL(own, outbox_claim, 1700000000, 1700003600, row);
		if (err == PC_ENOTFOUND)
			break;
		if (err != PC_OK || a->n >= CLAIM_ROWS) {
			a->errors++;
			break;
		}
		a->ids[a->n++] = row->id;
	}
	store_close(own);
	free(row);
	return NULL;
}

Test(store, two_senders_never_hold_the_same_row, .timeout = 60)
{
	struct claim_arg args[CLAIM_THREADS];
	pthread_t t[CLAIM_THREADS];
	int seen[CLAIM_ROWS + 1] = { 0 };
	int total = 0, i, j;

	for (i = 0; i < CLAIM_ROWS; i++)
		cr_assert_eq(enqueue_one(1700000000, "x"), i + 1);
	for (i = 0; i < CLAIM_THREADS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		cr_assert_eq(pthread_create(&t[i], NULL, claim_thread, &args[i]), 0);
	}
	for (i = 0; i < CLAIM_THREADS; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < CLAIM_THREADS; i++) {
		cr_assert_eq(args[i].errors, 0);
		for (j = 0; j < args[i].n; j++) {
			cr_assert(args[i].ids[j] >= 1 && args[i].ids[j] <= CLAIM_ROWS);
			seen[args[i].ids[j]]++;
			total++;
		}
	}
	cr_assert_eq(total, CLAIM_ROWS);
	for (i = 1; i <= CLAIM_ROWS; i++)
		cr_assert_eq(seen[i], 1, "row %d claimed %d times", i, seen[i]);
}

/* A row that another sender holds is skipped, never waited on: the claim
 * takes the next due row at once (PostgreSQL: FOR UPDATE SKIP LOCKED; without
 * it, a sender waits for the other's commit and then finds nothing due). */
struct held_claim {
	int64_t id;
	enum pc_err err;
	atomic_bool done;
};

static void *claim_beside_a_lock(void *p)
{
	struct held_claim *h = p;
	struct pc_outbox_row *row = calloc(1, sizeof(*row));
	struct pc_store *own = open_store();

	h->err = STORE_CALL(own, outbox_claim, 1700000000, 1700003600, row);
	h->id = row->id;
	atomic_store(&h->done, true);
	store_close(own);
	free(row);
	return NULL;
}

Test(store, a_claim_skips_the_row_another_sender_holds, .timeout = 30)
{
	struct held_claim h = { 0 };
	PGconn *db;
	PGresult *r;
	pthread_t t;
	int waited_ms = 0;
	bool done_while_held;

	if (!backend_is_pg())
		cr_skip_test("PostgreSQL only");
	cr_assert_eq(enqueue_one(1700000000, "x"), 1);
	cr_assert_eq(enqueue_one(1700000000, "y"), 2);
	db = pg_raw_connect();
	r = PQexec(db, "BEGIN");
	PQclear(r);
	r = PQexec(db, "SELECT id FROM mail_outbox WHERE id = 1 FOR UPDATE");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
	PQclear(r);
	cr_assert_eq(pthread_create(&t, NULL, claim_beside_a_lock, &h), 0);
	while (!atomic_load(&h.done) && waited_ms < 3000) {
		struct timespec ms = { 0, 10 * 1000 * 1000 };

		nanosleep(&ms, NULL);
		waited_ms += 10;
	}
	done_while_held = atomic_load(&h.done);
	r = PQexec(db, "ROLLBACK");
	PQclear(r);
	pthread_join(t, NULL);
	PQfinish(db);
	cr_assert(done_while_held, "the claim waited for the other sender's lock");
	cr_assert_eq(h.err, PC_OK);
	cr_assert_eq(h.id, 2);
}

/* ---- the driver: statements, named arguments and columns ------------------------------------ */

Test(store, every_statement_has_text_and_prepares_with_its_named_columns)
{
	const struct store_driver *d = backend_driver();
	struct store_ps *ps;
	int i;

	for (i = 0; i < STMT__MAX; i++) {
		cr_assert_not_null(d->sql[i], "statement %d has %s text", i, d->name);
		/* the driver checks the result columns against store_stmt_cols[] */
		cr_assert_eq(d->prepare(st, (enum store_stmt)i, &ps), PC_OK, "%s", d->sql[i]);
		d->done(ps);
	}
}

Test(store, arguments_bind_by_name_and_must_cover_every_parameter)
{
	const struct store_driver *d = backend_driver();
	const struct store_arg reversed[] = {
		A_TEXT(":jti", "j1"), A_INT(":issued_ms", INT64_MAX), A_TEXT(":id", NULL),
	};
	const struct store_arg unknown[] = { A_TEXT(":id", "x"), A_TEXT(":nope", "j1") };
	const struct store_arg missing[] = { A_TEXT(":id", "x") };
	char unterminated[4] = { 'a', 'b', 'c', 'd' };
	const struct store_arg bad_field[] = { A_FIELD(":id", unterminated), A_TEXT(":jti", "j") };
	struct store_arg by_id[3] = {
		A_TEXT(":jti", "j1"), A_INT(":issued_ms", INT64_MAX), A_TEXT(":id", NULL),
	};
	struct store_ps *ps;
	struct pc_user u;
	const char *text;
	size_t len;
	bool row = false;

	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	by_id[2].text = u.id;

	cr_assert_eq(d->prepare(st, STMT_USER_BY_ID_UNREVOKED, &ps), PC_OK);
	cr_assert_eq(d->bind(ps, by_id, 3), PC_OK, "any order: the names decide");
	cr_assert_eq(d->step(ps, NULL, &row), PC_OK);
	cr_assert(row);
	cr_assert_eq(d->column_text(ps, COL_USER_EMAIL, &text, &len), PC_OK);
	cr_assert_eq(len, strlen("a@example.com"));
	cr_assert_eq(memcmp(text, "a@example.com", len), 0);
	cr_assert_eq(d->column_int(ps, COL_USER_CREATED_AT), u.created_at);
	d->done(ps);

	cr_assert_eq(d->prepare(st, STMT_USER_BY_ID_UNREVOKED, &ps), PC_OK);
	cr_assert_eq(d->bind(ps, reversed, NARGS(reversed)), PC_OK, "NULL text binds NULL");
	cr_assert_eq(d->step(ps, NULL, &row), PC_OK);
	cr_assert(!row, "id = NULL matches nothing");
	d->done(ps);

	cr_assert_eq(d->prepare(st, STMT_USER_BY_ID_UNREVOKED, &ps), PC_OK);
	cr_assert_eq(d->bind(ps, unknown, NARGS(unknown)), PC_ESTORE, "a name the text lacks");
	d->done(ps);
	cr_assert_eq(d->prepare(st, STMT_USER_BY_ID_UNREVOKED, &ps), PC_OK);
	cr_assert_eq(d->bind(ps, missing, NARGS(missing)), PC_ESTORE, "a parameter left unbound");
	d->done(ps);
	cr_assert_eq(d->prepare(st, STMT_USER_BY_ID_UNREVOKED, &ps), PC_OK);
	cr_assert_eq(d->bind(ps, bad_field, NARGS(bad_field)), PC_EINVAL,
		     "a field not NUL-terminated within its array");
	d->done(ps);

	/* and the statement is clean for the next use */
	cr_assert_eq(STORE_CALL(st, user_by_id_unrevoked, u.id, "j1", INT64_MAX, &u), PC_OK);
}

/* ---- transactions ------------------------------------------------------------------------ */

struct peer_arg {
	const char *id;
	enum pc_err err;
};

static void *peer_lookup(void *p)
{
	struct peer_arg *a = p;
	struct pc_user got;

	a->err = STORE_CALL(st, user_by_id, a->id, &got);
	return NULL;
}

/* user_by_id from another thread, through its own connection. */
static enum pc_err lookup_elsewhere(const char *id)
{
	struct peer_arg arg = { .id = id, .err = PC_EINTERNAL };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, peer_lookup, &arg), 0);
	pthread_join(t, NULL);
	return arg.err;
}

Test(store, a_transaction_commits_all_of_its_writes_at_once)
{
	struct pc_session_row row;
	struct pc_user a, b, got;
	uint64_t g0, g1, g2;
	int64_t n = -1;

	make_user(&a, 1, "a@example.com", NULL);
	make_user(&b, 2, "b@example.com", NULL);
	cr_assert(store_generation(st, &g0));
	cr_assert_eq(store_begin(st), PC_OK);
	insert_ok(&a);
	insert_ok(&b);
	make_session(&row, "s1", a.id, 1700003600);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_id, b.id, &got), PC_OK, "it reads its own writes");
	cr_assert_eq(lookup_elsewhere(a.id), PC_ENOTFOUND, "others do not, before the commit");
	store_generation(st, &g1);
	cr_assert_eq(g1, g0, "the generation moves after the commit, not before");
	cr_assert_eq(store_commit(st), PC_OK);

	store_generation(st, &g2);
	cr_assert_gt(g2, g0);
	cr_assert_eq(lookup_elsewhere(a.id), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_count, &n), PC_OK);
	cr_assert_eq(n, 2);
	cr_assert_eq(STORE_CALL(st, session_user, row.token_hash, 1700000000, &got, NULL), PC_OK);
}

Test(store, a_rollback_leaves_nothing_written)
{
	struct pc_user u, got;
	uint64_t g0, g1;
	bool revoked = true;

	make_user(&u, 1, "a@example.com", NULL);
	store_generation(st, &g0);
	cr_assert_eq(store_begin(st), PC_OK);
	insert_ok(&u);
	cr_assert_eq(STORE_CALL(st, jti_revoke, "j1", u.id, 1700003600), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_insert, &u, NULL), PC_EEXISTS);
	cr_assert_eq(store_rollback(st), PC_OK);

	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &got), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, jti_is_revoked, "j1", &revoked), PC_OK);
	cr_assert_eq(revoked, false);
	cr_assert_eq(backend_raw_int("SELECT count(*) FROM users"), 0);
	store_generation(st, &g1);
	cr_assert_eq(g1, g0, "nothing committed, nothing to tell the caches");
}

Test(store, nested_or_unbalanced_transactions_are_refused)
{
	struct pc_user u, got;

	cr_assert_eq(store_commit(st), PC_EINVAL, "commit with none open");
	cr_assert_eq(store_rollback(st), PC_EINVAL, "rollback with none open");
	cr_assert_eq(store_begin(st), PC_OK);
	cr_assert_eq(store_begin(st), PC_EINVAL, "no nesting");
	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	cr_assert_eq(store_commit(st), PC_OK, "the refused begin left the first one as it was");
	cr_assert_eq(store_commit(st), PC_EINVAL);
	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &got), PC_OK);
}

/* Transactions on many threads at once, ended every way (commit, rollback,
 * rollback after a statement that failed inside, a refused nested begin,
 * then commit): each takes its
 * turn and gives it back (SQLite: the in-process write_mu), so all of them
 * finish, and exactly the committed ones are stored. */
#define TURN_THREADS 6
#define TURN_ROUNDS 24

static void *turn_worker(void *p)
{
	struct conc_arg *a = p;
	struct pc_user u;
	char email[64];
	enum pc_err err;

	for (unsigned i = 0; i < TURN_ROUNDS; i++) {
		snprintf(email, sizeof(email), "turn%u.%u@example.com", a->thread, i);
		make_user(&u, 5000 + a->thread * 100 + i, email, NULL);
		err = store_begin(st);
		if (err == PC_OK)
			err = STORE_CALL(st, user_insert, &u, NULL);
		if (err == PC_OK && i % 4 == 1)
			err = store_begin(st) == PC_EINVAL ? PC_OK : PC_EINTERNAL; /* nested */
		if (err == PC_OK && i % 4 == 2 && STORE_CALL(st, user_insert, &u, NULL) != PC_EEXISTS)
			err = PC_EINTERNAL; /* a statement that fails: then rolled back */
		if (err == PC_OK)
			err = i % 4 >= 2 ? store_rollback(st) : store_commit(st);
		if (err != PC_OK && a->failures++ == 0)
			a->first_err = err;
	}
	return NULL;
}

Test(store, transactions_on_many_threads_each_take_their_turn_and_give_it_back, .timeout = 30)
{
	int64_t n = -1;

	conc_run(turn_worker, TURN_THREADS);
	cr_assert_eq(STORE_CALL(st, user_count, &n), PC_OK);
	cr_assert_eq(n, TURN_THREADS * TURN_ROUNDS / 2, "every other two rolled back");
}

/* A thread that ends inside its transaction: its connection closes (SQLite)
 * and the transaction is rolled back; the next one, on another thread, is
 * not kept waiting for it. */
static void *begin_and_leave(void *p)
{
	struct pc_user *u = p;

	if (store_begin(st) == PC_OK)
		(void)STORE_CALL(st, user_insert, u, NULL);
	return NULL;
}

Test(store, a_thread_that_ends_inside_a_transaction_does_not_block_the_next, .timeout = 20)
{
	struct pc_user u, v, got;
	pthread_t t;

	if (backend_is_pg())
		return; /* the pool's connection is the transaction's, not the thread's */
	make_user(&u, 1, "left@example.com", NULL);
	make_user(&v, 2, "next@example.com", NULL);
	cr_assert_eq(pthread_create(&t, NULL, begin_and_leave, &u), 0);
	pthread_join(t, NULL);
	cr_assert_eq(store_begin(st), PC_OK);
	insert_ok(&v);
	cr_assert_eq(store_commit(st), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_by_id, u.id, &got), PC_ENOTFOUND, "rolled back");
	cr_assert_eq(STORE_CALL(st, user_by_id, v.id, &got), PC_OK);
}

Test(store, operations_with_their_own_transaction_are_refused_inside_one)
{
	const int64_t now = 1700000000;
	struct pc_outbox_row *claimed = calloc(1, sizeof(*claimed));
	struct pc_onetime_row t, got;
	struct pc_user u, v, ugot;
	int64_t removed = -1;

	cr_assert_not_null(claimed);
	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	make_token(&t, "t", &u, "reset", now, now + 3600);

	cr_assert_eq(store_begin(st), PC_OK);
	cr_assert_eq(STORE_CALL(st, onetime_issue, &t, true, NULL, 0), PC_EINVAL);
	cr_assert_eq(STORE_CALL(st, onetime_consume, t.token_hash, "reset", now, NULL), PC_EINVAL);
	cr_assert_eq(STORE_CALL(st, outbox_claim, now, now + 60, claimed), PC_EINVAL);
	cr_assert_eq(STORE_CALL(st, purge_expired, now, &removed), PC_EINVAL);
	cr_assert_eq(STORE_CALL(st, mail_purge, now, now, &removed), PC_EINVAL);
	make_user(&v, 2, "b@example.com", NULL);
	insert_ok(&v); /* one statement: it joins */
	cr_assert_eq(store_commit(st), PC_OK, "the refusals did not end the transaction");

	cr_assert_eq(STORE_CALL(st, user_by_id, v.id, &ugot), PC_OK);
	cr_assert_eq(STORE_CALL(st, onetime_get, t.token_hash, &got), PC_ENOTFOUND);
	free(claimed);
}

/* ---- the rule of password_changed_at ------------------------------------------------------- */

Test(store, password_changed_at_moves_strictly_later)
{
	cr_assert_eq(store_password_changed_at(100, 200), 200);
	cr_assert_eq(store_password_changed_at(200, 200), 201, "twice in one second");
	cr_assert_eq(store_password_changed_at(250, 200), 251, "a clock behind the last change");
}

/* ---- 006: users rebuilt (email optional) ---------------------------------------------- */

/* A database at schema 5 (the driver with its first five steps) with a user
 * and a row in every table that references users: migrating it to the end
 * rebuilds users with foreign keys off, so nothing cascades. */
Test(store_open, the_users_rebuild_keeps_every_child_row)
{
	struct store_driver five = *backend_driver();
	size_t n5 = 5;
	struct pc_store *s;
	struct pc_user u;
	int applied = 0;

	SQLITE_ONLY();
	s = open_store();

	five.nmigrations = &n5;
	s->drv = &five;
	cr_assert_eq(store_migrate(s, &applied), PC_OK);
	cr_assert_eq(applied, 5);
	s->drv = backend_driver();
	store_close(s);
	backend_raw_exec(
		"INSERT INTO users (id, email, email_lc, username, username_lc, hashed_password, "
		"created_at, updated_at, totp_enabled, roles) VALUES ('u1', 'A@x.io', 'a@x.io', "
		"'Al', 'al', 'h', 1, 2, 1, 'admin');"
		"INSERT INTO sessions VALUES ('s1', 'u1', 1, 99999999999, 1, NULL, NULL);"
		"INSERT INTO one_time_tokens VALUES ('o1', 'reset', 'u1', 'a@x.io', NULL, 1, "
		"99999999999, NULL);"
		"INSERT INTO refresh_families VALUES ('f1', 'u1', 1, NULL);"
		"INSERT INTO refresh_tokens VALUES ('r1', 'f1', 'u1', 1, 99999999999, NULL, NULL);"
		"INSERT INTO user_totp VALUES ('u1', 'sec', NULL, 0, 0, 0, 1);"
		"INSERT INTO totp_recovery_codes VALUES ('u1', 'c1', NULL);");

	s = open_store();
	cr_assert_eq(store_migrate(s, &applied), PC_OK);
	cr_assert_eq(applied, (int)*backend_driver()->nmigrations - 5);
	cr_assert_eq(STORE_CALL(s, user_by_id, "u1", &u), PC_OK);
	cr_expect_str_eq(u.email, "A@x.io");
	cr_expect_str_eq(u.username, "Al");
	cr_expect(u.totp_enabled);
	cr_expect_str_eq(u.roles, "admin");
	store_close(s);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM sessions"), 1);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM one_time_tokens"), 1);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM refresh_families"), 1);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM refresh_tokens"), 1);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM user_totp"), 1);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM totp_recovery_codes"), 1);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
				     "AND name = 'users_password_change_voids_reset'"), 1);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM sqlite_master WHERE type = 'index' "
				     "AND name = 'users_created'"), 1);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM pragma_table_info('users') "
				     "WHERE name IN ('phone', 'contacts')"), 2);
	/* the references point at the new table: a delete still cascades */
	backend_raw_exec("PRAGMA foreign_keys = ON; DELETE FROM users WHERE id = 'u1';");
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM sessions"), 0);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM refresh_tokens"), 0);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM user_totp"), 0);
}

Test(store, a_user_may_have_a_username_and_no_email_but_not_neither)
{
	struct pc_user u, v, got;
	struct pc_errinfo ei = { 0 };

	make_user(&u, 1, "", "Solo");
	insert_ok(&u);
	make_user(&v, 2, "", "Duo");
	insert_ok(&v); /* two users without email: NULLs never collide */
	cr_assert_eq(STORE_CALL(st, user_by_username, "solo", &got), PC_OK);
	cr_expect_str_eq(got.email, "");
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM users WHERE email IS NULL "
				     "AND email_lc IS NULL"), 2);
	make_user(&u, 3, "", NULL);
	cr_expect_neq(STORE_CALL(st, user_insert, &u, &ei), PC_OK);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM users"), 2);
}

Test(store, profile_fields_round_trip_with_null_apart_from_empty)
{
	struct pc_user u;
	struct pc_user_profile p, got;

	make_user(&u, 1, "p@example.com", "Prof");
	insert_ok(&u);
	cr_assert_eq(STORE_CALL(st, user_profile_get, u.id, &got), PC_OK);
	cr_expect_not(got.has_phone);
	cr_expect_str_eq(got.contacts, "");
	memset(&p, 0, sizeof(p));
	p.has_phone = true; /* an empty phone is not null */
	snprintf(p.contacts, sizeof(p.contacts), "%s", "{\"tg\":\"@p\"}");
	cr_assert_eq(STORE_CALL(st, user_profile_set, u.id, &p, 5), PC_OK);
	cr_assert_eq(STORE_CALL(st, user_profile_get, u.id, &got), PC_OK);
	cr_expect(got.has_phone);
	cr_expect_str_eq(got.phone, "");
	cr_expect_str_eq(got.contacts, "{\"tg\":\"@p\"}");
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM users WHERE phone = '' "
				     "AND contacts IS NOT NULL"), 1);
	p.has_phone = false;
	p.contacts[0] = '\0';
	cr_assert_eq(STORE_CALL(st, user_profile_set, u.id, &p, 6), PC_OK);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM users WHERE phone IS NULL "
				     "AND contacts IS NULL"), 1);
	cr_expect_eq(STORE_CALL(st, user_profile_set, "nobody", &p, 7), PC_ENOTFOUND);
	cr_expect_eq(STORE_CALL(st, user_profile_get, "nobody", &got), PC_ENOTFOUND);
}

/* ---- OAuth accounts and spent states (009_oauth) ------------------------------------------ */

static void make_link(struct pc_oauth_link *l, unsigned n, const char *user_id, const char *name,
		      const char *account)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->id, sizeof(l->id), "0190b000-0000-7000-8000-%012x", n);
	snprintf(l->user_id, sizeof(l->user_id), "%s", user_id);
	snprintf(l->oauth_name, sizeof(l->oauth_name), "%s", name);
	snprintf(l->account_id, sizeof(l->account_id), "%s", account);
	snprintf(l->account_email, sizeof(l->account_email), "%s@idp.example", account);
}

Test(store, an_oauth_account_links_once_reads_back_and_lists_by_user)
{
	struct pc_oauth_tokens t = { .access_enc = "v1:sealed-a", .refresh_enc = NULL,
				     .expires_at = 1700003600 };
	struct pc_oauth_link a, b, other, got, list[4];
	struct pc_user u, v;
	size_t n = 0;

	make_user(&u, 1, "oa@example.com", NULL);
	make_user(&v, 2, "ob@example.com", NULL);
	insert_ok(&u);
	insert_ok(&v);
	make_link(&a, 1, u.id, "corp", "sub-1");
	make_link(&b, 2, u.id, "google", "g-1");
	make_link(&other, 3, v.id, "corp", "sub-1");
	cr_assert_eq(STORE_CALL(st, oauth_account_insert, &a, &t, 1700000000), PC_OK);
	cr_assert_eq(STORE_CALL(st, oauth_account_insert, &b, &t, 1700000000), PC_OK);
	cr_expect_eq(STORE_CALL(st, oauth_account_insert, &other, &t, 1700000000), PC_EEXISTS,
		     "one provider account belongs to one user");
	cr_assert_eq(STORE_CALL(st, oauth_account_get, "corp", "sub-1", &got), PC_OK);
	cr_expect_str_eq(got.id, a.id);
	cr_expect_str_eq(got.user_id, u.id);
	cr_expect_str_eq(got.account_email, "sub-1@idp.example");
	cr_expect_eq(STORE_CALL(st, oauth_account_get, "google", "sub-1", &got), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, oauth_account_list, u.id, list, 4, &n), PC_OK);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(list[0].oauth_name, "corp");
	cr_expect_str_eq(list[1].oauth_name, "google");
	cr_assert_eq(STORE_CALL(st, oauth_account_list, v.id, list, 4, &n), PC_OK);
	cr_expect_eq(n, 0);
	cr_expect_eq(STORE_CALL(st, oauth_account_update, a.id, "new@idp.example", &t, 1700000100),
		     PC_OK);
	cr_assert_eq(STORE_CALL(st, oauth_account_get, "corp", "sub-1", &got), PC_OK);
	cr_expect_str_eq(got.account_email, "new@idp.example");
	cr_expect_eq(STORE_CALL(st, oauth_account_update, "absent", "x@y.z", &t, 1), PC_ENOTFOUND);
	cr_assert_eq(STORE_CALL(st, user_delete, u.id), PC_OK);
	cr_expect_eq(STORE_CALL(st, oauth_account_get, "corp", "sub-1", &got), PC_ENOTFOUND,
		     "the links go with their user");
}

Test(store, an_oauth_state_is_spent_once_until_purged)
{
	int64_t removed = 0;

	cr_assert_eq(STORE_CALL(st, oauth_state_use, "aa11", 1700000600), PC_OK);
	cr_expect_eq(STORE_CALL(st, oauth_state_use, "aa11", 1700000600), PC_EEXISTS);
	cr_assert_eq(STORE_CALL(st, oauth_state_use, "bb22", 1700009999), PC_OK);
	cr_assert_eq(STORE_CALL(st, oauth_state_purge, 1700000600, &removed), PC_OK);
	cr_expect_eq(removed, 1);
	cr_expect_eq(STORE_CALL(st, oauth_state_use, "bb22", 1700009999), PC_EEXISTS);
	cr_expect_eq(STORE_CALL(st, oauth_state_use, "aa11", 1700000600), PC_OK);
}

/* ---- the write generation and the per-user credential stamps (issue 15) --------------------- */

Test(store, writes_no_check_reads_leave_the_generation_and_others_move_it)
{
	struct pc_user u;
	int64_t hits, start;
	uint64_t g0, g1, g2;

	cr_assert(store_generation(st, &g0));
	cr_assert_eq(store_rl_hit(st, "ip:192.0.2.1", 1700000000, 60, &hits, &start), PC_OK);
	cr_assert_eq(store_write_probe(st, 1700000000), PC_OK);
	cr_assert_eq(store_begin(st), PC_OK);
	cr_assert_eq(store_rl_hit(st, "ip:192.0.2.2", 1700000000, 60, &hits, &start), PC_OK);
	cr_assert_eq(store_commit(st), PC_OK);
	store_generation(st, &g1);
	cr_expect_eq(g1, g0, "an attempt counter or the write probe moved the generation");
	make_user(&u, 1, "a@example.com", NULL);
	insert_ok(&u);
	store_generation(st, &g2);
	cr_expect_gt(g2, g1, "a user's write did not move it");
}

/* Whether a stamp taken before now still holds for user id. */
static bool stamp_holds(uint64_t stamp, const char *id)
{
	return store_cred_fresh(st, stamp, store_cred_bucket(id, strlen(id)));
}

Test(store, a_committed_write_a_check_reads_bumps_its_user_before_it_returns)
{
	struct pc_session_row row;
	struct pc_user a, b;
	uint64_t s;
	bool sqlite = !backend_is_pg();

	make_user(&a, 1, "a@example.com", NULL);
	make_user(&b, 2, "b@example.com", NULL);
	insert_ok(&a);
	insert_ok(&b);
	make_session(&row, "s1", a.id, 1700003600);
	cr_assert_eq(STORE_CALL(st, session_insert, &row), PC_OK);
	cr_assert_neq(store_cred_bucket(a.id, strlen(a.id)), store_cred_bucket(b.id, strlen(b.id)),
		      "the test's two users share a bucket");

	s = store_cred_stamp(st);
	a.is_active = false;
	cr_assert_eq(STORE_CALL(st, user_update, &a, NULL), PC_OK);
	cr_expect_not(stamp_holds(s, a.id), "a deactivation");
	/* PostgreSQL too: its notifications name the user (migration 016) */
	cr_expect(stamp_holds(s, b.id), "only the written user's stamp moves");

	s = store_cred_stamp(st);
	cr_assert_eq(STORE_CALL(st, session_delete, row.token_hash), PC_OK);
	cr_expect_not(stamp_holds(s, a.id), "a session's logout");
	cr_expect(stamp_holds(s, b.id));

	s = store_cred_stamp(st);
	cr_assert_eq(STORE_CALL(st, jti_revoke, "j-a", a.id, 1700003600), PC_OK);
	cr_expect_not(stamp_holds(s, a.id), "a JWT's logout");
	cr_expect(stamp_holds(s, b.id));

	s = store_cred_stamp(st);
	cr_assert_eq(store_begin(st), PC_OK);
	cr_assert_eq(STORE_CALL(st, jti_revoke, "j-x", NULL, 1700003600), PC_OK);
	if (sqlite) /* PostgreSQL: earlier writes' notifications may arrive meanwhile */
		cr_expect(stamp_holds(s, b.id), "not before the commit");
	cr_assert_eq(store_commit(st), PC_OK);
	cr_expect_not(stamp_holds(s, b.id), "a revocation of no known user bumps all");
	cr_expect_not(stamp_holds(s, a.id));
}

Test(store, another_connection_s_write_is_seen_when_the_change_log_is_read)
{
	struct pc_user a, b;
	char sql[160];
	int64_t removed;
	uint64_t s;

	if (backend_is_pg())
		cr_skip_test("PostgreSQL keeps no change log (its writes are announced by NOTIFY)");
	make_user(&a, 1, "a@example.com", NULL);
	make_user(&b, 2, "b@example.com", NULL);
	insert_ok(&a);
	insert_ok(&b);
	store_cred_poll(st, 0); /* the first read of the log: all, once */
	cr_assert(store_cred_exact(st), "the log is read");
	s = store_cred_stamp(st);
	snprintf(sql, sizeof(sql), "UPDATE users SET is_active = 0 WHERE id = '%s'", a.id);
	backend_raw_exec(sql);
	cr_expect(stamp_holds(s, a.id), "not seen before the log is read");
	usleep(20 * 1000);
	store_cred_poll(st, 0);
	cr_expect_not(stamp_holds(s, a.id), "seen once it is read");
	cr_expect(stamp_holds(s, b.id), "and only that user");
	/* rows older than the log keeps go with the purge */
	cr_assert_gt(backend_raw_int("SELECT count(*) FROM credential_changes"), 0);
	backend_raw_exec("UPDATE credential_changes SET at = at - 7200");
	cr_assert_eq(STORE_CALL(st, purge_expired, time_now(), &removed), PC_OK);
	cr_expect_eq(backend_raw_int("SELECT count(*) FROM credential_changes"), 0);
}
