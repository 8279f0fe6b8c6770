/*
 * jwt.c - access tokens: encode HMAC-signed JWTs with libjwt 1.10, and
 * verify them here with OpenSSL's digests directly.
 *
 * Why verification does not go through libjwt: its jwt_decode costs ~10 us
 * a token (two JSON parses, BIO-based base64, an HMAC algorithm fetch per
 * call) on the hottest path of the server (every authenticated request), and
 * it compares signatures as base64 text with strcmp, not in constant time.
 * Here the header is checked before anything else, the HMAC is computed with
 * digests fetched once, the raw signature is compared with CRYPTO_memcmp,
 * and the claims are parsed once.
 *
 * Owns nothing beyond a call: every libjwt object, string, digest context
 * and jansson value is freed before returning, on every path.
 *
 * Invariants of jwt_verify, in the order they are checked (each failure
 * is PC_EUNAUTHORIZED, whatever the cause):
 *   1. the key is usable: alg is HS256, HS384 or HS512, the secret non-empty;
 *   2. the token is at most PC_JWT_MAX bytes, has exactly two dots, and three
 *      non-empty segments of base64url characters only;
 *   3. the header, decoded and parsed here before libjwt sees the token, is a
 *      JSON object whose "alg" is exactly key->alg (so "none", another HS
 *      size, RS256 etc. never reach libjwt) and that has no "crit";
 *   4. the signature segment decodes to exactly the HMAC of "header.payload"
 *      under the secret with key->alg's digest (constant-time comparison);
 *   5. the claims: aud (a string or an array of strings) contains key->aud;
 *      exp is an integer > now; nbf, when present, is a number <= now;
 *      sub and jti are non-empty strings that fit struct pc_jwt_claims.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "core/core.h"

#define JWT_JTI_BYTES 16 /* 128 random bits */

/* The libjwt algorithm for key->alg, or JWT_ALG_INVAL unless it is HS*. */
static jwt_alg_t jwt_key_alg(const struct pc_jwt_key *key)
{
	static const struct {
		const char *name;
		jwt_alg_t alg;
	} hs[] = {
		{ "HS256", JWT_ALG_HS256 },
		{ "HS384", JWT_ALG_HS384 },
		{ "HS512", JWT_ALG_HS512 },
	};
	size_t i;

	if (key->len == 0 || key->len > sizeof(key->secret))
		return JWT_ALG_INVAL;
	for (i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		if (strcmp(key->alg, hs[i].name) == 0)
			return hs[i].alg;
	}
	return JWT_ALG_INVAL;
}

/* Copies a NUL-terminated string into a fixed field; false if it does not fit. */
static bool jwt_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstsz)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* Signs {sub, aud, iat = now, exp = now + lifetime, jti} with key into out.
 * claims (may be NULL) gets what was signed. PC_EINVAL: unusable key, sub
 * empty or too long for the claims, lifetime <= 0; PC_ETOOBIG: outsz too
 * small; PC_ENOMEM / PC_EINTERNAL: libjwt or the random generator failed. */
enum pc_err jwt_sign(const struct pc_jwt_key *key, const char *sub, int64_t now,
			  int lifetime, char *out, size_t outsz, struct pc_jwt_claims *claims)
{
	struct pc_jwt_claims c;
	unsigned char raw[JWT_JTI_BYTES];
	jwt_alg_t alg = jwt_key_alg(key);
	jwt_t *jwt = NULL;
	char *enc = NULL;
	enum pc_err err;
	size_t n;

	if (outsz > 0)
		out[0] = '\0';
	memset(&c, 0, sizeof(c));
	if (alg == JWT_ALG_INVAL || sub == NULL || sub[0] == '\0' || lifetime <= 0 ||
	    !jwt_copy(c.sub, sizeof(c.sub), sub))
		return PC_EINVAL;
	err = crypto_random(raw, sizeof(raw));
	if (err != PC_OK)
		return err;
	if (crypto_b64url_encode(raw, sizeof(raw), c.jti, sizeof(c.jti)) == 0)
		return PC_EINTERNAL;
	c.iat = now;
	c.exp = now + lifetime;

	if (jwt_new(&jwt) != 0)
		return PC_ENOMEM;
	err = PC_EINTERNAL;
	if (jwt_set_alg(jwt, alg, key->secret, (int)key->len) != 0 ||
	    jwt_add_grant(jwt, "sub", c.sub) != 0 || jwt_add_grant(jwt, "aud", key->aud) != 0 ||
	    jwt_add_grant_int(jwt, "iat", (long)c.iat) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)c.exp) != 0 ||
	    jwt_add_grant(jwt, "jti", c.jti) != 0)
		goto out_free_jwt;
	enc = jwt_encode_str(jwt);
	if (enc == NULL)
		goto out_free_jwt;
	n = strlen(enc);
	if (n >= outsz) {
		err = PC_ETOOBIG;
		goto out_free_enc;
	}
	memcpy(out, enc, n + 1);
	if (claims != NULL)
		*claims = c;
	err = PC_OK;
out_free_enc:
	free(enc);
out_free_jwt:
	jwt_free(jwt);
	return err;
}

/* Step 2: the shape. dots[] gets the positions of the two dots. */
static bool jwt_shape_ok(const char *token, size_t len, size_t dots[2])
{
	size_t i, ndots = 0;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)token[i];
		if (c == '.') {
			if (ndots == 2)
				return false;
			dots[ndots++] = i;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			return false;
		}
	}
	return ndots == 2 && dots[0] > 0 && dots[1] > dots[0] + 1 && dots[1] + 1 < len;
}

/* Step 3: the header names exactly key->alg, and nothing critical. The
 * header we and PyJWT write, {"alg":"HS256","typ":"JWT"}, is recognised by
 * its encoded text without a JSON parse; any other is parsed. */
static bool jwt_header_ok(const struct pc_jwt_key *key, const char *seg, size_t n)
{
	unsigned char raw[PC_JWT_MAX];
	char plain[64], usual[96];
	json_t *hdr, *alg;
	size_t rawlen, plainlen, usuallen;
	bool ok = false;

	plainlen = (size_t)snprintf(plain, sizeof(plain), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", key->alg);
	usuallen = plainlen < sizeof(plain) ? crypto_b64url_encode(plain, plainlen, usual, sizeof(usual)) : 0;
	if (usuallen != 0 && usuallen == n && memcmp(usual, seg, n) == 0)
		return true;
	if (crypto_b64url_decode(seg, n, raw, sizeof(raw), &rawlen) != PC_OK)
		return false;
	hdr = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	if (hdr == NULL)
		return false;
	if (!json_is_object(hdr) || json_object_get(hdr, "crit") != NULL)
		goto out_decref_hdr;
	alg = json_object_get(hdr, "alg");
	ok = json_is_string(alg) && strcmp(json_string_value(alg), key->alg) == 0 &&
	     strlen(key->alg) == json_string_length(alg);
out_decref_hdr:
	json_decref(hdr);
	return ok;
}

/* aud is key->aud, or an array with key->aud among its strings. */
static bool jwt_aud_ok(const struct pc_jwt_key *key, json_t *aud)
{
	json_t *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), key->aud) == 0;
	if (!json_is_array(aud))
		return false;
	json_array_foreach(aud, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), key->aud) == 0)
			return true;
	}
	return false;
}

/* A non-empty string without NUL that fits dst (dstsz with its NUL). */
static bool jwt_claim_str(json_t *v, char *dst, size_t dstsz)
{
	const char *s;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	if (s[0] == '\0' || strlen(s) != json_string_length(v))
		return false;
	return jwt_copy(dst, dstsz, s);
}

/* Step 5 on the verified claims; fills c. */
static bool jwt_claims_ok(const struct pc_jwt_key *key, json_t *claims, int64_t now,
			  struct pc_jwt_claims *c)
{
	json_t *exp, *iat, *nbf;

	if (!json_is_object(claims) || !jwt_aud_ok(key, json_object_get(claims, "aud")))
		return false;
	exp = json_object_get(claims, "exp");
	if (!json_is_integer(exp) || json_integer_value(exp) <= now)
		return false;
	c->exp = json_integer_value(exp);
	nbf = json_object_get(claims, "nbf");
	if (nbf != NULL && (!json_is_number(nbf) || json_number_value(nbf) > (double)now))
		return false;
	iat = json_object_get(claims, "iat");
	c->iat = json_is_integer(iat) ? json_integer_value(iat) : 0;
	return jwt_claim_str(json_object_get(claims, "sub"), c->sub, sizeof(c->sub)) &&
	       jwt_claim_str(json_object_get(claims, "jti"), c->jti, sizeof(c->jti));
}

/* ---- claims: a strict fast reader, jansson for everything else ------------ */

/*
 * The claims of the tokens we issue (and PyJWT's) are a flat object of ASCII
 * strings without escapes, integers and arrays of such strings. The fast
 * reader handles exactly that and answers JWT_FAST_DECLINE for anything else
 * (escapes, non-ASCII, fractions, nesting, repeated keys, trailing bytes...),
 * which then goes through jansson. It never accepts what jansson would refuse
 * or read differently: tests/fuzz/fuzz_claims.c checks that against jansson.
 */

#define JWT_FAST_KEYS 16

struct jwt_fast {
	const char *p, *end;
};

static void fast_ws(struct jwt_fast *f)
{
	while (f->p < f->end && (*f->p == ' ' || *f->p == '\t' || *f->p == '\n' || *f->p == '\r'))
		f->p++;
}

/* A string of printable ASCII without backslash; *s, *n point into the input. */
static bool fast_str(struct jwt_fast *f, const char **s, size_t *n)
{
	const char *q;

	if (f->p >= f->end || *f->p != '"')
		return false;
	for (q = ++f->p; q < f->end && *q != '"'; q++) {
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e || *q == '\\')
			return false;
	}
	if (q >= f->end)
		return false;
	*s = f->p;
	*n = (size_t)(q - f->p);
	f->p = q + 1;
	return true;
}

/* -?(0|[1-9][0-9]{0,17}) not followed by a fraction or exponent. */
static bool fast_int(struct jwt_fast *f, int64_t *v)
{
	bool neg = false;
	int digits = 0;
	int64_t x = 0;

	if (f->p < f->end && *f->p == '-') {
		neg = true;
		f->p++;
	}
	if (f->p >= f->end || *f->p < '0' || *f->p > '9')
		return false;
	if (*f->p == '0' && f->p + 1 < f->end && f->p[1] >= '0' && f->p[1] <= '9')
		return false;
	while (f->p < f->end && *f->p >= '0' && *f->p <= '9') {
		if (++digits > 18)
			return false;
		x = x * 10 + (*f->p++ - '0');
	}
	if (f->p < f->end && (*f->p == '.' || *f->p == 'e' || *f->p == 'E'))
		return false;
	*v = neg ? -x : x;
	return true;
}

static bool fast_word(struct jwt_fast *f, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(f->end - f->p) < n || memcmp(f->p, w, n) != 0)
		return false;
	f->p += n;
	return true;
}

static bool fast_key_is(const char *k, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(k, name, n) == 0;
}

/* Copies a claim string: non-empty, fits. */
static bool fast_copy(const char *s, size_t n, char *dst, size_t dstsz)
{
	if (n == 0 || n >= dstsz)
		return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

enum jwt_fast_result { JWT_FAST_OK, JWT_FAST_REJECT, JWT_FAST_DECLINE };

/* One member value. Claims of interest are checked as they come; others are
 * skipped if they are of a simple kind. */
static enum jwt_fast_result fast_value(struct jwt_fast *f, const struct pc_jwt_key *key,
				       const char *k, size_t kn, struct pc_jwt_claims *c,
				       bool *aud_ok, bool *have_exp, bool *nbf_future, int64_t now)
{
	const char *s;
	size_t n;
	int64_t v;
	bool is_aud = fast_key_is(k, kn, "aud");

	if (f->p < f->end && *f->p == '"') {
		if (!fast_str(f, &s, &n))
			return JWT_FAST_DECLINE;
		if (is_aud)
			*aud_ok = strlen(key->aud) == n && memcmp(s, key->aud, n) == 0;
		else if (fast_key_is(k, kn, "sub"))
			return fast_copy(s, n, c->sub, sizeof(c->sub)) ? JWT_FAST_OK : JWT_FAST_REJECT;
		else if (fast_key_is(k, kn, "jti"))
			return fast_copy(s, n, c->jti, sizeof(c->jti)) ? JWT_FAST_OK : JWT_FAST_REJECT;
		else if (fast_key_is(k, kn, "exp") || fast_key_is(k, kn, "nbf"))
			return JWT_FAST_REJECT; /* not a number */
		return JWT_FAST_OK;
	}
	if (f->p < f->end && (*f->p == '-' || (*f->p >= '0' && *f->p <= '9'))) {
		if (!fast_int(f, &v))
			return JWT_FAST_DECLINE;
		if (fast_key_is(k, kn, "exp")) {
			c->exp = v;
			*have_exp = true;
		} else if (fast_key_is(k, kn, "iat")) {
			c->iat = v;
		} else if (fast_key_is(k, kn, "nbf")) {
			*nbf_future = v > now;
		} else if (is_aud || fast_key_is(k, kn, "sub") || fast_key_is(k, kn, "jti")) {
			return JWT_FAST_REJECT;
		}
		return JWT_FAST_OK;
	}
	if (f->p < f->end && *f->p == '[' && is_aud) {
		f->p++;
		fast_ws(f);
		if (f->p < f->end && *f->p == ']') {
			f->p++;
			return JWT_FAST_OK;
		}
		for (;;) {
			fast_ws(f);
			if (!fast_str(f, &s, &n))
				return JWT_FAST_DECLINE;
			if (strlen(key->aud) == n && memcmp(s, key->aud, n) == 0)
				*aud_ok = true;
			fast_ws(f);
			if (f->p < f->end && *f->p == ',') {
				f->p++;
				continue;
			}
			if (f->p < f->end && *f->p == ']') {
				f->p++;
				return JWT_FAST_OK;
			}
			return JWT_FAST_DECLINE;
		}
	}
	if (fast_word(f, "true") || fast_word(f, "false") || fast_word(f, "null")) {
		if (is_aud || fast_key_is(k, kn, "sub") || fast_key_is(k, kn, "jti") ||
		    fast_key_is(k, kn, "exp") || fast_key_is(k, kn, "nbf"))
			return JWT_FAST_REJECT;
		return JWT_FAST_OK;
	}
	return JWT_FAST_DECLINE;
}

/* Step 5 by the fast reader. JWT_FAST_OK fills c; REJECT: the claims are
 * well-formed but fail a check; DECLINE: let jansson decide. */
static enum jwt_fast_result jwt_claims_fast(const struct pc_jwt_key *key, const char *json,
					    size_t len, int64_t now, struct pc_jwt_claims *c)
{
	struct jwt_fast f = { json, json + len };
	const char *keys[JWT_FAST_KEYS];
	size_t keylens[JWT_FAST_KEYS], nkeys = 0;
	bool aud_ok = false, have_exp = false, nbf_future = false, rejected = false;

	memset(c, 0, sizeof(*c));
	fast_ws(&f);
	if (f.p >= f.end || *f.p++ != '{')
		return JWT_FAST_DECLINE;
	fast_ws(&f);
	if (f.p < f.end && *f.p == '}') {
		f.p++;
		goto out_end;
	}
	for (;;) {
		const char *k;
		size_t kn;
		enum jwt_fast_result r;

		fast_ws(&f);
		if (!fast_str(&f, &k, &kn) || nkeys == JWT_FAST_KEYS)
			return JWT_FAST_DECLINE;
		for (size_t i = 0; i < nkeys; i++) {
			if (keylens[i] == kn && memcmp(keys[i], k, kn) == 0)
				return JWT_FAST_DECLINE; /* jansson refuses duplicates */
		}
		keys[nkeys] = k;
		keylens[nkeys++] = kn;
		fast_ws(&f);
		if (f.p >= f.end || *f.p++ != ':')
			return JWT_FAST_DECLINE;
		fast_ws(&f);
		r = fast_value(&f, key, k, kn, c, &aud_ok, &have_exp, &nbf_future, now);
		if (r == JWT_FAST_DECLINE)
			return r;
		rejected |= r == JWT_FAST_REJECT;
		fast_ws(&f);
		if (f.p < f.end && *f.p == ',') {
			f.p++;
			continue;
		}
		if (f.p < f.end && *f.p == '}') {
			f.p++;
			break;
		}
		return JWT_FAST_DECLINE;
	}
out_end:
	fast_ws(&f);
	if (f.p != f.end)
		return JWT_FAST_DECLINE;
	if (rejected || !aud_ok || !have_exp || c->exp <= now || nbf_future || c->sub[0] == '\0' ||
	    c->jti[0] == '\0')
		return JWT_FAST_REJECT;
	return JWT_FAST_OK;
}

/* Step 5 through jansson. */
static bool jwt_claims_parsed(const struct pc_jwt_key *key, const char *json, size_t len,
			      int64_t now, struct pc_jwt_claims *c)
{
	json_t *claims = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	bool ok;

	memset(c, 0, sizeof(*c));
	if (claims == NULL)
		return false;
	ok = jwt_claims_ok(key, claims, now, c);
	json_decref(claims);
	return ok;
}

/* Step 5: true with c filled when the claims pass. mode: 0 both (fast, then
 * jansson when it declines), 1 fast only (declines count as false), 2 jansson
 * only, 3 fast only (declines count as true). Modes 1-3 exist for the
 * differential fuzzer. */
bool jwt_claims_check(const struct pc_jwt_key *key, const char *json, size_t len, int64_t now,
			 int mode, struct pc_jwt_claims *c)
{
	enum jwt_fast_result r = JWT_FAST_DECLINE;

	if (mode != 2)
		r = jwt_claims_fast(key, json, len, now, c);
	if (r == JWT_FAST_OK)
		return true;
	if (r == JWT_FAST_REJECT || mode == 1)
		return false;
	if (mode == 3)
		return true;
	return jwt_claims_parsed(key, json, len, now, c);
}

/* ---- HMAC with digests fetched once ------------------------------------- */

#define JWT_HMAC_MAX 64    /* SHA-512 */
#define JWT_BLOCK_MAX 128  /* SHA-384/512 block */

static EVP_MD *jwt_mds[3];
static pthread_once_t jwt_mds_once = PTHREAD_ONCE_INIT;

static void jwt_mds_fetch(void)
{
	jwt_mds[0] = EVP_MD_fetch(NULL, "SHA256", NULL);
	jwt_mds[1] = EVP_MD_fetch(NULL, "SHA384", NULL);
	jwt_mds[2] = EVP_MD_fetch(NULL, "SHA512", NULL);
}

/* Borrowed; NULL if the fetch failed. */
static const EVP_MD *jwt_md(jwt_alg_t alg)
{
	pthread_once(&jwt_mds_once, jwt_mds_fetch);
	switch (alg) {
	case JWT_ALG_HS256: return jwt_mds[0];
	case JWT_ALG_HS384: return jwt_mds[1];
	case JWT_ALG_HS512: return jwt_mds[2];
	default: return NULL;
	}
}

/* RFC 2104 over msg[0..n) into mac; *maclen gets the digest size. */
static bool jwt_hmac(const EVP_MD *md, const struct pc_jwt_key *key, const char *msg, size_t n,
		     unsigned char mac[JWT_HMAC_MAX], unsigned *maclen)
{
	unsigned char k0[JWT_BLOCK_MAX], pad[JWT_BLOCK_MAX], inner[JWT_HMAC_MAX];
	int block = EVP_MD_get_block_size(md);
	unsigned klen = (unsigned)key->len, ilen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = false;

	if (ctx == NULL || block <= 0 || block > JWT_BLOCK_MAX)
		goto out_free_ctx;
	memset(k0, 0, sizeof(k0));
	if (key->len > (size_t)block) {
		if (EVP_Digest(key->secret, key->len, k0, &klen, md, NULL) != 1)
			goto out_free_ctx;
	} else {
		memcpy(k0, key->secret, key->len);
	}
	for (int i = 0; i < block; i++)
		pad[i] = k0[i] ^ 0x36;
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, (size_t)block) != 1 ||
	    EVP_DigestUpdate(ctx, msg, n) != 1 || EVP_DigestFinal_ex(ctx, inner, &ilen) != 1)
		goto out_free_ctx;
	for (int i = 0; i < block; i++)
		pad[i] = k0[i] ^ 0x5c;
	ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
	     EVP_DigestUpdate(ctx, pad, (size_t)block) == 1 &&
	     EVP_DigestUpdate(ctx, inner, ilen) == 1 && EVP_DigestFinal_ex(ctx, mac, maclen) == 1;
out_free_ctx:
	OPENSSL_cleanse(k0, sizeof(k0));
	OPENSSL_cleanse(pad, sizeof(pad));
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Step 4: the signature segment is the HMAC of everything before it. */
static bool jwt_signature_ok(const struct pc_jwt_key *key, jwt_alg_t alg, const char *token,
			     size_t len, size_t dot2)
{
	unsigned char mac[JWT_HMAC_MAX], sig[JWT_HMAC_MAX + 4];
	const EVP_MD *md = jwt_md(alg);
	unsigned maclen = 0;
	size_t siglen = 0;

	if (md == NULL || !jwt_hmac(md, key, token, dot2, mac, &maclen))
		return false;
	if (crypto_b64url_decode(token + dot2 + 1, len - dot2 - 1, sig, sizeof(sig), &siglen) != PC_OK)
		return false;
	return siglen == maclen && CRYPTO_memcmp(sig, mac, maclen) == 0;
}

/* PC_OK with *out (may be NULL) filled when token passes every check listed
 * at the top of this file; PC_EUNAUTHORIZED otherwise. */
enum pc_err jwt_verify(const struct pc_jwt_key *key, const char *token, int64_t now,
			  struct pc_jwt_claims *out)
{
	unsigned char raw[PC_JWT_MAX];
	struct pc_jwt_claims c;
	jwt_alg_t alg = jwt_key_alg(key);
	enum pc_err err = PC_EUNAUTHORIZED;
	size_t len, rawlen, dots[2];

	memset(&c, 0, sizeof(c));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (alg == JWT_ALG_INVAL || token == NULL)
		return PC_EUNAUTHORIZED;
	len = strnlen(token, PC_JWT_MAX + 1);
	if (len > PC_JWT_MAX || !jwt_shape_ok(token, len, dots) ||
	    !jwt_header_ok(key, token, dots[0]) ||
	    !jwt_signature_ok(key, alg, token, len, dots[1]))
		return PC_EUNAUTHORIZED;
	if (crypto_b64url_decode(token + dots[0] + 1, dots[1] - dots[0] - 1, raw, sizeof(raw),
			     &rawlen) != PC_OK)
		return PC_EUNAUTHORIZED;
	if (jwt_claims_check(key, (const char *)raw, rawlen, now, 0, &c)) {
		if (out != NULL)
			*out = c;
		err = PC_OK;
	}
	return err;
}
