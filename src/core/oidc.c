/*
 * oidc.c - the OpenID Connect client core: discovery, the provider's JWKS
 * (cached, by kid), ID token verification, PKCE and the signed state. The
 * flow that uses them (authorize, callback, associate, linking) is oauth.c's.
 *
 * The flow these pieces serve (the function for each step beside it):
 *
 *   start-up     oidc_discover: GET {issuer}/.well-known/openid-configuration,
 *                "issuer" must be the configured one exactly; oidc_jwks_new
 *                on its jwks_uri
 *   authorize    oidc_pkce_verifier + oidc_pkce_challenge (S256),
 *                oidc_nonce_new, a CSRF value for an HttpOnly cookie,
 *                oidc_state_new(provider, purpose, nonce, verifier, csrf): the state
 *                carries hashes of the verifier and of the cookie, never
 *                the secrets themselves
 *   callback     oidc_state_verify(state, cookie): MAC, expiry, the cookie
 *                (a state from another browser fails here), then
 *                oidc_state_verifier_ok; the code exchanged (oauth.c);
 *                oidc_id_token_verify(id_token, nonce from the state)
 *
 * URLs (oidc_url_check): https:// always; http:// only to 127.0.0.1 or
 * localhost, where the test provider listens. A discovery document's
 * endpoints obey the same rule, so a provider cannot point us at plain
 * HTTP elsewhere.
 *
 * JWKS cache: keys are OpenSSL EVP_PKEYs built with EVP_PKEY_fromdata (RSA
 * n, e; EC P-256 x, y, the point checked on the curve by OpenSSL), at most
 * OIDC_KEYS_MAX, under a mutex. A token naming a kid not held refetches
 * jwks_uri, at most once every OIDC_REFETCH_S seconds (a flood of made-up
 * kids costs one fetch a minute); the fetch runs outside the lock, and a
 * lookup holds a reference (EVP_PKEY_up_ref) so a swap never frees a key
 * in use.
 *
 * oidc_id_token_verify, in the order checked (any failure PC_EUNAUTHORIZED):
 *   1. at most OIDC_TOKEN_MAX bytes; three non-empty base64url segments;
 *   2. the header is a JSON object without "crit", alg exactly "RS256" or
 *      "ES256" (so none, HS*, PS*, RS384... go no further), kid a string
 *      when present;
 *   3. the key: the kid's (or, without a kid, the only key of the alg's
 *      type), whose type must be the alg's: an RSA key for RS256, P-256
 *      for ES256;
 *   4. the signature by EVP_DigestVerify with SHA-256; ES256's raw 64-byte
 *      r || s made DER for OpenSSL;
 *   5. claims: iss == issuer; aud is client_id or an array holding it, and
 *      with several audiences azp == client_id (azp, when present, must be
 *      client_id anyway); exp > now - OIDC_LEEWAY; iat a number <= now +
 *      OIDC_LEEWAY; nonce equal to the expected one (constant time); sub a
 *      non-empty string under OIDC_SUB_MAX; email, when present, a string
 *      that fits; email_verified true only when exactly JSON true.
 *
 * The state: base64url(JSON {"a": purpose, "c": SHA-256 of the CSRF cookie value, "exp",
 * "n": nonce, "p": provider, "v": SHA-256 of the verifier}) "."
 * base64url(HMAC-SHA256(key, first part)); the key derived from the JWT
 * secret with its own label, as totp.c derives the TOTP-purpose key.
 *
 * Owns: struct oidc_jwks and its keys (oidc_jwks_free). Nothing is logged
 * here; no token, secret or response body goes into an error text.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

#include "core/core.h"

#define OIDC_WELL_KNOWN "/.well-known/openid-configuration"
#define OIDC_STATE_INFO "portcullis oidc-state v1"
#define OIDC_RSA_MIN_BITS 2048
#define OIDC_RSA_MAX_BITS 8192
#define OIDC_SIG_MAX 1024 /* an 8192-bit RSA signature */

/* ---- URLs ------------------------------------------------------------------ */

/* The host part of an http:// URL is exactly 127.0.0.1 or localhost. */
static bool oidc_loopback(const char *rest)
{
	static const char *const hosts[] = { "127.0.0.1", "localhost" };

	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		size_t n = strlen(hosts[i]);

		if (strncmp(rest, hosts[i], n) == 0 &&
		    (rest[n] == '\0' || rest[n] == ':' || rest[n] == '/'))
			return true;
	}
	return false;
}

const char *oidc_url_check(const char *url)
{
	const char *rest, *end;
	size_t n;

	if (url == NULL || url[0] == '\0')
		return "is empty";
	n = strnlen(url, OIDC_URL_MAX);
	if (n >= OIDC_URL_MAX)
		return "is too long";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '#')
			return "holds a space, control, quote, backslash or fragment";
	}
	if (strncmp(url, "https://", 8) == 0) {
		rest = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		rest = url + 7;
		if (!oidc_loopback(rest))
			return "must be https:// (http:// only to 127.0.0.1 or localhost)";
	} else {
		return "must be https:// (http:// only to 127.0.0.1 or localhost)";
	}
	end = rest + strcspn(rest, "/?");
	if (end == rest || memchr(rest, '@', (size_t)(end - rest)) != NULL)
		return "has no host, or userinfo in it";
	return NULL;
}

/* Copies a string member that oidc_url_check takes into dst. */
static bool oidc_url_member(json_t *doc, const char *name, char dst[OIDC_URL_MAX])
{
	json_t *v = json_object_get(doc, name);
	const char *s;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || oidc_url_check(s) != NULL)
		return false;
	memcpy(dst, s, strlen(s) + 1);
	return true;
}

/* ---- discovery -------------------------------------------------------------------- */

enum pc_err oidc_discovery_parse(const char *issuer, const char *json, size_t len,
				 struct oidc_discovery *out)
{
	json_t *doc, *iss;
	bool ok;

	memset(out, 0, sizeof(*out));
	if (issuer == NULL || json == NULL || len > OIDC_DOC_MAX)
		return PC_EUNAUTHORIZED;
	doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (doc == NULL)
		return PC_EUNAUTHORIZED;
	iss = json_object_get(doc, "issuer");
	ok = json_is_object(doc) && json_is_string(iss) &&
	     json_string_length(iss) == strlen(issuer) &&
	     strcmp(json_string_value(iss), issuer) == 0 &&
	     oidc_url_member(doc, "issuer", out->issuer) &&
	     oidc_url_member(doc, "authorization_endpoint", out->authorization_endpoint) &&
	     oidc_url_member(doc, "token_endpoint", out->token_endpoint) &&
	     oidc_url_member(doc, "jwks_uri", out->jwks_uri) &&
	     (json_object_get(doc, "userinfo_endpoint") == NULL ||
	      oidc_url_member(doc, "userinfo_endpoint", out->userinfo_endpoint));
	json_decref(doc);
	if (!ok) {
		memset(out, 0, sizeof(*out));
		return PC_EUNAUTHORIZED;
	}
	return PC_OK;
}

/* GET url, a 200 answer's body (at most OIDC_DOC_MAX) into resp. */
static enum pc_err oidc_get(const char *url, long timeout_s, struct httpc_response *resp)
{
	static const char *const headers[] = { "Accept: application/json", NULL };
	struct httpc_request req = {
		.method = "GET",
		.url = url,
		.headers = headers,
		.timeout_s = timeout_s > 0 ? timeout_s : 10,
		.response_max = OIDC_DOC_MAX,
	};
	enum pc_err err = httpc_do(&req, resp);

	if (err != PC_OK)
		return err;
	if (resp->status != 200) {
		snprintf(resp->error, sizeof(resp->error), "status %ld", resp->status);
		return PC_EINTERNAL;
	}
	return PC_OK;
}

enum pc_err oidc_discover(const char *issuer, long timeout_s, struct oidc_discovery *out,
			  struct pc_errinfo *ei)
{
	char url[OIDC_URL_MAX + sizeof(OIDC_WELL_KNOWN)];
	struct httpc_response resp;
	const char *why = oidc_url_check(issuer);
	size_t n;
	enum pc_err err;

	memset(out, 0, sizeof(*out));
	if (why != NULL || strchr(issuer, '?') != NULL) {
		pc_errinfo_setf(ei, "config", "issuer", PC_V_RULE, "issuer: %s",
				why != NULL ? why : "must have no query");
		return PC_EINVAL;
	}
	n = strlen(issuer);
	if (issuer[n - 1] == '/')
		n--; /* {issuer}/.well-known/..., the issuer's own '/' not doubled */
	snprintf(url, sizeof(url), "%.*s%s", (int)n, issuer, OIDC_WELL_KNOWN);
	err = oidc_get(url, timeout_s, &resp);
	if (err == PC_OK) {
		err = oidc_discovery_parse(issuer, resp.body.data != NULL ? resp.body.data : "",
					   resp.body.len, out);
		if (err != PC_OK)
			snprintf(resp.error, sizeof(resp.error),
				 "not a discovery document for this issuer");
	}
	if (err != PC_OK)
		pc_errinfo_setf(ei, "config", "issuer", PC_V_RULE, "issuer: discovery: %s",
				resp.error);
	httpc_response_release(&resp);
	return err;
}

/* ---- JWKS ----------------------------------------------------------------------- */

enum oidc_kty { OIDC_KTY_RSA, OIDC_KTY_EC };

struct oidc_key {
	char kid[OIDC_KID_MAX]; /* "" when the JWK has none */
	enum oidc_kty kty;
	EVP_PKEY *pkey;
};

struct oidc_jwks {
	pthread_mutex_t lock;
	char uri[OIDC_URL_MAX]; /* "" never fetches */
	long timeout_s;
	int64_t fetched_at;     /* when the last fetch started; 0 never */
	struct oidc_key keys[OIDC_KEYS_MAX];
	size_t nkeys;
};

enum pc_err oidc_jwks_new(const char *jwks_uri, long timeout_s, struct oidc_jwks **out)
{
	struct oidc_jwks *j;

	*out = NULL;
	if (jwks_uri != NULL && oidc_url_check(jwks_uri) != NULL)
		return PC_EINVAL;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return PC_ENOMEM;
	if (pthread_mutex_init(&j->lock, NULL) != 0) {
		free(j);
		return PC_EINTERNAL;
	}
	if (jwks_uri != NULL)
		memcpy(j->uri, jwks_uri, strlen(jwks_uri) + 1);
	j->timeout_s = timeout_s;
	*out = j;
	return PC_OK;
}

static void oidc_keys_free(struct oidc_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(keys[i].pkey);
}

void oidc_jwks_free(struct oidc_jwks *j)
{
	if (j == NULL)
		return;
	oidc_keys_free(j->keys, j->nkeys);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

/* A base64url member decoded into out (at most outsz bytes, at least 1). */
static bool oidc_b64_member(json_t *jwk, const char *name, unsigned char *out, size_t outsz,
			    size_t *n)
{
	json_t *v = json_object_get(jwk, name);

	if (!json_is_string(v) || json_string_length(v) == 0)
		return false;
	return crypto_b64url_decode(json_string_value(v), json_string_length(v), out, outsz, n) ==
		       PC_OK &&
	       *n > 0;
}

static EVP_PKEY *oidc_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (params == NULL || pc == NULL || EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *oidc_rsa_key(json_t *jwk)
{
	unsigned char n[OIDC_RSA_MAX_BITS / 8], e[8];
	size_t nlen, elen;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	int bits;

	if (!oidc_b64_member(jwk, "n", n, sizeof(n), &nlen) ||
	    !oidc_b64_member(jwk, "e", e, sizeof(e), &elen))
		return NULL;
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || be == NULL || bld == NULL || !BN_is_odd(be) || BN_is_one(be) ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1)
		goto out_free;
	pkey = oidc_fromdata("RSA", bld);
	bits = pkey != NULL ? EVP_PKEY_get_bits(pkey) : 0;
	if (bits < OIDC_RSA_MIN_BITS || bits > OIDC_RSA_MAX_BITS) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out_free:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return pkey;
}

static EVP_PKEY *oidc_ec_key(json_t *jwk)
{
	unsigned char x[33], y[33], pub[65];
	size_t xlen, ylen;
	json_t *crv = json_object_get(jwk, "crv");
	OSSL_PARAM_BLD *bld;
	EVP_PKEY *pkey = NULL;

	if (!json_is_string(crv) || strcmp(json_string_value(crv), "P-256") != 0 ||
	    json_string_length(crv) != 5 || !oidc_b64_member(jwk, "x", x, sizeof(x), &xlen) ||
	    !oidc_b64_member(jwk, "y", y, sizeof(y), &ylen) || xlen != 32 || ylen != 32)
		return NULL;
	pub[0] = 0x04; /* uncompressed point */
	memcpy(pub + 1, x, 32);
	memcpy(pub + 33, y, 32);
	bld = OSSL_PARAM_BLD_new();
	if (bld != NULL &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) == 1 &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) == 1)
		pkey = oidc_fromdata("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

/* A string member equal to want, or absent. */
static bool oidc_absent_or(json_t *jwk, const char *name, const char *want1, const char *want2)
{
	json_t *v = json_object_get(jwk, name);
	const char *s;

	if (v == NULL)
		return true;
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	return strlen(s) == json_string_length(v) &&
	       (strcmp(s, want1) == 0 || (want2 != NULL && strcmp(s, want2) == 0));
}

/* One JWK: 1 kept into k, 0 skipped (not a signing key we use), -1 bad. */
static int oidc_jwk_read(json_t *jwk, struct oidc_key *k)
{
	json_t *kty = json_object_get(jwk, "kty"), *kid = json_object_get(jwk, "kid");
	const char *t;

	memset(k, 0, sizeof(*k));
	if (!json_is_object(jwk) || !json_is_string(kty))
		return -1;
	t = json_string_value(kty);
	if (strcmp(t, "RSA") != 0 && strcmp(t, "EC") != 0)
		return 0;
	k->kty = strcmp(t, "RSA") == 0 ? OIDC_KTY_RSA : OIDC_KTY_EC;
	if (!oidc_absent_or(jwk, "use", "sig", NULL) ||
	    !oidc_absent_or(jwk, "alg", k->kty == OIDC_KTY_RSA ? "RS256" : "ES256", NULL))
		return 0;
	if (k->kty == OIDC_KTY_EC && !oidc_absent_or(jwk, "crv", "P-256", NULL))
		return 0;
	if (kid != NULL) {
		if (!json_is_string(kid) || json_string_length(kid) == 0 ||
		    json_string_length(kid) >= OIDC_KID_MAX ||
		    strlen(json_string_value(kid)) != json_string_length(kid))
			return -1;
		memcpy(k->kid, json_string_value(kid), json_string_length(kid) + 1);
	}
	k->pkey = k->kty == OIDC_KTY_RSA ? oidc_rsa_key(jwk) : oidc_ec_key(jwk);
	return k->pkey != NULL ? 1 : -1;
}

enum pc_err oidc_jwks_load(struct oidc_jwks *j, const char *json, size_t len)
{
	struct oidc_key keys[OIDC_KEYS_MAX], old[OIDC_KEYS_MAX];
	size_t n = 0, nold, i;
	json_t *doc, *arr, *jwk;
	enum pc_err err = PC_EUNAUTHORIZED;
	int r;

	if (json == NULL || len > OIDC_DOC_MAX)
		return PC_ETOOBIG;
	doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (doc == NULL)
		return PC_EUNAUTHORIZED;
	arr = json_object_get(doc, "keys");
	if (!json_is_object(doc) || !json_is_array(arr))
		goto out_decref;
	json_array_foreach(arr, i, jwk) {
		if (n == OIDC_KEYS_MAX) {
			err = PC_ETOOBIG;
			goto out_free_keys;
		}
		r = oidc_jwk_read(jwk, &keys[n]);
		if (r < 0)
			goto out_free_keys;
		n += (size_t)r;
	}
	pthread_mutex_lock(&j->lock);
	nold = j->nkeys;
	memcpy(old, j->keys, nold * sizeof(old[0]));
	memcpy(j->keys, keys, n * sizeof(keys[0]));
	j->nkeys = n;
	pthread_mutex_unlock(&j->lock);
	oidc_keys_free(old, nold);
	n = 0;
	err = PC_OK;
out_free_keys:
	oidc_keys_free(keys, n);
out_decref:
	json_decref(doc);
	return err;
}

/* GET jwks_uri and load it (the caller has stamped fetched_at). */
static enum pc_err oidc_jwks_get(struct oidc_jwks *j)
{
	struct httpc_response resp;
	enum pc_err err;

	err = oidc_get(j->uri, j->timeout_s, &resp);
	if (err == PC_OK)
		err = oidc_jwks_load(j, resp.body.data != NULL ? resp.body.data : "", resp.body.len);
	httpc_response_release(&resp);
	return err;
}

enum pc_err oidc_jwks_fetch(struct oidc_jwks *j, int64_t now)
{
	if (j->uri[0] == '\0')
		return PC_EINVAL;
	pthread_mutex_lock(&j->lock);
	j->fetched_at = now;
	pthread_mutex_unlock(&j->lock);
	return oidc_jwks_get(j);
}

enum pc_err oidc_jwks_describe(struct oidc_jwks *j, struct pc_buf *out)
{
	enum pc_err err = PC_OK;

	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->nkeys && err == PC_OK; i++)
		err = buf_printf(out, "%s:%s\n", j->keys[i].kty == OIDC_KTY_RSA ? "RSA" : "EC",
				 j->keys[i].kid);
	pthread_mutex_unlock(&j->lock);
	return err;
}

/* The key for kid (NULL: the only key of kty) with a reference the caller
 * frees, or NULL. */
static EVP_PKEY *oidc_jwks_find(struct oidc_jwks *j, const char *kid, enum oidc_kty kty)
{
	EVP_PKEY *found = NULL;
	size_t matches = 0;

	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->nkeys; i++) {
		const struct oidc_key *k = &j->keys[i];

		if (kid != NULL ? strcmp(k->kid, kid) == 0 : k->kty == kty) {
			matches++;
			found = k->kty == kty ? k->pkey : NULL;
		}
	}
	if (matches != 1)
		found = NULL; /* a kid held twice, or no kid and several keys */
	if (found != NULL && EVP_PKEY_up_ref(found) != 1)
		found = NULL;
	pthread_mutex_unlock(&j->lock);
	return found;
}

/* The key, refetching once on a miss when the last fetch is a minute old.
 * PC_OK with *out (owned); PC_EUNAUTHORIZED; a refetch's error. */
static enum pc_err oidc_jwks_key(struct oidc_jwks *j, const char *kid, enum oidc_kty kty,
				 int64_t now, EVP_PKEY **out)
{
	bool refetch;
	enum pc_err err;

	*out = oidc_jwks_find(j, kid, kty);
	if (*out != NULL)
		return PC_OK;
	/* decided and stamped under one lock: of threads missing at once, one fetches */
	pthread_mutex_lock(&j->lock);
	refetch = j->uri[0] != '\0' && (j->fetched_at == 0 || now - j->fetched_at >= OIDC_REFETCH_S);
	if (refetch)
		j->fetched_at = now;
	pthread_mutex_unlock(&j->lock);
	if (!refetch)
		return PC_EUNAUTHORIZED;
	err = oidc_jwks_get(j);
	if (err != PC_OK)
		return err == PC_EBUSY ? PC_EBUSY : PC_EINTERNAL;
	*out = oidc_jwks_find(j, kid, kty);
	return *out != NULL ? PC_OK : PC_EUNAUTHORIZED;
}

/* ---- ID tokens ------------------------------------------------------------------ */

/* Step 1: the shape; dots[] gets the two dots' positions. */
static bool oidc_shape_ok(const char *t, size_t len, size_t dots[2])
{
	size_t nd = 0;

	for (size_t i = 0; i < len; i++) {
		if (t[i] == '.') {
			if (nd == 2)
				return false;
			dots[nd++] = i;
		} else if (!ascii_is_b64url((unsigned char)t[i])) {
			return false;
		}
	}
	return nd == 2 && dots[0] > 0 && dots[1] > dots[0] + 1 && dots[1] + 1 < len;
}

/* A segment decoded and parsed as a JSON object; NULL otherwise. */
static json_t *oidc_segment_json(const char *seg, size_t n)
{
	unsigned char *raw = malloc(n);
	size_t rawlen;
	json_t *v = NULL;

	if (raw == NULL)
		return NULL;
	if (crypto_b64url_decode(seg, n, raw, n, &rawlen) == PC_OK)
		v = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (v != NULL && !json_is_object(v)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

/* A string member, without NUL inside; NULL when absent or not one. */
static const char *oidc_str(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

/* Step 2: alg and kid from the header. */
static bool oidc_header_ok(json_t *hdr, enum oidc_kty *kty, char kid[OIDC_KID_MAX],
			   bool *has_kid)
{
	const char *alg = oidc_str(hdr, "alg"), *k = oidc_str(hdr, "kid");

	if (alg == NULL || json_object_get(hdr, "crit") != NULL)
		return false;
	if (strcmp(alg, "RS256") == 0)
		*kty = OIDC_KTY_RSA;
	else if (strcmp(alg, "ES256") == 0)
		*kty = OIDC_KTY_EC;
	else
		return false; /* none, HS*, and every other alg */
	*has_kid = json_object_get(hdr, "kid") != NULL;
	if (*has_kid && (k == NULL || strlen(k) >= OIDC_KID_MAX))
		return false;
	if (*has_kid)
		memcpy(kid, k, strlen(k) + 1);
	return true;
}

/* Step 4: the signature over token[0..dot2). */
static bool oidc_signature_ok(EVP_PKEY *pkey, enum oidc_kty kty, const char *token, size_t len,
			      size_t dot2)
{
	unsigned char raw[OIDC_SIG_MAX], der[80];
	const unsigned char *sig = raw;
	size_t rawlen, siglen;
	EVP_MD_CTX *md;
	bool ok;

	if (crypto_b64url_decode(token + dot2 + 1, len - dot2 - 1, raw, sizeof(raw), &rawlen) !=
	    PC_OK)
		return false;
	siglen = rawlen;
	if (kty == OIDC_KTY_EC) {
		if (rawlen != 64 || !crypto_ecdsa_raw_to_der(raw, der, sizeof(der), &siglen))
			return false;
		sig = der;
	} else if (rawlen != (size_t)EVP_PKEY_get_size(pkey)) {
		return false;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL)
		return false;
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	     EVP_DigestVerify(md, sig, siglen, (const unsigned char *)token, dot2) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

/* aud is client_id or an array holding it; with several, azp is client_id. */
static bool oidc_aud_ok(json_t *claims, const char *client_id)
{
	json_t *aud = json_object_get(claims, "aud"), *v;
	const char *azp = oidc_str(claims, "azp");
	bool found = false;
	size_t i;

	if (json_object_get(claims, "azp") != NULL && (azp == NULL || strcmp(azp, client_id) != 0))
		return false;
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), client_id) == 0 &&
		       json_string_length(aud) == strlen(client_id);
	if (!json_is_array(aud))
		return false;
	json_array_foreach(aud, i, v) {
		if (!json_is_string(v))
			return false;
		if (strcmp(json_string_value(v), client_id) == 0 &&
		    json_string_length(v) == strlen(client_id))
			found = true;
	}
	if (json_array_size(aud) > 1 && azp == NULL)
		return false;
	return found;
}

/* Step 5 on the verified claims; fills out. */
static bool oidc_claims_ok(json_t *c, const struct oidc_expect *e, struct oidc_id_claims *out)
{
	const char *iss = oidc_str(c, "iss"), *nonce = oidc_str(c, "nonce");
	const char *sub = oidc_str(c, "sub"), *email = oidc_str(c, "email");
	json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");

	if (iss == NULL || strcmp(iss, e->issuer) != 0)
		return false;
	if (!oidc_aud_ok(c, e->client_id))
		return false;
	if (!json_is_number(exp) || json_number_value(exp) <= (double)(e->now - OIDC_LEEWAY))
		return false;
	if (!json_is_number(iat) || json_number_value(iat) > (double)(e->now + OIDC_LEEWAY))
		return false;
	if (nonce == NULL || !crypto_ct_streq(nonce, e->nonce))
		return false;
	if (sub == NULL || sub[0] == '\0' || strlen(sub) >= sizeof(out->sub))
		return false;
	if (json_object_get(c, "email") != NULL &&
	    (email == NULL || strlen(email) >= sizeof(out->email)))
		return false;
	memcpy(out->sub, sub, strlen(sub) + 1);
	if (email != NULL)
		memcpy(out->email, email, strlen(email) + 1);
	out->email_verified = json_is_true(json_object_get(c, "email_verified"));
	return true;
}

enum pc_err oidc_id_token_verify(struct oidc_jwks *j, const struct oidc_expect *e,
				 const char *token, struct oidc_id_claims *out)
{
	char kid[OIDC_KID_MAX] = "";
	json_t *hdr = NULL, *claims = NULL;
	enum oidc_kty kty = OIDC_KTY_RSA;
	EVP_PKEY *pkey = NULL;
	size_t len, dots[2];
	bool has_kid = false;
	enum pc_err err = PC_EUNAUTHORIZED;

	memset(out, 0, sizeof(*out));
	if (j == NULL || e == NULL || token == NULL || e->issuer == NULL ||
	    e->client_id == NULL || e->nonce == NULL || e->nonce[0] == '\0')
		return PC_EUNAUTHORIZED;
	len = strnlen(token, OIDC_TOKEN_MAX + 1);
	if (len > OIDC_TOKEN_MAX || !oidc_shape_ok(token, len, dots))
		return PC_EUNAUTHORIZED;
	hdr = oidc_segment_json(token, dots[0]);
	if (hdr == NULL || !oidc_header_ok(hdr, &kty, kid, &has_kid))
		goto out_free;
	err = oidc_jwks_key(j, has_kid ? kid : NULL, kty, e->now, &pkey);
	if (err != PC_OK)
		goto out_free;
	err = PC_EUNAUTHORIZED;
	if (!oidc_signature_ok(pkey, kty, token, len, dots[1]))
		goto out_free;
	claims = oidc_segment_json(token + dots[0] + 1, dots[1] - dots[0] - 1);
	if (claims == NULL || !oidc_claims_ok(claims, e, out))
		goto out_free;
	err = PC_OK;
out_free:
	if (err != PC_OK)
		memset(out, 0, sizeof(*out));
	EVP_PKEY_free(pkey);
	json_decref(hdr);
	json_decref(claims);
	return err;
}

/* ---- PKCE and nonces ----------------------------------------------------------- */

static enum pc_err oidc_random43(char out[44])
{
	unsigned char raw[32];
	enum pc_err err = crypto_random(raw, sizeof(raw));

	out[0] = '\0';
	if (err == PC_OK && crypto_b64url_encode(raw, sizeof(raw), out, 44) != 43)
		err = PC_EINTERNAL;
	crypto_wipe(raw, sizeof(raw));
	return err;
}

enum pc_err oidc_pkce_verifier(char out[OIDC_VERIFIER_LEN + 1])
{
	return oidc_random43(out);
}

enum pc_err oidc_nonce_new(char out[OIDC_NONCE_LEN + 1])
{
	return oidc_random43(out);
}

/* RFC 7636 4.1: 43..128 of [A-Za-z0-9-._~]. */
static bool oidc_verifier_ok(const char *v)
{
	size_t n = v != NULL ? strnlen(v, 129) : 0;

	if (n < 43 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!ascii_is_b64url((unsigned char)v[i]) && v[i] != '.' && v[i] != '~')
			return false;
	}
	return true;
}

/* base64url(SHA-256(s)): 43 characters. */
static void oidc_hash43(const char *s, char out[44])
{
	unsigned char md[PC_SHA256_LEN];

	crypto_sha256(s, strlen(s), md);
	crypto_b64url_encode(md, sizeof(md), out, 44);
}

enum pc_err oidc_pkce_challenge(const char *verifier, char out[OIDC_CHALLENGE_LEN + 1])
{
	out[0] = '\0';
	if (!oidc_verifier_ok(verifier))
		return PC_EINVAL;
	oidc_hash43(verifier, out);
	return PC_OK;
}

/* ---- state ---------------------------------------------------------------------- */

enum pc_err oidc_state_key(const struct pc_jwt_key *jwt, unsigned char out[OIDC_STATE_KEY])
{
	unsigned int n = 0;

	if (jwt->len == 0 || jwt->len > sizeof(jwt->secret) ||
	    HMAC(EVP_sha256(), jwt->secret, (int)jwt->len, (const unsigned char *)OIDC_STATE_INFO,
		 strlen(OIDC_STATE_INFO), out, &n) == NULL ||
	    n != OIDC_STATE_KEY)
		return PC_EINTERNAL;
	return PC_OK;
}

static bool oidc_state_mac(const unsigned char key[OIDC_STATE_KEY], const char *p, size_t n,
			   unsigned char mac[PC_SHA256_LEN])
{
	unsigned int len = 0;

	return HMAC(EVP_sha256(), key, OIDC_STATE_KEY, (const unsigned char *)p, n, mac, &len) !=
		       NULL &&
	       len == PC_SHA256_LEN;
}

/* Printable ASCII without quote or backslash, 1..max-1 bytes. */
static bool oidc_field_ok(const char *s, size_t max)
{
	size_t n = s != NULL ? strnlen(s, max) : 0;

	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return false;
	}
	return true;
}

enum pc_err oidc_state_new(const unsigned char key[OIDC_STATE_KEY], const char *provider,
			   const char *purpose, const char *nonce, const char *verifier,
			   const char *csrf, int64_t now, int lifetime, char out[OIDC_STATE_MAX])
{
	char vh[44], ch[44], payload[384];
	unsigned char mac[PC_SHA256_LEN];
	size_t n, w;
	int pn;

	out[0] = '\0';
	if (!oidc_field_ok(provider, OIDC_PROVIDER_MAX) || !oidc_field_ok(purpose, OIDC_PURPOSE_MAX) ||
	    !oidc_field_ok(nonce, OIDC_NONCE_LEN + 1) ||
	    !oidc_verifier_ok(verifier) || !oidc_field_ok(csrf, 257) || lifetime <= 0)
		return PC_EINVAL;
	oidc_hash43(verifier, vh);
	oidc_hash43(csrf, ch);
	/* keys sorted; every value is plain ASCII without quotes (checked above) */
	pn = snprintf(payload, sizeof(payload),
		      "{\"a\":\"%s\",\"c\":\"%s\",\"exp\":%lld,\"n\":\"%s\",\"p\":\"%s\",\"v\":\"%s\"}",
		      purpose, ch, (long long)(now + lifetime), nonce, provider, vh);
	if (pn < 0 || (size_t)pn >= sizeof(payload))
		return PC_EINVAL;
	n = crypto_b64url_encode(payload, (size_t)pn, out, OIDC_STATE_MAX);
	if (n == 0 || n + 1 + 44 > OIDC_STATE_MAX)
		goto out_big;
	if (!oidc_state_mac(key, out, n, mac)) {
		out[0] = '\0';
		return PC_EINTERNAL;
	}
	out[n++] = '.';
	w = crypto_b64url_encode(mac, sizeof(mac), out + n, OIDC_STATE_MAX - n);
	if (w == 0)
		goto out_big;
	return PC_OK;
out_big:
	out[0] = '\0';
	return PC_ETOOBIG;
}

/* A string member of exactly the size of dst's text (fixed) or fitting it. */
static bool oidc_state_str(json_t *o, const char *name, char *dst, size_t dstsz)
{
	const char *s = oidc_str(o, name);

	if (s == NULL || s[0] == '\0' || strlen(s) >= dstsz)
		return false;
	memcpy(dst, s, strlen(s) + 1);
	return true;
}

enum pc_err oidc_state_verify(const unsigned char key[OIDC_STATE_KEY], const char *text,
			      const char *csrf, int64_t now, struct oidc_state *out)
{
	unsigned char mac[PC_SHA256_LEN], got[PC_SHA256_LEN + 4], raw[OIDC_STATE_MAX];
	char ch[44];
	const char *dot;
	size_t len, n, gotlen, rawlen;
	json_t *o = NULL, *exp;
	bool ok = false;

	memset(out, 0, sizeof(*out));
	if (text == NULL || csrf == NULL || csrf[0] == '\0')
		return PC_EUNAUTHORIZED;
	len = strnlen(text, OIDC_STATE_MAX);
	if (len >= OIDC_STATE_MAX || (dot = memchr(text, '.', len)) == NULL)
		return PC_EUNAUTHORIZED;
	n = (size_t)(dot - text);
	if (!oidc_state_mac(key, text, n, mac) ||
	    crypto_b64url_decode(dot + 1, len - n - 1, got, sizeof(got), &gotlen) != PC_OK ||
	    gotlen != sizeof(mac) || !crypto_ct_equal(got, mac, sizeof(mac)))
		return PC_EUNAUTHORIZED;
	if (crypto_b64url_decode(text, n, raw, sizeof(raw), &rawlen) != PC_OK)
		return PC_EUNAUTHORIZED;
	o = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	exp = json_object_get(o, "exp");
	if (!json_is_object(o) || !json_is_integer(exp) || json_integer_value(exp) <= now)
		goto out_free;
	out->exp = json_integer_value(exp);
	if (!oidc_state_str(o, "p", out->provider, sizeof(out->provider)) ||
	    !oidc_state_str(o, "a", out->purpose, sizeof(out->purpose)) ||
	    !oidc_state_str(o, "n", out->nonce, sizeof(out->nonce)) ||
	    !oidc_state_str(o, "v", out->verifier_hash, sizeof(out->verifier_hash)) ||
	    !oidc_state_str(o, "c", out->csrf_hash, sizeof(out->csrf_hash)))
		goto out_free;
	oidc_hash43(csrf, ch);
	ok = crypto_ct_streq(ch, out->csrf_hash);
out_free:
	json_decref(o);
	if (!ok) {
		memset(out, 0, sizeof(*out));
		return PC_EUNAUTHORIZED;
	}
	return PC_OK;
}

bool oidc_state_verifier_ok(const struct oidc_state *st, const char *verifier)
{
	char vh[44];

	if (!oidc_verifier_ok(verifier) || st->verifier_hash[0] == '\0')
		return false;
	oidc_hash43(verifier, vh);
	return crypto_ct_streq(vh, st->verifier_hash);
}
