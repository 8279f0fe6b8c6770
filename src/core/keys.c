/*
 * keys.c - the published signing keys: asymmetric keys (EdDSA, ES256,
 * RS256) that sign the access tokens of the faces whose claims table is
 * `published` (fastapi-users, myauth), and the JWKS that publishes them.
 *
 * Where keys come from (keys_open):
 *   algorithm HS*          no key set: every token is HMAC'd with the secret
 *                          (jwt_key_settle, ctx.c); the JWKS is empty.
 *   jwt_private_key_file   that one key (PKCS#8 or traditional PEM, never
 *                          encrypted), of the configured algorithm.
 *   neither                the store's signing_keys (migration 010); when
 *                          none of the configured algorithm signs, one is
 *                          generated and stored (first start).
 * Each key's kid is the RFC 7638 thumbprint of its public JWK, so the same
 * key always has the same kid. The key that signs is the newest unretired
 * one; every key retired less than lifetime_seconds ago is still loaded:
 * published and accepted, since tokens it signed may still be live. Older
 * ones are purged from the store and never loaded.
 *
 * Rotation (keys_rotate, `portcullis keys rotate`): a new key is stored and
 * every other unretired key retired, in one transaction. A server reads the
 * store again every jwt_keys_reload_seconds (keys_reload, a job of the
 * housekeeping thread, ctx.c: never on a request thread, never inside a
 * caller's transaction), so another process's rotation reaches it within
 * that time.
 *
 * Verification (keys_verify): the key is chosen by the header's kid alone;
 * jwt_verify then requires the header's alg to be that key's (the alg is
 * pinned per key, never taken from the token). A token of a published
 * table without a kid, or with a kid we do not hold, is refused: with an
 * asymmetric algorithm, the HMAC secret signs nothing those faces accept.
 *
 * Concurrency: the set is swapped whole under a write lock; signing and
 * verifying hold the read lock for the call. Owns the set, its EVP_PKEYs
 * (through jwt_key_close) and nothing else.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/core.h"
#include "store/store.h"

#define KEYS_MAX 16 /* loaded at once; more retired keys than this are not read */

struct keys_entry {
	struct pc_jwt_key key;
	int64_t created_at;
	int64_t retired_at; /* 0: it signs */
};

struct keyset {
	pthread_rwlock_t lock;
	struct keys_entry *v; /* under lock */
	size_t n;
	size_t signer;         /* index in v of the key that signs; n: none */
	bool from_file;        /* jwt_private_key_file: never read again */
	_Atomic int64_t next_load; /* time_now() at which the store is read again */
	pthread_mutex_t loading;   /* one reload at a time */
};

/* ---- one key ---------------------------------------------------------------------------- */

/* The members of pkey's public JWK that RFC 7638 hashes (OKP: crv, kty, x;
 * EC: crv, kty, x, y; RSA: e, kty, n). New reference; NULL on failure. */
static json_t *keys_public_jwk(EVP_PKEY *pkey, const char *alg)
{
	unsigned char buf[512];
	char b64[700], b64y[64];
	BIGNUM *a = NULL, *b = NULL;
	size_t n = sizeof(buf);
	json_t *j = NULL;

	if (strcmp(alg, "EdDSA") == 0) {
		if (EVP_PKEY_get_raw_public_key(pkey, buf, &n) == 1 &&
		    crypto_b64url_encode(buf, n, b64, sizeof(b64)) != 0)
			j = json_pack("{s:s, s:s, s:s}", "crv", "Ed25519", "kty", "OKP", "x", b64);
	} else if (strcmp(alg, "ES256") == 0) {
		if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a) == 1 &&
		    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b) == 1 &&
		    BN_bn2binpad(a, buf, 32) == 32 && BN_bn2binpad(b, buf + 32, 32) == 32 &&
		    crypto_b64url_encode(buf, 32, b64, sizeof(b64)) != 0 &&
		    crypto_b64url_encode(buf + 32, 32, b64y, sizeof(b64y)) != 0)
			j = json_pack("{s:s, s:s, s:s, s:s}", "crv", "P-256", "kty", "EC", "x", b64,
				      "y", b64y);
	} else if (strcmp(alg, "RS256") == 0) {
		int nl, el;

		if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &a) == 1 &&
		    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &b) == 1) {
			nl = BN_num_bytes(a);
			el = BN_num_bytes(b);
			if (nl > 0 && (size_t)nl <= sizeof(buf) && el > 0 && el <= 8 &&
			    BN_bn2bin(a, buf) == nl &&
			    crypto_b64url_encode(buf, (size_t)nl, b64, sizeof(b64)) != 0 &&
			    BN_bn2bin(b, buf) == el &&
			    crypto_b64url_encode(buf, (size_t)el, b64y, sizeof(b64y)) != 0)
				j = json_pack("{s:s, s:s, s:s}", "e", b64y, "kty", "RSA", "n", b64);
		}
	}
	BN_free(a);
	BN_free(b);
	return j;
}

/* RFC 7638: base64url SHA-256 of the required members, sorted, compact. */
static bool keys_thumbprint(EVP_PKEY *pkey, const char *alg, char kid[64])
{
	unsigned char d[PC_SHA256_LEN];
	json_t *j = keys_public_jwk(pkey, alg);
	char *text;
	bool ok;

	if (j == NULL)
		return false;
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (text == NULL)
		return false;
	crypto_sha256(text, strlen(text), d);
	free(text);
	ok = crypto_b64url_encode(d, sizeof(d), kid, 64) != 0;
	return ok;
}

/* No passphrase prompt, ever: an encrypted PEM does not load. */
static int keys_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Fills e->key from a PEM private key of alg, opened (jwt_key_open): its
 * kid is the thumbprint. PC_EINVAL: not a PEM key of alg. */
static enum pc_err keys_entry_from_pem(struct keys_entry *e, const char *alg, const char *pem,
				       size_t n, const char *aud)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)n);
	EVP_PKEY *pkey;

	memset(e, 0, sizeof(*e));
	if (bio == NULL)
		return PC_ENOMEM;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, keys_no_passphrase, NULL);
	BIO_free(bio);
	if (pkey == NULL)
		return PC_EINVAL;
	e->key.pkey = pkey;
	snprintf(e->key.alg, sizeof(e->key.alg), "%s", alg);
	snprintf(e->key.aud, sizeof(e->key.aud), "%s", aud);
	if (!keys_thumbprint(pkey, alg, e->key.kid) || jwt_key_open(&e->key) != PC_OK) {
		jwt_key_close(&e->key);
		return PC_EINVAL;
	}
	return PC_OK;
}

/* A new key of alg as a stored row (PKCS#8 PEM, its kid, created now). */
static enum pc_err keys_generate(const char *alg, struct pc_signing_key_row *row)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;
	char *data;
	long n;
	enum pc_err err = PC_EINTERNAL;

	memset(row, 0, sizeof(*row));
	if (strcmp(alg, "EdDSA") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (strcmp(alg, "ES256") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(alg, "RS256") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		return PC_EINVAL;
	if (pkey == NULL)
		return PC_EINTERNAL;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		goto out_free_pkey;
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1)
		goto out_free_bio;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || (size_t)n > PC_SIGNING_PEM_MAX)
		goto out_free_bio;
	memcpy(row->private_pem, data, (size_t)n);
	row->private_pem[n] = '\0';
	snprintf(row->alg, sizeof(row->alg), "%s", alg);
	row->created_at = time_now();
	if (keys_thumbprint(pkey, alg, row->kid))
		err = PC_OK;
out_free_bio:
	BIO_free(bio); /* BIO_s_mem frees its buffer; the PEM was copied */
out_free_pkey:
	EVP_PKEY_free(pkey);
	if (err != PC_OK)
		crypto_wipe(row, sizeof(*row));
	return err;
}

/* ---- loading the set ---------------------------------------------------------------------- */

struct keys_load {
	struct pc_ctx *ctx;
	struct keys_entry *v;
	size_t n;
	size_t signer;
	int64_t oldest_live; /* retired before this: its tokens have all expired */
};

static int keys_load_row(const struct pc_signing_key_row *k, void *arg)
{
	struct keys_load *l = arg;
	struct keys_entry *e;

	if (l->n == KEYS_MAX)
		return 1;
	if (k->retired_at != 0 && k->retired_at <= l->oldest_live)
		return 0;
	e = &l->v[l->n];
	if (keys_entry_from_pem(e, k->alg, k->private_pem, strlen(k->private_pem),
				l->ctx->cfg.jwt_audience) != PC_OK) {
		log_warn("keys", "signing key %s (%s) does not load; skipped", k->kid,
			k->alg);
		return 0;
	}
	if (strcmp(e->key.kid, k->kid) != 0) {
		log_warn("keys", "signing key %s: its thumbprint differs; skipped",
			k->kid);
		jwt_key_close(&e->key);
		return 0;
	}
	e->created_at = k->created_at;
	e->retired_at = k->retired_at;
	if (k->retired_at == 0 && l->signer == KEYS_MAX)
		l->signer = l->n; /* newest first: the first unretired one signs */
	l->n++;
	return 0;
}

static void keys_entries_free(struct keys_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jwt_key_close(&v[i].key);
	free(v);
}

/* Reads the store's keys (purging those no token can need) into l. */
static enum pc_err keys_read_store(struct pc_ctx *ctx, struct keys_load *l)
{
	enum pc_err err;

	memset(l, 0, sizeof(*l));
	l->ctx = ctx;
	l->signer = KEYS_MAX;
	l->oldest_live = time_now() - ctx->cfg.lifetime_seconds;
	l->v = calloc(KEYS_MAX, sizeof(*l->v));
	if (l->v == NULL)
		return PC_ENOMEM;
	(void)STORE_CALL(ctx->store, signing_key_purge, l->oldest_live, NULL); /* best effort */
	err = STORE_CALL(ctx->store, signing_key_list, keys_load_row, l);
	if (err != PC_OK) {
		keys_entries_free(l->v, l->n);
		l->v = NULL;
		l->n = 0;
	}
	return err;
}

/* Whether a key of old[0..oldn) is not in l: a token it signed no longer
 * verifies. */
static bool keys_dropped(const struct keys_entry *old, size_t oldn, const struct keys_load *l)
{
	size_t i, j;

	for (i = 0; i < oldn; i++) {
		for (j = 0; j < l->n; j++)
			if (strcmp(old[i].key.kid, l->v[j].key.kid) == 0)
				break;
		if (j == l->n)
			return true;
	}
	return false;
}

/* Swaps l into the set (taking its entries) and frees the old ones. When the
 * new set drops a key (removed from the store by hand, or purged), every
 * remembered credential is voided (authcache.c): one the dropped key signed
 * must be refused from now on, not when its entry ages out. */
static void keys_install(struct pc_ctx *ctx, struct keyset *ks, struct keys_load *l)
{
	struct keys_entry *old;
	size_t oldn;
	bool dropped;

	pthread_rwlock_wrlock(&ks->lock);
	old = ks->v;
	oldn = ks->n;
	dropped = keys_dropped(old, oldn, l);
	ks->v = l->v;
	ks->n = l->n;
	ks->signer = l->signer == KEYS_MAX ? l->n : l->signer;
	pthread_rwlock_unlock(&ks->lock);
	if (dropped)
		store_cred_bump_all(ctx->store);
	keys_entries_free(old, oldn);
	l->v = NULL;
}

enum pc_err keys_reload(struct pc_ctx *ctx, int64_t now)
{
	struct keyset *ks = ctx->keys;
	struct keys_load l;
	enum pc_err err = PC_OK;

	if (ks == NULL || ks->from_file || now < atomic_load(&ks->next_load))
		return PC_OK;
	if (pthread_mutex_trylock(&ks->loading) != 0)
		return PC_OK; /* another thread is at it */
	if (now >= atomic_load(&ks->next_load)) {
		atomic_store(&ks->next_load, now + ctx->cfg.jwt_keys_reload_seconds);
		err = keys_read_store(ctx, &l);
		if (err == PC_OK)
			keys_install(ctx, ks, &l);
	}
	pthread_mutex_unlock(&ks->loading);
	return err;
}

static enum pc_err keys_open_file(struct pc_ctx *ctx, struct keyset *ks, struct pc_errinfo *ei)
{
	const char *path = ctx->cfg.jwt_private_key_file;
	char *pem = malloc(PC_SIGNING_PEM_MAX + 1);
	struct keys_load l = { .ctx = ctx, .n = 0, .signer = 0 };
	FILE *f;
	size_t n = 0;
	enum pc_err err = PC_EINVAL;

	if (pem == NULL)
		return PC_ENOMEM;
	f = fopen(path, "rb");
	if (f != NULL) {
		n = fread(pem, 1, PC_SIGNING_PEM_MAX + 1, f);
		fclose(f);
	}
	l.v = calloc(1, sizeof(*l.v));
	if (l.v == NULL)
		err = PC_ENOMEM;
	else if (f != NULL && n > 0 && n <= PC_SIGNING_PEM_MAX)
		err = keys_entry_from_pem(&l.v[0], ctx->cfg.algorithm, pem, n, ctx->cfg.jwt_audience);
	crypto_wipe(pem, PC_SIGNING_PEM_MAX + 1);
	free(pem);
	if (err != PC_OK) {
		free(l.v);
		pc_errinfo_setf(ei, "config", "jwt_private_key_file", PC_V_RULE,
				"jwt_private_key_file: cannot read an unencrypted PEM %s private key "
				"from it", ctx->cfg.algorithm);
		return err;
	}
	l.n = 1;
	ks->from_file = true;
	keys_install(ctx, ks, &l);
	return PC_OK;
}

/* ---- the key set's life --------------------------------------------------------------- */

enum pc_err keys_open(struct pc_ctx *ctx, struct pc_errinfo *ei)
{
	struct pc_signing_key_row *row;
	struct keyset *ks;
	struct keys_load l;
	enum pc_err err;

	ctx->keys = NULL;
	if (!jwt_alg_asymmetric(ctx->cfg.algorithm))
		return PC_OK;
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL)
		return PC_ENOMEM;
	pthread_rwlock_init(&ks->lock, NULL);
	pthread_mutex_init(&ks->loading, NULL);
	ctx->keys = ks;
	if (ctx->cfg.jwt_private_key_file[0] != '\0') {
		err = keys_open_file(ctx, ks, ei);
		goto out;
	}
	err = keys_read_store(ctx, &l);
	if (err == PC_OK && (l.signer == KEYS_MAX ||
			     strcmp(l.v[l.signer].key.alg, ctx->cfg.algorithm) != 0)) {
		/* first start, or the algorithm changed: a key of this one */
		keys_entries_free(l.v, l.n);
		row = malloc(sizeof(*row));
		err = row == NULL ? PC_ENOMEM : keys_generate(ctx->cfg.algorithm, row);
		if (err == PC_OK)
			err = STORE_CALL(ctx->store, signing_key_add, row);
		if (row != NULL)
			crypto_wipe(row, sizeof(*row));
		free(row);
		if (err == PC_OK)
			err = keys_read_store(ctx, &l);
	}
	if (err == PC_OK)
		keys_install(ctx, ks, &l);
	atomic_store(&ks->next_load, time_now() + ctx->cfg.jwt_keys_reload_seconds);
	if (err != PC_OK)
		pc_errinfo_setf(ei, "config", "algorithm", PC_V_STORE,
				"cannot generate or keep a %s signing key in the database",
				ctx->cfg.algorithm);
out:
	if (err != PC_OK)
		keys_close(ctx);
	return err;
}

void keys_close(struct pc_ctx *ctx)
{
	struct keyset *ks = ctx->keys;

	if (ks == NULL)
		return;
	keys_entries_free(ks->v, ks->n);
	pthread_rwlock_destroy(&ks->lock);
	pthread_mutex_destroy(&ks->loading);
	free(ks);
	ctx->keys = NULL;
}

enum pc_err keys_rotate(struct pc_ctx *ctx, char kid[64])
{
	struct pc_signing_key_row *row;
	struct keys_load l;
	enum pc_err err;

	kid[0] = '\0';
	if (ctx->keys == NULL || ctx->keys->from_file)
		return PC_EINVAL;
	row = malloc(sizeof(*row));
	if (row == NULL)
		return PC_ENOMEM;
	err = keys_generate(ctx->cfg.algorithm, row);
	if (err == PC_OK)
		err = STORE_CALL(ctx->store, signing_key_add, row);
	if (err == PC_OK)
		memcpy(kid, row->kid, sizeof(row->kid));
	crypto_wipe(row, sizeof(*row));
	free(row);
	if (err == PC_OK && keys_read_store(ctx, &l) == PC_OK)
		keys_install(ctx, ctx->keys, &l);
	return err;
}

/* ---- using it -------------------------------------------------------------------------- */

static const struct pc_jwt_key *keys_find(const struct keyset *ks, const char *kid)
{
	for (size_t i = 0; i < ks->n; i++) {
		if (strcmp(ks->v[i].key.kid, kid) == 0)
			return &ks->v[i].key;
	}
	return NULL;
}

static bool keys_published(const struct pc_ctx *ctx, const struct jwt_claims_table *t)
{
	return ctx->keys != NULL && t != NULL && t->published;
}

enum pc_err keys_sign(struct pc_ctx *ctx, const struct jwt_claims_table *t,
		      const struct pc_user *u, const char *family, char *out, size_t outsz)
{
	struct keyset *ks = ctx->keys;
	struct jwt_extra x = { 0, NULL, false, false };
	int64_t now = time_now();
	enum pc_err err;

	if (!keys_published(ctx, t))
		return jwt_sign_family(&ctx->jwt, t, u->id, family, now, ctx->cfg.lifetime_seconds,
				       out, outsz, NULL);
	if (!config_jwt_extra_flags(ctx->cfg.jwt_extra_claims, &x.flags))
		x.flags = 0; /* validated at start-up */
	x.email = u->email;
	x.is_superuser = u->is_superuser;
	x.is_verified = u->is_verified;
	pthread_rwlock_rdlock(&ks->lock);
	err = ks->signer < ks->n ?
	      jwt_sign_extra(&ks->v[ks->signer].key, t, u->id, family, &x, now,
			     ctx->cfg.lifetime_seconds, out, outsz, NULL) :
	      PC_EINTERNAL;
	pthread_rwlock_unlock(&ks->lock);
	return err;
}

enum pc_err keys_verify(struct pc_ctx *ctx, const struct jwt_claims_table *t, const char *token,
			int64_t now, struct pc_jwt_claims *out)
{
	struct keyset *ks = ctx->keys;
	const struct pc_jwt_key *key;
	char kid[64];
	enum pc_err err = PC_EUNAUTHORIZED;

	if (!keys_published(ctx, t))
		return jwt_verify(&ctx->jwt, t, token, now, out);
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (!jwt_header_kid(token, kid) || kid[0] == '\0')
		return PC_EUNAUTHORIZED;
	pthread_rwlock_rdlock(&ks->lock);
	key = keys_find(ks, kid);
	if (key != NULL)
		err = jwt_verify(key, t, token, now, out);
	pthread_rwlock_unlock(&ks->lock);
	return err;
}

bool keys_expired(struct pc_ctx *ctx, const struct jwt_claims_table *t, const char *token,
		  int64_t now)
{
	struct keyset *ks = ctx->keys;
	const struct pc_jwt_key *key;
	char kid[64];
	bool expired = false;

	if (!keys_published(ctx, t))
		return jwt_expired(&ctx->jwt, t, token, now);
	if (!jwt_header_kid(token, kid) || kid[0] == '\0')
		return false;
	pthread_rwlock_rdlock(&ks->lock);
	key = keys_find(ks, kid);
	if (key != NULL)
		expired = jwt_expired(key, t, token, now);
	pthread_rwlock_unlock(&ks->lock);
	return expired;
}

json_t *keys_jwks_new(struct pc_ctx *ctx)
{
	struct keyset *ks = ctx->keys;
	json_t *keys = json_array(), *jwk;
	bool ok = keys != NULL;

	if (ks == NULL || !ok)
		return ok ? json_pack("{s:o}", "keys", keys) : NULL;
	pthread_rwlock_rdlock(&ks->lock);
	for (size_t i = 0; ok && i < ks->n; i++) {
		const struct pc_jwt_key *k = &ks->v[i].key;

		jwk = keys_public_jwk(k->pkey, k->alg);
		if (jwk == NULL) {
			ok = false;
			break;
		}
		ok = json_object_set_new(jwk, "kid", json_string(k->kid)) == 0 &&
		     json_object_set_new(jwk, "alg", json_string(k->alg)) == 0 &&
		     json_object_set_new(jwk, "use", json_string("sig")) == 0;
		if (!ok)
			json_decref(jwk);
		else
			ok = json_array_append_new(keys, jwk) == 0; /* takes jwk either way */
	}
	pthread_rwlock_unlock(&ks->lock);
	if (!ok) {
		json_decref(keys);
		return NULL;
	}
	return json_pack("{s:o}", "keys", keys);
}
