/*
 * user_account.c - a Flask user_account API whose tokens are Flask-JWT-
 * Extended's, in cookies or an Authorization header (seed 004).
 *
 * Mounted under user_account_prefix (default /user_account):
 *   POST login                   {username, pwd} -> 200 {msg, token} and the cookies
 *   POST refresh                 the refresh cookie + X-CSRF-TOKEN -> new cookies
 *   GET  logout                  -> 200 {msg}, cookies cleared, tokens revoked (403
 *                                from an untrusted Origin or Referer: it changes state)
 *   POST logout                  the same; with the cookie it needs X-CSRF-TOKEN
 *   POST registration            {username, full_name, email, phone, contacts, pwd}
 *                                -> 200 {msg} and a confirmation mail
 *   GET  confirm_email/{token}   -> 200 {msg}; 400 "Wrong token"
 *   POST reset_password_request  {username} -> 200 {msg} and a reset mail
 *   POST reset_password/{token}  {new_pwd} -> 200 {msg}; 400 "Wrong token"
 *   GET  profile_settings        -> 200 the profile, email masked, pwd "********"
 *
 * Tokens (claims tables jwt_claims_flask{,_refresh} in jwt.c): HS256 under
 * the server's JWT key with Flask-JWT-Extended's claims sub, jti, type
 * ("access" / "refresh"), fresh (false), iat, nbf, exp and csrf, the CSRF
 * token of the double submit. The access token also carries "fam", the
 * refresh family it was issued from (core/refresh.c), so a logout that
 * revokes the family stops every access token of the login; the refresh
 * token's jti is the family's opaque refresh token (refresh_jwt_wrap, as
 * simplejwt's), whose hash alone the store keeps. type keeps either from
 * passing as the other; tokens of other faces lack type (or sub) and are
 * refused, and these lack aud (fastapi-users, MyAuth) and user_id
 * (simplejwt) there.
 *
 * Cookies (Secure per user_account_cookie_secure, SameSite per
 * user_account_cookie_samesite, Max-Age the refresh lifetime: an access
 * cookie outlives its token, so an expired one answers 403 "Token has
 * expired" and the client refreshes):
 *   access_token_cookie   HttpOnly, Path=/          the access JWT
 *   csrf_access_token     readable, Path=/          its csrf claim
 *   refresh_token_cookie  HttpOnly, Path={prefix}/refresh   the refresh JWT
 *   csrf_refresh_token    readable, Path=/          its csrf claim (a script
 *                         on any page must read it to call refresh)
 *
 * Authentication (the router, authn.c, by this face's auth profile): the
 * bearer header when present, else the access cookie, both checked by
 * jwt_claims_flask. A cookie-authenticated request other than GET, HEAD
 * and OPTIONS needs X-CSRF-TOKEN equal, in constant time, to the access
 * token's csrf claim (what Flask-JWT-Extended compares; the cookie holds
 * the same value). A bearer request needs no CSRF header.
 *
 * Implicit refresh (Flask-JWT-Extended's documented after_request): the
 * answer to a cookie-authenticated request whose access token expires
 * within user_account_refresh_window_seconds carries a new access cookie
 * (same family) and its CSRF cookie.
 *
 * Refusals, in Flask-JWT-Extended's words and the seed's statuses:
 *   no token                          401 Missing JWT in headers or cookies (...)
 *   expired                           403 Token has expired (the seed's; FJE says 401)
 *   CSRF header absent / different    401 Missing CSRF token / CSRF double
 *                                     submit tokens do not match
 *   good but revoked (logout), or its user gone   401 Token has been revoked
 *   inactive user                     401 User is inactive
 *   a refresh token as access token   422 Only non-refresh tokens are allowed
 *   anything else (forged, garbled, another face's)   422 Invalid token
 * Bad bodies answer 400 {"msg": "..."} naming the field; 404, 405, 413, 500
 * and 503 answer {"msg": "..."} too.
 *
 * reset_password_request for an unknown username answers 400 "user not
 * found", as the seed documents; user_account_reveal_unknown_users=false
 * answers it 200 like a known one (no mail). README: the trade-off.
 *
 * Settings (rows of this file): user_account_prefix,
 * user_account_access_cookie_name, user_account_cookie_secure,
 * user_account_cookie_samesite, user_account_cookie_domain,
 * user_account_refresh_window_seconds, user_account_reveal_unknown_users.
 *
 * Reads top-down: tables, settings, readers, renderers, cookies, handlers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faces/face.h"

static pc_handler_fn ua_login, ua_refresh, ua_logout, ua_registration, ua_confirm,
	ua_reset_request, ua_reset, ua_profile;

static const struct pc_route ua_routes[] = {
	{ "POST", "/login", ua_login, PC_R_JSON | PC_R_SLOW },
	{ "POST", "/refresh", ua_refresh, PC_R_COMMITS },
	{ "GET", "/logout", ua_logout, PC_R_AUTH | PC_R_WRITES | PC_R_COMMITS }, /* Origin-checked */
	/* also POST (Flask-JWT-Extended's examples): with a cookie, CSRF applies */
	{ "POST", "/logout", ua_logout, PC_R_AUTH | PC_R_COMMITS },
	{ "POST", "/registration", ua_registration, PC_R_JSON | PC_R_SLOW },
	{ "GET", "/confirm_email/{token}", ua_confirm, 0 },
	{ "POST", "/reset_password_request", ua_reset_request, PC_R_JSON },
	{ "POST", "/reset_password/{token}", ua_reset, PC_R_JSON | PC_R_SLOW },
	{ "GET", "/profile_settings", ua_profile, PC_R_AUTH | PC_R_ACTIVE },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define UA_REFRESH_COOKIE "refresh_token_cookie"
#define UA_CSRF_ACCESS_COOKIE "csrf_access_token"
#define UA_CSRF_REFRESH_COOKIE "csrf_refresh_token"
#define UA_CSRF_HEADER "X-CSRF-TOKEN"

/* ---- settings ------------------------------------------------------------------ */

struct ua_settings {
	char prefix[128];
	struct pc_cookie_conf cookie; /* name: the access cookie's */
	int refresh_window;
	bool reveal_unknown;
	bool router; /* mount the blueprint */
};

static const char *ua_rule(const void *values, const char **field)
{
	const struct ua_settings *s = values;

	if (strcmp(s->cookie.samesite, "none") == 0 && !s->cookie.secure) {
		*field = "user_account_cookie_samesite";
		return "user_account_cookie_samesite=none requires user_account_cookie_secure=true";
	}
	return NULL;
}

static const struct config_row ua_setting_rows[] = {
	CONFIG_ROW_STR(struct ua_settings, "user_account_prefix", prefix, "/user_account", NULL,
		       config_check_prefix, "prefix of the user_account routes"),
	CONFIG_ROW_BOOL(struct ua_settings, "user_account_router", router, "true",
			"mount the user_account blueprint"),
	CONFIG_ROW_STR(struct ua_settings, "user_account_access_cookie_name", cookie.name,
		       "access_token_cookie", NULL, config_check_cookie_name,
		       "name of user_account's access token cookie"),
	CONFIG_ROW_BOOL(struct ua_settings, "user_account_cookie_secure", cookie.secure, "true",
			"Secure attribute on user_account's cookies"),
	CONFIG_ROW_STR(struct ua_settings, "user_account_cookie_samesite", cookie.samesite, "lax",
		       "lax|strict|none", NULL, "SameSite attribute of user_account's cookies"),
	CONFIG_ROW_STR(struct ua_settings, "user_account_cookie_domain", cookie.domain, "", NULL,
		       NULL, "Domain attribute of user_account's cookies; empty: host-only"),
	CONFIG_ROW_INT(struct ua_settings, "user_account_refresh_window_seconds", refresh_window,
		       "1800", 0, 31536000,
		       "a cookie-authenticated answer carries a new access cookie when the "
		       "access token expires within this"),
	CONFIG_ROW_BOOL(struct ua_settings, "user_account_reveal_unknown_users", reveal_unknown,
			"true", "reset_password_request answers 400 \"user not found\" for an "
			"unknown username (false: 200 as for a known one)"),
};

static const struct config_layer ua_settings = {
	.name = "user_account",
	.rows = ua_setting_rows,
	.nrows = N(ua_setting_rows),
	.size = sizeof(struct ua_settings),
	.rule = ua_rule,
};

static const struct pc_mount ua_mounts[] = {
	{ .router = "user_account", .prefix_setting = "user_account_prefix", .suffix = "",
	  .enable_setting = "user_account_router", .routes = ua_routes, .nroutes = N(ua_routes) },
};

static const struct ua_settings *ua_cfg(const struct pc_req *req)
{
	return config_layer_get(pc_ctx_config(req->ctx), &ua_settings);
}

/* ---- readers ---------------------------------------------------------------------- */

/* A string member (req_json_str); on PC_EINVAL req->errinfo says why. A
 * string longer than max bytes is PC_V_TOO_LONG. */
static enum pc_err ua_str(struct pc_req *req, const char *name, bool required, size_t max,
			  const char **out)
{
	enum pc_err err = req_json_str(req, name, required, out);

	if (err == PC_OK && *out != NULL && strlen(*out) > max) {
		pc_errinfo_set(&req->errinfo, "body", name, PC_V_TOO_LONG, (long)max);
		return PC_EINVAL;
	}
	return err;
}

/* contacts: absent or null -> "", an object or array -> its compact text. */
static enum pc_err ua_contacts(struct pc_req *req, char out[PC_CONTACTS_MAX + 1])
{
	json_t *v = json_object_get(req->json, "contacts");
	char *text;
	size_t n;

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return PC_OK;
	if (!json_is_object(v) && !json_is_array(v)) {
		pc_errinfo_set(&req->errinfo, "body", "contacts", PC_V_INVALID, 0);
		return PC_EINVAL;
	}
	text = json_dumps(v, JSON_COMPACT);
	if (text == NULL)
		return PC_ENOMEM;
	n = strlen(text);
	if (n > PC_CONTACTS_MAX)
		pc_errinfo_set(&req->errinfo, "body", "contacts", PC_V_TOO_LONG, PC_CONTACTS_MAX);
	else
		memcpy(out, text, n + 1);
	free(text);
	return n > PC_CONTACTS_MAX ? PC_EINVAL : PC_OK;
}

/* The registration body into in and p (strings borrowed from req->json). */
static enum pc_err ua_read_registration(struct pc_req *req, struct pc_user_input *in,
					struct pc_user_profile *p)
{
	const char *phone = NULL;
	enum pc_err err;

	pc_user_input_init(in);
	memset(p, 0, sizeof(*p));
	err = ua_str(req, "username", true, PC_USERNAME_MAX, &in->username);
	if (err == PC_OK)
		err = ua_str(req, "full_name", false, PC_NAME_MAX, &in->full_name);
	if (err == PC_OK)
		err = ua_str(req, "email", true, PC_EMAIL_MAX, &in->email);
	if (err == PC_OK)
		err = ua_str(req, "phone", false, PC_PHONE_MAX, &phone);
	if (err == PC_OK)
		err = ua_contacts(req, p->contacts);
	if (err == PC_OK)
		err = ua_str(req, "pwd", true, (size_t)pc_ctx_config(req->ctx)->password_max_length * 4,
			     &in->password);
	if (err != PC_OK)
		return err;
	in->password_len = strlen(in->password);
	p->has_phone = phone != NULL;
	if (phone != NULL)
		memcpy(p->phone, phone, strlen(phone) + 1);
	return pc_user_profile_check(p, &req->errinfo);
}

/* ---- renderers ------------------------------------------------------------------- */

static enum pc_err ua_msg(struct pc_req *req, struct pc_resp *resp, int status, const char *msg)
{
	struct pc_jw w;

	jw_init(&w, req->arena);
	jw_str(&w, "msg", msg);
	return resp_jw(resp, status, &w);
}

/* Out of our words: 500, or 503 when a queue was full. */
static enum pc_err ua_fail(struct pc_req *req, struct pc_resp *resp, enum pc_err err)
{
	if (err == PC_EBUSY || err == PC_EUNAVAILABLE)
		return ua_msg(req, resp, 503, "Service temporarily unavailable, try again later");
	return ua_msg(req, resp, 500, "Internal server error");
}

/* The field a client knows: the core's "password" is this API's pwd. */
static const char *ua_field(const struct pc_errinfo *ei, const char *password_field)
{
	if (strcmp(ei->field, "password") == 0)
		return password_field;
	return ei->field[0] != '\0' ? ei->field : "body";
}

/* One sentence for what ei says of a field. */
static const char *ua_field_msg(struct pc_req *req, const struct pc_errinfo *ei,
				const char *password_field)
{
	const char *f = ua_field(ei, password_field);

	if (strcmp(f, "username") == 0 && ei->code != PC_V_MISSING &&
	    ei->code != PC_V_STRING_TYPE)
		return "username is not allowed"; /* invalid, too long or taken: the seed's */
	switch (ei->code) {
	case PC_V_MISSING:
		return arena_printf(req->arena, "%s is required", f);
	case PC_V_STRING_TYPE:
		return arena_printf(req->arena, "%s must be a string", f);
	case PC_V_NUL_CHAR:
		return arena_printf(req->arena, "%s must not contain NUL characters", f);
	case PC_V_TOO_SHORT:
		return arena_printf(req->arena, "%s is too short (at least %ld characters)", f,
				    ei->limit);
	case PC_V_TOO_LONG:
		return arena_printf(req->arena, "%s is too long (at most %ld)", f, ei->limit);
	case PC_V_CONTAINS_EMAIL:
		return arena_printf(req->arena, "%s must not contain the email", f);
	case PC_V_CONTAINS_USERNAME:
		return arena_printf(req->arena, "%s must not contain the username", f);
	case PC_V_TOO_WEAK:
		return arena_printf(req->arena, "%s is too easy to guess", f);
	case PC_V_TAKEN:
		return arena_printf(req->arena, "%s is not allowed", f);
	case PC_V_INVALID:
		if (strcmp(f, "contacts") == 0)
			return "contacts must be an object, an array or null";
		return arena_printf(req->arena, "%s is not valid", f);
	default:
		return arena_printf(req->arena, "%s is not valid", f);
	}
}

static enum pc_err ua_bad_field(struct pc_req *req, struct pc_resp *resp,
				const char *password_field)
{
	const char *msg = ua_field_msg(req, &req->errinfo, password_field);

	if (msg == NULL)
		return ua_fail(req, resp, PC_ENOMEM);
	return ua_msg(req, resp, 400, msg);
}

/* The access token the request presents: the bearer header when there is
 * one (as the router takes it), else the access cookie; NULL when none. */
static const char *ua_token(const struct pc_req *req)
{
	const char *t = req_bearer_get(req);

	return t != NULL ? t : req_cookie_get(req, ua_cfg(req)->cookie.name);
}

/* Why the router refused the request's access token, in Flask-JWT-
 * Extended's words (see the top of the file). */
static void ua_auth_refusal(struct pc_req *req, struct pc_resp *resp, const struct pc_errinfo *ei)
{
	const char *token = ua_token(req);
	struct pc_jwt_claims c;

	if (token == NULL) {
		const char *msg = arena_printf(req->arena, "Missing JWT in headers or cookies (Missing "
					       "Authorization Header; Missing cookie \"%s\")",
					       ua_cfg(req)->cookie.name);

		ua_msg(req, resp, 401, msg != NULL ? msg : "Missing JWT in headers or cookies");
	} else if (ei != NULL && ei->code == PC_V_INACTIVE) {
		ua_msg(req, resp, 401, "User is inactive");
	} else if (auth_jwt_expired(req->ctx, &jwt_claims_flask, token)) {
		ua_msg(req, resp, 403, "Token has expired");
	} else if (auth_jwt_claims(req->ctx, &jwt_claims_flask, token, &c) == PC_OK) {
		ua_msg(req, resp, 401, "Token has been revoked");
	} else if (auth_jwt_claims(req->ctx, &jwt_claims_flask_refresh, token, &c) == PC_OK) {
		ua_msg(req, resp, 422, "Only non-refresh tokens are allowed");
	} else {
		ua_msg(req, resp, 422, "Invalid token");
	}
	crypto_wipe(&c, sizeof(c));
}

/* The router's refusal of a body it could not read. */
static const char *ua_body_msg(struct pc_req *req, const struct pc_errinfo *ei)
{
	switch (ei->code) {
	case PC_V_JSON_INVALID:
		return "The request body is not valid JSON";
	case PC_V_OBJECT_TYPE:
		return "The request body must be a JSON object";
	case PC_V_MISSING:
		if (ei->field[0] == '\0')
			return "The request body must be a JSON object";
		break;
	default:
		break;
	}
	return ua_field_msg(req, ei, "pwd");
}

static void ua_render_error(struct pc_req *req, struct pc_resp *resp, int status,
			    const struct pc_errinfo *ei)
{
	const char *msg;

	switch (status) {
	case 401:
		ua_auth_refusal(req, resp, ei);
		return;
	case 403: /* the router's CSRF refusal is Flask-JWT-Extended's 401 */
		if (req->errinfo.code == PC_V_CSRF_MISSING)
			msg = "Missing CSRF token";
		else if (req->errinfo.code == PC_V_CSRF_MISMATCH)
			msg = "CSRF double submit tokens do not match";
		else
			msg = NULL;
		if (msg != NULL)
			status = 401;
		(void)ua_msg(req, resp, status, msg != NULL ? msg : "Forbidden");
		return;
	case 422:
		msg = ei != NULL ? ua_body_msg(req, ei) : "Bad request";
		(void)ua_msg(req, resp, 400, msg != NULL ? msg : "Bad request");
		return;
	case 404:
		msg = "Not found";
		break;
	case 405:
		msg = "Method not allowed";
		break;
	case 413:
		msg = "Request body is too large";
		break;
	case 503:
		msg = "Service temporarily unavailable, try again later";
		break;
	default:
		msg = "Internal server error";
		break;
	}
	(void)ua_msg(req, resp, status, msg);
}

/* d******z@yandex.ru: the local part's first and last characters, a '*' for
 * each one between (a local part of one or two characters keeps none or its
 * first); the domain as it is. NULL (JSON null) for a user without email. */
static const char *ua_mask_email(struct pc_arena *a, const char *email)
{
	const char *at = strrchr(email, '@');
	size_t n, i;
	char *out;

	if (email[0] == '\0' || at == NULL)
		return NULL;
	n = (size_t)(at - email);
	out = arena_strdup(a, email);
	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		bool keep = (i == 0 && n > 1) || (i == n - 1 && n > 2);

		if (!keep)
			out[i] = '*';
	}
	return out;
}

/* ---- cookies --------------------------------------------------------------------- */

/* One of this face's cookies; value "" with max_age 0 deletes it. */
static enum pc_err ua_cookie(struct pc_req *req, struct pc_resp *resp, const char *name,
			     const char *value, bool httponly, bool refresh_path, int max_age)
{
	const struct ua_settings *st = ua_cfg(req);
	struct pc_cookie c = {
		.name = name,
		.value = value,
		.max_age = max_age,
		.path = refresh_path ? arena_printf(req->arena, "%s/refresh", st->prefix) : "/",
		.domain = st->cookie.domain,
		.samesite = st->cookie.samesite,
		.secure = st->cookie.secure,
		.httponly = httponly,
	};

	if (c.path == NULL)
		return PC_ENOMEM;
	return resp_cookie_set(resp, &c);
}

/* The access cookie and its CSRF cookie for the access JWT access. */
static enum pc_err ua_set_access(struct pc_req *req, struct pc_resp *resp, const char *access)
{
	int age = pc_ctx_config(req->ctx)->refresh_token_lifetime_seconds;
	struct pc_jwt_claims c;
	enum pc_err err = auth_jwt_claims(req->ctx, &jwt_claims_flask, access, &c);

	if (err == PC_OK)
		err = ua_cookie(req, resp, ua_cfg(req)->cookie.name, access, true, false, age);
	if (err == PC_OK)
		err = ua_cookie(req, resp, UA_CSRF_ACCESS_COOKIE, c.csrf, false, false, age);
	crypto_wipe(&c, sizeof(c));
	return err;
}

/* The refresh cookie (path-limited to refresh) and its CSRF cookie. */
static enum pc_err ua_set_refresh(struct pc_req *req, struct pc_resp *resp, const char *refresh)
{
	int age = pc_ctx_config(req->ctx)->refresh_token_lifetime_seconds;
	struct pc_jwt_claims c;
	enum pc_err err = auth_jwt_claims(req->ctx, &jwt_claims_flask_refresh, refresh, &c);

	if (err == PC_OK)
		err = ua_cookie(req, resp, UA_REFRESH_COOKIE, refresh, true, true, age);
	if (err == PC_OK)
		err = ua_cookie(req, resp, UA_CSRF_REFRESH_COOKIE, c.csrf, false, false, age);
	crypto_wipe(&c, sizeof(c));
	return err;
}

static enum pc_err ua_clear_cookies(struct pc_req *req, struct pc_resp *resp)
{
	enum pc_err err = ua_cookie(req, resp, ua_cfg(req)->cookie.name, "", true, false, 0);

	if (err == PC_OK)
		err = ua_cookie(req, resp, UA_CSRF_ACCESS_COOKIE, "", false, false, 0);
	if (err == PC_OK)
		err = ua_cookie(req, resp, UA_REFRESH_COOKIE, "", true, true, 0);
	if (err == PC_OK)
		err = ua_cookie(req, resp, UA_CSRF_REFRESH_COOKIE, "", false, false, 0);
	return err;
}

/* {msg, token} and the four cookies of a pair (a login or a refresh).
 * Wipes the pair. */
static enum pc_err ua_pair_render(struct pc_req *req, struct pc_resp *resp,
				  struct refresh_pair *p, const char *user_id, const char *msg)
{
	char refresh[PC_JWT_MAX];
	enum pc_err err = refresh_jwt_wrap(req->ctx, &jwt_claims_flask_refresh, p->refresh,
					   user_id, refresh, sizeof(refresh));
	struct pc_jw w;

	if (err == PC_OK)
		err = ua_set_access(req, resp, p->access);
	if (err == PC_OK)
		err = ua_set_refresh(req, resp, refresh);
	if (err == PC_OK) {
		jw_init(&w, req->arena);
		jw_str(&w, "msg", msg);
		jw_str(&w, "token", p->access);
		err = resp_jw(resp, 200, &w);
	}
	crypto_wipe(p, sizeof(*p));
	crypto_wipe(refresh, sizeof(refresh));
	return err != PC_OK ? ua_fail(req, resp, err) : PC_OK;
}

/* Flask-JWT-Extended's after_request refresh: a cookie-authenticated
 * answer whose access token expires within the window gets a new access
 * token of the same family, with its CSRF cookie. Best effort: the answer
 * stands without it. */
static void ua_implicit_refresh(struct pc_req *req, struct pc_resp *resp)
{
	char access[PC_JWT_MAX];
	struct pc_jwt_claims c;

	if (req->cred_kind != PC_CRED_COOKIE || req->user == NULL)
		return;
	if (auth_jwt_claims(req->ctx, &jwt_claims_flask, req->cred, &c) != PC_OK)
		return;
	if (c.exp - time_now() <= ua_cfg(req)->refresh_window &&
	    auth_jwt_issue_family(req->ctx, &jwt_claims_flask, req->user,
				  c.fam[0] != '\0' ? c.fam : NULL, access, sizeof(access)) == PC_OK)
		(void)ua_set_access(req, resp, access);
	crypto_wipe(access, sizeof(access));
	crypto_wipe(&c, sizeof(c));
}

/* Whether the request carries a good access token of this face (the reset
 * routes refuse an authenticated user). */
static bool ua_authenticated(struct pc_req *req)
{
	const char *token = ua_token(req);
	struct pc_user u;
	bool yes;

	if (token == NULL)
		return false;
	yes = auth_jwt_authenticate(req->ctx, &jwt_claims_flask, token, &u) == PC_OK;
	crypto_wipe(&u, sizeof(u));
	return yes;
}

/* ---- handlers --------------------------------------------------------------------- */

static enum pc_err ua_login(struct pc_req *req, struct pc_resp *resp)
{
	const char *username = NULL, *pwd = NULL;
	struct refresh_pair pair;
	struct pc_user u;
	enum pc_err err = ua_str(req, "username", true, PC_EMAIL_MAX, &username);

	if (err == PC_OK)
		err = req_json_str(req, "pwd", true, &pwd);
	if (err != PC_OK)
		return ua_bad_field(req, resp, "pwd");
	err = face_limit_client(req, resp, PC_LIMIT_LOGIN_IP);
	if (err == PC_OK) {
		err = pc_login(req->ctx, username, pwd, strlen(pwd), &u);
		if (err == PC_ELIMITED)
			err = face_login_locked(req, resp, username);
	}
	if (err == PC_ELIMITED) /* Flask-Limiter's words; Retry-After set */
		return ua_msg(req, resp, 429, "Too many requests");
	/* unknown, wrong password, inactive, unverified, TOTP on: one answer */
	if (err == PC_EBADCREDS || err == PC_ENOTVERIFIED || err == PC_ESECONDFACTOR)
		return ua_msg(req, resp, 401, "Wrong username or password");
	if (err == PC_OK)
		err = refresh_login_from(req->ctx, &jwt_claims_flask, &u, req->client_ip,
					 req_header_get(req, "User-Agent"), &pair);
	if (err != PC_OK)
		return ua_fail(req, resp, err);
	return ua_pair_render(req, resp, &pair, u.id, "login successful");
}

/* The refresh cookie, with X-CSRF-TOKEN equal to its csrf claim. */
static enum pc_err ua_refresh(struct pc_req *req, struct pc_resp *resp)
{
	const char *jwt = req_cookie_get(req, UA_REFRESH_COOKIE);
	const char *header = req_header_get(req, UA_CSRF_HEADER);
	char token[PC_TOKEN_MAX];
	struct refresh_pair pair;
	struct pc_jwt_claims c;
	struct pc_user u;
	enum pc_err err;

	if (jwt == NULL)
		return ua_msg(req, resp, 401, "Missing cookie \"" UA_REFRESH_COOKIE "\"");
	if (auth_jwt_expired(req->ctx, &jwt_claims_flask_refresh, jwt))
		return ua_msg(req, resp, 403, "Token has expired");
	if (auth_jwt_claims(req->ctx, &jwt_claims_flask_refresh, jwt, &c) != PC_OK)
		return ua_msg(req, resp, 422, auth_jwt_claims(req->ctx, &jwt_claims_flask, jwt, &c) ==
				      PC_OK ? "Only refresh tokens are allowed" : "Invalid token");
	err = header == NULL || header[0] == '\0' ? PC_EINVAL :
	      crypto_ct_streq(header, c.csrf) ? PC_OK : PC_EBADCREDS;
	crypto_wipe(&c, sizeof(c));
	if (err != PC_OK)
		return ua_msg(req, resp, 401, err == PC_EINVAL ? "Missing CSRF token" :
				      "CSRF double submit tokens do not match");
	err = refresh_jwt_unwrap(req->ctx, &jwt_claims_flask_refresh, jwt, token);
	if (err == PC_OK)
		err = refresh_rotate(req->ctx, &jwt_claims_flask, token, &pair, &u);
	crypto_wipe(token, sizeof(token));
	/* spent, revoked (logout), its user gone or inactive; or reused: the
	 * family is revoked now */
	if (err == PC_EUNAUTHORIZED || err == PC_EREVOKED)
		return ua_msg(req, resp, 401, "Token has been revoked");
	if (err != PC_OK)
		return ua_fail(req, resp, err);
	return ua_pair_render(req, resp, &pair, u.id, "refresh successful");
}

/* Revokes the access token (denylist) and its refresh family (the refresh
 * token and every access token of the login), then clears the cookies. */
static enum pc_err ua_logout(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_jwt_claims c;
	enum pc_err err = auth_jwt_claims(req->ctx, &jwt_claims_flask, req->cred, &c);

	if (err != PC_OK) { /* expired since the router's check */
		ua_auth_refusal(req, resp, NULL);
		return PC_OK;
	}
	err = auth_jwt_revoke(req->ctx, &jwt_claims_flask, req->cred);
	if (err == PC_OK && c.fam[0] != '\0')
		err = refresh_revoke_family(req->ctx, c.fam);
	crypto_wipe(&c, sizeof(c));
	if (err == PC_OK)
		err = ua_clear_cookies(req, resp);
	if (err != PC_OK)
		return ua_fail(req, resp, err);
	return ua_msg(req, resp, 200, "logout successful");
}

static enum pc_err ua_registration(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_user_profile *p = arena_calloc(req->arena, sizeof(*p));
	char client[PC_CLIENT_KEY_MAX];
	struct pc_user_input in;
	struct pc_user u;
	enum pc_err err;

	if (p == NULL)
		return ua_fail(req, resp, PC_ENOMEM);
	err = ua_read_registration(req, &in, p);
	if (err == PC_OK) {
		err = face_register_check(req, resp, client);
		if (err == PC_ELIMITED)
			return ua_msg(req, resp, 429, "Too many requests");
		if (err != PC_OK)
			return ua_fail(req, resp, err);
	}
	if (err == PC_OK)
		err = pc_user_register(req->ctx, &in, &u, &req->errinfo);
	if (err == PC_OK)
		face_register_count(req, client);
	if (err == PC_EINVAL || err == PC_EEXISTS || err == PC_EBADPASSWORD)
		return ua_bad_field(req, resp, "pwd");
	/* phone and contacts, checked before the user was made, are written
	 * right after it: a store failure here answers 500 and leaves the user
	 * without them (the hash is not made inside a transaction) */
	if (err == PC_OK)
		err = pc_user_profile_set(req->ctx, u.id, p, &req->errinfo);
	/* the confirmation mail (pc_user_register sent it already when
	 * verification is required) */
	if (err == PC_OK && !pc_ctx_config(req->ctx)->requires_verification)
		err = pc_verify_request(req->ctx, u.email, NULL);
	if (err != PC_OK)
		return ua_fail(req, resp, err);
	return ua_msg(req, resp, 200, "Check your email...");
}

static enum pc_err ua_confirm(struct pc_req *req, struct pc_resp *resp)
{
	struct pc_user u;
	enum pc_err err = pc_verify(req->ctx, req_param_get(req, "token"), &u);

	/* unknown, used, expired, another purpose; or verified already */
	if (err == PC_EUNAUTHORIZED || err == PC_EALREADY)
		return ua_msg(req, resp, 400, "Wrong token");
	if (err != PC_OK)
		return ua_fail(req, resp, err);
	return ua_msg(req, resp, 200, "Your email has been confirmed.");
}

static enum pc_err ua_reset_request(struct pc_req *req, struct pc_resp *resp)
{
	const char *username = NULL;
	bool known = false;
	enum pc_err err;

	if (ua_authenticated(req))
		return ua_msg(req, resp, 403, "user is already authenticated");
	err = ua_str(req, "username", true, PC_USERNAME_MAX, &username);
	if (err != PC_OK)
		return ua_bad_field(req, resp, "pwd");
	err = face_limit_mail(req, resp, NULL);
	if (err == PC_OK)
		err = face_limit_subject(req, resp, PC_LIMIT_MAIL_ADDRESS, username);
	if (err == PC_ELIMITED)
		return ua_msg(req, resp, 429, "Too many requests");
	if (err != PC_OK)
		return ua_fail(req, resp, err);
	err = onetime_forgot_username(req->ctx, username, &known);
	if (err != PC_OK)
		return ua_fail(req, resp, err);
	if (!known && ua_cfg(req)->reveal_unknown)
		return ua_msg(req, resp, 400, "user not found");
	return ua_msg(req, resp, 200, "Check your email...");
}

static enum pc_err ua_reset(struct pc_req *req, struct pc_resp *resp)
{
	const char *pwd = NULL;
	enum pc_err err;

	if (ua_authenticated(req))
		return ua_msg(req, resp, 403, "user is already authenticated");
	err = req_json_str(req, "new_pwd", true, &pwd);
	if (err == PC_OK)
		err = pc_password_reset(req->ctx, req_param_get(req, "token"), pwd, strlen(pwd), NULL,
					&req->errinfo);
	if (err == PC_EINVAL || err == PC_EBADPASSWORD)
		return ua_bad_field(req, resp, "new_pwd");
	if (err == PC_EUNAUTHORIZED)
		return ua_msg(req, resp, 400, "Wrong token");
	if (err != PC_OK)
		return ua_fail(req, resp, err);
	return ua_msg(req, resp, 200, "Your password has been reset.");
}

static enum pc_err ua_profile(struct pc_req *req, struct pc_resp *resp)
{
	const struct pc_user *u = req->user;
	struct pc_user_profile *p = arena_calloc(req->arena, sizeof(*p));
	json_t *body, *contacts = NULL;
	enum pc_err err = p != NULL ? pc_user_profile_get(req->ctx, u->id, p) : PC_ENOMEM;

	if (err != PC_OK)
		return ua_fail(req, resp, err);
	if (p->contacts[0] != '\0')
		contacts = json_loads(p->contacts, 0, NULL);
	body = req_json_keep(req, json_object());
	if (body == NULL)
		return ua_fail(req, resp, PC_ENOMEM);
	json_object_set_new(body, "contacts", contacts != NULL ? contacts : json_null());
	json_object_set_new(body, "email", u->email[0] != '\0' ?
			    json_string(ua_mask_email(req->arena, u->email)) : json_null());
	json_object_set_new(body, "full_name", u->full_name[0] != '\0' ?
			    json_string(u->full_name) : json_null());
	json_object_set_new(body, "is_email_verified", json_boolean(u->is_verified));
	json_object_set_new(body, "phone", p->has_phone ? json_string(p->phone) : json_null());
	json_object_set_new(body, "pwd", json_string("********"));
	json_object_set_new(body, "username", u->username[0] != '\0' ?
			    json_string(u->username) : json_null());
	err = resp_json(resp, 200, body);
	if (err == PC_OK)
		ua_implicit_refresh(req, resp);
	return err;
}

const struct pc_face face_user_account = {
	.name = "user_account",
	.mounts = ua_mounts,
	.nmounts = N(ua_mounts),
	.render_error = ua_render_error,
	.settings = &ua_settings,
	.auth = {
		.bearer = true,
		.cookie = true,
		.cookie_at = offsetof(struct ua_settings, cookie),
		.cookie_jwt = true,
		.csrf = true,
		.csrf_claim = true,
		.csrf_cookie = UA_CSRF_ACCESS_COOKIE,
		.csrf_header = UA_CSRF_HEADER,
		.claims = &jwt_claims_flask,
	},
};
