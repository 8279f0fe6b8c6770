/*
 * authcache.c - remembers, for every thread, credentials that were verified a
 * moment ago, so that a client presenting the same access JWT or session
 * cookie again does not pay the signature check, the claims parse and the
 * store read each time.
 *
 * What makes a remembered answer as good as a fresh one:
 *   - the key is the whole credential: a hit needs the same SHA-256 of a
 *     per-process random key, the kind, the length and the bytes, compared
 *     in constant time; the set is chosen by a hash keyed with a
 *     per-process random secret, so nobody outside can aim at one;
 *   - the credential's own expiry is checked on every hit, as the full
 *     check does (valid while now < exp);
 *   - the store's write generation: every committed write of this process
 *     (logout's denylist entry, a deactivation, a password change, a deleted
 *     session, ...) moves it, and an entry only counts while it has not moved
 *     since the generation read *before* the store lookup that filled it;
 *   - a time to live (cfg.auth_cache_ms, 1 s by default) bounds how long a
 *     write made by another process (the CLI, a hand edit) can go unseen;
 *     0 turns the cache off.
 * A store that cannot report its writes (SQLite without WAL) is never
 * cached. PostgreSQL reports other instances' writes too (pg.c: LISTEN);
 * while that channel is down nothing new is cached, and what was cached
 * before stays good for the rest of its time to live (store.h, gen_grace). Only successes are remembered: a bad token costs the full check
 * every time. Remembered users carry no password hash.
 *
 * Memory: one table for the process, AUTHCACHE_SETS x AUTHCACHE_WAYS entries
 * (16 384 credentials, ~270 bytes each: a keyed SHA-256 of the credential,
 * never the credential itself, and the user's fields packed), allocated on
 * first use and kept until the process ends, its pages touched only as
 * entries fill. Threads share it: set i is guarded by mutex
 * i % AUTHCACHE_LOCKS (held for a compare and a copy, never across a store
 * call), so a credential checked on one thread is remembered on all.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "store/store.h"

/* 8192 sets of 2 entries: 16 384 credentials, ~4.3 MiB when all are filled
 * (pages are touched only as they fill). */
#define AUTHCACHE_SETS 8192 /* a power of two */
#define AUTHCACHE_WAYS 2
#define AUTHCACHE_TEXT 180  /* id, e-mail, username, full name, roles, back to back */

/* A remembered credential, compact: its keyed digest rather than its bytes,
 * and the user's fields packed. A user whose texts do not fit is not
 * remembered (checked in full each time). */
struct authcache_entry {
	uint64_t owner;    /* ctx->serial; 0: empty */
	uint64_t gen;      /* the store's write generation when it was filled */
	int64_t loaded_ms; /* monotonic */
	int64_t exp;       /* the credential's expiry, unix seconds */
	int64_t password_changed_at, created_at, updated_at;
	unsigned char digest[PC_SHA256_LEN]; /* SHA-256(seed, kind, length, credential) */
	uint8_t flags;     /* AUTHCACHE_F_* */
	uint8_t n_email, n_username, n_full_name, n_roles;
	char text[AUTHCACHE_TEXT];
};

enum {
	AUTHCACHE_F_ACTIVE = 1,
	AUTHCACHE_F_SUPERUSER = 2,
	AUTHCACHE_F_VERIFIED = 4,
	AUTHCACHE_F_TOTP = 8,
};

#define AUTHCACHE_LOCKS 1024 /* a power of two; set i is guarded by lock i % AUTHCACHE_LOCKS */

struct authcache {
	pthread_mutex_t lock[AUTHCACHE_LOCKS];
	struct authcache_entry slot[AUTHCACHE_SETS][AUTHCACHE_WAYS];
};

static pthread_once_t authcache_once = PTHREAD_ONCE_INIT;
static struct authcache *authcache_all; /* set once, by authcache_init */
static uint64_t authcache_seed[2];
static unsigned char authcache_key_bytes[32]; /* the digest's key */

static void authcache_init(void)
{
	struct authcache *c;
	size_t i;

	if (crypto_random(authcache_seed, sizeof(authcache_seed)) != PC_OK ||
	    crypto_random(authcache_key_bytes, sizeof(authcache_key_bytes)) != PC_OK)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	for (i = 0; i < AUTHCACHE_LOCKS; i++)
		if (pthread_mutex_init(&c->lock[i], NULL) != 0) {
			while (i-- > 0)
				pthread_mutex_destroy(&c->lock[i]);
			free(c);
			return;
		}
	authcache_all = c;
}

/* The process's table, made on first use (its pages touched only as entries
 * fill); NULL when it cannot be. Kept until the process ends. */
static struct authcache *authcache_table(void)
{
	pthread_once(&authcache_once, authcache_init);
	return authcache_all;
}

static int64_t authcache_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The set of a credential: its length and its last 16 bytes (a JWT's
 * signature, a session token's random tail: what tells two credentials
 * apart), mixed with the process's random seed, so that nobody outside can
 * aim at a slot. The whole credential is compared on a hit. */
static size_t authcache_slot(uintptr_t kind, const char *cred, size_t len)
{
	uint64_t a = 0, b = 0, h;
	size_t n = len < 16 ? len : 16;
	char tail[16] = { 0 };

	memcpy(tail, cred + len - n, n);
	memcpy(&a, tail, 8);
	memcpy(&b, tail + 8, 8);
	h = (a ^ authcache_seed[0]) * 0x9e3779b97f4a7c15ull;
	h ^= (b ^ authcache_seed[1] ^ ((uint64_t)len << 8) ^ (uint64_t)kind) * 0xff51afd7ed558ccdull;
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 32;
	return (size_t)(h & (AUTHCACHE_SETS - 1));
}

/* What an entry keeps of a credential: SHA-256 over the process's random key,
 * the kind, the length and the bytes. Equal digests mean equal credentials
 * (finding two that collide is finding a SHA-256 collision). */
static void authcache_digest(uintptr_t kind, const char *cred, size_t len,
			     unsigned char out[PC_SHA256_LEN])
{
	unsigned char buf[sizeof(authcache_key_bytes) + 2 * sizeof(uint64_t) +
			  PC_AUTHCACHE_CRED_MAX];
	uint64_t k = (uint64_t)kind, n = (uint64_t)len;
	size_t o = 0;

	memcpy(buf, authcache_key_bytes, sizeof(authcache_key_bytes));
	o += sizeof(authcache_key_bytes);
	memcpy(buf + o, &k, sizeof(k));
	o += sizeof(k);
	memcpy(buf + o, &n, sizeof(n));
	o += sizeof(n);
	memcpy(buf + o, cred, len);
	crypto_sha256(buf, o + len, out);
	crypto_wipe(buf, o + len);
}

/* u's fields into e; false when its texts do not fit (e untouched). */
static bool authcache_pack(struct authcache_entry *e, const struct pc_user *u)
{
	size_t ni = strnlen(u->id, sizeof(u->id)), ne = strnlen(u->email, sizeof(u->email));
	size_t nu = strnlen(u->username, sizeof(u->username));
	size_t nf = strnlen(u->full_name, sizeof(u->full_name));
	size_t nr = strnlen(u->roles, sizeof(u->roles));
	char *t = e->text;

	if (ni != PC_ID_LEN || ne > 255 || nu > 255 || nf > 255 || nr > 255 ||
	    ni + ne + nu + nf + nr > sizeof(e->text))
		return false;
	memcpy(t, u->id, ni);
	t += ni;
	memcpy(t, u->email, ne);
	t += ne;
	memcpy(t, u->username, nu);
	t += nu;
	memcpy(t, u->full_name, nf);
	t += nf;
	memcpy(t, u->roles, nr);
	e->n_email = (uint8_t)ne;
	e->n_username = (uint8_t)nu;
	e->n_full_name = (uint8_t)nf;
	e->n_roles = (uint8_t)nr;
	e->flags = (uint8_t)((u->is_active ? AUTHCACHE_F_ACTIVE : 0) |
			     (u->is_superuser ? AUTHCACHE_F_SUPERUSER : 0) |
			     (u->is_verified ? AUTHCACHE_F_VERIFIED : 0) |
			     (u->totp_enabled ? AUTHCACHE_F_TOTP : 0));
	e->password_changed_at = u->password_changed_at;
	e->created_at = u->created_at;
	e->updated_at = u->updated_at;
	return true;
}

/* e's user into out (no password hash: none is kept). */
static void authcache_unpack(const struct authcache_entry *e, struct pc_user *out)
{
	const char *t = e->text;

	memset(out, 0, sizeof(*out));
	memcpy(out->id, t, PC_ID_LEN);
	t += PC_ID_LEN;
	memcpy(out->email, t, e->n_email);
	t += e->n_email;
	memcpy(out->username, t, e->n_username);
	t += e->n_username;
	memcpy(out->full_name, t, e->n_full_name);
	t += e->n_full_name;
	memcpy(out->roles, t, e->n_roles);
	out->is_active = (e->flags & AUTHCACHE_F_ACTIVE) != 0;
	out->is_superuser = (e->flags & AUTHCACHE_F_SUPERUSER) != 0;
	out->is_verified = (e->flags & AUTHCACHE_F_VERIFIED) != 0;
	out->totp_enabled = (e->flags & AUTHCACHE_F_TOTP) != 0;
	out->password_changed_at = e->password_changed_at;
	out->created_at = e->created_at;
	out->updated_at = e->updated_at;
}

uint64_t authcache_stamp(struct pc_ctx *ctx)
{
	uint64_t gen;

	if (ctx->cfg.auth_cache_ms <= 0 || !store_generation(ctx->store, &gen))
		return 0;
	return gen;
}

bool authcache_get(struct pc_ctx *ctx, uintptr_t kind, const char *cred, size_t len,
		   int64_t now, struct pc_user *out)
{
	unsigned char d[PC_SHA256_LEN];
	struct authcache_entry *set, *e;
	struct authcache *c;
	uint64_t gen;
	size_t w;

	bool hit = false;
	size_t i;

	if (ctx->cfg.auth_cache_ms <= 0 || len == 0 || len > PC_AUTHCACHE_CRED_MAX)
		return false;
	c = authcache_table();
	if (c == NULL)
		return false;
	i = authcache_slot(kind, cred, len);
	set = c->slot[i];
	authcache_digest(kind, cred, len, d);
	pthread_mutex_lock(&c->lock[i & (AUTHCACHE_LOCKS - 1)]);
	for (w = 0; w < AUTHCACHE_WAYS; w++) {
		e = &set[w];
		if (e->owner != ctx->serial)
			continue;
		if (!crypto_ct_equal_words(e->digest, d, sizeof(d)))
			continue;
		if (!store_generation_use(ctx->store, &gen) || gen != e->gen || now >= e->exp ||
		    authcache_mono_ms() - e->loaded_ms >= ctx->cfg.auth_cache_ms)
			break;
		authcache_unpack(e, out);
		hit = true;
		break;
	}
	pthread_mutex_unlock(&c->lock[i & (AUTHCACHE_LOCKS - 1)]);
	return hit;
}

void authcache_put(struct pc_ctx *ctx, uintptr_t kind, const char *cred, size_t len,
		   int64_t exp, uint64_t stamp, const struct pc_user *u)
{
	unsigned char d[PC_SHA256_LEN];
	struct authcache_entry *set, *e;
	struct authcache *c;
	size_t w;

	size_t i;

	if (stamp == 0 || len == 0 || len > PC_AUTHCACHE_CRED_MAX)
		return;
	c = authcache_table();
	if (c == NULL)
		return;
	i = authcache_slot(kind, cred, len);
	set = c->slot[i];
	authcache_digest(kind, cred, len, d);
	pthread_mutex_lock(&c->lock[i & (AUTHCACHE_LOCKS - 1)]);
	/* the credential's own entry, else an empty one, else the older */
	e = NULL;
	for (w = 0; w < AUTHCACHE_WAYS && e == NULL; w++)
		if (set[w].owner == ctx->serial && memcmp(set[w].digest, d, sizeof(d)) == 0)
			e = &set[w];
	for (w = 0; w < AUTHCACHE_WAYS && e == NULL; w++)
		if (set[w].owner != ctx->serial)
			e = &set[w];
	if (e == NULL)
		e = set[0].loaded_ms <= set[1].loaded_ms ? &set[0] : &set[1];
	if (authcache_pack(e, u)) {
		e->owner = ctx->serial;
		e->gen = stamp;
		e->loaded_ms = authcache_mono_ms();
		e->exp = exp;
		memcpy(e->digest, d, sizeof(d));
	} else {
		e->owner = 0; /* a stale entry of the same credential must not stay */
	}
	pthread_mutex_unlock(&c->lock[i & (AUTHCACHE_LOCKS - 1)]);
}

enum pc_err authcache_through(struct pc_ctx *ctx, uintptr_t kind, const char *cred, size_t len,
			      authcache_check_fn *check, const void *arg, struct pc_user *out)
{
	int64_t now = time_now(), exp = 0;
	uint64_t stamp;
	enum pc_err err;

	if (authcache_get(ctx, kind, cred, len, now, out)) {
		stats_add(STAT_AUTHCACHE_HIT, 1);
		return PC_OK;
	}
	stats_add(STAT_AUTHCACHE_MISS, 1);
	stamp = authcache_stamp(ctx); /* before the read: a write after it voids the entry */
	err = check(ctx, arg, cred, now, out, &exp);
	if (err != PC_OK)
		return err;
	crypto_wipe(out->hashed_password, sizeof(out->hashed_password));
	authcache_put(ctx, kind, cred, len, exp, stamp, out);
	return PC_OK;
}
