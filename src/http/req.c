/*
 * req.c - reading a request: headers, cookies, query, path params, and the
 * JSON and form bodies, with the 422 details FastAPI/pydantic would give.
 *
 * Owns nothing: every string it returns is borrowed from MHD's per-request
 * memory or from the request's arena, and lives until the request ends.
 *
 * The parsers at the top (percent-decoding, UTF-8, Content-Type, form
 * bodies, the Cookie header) are pure functions over bytes, so unit tests
 * and fuzzers call them without a server. Everything a handler can get from
 * here is valid UTF-8 without NUL bytes, or NULL.
 *
 * The server installs a no-op unescape callback, so MHD hands over the path
 * and query arguments still percent-encoded ('+' in the query is already a
 * space); decoding happens here and in the router, once.
 */
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "http/internal.h"

/* ---- pure parsers ----------------------------------------------------------- */

size_t http_pct_decode(char *dst, const char *src, size_t n, bool plus)
{
	size_t i = 0, o = 0;

	while (i < n) {
		char c = src[i];
		int hi, lo;

		if (c == '%' && i + 2 < n) {
			hi = ascii_hex_value(src[i + 1]);
			lo = ascii_hex_value(src[i + 2]);
			if (hi >= 0 && lo >= 0) {
				dst[o++] = (char)(hi << 4 | lo);
				i += 3;
				continue;
			}
		}
		dst[o++] = (plus && c == '+') ? ' ' : c;
		i++;
	}
	dst[o] = '\0';
	return o;
}

bool http_text_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		unsigned char lo = 0x80, hi = 0xBF;
		size_t k, need;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0; /* no overlongs */
			else if (c == 0xED)
				hi = 0x9F; /* no surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F; /* nothing past U+10FFFF */
		} else {
			return false;
		}
		if (n - i - 1 < need)
			return false;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (k = 2; k <= need; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
		}
		i += need + 1;
	}
	return true;
}

static const char *req_skip_blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

bool http_ctype_is(const char *ctype, const char *want)
{
	size_t n = strlen(want);

	if (ctype == NULL)
		return false;
	ctype = req_skip_blank(ctype);
	if (strncasecmp(ctype, want, n) != 0)
		return false;
	ctype = req_skip_blank(ctype + n);
	return *ctype == '\0' || *ctype == ';';
}

/* FastAPI reads the body as JSON when there is no Content-Type, or when it
 * is application/json or application/<anything>+json. */
static bool req_ctype_json(const char *ctype)
{
	const char *sub, *end;

	if (ctype == NULL)
		return true;
	ctype = req_skip_blank(ctype);
	if (*ctype == '\0')
		return true;
	if (strncasecmp(ctype, "application/", 12) != 0)
		return false;
	sub = ctype + 12;
	end = sub;
	while (*end != '\0' && *end != ';' && *end != ' ' && *end != '\t')
		end++;
	if (*req_skip_blank(end) != '\0' && *req_skip_blank(end) != ';')
		return false;
	if ((size_t)(end - sub) == 4 && strncasecmp(sub, "json", 4) == 0)
		return true;
	return end - sub > 5 && strncasecmp(end - 5, "+json", 5) == 0;
}

/* Decodes one form token into the arena; NULL when it is not clean text. */
static const char *req_form_token(struct pc_arena *a, const char *s, size_t n, bool *bad)
{
	char *d = arena_alloc(a, n + 1);
	size_t len;

	if (d == NULL)
		return NULL;
	len = http_pct_decode(d, s, n, true);
	if (!http_text_ok(d, len)) {
		*bad = true;
		return NULL;
	}
	return d;
}

enum pc_err http_form_parse(struct pc_arena *a, const char *body, size_t len,
			    const struct http_field **out, size_t *n, struct pc_errinfo *ei)
{
	struct http_field *f;
	const char *p = body, *end = body + len, *amp, *eq;
	size_t cap = 1, i;
	bool bad = false;

	*out = NULL;
	*n = 0;
	if (len == 0)
		return PC_OK;
	for (i = 0; i < len; i++)
		cap += body[i] == '&';
	f = arena_alloc(a, cap * sizeof(*f));
	if (f == NULL)
		return PC_ENOMEM;
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		if (amp > p) {
			eq = memchr(p, '=', (size_t)(amp - p));
			if (eq == NULL)
				eq = amp;
			f[*n].name = req_form_token(a, p, (size_t)(eq - p), &bad);
			f[*n].value = eq < amp ? req_form_token(a, eq + 1, (size_t)(amp - eq - 1), &bad)
					       : req_form_token(a, "", 0, &bad);
			if (bad) {
				pc_errinfo_set(ei, "body", "", PC_V_FORM_INVALID, 0);
				return PC_EINVAL;
			}
			if (f[*n].name == NULL || f[*n].value == NULL)
				return PC_ENOMEM;
			(*n)++;
		}
		p = amp + 1;
	}
	*out = f;
	return PC_OK;
}

const char *http_cookie_find(const char *header, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *p = header, *semi, *eq, *ne, *vs, *ve;

	if (header == NULL)
		return NULL;
	while (*p != '\0') {
		p = req_skip_blank(p);
		semi = strchr(p, ';');
		if (semi == NULL)
			semi = p + strlen(p);
		eq = memchr(p, '=', (size_t)(semi - p));
		if (eq != NULL) {
			ne = eq;
			while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
				ne--;
			vs = req_skip_blank(eq + 1);
			if (vs > semi)
				vs = semi;
			ve = semi;
			while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if ((size_t)(ne - p) == nlen && memcmp(p, name, nlen) == 0) {
				if (ve - vs >= 2 && vs[0] == '"' && ve[-1] == '"') {
					vs++;
					ve--;
				}
				*vlen = (size_t)(ve - vs);
				return vs;
			}
		}
		p = *semi == ';' ? semi + 1 : semi;
	}
	return NULL;
}

/* ---- bodies ------------------------------------------------------------------ */

static void req_json_decref(void *j)
{
	json_decref(j);
}

enum pc_err http_body_json(struct pc_req *req, const char *ctype)
{
	json_error_t jerr;
	json_t *j;

	req->json = NULL;
	if (req->body.len == 0) {
		pc_errinfo_set(&req->errinfo, "body", "", PC_V_MISSING, 0);
		return PC_EINVAL;
	}
	if (!req_ctype_json(ctype))
		goto out_not_object;
	j = json_loadb(req->body.data, req->body.len,
		       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (j == NULL) {
		pc_errinfo_set(&req->errinfo, "body", "", PC_V_JSON_INVALID, 0);
		pc_errinfo_detail(&req->errinfo, "%s", jerr.text); /* the parser's words (DRF sends them) */
		return PC_EINVAL;
	}
	if (req_json_keep(req, j) == NULL)
		return PC_ENOMEM;
	if (!json_is_object(j))
		goto out_not_object;
	req->json = j;
	return PC_OK;
out_not_object:
	pc_errinfo_set(&req->errinfo, "body", "", PC_V_OBJECT_TYPE, 0);
	return PC_EINVAL;
}

enum pc_err http_body_form(struct http_exchange *x, const char *ctype)
{
	x->form = NULL;
	x->nform = 0;
	if (!http_ctype_is(ctype, "application/x-www-form-urlencoded"))
		return PC_OK;
	return http_form_parse(x->req.arena, x->req.body.data, x->req.body.len, &x->form,
			       &x->nform, &x->req.errinfo);
}

/* ---- readers ------------------------------------------------------------------- */

static struct MHD_Connection *req_conn(const struct pc_req *req)
{
	const struct http_exchange *x = req->impl;

	return x != NULL ? x->conn : NULL;
}

const char *req_header_get(const struct pc_req *req, const char *name)
{
	struct MHD_Connection *c = req_conn(req);

	if (c == NULL)
		return NULL;
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

const char *req_cookie_get(const struct pc_req *req, const char *name)
{
	const char *v;
	size_t n;

	v = http_cookie_find(req_header_get(req, "Cookie"), name, &n);
	if (v == NULL || !http_text_ok(v, n))
		return NULL;
	return arena_strndup(req->arena, v, n);
}

struct req_query_find {
	const char *name;
	const char *raw; /* the raw value of the first match; "" when it had none */
	bool found;
};

static enum MHD_Result req_query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct req_query_find *q = cls;
	char dec[128];
	size_t klen;

	(void)kind;
	if (key == NULL)
		return MHD_YES;
	klen = strlen(key);
	if (memchr(key, '%', klen) != NULL) {
		if (klen >= sizeof(dec))
			return MHD_YES;
		http_pct_decode(dec, key, klen, false);
		key = dec;
	}
	if (strcmp(key, q->name) != 0)
		return MHD_YES;
	q->raw = value != NULL ? value : "";
	q->found = true;
	return MHD_NO;
}

struct req_query_each {
	const struct pc_req *req;
	const char *name;
	const char **out;
	size_t max, n;
	enum pc_err err;
};

static enum MHD_Result req_query_each_iter(void *cls, enum MHD_ValueKind kind, const char *key,
					   const char *value)
{
	struct req_query_each *q = cls;
	struct req_query_find one = { q->name, NULL, false };
	size_t n, len;
	char *d;

	if (req_query_iter(&one, kind, key, value) == MHD_YES)
		return MHD_YES; /* another name */
	if (q->n == q->max) {
		q->err = PC_ETOOBIG;
		return MHD_NO;
	}
	n = strlen(one.raw);
	d = arena_alloc(q->req->arena, n + 1);
	if (d == NULL) {
		q->err = PC_ENOMEM;
		return MHD_NO;
	}
	len = http_pct_decode(d, one.raw, n, false);
	if (!http_text_ok(d, len)) {
		q->err = PC_EINVAL;
		return MHD_NO;
	}
	q->out[q->n++] = d;
	return MHD_YES;
}

enum pc_err req_query_all(const struct pc_req *req, const char *name, const char **out,
			  size_t max, size_t *n)
{
	struct MHD_Connection *c = req_conn(req);
	struct req_query_each q = { req, name, out, max, 0, PC_OK };

	*n = 0;
	if (c == NULL)
		return PC_OK;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, req_query_each_iter, &q);
	*n = q.err == PC_OK ? q.n : 0;
	return q.err;
}

const char *req_query_get(const struct pc_req *req, const char *name)
{
	struct MHD_Connection *c = req_conn(req);
	struct req_query_find q = { name, NULL, false };
	size_t n, len;
	char *d;

	if (c == NULL)
		return NULL;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, req_query_iter, &q);
	if (!q.found)
		return NULL;
	n = strlen(q.raw);
	d = arena_alloc(req->arena, n + 1);
	if (d == NULL)
		return NULL;
	len = http_pct_decode(d, q.raw, n, false);
	return http_text_ok(d, len) ? d : NULL;
}

const char *req_param_get(const struct pc_req *req, const char *name)
{
	int i;

	for (i = 0; i < req->nparams; i++) {
		if (strcmp(req->param_name[i], name) == 0)
			return req->param_value[i];
	}
	return NULL;
}

/* The last field of that name wins, as in Starlette's FormData. */
const char *req_form_get(const struct pc_req *req, const char *name)
{
	const struct http_exchange *x = req->impl;
	size_t i;

	if (x == NULL)
		return NULL;
	for (i = x->nform; i > 0; i--) {
		if (strcmp(x->form[i - 1].name, name) == 0)
			return x->form[i - 1].value;
	}
	return NULL;
}

bool req_body_is_json(const struct pc_req *req)
{
	return req_ctype_json(req_header_get(req, "Content-Type"));
}

/* Returns j, now owned by the arena (decref'd when the request ends). NULL
 * when j is NULL, or when the arena cannot record it (j is released then). */
json_t *req_json_keep(struct pc_req *req, json_t *j)
{
	if (j == NULL)
		return NULL;
	if (arena_defer(req->arena, req_json_decref, j) != PC_OK) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ---- shared JSON readers ------------------------------------------------------- */

enum pc_err req_json_str(struct pc_req *req, const char *name, bool required, const char **out)
{
	json_t *v = req->json != NULL ? json_object_get(req->json, name) : NULL;

	*out = NULL;
	if (v == NULL) {
		if (!required)
			return PC_OK;
		pc_errinfo_set(&req->errinfo, "body", name, PC_V_MISSING, 0);
		return PC_EINVAL;
	}
	if (json_is_null(v) && !required)
		return PC_OK;
	if (!json_is_string(v)) {
		pc_errinfo_set(&req->errinfo, "body", name, PC_V_STRING_TYPE, 0);
		return PC_EINVAL;
	}
	/* \u0000 parses (as FastAPI's parser allows it) but would cut the C
	 * string short: refuse it on the field rather than read a prefix. */
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		pc_errinfo_set(&req->errinfo, "body", name, PC_V_NUL_CHAR, 0);
		return PC_EINVAL;
	}
	*out = json_string_value(v);
	return PC_OK;
}

/* pydantic's lax booleans: the strings it accepts, without case. */
static const struct {
	const char *text;
	int value;
} req_bool_words[] = {
	{ "0", 0 }, { "off", 0 }, { "f", 0 }, { "false", 0 }, { "n", 0 }, { "no", 0 },
	{ "1", 1 }, { "on", 1 },  { "t", 1 }, { "true", 1 },  { "y", 1 }, { "yes", 1 },
};

/* Accepts what pydantic's bool does in lax mode: true/false, 0/1 (integer
 * or real) and the words above; other numbers and strings are
 * "bool_parsing", other types "bool_type". */
enum pc_err req_json_bool(struct pc_req *req, const char *name, int *out)
{
	json_t *v = req->json != NULL ? json_object_get(req->json, name) : NULL;
	size_t i;

	*out = PC_UNSET;
	if (v == NULL || json_is_null(v))
		return PC_OK;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return PC_OK;
	}
	if (json_is_integer(v) || json_is_real(v)) {
		double d = json_number_value(v);

		if (d == 0.0 || d == 1.0) {
			*out = d == 1.0;
			return PC_OK;
		}
		goto out_parsing;
	}
	if (json_is_string(v)) {
		for (i = 0; i < sizeof(req_bool_words) / sizeof(req_bool_words[0]); i++) {
			if (strcasecmp(json_string_value(v), req_bool_words[i].text) == 0) {
				*out = req_bool_words[i].value;
				return PC_OK;
			}
		}
		goto out_parsing;
	}
	pc_errinfo_set(&req->errinfo, "body", name, PC_V_BOOL_TYPE, 0);
	return PC_EINVAL;
out_parsing:
	pc_errinfo_set(&req->errinfo, "body", name, PC_V_BOOL_PARSING, 0);
	return PC_EINVAL;
}
