/*
 * authcache.c - remembers, per thread, credentials that were verified a
 * moment ago, so that a client presenting the same access JWT or session
 * cookie again does not pay the signature check, the claims parse and the
 * store read each time.
 *
 * What makes a remembered answer as good as a fresh one:
 *   - the key is the whole credential: a hit needs the same kind, the same
 *     length and the same bytes, compared in constant time (no early exit
 *     that would time how much of a valid token a guess got right); the
 *     slot is chosen by a hash keyed with a per-process random secret;
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
 * Memory: AUTHCACHE_SLOTS entries per thread that authenticates, allocated
 * on first use and freed when the thread ends (a few hundred KiB, touched
 * only as slots fill).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "store/store.h"

#define AUTHCACHE_SLOTS 128 /* a power of two */

struct authcache_entry {
	uint64_t owner;    /* ctx->serial; 0: empty */
	uint64_t gen;      /* the store's write generation when it was filled */
	int64_t loaded_ms; /* monotonic */
	int64_t exp;       /* the credential's expiry, unix seconds */
	uintptr_t kind;
	size_t len;
	char cred[PC_AUTHCACHE_CRED_MAX];
	struct pc_user user;
};

struct authcache {
	struct authcache_entry slot[AUTHCACHE_SLOTS];
};

static pthread_key_t authcache_key;
static pthread_once_t authcache_once = PTHREAD_ONCE_INIT;
static bool authcache_key_ok;
static uint64_t authcache_seed[2];
static _Thread_local struct authcache *authcache_mine;

static void authcache_free(void *p)
{
	struct authcache *c = p;

	if (c == NULL)
		return;
	crypto_wipe(c, sizeof(*c));
	free(c);
	authcache_mine = NULL;
}

static void authcache_init(void)
{
	authcache_key_ok = pthread_key_create(&authcache_key, authcache_free) == 0 &&
			   crypto_random(authcache_seed, sizeof(authcache_seed)) == PC_OK;
}

/* This thread's table, made on first use; NULL when it cannot be. */
static struct authcache *authcache_table(void)
{
	struct authcache *c = authcache_mine;

	if (c != NULL)
		return c;
	pthread_once(&authcache_once, authcache_init);
	if (!authcache_key_ok)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	if (pthread_setspecific(authcache_key, c) != 0) {
		free(c);
		return NULL;
	}
	authcache_mine = c;
	return c;
}

static int64_t authcache_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The slot of a credential: its length and its last 16 bytes (a JWT's
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
	return (size_t)(h & (AUTHCACHE_SLOTS - 1));
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
	struct authcache_entry *e;
	struct authcache *c;
	uint64_t gen;

	if (ctx->cfg.auth_cache_ms <= 0 || len == 0 || len > sizeof(e->cred))
		return false;
	c = authcache_mine;
	if (c == NULL)
		return false;
	e = &c->slot[authcache_slot(kind, cred, len)];
	if (e->owner != ctx->serial || e->kind != kind || e->len != len)
		return false;
	if (!store_generation_use(ctx->store, &gen) || gen != e->gen || now >= e->exp ||
	    authcache_mono_ms() - e->loaded_ms >= ctx->cfg.auth_cache_ms)
		return false;
	if (!crypto_ct_equal_words(e->cred, cred, len))
		return false;
	*out = e->user;
	return true;
}

void authcache_put(struct pc_ctx *ctx, uintptr_t kind, const char *cred, size_t len,
		   int64_t exp, uint64_t stamp, const struct pc_user *u)
{
	struct authcache_entry *e;
	struct authcache *c;

	if (stamp == 0 || len == 0 || len > sizeof(e->cred))
		return;
	c = authcache_table();
	if (c == NULL)
		return;
	e = &c->slot[authcache_slot(kind, cred, len)];
	e->owner = ctx->serial;
	e->gen = stamp;
	e->loaded_ms = authcache_mono_ms();
	e->exp = exp;
	e->kind = kind;
	e->len = len;
	memcpy(e->cred, cred, len);
	e->user = *u;
	crypto_wipe(e->user.hashed_password, sizeof(e->user.hashed_password));
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
