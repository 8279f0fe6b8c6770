/* Refresh families (refresh.c) over a real SQLite store: rotation, reuse
 * detection, revocation, expiry, the grace interval, a race on one token,
 * and the access tokens of a family (auth.c's check). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "helpers.h"

static char dir[64];
static struct pc_ctx *ctx;
static struct pc_user user;

#define PW "guinevere-1"
#define T (&jwt_claims_rfc7519)

static void open_with(const char *grace)
{
	struct pc_config cfg;
	struct pc_user_input in;
	struct pc_errinfo ei = { 0 };

	test_dir_make(dir, sizeof(dir), "pc_refresh_");
	test_config(&cfg, dir);
	cr_assert_eq(pc_config_set(&cfg, "refresh_grace_seconds", grace, NULL), PC_OK);
	test_ctx_open(&cfg, &ctx);
	pc_user_input_init(&in);
	in.email = "percival@camelot.bt";
	in.password = PW;
	in.password_len = strlen(PW);
	cr_assert_eq(pc_user_register(ctx, &in, &user, &ei), PC_OK, "%s", ei.detail);
}

static void open_ctx(void)
{
	open_with("0");
}

static void close_ctx(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(refresh, .init = open_ctx, .fini = close_ctx);
TestSuite(refresh_cfg, .fini = close_ctx);

/* A whole statement on the test database, through a connection of our own. */
static void db_exec(const char *sql)
{
	test_db_exec(dir, sql, NULL);
}

/* The integer of sql's first row (?1 = arg); 0 when there is none. */
static long long db_int(const char *sql, const char *arg)
{
	char out[64];

	test_db_text(dir, sql, arg, out, sizeof(out));
	return strtoll(out, NULL, 10);
}

/* The text of sql's first row (?1 = arg); the buffer lives until the next call. */
static const char *db_text(const char *sql, const char *arg)
{
	static char out[128];

	test_db_text(dir, sql, arg, out, sizeof(out));
	return out;
}

static long long family_revoked(const char *family)
{
	return db_int("SELECT coalesce(revoked_at, 0) FROM refresh_families WHERE family_id = ?1",
		      family);
}

static void login(struct refresh_pair *p)
{
	cr_assert_eq(refresh_login(ctx, T, &user, p), PC_OK);
}

static enum pc_err access_ok(const char *access)
{
	struct pc_user u;

	return auth_jwt_authenticate(ctx, T, access, &u);
}

Test(refresh, rotation_gives_a_child_in_the_same_family)
{
	struct refresh_pair a, b, c;
	struct pc_user u;
	char hash[PC_SHA256_HEX];

	login(&a);
	cr_assert_eq(refresh_rotate(ctx, T, a.refresh, &b, &u), PC_OK);
	cr_expect_str_eq(b.family, a.family);
	cr_expect_str_neq(b.refresh, a.refresh);
	cr_expect_str_eq(u.id, user.id);
	crypto_token_hash(a.refresh, hash);
	cr_expect_gt(db_int("SELECT used_at FROM refresh_tokens WHERE token_hash = ?1", hash), 0,
		     "the parent is spent");
	crypto_token_hash(b.refresh, hash);
	cr_expect_str_eq(db_text("SELECT family_id FROM refresh_tokens WHERE token_hash = ?1",
				 hash), a.family);
	cr_expect_eq(access_ok(b.access), PC_OK, "the child's access token authenticates");
	cr_expect_eq(refresh_rotate(ctx, T, b.refresh, &c, NULL), PC_OK, "the child rotates in turn");
	cr_expect_str_eq(c.family, a.family);
	cr_expect_eq(db_int("SELECT count(*) FROM refresh_tokens WHERE token_hash = ?1", a.refresh),
		     0, "the token's text is never stored");
}

Test(refresh, reuse_revokes_the_family)
{
	struct refresh_pair a, b, c;

	login(&a);
	cr_assert_eq(refresh_rotate(ctx, T, a.refresh, &b, NULL), PC_OK);
	cr_assert_eq(access_ok(b.access), PC_OK);
	cr_assert_eq(access_ok(a.access), PC_OK);
	cr_expect_eq(refresh_rotate(ctx, T, a.refresh, &c, NULL), PC_EREVOKED);
	cr_expect_gt(family_revoked(a.family), 0);
	cr_expect_eq(refresh_rotate(ctx, T, b.refresh, &c, NULL), PC_EUNAUTHORIZED,
		     "the unspent child goes with its family");
	cr_expect_eq(access_ok(b.access), PC_EUNAUTHORIZED, "the family's access tokens stop");
	cr_expect_eq(access_ok(a.access), PC_EUNAUTHORIZED);
}

Test(refresh, another_family_of_the_same_user_lives_on)
{
	struct refresh_pair a, b, other, c;

	login(&a);
	login(&other);
	cr_assert_str_neq(a.family, other.family);
	cr_assert_eq(refresh_rotate(ctx, T, a.refresh, &b, NULL), PC_OK);
	cr_assert_eq(refresh_rotate(ctx, T, a.refresh, &c, NULL), PC_EREVOKED);
	cr_expect_eq(access_ok(other.access), PC_OK);
	cr_expect_eq(refresh_rotate(ctx, T, other.refresh, &c, NULL), PC_OK);
}

struct racer {
	pthread_barrier_t *start;
	const char *token;
	enum pc_err err;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct refresh_pair p;

	pthread_barrier_wait(r->start);
	r->err = refresh_rotate(ctx, T, r->token, &p, NULL);
	return NULL;
}

#define RACERS 8

Test(refresh, two_concurrent_rotations_of_one_token_exactly_one_wins)
{
	for (int round = 0; round < 5; round++) {
		pthread_barrier_t start;
		pthread_t th[RACERS];
		struct racer r[RACERS];
		struct refresh_pair a;
		int wins = 0;

		login(&a);
		pthread_barrier_init(&start, NULL, RACERS);
		for (int i = 0; i < RACERS; i++) {
			r[i] = (struct racer){ .start = &start, .token = a.refresh, .err = PC_EINTERNAL };
			cr_assert_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
		}
		for (int i = 0; i < RACERS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&start);
		for (int i = 0; i < RACERS; i++) {
			wins += r[i].err == PC_OK;
			cr_expect(r[i].err == PC_OK || r[i].err == PC_EREVOKED ||
				  r[i].err == PC_EUNAUTHORIZED, "racer %d: %s", i, pc_strerror(r[i].err));
		}
		cr_expect_eq(wins, 1, "round %d: %d rotations of one token won", round, wins);
		cr_expect_eq(db_int("SELECT count(*) FROM refresh_tokens WHERE family_id = ?1",
				    a.family), 2, "one child, however many racers");
	}
}

Test(refresh, an_expired_token_is_refused)
{
	struct refresh_pair a, b;
	char hash[PC_SHA256_HEX];

	login(&a);
	db_exec("UPDATE refresh_tokens SET expires_at = 1");
	cr_expect_eq(refresh_rotate(ctx, T, a.refresh, &b, NULL), PC_EUNAUTHORIZED);
	cr_expect_eq(refresh_revoke(ctx, a.refresh), PC_EUNAUTHORIZED);
	crypto_token_hash(a.refresh, hash);
	cr_expect_eq(db_int("SELECT coalesce(used_at, 0) FROM refresh_tokens WHERE token_hash = ?1",
			    hash), 0, "an expired token is not spent");
	cr_expect_eq(family_revoked(a.family), 0, "expiry revokes nothing");
	cr_expect_eq(access_ok(a.access), PC_OK);
}

Test(refresh, revoke_ends_the_family)
{
	struct refresh_pair a, b, c;

	login(&a);
	cr_assert_eq(refresh_rotate(ctx, T, a.refresh, &b, NULL), PC_OK);
	cr_expect_eq(refresh_revoke(ctx, b.refresh), PC_OK);
	cr_expect_gt(family_revoked(a.family), 0);
	cr_expect_eq(refresh_rotate(ctx, T, b.refresh, &c, NULL), PC_EUNAUTHORIZED);
	cr_expect_eq(access_ok(b.access), PC_EUNAUTHORIZED);
	cr_expect_eq(refresh_revoke(ctx, b.refresh), PC_EUNAUTHORIZED, "revoked once is enough");
}

Test(refresh, a_refresh_token_is_no_access_token_and_an_access_token_no_refresh_token)
{
	struct refresh_pair a, b;

	login(&a);
	cr_expect_eq(access_ok(a.refresh), PC_EUNAUTHORIZED);
	cr_expect_eq(refresh_rotate(ctx, T, a.access, &b, NULL), PC_EUNAUTHORIZED);
	cr_expect_eq(refresh_revoke(ctx, a.access), PC_EUNAUTHORIZED);
	cr_expect_eq(refresh_rotate(ctx, T, a.refresh, &b, NULL), PC_OK, "both were left alone");
}

Test(refresh, a_family_claim_of_another_user_is_refused)
{
	struct refresh_pair a;
	struct pc_user other;
	struct pc_user_input in;
	struct pc_errinfo ei = { 0 };
	char tok[PC_JWT_MAX];

	login(&a);
	pc_user_input_init(&in);
	in.email = "galahad@camelot.bt";
	in.password = PW;
	in.password_len = strlen(PW);
	cr_assert_eq(pc_user_register(ctx, &in, &other, &ei), PC_OK);
	cr_assert_eq(auth_jwt_issue_family(ctx, T, &other, a.family, tok, sizeof(tok)), PC_OK);
	cr_expect_eq(access_ok(tok), PC_EUNAUTHORIZED);
	cr_assert_eq(auth_jwt_issue_family(ctx, T, &user, a.family, tok, sizeof(tok)), PC_OK);
	cr_expect_eq(access_ok(tok), PC_OK);
}

Test(refresh_cfg, grace_interval_lets_a_second_use_within_the_grace_succeed_without_revoking)
{
	struct refresh_pair a, b, c, d;

	open_with("30");
	login(&a);
	cr_assert_eq(refresh_rotate(ctx, T, a.refresh, &b, NULL), PC_OK);
	cr_expect_eq(refresh_rotate(ctx, T, a.refresh, &c, NULL), PC_OK);
	cr_expect_str_eq(c.family, a.family);
	cr_expect_str_neq(c.refresh, b.refresh);
	cr_expect_eq(family_revoked(a.family), 0);
	cr_expect_eq(access_ok(b.access), PC_OK);
	cr_expect_eq(refresh_rotate(ctx, T, b.refresh, &d, NULL), PC_OK, "the first child lives on");
}

Test(refresh_cfg, without_grace_a_second_use_in_the_same_second_revokes)
{
	struct refresh_pair a, b, c;

	open_with("0");
	login(&a);
	cr_assert_eq(refresh_rotate(ctx, T, a.refresh, &b, NULL), PC_OK);
	cr_expect_eq(refresh_rotate(ctx, T, a.refresh, &c, NULL), PC_EREVOKED);
	cr_expect_gt(family_revoked(a.family), 0);
}

Test(refresh, purge_removes_expired_tokens_and_the_families_they_leave_empty)
{
	struct refresh_pair a, b, live;

	login(&a);
	cr_assert_eq(refresh_rotate(ctx, T, a.refresh, &b, NULL), PC_OK);
	login(&live);
	db_exec("UPDATE refresh_tokens SET expires_at = 1 WHERE family_id = "
		"(SELECT family_id FROM refresh_tokens WHERE used_at IS NOT NULL)");
	cr_assert_eq(refresh_purge(ctx, time_now()), PC_OK);
	cr_expect_eq(db_int("SELECT count(*) FROM refresh_tokens WHERE family_id = ?1", a.family), 0);
	cr_expect_eq(db_int("SELECT count(*) FROM refresh_families WHERE family_id = ?1", a.family),
		     0);
	cr_expect_eq(access_ok(b.access), PC_EUNAUTHORIZED, "a purged family is no family");
	cr_expect_eq(db_int("SELECT count(*) FROM refresh_families WHERE family_id = ?1",
			    live.family), 1);
	cr_expect_eq(access_ok(live.access), PC_OK);
	cr_expect_eq(refresh_rotate(ctx, T, live.refresh, &b, NULL), PC_OK);
}

/* ---- simplejwt: the opaque token inside a JWT ---------------------------------------- */

Test(refresh, a_wrapped_refresh_token_unwraps_to_itself_and_is_live_until_spent)
{
	const struct jwt_claims_table *rt = &jwt_claims_simplejwt_refresh;
	struct refresh_pair a, b;
	char jwt[PC_JWT_MAX], token[PC_TOKEN_MAX];

	cr_assert_eq(refresh_login(ctx, &jwt_claims_simplejwt, &user, &a), PC_OK);
	cr_assert_eq(refresh_jwt_wrap(ctx, rt, a.refresh, user.id, jwt, sizeof(jwt)), PC_OK);
	cr_expect_null(strstr(db_text("SELECT group_concat(token_hash) FROM refresh_tokens", NULL),
			      a.refresh), "only the hash is stored");
	cr_assert_eq(refresh_jwt_unwrap(ctx, rt, jwt, token), PC_OK);
	cr_expect_str_eq(token, a.refresh);
	cr_expect_eq(refresh_live(ctx, token), PC_OK);
	/* an access token is no refresh token: refused before any row is read */
	cr_expect_eq(refresh_jwt_unwrap(ctx, rt, a.access, token), PC_EUNAUTHORIZED);
	cr_expect_str_eq(token, "");
	cr_expect_eq(refresh_jwt_unwrap(ctx, rt, "garbage", token), PC_EUNAUTHORIZED);
	cr_assert_eq(refresh_rotate(ctx, &jwt_claims_simplejwt, a.refresh, &b, NULL), PC_OK);
	cr_expect_eq(refresh_live(ctx, a.refresh), PC_EUNAUTHORIZED, "spent");
	cr_expect_eq(refresh_live(ctx, b.refresh), PC_OK);
	cr_expect_eq(refresh_revoke(ctx, b.refresh), PC_OK);
	cr_expect_eq(refresh_live(ctx, b.refresh), PC_EUNAUTHORIZED, "revoked");
	cr_expect_eq(refresh_live(ctx, NULL), PC_EUNAUTHORIZED);
}

Test(refresh, revoking_a_family_by_its_id_ends_its_tokens_and_no_other)
{
	struct refresh_pair a, b, c;

	login(&a);
	login(&b);
	cr_expect_eq(refresh_revoke_family(ctx, a.family), PC_OK);
	cr_expect_gt(family_revoked(a.family), 0);
	cr_expect_eq(access_ok(a.access), PC_EUNAUTHORIZED);
	cr_expect_eq(refresh_rotate(ctx, T, a.refresh, &c, NULL), PC_EUNAUTHORIZED);
	cr_expect_eq(access_ok(b.access), PC_OK, "another login lives on");
	cr_expect_eq(family_revoked(b.family), 0);
	cr_expect_eq(refresh_revoke_family(ctx, ""), PC_ENOTFOUND);
	cr_expect_eq(refresh_revoke_family(ctx, "no-such-family"), PC_OK);
}
