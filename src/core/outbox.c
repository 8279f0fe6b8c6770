/*
 * outbox.c - the outbox sender: the background thread that delivers
 * mail_outbox rows, with leases, retries and backoff.
 *
 * Owns: struct pc_mailer (ctx->mailer): the sender thread with its lock and
 * condition variable, and the row it has claimed. mail_open also loads the
 * templates (message.c) and mail_close frees them: the mail modules' set-up.
 *
 * Writing. Nothing here writes a row: onetime.c renders a mail
 * (message_render) or an event (webhook_event) and hands it to the store in
 * the transaction that stores the token or the change it announces; then it
 * calls outbox_kick.
 *
 * Sending. One thread per context:
 *
 *     wait (kick, 1 s, or stop) -> due row? -> claim (lease) -> deliver
 *         ^                                                       |
 *         +---- outbox_sent / outbox_failed (backoff, last_error) +
 *
 * A claim sets claimed_until = now + lease, so no other sender (another
 * instance on the same database) takes the row while this one works on it.
 * The lease is longer than an attempt can take (twice smtp_timeout_seconds,
 * plus one). If the process dies mid-attempt, the lease runs out and the row
 * is taken again: a mail may then arrive twice, never zero times. A failed
 * attempt sets next_attempt_at = now + base * 2^(attempts-1), at most
 * mail_retry_max_seconds, and keeps the error; with mail_max_attempts the row
 * is given up after that many attempts. Stopping interrupts an attempt in
 * flight (the transports' cancel hook) and leaves the row due at once.
 *
 * Delivery goes by the row's kind through outbox_transports[]: a transport
 * answers PC_OK (delivered), PC_EBUSY (interrupted by stopping), PC_EINVAL
 * (can never be delivered: given up at once) or another code (retried).
 *
 * Purging (outbox_purge, run by the housekeeping thread of ctx.c): expired
 * one-time tokens, and rows sent or given up more than 7 days ago.
 *
 * Invariants: sent and given-up rows lose their bodies (store); a claimed
 * row is wiped from memory once recorded.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "store/store.h"

#define OUTBOX_POLL_S 1
#define OUTBOX_KEEP_DONE_S (7 * 86400) /* sent or given-up rows kept this long */
/* A kick comes from a request thread before that request is answered: woken
 * at once, the sender's work (a claim, a delivery, two commits) would run
 * ahead of the answer on a busy CPU, and a mail request that writes a mail
 * would answer later than one that does not (an unknown address; issue 13,
 * item 4). So the sender starts this long after a kick. */
#define OUTBOX_KICK_DELAY_MS 20

_Static_assert(sizeof(((struct outbox_attempt *)0)->error) == PC_OUTBOX_ERROR_MAX + 1,
	       "an attempt's error is what last_error holds");

/* How each kind of row is delivered. */
static const struct outbox_transport {
	const char *kind;                               /* mail_outbox.kind */
	enum pc_err (*deliver)(struct outbox_attempt *a);
} outbox_transports[] = {
	{ "mail", message_deliver },    /* SMTP; the log without smtp_url */
	{ "webhook", webhook_deliver }, /* signed POST through httpc */
};

struct pc_mailer {
	struct pc_ctx *ctx;
	struct pc_outbox_row *row;   /* the sender's claimed row */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool kicked;                 /* under lock */
	atomic_bool stop;            /* also read by the transfers' cancel hook */
	bool running;
};

/* The transfers' cancel hook: true once the sender is stopping. */
static bool outbox_stopping(void *arg)
{
	struct pc_mailer *m = arg;

	return atomic_load(&m->stop);
}

static enum pc_err outbox_deliver(struct outbox_attempt *a)
{
	for (size_t i = 0; i < sizeof(outbox_transports) / sizeof(outbox_transports[0]); i++) {
		if (strcmp(a->row->kind, outbox_transports[i].kind) == 0)
			return outbox_transports[i].deliver(a);
	}
	snprintf(a->error, sizeof(a->error), "unknown outbox kind");
	return PC_EINVAL;
}

/* base * 2^(attempts-1), at most max. */
static int64_t retry_delay(const struct pc_config *cfg, int64_t attempts)
{
	int64_t d = cfg->mail_retry_base_seconds;
	int64_t i;

	for (i = 1; i < attempts && d < cfg->mail_retry_max_seconds; i++)
		d *= 2;
	return d < cfg->mail_retry_max_seconds ? d : cfg->mail_retry_max_seconds;
}

/*
 * A mail given up goes to the audit log as "mail.gave_up" (and so to the
 * webhooks that name it): the outbox row's id, why (an SMTP 5xx and its
 * code, the attempts spent, or a message that cannot be built), and the user
 * the address belongs to, if any. Never the address, the subject or the
 * server's reply (which may quote the address). Only rows of kind "mail": a
 * webhook given up is logged, never audited, so that a webhook receiver that
 * refuses cannot set off audit webhooks without end.
 */
static void outbox_audit_gave_up(struct pc_ctx *ctx, const struct pc_outbox_row *row,
				 enum pc_err result, const char *error)
{
	char addr[PC_OUTBOX_RCPT_MAX + 1], detail[160];
	const char *user_id = NULL;
	struct pc_user u;
	long code = 0;
	const char *reason = "attempts";

	if (strcmp(row->kind, "mail") != 0)
		return;
	if (result == PC_EINVAL) {
		reason = sscanf(error, "smtp: permanent refusal %ld", &code) == 1 ? "smtp_refused"
										: "unbuildable";
	}
	snprintf(addr, sizeof(addr), "%s", row->recipient);
	ascii_lower_str(addr);
	if (STORE_CALL(ctx->store, user_by_email, addr, &u) == PC_OK) {
		crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
		user_id = u.id;
	}
	if (code >= 500 && code <= 599)
		snprintf(detail, sizeof(detail),
			 "{\"outbox_id\":%lld,\"kind\":\"mail\",\"reason\":\"%s\",\"attempts\":%lld,"
			 "\"smtp_code\":%ld}", (long long)row->id, reason, (long long)row->attempts,
			 code);
	else
		snprintf(detail, sizeof(detail),
			 "{\"outbox_id\":%lld,\"kind\":\"mail\",\"reason\":\"%s\",\"attempts\":%lld}",
			 (long long)row->id, reason, (long long)row->attempts);
	(void)pc_audit(ctx, "mail.gave_up", user_id, detail);
}

/* Records the outcome of one attempt on the claimed row, and logs it: a
 * success (info), a retry (warn) or the end (error), each with the row's id
 * and the attempt's number. */
static void outbox_record(struct pc_mailer *m, const struct pc_outbox_row *row, enum pc_err result,
			  const char *error)
{
	const struct pc_config *cfg = &m->ctx->cfg;
	struct pc_store *st = m->ctx->store;
	int64_t now = time_now(), next;
	bool give_up;
	enum pc_err err;

	if (result == PC_OK) {
		const struct log_field f[] = {
			LOG_INT("outbox_id", row->id),
			LOG_INT("attempt", row->attempts),
		};

		log_emit(LOG_LEVEL_INFO, row->kind, LOG_FIELDS(f), "%s delivered", row->kind);
		err = STORE_CALL(st, outbox_sent, row->id, now);
		if (err != PC_OK)
			log_emit(LOG_LEVEL_ERROR, row->kind, LOG_FIELDS(f),
				 "delivered but cannot be marked sent (%s): it may be delivered again",
				 pc_strerror(err));
		return;
	}
	if (result == PC_EBUSY) { /* interrupted by stopping: due again at once */
		next = now;
		give_up = false;
	} else {
		next = now + retry_delay(cfg, row->attempts);
		/* A message that cannot be built never will be: no retry. */
		give_up = result == PC_EINVAL ||
			  (cfg->mail_max_attempts > 0 && row->attempts >= cfg->mail_max_attempts);
	}
	const struct log_field f[] = {
		LOG_INT("outbox_id", row->id),
		LOG_INT("attempt", row->attempts),
		LOG_STR("error", error),
		LOG_INT("retry_in_s", give_up ? -1 : next - now),
	};
	if (give_up)
		log_emit(LOG_LEVEL_ERROR, row->kind, LOG_FIELDS(f) - 1,
			 "%s given up after %lld attempts", row->kind, (long long)row->attempts);
	else if (result == PC_EBUSY)
		log_emit(LOG_LEVEL_INFO, row->kind, LOG_FIELDS(f),
			 "%s attempt interrupted by the stop; due again at the next start", row->kind);
	else
		log_emit(LOG_LEVEL_WARN, row->kind, LOG_FIELDS(f),
			 "%s attempt failed; next in %lld s", row->kind, (long long)(next - now));
	err = STORE_CALL(st, outbox_failed, row->id, now, next, error, give_up);
	if (err != PC_OK)
		log_emit(LOG_LEVEL_ERROR, row->kind, LOG_FIELDS(f) - 1,
			 "cannot record a failed attempt (%s)", pc_strerror(err));
	else if (give_up)
		outbox_audit_gave_up(m->ctx, row, result, error);
}

static void outbox_log_attempt(const struct pc_outbox_row *row)
{
	const struct log_field f[] = {
		LOG_INT("outbox_id", row->id),
		LOG_INT("attempt", row->attempts),
		LOG_STR("subject", row->subject),
	};

	log_emit(LOG_LEVEL_INFO, row->kind, LOG_FIELDS(f), "%s attempt", row->kind);
}

/* Delivers every due row, one claim at a time, until none is due or stop. */
static void outbox_drain(struct pc_mailer *m)
{
	const struct pc_config *cfg = &m->ctx->cfg;
	struct pc_store *st = m->ctx->store;
	struct pc_outbox_row *row = m->row;
	struct outbox_attempt a = {
		.cfg = cfg,
		.row = row,
		.cancel = { .fn = outbox_stopping, .arg = m },
	};
	int64_t now, lease = 2 * (int64_t)cfg->smtp_timeout_seconds + 1;
	bool due = false;
	enum pc_err err;

	while (!atomic_load(&m->stop)) {
		now = time_now();
		if (STORE_CALL(st, outbox_due, now, &due) != PC_OK || !due)
			return;
		err = STORE_CALL(st, outbox_claim, now, now + lease, row);
		if (err != PC_OK)
			return; /* taken by another sender meanwhile, or the store failed */
		a.now = now;
		a.error[0] = '\0';
		outbox_log_attempt(row);
		err = outbox_deliver(&a);
		if (err == PC_EBUSY)
			snprintf(a.error, sizeof(a.error), "interrupted: the server stopped");
		outbox_record(m, row, err, a.error);
		crypto_wipe(row, sizeof(*row));
	}
}

enum pc_err outbox_purge(struct pc_ctx *ctx, int64_t now)
{
	int64_t removed = 0;

	return STORE_CALL(ctx->store, mail_purge, now, now - OUTBOX_KEEP_DONE_S, &removed);
}

static void *outbox_main(void *arg)
{
	struct pc_mailer *m = arg;

	while (!atomic_load(&m->stop)) {
		struct timespec until;

		outbox_drain(m);
		pthread_mutex_lock(&m->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += OUTBOX_POLL_S;
		while (!m->kicked && !atomic_load(&m->stop)) {
			if (pthread_cond_timedwait(&m->wake, &m->lock, &until) != 0)
				break;
		}
		if (m->kicked) {
			/* a kick comes from a request before its answer is sent:
			 * let the answer go first (see OUTBOX_KICK_DELAY_MS) */
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += OUTBOX_KICK_DELAY_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!atomic_load(&m->stop)) {
				if (pthread_cond_timedwait(&m->wake, &m->lock, &until) != 0)
					break;
			}
		}
		m->kicked = false;
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

void outbox_kick(struct pc_ctx *ctx)
{
	struct pc_mailer *m = ctx->mailer;

	if (m == NULL || !m->running)
		return;
	pthread_mutex_lock(&m->lock);
	m->kicked = true;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
}

/* ---- set-up ------------------------------------------------------------------------------ */

enum pc_err mail_open(struct pc_ctx *ctx, struct pc_errinfo *ei)
{
	const struct pc_config *cfg = &ctx->cfg;
	struct pc_mailer *m;
	enum pc_err err;

	/* libcurl is loaded when first needed (libcurl.h); a server set up to
	 * send by SMTP or to post webhooks loads it now, so that a missing
	 * libcurl is a start-up error, not a mail that never leaves. */
	if ((cfg->smtp_url[0] != '\0' || cfg->webhook_url[0] != '\0') &&
	    httpc_global_init() != PC_OK) {
		const char *setting = cfg->smtp_url[0] != '\0' ? "smtp_url" : "webhook_url";

		pc_errinfo_setf(ei, "config", setting, PC_V_INTERNAL,
				"%s is set, and libcurl could not be loaded (see the log)", setting);
		return PC_EINTERNAL;
	}
	err = message_templates_load(ctx, ei);
	if (err != PC_OK)
		return err;
	m = calloc(1, sizeof(*m));
	if (m != NULL)
		m->row = malloc(sizeof(*m->row));
	if (m == NULL || m->row == NULL) {
		free(m);
		message_templates_free(ctx);
		return PC_ENOMEM;
	}
	m->ctx = ctx;
	atomic_init(&m->stop, false);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	ctx->mailer = m;
	if (pthread_create(&m->thread, NULL, outbox_main, m) != 0) {
		ctx->mailer = NULL;
		pthread_cond_destroy(&m->wake);
		pthread_mutex_destroy(&m->lock);
		free(m->row);
		free(m);
		message_templates_free(ctx);
		return PC_EINTERNAL;
	}
	m->running = true;
	if (cfg->quiet_dev_defaults) /* not the server (the CLI's other commands) */
		return PC_OK;
	if (cfg->smtp_url[0] == '\0')
		log_warn("mail", "no smtp_url: mail is written to the log, "
			"not sent (development default)");
	else if (cfg->smtp_username[0] != '\0' && strncmp(cfg->smtp_url, "smtp://", 7) == 0 &&
		 !cfg->smtp_starttls)
		log_warn("mail", "SMTP login over smtp:// without "
			"smtp_starttls: the password crosses the network in clear");
	return PC_OK;
}

void mail_close(struct pc_ctx *ctx)
{
	struct pc_mailer *m = ctx->mailer;

	if (m != NULL) {
		if (m->running) {
			pthread_mutex_lock(&m->lock);
			atomic_store(&m->stop, true);
			pthread_cond_signal(&m->wake);
			pthread_mutex_unlock(&m->lock);
			pthread_join(m->thread, NULL);
			m->running = false;
		}
		pthread_cond_destroy(&m->wake);
		pthread_mutex_destroy(&m->lock);
		ctx->mailer = NULL;
		free(m->row);
		free(m);
	}
	message_templates_free(ctx);
}

enum pc_err outbox_stats(struct pc_ctx *ctx, int64_t *pending, int64_t *failed,
			 int64_t *oldest_age_s)
{
	struct pc_outbox_stats st;
	enum pc_err err = STORE_CALL(ctx->store, outbox_stats, &st);
	int64_t now = time_now();

	*pending = st.pending;
	*failed = st.failed;
	*oldest_age_s = st.pending > 0 && st.oldest_created_at < now ? now - st.oldest_created_at : 0;
	return err;
}
