/* TOTP (totp.c): RFC 6238's SHA-1 vectors through totp_code, sealing with
 * AES-256-GCM (round trip; a tampered text, another AAD or another key
 * refused), the otpauth:// parser on bad inputs, the QR, and over a real
 * SQLite store the replay guard's compare-and-swap, recovery codes spent
 * once, and the TOTP-purpose token refused as an access token. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"
#include "helpers.h"

/* ---- codes ------------------------------------------------------------------------------ */

/* RFC 6238 appendix B, SHA-1 (the 20-byte ASCII key "1234567890..."). */
Test(totp, rfc6238_sha1_vectors)
{
	static const struct {
		int64_t t;
		const char *code;
	} v[] = {
		{ 59, "94287082" },          { 1111111109, "07081804" },
		{ 1111111111, "14050471" },  { 1234567890, "89005924" },
		{ 2000000000, "69279037" },  { 20000000000, "65353130" },
	};
	const unsigned char *key = (const unsigned char *)"12345678901234567890";
	char out[9];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		cr_assert_eq(totp_code(key, 20, v[i].t / TOTP_PERIOD, 8, out), PC_OK);
		cr_expect_str_eq(out, v[i].code, "t=%lld", (long long)v[i].t);
		/* our 6 digits are the last 6 of the same truncation */
		cr_assert_eq(totp_code(key, 20, v[i].t / TOTP_PERIOD, 6, out), PC_OK);
		cr_expect_str_eq(out, v[i].code + 2, "t=%lld", (long long)v[i].t);
	}
}

/* ---- sealing ------------------------------------------------------------------------------ */

static const unsigned char key_a[TOTP_AES_KEY] = "0123456789abcdef0123456789abcdef";
static const unsigned char key_b[TOTP_AES_KEY] = "fedcba9876543210fedcba9876543210";
#define AAD "0190a2b4-0000-7000-8000-000000000001"

Test(totp, a_sealed_secret_opens_with_its_key_and_user)
{
	const unsigned char secret[20] = "twenty bytes secret!";
	unsigned char back[64];
	char text[PC_TOTP_ENC_MAX + 1], again[PC_TOTP_ENC_MAX + 1], kid[TOTP_KID_LEN + 1];
	size_t n = 0;

	cr_assert_eq(totp_seal(key_a, AAD, secret, sizeof(secret), text, sizeof(text)), PC_OK);
	totp_key_id(key_a, kid);
	cr_expect_eq(strncmp(text, "v1:", 3), 0);
	cr_expect_eq(strncmp(text + 3, kid, TOTP_KID_LEN), 0);
	cr_expect_null(memmem(text, strlen(text), secret, sizeof(secret)));
	cr_assert_eq(totp_unseal(key_a, AAD, text, back, sizeof(back), &n), PC_OK);
	cr_assert_eq(n, sizeof(secret));
	cr_expect_eq(memcmp(back, secret, n), 0);
	/* a fresh nonce each time */
	cr_assert_eq(totp_seal(key_a, AAD, secret, sizeof(secret), again, sizeof(again)), PC_OK);
	cr_expect_str_neq(text, again);
}

Test(totp, a_tampered_text_another_user_or_another_key_is_refused)
{
	const unsigned char secret[20] = "twenty bytes secret!";
	unsigned char back[64];
	char text[PC_TOTP_ENC_MAX + 1];
	size_t n = 0, len;

	cr_assert_eq(totp_seal(key_a, AAD, secret, sizeof(secret), text, sizeof(text)), PC_OK);
	cr_expect_eq(totp_unseal(key_a, "0190a2b4-0000-7000-8000-000000000002", text, back,
				 sizeof(back), &n), PC_EUNAUTHORIZED);
	cr_expect_eq(totp_unseal(key_b, AAD, text, back, sizeof(back), &n), PC_EUNAUTHORIZED);
	len = strlen(text);
	for (size_t i = 4 + TOTP_KID_LEN; i < len; i++) {
		char t[PC_TOTP_ENC_MAX + 1];

		memcpy(t, text, len + 1);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		cr_expect_neq(totp_unseal(key_a, AAD, t, back, sizeof(back), &n), PC_OK, "at %zu", i);
	}
	cr_expect_neq(totp_unseal(key_a, AAD, "v1:zz", back, sizeof(back), &n), PC_OK);
	cr_expect_neq(totp_unseal(key_a, AAD, "", back, sizeof(back), &n), PC_OK);
}

/* ---- the uri -------------------------------------------------------------------------------- */

Test(totp, the_uri_parser_takes_its_secret)
{
	char s[TOTP_B32_MAX + 1];

	cr_assert(totp_uri_secret("otpauth://totp/portcullis:a%40b.c?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=portcullis",
				  s, sizeof(s)));
	cr_expect_str_eq(s, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
	cr_assert(totp_uri_secret("otpauth://totp/x?issuer=y&secret=jbswy3dpehpk3pxp", s, sizeof(s)));
	cr_expect_str_eq(s, "JBSWY3DPEHPK3PXP");
}

Test(totp, the_uri_parser_refuses_bad_inputs)
{
	static const char *const bad[] = {
		"", "otpauth://", "otpauth://totp/", "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP",
		"https://totp/x?secret=JBSWY3DPEHPK3PXP", "otpauth://totp/?secret=JBSWY3DPEHPK3PXP",
		"otpauth://totp/x", "otpauth://totp/x?", "otpauth://totp/x?secret=",
		"otpauth://totp/x?secret=JBSW", "otpauth://totp/x?secret=JBSWY3DPEHPK3PX1",
		"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&secret=JBSWY3DPEHPK3PXP",
		"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&", "otpauth://totp/x?=a&secret=JBSWY3DPEHPK3PXP",
		"otpauth://totp/x y?secret=JBSWY3DPEHPK3PXP", "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP#f",
		"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP\n", "otpauth://totp/x?issuer",
		"otpauth://totp/x?secret=JBSWY3DPEHPK3PX=",
	};
	char s[TOTP_B32_MAX + 1], big[TOTP_URI_MAX + 64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_not(totp_uri_secret(bad[i], s, sizeof(s)), "accepted: %s", bad[i]);
	cr_expect_not(totp_uri_secret(NULL, s, sizeof(s)));
	/* longer than the bound, and a secret longer than its field */
	snprintf(big, sizeof(big), "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&issuer=");
	memset(big + strlen(big), 'a', TOTP_URI_MAX);
	big[strlen("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&issuer=") + TOTP_URI_MAX] = '\0';
	cr_expect_not(totp_uri_secret(big, s, sizeof(s)));
	snprintf(big, sizeof(big), "otpauth://totp/x?secret=%0100d", 0);
	memset(big + 24, 'A', 100);
	cr_expect_not(totp_uri_secret(big, s, sizeof(s)));
	cr_expect_not(totp_uri_secret("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", s, 8));
}

Test(totp, the_qr_is_an_svg)
{
	char *svg = NULL;

	cr_assert_eq(totp_qr_svg("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", &svg), PC_OK);
	cr_expect_eq(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39), 0);
	cr_expect_not_null(strstr(svg, "<path d=\"M"));
	cr_expect_eq(strcmp(svg + strlen(svg) - 6, "</svg>"), 0);
	free(svg);
}

/* ---- over a store ------------------------------------------------------------------------------ */

static char dir[64];
static struct pc_ctx *ctx;
static struct pc_user user;

static void open_ctx(void)
{
	struct pc_config cfg;
	struct pc_user_input in;
	struct pc_errinfo ei = { 0 };

	test_dir_make(dir, sizeof(dir), "pc_totp_");
	test_config(&cfg, dir);
	test_ctx_open(&cfg, &ctx);
	pc_user_input_init(&in);
	in.email = "gawain@camelot.bt";
	in.password = "gawain-pw-1";
	in.password_len = strlen(in.password);
	cr_assert_eq(pc_user_register(ctx, &in, &user, &ei), PC_OK, "%s", ei.detail);
}

static void close_ctx(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(totpstore, .init = open_ctx, .fini = close_ctx);

/* Enabled by hand: a pending secret, then enable at step 100. */
static void enable_at(int64_t step)
{
	static const char hashes[2][PC_SHA256_HEX] = {
		"0000000000000000000000000000000000000000000000000000000000000001",
		"0000000000000000000000000000000000000000000000000000000000000002",
	};
	struct totp_enrolment e;

	cr_assert_eq(totp_new(ctx, &user, &e), PC_OK);
	totp_enrolment_release(&e);
	struct pc_totp_row row;
	cr_assert_eq(store_totp_get(ctx->store, user.id, &row), PC_OK);
	cr_assert_eq(store_totp_enable(ctx->store, user.id, row.pending_enc, step, time_now(),
				       hashes, 2), PC_OK);
}

Test(totpstore, a_step_is_taken_once_and_only_after_the_last)
{
	int64_t now = time_now();

	enable_at(100);
	cr_expect_eq(store_totp_step_use(ctx->store, user.id, 100, now), PC_ENOTFOUND);
	cr_expect_eq(store_totp_step_use(ctx->store, user.id, 99, now), PC_ENOTFOUND);
	cr_expect_eq(store_totp_step_use(ctx->store, user.id, 101, now), PC_OK);
	cr_expect_eq(store_totp_step_use(ctx->store, user.id, 101, now), PC_ENOTFOUND);
	cr_expect_eq(store_totp_step_use(ctx->store, user.id, 102, now), PC_OK);
}

Test(totpstore, a_recovery_code_is_spent_once)
{
	const char *h = "0000000000000000000000000000000000000000000000000000000000000001";
	int64_t now = time_now();

	enable_at(1);
	cr_expect_eq(store_totp_recovery_use(ctx->store, user.id, h, now), PC_OK);
	cr_expect_eq(store_totp_recovery_use(ctx->store, user.id, h, now), PC_ENOTFOUND);
	cr_expect_eq(store_totp_recovery_use(ctx->store, user.id,
		"0000000000000000000000000000000000000000000000000000000000000009", now), PC_ENOTFOUND);
}

Test(totpstore, the_lock_doubles_and_stops_at_its_cap)
{
	const struct pc_totp_lockout rule = { .threshold = 5, .base = 30, .cap = 900 };
	int64_t now = time_now(), until = 0;

	enable_at(1);
	for (int i = 1; i <= 4; i++) {
		cr_assert_eq(store_totp_fail(ctx->store, user.id, now, &rule, &until), PC_OK);
		cr_expect_eq(until, 0, "failure %d", i);
	}
	cr_assert_eq(store_totp_fail(ctx->store, user.id, now, &rule, &until), PC_OK);
	cr_expect_eq(until, now + 30);
	cr_expect_eq(store_totp_step_use(ctx->store, user.id, 50, now), PC_ENOTFOUND); /* locked */
	cr_assert_eq(store_totp_fail(ctx->store, user.id, now, &rule, &until), PC_OK);
	cr_expect_eq(until, now + 60);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(store_totp_fail(ctx->store, user.id, now, &rule, &until), PC_OK);
	cr_expect_eq(until, now + 900);
	cr_expect_eq(store_totp_step_use(ctx->store, user.id, 50, now + 901), PC_OK);
}

Test(totpstore, the_totp_token_is_no_access_token)
{
	char tok[PC_JWT_MAX];
	struct pc_user u;

	cr_assert_eq(totp_pending_issue(ctx, &user, tok, sizeof(tok)), PC_OK);
	cr_expect_eq(auth_jwt_authenticate(ctx, &jwt_claims_rfc7519, tok, &u), PC_EUNAUTHORIZED);
	cr_expect_eq(jwt_verify(&ctx->jwt, &jwt_claims_rfc7519, tok, time_now(), NULL),
		     PC_EUNAUTHORIZED);
	cr_expect_eq(jwt_verify(&ctx->totp_jwt, &jwt_claims_totp, tok, time_now(), NULL), PC_OK);
	/* an access token is no TOTP-purpose token, even under the right key's table */
	cr_assert_eq(auth_jwt_issue(ctx, &jwt_claims_rfc7519, &user, tok, sizeof(tok)), PC_OK);
	cr_expect_eq(jwt_verify(&ctx->totp_jwt, &jwt_claims_totp, tok, time_now(), NULL),
		     PC_EUNAUTHORIZED);
}

Test(totpstore, the_totp_claim_must_be_true)
{
	char tok[PC_JWT_MAX];
	static const struct jwt_claims_table noflag = {
		.subject = "sub", .token_id = "jti", .audience = true,
	};

	/* signed with the TOTP key but without the flag */
	cr_assert_eq(jwt_sign(&ctx->totp_jwt, &noflag, user.id, time_now(), 60, tok, sizeof(tok),
			      NULL), PC_OK);
	cr_expect_eq(jwt_verify(&ctx->totp_jwt, &jwt_claims_totp, tok, time_now(), NULL),
		     PC_EUNAUTHORIZED);
}
