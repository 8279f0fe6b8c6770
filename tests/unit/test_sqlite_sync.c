/*
 * test_sqlite_sync.c - durable commits on SQLite: the driver's group commit.
 *
 * With synchronous=full (the default) a commit must be on disk before the
 * call that made it returns. The real SQLite runs on top of a VFS of this
 * file, a shim around the default "unix" VFS made the default, which counts
 * what happens to the WAL: each write and each sync get a number from one
 * counter, a thread remembers the number of its own last WAL write, and
 * "synced_from" is the highest number at which a sync that succeeded began.
 * A commit is durable when a sync that began after its last write succeeded
 * before it returned: synced_from > the thread's last write. The shim can
 * also make WAL syncs slow (a disk that takes its time: writers pile up)
 * or fail. It counts the pages read from the database and the WAL too (a
 * connection's page cache that was emptied reads them again).
 *
 * Each test gets its own temporary directory (mkdtemp), removed afterwards.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "helpers.h"
#include "store/store.h"

static char test_dir[PATH_MAX];
static struct pc_store *st;

/* ---- the shim VFS ------------------------------------------------------------------ */

struct shim_file {
	sqlite3_file base;
	sqlite3_file *real; /* the unix VFS's file, right after this struct */
	bool wal;
	char pad[7];        /* keeps real 8-byte aligned */
};

static sqlite3_vfs *unix_vfs;
static sqlite3_vfs shim_vfs;
static const sqlite3_io_methods shim_io;

static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t shim_events;       /* the one counter */
static uint64_t shim_synced_from;  /* highest start of a WAL sync that succeeded */
static uint64_t shim_wal_syncs;    /* WAL syncs that succeeded */
static int shim_sync_delay_us;     /* each WAL sync takes at least this long */
static bool shim_fail_next_sync;   /* the next WAL sync fails */
static uint64_t shim_reads;        /* reads of the database file and the WAL */
static uint64_t shim_wal_bytes;    /* bytes written to the WAL */
static _Thread_local uint64_t shim_my_write; /* this thread's last WAL write */

static struct shim_file *shim(sqlite3_file *f)
{
	return (struct shim_file *)f;
}

static int shim_close(sqlite3_file *f)
{
	return shim(f)->real->pMethods->xClose(shim(f)->real);
}

static int shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	pthread_mutex_lock(&shim_lock);
	shim_reads++;
	pthread_mutex_unlock(&shim_lock);
	return shim(f)->real->pMethods->xRead(shim(f)->real, buf, n, off);
}

static int shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	int rc = shim(f)->real->pMethods->xWrite(shim(f)->real, buf, n, off);

	if (shim(f)->wal) {
		pthread_mutex_lock(&shim_lock);
		shim_wal_bytes += (uint64_t)n;
		shim_my_write = ++shim_events;
		pthread_mutex_unlock(&shim_lock);
	}
	return rc;
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return shim(f)->real->pMethods->xTruncate(shim(f)->real, size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
	uint64_t began;
	bool fail;
	int rc;

	if (!shim(f)->wal)
		return shim(f)->real->pMethods->xSync(shim(f)->real, flags);
	pthread_mutex_lock(&shim_lock);
	began = ++shim_events;
	fail = shim_fail_next_sync;
	shim_fail_next_sync = false;
	pthread_mutex_unlock(&shim_lock);
	if (fail)
		return SQLITE_IOERR_FSYNC;
	rc = shim(f)->real->pMethods->xSync(shim(f)->real, flags);
	if (shim_sync_delay_us > 0)
		usleep((useconds_t)shim_sync_delay_us);
	if (rc == SQLITE_OK) {
		pthread_mutex_lock(&shim_lock);
		shim_wal_syncs++;
		if (began > shim_synced_from)
			shim_synced_from = began;
		pthread_mutex_unlock(&shim_lock);
	}
	return rc;
}

static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return shim(f)->real->pMethods->xFileSize(shim(f)->real, size);
}

static int shim_lock_(sqlite3_file *f, int level)
{
	return shim(f)->real->pMethods->xLock(shim(f)->real, level);
}

static int shim_unlock(sqlite3_file *f, int level)
{
	return shim(f)->real->pMethods->xUnlock(shim(f)->real, level);
}

static int shim_check_reserved(sqlite3_file *f, int *out)
{
	return shim(f)->real->pMethods->xCheckReservedLock(shim(f)->real, out);
}

static int shim_file_control(sqlite3_file *f, int op, void *arg)
{
	return shim(f)->real->pMethods->xFileControl(shim(f)->real, op, arg);
}

static int shim_sector_size(sqlite3_file *f)
{
	return shim(f)->real->pMethods->xSectorSize(shim(f)->real);
}

static int shim_device(sqlite3_file *f)
{
	return shim(f)->real->pMethods->xDeviceCharacteristics(shim(f)->real);
}

static int shim_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **out)
{
	return shim(f)->real->pMethods->xShmMap(shim(f)->real, pg, pgsz, extend, out);
}

static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return shim(f)->real->pMethods->xShmLock(shim(f)->real, offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *f)
{
	shim(f)->real->pMethods->xShmBarrier(shim(f)->real);
}

static int shim_shm_unmap(sqlite3_file *f, int del)
{
	return shim(f)->real->pMethods->xShmUnmap(shim(f)->real, del);
}

static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
	return shim(f)->real->pMethods->xFetch(shim(f)->real, off, n, out);
}

static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return shim(f)->real->pMethods->xUnfetch(shim(f)->real, off, p);
}

static const sqlite3_io_methods shim_io = {
	.iVersion = 3,
	.xClose = shim_close,
	.xRead = shim_read,
	.xWrite = shim_write,
	.xTruncate = shim_truncate,
	.xSync = shim_sync,
	.xFileSize = shim_file_size,
	.xLock = shim_lock_,
	.xUnlock = shim_unlock,
	.xCheckReservedLock = shim_check_reserved,
	.xFileControl = shim_file_control,
	.xSectorSize = shim_sector_size,
	.xDeviceCharacteristics = shim_device,
	.xShmMap = shim_shm_map,
	.xShmLock = shim_shm_lock,
	.xShmBarrier = shim_shm_barrier,
	.xShmUnmap = shim_shm_unmap,
	.xFetch = shim_fetch,
	.xUnfetch = shim_unfetch,
};

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct shim_file *sf = shim(f);
	int rc;

	(void)vfs;
	sf->real = (sqlite3_file *)(sf + 1);
	sf->wal = (flags & SQLITE_OPEN_WAL) != 0;
	rc = unix_vfs->xOpen(unix_vfs, name, sf->real, flags, out);
	f->pMethods = sf->real->pMethods != NULL ? &shim_io : NULL;
	return rc;
}

static int shim_delete(sqlite3_vfs *vfs, const char *name, int dirsync)
{
	(void)vfs;
	return unix_vfs->xDelete(unix_vfs, name, dirsync);
}

static int shim_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return unix_vfs->xAccess(unix_vfs, name, flags, out);
}

static int shim_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return unix_vfs->xFullPathname(unix_vfs, name, n, out);
}

/* Registers the shim as the default VFS: the driver opens through it. */
static void shim_register(void)
{
	unix_vfs = sqlite3_vfs_find("unix");
	cr_assert_not_null(unix_vfs);
	shim_vfs = *unix_vfs;
	shim_vfs.pNext = NULL;
	shim_vfs.zName = "pc-test-shim";
	shim_vfs.szOsFile = (int)sizeof(struct shim_file) + unix_vfs->szOsFile;
	shim_vfs.xOpen = shim_open;
	shim_vfs.xDelete = shim_delete;
	shim_vfs.xAccess = shim_access;
	shim_vfs.xFullPathname = shim_full_pathname;
	cr_assert_eq(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
}

/* Whether a sync of the WAL that began after this thread's last WAL write
 * succeeded (its last commit is on disk). */
static bool my_write_synced(void)
{
	bool ok;

	pthread_mutex_lock(&shim_lock);
	ok = shim_my_write > 0 && shim_synced_from > shim_my_write;
	pthread_mutex_unlock(&shim_lock);
	return ok;
}

static uint64_t file_reads(void)
{
	uint64_t n;

	pthread_mutex_lock(&shim_lock);
	n = shim_reads;
	pthread_mutex_unlock(&shim_lock);
	return n;
}

static uint64_t wal_syncs(void)
{
	uint64_t n;

	pthread_mutex_lock(&shim_lock);
	n = shim_wal_syncs;
	pthread_mutex_unlock(&shim_lock);
	return n;
}

/* ---- fixture --------------------------------------------------------------------- */

/* Opens (and migrates) the test's store through the shim, with the URL's
 * parameters params ("" for none). */
static struct pc_store *open_store(const char *params)
{
	char url[PATH_MAX + 64];
	struct pc_errinfo ei = { 0 };
	struct pc_store *s = NULL;
	int applied = 0;
	enum pc_err err;

	snprintf(url, sizeof(url), "sqlite:///%s/sync.db%s", test_dir, params);
	err = store_open(url, &s, &ei);
	cr_assert_eq(err, PC_OK, "open: %s: %s", pc_strerror(err), ei.detail);
	cr_assert_eq(store_migrate(s, &applied), PC_OK);
	return s;
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(test_dir, sizeof(test_dir), "%s/pc_sync_XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(test_dir));
	shim_register();
}

static void teardown(void)
{
	store_close(st);
	st = NULL;
	test_dir_remove(test_dir);
}

TestSuite(sqlite_sync, .init = setup, .fini = teardown);

/* One committed transaction that writes the key name. */
static enum pc_err commit_one(struct pc_store *s, const char *name)
{
	enum pc_err err = store_begin(s);

	if (err != PC_OK)
		return err;
	err = STORE_CALL(s, key_put_if_absent, name, "v");
	if (err != PC_OK) {
		(void)store_rollback(s);
		return err;
	}
	return store_commit(s);
}

/* ---- one writer ---------------------------------------------------------------------- */

Test(sqlite_sync, a_commit_is_synced_after_its_last_write_before_it_returns)
{
	int64_t level = 0, hits = 0, at = 0;
	uint64_t before;
	char name[32];
	int i;

	st = open_store("");
	cr_assert_eq(store_durability(st, &level), PC_OK);
	cr_assert_eq(level, 2, "a commit is on disk before it returns");
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		before = shim_my_write;
		cr_assert_eq(commit_one(st, name), PC_OK);
		cr_assert_gt(shim_my_write, before, "the commit wrote to the WAL");
		cr_assert(my_write_synced(), "commit %d: no sync of the WAL after its write", i);
	}
	/* a write outside a transaction commits by itself: as durable */
	before = shim_my_write;
	cr_assert_eq(store_write_probe(st, 1700000000), PC_OK);
	cr_assert_gt(shim_my_write, before);
	cr_assert(my_write_synced(), "the autocommit write was not synced");
	before = shim_my_write;
	cr_assert_eq(STORE_CALL(st, key_put_if_absent, "alone", "v"), PC_OK);
	cr_assert_gt(shim_my_write, before);
	cr_assert(my_write_synced(), "the autocommit insert was not synced");
	/* one that returns its row (RETURNING) commits when the driver is done */
	before = shim_my_write;
	cr_assert_eq(STORE_CALL(st, rl_hit, "login:ip:192.0.2.1", 1700000000, 60, &hits, &at),
		     PC_OK);
	cr_assert_eq(hits, 1);
	cr_assert_gt(shim_my_write, before);
	cr_assert(my_write_synced(), "the counter's hit was not synced");
}

/* What the measure above sees when nothing syncs: the URL's normal. */
Test(sqlite_sync, with_synchronous_normal_a_commit_is_not_synced)
{
	int64_t level = 0;

	st = open_store("?synchronous=normal");
	cr_assert_eq(store_durability(st, &level), PC_OK);
	cr_assert_eq(level, 1);
	cr_assert_eq(commit_one(st, "k"), PC_OK);
	cr_assert_not(my_write_synced(), "synchronous=normal syncs no commit");
}

Test(sqlite_sync, a_failed_sync_fails_the_commit_and_every_later_one)
{
	char value[8];

	st = open_store("");
	cr_assert_eq(commit_one(st, "before"), PC_OK);
	cr_assert_not(store_writes_refused(st, time_now_ms(), 60000));
	pthread_mutex_lock(&shim_lock);
	shim_fail_next_sync = true;
	pthread_mutex_unlock(&shim_lock);
	cr_assert_eq(commit_one(st, "k"), PC_ESTORE, "a commit whose sync failed is no success");
	pthread_mutex_lock(&shim_lock);
	cr_assert_not(shim_fail_next_sync, "the WAL was synced");
	pthread_mutex_unlock(&shim_lock);
	cr_assert(store_writes_refused(st, time_now_ms(), 60000), "/readyz would not know");
	/* the kernel may have dropped what it could not write: no later commit
	 * is reported durable either, though this sync would succeed */
	cr_assert_eq(commit_one(st, "after"), PC_ESTORE);
	cr_assert_eq(store_write_probe(st, 1700000000), PC_ESTORE);
	/* reads still answer */
	cr_assert_eq(STORE_CALL(st, key_get, "before", value, sizeof(value)), PC_OK);
}

/* ---- many writers ------------------------------------------------------------------- */

#define GC_THREADS 8
#define GC_COMMITS 25

struct gc_arg {
	unsigned thread;
	int failures;
	int unsynced;
	enum pc_err first_err;
};

static void *gc_writer(void *p)
{
	struct gc_arg *a = p;
	char name[32];
	enum pc_err err;
	unsigned i;

	for (i = 0; i < GC_COMMITS; i++) {
		snprintf(name, sizeof(name), "t%u.%u", a->thread, i);
		err = commit_one(st, name);
		if (err != PC_OK && a->failures++ == 0)
			a->first_err = err;
		if (err == PC_OK && !my_write_synced())
			a->unsynced++;
	}
	return NULL;
}

Test(sqlite_sync, concurrent_commits_share_syncs_and_each_is_synced_before_it_returns,
     .timeout = 60)
{
	struct gc_arg args[GC_THREADS];
	pthread_t t[GC_THREADS];
	uint64_t syncs;
	char name[32], value[8];
	unsigned i, k;

	st = open_store("");
	shim_sync_delay_us = 2000; /* a slow disk: commits pile up behind a sync */
	syncs = wal_syncs();
	for (i = 0; i < GC_THREADS; i++) {
		args[i] = (struct gc_arg){ .thread = i };
		cr_assert_eq(pthread_create(&t[i], NULL, gc_writer, &args[i]), 0);
	}
	for (i = 0; i < GC_THREADS; i++)
		pthread_join(t[i], NULL);
	syncs = wal_syncs() - syncs;
	for (i = 0; i < GC_THREADS; i++) {
		cr_expect_eq(args[i].failures, 0, "thread %u: %d failures, first %s", i,
			     args[i].failures, pc_strerror(args[i].first_err));
		cr_expect_eq(args[i].unsynced, 0, "thread %u: %d commits returned before a sync "
			     "of their write", i, args[i].unsynced);
	}
	for (i = 0; i < GC_THREADS; i++) {
		for (k = 0; k < GC_COMMITS; k++) {
			snprintf(name, sizeof(name), "t%u.%u", i, k);
			cr_assert_eq(STORE_CALL(st, key_get, name, value, sizeof(value)), PC_OK,
				     "%s", name);
		}
	}
	cr_assert_gt(syncs, 0);
	/* one each would be 200; about 90 here with two under way at once */
	cr_assert_lt(syncs, GC_THREADS * GC_COMMITS * 3 / 4, "%llu syncs for %d commits: no grouping",
		     (unsigned long long)syncs, GC_THREADS * GC_COMMITS);
}

/* ---- one connection for every transaction (sqlite_begin) ----------------------------- */

static void *commit_w2(void *p)
{
	enum pc_err *err = p;

	*err = commit_one(st, "w2");
	return NULL;
}

/* Another connection's commit empties a connection's page cache: were each
 * thread's transactions on its own connection, every one after another
 * thread's would read its b-tree paths again from the files (refresh
 * rotation read two dozen pages). Here one thread commits, and the next
 * transaction, on another thread, reads what it wrote and writes beside it. */
Test(sqlite_sync, a_transaction_after_another_threads_commit_reads_no_page_again)
{
	enum pc_err err = PC_EINVAL;
	char value[8];
	uint64_t reads;
	pthread_t t;

	st = open_store("");
	cr_assert_eq(commit_one(st, "w1"), PC_OK);
	/* this thread's own connection, opened and read outside a transaction */
	cr_assert_eq(STORE_CALL(st, key_get, "w1", value, sizeof(value)), PC_OK);
	cr_assert_eq(pthread_create(&t, NULL, commit_w2, &err), 0);
	pthread_join(t, NULL);
	cr_assert_eq(err, PC_OK, "%s", pc_strerror(err));
	reads = file_reads();
	cr_assert_eq(store_begin(st), PC_OK);
	cr_expect_eq(STORE_CALL(st, key_get, "w2", value, sizeof(value)), PC_OK,
		     "the other thread's commit is not seen");
	cr_assert_eq(STORE_CALL(st, key_put_if_absent, "w3", "v"), PC_OK);
	cr_assert_eq(store_commit(st), PC_OK);
	reads = file_reads() - reads;
	cr_expect_eq(reads, 0, "%llu pages read again", (unsigned long long)reads);
}

static void *tx_left_open(void *p)
{
	enum pc_err *err = p;

	*err = store_begin(st);
	if (*err == PC_OK)
		*err = STORE_CALL(st, key_put_if_absent, "abandoned", "v");
	return NULL; /* ends inside its transaction */
}

/* A thread that ends inside its transaction (a bug elsewhere) gives the
 * writers' turn back, its writes rolled back, rather than stop every
 * later transaction. */
Test(sqlite_sync, a_thread_that_ends_inside_a_transaction_leaves_the_turn_free, .timeout = 30)
{
	enum pc_err err = PC_EINVAL;
	char value[8];
	pthread_t t;

	st = open_store("");
	cr_assert_eq(pthread_create(&t, NULL, tx_left_open, &err), 0);
	pthread_join(t, NULL);
	cr_assert_eq(err, PC_OK);
	cr_assert_eq(commit_one(st, "after"), PC_OK);
	cr_expect(my_write_synced());
	cr_expect_eq(STORE_CALL(st, key_get, "abandoned", value, sizeof(value)), PC_ENOTFOUND);
	cr_expect_eq(STORE_CALL(st, key_get, "after", value, sizeof(value)), PC_OK);
}

/* ---- the checkpoint (ckpt_due_run) ---------------------------------------------------- */

#define CK_THREADS 4
#define CK_COMMITS 3000

static void *ck_writer(void *p)
{
	unsigned thread = (unsigned)(uintptr_t)p, i;
	char name[32], value[1200];

	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	for (i = 0; i < CK_COMMITS; i++) {
		snprintf(name, sizeof(name), "ck%u.%u", thread, i);
		if (store_begin(st) != PC_OK)
			return (void *)1;
		if (STORE_CALL(st, key_put_if_absent, name, value) != PC_OK) {
			(void)store_rollback(st);
			return (void *)1;
		}
		if (store_commit(st) != PC_OK)
			return (void *)1;
	}
	return NULL;
}

/* Writers that never pause: the checkpoint outside the write turn never
 * catches up with them by itself, and SQLite starts the WAL again from its
 * beginning only after one that copied every frame. Its rest, under the
 * turn, lets it: the WAL file ends far shorter than what was written to it. */
Test(sqlite_sync, under_writes_that_never_pause_the_wal_starts_again, .timeout = 120)
{
	pthread_t t[CK_THREADS];
	char path[PATH_MAX + 16], value[1300];
	uint64_t written;
	struct stat sb;
	void *ret;
	unsigned i;

	st = open_store("?synchronous=normal");
	pthread_mutex_lock(&shim_lock);
	written = shim_wal_bytes;
	pthread_mutex_unlock(&shim_lock);
	for (i = 0; i < CK_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, ck_writer, (void *)(uintptr_t)i), 0);
	for (i = 0; i < CK_THREADS; i++) {
		pthread_join(t[i], &ret);
		cr_expect_null(ret, "writer %u failed", i);
	}
	pthread_mutex_lock(&shim_lock);
	written = shim_wal_bytes - written;
	pthread_mutex_unlock(&shim_lock);
	snprintf(path, sizeof(path), "%s/sync.db-wal", test_dir);
	cr_assert_eq(stat(path, &sb), 0);
	/* more than three WALs' worth written: started again at least twice */
	cr_assert_gt(written, 3 * 8000 * 4120ULL, "%llu bytes written", (unsigned long long)written);
	cr_expect_lt((uint64_t)sb.st_size, written / 2, "the WAL holds %lld of %llu bytes written",
		     (long long)sb.st_size, (unsigned long long)written);
	cr_expect_eq(STORE_CALL(st, key_get, "ck3.2999", value, sizeof(value)), PC_OK);
	cr_expect_eq(strlen(value), 1199);
}
