/*
 * test_user_pages.c - the admin list's count index (migration 007,
 * user_pages): after bulk inserts, deletes at bucket boundaries, whole
 * buckets deleted, old-dated users inserted in the middle and before every
 * bucket, and the migration's backfill, every page of store_user_list equals
 * the page computed independently (a plain ORDER BY created_at, id over the
 * test's own connection), and each bucket's n is the exact count of the
 * users in its key range.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/driver.h"

#define MAX_USERS 12000

static char test_dir[PATH_MAX];
static struct pc_store *st;

/* ---- the test's own connection --------------------------------------------------- */

static sqlite3 *raw_open(void)
{
	char path[PATH_MAX + 16];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/store.db", test_dir);
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	return db;
}

static void raw_exec(const char *sql)
{
	sqlite3 *db = raw_open();
	char *errmsg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &errmsg);

	cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, errmsg != NULL ? errmsg : "");
	sqlite3_free(errmsg);
	sqlite3_close(db);
}

static int64_t raw_int(const char *sql)
{
	sqlite3 *db = raw_open();
	sqlite3_stmt *stmt;
	int64_t v = -1;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s", sql);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

/* Every user id in (created_at, id) order, read independently of the store. */
static char (*all_ids(int *count))[PC_ID_LEN + 1]
{
	char (*ids)[PC_ID_LEN + 1] = calloc(MAX_USERS, sizeof(*ids));
	sqlite3 *db = raw_open();
	sqlite3_stmt *stmt;
	int n = 0;

	cr_assert_not_null(ids);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT id FROM users ORDER BY created_at, id", -1,
					&stmt, NULL), SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		cr_assert_lt(n, MAX_USERS);
		snprintf(ids[n++], sizeof(ids[0]), "%s", (const char *)sqlite3_column_text(stmt, 0));
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	*count = n;
	return ids;
}

/* ---- fixture --------------------------------------------------------------------- */

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char url[PATH_MAX + 32];
	struct pc_errinfo ei = { 0 };
	int applied = 0;

	snprintf(test_dir, sizeof(test_dir), "%s/pc_pages_XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(test_dir));
	snprintf(url, sizeof(url), "sqlite:///%s/store.db", test_dir);
	cr_assert_eq(store_sqlite_driver.open(url, NULL, &st, &ei), PC_OK, "%s", ei.detail);
	cr_assert_eq(store_migrate(st, &applied), PC_OK);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	store_close(st);
	st = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", test_dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(user_pages, .init = setup, .fini = teardown);

/* ---- checks ---------------------------------------------------------------------- */

struct acc {
	char (*ids)[PC_ID_LEN + 1];
	int n, cap;
};

static int acc_cb(const struct pc_user *u, void *arg)
{
	struct acc *a = arg;

	cr_assert_lt(a->n, a->cap);
	snprintf(a->ids[a->n++], sizeof(a->ids[0]), "%s", u->id);
	return 0;
}

/*
 * Each bucket's n equals the count of users in [its key, the next key), every
 * n is > 0, no user is below the first key, sum(n) is the user count; and
 * every page of size `size` (and one past the end) equals the independent
 * order.
 */
static void check_pages(int size, const char *when)
{
	char (*want)[PC_ID_LEN + 1];
	char(*got)[PC_ID_LEN + 1] = calloc((size_t)size, sizeof(*got));
	struct acc a = { .ids = got, .cap = size };
	int total, off, i;

	cr_assert_not_null(got);
	cr_assert_eq(raw_int("SELECT count(*) FROM users"),
		     raw_int("SELECT coalesce(sum(n), 0) FROM user_pages"), "%s: sum(n)", when);
	cr_assert_eq(raw_int("SELECT count(*) FROM user_pages WHERE n <= 0"), 0, "%s", when);
	cr_assert_eq(raw_int("SELECT count(*) FROM user_pages WHERE n > 2000"), 0,
		     "%s: a bucket over 2B (no split)", when);
	cr_assert_eq(raw_int("SELECT count(*) FROM users WHERE (created_at, id) < "
			     "(SELECT first_created_at, first_id FROM user_pages "
			     "ORDER BY first_created_at, first_id LIMIT 1)"), 0,
		     "%s: a user below the first bucket", when);
	cr_assert_eq(raw_int("SELECT count(*) FROM (SELECT first_created_at AS a, first_id AS b, n, "
			     "lead(first_created_at) OVER w AS na, lead(first_id) OVER w AS nb "
			     "FROM user_pages WINDOW w AS (ORDER BY first_created_at, first_id)) "
			     "WHERE n != (SELECT count(*) FROM users WHERE (created_at, id) >= (a, b) "
			     "AND (na IS NULL OR (created_at, id) < (na, nb)))"), 0,
		     "%s: a bucket's n is not the count of its range", when);

	want = all_ids(&total);
	for (off = 0; off <= total; off += size) {
		a.n = 0;
		cr_assert_eq(STORE_CALL(st, user_list, off, size, acc_cb, &a), PC_OK);
		cr_assert_eq(a.n, total - off < size ? total - off : size, "%s: page at %d", when,
			     off);
		for (i = 0; i < a.n; i++)
			cr_assert_str_eq(got[i], want[off + i], "%s: row %d", when, off + i);
	}
	a.n = 0;
	cr_assert_eq(STORE_CALL(st, user_list, total + 5, size, acc_cb, &a), PC_OK);
	cr_assert_eq(a.n, 0, "%s: past the end", when);
	free(want);
	free(got);
}

/* Inserts users from..to-1 (ids by number, created_at = base + number) in one
 * transaction through the test's own connection: the triggers count them. */
static void bulk_insert(int from, int to, int64_t base, const char *tag)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
		 "INSERT INTO users (id, email, email_lc, created_at, updated_at) "
		 "SELECT printf('0190a000-%s-7000-8000-%%012x', i), "
		 "printf('%s%%d@example.com', i), printf('%s%%d@example.com', i), "
		 "%lld + i, %lld + i FROM c",
		 from, to - 1, tag, tag, tag, (long long)base, (long long)base);
	raw_exec(sql);
}

static void make_user(struct pc_user *u, unsigned n, int64_t created_at)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->id, sizeof(u->id), "0190b000-0000-7000-8000-%012x", n);
	snprintf(u->email, sizeof(u->email), "s%u@example.com", n);
	u->is_active = true;
	u->created_at = created_at;
	u->updated_at = created_at;
}

/* The id of the user at position pos in (created_at, id) order. */
static void id_at(int pos, char *out, size_t outsz)
{
	int total;
	char (*ids)[PC_ID_LEN + 1] = all_ids(&total);

	cr_assert_lt(pos, total);
	snprintf(out, outsz, "%s", ids[pos]);
	free(ids);
}

static void delete_ok(const char *id)
{
	cr_assert_eq(STORE_CALL(st, user_delete, id), PC_OK, "delete %s", id);
}

/* ---- tests ----------------------------------------------------------------------- */

Test(user_pages, an_empty_store_lists_nothing)
{
	check_pages(7, "empty");
}

Test(user_pages, every_page_matches_through_deletes_and_old_dated_inserts)
{
	struct pc_user u;
	char id[PC_ID_LEN + 1];
	int i;

	bulk_insert(0, 3500, 1700000000, "0000");
	cr_assert_eq(raw_int("SELECT count(*) FROM user_pages"), 4);
	check_pages(37, "appended");

	/* through the store: appends at the end, a new bucket when the last is full */
	for (i = 0; i < 600; i++) {
		make_user(&u, (unsigned)i, 1800000000 + i);
		cr_assert_eq(STORE_CALL(st, user_insert, &u, NULL), PC_OK);
	}
	cr_assert_eq(raw_int("SELECT count(*) FROM user_pages"), 5);
	check_pages(100, "store appends");

	/* the first key of bucket 2, the last user of bucket 1, the first and
	 * last users of all */
	id_at(1000, id, sizeof(id));
	delete_ok(id);
	id_at(999, id, sizeof(id));
	delete_ok(id);
	id_at(0, id, sizeof(id));
	delete_ok(id);
	id_at(4096, id, sizeof(id));
	delete_ok(id);
	check_pages(37, "boundary deletes");

	/* a user back at a deleted bucket key (the key stays as it was) */
	bulk_insert(1000, 1001, 1700000000, "0000");
	bulk_insert(0, 1, 1700000000, "0000");
	check_pages(37, "back at the old keys");

	/* a whole bucket (the third: created_at 1700002000..1700002999) */
	raw_exec("DELETE FROM users WHERE created_at >= 1700002000 AND created_at < 1700003000");
	cr_assert_eq(raw_int("SELECT count(*) FROM user_pages"), 4);
	check_pages(37, "a bucket deleted");

	/* old-dated users in the middle (bucket 2 grows past 1000) and before all */
	bulk_insert(0, 700, 1700001000, "0001");
	bulk_insert(0, 50, 1000, "0002");
	check_pages(41, "old-dated inserts");

	/* the first bucket emptied entirely, then the rest one by one from the front */
	raw_exec("DELETE FROM users WHERE created_at < 1700001000");
	check_pages(53, "front deleted");
	for (i = 0; i < 30; i++) {
		id_at(0, id, sizeof(id));
		delete_ok(id);
	}
	check_pages(53, "front deletes");
	raw_exec("DELETE FROM users");
	cr_assert_eq(raw_int("SELECT count(*) FROM user_pages"), 0);
	check_pages(10, "all deleted");
	bulk_insert(0, 10, 1700000000, "0003");
	check_pages(3, "after emptying");
}

/* One user dated in the future: no later sign-up is the greatest key, so no
 * bucket is ever started at the end; the split keeps every bucket small. */
Test(user_pages, a_future_dated_user_does_not_make_one_huge_bucket)
{
	bulk_insert(0, 1, 4000000000, "0009");
	bulk_insert(0, 7000, 1700000000, "0000");
	cr_assert_lt(raw_int("SELECT max(n) FROM user_pages"), 2001);
	cr_assert_geq(raw_int("SELECT count(*) FROM user_pages"), 4);
	check_pages(97, "under a future-dated user");
	/* and old-dated ones into a middle bucket, many at once */
	bulk_insert(0, 4500, 1700003000, "0001");
	check_pages(89, "old-dated into the middle");
}

Test(user_pages, moving_a_key_by_hand_keeps_the_counts)
{
	bulk_insert(0, 2500, 1700000000, "0000");
	raw_exec("UPDATE users SET created_at = 5 WHERE created_at % 7 = 0");
	raw_exec("UPDATE users SET created_at = 1900000000 WHERE created_at % 11 = 0");
	check_pages(29, "moved");
}

/* The backfill statement of migration 007, cut from the embedded migration
 * text itself (from "INSERT INTO user_pages" to its ";"), into out. */
static void backfill_sql(char *out, size_t outsz)
{
	const struct pc_migration *m = store_sqlite_driver.migrations;
	const char *from = NULL, *end;
	size_t i;

	for (i = 0; i < *store_sqlite_driver.nmigrations; i++)
		if (strcmp(m[i].name, "user_pages") == 0)
			from = strstr(m[i].sql, "INSERT INTO user_pages");
	cr_assert_not_null(from, "migration 007 holds the backfill");
	end = strchr(from, ';');
	cr_assert_not_null(end);
	cr_assert_lt((size_t)(end - from) + 1, outsz);
	memcpy(out, from, (size_t)(end - from) + 1);
	out[end - from + 1] = '\0';
}

/* The migration's backfill rebuilds counts that the triggers then keep. */
Test(user_pages, the_backfill_matches_the_triggers)
{
	char sql[1024];

	bulk_insert(0, 2345, 1700000000, "0000");
	bulk_insert(0, 300, 1700000500, "0001");
	backfill_sql(sql, sizeof(sql));
	raw_exec("DELETE FROM user_pages");
	raw_exec(sql);
	cr_assert_eq(raw_int("SELECT count(*) FROM user_pages"), 3);
	cr_assert_eq(raw_int("SELECT min(n) FROM user_pages"), 645);
	cr_assert_eq(raw_int("SELECT max(n) FROM user_pages"), 1000);
	check_pages(31, "backfilled");
	bulk_insert(3000, 3100, 1700000000, "0000");
	check_pages(31, "backfilled, then appended");
}
