/*
 * hashtime.c - the benchmark's hashing ceiling: how long one argon2id hash
 * takes on this machine, with the parameters the server uses.
 *
 * Login and registration each spend one argon2id computation, done by the
 * server's hash workers. The most logins a second the server can give is
 * therefore workers / (time of one hash); bench/run measures that time here,
 * in the same run as the login scenario, with libargon2 (the library the
 * server links) and the m, t, p read from a hash the server itself stored.
 *
 *   pc-hashtime [--memory-kib 19456] [--iterations 2] [--parallelism 1]
 *               [--count 20] [--threads 0] [--seconds 3]
 *
 * Prints one JSON object on stdout:
 *   serial_ms      each of --count hashes timed alone, one after another
 *   median_ms      their median
 *   threads, parallel_hashes_per_s   (when --threads > 0) hashes a second
 *                  with that many threads hashing at once for --seconds
 *
 * Exit status: 0, 1 when argon2 fails, 2 on bad arguments.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <argon2.h>

#define HT_MAX_COUNT 1000
#define HT_MAX_THREADS 256

struct ht_opts {
	unsigned memory_kib;
	unsigned iterations;
	unsigned parallelism;
	unsigned count;
	unsigned threads;
	unsigned seconds;
};

struct ht_worker {
	const struct ht_opts *o;
	double until;               /* monotonic seconds */
	unsigned long hashes;
	int failed;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One argon2id hash of a fixed password with a 16-byte salt into 32 bytes,
 * the shape of a PHC hash the server stores. 0 or -1. */
static int ht_hash_once(const struct ht_opts *o, unsigned seq)
{
	static const char pw[] = "bench-password-1!";
	uint8_t salt[16];
	uint8_t out[32];
	int rc;

	memset(salt, 0x5a, sizeof(salt));
	memcpy(salt, &seq, sizeof(seq));
	rc = argon2id_hash_raw(o->iterations, o->memory_kib, o->parallelism, pw, sizeof(pw) - 1,
			       salt, sizeof(salt), out, sizeof(out));
	if (rc != ARGON2_OK) {
		fprintf(stderr, "pc-hashtime: argon2: %s\n", argon2_error_message(rc));
		return -1;
	}
	return 0;
}

static void *ht_worker_run(void *arg)
{
	struct ht_worker *w = arg;

	while (now_s() < w->until) {
		if (ht_hash_once(w->o, (unsigned)w->hashes) != 0) {
			w->failed = 1;
			break;
		}
		w->hashes++;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct ht_opts *o)
{
	static const struct {
		const char *flag;
		size_t off;
		unsigned min, max;
	} flags[] = {
		{ "--memory-kib", offsetof(struct ht_opts, memory_kib), 8, 4u << 20 },
		{ "--iterations", offsetof(struct ht_opts, iterations), 1, 1000 },
		{ "--parallelism", offsetof(struct ht_opts, parallelism), 1, 64 },
		{ "--count", offsetof(struct ht_opts, count), 1, HT_MAX_COUNT },
		{ "--threads", offsetof(struct ht_opts, threads), 0, HT_MAX_THREADS },
		{ "--seconds", offsetof(struct ht_opts, seconds), 1, 600 },
	};
	int i;
	size_t f;

	for (i = 1; i + 1 < argc; i += 2) {
		for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
			if (strcmp(argv[i], flags[f].flag) == 0)
				break;
		if (f == sizeof(flags) / sizeof(flags[0]))
			return -1;
		if (parse_uint(argv[i + 1], flags[f].min, flags[f].max,
			       (unsigned *)((char *)o + flags[f].off)) != 0)
			return -1;
	}
	return i == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct ht_opts o = { 19456, 2, 1, 20, 0, 3 };
	static double ms[HT_MAX_COUNT];
	static struct ht_worker w[HT_MAX_THREADS];
	static pthread_t tid[HT_MAX_THREADS];
	unsigned i;
	unsigned long total = 0;
	double t0, elapsed;

	if (parse_args(argc, argv, &o) != 0) {
		fputs("usage: pc-hashtime [--memory-kib K] [--iterations T] [--parallelism P]\n"
		      "                   [--count N] [--threads W] [--seconds S]\n", stderr);
		return 2;
	}
	if (ht_hash_once(&o, 0) != 0)     /* warm-up: page in the memory once */
		return 1;
	for (i = 0; i < o.count; i++) {
		t0 = now_s();
		if (ht_hash_once(&o, i + 1) != 0)
			return 1;
		ms[i] = (now_s() - t0) * 1000.0;
	}
	printf("{\"memory_kib\":%u,\"iterations\":%u,\"parallelism\":%u,\"serial_ms\":[",
	       o.memory_kib, o.iterations, o.parallelism);
	for (i = 0; i < o.count; i++)
		printf("%s%.3f", i ? "," : "", ms[i]);
	qsort(ms, o.count, sizeof(ms[0]), cmp_double);
	printf("],\"median_ms\":%.3f", o.count % 2 ? ms[o.count / 2]
						 : (ms[o.count / 2 - 1] + ms[o.count / 2]) / 2);

	if (o.threads > 0) {
		t0 = now_s();
		for (i = 0; i < o.threads; i++) {
			w[i].o = &o;
			w[i].until = t0 + o.seconds;
			if (pthread_create(&tid[i], NULL, ht_worker_run, &w[i]) != 0) {
				fputs("pc-hashtime: cannot start a thread\n", stderr);
				return 1;
			}
		}
		for (i = 0; i < o.threads; i++) {
			pthread_join(tid[i], NULL);
			if (w[i].failed)
				return 1;
			total += w[i].hashes;
		}
		elapsed = now_s() - t0;
		printf(",\"threads\":%u,\"parallel_hashes_per_s\":%.2f", o.threads,
		       (double)total / elapsed);
	}
	puts("}");
	return 0;
}
