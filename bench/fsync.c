/*
 * fsync.c - pc-fsync: the disk's durable-write ceiling where the database
 * lives. Appends a block to a scratch file in --dir and makes it durable
 * (fdatasync, or fsync with --fsync), over and over for --seconds, as a
 * database's commit appends to its log and syncs it; the file starts again
 * from empty every 16 MiB. Prints one JSON object: ops, seconds, ops_per_s,
 * the mean and the worst sync in milliseconds. One durable commit per sync
 * is the most a store without group commit can do (bench/run compares
 * refresh rotation with it). The scratch file is removed at the end.
 *
 *   pc-fsync --dir DIR [--seconds N] [--bytes B] [--fsync]
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FSYNC_WRAP_BYTES (16L << 20)
#define FSYNC_BLOCK_MAX (1 << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	double seconds = 3, t0, t1, t, worst = 0;
	long bytes = 4096, ops = 0;
	off_t off = 0;
	int full = 0, fd, i;
	char path[4096];
	static char block[FSYNC_BLOCK_MAX];

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc)
			bytes = atol(argv[++i]);
		else if (strcmp(argv[i], "--fsync") == 0)
			full = 1;
		else {
			fprintf(stderr, "usage: pc-fsync --dir DIR [--seconds N] [--bytes B] [--fsync]\n");
			return 2;
		}
	}
	if (dir == NULL || seconds <= 0 || bytes <= 0 || bytes > FSYNC_BLOCK_MAX) {
		fprintf(stderr, "pc-fsync: --dir is required; 0 < --bytes <= %d\n", FSYNC_BLOCK_MAX);
		return 2;
	}
	if (snprintf(path, sizeof(path), "%s/pc-fsync-%ld.tmp", dir, (long)getpid()) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "pc-fsync: --dir too long\n");
		return 2;
	}
	memset(block, 'x', sizeof(block));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "pc-fsync: %s: %s\n", path, strerror(errno));
		return 1;
	}
	t0 = now_s();
	t1 = t0;
	while (t1 - t0 < seconds) {
		if (off + bytes > FSYNC_WRAP_BYTES) {
			if (ftruncate(fd, 0) != 0)
				break;
			off = 0;
		}
		if (pwrite(fd, block, (size_t)bytes, off) != bytes ||
		    (full ? fsync(fd) : fdatasync(fd)) != 0) {
			fprintf(stderr, "pc-fsync: write or sync: %s\n", strerror(errno));
			close(fd);
			unlink(path);
			return 1;
		}
		off += bytes;
		ops++;
		t = now_s();
		if (t - t1 > worst)
			worst = t - t1;
		t1 = t;
	}
	close(fd);
	unlink(path);
	printf("{\"ops\": %ld, \"seconds\": %.3f, \"ops_per_s\": %.1f, \"mean_ms\": %.3f, "
	       "\"worst_ms\": %.3f, \"bytes\": %ld, \"call\": \"%s\"}\n",
	       ops, t1 - t0, (double)ops / (t1 - t0), ops ? (t1 - t0) * 1000 / (double)ops : 0.0,
	       worst * 1000, bytes, full ? "fsync" : "fdatasync");
	return 0;
}
