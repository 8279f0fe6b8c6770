/*
 * workers.c - a bounded pool for slow work: argon2 hashing and outbound HTTP
 * (the hash pool), durable commits (the write pool: threads that mostly wait
 * on the disk, so many of them, at the normal priority).
 *
 * Owns: the threads, and the ring of queued jobs (not the jobs' arguments:
 * a job owns its arg and frees it itself).
 *
 * Invariants (all under w->lock):
 *   - the ring holds w->count jobs, at most w->max_queue, oldest at w->head;
 *   - jobs carry their client's key (workers_submit_keyed; 0: none): a free
 *     worker takes the oldest job of the client with the fewest jobs
 *     running, and among those one of another client than the job taken
 *     last (w->last_key), so that one client's flood of logins shares the
 *     pool with the others' instead of queueing them behind it, even on one
 *     thread (issue 13, item 1); among equals, submission order (FIFO).
 *     w->running[] holds the key of each busy worker's job;
 *   - a client may hold at most its cap of jobs queued or running at once
 *     (PC_ELIMITED past it; 0: no cap);
 *   - submit never blocks on the queue: a full queue, or a pool that is
 *     stopping, answers PC_EBUSY;
 *   - once w->stopping is set nothing new is accepted; a thread leaves only
 *     when stopping and the queue is empty, so free runs every queued job;
 *   - worker threads block all signals: the main thread handles them;
 *   - worker threads run at niceness w->nice (Linux: per thread), so that
 *     request threads waking up preempt hashing at once and cheap requests
 *     stay fast while logins pour in;
 *   - a pool counts its jobs and their waits in its kind's two stats
 *     (STAT_HASH_* or STAT_WRITE_*); only a hash pool's threads keep their
 *     hash memory between jobs (password_memory_keep).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

#define WORKERS_MAX_THREADS 1024
#define WORKERS_IDLE_RELEASE_S 1

struct workers_job {
	pc_job_fn *fn;
	void *arg;
	uint64_t key;      /* the client's; 0: none */
	int64_t queued_us; /* time_mono_us() at submit: the wait goes to w->stat_wait_us */
};

struct pc_workers {
	pthread_mutex_t lock;
	pthread_cond_t nonempty;  /* signalled on submit and on stop */
	struct workers_job *ring; /* max_queue slots */
	size_t max_queue;
	size_t head;              /* oldest job */
	size_t count;             /* queued jobs */
	bool stopping;
	int nice;                 /* added to each worker thread's niceness */
	bool hashes;              /* WORKERS_HASH: keeps hash memory between jobs */
	unsigned stat_jobs, stat_wait_us; /* the kind's counters */
	unsigned nthreads;        /* threads started */
	pthread_t *threads;
	struct workers_slot {
		bool busy;
		uint64_t key;
	} *running;               /* nthreads slots: the job each worker runs */
	uint64_t last_key;        /* the key of the job taken last */
};

/* Jobs of key running now (under w->lock). */
static unsigned workers_running_of(const struct pc_workers *w, uint64_t key)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->nthreads; i++)
		n += w->running[i].busy && w->running[i].key == key;
	return n;
}

/* Takes the next job (w->count > 0, under w->lock): the oldest of the key
 * with the fewest running, and closes the gap it leaves in the ring. */
static struct workers_job workers_take(struct pc_workers *w)
{
	size_t best = 0, i;
	unsigned best_n = UINT32_MAX; /* 2 * running + (the key taken last) */
	struct workers_job job;

	for (i = 0; i < w->count && best_n > 0; i++) {
		uint64_t key = w->ring[(w->head + i) % w->max_queue].key;
		unsigned n = 2 * workers_running_of(w, key) + (key == w->last_key);

		if (n < best_n) {
			best_n = n;
			best = i;
		}
	}
	job = w->ring[(w->head + best) % w->max_queue];
	w->last_key = job.key;
	/* the older jobs move up one slot, so the ring stays in order */
	for (i = best; i > 0; i--)
		w->ring[(w->head + i) % w->max_queue] = w->ring[(w->head + i - 1) % w->max_queue];
	w->head = (w->head + 1) % w->max_queue;
	w->count--;
	return job;
}

static void *workers_main(void *p)
{
	struct pc_workers *w = p;
	struct workers_job job;
	unsigned slot = 0;

	/* Best effort: lowering one's own priority needs no privilege; should it
	 * fail, the thread simply keeps the default priority. */
	if (w->nice > 0) {
		id_t tid = (id_t)syscall(SYS_gettid);
		int base;

		/* niceness is added to the one inherited, capped at 19 */
		errno = 0;
		base = getpriority(PRIO_PROCESS, tid);
		if (errno == 0)
			(void)setpriority(PRIO_PROCESS, tid, base + w->nice > 19 ? 19 : base + w->nice);
	}
	if (w->hashes)
		password_memory_keep();
	pthread_mutex_lock(&w->lock);
	for (;;) {
		/* Idle for WORKERS_IDLE_RELEASE_S: give the hash memory's pages
		 * back, so that a server past its login burst shrinks again. */
		if (w->hashes && w->count == 0 && !w->stopping) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += WORKERS_IDLE_RELEASE_S;
			while (w->count == 0 && !w->stopping &&
			       pthread_cond_timedwait(&w->nonempty, &w->lock, &until) == 0)
				;
			if (w->count == 0 && !w->stopping) {
				pthread_mutex_unlock(&w->lock);
				password_memory_release();
				pthread_mutex_lock(&w->lock);
			}
		}
		while (w->count == 0 && !w->stopping)
			pthread_cond_wait(&w->nonempty, &w->lock);
		if (w->count == 0)
			break; /* stopping and drained */
		job = workers_take(w);
		while (slot < w->nthreads && w->running[slot].busy)
			slot++;
		/* there is a free slot: this thread's own last one is free */
		if (slot < w->nthreads)
			w->running[slot] = (struct workers_slot){ true, job.key };
		pthread_mutex_unlock(&w->lock);
		stats_add(w->stat_jobs, 1);
		stats_add(w->stat_wait_us, (uint64_t)(time_mono_us() - job.queued_us));
		job.fn(job.arg);
		pthread_mutex_lock(&w->lock);
		if (slot < w->nthreads)
			w->running[slot].busy = false;
		slot = 0;
	}
	pthread_mutex_unlock(&w->lock);
	if (w->hashes)
		password_memory_drop();
	return NULL;
}

/* Stops accepting, lets the started threads drain the queue, joins them. */
static void workers_stop(struct pc_workers *w)
{
	unsigned i;

	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->nonempty);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
}

/* A hash pool: workers_new_kind(WORKERS_HASH, ...). */
enum pc_err workers_new(unsigned nthreads, size_t max_queue, int nice, struct pc_workers **out)
{
	return workers_new_kind(WORKERS_HASH, nthreads, max_queue, nice, out);
}

/* Starts nthreads threads (0: one per online CPU) over a queue of max_queue
 * jobs. *out is owned by the caller (workers_free). PC_EINVAL when
 * max_queue is 0 or nthreads is over 1024; PC_ENOMEM; PC_EINTERNAL when a
 * thread cannot be started (the ones started are stopped again). */
enum pc_err workers_new_kind(enum workers_kind kind, unsigned nthreads, size_t max_queue, int nice,
			     struct pc_workers **out)
{
	struct pc_workers *w;
	sigset_t all, old;
	enum pc_err err = PC_OK;
	long ncpu;

	*out = NULL;
	if (nthreads == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = ncpu > 0 && ncpu <= WORKERS_MAX_THREADS ? (unsigned)ncpu : 1;
	}
	if (max_queue == 0 || nthreads > WORKERS_MAX_THREADS ||
	    max_queue > SIZE_MAX / sizeof(struct workers_job))
		return PC_EINVAL;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return PC_ENOMEM;
	w->ring = calloc(max_queue, sizeof(*w->ring));
	w->threads = calloc(nthreads, sizeof(*w->threads));
	w->running = calloc(nthreads, sizeof(*w->running));
	if (w->ring == NULL || w->threads == NULL || w->running == NULL) {
		err = PC_ENOMEM;
		goto out_free_arrays;
	}
	w->max_queue = max_queue;
	w->nice = nice;
	w->hashes = kind == WORKERS_HASH;
	w->stat_jobs = kind == WORKERS_HASH ? STAT_HASH_JOBS : STAT_WRITE_JOBS;
	w->stat_wait_us = kind == WORKERS_HASH ? STAT_HASH_WAIT_US : STAT_WRITE_WAIT_US;
	if (pthread_mutex_init(&w->lock, NULL) != 0) {
		err = PC_EINTERNAL;
		goto out_free_arrays;
	}
	if (pthread_cond_init(&w->nonempty, NULL) != 0) {
		err = PC_EINTERNAL;
		goto out_destroy_lock;
	}

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (w->nthreads = 0; w->nthreads < nthreads; w->nthreads++) {
		if (pthread_create(&w->threads[w->nthreads], NULL, workers_main, w) != 0) {
			err = PC_EINTERNAL;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != PC_OK)
		goto out_stop_threads;
	*out = w;
	return PC_OK;

out_stop_threads:
	workers_stop(w);
	pthread_cond_destroy(&w->nonempty);
out_destroy_lock:
	pthread_mutex_destroy(&w->lock);
out_free_arrays:
	free(w->running);
	free(w->threads);
	free(w->ring);
	free(w);
	return err;
}

/* Queues fn(arg); never blocks. PC_EBUSY when max_queue jobs are already
 * waiting or the pool is stopping (arg stays the caller's); PC_EINVAL when
 * w or fn is NULL. On PC_OK the job will run exactly once. */
enum pc_err workers_submit(struct pc_workers *w, pc_job_fn *fn, void *arg)
{
	return workers_submit_keyed(w, 0, 0, fn, arg);
}

/* As workers_submit, for client key (0: none); PC_ELIMITED when cap (0: no
 * cap) jobs of that key are queued or running already. */
enum pc_err workers_submit_keyed(struct pc_workers *w, uint64_t key, unsigned cap, pc_job_fn *fn,
				 void *arg)
{
	enum pc_err err = PC_OK;

	if (w == NULL || fn == NULL)
		return PC_EINVAL;
	pthread_mutex_lock(&w->lock);
	if (w->stopping || w->count == w->max_queue) {
		err = PC_EBUSY;
		goto out_unlock;
	}
	if (cap > 0) {
		unsigned n = workers_running_of(w, key);

		for (size_t i = 0; i < w->count && n < cap; i++)
			n += w->ring[(w->head + i) % w->max_queue].key == key;
		if (n >= cap) {
			err = PC_ELIMITED;
			goto out_unlock;
		}
	}
	w->ring[(w->head + w->count) % w->max_queue] = (struct workers_job){ fn, arg, key,
										    time_mono_us() };
	w->count++;
	pthread_cond_signal(&w->nonempty);
out_unlock:
	pthread_mutex_unlock(&w->lock);
	return err;
}

size_t workers_queued(struct pc_workers *w)
{
	size_t n;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->lock);
	n = w->count;
	pthread_mutex_unlock(&w->lock);
	return n;
}

unsigned workers_count(const struct pc_workers *w)
{
	return w == NULL ? 0 : w->nthreads;
}

/* Stops accepting, runs every queued job, joins the threads, frees. Must not
 * be called from a job. NULL is a no-op. */
void workers_free(struct pc_workers *w)
{
	if (w == NULL)
		return;
	workers_stop(w);
	pthread_cond_destroy(&w->nonempty);
	pthread_mutex_destroy(&w->lock);
	free(w->running);
	free(w->threads);
	free(w->ring);
	free(w);
}
