/*
 * test_jwt.c - access tokens: round trips, and every way a token must be
 * refused (signature, pinned alg, exp, aud, claims, malformed input).
 * Hostile tokens are crafted by hand with OpenSSL HMAC, so their signatures
 * are valid for the alg they name: only our checks can refuse them.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/core.h"

#define SECRET "0123456789abcdef0123456789abcdef-test-secret"
#define AUD "fastapi-users:auth"
#define SUB "0190a6e4-3b2c-7d1e-8f00-123456789abc"
#define NOW ((int64_t)1700000000)
#define T (&jwt_claims_rfc7519)

static struct pc_jwt_key key_for(const char *alg)
{
	struct pc_jwt_key k;

	memset(&k, 0, sizeof(k));
	memcpy(k.secret, SECRET, strlen(SECRET));
	k.len = strlen(SECRET);
	snprintf(k.alg, sizeof(k.alg), "%s", alg);
	snprintf(k.aud, sizeof(k.aud), "%s", AUD);
	return k;
}

/* header.payload.signature, signed with HMAC-<md> over SECRET (md NULL: the
 * signature segment is sig_text as given). Returns a static buffer. */
static const char *craft(const char *header, const char *payload, const EVP_MD *md,
			 const char *sig_text)
{
	static char tok[4096];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t n;

	n = crypto_b64url_encode(header, strlen(header), tok, sizeof(tok));
	tok[n++] = '.';
	n += crypto_b64url_encode(payload, strlen(payload), tok + n, sizeof(tok) - n);
	if (md != NULL) {
		cr_assert_not_null(HMAC(md, SECRET, (int)strlen(SECRET), (unsigned char *)tok, n,
					mac, &maclen));
		tok[n++] = '.';
		crypto_b64url_encode(mac, maclen, tok + n, sizeof(tok) - n);
	} else {
		snprintf(tok + n, sizeof(tok) - n, ".%s", sig_text);
	}
	return tok;
}

static const char *good_payload(void)
{
	static char p[512];

	snprintf(p, sizeof(p),
		 "{\"sub\":\"" SUB "\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"abc\"}",
		 (long long)NOW, (long long)NOW + 3600);
	return p;
}

static enum pc_err decode(const char *alg, const char *tok, struct pc_jwt_claims *c)
{
	struct pc_jwt_key k = key_for(alg);

	return jwt_verify(&k, T, tok, NOW, c);
}

/* ---- round trips ------------------------------------------------------------- */

Test(jwt, an_issued_token_decodes_to_the_same_claims)
{
	struct pc_jwt_key k = key_for("HS256");
	struct pc_jwt_claims in, out;
	char tok[PC_JWT_MAX];
	unsigned char raw[32];
	size_t n;

	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 3600, tok, sizeof(tok), &in), PC_OK);
	cr_assert_str_eq(in.sub, SUB);
	cr_assert_eq(in.iat, NOW);
	cr_assert_eq(in.exp, NOW + 3600);
	cr_assert_eq(strlen(in.jti), 22, "128 bits of base64url: %s", in.jti);
	cr_assert_eq(crypto_b64url_decode(in.jti, 22, raw, sizeof(raw), &n), PC_OK);
	cr_assert_eq(n, 16);

	cr_assert_eq(jwt_verify(&k, T, tok, NOW, &out), PC_OK);
	cr_assert_str_eq(out.sub, SUB);
	cr_assert_str_eq(out.jti, in.jti);
	cr_assert_eq(out.iat, NOW);
	cr_assert_eq(out.exp, NOW + 3600);
}

Test(jwt, the_header_names_the_configured_alg_and_the_payload_the_aud)
{
	struct pc_jwt_key k = key_for("HS384");
	char tok[PC_JWT_MAX], json[PC_JWT_MAX];
	unsigned char raw[PC_JWT_MAX];
	const char *dot1, *dot2;
	size_t n;

	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	dot1 = strchr(tok, '.');
	dot2 = strchr(dot1 + 1, '.');
	cr_assert_eq(crypto_b64url_decode(tok, (size_t)(dot1 - tok), raw, sizeof(raw), &n), PC_OK);
	memcpy(json, raw, n);
	json[n] = '\0';
	cr_assert_not_null(strstr(json, "\"alg\":\"HS384\""), "header %s", json);
	cr_assert_eq(crypto_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), raw, sizeof(raw), &n),
		     PC_OK);
	memcpy(json, raw, n);
	json[n] = '\0';
	cr_assert_not_null(strstr(json, "\"aud\":\"" AUD "\""), "payload %s", json);
}

Test(jwt, every_hs_size_round_trips)
{
	const char *algs[] = { "HS256", "HS384", "HS512" };
	struct pc_jwt_claims c;
	char tok[PC_JWT_MAX];
	size_t i;

	for (i = 0; i < 3; i++) {
		struct pc_jwt_key k = key_for(algs[i]);

		cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
		cr_assert_eq(jwt_verify(&k, T, tok, NOW, &c), PC_OK, "%s", algs[i]);
	}
}

Test(jwt, two_tokens_have_different_jti)
{
	struct pc_jwt_key k = key_for("HS256");
	struct pc_jwt_claims a, b;
	char tok[PC_JWT_MAX];

	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), &a), PC_OK);
	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), &b), PC_OK);
	cr_assert_str_neq(a.jti, b.jti);
}

Test(jwt, the_jti_carries_the_issue_millisecond)
{
	struct pc_jwt_key k = key_for("HS256");
	struct pc_jwt_claims c, legacy;
	char tok[PC_JWT_MAX];
	int64_t before, after, now;

	/* the second may turn between the reads: try until it does not */
	do {
		before = time_now_ms();
		now = time_now();
		cr_assert_eq(jwt_sign(&k, T, SUB, now, 60, tok, sizeof(tok), &c), PC_OK);
		after = time_now_ms();
	} while (before / 1000 != now || after / 1000 != now);
	cr_assert_geq(jwt_issued_ms(&c), before);
	cr_assert_leq(jwt_issued_ms(&c), after);
	/* a now that is not the clock's: its first millisecond, never later */
	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), &c), PC_OK);
	cr_assert_eq(jwt_issued_ms(&c), NOW * 1000);
	/* an id that is not ours (random, or another length): iat's first millisecond */
	legacy = c;
	snprintf(legacy.jti, sizeof(legacy.jti), "not-a-timed-id");
	cr_assert_eq(jwt_issued_ms(&legacy), NOW * 1000);
	snprintf(legacy.jti, sizeof(legacy.jti), "_____________________w");
	cr_assert_eq(jwt_issued_ms(&legacy), NOW * 1000, "a millisecond outside iat's second");
}

Test(jwt, a_hand_made_token_with_the_right_alg_is_accepted)
{
	struct pc_jwt_claims c;
	const char *tok = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", good_payload(),
				EVP_sha256(), NULL);

	cr_assert_eq(decode("HS256", tok, &c), PC_OK, "the crafting helper itself works");
	cr_assert_str_eq(c.jti, "abc");
}

/* ---- encode errors ----------------------------------------------------------- */

Test(jwt, encode_reports_a_too_small_output)
{
	struct pc_jwt_key k = key_for("HS256");
	char tok[64];

	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_ETOOBIG);
	cr_assert_str_eq(tok, "");
}

Test(jwt, encode_refuses_keys_we_do_not_pin)
{
	const char *algs[] = { "none", "RS256", "hs256", "" };
	char tok[PC_JWT_MAX];
	size_t i;

	for (i = 0; i < 4; i++) {
		struct pc_jwt_key k = key_for(algs[i]);

		cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_EINVAL);
	}
	struct pc_jwt_key empty = key_for("HS256");
	empty.len = 0;
	cr_assert_eq(jwt_sign(&empty, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_EINVAL);
	struct pc_jwt_key k = key_for("HS256");
	cr_assert_eq(jwt_sign(&k, T, "", NOW, 60, tok, sizeof(tok), NULL), PC_EINVAL);
}

/* ---- signature ------------------------------------------------------------------ */

Test(jwt, a_tampered_signature_is_rejected)
{
	struct pc_jwt_key k = key_for("HS256");
	struct pc_jwt_claims c;
	char tok[PC_JWT_MAX];
	size_t n;

	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	n = strlen(tok);
	tok[n - 5] = tok[n - 5] == 'A' ? 'B' : 'A';
	cr_assert_eq(jwt_verify(&k, T, tok, NOW, &c), PC_EUNAUTHORIZED);
	cr_assert_str_eq(c.sub, "", "no claims leak out of a failure");
}

Test(jwt, a_tampered_payload_is_rejected)
{
	char other[512];
	const char *tok;
	char copy[4096], *dot2;
	const char *sig;

	tok = craft("{\"alg\":\"HS256\"}", good_payload(), EVP_sha256(), NULL);
	sig = strrchr(tok, '.');
	snprintf(copy, sizeof(copy), "%s", sig);
	snprintf(other, sizeof(other),
		 "{\"sub\":\"someone-else\",\"aud\":\"" AUD "\",\"exp\":%lld,\"jti\":\"abc\"}",
		 (long long)NOW + 3600);
	tok = craft("{\"alg\":\"HS256\"}", other, NULL, copy + 1);
	dot2 = strrchr(tok, '.');
	cr_assert_str_eq(dot2, copy);
	cr_assert_eq(decode("HS256", tok, NULL), PC_EUNAUTHORIZED);
}

Test(jwt, a_token_signed_with_another_secret_is_rejected)
{
	struct pc_jwt_key k = key_for("HS256"), other = key_for("HS256");
	char tok[PC_JWT_MAX];

	other.secret[0] ^= 1;
	cr_assert_eq(jwt_sign(&other, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	cr_assert_eq(jwt_verify(&k, T, tok, NOW, NULL), PC_EUNAUTHORIZED);
}

/* ---- alg pinning ------------------------------------------------------------------ */

Test(jwt, token_with_alg_none_is_rejected)
{
	const char *p = good_payload();

	cr_assert_eq(decode("HS256", craft("{\"alg\":\"none\"}", p, NULL, ""), NULL),
		     PC_EUNAUTHORIZED);
	cr_assert_eq(decode("HS256", craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", p, NULL, "c2ln"),
			    NULL),
		     PC_EUNAUTHORIZED);
	cr_assert_eq(decode("HS256", craft("{\"alg\":\"None\"}", p, NULL, "c2ln"), NULL),
		     PC_EUNAUTHORIZED);
	/* Even with a valid HS256 MAC over the bytes, "none" is refused. */
	cr_assert_eq(decode("HS256", craft("{\"alg\":\"none\"}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED);
}

Test(jwt, token_with_hs512_header_is_rejected_by_an_hs256_key)
{
	const char *tok = craft("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", good_payload(),
				EVP_sha512(), NULL);
	char copy[4096];

	snprintf(copy, sizeof(copy), "%s", tok);
	cr_assert_eq(decode("HS256", copy, NULL), PC_EUNAUTHORIZED);
	/* The same token is genuine HS512: an HS512 key accepts it. */
	cr_assert_eq(decode("HS512", copy, NULL), PC_OK);
}

Test(jwt, token_with_an_asymmetric_or_unknown_alg_is_rejected)
{
	const char *p = good_payload();

	cr_assert_eq(decode("HS256", craft("{\"alg\":\"RS256\"}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED);
	cr_assert_eq(decode("HS256", craft("{\"alg\":\"ES256\"}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED);
	cr_assert_eq(decode("HS256", craft("{\"alg\":\"hs256\"}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED);
	cr_assert_eq(decode("HS256", craft("{\"alg\":\"HS256 \"}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED);
	cr_assert_eq(decode("HS256", craft("{\"typ\":\"JWT\"}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED);
	cr_assert_eq(decode("HS256", craft("{\"alg\":256}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED);
}

Test(jwt, a_header_with_alg_twice_or_crit_is_rejected)
{
	const char *p = good_payload();

	cr_assert_eq(decode("HS256", craft("{\"alg\":\"HS256\",\"alg\":\"none\"}", p, EVP_sha256(),
					   NULL), NULL),
		     PC_EUNAUTHORIZED);
	cr_assert_eq(decode("HS256", craft("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", p,
					   EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED);
}

/* ---- exp --------------------------------------------------------------------------- */

Test(jwt, an_expired_token_is_rejected)
{
	struct pc_jwt_key k = key_for("HS256");
	char tok[PC_JWT_MAX];

	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	cr_assert_eq(jwt_verify(&k, T, tok, NOW + 59, NULL), PC_OK);
	cr_assert_eq(jwt_verify(&k, T, tok, NOW + 60, NULL), PC_EUNAUTHORIZED, "exp == now");
	cr_assert_eq(jwt_verify(&k, T, tok, NOW + 86400, NULL), PC_EUNAUTHORIZED);
}

Test(jwt, exp_must_be_an_integer)
{
	const char *payloads[] = {
		"{\"sub\":\"u\",\"aud\":\"" AUD "\",\"jti\":\"j\"}",
		"{\"sub\":\"u\",\"aud\":\"" AUD "\",\"jti\":\"j\",\"exp\":\"9999999999\"}",
		"{\"sub\":\"u\",\"aud\":\"" AUD "\",\"jti\":\"j\",\"exp\":9999999999.5}",
		"{\"sub\":\"u\",\"aud\":\"" AUD "\",\"jti\":\"j\",\"exp\":null}",
	};
	size_t i;

	for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
		cr_assert_eq(decode("HS256", craft("{\"alg\":\"HS256\"}", payloads[i], EVP_sha256(),
						   NULL), NULL),
			     PC_EUNAUTHORIZED, "accepted %s", payloads[i]);
}

Test(jwt, a_token_not_yet_valid_is_rejected)
{
	char p[512];

	snprintf(p, sizeof(p),
		 "{\"sub\":\"u\",\"aud\":\"" AUD "\",\"jti\":\"j\",\"exp\":%lld,\"nbf\":%lld}",
		 (long long)NOW + 3600, (long long)NOW + 600);
	cr_assert_eq(decode("HS256", craft("{\"alg\":\"HS256\"}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED);
}

/* ---- aud ---------------------------------------------------------------------------- */

static enum pc_err with_aud(const char *aud_json)
{
	char p[512];

	snprintf(p, sizeof(p), "{\"sub\":\"u\",%s\"jti\":\"j\",\"exp\":%lld}", aud_json,
		 (long long)NOW + 3600);
	return decode("HS256", craft("{\"alg\":\"HS256\"}", p, EVP_sha256(), NULL), NULL);
}

Test(jwt, a_token_for_another_audience_is_rejected)
{
	struct pc_jwt_key k = key_for("HS256"), other = key_for("HS256");
	char tok[PC_JWT_MAX];

	snprintf(other.aud, sizeof(other.aud), "some-other-service");
	cr_assert_eq(jwt_sign(&other, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	cr_assert_eq(jwt_verify(&k, T, tok, NOW, NULL), PC_EUNAUTHORIZED);
	cr_assert_eq(with_aud("\"aud\":\"fastapi-users:auth2\","), PC_EUNAUTHORIZED);
	cr_assert_eq(with_aud("\"aud\":\"fastapi-users\","), PC_EUNAUTHORIZED);
}

Test(jwt, aud_may_be_an_array_that_contains_ours)
{
	cr_assert_eq(with_aud("\"aud\":[\"other\",\"" AUD "\"],"), PC_OK);
	cr_assert_eq(with_aud("\"aud\":[\"" AUD "\"],"), PC_OK);
	cr_assert_eq(with_aud("\"aud\":[\"other\",\"more\"],"), PC_EUNAUTHORIZED);
	cr_assert_eq(with_aud("\"aud\":[],"), PC_EUNAUTHORIZED);
	cr_assert_eq(with_aud("\"aud\":[1,null,{}],"), PC_EUNAUTHORIZED);
}

Test(jwt, a_missing_or_mistyped_aud_is_rejected)
{
	cr_assert_eq(with_aud(""), PC_EUNAUTHORIZED);
	cr_assert_eq(with_aud("\"aud\":null,"), PC_EUNAUTHORIZED);
	cr_assert_eq(with_aud("\"aud\":42,"), PC_EUNAUTHORIZED);
	cr_assert_eq(with_aud("\"aud\":{\"" AUD "\":1},"), PC_EUNAUTHORIZED);
}

/* ---- sub and jti ---------------------------------------------------------------------- */

static enum pc_err with_ids(const char *ids_json)
{
	char p[1024];

	snprintf(p, sizeof(p), "{%s\"aud\":\"" AUD "\",\"exp\":%lld}", ids_json,
		 (long long)NOW + 3600);
	return decode("HS256", craft("{\"alg\":\"HS256\"}", p, EVP_sha256(), NULL), NULL);
}

Test(jwt, a_token_without_jti_is_rejected)
{
	cr_assert_eq(with_ids("\"sub\":\"u\",\"jti\":\"j\","), PC_OK);
	cr_assert_eq(with_ids("\"sub\":\"u\","), PC_EUNAUTHORIZED);
	cr_assert_eq(with_ids("\"sub\":\"u\",\"jti\":\"\","), PC_EUNAUTHORIZED);
	cr_assert_eq(with_ids("\"sub\":\"u\",\"jti\":7,"), PC_EUNAUTHORIZED);
}

Test(jwt, a_token_without_a_string_sub_is_rejected)
{
	cr_assert_eq(with_ids("\"jti\":\"j\","), PC_EUNAUTHORIZED);
	cr_assert_eq(with_ids("\"sub\":\"\",\"jti\":\"j\","), PC_EUNAUTHORIZED);
	cr_assert_eq(with_ids("\"sub\":12,\"jti\":\"j\","), PC_EUNAUTHORIZED);
	cr_assert_eq(with_ids("\"sub\":\"a\\u0000b\",\"jti\":\"j\","), PC_EUNAUTHORIZED);
}

Test(jwt, ids_too_long_for_the_claims_are_rejected)
{
	char ids[256], long_id[65];

	memset(long_id, 'x', 64);
	long_id[64] = '\0';
	snprintf(ids, sizeof(ids), "\"sub\":\"%s\",\"jti\":\"j\",", long_id);
	cr_assert_eq(with_ids(ids), PC_EUNAUTHORIZED);
	snprintf(ids, sizeof(ids), "\"sub\":\"u\",\"jti\":\"%s\",", long_id);
	cr_assert_eq(with_ids(ids), PC_EUNAUTHORIZED);
	long_id[63] = '\0'; /* 63 fits with its NUL */
	snprintf(ids, sizeof(ids), "\"sub\":\"%s\",\"jti\":\"%s\",", long_id, long_id);
	cr_assert_eq(with_ids(ids), PC_OK);
}

/* ---- malformed input ---------------------------------------------------------------------- */

Test(jwt, garbage_is_rejected)
{
	const char *junk[] = {
		"", ".", "..", "...", "abc", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.",
		"eyJhbGciOiJIUzI1NiJ9.e30", /* two segments */
		"eyJhbGciOiJIUzI1NiJ9.e30.c2ln.", "eyJhbGciOiJIUzI1NiJ9.e30.c2l n",
		"eyJhbGciOiJIUzI1NiJ9.e30.c2l+", "eyJhbGciOiJIUzI1NiJ9=.e30.c2ln",
		"eyJhbGciOiJIUzI1NiJ9.e30.c2ln\n", "Zm9v.YmFy.YmF6", /* header not JSON */
		"W10.e30.c2ln", /* header is an array */
		"!!!!.????.****", "e.e.e",
	};
	size_t i;

	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		cr_assert_eq(decode("HS256", junk[i], NULL), PC_EUNAUTHORIZED, "accepted %s", junk[i]);
	cr_assert_eq(decode("HS256", NULL, NULL), PC_EUNAUTHORIZED);
}

Test(jwt, a_token_longer_than_the_maximum_is_rejected)
{
	static char big[PC_JWT_MAX + 100];
	char p[PC_JWT_MAX];
	const char *tok;

	/* Valid in every other way, just too long. */
	snprintf(p, sizeof(p), "{\"sub\":\"u\",\"aud\":\"" AUD "\",\"jti\":\"j\",\"exp\":%lld,\"pad\":\"%01600d\"}",
		 (long long)NOW + 3600, 0);
	tok = craft("{\"alg\":\"HS256\"}", p, EVP_sha256(), NULL);
	cr_assert_gt(strlen(tok), PC_JWT_MAX);
	snprintf(big, sizeof(big), "%s", tok);
	cr_assert_eq(decode("HS256", big, NULL), PC_EUNAUTHORIZED);
}

Test(jwt, a_key_we_do_not_pin_accepts_nothing)
{
	struct pc_jwt_key k = key_for("HS256");
	char tok[PC_JWT_MAX];

	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	snprintf(k.alg, sizeof(k.alg), "none");
	cr_assert_eq(jwt_verify(&k, T, tok, NOW, NULL), PC_EUNAUTHORIZED);
	snprintf(k.alg, sizeof(k.alg), "HS256");
	k.len = 0;
	cr_assert_eq(jwt_verify(&k, T, tok, NOW, NULL), PC_EUNAUTHORIZED);
}

/* ---- the claims fast reader and its jansson fallback ------------------------------- */

Test(jwt, claims_with_escapes_or_nesting_still_verify_through_the_full_parser)
{
	char p[512];
	struct pc_jwt_claims c;

	snprintf(p, sizeof(p),
		 "{ \"sub\" : \"" SUB "\", \"aud\": [\"other\", \"" AUD "\"], \"exp\": %lld,"
		 " \"jti\": \"a\\u0062c\", \"extra\": {\"roles\": [1, 2.5, null]}, \"name\": \"\\u00e9\" }",
		 (long long)NOW + 60);
	cr_assert_eq(decode("HS256", craft("{\"alg\":\"HS256\"}", p, EVP_sha256(), NULL), &c), PC_OK);
	cr_expect_str_eq(c.jti, "abc", "the escape is decoded, not copied");
	cr_expect_str_eq(c.sub, SUB);
	cr_expect_eq(c.exp, NOW + 60);
}

Test(jwt, repeated_claims_are_rejected_by_either_reader)
{
	char p[512];

	snprintf(p, sizeof(p),
		 "{\"sub\":\"" SUB "\",\"sub\":\"0190aaaa-0000-7000-8000-000000000000\",\"aud\":\"" AUD
		 "\",\"exp\":%lld,\"jti\":\"abc\"}", (long long)NOW + 60);
	cr_expect_eq(decode("HS256", craft("{\"alg\":\"HS256\"}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED);
}

Test(jwt, the_fast_reader_and_jansson_agree_on_the_usual_claims)
{
	struct pc_jwt_key k = key_for("HS256");
	struct pc_jwt_claims fast, slow;
	const char *p = good_payload();

	cr_assert_eq(jwt_claims_read_fast(&k, T, p, strlen(p), NOW, &fast), JWT_READ_OK,
		     "the fast reader takes ours");
	cr_assert(jwt_claims_read_full(&k, T, p, strlen(p), NOW, &slow));
	cr_expect_eq(memcmp(&fast, &slow, sizeof(fast)), 0);
	cr_expect_eq(jwt_claims_read_fast(&k, T, p, strlen(p), NOW + 7200, &fast), JWT_READ_REJECT,
		     "expired");
}

/* ---- libjwt's tokens, and other claims tables ------------------------------------------ */

Test(jwt, the_rfc7519_table_writes_the_token_libjwt_wrote)
{
	/* libjwt 1.10's jwt_encode_str for these grants and this secret. */
	static const char libjwt[] =
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJmYXN0YXBpLXVzZXJzOmF1dGgiLCJleHAiOjE3"
		"MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiYWJjIiwic3ViIjoidS0xIn0.MSqKrbOq3lGOlMG1V"
		"e3WN75QHUz9oMSRYhFB3WWU8rw";
	struct pc_jwt_key k;
	struct pc_jwt_claims c;
	char tok[PC_JWT_MAX], payload[PC_JWT_MAX];
	unsigned char raw[PC_JWT_MAX];
	const char *dot1, *dot2;
	size_t n;

	memset(&k, 0, sizeof(k));
	memcpy(k.secret, "0123456789abcdef0123456789abcdef", 32);
	k.len = 32;
	snprintf(k.alg, sizeof(k.alg), "HS256");
	snprintf(k.aud, sizeof(k.aud), AUD);
	cr_assert_eq(jwt_verify(&k, T, libjwt, NOW, &c), PC_OK);
	cr_assert_str_eq(c.sub, "u-1");
	/* Ours: the same header and the same claims in the same order. */
	cr_assert_eq(jwt_sign(&k, T, "u-1", NOW, 3600, tok, sizeof(tok), &c), PC_OK);
	dot1 = strchr(tok, '.');
	dot2 = strchr(dot1 + 1, '.');
	cr_assert_eq(strncmp(tok, libjwt, (size_t)(dot1 - tok) + 1), 0, "header %s", tok);
	cr_assert_eq(crypto_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), raw, sizeof(raw), &n),
		     PC_OK);
	memcpy(payload, raw, n);
	payload[n] = '\0';
	snprintf((char *)raw, sizeof(raw),
		 "{\"aud\":\"" AUD "\",\"exp\":1700003600,\"iat\":1700000000,\"jti\":\"%s\",\"sub\":\"u-1\"}",
		 c.jti);
	cr_assert_str_eq(payload, (char *)raw);
}

static const struct jwt_claims_table simplejwt = {
	.subject = "user_id", .token_id = "jti", .audience = false,
	.type_claim = "token_type", .access_type = "access",
};

Test(jwt, a_table_without_aud_and_with_a_type_claim_round_trips)
{
	struct pc_jwt_key k = key_for("HS256");
	struct pc_jwt_claims c;
	char tok[PC_JWT_MAX];

	cr_assert_eq(jwt_sign(&k, &simplejwt, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	cr_assert_eq(jwt_verify(&k, &simplejwt, tok, NOW, &c), PC_OK);
	cr_assert_str_eq(c.sub, SUB);
	cr_assert_eq(jwt_verify(&k, T, tok, NOW, &c), PC_EUNAUTHORIZED, "no sub, no aud");
	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	cr_assert_eq(jwt_verify(&k, &simplejwt, tok, NOW, &c), PC_EUNAUTHORIZED, "no user_id");
}

Test(jwt, the_type_claim_must_name_an_access_token)
{
	char p[512];
	const char *types[] = { "\"refresh\"", "\"\"", "1", "null", "[\"access\"]" };
	struct pc_jwt_key k = key_for("HS256");
	size_t i;

	snprintf(p, sizeof(p), "{\"user_id\":\"u\",\"jti\":\"j\",\"exp\":%lld,\"token_type\":\"access\"}",
		 (long long)NOW + 60);
	cr_assert_eq(jwt_verify(&k, &simplejwt, craft("{\"alg\":\"HS256\"}", p, EVP_sha256(), NULL),
				NOW, NULL), PC_OK);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		snprintf(p, sizeof(p), "{\"user_id\":\"u\",\"jti\":\"j\",\"exp\":%lld,\"token_type\":%s}",
			 (long long)NOW + 60, types[i]);
		cr_assert_eq(jwt_verify(&k, &simplejwt,
					craft("{\"alg\":\"HS256\"}", p, EVP_sha256(), NULL), NOW, NULL),
			     PC_EUNAUTHORIZED, "%s", types[i]);
	}
}

Test(jwt, an_opened_key_signs_and_verifies_as_a_key_keyed_per_call)
{
	struct pc_jwt_key opened = key_for("HS512"), plain = key_for("HS512");
	char tok[PC_JWT_MAX];

	cr_assert_eq(jwt_key_open(&opened), PC_OK);
	cr_assert_not_null(opened.mac);
	cr_assert_eq(jwt_sign(&opened, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	cr_assert_eq(jwt_verify(&plain, T, tok, NOW, NULL), PC_OK);
	cr_assert_eq(jwt_sign(&plain, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	cr_assert_eq(jwt_verify(&opened, T, tok, NOW, NULL), PC_OK);
	tok[strlen(tok) - 3] ^= 1;
	cr_assert_eq(jwt_verify(&opened, T, tok, NOW, NULL), PC_EUNAUTHORIZED);
	jwt_key_close(&opened);
	cr_assert_null(opened.mac);
	struct pc_jwt_key none = key_for("none");
	cr_assert_eq(jwt_key_open(&none), PC_EINVAL);
}

/* mode 1: the fast reader alone; 2: jansson alone. */
static bool read_alone(const struct pc_jwt_key *k, const char *p, int64_t now, int mode,
		       struct pc_jwt_claims *c)
{
	if (mode == 1)
		return jwt_claims_read_fast(k, T, p, strlen(p), now, c) == JWT_READ_OK;
	return jwt_claims_read_full(k, T, p, strlen(p), now, c);
}

/* exp and aud are checked by each reader on its own: a token the fast reader
 * declines (here: a nested claim) is judged by jansson alone. */
Test(jwt, each_reader_refuses_an_expired_token_or_another_audience)
{
	struct pc_jwt_key k = key_for("HS256");
	struct pc_jwt_claims c;
	const char *bad_aud[] = { "\"" AUD "2\"", "\"other\"", "[\"other\",\"more\"]" };
	char p[512];

	for (int mode = 1; mode <= 2; mode++) {
		snprintf(p, sizeof(p),
			 "{\"sub\":\"" SUB "\",\"aud\":\"" AUD "\",\"exp\":%lld,\"jti\":\"abc\"}",
			 (long long)NOW + 60);
		cr_assert(read_alone(&k, p, NOW + 59, mode, &c), "mode %d", mode);
		cr_expect(!read_alone(&k, p, NOW + 60, mode, &c),
			  "mode %d: exp == now is expired", mode);
		for (size_t i = 0; i < sizeof(bad_aud) / sizeof(bad_aud[0]); i++) {
			snprintf(p, sizeof(p),
				 "{\"sub\":\"" SUB "\",\"aud\":%s,\"exp\":%lld,\"jti\":\"abc\"}",
				 bad_aud[i], (long long)NOW + 60);
			cr_expect(!read_alone(&k, p, NOW, mode, &c),
				  "mode %d accepted aud %s", mode, bad_aud[i]);
		}
	}
	/* whole tokens through the full parser */
	snprintf(p, sizeof(p),
		 "{\"sub\":\"" SUB "\",\"aud\":\"" AUD "\",\"exp\":%lld,\"jti\":\"abc\","
		 "\"extra\":{\"n\":1}}", (long long)NOW);
	cr_expect_eq(decode("HS256", craft("{\"alg\":\"HS256\"}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED, "expired, judged by jansson");
	snprintf(p, sizeof(p),
		 "{\"sub\":\"" SUB "\",\"aud\":\"other\",\"exp\":%lld,\"jti\":\"abc\","
		 "\"extra\":{\"n\":1}}", (long long)NOW + 60);
	cr_expect_eq(decode("HS256", craft("{\"alg\":\"HS256\"}", p, EVP_sha256(), NULL), NULL),
		     PC_EUNAUTHORIZED, "another audience, judged by jansson");
}

/* ---- simplejwt's tables ------------------------------------------------------------ */

Test(jwt, simplejwt_access_and_refresh_tokens_never_pass_as_each_other)
{
	struct pc_jwt_key k = key_for("HS256");
	const struct jwt_claims_table *acc = &jwt_claims_simplejwt;
	const struct jwt_claims_table *ref = &jwt_claims_simplejwt_refresh;
	struct pc_jwt_claims c;
	char a[PC_JWT_MAX], r[PC_JWT_MAX];
	const char *jti = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

	cr_assert_eq(jwt_sign_family(&k, acc, SUB, "fam-1", NOW, 300, a, sizeof(a), NULL), PC_OK);
	cr_assert_eq(jwt_sign_jti(&k, ref, SUB, jti, NOW, 3600, r, sizeof(r), NULL), PC_OK);
	cr_assert_eq(jwt_verify(&k, acc, a, NOW, &c), PC_OK);
	cr_expect_str_eq(c.sub, SUB);
	cr_expect_str_eq(c.fam, "fam-1");
	cr_assert_eq(jwt_verify(&k, ref, r, NOW, &c), PC_OK);
	cr_expect_str_eq(c.jti, jti);
	cr_expect_eq(c.exp, NOW + 3600);
	cr_expect_eq(jwt_verify(&k, acc, r, NOW, NULL), PC_EUNAUTHORIZED);
	cr_expect_eq(jwt_verify(&k, ref, a, NOW, NULL), PC_EUNAUTHORIZED);
	/* and neither is an RFC 7519 token (no sub, no aud), nor one of those theirs */
	cr_expect_eq(jwt_verify(&k, T, a, NOW, NULL), PC_EUNAUTHORIZED);
	cr_expect_eq(jwt_verify(&k, T, r, NOW, NULL), PC_EUNAUTHORIZED);
	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 300, a, sizeof(a), NULL), PC_OK);
	cr_expect_eq(jwt_verify(&k, acc, a, NOW, NULL), PC_EUNAUTHORIZED);
	/* a given token id must be a non-empty string that fits */
	cr_expect_eq(jwt_sign_jti(&k, ref, SUB, "", NOW, 60, r, sizeof(r), NULL), PC_EINVAL);
}

Test(jwt, simplejwt_claims_are_its_names_and_no_aud)
{
	struct pc_jwt_key k = key_for("HS256");
	char tok[PC_JWT_MAX], payload[512];
	const char *dot1, *dot2;
	size_t n;

	cr_assert_eq(jwt_sign(&k, &jwt_claims_simplejwt, SUB, NOW, 300, tok, sizeof(tok), NULL),
		     PC_OK);
	dot1 = strchr(tok, '.');
	dot2 = strchr(dot1 + 1, '.');
	cr_assert_eq(crypto_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1),
					  (unsigned char *)payload, sizeof(payload) - 1, &n), PC_OK);
	payload[n] = '\0';
	cr_expect_not_null(strstr(payload, "\"token_type\":\"access\""), "%s", payload);
	cr_expect_not_null(strstr(payload, "\"user_id\":\"" SUB "\""), "%s", payload);
	cr_expect_null(strstr(payload, "\"aud\""), "%s", payload);
	cr_expect_null(strstr(payload, "\"sub\""), "%s", payload);
}

/* ---- Flask-JWT-Extended's tables (the user_account face) ------------------------------ */

static enum pc_err jwt_verify_with(const struct jwt_claims_table *t, const char *tok)
{
	struct pc_jwt_key k = key_for("HS256");

	return jwt_verify(&k, t, tok, NOW, NULL);
}

Test(jwt, flask_tokens_carry_type_fresh_nbf_and_a_csrf_claim)
{
	struct pc_jwt_key k = key_for("HS256");
	char tok[PC_JWT_MAX], payload[512];
	struct pc_jwt_claims signed_c, read_c;
	const char *dot1, *dot2;
	size_t n;

	cr_assert_eq(jwt_sign_family(&k, &jwt_claims_flask, SUB, "fam-1", NOW, 300, tok,
				     sizeof(tok), &signed_c), PC_OK);
	cr_expect_eq(strlen(signed_c.csrf), 22, "128 bits, base64url");
	cr_assert_eq(jwt_verify(&k, &jwt_claims_flask, tok, NOW, &read_c), PC_OK);
	cr_expect_str_eq(read_c.csrf, signed_c.csrf);
	cr_expect_str_eq(read_c.fam, "fam-1");
	dot1 = strchr(tok, '.');
	dot2 = strchr(dot1 + 1, '.');
	cr_assert_eq(crypto_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1),
					  (unsigned char *)payload, sizeof(payload) - 1, &n), PC_OK);
	payload[n] = '\0';
	cr_expect_not_null(strstr(payload, "\"type\":\"access\""), "%s", payload);
	cr_expect_not_null(strstr(payload, "\"fresh\":false"), "%s", payload);
	cr_expect_not_null(strstr(payload, "\"nbf\":1700000000"), "%s", payload);
	cr_expect_not_null(strstr(payload, "\"sub\":\"" SUB "\""), "%s", payload);
	cr_expect_null(strstr(payload, "\"aud\""), "%s", payload);
	/* two tokens, two CSRF values */
	cr_assert_eq(jwt_sign(&k, &jwt_claims_flask, SUB, NOW, 300, tok, sizeof(tok), &read_c),
		     PC_OK);
	cr_expect_str_neq(read_c.csrf, signed_c.csrf);
}

Test(jwt, flask_access_and_refresh_tokens_never_pass_as_each_other_or_as_others)
{
	struct pc_jwt_key k = key_for("HS256");
	const struct jwt_claims_table *acc = &jwt_claims_flask;
	const struct jwt_claims_table *ref = &jwt_claims_flask_refresh;
	char a[PC_JWT_MAX], r[PC_JWT_MAX], o[PC_JWT_MAX];
	const char *jti = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

	cr_assert_eq(jwt_sign(&k, acc, SUB, NOW, 300, a, sizeof(a), NULL), PC_OK);
	cr_assert_eq(jwt_sign_jti(&k, ref, SUB, jti, NOW, 3600, r, sizeof(r), NULL), PC_OK);
	cr_expect_eq(jwt_verify(&k, acc, r, NOW, NULL), PC_EUNAUTHORIZED);
	cr_expect_eq(jwt_verify(&k, ref, a, NOW, NULL), PC_EUNAUTHORIZED);
	cr_expect_eq(jwt_verify(&k, T, a, NOW, NULL), PC_EUNAUTHORIZED);
	cr_expect_eq(jwt_verify(&k, &jwt_claims_simplejwt, a, NOW, NULL), PC_EUNAUTHORIZED);
	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 300, o, sizeof(o), NULL), PC_OK);
	cr_expect_eq(jwt_verify(&k, acc, o, NOW, NULL), PC_EUNAUTHORIZED);
	cr_assert_eq(jwt_sign(&k, &jwt_claims_simplejwt, SUB, NOW, 300, o, sizeof(o), NULL), PC_OK);
	cr_expect_eq(jwt_verify(&k, acc, o, NOW, NULL), PC_EUNAUTHORIZED);
}

Test(jwt, a_csrf_claim_that_is_no_string_is_refused_by_either_reader)
{
	char p[512];

	snprintf(p, sizeof(p), "{\"sub\":\"" SUB "\",\"type\":\"access\",\"exp\":%lld,"
		 "\"jti\":\"abc\",\"csrf\":5}", (long long)NOW + 60);
	cr_expect_eq(jwt_verify_with(&jwt_claims_flask, craft("{\"alg\":\"HS256\"}", p,
							      EVP_sha256(), NULL)),
		     PC_EUNAUTHORIZED);
	snprintf(p, sizeof(p), "{\"sub\":\"" SUB "\",\"type\":\"access\",\"exp\":%lld,"
		 "\"jti\":\"abc\",\"csrf\":\"\",\"x\":[{}]}", (long long)NOW + 60);
	cr_expect_eq(jwt_verify_with(&jwt_claims_flask, craft("{\"alg\":\"HS256\"}", p,
							      EVP_sha256(), NULL)),
		     PC_EUNAUTHORIZED);
	snprintf(p, sizeof(p), "{\"sub\":\"" SUB "\",\"type\":\"access\",\"exp\":%lld,"
		 "\"jti\":\"abc\",\"csrf\":\"c\"}", (long long)NOW + 60);
	cr_expect_eq(jwt_verify_with(&jwt_claims_flask, craft("{\"alg\":\"HS256\"}", p,
							      EVP_sha256(), NULL)),
		     PC_OK);
}

Test(jwt, expired_says_whether_only_exp_failed)
{
	struct pc_jwt_key k = key_for("HS256");
	char tok[PC_JWT_MAX];

	cr_assert_eq(jwt_sign(&k, &jwt_claims_flask, SUB, NOW, 300, tok, sizeof(tok), NULL), PC_OK);
	cr_expect_not(jwt_expired(&k, &jwt_claims_flask, tok, NOW + 299), "still good");
	cr_expect(jwt_expired(&k, &jwt_claims_flask, tok, NOW + 300));
	cr_expect(jwt_expired(&k, &jwt_claims_flask, tok, NOW + 100000));
	/* another table's checks fail too: not "expired" but wrong */
	cr_expect_not(jwt_expired(&k, &jwt_claims_flask_refresh, tok, NOW + 300));
	/* a bad signature is not "expired" */
	tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
	cr_expect_not(jwt_expired(&k, &jwt_claims_flask, tok, NOW + 300));
	cr_expect_not(jwt_expired(&k, &jwt_claims_flask, "garbage", NOW));
}

/* ---- asymmetric keys (EdDSA, ES256, RS256: keys.c's published keys) ---------------------- */

/* A key of alg over a fresh EVP_PKEY (bits for RSA), opened; kid "kid-1". */
static struct pc_jwt_key akey_of(const char *alg, EVP_PKEY *pkey, const char *kid)
{
	struct pc_jwt_key k;

	memset(&k, 0, sizeof(k));
	k.pkey = pkey;
	snprintf(k.alg, sizeof(k.alg), "%s", alg);
	snprintf(k.aud, sizeof(k.aud), "%s", AUD);
	snprintf(k.kid, sizeof(k.kid), "%s", kid);
	return k;
}

static EVP_PKEY *pkey_for(const char *alg)
{
	EVP_PKEY *p = NULL;

	if (strcmp(alg, "EdDSA") == 0)
		p = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (strcmp(alg, "ES256") == 0)
		p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		p = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	cr_assert_not_null(p);
	return p;
}

static struct pc_jwt_key akey(const char *alg)
{
	struct pc_jwt_key k = akey_of(alg, pkey_for(alg), "kid-1");

	cr_assert_eq(jwt_key_open(&k), PC_OK, "%s", alg);
	return k;
}

/* header.payload signed by pkey as alg (raw r || s for ES256); sig_extra
 * bytes of 0 appended to the signature. Static buffer. */
static const char *acraft(EVP_PKEY *pkey, const char *alg, const char *header,
			  const char *payload, size_t sig_extra)
{
	static char tok[4096];
	unsigned char sig[1024], raw[600];
	size_t n, siglen = sizeof(sig), rawlen;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	n = crypto_b64url_encode(header, strlen(header), tok, sizeof(tok));
	tok[n++] = '.';
	n += crypto_b64url_encode(payload, strlen(payload), tok + n, sizeof(tok) - n);
	cr_assert_eq(EVP_DigestSignInit_ex(md, NULL, strcmp(alg, "EdDSA") == 0 ? NULL : "SHA256",
					   NULL, NULL, pkey, NULL), 1);
	cr_assert_eq(EVP_DigestSign(md, sig, &siglen, (unsigned char *)tok, n), 1);
	EVP_MD_CTX_free(md);
	if (strcmp(alg, "ES256") == 0) {
		cr_assert(crypto_ecdsa_der_to_raw(sig, siglen, raw));
		rawlen = 64;
	} else {
		memcpy(raw, sig, siglen);
		rawlen = siglen;
	}
	memset(raw + rawlen, 0, sig_extra);
	tok[n++] = '.';
	crypto_b64url_encode(raw, rawlen + sig_extra, tok + n, sizeof(tok) - n);
	return tok;
}

static const char *const asym_algs[] = { "EdDSA", "ES256", "RS256" };

Test(jwt, each_asymmetric_alg_round_trips_with_its_kid_in_the_header)
{
	for (size_t i = 0; i < 3; i++) {
		struct pc_jwt_key k = akey(asym_algs[i]);
		struct pc_jwt_claims out;
		char tok[PC_JWT_MAX], hdr[256], kid[64];
		size_t n;

		cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
		cr_assert_eq(crypto_b64url_decode(tok, strchr(tok, '.') - tok, (unsigned char *)hdr,
						  sizeof(hdr) - 1, &n), PC_OK);
		hdr[n] = '\0';
		cr_assert(strstr(hdr, "\"kid\":\"kid-1\"") != NULL, "%s", hdr);
		cr_assert(jwt_header_kid(tok, kid));
		cr_assert_str_eq(kid, "kid-1");
		cr_assert_eq(jwt_verify(&k, T, tok, NOW, &out), PC_OK, "%s", asym_algs[i]);
		cr_assert_str_eq(out.sub, SUB);
		/* ...and by hand, as another implementation would sign it */
		cr_assert_eq(jwt_verify(&k, T, acraft(k.pkey, k.alg, "{\"alg\":\"", good_payload(), 0),
					NOW, NULL), PC_EUNAUTHORIZED); /* a header that is no JSON */
		snprintf(hdr, sizeof(hdr), "{\"kid\":\"kid-1\",\"alg\":\"%s\"}", k.alg);
		cr_assert_eq(jwt_verify(&k, T, acraft(k.pkey, k.alg, hdr, good_payload(), 0), NOW,
					NULL), PC_OK, "%s", asym_algs[i]);
		jwt_key_close(&k);
		cr_assert_null(k.pkey);
	}
}

Test(jwt, an_es256_signature_is_jws_raw_r_and_s)
{
	struct pc_jwt_key k = akey("ES256");
	char tok[PC_JWT_MAX];
	unsigned char sig[128];
	size_t n;

	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	cr_assert_eq(crypto_b64url_decode(strrchr(tok, '.') + 1, strlen(strrchr(tok, '.') + 1), sig,
					  sizeof(sig), &n), PC_OK);
	cr_assert_eq(n, 64);
	jwt_key_close(&k);
}

Test(jwt, a_token_naming_another_kid_is_refused_though_signed_by_the_key)
{
	for (size_t i = 0; i < 3; i++) {
		struct pc_jwt_key k = akey(asym_algs[i]);
		char hdr[128];

		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"kid-2\"}", k.alg);
		cr_assert_eq(jwt_verify(&k, T, acraft(k.pkey, k.alg, hdr, good_payload(), 0), NOW,
					NULL), PC_EUNAUTHORIZED, "%s", asym_algs[i]);
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", k.alg);
		cr_assert_eq(jwt_verify(&k, T, acraft(k.pkey, k.alg, hdr, good_payload(), 0), NOW,
					NULL), PC_EUNAUTHORIZED, "no kid: %s", asym_algs[i]);
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":7}", k.alg);
		cr_assert_eq(jwt_verify(&k, T, acraft(k.pkey, k.alg, hdr, good_payload(), 0), NOW,
					NULL), PC_EUNAUTHORIZED, "%s", asym_algs[i]);
		jwt_key_close(&k);
	}
}

Test(jwt, an_asymmetric_key_refuses_every_other_alg_in_the_header)
{
	for (size_t i = 0; i < 3; i++) {
		struct pc_jwt_key k = akey(asym_algs[i]);
		const char *others[] = { "HS256", "none", "EdDSA", "ES256", "RS256", "PS256", "ES384" };
		char hdr[128];

		for (size_t j = 0; j < sizeof(others) / sizeof(others[0]); j++) {
			if (strcmp(others[j], k.alg) == 0)
				continue;
			snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"kid-1\"}", others[j]);
			/* HMAC'd with the secret, and signed by the key itself */
			cr_assert_eq(jwt_verify(&k, T, craft(hdr, good_payload(), EVP_sha256(), NULL),
						NOW, NULL), PC_EUNAUTHORIZED);
			cr_assert_eq(jwt_verify(&k, T, acraft(k.pkey, k.alg, hdr, good_payload(), 0),
						NOW, NULL), PC_EUNAUTHORIZED, "%s as %s", k.alg,
				     others[j]);
		}
		jwt_key_close(&k);
	}
}

Test(jwt, an_hmac_key_refuses_asymmetric_tokens_and_the_other_way_round)
{
	struct pc_jwt_key hs = key_for("HS256"), ed = akey("EdDSA");
	char tok[PC_JWT_MAX];

	cr_assert_eq(jwt_sign(&ed, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	cr_assert_eq(jwt_verify(&hs, T, tok, NOW, NULL), PC_EUNAUTHORIZED);
	cr_assert_eq(jwt_sign(&hs, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	cr_assert_eq(jwt_verify(&ed, T, tok, NOW, NULL), PC_EUNAUTHORIZED);
	jwt_key_close(&ed);
}

Test(jwt, a_signature_of_the_wrong_length_is_refused)
{
	for (size_t i = 0; i < 3; i++) {
		struct pc_jwt_key k = akey(asym_algs[i]);
		char hdr[128], tok[PC_JWT_MAX];

		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"kid-1\"}", k.alg);
		/* a good signature with one byte more: the first 64 (ES256) would verify */
		cr_assert_eq(jwt_verify(&k, T, acraft(k.pkey, k.alg, hdr, good_payload(), 1), NOW,
					NULL), PC_EUNAUTHORIZED, "%s", k.alg);
		cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
		tok[strlen(tok) - 4] = '\0';
		cr_assert_eq(jwt_verify(&k, T, tok, NOW, NULL), PC_EUNAUTHORIZED, "%s", k.alg);
		jwt_key_close(&k);
	}
}

Test(jwt, an_asymmetric_key_opens_only_for_a_pkey_of_its_alg_and_a_plain_kid)
{
	struct pc_jwt_key k;
	char tok[PC_JWT_MAX];

	k = akey_of("EdDSA", pkey_for("ES256"), "kid-1");
	cr_assert_eq(jwt_key_open(&k), PC_EINVAL);
	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_EINVAL);
	jwt_key_close(&k);
	k = akey_of("ES256", EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), "kid-1");
	cr_assert_eq(jwt_key_open(&k), PC_EINVAL);
	jwt_key_close(&k);
	k = akey_of("RS256", EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024), "kid-1");
	cr_assert_eq(jwt_key_open(&k), PC_EINVAL);
	jwt_key_close(&k);
	k = akey_of("ES256", pkey_for("RS256"), "kid-1");
	cr_assert_eq(jwt_key_open(&k), PC_EINVAL);
	jwt_key_close(&k);
	k = akey_of("EdDSA", pkey_for("EdDSA"), "kid\"1");
	cr_assert_eq(jwt_key_open(&k), PC_EINVAL);
	jwt_key_close(&k);
	k = akey_of("EdDSA", pkey_for("EdDSA"), "");
	cr_assert_eq(jwt_key_open(&k), PC_EINVAL);
	jwt_key_close(&k);
	/* an asymmetric key that also holds a secret is no key */
	k = akey_of("EdDSA", pkey_for("EdDSA"), "kid-1");
	k.len = 3;
	cr_assert_eq(jwt_key_open(&k), PC_EINVAL);
	jwt_key_close(&k);
	/* and an HMAC key that holds a pkey neither */
	k = key_for("HS256");
	k.pkey = pkey_for("EdDSA");
	cr_assert_eq(jwt_key_open(&k), PC_EINVAL);
	cr_assert_eq(jwt_sign(&k, T, SUB, NOW, 60, tok, sizeof(tok), NULL), PC_EINVAL);
	jwt_key_close(&k);
	cr_assert(jwt_alg_asymmetric("RS256") && !jwt_alg_asymmetric("HS256") &&
		  !jwt_alg_asymmetric("none"));
}

Test(jwt, header_kid_reads_a_plain_kid_or_none_and_refuses_the_rest)
{
	char kid[64];
	const char *p = good_payload();

	cr_assert(jwt_header_kid(craft("{\"alg\":\"EdDSA\",\"kid\":\"a-b_c9\"}", p, NULL, "x"), kid));
	cr_assert_str_eq(kid, "a-b_c9");
	cr_assert(jwt_header_kid(craft("{\"alg\":\"HS256\"}", p, NULL, "x"), kid));
	cr_assert_str_eq(kid, "");
	const char *bad[] = {
		"{\"kid\":7}", "{\"kid\":null}", "{\"kid\":\"\"}", "{\"kid\":\"a.b\"}",
		"{\"kid\":\"a\\u0000b\"}", "{\"kid\":\"x\",\"kid\":\"y\"}", "[\"kid\"]", "not json",
		"{\"kid\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_not(jwt_header_kid(craft(bad[i], p, NULL, "x"), kid), "%s", bad[i]);
		cr_assert_str_eq(kid, "");
	}
	cr_assert_not(jwt_header_kid(".x.y", kid));
	cr_assert_not(jwt_header_kid("no-dot", kid));
	cr_assert_not(jwt_header_kid("!!.x.y", kid));
	cr_assert_not(jwt_header_kid(NULL, kid));
}

Test(jwt, extra_claims_are_added_by_their_flags)
{
	struct pc_jwt_key k = akey("EdDSA");
	struct jwt_extra x = { JWT_EXTRA_EMAIL | JWT_EXTRA_VERIFIED, "a@example.com", true, true };
	char tok[PC_JWT_MAX], payload[512];
	size_t n;
	const char *p;

	cr_assert_eq(jwt_sign_extra(&k, T, SUB, NULL, &x, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	p = strchr(tok, '.') + 1;
	cr_assert_eq(crypto_b64url_decode(p, strchr(p, '.') - p, (unsigned char *)payload,
					  sizeof(payload) - 1, &n), PC_OK);
	payload[n] = '\0';
	cr_assert(strstr(payload, "\"email\":\"a@example.com\"") != NULL, "%s", payload);
	cr_assert(strstr(payload, "\"is_verified\":true") != NULL, "%s", payload);
	cr_assert(strstr(payload, "is_superuser") == NULL, "%s", payload);
	cr_assert_eq(jwt_verify(&k, T, tok, NOW, NULL), PC_OK);
	x.email = "";
	cr_assert_eq(jwt_sign_extra(&k, T, SUB, NULL, &x, NOW, 60, tok, sizeof(tok), NULL), PC_OK);
	p = strchr(tok, '.') + 1;
	cr_assert_eq(crypto_b64url_decode(p, strchr(p, '.') - p, (unsigned char *)payload,
					  sizeof(payload) - 1, &n), PC_OK);
	payload[n] = '\0';
	cr_assert(strstr(payload, "email") == NULL, "no address, no claim: %s", payload);
	jwt_key_close(&k);
}
