/*
 * metrics.c - the counters of /metrics and their Prometheus text form.
 *
 * Owns nothing: the counts are stats slots (base/stats.c, per thread, no
 * lock); this file reserves one block of slots per mounted route at start
 * and lays them out:
 *
 *   block k (k = route id; 0: requests that matched no route)
 *     [0, METRICS_NSTATUS)                      answers by status (the
 *                                               last slot: any other status)
 *     [METRICS_NSTATUS, + METRICS_NBUCKETS)     latency, one slot per bucket
 *                                               (not cumulative; the writer
 *                                               adds them up)
 *     [.. + 1)                                  latency sum, microseconds
 *
 * A request costs two stats_add calls and a short table walk. The writer
 * reads every counter at scrape time, plus the hash queue (one lock) and
 * the outbox (one store query): a scrape is not a hot path.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

static const int metrics_status[] = {
	200, 201, 202, 204, 301, 302, 303, 307, 400, 401, 403, 404, 405,
	409, 413, 415, 422, 423, 429, 500, 503,
};
#define METRICS_NSTATUS (sizeof(metrics_status) / sizeof(metrics_status[0]) + 1)

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const int64_t metrics_le_us[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000,
};
#define METRICS_NLE (sizeof(metrics_le_us) / sizeof(metrics_le_us[0]))
#define METRICS_NBUCKETS (METRICS_NLE + 1)
#define METRICS_PER (METRICS_NSTATUS + METRICS_NBUCKETS + 1)

/* The range reserved by the first server of the process. A later one (an
 * embedder restarting its server) takes it over when it is large enough, so
 * restarts do not use the slots up; its series then continue the old counts,
 * as a Prometheus counter may, but under the new route table's labels. */
static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static long metrics_base = -1;
static size_t metrics_nblocks;

void http_metrics_init(struct http_metrics *m, const struct pc_router *r)
{
	m->nblocks = router_size(r) + 1;
	pthread_mutex_lock(&metrics_lock);
	if (metrics_base < 0 || metrics_nblocks < m->nblocks) {
		long base = stats_reserve(m->nblocks * METRICS_PER);

		if (base >= 0) {
			metrics_base = base;
			metrics_nblocks = m->nblocks;
		}
	}
	m->base = metrics_nblocks >= m->nblocks ? metrics_base : -1;
	pthread_mutex_unlock(&metrics_lock);
}

static size_t metrics_status_slot(int status)
{
	size_t i;

	for (i = 0; i < METRICS_NSTATUS - 1; i++) {
		if (metrics_status[i] == status)
			return i;
	}
	return METRICS_NSTATUS - 1;
}

void http_metrics_record(const struct http_metrics *m, size_t route_id, int status,
			 int64_t dur_us)
{
	size_t b, first;

	if (m->base < 0 || route_id >= m->nblocks)
		return;
	if (dur_us < 0)
		dur_us = 0;
	first = (size_t)m->base + route_id * METRICS_PER;
	for (b = 0; b < METRICS_NLE && dur_us > metrics_le_us[b]; b++)
		;
	stats_add((unsigned)(first + metrics_status_slot(status)), 1);
	stats_add((unsigned)(first + METRICS_NSTATUS + b), 1);
	stats_add((unsigned)(first + METRICS_NSTATUS + METRICS_NBUCKETS), (uint64_t)dur_us);
}

/* ---- the text exposition ------------------------------------------------------------ */

/* A label value with \, " and newline escaped. */
static enum pc_err metrics_label(struct pc_buf *out, const char *v)
{
	enum pc_err err = PC_OK;

	for (; *v != '\0' && err == PC_OK; v++) {
		if (*v == '\\' || *v == '"')
			err = buf_printf(out, "\\%c", *v);
		else if (*v == '\n')
			err = buf_addstr(out, "\\n");
		else
			err = buf_add(out, v, 1);
	}
	return err;
}

/* {face="..",method="..",route=".." with no closing brace. */
static enum pc_err metrics_route_labels(struct pc_buf *out, const struct pc_router *r, size_t id)
{
	const char *method = "", *path = "(unmatched)", *face = "";
	enum pc_err err;

	if (id > 0)
		router_route_labels(r, id, &method, &path, &face);
	err = buf_addstr(out, "{face=\"");
	if (err == PC_OK)
		err = metrics_label(out, face);
	if (err == PC_OK)
		err = buf_addstr(out, "\",method=\"");
	if (err == PC_OK)
		err = metrics_label(out, method);
	if (err == PC_OK)
		err = buf_addstr(out, "\",route=\"");
	if (err == PC_OK)
		err = metrics_label(out, path);
	if (err == PC_OK)
		err = buf_addstr(out, "\"");
	return err;
}

static enum pc_err metrics_head(struct pc_buf *out, const char *name, const char *type,
				const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static enum pc_err metrics_requests(const struct http_metrics *m, const struct pc_router *r,
				    const uint64_t *v, struct pc_buf *out)
{
	enum pc_err err = metrics_head(out, "portcullis_http_requests_total", "counter",
				       "Requests answered, by face, route and status.");
	size_t k, i;

	for (k = 0; k < m->nblocks && err == PC_OK; k++) {
		const uint64_t *blk = v + k * METRICS_PER;

		for (i = 0; i < METRICS_NSTATUS && err == PC_OK; i++) {
			if (blk[i] == 0)
				continue;
			err = buf_addstr(out, "portcullis_http_requests_total");
			if (err == PC_OK)
				err = metrics_route_labels(out, r, k);
			if (err == PC_OK && i < METRICS_NSTATUS - 1)
				err = buf_printf(out, ",status=\"%d\"} %" PRIu64 "\n",
						 metrics_status[i], blk[i]);
			else if (err == PC_OK)
				err = buf_printf(out, ",status=\"other\"} %" PRIu64 "\n", blk[i]);
		}
	}
	return err;
}

static enum pc_err metrics_latency(const struct http_metrics *m, const struct pc_router *r,
				   const uint64_t *v, struct pc_buf *out)
{
	static const char name[] = "portcullis_http_request_duration_seconds";
	enum pc_err err = metrics_head(out, name, "histogram",
				       "Time from the first byte of a request to its answer.");
	size_t k, b;

	for (k = 0; k < m->nblocks && err == PC_OK; k++) {
		const uint64_t *h = v + k * METRICS_PER + METRICS_NSTATUS;
		uint64_t cum = 0, sum_us = h[METRICS_NBUCKETS];

		for (b = 0; b < METRICS_NBUCKETS; b++)
			cum += h[b];
		if (cum == 0)
			continue;
		cum = 0;
		for (b = 0; b < METRICS_NBUCKETS && err == PC_OK; b++) {
			cum += h[b];
			err = buf_printf(out, "%s_bucket", name);
			if (err == PC_OK)
				err = metrics_route_labels(out, r, k);
			if (err == PC_OK && b < METRICS_NLE)
				err = buf_printf(out, ",le=\"%g\"} %" PRIu64 "\n",
						 (double)metrics_le_us[b] / 1e6, cum);
			else if (err == PC_OK)
				err = buf_printf(out, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
		}
		if (err == PC_OK)
			err = buf_printf(out, "%s_sum", name);
		if (err == PC_OK)
			err = metrics_route_labels(out, r, k);
		if (err == PC_OK)
			err = buf_printf(out, "} %.6f\n%s_count", (double)sum_us / 1e6, name);
		if (err == PC_OK)
			err = metrics_route_labels(out, r, k);
		if (err == PC_OK)
			err = buf_printf(out, "} %" PRIu64 "\n", cum);
	}
	return err;
}

/* One sample of a metric without labels (or with the fixed labels given). */
static enum pc_err metrics_one(struct pc_buf *out, const char *name, const char *type,
			       const char *help, const char *labels, double value)
{
	enum pc_err err = metrics_head(out, name, type, help);

	if (err == PC_OK)
		err = buf_printf(out, "%s%s %.17g\n", name, labels, value);
	return err;
}

static enum pc_err metrics_core(struct pc_ctx *ctx, struct pc_buf *out)
{
	int64_t pending = 0, failed = 0, oldest = 0;
	enum pc_err err, ob = outbox_stats(ctx, &pending, &failed, &oldest);

	err = metrics_head(out, "portcullis_logins_total", "counter",
			   "Password logins (first factor), by result.");
	if (err == PC_OK)
		err = buf_printf(out,
				 "portcullis_logins_total{result=\"ok\"} %" PRIu64 "\n"
				 "portcullis_logins_total{result=\"failed\"} %" PRIu64 "\n",
				 stats_sum(STAT_LOGIN_OK), stats_sum(STAT_LOGIN_FAILED));
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_hash_queue_depth", "gauge",
				  "Password hashing jobs waiting for a worker.", "",
				  (double)workers_queued(ctx_workers(ctx)));
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_hash_jobs_total", "counter",
				  "Password hashing jobs taken by a worker.", "",
				  (double)stats_sum(STAT_HASH_JOBS));
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_hash_queue_wait_seconds_total", "counter",
				  "Time those jobs waited in the queue.", "",
				  (double)stats_sum(STAT_HASH_WAIT_US) / 1e6);
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_write_queue_depth", "gauge",
				  "Durable-write requests (refresh, logout) waiting for a write worker.",
				  "", (double)workers_queued(ctx_write_workers(ctx)));
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_write_jobs_total", "counter",
				  "Durable-write requests taken by a write worker.", "",
				  (double)stats_sum(STAT_WRITE_JOBS));
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_write_queue_wait_seconds_total", "counter",
				  "Time those requests waited in the queue.", "",
				  (double)stats_sum(STAT_WRITE_WAIT_US) / 1e6);
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_outbox_pending", "gauge",
				  "Mails and webhook events not yet delivered.", "", (double)pending);
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_outbox_failed", "gauge",
				  "Of those, the ones whose delivery failed at least once.", "",
				  (double)failed);
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_outbox_oldest_age_seconds", "gauge",
				  "Age of the oldest undelivered one.", "", (double)oldest);
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_outbox_scrape_ok", "gauge",
				  "1 when the outbox figures above could be read from the store.",
				  "", ob == PC_OK ? 1 : 0);
	if (err == PC_OK)
		err = metrics_one(out, "portcullis_store_errors_total", "counter",
				  "Store statements that failed.", "",
				  (double)stats_sum(STAT_STORE_ERRORS));
	if (err == PC_OK)
		err = metrics_head(out, "portcullis_auth_cache_total", "counter",
				   "Credential checks, answered by the per-thread cache (hit) or "
				   "checked in full (miss).");
	if (err == PC_OK)
		err = buf_printf(out,
				 "portcullis_auth_cache_total{result=\"hit\"} %" PRIu64 "\n"
				 "portcullis_auth_cache_total{result=\"miss\"} %" PRIu64 "\n",
				 stats_sum(STAT_AUTHCACHE_HIT), stats_sum(STAT_AUTHCACHE_MISS));
	return err;
}

enum pc_err http_metrics_write(const struct http_metrics *m, const struct pc_router *r,
			       struct pc_ctx *ctx, struct pc_buf *out)
{
	size_t n = m->nblocks * METRICS_PER;
	uint64_t *v;
	enum pc_err err;

	err = metrics_core(ctx, out);
	if (err != PC_OK || m->base < 0)
		return err;
	v = calloc(n, sizeof(*v));
	if (v == NULL)
		return PC_ENOMEM;
	stats_sum_range((unsigned)m->base, n, v);
	err = metrics_requests(m, r, v, out);
	if (err == PC_OK)
		err = metrics_latency(m, r, v, out);
	free(v);
	return err;
}

enum pc_err http_metrics_threads(struct pc_buf *out, const uint64_t *open,
				 const uint64_t *accepted, size_t n)
{
	enum pc_err err = metrics_head(out, "portcullis_http_thread_connections", "gauge",
				       "Connections open now, by HTTP thread (its listening socket).");
	size_t i;

	for (i = 0; i < n && err == PC_OK; i++)
		err = buf_printf(out, "portcullis_http_thread_connections{thread=\"%zu\"} %" PRIu64
				 "\n", i, open[i]);
	if (err == PC_OK)
		err = metrics_head(out, "portcullis_http_thread_connections_accepted_total", "counter",
				   "Connections accepted since the start, by HTTP thread.");
	for (i = 0; i < n && err == PC_OK; i++)
		err = buf_printf(out,
				 "portcullis_http_thread_connections_accepted_total{thread=\"%zu\"} %"
				 PRIu64 "\n", i, accepted[i]);
	return err;
}
