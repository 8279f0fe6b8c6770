/*
 * stats.c - counters for /metrics, one block per thread.
 *
 * Owns: the blocks (calloc'd on a thread's first bump, never freed: a
 * thread that ends leaves its counts behind, as a total must not go down)
 * and the list of them.
 *
 * Invariants:
 *   - only the owning thread writes its block, so a bump needs no atomic
 *     read-modify-write: a relaxed load and a relaxed store;
 *   - the list only grows, at its head, under stats_lock; a reader takes
 *     the head (acquire) and follows next pointers written before each
 *     block was published (release), so it never sees a half-made block;
 *   - reserved ranges never overlap and never pass STATS_SLOTS.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/base.h"

struct stats_block {
	_Atomic uint64_t v[STATS_SLOTS];
	struct stats_block *next;
};

static _Atomic(struct stats_block *) stats_head;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic long stats_next = STAT__NAMED;
static _Thread_local struct stats_block *stats_mine;

static struct stats_block *stats_block_make(void)
{
	struct stats_block *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	pthread_mutex_lock(&stats_lock);
	b->next = atomic_load_explicit(&stats_head, memory_order_relaxed);
	atomic_store_explicit(&stats_head, b, memory_order_release);
	pthread_mutex_unlock(&stats_lock);
	stats_mine = b;
	return b;
}

void stats_add(unsigned id, uint64_t n)
{
	struct stats_block *b = stats_mine;

	if (id >= STATS_SLOTS)
		return;
	if (b == NULL && (b = stats_block_make()) == NULL)
		return;
	atomic_store_explicit(&b->v[id],
			      atomic_load_explicit(&b->v[id], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

void stats_sum_range(unsigned first, size_t n, uint64_t *out)
{
	const struct stats_block *b;
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = 0;
	if (first >= STATS_SLOTS)
		return;
	if (n > STATS_SLOTS - first)
		n = STATS_SLOTS - first;
	for (b = atomic_load_explicit(&stats_head, memory_order_acquire); b != NULL; b = b->next) {
		for (i = 0; i < n; i++)
			out[i] += atomic_load_explicit(&b->v[first + i], memory_order_relaxed);
	}
}

uint64_t stats_sum(unsigned id)
{
	uint64_t v;

	stats_sum_range(id, 1, &v);
	return v;
}

long stats_reserve(size_t n)
{
	long first = atomic_load(&stats_next);

	do {
		if (n > (size_t)(STATS_SLOTS - first))
			return -1;
	} while (!atomic_compare_exchange_weak(&stats_next, &first, first + (long)n));
	return first;
}
