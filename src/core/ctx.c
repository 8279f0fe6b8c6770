/*
 * ctx.c - pc_ctx_open / pc_ctx_free: what a running portcullis is made of.
 *
 * Opening, in order: validate the config; open the store and run pending
 * migrations; settle the JWT key (the configured secret, or one generated
 * once and kept in the store's keys table so restarts keep tokens valid);
 * start the hash workers; create the bootstrap superuser when configured and
 * absent; load the mail templates and start the outbox sender (mail.c);
 * start the janitor that purges expired sessions and denylist rows.
 * Freeing undoes it in reverse. Each step's failure undoes the steps before.
 */
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "store/store.h"

#define JANITOR_PERIOD_S 300
#define GENERATED_SECRET_KEY "jwt_secret"

struct janitor {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	bool running;
};

/* The janitor lives beside the ctx so struct pc_ctx stays plain data. */
struct ctx_full {
	struct pc_ctx ctx;
	struct janitor janitor;
};

struct pc_workers *ctx_workers(struct pc_ctx *ctx)
{
	return ctx->workers;
}

const struct pc_config *pc_ctx_config(const struct pc_ctx *ctx)
{
	return &ctx->cfg;
}

enum pc_err pc_ctx_ping(struct pc_ctx *ctx)
{
	return store_ping(ctx->store);
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

	snprintf(k->alg, sizeof(k->alg), "%s", ctx->cfg.algorithm);
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
			pc_errinfo_set(ei, "config", "jwt_secret", "store",
				       "cannot keep a generated JWT secret in the database");
			return err;
		}
		fprintf(stderr, "portcullis: warning: no jwt_secret configured; using a generated "
				"secret kept in the database (development default)\n");
		secret = stored;
	}
	k->len = strlen(secret);
	if (k->len > sizeof(k->secret)) {
		pc_errinfo_set(ei, "config", "jwt_secret", "value_error", "jwt_secret: too long");
		return PC_EINVAL;
	}
	memcpy(k->secret, secret, k->len);
	crypto_wipe(stored, sizeof(stored));
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
		fprintf(stderr, "portcullis: created bootstrap superuser %s\n", u.email);
	return err;
}

static void *janitor_main(void *arg)
{
	struct ctx_full *f = arg;
	struct janitor *j = &f->janitor;

	pthread_mutex_lock(&j->lock);
	while (!j->stop) {
		struct timespec until;
		int64_t removed = 0;

		pthread_mutex_unlock(&j->lock);
		if (STORE_CALL(f->ctx.store, purge_expired, time_now(), &removed) != PC_OK)
			fprintf(stderr, "portcullis: purge of expired rows failed\n");
		pthread_mutex_lock(&j->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += JANITOR_PERIOD_S;
		while (!j->stop && pthread_cond_timedwait(&j->wake, &j->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static enum pc_err janitor_start(struct ctx_full *f)
{
	struct janitor *j = &f->janitor;

	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->wake, NULL);
	j->stop = false;
	if (pthread_create(&j->thread, NULL, janitor_main, f) != 0)
		return PC_EINTERNAL;
	j->running = true;
	return PC_OK;
}

static void janitor_stop(struct ctx_full *f)
{
	struct janitor *j = &f->janitor;

	if (!j->running)
		return;
	pthread_mutex_lock(&j->lock);
	j->stop = true;
	pthread_cond_signal(&j->wake);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	pthread_cond_destroy(&j->wake);
	pthread_mutex_destroy(&j->lock);
	j->running = false;
}

/* Numbers the contexts of the process (never 0), so that no cache entry of a
 * closed context is taken for one of a new context at the same address. */
static _Atomic uint64_t ctx_serials;

enum pc_err pc_ctx_open(const struct pc_config *cfg, struct pc_ctx **out, struct pc_errinfo *ei)
{
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

	err = store_open(cfg->database_url, &ctx->store, ei);
	if (err != PC_OK)
		goto out_free;
	err = STORE_CALL(ctx->store, migrate, &applied);
	if (err != PC_OK) {
		pc_errinfo_set(ei, "config", "database_url", "store", "database migration failed");
		goto out_close_store;
	}
	err = jwt_key_settle(ctx, ei);
	if (err != PC_OK)
		goto out_close_store;
	nworkers = cfg->hash_workers > 0 ? (unsigned)cfg->hash_workers : ncpus();
	err = workers_new(nworkers, (size_t)cfg->hash_queue_max, cfg->hash_nice, &ctx->workers);
	if (err != PC_OK)
		goto out_close_store;
	err = bootstrap_admin(ctx, ei);
	if (err != PC_OK)
		goto out_free_workers;
	err = mail_open(ctx, ei);
	if (err != PC_OK)
		goto out_free_workers;
	err = janitor_start(f);
	if (err != PC_OK)
		goto out_close_mail;
	*out = ctx;
	return PC_OK;

out_close_mail:
	mail_close(ctx);
out_free_workers:
	workers_free(ctx->workers);
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
	janitor_stop(f);
	mail_close(ctx);
	workers_free(ctx->workers);
	store_close(ctx->store);
	crypto_wipe(f, sizeof(*f));
	free(f);
}

enum pc_err pc_migrate(const struct pc_config *cfg, int *applied, struct pc_errinfo *ei)
{
	struct pc_store *store;
	enum pc_err err;

	err = store_open(cfg->database_url, &store, ei);
	if (err != PC_OK)
		return err;
	err = STORE_CALL(store, migrate, applied);
	if (err != PC_OK)
		pc_errinfo_set(ei, "config", "database_url", "store", "database migration failed");
	store_close(store);
	return err;
}
