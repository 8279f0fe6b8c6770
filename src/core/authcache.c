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
 *     entry may live AUTHCACHE_CAP_MS (a safety cap). On PostgreSQL every
 *     write, of any instance, bumps the users it changed (its channel
 *     announces each, naming them: migration 016; this instance's own
 *     before the writer returns, others' as they arrive; every user when
 *     a notification names none or cannot be read); an entry may live the
 *     cap too while that channel was shown live within auth_cache_ms
 *     (pg.c's probe; store_cred_exact_at). Where the stamps
 *     cannot follow other processes' writes (a change log that cannot be
 *     read, the channel down, stalled or over TLS) an entry lives
 *     cfg.auth_cache_ms (1 s by default) at most. 0 turns the cache off.
 * A store that cannot report its writes (SQLite without WAL) is never
 * cached. PostgreSQL reports other instances' writes too (pg.c: LISTEN);
 * while that channel is down nothing new is cached, and what was cached
 * before stays good for the rest of its time to live (store.h, gen_grace).
 * Only successes are remembered: a bad token costs the full check every
 * time. Remembered users carry no password hash.
 *
 * Memory: one table for the process, AUTHCACHE_SETS x AUTHCACHE_WAYS entries
 * (32 768 credentials, 280 bytes each: a keyed SHA-256 of the credential,
 * never the credential itself, and the user's fields packed) and one 8-byte
 * word a set (128 KiB), allocated on first use and kept until the process
 * ends, its pages touched only as entries fill (on huge pages once half of
 * it has been filled: authcache_go_huge). Each credential has two
 * candidate sets (two-choice placement): a lookup checks both, a fill takes
 * a free way of the emptier one, else moves one of the four entries to its
 * own other set, else evicts the oldest of the four, so that clients
 * cycling through more credentials than one set holds still find theirs.
 *
 * The set's word (struct authcache, set) makes a hit cheap in cache misses: it holds
 * each way's tag, one byte of the keyed digest (plus a bit: in use), beside
 * the set's sequence count; the words of 8 sets share a cache line. A lookup
 * loads the words of both sets at once and reads only an entry whose tag
 * matches (1 in 256 for another credential's), whose check fields (digest,
 * owner, stamp, expiry, age) lead it. The tag compare is a plain one: a tag
 * is a byte of a digest keyed with the process's secret random key, so how
 * long it takes tells nothing about the credential's bytes; the decision
 * stays with the full digest compare, in constant time.
 *
 * Threads share the table, a seqlock a set: a writer (a fill, a move to the
 * other set) takes the set by making its count odd (compare and swap; it
 * waits for no store call, only for another writer's few stores), writes
 * entries and tags with relaxed atomic stores, and makes the count even
 * again (release). A reader never writes: it loads the word (acquire),
 * copies the candidate entry word by word (relaxed) into a local, then
 * (acquire fence) loads the word again; only an unchanged, even word lets it
 * use the copy, else it reads again, and after a few tries counts a miss
 * (the full check then runs: never a wrong answer, only a slower one). So a
 * credential checked on one thread is remembered on all, and hits on two
 * threads never write a shared cache line.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "store/store.h"

/* 16 384 sets of 2 entries: 32 768 credentials, ~8.8 MiB when all are filled
 * (pages are touched only as they fill). Room for 10 000 users' access JWTs
 * and their session cookies at once: at 8192 sets (16 384 credentials) a
 * server that checked the one kind evicted most of the other, and ~8 000 of
 * the next 10 000 checks of it were store reads. */
#define AUTHCACHE_SETS 16384 /* a power of two */
#define AUTHCACHE_WAYS 2
#define AUTHCACHE_TEXT 180  /* id, e-mail, username, full name, roles, back to back */
/* The longest an entry lives where the store's stamps follow every writer
 * (store_cred_exact): a cap for safety, beside the credential's own expiry. */
#define AUTHCACHE_CAP_MS (5 * 60 * 1000)
/* How often a reader copies an entry that a writer changed under it before
 * it counts a miss. */
#define AUTHCACHE_READ_TRIES 32

/* A remembered credential, compact: its keyed digest rather than its bytes,
 * and the user's fields packed. What a hit checks comes first (the first 64
 * bytes), the user's fields after. A user whose texts do not fit is not
 * remembered (checked in full each time). In the table an entry is words
 * (uint64_t[AUTHCACHE_WORDS]), read and written only whole, atomically
 * (authcache_load, authcache_store), so that a reader may copy one while a
 * writer changes it (the copy is then thrown away). */
struct authcache_entry {
	unsigned char digest[PC_SHA256_LEN]; /* SHA-256(key, kind, length, credential) */
	uint64_t owner;    /* ctx->serial; 0: empty */
	uint64_t stamp;    /* the store's credential stamp read before the fill's lookup */
	int64_t exp;       /* the credential's expiry, unix seconds */
	int64_t loaded_ms; /* monotonic */
	int64_t password_changed_at, created_at, updated_at;
	uint32_t bucket;   /* the user's stamp bucket (store_cred_bucket) */
	uint8_t flags;     /* AUTHCACHE_F_* */
	uint8_t n_email, n_username, n_full_name, n_roles;
	char text[AUTHCACHE_TEXT];
};

#define AUTHCACHE_WORDS ((sizeof(struct authcache_entry) + 7) / 8)
#define AUTHCACHE_OWNER_WORD (offsetof(struct authcache_entry, owner) / 8)
_Static_assert(sizeof(struct authcache_entry) == 8 * AUTHCACHE_WORDS, "an entry is whole words");
_Static_assert(offsetof(struct authcache_entry, owner) % 8 == 0, "owner is one word");
_Static_assert(offsetof(struct authcache_entry, loaded_ms) + 8 <= 64, "a hit's checks lead");

enum {
	AUTHCACHE_F_ACTIVE = 1,
	AUTHCACHE_F_SUPERUSER = 2,
	AUTHCACHE_F_VERIFIED = 4,
	AUTHCACHE_F_TOTP = 8,
};

/* A set's word: bits 0-31 its sequence count (odd while a writer holds the
 * set), bits 32 + 16 w .. 47 + 16 w way w's tag (authcache_tag; 0: the way
 * holds nothing). */
#define AUTHCACHE_SEQ_MASK 0xffffffffull
#define AUTHCACHE_TAG_SHIFT(w) (32 + 16 * (w))
_Static_assert(AUTHCACHE_WAYS * 16 <= 32, "the tags fit the word");

struct authcache {
	uint64_t set[AUTHCACHE_SETS]; /* 8 a cache line */
	uint64_t slot[AUTHCACHE_SETS][AUTHCACHE_WAYS][AUTHCACHE_WORDS];
};

static pthread_once_t authcache_once = PTHREAD_ONCE_INIT;
static struct authcache *authcache_all; /* set once, by authcache_init; 2 MiB aligned */
static struct pc_sha256_keyed authcache_key; /* the digest's key, a random block, absorbed */
static atomic_size_t authcache_fills;   /* entries written so far (authcache_put) */

#define AUTHCACHE_HUGE ((size_t)2 << 20) /* a huge page (x86-64, arm64 with 4 KiB pages) */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif

static void authcache_init(void)
{
	size_t sz = sizeof(struct authcache) + AUTHCACHE_HUGE;
	unsigned char key[PC_SHA256_BLOCK];
	void *m;

	if (crypto_random(key, sizeof(key)) != PC_OK ||
	    !crypto_sha256_keyed_init(&authcache_key, key)) {
		crypto_wipe(key, sizeof(key));
		return;
	}
	crypto_wipe(key, sizeof(key));
	/* fresh zero pages, touched only as entries fill; a huge page's worth
	 * more address space (not memory) to start on a huge page boundary */
	m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return;
	authcache_all = (struct authcache *)(((uintptr_t)m + AUTHCACHE_HUGE - 1) &
					     ~(uintptr_t)(AUTHCACHE_HUGE - 1));
}

/* Once half the table has been filled (by then nearly every one of its 4 KiB
 * pages is touched: no more memory), its whole huge pages become huge pages
 * (asked for, and collapsed at once where the kernel can: Linux 6.1). A hit
 * reads one random entry among 8.8 MiB: over 4 KiB pages most lookups missed
 * the TLB too, and its page walk cost more than the entry's own cache miss
 * (10 000 JWTs: authcache_get's share of the server's time ~5 % -> 3.4 %). A
 * refusal (an older kernel, THP off) changes nothing but the speed. */
static void authcache_go_huge(struct authcache *c)
{
	size_t len = sizeof(*c) & ~(AUTHCACHE_HUGE - 1);

	if (atomic_fetch_add_explicit(&authcache_fills, 1, memory_order_relaxed) + 1 !=
	    (size_t)AUTHCACHE_SETS * AUTHCACHE_WAYS / 2)
		return;
	if (madvise(c, len, MADV_HUGEPAGE) == 0)
		(void)madvise(c, len, MADV_COLLAPSE);
}

/* The process's table, made on first use (its pages touched only as entries
 * fill); NULL when it cannot be. Kept until the process ends. */
static struct authcache *authcache_table(void)
{
	pthread_once(&authcache_once, authcache_init);
	return authcache_all;
}

/* ---- the sets' words: tags and seqlock ------------------------------------------- */

static inline uint16_t authcache_tag_of(uint64_t word, size_t w)
{
	return (uint16_t)(word >> AUTHCACHE_TAG_SHIFT(w));
}

/* A credential's tag: a byte of its keyed digest that picks neither of its
 * sets (authcache_sets uses bytes 0-15), and the in-use bit. */
static inline uint16_t authcache_tag(const unsigned char d[PC_SHA256_LEN])
{
	return (uint16_t)(0x100 | d[16]);
}

/* word with its count one further (the tags kept) */
static inline uint64_t authcache_next(uint64_t word)
{
	return (word & ~AUTHCACHE_SEQ_MASK) | (uint64_t)(uint32_t)(word + 1);
}

static inline void authcache_pause(unsigned n)
{
	if (n % 64 == 63)
		sched_yield(); /* the writer holding the set may have lost its core */
#if defined(__x86_64__) || defined(__i386__)
	else
		__builtin_ia32_pause();
#endif
}

/* Takes set s for writing when no writer holds it: true then. */
static bool authcache_trylock(struct authcache *c, size_t s)
{
	uint64_t w = __atomic_load_n(&c->set[s], __ATOMIC_RELAXED);

	if ((w & 1) != 0 || !__atomic_compare_exchange_n(&c->set[s], &w, authcache_next(w), false,
							 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return false;
	/* the odd count is seen before any store of this writer to the set */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return true;
}

static void authcache_lock(struct authcache *c, size_t s)
{
	unsigned n;

	for (n = 0; !authcache_trylock(c, s); n++)
		authcache_pause(n);
}

/* Lets set s go: the count even again, after every store to the set. */
static void authcache_unlock(struct authcache *c, size_t s)
{
	uint64_t w = __atomic_load_n(&c->set[s], __ATOMIC_RELAXED);

	__atomic_store_n(&c->set[s], authcache_next(w), __ATOMIC_RELEASE);
}

/* Way w of set s (held) now has tag (0: nothing). */
static void authcache_set_tag(struct authcache *c, size_t s, size_t w, uint16_t tag)
{
	uint64_t word = __atomic_load_n(&c->set[s], __ATOMIC_RELAXED);

	word &= ~(0xffffull << AUTHCACHE_TAG_SHIFT(w));
	word |= (uint64_t)tag << AUTHCACHE_TAG_SHIFT(w);
	__atomic_store_n(&c->set[s], word, __ATOMIC_RELAXED);
}

/* The words of an entry into e, each read atomically. */
static void authcache_load(const uint64_t *from, struct authcache_entry *e)
{
	unsigned char *to = (unsigned char *)e;
	size_t i;

	for (i = 0; i < AUTHCACHE_WORDS; i++) {
		uint64_t x = __atomic_load_n(&from[i], __ATOMIC_RELAXED);

		memcpy(to + 8 * i, &x, 8);
	}
}

/* e into the words of an entry (its set held), each written atomically. */
static void authcache_store(uint64_t *to, const struct authcache_entry *e)
{
	const unsigned char *from = (const unsigned char *)e;
	size_t i;

	for (i = 0; i < AUTHCACHE_WORDS; i++) {
		uint64_t x;

		memcpy(&x, from + 8 * i, 8);
		__atomic_store_n(&to[i], x, __ATOMIC_RELAXED);
	}
}

/* Way w of set s (held) empty. */
static void authcache_clear(struct authcache *c, size_t s, size_t w)
{
	__atomic_store_n(&c->slot[s][w][AUTHCACHE_OWNER_WORD], 0, __ATOMIC_RELAXED);
	authcache_set_tag(c, s, w, 0);
}

static void authcache_prefetch(const uint64_t *entry)
{
	const char *p = (const char *)entry;
	size_t o;

	for (o = 0; o < sizeof(struct authcache_entry); o += 64)
		__builtin_prefetch(p + o);
	__builtin_prefetch(p + sizeof(struct authcache_entry) - 1);
}

/* A consistent copy of way w of set s into e while its tag is still tag:
 * false when it no longer is, or writers kept changing the set. */
static bool authcache_read(struct authcache *c, size_t s, size_t w, uint16_t tag,
			   struct authcache_entry *e)
{
	uint64_t before;
	unsigned n;

	for (n = 0; n < AUTHCACHE_READ_TRIES; n++) {
		before = __atomic_load_n(&c->set[s], __ATOMIC_ACQUIRE);
		if ((before & 1) != 0) {
			authcache_pause(n);
			continue;
		}
		if (authcache_tag_of(before, w) != tag)
			return false;
		authcache_load(c->slot[s][w], e);
		/* the copy's loads before the second load of the word: a writer's
		 * store seen in the copy means its odd count is seen here */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&c->set[s], __ATOMIC_RELAXED) == before)
			return true;
	}
	return false;
}

static int64_t authcache_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What an entry keeps of a credential: SHA-256 over the process's random
 * key (a whole block, absorbed once: authcache_key), the kind, the length
 * and the bytes. Equal digests mean equal credentials (finding two that
 * collide is finding a SHA-256 collision). */
static void authcache_digest(uintptr_t kind, const char *cred, size_t len,
			     unsigned char out[PC_SHA256_LEN])
{
	uint64_t head[2] = { (uint64_t)kind, (uint64_t)len };

	crypto_sha256_keyed(&authcache_key, head, sizeof(head), cred, len, out);
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

/* How long an entry lives: up to the cap while the store's stamps follow
 * every writer's writes, other processes' seen within auth_cache_ms
 * (store_cred_exact_at); else auth_cache_ms. now_ms: authcache_mono_ms. */
static int64_t authcache_ttl_ms(struct pc_ctx *ctx, int64_t now_ms)
{
	return store_cred_exact_at(ctx->store, now_ms, ctx->cfg.auth_cache_ms)
		       ? AUTHCACHE_CAP_MS
		       : ctx->cfg.auth_cache_ms;
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
	struct authcache_entry e;
	struct authcache *c;
	int64_t ttl_ms, now_ms;
	uint64_t gen, word[2];
	size_t set[2], cand[2 * AUTHCACHE_WAYS][2], n = 0, k, w;
	uint16_t tag;
	bool hit = false;

	if (ctx->cfg.auth_cache_ms <= 0 || len == 0 || len > PC_AUTHCACHE_CRED_MAX)
		return false;
	c = authcache_table();
	if (c == NULL)
		return false;
	authcache_digest(kind, cred, len, d);
	authcache_sets(d, &set[0], &set[1]);
	tag = authcache_tag(d);
	/* both sets' words asked for before either is used */
	__builtin_prefetch(&c->set[set[1]]);
	word[0] = __atomic_load_n(&c->set[set[0]], __ATOMIC_RELAXED);
	word[1] = __atomic_load_n(&c->set[set[1]], __ATOMIC_RELAXED);
	/* the ways whose tag matches (the word is read again, acquire, by
	 * authcache_read), their entries asked for at once, to arrive while
	 * the store's stamps are brought up to date */
	for (k = 0; k < 2; k++)
		for (w = 0; w < AUTHCACHE_WAYS; w++)
			if (authcache_tag_of(word[k], w) == tag) {
				authcache_prefetch(c->slot[set[k]][w]);
				cand[n][0] = set[k];
				cand[n++][1] = w;
			}
	/* other processes' writes: counted within auth_cache_ms (before the
	 * entry is read and its stamp checked) */
	store_cred_poll(ctx->store, ctx->cfg.auth_cache_ms / 2);
	if (!store_generation_use(ctx->store, &gen))
		return false;
	now_ms = authcache_mono_ms();
	ttl_ms = authcache_ttl_ms(ctx, now_ms);
	for (k = 0; k < n; k++) {
		if (!authcache_read(c, cand[k][0], cand[k][1], tag, &e))
			continue;
		if (e.owner != ctx->serial)
			continue;
		if (!crypto_ct_equal_words(e.digest, d, sizeof(d)))
			continue;
		/* the credential's own entry: it answers, or nothing does */
		hit = authcache_live(ctx, &e, now, now_ms, ttl_ms);
		if (hit)
			authcache_unpack(&e, out);
		break;
	}
	return hit;
}

/* Moves the live entry e, of way w of set at, to a dead way of its other
 * set, when that has one and can be had at once (sets a and b are held
 * already): true when way w is free now. One step of cuckoo hashing, so that
 * a fill finding both of its sets full rarely has to evict. */
static bool authcache_move_away(struct pc_ctx *ctx, struct authcache *c,
				const struct authcache_entry *e, size_t at, size_t w, size_t a,
				size_t b, int64_t now, int64_t now_ms, int64_t ttl_ms)
{
	struct authcache_entry o;
	size_t x, y, other, ow;
	bool held, moved = false;

	authcache_sets(e->digest, &x, &y);
	other = x == at ? y : x;
	held = other == a || other == b;
	if (!held && !authcache_trylock(c, other))
		return false;
	for (ow = 0; ow < AUTHCACHE_WAYS && !moved; ow++) {
		authcache_load(c->slot[other][ow], &o);
		if (!authcache_live(ctx, &o, now, now_ms, ttl_ms)) {
			authcache_store(c->slot[other][ow], e);
			authcache_set_tag(c, other, ow, authcache_tag(e->digest));
			authcache_clear(c, at, w);
			moved = true;
		}
	}
	if (!held)
		authcache_unlock(c, other);
	return moved;
}

/* Where a fill of digest d goes among the ways of sets a and b (both
 * held), as way (*way) of set (*at): the credential's own entry, else a
 * dead way (empty, another context's, voided or expired) of the set with
 * more of them, else a way whose entry could move to its other set, else
 * the oldest of the four. */
static void authcache_place(struct pc_ctx *ctx, struct authcache *c,
			    const unsigned char d[PC_SHA256_LEN], size_t a, size_t b, int64_t now,
			    int64_t now_ms, size_t *at, size_t *way)
{
	struct authcache_entry ways[2 * AUTHCACHE_WAYS];
	int64_t ttl_ms = authcache_ttl_ms(ctx, now_ms);
	size_t ndead[2] = { 0, 0 }, dead[2] = { 0, 0 }, w, old;

#define AUTHCACHE_SET_OF(w) ((w) < AUTHCACHE_WAYS ? a : b)
	for (w = 0; w < 2 * AUTHCACHE_WAYS; w++)
		authcache_load(c->slot[AUTHCACHE_SET_OF(w)][w % AUTHCACHE_WAYS], &ways[w]);
	*way = AUTHCACHE_WAYS; /* none yet */
	for (w = 0; w < 2 * AUTHCACHE_WAYS && *way == AUTHCACHE_WAYS; w++)
		if (ways[w].owner == ctx->serial && memcmp(ways[w].digest, d, PC_SHA256_LEN) == 0)
			*way = w;
	for (w = 0; w < 2 * AUTHCACHE_WAYS && *way == AUTHCACHE_WAYS; w++)
		if (!authcache_live(ctx, &ways[w], now, now_ms, ttl_ms) &&
		    ndead[w / AUTHCACHE_WAYS]++ == 0)
			dead[w / AUTHCACHE_WAYS] = w;
	if (*way == AUTHCACHE_WAYS && (ndead[0] > 0 || ndead[1] > 0))
		*way = ndead[0] >= ndead[1] ? dead[0] : dead[1];
	for (w = 0; w < 2 * AUTHCACHE_WAYS && *way == AUTHCACHE_WAYS; w++)
		if (authcache_move_away(ctx, c, &ways[w], AUTHCACHE_SET_OF(w), w % AUTHCACHE_WAYS,
					a, b, now, now_ms, ttl_ms))
			*way = w;
	if (*way == AUTHCACHE_WAYS) {
		old = 0;
		for (w = 1; w < 2 * AUTHCACHE_WAYS; w++)
			if (ways[w].loaded_ms < ways[old].loaded_ms)
				old = w;
		*way = old;
	}
	*at = AUTHCACHE_SET_OF(*way);
	*way %= AUTHCACHE_WAYS;
#undef AUTHCACHE_SET_OF
}

void authcache_put(struct pc_ctx *ctx, uintptr_t kind, const char *cred, size_t len,
		   int64_t exp, uint64_t stamp, const struct pc_user *u)
{
	unsigned char d[PC_SHA256_LEN];
	struct authcache_entry e;
	struct authcache *c;
	size_t set[2], bucket, at, way;
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
	/* both sets, in order (never the same: authcache_sets) */
	authcache_lock(c, set[0] < set[1] ? set[0] : set[1]);
	authcache_lock(c, set[0] < set[1] ? set[1] : set[0]);
	now_ms = authcache_mono_ms();
	authcache_place(ctx, c, d, set[0], set[1], time_now(), now_ms, &at, &way);
	memset(&e, 0, sizeof(e));
	if (authcache_pack(&e, u)) {
		e.owner = ctx->serial;
		e.stamp = stamp;
		e.bucket = (uint32_t)bucket;
		e.loaded_ms = now_ms;
		e.exp = exp;
		memcpy(e.digest, d, sizeof(d));
		authcache_store(c->slot[at][way], &e);
		authcache_set_tag(c, at, way, authcache_tag(d));
	} else {
		authcache_clear(c, at, way); /* a stale entry of the same credential must not stay */
	}
	authcache_unlock(c, set[0] < set[1] ? set[1] : set[0]);
	authcache_unlock(c, set[0] < set[1] ? set[0] : set[1]);
	authcache_go_huge(c);
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
