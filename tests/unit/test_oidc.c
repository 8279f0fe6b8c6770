/* OIDC client core (oidc.c): ID tokens signed here with keys made here (RSA
 * 2048, P-256) verified against a JWKS built from them; every forgery and
 * claim fault refused with nothing filled in; PKCE against RFC 7636's
 * appendix B; the state's round trip, tampering, expiry, another key and
 * another browser's cookie; the discovery document's rules; URL rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "core/core.h"
#include "http_listener.h"

#define NOW 1700000000
#define ISS "https://issuer.example.com"
#define CLIENT "portcullis-client"
#define NONCE "n-0S6_WzA2Mj"

static EVP_PKEY *rsa, *ec, *rsa_other;
static struct oidc_jwks *jwks;

/* ---- helpers: keys, JWKS, signing ---------------------------------------------------- */

static void b64_bn(EVP_PKEY *k, const char *name, size_t pad, char *out, size_t outsz)
{
	unsigned char raw[512];
	BIGNUM *bn = NULL;
	int n;

	cr_assert_eq(EVP_PKEY_get_bn_param(k, name, &bn), 1);
	n = pad ? BN_bn2binpad(bn, raw, (int)pad) : BN_bn2bin(bn, raw);
	cr_assert_gt(n, 0);
	cr_assert_gt(crypto_b64url_encode(raw, (size_t)n, out, outsz), 0);
	BN_free(bn);
}

static void jwk_append(struct pc_buf *b, EVP_PKEY *k, const char *kid)
{
	char x[700], y[100];

	if (EVP_PKEY_is_a(k, "RSA")) {
		b64_bn(k, OSSL_PKEY_PARAM_RSA_N, 0, x, sizeof(x));
		b64_bn(k, OSSL_PKEY_PARAM_RSA_E, 0, y, sizeof(y));
		cr_assert_eq(buf_printf(b, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\","
					   "\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\"}", kid, x, y),
			     PC_OK);
	} else {
		b64_bn(k, OSSL_PKEY_PARAM_EC_PUB_X, 32, x, sizeof(x));
		b64_bn(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y, sizeof(y));
		cr_assert_eq(buf_printf(b, "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"P-256\","
					   "\"x\":\"%s\",\"y\":\"%s\"}", kid, x, y),
			     PC_OK);
	}
}

static void setup(void)
{
	struct pc_buf b;

	rsa = EVP_RSA_gen(2048);
	ec = EVP_EC_gen("P-256");
	rsa_other = EVP_RSA_gen(2048);
	cr_assert(rsa != NULL && ec != NULL && rsa_other != NULL);
	buf_init(&b, OIDC_DOC_MAX);
	cr_assert_eq(buf_addstr(&b, "{\"keys\":["), PC_OK);
	jwk_append(&b, rsa, "rsa1");
	cr_assert_eq(buf_addstr(&b, ","), PC_OK);
	jwk_append(&b, ec, "ec1");
	/* an encryption key and an unknown kty are skipped, not fatal */
	cr_assert_eq(buf_addstr(&b, ",{\"kty\":\"RSA\",\"use\":\"enc\",\"kid\":\"x\",\"n\":\"AQAB\","
				    "\"e\":\"AQAB\"},{\"kty\":\"OKP\",\"kid\":\"y\"}]}"),
		     PC_OK);
	cr_assert_eq(oidc_jwks_new(NULL, 5, &jwks), PC_OK);
	cr_assert_eq(oidc_jwks_load(jwks, b.data, b.len), PC_OK);
	buf_release(&b);
}

static void teardown(void)
{
	oidc_jwks_free(jwks);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa_other);
}

TestSuite(oidc, .init = setup, .fini = teardown);

/* header.payload of the two JSON texts, into out. */
static size_t jws_input(const char *hdr, const char *payload, char *out, size_t outsz)
{
	size_t n = crypto_b64url_encode(hdr, strlen(hdr), out, outsz);

	cr_assert_gt(n, 0);
	out[n++] = '.';
	n += crypto_b64url_encode(payload, strlen(payload), out + n, outsz - n);
	return n;
}

/* A compact JWS: alg RS256/ES256 signed with k; "HS256" HMACs with hs_secret;
 * "none" has an empty signature. */
static char *sign(const char *alg, const char *kid, EVP_PKEY *k, const char *payload,
		  const char *hs_secret)
{
	char hdr[256], *out = malloc(OIDC_TOKEN_MAX * 2);
	unsigned char sig[1024], rs[64];
	size_t n, siglen = sizeof(sig);
	EVP_MD_CTX *md;

	cr_assert_not_null(out);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid);
	n = jws_input(hdr, payload, out, OIDC_TOKEN_MAX * 2);
	if (strcmp(alg, "none") == 0) {
		out[n++] = '.';
		out[n] = '\0';
		return out;
	}
	if (strcmp(alg, "HS256") == 0) {
		unsigned int l = 0;

		cr_assert_not_null(HMAC(EVP_sha256(), hs_secret, (int)strlen(hs_secret),
					(unsigned char *)out, n, sig, &l));
		siglen = l;
	} else {
		md = EVP_MD_CTX_new();
		cr_assert_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
		cr_assert_eq(EVP_DigestSign(md, sig, &siglen, (unsigned char *)out, n), 1);
		EVP_MD_CTX_free(md);
		if (EVP_PKEY_is_a(k, "EC")) {
			const unsigned char *p = sig;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
			const BIGNUM *r, *s;

			cr_assert_not_null(es);
			ECDSA_SIG_get0(es, &r, &s);
			BN_bn2binpad(r, rs, 32);
			BN_bn2binpad(s, rs + 32, 32);
			ECDSA_SIG_free(es);
			memcpy(sig, rs, 64);
			siglen = 64;
		}
	}
	out[n++] = '.';
	crypto_b64url_encode(sig, siglen, out + n, OIDC_TOKEN_MAX * 2 - n);
	return out;
}

/* Good claims with one member replaced or added by extra ("" for none). */
static void claims(char *out, size_t outsz, const char *iss, const char *aud, long long exp,
		   long long iat, const char *nonce, const char *extra)
{
	snprintf(out, outsz,
		 "{\"iss\":\"%s\",\"aud\":%s,\"exp\":%lld,\"iat\":%lld,\"nonce\":\"%s\","
		 "\"sub\":\"248289761001\",\"email\":\"jane@example.com\",\"email_verified\":true%s}",
		 iss, aud, exp, iat, nonce, extra);
}

static const struct oidc_expect expect = { ISS, CLIENT, NONCE, NOW };

static void good_claims(char *out, size_t outsz)
{
	claims(out, outsz, ISS, "\"" CLIENT "\"", NOW + 300, NOW, NONCE, "");
}

/* The token must be refused with out left zeroed. */
static void refused(const char *token, const char *why)
{
	struct oidc_id_claims out;

	memset(&out, 0x5a, sizeof(out));
	cr_expect_eq(oidc_id_token_verify(jwks, &expect, token, &out), PC_EUNAUTHORIZED, "%s", why);
	cr_expect_eq(out.sub[0], '\0', "%s: sub leaked", why);
	cr_expect_eq(out.email[0], '\0', "%s: email leaked", why);
	cr_expect(!out.email_verified, "%s", why);
}

/* ---- ID tokens ------------------------------------------------------------------------ */

Test(oidc, a_good_rs256_and_es256_token_pass)
{
	struct oidc_id_claims out;
	char c[1024], *t;

	good_claims(c, sizeof(c));
	t = sign("RS256", "rsa1", rsa, c, NULL);
	cr_assert_eq(oidc_id_token_verify(jwks, &expect, t, &out), PC_OK);
	cr_expect_str_eq(out.sub, "248289761001");
	cr_expect_str_eq(out.email, "jane@example.com");
	cr_expect(out.email_verified);
	free(t);
	t = sign("ES256", "ec1", ec, c, NULL);
	cr_assert_eq(oidc_id_token_verify(jwks, &expect, t, &out), PC_OK);
	cr_expect_str_eq(out.sub, "248289761001");
	free(t);
	/* aud as an array with azp; email_verified as a string is not true */
	claims(c, sizeof(c), ISS, "[\"" CLIENT "\",\"other\"]", NOW + 300, NOW, NONCE,
	       ",\"azp\":\"" CLIENT "\"");
	t = sign("RS256", "rsa1", rsa, c, NULL);
	cr_expect_eq(oidc_id_token_verify(jwks, &expect, t, &out), PC_OK);
	free(t);
	snprintf(c, sizeof(c), "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"exp\":%d,\"iat\":%d,"
		 "\"nonce\":\"" NONCE "\",\"sub\":\"s\",\"email_verified\":\"true\"}", NOW + 1, NOW);
	t = sign("ES256", "ec1", ec, c, NULL);
	cr_assert_eq(oidc_id_token_verify(jwks, &expect, t, &out), PC_OK);
	cr_expect(!out.email_verified);
	cr_expect_str_eq(out.email, "");
	free(t);
}

Test(oidc, forged_signatures_and_algs_are_refused)
{
	char c[1024], *t, pem[2048];
	BIO *bio = BIO_new(BIO_s_mem());
	int n;

	good_claims(c, sizeof(c));
	/* signed by another RSA key under our kid */
	t = sign("RS256", "rsa1", rsa_other, c, NULL);
	refused(t, "wrong signature");
	free(t);
	/* one signature byte flipped */
	t = sign("ES256", "ec1", ec, c, NULL);
	t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
	refused(t, "flipped signature");
	free(t);
	/* alg none, with and without a signature segment */
	t = sign("none", "rsa1", NULL, c, NULL);
	refused(t, "alg none");
	free(t);
	/* HS256 keyed with the RSA public key's PEM: the classic confusion */
	cr_assert_eq(PEM_write_bio_PUBKEY(bio, rsa), 1);
	n = BIO_read(bio, pem, sizeof(pem) - 1);
	cr_assert_gt(n, 0);
	pem[n] = '\0';
	BIO_free(bio);
	t = sign("HS256", "rsa1", NULL, c, pem);
	refused(t, "HS256 with the public key as secret");
	free(t);
	/* a good RS256 signature under a header naming another alg */
	t = sign("RS384", "rsa1", rsa, c, NULL);
	refused(t, "header alg RS384");
	free(t);
	t = sign("PS256", "rsa1", rsa, c, NULL);
	refused(t, "header alg PS256");
	free(t);
	/* RS256 naming the EC key; ES256 naming the RSA key */
	t = sign("RS256", "ec1", rsa, c, NULL);
	refused(t, "RS256 with an EC key");
	free(t);
	t = sign("ES256", "rsa1", ec, c, NULL);
	refused(t, "ES256 with an RSA key");
	free(t);
	/* an unknown kid (no fetch: this set has no URI) */
	t = sign("RS256", "nope", rsa, c, NULL);
	refused(t, "unknown kid");
	free(t);
}

Test(oidc, claim_faults_are_refused)
{
	static const struct {
		const char *iss, *aud, *nonce, *extra;
		long long exp, iat;
		const char *why;
	} v[] = {
		{ "https://evil.example.com", "\"" CLIENT "\"", NONCE, "", NOW + 300, NOW, "wrong iss" },
		{ ISS "/", "\"" CLIENT "\"", NONCE, "", NOW + 300, NOW, "iss with a slash" },
		{ ISS, "\"other-client\"", NONCE, "", NOW + 300, NOW, "wrong aud" },
		{ ISS, "[\"other\"]", NONCE, "", NOW + 300, NOW, "aud array without us" },
		{ ISS, "[\"" CLIENT "\",\"other\"]", NONCE, "", NOW + 300, NOW, "array aud without azp" },
		{ ISS, "[\"" CLIENT "\",\"other\"]", NONCE, ",\"azp\":\"other\"", NOW + 300, NOW,
		  "azp another client" },
		{ ISS, "\"" CLIENT "\"", NONCE, ",\"azp\":\"other\"", NOW + 300, NOW, "azp another" },
		{ ISS, "7", NONCE, "", NOW + 300, NOW, "aud a number" },
		{ ISS, "\"" CLIENT "\"", NONCE, "", NOW - 61, NOW - 600, "expired" },
		{ ISS, "\"" CLIENT "\"", NONCE, "", NOW + 300, NOW + 3600, "iat in the future" },
		{ ISS, "\"" CLIENT "\"", "n-0S6_WzA2Mk", "", NOW + 300, NOW, "wrong nonce" },
		{ ISS, "\"" CLIENT "\"", "", "", NOW + 300, NOW, "empty nonce" },
	};
	char c[1024], *t;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		claims(c, sizeof(c), v[i].iss, v[i].aud, v[i].exp, v[i].iat, v[i].nonce, v[i].extra);
		t = sign(i % 2 ? "RS256" : "ES256", i % 2 ? "rsa1" : "ec1", i % 2 ? rsa : ec, c, NULL);
		refused(t, v[i].why);
		free(t);
	}
	/* no nonce, no sub, no exp */
	snprintf(c, sizeof(c), "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"exp\":%d,\"iat\":%d,"
		 "\"sub\":\"s\"}", NOW + 300, NOW);
	t = sign("RS256", "rsa1", rsa, c, NULL);
	refused(t, "no nonce");
	free(t);
	snprintf(c, sizeof(c), "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"exp\":%d,\"iat\":%d,"
		 "\"nonce\":\"" NONCE "\"}", NOW + 300, NOW);
	t = sign("RS256", "rsa1", rsa, c, NULL);
	refused(t, "no sub");
	free(t);
	snprintf(c, sizeof(c), "{\"iss\":\"" ISS "\",\"aud\":\"" CLIENT "\",\"iat\":%d,"
		 "\"nonce\":\"" NONCE "\",\"sub\":\"s\"}", NOW);
	t = sign("RS256", "rsa1", rsa, c, NULL);
	refused(t, "no exp");
	free(t);
}

Test(oidc, oversized_and_malformed_tokens_are_refused)
{
	char c[OIDC_TOKEN_MAX + 1100], *t;
	size_t n;

	/* a good signature over claims padded past the limit */
	claims(c, 1024, ISS, "\"" CLIENT "\"", NOW + 300, NOW, NONCE, ",\"pad\":\"");
	n = strlen(c) - 1; /* over the closing brace */
	memset(c + n, 'a', OIDC_TOKEN_MAX);
	memcpy(c + n + OIDC_TOKEN_MAX, "\"}", 3);
	t = sign("RS256", "rsa1", rsa, c, NULL);
	refused(t, "oversized");
	free(t);
	refused("", "empty");
	refused("a.b", "two segments");
	refused("a.b.c.d", "four segments");
	refused("eyJhbGciOiJSUzI1NiJ9..c2ln", "empty payload");
	refused("eyJhbGciOiJSUzI1NiJ9.e30.c2l+", "non-base64url");
	refused("bm90IGpzb24.e30.c2ln", "header not JSON");
	refused("WzFd.e30.c2ln", "header an array");
	/* header good, payload not JSON, signed */
	t = sign("RS256", "rsa1", rsa, "not json", NULL);
	refused(t, "payload not JSON");
	free(t);
	t = sign("RS256", "rsa1", rsa, "[1,2]", NULL);
	refused(t, "payload an array");
	free(t);
}

Test(oidc, jwks_documents_that_are_not_are_refused)
{
	struct oidc_jwks *j;

	cr_assert_eq(oidc_jwks_new(NULL, 1, &j), PC_OK);
	cr_expect_eq(oidc_jwks_load(j, "{", 1), PC_EUNAUTHORIZED);
	cr_expect_eq(oidc_jwks_load(j, "[]", 2), PC_EUNAUTHORIZED);
	cr_expect_eq(oidc_jwks_load(j, "{\"keys\":{}}", 11), PC_EUNAUTHORIZED);
	/* a short RSA modulus, an EC point off the curve */
	cr_expect_eq(oidc_jwks_load(j, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
				    47), PC_EUNAUTHORIZED);
	cr_expect_eq(oidc_jwks_load(j, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
				    "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
				    "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}",
				    strlen("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
					   "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
					   "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}")),
		     PC_EUNAUTHORIZED);
	cr_expect_eq(oidc_jwks_load(j, "{\"keys\":[]}", 11), PC_OK);
	oidc_jwks_free(j);
	cr_expect_eq(oidc_jwks_new("http://example.com/jwks", 1, &j), PC_EINVAL);
	cr_expect_null(j);
}

Test(oidc, an_unknown_kid_refetches_the_jwks_at_most_once_a_minute)
{
	struct listener *l;
	struct oidc_jwks *j;
	struct oidc_id_claims out;
	struct pc_buf body, answer;
	char url[128], c[1024], *t;
	struct oidc_expect e = expect;

	buf_init(&body, OIDC_DOC_MAX);
	cr_assert_eq(buf_addstr(&body, "{\"keys\":["), PC_OK);
	jwk_append(&body, rsa_other, "rsa2");
	cr_assert_eq(buf_addstr(&body, "]}"), PC_OK);
	buf_init(&answer, OIDC_DOC_MAX + 256);
	cr_assert_eq(buf_printf(&answer, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				"Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
				body.len, body.data), PC_OK);
	l = listener_start(answer.data, false);
	url_of(l, "/jwks", url, sizeof(url));
	cr_assert_eq(oidc_jwks_new(url, 2, &j), PC_OK);
	/* a kid not held: fetched, then found */
	good_claims(c, sizeof(c));
	t = sign("RS256", "rsa2", rsa_other, c, NULL);
	cr_assert_eq(oidc_id_token_verify(j, &e, t, &out), PC_OK);
	free(t);
	listener_free(l); /* the listener is gone: another fetch would fail */
	/* another unknown kid within the minute: refused without a fetch */
	e.now = NOW + 59;
	t = sign("RS256", "rsa9", rsa, c, NULL);
	cr_expect_eq(oidc_id_token_verify(j, &e, t, &out), PC_EUNAUTHORIZED);
	/* a minute on: fetched again (and failing: the provider is down) */
	e.now = NOW + 60;
	cr_expect_eq(oidc_id_token_verify(j, &e, t, &out), PC_EINTERNAL);
	cr_expect_eq(out.sub[0], '\0');
	free(t);
	oidc_jwks_free(j);
	buf_release(&body);
	buf_release(&answer);
}

/* ---- discovery and URLs ---------------------------------------------------------------- */

Test(oidc, urls_are_https_or_loopback_http)
{
	cr_expect_null(oidc_url_check("https://accounts.google.com"));
	cr_expect_null(oidc_url_check("http://127.0.0.1:3000/oidc"));
	cr_expect_null(oidc_url_check("http://localhost:8080"));
	cr_expect_not_null(oidc_url_check("http://example.com"));
	cr_expect_not_null(oidc_url_check("http://127.0.0.1.evil.com/"));
	cr_expect_not_null(oidc_url_check("http://localhost@evil.com/"));
	cr_expect_not_null(oidc_url_check("https://user@evil.com/"));
	cr_expect_not_null(oidc_url_check("ftp://example.com"));
	cr_expect_not_null(oidc_url_check("https://"));
	cr_expect_not_null(oidc_url_check("https://a.com/#x"));
	cr_expect_not_null(oidc_url_check("https://a.com/ b"));
}

Test(oidc, a_discovery_document_must_name_our_issuer)
{
	static const char good[] =
		"{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS "/auth\","
		"\"token_endpoint\":\"" ISS "/token\",\"jwks_uri\":\"" ISS "/jwks\"}";
	static const char other[] =
		"{\"issuer\":\"https://evil.example.com\",\"authorization_endpoint\":\"" ISS "/auth\","
		"\"token_endpoint\":\"" ISS "/token\",\"jwks_uri\":\"" ISS "/jwks\"}";
	static const char plain[] =
		"{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS "/auth\","
		"\"token_endpoint\":\"http://evil.example.com/token\",\"jwks_uri\":\"" ISS "/jwks\"}";
	static const char nojwks[] =
		"{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS "/auth\","
		"\"token_endpoint\":\"" ISS "/token\"}";
	struct oidc_discovery d;
	struct pc_errinfo ei;

	cr_assert_eq(oidc_discovery_parse(ISS, good, strlen(good), &d), PC_OK);
	cr_expect_str_eq(d.jwks_uri, ISS "/jwks");
	cr_expect_str_eq(d.userinfo_endpoint, "");
	cr_expect_eq(oidc_discovery_parse(ISS "/", good, strlen(good), &d), PC_EUNAUTHORIZED);
	cr_expect_eq(oidc_discovery_parse(ISS, other, strlen(other), &d), PC_EUNAUTHORIZED);
	cr_expect_eq(oidc_discovery_parse(ISS, plain, strlen(plain), &d), PC_EUNAUTHORIZED);
	cr_expect_eq(oidc_discovery_parse(ISS, nojwks, strlen(nojwks), &d), PC_EUNAUTHORIZED);
	cr_expect_eq(d.issuer[0], '\0');
	cr_expect_eq(oidc_discover("http://example.com", 1, &d, &ei), PC_EINVAL);
	cr_expect_str_eq(ei.field, "issuer");
}

/* ---- PKCE, nonce -------------------------------------------------------------------------- */

Test(oidc, pkce_s256_matches_rfc7636_appendix_b)
{
	char ch[OIDC_CHALLENGE_LEN + 1], v[OIDC_VERIFIER_LEN + 1], v2[OIDC_VERIFIER_LEN + 1];

	cr_assert_eq(oidc_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", ch), PC_OK);
	cr_expect_str_eq(ch, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	cr_assert_eq(oidc_pkce_verifier(v), PC_OK);
	cr_assert_eq(oidc_pkce_verifier(v2), PC_OK);
	cr_expect_eq(strlen(v), 43);
	cr_expect_str_neq(v, v2);
	cr_expect_eq(oidc_pkce_challenge(v, ch), PC_OK);
	cr_expect_eq(oidc_pkce_challenge("short", ch), PC_EINVAL);
	cr_expect_eq(oidc_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX/", ch), PC_EINVAL);
}

/* ---- state ----------------------------------------------------------------------------------- */

static void state_key(unsigned char key[OIDC_STATE_KEY], const char *secret)
{
	struct pc_jwt_key jk = { .alg = "HS256" };

	jk.len = strlen(secret);
	memcpy(jk.secret, secret, jk.len);
	cr_assert_eq(oidc_state_key(&jk, key), PC_OK);
}

#define VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

Test(oidc, a_state_round_trips_bound_to_its_cookie)
{
	unsigned char key[OIDC_STATE_KEY];
	char s[OIDC_STATE_MAX];
	struct oidc_state st;

	state_key(key, "state-test-secret-0123456789");
	cr_assert_eq(oidc_state_new(key, "oidc", "jwt", NONCE, VERIFIER, "csrf-cookie-value", NOW, 600, s),
		     PC_OK);
	cr_assert_eq(oidc_state_verify(key, s, "csrf-cookie-value", NOW + 599, &st), PC_OK);
	cr_expect_str_eq(st.provider, "oidc");
	cr_expect_str_eq(st.purpose, "jwt");
	cr_expect_str_eq(st.nonce, NONCE);
	cr_expect_eq(st.exp, NOW + 600);
	cr_expect(oidc_state_verifier_ok(&st, VERIFIER));
	cr_expect(!oidc_state_verifier_ok(&st, "eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
	/* the verifier and the cookie value are not in the state */
	cr_expect_null(strstr(s, "csrf"));
}

Test(oidc, a_tampered_expired_foreign_or_cookieless_state_is_refused)
{
	unsigned char key[OIDC_STATE_KEY], other[OIDC_STATE_KEY];
	char s[OIDC_STATE_MAX], t[OIDC_STATE_MAX];
	struct oidc_state st;
	char *dot;

	state_key(key, "state-test-secret-0123456789");
	state_key(other, "another-secret-0123456789xyz");
	cr_assert_eq(oidc_state_new(key, "oidc", "jwt", NONCE, VERIFIER, "csrf", NOW, 600, s), PC_OK);
	cr_expect_eq(oidc_state_verify(key, s, "csrf", NOW + 600, &st), PC_EUNAUTHORIZED, "expired");
	cr_expect_eq(oidc_state_verify(other, s, "csrf", NOW, &st), PC_EUNAUTHORIZED, "wrong key");
	cr_expect_eq(oidc_state_verify(key, s, "csrg", NOW, &st), PC_EUNAUTHORIZED, "other cookie");
	cr_expect_eq(oidc_state_verify(key, s, "", NOW, &st), PC_EUNAUTHORIZED, "no cookie");
	cr_expect_eq(oidc_state_verify(key, s, NULL, NOW, &st), PC_EUNAUTHORIZED, "no cookie");
	cr_expect_eq(st.nonce[0], '\0');
	/* a payload byte changed, the MAC kept */
	memcpy(t, s, sizeof(t));
	t[5] = t[5] == 'A' ? 'B' : 'A';
	cr_expect_eq(oidc_state_verify(key, t, "csrf", NOW, &st), PC_EUNAUTHORIZED, "tampered");
	/* the MAC cut short, removed, or replaced */
	memcpy(t, s, sizeof(t));
	t[strlen(t) - 1] = '\0';
	cr_expect_eq(oidc_state_verify(key, t, "csrf", NOW, &st), PC_EUNAUTHORIZED, "short mac");
	dot = strchr(t, '.');
	cr_assert_not_null(dot);
	dot[1] = '\0';
	cr_expect_eq(oidc_state_verify(key, t, "csrf", NOW, &st), PC_EUNAUTHORIZED, "no mac");
	cr_expect_eq(oidc_state_verify(key, "", "csrf", NOW, &st), PC_EUNAUTHORIZED);
	cr_expect_eq(oidc_state_verify(key, "....", "csrf", NOW, &st), PC_EUNAUTHORIZED);
	/* bad inputs to new */
	cr_expect_eq(oidc_state_new(key, "", "jwt", NONCE, VERIFIER, "c", NOW, 600, t), PC_EINVAL);
	cr_expect_eq(oidc_state_new(key, "a\"b", "jwt", NONCE, VERIFIER, "c", NOW, 600, t), PC_EINVAL);
	cr_expect_eq(oidc_state_new(key, "oidc", "jwt", NONCE, "short", "c", NOW, 600, t), PC_EINVAL);
	cr_expect_eq(oidc_state_new(key, "oidc", "jwt", NONCE, VERIFIER, "c", NOW, 0, t), PC_EINVAL);
	cr_expect_eq(oidc_state_new(key, "oidc", "", NONCE, VERIFIER, "c", NOW, 600, t), PC_EINVAL);
	cr_expect_eq(oidc_state_new(key, "oidc", "assoc:0190a000-0000-7000-8000-000000000001-far-too-long",
				    NONCE, VERIFIER, "c", NOW, 600, t), PC_EINVAL);
}
