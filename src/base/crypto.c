/*
 * crypto.c - randomness, SHA-256, hex, base64url, constant-time compares,
 * opaque tokens, UUIDv7, wiping. Thin wrappers over OpenSSL 3.
 *
 * Owns: the UUIDv7 clock state (last millisecond and counter, under a mutex).
 *
 * Invariants:
 *   - all randomness comes from RAND_bytes; a failure is reported, never
 *     papered over;
 *   - base64url is RFC 4648 §5 without padding; decode is strict: no '=',
 *     no characters outside the alphabet, no length of 1 mod 4, and unused
 *     trailing bits must be zero (one text per value);
 *   - UUIDv7 (RFC 9562 §5.7) from this process sort in creation order: a
 *     12-bit counter in rand_a (method 1 of §6.2) orders ids of the same
 *     millisecond, and the clock never goes backwards.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>

/* SHA256_*: see crypto_sha256 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "base/base.h"

static const char hex_digits[] = "0123456789abcdef";
static const char b64_std_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
#define CRYPTO_TOKEN_LEN 43 /* 256 bits in base64url, unpadded */

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Fills out with n cryptographically strong random bytes. PC_EINTERNAL when
 * the generator fails. */
enum pc_err crypto_random(void *out, size_t n)
{
	unsigned char *p = out;
	int step;

	while (n > 0) {
		step = n > INT_MAX ? INT_MAX : (int)n;
		if (RAND_bytes(p, step) != 1)
			return PC_EINTERNAL;
		p += step;
		n -= (size_t)step;
	}
	return PC_OK;
}

/* SHA-256 through OpenSSL's SHA256_* functions, on a context on the stack:
 * no allocation, no provider lookup. They are deprecated in OpenSSL 3 in
 * favour of EVP_Digest*, which on a reused context still frees and
 * allocates the provider's state on every EVP_DigestInit_ex2 (and its
 * lookups): about half of the cost of hashing a 300-byte credential, which
 * the credential cache does on every request. The same assembly does the
 * compression either way (SHA extensions where the CPU has them). */
static bool sha256_run(SHA256_CTX *c, const void *a, size_t na, const void *b, size_t nb,
		       unsigned char out[PC_SHA256_LEN])
{
	bool ok = (na == 0 || SHA256_Update(c, a, na) == 1) &&
		  (nb == 0 || SHA256_Update(c, b, nb) == 1) && SHA256_Final(out, c) == 1;

	OPENSSL_cleanse(c, sizeof(*c));
	/* these fail only on a broken library; leave zeros then, which match no
	 * stored hash of real input. */
	if (!ok)
		memset(out, 0, PC_SHA256_LEN);
	return ok;
}

void crypto_sha256(const void *p, size_t n, unsigned char out[PC_SHA256_LEN])
{
	SHA256_CTX c;

	if (SHA256_Init(&c) != 1)
		memset(out, 0, PC_SHA256_LEN);
	else
		sha256_run(&c, p, n, NULL, 0, out);
}

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct pc_sha256_keyed *)0)->state),
	       "a keyed state holds OpenSSL's SHA256_CTX");

/* k: SHA-256's state after one block, the key (a whole block, so the
 * state is all that is kept of it). False when the library fails. */
bool crypto_sha256_keyed_init(struct pc_sha256_keyed *k, const unsigned char key[PC_SHA256_BLOCK])
{
	SHA256_CTX c;
	bool ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, key, PC_SHA256_BLOCK) == 1;

	memcpy(k->state, &c, sizeof(c));
	OPENSSL_cleanse(&c, sizeof(c));
	return ok;
}

/* SHA-256(key || a || b), from k's state: one compression fewer than
 * hashing the key again, and nothing copied. */
void crypto_sha256_keyed(const struct pc_sha256_keyed *k, const void *a, size_t na,
			 const void *b, size_t nb, unsigned char out[PC_SHA256_LEN])
{
	SHA256_CTX c;

	memcpy(&c, k->state, sizeof(c));
	sha256_run(&c, a, na, b, nb, out);
}

void crypto_sha256_hex(const void *p, size_t n, char out[PC_SHA256_HEX])
{
	unsigned char md[PC_SHA256_LEN];

	crypto_sha256(p, n, md);
	crypto_hex_encode(md, sizeof(md), out);
}

/* Lower-case hex of n bytes; out holds 2n + 1 (NUL-terminated). */
void crypto_hex_encode(const void *p, size_t n, char *out)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex_digits[s[i] >> 4];
		out[2 * i + 1] = hex_digits[s[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* OpenSSL's CRYPTO_memcmp: every byte is read whatever the others hold. */
bool crypto_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* The same answer eight bytes at a time, for the one long compare on the
 * hottest path: the credential cache compares a whole JWT (about 250 bytes)
 * on every remembered request, where CRYPTO_memcmp's byte loop cost 1.7k
 * more instructions a request (callgrind, cached /users/me: 55.0k against
 * 53.3k). No early exit: every word is read, the differences OR-ed. */
bool crypto_ct_equal_words(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;
	uint64_t diff = 0, x, y;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&x, p + i, 8);
		memcpy(&y, q + i, 8);
		diff |= x ^ y;
	}
	for (; i < n; i++)
		diff |= (uint64_t)(p[i] ^ q[i]);
	return diff == 0;
}

/* Constant time for strings of equal length; a length difference (or NULL)
 * compares unequal at once: lengths are not secret here. */
bool crypto_ct_streq(const char *a, const char *b)
{
	size_t la, lb;

	if (a == NULL || b == NULL)
		return false;
	la = strlen(a);
	lb = strlen(b);
	if (la != lb)
		return false;
	return CRYPTO_memcmp(a, b, la) == 0;
}

void crypto_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

/* ---- base64url ------------------------------------------------------------ */

/* Writes the base64url text of p (no padding) and a NUL. Returns its length,
 * or 0 when outsz is too small (out then holds "" if outsz > 0). */
static size_t b64_encode(const char *alphabet, const void *p, size_t n, char *out, size_t outsz)
{
	const unsigned char *s = p;
	size_t full = n / 3, rest = n % 3, need, i, o = 0;
	uint32_t v;

	if (full > (SIZE_MAX - 4) / 4)
		goto out_small;
	need = full * 4 + (rest ? rest + 1 : 0);
	if (need >= outsz)
		goto out_small;
	for (i = 0; i < full * 3; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (rest > 0) {
		v = (uint32_t)s[i] << 16 | (rest == 2 ? (uint32_t)s[i + 1] << 8 : 0);
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		if (rest == 2)
			out[o++] = alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
out_small:
	if (outsz > 0)
		out[0] = '\0';
	return 0;
}

size_t crypto_b64url_encode(const void *p, size_t n, char *out, size_t outsz)
{
	return b64_encode(b64url_alphabet, p, n, out, outsz);
}

/* The same with the standard alphabet ("+/"), as PHC strings use it. */
size_t crypto_b64_encode(const void *p, size_t n, char *out, size_t outsz)
{
	return b64_encode(b64_std_alphabet, p, n, out, outsz);
}

/* Each byte's value in the alphabet; 255 outside it. */
static const unsigned char b64url_values[256] = {
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255,
	 52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255, 255, 255, 255,
	255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
	 15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255,  63,
	255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
	 41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

/* Decodes n characters of s into out. PC_EINVAL on a character outside the
 * alphabet, a length of 4k+1, or non-zero padding bits in the last
 * character (so each byte string has exactly one encoding); PC_ETOOBIG when
 * out cannot hold the result. Four characters at a time: the 255s of bad
 * characters are OR-ed together and checked once per group. */
static enum pc_err b64_decode(const unsigned char *values, const char *s, size_t n,
			      unsigned char *out, size_t outsz, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t rest = n % 4, need = n / 4 * 3 + (rest ? rest - 1 : 0), i, o = 0;
	unsigned bad = 0;
	uint32_t v;

	if (rest == 1)
		return PC_EINVAL;
	if (need > outsz)
		return PC_ETOOBIG;
	for (i = 0; i + 4 <= n; i += 4) {
		unsigned a = values[p[i]], b = values[p[i + 1]],
			 c = values[p[i + 2]], d = values[p[i + 3]];

		bad |= a | b | c | d;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
		out[o] = (unsigned char)(v >> 16);
		out[o + 1] = (unsigned char)(v >> 8);
		out[o + 2] = (unsigned char)v;
		o += 3;
	}
	if (rest != 0) {
		unsigned a = values[p[i]], b = values[p[i + 1]],
			 c = rest == 3 ? values[p[i + 2]] : 0;

		bad |= a | b | c;
		v = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 | (uint32_t)(c & 63) << 6;
		if (rest == 2 && (v & 0xffff) != 0)
			return PC_EINVAL;
		if (rest == 3 && (v & 0xff) != 0)
			return PC_EINVAL;
		out[o++] = (unsigned char)(v >> 16);
		if (rest == 3)
			out[o++] = (unsigned char)(v >> 8);
	}
	if (bad & 0x80)
		return PC_EINVAL;
	if (outlen != NULL)
		*outlen = o;
	return PC_OK;
}

enum pc_err crypto_b64url_decode(const char *s, size_t n, unsigned char *out, size_t outsz,
			     size_t *outlen)
{
	return b64_decode(b64url_values, s, n, out, outsz, outlen);
}

/* The standard alphabet's values, 255 outside it. */
static const unsigned char b64_std_values[256] = {
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255, 255,  63,
	 52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255, 255, 255, 255,
	255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
	 15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255,
	255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
	 41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

enum pc_err crypto_b64_decode(const char *s, size_t n, unsigned char *out, size_t outsz,
			  size_t *outlen)
{
	return b64_decode(b64_std_values, s, n, out, outsz, outlen);
}

/* ---- opaque tokens ---------------------------------------------------------- */

/* 256 random bits as 43 base64url characters. PC_EINTERNAL when the random
 * generator fails (out is then ""). */
bool crypto_token_shape_ok(const char *s)
{
	if (s == NULL || strnlen(s, CRYPTO_TOKEN_LEN + 1) != CRYPTO_TOKEN_LEN)
		return false;
	for (size_t i = 0; i < CRYPTO_TOKEN_LEN; i++) {
		if (!ascii_is_b64url((unsigned char)s[i]))
			return false;
	}
	return true;
}

enum pc_err crypto_token_new(char out[PC_TOKEN_MAX])
{
	unsigned char raw[32];
	enum pc_err err;

	out[0] = '\0';
	err = crypto_random(raw, sizeof(raw));
	if (err == PC_OK && crypto_b64url_encode(raw, sizeof(raw), out, PC_TOKEN_MAX) != CRYPTO_TOKEN_LEN)
		err = PC_EINTERNAL;
	crypto_wipe(raw, sizeof(raw));
	return err;
}

void crypto_token_hash(const char *token, char out[PC_SHA256_HEX])
{
	crypto_sha256_hex(token, strlen(token), out);
}

/* ---- UUIDv7 ----------------------------------------------------------------- */

static pthread_mutex_t uuid_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t uuid_last_ms;
static uint32_t uuid_counter; /* 12 bits, rand_a */

/* RFC 9562 UUIDv7: 48-bit unix ms, version 7, 12-bit counter (seeded at
 * random each millisecond, top bit clear to leave room), variant 10, 62
 * random bits. Lower-case 8-4-4-4-12. PC_EINTERNAL when randomness fails. */
enum pc_err crypto_uuid7(char out[PC_UUID_STR])
{
	unsigned char u[16], seed[2];
	char hex[33];
	int64_t ms;
	uint32_t ctr;
	enum pc_err err;

	out[0] = '\0';
	err = crypto_random(u, sizeof(u));
	if (err == PC_OK)
		err = crypto_random(seed, sizeof(seed));
	if (err != PC_OK)
		return err;

	pthread_mutex_lock(&uuid_lock);
	ms = time_now_ms();
	if (ms > uuid_last_ms) {
		uuid_last_ms = ms;
		uuid_counter = ((uint32_t)seed[0] << 8 | seed[1]) & 0x7ff;
	} else if (uuid_counter < 0xfff) {
		uuid_counter++; /* same (or earlier) millisecond: keep the order */
	} else {
		uuid_last_ms++; /* counter spent: borrow the next millisecond */
		uuid_counter = ((uint32_t)seed[0] << 8 | seed[1]) & 0x7ff;
	}
	ms = uuid_last_ms;
	ctr = uuid_counter;
	pthread_mutex_unlock(&uuid_lock);

	u[0] = (unsigned char)(ms >> 40);
	u[1] = (unsigned char)(ms >> 32);
	u[2] = (unsigned char)(ms >> 24);
	u[3] = (unsigned char)(ms >> 16);
	u[4] = (unsigned char)(ms >> 8);
	u[5] = (unsigned char)ms;
	u[6] = (unsigned char)(0x70 | (ctr >> 8));
	u[7] = (unsigned char)(ctr & 0xff);
	u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));

	crypto_hex_encode(u, sizeof(u), hex);
	memcpy(out, hex, 8);
	out[8] = '-';
	memcpy(out + 9, hex + 8, 4);
	out[13] = '-';
	memcpy(out + 14, hex + 12, 4);
	out[18] = '-';
	memcpy(out + 19, hex + 16, 4);
	out[23] = '-';
	memcpy(out + 24, hex + 20, 12);
	out[36] = '\0';
	return PC_OK;
}

/* True for 8-4-4-4-12 hex digits of either case, nothing more. */
bool crypto_uuid_valid(const char *s)
{
	size_t i;
	char c;

	if (s == NULL)
		return false;
	for (i = 0; i < 36; i++) {
		c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			     (c >= 'A' && c <= 'F'))) {
			return false;
		}
	}
	return s[36] == '\0';
}

/* ---- ES256 signature encodings ------------------------------------------------------------ */

bool crypto_ecdsa_raw_to_der(const unsigned char raw[64], unsigned char *der, size_t dersz,
			     size_t *derlen)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
	unsigned char *p = der;
	int len;

	if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
		ECDSA_SIG_free(sig);
		BN_free(r);
		BN_free(s);
		return false;
	}
	len = i2d_ECDSA_SIG(sig, NULL);
	if (len <= 0 || (size_t)len > dersz) {
		ECDSA_SIG_free(sig);
		return false;
	}
	len = i2d_ECDSA_SIG(sig, &p);
	ECDSA_SIG_free(sig);
	if (len <= 0)
		return false;
	*derlen = (size_t)len;
	return true;
}

bool crypto_ecdsa_der_to_raw(const unsigned char *der, size_t derlen, unsigned char raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	const BIGNUM *r, *s;
	bool ok;

	if (sig == NULL)
		return false;
	ECDSA_SIG_get0(sig, &r, &s);
	ok = p == der + derlen && BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	return ok;
}
