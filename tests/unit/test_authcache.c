/* The credential cache (authcache.c) behind pc_jwt_authenticate and
 * pc_session_authenticate, over a real SQLite store: a remembered answer
 * must never outlive what the full check would say. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "store/store.h"
#include "helpers.h"

static char dir[64];
static struct pc_ctx *ctx;

static void open_with(const char *cache_ms, const char *lifetime)
{
	struct pc_config cfg;

	test_dir_make(dir, sizeof(dir), "pc_authcache_");
	test_config(&cfg, dir);
	cr_assert_eq(pc_config_set(&cfg, "auth_cache_ms", cache_ms, NULL), PC_OK);
	cr_assert_eq(pc_config_set(&cfg, "lifetime_seconds", lifetime, NULL), PC_OK);
	cr_assert_eq(pc_config_set(&cfg, "session_lifetime_seconds", lifetime, NULL), PC_OK);
	test_ctx_open(&cfg, &ctx);
}

static void open_ctx(void)
{
	open_with("60000", "3600");
}

static void close_ctx(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(authcache, .init = open_ctx, .fini = close_ctx);
/* Tests that open the context with settings of their own. */
TestSuite(authcache_cfg, .fini = close_ctx);

static void reg(const char *email, struct pc_user *u)
{
	struct pc_user_input in;
	struct pc_errinfo ei = { 0 };

	pc_user_input_init(&in);
	in.email = email;
	in.password = "pendragon-rex-1066";
	in.password_len = strlen(in.password);
	cr_assert_eq(pc_user_register(ctx, &in, u, &ei), PC_OK, "%s", ei.detail);
}

/* A write made beside the server, by another connection (as the CLI or an
 * operator would): it does not go through this process's store. */
static void write_elsewhere(const char *sql)
{
	test_db_exec(dir, sql, NULL);
}

/* Polls pc_jwt_authenticate(t) until it answers want (and, for PC_OK, a
 * user whose is_active is want_active) or ms pass. */
static bool jwt_until(const char *t, enum pc_err want, int want_active, int ms)
{
	int64_t end = time_mono_us() + (int64_t)ms * 1000;
	struct pc_user out;

	do {
		enum pc_err got = pc_jwt_authenticate(ctx, t, &out);

		if (got == want && (want != PC_OK || out.is_active == want_active))
			return true;
		usleep(10 * 1000);
	} while (time_mono_us() < end);
	return false;
}

/* A credential of the same kind and length whose last 16 bytes are those
 * of the remembered one, but whose payload differs at byte at: only the full
 * compare tells the two apart (its sets come from the keyed digest of the
 * whole credential: see also the forged tokens among 10 000 remembered ones
 * below, where the sets a forged token looks in are mostly occupied). */
static void same_slot_copy(const char *cred, size_t at, char *out, size_t outsz)
{
	size_t n = strlen(cred);

	cr_assert_lt(n, outsz);
	cr_assert_lt(at + 16, n, "the changed byte must lie before the tail");
	memcpy(out, cred, n + 1);
	out[at] = out[at] == 'A' ? 'B' : 'A';
	cr_assert_eq(strlen(out), n);
	cr_assert_eq(memcmp(out + n - 16, cred + n - 16, 16), 0);
}

Test(authcache, a_token_seen_again_gives_the_same_user_and_no_password_hash)
{
	struct pc_user u, a, b;
	char t[PC_JWT_MAX];

	reg("arthur@camelot.bt", &u);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &a), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &b), PC_OK);
	cr_expect_str_eq(b.id, u.id);
	cr_expect_str_eq(b.email, u.email);
	cr_expect_eq(b.is_active, a.is_active);
	cr_expect_str_eq(a.hashed_password, "", "no hash leaves a credential check");
	cr_expect_str_eq(b.hashed_password, "");
}

Test(authcache, a_token_one_byte_off_or_cut_short_is_checked_in_full)
{
	struct pc_user u, out;
	char t[PC_JWT_MAX], bad[PC_JWT_MAX];
	size_t n;

	reg("bedivere@camelot.bt", &u);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	n = strlen(t);
	memcpy(bad, t, n + 1);
	bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
	cr_expect_eq(pc_jwt_authenticate(ctx, bad, &out), PC_EUNAUTHORIZED);
	bad[n - 2] = t[n - 2];
	bad[n - 1] = '\0';
	cr_expect_eq(pc_jwt_authenticate(ctx, bad, &out), PC_EUNAUTHORIZED);
	cr_expect_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
}

Test(authcache, a_token_in_the_same_slot_with_another_payload_is_checked_in_full)
{
	struct pc_user u, out;
	char t[PC_JWT_MAX], bad[PC_JWT_MAX];
	const char *dot;

	reg("bors@camelot.bt", &u);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	/* A byte of the payload, the signature's tail kept: same length, same
	 * slot, no write in between. */
	dot = strchr(t, '.');
	cr_assert_not_null(dot);
	same_slot_copy(t, (size_t)(dot - t) + 8, bad, sizeof(bad));
	cr_expect_eq(pc_jwt_authenticate(ctx, bad, &out), PC_EUNAUTHORIZED,
		     "a remembered token answered for another one of the same length and tail");
	/* And a byte of the signature before its last 16. */
	same_slot_copy(t, strlen(t) - 20, bad, sizeof(bad));
	cr_expect_eq(pc_jwt_authenticate(ctx, bad, &out), PC_EUNAUTHORIZED);
	cr_expect_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK, "the real one is still good");
	cr_expect_str_eq(out.id, u.id);
}

Test(authcache, a_session_token_in_the_same_slot_is_checked_in_full)
{
	struct pc_user u, out;
	char s[PC_TOKEN_MAX], bad[PC_TOKEN_MAX];

	reg("brastias@camelot.bt", &u);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, s), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, s, &out), PC_OK);
	same_slot_copy(s, 0, bad, sizeof(bad));
	cr_expect_eq(pc_session_authenticate(ctx, bad, &out), PC_EUNAUTHORIZED,
		     "a remembered session answered for another token of the same length and tail");
	cr_expect_eq(pc_session_authenticate(ctx, s, &out), PC_OK);
}

Test(authcache, logout_deactivation_and_deletion_through_the_core_count_at_once)
{
	struct pc_user u, v, out;
	struct pc_user_input p;
	char t[PC_JWT_MAX], s[PC_TOKEN_MAX], tv[PC_JWT_MAX];
	struct pc_errinfo ei = { 0 };

	reg("cai@camelot.bt", &u);
	reg("dagonet@camelot.bt", &v);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_jwt_issue(ctx, &v, tv, sizeof(tv)), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, s), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, s, &out), PC_OK);
	cr_assert(out.is_active);

	pc_user_input_init(&p);
	p.is_active = 0;
	cr_assert_eq(pc_user_update(ctx, &u, &p, PC_UPDATE_PRIVILEGED, &ei), PC_OK, "%s", ei.detail);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	cr_expect_not(out.is_active, "the deactivation shows on the next request");
	cr_assert_eq(pc_session_authenticate(ctx, s, &out), PC_OK);
	cr_expect_not(out.is_active);

	cr_assert_eq(pc_jwt_authenticate(ctx, tv, &out), PC_OK);
	cr_assert_eq(pc_jwt_revoke(ctx, tv), PC_OK);
	cr_expect_eq(pc_jwt_authenticate(ctx, tv, &out), PC_EUNAUTHORIZED, "logout at once");

	cr_assert_eq(pc_user_delete(ctx, u.id), PC_OK);
	cr_expect_eq(pc_jwt_authenticate(ctx, t, &out), PC_EUNAUTHORIZED, "deleted at once");
	cr_expect_eq(pc_session_authenticate(ctx, s, &out), PC_EUNAUTHORIZED);
}

Test(authcache_cfg, a_write_by_another_process_is_seen_within_the_cache_time)
{
	struct pc_user u, out;
	char t[PC_JWT_MAX], sql[160];

	open_with("200", "3600");
	reg("elaine@camelot.bt", &u);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	snprintf(sql, sizeof(sql), "UPDATE users SET is_active = 0 WHERE id = '%s'", u.id);
	write_elsewhere(sql);
	/* auth_cache_ms is 200: seen well within 5 s (a deadline, not a sleep). */
	cr_expect(jwt_until(t, PC_OK, 0, 5000), "the deactivation is seen once auth_cache_ms passed");
	snprintf(sql, sizeof(sql), "DELETE FROM users WHERE id = '%s'", u.id);
	write_elsewhere(sql);
	cr_expect(jwt_until(t, PC_EUNAUTHORIZED, 0, 5000), "the deletion is seen");
}

Test(authcache_cfg, with_the_cache_off_another_process_s_write_counts_at_once)
{
	struct pc_user u, out;
	char t[PC_JWT_MAX], s[PC_TOKEN_MAX], sql[160];

	open_with("0", "3600");
	reg("enid@camelot.bt", &u);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, s), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, s, &out), PC_OK);
	snprintf(sql, sizeof(sql), "DELETE FROM users WHERE id = '%s'", u.id);
	write_elsewhere(sql);
	cr_expect_eq(pc_jwt_authenticate(ctx, t, &out), PC_EUNAUTHORIZED);
	cr_expect_eq(pc_session_authenticate(ctx, s, &out), PC_EUNAUTHORIZED);
}

Test(authcache_cfg, a_remembered_token_or_session_still_expires_on_time)
{
	struct pc_user u, out;
	char t[PC_JWT_MAX], s[PC_TOKEN_MAX];
	int64_t start;

	open_with("60000", "1");
	reg("gareth@camelot.bt", &u);
	start = time_now();
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, s), PC_OK);
	if (time_now() != start)
		cr_skip_test("the second turned over while issuing; nothing to check");
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, s, &out), PC_OK);
	while (time_now() < start + 1)
		usleep(20 * 1000);
	cr_expect_eq(pc_jwt_authenticate(ctx, t, &out), PC_EUNAUTHORIZED, "exp is checked");
	cr_expect_eq(pc_session_authenticate(ctx, s, &out), PC_EUNAUTHORIZED);
}

Test(authcache, another_context_does_not_see_this_one_s_entries)
{
	struct pc_config cfg;
	struct pc_ctx *other;
	struct pc_user u, out;
	char t[PC_JWT_MAX], odir[64];

	reg("geraint@camelot.bt", &u);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	/* Same secret, another database where the user does not exist. */
	test_dir_make(odir, sizeof(odir), "pc_authcache_o_");
	test_config(&cfg, odir);
	test_ctx_open(&cfg, &other);
	cr_expect_eq(pc_jwt_authenticate(other, t, &out), PC_EUNAUTHORIZED);
	test_ctx_close(&other, odir);
	cr_expect_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
}

struct other_thread_call {
	const char *token;
	enum pc_err err;
	struct pc_user out;
};

static void *authenticate_on_another_thread(void *arg)
{
	struct other_thread_call *call = arg;

	call->err = pc_jwt_authenticate(ctx, call->token, &call->out);
	return NULL;
}

Test(authcache, a_token_checked_on_one_thread_is_remembered_on_another)
{
	struct other_thread_call call = { 0 };
	struct pc_user u, out;
	char t[PC_JWT_MAX];
	uint64_t hits;
	pthread_t th;

	reg("gawain@camelot.bt", &u);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	call.token = t;
	cr_assert_eq(pthread_create(&th, NULL, authenticate_on_another_thread, &call), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(call.err, PC_OK);
	hits = stats_sum(STAT_AUTHCACHE_HIT);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	cr_expect_eq(stats_sum(STAT_AUTHCACHE_HIT), hits + 1, "answered from the shared table");
	cr_expect_str_eq(out.id, u.id);
	cr_expect_str_eq(out.email, u.email);
	cr_expect_str_eq(out.hashed_password, "");
}

/* ---- per-user stamps (issue 15, item 3) -------------------------------------------------- */

/* Hits counted by the call f: the cache answered (1) or the full check (0). */
#define HITS_OF(call) ({ uint64_t h0_ = stats_sum(STAT_AUTHCACHE_HIT); \
			 (void)(call); stats_sum(STAT_AUTHCACHE_HIT) - h0_; })

/* The text of the first column of sql's first row, read by a connection of
 * its own ("" for NULL or no row). */
static void db_text(const char *sql, char *out, size_t outsz)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	const unsigned char *t;

	snprintf(path, sizeof(path), "%s/t.db", dir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	out[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW && (t = sqlite3_column_text(st, 0)) != NULL)
		snprintf(out, outsz, "%s", (const char *)t);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

Test(authcache, a_write_of_one_user_voids_its_entries_at_once_and_leaves_another_s_alone)
{
	struct pc_user a, b, out;
	struct pc_user_input p;
	struct pc_errinfo ei = { 0 };
	char ta[PC_JWT_MAX], ta2[PC_JWT_MAX], tb[PC_JWT_MAX];
	char sa[PC_TOKEN_MAX], sa2[PC_TOKEN_MAX], sb[PC_TOKEN_MAX];
	enum pc_err err = PC_OK;

	reg("isolde@camelot.bt", &a);
	reg("kay@camelot.bt", &b);
	cr_assert_eq(pc_jwt_issue(ctx, &a, ta, sizeof(ta)), PC_OK);
	cr_assert_eq(pc_jwt_issue(ctx, &a, ta2, sizeof(ta2)), PC_OK);
	cr_assert_eq(pc_jwt_issue(ctx, &b, tb, sizeof(tb)), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &a, NULL, NULL, sa), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &a, NULL, NULL, sa2), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &b, NULL, NULL, sb), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, ta, &out), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, ta2, &out), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, tb, &out), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, sa, &out), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, sa2, &out), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, sb, &out), PC_OK);
	cr_assert_eq(HITS_OF(err = pc_jwt_authenticate(ctx, tb, &out)), 1, "remembered");

	/* a session's logout: that session at once, b's entries stay */
	cr_assert_eq(pc_session_end(ctx, sa), PC_OK);
	cr_expect_eq(pc_session_authenticate(ctx, sa, &out), PC_EUNAUTHORIZED, "logout at once");
	cr_expect_eq(HITS_OF(err = pc_jwt_authenticate(ctx, tb, &out)), 1,
		     "another user's write voided b's token");
	cr_expect_eq(err, PC_OK);
	cr_expect_eq(HITS_OF(err = pc_session_authenticate(ctx, sb, &out)), 1);
	cr_expect_eq(err, PC_OK);

	/* a JWT's logout */
	cr_assert_eq(pc_jwt_revoke(ctx, ta2), PC_OK);
	cr_expect_eq(pc_jwt_authenticate(ctx, ta2, &out), PC_EUNAUTHORIZED, "logout at once");
	cr_expect_eq(HITS_OF(err = pc_jwt_authenticate(ctx, tb, &out)), 1);
	cr_expect_eq(err, PC_OK);

	/* a deactivation */
	pc_user_input_init(&p);
	p.is_active = 0;
	cr_assert_eq(pc_user_update(ctx, &a, &p, PC_UPDATE_PRIVILEGED, &ei), PC_OK, "%s", ei.detail);
	cr_assert_eq(pc_jwt_authenticate(ctx, ta, &out), PC_OK);
	cr_expect_not(out.is_active, "the deactivation shows on the next request");
	cr_expect_eq(HITS_OF(err = pc_jwt_authenticate(ctx, tb, &out)), 1);
	cr_expect_eq(err, PC_OK);
	cr_expect(out.is_active);

	/* a password change: a's other session ends with it, at once */
	cr_assert_eq(pc_session_authenticate(ctx, sa2, &out), PC_OK);
	pc_user_input_init(&p);
	p.password = "excalibur-stone-0512";
	p.password_len = strlen(p.password);
	cr_assert_eq(pc_user_update(ctx, &a, &p, PC_UPDATE_PRIVILEGED, &ei), PC_OK, "%s", ei.detail);
	cr_expect_eq(pc_session_authenticate(ctx, sa2, &out), PC_EUNAUTHORIZED,
		     "the password change ended the session at once");
	cr_expect_eq(pc_jwt_authenticate(ctx, ta, &out), PC_EUNAUTHORIZED,
		     "and the tokens issued before it");
	cr_expect_eq(HITS_OF(err = pc_session_authenticate(ctx, sb, &out)), 1);
	cr_expect_eq(err, PC_OK);
	cr_expect_eq(HITS_OF(err = pc_jwt_authenticate(ctx, tb, &out)), 1);
	cr_expect_eq(err, PC_OK);
}

Test(authcache, a_jwt_logout_records_its_user_and_counts_at_once)
{
	struct pc_user a, b, out;
	struct pc_jwt_claims c;
	char ta[PC_JWT_MAX], tb[PC_JWT_MAX], sql[200], got[64];
	enum pc_err err = PC_OK;

	reg("lamorak@camelot.bt", &a);
	reg("lancelot@camelot.bt", &b);
	cr_assert_eq(pc_jwt_issue(ctx, &a, ta, sizeof(ta)), PC_OK);
	cr_assert_eq(pc_jwt_issue(ctx, &b, tb, sizeof(tb)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, ta, &out), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, tb, &out), PC_OK);
	cr_assert_eq(pc_jwt_revoke(ctx, ta), PC_OK);
	cr_expect_eq(pc_jwt_authenticate(ctx, ta, &out), PC_EUNAUTHORIZED);
	cr_assert_eq(keys_verify(ctx, &jwt_claims_rfc7519, ta, time_now(), &c), PC_OK);
	snprintf(sql, sizeof(sql), "SELECT user_id FROM revoked_jti WHERE jti = '%s'", c.jti);
	db_text(sql, got, sizeof(got));
	cr_expect_str_eq(got, a.id, "the denylist row names the token's user");
	cr_expect_eq(HITS_OF(err = pc_jwt_authenticate(ctx, tb, &out)), 1);
	cr_expect_eq(err, PC_OK);

	/* a revocation of an unknown user voids every entry, b's too */
	cr_assert_eq(keys_verify(ctx, &jwt_claims_rfc7519, tb, time_now(), &c), PC_OK);
	cr_assert_eq(STORE_CALL(ctx->store, jti_revoke, c.jti, NULL, c.exp), PC_OK);
	cr_expect_eq(pc_jwt_authenticate(ctx, tb, &out), PC_EUNAUTHORIZED,
		     "a revocation without its user counts at once");
}

/* The full check of the next test: reads the user, then (while the read
 * answer is on its way to the cache) deactivates it through the store. */
static enum pc_err check_then_write(struct pc_ctx *c, const void *arg, const char *cred,
				    int64_t now, struct pc_user *out, int64_t *exp)
{
	const struct pc_user *u = arg;
	struct pc_user w;

	(void)cred;
	cr_assert_eq(STORE_CALL(c->store, user_by_id, u->id, out), PC_OK);
	w = *out;
	w.is_active = false;
	cr_assert_eq(STORE_CALL(c->store, user_update, &w, NULL), PC_OK);
	*exp = now + 3600;
	return PC_OK;
}

static enum pc_err check_only(struct pc_ctx *c, const void *arg, const char *cred, int64_t now,
			      struct pc_user *out, int64_t *exp)
{
	const struct pc_user *u = arg;

	(void)cred;
	cr_assert_eq(STORE_CALL(c->store, user_by_id, u->id, out), PC_OK);
	*exp = now + 3600;
	return PC_OK;
}

Test(authcache, a_write_during_the_full_check_voids_what_it_read)
{
	static const char cred[] = "a-credential-of-this-test-only-0123456789";
	static const char cred2[] = "another-credential-of-this-test-0123456789";
	struct pc_user u, out;

	reg("lionel@camelot.bt", &u);
	cr_assert_eq(authcache_through(ctx, PC_AUTHCACHE_SESSION, cred, strlen(cred),
				       check_then_write, &u, &out), PC_OK);
	cr_assert(out.is_active, "the check read the user before its write");
	cr_expect_not(authcache_get(ctx, PC_AUTHCACHE_SESSION, cred, strlen(cred), time_now(),
				    &out), "an answer read before a write was remembered past it");
	/* the control: nothing written, remembered */
	cr_assert_eq(authcache_through(ctx, PC_AUTHCACHE_SESSION, cred2, strlen(cred2),
				       check_only, &u, &out), PC_OK);
	cr_expect(authcache_get(ctx, PC_AUTHCACHE_SESSION, cred2, strlen(cred2), time_now(),
				&out));
	cr_expect_not(out.is_active);
}

Test(authcache_cfg, another_process_s_write_of_one_user_leaves_another_s_entries_alone)
{
	struct pc_user a, b, out;
	char ta[PC_JWT_MAX], tb[PC_JWT_MAX], sb[PC_TOKEN_MAX], sql[160];
	enum pc_err err = PC_OK;
	int64_t t0;

	open_with("300", "3600");
	reg("mordred@camelot.bt", &a);
	reg("morgause@camelot.bt", &b);
	cr_assert_eq(pc_jwt_issue(ctx, &a, ta, sizeof(ta)), PC_OK);
	cr_assert_eq(pc_jwt_issue(ctx, &b, tb, sizeof(tb)), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &b, NULL, NULL, sb), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, ta, &out), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, tb, &out), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, sb, &out), PC_OK);
	snprintf(sql, sizeof(sql), "UPDATE users SET is_active = 0 WHERE id = '%s'", a.id);
	t0 = time_mono_us();
	write_elsewhere(sql);
	cr_expect(jwt_until(ta, PC_OK, 0, 5000), "the deactivation is seen");
	/* polled every 10 ms: seen after about auth_cache_ms / 2, well within 5 s
	 * on a loaded machine */
	cr_expect_lt(time_mono_us() - t0, 5000 * 1000);
	/* and b, remembered long before, is still answered from the cache:
	 * longer than auth_cache_ms after it was filled */
	usleep(400 * 1000);
	cr_expect_eq(HITS_OF(err = pc_jwt_authenticate(ctx, tb, &out)), 1,
		     "another process's write of a voided b's token");
	cr_expect_eq(err, PC_OK);
	cr_expect(out.is_active);
	cr_expect_eq(HITS_OF(err = pc_session_authenticate(ctx, sb, &out)), 1);
	cr_expect_eq(err, PC_OK);
	/* another process ends b's session: seen within the cache time */
	snprintf(sql, sizeof(sql), "DELETE FROM sessions WHERE user_id = '%s'", b.id);
	write_elsewhere(sql);
	t0 = time_mono_us() + 5000 * 1000;
	while (pc_session_authenticate(ctx, sb, &out) == PC_OK && time_mono_us() < t0)
		usleep(10 * 1000);
	cr_expect_eq(pc_session_authenticate(ctx, sb, &out), PC_EUNAUTHORIZED);
}

/* 20 000: as many as 10 000 users' access JWTs and their session cookies,
 * which bench/run's deployment rows present to one server in turn (a table
 * of 16 384 remembered ~60 % of them). */
Test(authcache, twenty_thousand_distinct_tokens_in_cyclic_order_are_nearly_all_remembered)
{
	enum { N = 20000 };
	struct pc_user u, out;
	char (*t)[PC_JWT_MAX] = malloc(sizeof(*t) * N);
	uint64_t h0;
	size_t i;

	cr_assert_not_null(t);
	reg("pellinore@camelot.bt", &u);
	for (i = 0; i < N; i++)
		cr_assert_eq(pc_jwt_issue(ctx, &u, t[i], sizeof(t[i])), PC_OK);
	for (i = 0; i < N; i++)
		cr_assert_eq(pc_jwt_authenticate(ctx, t[i], &out), PC_OK);
	/* as wrk does: the same order again, each credential once */
	h0 = stats_sum(STAT_AUTHCACHE_HIT);
	for (i = 0; i < N; i++)
		cr_assert_eq(pc_jwt_authenticate(ctx, t[i], &out), PC_OK);
	cr_expect_gt(stats_sum(STAT_AUTHCACHE_HIT) - h0, N * 99 / 100,
		     "%llu of %d remembered", (unsigned long long)(stats_sum(STAT_AUTHCACHE_HIT) - h0),
		     N);
	/* with most sets occupied, forged tokens (one byte of the payload
	 * changed) land among remembered entries: each is checked in full.
	 * An entry is read only when its tag (one byte of the keyed digest)
	 * matches the forged token's, 1 in 256: 2 000 forged tokens against
	 * ~4 x 0.6 occupied ways each (20 000 of 32 768) meet ~19 such entries
	 * (none at all: about 1 in 10^8), where only the full digest compare
	 * refuses them. */
	for (i = 0; i < 2000; i++) {
		char bad[PC_JWT_MAX];

		same_slot_copy(t[i], (size_t)(strchr(t[i], '.') - t[i]) + 8, bad, sizeof(bad));
		cr_expect_eq(pc_jwt_authenticate(ctx, bad, &out), PC_EUNAUTHORIZED,
			     "a forged token was answered from the cache");
	}
	free(t);
}

/* ---- the table's seqlock: hits while other threads fill ---------------------------------- */

enum { RACE_TOKENS = 400, RACE_ROUNDS = 40, RACE_FILLS = 3000 };

struct race {
	char (*tokens)[PC_JWT_MAX];
	size_t n, rounds;
	const char *want_id; /* NULL: the filler, any user */
	size_t wrong, refused;
};

static void *race_run(void *arg)
{
	struct race *r = arg;
	struct pc_user out;
	size_t i, k;

	for (k = 0; k < r->rounds; k++)
		for (i = 0; i < r->n; i++) {
			if (pc_jwt_authenticate(ctx, r->tokens[i], &out) != PC_OK)
				r->refused++;
			else if (r->want_id != NULL && strcmp(out.id, r->want_id) != 0)
				r->wrong++;
		}
	return NULL;
}

Test(authcache, hits_on_two_threads_while_a_third_fills_answer_each_token_with_its_own_user)
{
	struct pc_user a, b, f;
	struct race r[3];
	pthread_t th[3];
	size_t i, k;

	reg("lamorak@camelot.bt", &a);
	reg("lionel@camelot.bt", &b);
	reg("lucan@camelot.bt", &f);
	for (k = 0; k < 3; k++) {
		r[k] = (struct race){ .n = k < 2 ? RACE_TOKENS : RACE_FILLS,
				      .rounds = k < 2 ? RACE_ROUNDS : 1,
				      .want_id = k == 0 ? a.id : k == 1 ? b.id : NULL };
		r[k].tokens = malloc(sizeof(*r[k].tokens) * r[k].n);
		cr_assert_not_null(r[k].tokens);
		for (i = 0; i < r[k].n; i++)
			cr_assert_eq(pc_jwt_issue(ctx, k == 0 ? &a : k == 1 ? &b : &f, r[k].tokens[i],
						  sizeof(r[k].tokens[i])),
				     PC_OK);
	}
	/* the fills of the third thread land in the sets the others read */
	for (k = 0; k < 3; k++)
		cr_assert_eq(pthread_create(&th[k], NULL, race_run, &r[k]), 0);
	for (k = 0; k < 3; k++)
		cr_assert_eq(pthread_join(th[k], NULL), 0);
	for (k = 0; k < 3; k++) {
		cr_expect_eq(r[k].refused, 0, "thread %zu: %zu good tokens refused", k, r[k].refused);
		cr_expect_eq(r[k].wrong, 0, "thread %zu: %zu answers with another user", k,
			     r[k].wrong);
		free(r[k].tokens);
	}
}
