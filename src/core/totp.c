/*
 * totp.c - the TOTP second factor (RFC 6238: HMAC-SHA-1, 6 digits, 30 s
 * steps, one step either side accepted), its secrets sealed at rest, the
 * replay guard, recovery codes, the lockout of wrong codes, and the
 * TOTP-purpose token that stands between the first factor and the second.
 *
 * States of a user (the function that makes each transition beside it):
 *
 *     off     --totp_new: a pending secret stored (sealed)-->    pending
 *     pending --totp_new again: the pending secret replaced-->   pending
 *     pending --totp_enable: uri's secret == the pending one,
 *               a right code, the password; recovery codes made--> on
 *     on      --totp_new: a pending secret beside the enabled one--> on
 *               (totp_enable then replaces the secret and the codes)
 *     on, pending --totp_disable (the password)-->               off
 *               (user_totp row and recovery codes deleted)
 *
 * Per user while on (user_totp), the counters:
 *     last_step     the last time step accepted; a code is accepted only for
 *                   a step > last_step, recorded by one compare-and-swap
 *                   (store_totp_step_use), so a code is good once and two
 *                   racing requests with it cannot both pass (RFC 6238 5.2);
 *     failures      wrong codes in a row at totp_login (store_totp_fail);
 *                   a success resets it;
 *     locked_until  from TOTP_LOCK_AFTER failures on: now + 30 s, doubling
 *                   per further failure, at most 15 min. While it runs every
 *                   code is refused (PC_ELIMITED) and none is consumed.
 *
 * A login of a user whose TOTP is on gives a TOTP-purpose token instead of
 * tokens (totp_pending_issue): a JWT (sub, jti, iat, exp = now + 300, aud,
 * "totp": true) signed with its own key, HMAC-SHA256(jwt secret,
 * "portcullis totp-pending v1"), so that no verifier holding the access key
 * accepts it, whatever its claims. Only totp_login verifies it; it is never
 * a session, never in the credential cache, and spent (its jti denied) by
 * the login it completes.
 *
 * Sealing: AES-256-GCM, a fresh 96-bit nonce per seal, the user id as AAD,
 * as text "v1:<key id>:<base64(nonce | ciphertext | tag)>" where the key id
 * is the first 8 hex digits of SHA-256(key). The key is the setting
 * totp_key (64 hex digits) or, when empty, one generated and kept in the
 * store's keys table. totp_open refuses to start when stored secrets were
 * sealed under another key (they could not be opened).
 *
 * Owns: the per-call secrets (wiped) and an enrolment's SVG
 * (totp_enrolment_release).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liboath/oath.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <qrencode.h>

#include "core/core.h"
#include "store/store.h"

#define TOTP_DIGITS 6
#define TOTP_WINDOW 1          /* steps either side */
#define TOTP_NONCE 12
#define TOTP_TAG 16
#define TOTP_LOCK_AFTER 5
#define TOTP_LOCK_BASE 30
#define TOTP_LOCK_CAP 900
#define TOTP_KEY_NAME "totp_key"
#define TOTP_PENDING_INFO "portcullis totp-pending v1"

static const struct pc_totp_lockout totp_lockout = {
	.threshold = TOTP_LOCK_AFTER, .base = TOTP_LOCK_BASE, .cap = TOTP_LOCK_CAP,
};

/* The TOTP-purpose token: RFC 7519 names and the flag "totp"; no family. */
const struct jwt_claims_table jwt_claims_totp = {
	.subject = "sub",
	.token_id = "jti",
	.audience = true,
	.type_claim = NULL,
	.access_type = NULL,
	.family = NULL,
	.flag = "totp",
};

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* ---- codes ---------------------------------------------------------------------- */

static pthread_once_t totp_oath_once = PTHREAD_ONCE_INIT;
static int totp_oath_rc;

static void totp_oath_init(void)
{
	totp_oath_rc = oath_init();
}

enum pc_err totp_code(const unsigned char *secret, size_t n, int64_t step, unsigned digits,
		      char *out)
{
	pthread_once(&totp_oath_once, totp_oath_init);
	if (totp_oath_rc != OATH_OK || step < 0 || digits < 6 || digits > 8)
		return PC_EINTERNAL;
	if (oath_totp_generate2((const char *)secret, n, (time_t)(step * TOTP_PERIOD), TOTP_PERIOD,
				0, digits, 0, out) != OATH_OK)
		return PC_EINTERNAL;
	return PC_OK;
}

/* Base32 (RFC 4648) without padding; out holds 8 * ceil(n / 5) / 5 + 1. */
static void b32_encode(const unsigned char *p, size_t n, char *out)
{
	unsigned buf = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		buf = (buf << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32_alphabet[(buf >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32_alphabet[(buf << (5 - bits)) & 31];
	out[o] = '\0';
}

static bool b32_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
}

static bool totp_is_code(const char *claim)
{
	size_t i;

	for (i = 0; i < TOTP_DIGITS; i++) {
		if (!ascii_is_digit(claim[i]))
			return false;
	}
	return claim[i] == '\0';
}

/* A recovery code as written out (XXXX-XXXX-XXXX-XXXX, any case, or the 16
 * characters without dashes) in its canonical form; false when it is none. */
static bool totp_recovery_canonical(const char *claim, char out[TOTP_RECOVERY_LEN + 1])
{
	size_t n = strnlen(claim, TOTP_RECOVERY_LEN + 1), j = 0;
	bool dashed = n == TOTP_RECOVERY_LEN;

	if (!dashed && n != 16)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = ascii_upper(claim[i]);

		if (dashed && i % 5 == 4) {
			if (c != '-')
				return false;
			continue;
		}
		if (!b32_char(c))
			return false;
		if (j > 0 && j % 5 == 4)
			out[j++] = '-';
		out[j++] = c;
	}
	out[j] = '\0';
	return true;
}

/* The step in now's window (now's first, then earlier, then later) whose
 * code equals claim and that is after last; -1 when none. */
static int64_t totp_match(const unsigned char *secret, size_t n, const char *claim, int64_t now,
			  int64_t last)
{
	static const int order[] = { 0, -1, 1 };
	int64_t cur = now / TOTP_PERIOD, found = -1;
	char code[TOTP_DIGITS + 1];

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int64_t step = cur + order[i];

		if (order[i] < -TOTP_WINDOW || order[i] > TOTP_WINDOW)
			continue;
		if (totp_code(secret, n, step, TOTP_DIGITS, code) != PC_OK)
			continue;
		if (crypto_ct_equal(code, claim, TOTP_DIGITS) && step > last && found < 0)
			found = step;
	}
	crypto_wipe(code, sizeof(code));
	return found;
}

/* ---- sealing ---------------------------------------------------------------------- */

void totp_key_id(const unsigned char key[TOTP_AES_KEY], char out[TOTP_KID_LEN + 1])
{
	unsigned char d[PC_SHA256_LEN];
	char hex[PC_SHA256_HEX];

	crypto_sha256(key, TOTP_AES_KEY, d);
	crypto_hex_encode(d, sizeof(d), hex);
	memcpy(out, hex, TOTP_KID_LEN);
	out[TOTP_KID_LEN] = '\0';
}

enum pc_err totp_seal(const unsigned char key[TOTP_AES_KEY], const char *aad,
		      const unsigned char *pt, size_t n, char *out, size_t outsz)
{
	if (n > TOTP_SECRET_MAX)
		return PC_EINVAL;
	return seal_text(key, aad, pt, n, out, outsz);
}

enum pc_err seal_text(const unsigned char key[TOTP_AES_KEY], const char *aad,
		      const unsigned char *pt, size_t n, char *out, size_t outsz)
{
	unsigned char raw[TOTP_NONCE + SEAL_PLAIN_MAX + TOTP_TAG];
	char kid[TOTP_KID_LEN + 1];
	EVP_CIPHER_CTX *c;
	int len = 0, fin = 0;
	size_t pre, w;
	enum pc_err err = PC_EINTERNAL;

	if (n == 0 || n > SEAL_PLAIN_MAX || aad == NULL)
		return PC_EINVAL;
	err = crypto_random(raw, TOTP_NONCE);
	if (err != PC_OK)
		return err;
	err = PC_EINTERNAL;
	c = EVP_CIPHER_CTX_new();
	if (c == NULL)
		return PC_ENOMEM;
	if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, TOTP_NONCE, NULL) != 1 ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key, raw) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(c, raw + TOTP_NONCE, &len, pt, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(c, raw + TOTP_NONCE + len, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TOTP_TAG, raw + TOTP_NONCE + n) != 1)
		goto out_free;
	totp_key_id(key, kid);
	pre = (size_t)snprintf(out, outsz, "v1:%s:", kid);
	err = PC_ETOOBIG;
	if (pre >= outsz)
		goto out_free;
	w = crypto_b64_encode(raw, TOTP_NONCE + n + TOTP_TAG, out + pre, outsz - pre);
	if (w == 0)
		goto out_free;
	err = PC_OK;
out_free:
	EVP_CIPHER_CTX_free(c);
	crypto_wipe(raw, sizeof(raw));
	if (err != PC_OK && outsz > 0)
		out[0] = '\0';
	return err;
}

enum pc_err totp_unseal(const unsigned char key[TOTP_AES_KEY], const char *aad,
			const char *text, unsigned char *pt, size_t ptsz, size_t *n)
{
	return unseal_text(key, aad, text, pt, ptsz, n);
}

enum pc_err unseal_text(const unsigned char key[TOTP_AES_KEY], const char *aad,
			const char *text, unsigned char *pt, size_t ptsz, size_t *n)
{
	unsigned char raw[TOTP_NONCE + SEAL_PLAIN_MAX + TOTP_TAG + 4];
	char kid[TOTP_KID_LEN + 1];
	EVP_CIPHER_CTX *c;
	size_t rawlen = 0, ctlen;
	int len = 0, fin = 0;
	enum pc_err err = PC_EUNAUTHORIZED;

	*n = 0;
	totp_key_id(key, kid);
	if (text == NULL || aad == NULL || strncmp(text, "v1:", 3) != 0 ||
	    strncmp(text + 3, kid, TOTP_KID_LEN) != 0 || text[3 + TOTP_KID_LEN] != ':')
		return PC_EUNAUTHORIZED;
	text += 4 + TOTP_KID_LEN;
	if (crypto_b64_decode(text, strlen(text), raw, sizeof(raw), &rawlen) != PC_OK ||
	    rawlen <= TOTP_NONCE + TOTP_TAG)
		return PC_EUNAUTHORIZED;
	ctlen = rawlen - TOTP_NONCE - TOTP_TAG;
	if (ctlen > ptsz)
		return PC_ETOOBIG;
	c = EVP_CIPHER_CTX_new();
	if (c == NULL)
		return PC_ENOMEM;
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, TOTP_NONCE, NULL) == 1 &&
	    EVP_DecryptInit_ex(c, NULL, NULL, key, raw) == 1 &&
	    EVP_DecryptUpdate(c, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
	    EVP_DecryptUpdate(c, pt, &len, raw + TOTP_NONCE, (int)ctlen) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TOTP_TAG,
				raw + TOTP_NONCE + ctlen) == 1 &&
	    EVP_DecryptFinal_ex(c, pt + len, &fin) == 1) {
		*n = ctlen;
		err = PC_OK;
	} else {
		crypto_wipe(pt, ptsz);
	}
	EVP_CIPHER_CTX_free(c);
	crypto_wipe(raw, sizeof(raw));
	return err;
}

/* ---- the otpauth:// URI ---------------------------------------------------------------- */

/* Appends s percent-encoded (all but RFC 3986's unreserved) to out[*o..sz). */
static bool uri_put_enc(char *out, size_t sz, size_t *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (ascii_is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			if (*o + 1 >= sz)
				return false;
			out[(*o)++] = (char)c;
		} else {
			if (*o + 3 >= sz)
				return false;
			out[(*o)++] = '%';
			out[(*o)++] = hex[c >> 4];
			out[(*o)++] = hex[c & 15];
		}
	}
	out[*o] = '\0';
	return true;
}

static bool uri_put(char *out, size_t sz, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n >= sz)
		return false;
	memcpy(out + *o, s, n + 1);
	*o += n;
	return true;
}

/* otpauth://totp/<issuer>:<email>?secret=<key>&issuer=<issuer> */
static enum pc_err totp_uri_make(const char *issuer, const char *email, const char *key,
				 char out[TOTP_URI_MAX])
{
	size_t o = 0;
	bool ok = uri_put(out, TOTP_URI_MAX, &o, "otpauth://totp/") &&
		  uri_put_enc(out, TOTP_URI_MAX, &o, issuer) &&
		  uri_put(out, TOTP_URI_MAX, &o, ":") &&
		  uri_put_enc(out, TOTP_URI_MAX, &o, email) &&
		  uri_put(out, TOTP_URI_MAX, &o, "?secret=") &&
		  uri_put(out, TOTP_URI_MAX, &o, key) &&
		  uri_put(out, TOTP_URI_MAX, &o, "&issuer=") &&
		  uri_put_enc(out, TOTP_URI_MAX, &o, issuer);

	return ok ? PC_OK : PC_ETOOBIG;
}

bool totp_uri_secret(const char *uri, char *secret, size_t secretsz)
{
	static const char prefix[] = "otpauth://totp/";
	const char *p, *q, *label;
	size_t len, found = 0;

	if (uri == NULL || secretsz == 0)
		return false;
	secret[0] = '\0';
	len = strnlen(uri, TOTP_URI_MAX);
	if (len == TOTP_URI_MAX || strncmp(uri, prefix, sizeof(prefix) - 1) != 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (c <= 0x20 || c >= 0x7f || c == '#')
			return false;
	}
	label = uri + sizeof(prefix) - 1;
	q = strchr(label, '?');
	if (q == NULL || q == label)
		return false;
	for (p = q + 1; *p != '\0';) {
		const char *end = strchr(p, '&'), *eq;
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', n);
		if (eq == NULL || eq == p)
			return false;
		if ((size_t)(eq - p) == 6 && memcmp(p, "secret", 6) == 0) {
			size_t vn = n - 7;

			if (found++ > 0 || vn < 16 || vn > TOTP_B32_MAX || vn >= secretsz)
				return false;
			for (size_t i = 0; i < vn; i++) {
				char c = ascii_upper(eq[1 + i]);

				if (!b32_char(c))
					return false;
				secret[i] = c;
			}
			secret[vn] = '\0';
		}
		if (end == NULL)
			break;
		p = end + 1;
		if (*p == '\0')
			return false;
	}
	if (found != 1) {
		secret[0] = '\0';
		return false;
	}
	return true;
}

/* ---- QR as SVG ------------------------------------------------------------------------ */

enum pc_err totp_qr_svg(const char *text, char **out)
{
	QRcode *qr;
	struct pc_buf b;
	int w, quiet = 4, size;
	enum pc_err err;

	*out = NULL;
	qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (qr == NULL)
		return PC_EINTERNAL;
	w = qr->width;
	size = w + 2 * quiet;
	buf_init(&b, 512 + (size_t)w * (size_t)w * 32);
	err = buf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
			 "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\">"
			 "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path d=\"",
			 size, size, size * 4, size * 4, size, size);
	for (int y = 0; y < w && err == PC_OK; y++) {
		for (int x = 0; x < w && err == PC_OK;) {
			int run = 0;

			while (x + run < w && (qr->data[y * w + x + run] & 1))
				run++;
			if (run == 0) {
				x++;
				continue;
			}
			err = buf_printf(&b, "M%d %dh%dv1h-%dz", x + quiet, y + quiet, run, run);
			x += run;
		}
	}
	if (err == PC_OK)
		err = buf_addstr(&b, "\" fill=\"#000\"/></svg>");
	QRcode_free(qr);
	if (err != PC_OK) {
		buf_release(&b);
		return err;
	}
	*out = b.data; /* NUL-terminated; the caller frees */
	return PC_OK;
}

/* ---- keys ------------------------------------------------------------------------------- */

static bool hex_decode(const char *s, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int v = 0;

		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				return false;
		}
		out[i] = (unsigned char)v;
	}
	return s[2 * n] == '\0';
}

/* The configured key, or the generated one kept in the store. */
static enum pc_err totp_key_settle(struct pc_ctx *ctx, struct pc_errinfo *ei)
{
	char stored[2 * TOTP_AES_KEY + 1], fresh[2 * TOTP_AES_KEY + 1];
	unsigned char raw[TOTP_AES_KEY];
	const char *hex = ctx->cfg.totp_key;
	enum pc_err err = PC_OK;

	stored[0] = '\0';
	if (hex[0] == '\0') {
		err = crypto_random(raw, sizeof(raw));
		if (err != PC_OK)
			return err;
		crypto_hex_encode(raw, sizeof(raw), fresh);
		crypto_wipe(raw, sizeof(raw));
		err = STORE_CALL(ctx->store, key_put_if_absent, TOTP_KEY_NAME, fresh);
		crypto_wipe(fresh, sizeof(fresh));
		if (err == PC_OK)
			err = STORE_CALL(ctx->store, key_get, TOTP_KEY_NAME, stored, sizeof(stored));
		if (err != PC_OK) {
			pc_errinfo_setf(ei, "config", "totp_key", PC_V_STORE,
					"cannot keep a generated TOTP key in the database");
			return err;
		}
		hex = stored;
	}
	if (!hex_decode(hex, ctx->totp_key, TOTP_AES_KEY)) {
		pc_errinfo_setf(ei, "config", "totp_key", PC_V_RULE,
				"totp_key: must be 64 hex digits (32 bytes)");
		err = PC_EINVAL;
	}
	crypto_wipe(stored, sizeof(stored));
	totp_key_id(ctx->totp_key, ctx->totp_kid);
	return err;
}

/* The TOTP-purpose token's key: derived from the access key's secret. */
static enum pc_err totp_pending_key(struct pc_ctx *ctx)
{
	struct pc_jwt_key *k = &ctx->totp_jwt;
	unsigned int n = 0;

	memset(k, 0, sizeof(*k));
	snprintf(k->alg, sizeof(k->alg), "%s", ctx->jwt.alg);
	snprintf(k->aud, sizeof(k->aud), "%s", ctx->jwt.aud);
	if (HMAC(EVP_sha256(), ctx->jwt.secret, (int)ctx->jwt.len,
		 (const unsigned char *)TOTP_PENDING_INFO, strlen(TOTP_PENDING_INFO), k->secret,
		 &n) == NULL || n != PC_SHA256_LEN)
		return PC_EINTERNAL;
	k->len = n;
	return jwt_key_open(k);
}

enum pc_err totp_open(struct pc_ctx *ctx, struct pc_errinfo *ei)
{
	char prefix[4 + TOTP_KID_LEN + 1];
	int64_t other = 0;
	enum pc_err err = totp_key_settle(ctx, ei);

	if (err != PC_OK)
		return err;
	snprintf(prefix, sizeof(prefix), "v1:%s:", ctx->totp_kid);
	err = STORE_CALL(ctx->store, totp_count_other_key, prefix, &other);
	if (err != PC_OK) {
		pc_errinfo_setf(ei, "config", "totp_key", PC_V_STORE, "cannot read TOTP secrets");
		return err;
	}
	if (other > 0) {
		pc_errinfo_setf(ei, "config", "totp_key", PC_V_RULE,
				"totp_key: %lld user(s) have TOTP secrets encrypted under another "
				"key than this totp_key (id %s); start with the totp_key they were "
				"encrypted with", (long long)other, ctx->totp_kid);
		return PC_EINVAL;
	}
	err = totp_pending_key(ctx);
	if (err != PC_OK)
		pc_errinfo_setf(ei, "config", "algorithm", PC_V_INTERNAL,
				"cannot key the TOTP-purpose token");
	return err;
}

void totp_close(struct pc_ctx *ctx)
{
	jwt_key_close(&ctx->totp_jwt);
	crypto_wipe(ctx->totp_jwt.secret, sizeof(ctx->totp_jwt.secret));
	crypto_wipe(ctx->totp_key, sizeof(ctx->totp_key));
}

/* ---- enrolment ---------------------------------------------------------------------------- */

void totp_enrolment_release(struct totp_enrolment *e)
{
	free(e->qr_svg);
	e->qr_svg = NULL;
	crypto_wipe(e->key, sizeof(e->key));
}

enum pc_err totp_new(struct pc_ctx *ctx, const struct pc_user *u, struct totp_enrolment *out)
{
	unsigned char secret[TOTP_SECRET_BYTES];
	char sealed[PC_TOTP_ENC_MAX + 1];
	enum pc_err err;

	memset(out, 0, sizeof(*out));
	err = crypto_random(secret, sizeof(secret));
	if (err == PC_OK)
		err = totp_seal(ctx->totp_key, u->id, secret, sizeof(secret), sealed, sizeof(sealed));
	if (err == PC_OK) {
		b32_encode(secret, sizeof(secret), out->key);
		err = totp_uri_make(ctx->cfg.totp_issuer,
				    u->email[0] != '\0' ? u->email : u->username, out->key, out->uri);
	}
	if (err == PC_OK)
		err = totp_qr_svg(out->uri, &out->qr_svg);
	if (err == PC_OK)
		err = STORE_CALL(ctx->store, totp_set_pending, u->id, sealed, time_now());
	crypto_wipe(secret, sizeof(secret));
	if (err != PC_OK)
		totp_enrolment_release(out);
	return err;
}

/* n recovery codes into codes, their hashes into hashes. */
static enum pc_err totp_recovery_new(char (*codes)[TOTP_RECOVERY_LEN + 1],
				     char (*hashes)[PC_SHA256_HEX], size_t n)
{
	unsigned char raw[10]; /* 80 bits: 16 base32 characters */
	char plain[17];
	enum pc_err err = PC_OK;

	for (size_t i = 0; i < n && err == PC_OK; i++) {
		err = crypto_random(raw, sizeof(raw));
		if (err != PC_OK)
			break;
		b32_encode(raw, sizeof(raw), plain);
		if (!totp_recovery_canonical(plain, codes[i]))
			err = PC_EINTERNAL;
		crypto_sha256_hex(codes[i], TOTP_RECOVERY_LEN, hashes[i]);
	}
	crypto_wipe(raw, sizeof(raw));
	crypto_wipe(plain, sizeof(plain));
	return err;
}

enum pc_err totp_enable(struct pc_ctx *ctx, const struct pc_user *u, const char *claim,
			const char *uri, const char *password,
			char (*codes)[TOTP_RECOVERY_LEN + 1])
{
	char hashes[TOTP_RECOVERY_N][PC_SHA256_HEX];
	char key[TOTP_B32_MAX + 1], given[TOTP_B32_MAX + 1];
	unsigned char secret[TOTP_SECRET_MAX];
	struct pc_totp_row row;
	size_t n = 0;
	int64_t now = time_now(), step;
	enum pc_err err;

	err = pc_user_check_password(ctx, u->id, password, password != NULL ? strlen(password) : 0);
	if (err == PC_ENOTFOUND)
		err = PC_EBADCREDS;
	if (err != PC_OK)
		return err;
	err = STORE_CALL(ctx->store, totp_get, u->id, &row);
	if (err == PC_ENOTFOUND || (err == PC_OK && row.pending_enc[0] == '\0'))
		err = PC_EBADCREDS;
	if (err == PC_OK && (claim == NULL || !totp_is_code(claim) ||
			     !totp_uri_secret(uri, given, sizeof(given))))
		err = PC_EBADCREDS;
	if (err == PC_OK && totp_unseal(ctx->totp_key, u->id, row.pending_enc, secret,
					sizeof(secret), &n) != PC_OK)
		err = PC_EINTERNAL;
	if (err == PC_OK) {
		/* the client's uri must carry the secret this server handed out */
		b32_encode(secret, n, key);
		if (!crypto_ct_streq(key, given))
			err = PC_EBADCREDS;
	}
	if (err == PC_OK) {
		step = totp_match(secret, n, claim, now, row.last_step);
		if (step < 0)
			err = PC_EBADCREDS;
	}
	if (err == PC_OK)
		err = totp_recovery_new(codes, hashes, TOTP_RECOVERY_N);
	if (err == PC_OK)
		err = STORE_CALL(ctx->store, totp_enable, u->id, row.pending_enc, step, now,
				 (const char (*)[PC_SHA256_HEX])hashes, TOTP_RECOVERY_N);
	if (err == PC_ENOTFOUND)
		err = PC_EBADCREDS;
	if (err == PC_OK)
		(void)pc_audit(ctx, "totp.enable", u->id, NULL);
	crypto_wipe(secret, sizeof(secret));
	crypto_wipe(key, sizeof(key));
	crypto_wipe(&row, sizeof(row));
	if (err != PC_OK)
		crypto_wipe(codes, sizeof(*codes) * TOTP_RECOVERY_N);
	return err;
}

enum pc_err totp_disable(struct pc_ctx *ctx, const struct pc_user *u, const char *original)
{
	enum pc_err err = pc_user_check_password(ctx, u->id, original,
						 original != NULL ? strlen(original) : 0);

	if (err == PC_ENOTFOUND)
		err = PC_EBADCREDS;
	if (err != PC_OK)
		return err;
	err = STORE_CALL(ctx->store, totp_disable, u->id, time_now());
	if (err == PC_OK)
		(void)pc_audit(ctx, "totp.disable", u->id, NULL);
	return err;
}

/* ---- the second step of a login ------------------------------------------------------------ */

enum pc_err totp_pending_issue(struct pc_ctx *ctx, const struct pc_user *u, char *out,
			       size_t outsz)
{
	return jwt_sign(&ctx->totp_jwt, &jwt_claims_totp, u->id, time_now(), TOTP_PENDING_LIFETIME,
			out, outsz, NULL);
}

/* The claim checked against the enabled secret or the recovery codes, and
 * spent. PC_OK, PC_EBADCREDS (a wrong, replayed or spent one), PC_ESTORE. */
static enum pc_err totp_second_factor(struct pc_ctx *ctx, const struct pc_totp_row *row,
				      const char *claim, int64_t now)
{
	unsigned char secret[TOTP_SECRET_MAX];
	char rc[TOTP_RECOVERY_LEN + 1], hash[PC_SHA256_HEX];
	size_t n = 0;
	int64_t step;
	enum pc_err err;

	if (totp_is_code(claim)) {
		err = totp_unseal(ctx->totp_key, row->user_id, row->secret_enc, secret,
				  sizeof(secret), &n);
		if (err != PC_OK)
			return PC_EINTERNAL;
		step = totp_match(secret, n, claim, now, row->last_step);
		crypto_wipe(secret, sizeof(secret));
		if (step < 0)
			return PC_EBADCREDS;
		err = STORE_CALL(ctx->store, totp_step_use, row->user_id, step, now);
		return err == PC_ENOTFOUND ? PC_EBADCREDS : err;
	}
	if (!totp_recovery_canonical(claim, rc))
		return PC_EBADCREDS;
	crypto_sha256_hex(rc, TOTP_RECOVERY_LEN, hash);
	crypto_wipe(rc, sizeof(rc));
	err = STORE_CALL(ctx->store, totp_recovery_use, row->user_id, hash, now);
	return err == PC_ENOTFOUND ? PC_EBADCREDS : err;
}

enum pc_err totp_login(struct pc_ctx *ctx, const char *token, const char *claim,
		       struct pc_user *out, int64_t *retry_after)
{
	struct pc_jwt_claims c;
	struct pc_totp_row row;
	struct pc_user u;
	int64_t now = time_now(), locked = 0;
	enum pc_err err;

	*retry_after = 0;
	if (token == NULL || claim == NULL)
		return PC_EUNAUTHORIZED;
	if (jwt_verify(&ctx->totp_jwt, &jwt_claims_totp, token, now, &c) != PC_OK ||
	    !crypto_uuid_valid(c.sub))
		return PC_EUNAUTHORIZED;
	/* one read: the user, unless the token is spent (its jti denied) or
	 * predates the user's last password change (migration 011) */
	err = STORE_CALL(ctx->store, user_by_id_unrevoked, c.sub, c.jti, jwt_issued_ms(&c), &u);
	if (err == PC_ENOTFOUND || (err == PC_OK && !u.is_active))
		err = PC_EUNAUTHORIZED;
	if (err != PC_OK)
		goto out_wipe;
	err = STORE_CALL(ctx->store, totp_get, u.id, &row);
	if (err == PC_ENOTFOUND || (err == PC_OK && (!row.enabled || row.secret_enc[0] == '\0')))
		err = PC_ENOTFOUND; /* TOTP is not enabled */
	if (err != PC_OK)
		goto out_wipe;
	if (row.locked_until > now) {
		*retry_after = row.locked_until - now;
		err = PC_ELIMITED;
		goto out_wipe;
	}
	err = totp_second_factor(ctx, &row, claim, now);
	if (err == PC_EBADCREDS) {
		if (STORE_CALL(ctx->store, totp_fail, u.id, now, &totp_lockout, &locked) != PC_OK)
			err = PC_ESTORE;
		else
			(void)pc_audit(ctx, "login.failure", u.id, "{\"reason\":\"bad_code\"}");
		if (err == PC_EBADCREDS && locked > now)
			(void)pc_audit(ctx, "lockout", u.id, "{\"factor\":\"totp\"}");
		goto out_wipe;
	}
	if (err == PC_OK)
		err = STORE_CALL(ctx->store, jti_revoke, c.jti, c.sub, c.exp); /* the token is spent */
	if (err == PC_OK) {
		(void)pc_audit(ctx, "login.success", u.id, "{\"second_factor\":\"done\"}");
		*out = u;
	}
out_wipe:
	crypto_wipe(&row, sizeof(row));
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	return err;
}
