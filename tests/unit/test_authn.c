/* The credential checks of PC_R_AUTH routes (authn.c) by a face's auth
 * profile, over a real core: which credential counts, under which cookie
 * name, the CSRF double submit, and the statuses; and the start-up check
 * that every face's mounts and profile fit the settings it declares.
 *
 * Request headers come from libmicrohttpd; this file defines
 * MHD_lookup_connection_value, so the requests here carry the headers that
 * each test sets. */
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "faces/face.h"
#include "helpers.h"
#include "http/internal.h"

/* ---- headers, in place of libmicrohttpd's ----------------------------------------- */

static const char *hdr_auth, *hdr_cookie, *hdr_csrf;

const char *MHD_lookup_connection_value(struct MHD_Connection *connection,
					enum MHD_ValueKind kind, const char *key)
{
	(void)connection;
	if (kind != MHD_HEADER_KIND)
		return NULL;
	if (strcasecmp(key, "Authorization") == 0)
		return hdr_auth;
	if (strcasecmp(key, "Cookie") == 0)
		return hdr_cookie;
	if (strcasecmp(key, "X-CSRF-Token") == 0)
		return hdr_csrf;
	return NULL;
}

/* ---- a face with the CSRF double submit ------------------------------------------------ */

struct csrf_settings {
	struct pc_cookie_conf cookie;
};

static const struct config_row csrf_rows[] = {
	CONFIG_ROW_STR(struct csrf_settings, "test_csrf_cookie_name", cookie.name, "sid", NULL,
		       config_check_cookie_name, "session cookie of the CSRF face"),
};

static const struct config_layer csrf_layer = {
	"test_csrf", csrf_rows, 1, sizeof(struct csrf_settings), NULL,
};

static const struct pc_face csrf_face = {
	.name = "test_csrf",
	.settings = &csrf_layer,
	.auth = {
		.bearer = true,
		.cookie = true,
		.cookie_at = offsetof(struct csrf_settings, cookie),
		.csrf = true,
		.csrf_cookie = "csrf_token",
		.csrf_header = "X-CSRF-Token",
		.claims = &jwt_claims_rfc7519,
	},
};

/* ---- fixture ------------------------------------------------------------------------------ */

static char dir[64];
static struct pc_ctx *ctx;
static struct pc_arena *arena;
static struct http_exchange *x;
static struct pc_user user;
static char jwt[PC_JWT_MAX], session[PC_TOKEN_MAX];
static char cookie_line[256];

static void open_with(const char *cookie_name)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };
	struct pc_user_input in;

	cr_assert_eq(faces_settings_add(&ei), PC_OK, "%s", ei.detail);
	cr_assert_eq(config_layer_add(&csrf_layer, &ei), PC_OK, "%s", ei.detail);
	test_dir_make(dir, sizeof(dir), "pc_authn_");
	test_config(&cfg, dir);
	if (cookie_name != NULL)
		cr_assert_eq(pc_config_set(&cfg, "cookie_name", cookie_name, &ei), PC_OK, "%s", ei.detail);
	test_ctx_open(&cfg, &ctx);
	pc_user_input_init(&in);
	in.email = "arthur@camelot.bt";
	in.password = "pendragon-rex-1066";
	in.password_len = strlen(in.password);
	cr_assert_eq(pc_user_register(ctx, &in, &user, &ei), PC_OK, "%s", ei.detail);
	cr_assert_eq(pc_jwt_issue(ctx, &user, jwt, sizeof(jwt)), PC_OK);
	cr_assert_eq(pc_session_create(ctx, &user, NULL, NULL, session), PC_OK);
	arena = arena_new(0);
	cr_assert_not_null(arena);
	hdr_auth = hdr_cookie = hdr_csrf = NULL;
}

static void open_ctx(void)
{
	open_with(NULL);
}

static void close_ctx(void)
{
	arena_free(arena);
	arena = NULL;
	test_ctx_close(&ctx, dir);
}

TestSuite(authn, .init = open_ctx, .fini = close_ctx);
TestSuite(authn_cfg, .fini = close_ctx);

/* A request of method to a route of face, with the headers set above. */
static int authn(const struct pc_face *face, const char *method, unsigned flags)
{
	x = arena_calloc(arena, sizeof(*x));
	cr_assert_not_null(x);
	x->req.ctx = ctx;
	x->req.arena = arena;
	x->req.impl = x;
	x->req.method = method;
	x->req.path = "/";
	x->req.face = face;
	x->conn = (struct MHD_Connection *)(void *)x; /* any non-NULL: headers come from above */
	return http_authn(&x->req, flags);
}

static const char *bearer(const char *token)
{
	static char line[PC_JWT_MAX + 16];

	snprintf(line, sizeof(line), "Bearer %s", token);
	return line;
}

static const char *cookie(const char *name, const char *value)
{
	snprintf(cookie_line, sizeof(cookie_line), "theme=dark; %s=%s", name, value);
	return cookie_line;
}

#define FU (&face_fastapi_users)
#define AUTHED (PC_R_AUTH | PC_R_ACTIVE)

/* ---- which credential counts -------------------------------------------------------------- */

Test(authn, a_route_without_pc_r_auth_asks_for_nothing)
{
	cr_expect_eq(authn(FU, "GET", 0), 0);
	cr_expect_null(x->req.user);
}

Test(authn, no_credential_is_401)
{
	cr_expect_eq(authn(FU, "GET", AUTHED), 401);
	hdr_auth = "Basic YTpi";
	cr_expect_eq(authn(FU, "GET", AUTHED), 401, "another scheme is no credential");
	hdr_auth = "Bearer ";
	cr_expect_eq(authn(FU, "GET", AUTHED), 401);
}

Test(authn, a_bearer_token_authenticates_with_the_face_s_claims_table)
{
	hdr_auth = bearer(jwt);
	cr_assert_eq(authn(FU, "GET", AUTHED), 0);
	cr_assert_not_null(x->req.user);
	cr_expect_str_eq(x->req.user->id, user.id);
	cr_expect_eq(x->req.cred_kind, PC_CRED_BEARER);
	cr_expect_str_eq(x->req.cred, jwt);
	hdr_auth = "bearer \t";
	cr_expect_eq(authn(FU, "GET", AUTHED), 401);
}

Test(authn, a_token_of_another_claims_table_is_401)
{
	static const struct jwt_claims_table typed = {
		.subject = "user_id", .token_id = "jti", .audience = false,
		.type_claim = "token_type", .access_type = "access",
	};
	struct pc_face other = face_fastapi_users;
	char t[PC_JWT_MAX];

	other.auth.claims = &typed;
	hdr_auth = bearer(jwt);
	cr_expect_eq(authn(&other, "GET", AUTHED), 401, "sub/aud token on a user_id face");
	cr_assert_eq(auth_jwt_issue(ctx, &typed, &user, t, sizeof(t)), PC_OK);
	hdr_auth = bearer(t);
	cr_expect_eq(authn(&other, "GET", AUTHED), 0);
	cr_expect_eq(authn(FU, "GET", AUTHED), 401);
}

Test(authn, the_session_cookie_counts_under_the_face_s_cookie_name)
{
	hdr_cookie = cookie("fastapiusersauth", session);
	cr_assert_eq(authn(FU, "GET", AUTHED), 0);
	cr_expect_eq(x->req.cred_kind, PC_CRED_COOKIE);
	cr_expect_str_eq(x->req.user->id, user.id);
	hdr_cookie = cookie("sid", session);
	cr_expect_eq(authn(FU, "GET", AUTHED), 401, "another face's cookie name");
}

Test(authn_cfg, a_renamed_cookie_is_read_under_its_new_name_only)
{
	open_with("camelot_sid");
	hdr_cookie = cookie("camelot_sid", session);
	cr_expect_eq(authn(FU, "GET", AUTHED), 0);
	hdr_cookie = cookie("fastapiusersauth", session);
	cr_expect_eq(authn(FU, "GET", AUTHED), 401);
}

Test(authn, a_failed_bearer_does_not_fall_back_to_the_cookie)
{
	hdr_auth = bearer("not.a.token");
	hdr_cookie = cookie("fastapiusersauth", session);
	cr_expect_eq(authn(FU, "GET", AUTHED), 401);
	cr_expect_null(x->req.user);
	cr_expect_eq(x->req.cred_kind, PC_CRED_NONE);
}

Test(authn, bearer_only_and_cookie_only_routes_ignore_the_other_credential)
{
	hdr_cookie = cookie("fastapiusersauth", session);
	cr_expect_eq(authn(FU, "POST", AUTHED | PC_R_BEARER), 401);
	hdr_cookie = NULL;
	hdr_auth = bearer(jwt);
	cr_expect_eq(authn(FU, "POST", AUTHED | PC_R_COOKIE), 401);
	cr_expect_eq(authn(FU, "POST", AUTHED | PC_R_BEARER), 0);
}

Test(authn, a_face_without_auth_takes_no_credential)
{
	hdr_auth = bearer(jwt);
	hdr_cookie = cookie("fastapiusersauth", session);
	cr_expect_eq(authn(&face_native, "GET", AUTHED), 401);
}

/* ---- active, superuser --------------------------------------------------------------------- */

Test(authn, an_inactive_user_is_401_on_active_routes_only)
{
	struct pc_user_input patch;
	struct pc_errinfo ei = { 0 };

	pc_user_input_init(&patch);
	patch.is_active = 0;
	cr_assert_eq(pc_user_update(ctx, &user, &patch, PC_UPDATE_PRIVILEGED, &ei), PC_OK);
	hdr_auth = bearer(jwt);
	cr_expect_eq(authn(FU, "GET", AUTHED), 401);
	cr_expect_null(x->req.user);
	cr_expect_eq(authn(FU, "GET", PC_R_AUTH), 0);
	cr_expect_eq(x->req.user->is_active, false);
}

Test(authn, a_user_who_is_not_a_superuser_is_403_on_superuser_routes)
{
	struct pc_user_input patch;
	struct pc_errinfo ei = { 0 };

	hdr_auth = bearer(jwt);
	cr_expect_eq(authn(FU, "GET", AUTHED | PC_R_SUPERUSER), 403);
	pc_user_input_init(&patch);
	patch.is_superuser = 1;
	cr_assert_eq(pc_user_update(ctx, &user, &patch, PC_UPDATE_PRIVILEGED, &ei), PC_OK);
	cr_expect_eq(authn(FU, "GET", AUTHED | PC_R_SUPERUSER), 0);
}

/* ---- CSRF double submit -------------------------------------------------------------------- */

Test(authn, a_cookie_on_an_unsafe_method_needs_the_double_submit_where_the_face_asks)
{
	char line[256];

	snprintf(line, sizeof(line), "sid=%s; csrf_token=k3y-0f-thE-form", session);
	hdr_cookie = line;
	cr_expect_eq(authn(&csrf_face, "GET", AUTHED), 0, "safe methods pass");
	cr_expect_eq(authn(&csrf_face, "POST", AUTHED), 403, "no header");
	cr_expect_null(x->req.user);
	hdr_csrf = "k3y-0f-thE-forM";
	cr_expect_eq(authn(&csrf_face, "DELETE", AUTHED), 403, "a different header");
	hdr_csrf = "";
	cr_expect_eq(authn(&csrf_face, "PATCH", AUTHED), 403, "an empty header");
	hdr_csrf = "k3y-0f-thE-form";
	cr_expect_eq(authn(&csrf_face, "POST", AUTHED), 0, "header equals the cookie");
	snprintf(line, sizeof(line), "sid=%s", session);
	cr_expect_eq(authn(&csrf_face, "POST", AUTHED), 403, "a header but no CSRF cookie");
	/* fastapi_users has no double submit; a bearer token needs none. */
	hdr_csrf = NULL;
	hdr_cookie = cookie("fastapiusersauth", session);
	cr_expect_eq(authn(FU, "POST", AUTHED), 0);
	hdr_cookie = NULL;
	hdr_auth = bearer(jwt);
	cr_expect_eq(authn(&csrf_face, "POST", AUTHED), 0);
}

Test(authn, a_jwt_cookie_double_submit_compares_the_header_with_the_tokens_claim)
{
	static char line[PC_JWT_MAX + 128];
	struct refresh_pair pair;
	struct pc_jwt_claims c;

	cr_assert_eq(refresh_login(ctx, &jwt_claims_flask, &user, &pair), PC_OK);
	cr_assert_eq(auth_jwt_claims(ctx, &jwt_claims_flask, pair.access, &c), PC_OK);
	/* the CSRF cookie says one thing, the token's claim another: the claim counts */
	snprintf(line, sizeof(line), "access_token_cookie=%s; csrf_access_token=planted",
		 pair.access);
	hdr_cookie = line;
	cr_expect_eq(authn(&face_user_account, "GET", AUTHED), 0, "safe methods pass");
	cr_expect_eq(x->req.cred_kind, PC_CRED_COOKIE, "the cookie holds a JWT");
	cr_expect_eq(authn(&face_user_account, "POST", AUTHED), 403, "no header");
	cr_expect_eq(x->req.errinfo.code, PC_V_CSRF_MISSING);
	hdr_csrf = "planted";
	cr_expect_eq(authn(&face_user_account, "POST", AUTHED), 403, "the cookie's value");
	cr_expect_eq(x->req.errinfo.code, PC_V_CSRF_MISMATCH);
	cr_expect_null(x->req.user);
	hdr_csrf = c.csrf;
	cr_expect_eq(authn(&face_user_account, "DELETE", AUTHED), 0, "the claim");
	/* a bearer token needs no header */
	hdr_csrf = NULL;
	hdr_cookie = NULL;
	hdr_auth = bearer(pair.access);
	cr_expect_eq(authn(&face_user_account, "POST", AUTHED), 0);
	/* and the fastapi-users token fits no claim of this face */
	hdr_auth = bearer(jwt);
	cr_expect_eq(authn(&face_user_account, "GET", AUTHED), 401);
}

/* ---- what faces declare, checked at start-up ------------------------------------------------ */

Test(authn, every_face_s_mounts_and_profile_fit_the_settings_it_declares)
{
	struct pc_router *r;
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(router_new(&ctx->cfg, faces_all, faces_count, &r, &ei), PC_OK, "%s", ei.detail);
	router_free(r);
}

Test(authn, a_misspelt_prefix_setting_fails_start_up)
{
	static const struct pc_route routes[] = { { "GET", "/me", NULL, 0 } };
	static const struct pc_mount misspelt[] = {
		{ .prefix_setting = "user_prefix", .suffix = "", .routes = routes, .nroutes = 1 }
	};
	struct pc_face f = face_fastapi_users;
	const struct pc_face *faces[] = { &f };
	struct pc_router *r;
	struct pc_errinfo ei = { 0 };

	f.mounts = misspelt;
	f.nmounts = 1;
	cr_expect_eq(router_new(&ctx->cfg, faces, 1, &r, &ei), PC_EINVAL);
	cr_expect(strstr(ei.detail, "user_prefix") != NULL, "%s", ei.detail);
}

Test(authn, a_face_whose_profile_does_not_fit_fails_start_up)
{
	static const struct config_layer unregistered = {
		"nowhere", csrf_rows, 1, sizeof(struct csrf_settings), NULL,
	};
	struct pc_face f = csrf_face;
	const struct pc_face *faces[] = { &f };
	struct pc_router *r;
	struct pc_errinfo ei = { 0 };

	f.settings = &unregistered;
	cr_expect_eq(router_new(&ctx->cfg, faces, 1, &r, &ei), PC_EINVAL, "settings not registered");
	f = csrf_face;
	f.auth.cookie_at = sizeof(struct csrf_settings);
	cr_expect_eq(router_new(&ctx->cfg, faces, 1, &r, &ei), PC_EINVAL, "cookie outside");
	f = csrf_face;
	f.auth.claims = NULL;
	cr_expect_eq(router_new(&ctx->cfg, faces, 1, &r, &ei), PC_EINVAL, "bearer, no claims");
	f = csrf_face;
	f.auth.csrf_header = NULL;
	cr_expect_eq(router_new(&ctx->cfg, faces, 1, &r, &ei), PC_EINVAL, "CSRF, no header");
}
