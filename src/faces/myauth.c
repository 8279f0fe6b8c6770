/*
 * myauth.c - the FastAPI MyAuth API (seed 001): its login router.
 *
 * Mounted under myauth_prefix + "/login" (MyAuth's router included with
 * prefix="/auth"): signup, the OAuth2 password login that hands out an
 * access and a refresh token, refresh rotation and revocation; the magic
 * link (POST /magic/{email} -> a claim, /claim -> the tokens of a login)
 * and password recovery (POST /recover/{email} -> a claim, /reset); and TOTP
 * (core/totp.c): POST /new-totp (a pending secret: key, uri, and the QR as
 * "qr_svg", or the SVG itself with ?format=svg), PUT /totp (enable: the
 * code, the uri new-totp gave, the password; answers the recovery codes),
 * DELETE /totp (disable, with `original`), POST /totp (the second step of a
 * login: a TOTP-purpose token as bearer and a code or recovery code).
 *
 * A first factor (password at /oauth, a magic link at /claim) ends in
 * ma_login_issue: for a user with TOTP on, a TOTP-purpose token (its own
 * key: no other route accepts it) and "refresh_token": null; otherwise the
 * Token of a new refresh family.
 *
 * Its users router, under myauth_prefix + "/users": GET, PUT and DELETE /me
 * (MyAuth's UserRead, UserUpdate with `original`), and for a superuser GET
 * /users/?page=N (myauth_page_size a page), POST /toggle-state, POST /create,
 * GET, POST and DELETE /{user_id}.
 *
 * The users are the core's, shared with every face: a user registered at
 * fastapi_users' /auth/register logs in here, and the other way round.
 *
 * Errors are FastAPI's: {"detail": "..."} in MyAuth's words, and the 422
 * list for validation (errors.c, shared with fastapi_users).
 *
 * Authentication: the refresh and revoke routes take a refresh token (opaque,
 * core/refresh.c) as "Authorization: Bearer <token>" and hand it to the core,
 * which finds it by its hash: an access JWT is no refresh token. /claim and
 * /reset take the mailed email token the same way and the claim in the body:
 * two halves of one one-time token row (core/onetime.c), both needed. No
 * bearer is 401; a bearer that is no token of the route's purpose is 403;
 * one that is but fails (wrong claim, used, expired, inactive user) is 400.
 * /magic and /recover answer a claim for any well-formed address (a decoy
 * when no mail goes): they do not tell which addresses exist, except that
 * with open registration a magic link to an unknown address registers it. The access
 * tokens this face issues are RFC 7519 JWTs (jwt_claims_rfc7519) with the
 * family claim "fam": they authenticate wherever that table does (e.g.
 * fastapi_users' /users/me) until their family is revoked.
 *
 * Settings (rows of this file): myauth_prefix, users_open_registration,
 * myauth_page_size.
 * The refresh lifetime and grace are core rules (config.c).
 *
 * Reads top-down: tables, settings, error maps, renderers, handlers.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faces/face.h"
#include "faces/errors.h"

static pc_handler_fn ma_signup, ma_oauth, ma_refresh, ma_revoke, ma_magic, ma_claim, ma_recover,
	ma_reset, ma_new_totp, ma_totp_put, ma_totp_delete, ma_totp_login, ma_me_get, ma_me_put,
	ma_me_delete, ma_users_list, ma_toggle_state, ma_user_create, ma_user_get, ma_user_post,
	ma_user_delete;

/* Bearer access JWTs of an active user: MyAuth's get_current_active_user.
 * The router refuses an inactive one before any handler runs, and
 * ma_render_error says it as MyAuth does: 400 "Inactive user" (also before
 * the superuser check, as get_current_active_superuser builds on it). */
#define MA_AUTHED (PC_R_AUTH | PC_R_BEARER | PC_R_ACTIVE)
/* MyAuth's admin routes: a superuser or a user with the role "admin".
 * What only a superuser may do beside (make superusers, give roles, act on
 * a superuser) the handlers check (ma_admin_may). */
#define MA_ADMIN (MA_AUTHED | PC_R_ADMIN)

static const struct pc_route ma_login_routes[] = {
	{ "POST", "/signup", ma_signup, PC_R_JSON | PC_R_SLOW },
	{ "POST", "/oauth", ma_oauth, PC_R_FORM | PC_R_SLOW },
	{ "POST", "/refresh", ma_refresh, PC_R_COMMITS },
	{ "POST", "/revoke", ma_revoke, PC_R_COMMITS },
	/* magic link and recovery: the email token as the bearer, the claim in the body */
	{ "POST", "/magic/{email}", ma_magic, 0 },
	{ "POST", "/claim", ma_claim, PC_R_JSON },
	{ "POST", "/recover/{email}", ma_recover, 0 },
	{ "POST", "/reset", ma_reset, PC_R_JSON | PC_R_SLOW },
	{ "POST", "/new-totp", ma_new_totp, MA_AUTHED },
	{ "PUT", "/totp", ma_totp_put, MA_AUTHED | PC_R_JSON | PC_R_SLOW },
	{ "DELETE", "/totp", ma_totp_delete, MA_AUTHED | PC_R_JSON | PC_R_SLOW },
	/* the TOTP-purpose token, checked by the handler (totp_login), not the router */
	{ "POST", "/totp", ma_totp_login, PC_R_JSON },
};

static const struct pc_route ma_users_routes[] = {
	{ "GET", "/me", ma_me_get, MA_AUTHED },
	{ "PUT", "/me", ma_me_put, MA_AUTHED | PC_R_JSON | PC_R_SLOW },
	{ "DELETE", "/me", ma_me_delete, MA_AUTHED },
	/* admin: a superuser (else 403, the router's) */
	{ "GET", "/", ma_users_list, MA_ADMIN },
	{ "POST", "/toggle-state", ma_toggle_state, MA_ADMIN | PC_R_JSON },
	{ "POST", "/create", ma_user_create, MA_ADMIN | PC_R_JSON | PC_R_SLOW },
	{ "GET", "/{user_id}", ma_user_get, MA_ADMIN },
	{ "POST", "/{user_id}", ma_user_post, MA_ADMIN | PC_R_JSON | PC_R_SLOW },
	{ "DELETE", "/{user_id}", ma_user_delete, MA_ADMIN },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- settings ------------------------------------------------------------------ */

struct ma_settings {
	char prefix[128];       /* MyAuth's router prefix */
	bool login_router;      /* mount /login */
	bool users_router;      /* mount /users */
	bool open_registration; /* USERS_OPEN_REGISTRATION */
	int page_size;          /* users per page of GET /users/ */
};

static const struct config_row ma_setting_rows[] = {
	CONFIG_ROW_STR(struct ma_settings, "myauth_prefix", prefix, "/auth", NULL,
		       config_check_prefix, "prefix of the myauth routes (its /login router)"),
	CONFIG_ROW_BOOL(struct ma_settings, "myauth_login_router", login_router, "true",
			"mount the myauth login router ({myauth_prefix}/login)"),
	CONFIG_ROW_BOOL(struct ma_settings, "myauth_users_router", users_router, "true",
			"mount the myauth users router ({myauth_prefix}/users)"),
	CONFIG_ROW_BOOL(struct ma_settings, "users_open_registration", open_registration, "true",
			"myauth: anyone may sign up at /login/signup"),
	CONFIG_ROW_INT(struct ma_settings, "myauth_page_size", page_size, "100", 1, 10000,
		       "myauth: users per page of GET /users/?page=N"),
};

static const struct config_layer ma_settings = {
	.name = "myauth",
	.rows = ma_setting_rows,
	.nrows = N(ma_setting_rows),
	.size = sizeof(struct ma_settings),
	.rule = NULL,
};

/* MyAuth's get_router() includes its two routers at /login and /users. */
static const struct pc_mount ma_mounts[] = {
	{ .router = "login", .prefix_setting = "myauth_prefix", .suffix = "/login",
	  .enable_setting = "myauth_login_router", .routes = ma_login_routes,
	  .nroutes = N(ma_login_routes) },
	{ .router = "users", .prefix_setting = "myauth_prefix", .suffix = "/users",
	  .enable_setting = "myauth_users_router", .routes = ma_users_routes,
	  .nroutes = N(ma_users_routes) },
};

/* ---- error maps: core error -> status and MyAuth's detail ------------------------ */

struct ma_errmap {
	enum pc_err err;
	int status;
	const char *detail; /* NULL: the password policy's reason */
};

#define MA_BAD_TOKEN "Could not validate credentials"
/* get_current_active_superuser's 403 (the router's, and the handlers' own) */
#define MA_NOT_ENOUGH "The user doesn't have enough privileges"

static const struct ma_errmap ma_signup_errs[] = {
	{ PC_EEXISTS, 400, "This username is not available." },
	{ PC_EBADPASSWORD, 400, NULL },
	{ PC_ELIMITED, 429, "Too many attempts; try again later." }, /* Retry-After */
	{ PC_OK, 0, NULL },
};

static const struct ma_errmap ma_login_errs[] = {
	{ PC_EBADCREDS, 400, "Login failed; incorrect email or password." },
	{ PC_ENOTVERIFIED, 400, "Login failed; incorrect email or password." },
	{ PC_ELIMITED, 429, "Too many attempts; try again later." }, /* Retry-After */
	{ PC_OK, 0, NULL },
};

static const struct ma_errmap ma_update_errs[] = {
	{ PC_EEXISTS, 400, "This username is not available." },
	{ PC_EBADPASSWORD, 400, NULL },
	{ PC_EBADCREDS, 400, "Unable to authenticate this update." },
	{ PC_OK, 0, NULL },
};

#define MA_NO_USER "User not found"

static const struct ma_errmap ma_delete_errs[] = {
	{ PC_ENOTFOUND, 404, MA_NO_USER },
	{ PC_OK, 0, NULL },
};

static const struct ma_errmap ma_admin_errs[] = {
	{ PC_ENOTFOUND, 404, MA_NO_USER },
	{ PC_EEXISTS, 400, "This username is not available." },
	{ PC_EBADPASSWORD, 400, NULL },
	{ PC_OK, 0, NULL },
};

/* A refresh token that is not good, or reused (its family now revoked). */
static const struct ma_errmap ma_token_errs[] = {
	{ PC_EUNAUTHORIZED, 403, MA_BAD_TOKEN },
	{ PC_EREVOKED, 403, MA_BAD_TOKEN },
	{ PC_OK, 0, NULL },
};

/* The two-half tokens (magic link, recovery): a bearer that is no token of
 * the route's purpose at all is 403, as MyAuth's token dependency answers;
 * one that is, but whose claim, use, expiry or user fails, is 400. */
#define MA_BAD_CLAIM "Login failed; invalid claim."

static const struct ma_errmap ma_claim_errs[] = {
	{ PC_EBADCREDS, 400, MA_BAD_CLAIM },
	{ PC_ENOTFOUND, 400, MA_BAD_CLAIM }, /* the user deleted as the tokens were issued */
	{ PC_EUNAUTHORIZED, 403, MA_BAD_TOKEN },
	{ PC_ELIMITED, 429, "Too many attempts; try again later." }, /* magic, recover */
	{ PC_OK, 0, NULL },
};

static const struct ma_errmap ma_reset_errs[] = {
	{ PC_EBADCREDS, 400, "Password update failed; invalid claim." },
	{ PC_EUNAUTHORIZED, 403, MA_BAD_TOKEN },
	{ PC_EBADPASSWORD, 400, NULL },
	{ PC_OK, 0, NULL },
};

/* Nothing to tell the client in MyAuth's words: 500/503 (ma_fail). */
static const struct ma_errmap ma_no_errs[] = {
	{ PC_OK, 0, NULL },
};

static const struct ma_errmap ma_totp_on_errs[] = {
	{ PC_EBADCREDS, 400, "Unable to authenticate or activate TOTP." },
	{ PC_OK, 0, NULL },
};

static const struct ma_errmap ma_totp_off_errs[] = {
	{ PC_EBADCREDS, 400, "Unable to authenticate or deactivate TOTP." },
	{ PC_OK, 0, NULL },
};

static const struct ma_errmap ma_totp_login_errs[] = {
	{ PC_EUNAUTHORIZED, 403, MA_BAD_TOKEN },
	{ PC_ENOTFOUND, 400, "Login failed; TOTP is not enabled." },
	{ PC_EBADCREDS, 400, "Login failed; unable to verify TOTP." },
	{ PC_ELIMITED, 429, "Too many attempts; try again later." },
	{ PC_OK, 0, NULL },
};

/* ---- renderers ------------------------------------------------------------------ */

static void ma_render_error(struct pc_req *req, struct pc_resp *resp, int status,
			    const struct pc_errinfo *ei)
{
	json_t *body;

	if (status == 401 && ei != NULL && ei->code == PC_V_INACTIVE) {
		resp_json(resp, 400, req_json_keep(req, json_pack("{s:s}", "detail",
								  "Inactive user")));
		return;
	}
	/* A bearer that is no good access token: MyAuth's get_token_payload
	 * answers 403 (OAuth2PasswordBearer's 401 is only for no bearer at all). */
	if (status == 401 && req_bearer_get(req) != NULL) {
		resp_json(resp, 403, req_json_keep(req, json_pack("{s:s}", "detail", MA_BAD_TOKEN)));
		return;
	}
	if (status == 422 && ei != NULL)
		body = fastapi_validation_new(ei);
	else if (status == 403)
		body = json_pack("{s:s}", "detail", MA_NOT_ENOUGH);
	else if (status == 401) /* the router's: OAuth2PasswordBearer, no bearer */
		body = json_pack("{s:s}", "detail", "Not authenticated");
	else
		body = json_pack("{s:s}", "detail", resp_reason(status));
	if (status == 401) /* without it (out of memory) the answer still stands */
		(void)resp_header_add(resp, "WWW-Authenticate", "Bearer");
	resp_json(resp, status, req_json_keep(req, body));
}

static enum pc_err ma_detail(struct pc_req *req, struct pc_resp *resp, int status,
			     const char *detail)
{
	return resp_json(resp, status, req_json_keep(req, json_pack("{s:s}", "detail", detail)));
}

/* Renders err through map; validation errors as 422; the rest as 500/503. */
static enum pc_err ma_fail(struct pc_req *req, struct pc_resp *resp, enum pc_err err,
			   const struct ma_errmap *map)
{
	char reason[128];

	for (; map->status != 0; map++) {
		if (map->err == err)
			return ma_detail(req, resp, map->status, map->detail != NULL ? map->detail :
					 fastapi_password_reason(&req->errinfo, reason, sizeof(reason)));
	}
	if (err == PC_EINVAL) {
		ma_render_error(req, resp, 422, &req->errinfo);
		return PC_OK;
	}
	ma_render_error(req, resp, err == PC_EBUSY || err == PC_EUNAVAILABLE ? 503 : 500, NULL);
	return PC_OK;
}

/* UserRead of MyAuth. */
/* UserRead of MyAuth, with the user's roles (its RBAC): a new object, or
 * NULL when out of memory. */
static json_t *ma_user_json(const struct pc_user *u)
{
	json_t *name = u->full_name[0] != '\0' ? json_string(u->full_name) : json_null();
	json_t *roles = json_array();
	const char *p = u->roles;

	while (roles != NULL && *p != '\0') {
		size_t n = strcspn(p, " ");

		if (json_array_append_new(roles, json_stringn(p, n)) != 0) {
			json_decref(roles);
			roles = NULL;
		}
		p += n;
		p += *p == ' ';
	}
	/* "email": null for a username-only user (one made at simplejwt's register) */
	return json_pack("{s:s, s:o, s:o, s:b, s:b, s:b, s:b, s:o}", "id", u->id, "email",
			 u->email[0] != '\0' ? json_string(u->email) : json_null(), "full_name", name, "is_active", u->is_active, "is_superuser",
			 u->is_superuser, "is_verified", u->is_verified, "totp", u->totp_enabled,
			 "roles", roles);
}

static enum pc_err ma_user_render(struct pc_req *req, struct pc_resp *resp,
				  const struct pc_user *u)
{
	return resp_json(resp, 200, req_json_keep(req, ma_user_json(u)));
}

/* Token: access, refresh, "bearer". */
static enum pc_err ma_pair_render(struct pc_req *req, struct pc_resp *resp,
				  struct refresh_pair *p)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "access_token", p->access,
				 "refresh_token", p->refresh, "token_type", "bearer");

	crypto_wipe(p, sizeof(*p));
	return resp_json(resp, 200, req_json_keep(req, body));
}

/* OAuth2PasswordBearer's answer when there is no bearer header at all. */
static enum pc_err ma_not_authenticated(struct pc_req *req, struct pc_resp *resp)
{
	enum pc_err err = resp_header_add(resp, "WWW-Authenticate", "Bearer");

	if (err != PC_OK)
		return err;
	return ma_detail(req, resp, 401, "Not authenticated");
}

/* ---- handlers --------------------------------------------------------------------- */

static enum pc_err ma_signup(struct pc_req *req, struct pc_resp *resp)
{
	const struct ma_settings *s = config_layer_get(pc_ctx_config(req->ctx), &ma_settings);
	char client[PC_CLIENT_KEY_MAX];
	struct pc_user_input in;
	struct pc_user u;
	enum pc_err err;

	if (s == NULL || !s->open_registration)
		return ma_detail(req, resp, 403, "Registration is closed.");
	pc_user_input_init(&in);
	err = req_json_str(req, "email", true, &in.email);
	if (err == PC_OK)
		err = req_json_str(req, "password", true, &in.password);
	if (err == PC_OK)
		err = req_json_str(req, "full_name", false, &in.full_name);
	if (err == PC_OK)
		err = face_register_check(req, resp, client);
	if (err == PC_OK) {
		in.password_len = strlen(in.password);
		err = pc_user_register(req->ctx, &in, &u, &req->errinfo);
	}
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_signup_errs);
	face_register_count(req, client);
	return ma_user_render(req, resp, &u);
}

/* The Token of a new refresh family for u: a login complete. */
static enum pc_err ma_pair_issue(struct pc_req *req, struct pc_resp *resp,
				 const struct pc_user *u, const struct ma_errmap *errs)
{
	struct refresh_pair pair;
	enum pc_err err = refresh_login_from(req->ctx, &jwt_claims_rfc7519, u, req->client_ip,
					     req_header_get(req, "User-Agent"), &pair);

	if (err != PC_OK)
		return ma_fail(req, resp, err, errs);
	return ma_pair_render(req, resp, &pair);
}

/* What every first factor (password at /oauth, a magic link at /claim) ends
 * in, the one place a login is turned into tokens: with TOTP on, the
 * TOTP-purpose token and no refresh token (no family is started); else the
 * Token of a new refresh family. */
static enum pc_err ma_login_issue(struct pc_req *req, struct pc_resp *resp,
				  const struct pc_user *u, const struct ma_errmap *errs)
{
	char token[PC_JWT_MAX];
	json_t *body;
	enum pc_err err;

	if (!u->totp_enabled)
		return ma_pair_issue(req, resp, u, errs);
	err = totp_pending_issue(req->ctx, u, token, sizeof(token));
	if (err != PC_OK)
		return ma_fail(req, resp, err, errs);
	body = json_pack("{s:s, s:n, s:s}", "access_token", token, "refresh_token",
			 "token_type", "bearer");
	crypto_wipe(token, sizeof(token));
	return resp_json(resp, 200, req_json_keep(req, body));
}

static enum pc_err ma_oauth(struct pc_req *req, struct pc_resp *resp)
{
	const char *username, *password;
	struct pc_user u;
	enum pc_err err = fastapi_read_password_form(req, &username, &password);

	if (err == PC_OK)
		err = face_limit_client(req, resp, PC_LIMIT_LOGIN_IP);
	if (err == PC_OK) {
		err = auth_first_factor(req->ctx, username, password, strlen(password), &u);
		if (err == PC_ELIMITED)
			err = face_login_locked(req, resp, username);
	}
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_login_errs);
	return ma_login_issue(req, resp, &u, ma_login_errs);
}

static enum pc_err ma_refresh(struct pc_req *req, struct pc_resp *resp)
{
	const char *token = req_bearer_get(req);
	struct refresh_pair pair;
	enum pc_err err;

	if (token == NULL)
		return ma_not_authenticated(req, resp);
	err = refresh_rotate(req->ctx, &jwt_claims_rfc7519, token, &pair, NULL);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_token_errs);
	return ma_pair_render(req, resp, &pair);
}

static enum pc_err ma_revoke(struct pc_req *req, struct pc_resp *resp)
{
	const char *token = req_bearer_get(req);
	enum pc_err err;

	if (token == NULL)
		return ma_not_authenticated(req, resp);
	err = refresh_revoke(req->ctx, token);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_token_errs);
	return resp_json(resp, 200, req_json_keep(req,
		json_pack("{s:s}", "msg", "Token revoked successfully.")));
}

/* ---- magic link and recovery (two-half tokens: core/onetime.c) -------------------- */

/* WebToken: the claim, the half the client keeps; the other half is mailed. */
static enum pc_err ma_webtoken_render(struct pc_req *req, struct pc_resp *resp,
				      char claim[PC_TOKEN_MAX])
{
	json_t *body = json_pack("{s:s}", "claim", claim);

	crypto_wipe(claim, PC_TOKEN_MAX);
	return resp_json(resp, 200, req_json_keep(req, body));
}

/* A malformed {email} is FastAPI's 422 at ["path", "email"]. */
static enum pc_err ma_email_fail(struct pc_req *req, struct pc_resp *resp, enum pc_err err)
{
	if (err == PC_EINVAL)
		snprintf(req->errinfo.where, sizeof(req->errinfo.where), "%s", "path");
	return ma_fail(req, resp, err, ma_claim_errs);
}

/* Known, unknown or inactive, the answer is a claim (a decoy when no mail
 * goes); an unknown address registers only with users_open_registration. */
static enum pc_err ma_magic(struct pc_req *req, struct pc_resp *resp)
{
	const struct ma_settings *s = config_layer_get(pc_ctx_config(req->ctx), &ma_settings);
	char claim[PC_TOKEN_MAX];
	enum pc_err err = face_limit_mail(req, resp, req_param_get(req, "email"));

	if (err == PC_OK)
		err = pc_magic_request(req->ctx, req_param_get(req, "email"),
				       s != NULL && s->open_registration, claim, &req->errinfo);

	if (err != PC_OK)
		return ma_email_fail(req, resp, err);
	return ma_webtoken_render(req, resp, claim);
}

static enum pc_err ma_claim(struct pc_req *req, struct pc_resp *resp)
{
	const char *token = req_bearer_get(req);
	const char *claim;
	struct pc_user u;
	enum pc_err err;

	if (token == NULL)
		return ma_not_authenticated(req, resp);
	err = req_json_str(req, "claim", true, &claim);
	if (err == PC_OK)
		err = pc_magic_claim(req->ctx, token, claim, &u);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_claim_errs);
	return ma_login_issue(req, resp, &u, ma_claim_errs);
}

static enum pc_err ma_recover(struct pc_req *req, struct pc_resp *resp)
{
	char claim[PC_TOKEN_MAX];
	enum pc_err err = face_limit_mail(req, resp, req_param_get(req, "email"));

	if (err == PC_OK)
		err = pc_password_recover(req->ctx, req_param_get(req, "email"), claim,
					  &req->errinfo);

	if (err != PC_OK)
		return ma_email_fail(req, resp, err);
	return ma_webtoken_render(req, resp, claim);
}

static enum pc_err ma_reset(struct pc_req *req, struct pc_resp *resp)
{
	const char *token = req_bearer_get(req);
	const char *password, *claim;
	enum pc_err err;

	if (token == NULL)
		return ma_not_authenticated(req, resp);
	err = req_json_str(req, "new_password", true, &password);
	if (err == PC_OK)
		err = req_json_str(req, "claim", true, &claim);
	if (err == PC_OK)
		err = pc_password_reset_claim(req->ctx, token, claim, password, strlen(password),
					      NULL, &req->errinfo);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_reset_errs);
	return resp_json(resp, 200, req_json_keep(req,
		json_pack("{s:s}", "msg", "Password updated successfully.")));
}

/* ---- TOTP handlers ------------------------------------------------------------------ */

/* NewTOTPResponse {key, uri} and "qr_svg"; ?format=svg: the SVG itself. */
static enum pc_err ma_new_totp(struct pc_req *req, struct pc_resp *resp)
{
	const char *format = req_query_get(req, "format");
	struct totp_enrolment e;
	json_t *body;
	char *svg;
	enum pc_err err;

	err = totp_new(req->ctx, req->user, &e);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_no_errs);
	if (format != NULL && strcmp(format, "svg") == 0) {
		svg = arena_strdup(resp->arena, e.qr_svg);
		totp_enrolment_release(&e);
		if (svg == NULL)
			return PC_ENOMEM;
		resp->status = 200;
		resp->content_type = "image/svg+xml";
		resp->body = svg;
		resp->body_len = strlen(svg);
		return PC_OK;
	}
	body = json_pack("{s:s, s:s, s:s}", "key", e.key, "uri", e.uri, "qr_svg", e.qr_svg);
	totp_enrolment_release(&e);
	return resp_json(resp, 200, req_json_keep(req, body));
}

/* EnableTOTP {claim, uri, password?}: answers the recovery codes, once. */
static enum pc_err ma_totp_put(struct pc_req *req, struct pc_resp *resp)
{
	char codes[TOTP_RECOVERY_N][TOTP_RECOVERY_LEN + 1];
	const char *claim, *uri, *password = NULL;
	json_t *body, *list;
	enum pc_err err;

	err = req_json_str(req, "claim", true, &claim);
	if (err == PC_OK)
		err = req_json_str(req, "uri", true, &uri);
	if (err == PC_OK)
		err = req_json_str(req, "password", false, &password);
	if (err == PC_OK)
		err = totp_enable(req->ctx, req->user, claim, uri, password, codes);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_totp_on_errs);
	list = json_array();
	for (size_t i = 0; list != NULL && i < TOTP_RECOVERY_N; i++)
		json_array_append_new(list, json_string(codes[i]));
	crypto_wipe(codes, sizeof(codes));
	body = json_pack("{s:s, s:o}", "msg", "TOTP enabled. Do not lose your recovery code.",
			 "recovery_codes", list);
	return resp_json(resp, 200, req_json_keep(req, body));
}

/* {original?}: the password, when the user has one. */
static enum pc_err ma_totp_delete(struct pc_req *req, struct pc_resp *resp)
{
	const char *original = NULL;
	enum pc_err err;

	err = req_json_str(req, "original", false, &original);
	if (err == PC_OK)
		err = totp_disable(req->ctx, req->user, original);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_totp_off_errs);
	return resp_json(resp, 200, req_json_keep(req,
		json_pack("{s:s}", "msg", "TOTP disabled. You can re-enable it at any time.")));
}

/* The second step: {claim} with the TOTP-purpose token as bearer. */
static enum pc_err ma_totp_login(struct pc_req *req, struct pc_resp *resp)
{
	const char *token = req_bearer_get(req), *claim;
	struct pc_user u;
	int64_t retry = 0;
	char secs[24];
	enum pc_err err;

	if (token == NULL)
		return ma_not_authenticated(req, resp);
	err = req_json_str(req, "claim", true, &claim);
	if (err == PC_OK)
		err = totp_login(req->ctx, token, claim, &u, &retry);
	if (err == PC_ELIMITED) {
		snprintf(secs, sizeof(secs), "%lld", (long long)retry);
		err = resp_header_add(resp, "Retry-After", secs);
		if (err != PC_OK)
			return err;
		return ma_fail(req, resp, PC_ELIMITED, ma_totp_login_errs);
	}
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_totp_login_errs);
	return ma_pair_issue(req, resp, &u, ma_totp_login_errs);
}

static enum pc_err ma_me_get(struct pc_req *req, struct pc_resp *resp)
{
	return ma_user_render(req, resp, req->user);
}

/* UserUpdate {email?, password?, full_name?, original?}: a new email or
 * password needs `original`, the current password, when the user has one. */
static enum pc_err ma_me_put(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_user target = *req->user;
	struct pc_user_input in;
	const char *original = NULL;
	enum pc_err err;

	pc_user_input_init(&in);
	err = req_json_str(req, "email", false, &in.email);
	if (err == PC_OK)
		err = req_json_str(req, "password", false, &in.password);
	if (err == PC_OK)
		err = req_json_str(req, "full_name", false, &in.full_name);
	if (err == PC_OK)
		err = req_json_str(req, "original", false, &original);
	if (err == PC_OK && (in.email != NULL || in.password != NULL))
		err = pc_user_check_password(req->ctx, target.id, original,
					     original != NULL ? strlen(original) : 0);
	if (err == PC_OK) {
		if (in.password != NULL)
			in.password_len = strlen(in.password);
		err = pc_user_update(req->ctx, &target, &in, 0, &req->errinfo);
	}
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_update_errs);
	return ma_user_render(req, resp, &target);
}

/* A superuser may not delete itself (the template's rule): 400. */
static enum pc_err ma_me_delete(struct pc_req *req, struct pc_resp *resp)
{
	enum pc_err err;

	if (req->user->is_superuser)
		return ma_detail(req, resp, 400, "Super users are not allowed to delete themselves");
	err = pc_user_delete(req->ctx, req->user->id);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_delete_errs);
	return resp_json(resp, 200, req_json_keep(req,
		json_pack("{s:s}", "msg", "User deleted successfully")));
}

/* ---- admin handlers (superuser; the router answers 401/403) ----------------------- */

struct ma_list {
	struct pc_req *req;
	json_t *arr;
	enum pc_err err;
};

static int ma_list_one(const struct pc_user *u, void *arg)
{
	struct ma_list *l = arg;
	json_t *o = ma_user_json(u);

	if (o == NULL || json_array_append_new(l->arr, o) != 0) {
		l->err = PC_ENOMEM;
		return 1;
	}
	return 0;
}

/* ?page=N, from 0 (FastAPI's int query parameter, here with ge=0). */
static enum pc_err ma_read_page(struct pc_req *req, int64_t *page)
{
	const char *v = req_query_get(req, "page");
	char *end;
	long long n;

	*page = 0;
	if (v == NULL)
		return PC_OK;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno != 0 || isspace((unsigned char)v[0])) {
		pc_errinfo_set(&req->errinfo, "query", "page", PC_V_NOT_INTEGER, 0);
		return PC_EINVAL;
	}
	if (n < 0) {
		pc_errinfo_set(&req->errinfo, "query", "page", PC_V_RANGE, 0);
		return PC_EINVAL;
	}
	*page = n;
	return PC_OK;
}

/* Pages in (created_at, id) order over the users_created index; a page is
 * OFFSET page * size into it. */
static enum pc_err ma_users_list(struct pc_req *req, struct pc_resp *resp)
{
	const struct ma_settings *s = config_layer_get(pc_ctx_config(req->ctx), &ma_settings);
	struct ma_list l = { .req = req, .arr = json_array(), .err = PC_OK };
	int64_t page;
	enum pc_err err = ma_read_page(req, &page);

	if (l.arr == NULL || s == NULL)
		err = PC_ENOMEM;
	else if (err == PC_OK && page > INT64_MAX / s->page_size)
		page = INT64_MAX / s->page_size; /* far past the end: an empty page */
	if (err == PC_OK)
		err = pc_user_list(req->ctx, page * s->page_size, s->page_size, ma_list_one, &l);
	if (err == PC_OK)
		err = l.err;
	if (err != PC_OK) {
		json_decref(l.arr);
		return ma_fail(req, resp, err, ma_admin_errs);
	}
	return resp_json(resp, 200, req_json_keep(req, l.arr));
}

/* What an admin that is no superuser may not do: make a superuser, give or
 * take roles, or change a superuser (target NULL: a new user). A superuser
 * may do everything. */
static bool ma_admin_may(const struct pc_req *req, const struct pc_user *target,
			 const struct pc_user_input *in)
{
	if (req->user->is_superuser)
		return true;
	if (target != NULL && target->is_superuser)
		return false;
	return in == NULL || (in->is_superuser != 1 && in->roles == NULL);
}

/* "roles": a list of role names, optional, into in->roles as one
 * space-separated string (the core checks the names). PC_EINVAL (ei: roles)
 * for another type, or a name that is no string or holds a space. */
static enum pc_err ma_read_roles(struct pc_req *req, struct pc_user_input *in)
{
	json_t *v = json_object_get(req->json, "roles"), *name;
	size_t i, len = 0;
	char *out;

	if (v == NULL || json_is_null(v))
		return PC_OK;
	if (!json_is_array(v) || json_array_size(v) > 64)
		goto out_bad;
	out = arena_alloc(req->arena, 64 * (PC_ROLES_MAX + 1));
	if (out == NULL)
		return PC_ENOMEM;
	json_array_foreach(v, i, name) {
		const char *s = json_string_value(name);
		size_t n = s != NULL ? json_string_length(name) : 0;

		if (s == NULL || n == 0 || n > PC_ROLES_MAX || memchr(s, ' ', n) != NULL ||
		    memchr(s, '\0', n) != NULL)
			goto out_bad;
		if (len > 0)
			out[len++] = ' ';
		memcpy(out + len, s, n);
		len += n;
	}
	out[len] = '\0';
	in->roles = out;
	return PC_OK;
out_bad:
	pc_errinfo_set(&req->errinfo, "body", "roles", PC_V_ROLES_INVALID, 16);
	return PC_EINVAL;
}

static enum pc_err ma_toggle_state(struct pc_req *req, struct pc_resp *resp)
{
	const char *email;
	struct pc_user u;
	struct pc_user_input in;
	enum pc_err err = req_json_str(req, "user_email", true, &email);

	if (err == PC_OK)
		err = pc_user_get_by_email(req->ctx, email, &u);
	if (err == PC_OK && !ma_admin_may(req, &u, NULL)) {
		crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
		return ma_detail(req, resp, 403, MA_NOT_ENOUGH);
	}
	if (err == PC_OK) {
		pc_user_input_init(&in);
		in.is_active = !u.is_active;
		err = pc_user_update(req->ctx, &u, &in, PC_UPDATE_PRIVILEGED, &req->errinfo);
	}
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_admin_errs);
	return resp_json(resp, 200, req_json_keep(req,
		json_pack("{s:s}", "msg", "User state toggled successfully.")));
}

static enum pc_err ma_user_create(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_user_input in;
	struct pc_user u;
	enum pc_err err = fastapi_read_user(req, true, false, &in);

	if (err == PC_OK)
		err = ma_read_roles(req, &in);
	if (err == PC_OK && !ma_admin_may(req, NULL, &in))
		return ma_detail(req, resp, 403, MA_NOT_ENOUGH);
	if (err == PC_OK)
		err = pc_user_create(req->ctx, &in, &u, &req->errinfo);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_admin_errs);
	return ma_user_render(req, resp, &u);
}

/* A user_id that is no UUID is no user: 404, as for an unknown one. */
static enum pc_err ma_user_get(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_user u;
	enum pc_err err = pc_user_get(req->ctx, req_param_get(req, "user_id"), &u);

	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_admin_errs);
	return ma_user_render(req, resp, &u);
}

static enum pc_err ma_user_post(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_user_input in;
	struct pc_user u;
	enum pc_err err = pc_user_get(req->ctx, req_param_get(req, "user_id"), &u);

	if (err == PC_OK)
		err = fastapi_read_user(req, false, false, &in);
	if (err == PC_OK)
		err = ma_read_roles(req, &in);
	if (err == PC_OK && !ma_admin_may(req, &u, &in))
		return ma_detail(req, resp, 403, MA_NOT_ENOUGH);
	if (err == PC_OK)
		err = pc_user_update(req->ctx, &u, &in, PC_UPDATE_PRIVILEGED, &req->errinfo);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_admin_errs);
	return ma_user_render(req, resp, &u);
}

/* The /me rule holds here too: a superuser deleting itself by its own id
 * would leave the server without the admin who asked. An admin that is no
 * superuser may not delete a superuser. */
static enum pc_err ma_user_delete(struct pc_req *req, struct pc_resp *resp)
{
	const char *id = req_param_get(req, "user_id");
	struct pc_user u;
	enum pc_err err;

	if (req->user->is_superuser && id != NULL && strcmp(id, req->user->id) == 0)
		return ma_detail(req, resp, 400, "Super users are not allowed to delete themselves");
	if (!req->user->is_superuser) {
		err = pc_user_get(req->ctx, id, &u);
		crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
		if (err != PC_OK)
			return ma_fail(req, resp, err, ma_admin_errs);
		if (!ma_admin_may(req, &u, NULL))
			return ma_detail(req, resp, 403, MA_NOT_ENOUGH);
	}
	err = pc_user_delete(req->ctx, id);
	if (err != PC_OK)
		return ma_fail(req, resp, err, ma_admin_errs);
	return resp_json(resp, 200, req_json_keep(req,
		json_pack("{s:s}", "msg", "User deleted successfully.")));
}

const struct pc_face face_myauth = {
	.name = "myauth",
	.mounts = ma_mounts,
	.nmounts = N(ma_mounts),
	.render_error = ma_render_error,
	.settings = &ma_settings,
	.auth = {
		.bearer = true,
		.cookie = false,
		.csrf = false,
		.claims = &jwt_claims_rfc7519,
	},
};
