/*
 * helpers.h - what the unit tests that run the core over a real SQLite store
 * share: a temporary directory for the database, the settings every such
 * context starts from, opening it, and tearing it all down.
 *
 * A suite keeps its own `static char dir[64]` and `static struct pc_ctx *ctx`
 * and calls these from its .init and .fini.
 */
#ifndef PC_TEST_HELPERS_H
#define PC_TEST_HELPERS_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"

/* Makes a new directory "/tmp/<prefix>XXXXXX" into dir[dirsz]. */
static inline void test_dir_make(char *dir, size_t dirsz, const char *prefix)
{
	snprintf(dir, dirsz, "/tmp/%sXXXXXX", prefix);
	cr_assert_not_null(mkdtemp(dir));
}

/* Removes the files in dir, then dir; dir becomes "" (nothing when it is ""
 * already). The store suites' directories hold files only. */
static inline void test_dir_remove(char *dir)
{
	char path[PATH_MAX * 2];
	struct dirent *e;
	DIR *d;

	if (dir[0] == '\0')
		return;
	d = opendir(dir);
	if (d != NULL) {
		for (e = readdir(d); e != NULL; e = readdir(d)) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
	dir[0] = '\0';
}

/* The URL of the database "t.db" in dir, into url[urlsz]. */
static inline void test_db_url(const char *dir, char *url, size_t urlsz)
{
	snprintf(url, urlsz, "sqlite:///%s/t.db", dir);
}

/* Defaults, the database in dir, a fixed JWT secret, argon2 at its cheapest
 * and one hash worker. The caller may set more before opening. */
static inline void test_config(struct pc_config *cfg, const char *dir)
{
	char url[128];

	test_db_url(dir, url, sizeof(url));
	pc_config_defaults(cfg);
	pc_config_set(cfg, "database_url", url, NULL);
	pc_config_set(cfg, "jwt_secret", "unit-test-secret-unit-test-secret-0123", NULL);
	pc_config_set(cfg, "argon2_memory_kib", "1024", NULL);
	pc_config_set(cfg, "argon2_iterations", "1", NULL);
	pc_config_set(cfg, "hash_workers", "1", NULL);
}

/* Opens *ctx from cfg; a failure fails the test with the reason. */
static inline void test_ctx_open(const struct pc_config *cfg, struct pc_ctx **ctx)
{
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(pc_ctx_open(cfg, ctx, &ei), PC_OK, "%s", ei.detail);
}

/* Frees *ctx (when open; it is NULL after) and removes dir with all in it. */
static inline void test_ctx_close(struct pc_ctx **ctx, const char *dir)
{
	char cmd[128];

	pc_ctx_free(*ctx);
	*ctx = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/* The first column of the first row of sql (?1 bound to arg when given) on
 * the database "t.db" in dir, as text into out ("" when none), read through
 * a connection of the test's own. */
static inline void test_db_text(const char *dir, const char *sql, const char *arg, char *out,
				size_t outsz)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/t.db", dir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_busy_timeout(db, 10000), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(out, outsz, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Runs sql (one statement or several; ?1 = arg when given, then one
 * statement only) on the database "t.db" in dir through a connection of the
 * test's own, as the CLI or an operator writes beside the server. The
 * server's connection may hold the write lock for a moment: this waits for
 * it, as the CLI does, and never fails with "database is locked". */
static inline void test_db_exec(const char *dir, const char *sql, const char *arg)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	char *msg = NULL;

	snprintf(path, sizeof(path), "%s/t.db", dir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_busy_timeout(db, 10000), SQLITE_OK);
	if (arg == NULL) {
		cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
	} else {
		cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
			     sqlite3_errmsg(db));
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
		cr_assert_eq(sqlite3_step(st), SQLITE_DONE, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
}

/* A loopback port nothing listens on (bound, read, closed). */
static inline int test_closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

#endif
