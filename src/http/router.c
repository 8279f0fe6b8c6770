/*
 * router.c - mounting the faces' route tables, collision check, matching.
 *
 * Owns: the router (one malloc'd block of entries and mounts, plus each
 * entry's pattern text); it borrows the faces and their tables, which are
 * static.
 *
 * A full pattern is prefix (a setting of the face) + mount suffix (fixed,
 * or another setting) + route pattern, e.g. "/auth" + "/cookie" + "/login".
 * A mount whose enable setting is false is not mounted at all: its paths
 * answer 404 and cannot collide. A pattern is split on '/' after
 * its leading slash into segments: "/users/{id}" -> ["users", {id}],
 * "/" -> [""], "/users/" -> ["users", ""]. A trailing slash is one more
 * (empty) segment, so "/users/me/" never matches "/users/me" (a 404, as
 * FastAPI answers with redirect_slashes off).
 *
 * Invariants:
 *   - a {param} segment is the whole segment, names are [A-Za-z0-9_]+, at
 *     most PC_MAX_PARAMS per route, at most ROUTER_MAX_SEGS segments;
 *   - no two entries share a method and a shape (same segment count, params
 *     at the same places, equal literals elsewhere): PC_EEXISTS at mount;
 *   - entries are sorted by segment count; by_nseg[k] is the first entry
 *     with k segments, so a match only looks at routes of the right length.
 *
 * Matching compares literals with the percent-decoded request segment;
 * among the routes that match, the one whose first differing segment is a
 * literal wins (literal beats {param}, left to right). A request segment
 * that does not decode to valid UTF-8 without NUL matches nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

#define ROUTER_MAX_SEGS 16

struct router_seg {
	const char *text; /* a literal, or a param's name */
	size_t len;
	bool param;
};

struct router_entry {
	const char *method;
	const struct pc_route *route;
	const struct pc_face *face;
	const struct pc_mount *mount; /* the router it belongs to */
	size_t order;            /* position in the faces' tables: ties keep it */
	char *full;              /* the full pattern, for messages (malloc) */
	char *segtext;           /* segment storage, NUL-separated (malloc) */
	int nseg;
	int nparams;
	unsigned literal_mask;   /* bit (nseg - 1 - i) set when segment i is literal */
	struct router_seg seg[ROUTER_MAX_SEGS];
};

/* A literal segment's length and first byte in one nonzero word: two
 * segments that differ in either are not equal. */
static uint64_t router_first_key(const char *text, size_t len)
{
	return ((uint64_t)len << 16) | ((uint64_t)(len > 0 ? (unsigned char)text[0] : 0) << 8) | 1;
}

struct router_mount {
	char *prefix; /* prefix + suffix, no trailing '/' ("" = root) (malloc) */
	size_t len;
	const struct pc_face *face;
};

struct pc_router {
	struct router_entry *e;
	size_t ne;
	size_t by_nseg[ROUTER_MAX_SEGS + 2]; /* [k]..[k+1]: entries with k segments */
	uint64_t *first_key; /* per entry: router_first_key of seg[0], 0 for a param (malloc) */
	struct router_mount *m;
	size_t nm;
	const struct pc_face *first;
};

/* ---- mounting ---------------------------------------------------------------- */

static bool router_param_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!(ascii_is_alnum(c) || c == '_'))
			return false;
	}
	return true;
}

/* Splits e->full into segments inside e->segtext. PC_EINVAL with ei. */
static enum pc_err router_entry_split(struct router_entry *e, struct pc_errinfo *ei)
{
	char *p = e->segtext + 1; /* past the leading '/' */
	char *slash;
	size_t len;
	int i = 0;

	for (;;) {
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (i == ROUTER_MAX_SEGS) {
			pc_errinfo_setf(ei, "", "", PC_V_ROUTE, "route %s %s: more than %d segments",
				 e->method, e->full, ROUTER_MAX_SEGS);
			return PC_EINVAL;
		}
		if (slash != NULL)
			*slash = '\0';
		if (len >= 2 && p[0] == '{' && p[len - 1] == '}' &&
		    router_param_name_ok(p + 1, len - 2)) {
			p[len - 1] = '\0';
			e->seg[i] = (struct router_seg){ p + 1, len - 2, true };
			e->nparams++;
		} else if (memchr(p, '{', len) != NULL || memchr(p, '}', len) != NULL) {
			pc_errinfo_setf(ei, "", "", PC_V_ROUTE, "route %s %s: bad {param} segment",
				 e->method, e->full);
			return PC_EINVAL;
		} else {
			e->seg[i] = (struct router_seg){ p, len, false };
			e->literal_mask |= 1u << (ROUTER_MAX_SEGS - 1 - i);
		}
		i++;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	e->nseg = i;
	/* Shift the mask so comparisons between equal lengths are left to right. */
	e->literal_mask >>= ROUTER_MAX_SEGS - i;
	if (e->nparams > PC_MAX_PARAMS) {
		pc_errinfo_setf(ei, "", "", PC_V_ROUTE, "route %s %s: more than %d parameters",
			 e->method, e->full, PC_MAX_PARAMS);
		return PC_EINVAL;
	}
	return PC_OK;
}

/* What a face declares holds together: its settings are registered, its
 * auth profile's cookie lies inside them, bearer comes with a claims table,
 * CSRF with its cookie and header names. Checked once, at start-up. */
static enum pc_err router_face_check(const struct pc_config *cfg, const struct pc_face *f,
				     struct pc_errinfo *ei)
{
	const struct pc_auth_profile *ap = &f->auth;
	const char *why = NULL;

	if (f->settings != NULL && config_layer_get(cfg, f->settings) == NULL)
		why = "its settings are not registered (config_layer_add)";
	else if (ap->cookie && (f->settings == NULL ||
				ap->cookie_at + sizeof(struct pc_cookie_conf) > f->settings->size))
		why = "its auth profile's cookie lies outside its settings";
	else if (ap->bearer && ap->claims == NULL)
		why = "bearer tokens without a claims table";
	else if (ap->csrf && (!ap->cookie || ap->csrf_cookie == NULL || ap->csrf_header == NULL))
		why = "CSRF without a session cookie, a CSRF cookie and a CSRF header";
	else if ((ap->cookie_jwt || ap->csrf_claim) && (ap->claims == NULL || !ap->cookie))
		why = "a JWT cookie or a CSRF claim without a cookie and a claims table";
	else if (ap->csrf_claim && (!ap->cookie_jwt || ap->claims->csrf == NULL))
		why = "a CSRF claim without a JWT cookie whose claims table has one";
	if (why == NULL)
		return PC_OK;
	pc_errinfo_setf(ei, "", f->name, PC_V_ROUTE, "face %s: %s", f->name, why);
	return PC_EINVAL;
}

/* The value of a mount's setting name, a row of type t of the face's own
 * settings (read as a typed field); NULL with ei when there is none. */
static const void *router_setting(const struct pc_config *cfg, const struct pc_face *f,
				  const char *name, enum config_type t, struct pc_errinfo *ei)
{
	const struct config_row *row = f->settings != NULL ? config_layer_row(f->settings, name) : NULL;

	if (row == NULL || row->type != t) {
		pc_errinfo_setf(ei, "", name, PC_V_ROUTE, "face %s: no %s setting %s", f->name,
				t == CONFIG_BOOL ? "boolean" : "string", name);
		return NULL;
	}
	return (const char *)config_layer_get(cfg, f->settings) + row->offset;
}

/* Whether the mount's router is switched on. PC_EINVAL when its switch is
 * no boolean setting of the face. */
static enum pc_err router_enabled(const struct pc_config *cfg, const struct pc_face *f,
				  const struct pc_mount *mt, bool *on, struct pc_errinfo *ei)
{
	const bool *v;

	*on = true;
	if (mt->enable_setting == NULL)
		return PC_OK;
	v = router_setting(cfg, f, mt->enable_setting, CONFIG_BOOL, ei);
	if (v == NULL)
		return PC_EINVAL;
	*on = *v;
	return PC_OK;
}

/* The prefix and suffix a mount's settings name, without a trailing '/'. */
static enum pc_err router_prefix(const struct pc_config *cfg, const struct pc_face *f,
				 const struct pc_mount *mt, char *out, size_t outsz,
				 struct pc_errinfo *ei)
{
	const char *prefix = "", *suffix = mt->suffix != NULL ? mt->suffix : "";
	size_t plen;
	int n;

	if (mt->prefix_setting != NULL &&
	    (prefix = router_setting(cfg, f, mt->prefix_setting, CONFIG_STR, ei)) == NULL)
		return PC_EINVAL;
	if (mt->suffix_setting != NULL &&
	    (suffix = router_setting(cfg, f, mt->suffix_setting, CONFIG_STR, ei)) == NULL)
		return PC_EINVAL;
	plen = strlen(prefix);
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	n = snprintf(out, outsz, "%.*s%s", (int)plen, prefix, suffix);
	if (n < 0 || (size_t)n >= outsz) {
		pc_errinfo_setf(ei, "", "", PC_V_ROUTE, "mount prefix too long");
		return PC_EINVAL;
	}
	if (out[0] != '\0' && out[0] != '/') {
		pc_errinfo_setf(ei, "", "", PC_V_ROUTE, "face %s: prefix \"%s\" must start with '/'",
			 f->name, out);
		return PC_EINVAL;
	}
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	return PC_OK;
}

static enum pc_err router_entry_init(struct router_entry *e, const char *prefix,
				     const struct pc_face *f, const struct pc_route *rt,
				     struct pc_errinfo *ei)
{
	const char *pat = rt->pattern != NULL ? rt->pattern : "";
	size_t plen = strlen(prefix), len;

	e->method = rt->method;
	e->route = rt;
	e->face = f;
	if (rt->method == NULL || rt->handler == NULL) {
		pc_errinfo_setf(ei, "", "", PC_V_ROUTE, "face %s: route %s without %s", f->name, pat,
			 rt->method == NULL ? "a method" : "a handler");
		return PC_EINVAL;
	}
	if (pat[0] != '\0' && pat[0] != '/') {
		pc_errinfo_setf(ei, "", "", PC_V_ROUTE, "face %s: pattern \"%s\" must start with '/'",
			 f->name, pat);
		return PC_EINVAL;
	}
	len = plen + strlen(pat);
	e->full = malloc(len + 2);
	e->segtext = malloc(len + 2);
	if (e->full == NULL || e->segtext == NULL)
		return PC_ENOMEM;
	memcpy(e->full, prefix, plen);
	memcpy(e->full + plen, pat, strlen(pat) + 1);
	if (e->full[0] == '\0') /* root prefix and an empty pattern: "/" */
		memcpy(e->full, "/", 2);
	memcpy(e->segtext, e->full, strlen(e->full) + 1);
	return router_entry_split(e, ei);
}

static bool router_same_shape(const struct router_entry *a, const struct router_entry *b)
{
	int i;

	if (a->nseg != b->nseg)
		return false;
	for (i = 0; i < a->nseg; i++) {
		if (a->seg[i].param != b->seg[i].param)
			return false;
		if (!a->seg[i].param && (a->seg[i].len != b->seg[i].len ||
					 memcmp(a->seg[i].text, b->seg[i].text, a->seg[i].len) != 0))
			return false;
	}
	return true;
}

static int router_entry_cmp(const void *pa, const void *pb)
{
	const struct router_entry *a = pa, *b = pb;

	if (a->nseg != b->nseg)
		return a->nseg < b->nseg ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* "fastapi_users users router", or the face's name for an unnamed mount. */
static const char *router_owner(const struct router_entry *e, char *out, size_t outsz)
{
	if (e->mount->router == NULL)
		return e->face->name;
	snprintf(out, outsz, "%s %s router", e->face->name, e->mount->router);
	return out;
}

static enum pc_err router_check_collisions(const struct pc_router *r, struct pc_errinfo *ei)
{
	size_t i, j;

	for (i = 0; i < r->ne; i++) {
		for (j = i + 1; j < r->ne && r->e[j].nseg == r->e[i].nseg; j++) {
			const struct router_entry *a = &r->e[i], *b = &r->e[j];
			char oa[96], ob[96];

			if (strcmp(a->method, b->method) != 0 || !router_same_shape(a, b))
				continue;
			pc_errinfo_setf(ei, "", "", PC_V_ROUTE,
					"route collision: %s %s (%s) and %s %s (%s) answer the same requests",
					a->method, a->full, router_owner(a, oa, sizeof(oa)), b->method,
					b->full, router_owner(b, ob, sizeof(ob)));
			return PC_EEXISTS;
		}
	}
	return PC_OK;
}

enum pc_err router_new(const struct pc_config *cfg, const struct pc_face *const *faces,
			  size_t nfaces, struct pc_router **out, struct pc_errinfo *ei)
{
	struct pc_router *r;
	struct pc_errinfo scratch;
	char prefix[PC_CFG_STR];
	size_t i, j, k, ne = 0, nm = 0;
	enum pc_err err = PC_OK;

	*out = NULL;
	if (ei == NULL)
		ei = &scratch;
	for (i = 0; i < nfaces; i++) {
		nm += faces[i]->nmounts;
		for (j = 0; j < faces[i]->nmounts; j++)
			ne += faces[i]->mounts[j].nroutes;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return PC_ENOMEM;
	r->e = calloc(ne > 0 ? ne : 1, sizeof(*r->e));
	r->m = calloc(nm > 0 ? nm : 1, sizeof(*r->m));
	if (r->e == NULL || r->m == NULL) {
		err = PC_ENOMEM;
		goto out_free;
	}
	r->first = nfaces > 0 ? faces[0] : NULL;
	for (i = 0; i < nfaces && err == PC_OK; i++) {
		const struct pc_face *f = faces[i];

		err = router_face_check(cfg, f, ei);
		for (j = 0; j < f->nmounts && err == PC_OK; j++) {
			const struct pc_mount *mt = &f->mounts[j];
			bool on;

			err = router_enabled(cfg, f, mt, &on, ei);
			if (err == PC_OK && !on)
				continue;
			if (err == PC_OK)
				err = router_prefix(cfg, f, mt, prefix, sizeof(prefix), ei);
			if (err != PC_OK)
				break;
			r->m[r->nm].prefix = strdup(prefix);
			r->m[r->nm].len = strlen(prefix);
			r->m[r->nm].face = f;
			if (r->m[r->nm++].prefix == NULL)
				err = PC_ENOMEM;
			for (k = 0; k < mt->nroutes && err == PC_OK; k++) {
				r->e[r->ne].order = r->ne;
				r->e[r->ne].mount = mt;
				err = router_entry_init(&r->e[r->ne++], prefix, f, &mt->routes[k], ei);
			}
		}
	}
	if (err != PC_OK)
		goto out_free;
	qsort(r->e, r->ne, sizeof(*r->e), router_entry_cmp);
	err = router_check_collisions(r, ei);
	if (err != PC_OK)
		goto out_free;
	for (k = 0, i = 0; k <= ROUTER_MAX_SEGS + 1; k++) {
		while (i < r->ne && (size_t)r->e[i].nseg < k)
			i++;
		r->by_nseg[k] = i;
	}
	r->first_key = calloc(r->ne > 0 ? r->ne : 1, sizeof(*r->first_key));
	if (r->first_key == NULL) {
		err = PC_ENOMEM;
		goto out_free;
	}
	for (i = 0; i < r->ne; i++) {
		const struct router_entry *e = &r->e[i];

		r->first_key[i] = e->nseg == 0 || e->seg[0].param
				      ? 0 : router_first_key(e->seg[0].text, e->seg[0].len);
	}
	*out = r;
	return PC_OK;
out_free:
	router_free(r);
	return err;
}

void router_free(struct pc_router *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->ne; i++) {
		free(r->e[i].full);
		free(r->e[i].segtext);
	}
	for (i = 0; i < r->nm; i++)
		free(r->m[i].prefix);
	free(r->e);
	free(r->m);
	free(r->first_key);
	free(r);
}

static int router_entry_path_cmp(const void *pa, const void *pb)
{
	const struct router_entry *a = *(const struct router_entry *const *)pa;
	const struct router_entry *b = *(const struct router_entry *const *)pb;
	int c = strcmp(a->full, b->full);

	return c != 0 ? c : strcmp(a->method, b->method);
}

enum pc_err router_walk(const struct pc_router *r,
			void (*fn)(const struct pc_face *face, const struct pc_mount *mount,
				   const struct pc_route *route, const char *path, void *arg),
			void *arg)
{
	const struct router_entry **v = calloc(r->ne > 0 ? r->ne : 1, sizeof(*v));
	size_t i;

	if (v == NULL)
		return PC_ENOMEM;
	for (i = 0; i < r->ne; i++)
		v[i] = &r->e[i];
	qsort(v, r->ne, sizeof(*v), router_entry_path_cmp);
	for (i = 0; i < r->ne; i++)
		fn(v[i]->face, v[i]->mount, v[i]->route, v[i]->full, arg);
	free(v);
	return PC_OK;
}

size_t router_size(const struct pc_router *r)
{
	return r->ne;
}

void router_route_labels(const struct pc_router *r, size_t id, const char **method,
			 const char **path, const char **face)
{
	const struct router_entry *e = &r->e[id - 1];

	*method = e->method;
	*path = e->full;
	*face = e->face->name;
}

struct router_each_arg {
	void (*fn)(const char *method, const char *path, const char *face, const char *router,
		   void *arg);
	void *arg;
};

static void router_each_one(const struct pc_face *face, const struct pc_mount *mount,
			    const struct pc_route *route, const char *path, void *arg)
{
	const struct router_each_arg *a = arg;

	a->fn(route->method, path, face->name, mount->router != NULL ? mount->router : "", a->arg);
}

enum pc_err router_each(const struct pc_router *r,
		 void (*fn)(const char *method, const char *path, const char *face,
			    const char *router, void *arg),
		 void *arg)
{
	struct router_each_arg a = { fn, arg };

	return router_walk(r, router_each_one, &a);
}

/* ---- matching ------------------------------------------------------------------- */

struct router_reqseg {
	const char *p; /* decoded (arena) or raw when it held no '%' */
	size_t len;
	bool decoded;
};

/* Splits and decodes the path. Returns the segment count, or -1 when the
 * path cannot match anything (too many segments, undecodable, ENOMEM). */
static int router_split_path(struct pc_arena *a, const char *path, struct router_reqseg *s)
{
	const char *p, *slash;
	size_t len;
	int n = 0;

	if (path == NULL || path[0] != '/')
		return -1;
	p = path + 1;
	for (;;) {
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (n == ROUTER_MAX_SEGS)
			return -1;
		s[n].p = p;
		s[n].len = len;
		s[n].decoded = false;
		if (memchr(p, '%', len) != NULL) {
			char *d = arena_alloc(a, len + 1);

			if (d == NULL)
				return -1;
			s[n].len = http_pct_decode(d, p, len, false);
			s[n].p = d;
			s[n].decoded = true;
		}
		if (!http_text_ok(s[n].p, s[n].len))
			return -1;
		n++;
		if (slash == NULL)
			return n;
		p = slash + 1;
	}
}

static bool router_entry_matches(const struct router_entry *e, const struct router_reqseg *s)
{
	int i;

	for (i = 0; i < e->nseg; i++) {
		if (e->seg[i].param) {
			if (s[i].len == 0)
				return false;
		} else if (e->seg[i].len != s[i].len ||
			   memcmp(e->seg[i].text, s[i].p, s[i].len) != 0) {
			return false;
		}
	}
	return true;
}

static const struct pc_face *router_face_for(const struct pc_router *r, const char *path)
{
	const struct pc_face *best = r->first;
	size_t i, best_len = 0;
	bool found = false;

	for (i = 0; i < r->nm; i++) {
		const struct router_mount *m = &r->m[i];

		if (strncmp(path, m->prefix, m->len) != 0 ||
		    (path[m->len] != '\0' && path[m->len] != '/'))
			continue;
		if (!found || m->len > best_len) {
			best = m->face;
			best_len = m->len;
			found = true;
		}
	}
	return best;
}

/* "GET, PATCH": the distinct methods of the routes whose path matched. */
static const char *router_allow(const struct pc_router *r, struct pc_arena *a, size_t lo,
				size_t hi, const struct router_reqseg *s)
{
	struct pc_buf b;
	const char *out = NULL;
	size_t i, j;

	buf_init(&b, 512);
	for (i = lo; i < hi; i++) {
		bool seen = false;

		if (!router_entry_matches(&r->e[i], s))
			continue;
		for (j = lo; j < i && !seen; j++)
			seen = router_entry_matches(&r->e[j], s) &&
			       strcmp(r->e[j].method, r->e[i].method) == 0;
		if (seen)
			continue;
		if (b.len > 0 && buf_add(&b, ", ", 2) != PC_OK)
			break;
		if (buf_addstr(&b, r->e[i].method) != PC_OK)
			break;
	}
	if (b.data != NULL)
		out = arena_strndup(a, b.data, b.len);
	buf_release(&b);
	return out != NULL ? out : "";
}

enum pc_match router_match(const struct pc_router *r, struct pc_req *req, const char **allow)
{
	struct router_reqseg s[ROUTER_MAX_SEGS];
	const struct router_entry *best = NULL, *path_hit = NULL;
	size_t i, lo, hi;
	uint64_t first;
	int n, k, p;

	req->route = NULL;
	req->route_id = 0;
	req->nparams = 0;
	if (allow != NULL)
		*allow = NULL;
	n = router_split_path(req->arena, req->path, s);
	if (n < 0)
		goto out_miss;
	lo = r->by_nseg[n];
	hi = r->by_nseg[n + 1];
	first = router_first_key(s[0].p, s[0].len);
	for (i = lo; i < hi; i++) {
		const struct router_entry *e = &r->e[i];

		/* a literal first segment of another length or first byte: not it,
		 * told from one compact array, without reading the entry */
		if (r->first_key[i] != 0 && r->first_key[i] != first)
			continue;
		if (!router_entry_matches(e, s))
			continue;
		if (strcmp(e->method, req->method) != 0) {
			path_hit = e;
			continue;
		}
		if (best == NULL || e->literal_mask > best->literal_mask)
			best = e;
	}
	if (best != NULL) {
		for (k = 0, p = 0; k < best->nseg; k++) {
			if (!best->seg[k].param)
				continue;
			req->param_name[p] = best->seg[k].text;
			req->param_value[p] = s[k].decoded ? s[k].p
					      : arena_strndup(req->arena, s[k].p, s[k].len);
			if (req->param_value[p] == NULL)
				goto out_miss;
			p++;
		}
		req->nparams = p;
		req->route = best->route;
		req->route_id = (size_t)(best - r->e) + 1;
		req->face = best->face;
		return PC_MATCH_OK;
	}
	if (path_hit != NULL) {
		req->face = path_hit->face;
		if (allow != NULL)
			*allow = router_allow(r, req->arena, lo, hi, s);
		return PC_MATCH_BAD_METHOD;
	}
out_miss:
	req->nparams = 0;
	req->face = router_face_for(r, req->path != NULL ? req->path : "");
	return PC_MATCH_NOT_FOUND;
}
