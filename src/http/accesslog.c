/*
 * accesslog.c - request ids and the one log line per request.
 *
 * Owns nothing; borrows the calling thread's batch (http_log_batch_begin),
 * which its owner (a lane of server.c) keeps. A line is built in the log's
 * format (log_format, base/log.c) by http_access_log_format into the
 * caller's buffer: on a lane thread the free tail of its batch, elsewhere a
 * stack buffer written at once. A batch holds whole lines only and goes to
 * the log's sink (stderr or log_file) with one write(2) when a line might
 * not fit any more and at the end of every round of the lane's loop (so a
 * line never waits once the thread is idle), and when the lane stops. Lines
 * of concurrent threads never interleave mid-line: a flush is whole lines in
 * one write(2) to a file, or writes of whole lines of at most PIPE_BUF bytes
 * to a pipe or socket (log_write_lines).
 * A pc_log_reopen between two flushes sends the lines pending at that
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
#include <stdio.h>
#include <string.h>

#include "http/internal.h"

#define ACCESS_PATH_MAX 256
#define ACCESS_LINE_MAX 4096

_Static_assert(HTTP_LOG_BATCH_SIZE >= 2 * ACCESS_LINE_MAX, "a batch holds at least two lines");

static _Thread_local struct http_log_batch *log_batch; /* this thread's, or NULL */

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
	unsigned char rnd[16];

	_Static_assert(sizeof(req->request_id) > HTTP_REQUEST_ID_MAX, "request_id too small");
	if (incoming != NULL && log_rid_ok(incoming)) {
		memcpy(req->request_id, incoming, strlen(incoming) + 1);
		return;
	}
	if (prefix == 0 && crypto_random(&prefix, sizeof(prefix)) != PC_OK)
		prefix = (uint64_t)time_mono_us() ^ (uint64_t)(uintptr_t)&seq;
	seq++;
	memcpy(rnd, &prefix, 8);
	memcpy(rnd + 8, &seq, 8);
	crypto_hex_encode(rnd, sizeof(rnd), req->request_id);
}

/* ---- lines ------------------------------------------------------------------------- */

size_t http_access_log_format(const struct http_exchange *x, enum log_format fmt, char *line,
			      size_t size)
{
	const struct pc_req *req = &x->req;
	char ts[LOG_TS_MAX], method[64], path[ACCESS_PATH_MAX * 6 + 1];
	char user[3 * (PC_ID_LEN + 1) + 3];
	int64_t dur = time_mono_us() - x->t0_us;
	const char *p = req->path != NULL ? req->path : "";
	bool json = fmt != LOG_FORMAT_TEXT;
	int n;

	log_timestamp(ts);
	log_escape(method, sizeof(method), req->method != NULL ? req->method : "",
		   req->method != NULL ? strnlen(req->method, 16) : 0, NULL);
	log_escape(path, sizeof(path), p, strnlen(p, ACCESS_PATH_MAX), NULL);
	if (req->user != NULL) {
		size_t q = json ? 1 : 0;

		user[0] = '"';
		n = (int)log_escape(user + q, sizeof(user) - 2, req->user->id,
				    strnlen(req->user->id, PC_ID_LEN), NULL);
		if (json) {
			user[n + 1] = '"';
			user[n + 2] = '\0';
		}
	} else {
		memcpy(user, json ? "null" : "-", json ? 5 : 2);
	}
	if (json)
		n = snprintf(line, size,
			     "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"request\",\"rid\":\"%s\","
			     "\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"dur_ms\":%lld.%03lld,"
			     "\"ip\":\"%s\",\"user\":%s}\n",
			     ts, req->request_id, method, path, x->sent_status,
			     (long long)(dur / 1000), (long long)(dur % 1000), x->ip, user);
	else
		n = snprintf(line, size,
			     "%s info  access: %s %s %d %lld.%03lldms rid=%s ip=%s user=%s\n", ts,
			     method, path, x->sent_status, (long long)(dur / 1000),
			     (long long)(dur % 1000), req->request_id, x->ip, user);
	if (n <= 0 || size == 0)
		return 0;
	if ((size_t)n >= size) { /* cut: still one line */
		line[size - 2] = '\n';
		return size - 1;
	}
	return (size_t)n;
}

void http_access_log(const struct http_exchange *x)
{
	struct http_log_batch *b = log_batch;
	char line[ACCESS_LINE_MAX];

	if (!log_enabled(LOG_LEVEL_INFO)) /* log_level=warn or error */
		return;
	if (b == NULL) {
		log_write_line(line,
			       http_access_log_format(x, log_format_get(), line, sizeof(line)));
		return;
	}
	if (sizeof(b->buf) - b->len < ACCESS_LINE_MAX)
		http_log_batch_flush();
	b->len += http_access_log_format(x, log_format_get(), b->buf + b->len, ACCESS_LINE_MAX);
}

void http_log_batch_begin(struct http_log_batch *b)
{
	b->len = 0;
	log_batch = b;
}

void http_log_batch_flush(void)
{
	struct http_log_batch *b = log_batch;

	if (b == NULL || b->len == 0)
		return;
	log_write_lines(b->buf, b->len);
	b->len = 0;
}

void http_log_batch_end(void)
{
	http_log_batch_flush();
	log_batch = NULL;
}
