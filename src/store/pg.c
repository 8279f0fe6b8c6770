/*
 * pg.c - the PostgreSQL driver (libpq): a connection pool, prepared
 * statements, transactions, reconnection, and a LISTEN channel that moves the
 * write generation when another instance writes.
 *
 * URL: "postgres://user:pass@host:port/db?sslmode=require" or
 * "postgresql://..."; every libpq URI parameter works (a unix socket as
 * "postgres:///db?host=/run/postgresql"). The URL is handed to libpq as it
 * is and never logged or echoed into an error: it may hold the password.
 * Defaults put before it (the URL overrides them): connect_timeout from the
 * store's timeout, application_name=portcullis. Each new connection then
 * sets statement_timeout to the store's timeout.
 *
 * Connections. The pool holds at most conf->pool_size connections. A thread
 * takes one on its first call and keeps it while it has a statement open
 * (between prepare and done) or a transaction open (between begin and
 * commit or rollback); then it goes back to the pool. A thread waits for a
 * free connection at most timeout_ms (PC_EBUSY). Each connection prepares a
 * statement of enum store_stmt the first time it runs it (its name "pN"),
 * with the SQL text of sql_pg.c whose ":name" parameters were rewritten to
 * $1..$n once at open, and checks its result columns by name against
 * store_stmt_cols[] (driver.h) as the SQLite driver does.
 *
 * Every round trip is asynchronous under a deadline of timeout_ms: a
 * database that stops answering makes the call fail with PC_EUNAVAILABLE in
 * that time, not hang. A connection that failed that way, or that the server
 * closed (restart, pg_terminate_backend: SQLSTATE class 08, 57P01..57P03) is
 * "broken": it is closed when it goes back, and the next taker opens a new
 * one. A connection taken from the pool that the server has closed meanwhile
 * (its socket readable while idle) is replaced before use, so a restart of
 * the database costs no request once it is back. A statement is never
 * resent after a failure: the server may have run it.
 *
 * Errors: unique violation (23505) is PC_EEXISTS with ei->field from the
 * constraint's name; foreign key (23503) PC_ENOTFOUND; lost or refused
 * connections PC_EUNAVAILABLE; the rest PC_ESTORE. Logged: the server's
 * primary message, the SQLSTATE and the statement text; never a parameter
 * value, never the URL.
 *
 * The write generation (store.h): moved after each committed statement that
 * changed rows (autocommit) and after each COMMIT of a transaction that did.
 * The tables a remembered credential depends on (users, sessions,
 * revoked_jti, refresh_families) notify channel portcullis_gen on commit,
 * naming each user a statement changed, or '' for every user (the triggers
 * of migration 016); each notification bumps the stamps of the user it
 * names (store.h, store_cred_bump_payload), so a write voids that user's
 * remembered credentials only. This instance's own writes: every pooled
 * connection LISTENs too (its session setup), PostgreSQL sends a listening
 * session the notifications of its commit before the ReadyForQuery that
 * ends the committing command, so they are read with the result and their
 * users bumped before the writer returns (conn_drain, by the backend's pid;
 * other backends' are dropped there). A connection whose LISTEN was
 * refused, a script (a migration) and an answer lost after the server may
 * have committed bump every user. Other instances' writes: a listener
 * thread with its own connection bumps the users of each notification and
 * moves the generation, and a reader that finds data waiting on that
 * connection's socket does so at once (store.h, gen_fd,
 * store_gen_fd_announces), not waiting for the thread to be scheduled.
 * That thread also reads what idle pooled connections received, so their
 * sockets and the server's notification queue do not fill up
 * (pool_drain_idle).
 * While that connection is down gen_tracked is false, so nothing new is
 * cached, and what was cached before it fell stays good only for the rest of
 * its time to live (gen_grace; auth_cache_ms bounds it); when it is back, the
 * generation moves once (what was missed meanwhile voids every older entry)
 * and caching resumes. The listener shows its channel live every
 * PG_PROBE_MS (listener_probe): while it was within auth_cache_ms, an entry
 * lives until a write voids it (store_cred_exact_at), as on SQLite.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store/driver.h"

/* ---- libpq, loaded by the first pg_open ------------------------------------------------------ */

/*
 * The server does not link libpq: a server on SQLite never maps it nor what
 * it pulls in (Kerberos, LDAP, SASL...). The first pg_open opens libpq.so.5
 * and resolves every function below into the table `libpq`, once per process
 * (pthread_once; written there, only read after); a call reads as libpq's own
 * without its "PQ" prefix: libpq.exec(db, sql) is PQexec(db, sql). Each slot
 * has the type of the function in libpq-fe.h, so the compiler checks every
 * call as it would a direct one. No slot is called before a pg_open passed
 * libpq_load.
 */
#define LIBPQ_SONAME "libpq.so.5"

#define LIBPQ_FUNCS(X)                                                                         \
	X(connectdbParams) X(conninfoParse) X(conninfoFree) X(status) X(errorMessage)          \
	X(setNoticeProcessor) X(socket) X(finish)                                              \
	X(exec) X(sendQuery) X(sendPrepare) X(sendDescribePrepared) X(sendQueryPrepared)       \
	X(flush) X(consumeInput) X(isBusy) X(getResult) X(notifies) X(freemem)                 \
	X(resultStatus) X(resultErrorField) X(cmdStatus) X(cmdTuples) X(clear) X(backendPID)   \
	X(ntuples) X(nfields) X(fname) X(getisnull) X(getvalue) X(getlength) X(sslInUse)

static struct libpq_fns {
#define LIBPQ_SLOT(name) __typeof__(PQ##name) *name;
	LIBPQ_FUNCS(LIBPQ_SLOT)
#undef LIBPQ_SLOT
} libpq;

static const char *const libpq_names[] = {
#define LIBPQ_NAME(name) "PQ" #name,
	LIBPQ_FUNCS(LIBPQ_NAME)
#undef LIBPQ_NAME
};

static pthread_once_t libpq_once = PTHREAD_ONCE_INIT;
static enum pc_err libpq_err = PC_EINTERNAL;
static char libpq_why[256]; /* why it could not be loaded */

static void libpq_load_once(void)
{
	void *syms[sizeof(libpq_names) / sizeof(libpq_names[0])];
	size_t i = 0;

	libpq_err = pc_dl_load(LIBPQ_SONAME, libpq_names, syms, sizeof(syms) / sizeof(syms[0]),
			       libpq_why, sizeof(libpq_why));
	if (libpq_err != PC_OK) {
		log_error("postgres", "libpq unavailable: %s", libpq_why);
		return;
	}
#define LIBPQ_SET(name) libpq.name = (__typeof__(libpq.name))syms[i++];
	LIBPQ_FUNCS(LIBPQ_SET)
#undef LIBPQ_SET
}

/* Loads libpq once per process (logged the first time it cannot be: the
 * library or one of its functions missing). PC_ESTORE (ei names
 * database_url and says why) when it is not there. */
static enum pc_err libpq_load(struct pc_errinfo *ei)
{
	pthread_once(&libpq_once, libpq_load_once);
	if (libpq_err != PC_OK) {
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_STORE,
				"PostgreSQL needs libpq: %s", libpq_why);
		return PC_ESTORE;
	}
	return PC_OK;
}

#define PG_MAX_PARAMS 32
#define PG_NAME_MAX 40
#define PG_CHANNEL "portcullis_gen"
#define PG_LISTEN_RETRY_MS 250
/* How often the listening connection is shown live (listener_probe). */
#define PG_PROBE_MS 100

/* ---- the statements' text, rewritten ------------------------------------------------- */

struct pg_text {
	char *sql; /* with $1..$n */
	int nparams;
	char names[PG_MAX_PARAMS][PG_NAME_MAX]; /* ":name" of $i+1 */
};

/* ---- the store, its connections and statements ------------------------------------------ */

struct pg_conn;

struct pg_ps {
	struct pg_conn *c;
	enum store_stmt id;
	const char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS];
	char ints[PG_MAX_PARAMS][24];
	uint64_t bound; /* bit i: $i+1 bound */
	PGresult *res;
	int next_row, cur_row, nrows;
	int64_t changes;
	bool ran;
};

struct pg_conn {
	struct pg_conn *next_idle;
	struct pg_conn *next_all;
	struct pg_conn *prev_all;
	struct pg_store *st;
	PGconn *db;
	int nopen;  /* statements between prepare and done */
	bool in_tx;
	bool wrote; /* the open transaction changed rows */
	bool wrote_script; /* ... by a script (pg_exec): whose users are not known */
	bool broken;
	bool listening; /* its LISTEN on PG_CHANNEL succeeded: its own writes are announced to it */
	bool prepared[STMT__MAX];
	struct pg_ps ps[STMT__MAX];
};

struct pg_store {
	struct pc_store base; /* first */
	char *url;
	struct pg_text text[STMT__MAX];
	int pool_size;
	int timeout_ms;
	char connect_timeout[16];
	char session_setup[160]; /* run on each new connection, LISTEN last */
	char session_setup_quiet[128]; /* the same without LISTEN: when that is refused */
	pthread_key_t key; /* the thread's taken connection */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct pg_conn *idle;
	struct pg_conn *all;
	int nconns;
	/* the listener */
	pthread_t listener;
	bool listener_started;
	PGconn *listen_db; /* from pg_open to the listener thread */
	_Atomic bool stopping;
	int wake[2];
};

static struct pg_store *pg_store_of(struct pc_store *s)
{
	return (struct pg_store *)s;
}

static struct pg_ps *pg_ps_of(struct store_ps *ps)
{
	return (struct pg_ps *)ps;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- rewriting ":name" to $n --------------------------------------------------------------- */

static bool is_name_char(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       (!first && ch >= '0' && ch <= '9');
}

/*
 * Rewrites sql's ":name" parameters (outside '...' literals) to $1..$n into
 * t; a name used twice is the same $n. PC_ESTORE (logged) for too many or
 * too long names, PC_ENOMEM.
 */
static enum pc_err text_rewrite(const char *sql, struct pg_text *t)
{
	size_t len = strlen(sql), o = 0, i = 0;
	bool quoted = false;

	t->nparams = 0;
	t->sql = malloc(len * 2 + 1); /* ":a" -> "$NN" grows by at most one byte per name */
	if (t->sql == NULL)
		return PC_ENOMEM;
	while (i < len) {
		char ch = sql[i];

		if (ch == '\'')
			quoted = !quoted;
		if (quoted || ch != ':' || !is_name_char(sql[i + 1], true)) {
			t->sql[o++] = ch;
			i++;
			continue;
		}
		size_t n = 1;
		int k;

		while (is_name_char(sql[i + n], false))
			n++;
		if (n >= PG_NAME_MAX)
			goto out_bad;
		for (k = 0; k < t->nparams; k++)
			if (strlen(t->names[k]) == n && strncmp(t->names[k], sql + i, n) == 0)
				break;
		if (k == t->nparams) {
			if (k == PG_MAX_PARAMS)
				goto out_bad;
			memcpy(t->names[k], sql + i, n);
			t->names[k][n] = '\0';
			t->nparams++;
		}
		o += (size_t)snprintf(t->sql + o, 8, "$%d", k + 1);
		i += n;
	}
	t->sql[o] = '\0';
	return PC_OK;
out_bad:
	log_error("postgres", "parameters too many or too long in: %.80s", sql);
	free(t->sql);
	t->sql = NULL;
	return PC_ESTORE;
}

/* ---- errors ----------------------------------------------------------------------------- */

/* Whether SQLSTATE state says the connection is gone or the server will not take one. */
static bool state_unavailable(const char *state)
{
	return state != NULL && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
				 strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
				 strcmp(state, "53300") == 0 || strcmp(state, "57014") == 0);
}

/*
 * Maps a failed round trip (res NULL: no answer) on c. Unique violation:
 * PC_EEXISTS (ei->field "email", "username" or "id"); foreign key:
 * PC_ENOTFOUND; connection trouble: PC_EUNAVAILABLE (c broken); else
 * PC_ESTORE. Logged, except the two mapped constraint errors.
 */
static enum pc_err pg_error(struct pg_conn *c, const PGresult *res, struct pc_errinfo *ei,
			    const char *what)
{
	const char *state = res != NULL ? libpq.resultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? libpq.resultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *constraint, *field = "id";

	if (state != NULL && strcmp(state, "23505") == 0) {
		constraint = libpq.resultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
		if (constraint != NULL && strcmp(constraint, "users_email_lc_key") == 0)
			field = "email";
		else if (constraint != NULL && strcmp(constraint, "users_username_lc_key") == 0)
			field = "username";
		pc_errinfo_set(ei, NULL, field, PC_V_TAKEN, 0);
		return PC_EEXISTS;
	}
	if (state != NULL && strcmp(state, "23503") == 0)
		return PC_ENOTFOUND;
	if (state == NULL || state_unavailable(state) || libpq.status(c->db) != CONNECTION_OK) {
		c->broken = true;
		log_error("postgres", "database unavailable (%s) in: %.80s",
			state != NULL ? state : "no answer", what);
		return PC_EUNAVAILABLE;
	}
	log_error("postgres", "%s (SQLSTATE %s) in: %.80s",
		msg != NULL ? msg : "error", state, what);
	return PC_ESTORE;
}

/* ---- round trips under a deadline ---------------------------------------------------------- */

/* Waits until c's socket is ready for events, at most until deadline.
 * false on a timeout or a poll failure. */
static bool sock_wait(PGconn *db, short events, int64_t deadline)
{
	struct pollfd p = { .fd = libpq.socket(db), .events = events, .revents = 0 };
	int64_t left;
	int rc;

	if (p.fd < 0)
		return false;
	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return false;
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			return false;
	}
}

/*
 * Takes the notifications libpq holds for c (read with a result, or while
 * it was idle in the pool). Its own backend's (this connection's writes:
 * PostgreSQL sends a listening session the notifications of its commit
 * before the ReadyForQuery that ends the committing command, so they are in
 * once the result was read) bump their users; other backends' are dropped
 * (the listener thread hears those), so they never pile up here.
 */
static void conn_drain(struct pg_conn *c)
{
	PGnotify *n;
	int self;

	if (c->db == NULL)
		return;
	self = libpq.backendPID(c->db);
	while ((n = libpq.notifies(c->db)) != NULL) {
		if (n->be_pid == self)
			store_cred_bump_payload(&c->st->base, n->extra, strlen(n->extra));
		libpq.freemem(n);
	}
}

/*
 * Collects the results of the query just sent on c: *out is the first
 * failed one, else the last (NULL when the connection failed or the
 * deadline passed: c is then broken). The caller clears *out.
 */
static void pg_collect(struct pg_conn *c, PGresult **out)
{
	PGconn *db = c->db;
	int64_t deadline = mono_ms() + c->st->timeout_ms;
	PGresult *r, *keep = NULL;
	int f;

	*out = NULL;
	while ((f = libpq.flush(db)) == 1) {
		if (!sock_wait(db, POLLIN | POLLOUT, deadline) || libpq.consumeInput(db) == 0)
			goto out_broken;
	}
	if (f < 0)
		goto out_broken;
	for (;;) {
		while (libpq.isBusy(db)) {
			if (!sock_wait(db, POLLIN, deadline) || libpq.consumeInput(db) == 0)
				goto out_broken;
		}
		r = libpq.getResult(db);
		if (r == NULL)
			break;
		if (keep != NULL && libpq.resultStatus(keep) == PGRES_FATAL_ERROR) {
			libpq.clear(r);
			continue;
		}
		libpq.clear(keep);
		keep = r;
	}
	*out = keep;
	conn_drain(c);
	return;
out_broken:
	conn_drain(c);
	libpq.clear(keep);
	if (libpq.status(db) == CONNECTION_OK && keep == NULL)
		log_error("postgres", "no answer within %d ms", c->st->timeout_ms);
	c->broken = true;
}

/* Whether res is a success of a command or a query. */
static bool res_ok(const PGresult *res)
{
	ExecStatusType t = res != NULL ? libpq.resultStatus(res) : PGRES_FATAL_ERROR;

	return t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK;
}

/* Runs a text of statements without parameters on c. PC_OK, or mapped. */
static enum pc_err conn_run(struct pg_conn *c, const char *sql, struct pc_errinfo *ei,
			    PGresult **keep)
{
	PGresult *res = NULL;
	enum pc_err err = PC_OK;

	if (keep != NULL)
		*keep = NULL;
	if (c->broken)
		return PC_EUNAVAILABLE;
	if (libpq.sendQuery(c->db, sql) == 0)
		c->broken = true;
	else
		pg_collect(c, &res);
	if (!res_ok(res))
		err = pg_error(c, res, ei, sql);
	if (err == PC_OK && keep != NULL)
		*keep = res;
	else
		libpq.clear(res);
	return err;
}

/* ---- connections ---------------------------------------------------------------------------- */

/* Notices ("relation already exists, skipping") are not errors: dropped. */
static void notice_drop(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Opens a libpq connection to the store's URL, the defaults first, and
 * runs the session's setup, which LISTENs on PG_CHANNEL (*listening: it
 * did; when that alone is refused, the connection is kept without). NULL
 * (logged, and said in msg when given) when it fails. */
static PGconn *db_connect(struct pg_store *st, char *msg, size_t msgsz, bool quiet,
			  bool *listening)
{
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *const values[] = { st->connect_timeout, "portcullis", st->url, NULL };
	PGconn *db = libpq.connectdbParams(keys, values, 1);
	PGresult *res;
	const char *why;
	size_t n;

	if (db != NULL && libpq.status(db) == CONNECTION_OK) {
		libpq.setNoticeProcessor(db, notice_drop, NULL);
		res = libpq.exec(db, st->session_setup);
		*listening = libpq.resultStatus(res) == PGRES_COMMAND_OK;
		if (!*listening) { /* one implicit transaction: nothing of it holds */
			libpq.clear(res);
			res = libpq.exec(db, st->session_setup_quiet);
		}
		if (libpq.resultStatus(res) == PGRES_COMMAND_OK) {
			libpq.clear(res);
			return db;
		}
		libpq.clear(res);
	}
	why = db != NULL ? libpq.errorMessage(db) : "out of memory";
	n = strcspn(why, "\n");
	if (!quiet)
		log_error("postgres", "cannot connect: %.*s", (int)n, why);
	if (msg != NULL)
		snprintf(msg, msgsz, "cannot connect to PostgreSQL: %.*s", (int)n, why);
	atomic_store(&st->base.gen_fd, -1);
	libpq.finish(db);
	return NULL;
}

/* Closes c's database connection and frees it. Not on any list. */
static void conn_free(struct pg_conn *c)
{
	for (size_t i = 0; i < STMT__MAX; i++)
		libpq.clear(c->ps[i].res);
	libpq.finish(c->db);
	free(c);
}

/* Called with st->lock held. */
static void conn_unlink_all(struct pg_conn *c)
{
	struct pg_store *st = c->st;

	if (c->prev_all != NULL)
		c->prev_all->next_all = c->next_all;
	else
		st->all = c->next_all;
	if (c->next_all != NULL)
		c->next_all->prev_all = c->prev_all;
	c->next_all = c->prev_all = NULL;
}

/* Gives the thread's connection back to the pool once it holds no statement
 * and no transaction; a broken one is closed instead. */
static void conn_release(struct pg_conn *c)
{
	struct pg_store *st = c->st;

	if (c->nopen > 0 || c->in_tx)
		return;
	pthread_setspecific(st->key, NULL);
	pthread_mutex_lock(&st->lock);
	if (c->broken) {
		conn_unlink_all(c);
		st->nconns--;
		pthread_mutex_unlock(&st->lock);
		pthread_cond_signal(&st->freed);
		conn_free(c);
		return;
	}
	c->next_idle = st->idle;
	st->idle = c;
	pthread_mutex_unlock(&st->lock);
	pthread_cond_signal(&st->freed);
}

/* The thread ended while holding a connection: it goes back (closed, as its
 * state is unknown). */
static void conn_thread_exit(void *p)
{
	struct pg_conn *c = p;

	c->nopen = 0;
	c->in_tx = false;
	c->broken = true;
	pthread_setspecific(c->st->key, c); /* conn_release clears it */
	conn_release(c);
}

/* Whether c's socket holds something unread (a notification, an error, the
 * server's close). */
static bool conn_input_waits(struct pg_conn *c)
{
	struct pollfd p = { .fd = c->db != NULL ? libpq.socket(c->db) : -1,
			    .events = POLLIN, .revents = 0 };

	return p.fd >= 0 && poll(&p, 1, 0) > 0;
}

/* Whether an idle connection is still good: the server closes its end on
 * a restart or a terminate, which makes the socket readable while idle. */
static bool conn_alive(struct pg_conn *c)
{
	if (libpq.status(c->db) != CONNECTION_OK || libpq.socket(c->db) < 0)
		return false;
	if (!conn_input_waits(c))
		return true;
	if (libpq.consumeInput(c->db) == 0 || libpq.status(c->db) != CONNECTION_OK)
		return false;
	return true;
}

/*
 * The calling thread's connection: the one it holds, else an idle one of the
 * pool (replaced when the server closed it), else a new one while the pool
 * has room, else the first freed within timeout_ms. PC_EBUSY when none came
 * in time; PC_EUNAVAILABLE when the database cannot be reached; PC_ENOMEM.
 */
static enum pc_err conn_get(struct pg_store *st, struct pg_conn **out, struct pc_errinfo *ei)
{
	struct pg_conn *c = pthread_getspecific(st->key);
	struct timespec until;
	char msg[sizeof(ei->detail)];

	*out = c;
	if (c != NULL)
		return PC_OK;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += st->timeout_ms / 1000;
	until.tv_nsec += (long)(st->timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&st->lock);
	while (st->idle == NULL && st->nconns >= st->pool_size) {
		if (pthread_cond_timedwait(&st->freed, &st->lock, &until) == ETIMEDOUT &&
		    st->idle == NULL && st->nconns >= st->pool_size) {
			pthread_mutex_unlock(&st->lock);
			log_error("postgres", "no free connection within %d ms "
				"(pool of %d)", st->timeout_ms, st->pool_size);
			return PC_EBUSY;
		}
	}
	c = st->idle;
	if (c != NULL) {
		st->idle = c->next_idle;
		c->next_idle = NULL;
	} else {
		st->nconns++;
	}
	pthread_mutex_unlock(&st->lock);
	if (c != NULL && !conn_alive(c)) {
		/* replaced in place: its prepared statements went with the old one */
		libpq.finish(c->db);
		c->db = NULL;
		memset(c->prepared, 0, sizeof(c->prepared));
	}
	if (c != NULL)
		conn_drain(c); /* what it heard while idle */
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			pthread_mutex_lock(&st->lock);
			st->nconns--;
			pthread_mutex_unlock(&st->lock);
			pthread_cond_signal(&st->freed);
			return PC_ENOMEM;
		}
		c->st = st;
		for (size_t i = 0; i < STMT__MAX; i++) {
			c->ps[i].c = c;
			c->ps[i].id = (enum store_stmt)i;
		}
		pthread_mutex_lock(&st->lock);
		c->next_all = st->all;
		if (st->all != NULL)
			st->all->prev_all = c;
		st->all = c;
		pthread_mutex_unlock(&st->lock);
	}
	if (c->db == NULL) {
		c->db = db_connect(st, msg, sizeof(msg), false, &c->listening);
		if (c->db == NULL) {
			pc_errinfo_setf(ei, NULL, "database_url", PC_V_STORE, "%s", msg);
			c->broken = true;
			pthread_setspecific(st->key, c);
			conn_release(c);
			return PC_EUNAVAILABLE;
		}
	}
	c->broken = false;
	pthread_setspecific(st->key, c);
	*out = c;
	return PC_OK;
}

/* ---- statements ------------------------------------------------------------------------------ */

/* Checks the prepared statement's result columns against store_stmt_cols[id]. */
static enum pc_err check_columns(struct pg_conn *c, enum store_stmt id, const PGresult *desc)
{
	const struct store_cols *want = &store_stmt_cols[id];
	int i, n = libpq.nfields(desc);

	if (n != want->n) {
		log_error("postgres", "%d result columns, not %d, in: %.80s", n,
			want->n, c->st->text[id].sql);
		return PC_ESTORE;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(libpq.fname(desc, i), want->names[i]) != 0) {
			log_error("postgres", "result column %d is %s, not %s, in: "
				"%.80s", i, libpq.fname(desc, i), want->names[i], c->st->text[id].sql);
			return PC_ESTORE;
		}
	}
	return PC_OK;
}

/* Prepares statement id on c as "p<id>" and checks its columns. */
static enum pc_err conn_prepare(struct pg_conn *c, enum store_stmt id)
{
	const struct pg_text *t = &c->st->text[id];
	char name[16];
	PGresult *res = NULL;
	enum pc_err err;

	snprintf(name, sizeof(name), "p%d", (int)id);
	if (libpq.sendPrepare(c->db, name, t->sql, t->nparams, NULL) == 0)
		c->broken = true;
	else
		pg_collect(c, &res);
	if (!res_ok(res)) {
		err = pg_error(c, res, NULL, t->sql);
		libpq.clear(res);
		return err == PC_EEXISTS || err == PC_ENOTFOUND ? PC_ESTORE : err;
	}
	libpq.clear(res);
	res = NULL;
	if (libpq.sendDescribePrepared(c->db, name) == 0)
		c->broken = true;
	else
		pg_collect(c, &res);
	if (!res_ok(res)) {
		err = pg_error(c, res, NULL, t->sql);
		libpq.clear(res);
		return err == PC_EEXISTS || err == PC_ENOTFOUND ? PC_ESTORE : err;
	}
	err = check_columns(c, id, res);
	libpq.clear(res);
	if (err == PC_OK)
		c->prepared[id] = true;
	return err;
}

static enum pc_err pg_prepare(struct pc_store *s, enum store_stmt id, struct store_ps **out)
{
	struct pg_store *st = pg_store_of(s);
	struct pg_conn *c;
	struct pg_ps *ps;
	enum pc_err err;

	*out = NULL;
	err = conn_get(st, &c, NULL);
	if (err != PC_OK)
		return err;
	if (!c->prepared[id]) {
		err = conn_prepare(c, id);
		if (err != PC_OK) {
			conn_release(c);
			return err;
		}
	}
	ps = &c->ps[id];
	if (ps->ran || ps->bound != 0) {
		log_error("postgres", "statement in use twice: %.80s",
			st->text[id].sql);
		conn_release(c);
		return PC_ESTORE;
	}
	c->nopen++;
	*out = (struct store_ps *)ps;
	return PC_OK;
}

static enum pc_err pg_bind(struct store_ps *p, const struct store_arg *args, size_t n)
{
	struct pg_ps *ps = pg_ps_of(p);
	const struct pg_text *t = &ps->c->st->text[ps->id];
	const char *text;
	size_t len;
	enum pc_err err;
	int k;

	for (size_t i = 0; i < n; i++) {
		const struct store_arg *a = &args[i];

		for (k = 0; k < t->nparams; k++)
			if (strcmp(t->names[k], a->name) == 0)
				break;
		if (k == t->nparams) {
			log_error("postgres", "no parameter %s in: %.80s", a->name,
				t->sql);
			return PC_ESTORE;
		}
		if (a->kind == ARG_INT) {
			snprintf(ps->ints[k], sizeof(ps->ints[k]), "%lld", (long long)a->i);
			ps->values[k] = ps->ints[k];
			ps->lengths[k] = (int)strlen(ps->ints[k]);
		} else {
			err = store_arg_text(a, &text, &len);
			if (err != PC_OK)
				return err;
			if (len > 0x3fffffff)
				return PC_EINVAL;
			ps->values[k] = text;
			ps->lengths[k] = (int)len;
		}
		ps->bound |= (uint64_t)1 << k;
	}
	if ((size_t)t->nparams != n ||
	    ps->bound != (t->nparams == 64 ? ~(uint64_t)0 : ((uint64_t)1 << t->nparams) - 1)) {
		log_error("postgres", "%zu arguments for %d parameters in: %.80s",
			n, t->nparams, t->sql);
		return PC_ESTORE;
	}
	return PC_OK;
}

/* Moves the write generation and voids every remembered credential: a
 * write whose users are not known was committed (a migration), or may have
 * been missed (the listening connection came back). */
static void gen_move(struct pg_store *st)
{
	atomic_fetch_add(&st->base.gen, 1);
	store_cred_bump_all(&st->base);
}

/* A write on c was committed (a changing statement in autocommit, or the
 * COMMIT of a transaction that changed rows), its result read: the
 * generation moves. Its users were bumped as the result was read, from its
 * own notifications (conn_drain); a connection that could not LISTEN
 * hears none, and every user is bumped instead. */
static void gen_wrote(struct pg_conn *c)
{
	if (c->listening)
		atomic_fetch_add(&c->st->base.gen, 1);
	else
		gen_move(c->st);
}

/* Runs the statement (on the first step) and hands out its rows. */
static enum pc_err pg_step(struct store_ps *p, struct pc_errinfo *ei, bool *row)
{
	struct pg_ps *ps = pg_ps_of(p);
	struct pg_conn *c = ps->c;
	const struct pg_text *t = &c->st->text[ps->id];
	char name[16];
	enum pc_err err;

	*row = false;
	if (!ps->ran) {
		ps->ran = true;
		if (c->broken)
			return PC_EUNAVAILABLE;
		snprintf(name, sizeof(name), "p%d", (int)ps->id);
		if (libpq.sendQueryPrepared(c->db, name, t->nparams, ps->values, ps->lengths, NULL,
					0) == 0)
			c->broken = true;
		else
			pg_collect(c, &ps->res);
		if (!res_ok(ps->res)) {
			err = pg_error(c, ps->res, ei, t->sql);
			/* the answer lost: the server may have committed it */
			if (c->broken && !c->in_tx && !store_stmt_gen_neutral(ps->id))
				gen_move(c->st);
			libpq.clear(ps->res);
			ps->res = NULL;
			return err;
		}
		ps->nrows = libpq.ntuples(ps->res);
		ps->next_row = 0;
		ps->changes = libpq.resultStatus(ps->res) == PGRES_COMMAND_OK ?
			strtoll(libpq.cmdTuples(ps->res), NULL, 10) : 0;
		if (ps->changes > 0 && !store_stmt_gen_neutral(ps->id)) {
			if (c->in_tx)
				c->wrote = true;
			else
				gen_wrote(c);
		}
	}
	if (ps->res == NULL || ps->next_row >= ps->nrows)
		return PC_OK;
	ps->cur_row = ps->next_row++;
	*row = true;
	return PC_OK;
}

static int64_t pg_column_int(struct store_ps *p, int col)
{
	struct pg_ps *ps = pg_ps_of(p);
	const char *v;

	if (ps->res == NULL || libpq.getisnull(ps->res, ps->cur_row, col))
		return 0;
	v = libpq.getvalue(ps->res, ps->cur_row, col);
	if (v[0] == 't')
		return 1;
	if (v[0] == 'f')
		return 0;
	return strtoll(v, NULL, 10);
}

static enum pc_err pg_column_text(struct store_ps *p, int col, const char **text, size_t *len)
{
	struct pg_ps *ps = pg_ps_of(p);

	*text = NULL;
	*len = 0;
	if (ps->res == NULL || col >= libpq.nfields(ps->res))
		return PC_ESTORE;
	if (libpq.getisnull(ps->res, ps->cur_row, col))
		return PC_OK;
	*text = libpq.getvalue(ps->res, ps->cur_row, col);
	*len = (size_t)libpq.getlength(ps->res, ps->cur_row, col);
	return PC_OK;
}

static int64_t pg_changes(struct store_ps *p)
{
	return pg_ps_of(p)->changes;
}

static void pg_done(struct store_ps *p)
{
	struct pg_ps *ps = pg_ps_of(p);
	struct pg_conn *c = ps->c;

	libpq.clear(ps->res);
	ps->res = NULL;
	ps->ran = false;
	ps->bound = 0;
	ps->nrows = ps->next_row = ps->cur_row = 0;
	ps->changes = 0;
	memset(ps->values, 0, sizeof(ps->values));
	if (c->nopen > 0)
		c->nopen--;
	conn_release(c);
}

/* ---- transactions and scripts ----------------------------------------------------------------- */

static enum pc_err pg_begin(struct pc_store *s)
{
	struct pg_conn *c;
	enum pc_err err = conn_get(pg_store_of(s), &c, NULL);

	if (err != PC_OK)
		return err;
	if (c->in_tx)
		return PC_EINVAL;
	err = conn_run(c, s->drv->sql[STMT_BEGIN], NULL, NULL);
	if (err == PC_OK) {
		c->in_tx = true;
		c->wrote = false;
		c->wrote_script = false;
	}
	conn_release(c);
	return err;
}

/* COMMIT. A transaction the server had already failed answers "ROLLBACK":
 * PC_ESTORE, and it is over. Any other failure leaves it open (roll back). */
static enum pc_err pg_commit(struct pc_store *s)
{
	struct pg_store *st = pg_store_of(s);
	struct pg_conn *c = pthread_getspecific(st->key);
	PGresult *res;
	enum pc_err err;

	if (c == NULL || !c->in_tx)
		return PC_EINVAL;
	err = conn_run(c, s->drv->sql[STMT_COMMIT], NULL, &res);
	if (err != PC_OK) {
		if (c->broken && (c->wrote || c->wrote_script)) /* the answer lost: it may have committed */
			gen_move(st);
		return err;
	}
	c->in_tx = false;
	if (strcmp(libpq.cmdStatus(res), "COMMIT") != 0) {
		log_error("postgres", "the transaction was rolled back");
		err = PC_ESTORE;
	} else if (c->wrote_script) {
		gen_move(st);
	} else if (c->wrote) {
		gen_wrote(c);
	}
	libpq.clear(res);
	c->wrote = false;
	c->wrote_script = false;
	conn_release(c);
	return err;
}

/* ROLLBACK; on a broken connection the server has dropped it already. */
static enum pc_err pg_rollback(struct pc_store *s)
{
	struct pg_store *st = pg_store_of(s);
	struct pg_conn *c = pthread_getspecific(st->key);
	enum pc_err err = PC_OK;

	if (c == NULL || !c->in_tx)
		return PC_EINVAL;
	if (!c->broken)
		err = conn_run(c, s->drv->sql[STMT_ROLLBACK], NULL, NULL);
	c->in_tx = false;
	c->wrote = false;
	c->wrote_script = false;
	conn_release(c);
	return err == PC_EUNAVAILABLE ? PC_OK : err;
}

/* A script of several statements (a migration): whom it changed is not
 * known, so every remembered credential is voided once it committed (or
 * may have). */
static enum pc_err pg_exec(struct pc_store *s, const char *sql)
{
	struct pg_conn *c;
	enum pc_err err = conn_get(pg_store_of(s), &c, NULL);

	if (err != PC_OK)
		return err;
	err = conn_run(c, sql, NULL, NULL);
	if (err == PC_EEXISTS || err == PC_ENOTFOUND)
		err = PC_ESTORE;
	if (c->in_tx)
		c->wrote_script = true;
	else
		gen_move(pg_store_of(s));
	conn_release(c);
	return err;
}

/* ---- the listener: other instances' writes ---------------------------------------------------- */

/* Sleeps ms, or until the store stops. */
static void listener_nap(struct pg_store *st, int ms)
{
	struct pollfd p = { .fd = st->wake[0], .events = POLLIN, .revents = 0 };

	(void)poll(&p, 1, ms);
}

/* Connects; the session's setup LISTENs (db_connect). NULL when it cannot,
 * or when the LISTEN alone was refused (logged unless quiet). */
static PGconn *listener_connect(struct pg_store *st, bool quiet)
{
	bool listening = false;
	PGconn *db = db_connect(st, NULL, 0, quiet, &listening);

	if (db != NULL && !listening) {
		libpq.finish(db);
		return NULL;
	}
	return db;
}

/* The listening connection db is up: what was missed meanwhile voids
 * every older cache entry (every user is bumped), and caching may resume.
 * While it is down gen_tracked is false. */
static void listener_up(struct pg_store *st, PGconn *db)
{
	gen_move(st);
	atomic_store(&st->base.gen_fd, libpq.socket(db));
	atomic_store(&st->base.gen_tracked, true);
	atomic_store(&st->base.gen_grace, false);
}

/* The clock of store_cred_exact_at (the credential cache's). */
static int64_t listener_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The liveness probe of the listening connection: its LISTEN again (a
 * no-op for a channel it listens to, and what pg_stat_activity keeps
 * showing for it), sent every PG_PROBE_MS. PostgreSQL sends the
 * notifications it holds for a session before the ReadyForQuery that ends
 * an answer, so once the answer is read, every write committed before the
 * probe was sent has been announced: cred_live_ms is then the time it was
 * sent, and the credential cache may keep entries past auth_cache_ms while
 * that time is within auth_cache_ms (store_cred_exact_at). A database
 * that stops answering, or a network that stops carrying, ends that within
 * auth_cache_ms; an answer overdue by the store's timeout counts as the
 * connection lost. Not over TLS: readers cannot tell the answer from an
 * announcement there (store_gen_fd_announces), each probe would void the
 * cache, and entries live auth_cache_ms as before. */
struct listener_probe {
	bool on;          /* the connection is probed (not TLS) */
	bool out;         /* a probe is unanswered */
	int64_t sent_ms;  /* when it was sent */
	int64_t next_ms;  /* when the next one goes */
};

/* Sends the probe when due; the poll timeout (ms) until there is
 * something to do for it (timeout_ms when nothing). */
static int listener_probe_send(PGconn *db, struct listener_probe *pr, int timeout_ms)
{
	int64_t now = listener_mono_ms();

	if (!pr->on)
		return timeout_ms;
	if (!pr->out && now >= pr->next_ms) {
		if (libpq.sendQuery(db, "LISTEN " PG_CHANNEL) != 1 || libpq.flush(db) != 0)
			return PG_PROBE_MS; /* the connection's own checks will tell */
		pr->out = true;
		pr->sent_ms = now;
	}
	if (pr->out)
		return PG_PROBE_MS;
	return (int)(pr->next_ms - now);
}

/* After input was consumed: the probe's answer, when whole, makes every
 * write committed before it was sent known (cred_live_ms). False when
 * the answer is overdue (the connection is then taken as lost). */
static bool listener_probe_read(struct pg_store *st, PGconn *db, struct listener_probe *pr)
{
	PGresult *res;
	bool ok = true;

	if (!pr->out)
		return true;
	if (libpq.isBusy(db) == 0) {
		while ((res = libpq.getResult(db)) != NULL) {
			ok = ok && libpq.resultStatus(res) == PGRES_COMMAND_OK;
			libpq.clear(res);
		}
		if (ok) /* a refused LISTEN shows nothing live */
			atomic_store(&st->base.cred_live_ms, pr->sent_ms);
		pr->out = false;
		pr->next_ms = pr->sent_ms + PG_PROBE_MS;
		return true;
	}
	return listener_mono_ms() - pr->sent_ms <= st->timeout_ms;
}

/*
 * Every pooled connection LISTENs (its own writes' notifications tell whom
 * they changed), so every instance's notifications reach it too. One taken
 * from the pool drops them (conn_drain); one that stays idle would leave
 * them on its socket, its backend would stop sending once that is full and
 * hold the server's notification queue back from being trimmed (once that
 * is full, every NOTIFY fails, and with it every write that fires a
 * trigger). So the listener, at most every PG_PROBE_MS, takes the idle ones
 * with something waiting out of the pool, reads each until its socket is
 * empty or PG_DRAIN_READS reads (libpq reads at most its buffer, 16 KiB at
 * first, a read: one read a sweep let a burst of notifications outrun it),
 * and gives them back. Its own (none are expected while idle) still bump,
 * the rest is dropped. A thread that finds no idle connection meanwhile
 * opens one or waits, as for any busy pool.
 */
#define PG_DRAIN_READS 256

static void pool_drain_idle(struct pg_store *st, int64_t *last_ms)
{
	int64_t now = listener_mono_ms();
	struct pg_conn *c, **pp, *taken = NULL;
	unsigned n;

	if (now - *last_ms < PG_PROBE_MS)
		return;
	*last_ms = now;
	pthread_mutex_lock(&st->lock);
	for (pp = &st->idle; (c = *pp) != NULL;) {
		if (!conn_input_waits(c)) {
			pp = &c->next_idle;
			continue;
		}
		*pp = c->next_idle;
		c->next_idle = taken;
		taken = c;
	}
	pthread_mutex_unlock(&st->lock);
	if (taken == NULL)
		return;
	for (c = taken; c != NULL; c = c->next_idle) {
		for (n = 0; n < PG_DRAIN_READS && conn_input_waits(c); n++) {
			if (libpq.consumeInput(c->db) == 0)
				break; /* a failure: conn_get finds it dead */
			conn_drain(c);
		}
	}
	pthread_mutex_lock(&st->lock);
	while ((c = taken) != NULL) {
		taken = c->next_idle;
		c->next_idle = st->idle;
		st->idle = c;
	}
	pthread_mutex_unlock(&st->lock);
	pthread_cond_broadcast(&st->freed);
}

static void *listener_main(void *arg)
{
	struct pg_store *st = arg;
	PGconn *db = st->listen_db; /* connected by pg_open */
	struct listener_probe pr = { 0 };
	PGnotify *n;
	bool failing = false; /* said once per outage, not every retry */
	int64_t swept_ms = 0;

	st->listen_db = NULL;
	if (db != NULL)
		pr.on = libpq.sslInUse(db) == 0;
	while (!atomic_load(&st->stopping)) {
		if (db == NULL) {
			db = listener_connect(st, failing);
			if (db == NULL) {
				failing = true;
				listener_nap(st, PG_LISTEN_RETRY_MS);
				continue;
			}
			failing = false;
			listener_up(st, db);
			memset(&pr, 0, sizeof(pr));
			pr.on = libpq.sslInUse(db) == 0;
			log_info("postgres", "listening on %s again", PG_CHANNEL);
		}
		struct pollfd p[2] = {
			{ .fd = libpq.socket(db), .events = POLLIN | POLLRDHUP, .revents = 0 },
			{ .fd = st->wake[0], .events = POLLIN, .revents = 0 },
		};

		if (poll(p, 2, listener_probe_send(db, &pr, 1000)) < 0 && errno != EINTR)
			continue;
		if (p[1].revents != 0)
			break;
		/* Moved before the socket is read, not only for each notification
		 * read: a reader that finds the socket empty (store_generation_sync)
		 * must find the move made, also while this thread is between the
		 * read and the notifications it holds. */
		if ((p[0].revents & POLLIN) != 0 &&
		    (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) == 0 &&
		    store_gen_fd_announces(&st->base, p[0].fd))
			atomic_fetch_add(&st->base.gen, 1); /* a closing socket is no announcement */
		if ((p[0].revents != 0 && libpq.consumeInput(db) == 0) ||
		    libpq.status(db) != CONNECTION_OK || !listener_probe_read(st, db, &pr)) {
			/* what is cached stays good for the rest of its time to
			 * live (auth_cache_ms), nothing new is cached */
			atomic_store(&st->base.cred_live_ms, 0);
			atomic_store(&st->base.gen_grace, true);
			atomic_store(&st->base.gen_tracked, false);
			atomic_store(&st->base.gen_fd, -1);
			log_warn("postgres", "lost %s; nothing new is cached "
				"until it is back", PG_CHANNEL);
			libpq.finish(db);
			db = NULL;
			continue;
		}
		while ((n = libpq.notifies(db)) != NULL) {
			/* another instance (or this one) wrote: its users */
			store_cred_bump_payload(&st->base, n->extra, strlen(n->extra));
			atomic_fetch_add(&st->base.gen, 1);
			libpq.freemem(n);
		}
		pool_drain_idle(st, &swept_ms);
	}
	atomic_store(&st->base.cred_live_ms, 0);
	libpq.finish(db);
	return NULL;
}

/* ---- open, close ------------------------------------------------------------------------------ */

static void pg_close(struct pc_store *s)
{
	struct pg_store *st = pg_store_of(s);
	struct pg_conn *c;
	char one = 1;

	if (st->listener_started) {
		atomic_store(&st->stopping, true);
		if (write(st->wake[1], &one, 1) < 0)
			log_error("postgres", "cannot wake the listener");
		pthread_join(st->listener, NULL);
	}
	pthread_setspecific(st->key, NULL);
	pthread_key_delete(st->key);
	while (st->all != NULL) {
		c = st->all;
		conn_unlink_all(c);
		conn_free(c);
	}
	libpq.finish(st->listen_db); /* when the thread never took it */
	pthread_cond_destroy(&st->freed);
	pthread_mutex_destroy(&st->lock);
	close(st->wake[0]);
	close(st->wake[1]);
	for (size_t i = 0; i < STMT__MAX; i++)
		free(st->text[i].sql);
	if (st->url != NULL) {
		crypto_wipe(st->url, strlen(st->url));
		free(st->url);
	}
	free(st);
}

/* Whether url is a postgres:// or postgresql:// URL libpq can read (libpq
 * loaded first: PC_ESTORE when it cannot be). The message never quotes the
 * URL (it may hold a password). */
static enum pc_err url_check(const char *url, struct pc_errinfo *ei)
{
	PQconninfoOption *o;
	char *msg = NULL;

	if (strncmp(url, "postgres://", 11) != 0 && strncmp(url, "postgresql://", 13) != 0) {
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_CHOICE,
				"unsupported database URL scheme");
		return PC_EINVAL;
	}
	if (libpq_load(ei) != PC_OK)
		return PC_ESTORE;
	o = libpq.conninfoParse(url, &msg);
	if (o == NULL) {
		libpq.freemem(msg);
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_RULE,
				"the PostgreSQL URL does not parse (see libpq's connection URIs)");
		return PC_EINVAL;
	}
	libpq.conninfoFree(o);
	return PC_OK;
}

static enum pc_err pg_open(const char *url, const struct store_conf *conf, struct pc_store **out,
			   struct pc_errinfo *ei)
{
	struct pg_store *st;
	struct pg_conn *c;
	enum pc_err err;
	size_t i;

	*out = NULL;
	err = url_check(url, ei);
	if (err != PC_OK)
		return err;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return PC_ENOMEM;
	st->base.drv = &store_postgres_driver;
	atomic_init(&st->base.gen, 1);
	atomic_init(&st->base.gen_tracked, false);
	atomic_init(&st->base.gen_grace, false);
	atomic_init(&st->base.gen_fd, -1);
	atomic_init(&st->stopping, false);
	st->pool_size = conf != NULL && conf->pool_size > 0 ? conf->pool_size : 16;
	st->timeout_ms = conf != NULL && conf->timeout_ms > 0 ? conf->timeout_ms : 5000;
	/* libpq's connect_timeout is whole seconds, at least 2 */
	snprintf(st->connect_timeout, sizeof(st->connect_timeout), "%d",
		 st->timeout_ms < 2000 ? 2 : (st->timeout_ms + 999) / 1000);
	snprintf(st->session_setup_quiet, sizeof(st->session_setup_quiet),
		 "SET statement_timeout = %d; SET client_min_messages = warning", st->timeout_ms);
	/* LISTEN last: pg_stat_activity shows a pooled connection by its first words */
	snprintf(st->session_setup, sizeof(st->session_setup), "%s; LISTEN " PG_CHANNEL,
		 st->session_setup_quiet);
	st->wake[0] = st->wake[1] = -1;
	st->url = strdup(url);
	if (st->url == NULL) {
		free(st);
		return PC_ENOMEM;
	}
	for (i = 0; i < STMT__MAX && err == PC_OK; i++)
		err = text_rewrite(store_sql_postgres[i], &st->text[i]);
	if (err == PC_OK && pipe(st->wake) != 0)
		err = PC_ENOMEM;
	if (err == PC_OK && pthread_key_create(&st->key, conn_thread_exit) != 0)
		err = PC_ENOMEM;
	if (err != PC_OK) {
		for (i = 0; i < STMT__MAX; i++)
			free(st->text[i].sql);
		if (st->wake[0] >= 0) {
			close(st->wake[0]);
			close(st->wake[1]);
		}
		free(st->url);
		free(st);
		return err;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->freed, NULL);
	/* the first connection now, so that a wrong URL or password fails here */
	err = conn_get(st, &c, ei);
	if (err == PC_OK)
		conn_release(c);
	if (err == PC_EUNAVAILABLE)
		err = PC_ESTORE;
	/* listening before the first write can be cached over */
	if (err == PC_OK) {
		st->listen_db = listener_connect(st, false);
		if (st->listen_db == NULL)
			err = PC_ESTORE;
		else
			listener_up(st, st->listen_db);
	}
	if (err == PC_OK && pthread_create(&st->listener, NULL, listener_main, st) == 0)
		st->listener_started = true;
	else if (err == PC_OK)
		err = PC_ENOMEM;
	if (err != PC_OK) {
		pg_close(&st->base);
		return err;
	}
	*out = &st->base;
	return PC_OK;
}

/* ---- the driver ------------------------------------------------------------------------------- */

const struct store_driver store_postgres_driver = {
	.name = "postgres",
	.dialect = STORE_DIALECT_POSTGRES,
	.scheme = "postgres", /* postgres:// and postgresql:// (pg_open checks which) */
	.sql = store_sql_postgres,
	.migrations = postgres_migrations,
	.nmigrations = &postgres_migrations_count,
	.open = pg_open,
	.close = pg_close,
	.exec = pg_exec,
	.prepare = pg_prepare,
	.bind = pg_bind,
	.step = pg_step,
	.column_int = pg_column_int,
	.column_text = pg_column_text,
	.changes = pg_changes,
	.done = pg_done,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
};
