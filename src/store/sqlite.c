/*
 * sqlite.c - the SQLite driver: connections per thread, WAL, a statement cache.
 *
 * URL: as SQLAlchemy spells it. "sqlite:///rel/path.db" is the relative path
 * "rel/path.db", "sqlite:////abs/path.db" the absolute "/abs/path.db". An
 * in-memory database ("sqlite://", "sqlite:///:memory:") is refused: every
 * thread has its own connection, and each would see a different database.
 *
 * Connections. A thread's first call opens its own connection and keeps it
 * under the store's pthread key; the key's destructor closes it when the
 * thread exits. Every connection is also on the store's list, under the
 * store's mutex, so sqlite_close() can close those whose threads still live.
 * A thread's own connection is used only by that thread (SQLITE_OPEN_NOMUTEX)
 * and runs what it reads outside a transaction and its single-statement
 * writes. Transactions and scripts run on one more, the store's writer,
 * used by whichever thread holds the store's write_mu (sqlite_begin): its
 * page cache stays warm from one transaction to the next.
 * Each is set up with journal_mode=WAL (readers never wait for the writer),
 * durable commits (a commit is on disk before it is acknowledged, so it
 * survives a power loss: the group commit below; "?synchronous=normal" on
 * the URL trades that for speed: a power loss may then undo the last
 * commits, never corrupt), foreign_keys=ON (sessions cascade with their user),
 * mmap_size from "?mmap_mb=N" (0..1024 MiB; 0 by default here, ctx.c passes
 * the sqlite_mmap_mb setting: reads through a map skip a copy, but every
 * page read stays in the process's RSS while the connection lives), and a
 * busy handler of 10 s: a writer waits for the write lock rather than fail
 * with "database is locked" (conn_busy_wait: short naps first, for a
 * commit holds the lock for tens of microseconds now that its sync comes
 * after it).
 *
 * Statements. A connection prepares a statement of enum store_stmt (text:
 * store_sql_sqlite[]) the first time it needs it (SQLITE_PREPARE_PERSISTENT),
 * checks that its result columns are those of store_stmt_cols[] by name, and
 * keeps it until it closes. Parameters are bound by name. A sqlite3_stmt is
 * the driver's struct store_ps: no wrapper, no allocation per use.
 *
 * Transactions are BEGIN IMMEDIATE: the write lock is taken up front (waiting
 * in the busy handler); a deferred transaction that upgrades from read to
 * write can get SQLITE_BUSY without the busy handler being tried. Whether one
 * is open is the writer's autocommit flag; which thread's it is, the turn
 * that thread holds (sqlite_turn), given back once the flag says it ended.
 *
 * The write generation: the WAL hook moves it after each commit that wrote.
 *
 * Group commit (the default, "?synchronous=full", in WAL mode). SQLite's own
 * synchronous=FULL syncs the WAL inside each commit, under the write lock:
 * one commit per sync of the disk, whatever the number of writers. Instead
 * the connections run synchronous=NORMAL (SQLite writes a commit's WAL frames
 * and syncs nothing) and the driver makes each commit durable itself before
 * the statement that committed returns (wal_group_sync): the WAL hook marks
 * the commit due, and, on the committing thread, with the write lock
 * released, the commit takes a number (committed) and waits until "synced"
 * reaches it. When no sync began since it was counted ("started" is below
 * its number), the thread leads one: it notes the last number handed out
 * (target, now "started"), syncs the WAL (xSync of SQLite's own WAL handle,
 * with the flags SQLite's FULL uses for a commit: SQLITE_SYNC_NORMAL,
 * fdatasync on Linux), and raises "synced" to target. A sync of the file
 * covers every frame written before it began, whichever connection (file
 * descriptor) wrote it, and a commit is counted only after its frames were
 * written: so a sync makes durable every commit counted before it began,
 * and a thread returns only once one such sync succeeded. A commit counted
 * while a sync is under way (which may not cover it) starts the next one at
 * once, beside it (a disk takes a few syncs at a time), up to
 * SQLITE_GROUP_SYNCS under way; past that, the commits wait, and the next
 * sync serves all of them: while the disk syncs, the other writers commit.
 *
 * What NORMAL still syncs by itself keeps the WAL safe to restart: a
 * checkpoint syncs the WAL before it copies frames into the database and the
 * database before it records them as copied, and the WAL header written when
 * the log starts again from its beginning (only once every frame is in the
 * synced database) is synced before any frame after it. What is on disk is
 * always a prefix of the commits (recovery stops at the first frame whose
 * checksum chain breaks), so a commit that depends on another is never
 * durable without it. Unlike FULL, another connection may read a commit
 * before it is on disk (its writer has not returned yet); a write that
 * builds on what it read is synced with it.
 *
 * A failed sync (an I/O error) fails every commit it was to cover, and, as
 * PostgreSQL stops at one, every later one of this store: after a failed
 * fdatasync the kernel may have dropped the pages it could not write, and
 * a later sync that succeeds does not bring them back. The failure is
 * logged; the commits report PC_ESTORE and /readyz reports writes refused
 * (store_note_write_refused) until the process is restarted.
 *
 * A statement that writes and returns rows (RETURNING) outside a
 * transaction commits when it finishes: sqlite_done steps it to its end
 * (the WAL hook runs only in a step) and syncs there; done cannot return an
 * error, so such a failure shows in the log and in every later commit.
 *
 * Per-user credential stamps (store.h, store_cred_*). The triggers of
 * migration 015 log every change of a row a credential check reads in
 * credential_changes. The update hook notes that a statement of this
 * connection logged one; after the commit (the WAL hook marks it due, and the
 * driver's done, back in autocommit, reads it: on the committing thread,
 * before the operation returns) the connection reads the log's new rows and
 * bumps their users (cred_sync). Other processes' rows are read the same way
 * when the credential cache asks (store_cred_poll).
 *
 * The database file and its -wal and -shm files hold password hashes and
 * secrets: a new one is made 0600, and an existing one that its group or
 * others may read or write is refused at open (with the chmod that fixes
 * it), not tightened behind the operator's back.
 *
 * Database errors are logged as one record (base/log.c: SQLite's message,
 * its code, the statement text): never a parameter value.
 *
 * sqlite_close() must not run while other threads still call the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/driver.h"

#define SQLITE_URL_SCHEME "sqlite://"
#define SQLITE_BUSY_TIMEOUT_MS 10000
/* The WAL length (frames of a 4 KiB page each) past which a commit starts
 * a checkpoint (ckpt_due_run). SQLite's own wal_autocheckpoint is 1 000; the
 * part of a checkpoint under the write turn costs about the same (two syncs,
 * 12 ms here) whatever the length, so a longer WAL pays it less often: at
 * 8 000 frames (a WAL file of ~33 MiB, reused once it starts again) ~14 us
 * of the turn per refresh rotation, against ~66 us at 1 000. */
#define SQLITE_WAL_CHECKPOINT_FRAMES 8000
/* The checkpoint's passes outside the write turn (ckpt_due_run): at most
 * this many, until fewer frames than SQLITE_CKPT_REST are left for the
 * pass under the turn. */
#define SQLITE_CKPT_PASSES 8
#define SQLITE_CKPT_REST 64
/* A store's checkpoint (ckpt_state): none under way; passes outside the
 * turn copying; caught up, the rest for the next commit's hook. */
#define SQLITE_CKPT_IDLE 0
#define SQLITE_CKPT_COPYING 1
#define SQLITE_CKPT_CAUGHT_UP 2
/* Syncs of the WAL under way at once (the group commit, atop): a commit
 * counted while one runs starts the next beside it rather than wait for it
 * to end; past this many, the commits wait and the next sync serves them all. */
#define SQLITE_GROUP_SYNCS 2
#define SQLITE_MMAP_MB_MAX 1024 /* SQLite caps it at its SQLITE_MAX_MMAP_SIZE anyway */
#define SQLITE_OPEN_FLAGS \
	(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX)

/* A sqlite3_stmt is the driver's struct store_ps. */
static sqlite3_stmt *ps_stmt(struct store_ps *ps)
{
	return (sqlite3_stmt *)ps;
}

/* ---- the store and its connections --------------------------------------------- */

struct sqlite_store;

struct sqlite_conn {
	struct sqlite_conn *next;  /* on store->conns */
	struct sqlite_conn *prev;
	struct sqlite_store *store;
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT__MAX]; /* NULL until first used */
	/* a statement that may change what a credential check reads was
	 * prepared since the last commit that wrote (conn_on_commit) */
	bool gen_write;
	/* the open transaction logged rows in credential_changes (conn_on_change) */
	bool cred_logged;
	/* its commits are made durable by the group commit (WAL, not ?synchronous=normal) */
	bool group_sync;
	/* the store's writer (sqlite_begin): no thread's own, used under write_mu */
	bool is_writer;
};

/* The group commit's state, one per store (see the comment atop). */
struct sqlite_group {
	pthread_mutex_t lock;
	pthread_cond_t cond;  /* "synced" or "failed" moved, or a leader finished */
	uint64_t committed;   /* commits counted, each after its frames were written */
	uint64_t started;     /* a sync that began after this commit was counted is under way
	                       * or done */
	unsigned syncing;     /* syncs under way, SQLITE_GROUP_SYNCS at most */
	uint64_t synced;      /* every commit counted up to this one is on disk */
	bool failed;          /* a sync failed: no later commit is reported durable */
};

/* Rows of credential_changes read at most at once; past it every user is
 * bumped instead. */
#define SQLITE_CRED_BATCH 1000

struct sqlite_store {
	struct pc_store base; /* first: a struct pc_store * is a struct sqlite_store * */
	pthread_key_t key;    /* this thread's struct sqlite_conn */
	pthread_mutex_t lock; /* guards conns */
	struct sqlite_conn *conns;
	char path[PATH_MAX];
	bool sync_normal;     /* ?synchronous=normal: no fsync per commit */
	int mmap_mb;          /* ?mmap_mb=N: PRAGMA mmap_size, MiB */
	struct sqlite_group group;
	/* The in-process writers' turn: a transaction takes it before BEGIN
	 * IMMEDIATE and gives it back once it ended (sqlite_step, before the
	 * commit's sync), so this process's writers queue here and the next
	 * one starts the moment the last one's COMMIT is written, rather than
	 * nap in the busy handler while the write lock lies free. Other
	 * processes' writers still meet SQLite's lock and the busy handler. */
	pthread_mutex_t write_mu;
	/* The connection every transaction runs on, by whichever thread holds
	 * write_mu (opened by the first transaction, NULL until then): its page
	 * cache stays warm, for no other connection of this process commits
	 * while it lives (see sqlite_begin). */
	struct sqlite_conn *writer;
	_Atomic int ckpt_state; /* SQLITE_CKPT_*: the checkpoint in two parts (ckpt_due_run) */
};

/* The store of this thread's last prepare: whose statement a failing step
 * is (a connection is used only by the thread that opened it, and a step
 * follows its prepare on that thread). */
static _Thread_local struct sqlite_store *sqlite_current;

/* This thread's connection whose commit logged credential changes not yet
 * read (conn_on_commit); read in sqlite_done once out of the transaction. */
static _Thread_local struct sqlite_conn *sqlite_cred_due;

/* This thread's connection whose commit wrote frames not yet synced (the WAL
 * hook marks it; the step that committed, or sqlite_done, syncs them). */
static _Thread_local struct sqlite_conn *sqlite_sync_due;

/* The writer whose store's write_mu this thread holds: a transaction of
 * this thread's is open on it (sqlite_begin), or ended and not settled yet
 * (write_turn_settle). One store at a time. */
static _Thread_local struct sqlite_conn *sqlite_turn;

/* The store whose WAL this thread's last commit found past
 * SQLITE_WAL_CHECKPOINT_FRAMES (conn_on_commit): checkpointed by
 * ckpt_due_run once no transaction of this thread's is open. */
static _Thread_local struct sqlite_store *sqlite_ckpt_due;

static struct sqlite_store *sqlite_store_of(struct pc_store *s)
{
	return (struct sqlite_store *)s;
}

/* One line: SQLite's message and code, and what we were doing. No values. */
static void db_log(sqlite3 *db, const char *what)
{
	stats_add(STAT_STORE_ERRORS, 1);
	log_error("sqlite", "%s (code %d) in: %.80s", sqlite3_errmsg(db),
		sqlite3_extended_errcode(db), what);
}

/* Finalizes the statements and closes the database. Not on the list any more. */
static void conn_free(struct sqlite_conn *c)
{
	size_t i;

	if (sqlite_cred_due == c)
		sqlite_cred_due = NULL;
	if (sqlite_sync_due == c)
		sqlite_sync_due = NULL;
	if (sqlite_turn == c) { /* closed inside a transaction: closing rolls it back */
		sqlite_turn = NULL;
		pthread_mutex_unlock(&c->store->write_mu);
	}
	for (i = 0; i < STMT__MAX; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close_v2(c->db);
	free(c);
}

/* Called with store->lock held. */
static void conn_unlink(struct sqlite_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->store->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->next = NULL;
	c->prev = NULL;
}

/* The pthread key's destructor: runs when a thread that used the store exits.
 * A transaction it left open on the writer is rolled back and its turn given
 * back, so the next writer does not wait for ever. */
static void conn_destroy(void *p)
{
	struct sqlite_conn *c = p;
	struct sqlite_store *st = c->store;
	struct sqlite_conn *w = sqlite_turn;

	if (w != NULL && w->store == st) {
		sqlite_turn = NULL;
		(void)sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
		pthread_mutex_unlock(&st->write_mu);
	}
	pthread_mutex_lock(&st->lock);
	conn_unlink(c);
	pthread_mutex_unlock(&st->lock);
	conn_free(c);
}

/* Receives the one row of PRAGMA journal_mode: the mode now in force. */
static int journal_mode_row(void *arg, int ncols, char **vals, char **names)
{
	bool *is_wal = arg;

	*is_wal = ncols == 1 && vals[0] != NULL && strcmp(vals[0], "wal") == 0;
	return 0;
}

/*
 * SQLite calls this after each commit that wrote something in WAL mode, once
 * the write lock is released: the write generation moves only after the
 * data is there to be read (store.h), and only when the transaction ran a
 * statement that is not generation-neutral (driver.h,
 * store_stmt_gen_neutral: the attempt counters, the audit log, the outbox).
 * It replaces SQLite's default hook, so it also checkpoints, passively, in
 * two parts (ckpt_due_run): a WAL past SQLITE_WAL_CHECKPOINT_FRAMES is
 * marked for the passes outside the turn, and once they caught up, the next
 * commit copies what is left.
 */
static int conn_on_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sqlite_conn *c = arg;
	struct sqlite_store *st = c->store;
	int caught_up = SQLITE_CKPT_CAUGHT_UP;

	if (c->gen_write) {
		c->gen_write = false;
		atomic_fetch_add(&st->base.gen, 1);
	}
	if (c->cred_logged) {
		c->cred_logged = false;
		sqlite_cred_due = c; /* read by sqlite_done: no statement inside this hook */
	}
	if (c->group_sync)
		sqlite_sync_due = c; /* synced once the step returns: no waiting inside SQLite */
	if (atomic_compare_exchange_strong(&st->ckpt_state, &caught_up, SQLITE_CKPT_IDLE))
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	else if (frames >= SQLITE_WAL_CHECKPOINT_FRAMES &&
		   atomic_load(&st->ckpt_state) == SQLITE_CKPT_IDLE)
		sqlite_ckpt_due = st;
	return SQLITE_OK;
}

/* The update hook: a row of credential_changes was inserted (by a trigger of
 * 015) in this connection's transaction. */
static void conn_on_change(void *arg, int op, const char *db, const char *table,
			   sqlite3_int64 rowid)
{
	struct sqlite_conn *c = arg;

	(void)db;
	(void)rowid;
	if (op == SQLITE_INSERT && strcmp(table, "credential_changes") == 0)
		c->cred_logged = true;
}

/* The rollback hook: what the transaction logged is gone with it. */
static void conn_on_rollback(void *arg)
{
	struct sqlite_conn *c = arg;

	c->cred_logged = false;
}

/* portcullis_group_commit(): 1 when this connection's commits are synced
 * by the group commit (then synchronous reads NORMAL, yet a commit is on
 * disk before it returns: STMT_SYNCHRONOUS reports 2), else 0. */
static void conn_group_commit_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct sqlite_conn *c = sqlite3_user_data(ctx);

	(void)argc;
	(void)argv;
	sqlite3_result_int(ctx, c->group_sync ? 1 : 0);
}

/*
 * The busy handler: called by SQLite while another connection holds the
 * lock it needs, n = the calls so far for this wait; 1 naps and retries, 0
 * gives up (SQLITE_BUSY). SQLite's own (sqlite3_busy_timeout) sleeps 1, 2,
 * 5, 10 ... 100 ms: made for commits that hold the lock through their
 * sync, and far longer than a writer holds it here, where the sync comes
 * after the lock is released (the group commit atop): with 16 write
 * workers contending, a loser slept past the lock's release many times
 * over (refresh rotation's p99 100-120 ms). Naps of 20 us, then 100 us
 * from the 8th call, then 1 ms from the 64th, for at most
 * SQLITE_BUSY_TIMEOUT_MS of waiting in all.
 */
static _Thread_local int64_t sqlite_busy_since_us;

static int conn_busy_wait(void *arg, int n)
{
	struct timespec nap = { 0, n < 8 ? 20000 : n < 64 ? 100000 : 1000000 };
	int64_t now = time_mono_us();

	(void)arg;
	if (n == 0)
		sqlite_busy_since_us = now;
	else if (now - sqlite_busy_since_us >= (int64_t)SQLITE_BUSY_TIMEOUT_MS * 1000)
		return 0;
	nanosleep(&nap, NULL);
	return 1;
}

/*
 * Runs one set-up statement, retrying while the database is busy: switching
 * a new file to WAL, or opening one while another connection (another
 * instance) is still doing so, can answer SQLITE_BUSY without calling the
 * busy handler (SQLite does so where waiting could deadlock). Retries every
 * 2..64 ms, for at most SQLITE_BUSY_TIMEOUT_MS in all.
 */
static int conn_setup_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
			   void *arg)
{
	int64_t waited_ms = 0, step_ms = 2;
	int rc;

	for (;;) {
		rc = sqlite3_exec(db, sql, cb, arg, NULL);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			return rc;
		if (waited_ms >= SQLITE_BUSY_TIMEOUT_MS)
			return rc;
		sqlite3_sleep((int)step_ms);
		waited_ms += step_ms;
		if (step_ms < 64)
			step_ms *= 2;
	}
}

/*
 * Opens a connection, sets it up and puts it on the list: this thread's,
 * registered under the key, or the store's writer (is_writer, sqlite_begin).
 * PC_ESTORE (logged; ei->detail says why when ei is given), PC_ENOMEM.
 */
static enum pc_err conn_open(struct sqlite_store *st, bool is_writer, struct sqlite_conn **out,
			     struct pc_errinfo *ei)
{
	struct sqlite_conn *c;
	bool is_wal = false;
	char msg[sizeof(ei->detail)], setup[160];
	int rc;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return PC_ENOMEM;
	c->store = st;
	c->is_writer = is_writer;
	rc = sqlite3_open_v2(st->path, &c->db, SQLITE_OPEN_FLAGS, NULL);
	if (rc != SQLITE_OK) {
		snprintf(msg, sizeof(msg), "cannot open database %.128s: %s", st->path,
			 c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto out_fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	/* First: the pragmas below may themselves have to wait for a lock. */
	rc = sqlite3_busy_handler(c->db, conn_busy_wait, NULL);
	if (rc == SQLITE_OK)
		rc = conn_setup_exec(c->db, "PRAGMA journal_mode = WAL", journal_mode_row, &is_wal);
	/* FULL without WAL (SQLite's rollback journal syncs itself); NORMAL in
	 * WAL mode, where the group commit syncs unless ?synchronous=normal. */
	c->group_sync = is_wal && !st->sync_normal;
	if (rc == SQLITE_OK) {
		snprintf(setup, sizeof(setup),
			 "PRAGMA synchronous = %s; PRAGMA foreign_keys = ON; PRAGMA mmap_size = %lld",
			 st->sync_normal || is_wal ? "NORMAL" : "FULL", (long long)st->mmap_mb << 20);
		rc = conn_setup_exec(c->db, setup, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(c->db, "portcullis_group_commit", 0,
						SQLITE_UTF8 | SQLITE_DIRECTONLY, c,
						conn_group_commit_fn, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(msg, sizeof(msg), "cannot set up database %.128s: %s (extended code %d)",
			 st->path, sqlite3_errmsg(c->db), sqlite3_extended_errcode(c->db));
		goto out_fail;
	}
	if (!is_wal) {
		log_warn("sqlite", "WAL journal not available for %s; "
			"concurrent requests will wait for each other", st->path);
		atomic_store(&st->base.gen_tracked, false);
	} else {
		sqlite3_wal_hook(c->db, conn_on_commit, c);
		sqlite3_update_hook(c->db, conn_on_change, c);
		sqlite3_rollback_hook(c->db, conn_on_rollback, c);
	}
	if (!is_writer && pthread_setspecific(st->key, c) != 0) {
		snprintf(msg, sizeof(msg), "cannot keep a connection for this thread");
		goto out_fail;
	}
	pthread_mutex_lock(&st->lock);
	c->next = st->conns;
	if (st->conns != NULL)
		st->conns->prev = c;
	st->conns = c;
	pthread_mutex_unlock(&st->lock);
	*out = c;
	return PC_OK;

out_fail:
	log_error("sqlite", "%s", msg);
	pc_errinfo_setf(ei, NULL, "database_url", PC_V_STORE, "%s", msg);
	conn_free(c);
	return PC_ESTORE;
}

/* This thread's connection, opened on first use. PC_ESTORE, PC_ENOMEM. */
static enum pc_err conn_get(struct sqlite_store *st, struct sqlite_conn **out)
{
	*out = pthread_getspecific(st->key);
	if (*out != NULL)
		return PC_OK;
	return conn_open(st, false, out, NULL);
}

/* The connection this thread's next statement runs on: the writer inside
 * its transaction (sqlite_begin), else its own. PC_ESTORE, PC_ENOMEM. */
static enum pc_err conn_use(struct sqlite_store *st, struct sqlite_conn **out)
{
	if (sqlite_turn != NULL && sqlite_turn->store == st) {
		*out = sqlite_turn;
		return PC_OK;
	}
	return conn_get(st, out);
}

/*
 * Checks, once per prepared statement, that its result columns are those of
 * store_stmt_cols[id], in order and by name. PC_ESTORE (logged) otherwise.
 */
static enum pc_err stmt_check_columns(sqlite3_stmt *stmt, enum store_stmt id)
{
	const struct store_cols *want = &store_stmt_cols[id];
	int i, n = sqlite3_column_count(stmt);

	if (n != want->n) {
		log_error("sqlite", "%d result columns, not %d, in: %.80s", n,
			want->n, store_sql_sqlite[id]);
		return PC_ESTORE;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(sqlite3_column_name(stmt, i), want->names[i]) != 0) {
			log_error("sqlite", "result column %d is %s, not %s, in: "
				"%.80s", i, sqlite3_column_name(stmt, i), want->names[i],
				store_sql_sqlite[id]);
			return PC_ESTORE;
		}
	}
	return PC_OK;
}

/* Statement id, prepared (and checked) on first use: the writer's inside
 * this thread's transaction (sqlite_begin), else this thread's own. */
static enum pc_err sqlite_prepare(struct pc_store *s, enum store_stmt id, struct store_ps **out)
{
	struct sqlite_store *st = sqlite_store_of(s);
	struct sqlite_conn *c;
	enum pc_err err;
	int rc;

	sqlite_current = st;
	err = conn_use(st, &c);
	if (err != PC_OK)
		return err;
	if (c->stmt[id] == NULL) {
		rc = sqlite3_prepare_v3(c->db, store_sql_sqlite[id], -1, SQLITE_PREPARE_PERSISTENT,
					&c->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			db_log(c->db, store_sql_sqlite[id]);
			c->stmt[id] = NULL;
			return PC_ESTORE;
		}
		err = stmt_check_columns(c->stmt[id], id);
		if (err != PC_OK) {
			sqlite3_finalize(c->stmt[id]);
			c->stmt[id] = NULL;
			return err;
		}
	}
	if (!store_stmt_gen_neutral(id) && !sqlite3_stmt_readonly(c->stmt[id]))
		c->gen_write = true; /* a rollback leaves it set: the next commit moves */
	*out = (struct store_ps *)c->stmt[id];
	return PC_OK;
}

static void sqlite_cred_sync(struct pc_store *s);

/* Reads the credential changes this thread's last commit logged, once no
 * transaction is open any more: after the commit, before the operation
 * returns (store.h: a bump precedes the writer's answer). */
static void cred_due_sync(void)
{
	struct sqlite_conn *c = sqlite_cred_due;

	/* the writer's transaction ended once its turn was given back; its
	 * connection is then another thread's to use */
	if (c == NULL || sqlite_turn == c || (!c->is_writer && !sqlite3_get_autocommit(c->db)))
		return;
	sqlite_cred_due = NULL;
	sqlite_cred_sync(&c->store->base);
}

/* Syncs c's WAL through SQLite's own handle of it (the file the frames went
 * to, whatever has happened to its path since), with the flags SQLite's
 * synchronous=FULL gives a commit's sync (SQLITE_SYNC_NORMAL; its
 * fullfsync, off by default, is macOS's F_FULLFSYNC). An SQLite code. */
static int wal_sync(struct sqlite_conn *c)
{
	sqlite3_file *wal = NULL;
	int rc;

	rc = sqlite3_file_control(c->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
	if (rc == SQLITE_OK && (wal == NULL || wal->pMethods == NULL) && !c->is_writer) {
		/* A thread's own connection syncing the writer's commit may not
		 * have read since the WAL was made: a read opens it (SQLite then
		 * keeps it open until the connection closes). */
		rc = sqlite3_exec(c->db, "PRAGMA schema_version", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_file_control(c->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
	}
	if (rc != SQLITE_OK)
		return rc;
	if (wal == NULL || wal->pMethods == NULL)
		return SQLITE_IOERR_FSYNC; /* no WAL open: nothing to make durable with */
	return wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
}

/*
 * The group commit (atop): makes this thread's last commit, whose frames c
 * wrote, durable before it returns. Counts it, then waits until a sync that
 * began after it was counted succeeded, leading that sync when none began
 * yet. PC_ESTORE (logged, storage noted as refusing writes)
 * when a sync failed, now or before.
 */
static enum pc_err wal_group_sync(struct sqlite_conn *c)
{
	struct sqlite_store *st = c->store;
	struct sqlite_group *g = &st->group;
	uint64_t seq, target;
	bool durable;
	int rc;

	pthread_mutex_lock(&g->lock);
	seq = ++g->committed;
	while (g->synced < seq && !g->failed) {
		/* a sync that covers it is under way, or as many as run at once */
		if (g->started >= seq || g->syncing >= SQLITE_GROUP_SYNCS) {
			pthread_cond_wait(&g->cond, &g->lock);
			continue;
		}
		/* Lead: every commit counted so far wrote its frames already. */
		target = g->committed;
		g->started = target;
		g->syncing++;
		pthread_mutex_unlock(&g->lock);
		rc = wal_sync(c);
		pthread_mutex_lock(&g->lock);
		g->syncing--;
		if (rc != SQLITE_OK) {
			g->failed = true;
			log_error("sqlite", "cannot sync the write-ahead log of %s (code %d): "
				  "no commit from now on is reported durable; restart", st->path, rc);
		} else if (target > g->synced)
			g->synced = target;
		pthread_cond_broadcast(&g->cond);
	}
	durable = g->synced >= seq;
	pthread_mutex_unlock(&g->lock);
	if (durable)
		return PC_OK;
	stats_add(STAT_STORE_ERRORS, 1);
	store_note_write_refused(&st->base, time_now_ms());
	return PC_ESTORE;
}

/* Syncs the commit this thread's last step made, if it wrote (the WAL hook
 * marked it due). PC_OK when there was none. A commit of the writer's waits
 * until its turn is given back (sqlite_done), so that the next transaction
 * runs while this one's sync does; the sync goes through this thread's own
 * connection's handle of the WAL (the same file, another descriptor: a
 * sync of the file covers what any descriptor wrote), for the writer is
 * then another thread's. */
static enum pc_err commit_sync(void)
{
	struct sqlite_conn *c = sqlite_sync_due;
	enum pc_err err;

	if (c == NULL || sqlite_turn == c)
		return PC_OK;
	sqlite_sync_due = NULL;
	if (c->is_writer) {
		err = conn_get(c->store, &c);
		if (err != PC_OK) {
			stats_add(STAT_STORE_ERRORS, 1);
			return err;
		}
	}
	return wal_group_sync(c);
}

/* Gives the store's write_mu back once the transaction that took it has
 * ended: its COMMIT or ROLLBACK ran, an error rolled it back, or its BEGIN
 * failed; db ran the statement just ended. */
static void write_turn_settle(sqlite3 *db)
{
	struct sqlite_conn *w = sqlite_turn;

	if (w == NULL || w->db != db || !sqlite3_get_autocommit(w->db))
		return;
	sqlite_turn = NULL;
	pthread_mutex_unlock(&w->store->write_mu);
}

/*
 * The checkpoint of a WAL the last commit found long (conn_on_commit). Done
 * in the WAL hook, as SQLite's own hook does, it held every other
 * transaction back for its whole copy: 13 ms for a WAL of 1 000 frames,
 * once every ~140 refresh rotations, a quarter of the time the write turn
 * was held. Done only outside the turn, it never caught up with the writes
 * beside it, and SQLite starts the WAL again from its beginning only once a
 * checkpoint copied every frame: the WAL grew without end.
 *
 * So in two parts. Here, outside any transaction, on this thread's own
 * connection, passes of passive checkpoints (each copies the frames no
 * reader still needs; SQLITE_BUSY at once while another connection
 * checkpoints) copy the bulk while the other threads write, each pass the
 * frames written during the last, until fewer than SQLITE_CKPT_REST are
 * left (at most SQLITE_CKPT_PASSES). Then the next commit's hook, under the
 * turn, copies that rest (conn_on_commit), and the transaction after it
 * starts the WAL again. One thread of a store runs the passes at a time
 * (ckpt_state).
 */
static void ckpt_due_run(void)
{
	struct sqlite_store *st = sqlite_ckpt_due;
	struct sqlite_conn *own;
	int expected = SQLITE_CKPT_IDLE, pass, rc = SQLITE_OK, log = 0, done = 0;

	if (st == NULL || sqlite_turn != NULL)
		return;
	own = pthread_getspecific(st->key);
	if (own == NULL || !sqlite3_get_autocommit(own->db))
		return;
	sqlite_ckpt_due = NULL;
	if (!atomic_compare_exchange_strong(&st->ckpt_state, &expected, SQLITE_CKPT_COPYING))
		return; /* another thread's passes are under way */
	for (pass = 0; pass < SQLITE_CKPT_PASSES; pass++) {
		rc = sqlite3_wal_checkpoint_v2(own->db, "main", SQLITE_CHECKPOINT_PASSIVE,
					       &log, &done);
		if (rc != SQLITE_OK || log - done < SQLITE_CKPT_REST)
			break;
	}
	/* BUSY: another process checkpoints; a later long commit tries again */
	atomic_store(&st->ckpt_state, rc == SQLITE_OK ? SQLITE_CKPT_CAUGHT_UP : SQLITE_CKPT_IDLE);
}

/* sqlite_done, with the sync's outcome: a COMMIT's (tx_run). */
static enum pc_err stmt_finish(sqlite3_stmt *stmt)
{
	enum pc_err err;

	if (sqlite3_stmt_busy(stmt) && !sqlite3_stmt_readonly(stmt) &&
	    sqlite3_get_autocommit(sqlite3_db_handle(stmt))) {
		while (sqlite3_step(stmt) == SQLITE_ROW)
			;
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	write_turn_settle(sqlite3_db_handle(stmt)); /* stmt is the next writer's from here */
	err = commit_sync();
	cred_due_sync();
	ckpt_due_run();
	return err;
}

/* Ends a use: no snapshot held, no pointer to the caller's strings kept. A
 * statement that writes, left at a row outside a transaction (RETURNING),
 * commits here: stepped to its end, for the WAL hook runs only in a step,
 * then synced (an error is logged, and fails every later commit). */
static void sqlite_done(struct store_ps *ps)
{
	(void)stmt_finish(ps_stmt(ps));
}

/* Whether a failed write's code says the storage refuses writes, rather
 * than that this one write was wrong (a constraint, a bug). */
static bool refused_write(int xrc)
{
	switch (xrc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_PROTOCOL:
		return true;
	default:
		return false;
	}
}

/*
 * Maps a failed step. A unique violation is PC_EEXISTS with ei->field "email",
 * "username" or "id"; a missing parent row (foreign key) is PC_ENOTFOUND;
 * anything else is logged and PC_ESTORE.
 */
static enum pc_err stmt_error(sqlite3_stmt *stmt, struct pc_errinfo *ei)
{
	sqlite3 *db = sqlite3_db_handle(stmt);
	int xrc = sqlite3_extended_errcode(db);
	const char *m, *cols;
	const char *field = "id";

	if (xrc == SQLITE_CONSTRAINT_UNIQUE || xrc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		/* "UNIQUE constraint failed: users.email_lc" */
		m = sqlite3_errmsg(db);
		cols = strstr(m, "failed: ");
		cols = cols != NULL ? cols + strlen("failed: ") : "";
		if (strcmp(cols, "users.email_lc") == 0)
			field = "email";
		else if (strcmp(cols, "users.username_lc") == 0)
			field = "username";
		pc_errinfo_set(ei, NULL, field, PC_V_TAKEN, 0);
		return PC_EEXISTS;
	}
	if (xrc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return PC_ENOTFOUND;
	db_log(db, sqlite3_sql(stmt));
	/* a COMMIT too: in a transaction, that is where the pages are written */
	if (refused_write(xrc) && sqlite_current != NULL)
		store_note_write_refused(&sqlite_current->base, time_now_ms());
	return PC_ESTORE;
}


/* ---- binding, stepping, reading ----------------------------------------------------- */

static enum pc_err bind_rc(sqlite3_stmt *stmt, int rc)
{
	if (rc == SQLITE_OK)
		return PC_OK;
	db_log(sqlite3_db_handle(stmt), sqlite3_sql(stmt));
	return rc == SQLITE_NOMEM ? PC_ENOMEM : PC_ESTORE;
}

/* Binds one argument to the parameter of its name. */
static enum pc_err bind_one(sqlite3_stmt *stmt, const struct store_arg *a)
{
	int i = sqlite3_bind_parameter_index(stmt, a->name);
	const char *text;
	size_t len;
	enum pc_err err;

	if (i == 0) {
		log_error("sqlite", "no parameter %s in: %.80s", a->name,
			sqlite3_sql(stmt));
		return PC_ESTORE;
	}
	if (a->kind == ARG_INT)
		return bind_rc(stmt, sqlite3_bind_int64(stmt, i, a->i));
	err = store_arg_text(a, &text, &len);
	if (err != PC_OK)
		return err;
	if (text == NULL)
		return bind_rc(stmt, sqlite3_bind_null(stmt, i));
	if (len > INT_MAX)
		return PC_EINVAL;
	return bind_rc(stmt, sqlite3_bind_text(stmt, i, text, (int)len, SQLITE_STATIC));
}

/* Binds args[0..n) by name, stopping at the first error; every parameter of
 * the statement must be among them (names are distinct). */
static enum pc_err sqlite_bind(struct store_ps *ps, const struct store_arg *args, size_t n)
{
	sqlite3_stmt *stmt = ps_stmt(ps);
	enum pc_err err = PC_OK;
	size_t k;

	for (k = 0; k < n && err == PC_OK; k++)
		err = bind_one(stmt, &args[k]);
	if (err == PC_OK && (size_t)sqlite3_bind_parameter_count(stmt) != n) {
		log_error("sqlite", "%zu arguments for %d parameters in: %.80s",
			n, sqlite3_bind_parameter_count(stmt), sqlite3_sql(stmt));
		err = PC_ESTORE;
	}
	return err;
}

/* A step that committed outside a transaction returns once the commit is
 * durable (commit_sync); a COMMIT's is made durable by its sqlite_done,
 * once the writer's turn is given back (tx_run). */
static enum pc_err sqlite_step(struct store_ps *ps, struct pc_errinfo *ei, bool *row)
{
	int rc = sqlite3_step(ps_stmt(ps));
	enum pc_err err, synced;

	*row = rc == SQLITE_ROW;
	err = rc == SQLITE_ROW || rc == SQLITE_DONE ? PC_OK : stmt_error(ps_stmt(ps), ei);
	synced = commit_sync();
	return err != PC_OK ? err : synced;
}

static int64_t sqlite_column_int(struct store_ps *ps, int col)
{
	return sqlite3_column_int64(ps_stmt(ps), col);
}

/* *text NULL for SQL NULL. PC_ENOMEM (logged) when SQLite cannot convert it. */
static enum pc_err sqlite_column_text(struct store_ps *ps, int col, const char **text,
				      size_t *len)
{
	sqlite3_stmt *stmt = ps_stmt(ps);

	*text = NULL;
	*len = 0;
	if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
		return PC_OK;
	*text = (const char *)sqlite3_column_text(stmt, col);
	if (*text == NULL) {
		db_log(sqlite3_db_handle(stmt), sqlite3_sql(stmt));
		return PC_ESTORE;
	}
	*len = (size_t)sqlite3_column_bytes(stmt, col);
	return PC_OK;
}

static int64_t sqlite_changes(struct store_ps *ps)
{
	return sqlite3_changes(sqlite3_db_handle(ps_stmt(ps)));
}

/* ---- transactions and scripts ------------------------------------------------------------ */

/* Runs BEGIN, COMMIT or ROLLBACK when a transaction is open (want_open) or not. */
static enum pc_err tx_run(struct pc_store *s, enum store_stmt id, bool want_open)
{
	struct store_ps *ps;
	bool row;
	enum pc_err err, synced;

	err = sqlite_prepare(s, id, &ps);
	if (err != PC_OK)
		return err;
	if (sqlite3_get_autocommit(sqlite3_db_handle(ps_stmt(ps))) == want_open)
		err = PC_EINVAL; /* nested, or none to end */
	else
		err = sqlite_step(ps, NULL, &row);
	synced = stmt_finish(ps_stmt(ps)); /* the turn given back, then a COMMIT synced */
	return err != PC_OK ? err : synced;
}

/* Takes the store's write_mu for this thread (sqlite_turn), opening the
 * writer on first use, and this thread's own connection, which syncs the
 * writer's commits (commit_sync). PC_ESTORE, PC_ENOMEM. */
static enum pc_err turn_take(struct sqlite_store *st)
{
	struct sqlite_conn *own;
	enum pc_err err;

	err = conn_get(st, &own);
	if (err != PC_OK)
		return err;
	pthread_mutex_lock(&st->write_mu);
	if (st->writer == NULL) {
		err = conn_open(st, true, &st->writer, NULL);
		if (err != PC_OK) {
			st->writer = NULL;
			pthread_mutex_unlock(&st->write_mu);
			return err;
		}
	}
	sqlite_turn = st->writer;
	return PC_OK;
}

/*
 * BEGIN IMMEDIATE on the store's writer, after this process's other writers
 * (write_mu). Every transaction of the process runs on that one connection,
 * whichever thread runs it: SQLite empties a connection's page cache when
 * it finds that another connection committed since its last transaction,
 * so with a connection per thread each transaction read its b-tree paths
 * again (two dozen pread64 calls for a refresh rotation); the writer's
 * cache stays warm while only it commits. It is used only under write_mu,
 * by the thread that holds it (sqlite_turn), and given back once the
 * transaction ended (stmt_finish), before its commit's sync. A turn is
 * taken on one store at a time: PC_EINVAL inside another's.
 */
static enum pc_err sqlite_begin(struct pc_store *s)
{
	struct sqlite_store *st = sqlite_store_of(s);
	enum pc_err err;

	if (sqlite_turn != NULL)
		return PC_EINVAL; /* nested */
	err = turn_take(st);
	if (err != PC_OK)
		return err;
	err = tx_run(s, STMT_BEGIN, false); /* a BEGIN that failed gave the turn back */
	if (sqlite_turn == st->writer && sqlite3_get_autocommit(st->writer->db)) {
		sqlite_turn = NULL; /* not begun, not given back yet (no statement) */
		pthread_mutex_unlock(&st->write_mu);
	}
	return err;
}

static enum pc_err sqlite_commit(struct pc_store *s)
{
	return tx_run(s, STMT_COMMIT, true);
}

static enum pc_err sqlite_rollback(struct pc_store *s)
{
	return tx_run(s, STMT_ROLLBACK, true);
}

/* A script of several statements (a migration, a pragma the migrations
 * set), on the writer like every transaction: inside this thread's, or in a
 * turn of its own (a script that leaves a transaction open keeps the turn,
 * as sqlite_begin does). PC_ESTORE (logged). */
static enum pc_err sqlite_exec(struct pc_store *s, const char *sql)
{
	struct sqlite_store *st = sqlite_store_of(s);
	struct sqlite_conn *c;
	char *errmsg = NULL;
	enum pc_err err;
	int rc;

	if (sqlite_turn == NULL) {
		err = turn_take(st);
		if (err != PC_OK)
			return err;
	}
	err = conn_use(st, &c);
	if (err != PC_OK)
		return err;
	c->gen_write = true; /* a migration may change anything */
	store_cred_bump_all(s); /* ... before and after it */
	rc = sqlite3_exec(c->db, sql, NULL, NULL, &errmsg);
	if (sqlite3_get_autocommit(c->db))
		c->gen_write = false; /* what it committed moved the generation already */
	write_turn_settle(c->db); /* its own turn, or the transaction it ended */
	err = commit_sync(); /* one sync covers each commit of the script */
	store_cred_bump_all(s);
	cred_due_sync();
	ckpt_due_run();
	if (rc == SQLITE_OK)
		return err;
	log_error("sqlite", "%s in: %.80s", errmsg != NULL ? errmsg : "failed",
		sql);
	sqlite3_free(errmsg);
	return PC_ESTORE;
}

/* ---- the change log of credentials (015) --------------------------------------------- */

/*
 * Reads the rows of credential_changes after the last one applied and bumps
 * their users (store.h); then the last one applied moves to the log's top.
 * Every user is bumped instead on any doubt: the first read (nothing known
 * of what came before), more than SQLITE_CRED_BATCH rows waiting, a gap (rows
 * purged before they were read), a NULL user, an error (then the stamps are
 * no longer exact: a remembered answer lives auth_cache_ms at most, until a
 * read succeeds again). The bumps are made before the last seq moves, so a
 * thread that sees it moved finds them made. Any thread, its own connection.
 */
static void sqlite_cred_sync(struct pc_store *s)
{
	int64_t last = atomic_load(&s->cred_last), top = -1, next, seq, was;
	struct store_arg args[] = {
		A_INT(":last", last < 0 ? INT64_MAX : last), A_INT(":limit", SQLITE_CRED_BATCH + 1),
	};
	struct store_ps *ps;
	const char *id;
	size_t len, n = 0;
	bool row = false, all = last < 0, ok;
	enum pc_err err;

	next = last + 1;
	err = sqlite_prepare(s, STMT_CRED_CHANGES, &ps);
	if (err != PC_OK) {
		atomic_store(&s->cred_exact, false);
		store_cred_bump_all(s);
		return;
	}
	err = sqlite_bind(ps, args, NARGS(args));
	while (err == PC_OK && (err = sqlite_step(ps, NULL, &row)) == PC_OK && row) {
		seq = sqlite_column_int(ps, 0);
		if (sqlite_column_int(ps, 2) == 1) {
			top = seq;
			continue;
		}
		if (all)
			continue;
		if (seq != next || ++n > SQLITE_CRED_BATCH) {
			all = true; /* a gap, or too many */
			continue;
		}
		next = seq + 1;
		if (sqlite_column_text(ps, 1, &id, &len) != PC_OK || id == NULL)
			all = true; /* a user not known */
		else
			store_cred_bump_user(s, id, len);
	}
	sqlite_done(ps);
	ok = err == PC_OK && top >= 0;
	if (!ok || all || top != next - 1)
		store_cred_bump_all(s); /* an error, a doubt, rows purged unread, a new log */
	atomic_store(&s->cred_exact, ok);
	if (!ok)
		return;
	if (last >= 0 && top < last) { /* the log started again (another file there) */
		atomic_store(&s->cred_last, top);
		return;
	}
	was = atomic_load(&s->cred_last);
	while (was < top && !atomic_compare_exchange_weak(&s->cred_last, &was, top))
		;
}

/* ---- open, close ---------------------------------------------------------- */

/* One URL parameter into st: synchronous=full|normal or mmap_mb=0..1024.
 * False for any other. */
static bool url_param(const char *p, size_t n, struct sqlite_store *st)
{
	long v = 0;
	size_t i;

	if (n == 16 && strncmp(p, "synchronous=full", n) == 0)
		st->sync_normal = false;
	else if (n == 18 && strncmp(p, "synchronous=normal", n) == 0)
		st->sync_normal = true;
	else if (n > 8 && n <= 12 && strncmp(p, "mmap_mb=", 8) == 0) {
		for (i = 8; i < n; i++) {
			if (p[i] < '0' || p[i] > '9')
				return false;
			v = v * 10 + (p[i] - '0');
		}
		if (v > SQLITE_MMAP_MB_MAX)
			return false;
		st->mmap_mb = (int)v;
	} else
		return false;
	return true;
}

/*
 * The file path of a sqlite:// URL into st->path, and its parameters, joined
 * by '&': "synchronous=full" (the default) or "synchronous=normal";
 * "mmap_mb=N" (0, the default, to 1024). PC_EINVAL (ei->detail) for a URL it
 * cannot use.
 */
static enum pc_err url_path(const char *url, struct sqlite_store *st, struct pc_errinfo *ei)
{
	const char *p = url + strlen(SQLITE_URL_SCHEME);
	const char *q = strchr(url, '?');
	size_t n = q != NULL ? (size_t)(q - p) : strlen(p);
	const char *msg = NULL, *a, *b;

	st->sync_normal = false;
	st->mmap_mb = 0;
	if (strncmp(url, SQLITE_URL_SCHEME, strlen(SQLITE_URL_SCHEME)) != 0)
		msg = "not a sqlite:// URL";
	else if (n == 0 || (n == 9 && strncmp(p, "/:memory:", 9) == 0))
		msg = "in-memory SQLite databases are not supported (each thread has its own "
		      "connection); use sqlite:///relative/path.db or sqlite:////absolute/path.db";
	else if (*p != '/')
		msg = "a SQLite URL has no host: use sqlite:///relative/path.db or "
		      "sqlite:////absolute/path.db";
	else if (n == 1)
		msg = "the SQLite URL names no file";
	else if (n - 1 >= sizeof(st->path))
		msg = "the SQLite database path is too long";
	for (a = q != NULL ? q + 1 : NULL; msg == NULL && a != NULL; a = b != NULL ? b + 1 : NULL) {
		b = strchr(a, '&');
		if (!url_param(a, b != NULL ? (size_t)(b - a) : strlen(a), st))
			msg = "the SQLite URL parameters are synchronous=full or synchronous=normal "
			      "and mmap_mb=0..1024, joined by &";
	}
	if (msg != NULL) {
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_RULE, "%s", msg);
		return PC_EINVAL;
	}
	memcpy(st->path, p + 1, n - 1);
	st->path[n - 1] = '\0';
	return PC_OK;
}

/*
 * PC_OK unless path exists with a mode that lets its group or others read or
 * write it: then PC_EINVAL, ei saying which file, its mode and the fix.
 */
static enum pc_err private_mode(const char *path, struct pc_errinfo *ei)
{
	struct stat sb;

	if (stat(path, &sb) != 0 || (sb.st_mode & 077) == 0)
		return PC_OK;
	pc_errinfo_setf(ei, NULL, "database_url", PC_V_RULE,
			"database file %.200s has mode %04o: its group or others may read or "
			"write its password hashes and secrets; run chmod 600 on it (and on its "
			"-wal and -shm files)", path, (unsigned)(sb.st_mode & 07777));
	return PC_EINVAL;
}

/*
 * Creates the database file readable by its owner only when it does not exist
 * yet (it will hold password hashes and secrets); SQLite gives its -wal and
 * -shm files the same mode. An existing file, or its -wal or -shm, that
 * another may read or write is refused (private_mode). PC_EINVAL
 * (ei->detail) when it cannot be created or is refused.
 */
static enum pc_err create_private(const char *path, struct pc_errinfo *ei)
{
	static const char *const side[] = { "-wal", "-shm" };
	char msg[sizeof(ei->detail)], other[PATH_MAX + 8];
	enum pc_err err;
	size_t i;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		close(fd);
		return PC_OK;
	}
	if (errno != EEXIST) {
		snprintf(msg, sizeof(msg), "cannot create database %s: %m", path);
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_IO, "%s", msg);
		return PC_EINVAL;
	}
	err = private_mode(path, ei);
	for (i = 0; i < sizeof(side) / sizeof(side[0]) && err == PC_OK; i++) {
		snprintf(other, sizeof(other), "%s%s", path, side[i]);
		err = private_mode(other, ei);
	}
	return err;
}

/*
 * Makes path[PATH_MAX] absolute, so the connections that threads open later
 * name the same file even if the process changes directory. The file exists.
 */
static enum pc_err absolute_path(char path[PATH_MAX], struct pc_errinfo *ei)
{
	char resolved[PATH_MAX];
	char msg[sizeof(ei->detail)];

	if (realpath(path, resolved) == NULL) {
		snprintf(msg, sizeof(msg), "cannot resolve database path %.128s: %m", path);
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_IO, "%s", msg);
		return PC_EINVAL;
	}
	memcpy(path, resolved, strlen(resolved) + 1);
	return PC_OK;
}

/*
 * Opens the store at url and this thread's connection (so a bad path fails
 * here, not on the first request). *out is released with sqlite_close().
 * PC_EINVAL (bad URL, cannot create), PC_ESTORE (cannot open), PC_ENOMEM.
 */
static enum pc_err sqlite_open(const char *url, const struct store_conf *conf,
			       struct pc_store **out, struct pc_errinfo *ei)
{
	struct sqlite_store *st;
	struct sqlite_conn *c;
	enum pc_err err;

	(void)conf; /* one connection per thread: no pool to size */
	*out = NULL;
	/* Before SQLite initialises (a no-op afterwards): memory statistics take
	 * a global mutex on every allocation, contended by every thread. */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_threadsafe() == 0) {
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_INTERNAL, "the SQLite library was built without thread support");
		return PC_EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return PC_ENOMEM;
	st->base.drv = &store_sqlite_driver;
	atomic_init(&st->base.gen, 1);
	atomic_init(&st->base.gen_tracked, true);
	atomic_init(&st->base.gen_grace, false);
	atomic_init(&st->base.gen_fd, -1);
	atomic_init(&st->base.write_refused_ms, 0);
	err = url_path(url, st, ei);
	if (err == PC_OK)
		err = create_private(st->path, ei);
	if (err == PC_OK)
		err = absolute_path(st->path, ei);
	if (err != PC_OK)
		goto out_free;
	if (pthread_key_create(&st->key, conn_destroy) != 0) {
		err = PC_ENOMEM;
		goto out_free;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->group.lock, NULL);
	pthread_mutex_init(&st->write_mu, NULL);
	pthread_cond_init(&st->group.cond, NULL);
	err = conn_open(st, false, &c, ei);
	if (err != PC_OK)
		goto out_key;
	*out = &st->base;
	return PC_OK;

out_key:
	pthread_cond_destroy(&st->group.cond);
	pthread_mutex_destroy(&st->write_mu);
	pthread_mutex_destroy(&st->group.lock);
	pthread_mutex_destroy(&st->lock);
	pthread_key_delete(st->key);
out_free:
	free(st);
	return err;
}

/*
 * Closes every connection still open, whichever thread opened it, and frees
 * the store. No other thread may be calling it.
 */
static void sqlite_close(struct pc_store *s)
{
	struct sqlite_store *st = sqlite_store_of(s);
	struct sqlite_conn *c;

	if (sqlite_ckpt_due == st)
		sqlite_ckpt_due = NULL;
	pthread_setspecific(st->key, NULL);
	pthread_key_delete(st->key); /* threads exiting later run no destructor */
	pthread_mutex_lock(&st->lock);
	while (st->conns != NULL) {
		c = st->conns;
		conn_unlink(c);
		conn_free(c);
	}
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->group.cond);
	pthread_mutex_destroy(&st->write_mu);
	pthread_mutex_destroy(&st->group.lock);
	free(st);
}

/* ---- the driver ------------------------------------------------------------------------ */

const struct store_driver store_sqlite_driver = {
	.name = "sqlite",
	.dialect = STORE_DIALECT_SQLITE,
	.scheme = SQLITE_URL_SCHEME,
	.sql = store_sql_sqlite,
	.migrations = sqlite_migrations,
	.nmigrations = &sqlite_migrations_count,
	.open = sqlite_open,
	.close = sqlite_close,
	.exec = sqlite_exec,
	.prepare = sqlite_prepare,
	.bind = sqlite_bind,
	.step = sqlite_step,
	.column_int = sqlite_column_int,
	.column_text = sqlite_column_text,
	.changes = sqlite_changes,
	.done = sqlite_done,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.cred_sync = sqlite_cred_sync,
};
