/* One-time tokens and the flows on them (password reset, email verification),
 * over a real SQLite store in a temp dir. The outbox sender is stopped right
 * after the context opens, so every mail stays in the outbox as written and
 * the test reads the token out of it, as a user reads it out of the mail. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "store/store.h"
#include "helpers.h"

static char dir[64];
static struct pc_ctx *ctx;

#define PW "correct-horse-9"
#define HOOK "http://127.0.0.1:9/hook"

/* Opens a context; extra settings as name, value pairs, NULL-terminated. */
static void open_with(const char *name, ...)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };
	va_list ap;

	test_config(&cfg, dir);
	pc_config_set(&cfg, "webhook_url", HOOK, NULL);
	pc_config_set(&cfg, "webhook_secret", "0123456789abcdef0123", NULL);
	va_start(ap, name);
	for (const char *n = name; n != NULL; n = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);

		cr_assert_eq(pc_config_set(&cfg, n, v, &ei), PC_OK, "%s: %s", n, ei.detail);
	}
	va_end(ap);
	test_ctx_open(&cfg, &ctx);
	mail_close(ctx); /* the outbox stays as written */
}

static void setup(void)
{
	test_dir_make(dir, sizeof(dir), "pc_onetime_");
	open_with(NULL);
}

static void teardown(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(onetime, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------------------ */

static void reopen_with(const char *name, const char *value)
{
	pc_ctx_free(ctx);
	open_with(name, value, NULL);
}

static void raw_sql(const char *sql)
{
	test_db_exec(dir, sql, NULL);
}

static struct pc_user reg(const char *email)
{
	struct pc_errinfo ei = { 0 };
	struct pc_user_input in;
	struct pc_user u;

	pc_user_input_init(&in);
	in.email = email;
	in.password = PW;
	in.password_len = strlen(PW);
	cr_assert_eq(pc_user_register(ctx, &in, &u, &ei), PC_OK, "%s", ei.detail);
	return u;
}

/* The outbox rows, in order: *n of them; free() the array. */
static struct pc_outbox_row *outbox(size_t *n)
{
	struct pc_outbox_row *rows = NULL;
	size_t cap = 0;

	*n = 0;
	for (int64_t id = 1;; id++) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			rows = realloc(rows, cap * sizeof(*rows));
			cr_assert_not_null(rows);
		}
		if (STORE_CALL(ctx->store, outbox_get, id, &rows[*n]) != PC_OK)
			break;
		(*n)++;
	}
	return rows;
}

/* The kinds and events of the outbox as one string: "mail,on_after_register,...". */
static void outbox_summary(char *out, size_t outsz)
{
	size_t n, i, len = 0;
	struct pc_outbox_row *rows = outbox(&n);

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *what = rows[i].kind;
		char ev[64] = "";
		const char *p = strstr(rows[i].payload, "\"event\":\"");

		if (p != NULL) {
			snprintf(ev, sizeof(ev), "%s", p + 9);
			*strchr(ev, '"') = '\0';
			what = ev;
		}
		len += (size_t)snprintf(out + len, outsz - len, "%s%s", i ? "," : "", what);
	}
	free(rows);
}

/* The token in the link of the last mail to email; "" when none. */
static void last_token(const char *email, char tok[PC_TOKEN_MAX])
{
	size_t n, i;
	struct pc_outbox_row *rows = outbox(&n);

	tok[0] = '\0';
	for (i = n; i-- > 0;) {
		const char *p = strstr(rows[i].body_text, "token=");
		char needle[64];

		if (strcmp(rows[i].kind, "mail") != 0 || strcmp(rows[i].recipient, email) != 0)
			continue;
		cr_assert_not_null(p, "the mail holds a link: %s", rows[i].body_text);
		snprintf(tok, PC_TOKEN_MAX, "%.43s", p + 6);
		snprintf(needle, sizeof(needle), "?token=%s\"", tok);
		cr_assert_not_null(strstr(rows[i].body_html, needle), "the HTML holds the same link");
		break;
	}
	free(rows);
}

static size_t mails_to(const char *email)
{
	size_t n, i, k = 0;
	struct pc_outbox_row *rows = outbox(&n);

	for (i = 0; i < n; i++)
		k += strcmp(rows[i].kind, "mail") == 0 && strcmp(rows[i].recipient, email) == 0;
	free(rows);
	return k;
}

static enum pc_err reset(const char *tok, const char *pw)
{
	struct pc_errinfo ei = { 0 };

	return pc_password_reset(ctx, tok, pw, strlen(pw), NULL, &ei);
}

static enum pc_err login(const char *email, const char *pw)
{
	struct pc_user u;

	return pc_login(ctx, email, pw, strlen(pw), &u);
}

/* ---- forgot-password ------------------------------------------------------------------- */

Test(onetime, forgot_mails_a_token_that_is_stored_only_as_its_hash)
{
	char tok[PC_TOKEN_MAX], hash[PC_SHA256_HEX];
	struct pc_onetime_row row;
	struct pc_user u = reg("arthur@camelot.bt");

	cr_assert_eq(pc_password_forgot(ctx, "Arthur@Camelot.BT", NULL), PC_OK);
	cr_assert_eq(mails_to("arthur@camelot.bt"), 1);
	last_token("arthur@camelot.bt", tok);
	cr_assert_eq(strlen(tok), 43);
	cr_assert(crypto_token_shape_ok(tok));
	crypto_token_hash(tok, hash);
	cr_assert_eq(STORE_CALL(ctx->store, onetime_get, hash, &row), PC_OK);
	cr_assert_str_eq(row.purpose, "reset");
	cr_assert_str_eq(row.user_id, u.id);
	cr_assert_eq(row.expires_at - row.created_at, 3600);
	cr_assert_eq(STORE_CALL(ctx->store, onetime_get, tok, &row), PC_ENOTFOUND,
		     "the raw token is no key");
}

Test(onetime, forgot_by_username_mails_a_known_user_and_says_who_is_unknown)
{
	struct pc_errinfo ei = { 0 };
	struct pc_user_input in;
	struct pc_user u;
	bool known = true;

	pc_user_input_init(&in);
	in.email = "gawain@camelot.bt";
	in.username = "Gawain";
	in.password = PW;
	in.password_len = strlen(PW);
	cr_assert_eq(pc_user_register(ctx, &in, &u, &ei), PC_OK, "%s", ei.detail);
	cr_assert_eq(onetime_forgot_username(ctx, "gAWAIN", &known), PC_OK);
	cr_expect(known);
	cr_expect_eq(mails_to("gawain@camelot.bt"), 1);
	cr_assert_eq(onetime_forgot_username(ctx, "nobody", &known), PC_OK);
	cr_expect_not(known);
	cr_assert_eq(onetime_forgot_username(ctx, "no way!", &known), PC_OK);
	cr_expect_not(known);
	cr_expect_eq(mails_to("gawain@camelot.bt"), 1);
}

Test(onetime, forgot_answers_alike_for_unknown_and_inactive_and_writes_nothing)
{
	struct pc_user_input patch;
	struct pc_user u = reg("mordred@camelot.bt");
	char before[512], after[512];

	pc_user_input_init(&patch);
	patch.is_active = 0;
	cr_assert_eq(pc_user_update(ctx, &u, &patch, PC_UPDATE_PRIVILEGED, NULL), PC_OK);
	outbox_summary(before, sizeof(before));
	cr_assert_eq(pc_password_forgot(ctx, "nobody@camelot.bt", NULL), PC_OK);
	cr_assert_eq(pc_password_forgot(ctx, "mordred@camelot.bt", NULL), PC_OK);
	outbox_summary(after, sizeof(after));
	cr_assert_str_eq(after, before);
	cr_assert_eq(mails_to("mordred@camelot.bt"), 0);
}

/* Issue 13, item 4: an address that gets no mail pays a write of the same
 * shape: rows in token_decoys and mail_decoys as long as the token's and the
 * mail's, in rings that stay bounded (64 slots), never a token or a mail. */
Test(onetime, an_unknown_address_writes_decoys_as_long_in_a_bounded_ring)
{
	char before[512], after[512], n[32], len[32], mail_len[32];

	outbox_summary(before, sizeof(before));
	cr_assert_eq(pc_password_forgot(ctx, "nobody@camelot.bt", NULL), PC_OK);
	test_db_text(dir, "SELECT count(*) FROM token_decoys", NULL, n, sizeof(n));
	cr_assert_str_eq(n, "1");
	/* one mail and one event (a webhook is configured): two mail decoys */
	test_db_text(dir, "SELECT count(*) FROM mail_decoys", NULL, n, sizeof(n));
	cr_assert_str_eq(n, "2");
	test_db_text(dir, "SELECT max(length(payload)) FROM mail_decoys", NULL, len, sizeof(len));
	cr_assert_gt(atoi(len), 500, "as long as a rendered mail: %s", len);
	for (int i = 0; i < 150; i++) {
		char addr[64];

		snprintf(addr, sizeof(addr), "nobody%d@camelot.bt", i);
		cr_assert_eq(pc_password_forgot(ctx, addr, NULL), PC_OK);
	}
	test_db_text(dir, "SELECT count(*) FROM token_decoys", NULL, n, sizeof(n));
	cr_assert_leq(atoi(n), 64);
	test_db_text(dir, "SELECT count(*) FROM mail_decoys", NULL, n, sizeof(n));
	cr_assert_leq(atoi(n), 64);
	outbox_summary(after, sizeof(after));
	cr_assert_str_eq(after, before, "no token, no mail, no event");

	/* a known address writes its token and mail, no decoy */
	raw_sql("DELETE FROM token_decoys; DELETE FROM mail_decoys");
	reg("arthur@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "arthur@camelot.bt", NULL), PC_OK);
	test_db_text(dir, "SELECT count(*) FROM token_decoys", NULL, n, sizeof(n));
	cr_assert_str_eq(n, "0");
	test_db_text(dir, "SELECT max(length(body_text) + length(body_html)) FROM mail_outbox "
		     "WHERE kind = 'mail'", NULL, mail_len, sizeof(mail_len));
	cr_assert_gt(atoi(mail_len), 0);
	cr_assert_geq(atoi(len), atoi(mail_len), "the decoy is as long as the mail");
}

Test(onetime, forgot_refuses_a_malformed_address)
{
	static const char *const bad[] = {
		"plainaddress", "a@b", "victim@camelot.bt\r\nBcc: evil@evil.bt",
		"victim@camelot.bt\nBcc:evil@evil.bt", "a b@camelot.bt", "",
	};
	struct pc_errinfo ei;
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ei, 0, sizeof(ei));
		cr_assert_eq(pc_password_forgot(ctx, bad[i], &ei), PC_EINVAL, "%zu", i);
		cr_assert_str_eq(ei.field, "email");
		cr_assert_eq(pc_verify_request(ctx, bad[i], NULL), PC_EINVAL);
	}
	free(outbox(&n));
	cr_assert_eq(n, 0);
}

Test(onetime, a_new_reset_token_voids_the_older_one)
{
	char first[PC_TOKEN_MAX], second[PC_TOKEN_MAX];

	reg("gawain@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "gawain@camelot.bt", NULL), PC_OK);
	last_token("gawain@camelot.bt", first);
	cr_assert_eq(pc_password_forgot(ctx, "gawain@camelot.bt", NULL), PC_OK);
	last_token("gawain@camelot.bt", second);
	cr_assert_str_neq(first, second);
	cr_assert_eq(reset(first, "another-pass-1"), PC_EUNAUTHORIZED);
	cr_assert_eq(reset(second, "another-pass-1"), PC_OK);
}

/* ---- reset-password ---------------------------------------------------------------------- */

Test(onetime, a_reset_changes_the_password_once)
{
	char tok[PC_TOKEN_MAX];
	struct pc_user out;
	struct pc_errinfo ei = { 0 };

	reg("bedivere@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "bedivere@camelot.bt", NULL), PC_OK);
	last_token("bedivere@camelot.bt", tok);
	cr_assert_eq(pc_password_reset(ctx, tok, "excalibur-42", 12, &out, &ei), PC_OK, "%s", ei.detail);
	cr_assert_str_eq(out.email, "bedivere@camelot.bt");
	cr_assert_eq(login("bedivere@camelot.bt", "excalibur-42"), PC_OK);
	cr_assert_eq(login("bedivere@camelot.bt", PW), PC_EBADCREDS);
	cr_assert_eq(reset(tok, "someone-else-1"), PC_EUNAUTHORIZED, "a token works once");
	cr_assert_eq(login("bedivere@camelot.bt", "excalibur-42"), PC_OK);
}

Test(onetime, a_reset_ends_the_users_sessions)
{
	char tok[PC_TOKEN_MAX], sess[PC_TOKEN_MAX];
	struct pc_user u = reg("kay@camelot.bt"), got;

	cr_assert_eq(pc_session_create(ctx, &u, "127.0.0.1", "t", sess), PC_OK);
	cr_assert_eq(pc_password_forgot(ctx, "kay@camelot.bt", NULL), PC_OK);
	last_token("kay@camelot.bt", tok);
	cr_assert_eq(reset(tok, "new-password-1"), PC_OK);
	cr_assert_eq(pc_session_authenticate(ctx, sess, &got), PC_EUNAUTHORIZED);
}

Test(onetime, a_reset_refuses_access_tokens_issued_before_it_even_in_its_second)
{
	char tok[PC_TOKEN_MAX], jwt[PC_JWT_MAX], after[PC_JWT_MAX];
	struct pc_user u = reg("kay@camelot.bt"), got;
	struct refresh_pair pair;

	cr_assert_eq(pc_jwt_issue(ctx, &u, jwt, sizeof(jwt)), PC_OK);
	cr_assert_eq(refresh_login(ctx, &jwt_claims_rfc7519, &u, &pair), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, jwt, &got), PC_OK);
	cr_assert_eq(pc_password_forgot(ctx, "kay@camelot.bt", NULL), PC_OK);
	last_token("kay@camelot.bt", tok);
	cr_assert_eq(reset(tok, "new-password-1"), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, jwt, &got), PC_EUNAUTHORIZED,
		     "issued before the reset (most likely in the same second)");
	cr_assert_eq(pc_jwt_authenticate(ctx, pair.access, &got), PC_EUNAUTHORIZED);
	cr_assert_eq(refresh_rotate(ctx, &jwt_claims_rfc7519, pair.refresh, &pair, NULL),
		     PC_EUNAUTHORIZED, "the family is revoked");
	usleep(2000); /* the next millisecond */
	cr_assert_eq(pc_jwt_issue(ctx, &u, after, sizeof(after)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, after, &got), PC_OK, "issued after it");
}

Test(onetime, a_password_update_ends_sessions_families_and_earlier_tokens)
{
	char jwt[PC_JWT_MAX], sess[PC_TOKEN_MAX];
	struct pc_user u = reg("gareth@camelot.bt"), got, other = reg("gaheris@camelot.bt");
	struct pc_user_input in = { .password = "another-pass-2", .password_len = 14,
				    .is_active = PC_UNSET, .is_superuser = PC_UNSET,
				    .is_verified = PC_UNSET };
	char ojwt[PC_JWT_MAX];
	struct refresh_pair pair;
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(pc_jwt_issue(ctx, &u, jwt, sizeof(jwt)), PC_OK);
	cr_assert_eq(pc_jwt_issue(ctx, &other, ojwt, sizeof(ojwt)), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &u, "127.0.0.1", "t", sess), PC_OK);
	cr_assert_eq(refresh_login(ctx, &jwt_claims_rfc7519, &u, &pair), PC_OK);
	cr_assert_eq(pc_user_update(ctx, &u, &in, 0, &ei), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, jwt, &got), PC_EUNAUTHORIZED);
	cr_assert_eq(pc_session_authenticate(ctx, sess, &got), PC_EUNAUTHORIZED);
	cr_assert_eq(refresh_rotate(ctx, &jwt_claims_rfc7519, pair.refresh, &pair, NULL),
		     PC_EUNAUTHORIZED);
	cr_assert_eq(pc_jwt_authenticate(ctx, ojwt, &got), PC_OK, "other users keep theirs");
	in.password = NULL;
	in.full_name = "Sir Gareth";
	usleep(2000);
	cr_assert_eq(pc_jwt_issue(ctx, &u, jwt, sizeof(jwt)), PC_OK);
	cr_assert_eq(pc_user_update(ctx, &u, &in, 0, &ei), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, jwt, &got), PC_OK, "no password change: kept");
}

Test(onetime, a_weak_password_is_refused_and_the_token_stays_good)
{
	char tok[PC_TOKEN_MAX];
	struct pc_errinfo ei = { 0 };

	reg("lamorak@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "lamorak@camelot.bt", NULL), PC_OK);
	last_token("lamorak@camelot.bt", tok);
	cr_assert_eq(pc_password_reset(ctx, tok, "short", 5, NULL, &ei), PC_EBADPASSWORD);
	cr_assert_eq(ei.code, PC_V_TOO_SHORT);
	cr_assert_eq(ei.limit, 8);
	cr_assert_eq(login("lamorak@camelot.bt", PW), PC_OK, "unchanged");
	cr_assert_eq(reset(tok, "long-enough-1"), PC_OK);
}

Test(onetime, the_token_of_an_inactive_user_is_refused)
{
	char tok[PC_TOKEN_MAX];
	struct pc_user_input patch;
	struct pc_user u = reg("agravain@camelot.bt");

	cr_assert_eq(pc_password_forgot(ctx, "agravain@camelot.bt", NULL), PC_OK);
	last_token("agravain@camelot.bt", tok);
	pc_user_input_init(&patch);
	patch.is_active = 0;
	cr_assert_eq(pc_user_update(ctx, &u, &patch, PC_UPDATE_PRIVILEGED, NULL), PC_OK);
	cr_assert_eq(reset(tok, "new-password-1"), PC_EUNAUTHORIZED);
	patch.is_active = 1;
	cr_assert_eq(pc_user_update(ctx, &u, &patch, PC_UPDATE_PRIVILEGED, NULL), PC_OK);
	cr_assert_eq(login("agravain@camelot.bt", PW), PC_OK, "unchanged");
}

Test(onetime, an_expired_token_is_refused)
{
	char tok[PC_TOKEN_MAX];

	reg("tristan@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "tristan@camelot.bt", NULL), PC_OK);
	last_token("tristan@camelot.bt", tok);
	raw_sql("UPDATE one_time_tokens SET expires_at = strftime('%s', 'now')");
	cr_assert_eq(reset(tok, "new-password-1"), PC_EUNAUTHORIZED);
	cr_assert_eq(pc_verify_request(ctx, "tristan@camelot.bt", NULL), PC_OK);
	last_token("tristan@camelot.bt", tok);
	raw_sql("UPDATE one_time_tokens SET expires_at = strftime('%s', 'now') - 1");
	cr_assert_eq(pc_verify(ctx, tok, &(struct pc_user){ 0 }), PC_EUNAUTHORIZED);
}

Test(onetime, garbled_and_unknown_tokens_are_refused)
{
	char tok[PC_TOKEN_MAX], bad[64];
	static const char *const garbled[] = {
		"", "x", "' OR 1=1 --", "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.sig",
		"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 44 */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* 43, unknown */
	};
	struct pc_user u;
	size_t i;

	reg("galahad@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "galahad@camelot.bt", NULL), PC_OK);
	last_token("galahad@camelot.bt", tok);
	for (i = 0; i < sizeof(garbled) / sizeof(garbled[0]); i++) {
		cr_assert_eq(reset(garbled[i], "new-password-1"), PC_EUNAUTHORIZED, "%s", garbled[i]);
		cr_assert_eq(pc_verify(ctx, garbled[i], &u), PC_EUNAUTHORIZED, "%s", garbled[i]);
	}
	cr_assert_eq(reset(NULL, "new-password-1"), PC_EUNAUTHORIZED);
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[0] = bad[0] == 'A' ? 'B' : 'A'; /* one character off */
	cr_assert_eq(reset(bad, "new-password-1"), PC_EUNAUTHORIZED);
	cr_assert_eq(reset(tok, "new-password-1"), PC_OK, "the real one still works");
}

Test(onetime, a_token_works_only_for_its_purpose)
{
	char rtok[PC_TOKEN_MAX], vtok[PC_TOKEN_MAX];
	struct pc_user u;

	reg("percival@camelot.bt");
	cr_assert_eq(pc_verify_request(ctx, "percival@camelot.bt", NULL), PC_OK);
	last_token("percival@camelot.bt", vtok);
	cr_assert_eq(pc_password_forgot(ctx, "percival@camelot.bt", NULL), PC_OK);
	last_token("percival@camelot.bt", rtok);
	cr_assert_eq(reset(vtok, "new-password-1"), PC_EUNAUTHORIZED);
	cr_assert_eq(pc_verify(ctx, rtok, &u), PC_EUNAUTHORIZED);
	cr_assert_eq(login("percival@camelot.bt", PW), PC_OK);
	cr_assert_eq(pc_verify(ctx, vtok, &u), PC_OK);
	cr_assert_eq(reset(rtok, "new-password-1"), PC_OK);
}

Test(onetime, a_password_change_voids_outstanding_reset_tokens)
{
	char tok[PC_TOKEN_MAX];
	struct pc_user_input patch;
	struct pc_user u = reg("ector@camelot.bt");

	cr_assert_eq(pc_password_forgot(ctx, "ector@camelot.bt", NULL), PC_OK);
	last_token("ector@camelot.bt", tok);
	/* within the same second as registration and the request: it still voids */
	pc_user_input_init(&patch);
	patch.password = "changed-by-me-1";
	patch.password_len = strlen(patch.password);
	cr_assert_eq(pc_user_update(ctx, &u, &patch, 0, NULL), PC_OK);
	cr_assert_eq(reset(tok, "new-password-1"), PC_EUNAUTHORIZED);
	cr_assert_eq(login("ector@camelot.bt", "changed-by-me-1"), PC_OK);
}

/* ---- verification -------------------------------------------------------------------------- */

Test(onetime, verify_makes_the_user_verified_once)
{
	char tok[PC_TOKEN_MAX];
	struct pc_user u, got;

	reg("elaine@camelot.bt");
	cr_assert_eq(pc_verify_request(ctx, "elaine@camelot.bt", NULL), PC_OK);
	last_token("elaine@camelot.bt", tok);
	cr_assert_eq(pc_verify(ctx, tok, &u), PC_OK);
	cr_assert(u.is_verified);
	cr_assert_eq(pc_user_get_by_email(ctx, "elaine@camelot.bt", &got), PC_OK);
	cr_assert(got.is_verified);
	cr_assert_eq(pc_verify(ctx, tok, &u), PC_EUNAUTHORIZED, "used");
	cr_assert_eq(pc_verify_request(ctx, "elaine@camelot.bt", NULL), PC_OK);
	cr_assert_eq(mails_to("elaine@camelot.bt"), 1, "a verified user gets no second mail");
}

Test(onetime, an_already_verified_user_is_told_so_and_the_token_stays)
{
	char tok[PC_TOKEN_MAX], hash[PC_SHA256_HEX];
	struct pc_user_input patch;
	struct pc_onetime_row row;
	struct pc_user u = reg("nimue@camelot.bt");

	cr_assert_eq(pc_verify_request(ctx, "nimue@camelot.bt", NULL), PC_OK);
	last_token("nimue@camelot.bt", tok);
	pc_user_input_init(&patch);
	patch.is_verified = 1;
	cr_assert_eq(pc_user_update(ctx, &u, &patch, PC_UPDATE_PRIVILEGED, NULL), PC_OK);
	cr_assert_eq(pc_verify(ctx, tok, &u), PC_EALREADY);
	crypto_token_hash(tok, hash);
	cr_assert_eq(STORE_CALL(ctx->store, onetime_get, hash, &row), PC_OK);
	cr_assert_eq(row.used_at, 0);
}

Test(onetime, a_verify_token_does_not_verify_a_new_address)
{
	char tok[PC_TOKEN_MAX];
	struct pc_user_input patch;
	struct pc_user u = reg("morgan@camelot.bt"), got;

	cr_assert_eq(pc_verify_request(ctx, "morgan@camelot.bt", NULL), PC_OK);
	last_token("morgan@camelot.bt", tok);
	pc_user_input_init(&patch);
	patch.email = "morgan@avalon.bt";
	cr_assert_eq(pc_user_update(ctx, &u, &patch, 0, NULL), PC_OK);
	cr_assert_eq(pc_verify(ctx, tok, &got), PC_EUNAUTHORIZED);
	cr_assert_eq(pc_user_get_by_email(ctx, "morgan@avalon.bt", &got), PC_OK);
	cr_assert(!got.is_verified);
}

Test(onetime, requires_verification_mails_the_token_at_registration)
{
	char tok[PC_TOKEN_MAX], summary[512];
	struct pc_user u;

	reopen_with("requires_verification", "true");
	reg("lancelot@camelot.bt");
	cr_assert_eq(mails_to("lancelot@camelot.bt"), 1);
	outbox_summary(summary, sizeof(summary));
	cr_assert_str_eq(summary, "mail,on_after_register,on_after_request_verify");
	cr_assert_eq(login("lancelot@camelot.bt", PW), PC_ENOTVERIFIED);
	last_token("lancelot@camelot.bt", tok);
	cr_assert_eq(pc_verify(ctx, tok, &u), PC_OK);
	cr_assert_eq(login("lancelot@camelot.bt", PW), PC_OK);
}

Test(onetime, without_requires_verification_registration_sends_no_mail)
{
	reg("dagonet@camelot.bt");
	cr_assert_eq(mails_to("dagonet@camelot.bt"), 0);
}

/* ---- events ---------------------------------------------------------------------------------- */

Test(onetime, every_step_writes_its_event)
{
	char rtok[PC_TOKEN_MAX], vtok[PC_TOKEN_MAX], summary[512];
	struct pc_outbox_row *rows;
	struct pc_user u = reg("pellinore@camelot.bt");
	size_t n;

	cr_assert_eq(pc_password_forgot(ctx, "pellinore@camelot.bt", NULL), PC_OK);
	last_token("pellinore@camelot.bt", rtok);
	cr_assert_eq(reset(rtok, "new-password-1"), PC_OK);
	cr_assert_eq(pc_verify_request(ctx, "pellinore@camelot.bt", NULL), PC_OK);
	last_token("pellinore@camelot.bt", vtok);
	cr_assert_eq(pc_verify(ctx, vtok, &u), PC_OK);
	cr_assert_eq(reset(rtok, "new-password-2"), PC_EUNAUTHORIZED);
	cr_assert_eq(pc_password_forgot(ctx, "nobody@camelot.bt", NULL), PC_OK);

	outbox_summary(summary, sizeof(summary));
	cr_assert_str_eq(summary, "on_after_register,mail,on_after_forgot_password,"
				  "on_after_reset_password,mail,on_after_request_verify,"
				  "on_after_verify");
	rows = outbox(&n);
	cr_assert_str_eq(rows[0].recipient, HOOK);
	cr_assert_not_null(strstr(rows[0].payload, u.id));
	cr_assert_not_null(strstr(rows[0].payload, "\"email\":\"pellinore@camelot.bt\""));
	cr_assert_null(strstr(rows[2].payload, rtok), "events carry no token");
	free(rows);
}

/* ---- MyAuth: two-half tokens (magic link, recovery) -------------------------------------- */

Test(onetime, a_magic_link_needs_both_halves_once_and_verifies_the_user)
{
	char tok[PC_TOKEN_MAX], claim[PC_TOKEN_MAX], hash[PC_SHA256_HEX];
	struct pc_onetime_row row;
	struct pc_user u = reg("gareth@camelot.bt"), got;

	cr_assert_eq(pc_magic_request(ctx, "gareth@camelot.bt", false, claim, NULL), PC_OK);
	last_token("gareth@camelot.bt", tok);
	cr_assert(crypto_token_shape_ok(claim) && strcmp(claim, tok) != 0);
	crypto_token_hash(tok, hash);
	cr_assert_eq(STORE_CALL(ctx->store, onetime_get, hash, &row), PC_OK);
	cr_assert_str_eq(row.purpose, "magic");
	cr_assert_eq(row.expires_at - row.created_at, 900);
	crypto_token_hash(claim, hash);
	cr_assert_str_eq(row.claim_hash, hash);

	cr_assert_eq(pc_magic_claim(ctx, tok, tok, &got), PC_EBADCREDS, "the token is no claim");
	cr_assert_eq(pc_magic_claim(ctx, claim, claim, &got), PC_EUNAUTHORIZED, "nor the claim a token");
	cr_assert_eq(pc_magic_claim(ctx, tok, claim, &got), PC_OK);
	cr_assert_str_eq(got.id, u.id);
	cr_assert(got.is_verified);
	cr_assert_eq(pc_magic_claim(ctx, tok, claim, &got), PC_EBADCREDS, "used");
}

Test(onetime, a_magic_link_registers_an_unknown_address_only_when_asked)
{
	char tok[PC_TOKEN_MAX], claim[PC_TOKEN_MAX];
	struct pc_user u;

	cr_assert_eq(pc_magic_request(ctx, "dinadan@camelot.bt", false, claim, NULL), PC_OK);
	cr_assert(crypto_token_shape_ok(claim), "a decoy claim all the same");
	cr_assert_eq(mails_to("dinadan@camelot.bt"), 0);
	cr_assert_eq(pc_user_get_by_email(ctx, "dinadan@camelot.bt", &u), PC_ENOTFOUND);

	cr_assert_eq(pc_magic_request(ctx, "dinadan@camelot.bt", true, claim, NULL), PC_OK);
	cr_assert_eq(mails_to("dinadan@camelot.bt"), 1);
	cr_assert_eq(pc_user_get_by_email(ctx, "dinadan@camelot.bt", &u), PC_OK);
	cr_assert_str_eq(u.hashed_password, "");
	cr_assert(u.is_active && !u.is_verified && !u.is_superuser);
	cr_assert_eq(login("dinadan@camelot.bt", ""), PC_EBADCREDS);
	cr_assert_eq(login("dinadan@camelot.bt", PW), PC_EBADCREDS);
	last_token("dinadan@camelot.bt", tok);
	cr_assert_eq(pc_magic_claim(ctx, tok, claim, &u), PC_OK);
}

Test(onetime, a_recovery_token_and_a_forgot_token_do_not_cross)
{
	char rtok[PC_TOKEN_MAX], ftok[PC_TOKEN_MAX], claim[PC_TOKEN_MAX];
	struct pc_errinfo ei = { 0 };

	reg("safir@camelot.bt");
	cr_assert_eq(pc_password_recover(ctx, "safir@camelot.bt", claim, NULL), PC_OK);
	last_token("safir@camelot.bt", rtok);
	cr_assert_eq(reset(rtok, "excalibur-42"), PC_EUNAUTHORIZED, "one half is not enough");
	cr_assert_eq(pc_password_reset_claim(ctx, rtok, claim, "short", 5, NULL, &ei),
		     PC_EBADPASSWORD);
	cr_assert_eq(pc_magic_claim(ctx, rtok, claim, &(struct pc_user){ 0 }), PC_EUNAUTHORIZED,
		     "a recovery token is no magic link");
	cr_assert_eq(pc_password_forgot(ctx, "safir@camelot.bt", NULL), PC_OK);
	last_token("safir@camelot.bt", ftok);
	cr_assert_eq(pc_password_reset_claim(ctx, ftok, claim, "excalibur-42", 12, NULL, &ei),
		     PC_EBADCREDS, "a one-half token is refused with any claim");
	cr_assert_eq(reset(ftok, "excalibur-42"), PC_OK);
	cr_assert_eq(login("safir@camelot.bt", "excalibur-42"), PC_OK);
}
