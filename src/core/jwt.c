/*
 * jwt.c - access tokens: JWTs signed (HMAC, or EdDSA/ES256/RS256 with a key
 * of keys.c) and verified here, against a claims table (struct
 * jwt_claims_table: which claim holds the subject and the token id, whether
 * aud is issued and checked, the token type claim).
 *
 * Encoding: the header is the fixed {"alg":"HS256","typ":"JWT"} (keys sorted;
 * an asymmetric key's is {"alg":..,"kid":..,"typ":"JWT"}, made once by
 * jwt_key_open),
 * the payload jansson's compact dump with sorted keys, both base64url, and
 * the signature an HMAC through OpenSSL's EVP_MAC. With the RFC 7519 table
 * (sub, jti, aud) the tokens are exactly those libjwt 1.10 wrote before:
 * {"aud":..,"exp":..,"iat":..,"jti":..,"sub":..}; test_jwt holds one.
 *
 * HMAC: jwt_key_open makes one keyed EVP_MAC_CTX per key at start-up; each
 * signature duplicates it (EVP_MAC_CTX_dup), which skips the key schedule
 * (measured, 1M HS256 MACs of a 226-byte header.payload, -O2: dup 0.62 us,
 * new + init with the key 1.01 us; a whole verification 1.08 us against
 * 1.53 us). A key never opened (unit tests, fuzz drivers) makes a context
 * per call.
 *
 * Asymmetric: EVP_DigestSign / EVP_DigestVerify over the key's EVP_PKEY
 * (ES256's DER signature converted to and from JWS's r || s, base/crypto.c).
 *
 * Owns nothing beyond a call, except key->mac and key->pkey (jwt_key_close
 * frees them):
 * every digest context, string and jansson value is freed on every path.
 *
 * Invariants of jwt_verify, in the order they are checked (each failure
 * is PC_EUNAUTHORIZED, whatever the cause):
 *   1. the key is usable: alg is HS256, HS384 or HS512 with a non-empty
 *      secret and no pkey, or EdDSA, ES256 or RS256 with a pkey that
 *      jwt_key_open found to be of that algorithm, and no secret;
 *   2. the token is at most PC_JWT_MAX bytes, has exactly two dots, and three
 *      non-empty segments of base64url characters only;
 *   3. the header, decoded and parsed here, is a JSON object whose "alg" is
 *      exactly key->alg (so "none", another HS size, RS256 etc. go no
 *      further), whose "kid" is exactly key->kid when the key has one, and
 *      that has no "crit";
 *   4. HMAC: the signature segment decodes to exactly the HMAC of
 *      "header.payload" under the secret with key->alg's digest
 *      (constant-time comparison); asymmetric: it decodes to exactly the
 *      algorithm's signature size (64 bytes for EdDSA and ES256's r || s,
 *      the modulus size for RS256) and EVP_DigestVerify accepts it;
 *   5. the claims, by the table: with t->audience, aud (a string or an array
 *      of strings) contains key->aud; exp is an integer > now; nbf, when
 *      present, is a number <= now; with t->type_claim, that claim is the
 *      string t->access_type; t->subject and t->token_id are non-empty
 *      strings that fit struct pc_jwt_claims; with t->family, that claim,
 *      when present, is such a string too (absent: claims.fam is ""); with
 *      t->flag (the TOTP-purpose token's "totp"), that claim is exactly true;
 *      with t->csrf, that claim, when present, is a non-empty string too
 *      (claims.csrf; "" when absent).
 * jwt_expired runs steps 1-4 the same way, then step 5 at exp - 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/params.h>
#include <pthread.h>

#include "core/core.h"

#define JWT_JTI_BYTES 16   /* the issue millisecond, then 80 random bits */
#define JWT_JTI_MS_BYTES 6 /* 48 bits of unix milliseconds, as UUIDv7 */
#define JWT_HMAC_MAX 64    /* SHA-512 */
#define JWT_SIG_MAX 512    /* RS256 with a 4096-bit key */
#define JWT_DER_MAX 80     /* an ES256 signature as DER */

/* RFC 7519's registered names; what fastapi-users issues and checks. */
const struct jwt_claims_table jwt_claims_rfc7519 = {
	.subject = "sub",
	.token_id = "jti",
	.audience = true,
	.type_claim = NULL,
	.access_type = NULL,
	.family = "fam",
	.flag = NULL,
	.published = true,
};

/* simplejwt's AccessToken and RefreshToken (core.h). */
const struct jwt_claims_table jwt_claims_simplejwt = {
	.subject = "user_id",
	.token_id = "jti",
	.audience = false,
	.type_claim = "token_type", /* so a refresh token is no access token */
	.access_type = "access",
	.family = "fam",
	.flag = NULL,
};

const struct jwt_claims_table jwt_claims_simplejwt_refresh = {
	.subject = "user_id",
	.token_id = "jti",
	.audience = false,
	.type_claim = "token_type", /* so an access token is no refresh token */
	.access_type = "refresh",
	.family = NULL,
	.flag = NULL,
};

/* Flask-JWT-Extended's access and refresh tokens (core.h). */
const struct jwt_claims_table jwt_claims_flask = {
	.subject = "sub",
	.token_id = "jti",
	.audience = false,
	.type_claim = "type", /* so a Flask refresh token is no access token */
	.access_type = "access",
	.family = "fam",
	.flag = NULL,
	.csrf = "csrf",
	.not_before = true,
	.fresh = "fresh",
};

const struct jwt_claims_table jwt_claims_flask_refresh = {
	.subject = "sub",
	.token_id = "jti",
	.audience = false,
	.type_claim = "type", /* so a Flask access token is no refresh token */
	.access_type = "refresh",
	.family = NULL,
	.flag = NULL,
	.csrf = "csrf",
	.not_before = true,
	.fresh = "fresh",
};

/* ---- keys and HMAC -------------------------------------------------------- */

enum jwt_kind { JWT_HMAC, JWT_EDDSA, JWT_ECDSA, JWT_RSA };

static const struct {
	const char *alg;
	enum jwt_kind kind;
	const char *digest; /* NULL: none (EdDSA signs the message itself) */
	size_t sig_len;     /* 0: the key's size (RSA) */
	const char *header; /* HMAC: base64url of {"alg":"HSxxx","typ":"JWT"} */
	const char *key_type; /* asymmetric: what EVP_PKEY_is_a must say */
} jwt_algs[] = {
	{ "HS256", JWT_HMAC, "SHA256", 32, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", NULL },
	{ "HS384", JWT_HMAC, "SHA384", 48, "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9", NULL },
	{ "HS512", JWT_HMAC, "SHA512", 64, "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9", NULL },
	{ "EdDSA", JWT_EDDSA, NULL, 64, NULL, "ED25519" },
	{ "ES256", JWT_ECDSA, "SHA256", 64, NULL, "EC" },
	{ "RS256", JWT_RSA, "SHA256", 0, NULL, "RSA" },
};

#define JWT_NALGS (sizeof(jwt_algs) / sizeof(jwt_algs[0]))

static int jwt_alg_index(const char *alg)
{
	for (size_t i = 0; i < JWT_NALGS; i++) {
		if (strcmp(alg, jwt_algs[i].alg) == 0)
			return (int)i;
	}
	return -1;
}

bool jwt_alg_asymmetric(const char *alg)
{
	int i = jwt_alg_index(alg);

	return i >= 0 && jwt_algs[i].kind != JWT_HMAC;
}

/* The index of key->alg in jwt_algs, or -1 unless the key is usable: an
 * HMAC algorithm with a secret and no pkey, or an asymmetric one with a
 * pkey that jwt_key_open accepted (it wrote the header). */
static int jwt_key_alg(const struct pc_jwt_key *key)
{
	int i = jwt_alg_index(key->alg);

	if (i < 0)
		return -1;
	if (jwt_algs[i].kind == JWT_HMAC)
		return key->len > 0 && key->len <= sizeof(key->secret) && key->pkey == NULL ? i : -1;
	return key->pkey != NULL && key->header[0] != '\0' && key->len == 0 ? i : -1;
}

/* The signature's size under key (alg its index). */
static size_t jwt_sig_len(const struct pc_jwt_key *key, int alg)
{
	if (jwt_algs[alg].sig_len != 0)
		return jwt_algs[alg].sig_len;
	return (size_t)EVP_PKEY_get_size(key->pkey);
}

/* Whether pkey is a key of alg: Ed25519; P-256; RSA of 2048 to 4096 bits. */
static bool jwt_pkey_fits(EVP_PKEY *pkey, int alg)
{
	char group[32];
	int bits;

	if (!EVP_PKEY_is_a(pkey, jwt_algs[alg].key_type))
		return false;
	switch (jwt_algs[alg].kind) {
	case JWT_ECDSA:
		return EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
						      sizeof(group), NULL) == 1 &&
		       strcmp(group, "prime256v1") == 0;
	case JWT_RSA:
		bits = EVP_PKEY_get_bits(pkey);
		return bits >= 2048 && bits <= 4096;
	default:
		return true;
	}
}

/* The header of an asymmetric key: {"alg":..,"kid":..,"typ":"JWT"}, keys
 * sorted as jansson writes them, base64url. */
static bool jwt_key_header(struct pc_jwt_key *key)
{
	char json[160];
	int n;
	size_t i;

	if (key->kid[0] == '\0')
		return false;
	for (i = 0; key->kid[i] != '\0'; i++) {
		if (!ascii_is_b64url((unsigned char)key->kid[i]))
			return false;
	}
	n = snprintf(json, sizeof(json), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
		     key->alg, key->kid);
	if (n < 0 || (size_t)n >= sizeof(json))
		return false;
	return crypto_b64url_encode(json, (size_t)n, key->header, sizeof(key->header)) != 0;
}

static EVP_MAC *jwt_hmac;
static pthread_once_t jwt_hmac_once = PTHREAD_ONCE_INIT;

static void jwt_hmac_fetch(void)
{
	jwt_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* A context keyed with key's secret and digest; NULL on failure. */
static EVP_MAC_CTX *jwt_mac_new(const struct pc_jwt_key *key, int alg)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *c;

	pthread_once(&jwt_hmac_once, jwt_hmac_fetch);
	if (jwt_hmac == NULL)
		return NULL;
	c = EVP_MAC_CTX_new(jwt_hmac);
	if (c == NULL)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)jwt_algs[alg].digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(c, key->secret, key->len, params) != 1) {
		EVP_MAC_CTX_free(c);
		return NULL;
	}
	return c;
}

enum pc_err jwt_key_open(struct pc_jwt_key *key)
{
	int alg = jwt_alg_index(key->alg);

	key->mac = NULL;
	key->header[0] = '\0';
	if (alg >= 0 && jwt_algs[alg].kind != JWT_HMAC) {
		if (key->pkey == NULL || key->len != 0 || !jwt_pkey_fits(key->pkey, alg) ||
		    !jwt_key_header(key)) {
			key->header[0] = '\0';
			return PC_EINVAL;
		}
		return PC_OK;
	}
	alg = jwt_key_alg(key);
	if (alg < 0)
		return PC_EINVAL;
	key->mac = jwt_mac_new(key, alg);
	return key->mac != NULL ? PC_OK : PC_EINTERNAL;
}

void jwt_key_close(struct pc_jwt_key *key)
{
	EVP_MAC_CTX_free(key->mac);
	key->mac = NULL;
	EVP_PKEY_free(key->pkey);
	key->pkey = NULL;
	key->header[0] = '\0';
}

/* HMAC of msg[0..n) under key into mac; *maclen gets its size. */
static bool jwt_mac(const struct pc_jwt_key *key, int alg, const char *msg, size_t n,
		    unsigned char mac[JWT_HMAC_MAX], size_t *maclen)
{
	EVP_MAC_CTX *c = key->mac != NULL ? EVP_MAC_CTX_dup(key->mac) : jwt_mac_new(key, alg);
	bool ok;

	if (c == NULL)
		return false;
	ok = EVP_MAC_update(c, (const unsigned char *)msg, n) == 1 &&
	     EVP_MAC_final(c, mac, maclen, JWT_HMAC_MAX) == 1;
	EVP_MAC_CTX_free(c);
	return ok;
}

/* The signature of msg[0..n) under key (alg its index) into sig, in JWS's
 * form (ES256: r || s); *siglen gets its size. */
static bool jwt_sig(const struct pc_jwt_key *key, int alg, const char *msg, size_t n,
		    unsigned char sig[JWT_SIG_MAX], size_t *siglen)
{
	unsigned char der[JWT_DER_MAX];
	size_t len;
	EVP_MD_CTX *md;
	bool ok;

	if (jwt_algs[alg].kind == JWT_HMAC)
		return jwt_mac(key, alg, msg, n, sig, siglen);
	md = EVP_MD_CTX_new();
	if (md == NULL)
		return false;
	len = jwt_algs[alg].kind == JWT_ECDSA ? sizeof(der) : JWT_SIG_MAX;
	ok = EVP_DigestSignInit_ex(md, NULL, jwt_algs[alg].digest, NULL, NULL, key->pkey,
				   NULL) == 1 &&
	     EVP_DigestSign(md, jwt_algs[alg].kind == JWT_ECDSA ? der : sig, &len,
			    (const unsigned char *)msg, n) == 1;
	EVP_MD_CTX_free(md);
	if (ok && jwt_algs[alg].kind == JWT_ECDSA) {
		ok = crypto_ecdsa_der_to_raw(der, len, sig);
		len = 64;
	}
	*siglen = len;
	return ok && len == jwt_sig_len(key, alg);
}

/* ---- issuing ------------------------------------------------------------------ */

/* Copies a NUL-terminated string into a fixed field; false if it does not fit. */
static bool jwt_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstsz)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* The payload of c by the table: compact, keys sorted. Caller frees. */
static char *jwt_payload_new(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			     const struct pc_jwt_claims *c, const struct jwt_extra *x)
{
	json_t *p = json_object();
	char *text = NULL;
	int rc;

	if (p == NULL)
		return NULL;
	rc = json_object_set_new(p, t->subject, json_string(c->sub));
	rc |= json_object_set_new(p, t->token_id, json_string(c->jti));
	rc |= json_object_set_new(p, "iat", json_integer(c->iat));
	rc |= json_object_set_new(p, "exp", json_integer(c->exp));
	if (t->audience)
		rc |= json_object_set_new(p, "aud", json_string(key->aud));
	if (t->type_claim != NULL)
		rc |= json_object_set_new(p, t->type_claim, json_string(t->access_type));
	if (c->fam[0] != '\0')
		rc |= json_object_set_new(p, t->family, json_string(c->fam));
	if (t->flag != NULL)
		rc |= json_object_set_new(p, t->flag, json_true());
	if (t->csrf != NULL)
		rc |= json_object_set_new(p, t->csrf, json_string(c->csrf));
	if (t->not_before)
		rc |= json_object_set_new(p, "nbf", json_integer(c->iat));
	if (t->fresh != NULL)
		rc |= json_object_set_new(p, t->fresh, json_false());
	if (x != NULL && (x->flags & JWT_EXTRA_EMAIL) && x->email != NULL && x->email[0] != '\0')
		rc |= json_object_set_new(p, "email", json_string(x->email));
	if (x != NULL && (x->flags & JWT_EXTRA_SUPERUSER))
		rc |= json_object_set_new(p, "is_superuser", json_boolean(x->is_superuser));
	if (x != NULL && (x->flags & JWT_EXTRA_VERIFIED))
		rc |= json_object_set_new(p, "is_verified", json_boolean(x->is_verified));
	if (rc == 0)
		text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(p);
	return text;
}

/*
 * A new token id: base64url of JWT_JTI_BYTES whose first JWT_JTI_MS_BYTES
 * are the issue time in unix milliseconds (big-endian, as UUIDv7 does) and
 * the rest random. The millisecond lets a password change tell a token
 * issued before it in the same second from one issued after it
 * (jwt_issued_ms). When the clock's millisecond is not in the second now
 * (a caller's own now, a second boundary crossed), now's first millisecond
 * stands: earlier, so such a token is never taken for a later one.
 */
static enum pc_err jwt_jti_new(int64_t now, char *out, size_t outsz)
{
	unsigned char raw[JWT_JTI_BYTES];
	int64_t ms = time_now_ms();
	enum pc_err err;
	int i;

	if (ms / 1000 != now)
		ms = now * 1000;
	err = crypto_random(raw, sizeof(raw));
	if (err != PC_OK)
		return err;
	for (i = 0; i < JWT_JTI_MS_BYTES; i++)
		raw[i] = (unsigned char)((uint64_t)ms >> (8 * (JWT_JTI_MS_BYTES - 1 - i)));
	if (crypto_b64url_encode(raw, sizeof(raw), out, outsz) == 0)
		return PC_EINTERNAL;
	return PC_OK;
}

int64_t jwt_issued_ms(const struct pc_jwt_claims *c)
{
	unsigned char raw[JWT_JTI_BYTES];
	size_t n = 0;
	uint64_t ms = 0;
	int i;

	if (crypto_b64url_decode(c->jti, strlen(c->jti), raw, sizeof(raw), &n) != PC_OK ||
	    n != JWT_JTI_BYTES)
		return c->iat * 1000;
	for (i = 0; i < JWT_JTI_MS_BYTES; i++)
		ms = ms << 8 | raw[i];
	if ((int64_t)(ms / 1000) != c->iat)
		return c->iat * 1000;
	return (int64_t)ms;
}

/* Signs the table's claims for sub (iat = now, exp = now + lifetime, a new
 * token id, the family claim when family is given) with key into out. claims
 * (may be NULL) gets what was signed. PC_EINVAL: unusable key, sub empty or
 * too long for the claims, lifetime <= 0, a family the table has no claim
 * for or that is empty or too long; PC_ETOOBIG: outsz too small;
 * PC_ENOMEM / PC_EINTERNAL. */
static enum pc_err jwt_sign_any(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
				const char *sub, const char *family, const char *jti,
				const struct jwt_extra *x, int64_t now, int lifetime, char *out,
				size_t outsz, struct pc_jwt_claims *claims)
{
	unsigned char raw[JWT_JTI_BYTES], mac[JWT_SIG_MAX];
	struct pc_jwt_claims c;
	int alg = jwt_key_alg(key);
	size_t n, hlen, plen, maclen = 0, w;
	const char *header;
	char *payload;
	enum pc_err err;

	if (outsz > 0)
		out[0] = '\0';
	memset(&c, 0, sizeof(c));
	if (alg < 0 || sub == NULL || sub[0] == '\0' || lifetime <= 0 ||
	    !jwt_copy(c.sub, sizeof(c.sub), sub))
		return PC_EINVAL;
	if (family != NULL && (t->family == NULL || family[0] == '\0' ||
			       !jwt_copy(c.fam, sizeof(c.fam), family)))
		return PC_EINVAL;
	if (jti != NULL) {
		if (jti[0] == '\0' || !jwt_copy(c.jti, sizeof(c.jti), jti))
			return PC_EINVAL;
	} else {
		err = jwt_jti_new(now, c.jti, sizeof(c.jti));
		if (err != PC_OK)
			return err;
	}
	if (t->csrf != NULL) {
		err = crypto_random(raw, sizeof(raw));
		if (err != PC_OK)
			return err;
		if (crypto_b64url_encode(raw, sizeof(raw), c.csrf, sizeof(c.csrf)) == 0)
			return PC_EINTERNAL;
	}
	c.iat = now;
	c.exp = now + lifetime;

	payload = jwt_payload_new(key, t, &c, x);
	if (payload == NULL)
		return PC_ENOMEM;
	err = PC_ETOOBIG;
	header = jwt_algs[alg].kind == JWT_HMAC ? jwt_algs[alg].header : key->header;
	hlen = strlen(header);
	plen = strlen(payload);
	/* header . payload . signature, each base64url without padding */
	if (hlen + 1 + (plen * 4 + 2) / 3 + 1 + (jwt_sig_len(key, alg) * 4 + 2) / 3 + 1 > outsz)
		goto out_free_payload;
	memcpy(out, header, hlen);
	n = hlen;
	out[n++] = '.';
	w = crypto_b64url_encode(payload, plen, out + n, outsz - n);
	if (w == 0)
		goto out_free_payload;
	n += w;
	err = PC_EINTERNAL;
	if (!jwt_sig(key, alg, out, n, mac, &maclen))
		goto out_free_payload;
	out[n++] = '.';
	if (crypto_b64url_encode(mac, maclen, out + n, outsz - n) == 0)
		goto out_free_payload;
	if (claims != NULL)
		*claims = c;
	err = PC_OK;
out_free_payload:
	if (err != PC_OK && outsz > 0)
		out[0] = '\0';
	free(payload);
	return err;
}

enum pc_err jwt_sign_family(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			    const char *sub, const char *family, int64_t now, int lifetime,
			    char *out, size_t outsz, struct pc_jwt_claims *claims)
{
	return jwt_sign_any(key, t, sub, family, NULL, NULL, now, lifetime, out, outsz, claims);
}

enum pc_err jwt_sign_jti(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			 const char *sub, const char *jti, int64_t now, int lifetime, char *out,
			 size_t outsz, struct pc_jwt_claims *claims)
{
	return jwt_sign_any(key, t, sub, NULL, jti, NULL, now, lifetime, out, outsz, claims);
}

enum pc_err jwt_sign(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
		     const char *sub, int64_t now, int lifetime, char *out, size_t outsz,
		     struct pc_jwt_claims *claims)
{
	return jwt_sign_any(key, t, sub, NULL, NULL, NULL, now, lifetime, out, outsz, claims);
}

enum pc_err jwt_sign_extra(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			   const char *sub, const char *family, const struct jwt_extra *x,
			   int64_t now, int lifetime, char *out, size_t outsz,
			   struct pc_jwt_claims *claims)
{
	return jwt_sign_any(key, t, sub, family, NULL, x, now, lifetime, out, outsz, claims);
}

/* ---- verifying: shape, header, signature ---------------------------------------- */

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
		} else if (!ascii_is_b64url(c)) {
			return false;
		}
	}
	return ndots == 2 && dots[0] > 0 && dots[1] > dots[0] + 1 && dots[1] + 1 < len;
}

/* Step 3: the header names exactly key->alg (and, for a key with a kid,
 * exactly that kid), and nothing critical. The header we and PyJWT write,
 * {"alg":"HS256","typ":"JWT"}, and an asymmetric key's own header are
 * recognised by their encoded text without a JSON parse; any other is
 * parsed. */
static bool jwt_header_ok(const struct pc_jwt_key *key, int alg, const char *seg, size_t n)
{
	const char *mine = jwt_algs[alg].kind == JWT_HMAC ? jwt_algs[alg].header : key->header;
	unsigned char raw[PC_JWT_MAX];
	json_t *hdr, *a, *k;
	size_t rawlen;
	bool ok = false;

	if (strlen(mine) == n && memcmp(mine, seg, n) == 0)
		return true;
	if (crypto_b64url_decode(seg, n, raw, sizeof(raw), &rawlen) != PC_OK)
		return false;
	hdr = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	if (hdr == NULL)
		return false;
	if (!json_is_object(hdr) || json_object_get(hdr, "crit") != NULL)
		goto out_decref_hdr;
	a = json_object_get(hdr, "alg");
	k = json_object_get(hdr, "kid");
	if (key->kid[0] != '\0' &&
	    (!json_is_string(k) || strcmp(json_string_value(k), key->kid) != 0 ||
	     strlen(key->kid) != json_string_length(k)))
		goto out_decref_hdr;
	ok = json_is_string(a) && strcmp(json_string_value(a), key->alg) == 0 &&
	     strlen(key->alg) == json_string_length(a);
out_decref_hdr:
	json_decref(hdr);
	return ok;
}

bool jwt_header_kid(const char *token, char kid[64])
{
	unsigned char raw[PC_JWT_MAX];
	const char *dot;
	json_t *hdr, *k;
	size_t rawlen, n;
	bool ok = false;

	kid[0] = '\0';
	if (token == NULL)
		return false;
	dot = memchr(token, '.', strnlen(token, PC_JWT_MAX + 1));
	if (dot == NULL || dot == token ||
	    crypto_b64url_decode(token, (size_t)(dot - token), raw, sizeof(raw), &rawlen) != PC_OK)
		return false;
	hdr = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	if (hdr == NULL)
		return false;
	if (!json_is_object(hdr))
		goto out_decref_hdr;
	k = json_object_get(hdr, "kid");
	if (k == NULL) {
		ok = true;
		goto out_decref_hdr;
	}
	if (!json_is_string(k))
		goto out_decref_hdr;
	n = json_string_length(k);
	if (n == 0 || n >= 64 || strlen(json_string_value(k)) != n)
		goto out_decref_hdr;
	for (size_t i = 0; i < n; i++) {
		if (!ascii_is_b64url((unsigned char)json_string_value(k)[i]))
			goto out_decref_hdr;
	}
	memcpy(kid, json_string_value(k), n + 1);
	ok = true;
out_decref_hdr:
	json_decref(hdr);
	return ok;
}

/* Step 4: the signature segment is the signature of everything before it:
 * for HMAC, the MAC recomputed and compared in constant time; else by
 * EVP_DigestVerify over the public key (ES256's r || s made DER first). */
static bool jwt_signature_ok(const struct pc_jwt_key *key, int alg, const char *token,
			     size_t len, size_t dot2)
{
	unsigned char mac[JWT_HMAC_MAX], sig[JWT_SIG_MAX + 4], der[JWT_DER_MAX];
	const unsigned char *vsig = sig;
	size_t maclen = 0, siglen = 0, vlen;
	EVP_MD_CTX *md;
	bool ok;

	if (crypto_b64url_decode(token + dot2 + 1, len - dot2 - 1, sig, sizeof(sig), &siglen) != PC_OK)
		return false;
	if (jwt_algs[alg].kind == JWT_HMAC) {
		if (!jwt_mac(key, alg, token, dot2, mac, &maclen))
			return false;
		return siglen == maclen && CRYPTO_memcmp(sig, mac, maclen) == 0;
	}
	if (siglen != jwt_sig_len(key, alg))
		return false;
	vlen = siglen;
	if (jwt_algs[alg].kind == JWT_ECDSA) {
		if (!crypto_ecdsa_raw_to_der(sig, der, sizeof(der), &vlen))
			return false;
		vsig = der;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL)
		return false;
	ok = EVP_DigestVerifyInit_ex(md, NULL, jwt_algs[alg].digest, NULL, NULL, key->pkey,
				     NULL) == 1 &&
	     EVP_DigestVerify(md, vsig, vlen, (const unsigned char *)token, dot2) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

/* ---- claims through jansson ---------------------------------------------------------- */

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
static bool jwt_claims_ok(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			  json_t *claims, int64_t now, struct pc_jwt_claims *c)
{
	json_t *exp, *iat, *nbf, *type, *fam, *csrf;

	if (!json_is_object(claims))
		return false;
	if (t->audience && !jwt_aud_ok(key, json_object_get(claims, "aud")))
		return false;
	exp = json_object_get(claims, "exp");
	if (!json_is_integer(exp) || json_integer_value(exp) <= now)
		return false;
	c->exp = json_integer_value(exp);
	nbf = json_object_get(claims, "nbf");
	if (nbf != NULL && (!json_is_number(nbf) || json_number_value(nbf) > (double)now))
		return false;
	if (t->type_claim != NULL) {
		type = json_object_get(claims, t->type_claim);
		if (!json_is_string(type) || strcmp(json_string_value(type), t->access_type) != 0 ||
		    strlen(t->access_type) != json_string_length(type))
			return false;
	}
	if (t->flag != NULL && !json_is_true(json_object_get(claims, t->flag)))
		return false;
	iat = json_object_get(claims, "iat");
	c->iat = json_is_integer(iat) ? json_integer_value(iat) : 0;
	fam = t->family != NULL ? json_object_get(claims, t->family) : NULL;
	if (fam != NULL && !jwt_claim_str(fam, c->fam, sizeof(c->fam)))
		return false;
	csrf = t->csrf != NULL ? json_object_get(claims, t->csrf) : NULL;
	if (csrf != NULL && !jwt_claim_str(csrf, c->csrf, sizeof(c->csrf)))
		return false;
	return jwt_claim_str(json_object_get(claims, t->subject), c->sub, sizeof(c->sub)) &&
	       jwt_claim_str(json_object_get(claims, t->token_id), c->jti, sizeof(c->jti));
}

bool jwt_claims_read_full(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			  const char *json, size_t len, int64_t now, struct pc_jwt_claims *c)
{
	json_t *claims = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	bool ok;

	memset(c, 0, sizeof(*c));
	if (claims == NULL)
		return false;
	ok = jwt_claims_ok(key, t, claims, now, c);
	json_decref(claims);
	return ok;
}

/* ---- claims: a strict fast reader, jansson for everything else ------------ */

/*
 * The claims of the tokens we issue (and PyJWT's) are a flat object of ASCII
 * strings without escapes, integers and arrays of such strings. The fast
 * reader handles exactly that and answers JWT_READ_DECLINE for anything else
 * (escapes, non-ASCII, fractions, nesting, repeated keys, trailing bytes...),
 * which then goes through jansson. It never accepts what jansson would refuse
 * or read differently: tests/fuzz/fuzz_claims.c checks that against jansson.
 * Measured (1M reads of our 138-byte payload, -O2): 0.17 us here against
 * 1.93 us through jansson, more than the rest of a verification; so it stays.
 */

#define JWT_FAST_KEYS 16

struct jwt_fast {
	const char *p, *end;
};

/* What a member is to the table. */
enum jwt_role {
	ROLE_OTHER, ROLE_AUD, ROLE_SUB, ROLE_JTI, ROLE_TYPE, ROLE_FAM, ROLE_EXP, ROLE_IAT, ROLE_NBF,
	ROLE_FLAG, ROLE_CSRF
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
	if (*f->p == '0' && f->p + 1 < f->end && ascii_is_digit(f->p[1]))
		return false;
	while (f->p < f->end && ascii_is_digit(*f->p)) {
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

static bool fast_eq(const char *s, size_t n, const char *name)
{
	return name != NULL && strlen(name) == n && memcmp(s, name, n) == 0;
}

static enum jwt_role fast_role(const struct jwt_claims_table *t, const char *k, size_t kn)
{
	if (t->audience && fast_eq(k, kn, "aud"))
		return ROLE_AUD;
	if (fast_eq(k, kn, t->subject))
		return ROLE_SUB;
	if (fast_eq(k, kn, t->token_id))
		return ROLE_JTI;
	if (fast_eq(k, kn, t->type_claim))
		return ROLE_TYPE;
	if (fast_eq(k, kn, t->family))
		return ROLE_FAM;
	if (fast_eq(k, kn, "exp"))
		return ROLE_EXP;
	if (fast_eq(k, kn, "iat"))
		return ROLE_IAT;
	if (fast_eq(k, kn, "nbf"))
		return ROLE_NBF;
	if (fast_eq(k, kn, t->flag))
		return ROLE_FLAG;
	if (fast_eq(k, kn, t->csrf))
		return ROLE_CSRF;
	return ROLE_OTHER;
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

struct jwt_fast_seen {
	bool aud_ok, have_exp, nbf_future, type_ok, flag_ok;
};

/* One member value. Claims of interest are checked as they come; others are
 * skipped if they are of a simple kind. */
static enum jwt_read fast_value(struct jwt_fast *f, const struct pc_jwt_key *key,
				enum jwt_role role, struct pc_jwt_claims *c,
				struct jwt_fast_seen *seen, const struct jwt_claims_table *t,
				int64_t now)
{
	const char *s;
	size_t n;
	int64_t v;

	if (f->p < f->end && *f->p == '"') {
		if (!fast_str(f, &s, &n))
			return JWT_READ_DECLINE;
		switch (role) {
		case ROLE_AUD:
			seen->aud_ok = fast_eq(s, n, key->aud);
			return JWT_READ_OK;
		case ROLE_SUB:
			return fast_copy(s, n, c->sub, sizeof(c->sub)) ? JWT_READ_OK : JWT_READ_REJECT;
		case ROLE_JTI:
			return fast_copy(s, n, c->jti, sizeof(c->jti)) ? JWT_READ_OK : JWT_READ_REJECT;
		case ROLE_TYPE:
			seen->type_ok = fast_eq(s, n, t->access_type);
			return JWT_READ_OK;
		case ROLE_FAM:
			return fast_copy(s, n, c->fam, sizeof(c->fam)) ? JWT_READ_OK : JWT_READ_REJECT;
		case ROLE_CSRF:
			return fast_copy(s, n, c->csrf, sizeof(c->csrf)) ? JWT_READ_OK :
			       JWT_READ_REJECT;
		case ROLE_EXP:
		case ROLE_NBF:
			return JWT_READ_REJECT; /* not a number */
		default:
			return JWT_READ_OK;
		}
	}
	if (f->p < f->end && (*f->p == '-' || ascii_is_digit(*f->p))) {
		if (!fast_int(f, &v))
			return JWT_READ_DECLINE;
		switch (role) {
		case ROLE_EXP:
			c->exp = v;
			seen->have_exp = true;
			return JWT_READ_OK;
		case ROLE_IAT:
			c->iat = v;
			return JWT_READ_OK;
		case ROLE_NBF:
			seen->nbf_future = v > now;
			return JWT_READ_OK;
		case ROLE_OTHER:
			return JWT_READ_OK;
		default:
			return JWT_READ_REJECT;
		}
	}
	if (f->p < f->end && *f->p == '[' && role == ROLE_AUD) {
		f->p++;
		fast_ws(f);
		if (f->p < f->end && *f->p == ']') {
			f->p++;
			return JWT_READ_OK;
		}
		for (;;) {
			fast_ws(f);
			if (!fast_str(f, &s, &n))
				return JWT_READ_DECLINE;
			if (fast_eq(s, n, key->aud))
				seen->aud_ok = true;
			fast_ws(f);
			if (f->p < f->end && *f->p == ',') {
				f->p++;
				continue;
			}
			if (f->p < f->end && *f->p == ']') {
				f->p++;
				return JWT_READ_OK;
			}
			return JWT_READ_DECLINE;
		}
	}
	if (fast_word(f, "true")) {
		seen->flag_ok |= role == ROLE_FLAG;
		return role == ROLE_OTHER || role == ROLE_IAT || role == ROLE_FLAG ? JWT_READ_OK :
		       JWT_READ_REJECT;
	}
	if (fast_word(f, "false") || fast_word(f, "null"))
		return role == ROLE_OTHER || role == ROLE_IAT ? JWT_READ_OK : JWT_READ_REJECT;
	return JWT_READ_DECLINE;
}

enum jwt_read jwt_claims_read_fast(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
				   const char *json, size_t len, int64_t now,
				   struct pc_jwt_claims *c)
{
	struct jwt_fast f = { json, json + len };
	struct jwt_fast_seen seen = { false, false, false, false, false };
	const char *keys[JWT_FAST_KEYS];
	size_t keylens[JWT_FAST_KEYS], nkeys = 0;
	bool rejected = false;

	memset(c, 0, sizeof(*c));
	fast_ws(&f);
	if (f.p >= f.end || *f.p++ != '{')
		return JWT_READ_DECLINE;
	fast_ws(&f);
	if (f.p < f.end && *f.p == '}') {
		f.p++;
		goto out_end;
	}
	for (;;) {
		const char *k;
		size_t kn;
		enum jwt_read r;

		fast_ws(&f);
		if (!fast_str(&f, &k, &kn) || nkeys == JWT_FAST_KEYS)
			return JWT_READ_DECLINE;
		for (size_t i = 0; i < nkeys; i++) {
			if (keylens[i] == kn && memcmp(keys[i], k, kn) == 0)
				return JWT_READ_DECLINE; /* jansson refuses duplicates */
		}
		keys[nkeys] = k;
		keylens[nkeys++] = kn;
		fast_ws(&f);
		if (f.p >= f.end || *f.p++ != ':')
			return JWT_READ_DECLINE;
		fast_ws(&f);
		r = fast_value(&f, key, fast_role(t, k, kn), c, &seen, t, now);
		if (r == JWT_READ_DECLINE)
			return r;
		rejected |= r == JWT_READ_REJECT;
		fast_ws(&f);
		if (f.p < f.end && *f.p == ',') {
			f.p++;
			continue;
		}
		if (f.p < f.end && *f.p == '}') {
			f.p++;
			break;
		}
		return JWT_READ_DECLINE;
	}
out_end:
	fast_ws(&f);
	if (f.p != f.end)
		return JWT_READ_DECLINE;
	if (rejected || (t->audience && !seen.aud_ok) || !seen.have_exp || c->exp <= now ||
	    seen.nbf_future || (t->type_claim != NULL && !seen.type_ok) ||
	    (t->flag != NULL && !seen.flag_ok) || c->sub[0] == '\0' ||
	    c->jti[0] == '\0')
		return JWT_READ_REJECT;
	return JWT_READ_OK;
}

/* Step 5: the fast reader, and jansson where it declines. */
static bool jwt_claims_check(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			     const char *json, size_t len, int64_t now, struct pc_jwt_claims *c)
{
	enum jwt_read r = jwt_claims_read_fast(key, t, json, len, now, c);

	if (r == JWT_READ_OK)
		return true;
	if (r == JWT_READ_REJECT)
		return false;
	return jwt_claims_read_full(key, t, json, len, now, c);
}

/* Steps 1-4: raw gets the decoded payload of a token whose shape, header
 * and signature are good; false otherwise. */
static bool jwt_payload_verified(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
				 const char *token, unsigned char raw[PC_JWT_MAX], size_t *rawlen)
{
	int alg = jwt_key_alg(key);
	size_t len, dots[2];

	if (alg < 0 || token == NULL || t == NULL)
		return false;
	len = strnlen(token, PC_JWT_MAX + 1);
	if (len > PC_JWT_MAX || !jwt_shape_ok(token, len, dots) ||
	    !jwt_header_ok(key, alg, token, dots[0]) ||
	    !jwt_signature_ok(key, alg, token, len, dots[1]))
		return false;
	return crypto_b64url_decode(token + dots[0] + 1, dots[1] - dots[0] - 1, raw, PC_JWT_MAX,
				    rawlen) == PC_OK;
}

/* PC_OK with *out (may be NULL) filled when token passes every check listed
 * at the top of this file; PC_EUNAUTHORIZED otherwise. */
enum pc_err jwt_verify(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
		       const char *token, int64_t now, struct pc_jwt_claims *out)
{
	unsigned char raw[PC_JWT_MAX];
	struct pc_jwt_claims c;
	size_t rawlen;

	memset(&c, 0, sizeof(c));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (!jwt_payload_verified(key, t, token, raw, &rawlen))
		return PC_EUNAUTHORIZED;
	if (!jwt_claims_check(key, t, (const char *)raw, rawlen, now, &c))
		return PC_EUNAUTHORIZED;
	if (out != NULL)
		*out = c;
	return PC_OK;
}

bool jwt_expired(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
		 const char *token, int64_t now)
{
	unsigned char raw[PC_JWT_MAX];
	struct pc_jwt_claims c;
	json_t *claims, *exp;
	int64_t e = 0;
	size_t rawlen;
	bool has_exp;

	if (!jwt_payload_verified(key, t, token, raw, &rawlen))
		return false;
	claims = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	if (claims == NULL)
		return false;
	exp = json_object_get(claims, "exp");
	has_exp = json_is_integer(exp);
	if (has_exp)
		e = json_integer_value(exp);
	json_decref(claims);
	if (!has_exp || e > now || e == INT64_MIN)
		return false;
	return jwt_claims_read_full(key, t, (const char *)raw, rawlen, e - 1, &c);
}
