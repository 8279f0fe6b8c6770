/*
 * log.c - the process's log: one record = one line = one write(2).
 *
 * Owns: the log's sink (stderr, or the file log_file names, opened on a
 * descriptor of its own that pc_log_reopen swaps with dup2), its minimum
 * level and its format. Set once by log_configure before threads start;
 * after that only read (relaxed atomics) and, by pc_log_reopen, swapped
 * underneath the writers: a dup2 is atomic, so a record goes whole to the
 * old file or whole to the new one.
 *
 * A record is built in a bounded stack buffer (LOG_LINE_MAX) with no malloc
 * on the path, and written with one write(2), so records of concurrent
 * threads never interleave. A record that does not fit is cut at a
 * character and says so ("truncated":true), and stays valid JSON.
 *
 *   json: {"ts":"2026-11-30T05:50:00.123Z","level":"warn","msg":"...",
 *          "component":"mail","outbox_id":12,"attempt":2}
 *   text: 2026-11-30T05:50:00.123Z warn  mail: ... outbox_id=12 attempt=2
 *
 * Both escape every control byte (a record never spans lines) and any byte
 * that is not part of valid UTF-8. What goes in is the caller's business:
 * callers never pass a password, a token or a secret (log_redact_url for
 * URLs that may carry one).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

#define LOG_RESERVE 48 /* kept free for the closing text and the truncation mark */

static atomic_int log_min = LOG_LEVEL_INFO;
static atomic_int log_fmt = LOG_FORMAT_AUTO; /* resolved on first use */
static int log_fd = STDERR_FILENO;
/* whether log_fd is a regular file: 1 yes, 0 no, -1 not known yet (asked
 * once, not with an fstat a flush; asked again after a reopen) */
static atomic_int log_is_file = -1;
static char log_path[4096];

static const char *const log_level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
};

/* ---- settings ----------------------------------------------------------------------- */

bool log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

bool log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "auto") == 0 || s[0] == '\0')
		*out = LOG_FORMAT_AUTO;
	else
		return false;
	return true;
}

static int log_open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

enum pc_err log_configure(enum log_level min, enum log_format fmt, const char *path,
			  char *why, size_t whysz)
{
	int fd;

	if (path != NULL && path[0] != '\0') {
		if (strlen(path) >= sizeof(log_path)) {
			snprintf(why, whysz, "log_file: the path is too long");
			return PC_EINVAL;
		}
		fd = log_open_file(path);
		if (fd < 0) {
			snprintf(why, whysz, "log_file %s: %s", path, strerror(errno));
			return PC_EINVAL;
		}
		if (log_fd != STDERR_FILENO)
			close(log_fd);
		log_fd = fd;
		memcpy(log_path, path, strlen(path) + 1);
		atomic_store_explicit(&log_is_file, -1, memory_order_relaxed);
	}
	if (fmt == LOG_FORMAT_AUTO)
		fmt = isatty(log_fd) ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
	atomic_store_explicit(&log_fmt, fmt, memory_order_relaxed);
	atomic_store_explicit(&log_min, min, memory_order_relaxed);
	return PC_OK;
}

enum pc_err pc_log_reopen(void)
{
	int fd;

	if (log_path[0] == '\0')
		return PC_OK; /* stderr: its owner rotates it */
	fd = log_open_file(log_path);
	if (fd < 0)
		return PC_EINTERNAL;
	if (dup2(fd, log_fd) < 0) {
		close(fd);
		return PC_EINTERNAL;
	}
	close(fd);
	atomic_store_explicit(&log_is_file, -1, memory_order_relaxed);
	return PC_OK;
}

enum log_format log_format_get(void)
{
	int f = atomic_load_explicit(&log_fmt, memory_order_relaxed);

	if (f == LOG_FORMAT_AUTO) {
		f = isatty(log_fd) ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
		atomic_store_explicit(&log_fmt, f, memory_order_relaxed);
	}
	return (enum log_format)f;
}

bool log_enabled(enum log_level lv)
{
	return (int)lv >= atomic_load_explicit(&log_min, memory_order_relaxed);
}

const char *log_level_name(enum log_level lv)
{
	return (unsigned)lv < sizeof(log_level_names) / sizeof(log_level_names[0]) ?
		       log_level_names[lv] : "?";
}

/* ---- writing ------------------------------------------------------------------------ */

void log_write_line(const char *line, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = write(log_fd, line, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to say so */
		line += w;
		len -= (size_t)w;
	}
}

void log_write_lines(const char *buf, size_t len)
{
	struct stat st;
	int is_file = len <= PIPE_BUF ? 1 : atomic_load_explicit(&log_is_file, memory_order_relaxed);
	size_t n;

	if (is_file < 0) {
		is_file = fstat(log_fd, &st) == 0 && S_ISREG(st.st_mode);
		atomic_store_explicit(&log_is_file, is_file, memory_order_relaxed);
	}
	if (is_file) {
		log_write_line(buf, len);
		return;
	}
	while (len > 0) {
		n = len <= PIPE_BUF ? len : PIPE_BUF;
		while (n > 1 && buf[n - 1] != '\n')
			n--;
		if (buf[n - 1] != '\n') { /* no line end within PIPE_BUF: the line as is */
			const char *e = memchr(buf, '\n', len);

			n = e != NULL ? (size_t)(e - buf) + 1 : len;
		}
		log_write_line(buf, n);
		buf += n;
		len -= n;
	}
}

/* The seconds part ("2026-11-30T05:50:00") is formatted once a second per
 * thread; each call writes only the milliseconds after it. */
void log_timestamp(char out[LOG_TS_MAX])
{
	static _Thread_local int64_t cached_s = -1;
	static _Thread_local char cached[20];
	int64_t ms = time_now_ms();
	time_t secs = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;

	if (ms < 0) {
		out[0] = '\0';
		return;
	}
	if ((int64_t)secs != cached_s) {
		if (gmtime_r(&secs, &tm) == NULL ||
		    snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec) != 19) {
			out[0] = '\0';
			return;
		}
		cached_s = (int64_t)secs;
	}
	memcpy(out, cached, 19);
	out[19] = '.';
	out[20] = (char)('0' + frac / 100);
	out[21] = (char)('0' + frac / 10 % 10);
	out[22] = (char)('0' + frac % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xBF;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xE0)
		lo = 0xA0; /* overlong */
	else if (s[0] == 0xED)
		hi = 0x9F; /* surrogates */
	else if (s[0] == 0xF0)
		lo = 0x90; /* overlong */
	else if (s[0] == 0xF4)
		hi = 0x8F; /* past U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	}
	return len;
}

/* Printable ASCII but '"' and '\\': written as it is. */
static inline bool log_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

size_t log_escape(char *dst, size_t dstsz, const char *s, size_t n, bool *cut)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	if (dstsz == 0)
		return 0;
	while (i < n) {
		unsigned char c = u[i];
		char esc = 0, tmp[8];
		size_t k, w;

		if (log_plain(c)) {
			/* a run of plain bytes goes as it is: whole, or what fits */
			k = i + 1 + text_plain_run(s + i + 1, n - i - 1, false);
			w = k - i;
			if (o + w >= dstsz) {
				w = dstsz - 1 - o;
				memcpy(dst + o, u + i, w);
				o += w;
				if (cut != NULL)
					*cut = true;
				break;
			}
			memcpy(dst + o, u + i, w);
			o += w;
			i = k;
			continue;
		}

		if (c == '"' || c == '\\')
			esc = (char)c;
		else if (c == '\n')
			esc = 'n';
		else if (c == '\r')
			esc = 'r';
		else if (c == '\t')
			esc = 't';
		if (esc != 0) {
			tmp[0] = '\\';
			tmp[1] = esc;
			w = 2;
			k = 1;
		} else if (c < 0x20 || c == 0x7F) {
			memcpy(tmp, "\\u00", 4);
			tmp[4] = hex[c >> 4];
			tmp[5] = hex[c & 15];
			w = 6;
			k = 1;
		} else {
			k = utf8_len(u + i, n - i);
			if (k == 0) { /* not UTF-8: the replacement character */
				memcpy(tmp, "\\ufffd", 6);
				w = 6;
				k = 1;
			} else {
				memcpy(tmp, u + i, k);
				w = k;
			}
		}
		if (o + w >= dstsz) {
			if (cut != NULL)
				*cut = true;
			break;
		}
		memcpy(dst + o, tmp, w);
		o += w;
		i += k;
	}
	dst[o] = '\0';
	return o;
}

/* A line under construction: len < cap - LOG_RESERVE until the end, and a
 * piece that does not fit sets cut (nothing is written after it). A string
 * opened is always closed: its closing quote comes out of the reserve. */
struct log_line {
	char *p;
	size_t len, cap;
	bool cut;
};

/* s[0..n) whole, or nothing and cut. */
static bool line_raw(struct log_line *l, const char *s, size_t n)
{
	if (l->cut || l->len + n + LOG_RESERVE > l->cap) {
		l->cut = true;
		return false;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
	return true;
}

static bool line_str(struct log_line *l, const char *s)
{
	return line_raw(l, s, strlen(s));
}

static void line_esc(struct log_line *l, const char *s, size_t n)
{
	if (l->cut)
		return;
	l->len += log_escape(l->p + l->len, l->cap - LOG_RESERVE - l->len, s, n, &l->cut);
}

/* Writes open (which ends by opening a string, or not when quoted is
 * false), the escaped value and, if open was written, the closing quote. */
static void line_value(struct log_line *l, const char *open, const char *s, size_t n, bool quoted)
{
	if (!line_str(l, open))
		return;
	line_esc(l, s, n);
	if (quoted)
		l->p[l->len++] = '"'; /* from the reserve when cut */
}

/* Whether a text value needs quotes: empty, or holding a blank, '"' or '='. */
static bool text_needs_quotes(const char *s)
{
	return s[0] == '\0' || strpbrk(s, " \"=") != NULL;
}

/* One field; its key is an identifier of the caller's (never escaped). */
static void line_field(struct log_line *l, bool json, const struct log_field *f)
{
	char head[96], num[24];
	const char *s = f->str != NULL ? f->str : "";
	bool q = json || text_needs_quotes(s);
	int n;

	if (f->type == LOG_F_INT || f->type == LOG_F_BOOL || (json && f->str == NULL)) {
		if (f->type == LOG_F_INT)
			snprintf(num, sizeof(num), "%lld", f->num);
		else
			snprintf(num, sizeof(num), "%s",
				 f->type == LOG_F_BOOL ? (f->num ? "true" : "false") : "null");
		n = snprintf(head, sizeof(head), json ? ",\"%.64s\":%s" : " %.64s=%s", f->key, num);
		if (n > 0)
			line_raw(l, head, (size_t)n);
		return;
	}
	n = snprintf(head, sizeof(head), json ? ",\"%.64s\":\"" : (q ? " %.64s=\"" : " %.64s="),
		     f->key);
	if (n > 0)
		line_value(l, head, s, strlen(s), q);
}

size_t log_format_record(char *buf, size_t bufsz, enum log_format fmt, enum log_level lv,
			 const char *component, const struct log_field *fields, size_t nfields,
			 const char *msg)
{
	struct log_line l = { .p = buf, .cap = bufsz };
	bool json = fmt != LOG_FORMAT_TEXT;
	char ts[LOG_TS_MAX];
	size_t mlen = strlen(msg);

	if (bufsz <= LOG_RESERVE)
		return 0;
	while (mlen > 0 && (msg[mlen - 1] == '\n' || msg[mlen - 1] == '\r'))
		mlen--;
	log_timestamp(ts);
	if (json) {
		line_str(&l, "{\"ts\":\"");
		line_str(&l, ts);
		line_str(&l, "\",\"level\":\"");
		line_str(&l, log_level_name(lv));
		line_str(&l, "\"");
		if (component != NULL)
			line_value(&l, ",\"component\":\"", component, strlen(component), true);
		line_value(&l, ",\"msg\":\"", msg, mlen, true);
	} else {
		line_str(&l, ts);
		line_str(&l, " ");
		line_str(&l, log_level_name(lv));
		line_str(&l, lv == LOG_LEVEL_WARN || lv == LOG_LEVEL_INFO ? "  " : " ");
		if (component != NULL) {
			line_esc(&l, component, strlen(component));
			line_str(&l, ": ");
		}
		line_esc(&l, msg, mlen);
	}
	for (size_t i = 0; i < nfields; i++)
		line_field(&l, json, &fields[i]);
	/* The reserve holds what follows, whatever was cut. */
	if (l.cut) {
		const char *mark = json ? ",\"truncated\":true" : " [truncated]";

		memcpy(l.p + l.len, mark, strlen(mark));
		l.len += strlen(mark);
	}
	if (json)
		l.p[l.len++] = '}';
	l.p[l.len++] = '\n';
	l.p[l.len] = '\0';
	return l.len;
}

void log_emitv(enum log_level lv, const char *component, const struct log_field *fields,
	       size_t nfields, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX], line[LOG_LINE_MAX];
	size_t n;

	if (!log_enabled(lv))
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	n = log_format_record(line, sizeof(line), log_format_get(), lv, component, fields,
			      nfields, msg);
	log_write_line(line, n);
}

void log_emit(enum log_level lv, const char *component, const struct log_field *fields,
	      size_t nfields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emitv(lv, component, fields, nfields, fmt, ap);
	va_end(ap);
}

/* ---- URLs ---------------------------------------------------------------------------- */

/* Copies url to out with the password of its userinfo (scheme://user:PASSWORD@)
 * and the value of any password= parameter replaced by ***. */
void log_redact_url(const char *url, char *out, size_t outsz)
{
	const char *p = url, *auth, *at, *colon, *end;
	size_t o = 0;

	if (outsz == 0)
		return;
#define PUT(s, n)                                                   \
	do {                                                        \
		size_t n_ = (n);                                    \
		if (o + n_ >= outsz)                                \
			n_ = outsz - 1 - o;                         \
		memcpy(out + o, (s), n_);                           \
		o += n_;                                            \
	} while (0)
	auth = strstr(p, "://");
	if (auth != NULL) {
		auth += 3;
		end = auth + strcspn(auth, "/?#");
		at = memrchr(auth, '@', (size_t)(end - auth));
		if (at != NULL) {
			colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon != NULL) {
				PUT(p, (size_t)(colon + 1 - p));
				PUT("***", 3);
				p = at;
			}
		}
	}
	while (*p != '\0') {
		/* a password=... parameter (libpq's keyword) in the query */
		if ((*p == '?' || *p == '&') && strncmp(p + 1, "password=", 9) == 0) {
			PUT(p, 10);
			PUT("***", 3);
			p += 10;
			p += strcspn(p, "&#");
			continue;
		}
		PUT(p, 1);
		p++;
	}
#undef PUT
	out[o] = '\0';
}
