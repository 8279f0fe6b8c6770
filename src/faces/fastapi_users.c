/*
 * fastapi_users.c - the fastapi-users API (seeds 000 and 003).
 *
 * Mounted as fastapi-users mounts its routers, each with its own switch
 * (<router>_router = false leaves it out) and path under its prefix:
 *   auth_prefix + jwt_auth_path (""):         the "jwt" auth backend (bearer):
 *                                             login, logout
 *   auth_prefix + cookie_auth_path ("/cookie"): the "cookie" auth backend
 *                                             (database sessions)
 *   auth_prefix + register_path (""):         register
 *   auth_prefix + reset_password_path (""):   forgot-password, reset-password
 *   auth_prefix + verify_path (""):           request-verify-token, verify
 *   users_prefix:                             users router
 *   /                                         /protected, the route README 003
 *                                             guards with current_user()
 * The defaults are the seed's layout (/auth/login, /auth/register,
 * /users/me); jwt_auth_path=/jwt gives the documentation's (/auth/jwt/login,
 * /auth/cookie/login).
 *
 * Errors are {"detail": "CODE"}, {"detail": {"code": .., "reason": ..}} for
 * password policy failures, and FastAPI's 422 list for validation.
 *
 * Authentication (the face's auth profile): bearer JWTs with RFC 7519's
 * claims (sub, jti, aud = jwt_audience), and the session cookie of the
 * cookie backend, named and shaped by this face's settings (cookie_name,
 * cookie_secure, cookie_httponly, cookie_samesite, cookie_domain); no CSRF
 * double submit, as fastapi-users has none. The settings (those and the two
 * prefixes) are rows of this file, registered with the configuration.
 *
 * Reads top-down: tables, error maps, readers, renderers, handlers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "faces/face.h"
#include "faces/errors.h"

static pc_handler_fn fu_register, fu_jwt_login, fu_jwt_logout, fu_cookie_login,
	fu_cookie_logout, fu_me_get, fu_me_patch, fu_user_get, fu_user_patch, fu_user_delete,
	fu_protected, fu_forgot_password, fu_reset_password, fu_request_verify, fu_verify,
	fu_oauth_authorize, fu_oauth_callback, fu_oauth_assoc_authorize, fu_oauth_assoc_callback,
	fu_reset_page, fu_verify_page, fu_me_signins, fu_me_signin_end, fu_me_signins_end,
	fu_user_signins, fu_user_signin_end, fu_user_signins_end, fu_user_unlock, fu_audit;

#define AUTHED (PC_R_AUTH | PC_R_ACTIVE)

static const struct pc_route fu_jwt_routes[] = {
	{ "POST", "/login", fu_jwt_login, PC_R_FORM | PC_R_SLOW },
	{ "POST", "/logout", fu_jwt_logout, AUTHED | PC_R_BEARER | PC_R_COMMITS },
};

static const struct pc_route fu_register_routes[] = {
	{ "POST", "/register", fu_register, PC_R_JSON | PC_R_SLOW },
};

static const struct pc_route fu_reset_routes[] = {
	{ "POST", "/forgot-password", fu_forgot_password, PC_R_JSON },
	{ "POST", "/reset-password", fu_reset_password, PC_R_JSON | PC_R_SLOW },
};

static const struct pc_route fu_verify_routes[] = {
	{ "POST", "/request-verify-token", fu_request_verify, PC_R_JSON },
	{ "POST", "/verify", fu_verify, PC_R_JSON },
};

/* The pages behind the default reset_url and verify_url (pages.c). */
static const struct pc_route fu_page_routes[] = {
	{ "GET", "/reset-password", fu_reset_page, 0 },
	{ "GET", "/verify", fu_verify_page, 0 },
};

static const struct pc_route fu_cookie_routes[] = {
	{ "POST", "/login", fu_cookie_login, PC_R_FORM | PC_R_SLOW },
	{ "POST", "/logout", fu_cookie_logout, AUTHED | PC_R_COOKIE | PC_R_COMMITS },
};

static const struct pc_route fu_users_routes[] = {
	{ "GET", "/me", fu_me_get, AUTHED },
	{ "PATCH", "/me", fu_me_patch, AUTHED | PC_R_JSON | PC_R_SLOW },
	{ "GET", "/me/sessions", fu_me_signins, AUTHED },
	{ "DELETE", "/me/sessions", fu_me_signins_end, AUTHED | PC_R_COMMITS },
	{ "DELETE", "/me/sessions/{sid}", fu_me_signin_end, AUTHED | PC_R_COMMITS },
	{ "GET", "/{id}/sessions", fu_user_signins, AUTHED | PC_R_SUPERUSER },
	{ "DELETE", "/{id}/sessions", fu_user_signins_end, AUTHED | PC_R_SUPERUSER | PC_R_COMMITS },
	{ "DELETE", "/{id}/sessions/{sid}", fu_user_signin_end, AUTHED | PC_R_SUPERUSER | PC_R_COMMITS },
	{ "POST", "/{id}/unlock", fu_user_unlock, AUTHED | PC_R_SUPERUSER },
	{ "GET", "/{id}", fu_user_get, AUTHED | PC_R_SUPERUSER },
	{ "PATCH", "/{id}", fu_user_patch, AUTHED | PC_R_SUPERUSER | PC_R_JSON | PC_R_SLOW },
	{ "DELETE", "/{id}", fu_user_delete, AUTHED | PC_R_SUPERUSER },
};

/* One router per configured provider, told apart by the {provider} segment
 * (an unknown one is 404); the callbacks talk to the provider: workers. */
static const struct pc_route fu_oauth_routes[] = {
	{ "GET", "/{provider}/authorize", fu_oauth_authorize, PC_R_SLOW },
	{ "GET", "/{provider}/callback", fu_oauth_callback, PC_R_SLOW },
};

static const struct pc_route fu_oauth_assoc_routes[] = {
	{ "GET", "/{provider}/associate/authorize", fu_oauth_assoc_authorize, AUTHED | PC_R_SLOW },
	{ "GET", "/{provider}/associate/callback", fu_oauth_assoc_callback, AUTHED | PC_R_SLOW },
};

static const struct pc_route fu_admin_routes[] = {
	{ "GET", "/audit", fu_audit, AUTHED | PC_R_SUPERUSER },
};

static const struct pc_route fu_root_routes[] = {
	{ "GET", "/protected", fu_protected, AUTHED },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- settings: rows of this face, values in the configuration's layer area ---- */

/* The routers, in mount order: their switches and paths. */
enum fu_router { FU_JWT, FU_COOKIE, FU_REGISTER, FU_RESET, FU_VERIFY, FU_USERS, FU_OAUTH,
		 FU_OAUTH_ASSOC, FU_PAGES, FU_ADMIN, FU__ROUTERS };

struct fu_settings {
	char auth_prefix[128];  /* register, reset, verify and both auth backends */
	char oauth_prefix[128]; /* the OAuth routers: {oauth_prefix}/{provider}/... */
	char users_prefix[128]; /* users router */
	char admin_prefix[128]; /* admin router: /audit */
	char path[FU__ROUTERS][128]; /* under auth_prefix (FU_USERS: unused) */
	bool on[FU__ROUTERS];
	struct pc_cookie_conf cookie;
	bool require_current_password; /* PATCH /me: a new password or email needs it */
};

#define FU_STR(name, member, def, ch, chk, help) \
	CONFIG_ROW_STR(struct fu_settings, name, member, def, ch, chk, help)
#define FU_BOOL(name, member, help) CONFIG_ROW_BOOL(struct fu_settings, name, member, "true", help)

static const struct config_row fu_setting_rows[] = {
	FU_STR("auth_prefix", auth_prefix, "/auth", NULL, config_check_prefix,
	       "prefix of the fastapi_users auth and register routes"),
	FU_STR("users_prefix", users_prefix, "/users", NULL, config_check_prefix,
	       "prefix of the fastapi_users users routes"),
	FU_STR("admin_prefix", admin_prefix, "/admin", NULL, config_check_prefix,
	       "prefix of the admin router (GET /audit: the audit log, superusers only)"),
	FU_BOOL("admin_router", on[FU_ADMIN], "mount the admin router (GET {admin_prefix}/audit)"),
	FU_STR("jwt_auth_path", path[FU_JWT], "", NULL, config_check_prefix,
	       "path of the JWT auth router (login, logout) under auth_prefix; the docs use /jwt"),
	FU_STR("cookie_auth_path", path[FU_COOKIE], "/cookie", NULL, config_check_prefix,
	       "path of the cookie auth router under auth_prefix"),
	FU_STR("register_path", path[FU_REGISTER], "", NULL, config_check_prefix,
	       "path of the register router under auth_prefix"),
	FU_STR("reset_password_path", path[FU_RESET], "", NULL, config_check_prefix,
	       "path of the reset password router under auth_prefix"),
	FU_STR("verify_path", path[FU_VERIFY], "", NULL, config_check_prefix,
	       "path of the verify router under auth_prefix"),
	FU_BOOL("jwt_auth_router", on[FU_JWT], "mount the JWT auth router (login, logout)"),
	FU_BOOL("cookie_auth_router", on[FU_COOKIE], "mount the cookie auth router"),
	FU_BOOL("register_router", on[FU_REGISTER], "mount the register router"),
	FU_BOOL("reset_password_router", on[FU_RESET],
		"mount the reset password router (forgot-password, reset-password)"),
	FU_BOOL("verify_router", on[FU_VERIFY],
		"mount the verify router (request-verify-token, verify)"),
	FU_BOOL("users_router", on[FU_USERS], "mount the users router (/me, /{id})"),
	FU_STR("oauth_prefix", oauth_prefix, "/auth", NULL, config_check_prefix,
	       "prefix of the OAuth routers: {oauth_prefix}/{provider}/authorize, /callback"),
	FU_BOOL("oauth_router", on[FU_OAUTH],
		"mount the OAuth router of each provider (authorize, callback)"),
	FU_BOOL("oauth_associate_router", on[FU_OAUTH_ASSOC],
		"mount the OAuth associate router of each provider (associate/authorize, "
		"associate/callback)"),
	FU_BOOL("pages_router", on[FU_PAGES],
		"mount the HTML pages of the mailed links (GET /reset-password, GET /verify), "
		"which complete the flows through the reset password and verify routers"),
	FU_STR("cookie_name", cookie.name, "fastapiusersauth", NULL, config_check_cookie_name,
	       "session cookie name"),
	CONFIG_ROW_BOOL(struct fu_settings, "cookie_secure", cookie.secure, "true",
			"Secure attribute on cookies (set false for plain-HTTP development)"),
	CONFIG_ROW_BOOL(struct fu_settings, "cookie_httponly", cookie.httponly, "true",
			"HttpOnly attribute on the session cookie"),
	FU_STR("cookie_samesite", cookie.samesite, "lax", "lax|strict|none", NULL,
	       "SameSite attribute of cookies"),
	FU_STR("cookie_domain", cookie.domain, "", NULL, NULL,
	       "Domain attribute of cookies; empty: host-only"),
	CONFIG_ROW_BOOL(struct fu_settings, "require_current_password", require_current_password,
			"false", "PATCH /users/me with a new password or email must carry the "
			"current one as current_password (fastapi-users does not ask: off)"),
};

static const char *fu_settings_rule(const void *values, const char **field)
{
	const struct fu_settings *s = values;

	if (strcmp(s->cookie.samesite, "none") == 0 && !s->cookie.secure) {
		*field = "cookie_samesite";
		return "cookie_samesite=none requires cookie_secure=true";
	}
	return NULL;
}

static const struct config_layer fu_settings = {
	.name = "fastapi_users",
	.rows = fu_setting_rows,
	.nrows = N(fu_setting_rows),
	.size = sizeof(struct fu_settings),
	.rule = fu_settings_rule,
};

#define FU_MOUNT(name, prefix, path, on, table) \
	{ .router = name, .prefix_setting = prefix, .suffix_setting = path, \
	  .enable_setting = on, .routes = table, .nroutes = N(table) }

static const struct pc_mount fu_mounts[] = {
	FU_MOUNT("jwt auth", "auth_prefix", "jwt_auth_path", "jwt_auth_router", fu_jwt_routes),
	FU_MOUNT("cookie auth", "auth_prefix", "cookie_auth_path", "cookie_auth_router",
		 fu_cookie_routes),
	FU_MOUNT("register", "auth_prefix", "register_path", "register_router", fu_register_routes),
	FU_MOUNT("reset password", "auth_prefix", "reset_password_path", "reset_password_router",
		 fu_reset_routes),
	FU_MOUNT("verify", "auth_prefix", "verify_path", "verify_router", fu_verify_routes),
	FU_MOUNT("users", "users_prefix", NULL, "users_router", fu_users_routes),
	FU_MOUNT("oauth", "oauth_prefix", NULL, "oauth_router", fu_oauth_routes),
	FU_MOUNT("oauth associate", "oauth_prefix", NULL, "oauth_associate_router",
		 fu_oauth_assoc_routes),
	FU_MOUNT("admin", "admin_prefix", NULL, "admin_router", fu_admin_routes),
	FU_MOUNT("protected", NULL, NULL, NULL, fu_root_routes),
	FU_MOUNT("pages", NULL, NULL, "pages_router", fu_page_routes),
};

/* ---- error maps: core error -> status and fastapi-users code ---------------- */

struct fu_errmap {
	enum pc_err err;
	int status;
	const char *code;
	bool with_reason; /* {"detail": {"code", "reason"}} */
};

static const struct fu_errmap fu_register_errs[] = {
	{ PC_EEXISTS, 400, "REGISTER_USER_ALREADY_EXISTS", false },
	{ PC_EBADPASSWORD, 400, "REGISTER_INVALID_PASSWORD", true },
	{ PC_ELIMITED, 429, "TOO_MANY_REQUESTS", false }, /* Retry-After */
	{ PC_OK, 0, NULL, false },
};

static const struct fu_errmap fu_login_errs[] = {
	{ PC_EBADCREDS, 400, "LOGIN_BAD_CREDENTIALS", false },
	{ PC_ENOTVERIFIED, 400, "LOGIN_USER_NOT_VERIFIED", false },
	/* fastapi-users has no second step: a user with TOTP on logs in at
	 * MyAuth's /login/oauth + /login/totp, never here with a password alone */
	{ PC_ESECONDFACTOR, 400, "LOGIN_TOTP_REQUIRED", false },
	/* too many logins of this client, or the identifier locked (Retry-After) */
	{ PC_ELIMITED, 429, "LOGIN_TOO_MANY_ATTEMPTS", false },
	{ PC_OK, 0, NULL, false },
};

static const struct fu_errmap fu_update_errs[] = {
	{ PC_EEXISTS, 400, "UPDATE_USER_EMAIL_ALREADY_EXISTS", false },
	{ PC_EBADPASSWORD, 400, "UPDATE_USER_INVALID_PASSWORD", true },
	{ PC_ENOTFOUND, 404, "Not Found", false },
	{ PC_OK, 0, NULL, false },
};

static const struct fu_errmap fu_reset_errs[] = {
	{ PC_EUNAUTHORIZED, 400, "RESET_PASSWORD_BAD_TOKEN", false },
	{ PC_EBADPASSWORD, 400, "RESET_PASSWORD_INVALID_PASSWORD", true },
	{ PC_OK, 0, NULL, false },
};

static const struct fu_errmap fu_verify_errs[] = {
	{ PC_EUNAUTHORIZED, 400, "VERIFY_USER_BAD_TOKEN", false },
	{ PC_EALREADY, 400, "VERIFY_USER_ALREADY_VERIFIED", false },
	{ PC_OK, 0, NULL, false },
};

/* forgot-password, request-verify-token: 202 whatever the address; only a
 * malformed one (422) or a failing server (500) answers otherwise. */
static const struct fu_errmap fu_accepted_errs[] = {
	{ PC_ELIMITED, 429, "TOO_MANY_REQUESTS", false }, /* Retry-After */
	{ PC_OK, 0, NULL, false },
};

static const struct fu_errmap fu_lookup_errs[] = {
	{ PC_ENOTFOUND, 404, "Not Found", false },
	{ PC_OK, 0, NULL, false },
};

/* ---- renderers -------------------------------------------------------------- */

static void fu_render_error(struct pc_req *req, struct pc_resp *resp, int status,
			    const struct pc_errinfo *ei)
{
	json_t *body;

	if (status == 422 && ei != NULL)
		body = fastapi_validation_new(ei);
	else
		body = json_pack("{s:s}", "detail", resp_reason(status));
	resp_json(resp, status, req_json_keep(req, body));
}

static enum pc_err fu_detail(struct pc_req *req, struct pc_resp *resp, int status,
			     const char *code, const char *reason)
{
	json_t *body;

	if (reason != NULL)
		body = json_pack("{s:{s:s, s:s}}", "detail", "code", code, "reason", reason);
	else
		body = json_pack("{s:s}", "detail", code);
	return resp_json(resp, status, req_json_keep(req, body));
}

/* Renders err through map; validation errors as 422; the rest as 500/503. */
static enum pc_err fu_fail(struct pc_req *req, struct pc_resp *resp, enum pc_err err,
			   const struct fu_errmap *map)
{
	char reason[128];

	for (; map->code != NULL; map++) {
		if (map->err == err)
			return fu_detail(req, resp, map->status, map->code, !map->with_reason ? NULL :
					 fastapi_password_reason(&req->errinfo, reason, sizeof(reason)));
	}
	if (err == PC_EINVAL) {
		fu_render_error(req, resp, 422, &req->errinfo);
		return PC_OK;
	}
	fu_render_error(req, resp, err == PC_EBUSY || err == PC_EUNAVAILABLE ? 503 : 500, NULL);
	return PC_OK;
}

/* The user's linked provider accounts as JSON text: [{"id", "oauth_name",
 * "account_id", "account_email"}], never a token. With no provider
 * configured there is nothing to read: [] without a query. A read that
 * fails answers [] (the user itself was read). */
static const char *fu_oauth_accounts(struct pc_req *req, const struct pc_user *u)
{
	struct oauth_account links[OAUTH_ACCOUNTS_MAX];
	size_t n = 0;
	json_t *a;
	char *text;

	if (pc_ctx_config(req->ctx)->oauth_providers[0] == '\0' ||
	    oauth_accounts(req->ctx, u->id, links, &n) != PC_OK)
		return "[]";
	a = req_json_keep(req, json_array());
	for (size_t i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}", "id", links[i].id,
						   "oauth_name", links[i].oauth_name,
						   "account_id", links[i].account_id,
						   "account_email", links[i].account_email));
	text = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
	if (text == NULL)
		return "[]";
	arena_defer(req->arena, free, text);
	return text;
}

/* UserRead: written directly, as it answers every /users/me. */
static enum pc_err fu_user_render(struct pc_req *req, struct pc_resp *resp, int status,
				  const struct pc_user *u)
{
	struct pc_jw w;

	jw_init(&w, req->arena);
	jw_str(&w, "id", u->id);
	jw_str(&w, "email", u->email[0] != '\0' ? u->email : NULL); /* null: a username-only user */
	jw_bool(&w, "is_active", u->is_active);
	jw_bool(&w, "is_superuser", u->is_superuser);
	jw_bool(&w, "is_verified", u->is_verified);
	if (u->username[0] != '\0')
		jw_str(&w, "username", u->username);
	if (u->full_name[0] != '\0')
		jw_str(&w, "full_name", u->full_name);
	jw_raw(&w, "oauth_accounts", fu_oauth_accounts(req, u));
	return resp_jw(resp, status, &w);
}

/* ---- readers ------------------------------------------------------------------ */

/* {"email": EmailStr}: presence and type here, the address itself in core. */
static enum pc_err fu_read_email(struct pc_req *req, const char **email)
{
	return req_json_str(req, "email", true, email);
}

/* {"token": str, "password": str} */
static enum pc_err fu_read_reset(struct pc_req *req, const char **token, const char **password)
{
	enum pc_err err = req_json_str(req, "token", true, token);

	if (err == PC_OK)
		err = req_json_str(req, "password", true, password);
	return err;
}

/* ---- handlers: register and the two auth backends ------------------------------ */

static enum pc_err fu_register(struct pc_req *req, struct pc_resp *resp)
{
	char client[PC_CLIENT_KEY_MAX];
	struct pc_user_input in;
	struct pc_user u;
	enum pc_err err = fastapi_read_user(req, true, true, &in);

	if (err == PC_OK)
		err = face_register_check(req, resp, client);
	if (err == PC_OK)
		err = pc_user_register(req->ctx, &in, &u, &req->errinfo);
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_register_errs);
	face_register_count(req, client);
	return fu_user_render(req, resp, 201, &u);
}

/* Shared by both backends: read the form, count the client's login, check
 * the password (PC_ELIMITED, Retry-After set: the client or the identifier
 * is over its limit). */
static enum pc_err fu_login_user(struct pc_req *req, struct pc_resp *resp, struct pc_user *u)
{
	const char *username, *password;
	enum pc_err err = fastapi_read_password_form(req, &username, &password);

	if (err == PC_OK)
		err = face_limit_client(req, resp, PC_LIMIT_LOGIN_IP);
	if (err != PC_OK)
		return err;
	err = pc_login(req->ctx, username, password, strlen(password), u);
	if (err == PC_ELIMITED)
		err = face_login_locked(req, resp, username);
	return err;
}

static enum pc_err fu_jwt_login(struct pc_req *req, struct pc_resp *resp)
{
	char token[PC_JWT_MAX];
	struct pc_user u;
	enum pc_err err = fu_login_user(req, resp, &u);

	if (err == PC_OK)
		err = pc_jwt_issue(req->ctx, &u, token, sizeof(token));
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_login_errs);
	return resp_json(resp, 200, req_json_keep(req,
		json_pack("{s:s, s:s}", "access_token", token, "token_type", "bearer")));
}

static enum pc_err fu_jwt_logout(struct pc_req *req, struct pc_resp *resp)
{
	enum pc_err err = pc_jwt_revoke(req->ctx, req->cred);

	if (err == PC_EUNAUTHORIZED) {
		fu_render_error(req, resp, 401, NULL);
		return PC_OK;
	}
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_lookup_errs);
	return resp_status(resp, 204);
}

/* The session cookie as this face's settings shape it (router_new has
 * checked at start-up that they are registered). */
static struct pc_cookie fu_cookie(const struct pc_config *cfg, const char *value, int max_age)
{
	const struct pc_cookie_conf *ck = face_cookie_conf(&face_fastapi_users, cfg);
	struct pc_cookie c = {
		.name = ck->name, .value = value, .max_age = max_age, .path = "/",
		.domain = ck->domain, .samesite = ck->samesite,
		.secure = ck->secure, .httponly = ck->httponly,
	};
	return c;
}

static enum pc_err fu_cookie_login(struct pc_req *req, struct pc_resp *resp)
{
	const struct pc_config *cfg = pc_ctx_config(req->ctx);
	char token[PC_TOKEN_MAX];
	struct pc_cookie c;
	struct pc_user u;
	enum pc_err err = fu_login_user(req, resp, &u);

	if (err == PC_OK)
		err = pc_session_create(req->ctx, &u, req->client_ip,
					req_header_get(req, "User-Agent"), token);
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_login_errs);
	c = fu_cookie(cfg, arena_strdup(req->arena, token), cfg->session_lifetime_seconds);
	crypto_wipe(token, sizeof(token));
	err = resp_cookie_set(resp, &c);
	if (err != PC_OK)
		return err;
	return resp_status(resp, 204);
}

static enum pc_err fu_cookie_logout(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_cookie c = fu_cookie(pc_ctx_config(req->ctx), "", 0);
	enum pc_err err = pc_session_end(req->ctx, req->cred);

	if (err != PC_OK && err != PC_ENOTFOUND)
		return fu_fail(req, resp, err, fu_lookup_errs);
	err = resp_cookie_set(resp, &c);
	if (err != PC_OK)
		return err;
	return resp_status(resp, 204);
}

/* ---- handlers: reset password and verify routers ----------------------------------- */

static enum pc_err fu_forgot_password(struct pc_req *req, struct pc_resp *resp)
{
	const char *email;
	enum pc_err err = fu_read_email(req, &email);

	if (err == PC_OK)
		err = face_limit_mail(req, resp, email);
	if (err == PC_OK)
		err = pc_password_forgot(req->ctx, email, &req->errinfo);
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_accepted_errs);
	return resp_json(resp, 202, json_null());
}

static enum pc_err fu_reset_password(struct pc_req *req, struct pc_resp *resp)
{
	const char *token, *password;
	enum pc_err err = fu_read_reset(req, &token, &password);

	if (err == PC_OK)
		err = pc_password_reset(req->ctx, token, password, strlen(password), NULL,
					&req->errinfo);
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_reset_errs);
	return resp_json(resp, 200, json_null());
}

static enum pc_err fu_request_verify(struct pc_req *req, struct pc_resp *resp)
{
	const char *email;
	enum pc_err err = fu_read_email(req, &email);

	if (err == PC_OK)
		err = face_limit_mail(req, resp, email);
	if (err == PC_OK)
		err = pc_verify_request(req->ctx, email, &req->errinfo);
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_accepted_errs);
	return resp_json(resp, 202, json_null());
}

static enum pc_err fu_verify(struct pc_req *req, struct pc_resp *resp)
{
	const char *token;
	struct pc_user u;
	enum pc_err err = req_json_str(req, "token", true, &token);

	if (err == PC_OK)
		err = pc_verify(req->ctx, token, &u);
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_verify_errs);
	return fu_user_render(req, resp, 200, &u);
}

/* ---- handlers: the pages of the mailed links ----------------------------------------- */

/* The page of kind for ?token=, posting to auth_prefix + the router's path
 * + what. A missing or malformed token is the API's own 400 (the code a
 * POST of it would get); a router that is not mounted, 404. */
static enum pc_err fu_page(struct pc_req *req, struct pc_resp *resp, enum page_kind kind)
{
	const struct fu_settings *s = config_layer_get(pc_ctx_config(req->ctx), &fu_settings);
	enum fu_router r = kind == PAGE_RESET ? FU_RESET : FU_VERIFY;
	const char *token = req_query_get(req, "token");
	char api[3 * 128 + 32];

	if (!s->on[r]) {
		fu_render_error(req, resp, 404, NULL);
		return PC_OK;
	}
	if (token == NULL || !crypto_token_shape_ok(token))
		return fu_detail(req, resp, 400, kind == PAGE_RESET ? "RESET_PASSWORD_BAD_TOKEN" :
					      "VERIFY_USER_BAD_TOKEN", NULL);
	snprintf(api, sizeof(api), "%s%s%s", s->auth_prefix, s->path[r],
		 kind == PAGE_RESET ? "/reset-password" : "/verify");
	return page_render(req, resp, kind, token, api);
}

static enum pc_err fu_reset_page(struct pc_req *req, struct pc_resp *resp)
{
	return fu_page(req, resp, PAGE_RESET);
}

static enum pc_err fu_verify_page(struct pc_req *req, struct pc_resp *resp)
{
	return fu_page(req, resp, PAGE_VERIFY);
}

/* ---- handlers: users router ----------------------------------------------------- */

static enum pc_err fu_me_get(struct pc_req *req, struct pc_resp *resp)
{
	return fu_user_render(req, resp, 200, req->user);
}

/* PATCH: privileged fields count only when a superuser sends them. */
static enum pc_err fu_patch(struct pc_req *req, struct pc_resp *resp, struct pc_user *target)
{
	unsigned flags = req->user->is_superuser ? PC_UPDATE_PRIVILEGED : 0;
	struct pc_user_input in;
	enum pc_err err = fastapi_read_user(req, false, true, &in);

	if (err == PC_OK)
		err = pc_user_update(req->ctx, target, &in, flags, &req->errinfo);
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_update_errs);
	return fu_user_render(req, resp, 200, target);
}

/* With require_current_password, a new password or email needs the current
 * password (current_password), unless the user has none: 400
 * UPDATE_USER_BAD_CURRENT_PASSWORD, nothing changed, when it is missing or
 * wrong (one hash verification either way). */
static enum pc_err fu_me_patch(struct pc_req *req, struct pc_resp *resp)
{
	const struct fu_settings *st = config_layer_get(pc_ctx_config(req->ctx), &fu_settings);
	struct pc_user target = *req->user;
	const char *cur = NULL, *pw = NULL, *email = NULL;
	enum pc_err err;

	if (!st->require_current_password)
		return fu_patch(req, resp, &target);
	err = req_json_str(req, "password", false, &pw);
	if (err == PC_OK)
		err = req_json_str(req, "email", false, &email);
	if (err == PC_OK)
		err = req_json_str(req, "current_password", false, &cur);
	if (err == PC_OK && (pw != NULL || email != NULL))
		err = pc_user_check_password(req->ctx, target.id, cur, cur != NULL ? strlen(cur) : 0);
	if (err == PC_EBADCREDS)
		return fu_detail(req, resp, 400, "UPDATE_USER_BAD_CURRENT_PASSWORD", NULL);
	if (err != PC_OK && err != PC_EINVAL)
		return err;
	return fu_patch(req, resp, &target); /* a field of the wrong type: its 422 */
}

static enum pc_err fu_user_get(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_user u;
	enum pc_err err = pc_user_get(req->ctx, req_param_get(req, "id"), &u);

	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_lookup_errs);
	return fu_user_render(req, resp, 200, &u);
}

static enum pc_err fu_user_patch(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_user target;
	enum pc_err err = pc_user_get(req->ctx, req_param_get(req, "id"), &target);

	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_lookup_errs);
	return fu_patch(req, resp, &target);
}

static enum pc_err fu_user_delete(struct pc_req *req, struct pc_resp *resp)
{
	enum pc_err err = pc_user_delete(req->ctx, req_param_get(req, "id"));

	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_lookup_errs);
	return resp_status(resp, 204);
}

/* ---- handlers: a user's sign-ins (issue 13) ------------------------------------------- */

/* [{"id", "kind", "created_at", "last_seen_at", "expires_at", "ip",
 * "user_agent"}], times as unix seconds, ip and user_agent null when not kept. */
static enum pc_err fu_signins_render(struct pc_req *req, struct pc_resp *resp, const char *uid)
{
	struct pc_signin *s = arena_calloc(req->arena, PC_SIGNINS_MAX * sizeof(*s));
	json_t *list;
	size_t n, i;
	enum pc_err err;

	if (s == NULL)
		return PC_ENOMEM;
	err = pc_signins_list(req->ctx, uid, s, &n);
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_lookup_errs);
	list = req_json_keep(req, json_array());
	for (i = 0; list != NULL && i < n; i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:I, s:I, s:s?, s:s?}",
			"id", s[i].id, "kind", s[i].kind, "created_at", (json_int_t)s[i].created_at,
			"last_seen_at", (json_int_t)s[i].last_seen_at,
			"expires_at", (json_int_t)s[i].expires_at,
			"ip", s[i].ip[0] != '\0' ? s[i].ip : NULL,
			"user_agent", s[i].user_agent[0] != '\0' ? s[i].user_agent : NULL));
	return resp_json(resp, 200, list);
}

static enum pc_err fu_signin_end(struct pc_req *req, struct pc_resp *resp, const char *uid)
{
	enum pc_err err = pc_signin_end(req->ctx, uid, req_param_get(req, "sid"));

	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_lookup_errs);
	return resp_status(resp, 204);
}

static enum pc_err fu_signins_end(struct pc_req *req, struct pc_resp *resp, const char *uid)
{
	enum pc_err err = pc_signins_end_all(req->ctx, uid);

	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_lookup_errs);
	return resp_status(resp, 204);
}

static enum pc_err fu_me_signins(struct pc_req *req, struct pc_resp *resp)
{
	return fu_signins_render(req, resp, req->user->id);
}

static enum pc_err fu_me_signin_end(struct pc_req *req, struct pc_resp *resp)
{
	return fu_signin_end(req, resp, req->user->id);
}

static enum pc_err fu_me_signins_end(struct pc_req *req, struct pc_resp *resp)
{
	return fu_signins_end(req, resp, req->user->id);
}

/* The admin sign-in routes: fn on the user the path's {id} names (404 in
 * the face's words when there is none). */
static enum pc_err fu_on_user(struct pc_req *req, struct pc_resp *resp,
			      enum pc_err (*fn)(struct pc_req *, struct pc_resp *, const char *))
{
	struct pc_user u;
	enum pc_err err = pc_user_get(req->ctx, req_param_get(req, "id"), &u);

	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_lookup_errs);
	return fn(req, resp, u.id);
}

static enum pc_err fu_user_signins(struct pc_req *req, struct pc_resp *resp)
{
	return fu_on_user(req, resp, fu_signins_render);
}

static enum pc_err fu_user_signin_end(struct pc_req *req, struct pc_resp *resp)
{
	return fu_on_user(req, resp, fu_signin_end);
}

static enum pc_err fu_user_signins_end(struct pc_req *req, struct pc_resp *resp)
{
	return fu_on_user(req, resp, fu_signins_end);
}

/* A superuser ends the lock of the user's address and username (its failed
 * logins forgotten): 204. */
static enum pc_err fu_user_unlock(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_user u;
	enum pc_err err = pc_user_get(req->ctx, req_param_get(req, "id"), &u);

	if (err == PC_OK && u.email[0] != '\0')
		err = pc_login_unlock(req->ctx, u.email);
	if (err == PC_OK && u.username[0] != '\0')
		err = pc_login_unlock(req->ctx, u.username);
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_lookup_errs);
	return resp_status(resp, 204);
}

/* ---- GET {admin_prefix}/audit: the audit log, for superusers ------------------ */

struct fu_audit_acc {
	json_t *list;
	bool failed;
};

static int fu_audit_take(const struct pc_audit_row *r, void *arg)
{
	struct fu_audit_acc *a = arg;
	json_t *detail = json_loads(r->detail, 0, NULL);
	json_t *o;

	if (detail == NULL)
		detail = json_object();
	o = json_pack("{s:s, s:I, s:s, s:s?, s:s?, s:s?, s:o}", "id", r->id, "at",
		      (json_int_t)r->at, "event", r->event, "user_id",
		      r->user_id[0] != '\0' ? r->user_id : NULL, "actor_id",
		      r->actor_id[0] != '\0' ? r->actor_id : NULL, "ip", r->ip[0] != '\0' ? r->ip : NULL,
		      "detail", detail);
	if (o == NULL || json_array_append_new(a->list, o) != 0) {
		a->failed = true;
		return 1;
	}
	return 0;
}

/* ?user_id= (a UUID), ?after= (an audit id, or unix seconds: from that
 * second on), ?limit= (1..PC_AUDIT_LIST_MAX, 100 by default). 422 otherwise. */
static enum pc_err fu_audit_query(struct pc_req *req, char user_id[PC_ID_LEN + 1],
				  char after[PC_ID_LEN + 1], int *limit)
{
	const char *u = req_query_get(req, "user_id");
	const char *a = req_query_get(req, "after");
	const char *l = req_query_get(req, "limit");
	char *end;
	long long n;

	user_id[0] = '\0';
	after[0] = '\0';
	*limit = 100;
	if (u != NULL) {
		if (!crypto_uuid_valid(u)) {
			pc_errinfo_set(&req->errinfo, "query", "user_id", PC_V_INVALID, 0);
			return PC_EINVAL;
		}
		memcpy(user_id, u, PC_ID_LEN + 1);
		ascii_lower_str(user_id);
	}
	if (a != NULL && crypto_uuid_valid(a)) {
		memcpy(after, a, PC_ID_LEN + 1);
		ascii_lower_str(after);
	} else if (a != NULL) {
		errno = 0;
		n = strtoll(a, &end, 10);
		if (a[0] < '0' || a[0] > '9' || *end != '\0' || errno != 0 || n > 100000000000LL) {
			pc_errinfo_set(&req->errinfo, "query", "after", PC_V_INVALID, 0);
			return PC_EINVAL;
		}
		pc_audit_cursor_at((int64_t)n, after);
	}
	if (l != NULL) {
		errno = 0;
		n = strtoll(l, &end, 10);
		if (l[0] == '\0' || *end != '\0' || errno != 0 || (l[0] != '-' && (l[0] < '0' || l[0] > '9'))) {
			pc_errinfo_set(&req->errinfo, "query", "limit", PC_V_NOT_INTEGER, 0);
			return PC_EINVAL;
		}
		if (n < 1) {
			pc_errinfo_set(&req->errinfo, "query", "limit", PC_V_RANGE, 1);
			return PC_EINVAL;
		}
		if (n > PC_AUDIT_LIST_MAX) {
			pc_errinfo_set(&req->errinfo, "query", "limit", PC_V_INVALID, 0);
			return PC_EINVAL;
		}
		*limit = (int)n;
	}
	return PC_OK;
}

/* A list of {"id", "at", "event", "user_id", "actor_id", "ip", "detail"},
 * oldest first; the next page is ?after=<the last id>. */
static enum pc_err fu_audit(struct pc_req *req, struct pc_resp *resp)
{
	char user_id[PC_ID_LEN + 1], after[PC_ID_LEN + 1];
	struct fu_audit_acc a = { json_array(), false };
	int limit;
	enum pc_err err = a.list != NULL ? PC_OK : PC_ENOMEM;

	if (err == PC_OK)
		err = fu_audit_query(req, user_id, after, &limit);
	if (err == PC_OK)
		err = pc_audit_list(req->ctx, user_id[0] != '\0' ? user_id : NULL, after, limit,
				    fu_audit_take, &a);
	if (err == PC_OK && a.failed)
		err = PC_ENOMEM;
	if (err != PC_OK) {
		json_decref(a.list);
		return fu_fail(req, resp, err, fu_lookup_errs);
	}
	return resp_json(resp, 200, req_json_keep(req, a.list));
}

static enum pc_err fu_protected(struct pc_req *req, struct pc_resp *resp)
{
	const char *msg = arena_printf(req->arena, "Hello, %s!", req->user->email);

	if (msg == NULL)
		return PC_ENOMEM;
	return resp_json(resp, 200, req_json_keep(req, json_pack("{s:s}", "message", msg)));
}

/* ---- handlers: the OAuth routers ------------------------------------------------------- */

/* fastapi-users' CSRF cookie of the OAuth flow: HttpOnly, holding what binds
 * the state to this browser (and the PKCE verifier). */
#define FU_OAUTH_COOKIE "fastapiusersoauthcsrf"

/* How each failure of a callback answers; code NULL: the provider's own. */
static const struct {
	enum oauth_fail fail;
	int status;
	const char *code;
} fu_oauth_fails[] = {
	{ OAUTH_F_STATE, 400, "OAUTH_INVALID_STATE" },
	{ OAUTH_F_PROVIDER_ERROR, 400, NULL },
	{ OAUTH_F_NO_CODE, 400, "OAUTH_MISSING_CODE" },
	{ OAUTH_F_TOKEN_REFUSED, 400, NULL },
	{ OAUTH_F_ID_TOKEN, 400, "OAUTH_INVALID_ID_TOKEN" },
	{ OAUTH_F_UNREACHABLE, 502, "Bad Gateway" },
	{ OAUTH_F_NO_EMAIL, 400, "OAUTH_NOT_AVAILABLE_EMAIL" },
	{ OAUTH_F_USER_EXISTS, 400, "OAUTH_USER_ALREADY_EXISTS" },
	{ OAUTH_F_LINKED_ELSEWHERE, 400, "OAUTH_ACCOUNT_ALREADY_LINKED" },
	{ OAUTH_F_INACTIVE, 400, "LOGIN_BAD_CREDENTIALS" },
	{ OAUTH_F_SECOND_FACTOR, 400, "LOGIN_TOTP_REQUIRED" },
};

static const struct fu_errmap fu_oauth_errs[] = {
	{ PC_ENOTFOUND, 404, "Not Found", false },
	{ PC_EINTERNAL, 502, "Bad Gateway", false },
	{ PC_OK, 0, NULL, false },
};

static struct pc_cookie fu_oauth_cookie(const struct pc_config *cfg, const char *value,
					int max_age)
{
	struct pc_cookie c = fu_cookie(cfg, value, max_age);

	c.name = FU_OAUTH_COOKIE;
	c.httponly = true;
	c.samesite = "lax"; /* the provider's redirect is a top-level GET: lax sends it */
	return c;
}

/* The callback URL of provider name: oauth_callback_base + its route's path,
 * from settings alone, never from the request. */
static const char *fu_oauth_redirect(struct pc_req *req, const char *name, bool assoc)
{
	const struct pc_config *cfg = pc_ctx_config(req->ctx);
	const struct fu_settings *s = config_layer_get(cfg, &fu_settings);
	size_t n = strlen(cfg->oauth_callback_base);

	if (n > 0 && cfg->oauth_callback_base[n - 1] == '/')
		n--;
	return arena_printf(req->arena, "%.*s%s/%s%s/callback", (int)n, cfg->oauth_callback_base,
			    s->oauth_prefix, name, assoc ? "/associate" : "");
}

/* authorize, for purpose: the URL and the state cookie. */
static enum pc_err fu_oauth_start(struct pc_req *req, struct pc_resp *resp, const char *name,
				  const char *purpose, bool assoc)
{
	const struct pc_config *cfg = pc_ctx_config(req->ctx);
	const char *scopes[OAUTH_SCOPES_MAX];
	struct oauth_start *st = arena_alloc(req->arena, sizeof(*st));
	const char *redirect = fu_oauth_redirect(req, name, assoc);
	struct pc_cookie c;
	size_t n = 0;
	enum pc_err err = st == NULL || redirect == NULL ? PC_ENOMEM :
		req_query_all(req, "scopes", scopes, OAUTH_SCOPES_MAX, &n);

	if (err == PC_OK)
		err = oauth_authorize(req->ctx, name, purpose, scopes, n, redirect, st);
	if (err == PC_EINVAL || err == PC_ETOOBIG) {
		pc_errinfo_set(&req->errinfo, "query", "scopes", PC_V_RULE, 0);
		err = PC_EINVAL;
	}
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_oauth_errs);
	c = fu_oauth_cookie(cfg, arena_strdup(req->arena, st->cookie),
			    cfg->oauth_state_lifetime_seconds);
	crypto_wipe(st->cookie, sizeof(st->cookie));
	err = resp_cookie_set(resp, &c);
	if (err != PC_OK)
		return err;
	return resp_json(resp, 200, req_json_keep(req,
		json_pack("{s:s}", "authorization_url", st->url)));
}

/* The backend a login purpose names, when that router is mounted; NULL otherwise. */
static const char *fu_oauth_backend(const struct pc_config *cfg, const char *backend)
{
	const struct fu_settings *s = config_layer_get(cfg, &fu_settings);

	if (backend == NULL)
		return NULL;
	if (strcmp(backend, "jwt") == 0 && s->on[FU_JWT])
		return "login:jwt";
	if (strcmp(backend, "cookie") == 0 && s->on[FU_COOKIE])
		return "login:cookie";
	return NULL;
}

static enum pc_err fu_oauth_authorize(struct pc_req *req, struct pc_resp *resp)
{
	const char *name = req_param_get(req, "provider");
	const char *backend = req_query_get(req, "authentication_backend");
	const char *purpose = fu_oauth_backend(pc_ctx_config(req->ctx), backend);

	if (!oauth_provider_exists(req->ctx, name))
		return fu_fail(req, resp, PC_ENOTFOUND, fu_oauth_errs);
	if (backend == NULL || backend[0] == '\0') {
		pc_errinfo_set(&req->errinfo, "query", "authentication_backend", PC_V_MISSING, 0);
		return fu_fail(req, resp, PC_EINVAL, fu_oauth_errs);
	}
	if (purpose == NULL) /* seed 000: 400, unknown authentication backend */
		return fu_detail(req, resp, 400, "OAUTH_UNKNOWN_AUTHENTICATION_BACKEND", NULL);
	return fu_oauth_start(req, resp, name, purpose, false);
}

static enum pc_err fu_oauth_assoc_authorize(struct pc_req *req, struct pc_resp *resp)
{
	const char *name = req_param_get(req, "provider");
	const char *purpose = arena_printf(req->arena, "assoc:%s", req->user->id);

	if (!oauth_provider_exists(req->ctx, name))
		return fu_fail(req, resp, PC_ENOTFOUND, fu_oauth_errs);
	if (purpose == NULL)
		return PC_ENOMEM;
	return fu_oauth_start(req, resp, name, purpose, true);
}

/* The callback, for the logged-in user assoc or (NULL) a login: r filled;
 * the state cookie is cleared whatever the outcome. On a failure the
 * response is rendered and *done set. */
static enum pc_err fu_oauth_finish(struct pc_req *req, struct pc_resp *resp,
				   const struct pc_user *assoc, struct oauth_result *r, bool *done)
{
	const char *name = req_param_get(req, "provider");
	struct pc_cookie gone = fu_oauth_cookie(pc_ctx_config(req->ctx), "", 0);
	struct oauth_callback_in in = {
		.code = req_query_get(req, "code"), .state = req_query_get(req, "state"),
		.error = req_query_get(req, "error"), .cookie = req_cookie_get(req, FU_OAUTH_COOKIE),
		.assoc = assoc,
	};
	enum pc_err err;

	*done = true;
	if (!oauth_provider_exists(req->ctx, name))
		return fu_fail(req, resp, PC_ENOTFOUND, fu_oauth_errs);
	in.redirect_uri = fu_oauth_redirect(req, name, assoc != NULL);
	err = oauth_callback(req->ctx, name, &in, r);
	if (resp_cookie_set(resp, &gone) != PC_OK)
		return PC_ENOMEM;
	for (size_t i = 0; err == PC_EUNAUTHORIZED && i < N(fu_oauth_fails); i++) {
		if (fu_oauth_fails[i].fail == r->fail)
			return fu_detail(req, resp, fu_oauth_fails[i].status,
					 fu_oauth_fails[i].code != NULL ? fu_oauth_fails[i].code
									: r->provider_error, NULL);
	}
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_oauth_errs);
	*done = false;
	return PC_OK;
}

/* A login by the backend the state names: the JWT body, or the session
 * cookie (204, or 302 to the configured oauth_redirect_url exactly). */
static enum pc_err fu_oauth_callback(struct pc_req *req, struct pc_resp *resp)
{
	const struct pc_config *cfg = pc_ctx_config(req->ctx);
	struct oauth_result *r = arena_alloc(req->arena, sizeof(*r));
	char token[PC_JWT_MAX];
	struct pc_cookie c;
	bool done;
	enum pc_err err = r == NULL ? PC_ENOMEM : fu_oauth_finish(req, resp, NULL, r, &done);

	if (err != PC_OK || done)
		return err;
	if (strcmp(r->purpose, "login:jwt") == 0) {
		err = pc_jwt_issue(req->ctx, &r->user, token, sizeof(token));
		if (err != PC_OK)
			return fu_fail(req, resp, err, fu_login_errs);
		return resp_json(resp, 200, req_json_keep(req,
			json_pack("{s:s, s:s}", "access_token", token, "token_type", "bearer")));
	}
	err = pc_session_create(req->ctx, &r->user, req->client_ip,
				req_header_get(req, "User-Agent"), token);
	if (err != PC_OK)
		return fu_fail(req, resp, err, fu_login_errs);
	c = fu_cookie(cfg, arena_strdup(req->arena, token), cfg->session_lifetime_seconds);
	crypto_wipe(token, sizeof(token));
	err = resp_cookie_set(resp, &c);
	if (err == PC_OK && cfg->oauth_redirect_url[0] != '\0')
		err = resp_header_add(resp, "Location", cfg->oauth_redirect_url);
	if (err != PC_OK)
		return err;
	return resp_status(resp, cfg->oauth_redirect_url[0] != '\0' ? 302 : 204);
}

static enum pc_err fu_oauth_assoc_callback(struct pc_req *req, struct pc_resp *resp)
{
	struct oauth_result *r = arena_alloc(req->arena, sizeof(*r));
	bool done;
	enum pc_err err = r == NULL ? PC_ENOMEM : fu_oauth_finish(req, resp, req->user, r, &done);

	if (err != PC_OK || done)
		return err;
	return fu_user_render(req, resp, 200, &r->user);
}

const struct pc_face face_fastapi_users = {
	.name = "fastapi_users",
	.mounts = fu_mounts,
	.nmounts = N(fu_mounts),
	.render_error = fu_render_error,
	.settings = &fu_settings,
	.auth = {
		.bearer = true,
		.cookie = true,
		.cookie_at = offsetof(struct fu_settings, cookie),
		.csrf = false,
		.claims = &jwt_claims_rfc7519,
	},
};
