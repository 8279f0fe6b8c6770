/*
 * forward.c - forward authentication for reverse proxies: nginx
 * auth_request, Traefik ForwardAuth, Caddy forward_auth.
 *
 *   GET {forward_auth_prefix}/forward[?require=verified,superuser]
 *     200  the request's bearer JWT (fastapi-users claims, aud
 *          jwt_audience) or session cookie (forward_auth_cookie, a database
 *          session of the cookie backend) belongs to an active user who
 *          meets every requirement; the answer carries X-Auth-User-Id,
 *          X-Auth-Email, X-Auth-Roles (comma-separated), X-Auth-Verified
 *          and X-Auth-Superuser, for the proxy to hand to the upstream
 *     401  no credential, or one the core refuses (WWW-Authenticate: Bearer)
 *     403  a requirement is not met
 *     400  the proxy's X-Forwarded-Uri / X-Original-URL / X-Original-URI or
 *          X-Forwarded-Method cannot be parsed, or require names something
 *          unknown
 * Requirements come from the query, from forward_auth_require_verified
 * and forward_auth_require_superuser (the settings apply to every call), and
 * from forward_auth_rules by the forwarded path ("/admin=superuser": /admin
 * and everything under it), matched on the path as forward_uri_parse
 * normalises it, so "//admin", "/x/../admin" and "/%61dmin" meet the rule
 * for /admin (better-auth's CVE-2025-71399 matched before normalising).
 * With rules set, a request without a URI header is 400: a rule is never
 * skipped for want of a path.
 *
 * Fails closed: nothing but a well-formed request with a good credential
 * meeting every requirement answers 200. A URI header that is present is
 * parsed (Authelia's CVE-2021-32637: a malformed one forwarded by nginx was
 * allowed through); it must be origin-form (/path?query) or an absolute
 * http(s) URL, printable ASCII, each % followed by two hex digits, and its
 * path must percent-decode to text without NUL or control bytes and, with
 * "//" folded and "." and ".." segments resolved, stay under "/"
 * (fwd_path_normalise); several URI headers must name one path.
 *
 * Errors use FastAPI's default shape {"detail": "..."}.
 */
#include <string.h>

#include "faces/face.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define FWD_URI_MAX FORWARD_URI_MAX

enum fwd_need { FWD_VERIFIED = 1 << 0, FWD_SUPERUSER = 1 << 1 };

/* ---- settings ------------------------------------------------------------------ */

struct fwd_settings {
	char prefix[128];
	bool router;
	bool require_verified;
	bool require_superuser;
	char rules[1024];
	struct pc_cookie_conf cookie; /* only its name is a setting */
};

/* One rule of forward_auth_rules, "PATH=REQ[+REQ]": its path and length,
 * the requirements, and where the next one starts. False at the end, or
 * (with *bad) when the rule does not parse. */
struct fwd_rule {
	const char *path;
	size_t len;
	unsigned need;
};

static bool fwd_rule_next(const char **p, struct fwd_rule *r, bool *bad)
{
	const char *s = *p, *eq, *end;

	*bad = false;
	while (*s == ',' || *s == ' ')
		s++;
	if (*s == '\0')
		return false;
	end = s + strcspn(s, ",");
	eq = memchr(s, '=', (size_t)(end - s));
	*p = end;
	if (eq == NULL) {
		*bad = true;
		return false;
	}
	r->path = s;
	r->len = (size_t)(eq - s);
	while (r->len > 0 && s[r->len - 1] == ' ')
		r->len--;
	r->need = 0;
	for (const char *q = eq + 1; q < end;) {
		size_t n = strcspn(q, "+,");

		while (n > 0 && q[n - 1] == ' ')
			n--;
		while (n > 0 && *q == ' ')
			q++, n--;
		if (n == 8 && strncmp(q, "verified", 8) == 0)
			r->need |= FWD_VERIFIED;
		else if (n == 9 && strncmp(q, "superuser", 9) == 0)
			r->need |= FWD_SUPERUSER;
		else
			*bad = true;
		q += strcspn(q, "+,");
		if (*q == '+' && ++q == end)
			*bad = true; /* "verified+" */
	}
	return !*bad;
}

/* A rule's path is already in normal form: "/" or "/seg/seg" of
 * [A-Za-z0-9._~-] segments, none empty, "." or "..", no trailing '/'. */
static bool fwd_rule_path_ok(const char *p, size_t n)
{
	if (n == 0 || p[0] != '/')
		return false;
	if (n == 1)
		return true;
	if (p[n - 1] == '/')
		return false;
	for (size_t i = 1, seg = 1; i <= n; i++) {
		if (i == n || p[i] == '/') {
			size_t len = i - seg;

			if (len == 0 || (len == 1 && p[seg] == '.') ||
			    (len == 2 && p[seg] == '.' && p[seg + 1] == '.'))
				return false;
			seg = i + 1;
		} else if (!(ascii_is_alnum(p[i]) || strchr("._~-", p[i]) != NULL)) {
			return false;
		}
	}
	return true;
}

static const char *fwd_check_rules(const char *v)
{
	const char *p = v;
	struct fwd_rule r;
	bool bad;

	while (fwd_rule_next(&p, &r, &bad)) {
		if (!fwd_rule_path_ok(r.path, r.len) || r.need == 0)
			return "must be PATH=REQ[+REQ],... with PATH /a/b (no %, //, . or .., no "
			       "trailing /) and REQ verified or superuser";
	}
	if (bad)
		return "must be PATH=REQ[+REQ],... with REQ verified or superuser";
	return NULL;
}

/* The requirements of the rules whose path is the request's (normalised)
 * path or a segment prefix of it. */
static unsigned fwd_rules_need(const char *rules, const char *path)
{
	const char *p = rules;
	struct fwd_rule r;
	unsigned need = 0;
	bool bad;

	while (fwd_rule_next(&p, &r, &bad)) {
		if (r.len == 1 || (strncmp(path, r.path, r.len) == 0 &&
				   (path[r.len] == '\0' || path[r.len] == '/')))
			need |= r.need;
	}
	return need;
}

static const struct config_row fwd_setting_rows[] = {
	CONFIG_ROW_STR(struct fwd_settings, "forward_auth_prefix", prefix, "/auth", NULL,
		       config_check_prefix, "prefix of GET .../forward (forward auth for proxies)"),
	CONFIG_ROW_BOOL(struct fwd_settings, "forward_auth_router", router, "true",
			"mount the forward auth route"),
	CONFIG_ROW_BOOL(struct fwd_settings, "forward_auth_require_verified", require_verified,
			"false", "forward auth answers 403 for users who are not verified"),
	CONFIG_ROW_BOOL(struct fwd_settings, "forward_auth_require_superuser", require_superuser,
			"false", "forward auth answers 403 for users who are not superusers"),
	CONFIG_ROW_STR(struct fwd_settings, "forward_auth_rules", rules, "", NULL, fwd_check_rules,
		       "requirements by forwarded path: /admin=superuser,/billing=verified+superuser "
		       "(a path and everything under it, matched after normalising)"),
	CONFIG_ROW_STR(struct fwd_settings, "forward_auth_cookie", cookie.name, "fastapiusersauth",
		       NULL, config_check_cookie_name,
		       "session cookie forward auth reads (the cookie backend's cookie_name)"),
};

static const struct config_layer fwd_settings = {
	.name = "forward_auth",
	.rows = fwd_setting_rows,
	.nrows = N(fwd_setting_rows),
	.size = sizeof(struct fwd_settings),
	.rule = NULL,
};

/* ---- readers ------------------------------------------------------------------ */

static bool fwd_hex(char c)
{
	return ascii_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int fwd_hexval(char c)
{
	return ascii_is_digit(c) ? c - '0' : (ascii_lower(c) - 'a' + 10);
}

/*
 * Decodes the path p[0..n) into out (room for n + 1) and normalises it:
 * empty segments ("//") and "." dropped, ".." removes the segment before.
 * A decoded byte below 0x20 or 0x7f, a ".." above the root, or an encoded
 * '/' ('%2F' would hide a segment from the decoder of the upstream) fails.
 * Non-ASCII decoded bytes are kept (the proxy compares bytes).
 */
static bool fwd_path_normalise(const char *p, size_t n, char *out)
{
	size_t o = 0, i = 0;

	out[o++] = '/';
	while (i < n) {
		char seg[FWD_URI_MAX];
		size_t sl = 0;

		while (i < n && p[i] == '/')
			i++;
		if (i == n)
			break;
		while (i < n && p[i] != '/') {
			unsigned char c = (unsigned char)p[i];

			if (c == '%') {
				if (i + 2 >= n || !fwd_hex(p[i + 1]) || !fwd_hex(p[i + 2]))
					return false;
				c = (unsigned char)(fwd_hexval(p[i + 1]) * 16 + fwd_hexval(p[i + 2]));
				if (c == '/')
					return false;
				i += 3;
			} else {
				i++;
			}
			if (c < 0x20 || c == 0x7f)
				return false;
			seg[sl++] = (char)c;
		}
		if (sl == 1 && seg[0] == '.')
			continue;
		if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
			if (o == 1)
				return false; /* above the root */
			o--;              /* the '/' that ends the previous segment */
			while (o > 1 && out[o - 1] != '/')
				o--;
			continue;
		}
		memcpy(out + o, seg, sl);
		o += sl;
		out[o++] = '/';
	}
	if (o > 1 && (n == 0 || p[n - 1] != '/'))
		o--; /* no trailing slash unless the path had one */
	out[o] = '\0';
	return true;
}

bool forward_uri_parse(const char *u, char *path_out)
{
	size_t n = strnlen(u, FWD_URI_MAX), i, plen;

	if (n == 0 || n == FWD_URI_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)u[i];

		if (c <= 0x20 || c >= 0x7f || c == '#' || c == '\\')
			return false;
		if (c == '%' && (i + 2 >= n || !fwd_hex(u[i + 1]) || !fwd_hex(u[i + 2])))
			return false;
	}
	if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) {
		u = strstr(u, "//") + 2;
		i = strcspn(u, "/?");
		if (i == 0 || memchr(u, '@', i) != NULL || memchr(u, '%', i) != NULL)
			return false;
		u += i;
		if (*u == '\0')
			u = "/";
	}
	if (u[0] != '/')
		return false;
	plen = strcspn(u, "?");
	return fwd_path_normalise(u, plen, path_out);
}

/* Every URI header present parses, and when several are present they name
 * the same path (a client behind nginx, which sets X-Original-URI, may add
 * an X-Forwarded-Uri of its own: two paths are refused, never one picked);
 * X-Forwarded-Method, when present, is a method name. *path: the
 * normalised path, NULL when no URI header came. */
static bool fwd_request_ok(struct pc_req *req, const char **path)
{
	static const char *const uri_headers[] = { "X-Forwarded-Uri", "X-Original-URL",
						   "X-Original-URI" };
	const char *m = req_header_get(req, "X-Forwarded-Method");
	char *buf = arena_alloc(req->arena, FWD_URI_MAX);

	*path = NULL;
	if (buf == NULL)
		return false;
	for (size_t i = 0; i < N(uri_headers); i++) {
		const char *u = req_header_get(req, uri_headers[i]);

		if (u == NULL)
			continue;
		if (!forward_uri_parse(u, buf) || (*path != NULL && strcmp(*path, buf) != 0))
			return false;
		if (*path == NULL && (*path = arena_strdup(req->arena, buf)) == NULL)
			return false;
	}
	if (m != NULL && (m[0] == '\0' || strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(m)))
		return false;
	return true;
}

/* The query's require=verified,superuser on top of the settings'. PC_EINVAL
 * for any other word. */
static enum pc_err fwd_read_needs(struct pc_req *req, const struct fwd_settings *s, unsigned *need)
{
	const char *q = req_query_get(req, "require");

	*need = (s->require_verified ? FWD_VERIFIED : 0) |
		(s->require_superuser ? FWD_SUPERUSER : 0);
	while (q != NULL && *q != '\0') {
		size_t n = strcspn(q, ",");

		if (n == 8 && strncmp(q, "verified", 8) == 0)
			*need |= FWD_VERIFIED;
		else if (n == 9 && strncmp(q, "superuser", 9) == 0)
			*need |= FWD_SUPERUSER;
		else if (n != 0)
			return PC_EINVAL;
		q += n;
		if (*q == ',')
			q++;
	}
	return PC_OK;
}

/* ---- renderers ------------------------------------------------------------------ */

static void fwd_render_error(struct pc_req *req, struct pc_resp *resp, int status,
			     const struct pc_errinfo *ei)
{
	(void)ei;
	resp_json(resp, status, req_json_keep(req, json_pack("{s:s}", "detail", resp_reason(status))));
}

static enum pc_err fwd_detail(struct pc_req *req, struct pc_resp *resp, int status,
			      const char *code)
{
	resp_json(resp, status, req_json_keep(req, json_pack("{s:s}", "detail", code)));
	return PC_EINVAL;
}

/* "admin ops" -> "admin,ops" */
static const char *fwd_roles(struct pc_req *req, const char *roles)
{
	char *r = arena_strdup(req->arena, roles);

	for (char *p = r; p != NULL && *p != '\0'; p++) {
		if (*p == ' ')
			*p = ',';
	}
	return r != NULL ? r : "";
}

/* ---- handler ------------------------------------------------------------------ */

static enum pc_err fwd_forward(struct pc_req *req, struct pc_resp *resp)
{
	const struct fwd_settings *s = config_layer_get(&req->ctx->cfg, &fwd_settings);
	const struct pc_user *u = req->user;
	const char *path;
	unsigned need;

	if (s == NULL || u == NULL)
		return PC_EINTERNAL;
	if (!fwd_request_ok(req, &path))
		return fwd_detail(req, resp, 400, "MALFORMED_FORWARDED_REQUEST");
	if (s->rules[0] != '\0' && path == NULL) /* rules, and no path to apply them to */
		return fwd_detail(req, resp, 400, "MISSING_FORWARDED_URI");
	if (fwd_read_needs(req, s, &need) != PC_OK)
		return fwd_detail(req, resp, 400, "UNKNOWN_REQUIREMENT");
	if (path != NULL)
		need |= fwd_rules_need(s->rules, path);
	if (((need & FWD_VERIFIED) && !u->is_verified) ||
	    ((need & FWD_SUPERUSER) && !u->is_superuser))
		return fwd_detail(req, resp, 403, "REQUIREMENT_NOT_MET");
	resp_status(resp, 200);
	if (resp_header_add(resp, "X-Auth-User-Id", u->id) != PC_OK ||
	    resp_header_add(resp, "X-Auth-Email", u->email) != PC_OK ||
	    resp_header_add(resp, "X-Auth-Roles", fwd_roles(req, u->roles)) != PC_OK ||
	    resp_header_add(resp, "X-Auth-Verified", u->is_verified ? "true" : "false") != PC_OK ||
	    resp_header_add(resp, "X-Auth-Superuser", u->is_superuser ? "true" : "false") != PC_OK) {
		resp->status = 0; /* answered 500 by the server: never a 200 without the user */
		return PC_ENOMEM;
	}
	return PC_OK;
}

/* ---- tables ------------------------------------------------------------------ */

static const struct pc_route fwd_routes[] = {
	{ "GET", "/forward", fwd_forward, PC_R_AUTH | PC_R_ACTIVE },
};

static const struct pc_mount fwd_mounts[] = {
	{ .router = "forward", .prefix_setting = "forward_auth_prefix", .suffix = "",
	  .enable_setting = "forward_auth_router", .routes = fwd_routes, .nroutes = N(fwd_routes) },
};

const struct pc_face face_forward_auth = {
	.name = "forward_auth",
	.mounts = fwd_mounts,
	.nmounts = N(fwd_mounts),
	.render_error = fwd_render_error,
	.settings = &fwd_settings,
	.auth = {
		.bearer = true,
		.cookie = true,
		.cookie_at = offsetof(struct fwd_settings, cookie),
		.claims = &jwt_claims_rfc7519,
	},
};
