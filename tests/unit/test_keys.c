/* The published signing keys (keys.c) over a real SQLite store: generated
 * once and kept, chosen by kid, the HMAC secret accepted by no published
 * table, a rotation that keeps the old key until its tokens expire, and the
 * JWKS that never holds a private part. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "helpers.h"

static char dir[64];
static struct pc_ctx *ctx;

#define USER_ID "0190a6e4-3b2c-7d1e-8f00-123456789abc"

static void open_alg(const char *alg, const char *lifetime)
{
	struct pc_config cfg;

	if (dir[0] == '\0')
		test_dir_make(dir, sizeof(dir), "pc_keys_");
	test_config(&cfg, dir);
	cr_assert_eq(pc_config_set(&cfg, "algorithm", alg, NULL), PC_OK);
	cr_assert_eq(pc_config_set(&cfg, "lifetime_seconds", lifetime, NULL), PC_OK);
	cr_assert_eq(pc_config_set(&cfg, "jwt_keys_reload_seconds", "1", NULL), PC_OK);
	test_ctx_open(&cfg, &ctx);
}

static void reopen_alg(const char *alg, const char *lifetime)
{
	pc_ctx_free(ctx);
	ctx = NULL;
	open_alg(alg, lifetime);
}

static void setup(void)
{
	dir[0] = '\0';
	open_alg("EdDSA", "3600");
}

static void teardown(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(keys, .init = setup, .fini = teardown);

static struct pc_user user(void)
{
	struct pc_user u;

	memset(&u, 0, sizeof(u));
	snprintf(u.id, sizeof(u.id), "%s", USER_ID);
	snprintf(u.email, sizeof(u.email), "gawain@camelot.bt");
	u.is_verified = true;
	return u;
}

/* The kids of the JWKS, comma-joined, into out; checks no private member. */
static void kids(char *out, size_t outsz)
{
	json_t *jwks = keys_jwks_new(ctx), *k;
	size_t i;

	cr_assert_not_null(jwks);
	out[0] = '\0';
	json_array_foreach(json_object_get(jwks, "keys"), i, k) {
		cr_assert_null(json_object_get(k, "d"), "a private part is published");
		cr_assert_null(json_object_get(k, "p"));
		snprintf(out + strlen(out), outsz - strlen(out), "%s%s", i > 0 ? "," : "",
			 json_string_value(json_object_get(k, "kid")));
	}
	json_decref(jwks);
}

/* Waits (at most 10 s) until the published kids are want: the
 * housekeeping thread reads the store every jwt_keys_reload_seconds. */
static void wait_kids(const char *want)
{
	char got[256];

	for (int i = 0; i < 100; i++) {
		kids(got, sizeof(got));
		if (strcmp(got, want) == 0)
			return;
		usleep(100000);
	}
	cr_assert_str_eq(got, want);
}

static void token_kid(const char *tok, char kid[64])
{
	cr_assert(jwt_header_kid(tok, kid));
}

Test(keys, one_key_is_generated_on_first_start_and_kept)
{
	char before[256], after[256], rows[16];

	kids(before, sizeof(before));
	cr_assert_eq(strlen(before), 43, "one RFC 7638 thumbprint: %s", before);
	reopen_alg("EdDSA", "3600");
	kids(after, sizeof(after));
	cr_assert_str_eq(after, before);
	test_db_text(dir, "SELECT count(*) FROM signing_keys", NULL, rows, sizeof(rows));
	cr_assert_str_eq(rows, "1");
}

Test(keys, a_published_table_signs_with_the_key_and_verifies_by_kid)
{
	struct pc_user u = user();
	struct pc_jwt_claims c;
	char tok[PC_JWT_MAX], kid[64], published[256];

	cr_assert_eq(keys_sign(ctx, &jwt_claims_rfc7519, &u, NULL, tok, sizeof(tok)), PC_OK);
	token_kid(tok, kid);
	kids(published, sizeof(published));
	cr_assert_str_eq(kid, published);
	cr_assert_eq(keys_verify(ctx, &jwt_claims_rfc7519, tok, time_now(), &c), PC_OK);
	cr_assert_str_eq(c.sub, USER_ID);
	/* the HMAC key does not know it */
	cr_assert_eq(jwt_verify(&ctx->jwt, &jwt_claims_rfc7519, tok, time_now(), NULL),
		     PC_EUNAUTHORIZED);
}

Test(keys, the_hmac_secret_signs_nothing_a_published_table_accepts)
{
	struct pc_user u = user();
	char tok[PC_JWT_MAX];

	cr_assert_str_eq(ctx->jwt.alg, "HS256");
	cr_assert_eq(jwt_sign(&ctx->jwt, &jwt_claims_rfc7519, USER_ID, time_now(), 60, tok,
			      sizeof(tok), NULL), PC_OK);
	cr_assert_eq(keys_verify(ctx, &jwt_claims_rfc7519, tok, time_now(), NULL),
		     PC_EUNAUTHORIZED);
	/* simplejwt's table is not published: HS256 under the secret, both ways */
	cr_assert_eq(keys_sign(ctx, &jwt_claims_simplejwt, &u, NULL, tok, sizeof(tok)), PC_OK);
	cr_assert_eq(jwt_verify(&ctx->jwt, &jwt_claims_simplejwt, tok, time_now(), NULL), PC_OK);
	cr_assert_eq(keys_verify(ctx, &jwt_claims_simplejwt, tok, time_now(), NULL), PC_OK);
}

Test(keys, extra_claims_follow_the_setting)
{
	struct pc_user u = user();
	char tok[PC_JWT_MAX], payload[512];
	const char *p;
	size_t n;
	struct pc_config cfg = ctx->cfg;

	cr_assert_eq(pc_config_set(&cfg, "jwt_extra_claims", "is_verified,email", NULL), PC_OK);
	pc_ctx_free(ctx);
	test_ctx_open(&cfg, &ctx);
	cr_assert_eq(keys_sign(ctx, &jwt_claims_rfc7519, &u, NULL, tok, sizeof(tok)), PC_OK);
	p = strchr(tok, '.') + 1;
	cr_assert_eq(crypto_b64url_decode(p, strchr(p, '.') - p, (unsigned char *)payload,
					  sizeof(payload) - 1, &n), PC_OK);
	payload[n] = '\0';
	cr_assert(strstr(payload, "\"email\":\"gawain@camelot.bt\"") != NULL, "%s", payload);
	cr_assert(strstr(payload, "\"is_verified\":true") != NULL, "%s", payload);
	cr_assert(strstr(payload, "is_superuser") == NULL, "%s", payload);
}

Test(keys, a_rotation_keeps_the_old_key_until_its_last_token_expires)
{
	struct pc_user u = user();
	char old_tok[PC_JWT_MAX], new_tok[PC_JWT_MAX], old_kid[64], new_kid[64], kid[64];
	char published[256], expect[256], rows[16];

	reopen_alg("ES256", "60");
	cr_assert_eq(keys_sign(ctx, &jwt_claims_rfc7519, &u, NULL, old_tok, sizeof(old_tok)), PC_OK);
	token_kid(old_tok, old_kid);
	cr_assert_eq(keys_rotate(ctx, new_kid), PC_OK);
	cr_assert_str_neq(new_kid, old_kid);
	cr_assert_eq(keys_sign(ctx, &jwt_claims_rfc7519, &u, NULL, new_tok, sizeof(new_tok)), PC_OK);
	token_kid(new_tok, kid);
	cr_assert_str_eq(kid, new_kid, "the new key signs");
	kids(published, sizeof(published));
	/* the signing key first; the old one (and the EdDSA key of setup) still there */
	snprintf(expect, sizeof(expect), "%s,", new_kid);
	cr_assert(strncmp(published, expect, strlen(expect)) == 0, "%s", published);
	cr_assert(strstr(published, old_kid) != NULL, "%s", published);
	cr_assert_eq(keys_verify(ctx, &jwt_claims_rfc7519, old_tok, time_now(), NULL), PC_OK);

	/* the old keys retired more than lifetime_seconds ago: no token of theirs is live */
	test_db_exec(dir, "UPDATE signing_keys SET retired_at = retired_at - 61 WHERE kid <> ?1",
		     new_kid);
	wait_kids(new_kid);
	cr_assert_eq(keys_verify(ctx, &jwt_claims_rfc7519, new_tok, time_now(), NULL), PC_OK);
	test_db_text(dir, "SELECT count(*) FROM signing_keys WHERE kid = ?1", old_kid, rows,
		     sizeof(rows));
	cr_assert_str_eq(rows, "0", "purged from the store");
	cr_assert_eq(keys_verify(ctx, &jwt_claims_rfc7519, old_tok, time_now(), NULL),
		     PC_EUNAUTHORIZED);
}

/* A remembered token (authcache.c: entries live minutes while nothing they
 * read changes) whose key leaves the set is refused at the next check, not
 * when its entry ages out: dropping a key voids what was remembered. */
Test(keys, a_remembered_token_of_a_dropped_key_is_refused_at_once)
{
	struct pc_user_input in;
	struct pc_errinfo ei = { 0 };
	struct pc_user u, out;
	char tok[PC_JWT_MAX], new_kid[64];

	reopen_alg("ES256", "60");
	pc_user_input_init(&in);
	in.email = "lamorak@camelot.bt";
	in.password = "pendragon-rex-1066";
	in.password_len = strlen(in.password);
	cr_assert_eq(pc_user_register(ctx, &in, &u, &ei), PC_OK, "%s", ei.detail);
	cr_assert_eq(pc_jwt_issue(ctx, &u, tok, sizeof(tok)), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, tok, &out), PC_OK);
	cr_assert_eq(keys_rotate(ctx, new_kid), PC_OK);
	cr_assert_eq(pc_jwt_authenticate(ctx, tok, &out), PC_OK, "its key is still loaded");
	/* the old keys retired more than lifetime_seconds ago: purged, dropped */
	test_db_exec(dir, "UPDATE signing_keys SET retired_at = retired_at - 61 WHERE kid <> ?1",
		     new_kid);
	wait_kids(new_kid);
	cr_assert_eq(pc_jwt_authenticate(ctx, tok, &out), PC_EUNAUTHORIZED,
		     "a token its dropped key signed is refused, remembered or not");
}

Test(keys, a_new_algorithm_gets_a_new_key_and_the_old_one_stays_published)
{
	struct pc_user u = user();
	char before[256], after[256], tok[PC_JWT_MAX];
	json_t *jwks;

	kids(before, sizeof(before));
	reopen_alg("RS256", "3600");
	kids(after, sizeof(after));
	cr_assert(strstr(after, before) != NULL && strlen(after) > strlen(before), "%s", after);
	jwks = keys_jwks_new(ctx);
	cr_assert_str_eq(json_string_value(json_object_get(
		json_array_get(json_object_get(jwks, "keys"), 0), "alg")), "RS256");
	json_decref(jwks);
	cr_assert_eq(keys_sign(ctx, &jwt_claims_rfc7519, &u, NULL, tok, sizeof(tok)), PC_OK);
	cr_assert_eq(keys_verify(ctx, &jwt_claims_rfc7519, tok, time_now(), NULL), PC_OK);
}

Test(keys, with_hs256_there_is_no_key_set)
{
	char kid[64], published[64];

	reopen_alg("HS256", "3600");
	cr_assert_null(ctx->keys);
	cr_assert_eq(keys_rotate(ctx, kid), PC_EINVAL);
	kids(published, sizeof(published));
	cr_assert_str_eq(published, "");
}

Test(keys, a_stored_key_whose_thumbprint_differs_is_not_loaded)
{
	char published[256], kid[64];

	kids(published, sizeof(published));
	test_db_exec(dir, "UPDATE signing_keys SET kid = 'forged-kid' WHERE kid = ?1", published);
	wait_kids(""); /* a key is published under its own thumbprint only */
	kids(kid, sizeof(kid));
	cr_assert_str_eq(kid, "");
}
