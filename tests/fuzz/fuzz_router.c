/* libFuzzer driver: the router's path matching (router_match) over the real
 * faces' tables, and mounting them (router_new) under fuzzed prefixes.
 * The input is "METHOD\0PATH" (no NUL: GET and the whole input as the path),
 * optionally followed by "\0AUTH_PREFIX\0USERS_PREFIX": then the tables are
 * mounted afresh under those prefixes first. Invariants:
 *   - PC_MATCH_OK: a route of that method, whose pattern (or a fuzzed
 *     prefix) names each param that came out, every param value non-empty valid UTF-8 without NUL;
 *   - PC_MATCH_BAD_METHOD: a non-empty Allow list that does not name the
 *     request's method;
 *   - a face is set on every answer;
 *   - the same request matched twice gets the same answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "faces/face.h"
#include "http/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_allow(const char *allow, const char *method)
{
	size_t mlen = strlen(method);
	const char *p = allow;

	if (allow == NULL || allow[0] == '\0')
		__builtin_trap();
	while (p != NULL) {
		const char *comma = strstr(p, ", ");
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (n == 0 || (n == mlen && memcmp(p, method, n) == 0))
			__builtin_trap(); /* 405 for a method the path has */
		p = comma != NULL ? comma + 2 : NULL;
	}
}

/* Whether "{name}" is in s. */
static bool names_param(const char *s, const char *name)
{
	size_t n = strlen(name);

	for (const char *at = strchr(s, '{'); at != NULL; at = strchr(at + 1, '{')) {
		if (strncmp(at + 1, name, n) == 0 && at[n + 1] == '}')
			return true;
	}
	return false;
}

static void check_match(const struct pc_router *r, struct pc_arena *a, const char *method,
			const char *path, const char *const prefixes[2])
{
	struct pc_req req, again;
	const char *allow = NULL, *allow2 = NULL;
	enum pc_match m, m2;

	memset(&req, 0, sizeof(req));
	req.arena = a;
	req.method = method;
	req.path = path;
	again = req;
	m = router_match(r, &req, &allow);
	if (req.face == NULL)
		__builtin_trap();
	switch (m) {
	case PC_MATCH_OK:
		if (req.route == NULL || strcmp(req.route->method, method) != 0 ||
		    req.nparams < 0 || req.nparams > PC_MAX_PARAMS)
			__builtin_trap();
		for (int i = 0; i < req.nparams; i++) {
			const char *name = req.param_name[i], *v = req.param_value[i];

			if (v == NULL || v[0] == '\0' || !http_text_ok(v, strlen(v)))
				__builtin_trap();
			/* a prefix may hold a {param} too: the router takes it as one */
			if (!names_param(req.route->pattern, name) &&
			    !names_param(prefixes[0], name) && !names_param(prefixes[1], name))
				__builtin_trap();
		}
		break;
	case PC_MATCH_BAD_METHOD:
		if (req.route != NULL)
			__builtin_trap();
		check_allow(allow, method);
		break;
	case PC_MATCH_NOT_FOUND:
		if (req.route != NULL || req.nparams != 0)
			__builtin_trap();
		break;
	default:
		__builtin_trap();
	}
	m2 = router_match(r, &again, &allow2);
	if (m2 != m || again.route != req.route || again.face != req.face ||
	    again.nparams != req.nparams ||
	    (m == PC_MATCH_BAD_METHOD && strcmp(allow, allow2) != 0))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pc_router *router; /* the default prefixes, made once */
	struct pc_router *fresh = NULL;
	struct pc_config *cfg = NULL;
	struct pc_arena *a;
	const char *part[4] = { NULL }, *method, *path, *prefixes[2] = { "", "" };
	char *buf = malloc(size + 1);
	size_t i, nparts = 0;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (i = 0, part[nparts++] = buf; i < size && nparts < 4; i++) {
		if (buf[i] == '\0')
			part[nparts++] = buf + i + 1;
	}
	method = nparts >= 2 ? part[0] : "GET";
	path = nparts >= 2 ? part[1] : part[0];
	if (router == NULL) {
		if (faces_settings_add(NULL) != PC_OK)
			__builtin_trap(); /* the faces' settings must register, once */
		cfg = malloc(sizeof(*cfg));
		if (cfg == NULL)
			goto out;
		pc_config_defaults(cfg);
		if (router_new(cfg, faces_all, faces_count, &router, NULL) != PC_OK)
			__builtin_trap(); /* the real tables must mount */
	}
	if (nparts == 4) {
		if (cfg == NULL && (cfg = malloc(sizeof(*cfg))) == NULL)
			goto out;
		pc_config_defaults(cfg);
		if (pc_config_set(cfg, "auth_prefix", part[2], NULL) != PC_OK ||
		    pc_config_set(cfg, "users_prefix", part[3], NULL) != PC_OK ||
		    router_new(cfg, faces_all, faces_count, &fresh, NULL) != PC_OK)
			goto out;
		prefixes[0] = part[2];
		prefixes[1] = part[3];
	}
	a = arena_new(0);
	if (a != NULL)
		check_match(fresh != NULL ? fresh : router, a, method, path, prefixes);
	arena_free(a);
out:
	router_free(fresh);
	free(cfg);
	free(buf);
	return 0;
}
