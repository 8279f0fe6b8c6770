/*
 * live.c - the live configuration: the copy of a running server's settings
 * that a reload (SIGHUP, serve.c -> ctx_reload) publishes, read by whoever
 * uses a setting a reload may change (ratelimit.c, cors.c, message.c).
 * Depends on nothing of the core but its types, so every reader may use it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* ---- the live configuration: what a reload changes while requests run --------------- */

/* A published configuration never changes: a request that read the
 * pointer keeps a whole, consistent configuration however many reloads
 * follow. Each copy keeps its predecessor in prev; a predecessor is freed
 * once it has been replaced for CONFIG_LIVE_GRACE_US (a reader holds its
 * pointer for one function that never waits on anything: ratelimit.c,
 * cors.c, message.c), and the rest by config_live_forget when the server is
 * gone. A base is a running server's own configuration (ctx->cfg); a
 * reader gets the latest copy published for it, or the base itself. */
struct config_snap {
	struct pc_config cfg;
	struct config_snap *prev;
	int64_t replaced_us; /* time_mono_us when a newer copy took its place */
};

#define CONFIG_LIVE_GRACE_US (600 * INT64_C(1000000))

/* Frees the copies behind s that were replaced over the grace ago (each
 * one behind was replaced before the one in front of it). */
static void snap_prune(struct config_snap *s, int64_t now_us)
{
	struct config_snap *old, *prev;

	for (; s != NULL && s->prev != NULL; s = s->prev) {
		if (s->prev->replaced_us + CONFIG_LIVE_GRACE_US > now_us)
			continue;
		old = s->prev;
		s->prev = NULL;
		for (; old != NULL; old = prev) {
			prev = old->prev;
			crypto_wipe(old, sizeof(*old));
			free(old);
		}
		return;
	}
}

#define CONFIG_LIVE_MAX 8

static struct {
	_Atomic(const struct pc_config *) base;
	_Atomic(struct config_snap *) snap;
} live[CONFIG_LIVE_MAX];
static atomic_int live_used; /* 0: nothing published, the common case */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;

const struct pc_config *config_live(const struct pc_config *base)
{
	if (atomic_load_explicit(&live_used, memory_order_acquire) == 0)
		return base;
	for (size_t i = 0; i < CONFIG_LIVE_MAX; i++) {
		if (atomic_load_explicit(&live[i].base, memory_order_acquire) == base) {
			struct config_snap *s = atomic_load_explicit(&live[i].snap,
								     memory_order_acquire);

			return s != NULL ? &s->cfg : base;
		}
	}
	return base;
}

enum pc_err config_live_publish(const struct pc_config *base, const struct pc_config *next)
{
	struct config_snap *s = calloc(1, sizeof(*s));
	size_t i, free_i = CONFIG_LIVE_MAX;

	if (s == NULL)
		return PC_ENOMEM;
	memcpy(&s->cfg, next, sizeof(s->cfg));
	pthread_mutex_lock(&live_mu);
	for (i = 0; i < CONFIG_LIVE_MAX; i++) {
		const struct pc_config *b = atomic_load(&live[i].base);

		if (b == base)
			break;
		if (b == NULL && free_i == CONFIG_LIVE_MAX)
			free_i = i;
	}
	if (i == CONFIG_LIVE_MAX && free_i == CONFIG_LIVE_MAX) {
		pthread_mutex_unlock(&live_mu);
		free(s);
		return PC_ETOOBIG;
	}
	if (i == CONFIG_LIVE_MAX) {
		i = free_i;
		s->prev = NULL;
		atomic_store_explicit(&live[i].snap, s, memory_order_release);
		atomic_store_explicit(&live[i].base, base, memory_order_release);
		atomic_fetch_add(&live_used, 1);
	} else {
		int64_t now_us = time_mono_us();

		s->prev = atomic_load(&live[i].snap);
		if (s->prev != NULL)
			s->prev->replaced_us = now_us;
		atomic_store_explicit(&live[i].snap, s, memory_order_release);
		snap_prune(s, now_us);
	}
	pthread_mutex_unlock(&live_mu);
	return PC_OK;
}

void config_live_forget(const struct pc_config *base)
{
	pthread_mutex_lock(&live_mu);
	for (size_t i = 0; i < CONFIG_LIVE_MAX; i++) {
		struct config_snap *s, *prev;

		if (atomic_load(&live[i].base) != base)
			continue;
		atomic_store(&live[i].base, NULL);
		atomic_fetch_sub(&live_used, 1);
		for (s = atomic_exchange(&live[i].snap, NULL); s != NULL; s = prev) {
			prev = s->prev;
			crypto_wipe(s, sizeof(*s));
			free(s);
		}
	}
	pthread_mutex_unlock(&live_mu);
}
