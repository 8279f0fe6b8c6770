/*
 * test_workers.c - the bounded pool: every job runs, FIFO order on one
 * thread, PC_EBUSY when the queue is full, free drains the queue; a write
 * pool counts its jobs in its own stats.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/core.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int ran;
static int started;
static bool released;
static int seen[64];

static void count_job(void *arg)
{
	pthread_mutex_lock(&lock);
	ran += *(int *)arg;
	pthread_mutex_unlock(&lock);
}

/* Blocks until the test sets `released`. */
static void blocking_job(void *arg)
{
	pthread_mutex_lock(&lock);
	started++;
	pthread_cond_broadcast(&cond);
	while (!released)
		pthread_cond_wait(&cond, &lock);
	ran++;
	pthread_mutex_unlock(&lock);
}

static void order_job(void *arg)
{
	pthread_mutex_lock(&lock);
	seen[ran++] = (int)(intptr_t)arg;
	pthread_mutex_unlock(&lock);
}

static void reset(void)
{
	ran = 0;
	started = 0;
	released = false;
	memset(seen, 0, sizeof(seen));
}

static void wait_started(int n)
{
	pthread_mutex_lock(&lock);
	while (started < n)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static void release_all(void)
{
	pthread_mutex_lock(&lock);
	released = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

Test(workers, runs_every_submitted_job, .init = reset)
{
	struct pc_workers *w;
	static int one = 1;
	int i, accepted = 0;

	cr_assert_eq(workers_new(4, 1000, 0, &w), PC_OK);
	cr_assert_eq(workers_count(w), 4);
	for (i = 0; i < 500; i++) {
		if (workers_submit(w, count_job, &one) == PC_OK)
			accepted++;
	}
	cr_assert_eq(accepted, 500);
	workers_free(w);
	cr_assert_eq(ran, 500);
}

Test(workers, one_thread_runs_jobs_in_submission_order, .init = reset)
{
	struct pc_workers *w;
	intptr_t i;

	cr_assert_eq(workers_new(1, 64, 0, &w), PC_OK);
	cr_assert_eq(workers_submit(w, blocking_job, NULL), PC_OK);
	wait_started(1);
	for (i = 1; i <= 40; i++)
		cr_assert_eq(workers_submit(w, order_job, (void *)i), PC_OK);
	release_all();
	workers_free(w);
	cr_assert_eq(ran, 41);
	/* seen[0] was taken by the blocking job's increment of ran */
	for (i = 1; i <= 40; i++)
		cr_assert_eq(seen[i], i, "position %ld holds %d", (long)i, seen[i]);
}

/* Issue 13, item 1: one client's flood does not queue the others behind it,
 * even on one thread: after the flooding client's job, another client's. */
Test(workers, a_clients_flood_takes_turns_with_the_other_clients, .init = reset)
{
	struct pc_workers *w;
	intptr_t i;
	const int want[] = { 100, 1, 200, 2, 3, 4, 5 };

	cr_assert_eq(workers_new(1, 64, 0, &w), PC_OK);
	cr_assert_eq(workers_submit_keyed(w, 7, 0, blocking_job, NULL), PC_OK);
	wait_started(1);
	for (i = 1; i <= 5; i++)
		cr_assert_eq(workers_submit_keyed(w, 7, 0, order_job, (void *)i), PC_OK);
	cr_assert_eq(workers_submit_keyed(w, 8, 0, order_job, (void *)100), PC_OK);
	cr_assert_eq(workers_submit_keyed(w, 9, 0, order_job, (void *)200), PC_OK);
	release_all();
	workers_free(w);
	cr_assert_eq(ran, 8);
	for (i = 0; i < 7; i++)
		cr_assert_eq(seen[i + 1], want[i], "position %ld holds %d", (long)i + 1, seen[i + 1]);
}

/* A client's cap counts its jobs queued and running, no other client's. */
Test(workers, a_clients_cap_counts_its_queued_and_running_jobs, .init = reset)
{
	struct pc_workers *w;

	cr_assert_eq(workers_new(2, 64, 0, &w), PC_OK);
	cr_assert_eq(workers_submit_keyed(w, 7, 0, blocking_job, NULL), PC_OK);
	cr_assert_eq(workers_submit_keyed(w, 7, 0, blocking_job, NULL), PC_OK);
	wait_started(2);
	cr_assert_eq(workers_submit_keyed(w, 7, 0, order_job, (void *)1), PC_OK);
	cr_assert_eq(workers_submit_keyed(w, 7, 0, order_job, (void *)2), PC_OK);
	cr_assert_eq(workers_submit_keyed(w, 8, 0, order_job, (void *)100), PC_OK);
	/* the cap counts queued and running jobs of that client only */
	cr_assert_eq(workers_submit_keyed(w, 7, 4, order_job, (void *)3), PC_ELIMITED);
	cr_assert_eq(workers_submit_keyed(w, 8, 2, order_job, (void *)101), PC_OK);
	cr_assert_eq(workers_submit_keyed(w, 8, 2, order_job, (void *)102), PC_ELIMITED);
	release_all();
	workers_free(w);
	cr_assert_eq(ran, 6);
}

Test(workers, a_full_queue_answers_busy_without_blocking, .init = reset)
{
	struct pc_workers *w;
	int i;

	cr_assert_eq(workers_new(2, 3, 0, &w), PC_OK);
	/* Occupy both threads. */
	cr_assert_eq(workers_submit(w, blocking_job, NULL), PC_OK);
	cr_assert_eq(workers_submit(w, blocking_job, NULL), PC_OK);
	wait_started(2);
	/* The queue holds three more. */
	for (i = 0; i < 3; i++)
		cr_assert_eq(workers_submit(w, blocking_job, NULL), PC_OK);
	cr_assert_eq(workers_submit(w, blocking_job, NULL), PC_EBUSY);
	cr_assert_eq(workers_submit(w, blocking_job, NULL), PC_EBUSY);
	release_all();
	workers_free(w);
	cr_assert_eq(ran, 5, "the five accepted jobs ran, the rejected did not");
}

Test(workers, space_frees_up_once_jobs_are_taken, .init = reset)
{
	struct pc_workers *w;
	static int one = 1;

	cr_assert_eq(workers_new(1, 1, 0, &w), PC_OK);
	cr_assert_eq(workers_submit(w, blocking_job, NULL), PC_OK);
	wait_started(1);
	cr_assert_eq(workers_submit(w, count_job, &one), PC_OK);
	cr_assert_eq(workers_submit(w, count_job, &one), PC_EBUSY);
	release_all();
	workers_free(w);
	cr_assert_eq(ran, 2);
}

Test(workers, free_drains_the_queue_before_joining, .init = reset)
{
	struct pc_workers *w;
	static int ten = 10;
	int i;

	cr_assert_eq(workers_new(1, 16, 0, &w), PC_OK);
	cr_assert_eq(workers_submit(w, blocking_job, NULL), PC_OK);
	wait_started(1);
	for (i = 0; i < 16; i++)
		cr_assert_eq(workers_submit(w, count_job, &ten), PC_OK);
	release_all();
	workers_free(w);
	cr_assert_eq(ran, 1 + 160);
}

Test(workers, zero_threads_means_one_per_cpu)
{
	struct pc_workers *w;

	cr_assert_eq(workers_new(0, 4, 0, &w), PC_OK);
	cr_assert_geq(workers_count(w), 1);
	workers_free(w);
}

Test(workers, bad_arguments_are_rejected)
{
	struct pc_workers *w = (struct pc_workers *)1;

	cr_assert_eq(workers_new(2, 0, 0, &w), PC_EINVAL);
	cr_assert_null(w);
	cr_assert_eq(workers_new(2, 4, 0, &w), PC_OK);
	cr_assert_eq(workers_submit(w, NULL, NULL), PC_EINVAL);
	workers_free(w);
	workers_free(NULL);
}

struct nice_probe {
	pthread_mutex_t lock;
	pthread_cond_t done;
	int seen;
	bool ran;
};

static void read_nice(void *arg)
{
	struct nice_probe *p = arg;
	int v;

	errno = 0;
	v = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	pthread_mutex_lock(&p->lock);
	p->seen = v;
	p->ran = true;
	pthread_cond_signal(&p->done);
	pthread_mutex_unlock(&p->lock);
}

Test(workers, workers_run_at_the_niceness_asked_for)
{
	struct nice_probe p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };
	struct pc_workers *w;
	int base = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));

	cr_assert_eq(workers_new(1, 4, 7, &w), PC_OK);
	cr_assert_eq(workers_submit(w, read_nice, &p), PC_OK);
	pthread_mutex_lock(&p.lock);
	while (!p.ran)
		pthread_cond_wait(&p.done, &p.lock);
	pthread_mutex_unlock(&p.lock);
	workers_free(w);
	cr_expect_eq(p.seen, base + 7 > 19 ? 19 : base + 7);
	cr_expect_eq(getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)), base,
		     "the caller's own priority is untouched");
}

Test(workers, a_write_pool_counts_its_jobs_apart_from_the_hash_pools)
{
	uint64_t hash_jobs = stats_sum(STAT_HASH_JOBS), write_jobs = stats_sum(STAT_WRITE_JOBS);
	struct pc_workers *w;
	int one = 1;

	ran = 0;
	cr_assert_eq(workers_new_kind(WORKERS_WRITE, 2, 8, 0, &w), PC_OK);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(workers_submit(w, count_job, &one), PC_OK);
	workers_free(w);
	cr_expect_eq(ran, 5);
	cr_expect_eq(stats_sum(STAT_WRITE_JOBS) - write_jobs, 5);
	cr_expect_eq(stats_sum(STAT_HASH_JOBS) - hash_jobs, 0);

	cr_assert_eq(workers_new_kind(WORKERS_HASH, 1, 8, 0, &w), PC_OK);
	cr_assert_eq(workers_submit(w, count_job, &one), PC_OK);
	workers_free(w);
	cr_expect_eq(stats_sum(STAT_HASH_JOBS) - hash_jobs, 1);
	cr_expect_eq(stats_sum(STAT_WRITE_JOBS) - write_jobs, 5);
}
