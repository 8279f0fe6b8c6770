/* Database sessions (sessions.c) over a real SQLite store: only the token's
 * hash is stored, and a session ends, expires or goes with its user. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "helpers.h"

static char dir[64];
static struct pc_ctx *ctx;

static void open_ctx(void)
{
	struct pc_config cfg;

	test_dir_make(dir, sizeof(dir), "pc_sessions_");
	test_config(&cfg, dir);
	test_ctx_open(&cfg, &ctx);
}

static void close_ctx(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(sessions, .init = open_ctx, .fini = close_ctx);

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

Test(sessions, the_store_keeps_the_token_s_hash_never_the_token)
{
	char token[PC_TOKEN_MAX], hash[PC_SHA256_HEX], got[128];
	struct pc_user u;

	reg("arthur@camelot.bt", &u);
	cr_assert_eq(pc_session_create(ctx, &u, "192.0.2.7", "curl/8", token), PC_OK);
	cr_expect_eq(strlen(token), 43, "256 bits of base64url");
	crypto_token_hash(token, hash);
	test_db_text(dir, "SELECT user_id FROM sessions WHERE token_hash = ?1", hash, got, sizeof(got));
	cr_expect_str_eq(got, u.id);
	test_db_text(dir, "SELECT ip || ' ' || user_agent FROM sessions WHERE token_hash = ?1", hash,
		     got, sizeof(got));
	cr_expect_str_eq(got, "192.0.2.7 curl/8");
	test_db_text(dir,
		     "SELECT COUNT(*) FROM sessions WHERE token_hash = ?1 OR ip = ?1 OR user_agent = ?1",
		     token, got, sizeof(got));
	cr_expect_str_eq(got, "0", "the raw token is nowhere");
	test_db_text(dir, "SELECT expires_at - created_at FROM sessions", NULL, got, sizeof(got));
	cr_expect_str_eq(got, "3600", "session_lifetime_seconds");
}

Test(sessions, a_session_authenticates_its_user_without_the_hash)
{
	char a[PC_TOKEN_MAX], b[PC_TOKEN_MAX];
	struct pc_user u, out;

	reg("lancelot@camelot.bt", &u);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, a), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, b), PC_OK);
	cr_expect_str_neq(a, b);
	cr_assert_eq(pc_session_authenticate(ctx, a, &out), PC_OK);
	cr_expect_str_eq(out.id, u.id);
	cr_expect_str_eq(out.hashed_password, "");
	cr_assert_eq(pc_session_authenticate(ctx, b, &out), PC_OK);
}

Test(sessions, tokens_not_of_our_shape_are_refused)
{
	char token[PC_TOKEN_MAX], bad[PC_TOKEN_MAX + 8];
	struct pc_user u, out;

	reg("gawain@camelot.bt", &u);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, token), PC_OK);
	snprintf(bad, sizeof(bad), "%sA", token);
	cr_expect_eq(pc_session_authenticate(ctx, bad, &out), PC_EUNAUTHORIZED, "44 characters");
	snprintf(bad, sizeof(bad), "%.42s", token);
	cr_expect_eq(pc_session_authenticate(ctx, bad, &out), PC_EUNAUTHORIZED, "42 characters");
	snprintf(bad, sizeof(bad), "%.42s=", token);
	cr_expect_eq(pc_session_authenticate(ctx, bad, &out), PC_EUNAUTHORIZED, "padding");
	cr_expect_eq(pc_session_authenticate(ctx, NULL, &out), PC_EUNAUTHORIZED);
	cr_expect_eq(pc_session_authenticate(ctx, "", &out), PC_EUNAUTHORIZED);
	cr_expect_eq(pc_session_end(ctx, "short"), PC_EUNAUTHORIZED);
	/* A well-shaped token nobody issued. */
	memset(bad, 'A', 43);
	bad[43] = '\0';
	cr_expect_eq(pc_session_authenticate(ctx, bad, &out), PC_EUNAUTHORIZED);
}

Test(sessions, an_ended_session_is_refused_and_its_row_gone)
{
	char a[PC_TOKEN_MAX], b[PC_TOKEN_MAX], n[16];
	struct pc_user u, out;

	reg("tristan@camelot.bt", &u);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, a), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, b), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, a, &out), PC_OK);
	cr_assert_eq(pc_session_end(ctx, a), PC_OK);
	cr_expect_eq(pc_session_authenticate(ctx, a, &out), PC_EUNAUTHORIZED);
	cr_expect_eq(pc_session_authenticate(ctx, b, &out), PC_OK, "the other session stays");
	test_db_text(dir, "SELECT COUNT(*) FROM sessions", NULL, n, sizeof(n));
	cr_expect_str_eq(n, "1");
}

Test(sessions, an_expired_session_is_refused)
{
	char token[PC_TOKEN_MAX], hash[PC_SHA256_HEX];
	struct pc_user u, out;

	reg("bedivere@camelot.bt", &u);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, token), PC_OK);
	crypto_token_hash(token, hash);
	test_db_exec(dir, "UPDATE sessions SET expires_at = strftime('%s','now') - 1", NULL);
	cr_expect_eq(pc_session_authenticate(ctx, token, &out), PC_EUNAUTHORIZED);
}

Test(sessions, a_deleted_user_takes_the_sessions_along)
{
	char token[PC_TOKEN_MAX], n[16];
	struct pc_user u, out;

	reg("kay@camelot.bt", &u);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, token), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, token, &out), PC_OK);
	cr_assert_eq(pc_user_delete(ctx, u.id), PC_OK);
	cr_expect_eq(pc_session_authenticate(ctx, token, &out), PC_EUNAUTHORIZED);
	test_db_text(dir, "SELECT COUNT(*) FROM sessions", NULL, n, sizeof(n));
	cr_expect_str_eq(n, "0");
}
