/*
 * ctx.c - pc_ctx_open / pc_ctx_free: what a running portcullis is made of.
 *
 * Opening, in order: validate the config; open the store and run pending
 * migrations; settle the JWT key (the configured secret, or one generated
 * once and kept in the store's keys table so restarts keep tokens valid);
 * start the hash workers and the write workers; create the bootstrap
 * superuser when configured and absent; load the mail templates and start
 * the outbox sender (mail_open);
 * start the housekeeping thread, which runs each purge of housekeeping_jobs[]
 * at start-up and then every interval.
 * Freeing undoes it in reverse. Each step's failure undoes the steps before.
 */
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "store/store.h"

#define GENERATED_SECRET_KEY "jwt_secret"

static enum pc_err purge_sessions(struct pc_ctx *ctx, int64_t now);

/* What the housekeeping thread runs: each job at start-up, then every
 * interval_s seconds. A failure is logged and the job runs again next time. */
static const struct housekeeping_job {
	const char *name; /* for the log */
	int interval_s;
	enum pc_err (*run)(struct pc_ctx *ctx, int64_t now);
} housekeeping_jobs[] = {
	{ "expired sessions and revoked JWT ids", 300, purge_sessions },
	{ "expired one-time tokens and delivered outbox rows", 300, outbox_purge },
	{ "expired refresh tokens and emptied refresh families", 300, refresh_purge },
	{ "expired records of spent OAuth states", 300, oauth_purge },
	/* due every second; reads only once jwt_keys_reload_seconds have passed */
	{ "signing keys (reload)", 1, keys_reload },
	{ "idle rate-limit counters", 300, ratelimit_purge },
	{ "audit rows past audit_retention_days", 3600, audit_purge },
};
#define HOUSEKEEPING_NJOBS (sizeof(housekeeping_jobs) / sizeof(housekeeping_jobs[0]))

struct housekeeping {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;   /* on CLOCK_MONOTONIC; signalled to stop */
	bool stop;             /* under lock */
	bool running;
	int64_t next[HOUSEKEEPING_NJOBS]; /* each job's next run (mono_s); the thread's own */
};

/* The housekeeping thread lives beside the ctx so struct pc_ctx stays plain data. */
struct ctx_full {
	struct pc_ctx ctx;
	struct housekeeping hk;
};

struct pc_workers *ctx_workers(struct pc_ctx *ctx)
{
	return ctx->workers;
}

struct pc_workers *ctx_write_workers(struct pc_ctx *ctx)
{
	return ctx->write_workers;
}

const struct pc_config *pc_ctx_config(const struct pc_ctx *ctx)
{
	return &ctx->cfg;
}

/* How long a write the storage refused keeps /readyz not ready. */
#define CTX_REFUSED_WINDOW_MS 5000

/* Not ready while the store refuses writes: one refused (disk full, I/O
 * error, read-only, locked) within the last CTX_REFUSED_WINDOW_MS, or the
 * probe's own small write refused. A small write can pass on a full disk
 * (SQLite's WAL reuses its space) while larger ones fail: hence both. */
enum pc_err pc_ctx_ping(struct pc_ctx *ctx)
{
	enum pc_err err = store_ping(ctx->store);

	if (err == PC_OK)
		err = store_write_probe(ctx->store, time_now());
	if (err == PC_OK && store_writes_refused(ctx->store, time_now_ms(), CTX_REFUSED_WINDOW_MS))
		err = PC_ESTORE;
	return err;
}

static unsigned ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

/* The configured secret, or the generated one (first instance to start wins). */
static enum pc_err jwt_key_settle(struct pc_ctx *ctx, struct pc_errinfo *ei)
{
	struct pc_jwt_key *k = &ctx->jwt;
	const char *secret = ctx->cfg.jwt_secret;
	char stored[128];
	enum pc_err err;

	/* with an asymmetric algorithm, the secret still HMACs what is not
	 * published (simplejwt, user_account, TOTP-pending tokens): HS256 */
	snprintf(k->alg, sizeof(k->alg), "%s",
		 jwt_alg_asymmetric(ctx->cfg.algorithm) ? "HS256" : ctx->cfg.algorithm);
	snprintf(k->aud, sizeof(k->aud), "%s", ctx->cfg.jwt_audience);
	if (secret[0] == '\0') {
		unsigned char raw[48];
		char fresh[80];

		err = crypto_random(raw, sizeof(raw));
		if (err != PC_OK)
			return err;
		crypto_b64url_encode(raw, sizeof(raw), fresh, sizeof(fresh));
		crypto_wipe(raw, sizeof(raw));
		err = STORE_CALL(ctx->store, key_put_if_absent, GENERATED_SECRET_KEY, fresh);
		crypto_wipe(fresh, sizeof(fresh));
		if (err == PC_OK)
			err = STORE_CALL(ctx->store, key_get, GENERATED_SECRET_KEY, stored, sizeof(stored));
		if (err != PC_OK) {
			pc_errinfo_setf(ei, "config", "jwt_secret", PC_V_STORE, "cannot keep a generated JWT secret in the database");
			return err;
		}
		if (!ctx->cfg.quiet_dev_defaults)
			log_warn("config", "no jwt_secret configured; using a "
					"generated secret kept in the database (development default)");
		secret = stored;
	}
	k->len = strlen(secret);
	if (k->len > sizeof(k->secret)) {
		pc_errinfo_setf(ei, "config", "jwt_secret", PC_V_RULE, "jwt_secret: too long");
		return PC_EINVAL;
	}
	memcpy(k->secret, secret, k->len);
	crypto_wipe(stored, sizeof(stored));
	if (jwt_key_open(k) != PC_OK) {
		pc_errinfo_setf(ei, "config", "algorithm", PC_V_RULE,
				"cannot key an HMAC with this algorithm and secret");
		return PC_EINVAL;
	}
	return PC_OK;
}

static enum pc_err bootstrap_admin(struct pc_ctx *ctx, struct pc_errinfo *ei)
{
	const struct pc_config *cfg = &ctx->cfg;
	struct pc_user_input in;
	struct pc_user u;
	enum pc_err err;

	if (cfg->bootstrap_admin_email[0] == '\0')
		return PC_OK;
	err = pc_user_get_by_email(ctx, cfg->bootstrap_admin_email, &u);
	if (err != PC_ENOTFOUND)
		return err == PC_OK ? PC_OK : err;
	pc_user_input_init(&in);
	in.email = cfg->bootstrap_admin_email;
	in.password = cfg->bootstrap_admin_password;
	in.password_len = strlen(cfg->bootstrap_admin_password);
	in.is_active = 1;
	in.is_superuser = 1;
	in.is_verified = 1;
	err = pc_user_create(ctx, &in, &u, ei);
	if (err == PC_EEXISTS) /* another instance created it first */
		return PC_OK;
	if (err == PC_OK)
		log_info("users", "created bootstrap superuser %s", u.email);
	return err;
}

static enum pc_err purge_sessions(struct pc_ctx *ctx, int64_t now)
{
	int64_t removed = 0;

	return STORE_CALL(ctx->store, purge_expired, now, &removed);
}

static int64_t mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec;
}

/* Runs the jobs that are due; each one's next run goes into next[]. */
static void housekeeping_round(struct pc_ctx *ctx, int64_t *next)
{
	for (size_t i = 0; i < HOUSEKEEPING_NJOBS; i++) {
		const struct housekeeping_job *job = &housekeeping_jobs[i];
		enum pc_err err;

		if (mono_s() < next[i])
			continue;
		err = job->run(ctx, time_now());
		if (err != PC_OK)
			log_error("housekeeping", "purge of %s failed (%s)", job->name,
				pc_strerror(err));
		next[i] = mono_s() + job->interval_s;
	}
}

/* Waits (hk->lock held) until the soonest job of next[] is due, or stop. */
static void housekeeping_wait(struct housekeeping *hk)
{
	struct timespec until = { 0 };
	int64_t soonest = hk->next[0];

	for (size_t i = 1; i < HOUSEKEEPING_NJOBS; i++)
		soonest = hk->next[i] < soonest ? hk->next[i] : soonest;
	until.tv_sec = (time_t)soonest;
	while (!hk->stop && pthread_cond_timedwait(&hk->wake, &hk->lock, &until) == 0)
		;
}

/* The start-up round ran in housekeeping_start: first wait for the next due. */
static void *housekeeping_main(void *arg)
{
	struct ctx_full *f = arg;
	struct housekeeping *hk = &f->hk;

	pthread_mutex_lock(&hk->lock);
	housekeeping_wait(hk);
	while (!hk->stop) {
		pthread_mutex_unlock(&hk->lock);
		housekeeping_round(&f->ctx, hk->next);
		pthread_mutex_lock(&hk->lock);
		housekeeping_wait(hk);
	}
	pthread_mutex_unlock(&hk->lock);
	return NULL;
}

static enum pc_err housekeeping_start(struct ctx_full *f)
{
	struct housekeeping *hk = &f->hk;
	pthread_condattr_t attr;

	pthread_mutex_init(&hk->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&hk->wake, &attr);
	pthread_condattr_destroy(&attr);
	hk->stop = false;
	/* The start-up round runs here, before the ctx is handed out: what it
	 * purges is gone before the first request (or caller) can see it, and
	 * never underneath one that has just begun. */
	memset(hk->next, 0, sizeof(hk->next));
	housekeeping_round(&f->ctx, hk->next);
	if (pthread_create(&hk->thread, NULL, housekeeping_main, f) != 0) {
		pthread_cond_destroy(&hk->wake);
		pthread_mutex_destroy(&hk->lock);
		return PC_EINTERNAL;
	}
	hk->running = true;
	return PC_OK;
}

static void housekeeping_stop(struct ctx_full *f)
{
	struct housekeeping *hk = &f->hk;

	if (!hk->running)
		return;
	pthread_mutex_lock(&hk->lock);
	hk->stop = true;
	pthread_cond_signal(&hk->wake);
	pthread_mutex_unlock(&hk->lock);
	pthread_join(hk->thread, NULL);
	pthread_cond_destroy(&hk->wake);
	pthread_mutex_destroy(&hk->lock);
	hk->running = false;
}

/* Numbers the contexts of the process (never 0), so that no cache entry of a
 * closed context is taken for one of a new context at the same address. */
static _Atomic uint64_t ctx_serials;

/*
 * The URL the store opens: database_url, with sqlite_synchronous and
 * sqlite_mmap_mb as its ?synchronous=&mmap_mb= when it is a sqlite:// URL
 * that has no parameter itself (the URL's own parameters win).
 */
static void ctx_store_url(const struct pc_config *cfg, char *out, size_t outsz)
{
	if (strncmp(cfg->database_url, "sqlite://", 9) == 0 &&
	    strchr(cfg->database_url, '?') == NULL)
		snprintf(out, outsz, "%s?synchronous=%s&mmap_mb=%d", cfg->database_url,
			 cfg->sqlite_synchronous, cfg->sqlite_mmap_mb);
	else
		snprintf(out, outsz, "%s", cfg->database_url);
}

enum pc_err pc_ctx_open(const struct pc_config *cfg, struct pc_ctx **out, struct pc_errinfo *ei)
{
	const struct store_conf conf = {
		.pool_size = cfg->database_pool_size, .timeout_ms = cfg->database_timeout_ms,
	};
	char url[sizeof(cfg->database_url) + 32];
	struct ctx_full *f;
	struct pc_ctx *ctx;
	unsigned nworkers;
	int applied = 0;
	enum pc_err err;

	err = pc_config_validate(cfg, ei);
	if (err != PC_OK)
		return err;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return PC_ENOMEM;
	ctx = &f->ctx;
	ctx->cfg = *cfg;
	ctx->serial = atomic_fetch_add(&ctx_serials, 1) + 1;
	ctx->argon2.m_kib = (uint32_t)cfg->argon2_memory_kib;
	ctx->argon2.t = (uint32_t)cfg->argon2_iterations;
	ctx->argon2.p = (uint32_t)cfg->argon2_parallelism;

	ctx_store_url(cfg, url, sizeof(url));
	err = store_open_conf(url, &conf, &ctx->store, ei);
	if (err != PC_OK)
		goto out_free;
	err = STORE_CALL(ctx->store, migrate, &applied);
	if (err != PC_OK) {
		pc_errinfo_setf(ei, "config", "database_url", PC_V_STORE, "database migration failed");
		goto out_close_store;
	}
	err = jwt_key_settle(ctx, ei);
	if (err != PC_OK)
		goto out_close_store;
	err = keys_open(ctx, ei);
	if (err != PC_OK)
		goto out_close_key;
	err = totp_open(ctx, ei);
	if (err != PC_OK)
		goto out_close_key;
	nworkers = cfg->hash_workers > 0 ? (unsigned)cfg->hash_workers : ncpus();
	err = workers_new(nworkers, (size_t)cfg->hash_queue_max, cfg->hash_nice, &ctx->workers);
	if (err != PC_OK)
		goto out_close_key;
	/* niceness 0: a write worker mostly waits on the disk, and a commit
	 * that waits for the CPU holds the write lock the longer */
	err = workers_new_kind(WORKERS_WRITE, (unsigned)cfg->write_workers,
			       (size_t)cfg->write_queue_max, 0, &ctx->write_workers);
	if (err != PC_OK)
		goto out_free_workers;
	err = bootstrap_admin(ctx, ei);
	if (err != PC_OK)
		goto out_free_workers;
	err = oauth_open(ctx, ei);
	if (err != PC_OK)
		goto out_free_workers;
	err = mail_open(ctx, ei);
	if (err != PC_OK)
		goto out_close_oauth;
	err = housekeeping_start(f);
	if (err != PC_OK)
		goto out_close_mail;
	*out = ctx;
	return PC_OK;

out_close_mail:
	mail_close(ctx);
out_close_oauth:
	oauth_close(ctx);
out_free_workers:
	workers_free(ctx->write_workers);
	workers_free(ctx->workers);
out_close_key:
	totp_close(ctx);
	keys_close(ctx);
	jwt_key_close(&ctx->jwt);
out_close_store:
	store_close(ctx->store);
out_free:
	crypto_wipe(f, sizeof(*f));
	free(f);
	return err;
}

void pc_ctx_free(struct pc_ctx *ctx)
{
	struct ctx_full *f = (struct ctx_full *)(void *)ctx;

	if (ctx == NULL)
		return;
	housekeeping_stop(f);
	mail_close(ctx);
	workers_free(ctx->write_workers);
	workers_free(ctx->workers);
	oauth_close(ctx);
	totp_close(ctx);
	keys_close(ctx);
	jwt_key_close(&ctx->jwt);
	store_close(ctx->store);
	config_live_forget(&ctx->cfg);
	crypto_wipe(f, sizeof(*f));
	free(f);
}

enum pc_err pc_migrate(const struct pc_config *cfg, int *applied, struct pc_errinfo *ei)
{
	const struct store_conf conf = {
		.pool_size = cfg->database_pool_size, .timeout_ms = cfg->database_timeout_ms,
	};
	struct pc_store *store;
	char url[sizeof(cfg->database_url) + 32];
	enum pc_err err;

	ctx_store_url(cfg, url, sizeof(url));
	err = store_open_conf(url, &conf, &store, ei);
	if (err != PC_OK)
		return err;
	err = STORE_CALL(store, migrate, applied);
	if (err != PC_OK)
		pc_errinfo_setf(ei, "config", "database_url", PC_V_STORE, "database migration failed");
	store_close(store);
	return err;
}

/* Validate, read the templates, merge (silently), publish; only then say
 * what changed, so that a refused reload says nothing changed. */
enum pc_err ctx_reload(struct pc_ctx *ctx, const struct pc_config *next,
		       const char *const *reloadable, size_t nreloadable, config_diff_fn *say,
		       void *arg, struct pc_errinfo *ei)
{
	struct pc_config *merged, *seen;
	enum pc_err err;

	err = pc_config_validate(next, ei);
	if (err != PC_OK)
		return err;
	merged = malloc(sizeof(*merged));
	seen = malloc(sizeof(*seen));
	if (merged == NULL || seen == NULL) {
		free(merged);
		free(seen);
		return PC_ENOMEM;
	}
	memcpy(merged, config_live(&ctx->cfg), sizeof(*merged));
	memcpy(seen, merged, sizeof(*seen));
	config_reload_merge(merged, next, reloadable, nreloadable, NULL, NULL);
	err = message_templates_reload(ctx, merged, ei);
	if (err == PC_OK)
		err = config_live_publish(&ctx->cfg, merged);
	if (err == PC_OK)
		config_reload_merge(seen, next, reloadable, nreloadable, say, arg);
	crypto_wipe(merged, sizeof(*merged));
	crypto_wipe(seen, sizeof(*seen));
	free(merged);
	free(seen);
	return err;
}
