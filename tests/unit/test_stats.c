/*
 * test_stats.c - the per-thread counters of /metrics: sums over threads,
 * threads that ended still count, reserved ranges, bounds.
 */
#include <pthread.h>

#include <criterion/criterion.h>

#include "core/core.h"

#define THREADS 4
#define BUMPS 10000

static void *bump_many(void *arg)
{
	unsigned id = *(const unsigned *)arg;

	for (int i = 0; i < BUMPS; i++)
		stats_add(id, 1);
	stats_add(STAT_HASH_WAIT_US, 5);
	return NULL;
}

Test(stats, bumps_of_every_thread_add_up_even_after_the_threads_end)
{
	pthread_t t[THREADS];
	unsigned id = STAT_LOGIN_FAILED;
	uint64_t before = stats_sum(id), wait_before = stats_sum(STAT_HASH_WAIT_US);

	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, bump_many, &id), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(stats_sum(id) - before, (uint64_t)THREADS * BUMPS);
	cr_assert_eq(stats_sum(STAT_HASH_WAIT_US) - wait_before, (uint64_t)THREADS * 5);
	stats_add(id, 3); /* and this thread's own block */
	cr_assert_eq(stats_sum(id) - before, (uint64_t)THREADS * BUMPS + 3);
}

Test(stats, reserved_ranges_do_not_overlap_and_the_slots_run_out)
{
	long a = stats_reserve(10), b = stats_reserve(20);
	uint64_t v[10];

	cr_assert_geq(a, STAT__NAMED);
	cr_assert_geq(b, a + 10);
	stats_add((unsigned)a + 9, 7);
	stats_sum_range((unsigned)a, 10, v);
	cr_assert_eq(v[9], 7);
	cr_assert_eq(v[0], 0);
	cr_assert_eq(stats_sum((unsigned)b), 0);
	cr_assert_eq(stats_reserve(STATS_SLOTS), -1);
	/* what is left can still be taken, and then nothing */
	cr_assert_geq(stats_reserve((size_t)(STATS_SLOTS - b - 20)), b + 20);
	cr_assert_eq(stats_reserve(1), -1);
}

Test(stats, slots_past_the_end_are_ignored)
{
	uint64_t v[4] = { 9, 9, 9, 9 };

	stats_add(STATS_SLOTS, 1);
	stats_add(STATS_SLOTS + 100, 1);
	stats_sum_range(STATS_SLOTS - 2, 4, v);
	cr_assert_eq(v[2], 0);
	cr_assert_eq(v[3], 0);
	cr_assert_eq(stats_sum(STATS_SLOTS), 0);
}
