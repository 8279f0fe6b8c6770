/*
 * resp.c - building a response: status, JSON body, headers, cookies.
 *
 * Owns nothing: bodies, header nodes and their strings are copied into the
 * request's arena, so callers may pass stack buffers. The server turns the
 * struct pc_resp into an MHD response and adds the security headers and
 * X-Request-ID to every response (server.c).
 *
 * Invariants:
 *   - a header name is an RFC 7230 token; a value holds no CR, LF or other
 *     control byte but HTAB: a handler cannot split a response;
 *   - a cookie name is a token and a value is RFC 6265 cookie-octets (no
 *     blanks, quotes, ',', ';', '\\', controls or non-ASCII): a value can
 *     never smuggle in an attribute.
 */
#include <string.h>
#include <strings.h>

#include "http/internal.h"

#define RESP_JSON_FIRST 256

/* ---- reason phrases -------------------------------------------------------------- */

static const struct {
	int status;
	const char *reason;
} resp_reasons[] = {
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 204, "No Content" },
	{ 302, "Found" },
	{ 307, "Temporary Redirect" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 409, "Conflict" },
	{ 413, "Request Entity Too Large" },
	{ 415, "Unsupported Media Type" },
	{ 422, "Unprocessable Entity" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 503, "Service Unavailable" },
};

const char *resp_reason(int status)
{
	size_t i;

	for (i = 0; i < sizeof(resp_reasons) / sizeof(resp_reasons[0]); i++) {
		if (resp_reasons[i].status == status)
			return resp_reasons[i].reason;
	}
	return "Error";
}

/* ---- body -------------------------------------------------------------------------- */

struct resp_dump {
	struct pc_arena *arena;
	char *p;
	size_t len;
	size_t cap;
};

/* jansson's dump callback: appends into an arena buffer that doubles. */
static int resp_dump_cb(const char *buf, size_t n, void *data)
{
	struct resp_dump *d = data;
	size_t cap;
	char *p;

	if (n > d->cap - d->len - 1) {
		cap = d->cap * 2;
		while (cap - d->len - 1 < n) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		p = arena_alloc(d->arena, cap);
		if (p == NULL)
			return -1;
		memcpy(p, d->p, d->len);
		d->p = p;
		d->cap = cap;
	}
	memcpy(d->p + d->len, buf, n);
	d->len += n;
	d->p[d->len] = '\0';
	return 0;
}

/* PC_ENOMEM when j is NULL (a failed json_pack upstream) or memory runs out:
 * the response is left unset, so the server answers 500. */
enum pc_err resp_json(struct pc_resp *resp, int status, const json_t *j)
{
	struct resp_dump d = { resp->arena, NULL, 0, RESP_JSON_FIRST };

	if (j == NULL)
		return PC_ENOMEM;
	d.p = arena_alloc(resp->arena, d.cap);
	if (d.p == NULL)
		return PC_ENOMEM;
	d.p[0] = '\0';
	if (json_dump_callback(j, resp_dump_cb, &d, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
		return PC_ENOMEM;
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = d.p;
	resp->body_len = d.len;
	return PC_OK;
}

/* ---- the JSON writer: hot bodies without building a jansson tree ------------------- */

/* jw_room's slow way: the first buffer (RESP_JSON_FIRST), or one twice as
 * big as often as needed. False (and failed) on ENOMEM. */
static bool jw_grow(struct pc_jw *w, size_t n)
{
	size_t cap;
	char *p;

	if (w->failed)
		return false;
	cap = w->p != NULL ? w->cap : RESP_JSON_FIRST;
	while (n >= cap - w->len) {
		if (cap > SIZE_MAX / 2) {
			w->failed = true;
			return false;
		}
		cap *= 2;
	}
	p = arena_alloc(w->arena, cap);
	if (p == NULL) {
		w->failed = true;
		return false;
	}
	if (w->p != NULL)
		memcpy(p, w->p, w->len + 1);
	else
		p[0] = '\0';
	w->p = p;
	w->cap = cap;
	return true;
}

/* Room for n more bytes and the NUL; false once failed. */
static inline bool jw_room(struct pc_jw *w, size_t n)
{
	if (w->p != NULL && !w->failed && n < w->cap - w->len)
		return true;
	return jw_grow(w, n);
}

/* Appends s[0..n) and keeps the text NUL-terminated. */
static inline void jw_put(struct pc_jw *w, const char *s, size_t n)
{
	if (!jw_room(w, n))
		return;
	memcpy(w->p + w->len, s, n); /* inlined for a literal's constant n */
	w->len += n;
	w->p[w->len] = '\0';
}

/* How jansson (JSON_COMPACT) writes each byte in a string: 0 as it is
 * (UTF-8 sequences and 0x7f included), else the letter after the backslash;
 * 'u' for \u00XX. */
static const char jw_esc[256] = {
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
	['"'] = '"', ['\\'] = '\\',
};

/* A JSON string as jansson writes it with JSON_COMPACT: '"' and '\\'
 * escaped, the usual short escapes for controls, other controls as \u00XX,
 * everything else (UTF-8 included) as it is. Written straight into the
 * buffer: room for the plain case first, for the worst of the rest at the
 * first escape; the runs between escapes copied whole (text_plain_run). */
static void jw_string(struct pc_jw *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i;
	char *o;

	if (n > SIZE_MAX / 8 || !jw_room(w, n + 2))
		return;
	o = w->p + w->len;
	*o++ = '"';
	for (i = 0; i < n; i++) {
		size_t run = text_plain_run(s + i, n - i, true);
		unsigned char c;
		char e;

		memcpy(o, s + i, run);
		o += run;
		i += run;
		if (i == n)
			break;
		c = (unsigned char)s[i];
		e = jw_esc[c];
		w->len = (size_t)(o - w->p);
		if (!jw_room(w, 6 * (n - i) + 1)) /* this escape, the rest escaped, the quote */
			return;
		o = w->p + w->len;
		*o++ = '\\';
		if (e == 'u') {
			memcpy(o, "u00", 3);
			o[3] = hex[c >> 4];
			o[4] = hex[c & 15];
			o += 5;
		} else {
			*o++ = e;
		}
	}
	*o++ = '"';
	*o = '\0';
	w->len = (size_t)(o - w->p);
}

void jw_init(struct pc_jw *w, struct pc_arena *arena)
{
	memset(w, 0, sizeof(*w));
	w->arena = arena;
	jw_put(w, "{", 1);
}

static void jw_key(struct pc_jw *w, const char *key)
{
	if (w->members++ > 0)
		jw_put(w, ",", 1);
	jw_string(w, key);
	jw_put(w, ":", 1);
}

void jw_str(struct pc_jw *w, const char *key, const char *value)
{
	jw_key(w, key);
	if (value == NULL)
		jw_put(w, "null", 4);
	else
		jw_string(w, value);
}

void jw_bool(struct pc_jw *w, const char *key, bool value)
{
	jw_key(w, key);
	if (value)
		jw_put(w, "true", 4);
	else
		jw_put(w, "false", 5);
}

void jw_raw(struct pc_jw *w, const char *key, const char *json)
{
	jw_key(w, key);
	jw_put(w, json, strlen(json));
}

enum pc_err resp_jw(struct pc_resp *resp, int status, struct pc_jw *w)
{
	jw_put(w, "}", 1);
	if (w->failed)
		return PC_ENOMEM;
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = w->p;
	resp->body_len = w->len;
	return PC_OK;
}

/* A status with no body; drops any body set before. */
enum pc_err resp_status(struct pc_resp *resp, int status)
{
	if (status < 100 || status > 999)
		return PC_EINVAL;
	resp->status = status;
	resp->content_type = NULL;
	resp->body = NULL;
	resp->body_len = 0;
	return PC_OK;
}

/* ---- headers ------------------------------------------------------------------------ */

static bool resp_tchar(unsigned char c)
{
	return ascii_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool resp_token_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!resp_tchar((unsigned char)*s))
			return false;
	}
	return true;
}

static bool resp_value_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && c != '\t') || c == 0x7F)
			return false;
	}
	return true;
}

bool http_resp_has_header(const struct pc_resp *resp, const char *name)
{
	const struct pc_header *h;

	for (h = resp->headers; h != NULL; h = h->next) {
		if (strcasecmp(h->name, name) == 0)
			return true;
	}
	return false;
}

/* Appends a header (copied into the arena). PC_EINVAL for a name that is
 * not a token or a value with control bytes; PC_ENOMEM. */
enum pc_err resp_header_add(struct pc_resp *resp, const char *name, const char *value)
{
	struct pc_header *h, **tail;

	if (!resp_token_ok(name) || value == NULL || !resp_value_ok(value))
		return PC_EINVAL;
	h = arena_alloc(resp->arena, sizeof(*h));
	if (h == NULL)
		return PC_ENOMEM;
	h->name = arena_strdup(resp->arena, name);
	h->value = arena_strdup(resp->arena, value);
	h->next = NULL;
	if (h->name == NULL || h->value == NULL)
		return PC_ENOMEM;
	for (tail = &resp->headers; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = h;
	return PC_OK;
}

/* ---- cookies ------------------------------------------------------------------------ */

/* RFC 6265 cookie-octet. */
static bool resp_cookie_octets_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7F || c == '"' || c == ',' || c == ';' || c == '\\')
			return false;
	}
	return true;
}

/* Path and Domain attribute values: printable ASCII, no ';' and no blanks. */
static bool resp_attr_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7F || c == ';' || c == ',')
			return false;
	}
	return true;
}

/* Adds a Set-Cookie header:
 *   name=value; Max-Age=N[; Expires=<epoch>][; Domain=d]; Path=p[; SameSite=s][; Secure][; HttpOnly]
 * max_age 0 deletes (Max-Age=0 and an Expires in 1970). PC_EINVAL for a bad
 * name, value, path, domain or samesite, or a negative max_age; PC_ENOMEM. */
enum pc_err resp_cookie_set(struct pc_resp *resp, const struct pc_cookie *c)
{
	const char *path = c->path != NULL ? c->path : "/";
	const char *domain = c->domain != NULL ? c->domain : "";
	const char *samesite = c->samesite != NULL ? c->samesite : "";
	const char *value = c->value != NULL ? c->value : "";
	char *line;

	if (!resp_token_ok(c->name) || !resp_cookie_octets_ok(value) || c->max_age < 0 ||
	    *path == '\0' || !resp_attr_ok(path) || !resp_attr_ok(domain))
		return PC_EINVAL;
	if (*samesite != '\0' && strcasecmp(samesite, "lax") != 0 &&
	    strcasecmp(samesite, "strict") != 0 && strcasecmp(samesite, "none") != 0)
		return PC_EINVAL;
	line = arena_printf(resp->arena, "%s=%s; Max-Age=%d%s%s%s; Path=%s%s%s%s%s", c->name,
			       value, c->max_age,
			       c->max_age == 0 ? "; Expires=Thu, 01 Jan 1970 00:00:00 GMT" : "",
			       *domain != '\0' ? "; Domain=" : "", domain, path,
			       *samesite != '\0' ? "; SameSite=" : "", samesite,
			       c->secure ? "; Secure" : "", c->httponly ? "; HttpOnly" : "");
	if (line == NULL)
		return PC_ENOMEM;
	return resp_header_add(resp, "Set-Cookie", line);
}
