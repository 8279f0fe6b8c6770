/*
 * cors.c - Cross-Origin Resource Sharing: the settings, their checks, and
 * the headers of preflight and actual answers.
 *
 * Owns nothing: the settings are a configuration layer (rows below, values
 * in pc_config's layer area); the lists are read in place, in the live
 * configuration (config_live: a SIGHUP may change them; turning CORS on
 * from off needs a restart, as the server decides at start whether to
 * look at all).
 *
 * Off unless cors_origins names at least one origin. Then:
 *   - every answer carries "Vary: Origin" (a cache must not hand one
 *     origin's answer to another);
 *   - an answer to a request whose Origin header equals one of cors_origins
 *     byte for byte gets Access-Control-Allow-Origin: <that origin> (and
 *     Access-Control-Allow-Credentials: true with cors_credentials); any
 *     other Origin gets no Access-Control-* header at all, so the browser
 *     withholds the answer from the page;
 *   - a preflight (OPTIONS with Origin and Access-Control-Request-Method)
 *     to a mounted path is answered 204 with the allowed methods, headers
 *     and max-age when the origin, the method and every requested header
 *     are allowed, else 403 without Access-Control-Allow-Methods/-Headers/
 *     -Max-Age (rendered in the face's shape; an allowed origin still gets
 *     its Allow-Origin, as on every answer, which grants nothing here).
 * The configuration is refused when an origin is not scheme://host[:port]
 * in lower case without path ("null" and patterns included), and when "*"
 * (any origin) comes with cors_credentials: a page of any site could then
 * read answers made with the user's cookies.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/internal.h"

struct cors_settings {
	char origins[1024];
	char methods[256];
	char headers[512];
	bool credentials;
	int max_age;
	char trusted[1024];
};

/* Lists are separated by commas and/or blanks. */
static bool cors_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/* The next item of list *p (advancing it): its start and length, or NULL at the end. */
static const char *cors_next(const char **p, size_t *n)
{
	const char *s = *p, *start;

	while (*s != '\0' && cors_sep(*s))
		s++;
	if (*s == '\0') {
		*p = s;
		return NULL;
	}
	start = s;
	while (*s != '\0' && !cors_sep(*s))
		s++;
	*n = (size_t)(s - start);
	*p = s;
	return start;
}

/* scheme://host[:port]: http or https, host of [a-z0-9.-] (or a [v6]
 * literal of hex digits, ':' and '.'), port digits; nothing after. */
static bool cors_origin_ok(const char *o, size_t n)
{
	size_t i;

	if (n > 8 && strncmp(o, "https://", 8) == 0)
		i = 8;
	else if (n > 7 && strncmp(o, "http://", 7) == 0)
		i = 7;
	else
		return false;
	if (o[i] == '[') {
		for (i++; i < n && o[i] != ']'; i++) {
			if (!(ascii_is_digit(o[i]) || (o[i] >= 'a' && o[i] <= 'f') || o[i] == ':' ||
			      o[i] == '.'))
				return false;
		}
		if (i == n)
			return false;
		i++;
	} else {
		size_t start = i;

		for (; i < n && o[i] != ':'; i++) {
			if (!(ascii_is_digit(o[i]) || (o[i] >= 'a' && o[i] <= 'z') || o[i] == '.' ||
			      o[i] == '-'))
				return false;
		}
		if (i == start)
			return false;
	}
	if (i == n)
		return true;
	if (o[i] != ':' || i + 1 == n || n - i - 1 > 5)
		return false;
	for (i++; i < n; i++) {
		if (!ascii_is_digit(o[i]))
			return false;
	}
	return true;
}

static const char *cors_check_origins(const char *v)
{
	const char *p = v, *o;
	size_t n;

	while ((o = cors_next(&p, &n)) != NULL) {
		if (n == 1 && o[0] == '*')
			continue;
		if (!cors_origin_ok(o, n))
			return "must be exact origins, scheme://host[:port] in lower case without "
			       "a path (or *), separated by commas";
	}
	return NULL;
}

static bool cors_token_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!(ascii_is_alnum(s[i]) || s[i] == '-' || s[i] == '_'))
			return false;
	}
	return n > 0;
}

static const char *cors_check_tokens(const char *v)
{
	const char *p = v, *t;
	size_t n;

	while ((t = cors_next(&p, &n)) != NULL) {
		if (!cors_token_ok(t, n))
			return "must be names of [A-Za-z0-9_-], separated by commas";
	}
	return NULL;
}

static const char *cors_check_trusted(const char *v)
{
	const char *p = v, *o;
	size_t n;

	while ((o = cors_next(&p, &n)) != NULL) {
		if (!cors_origin_ok(o, n))
			return "must be exact origins, scheme://host[:port] in lower case without "
			       "a path, separated by commas";
	}
	return NULL;
}

#define CORS_STR(name, member, def, chk, help) \
	CONFIG_ROW_STR(struct cors_settings, name, member, def, NULL, chk, help)

static const struct config_row cors_rows[] = {
	CORS_STR("cors_origins", origins, "", cors_check_origins,
		 "origins allowed to call from a browser (https://app.example.com, comma-separated, "
		 "exact); empty: CORS off"),
	CORS_STR("cors_methods", methods, "GET, POST, PUT, PATCH, DELETE", cors_check_tokens,
		 "methods a preflight allows"),
	CORS_STR("cors_headers", headers, "Authorization, Content-Type, X-CSRF-TOKEN, X-Request-ID",
		 cors_check_tokens, "request headers a preflight allows"),
	CONFIG_ROW_BOOL(struct cors_settings, "cors_credentials", credentials, "false",
			"allow cookies and Authorization on cross-origin requests "
			"(Access-Control-Allow-Credentials); refused with cors_origins=*"),
	CONFIG_ROW_INT(struct cors_settings, "cors_max_age", max_age, "600", 0, 86400,
		       "seconds a browser may keep a preflight's answer"),
	CORS_STR("trusted_origins", trusted, "", cors_check_trusted,
		 "origins whose pages may send cookie-authenticated state-changing requests "
		 "(cookie login and logout included), besides the server's own; empty: the "
		 "cors_origins and the origins of reset_url, verify_url, magic_url and "
		 "oauth_callback_base"),
};

static bool cors_has_star(const char *list)
{
	const char *p = list, *o;
	size_t n;

	while ((o = cors_next(&p, &n)) != NULL) {
		if (n == 1 && o[0] == '*')
			return true;
	}
	return false;
}

static const char *cors_rule(const void *values, const char **field)
{
	const struct cors_settings *s = values;

	if (s->credentials && cors_has_star(s->origins)) {
		*field = "cors_origins";
		return "cors_origins=* cannot be combined with cors_credentials=true: "
		       "name the origins exactly";
	}
	return NULL;
}

const struct config_layer http_cors_layer = {
	.name = "cors",
	.rows = cors_rows,
	.nrows = sizeof(cors_rows) / sizeof(cors_rows[0]),
	.size = sizeof(struct cors_settings),
	.rule = cors_rule,
};

/* ---- answers ------------------------------------------------------------------------ */

/* The settings a reload may have changed: config_live's (one whole,
 * never-written copy, so one answer sees one set of lists). */
static const struct cors_settings *cors_get(const struct pc_config *cfg)
{
	const struct cors_settings *s = config_layer_get(config_live(cfg), &http_cors_layer);

	return s != NULL && s->origins[0] != '\0' ? s : NULL;
}

bool http_cors_on(const struct pc_config *cfg)
{
	return cors_get(cfg) != NULL;
}

/* Whether list holds item (n bytes): exactly, or without case (fold). */
static bool cors_list_has(const char *list, const char *item, size_t n, bool fold)
{
	const char *p = list, *t;
	size_t tn;

	while ((t = cors_next(&p, &tn)) != NULL) {
		if (tn == n && (fold ? strncasecmp(t, item, n) == 0 : memcmp(t, item, n) == 0))
			return true;
	}
	return false;
}

/* The origin of the request when it is allowed, else NULL. */
static const char *cors_allowed_origin(const struct cors_settings *s, const struct pc_req *req)
{
	const char *origin = req_header_get(req, "Origin");
	size_t n;

	if (origin == NULL || origin[0] == '\0')
		return NULL;
	n = strlen(origin);
	if (cors_list_has(s->origins, origin, n, false))
		return origin;
	/* "*" without credentials: any well-formed origin, echoed */
	if (!s->credentials && cors_has_star(s->origins) && cors_origin_ok(origin, n))
		return origin;
	return NULL;
}

bool http_cors_is_preflight(const struct pc_config *cfg, const struct pc_req *req)
{
	return cors_get(cfg) != NULL && strcmp(req->method, "OPTIONS") == 0 &&
	       req_header_get(req, "Origin") != NULL &&
	       req_header_get(req, "Access-Control-Request-Method") != NULL;
}

/* Every requested header (a comma list) is an allowed one. */
static bool cors_headers_allowed(const struct cors_settings *s, const char *requested)
{
	const char *p = requested, *h;
	size_t n;

	if (requested == NULL)
		return true;
	while ((h = cors_next(&p, &n)) != NULL) {
		if (!cors_list_has(s->headers, h, n, true))
			return false;
	}
	return true;
}

int http_cors_preflight(const struct pc_config *cfg, struct pc_req *req, struct pc_resp *resp)
{
	const struct cors_settings *s = cors_get(cfg);
	const char *origin, *method;
	char age[16];

	if (s == NULL)
		return 405;
	origin = cors_allowed_origin(s, req);
	method = req_header_get(req, "Access-Control-Request-Method");
	if (origin == NULL || method == NULL ||
	    !cors_list_has(s->methods, method, strlen(method), false) ||
	    !cors_headers_allowed(s, req_header_get(req, "Access-Control-Request-Headers")))
		return 403;
	snprintf(age, sizeof(age), "%d", s->max_age);
	resp_status(resp, 204);
	if (resp_header_add(resp, "Access-Control-Allow-Methods", s->methods) != PC_OK ||
	    resp_header_add(resp, "Access-Control-Allow-Headers", s->headers) != PC_OK ||
	    resp_header_add(resp, "Access-Control-Max-Age", age) != PC_OK)
		return 500;
	return 0;
}

enum pc_err http_cors_headers(const struct pc_config *cfg, const struct pc_req *req,
			      struct pc_resp *resp)
{
	const struct cors_settings *s = cors_get(cfg);
	const char *origin;
	enum pc_err err;

	if (s == NULL)
		return PC_OK;
	err = resp_header_add(resp, "Vary", "Origin");
	origin = cors_allowed_origin(s, req);
	if (err != PC_OK || origin == NULL)
		return err;
	err = resp_header_add(resp, "Access-Control-Allow-Origin", origin);
	if (err == PC_OK && s->credentials)
		err = resp_header_add(resp, "Access-Control-Allow-Credentials", "true");
	return err;
}

/* ---- the Origin check ------------------------------------------------------------------ */

/* The origin part (scheme://authority) of an absolute URL: its length, 0
 * when u is not one. */
static size_t cors_url_origin_len(const char *u)
{
	const char *a = strstr(u, "://");

	if (a == NULL || a == u)
		return 0;
	a += 3;
	return (size_t)(a - u) + strcspn(a, "/?#");
}

/* Whether o (n bytes) is the origin of the configured URL u. */
static bool cors_is_origin_of(const char *u, const char *o, size_t n)
{
	size_t un = cors_url_origin_len(u);

	return un == n && strncasecmp(u, o, n) == 0;
}

/* Whether o (n bytes) is the server's own origin as the request names it:
 * http:// or https:// and its Host (a page of another site cannot set the
 * Host of a request to this server). */
static bool cors_is_own(const struct pc_req *req, const char *o, size_t n)
{
	const char *host = req_header_get(req, "Host");
	size_t skip;

	if (host == NULL || host[0] == '\0')
		return false;
	if (n > 8 && strncasecmp(o, "https://", 8) == 0)
		skip = 8;
	else if (n > 7 && strncasecmp(o, "http://", 7) == 0)
		skip = 7;
	else
		return false;
	return strlen(host) == n - skip && strncasecmp(o + skip, host, n - skip) == 0;
}

bool http_origin_trusted(const struct pc_config *base, const struct pc_req *req)
{
	const struct pc_config *cfg = config_live(base); /* trusted_origins reload */
	const struct cors_settings *s = config_layer_get(cfg, &http_cors_layer);
	const char *o = req_header_get(req, "Origin");
	size_t n;

	if (o == NULL || o[0] == '\0') {
		o = req_header_get(req, "Referer");
		if (o == NULL || o[0] == '\0')
			return true; /* not sent from a page: a browser names the origin */
		n = cors_url_origin_len(o);
		if (n == 0)
			return false;
	} else {
		n = strlen(o);
	}
	if (cors_is_own(req, o, n))
		return true;
	if (s == NULL)
		return false;
	if (s->trusted[0] != '\0')
		return cors_list_has(s->trusted, o, n, false);
	if (cors_list_has(s->origins, o, n, false))
		return true;
	return cors_is_origin_of(cfg->reset_url, o, n) || cors_is_origin_of(cfg->verify_url, o, n) ||
	       cors_is_origin_of(cfg->magic_url, o, n) ||
	       cors_is_origin_of(cfg->oauth_callback_base, o, n);
}
