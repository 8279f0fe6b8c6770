/*
 * accesslog.c - request ids and the one JSON line per request.
 *
 * Owns nothing. A line is built in a stack buffer and written to stderr
 * with a single write(2), so lines from concurrent threads never interleave
 * (writes of this size to a pipe or file are not split).
 *
 * What a line holds, and nothing else:
 *   {"ts": "2024-05-01T12:00:00.123Z", "rid", "method", "path" (no query
 *    string, escaped, first 256 bytes), "status", "dur_ms", "ip",
 *    "user" (user id or null)}
 * Never headers, bodies, cookies, query strings or tokens: they carry
 * credentials.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/internal.h"

#define LOG_PATH_MAX 256
#define LOG_LINE_MAX 4096

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

/* ---- escaping --------------------------------------------------------------------- */

size_t http_json_escape(char *dst, size_t dstsz, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (dstsz == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc = 0;

		if (c == '"' || c == '\\')
			esc = (char)c;
		else if (c == '\n')
			esc = 'n';
		else if (c == '\r')
			esc = 'r';
		else if (c == '\t')
			esc = 't';
		if (esc != 0) {
			if (o + 2 >= dstsz)
				break;
			dst[o++] = '\\';
			dst[o++] = esc;
		} else if (c < 0x20 || c >= 0x7F) {
			if (o + 6 >= dstsz)
				break;
			memcpy(dst + o, "\\u00", 4);
			dst[o + 4] = hex[c >> 4];
			dst[o + 5] = hex[c & 15];
			o += 6;
		} else {
			if (o + 1 >= dstsz)
				break;
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return o;
}

/* ---- lines ------------------------------------------------------------------------- */

/* "2024-05-01T12:00:00.123Z" */
static void log_ts(char out[32])
{
	int64_t ms = time_now_ms();
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&secs, &tm) == NULL ||
	    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     (int)(ms % 1000)) < 0)
		out[0] = '\0';
}

/* One write; a short write to stderr is retried, other errors are dropped. */
static void log_write(const char *line, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = write(STDERR_FILENO, line, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		line += w;
		len -= (size_t)w;
	}
}

void http_access_log(const struct http_exchange *x)
{
	const struct pc_req *req = &x->req;
	char ts[32], method[64], path[LOG_PATH_MAX * 6 + 1], user[3 * (PC_ID_LEN + 1) + 3];
	char line[LOG_LINE_MAX];
	int64_t dur = time_mono_us() - x->t0_us;
	const char *p = req->path != NULL ? req->path : "";
	int n;

	log_ts(ts);
	http_json_escape(method, sizeof(method), req->method != NULL ? req->method : "",
			 req->method != NULL ? strnlen(req->method, 16) : 0);
	http_json_escape(path, sizeof(path), p, strnlen(p, LOG_PATH_MAX));
	if (req->user != NULL) {
		user[0] = '"';
		n = (int)http_json_escape(user + 1, sizeof(user) - 2, req->user->id,
					  strnlen(req->user->id, PC_ID_LEN));
		user[n + 1] = '"';
		user[n + 2] = '\0';
	} else {
		memcpy(user, "null", 5);
	}
	n = snprintf(line, sizeof(line),
		     "{\"ts\":\"%s\",\"rid\":\"%s\",\"method\":\"%s\",\"path\":\"%s\","
		     "\"status\":%d,\"dur_ms\":%lld.%03lld,\"ip\":\"%s\",\"user\":%s}\n",
		     ts, req->request_id, method, path, x->sent_status, (long long)(dur / 1000),
		     (long long)(dur % 1000), x->ip, user);
	if (n <= 0)
		return;
	log_write(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void http_log_event(const char *level, const char *msg)
{
	char ts[32], esc[1024], line[1200];
	size_t mlen = strlen(msg);
	int n;

	while (mlen > 0 && (msg[mlen - 1] == '\n' || msg[mlen - 1] == '\r'))
		mlen--;
	log_ts(ts);
	http_json_escape(esc, sizeof(esc), msg, mlen);
	n = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts,
		     level, esc);
	if (n > 0)
		log_write(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
