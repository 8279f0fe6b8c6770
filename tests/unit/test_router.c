/*
 * test_router.c - mounting and matching: literals beat params, params are
 * decoded, 404 versus 405 with Allow, collisions refused, prefixes read
 * from the faces' settings in the configuration, and the face picked for
 * misses.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "http/internal.h"

/* ---- tiny faces -------------------------------------------------------------- */

static enum pc_err h_any(struct pc_req *req, struct pc_resp *resp)
{
	(void)req;
	return resp_status(resp, 204);
}

static enum pc_err h_me(struct pc_req *req, struct pc_resp *resp)
{
	(void)req;
	return resp_status(resp, 200);
}

static enum pc_err h_user(struct pc_req *req, struct pc_resp *resp)
{
	(void)req;
	return resp_status(resp, 201);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The param route comes first: order must not decide. */
static const struct pc_route users_routes[] = {
	{ "GET", "/{id}", h_user, 0 },
	{ "GET", "/me", h_me, 0 },
	{ "DELETE", "/{id}", h_any, 0 },
	{ "PATCH", "/{id}/roles/{role}", h_any, 0 },
	{ "GET", "/{id}/sessions", h_any, 0 },
};

static const struct pc_route auth_routes[] = {
	{ "POST", "/login", h_any, 0 },
	{ "POST", "/logout", h_any, 0 },
};

static const struct pc_route cookie_routes[] = {
	{ "POST", "/login", h_any, 0 },
};

static const struct pc_route root_routes[] = {
	{ "GET", "", h_any, 0 },
	{ "GET", "/healthz", h_any, 0 },
};

#define MOUNT(p, s, t, n) { .prefix_setting = p, .suffix = s, .routes = t, .nroutes = n }

static const struct pc_mount a_mounts[] = {
	MOUNT("auth_prefix", "", auth_routes, N(auth_routes)),
	MOUNT("users_prefix", "", users_routes, N(users_routes)),
};

static const struct pc_mount b_mounts[] = {
	MOUNT("auth_prefix", "/cookie", cookie_routes, N(cookie_routes)),
	MOUNT(NULL, "", root_routes, N(root_routes)),
};

/* The prefixes are the faces' own settings (a settings layer, as each face declares). */
struct prefixes {
	char auth_prefix[128];
	char users_prefix[128];
};
static const struct config_row prefix_rows[] = {
	CONFIG_ROW_STR(struct prefixes, "auth_prefix", auth_prefix, "/auth", NULL,
		       config_check_prefix, "auth"),
	CONFIG_ROW_STR(struct prefixes, "users_prefix", users_prefix, "/users", NULL,
		       config_check_prefix, "users"),
};
static const struct config_layer prefix_layer = {
	"test", prefix_rows, N(prefix_rows), sizeof(struct prefixes), NULL,
};

static const struct pc_face face_a = { .name = "alpha", .mounts = a_mounts,
				       .nmounts = N(a_mounts), .settings = &prefix_layer };
static const struct pc_face face_b = { .name = "beta", .mounts = b_mounts,
				       .nmounts = N(b_mounts), .settings = &prefix_layer };

static const struct pc_route clash_routes[] = {
	{ "GET", "/{user_id}", h_any, 0 }, /* same shape as alpha's GET /users/{id} */
};
static const struct pc_mount clash_mounts[] = {
	MOUNT("users_prefix", "", clash_routes, N(clash_routes)),
};
static const struct pc_face face_clash = { .name = "clash", .mounts = clash_mounts,
					  .nmounts = N(clash_mounts), .settings = &prefix_layer };

/* ---- fixture --------------------------------------------------------------------- */

static struct pc_config cfg;
static struct pc_router *router;
static struct pc_arena *arena;
static struct pc_req req;

static void setup(void)
{
	const struct pc_face *faces[] = { &face_a, &face_b };
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(config_layer_add(&prefix_layer, &ei), PC_OK, "%s", ei.detail);
	pc_config_defaults(&cfg);
	cr_assert_eq(router_new(&cfg, faces, 2, &router, &ei), PC_OK, "%s", ei.detail);
	arena = arena_new(0);
	cr_assert_not_null(arena);
}

static void teardown(void)
{
	router_free(router);
	arena_free(arena);
}

static enum pc_match match(const char *method, const char *path, const char **allow)
{
	memset(&req, 0, sizeof(req));
	req.arena = arena;
	req.method = method;
	req.path = path;
	return router_match(router, &req, allow);
}

TestSuite(router, .init = setup, .fini = teardown);

/* ---- matching ----------------------------------------------------------------------- */

Test(router, matches_a_literal_route_and_names_its_face)
{
	cr_assert_eq(match("POST", "/auth/login", NULL), PC_MATCH_OK);
	cr_assert_eq(req.route, &auth_routes[0]);
	cr_assert_eq(req.face, &face_a);
	cr_assert_eq(req.nparams, 0);
}

Test(router, a_literal_segment_beats_a_param_whatever_the_table_order)
{
	cr_assert_eq(match("GET", "/users/me", NULL), PC_MATCH_OK);
	cr_assert_eq(req.route->handler, h_me);
	cr_assert_eq(req.nparams, 0);

	cr_assert_eq(match("GET", "/users/42", NULL), PC_MATCH_OK);
	cr_assert_eq(req.route->handler, h_user);
	cr_assert_str_eq(req_param_get(&req, "id"), "42");
}

Test(router, a_param_route_still_answers_other_methods_on_a_literal_path)
{
	/* DELETE /users/me: only DELETE /users/{id} has that method, as in Starlette. */
	cr_assert_eq(match("DELETE", "/users/me", NULL), PC_MATCH_OK);
	cr_assert_eq(req.route, &users_routes[2]);
	cr_assert_str_eq(req_param_get(&req, "id"), "me");
}

Test(router, params_are_percent_decoded_into_the_arena)
{
	cr_assert_eq(match("PATCH", "/users/a%20b/roles/x%2Fy", NULL), PC_MATCH_OK);
	cr_assert_eq(req.nparams, 2);
	cr_assert_str_eq(req_param_get(&req, "id"), "a b");
	cr_assert_str_eq(req_param_get(&req, "role"), "x/y");
	cr_assert_str_eq(req.param_name[0], "id");
	cr_assert_null(req_param_get(&req, "nope"));

	cr_assert_eq(match("GET", "/users/caf%C3%A9", NULL), PC_MATCH_OK);
	cr_assert_str_eq(req_param_get(&req, "id"), "caf\xc3\xa9");
}

Test(router, literal_segments_compare_with_the_decoded_path)
{
	cr_assert_eq(match("GET", "/users/%6De", NULL), PC_MATCH_OK);
	cr_assert_eq(req.route->handler, h_me);
}

Test(router, segments_that_decode_to_nul_or_bad_utf8_match_nothing)
{
	cr_assert_eq(match("GET", "/users/a%00b", NULL), PC_MATCH_NOT_FOUND);
	cr_assert_eq(match("GET", "/users/%FF", NULL), PC_MATCH_NOT_FOUND);
	cr_assert_eq(match("GET", "/users/%C0%AF", NULL), PC_MATCH_NOT_FOUND);
}

Test(router, a_trailing_slash_is_a_different_path)
{
	cr_assert_eq(match("GET", "/users/me/", NULL), PC_MATCH_NOT_FOUND);
	cr_assert_eq(match("POST", "/auth/login/", NULL), PC_MATCH_NOT_FOUND);
	/* and an empty segment is no param value */
	cr_assert_eq(match("GET", "/users/", NULL), PC_MATCH_NOT_FOUND);
	cr_assert_eq(match("GET", "/users//sessions", NULL), PC_MATCH_NOT_FOUND);
}

Test(router, the_root_pattern_is_slash)
{
	cr_assert_eq(match("GET", "/", NULL), PC_MATCH_OK);
	cr_assert_eq(req.route, &root_routes[0]);
	cr_assert_eq(match("GET", "", NULL), PC_MATCH_NOT_FOUND);
	cr_assert_eq(match("GET", "healthz", NULL), PC_MATCH_NOT_FOUND);
}

Test(router, each_route_has_an_id_that_names_it_for_metrics)
{
	const char *method, *path, *face;
	size_t seen[64] = { 0 };
	const char *const hits[][2] = { { "POST", "/auth/login" }, { "GET", "/users/me" },
					{ "GET", "/users/42" }, { "DELETE", "/users/7" } };
	const char *const want[] = { "/auth/login", "/users/me", "/users/{id}", "/users/{id}" };

	cr_assert_lt(router_size(router), 64);
	for (size_t i = 0; i < sizeof(hits) / sizeof(hits[0]); i++) {
		cr_assert_eq(match(hits[i][0], hits[i][1], NULL), PC_MATCH_OK);
		cr_assert(req.route_id >= 1 && req.route_id <= router_size(router));
		router_route_labels(router, req.route_id, &method, &path, &face);
		cr_assert_str_eq(method, hits[i][0]);
		cr_assert_str_eq(path, want[i]);
		cr_assert_str_eq(face, req.face->name);
		seen[req.route_id]++;
	}
	cr_assert_eq(seen[req.route_id], 1); /* DELETE and GET /users/{id} are two routes */
	cr_assert_eq(match("GET", "/nowhere", NULL), PC_MATCH_NOT_FOUND);
	cr_assert_eq(req.route_id, 0);
	cr_assert_eq(match("PUT", "/users/42", NULL), PC_MATCH_BAD_METHOD);
	cr_assert_eq(req.route_id, 0);
}

/* ---- misses ---------------------------------------------------------------------------- */

Test(router, an_unknown_path_is_404)
{
	const char *allow = "unchanged";

	cr_assert_eq(match("GET", "/nowhere", &allow), PC_MATCH_NOT_FOUND);
	cr_assert_null(allow);
	cr_assert_null(req.route);
}

Test(router, a_known_path_with_another_method_is_405_with_allow)
{
	const char *allow = NULL;

	cr_assert_eq(match("PUT", "/users/42", &allow), PC_MATCH_BAD_METHOD);
	cr_assert_str_eq(allow, "GET, DELETE");
	cr_assert_null(req.route);
	cr_assert_eq(req.face, &face_a);

	cr_assert_eq(match("GET", "/auth/login", &allow), PC_MATCH_BAD_METHOD);
	cr_assert_str_eq(allow, "POST");
}

Test(router, a_literal_path_lists_the_methods_of_param_routes_too)
{
	const char *allow = NULL;

	cr_assert_eq(match("POST", "/users/me", &allow), PC_MATCH_BAD_METHOD);
	cr_assert_str_eq(allow, "GET, DELETE");
}

Test(router, a_miss_goes_to_the_face_with_the_longest_mount_prefix)
{
	cr_assert_eq(match("GET", "/auth/cookie/nope", NULL), PC_MATCH_NOT_FOUND);
	cr_assert_eq(req.face, &face_b);
	cr_assert_eq(match("GET", "/auth/nope", NULL), PC_MATCH_NOT_FOUND);
	cr_assert_eq(req.face, &face_a);
	/* a prefix matches whole segments only: /authx is not under /auth */
	cr_assert_eq(match("GET", "/authx", NULL), PC_MATCH_NOT_FOUND);
	cr_assert_eq(req.face, &face_b); /* the root mount of beta */
}

Test(router, a_miss_outside_every_prefix_goes_to_the_first_face)
{
	const struct pc_face *faces[] = { &face_a };
	struct pc_router *r;

	cr_assert_eq(router_new(&cfg, faces, 1, &r, NULL), PC_OK);
	memset(&req, 0, sizeof(req));
	req.arena = arena;
	req.method = "GET";
	req.path = "/elsewhere";
	cr_assert_eq(router_match(r, &req, NULL), PC_MATCH_NOT_FOUND);
	cr_assert_eq(req.face, &face_a);
	router_free(r);
}

/* ---- mounting ---------------------------------------------------------------------------- */

Test(router, two_routes_of_the_same_method_and_shape_collide)
{
	const struct pc_face *faces[] = { &face_a, &face_clash };
	struct pc_router *r = (struct pc_router *)1;
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(router_new(&cfg, faces, 2, &r, &ei), PC_EEXISTS);
	cr_assert_null(r);
	cr_assert(strstr(ei.detail, "GET /users/{id} (alpha)") != NULL, "%s", ei.detail);
	cr_assert(strstr(ei.detail, "GET /users/{user_id} (clash)") != NULL, "%s", ei.detail);
}

Test(router, a_face_mounted_twice_collides_with_itself)
{
	const struct pc_face *faces[] = { &face_b, &face_b };
	struct pc_router *r;
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(router_new(&cfg, faces, 2, &r, &ei), PC_EEXISTS);
	cr_assert(strstr(ei.detail, "route collision: GET / (beta) and GET / (beta)") != NULL, "%s",
		  ei.detail);
}

Test(router, prefixes_come_from_the_configuration)
{
	const struct pc_face *faces[] = { &face_a, &face_b };
	struct pc_config c2;
	struct pc_router *r;
	struct pc_errinfo ei = { 0 };

	pc_config_defaults(&c2);
	cr_assert_eq(pc_config_set(&c2, "auth_prefix", "/api/v1/auth/", &ei), PC_OK, "%s", ei.detail);
	cr_assert_eq(router_new(&c2, faces, 2, &r, &ei), PC_OK, "%s", ei.detail);
	memset(&req, 0, sizeof(req));
	req.arena = arena;
	req.method = "POST";
	req.path = "/api/v1/auth/cookie/login";
	cr_assert_eq(router_match(r, &req, NULL), PC_MATCH_OK);
	cr_assert_eq(req.route, &cookie_routes[0]);
	req.path = "/auth/login";
	cr_assert_eq(router_match(r, &req, NULL), PC_MATCH_NOT_FOUND);
	router_free(r);
}

Test(router, the_same_table_under_two_prefixes_does_not_collide)
{
	const struct pc_face *faces[] = { &face_a, &face_b };
	struct pc_config c2;
	struct pc_router *r;
	struct pc_errinfo ei = { 0 };

	/* auth and users both at "/x" would collide only if shapes met: they do not */
	pc_config_defaults(&c2);
	cr_assert_eq(pc_config_set(&c2, "users_prefix", "/accounts", &ei), PC_OK);
	cr_assert_eq(router_new(&c2, faces, 2, &r, &ei), PC_OK, "%s", ei.detail);
	router_free(r);
}

static const struct pc_route bad_brace_routes[] = { { "GET", "/{id", h_any, 0 } };
static const struct pc_route bad_many_routes[] = { { "GET", "/{a}/{b}/{c}/{d}/{e}", h_any, 0 } };
static const struct pc_route bad_slash_routes[] = { { "GET", "nolead", h_any, 0 } };

Test(router, malformed_patterns_are_refused_at_mount)
{
	const struct pc_route *tables[] = { bad_brace_routes, bad_many_routes, bad_slash_routes };
	size_t i;

	for (i = 0; i < N(tables); i++) {
		struct pc_mount m = MOUNT(NULL, "", tables[i], 1);
		struct pc_face f = { .name = "bad", .mounts = &m, .nmounts = 1 };
		const struct pc_face *faces[] = { &f };
		struct pc_router *r;
		struct pc_errinfo ei = { 0 };

		cr_assert_eq(router_new(&cfg, faces, 1, &r, &ei), PC_EINVAL, "table %zu", i);
		cr_assert(ei.detail[0] != '\0');
	}
}

Test(router, an_unknown_prefix_setting_is_refused)
{
	struct pc_mount m = MOUNT("no_such_prefix", "", auth_routes, 1);
	struct pc_face f = { .name = "bad", .mounts = &m, .nmounts = 1,
			     .settings = &prefix_layer };
	const struct pc_face *faces[] = { &f };
	struct pc_router *r;
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(router_new(&cfg, faces, 1, &r, &ei), PC_EINVAL);
	cr_assert(strstr(ei.detail, "no_such_prefix") != NULL, "%s", ei.detail);
}

/* ---- routers switched and moved by settings --------------------------------------------- */

struct switches {
	char base[128];
	char path[128];
	bool on;
};
static const struct config_row switch_rows[] = {
	CONFIG_ROW_STR(struct switches, "sw_base", base, "/base", NULL, config_check_prefix, "b"),
	CONFIG_ROW_STR(struct switches, "sw_path", path, "/in", NULL, config_check_prefix, "p"),
	CONFIG_ROW_BOOL(struct switches, "sw_on", on, "true", "o"),
};
static const struct config_layer switch_layer = {
	"switch", switch_rows, N(switch_rows), sizeof(struct switches), NULL,
};
static const struct pc_mount switch_mounts[] = {
	{ .router = "moved", .prefix_setting = "sw_base", .suffix_setting = "sw_path",
	  .enable_setting = "sw_on", .routes = users_routes, .nroutes = N(users_routes) },
};
static const struct pc_face face_sw = { .name = "sw", .mounts = switch_mounts,
				       .nmounts = N(switch_mounts), .settings = &switch_layer };

static void count_route(const char *method, const char *path, const char *face,
			const char *rname, void *arg)
{
	(void)method;
	cr_assert_str_eq(face, "sw");
	cr_assert_str_eq(rname, "moved");
	cr_assert(strncmp(path, "/base/in/", 9) == 0, "%s", path);
	(*(int *)arg)++;
}

Test(router, a_router_is_moved_by_its_path_setting_and_left_out_by_its_switch)
{
	const struct pc_face *faces[] = { &face_sw, &face_a };
	struct pc_config c2;
	struct pc_router *r;
	struct pc_errinfo ei = { 0 };
	int n = 0;

	cr_assert_eq(config_layer_add(&switch_layer, &ei), PC_OK, "%s", ei.detail);
	pc_config_defaults(&c2);
	cr_assert_eq(router_new(&c2, faces, 1, &r, &ei), PC_OK, "%s", ei.detail);
	memset(&req, 0, sizeof(req));
	req.arena = arena;
	req.method = "GET";
	req.path = "/base/in/me";
	cr_assert_eq(router_match(r, &req, NULL), PC_MATCH_OK);
	cr_assert_eq(router_each(r, count_route, &n), PC_OK);
	cr_assert_eq(n, (int)N(users_routes));
	router_free(r);

	/* at alpha's /users it collides, and the message names both routers */
	cr_assert_eq(pc_config_set(&c2, "sw_base", "/users", &ei), PC_OK);
	cr_assert_eq(pc_config_set(&c2, "sw_path", "", &ei), PC_OK);
	cr_assert_eq(router_new(&c2, faces, 2, &r, &ei), PC_EEXISTS);
	cr_assert(strstr(ei.detail, "(sw moved router)") != NULL, "%s", ei.detail);
	cr_assert(strstr(ei.detail, "(alpha)") != NULL, "%s", ei.detail);

	/* switched off, it is not mounted: no collision, and its paths are 404 */
	cr_assert_eq(pc_config_set(&c2, "sw_on", "false", &ei), PC_OK);
	cr_assert_eq(router_new(&c2, faces, 2, &r, &ei), PC_OK, "%s", ei.detail);
	req.path = "/base/in/me";
	cr_assert_eq(router_match(r, &req, NULL), PC_MATCH_NOT_FOUND);
	router_free(r);
}

Test(router, a_switch_that_is_no_boolean_setting_is_refused)
{
	struct pc_mount m = { .router = "x", .prefix_setting = "sw_base",
			      .enable_setting = "sw_path", .routes = users_routes, .nroutes = 1 };
	struct pc_face f = { .name = "bad", .mounts = &m, .nmounts = 1, .settings = &switch_layer };
	const struct pc_face *faces[] = { &f };
	struct pc_errinfo ei = { 0 };
	struct pc_config c2;
	struct pc_router *r;

	(void)config_layer_add(&switch_layer, &ei);
	pc_config_defaults(&c2);
	cr_assert_eq(router_new(&c2, faces, 1, &r, &ei), PC_EINVAL);
	cr_assert(strstr(ei.detail, "no boolean setting sw_path") != NULL, "%s", ei.detail);
}
