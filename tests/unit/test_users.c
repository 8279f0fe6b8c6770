/* The user rules of the core, over a real SQLite store in a temp dir:
 * registration, privileges, updates, login, JWTs and sessions. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "helpers.h"

static char dir[64];
static struct pc_ctx *ctx;

static void open_ctx(void)
{
	struct pc_config cfg;

	test_dir_make(dir, sizeof(dir), "pc_users_");
	test_config(&cfg, dir);
	test_ctx_open(&cfg, &ctx);
}

static void close_ctx(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(users, .init = open_ctx, .fini = close_ctx);

static enum pc_err reg(const char *email, const char *pw, struct pc_user *u, struct pc_errinfo *ei)
{
	struct pc_user_input in;

	pc_user_input_init(&in);
	in.email = email;
	in.password = pw;
	in.password_len = strlen(pw);
	in.is_superuser = 1;
	in.is_verified = 1;
	return pc_user_register(ctx, &in, u, ei);
}

Test(users, registration_cannot_raise_privileges_and_stores_a_hash)
{
	struct pc_user u, again;
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(reg("Lancelot@Camelot.bt", "guinevere-queen-9", &u, &ei), PC_OK, "%s", ei.detail);
	cr_expect(u.is_active);
	cr_expect(!u.is_superuser);
	cr_expect(!u.is_verified);
	cr_expect(crypto_uuid_valid(u.id));
	cr_assert_eq(pc_user_get(ctx, u.id, &again), PC_OK);
	cr_expect_eq(strncmp(again.hashed_password, "$argon2id$", 10), 0);
	cr_expect_null(strstr(again.hashed_password, "guinevere"));
}

Test(users, emails_are_unique_whatever_their_case)
{
	struct pc_user u;
	struct pc_errinfo ei = { 0 };
	int64_t n = 0;

	cr_assert_eq(reg("percival@camelot.bt", "grail-quest", &u, &ei), PC_OK);
	cr_expect_eq(reg("PERCIVAL@Camelot.BT", "grail-quest", &u, &ei), PC_EEXISTS);
	cr_expect_str_eq(ei.field, "email");
	cr_assert_eq(pc_user_count(ctx, &n), PC_OK);
	cr_expect_eq(n, 1);
}

Test(users, password_policy_answers_with_a_reason)
{
	struct pc_user u;
	struct pc_errinfo ei = { 0 };
	int64_t n = -1;

	cr_expect_eq(reg("gawain@camelot.bt", "short", &u, &ei), PC_EBADPASSWORD);
	cr_expect_eq(ei.code, PC_V_TOO_SHORT);
	cr_expect_eq(ei.limit, 8);
	cr_expect_eq(reg("gawain@camelot.bt", "xgawain@camelot.btx", &u, &ei), PC_EBADPASSWORD);
	cr_expect_eq(reg("not an email", "long enough", &u, &ei), PC_EINVAL);
	pc_user_count(ctx, &n);
	cr_expect_eq(n, 0, "nothing stored");
}

Test(users, login_by_email_or_username_and_never_says_which_part_failed)
{
	struct pc_user u, in_user;
	struct pc_user_input in;
	struct pc_errinfo ei = { 0 };

	pc_user_input_init(&in);
	in.email = "bedivere@camelot.bt";
	in.username = "Bedivere";
	in.password = "excalibur-stone-42";
	in.password_len = 18;
	cr_assert_eq(pc_user_create(ctx, &in, &u, &ei), PC_OK, "%s", ei.detail);
	cr_expect_eq(pc_login(ctx, "BEDIVERE@camelot.bt", "excalibur-stone-42", 18, &in_user), PC_OK);
	cr_expect_str_eq(in_user.id, u.id);
	cr_expect_eq(pc_login(ctx, "bedivere", "excalibur-stone-42", 18, &in_user), PC_OK);
	cr_expect_eq(pc_login(ctx, "bedivere@camelot.bt", "excalibur-STONE-42", 18, &in_user), PC_EBADCREDS);
	cr_expect_eq(pc_login(ctx, "nobody@camelot.bt", "excalibur-stone-42", 18, &in_user), PC_EBADCREDS);
	cr_expect_eq(pc_login(ctx, "x'; --", "excalibur-stone-42", 18, &in_user), PC_EBADCREDS);
}

Test(users, inactive_users_cannot_log_in)
{
	struct pc_user u, out;
	struct pc_user_input patch;
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(reg("mordred@camelot.bt", "treachery-at-camlann-537", &u, &ei), PC_OK);
	pc_user_input_init(&patch);
	patch.is_active = 0;
	cr_assert_eq(pc_user_update(ctx, &u, &patch, 0, &ei), PC_OK);
	cr_expect(u.is_active, "without privilege the flag is ignored");
	cr_assert_eq(pc_user_update(ctx, &u, &patch, PC_UPDATE_PRIVILEGED, &ei), PC_OK);
	cr_expect(!u.is_active);
	cr_expect_eq(pc_login(ctx, "mordred@camelot.bt", "treachery-at-camlann-537", 24, &out), PC_EBADCREDS);
}

Test(users, a_new_email_clears_verification_and_a_new_password_replaces_the_old)
{
	struct pc_user u, out;
	struct pc_user_input patch;
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(reg("tristan@camelot.bt", "isolde-1", &u, &ei), PC_OK);
	pc_user_input_init(&patch);
	patch.is_verified = 1;
	cr_assert_eq(pc_user_update(ctx, &u, &patch, PC_UPDATE_PRIVILEGED, &ei), PC_OK);
	cr_assert(u.is_verified);
	pc_user_input_init(&patch);
	patch.email = "tristan@cornwall.bt";
	patch.password = "isolde-2";
	patch.password_len = 8;
	cr_assert_eq(pc_user_update(ctx, &u, &patch, 0, &ei), PC_OK);
	cr_expect(!u.is_verified);
	cr_expect_eq(pc_login(ctx, "tristan@cornwall.bt", "isolde-1", 8, &out), PC_EBADCREDS);
	cr_expect_eq(pc_login(ctx, "tristan@cornwall.bt", "isolde-2", 8, &out), PC_OK);
}

Test(users, jwt_logout_denies_the_token_until_it_expires)
{
	struct pc_user u, out;
	struct pc_errinfo ei = { 0 };
	char t1[PC_JWT_MAX], t2[PC_JWT_MAX];

	cr_assert_eq(reg("kay@camelot.bt", "seneschal-of-camelot", &u, &ei), PC_OK);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t1, sizeof(t1)), PC_OK);
	cr_assert_eq(pc_jwt_issue(ctx, &u, t2, sizeof(t2)), PC_OK);
	cr_expect_eq(pc_jwt_authenticate(ctx, t1, &out), PC_OK);
	cr_expect_str_eq(out.id, u.id);
	cr_assert_eq(pc_jwt_revoke(ctx, t1), PC_OK);
	cr_expect_eq(pc_jwt_authenticate(ctx, t1, &out), PC_EUNAUTHORIZED);
	cr_expect_eq(pc_jwt_authenticate(ctx, t2, &out), PC_OK, "other tokens still work");
	cr_expect_eq(pc_jwt_authenticate(ctx, "not.a.jwt", &out), PC_EUNAUTHORIZED);
}

Test(users, sessions_are_stored_as_hashes_and_end_on_logout)
{
	struct pc_user u, out;
	struct pc_errinfo ei = { 0 };
	char token[PC_TOKEN_MAX];

	cr_assert_eq(reg("galahad@camelot.bt", "pure-heart", &u, &ei), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &u, "127.0.0.1", "test", token), PC_OK);
	cr_expect_eq(strlen(token), 43);
	cr_expect_eq(pc_session_authenticate(ctx, token, &out), PC_OK);
	cr_expect_str_eq(out.id, u.id);
	cr_assert_eq(pc_session_end(ctx, token), PC_OK);
	cr_expect_eq(pc_session_authenticate(ctx, token, &out), PC_EUNAUTHORIZED);
	cr_expect_eq(pc_session_authenticate(ctx, "short", &out), PC_EUNAUTHORIZED);
}

Test(users, deleting_a_user_ends_its_sessions)
{
	struct pc_user u, out;
	struct pc_errinfo ei = { 0 };
	char token[PC_TOKEN_MAX];

	cr_assert_eq(reg("agravain@camelot.bt", "orkney-1", &u, &ei), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &u, NULL, NULL, token), PC_OK);
	cr_assert_eq(pc_user_delete(ctx, u.id), PC_OK);
	cr_expect_eq(pc_session_authenticate(ctx, token, &out), PC_EUNAUTHORIZED);
	cr_expect_eq(pc_user_get(ctx, u.id, &out), PC_ENOTFOUND);
	cr_expect_eq(pc_user_delete(ctx, u.id), PC_ENOTFOUND);
	cr_expect_eq(pc_user_get(ctx, "not-a-uuid", &out), PC_ENOTFOUND);
}

/* ---- roles ------------------------------------------------------------------------------ */

static enum pc_err create_with_roles(const char *email, const char *roles, bool privileged,
				     struct pc_user *u, struct pc_errinfo *ei)
{
	struct pc_user_input in;

	pc_user_input_init(&in);
	in.email = email;
	in.password = "excalibur-stone-42!";
	in.password_len = strlen(in.password);
	in.roles = roles;
	return privileged ? pc_user_create(ctx, &in, u, ei) : pc_user_register(ctx, &in, u, ei);
}

Test(users, roles_are_stored_sorted_once_and_only_by_the_privileged)
{
	struct pc_user u, again;
	struct pc_errinfo ei = { 0 };
	struct pc_user_input patch;

	cr_assert_eq(create_with_roles("kay@camelot.bt", "  ops admin ops ", true, &u, &ei), PC_OK,
		     "%s", ei.detail);
	cr_expect_str_eq(u.roles, "admin ops");
	cr_assert_eq(pc_user_get(ctx, u.id, &again), PC_OK);
	cr_expect_str_eq(again.roles, "admin ops");
	cr_expect(pc_user_has_role(&again, "admin"));
	cr_expect(pc_user_has_role(&again, "ops"));
	cr_expect(!pc_user_has_role(&again, "adm"));
	cr_expect(!pc_user_has_role(&again, "dmin"));
	cr_expect(!pc_user_has_role(&again, "admin ops"));

	/* registration ignores them, as it ignores the flags */
	cr_assert_eq(create_with_roles("gawain@camelot.bt", "admin", false, &u, &ei), PC_OK);
	cr_expect_str_eq(u.roles, "");
	/* an update without PC_UPDATE_PRIVILEGED leaves them */
	pc_user_input_init(&patch);
	patch.roles = "admin";
	cr_assert_eq(pc_user_update(ctx, &u, &patch, 0, &ei), PC_OK);
	cr_expect_str_eq(u.roles, "");
	cr_assert_eq(pc_user_update(ctx, &u, &patch, PC_UPDATE_PRIVILEGED, &ei), PC_OK);
	cr_expect_str_eq(u.roles, "admin");
	patch.roles = "";
	cr_assert_eq(pc_user_update(ctx, &u, &patch, PC_UPDATE_PRIVILEGED, &ei), PC_OK);
	cr_expect_str_eq(u.roles, "");
	cr_expect(!pc_user_has_role(&u, "admin"));
}

Test(users, bad_roles_are_refused_and_nothing_is_stored)
{
	static const char *const bad[] = {
		"Admin", "a/b", "x\tz", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 33 */
		"a b c d e f g h i j k l m n o p q", /* 17 names */
	};
	struct pc_user u;
	int64_t n0, n1;

	cr_assert_eq(pc_user_count(ctx, &n0), PC_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pc_errinfo ei = { 0 };

		cr_expect_eq(create_with_roles("bors@camelot.bt", bad[i], true, &u, &ei), PC_EINVAL,
			     "%s", bad[i]);
		cr_expect_eq(ei.code, PC_V_ROLES_INVALID, "%s", bad[i]);
		cr_expect_str_eq(ei.field, "roles");
	}
	cr_assert_eq(pc_user_count(ctx, &n1), PC_OK);
	cr_expect_eq(n0, n1);
}

Test(users, a_user_needs_an_email_or_a_username_not_both)
{
	struct pc_user_input in;
	struct pc_user u, got;
	struct pc_errinfo ei = { 0 };

	pc_user_input_init(&in);
	in.password = "guinevere-queen-9";
	in.password_len = strlen(in.password);
	cr_assert_eq(pc_user_register(ctx, &in, &u, &ei), PC_EINVAL);
	cr_expect_str_eq(ei.field, "username");
	cr_expect_eq(ei.code, PC_V_MISSING);

	in.username = "Galahad";
	cr_assert_eq(pc_user_register(ctx, &in, &u, &ei), PC_OK, "%s", ei.detail);
	cr_expect_str_eq(u.email, "");
	cr_assert_eq(pc_login(ctx, "galahad", "guinevere-queen-9", 17, &got), PC_OK);
	cr_expect_str_eq(got.id, u.id);
	cr_expect_str_eq(got.email, "");
	/* a second username-only user: no email to collide on */
	in.username = "Gawain";
	cr_assert_eq(pc_user_register(ctx, &in, &u, &ei), PC_OK, "%s", ei.detail);
	in.username = "GALAHAD";
	cr_expect_eq(pc_user_register(ctx, &in, &u, &ei), PC_EEXISTS);

	/* an update cannot take the username of a user without an email */
	pc_user_input_init(&in);
	in.username = "";
	cr_expect_eq(pc_user_update(ctx, &got, &in, 0, &ei), PC_EINVAL);
	cr_expect_str_eq(ei.field, "username");
	cr_assert_eq(pc_user_get(ctx, got.id, &u), PC_OK);
	cr_expect_str_eq(u.username, "Galahad");
	/* but it may give one an email, and then take the username */
	in.username = NULL;
	in.email = "galahad@camelot.bt";
	cr_assert_eq(pc_user_update(ctx, &got, &in, 0, &ei), PC_OK, "%s", ei.detail);
	in.email = NULL;
	in.username = "";
	cr_expect_eq(pc_user_update(ctx, &got, &in, 0, &ei), PC_OK, "%s", ei.detail);
}
