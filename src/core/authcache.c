/*
 * authcache.c - remembers, for every thread, credentials that were verified a
 * moment ago, so that a client presenting the same access JWT or session
 * cookie again does not pay the signature check, the claims parse and the
 * store read each time.
 *
 * What makes a remembered answer as good as a fresh one:
 *   - the key is the whole credential: a hit needs the same SHA-256 of a
 *     per-process random key, the kind, the length and the bytes, compared
 *     in constant time; the two sets a credential may live in are taken
 *     from that keyed digest, so nobody outside can aim at one;
 *   - the credential's own expiry is checked on every hit, as the full
 *     check does (valid while now < exp);
 *   - the store's per-user stamps (store.h, store_cred_*): a committed write
 *     that may change what the check of a user reads (logout's denylist
 *     entry, a deactivation, a password change, a deleted session, ...)
 *     bumps that user before the writer answers, and an entry only counts
 *     while its user's bucket (and the bump of all) has not moved past the
 *     stamp read *before* the store lookup that filled it;
 *   - on SQLite, other processes' writes (the CLI, a hand edit, another
 *     server on the file) reach the stamps through the change log of
 *     migration 015, read at least every auth_cache_ms / 2 while entries are
 *     used (store_cred_poll): so they count within auth_cache_ms, and an
 *     entry may live AUTHCACHE_CAP_MS (a safety cap). Where the stamps cannot
 *     follow other processes' writes (PostgreSQL, where every write moves all
 *     of them; a change log that cannot be read) an entry lives
 *     cfg.auth_cache_ms (1 s by default) at most. 0 turns the cache off.
 * A store that cannot report its writes (SQLite without WAL) is never
 * cached. PostgreSQL reports other instances' writes too (pg.c: LISTEN);
 * while that channel is down nothing new is cached, and what was cached
 * before stays good for the rest of its time to live (store.h, gen_grace).
 * Only successes are remembered: a bad token costs the full check every
 * time. Remembered users carry no password hash.
 *
 * Memory: one table for the process, AUTHCACHE_SETS x AUTHCACHE_WAYS entries
 * (16 384 credentials, ~270 bytes each: a keyed SHA-256 of the credential,
 * never the credential itself, and the user's fields packed), allocated on
 * first use and kept until the process ends, its pages touched only as
 * entries fill. Each credential has two candidate sets (two-choice
 * placement): a lookup checks both, a fill takes a free way of the emptier
 * one, else moves one of the four entries to its own other set, else
 * evicts the oldest of the four, so that clients cycling through more
 * credentials than one set holds still find theirs. Threads share it: set i
 * is guarded by mutex i % AUTHCACHE_LOCKS (held for a compare and a copy,
 * never across a store call), so a credential checked on one thread is
 * remembered on all.
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
/* The longest an entry lives where the store's stamps follow every writer
 * (store_cred_exact): a cap for safety, beside the credential's own expiry. */
#define AUTHCACHE_CAP_MS (5 * 60 * 1000)

/* A remembered credential, compact: its keyed digest rather than its bytes,
 * and the user's fields packed. A user whose texts do not fit is not
 * remembered (checked in full each time). */
struct authcache_entry {
	uint64_t owner;    /* ctx->serial; 0: empty */
	uint64_t stamp;    /* the store's credential stamp read before the fill's lookup */
	int64_t loaded_ms; /* monotonic */
	int64_t exp;       /* the credential's expiry, unix seconds */
	int64_t password_changed_at, created_at, updated_at;
	unsigned char digest[PC_SHA256_LEN]; /* SHA-256(key, kind, length, credential) */
	uint32_t bucket;   /* the user's stamp bucket (store_cred_bucket) */
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
static unsigned char authcache_key_bytes[32]; /* the digest's key */

static void authcache_init(void)
{
	struct authcache *c;
	size_t i;

	if (crypto_random(authcache_key_bytes, sizeof(authcache_key_bytes)) != PC_OK)
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

/* The two sets a credential may live in: two independent pieces of its
 * keyed digest (so the process's random key chooses them), never equal. */
static void authcache_sets(const unsigned char d[PC_SHA256_LEN], size_t *a, size_t *b)
{
	uint64_t x, y;

	memcpy(&x, d, sizeof(x));
	memcpy(&y, d + sizeof(x), sizeof(y));
	*a = (size_t)(x & (AUTHCACHE_SETS - 1));
	*b = (size_t)(y & (AUTHCACHE_SETS - 1));
	if (*b == *a)
		*b ^= 1;
}

/* How long an entry may live over this store. */
static int64_t authcache_ttl_ms(struct pc_ctx *ctx)
{
	return store_cred_exact(ctx->store) ? AUTHCACHE_CAP_MS : ctx->cfg.auth_cache_ms;
}

/* Whether e still answers for its credential at now (its digest aside). */
static bool authcache_live(struct pc_ctx *ctx, const struct authcache_entry *e, int64_t now,
			   int64_t now_ms, int64_t ttl_ms)
{
	return e->owner == ctx->serial && store_cred_fresh(ctx->store, e->stamp, e->bucket) &&
	       now < e->exp && now_ms - e->loaded_ms < ttl_ms;
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
	return store_cred_stamp(ctx->store); /* from 1: never 0 */
}

bool authcache_get(struct pc_ctx *ctx, uintptr_t kind, const char *cred, size_t len,
		   int64_t now, struct pc_user *out)
{
	unsigned char d[PC_SHA256_LEN];
	struct authcache_entry *e;
	struct authcache *c;
	int64_t ttl_ms, now_ms;
	uint64_t gen;
	size_t set[2], k, w;
	bool hit = false, found = false;

	if (ctx->cfg.auth_cache_ms <= 0 || len == 0 || len > PC_AUTHCACHE_CRED_MAX)
		return false;
	c = authcache_table();
	if (c == NULL)
		return false;
	/* other processes' writes: counted within auth_cache_ms */
	store_cred_poll(ctx->store, ctx->cfg.auth_cache_ms / 2);
	if (!store_generation_use(ctx->store, &gen))
		return false;
	ttl_ms = authcache_ttl_ms(ctx);
	now_ms = authcache_mono_ms();
	authcache_digest(kind, cred, len, d);
	authcache_sets(d, &set[0], &set[1]);
	for (k = 0; k < 2 && !found; k++) {
		pthread_mutex_lock(&c->lock[set[k] & (AUTHCACHE_LOCKS - 1)]);
		for (w = 0; w < AUTHCACHE_WAYS; w++) {
			e = &c->slot[set[k]][w];
			if (e->owner != ctx->serial)
				continue;
			if (!crypto_ct_equal_words(e->digest, d, sizeof(d)))
				continue;
			found = true;
			if (!authcache_live(ctx, e, now, now_ms, ttl_ms))
				break;
			authcache_unpack(e, out);
			hit = true;
			break;
		}
		pthread_mutex_unlock(&c->lock[set[k] & (AUTHCACHE_LOCKS - 1)]);
	}
	return hit;
}

/* Moves the live entry e of set at to a dead way of its other set, when
 * that has one and its lock can be had at once (sets a and b are locked
 * already): true when e is free now. One step of cuckoo hashing, so that a
 * fill finding both of its sets full rarely has to evict. */
static bool authcache_move_away(struct pc_ctx *ctx, struct authcache *c,
				struct authcache_entry *e, size_t at, size_t a, size_t b,
				int64_t now, int64_t now_ms, int64_t ttl_ms)
{
	size_t x, y, other, lk, w;
	bool held, moved = false;

	authcache_sets(e->digest, &x, &y);
	other = x == at ? y : x;
	lk = other & (AUTHCACHE_LOCKS - 1);
	held = lk == (a & (AUTHCACHE_LOCKS - 1)) || lk == (b & (AUTHCACHE_LOCKS - 1));
	if (!held && pthread_mutex_trylock(&c->lock[lk]) != 0)
		return false;
	for (w = 0; w < AUTHCACHE_WAYS && !moved; w++)
		if (!authcache_live(ctx, &c->slot[other][w], now, now_ms, ttl_ms)) {
			c->slot[other][w] = *e;
			e->owner = 0;
			moved = true;
		}
	if (!held)
		pthread_mutex_unlock(&c->lock[lk]);
	return moved;
}

/* Where a fill of digest d goes among the ways of sets a and b (both
 * locked): the credential's own entry, else a dead way (empty, another
 * context's, voided or expired) of the set with more of them, else a way
 * whose entry could move to its other set, else the oldest of the four. */
static struct authcache_entry *authcache_place(struct pc_ctx *ctx, struct authcache *c,
					       const unsigned char d[PC_SHA256_LEN], size_t a,
					       size_t b, int64_t now, int64_t now_ms)
{
	struct authcache_entry *ways[2 * AUTHCACHE_WAYS], *dead[2] = { NULL, NULL }, *old;
	int64_t ttl_ms = authcache_ttl_ms(ctx);
	size_t ndead[2] = { 0, 0 }, w;

	for (w = 0; w < AUTHCACHE_WAYS; w++) {
		ways[w] = &c->slot[a][w];
		ways[AUTHCACHE_WAYS + w] = &c->slot[b][w];
	}
	for (w = 0; w < 2 * AUTHCACHE_WAYS; w++)
		if (ways[w]->owner == ctx->serial &&
		    memcmp(ways[w]->digest, d, PC_SHA256_LEN) == 0)
			return ways[w];
	for (w = 0; w < 2 * AUTHCACHE_WAYS; w++)
		if (!authcache_live(ctx, ways[w], now, now_ms, ttl_ms)) {
			ndead[w / AUTHCACHE_WAYS]++;
			if (dead[w / AUTHCACHE_WAYS] == NULL)
				dead[w / AUTHCACHE_WAYS] = ways[w];
		}
	if (ndead[0] > 0 || ndead[1] > 0)
		return ndead[0] >= ndead[1] ? dead[0] : dead[1];
	for (w = 0; w < 2 * AUTHCACHE_WAYS; w++)
		if (authcache_move_away(ctx, c, ways[w], w < AUTHCACHE_WAYS ? a : b, a, b, now,
					now_ms, ttl_ms))
			return ways[w];
	old = ways[0];
	for (w = 1; w < 2 * AUTHCACHE_WAYS; w++)
		if (ways[w]->loaded_ms < old->loaded_ms)
			old = ways[w];
	return old;
}

void authcache_put(struct pc_ctx *ctx, uintptr_t kind, const char *cred, size_t len,
		   int64_t exp, uint64_t stamp, const struct pc_user *u)
{
	unsigned char d[PC_SHA256_LEN];
	struct authcache_entry *e;
	struct authcache *c;
	size_t set[2], lk[2], bucket;
	int64_t now_ms;

	if (stamp == 0 || len == 0 || len > PC_AUTHCACHE_CRED_MAX)
		return;
	c = authcache_table();
	if (c == NULL)
		return;
	bucket = store_cred_bucket(u->id, strnlen(u->id, sizeof(u->id)));
	if (!store_cred_fresh(ctx->store, stamp, bucket))
		return; /* the user was written since the stamp: what was read may be old */
	authcache_digest(kind, cred, len, d);
	authcache_sets(d, &set[0], &set[1]);
	/* both sets' locks, in order (one when they share it) */
	lk[0] = set[0] & (AUTHCACHE_LOCKS - 1);
	lk[1] = set[1] & (AUTHCACHE_LOCKS - 1);
	if (lk[1] < lk[0]) {
		size_t t = lk[0];

		lk[0] = lk[1];
		lk[1] = t;
	}
	pthread_mutex_lock(&c->lock[lk[0]]);
	if (lk[1] != lk[0])
		pthread_mutex_lock(&c->lock[lk[1]]);
	now_ms = authcache_mono_ms();
	e = authcache_place(ctx, c, d, set[0], set[1], time_now(), now_ms);
	if (authcache_pack(e, u)) {
		e->owner = ctx->serial;
		e->stamp = stamp;
		e->bucket = (uint32_t)bucket;
		e->loaded_ms = now_ms;
		e->exp = exp;
		memcpy(e->digest, d, sizeof(d));
	} else {
		e->owner = 0; /* a stale entry of the same credential must not stay */
	}
	if (lk[1] != lk[0])
		pthread_mutex_unlock(&c->lock[lk[1]]);
	pthread_mutex_unlock(&c->lock[lk[0]]);
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
