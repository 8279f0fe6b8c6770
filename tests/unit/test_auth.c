/* Password login and access JWTs (auth.c) over a real SQLite store: what a
 * login answers and spends, what it rewrites, and which tokens stop
 * working (logout, deletion, another face's claims table). */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "helpers.h"

static char dir[64];

#define STORED_HASH "SELECT hashed_password FROM users WHERE email = 'percival@camelot.bt'"
static struct pc_ctx *ctx;

static void open_with(const char *requires_verification)
{
	struct pc_config cfg;

	test_dir_make(dir, sizeof(dir), "pc_auth_");
	test_config(&cfg, dir);
	cr_assert_eq(pc_config_set(&cfg, "argon2_memory_kib", "4096", NULL), PC_OK);
	cr_assert_eq(pc_config_set(&cfg, "requires_verification", requires_verification, NULL),
		     PC_OK);
	test_ctx_open(&cfg, &ctx);
}

static void open_ctx(void)
{
	open_with("false");
}

static void close_ctx(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(auth, .init = open_ctx, .fini = close_ctx);
TestSuite(auth_cfg, .fini = close_ctx);

#define PW "guinevere-1"

static void reg(const char *email, const char *username, struct pc_user *u)
{
	struct pc_user_input in;
	struct pc_errinfo ei = { 0 };

	pc_user_input_init(&in);
	in.email = email;
	in.username = username;
	in.password = PW;
	in.password_len = strlen(PW);
	cr_assert_eq(pc_user_register(ctx, &in, u, &ei), PC_OK, "%s", ei.detail);
}

/* One statement on the test database, beside the store; ?1 is arg. */
static void db_exec(const char *sql, const char *arg)
{
	test_db_exec(dir, sql, arg);
}

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of n logins of ident with pw on this thread; each must fail. */
static int64_t login_cost(const char *ident, const char *pw, int n)
{
	struct pc_user u;
	int64_t t0 = cpu_ns();

	for (int i = 0; i < n; i++)
		cr_assert_eq(pc_login(ctx, ident, pw, strlen(pw), &u), PC_EBADCREDS, "%s", ident);
	return cpu_ns() - t0;
}

/* ---- login ------------------------------------------------------------------------ */

Test(auth, a_right_password_logs_in_by_email_any_case_or_by_username)
{
	struct pc_user u, out;

	reg("Arthur@Camelot.bt", "arthur", &u);
	cr_assert_eq(pc_login(ctx, "arthur@camelot.bt", PW, strlen(PW), &out), PC_OK);
	cr_expect_str_eq(out.id, u.id);
	cr_assert_eq(pc_login(ctx, "ARTHUR@CAMELOT.BT", PW, strlen(PW), &out), PC_OK);
	cr_assert_eq(pc_login(ctx, "Arthur", PW, strlen(PW), &out), PC_OK);
	cr_expect_str_eq(out.id, u.id);
}

Test(auth, a_wrong_password_an_inactive_user_and_an_unknown_email_answer_alike)
{
	struct pc_user u, out;

	reg("lancelot@camelot.bt", NULL, &u);
	cr_expect_eq(pc_login(ctx, "lancelot@camelot.bt", "wrong-pass", 10, &out), PC_EBADCREDS);
	cr_expect_eq(pc_login(ctx, "nobody@camelot.bt", PW, strlen(PW), &out), PC_EBADCREDS);
	cr_expect_eq(pc_login(ctx, "not an email@", PW, strlen(PW), &out), PC_EBADCREDS);
	cr_expect_eq(pc_login(ctx, NULL, PW, strlen(PW), &out), PC_EBADCREDS);
	db_exec("UPDATE users SET is_active = 0 WHERE id = ?1", u.id);
	cr_expect_eq(pc_login(ctx, "lancelot@camelot.bt", PW, strlen(PW), &out), PC_EBADCREDS,
		     "an inactive user's right password tells nothing either");
}

Test(auth, unknown_email_still_spends_a_hash)
{
	struct pc_user u;
	int64_t known, unknown, passwordless;

	reg("gawain@camelot.bt", NULL, &u);
	reg("galahad@camelot.bt", NULL, &u);
	db_exec("UPDATE users SET hashed_password = NULL WHERE id = ?1", u.id);
	login_cost("nobody@camelot.bt", PW, 1); /* the dummy hash is made on first use */
	known = login_cost("gawain@camelot.bt", "wrong-pass", 8);
	unknown = login_cost("nobody@camelot.bt", PW, 8);
	passwordless = login_cost("galahad@camelot.bt", PW, 8);
	/* Without the dummy verification these cost a store read: ~100x less. */
	cr_expect_gt(unknown * 3, known, "unknown %lld ns against %lld ns", (long long)unknown,
		     (long long)known);
	cr_expect_gt(passwordless * 3, known, "passwordless %lld ns against %lld ns",
		     (long long)passwordless, (long long)known);
}

Test(auth, an_old_parameter_hash_is_rehashed_on_the_next_login)
{
	struct pc_argon2_params old = { 1024, 1, 1 };
	char phc[PC_HASH_MAX + 1], stored[PC_HASH_MAX + 1];
	struct pc_user u, out;

	reg("percival@camelot.bt", NULL, &u);
	cr_assert_eq(password_hash(&old, PW, strlen(PW), phc, sizeof(phc)), PC_OK);
	db_exec("UPDATE users SET hashed_password = ?1", phc);
	cr_assert_eq(pc_login(ctx, "percival@camelot.bt", "wrong-pass", 10, &out), PC_EBADCREDS);
	test_db_text(dir, STORED_HASH, NULL, stored, sizeof(stored));
	cr_expect_str_eq(stored, phc, "a failed login rewrites nothing");
	cr_assert_eq(pc_login(ctx, "percival@camelot.bt", PW, strlen(PW), &out), PC_OK);
	test_db_text(dir, STORED_HASH, NULL, stored, sizeof(stored));
	cr_expect(strstr(stored, "$m=4096,t=1,p=1$") != NULL, "rehashed to the policy: %s", stored);
	cr_assert_eq(pc_login(ctx, "percival@camelot.bt", PW, strlen(PW), &out), PC_OK,
		     "and the new hash verifies");
}

Test(auth_cfg, an_unverified_user_is_told_only_with_the_right_password)
{
	struct pc_user u, out;

	open_with("true");
	reg("bors@camelot.bt", NULL, &u);
	cr_expect_eq(pc_login(ctx, "bors@camelot.bt", "wrong-pass", 10, &out), PC_EBADCREDS);
	cr_expect_eq(pc_login(ctx, "bors@camelot.bt", PW, strlen(PW), &out), PC_ENOTVERIFIED);
	db_exec("UPDATE users SET is_verified = 1 WHERE id = ?1", u.id);
	cr_expect_eq(pc_login(ctx, "bors@camelot.bt", PW, strlen(PW), &out), PC_OK);
}

/* ---- access JWTs -------------------------------------------------------------------- */

Test(auth, an_issued_token_authenticates_its_user_without_the_hash)
{
	struct pc_user u, out;
	char t[PC_JWT_MAX];

	reg("kay@camelot.bt", NULL, &u);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	cr_expect_str_eq(out.id, u.id);
	cr_expect_str_eq(out.hashed_password, "");
}

Test(auth, a_revoked_token_is_refused_and_its_jti_is_stored_until_expiry)
{
	struct pc_user u, out;
	struct pc_jwt_claims c;
	char t[PC_JWT_MAX], exp[32], want[32];

	reg("tristan@camelot.bt", NULL, &u);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	cr_assert_eq(pc_jwt_revoke(ctx, t), PC_OK);
	cr_expect_eq(pc_jwt_authenticate(ctx, t, &out), PC_EUNAUTHORIZED);
	cr_assert_eq(jwt_verify(&ctx->jwt, &jwt_claims_rfc7519, t, time_now(), &c), PC_OK);
	test_db_text(dir, "SELECT expires_at FROM revoked_jti WHERE jti = ?1", c.jti, exp, sizeof(exp));
	snprintf(want, sizeof(want), "%lld", (long long)c.exp);
	cr_expect_str_eq(exp, want);
	cr_expect_eq(pc_jwt_revoke(ctx, "not.a.token"), PC_EUNAUTHORIZED);
}

Test(auth, a_token_of_a_deleted_user_is_refused)
{
	struct pc_user u, out;
	char t[PC_JWT_MAX];

	reg("mordred@camelot.bt", NULL, &u);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, t, &out), PC_OK);
	cr_assert_eq(pc_user_delete(ctx, u.id), PC_OK);
	cr_expect_eq(pc_jwt_authenticate(ctx, t, &out), PC_EUNAUTHORIZED);
}

static const struct jwt_claims_table typed = {
	.subject = "user_id", .token_id = "jti", .audience = false,
	.type_claim = "token_type", .access_type = "access",
};

Test(auth, a_token_is_good_only_for_the_claims_table_it_was_issued_with)
{
	struct pc_user u, out;
	char t[PC_JWT_MAX], std[PC_JWT_MAX];

	reg("gareth@camelot.bt", NULL, &u);
	cr_assert_eq(auth_jwt_issue(ctx, &typed, &u, t, sizeof(t)), PC_OK);
	cr_assert_eq(auth_jwt_authenticate(ctx, &typed, t, &out), PC_OK);
	cr_expect_str_eq(out.id, u.id);
	/* Remembered for the typed table, not for the other one. */
	cr_expect_eq(auth_jwt_authenticate(ctx, &jwt_claims_rfc7519, t, &out), PC_EUNAUTHORIZED);
	cr_assert_eq(pc_jwt_issue(ctx, &u, std, sizeof(std)), PC_OK);
	cr_expect_eq(auth_jwt_authenticate(ctx, &typed, std, &out), PC_EUNAUTHORIZED);
	cr_assert_eq(auth_jwt_revoke(ctx, &typed, t), PC_OK);
	cr_expect_eq(auth_jwt_authenticate(ctx, &typed, t, &out), PC_EUNAUTHORIZED);
	cr_expect_eq(pc_jwt_authenticate(ctx, std, &out), PC_OK, "only that token is revoked");
}
