/*
 * accesslog.c - request ids and the one log line per request.
 *
 * Owns nothing; borrows the calling thread's batches (HTTP_LOG_BATCHES)
 * (http_log_batch_begin), which its owner (a lane of server.c) keeps, and
 * runs the log's writer thread for the server, which keeps its struct. A
 * line is built in the log's format (log_format, base/log.c) by
 * http_access_log_format into the caller's buffer: on a lane thread the free
 * tail of its batch, elsewhere a stack buffer written at once. A batch holds
 * whole lines only and is flushed when a line might not fit any more and at
 * the end of every round of the lane's loop (so a line never waits once the
 * thread is idle), and when the lane stops. A flush hands the batch to the
 * writer and goes on in the lane's next one (waiting first, should the
 * writer still hold that one); the writer sends each batch to the log's sink
 * (stderr or log_file) in the order handed over. Without a writer (it could
 * not start) the lane writes the batch itself. Lines never interleave
 * mid-line: a batch is whole lines in one write(2) to a file, or writes of
 * whole lines of at most PIPE_BUF bytes to a pipe or socket
 * (log_write_lines).
 * A pc_log_reopen between two writes sends the lines pending at that
 * moment to the new file: none is lost.
 *
 * What a line holds, and nothing else:
 *   {"ts": "2024-05-01T12:00:00.123Z", "level": "info", "msg": "request",
 *    "rid", "method", "path" (no query string, escaped, first 256 bytes),
 *    "status", "dur_ms", "ip", "user" (user id or null)}
 * or, as text: "<ts> info  access: GET /path 200 1.234ms rid=... ip=... user=-".
 * Never headers, bodies, cookies, query strings or tokens: they carry
 * credentials.
 */
#include <string.h>
#include <time.h>

#include "http/internal.h"

#define ACCESS_PATH_MAX 256
#define ACCESS_LINE_MAX 4096

_Static_assert(HTTP_LOG_BATCH_SIZE >= 2 * ACCESS_LINE_MAX, "a batch holds at least two lines");

static _Thread_local struct http_log_lane *log_lane; /* this thread's, or NULL */

/* ---- request id ---------------------------------------------------------------- */

static bool log_rid_ok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (n == HTTP_REQUEST_ID_MAX)
			return false;
		if (!(ascii_is_alnum(c) || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

/* Ids are for correlation, not secrets: a 64-bit random prefix drawn once per
 * thread and a per-thread counter make them unique without a RAND_bytes call
 * (and its locks) on every request. */
void http_request_id_set(struct pc_req *req, const char *incoming)
{
	static _Thread_local uint64_t prefix, seq;
	static _Thread_local char prefix_hex[17]; /* the prefix's 16 digits, made once */

	_Static_assert(sizeof(req->request_id) > HTTP_REQUEST_ID_MAX, "request_id too small");
	if (incoming != NULL && log_rid_ok(incoming)) {
		memcpy(req->request_id, incoming, strlen(incoming) + 1);
		return;
	}
	if (prefix == 0) {
		if (crypto_random(&prefix, sizeof(prefix)) != PC_OK)
			prefix = (uint64_t)time_mono_us() ^ (uint64_t)(uintptr_t)&seq;
		crypto_hex_encode(&prefix, sizeof(prefix), prefix_hex);
	}
	seq++;
	/* the hex of prefix's bytes, then of seq's, as of the 16 bytes together */
	memcpy(req->request_id, prefix_hex, 16);
	crypto_hex_encode(&seq, sizeof(seq), req->request_id + 16);
}

/* ---- lines ------------------------------------------------------------------------- */

/* A line being written into line[size]: len counts every byte put, the
 * bytes past size - 1 are dropped (snprintf's way: http_access_log_format
 * then cuts the line and keeps its newline). */
struct access_out {
	char *p;
	size_t size, len;
};

static inline void access_put(struct access_out *o, const char *s, size_t n)
{
	if (o->len < o->size && n < o->size - o->len) /* whole, a NUL's room left */
		memcpy(o->p + o->len, s, n); /* inlined for a literal's constant n */
	else if (o->len + 1 < o->size)
		memcpy(o->p + o->len, s, o->size - 1 - o->len);
	o->len += n;
}

#define ACCESS_LIT(o, lit) access_put((o), (lit), sizeof(lit) - 1)

static void access_str(struct access_out *o, const char *s)
{
	access_put(o, s, strlen(s));
}

static void access_int(struct access_out *o, int64_t v)
{
	char num[TEXT_INT_MAX];

	access_put(o, num, text_i64(num, v));
}

/* dur microseconds as milliseconds with three decimals ("%lld.%03lld"); a
 * monotonic clock never makes it negative: 0 then. */
static void access_ms(struct access_out *o, int64_t dur)
{
	char frac[3];
	int64_t r;

	if (dur < 0)
		dur = 0;
	r = dur % 1000;
	access_int(o, dur / 1000);
	frac[0] = (char)('0' + r / 100);
	frac[1] = (char)('0' + r / 10 % 10);
	frac[2] = (char)('0' + r % 10);
	ACCESS_LIT(o, ".");
	access_put(o, frac, 3);
}

size_t http_access_log_format(const struct http_exchange *x, enum log_format fmt, char *line,
			      size_t size)
{
	const struct pc_req *req = &x->req;
	char ts[LOG_TS_MAX], method[64], path[ACCESS_PATH_MAX * 6 + 1];
	char user[3 * (PC_ID_LEN + 1) + 3];
	int64_t dur = (x->t1_us != 0 ? x->t1_us : time_mono_us()) - x->t0_us;
	const char *p = req->path != NULL ? req->path : "";
	bool json = fmt != LOG_FORMAT_TEXT;
	struct access_out o = { line, size, 0 };
	size_t mlen, plen, ulen;

	if (size < 2) { /* not even the newline */
		if (size == 1)
			line[0] = '\0';
		return 0;
	}
	log_timestamp(ts);
	mlen = log_escape(method, sizeof(method), req->method != NULL ? req->method : "",
			  req->method != NULL ? strnlen(req->method, 16) : 0, NULL);
	plen = log_escape(path, sizeof(path), p, strnlen(p, ACCESS_PATH_MAX), NULL);
	if (req->user != NULL) {
		size_t q = json ? 1 : 0;

		user[0] = '"';
		ulen = log_escape(user + q, sizeof(user) - 2, req->user->id,
				  strnlen(req->user->id, PC_ID_LEN), NULL);
		if (json) {
			user[ulen + 1] = '"';
			user[ulen + 2] = '\0';
			ulen += 2;
		}
	} else {
		memcpy(user, json ? "null" : "-", json ? 5 : 2);
		ulen = json ? 4 : 1;
	}
	if (json) {
		ACCESS_LIT(&o, "{\"ts\":\"");
		access_str(&o, ts);
		ACCESS_LIT(&o, "\",\"level\":\"info\",\"msg\":\"request\",\"rid\":\"");
		access_str(&o, req->request_id);
		ACCESS_LIT(&o, "\",\"method\":\"");
		access_put(&o, method, mlen);
		ACCESS_LIT(&o, "\",\"path\":\"");
		access_put(&o, path, plen);
		ACCESS_LIT(&o, "\",\"status\":");
		access_int(&o, x->sent_status);
		ACCESS_LIT(&o, ",\"dur_ms\":");
		access_ms(&o, dur);
		ACCESS_LIT(&o, ",\"ip\":\"");
		access_str(&o, x->ip);
		ACCESS_LIT(&o, "\",\"user\":");
		access_put(&o, user, ulen);
		ACCESS_LIT(&o, "}\n");
	} else {
		access_str(&o, ts);
		ACCESS_LIT(&o, " info  access: ");
		access_put(&o, method, mlen);
		ACCESS_LIT(&o, " ");
		access_put(&o, path, plen);
		ACCESS_LIT(&o, " ");
		access_int(&o, x->sent_status);
		ACCESS_LIT(&o, " ");
		access_ms(&o, dur);
		ACCESS_LIT(&o, "ms rid=");
		access_str(&o, req->request_id);
		ACCESS_LIT(&o, " ip=");
		access_str(&o, x->ip);
		ACCESS_LIT(&o, " user=");
		access_put(&o, user, ulen);
		ACCESS_LIT(&o, "\n");
	}
	if (o.len >= size) { /* cut: still one line */
		line[size - 2] = '\n';
		line[size - 1] = '\0';
		return size - 1;
	}
	line[o.len] = '\0';
	return o.len;
}

void http_access_log(const struct http_exchange *x)
{
	struct http_log_batch *b;
	char line[ACCESS_LINE_MAX];

	if (!log_enabled(LOG_LEVEL_INFO)) /* log_level=warn or error */
		return;
	if (log_lane == NULL) {
		log_write_line(line,
			       http_access_log_format(x, log_format_get(), line, sizeof(line)));
		return;
	}
	if (sizeof(log_lane->batch[0].buf) - log_lane->batch[log_lane->cur].len < ACCESS_LINE_MAX)
		http_log_batch_flush();
	b = &log_lane->batch[log_lane->cur];
	b->len += http_access_log_format(x, log_format_get(), b->buf + b->len, ACCESS_LINE_MAX);
}

/* ---- the writer ---------------------------------------------------------------------- */

/* Writes every queued batch (taken from the queue at once, the lock let go
 * meanwhile), then frees them for their lanes. Called and returns with
 * w->lock held. */
static void log_writer_drain(struct http_log_writer *w)
{
	struct http_log_batch *b = w->head, *next;

	w->head = w->tail = NULL;
	pthread_mutex_unlock(&w->lock);
	for (next = b; next != NULL; next = next->next)
		log_write_lines(next->buf, next->len); /* queued: no lane touches it */
	pthread_mutex_lock(&w->lock);
	for (; b != NULL; b = next) {
		next = b->next;
		b->len = 0;
		b->queued = false;
	}
	if (w->waiting > 0)
		pthread_cond_broadcast(&w->written);
}

/* The writer's loop. After a write it looks at the queue again in
 * HTTP_LOG_WRITER_TICK_US without being woken, so that under load a lane
 * hands its batches over with no wake-up (no futex call, no switch to the
 * writer a batch); once a look finds nothing, it sleeps until woken, and the
 * lanes wake it at their next hand-over: an idle server's lines go out at
 * once. */
static void *log_writer_main(void *arg)
{
	struct http_log_writer *w = arg;
	bool recent = false; /* wrote at the last look */
	struct timespec until;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		if (w->head != NULL) {
			log_writer_drain(w);
			recent = true;
			continue;
		}
		if (w->stop)
			break;
		if (recent) {
			recent = false;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += HTTP_LOG_WRITER_TICK_US * 1000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			(void)pthread_cond_timedwait(&w->queued, &w->lock, &until);
			continue;
		}
		w->asleep = true;
		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->queued, &w->lock);
		w->asleep = false;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

bool http_log_writer_start(struct http_log_writer *w)
{
	pthread_condattr_t ca;

	w->head = w->tail = NULL;
	w->stop = w->asleep = false;
	w->waiting = 0;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->queued, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&w->written, NULL);
	w->on = pthread_create(&w->thread, NULL, log_writer_main, w) == 0;
	if (!w->on) {
		pthread_cond_destroy(&w->written);
		pthread_cond_destroy(&w->queued);
		pthread_mutex_destroy(&w->lock);
	}
	return w->on;
}

void http_log_writer_stop(struct http_log_writer *w)
{
	if (!w->on)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->queued);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->on = false;
	pthread_cond_destroy(&w->written);
	pthread_cond_destroy(&w->queued);
	pthread_mutex_destroy(&w->lock);
}

/* ---- a lane's batches ------------------------------------------------------------ */

void http_log_batch_begin(struct http_log_lane *l, struct http_log_writer *writer)
{
	for (size_t i = 0; i < HTTP_LOG_BATCHES; i++) {
		l->batch[i].len = 0;
		l->batch[i].queued = false;
	}
	l->cur = 0;
	l->writer = writer != NULL && writer->on ? writer : NULL;
	log_lane = l;
}

void http_log_batch_flush(void)
{
	struct http_log_lane *l = log_lane;
	struct http_log_writer *w;
	struct http_log_batch *b, *next;

	if (l == NULL || l->batch[l->cur].len == 0)
		return;
	b = &l->batch[l->cur];
	w = l->writer;
	if (w == NULL) {
		log_write_lines(b->buf, b->len);
		b->len = 0;
		return;
	}
	next = &l->batch[(l->cur + 1) % HTTP_LOG_BATCHES];
	pthread_mutex_lock(&w->lock);
	b->next = NULL;
	b->queued = true;
	if (w->tail != NULL)
		w->tail->next = b;
	else
		w->head = b;
	w->tail = b;
	/* a writer between two looks takes it at the next; one asleep, or
	 * one this lane must wait for, is woken */
	if (w->asleep || next->queued)
		pthread_cond_signal(&w->queued);
	w->waiting++;
	while (next->queued) /* the writer still holds the next: wait for it */
		pthread_cond_wait(&w->written, &w->lock);
	w->waiting--;
	pthread_mutex_unlock(&w->lock);
	l->cur = (l->cur + 1) % HTTP_LOG_BATCHES;
}

bool http_log_batch_pending(void)
{
	return log_lane != NULL && log_lane->batch[log_lane->cur].len > 0;
}

void http_log_batch_end(void)
{
	struct http_log_lane *l = log_lane;
	struct http_log_writer *w;

	http_log_batch_flush();
	if (l != NULL && (w = l->writer) != NULL) { /* every batch written: l may go */
		pthread_mutex_lock(&w->lock);
		w->waiting++;
		for (size_t i = 0; i < HTTP_LOG_BATCHES; i++) {
			if (l->batch[i].queued)
				pthread_cond_signal(&w->queued);
			while (l->batch[i].queued)
				pthread_cond_wait(&w->written, &w->lock);
		}
		w->waiting--;
		pthread_mutex_unlock(&w->lock);
	}
	log_lane = NULL;
}
