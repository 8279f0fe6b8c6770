/*
 * simplejwt.c - a Django REST framework simplejwt API (seed 002).
 *
 * Mounted under simplejwt_prefix (default /api/auth: under /auth its
 * register would meet fastapi-users' POST /auth/register), three routers
 * each with its switch:
 *   token     POST token          {username, password} -> 200 {refresh, access}
 *             POST token/refresh  {refresh} -> 200 {refresh, access} (rotation);
 *                                 {token} and no refresh: a verify (the seed's)
 *             POST token/verify   {token} -> 200 {}
 *   register  POST register       {username, password} -> 201 {refresh, access}
 *   user      GET  getuser        Bearer access -> 200 {username}
 * Bodies are JSON or urlencoded forms (DRF's default parsers; no multipart).
 *
 * Tokens (claims tables in jwt.c): the access token is simplejwt's
 * AccessToken: token_type "access", user_id, jti, exp, iat, HS256 under the
 * server's JWT key, no aud (simplejwt issues none by default), and "fam",
 * the refresh family it was issued from: a Django service with the same key
 * and USER_ID_FIELD a UUID accepts it, and a revoked family stops it here.
 * The refresh token is a JWT too, token_type "refresh", whose jti is the
 * opaque token of core/refresh.c's families (the store keeps its hash only):
 * a rotation spends it with the core's compare-and-swap, and a spent one
 * presented again (outside the grace) revokes the family, its access tokens
 * with it. The access lifetime is lifetime_seconds, the refresh lifetime
 * refresh_token_lifetime_seconds (both core settings).
 *
 * Neither token passes as the other: getuser takes only token_type
 * "access" (the face's claims table), refresh only "refresh". A token of
 * another face (no user_id, no token_type) is refused here, and these
 * (no sub, no aud) there.
 *
 * Verify answers 200 for a valid access token (signature, exp, type, its
 * user, jti and family still good: what getuser would accept but activity)
 * or a refresh token that a rotation would accept (unspent, unrevoked,
 * unexpired: a spent refresh token is not valid); else 401.
 *
 * Login (token) takes the username or the email as "username". A user with
 * TOTP on gets the 401 of a wrong password (simplejwt has no second step),
 * as do unknown, inactive and, with verification required, unverified users.
 * Register makes a user with a username and no email (the core allows either,
 * needs one); with users_requires_verification on it answers 201 {} and no
 * tokens (such a user cannot verify without an email: an operator's matter).
 * getuser answers the username, or the email of a user without one.
 *
 * Errors in DRF's words: 400 {"field": ["..."]} naming every bad field,
 * {"detail": "JSON parse error - ..."}, 401 {"detail", "code"} with
 * WWW-Authenticate: Bearer realm="api", 404 "Not found.", 405
 * 'Method "X" not allowed.', 409 "User already exists", 413.
 *
 * Settings (rows of this file): simplejwt_prefix, simplejwt_token_router,
 * simplejwt_register_router, simplejwt_user_router.
 *
 * Reads top-down: tables, settings, fields, renderers, handlers.
 */
#include <stdio.h>
#include <string.h>

#include "faces/face.h"
#include "faces/errors.h"

static pc_handler_fn sj_token, sj_refresh, sj_verify, sj_register, sj_getuser;

/* Body routes take JSON or a form, as DRF's parsers do. */
#define SJ_BODY (PC_R_JSON | PC_R_FORM)

static const struct pc_route sj_token_routes[] = {
	{ "POST", "/token", sj_token, SJ_BODY | PC_R_SLOW },
	{ "POST", "/token/refresh", sj_refresh, SJ_BODY | PC_R_COMMITS },
	{ "POST", "/token/verify", sj_verify, SJ_BODY },
};

static const struct pc_route sj_register_routes[] = {
	{ "POST", "/register", sj_register, SJ_BODY | PC_R_SLOW },
};

/* the router checks the bearer by jwt_claims_simplejwt (token_type "access") */
static const struct pc_route sj_user_routes[] = {
	{ "GET", "/getuser", sj_getuser, PC_R_AUTH | PC_R_BEARER | PC_R_ACTIVE },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- settings ------------------------------------------------------------------ */

struct sj_settings {
	char prefix[128];
	bool token_router;
	bool register_router;
	bool user_router;
};

static const struct config_row sj_setting_rows[] = {
	CONFIG_ROW_STR(struct sj_settings, "simplejwt_prefix", prefix, "/api/auth", NULL,
		       config_check_prefix, "prefix of the simplejwt routes"),
	CONFIG_ROW_BOOL(struct sj_settings, "simplejwt_token_router", token_router, "true",
			"mount simplejwt's token, token/refresh and token/verify"),
	CONFIG_ROW_BOOL(struct sj_settings, "simplejwt_register_router", register_router, "true",
			"mount simplejwt's register"),
	CONFIG_ROW_BOOL(struct sj_settings, "simplejwt_user_router", user_router, "true",
			"mount simplejwt's getuser"),
};

static const struct config_layer sj_settings = {
	.name = "simplejwt",
	.rows = sj_setting_rows,
	.nrows = N(sj_setting_rows),
	.size = sizeof(struct sj_settings),
	.rule = NULL,
};

static const struct pc_mount sj_mounts[] = {
	{ .router = "token", .prefix_setting = "simplejwt_prefix", .suffix = "",
	  .enable_setting = "simplejwt_token_router", .routes = sj_token_routes,
	  .nroutes = N(sj_token_routes) },
	{ .router = "register", .prefix_setting = "simplejwt_prefix", .suffix = "",
	  .enable_setting = "simplejwt_register_router", .routes = sj_register_routes,
	  .nroutes = N(sj_register_routes) },
	{ .router = "user", .prefix_setting = "simplejwt_prefix", .suffix = "",
	  .enable_setting = "simplejwt_user_router", .routes = sj_user_routes,
	  .nroutes = N(sj_user_routes) },
};

/* ---- fields: what each serializer requires ---------------------------------------- */

#define SJ_MAX_FIELDS 2

/* The required fields of each body route's serializer (all CharFields). */
static const struct sj_serializer {
	pc_handler_fn *handler;
	const char *fields[SJ_MAX_FIELDS + 1];
} sj_serializers[] = {
	{ sj_token, { "username", "password", NULL } },
	{ sj_register, { "username", "password", NULL } },
	{ sj_refresh, { "refresh", NULL } },
	{ sj_verify, { "token", NULL } },
};

/* The serializer of a handler; NULL for one without a body. */
static const struct sj_serializer *sj_serializer_of(pc_handler_fn *handler)
{
	for (size_t i = 0; i < N(sj_serializers); i++) {
		if (sj_serializers[i].handler == handler)
			return &sj_serializers[i];
	}
	return NULL;
}

#define SJ_REQUIRED "This field is required."

/* DRF's CharField on one member: the value, or NULL with *why set. */
static const char *sj_field(const struct pc_req *req, const char *name, const char **why)
{
	const char *s;
	json_t *v;

	*why = NULL;
	if (req->json == NULL) { /* a form */
		s = req_form_get(req, name);
		if (s == NULL)
			*why = SJ_REQUIRED;
		else if (s[0] == '\0')
			*why = "This field may not be blank.";
		return *why == NULL ? s : NULL;
	}
	v = json_object_get(req->json, name);
	if (v == NULL)
		*why = SJ_REQUIRED;
	else if (json_is_null(v))
		*why = "This field may not be null.";
	else if (!json_is_string(v))
		*why = "Not a valid string.";
	else if (strlen(json_string_value(v)) != json_string_length(v))
		*why = "Null characters are not allowed.";
	else if (json_string_length(v) == 0)
		*why = "This field may not be blank.";
	return *why == NULL ? json_string_value(v) : NULL;
}

/* Whether the body holds the member at all (form or JSON). */
static bool sj_has(const struct pc_req *req, const char *name)
{
	if (req->json == NULL)
		return req_form_get(req, name) != NULL;
	return json_object_get(req->json, name) != NULL;
}

/* Reads the serializer's fields into out[] (in its order). true when every
 * one is good; else false with *bad the 400 body naming each bad field
 * (arena-kept; NULL when out of memory). */
static bool sj_read(struct pc_req *req, const struct sj_serializer *ser, const char **out,
		    json_t **bad)
{
	const char *why;
	bool good = true;

	*bad = NULL;
	for (size_t i = 0; ser->fields[i] != NULL; i++) {
		out[i] = sj_field(req, ser->fields[i], &why);
		if (why == NULL)
			continue;
		if (good)
			*bad = req_json_keep(req, json_object());
		good = false;
		if (*bad != NULL)
			json_object_set_new(*bad, ser->fields[i], json_pack("[s]", why));
	}
	return good;
}

/* ---- renderers ------------------------------------------------------------------- */

#define SJ_NOT_VALID "Token is invalid or expired"
#define SJ_NO_ACCOUNT "No active account found with the given credentials"

static enum pc_err sj_detail(struct pc_req *req, struct pc_resp *resp, int status,
			     const char *detail)
{
	return resp_json(resp, status, req_json_keep(req, json_pack("{s:s}", "detail", detail)));
}

/* DRF's 401: the body, and WWW-Authenticate from the authenticator. */
static enum pc_err sj_401(struct pc_req *req, struct pc_resp *resp, json_t *body)
{
	/* without the header (out of memory) the answer still stands */
	(void)resp_header_add(resp, "WWW-Authenticate", "Bearer realm=\"api\"");
	return resp_json(resp, 401, req_json_keep(req, body));
}

static enum pc_err sj_not_valid(struct pc_req *req, struct pc_resp *resp)
{
	return sj_401(req, resp, json_pack("{s:s, s:s}", "detail", SJ_NOT_VALID, "code",
					   "token_not_valid"));
}

/* Python's name of the type of the JSON value the body holds (it parsed,
 * but is no object), as DRF names it. */
static const char *sj_json_type(const struct pc_req *req)
{
	const char *p = req->body.data != NULL ? req->body.data : "";

	p += strspn(p, " \t\r\n");
	switch (*p) {
	case '[':
		return "list";
	case '"':
		return "str";
	case 't':
	case 'f':
		return "bool";
	case 'n':
		return "NoneType";
	default:
		return strpbrk(p, ".eE") != NULL ? "float" : "int";
	}
}

/* The 415 of a body whose Content-Type no parser of DRF's takes (neither
 * JSON nor a form: the router read it as JSON and refused it unread). */
static bool sj_unsupported_type(const struct pc_req *req, const struct pc_errinfo *ei)
{
	return ei->code == PC_V_OBJECT_TYPE && !req_body_is_json(req);
}

/* The router's 400 for a body it could not read, in DRF's words. */
static json_t *sj_body_error_new(struct pc_req *req, const struct pc_errinfo *ei)
{
	const struct sj_serializer *ser = req->route != NULL ?
					  sj_serializer_of(req->route->handler) : NULL;
	json_t *body;

	switch (ei->code) {
	case PC_V_JSON_INVALID: /* the parser's words, or none when they are no UTF-8 */
		body = json_pack("{s:s+}", "detail", "JSON parse error - ", ei->detail);
		return body != NULL ? body : json_pack("{s:s}", "detail", "JSON parse error.");
	case PC_V_OBJECT_TYPE:
		return json_pack("{s:[s++]}", "non_field_errors",
				 "Invalid data. Expected a dictionary, but got ", sj_json_type(req),
				 ".");
	case PC_V_FORM_INVALID:
		return json_pack("{s:s}", "detail", "Malformed form data.");
	case PC_V_MISSING: /* an empty body: every field of the serializer is missing */
		if (ser == NULL || ei->field[0] != '\0')
			break;
		body = json_object();
		for (size_t i = 0; body != NULL && ser->fields[i] != NULL; i++)
			json_object_set_new(body, ser->fields[i], json_pack("[s]", SJ_REQUIRED));
		return body;
	default:
		break;
	}
	return drf_validation_new(ei);
}

static void sj_render_error(struct pc_req *req, struct pc_resp *resp, int status,
			    const struct pc_errinfo *ei)
{
	json_t *body;

	switch (status) {
	case 401:
		if (ei != NULL && ei->code == PC_V_INACTIVE)
			body = json_pack("{s:s, s:s}", "detail", "User is inactive", "code",
					 "user_inactive");
		else if (req_bearer_get(req) == NULL)
			body = json_pack("{s:s}", "detail",
					 "Authentication credentials were not provided.");
		else
			body = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}]}", "detail",
					 "Given token not valid for any token type", "code",
					 "token_not_valid", "messages", "token_class", "AccessToken",
					 "token_type", "access", "message", SJ_NOT_VALID);
		(void)sj_401(req, resp, body);
		return;
	case 422:
		if (ei != NULL && sj_unsupported_type(req, ei)) {
			body = json_pack("{s:s++}", "detail", "Unsupported media type \"",
					 req_header_get(req, "Content-Type") != NULL ?
					 req_header_get(req, "Content-Type") : "", "\" in request.");
			if (body == NULL) /* a header that is no UTF-8 */
				body = json_pack("{s:s}", "detail", "Unsupported media type.");
			resp_json(resp, 415, req_json_keep(req, body));
			return;
		}
		resp_json(resp, 400, req_json_keep(req, ei != NULL ? sj_body_error_new(req, ei) :
						  json_pack("{s:s}", "detail", "Bad request.")));
		return;
	case 403:
		body = json_pack("{s:s}", "detail",
				 "You do not have permission to perform this action.");
		break;
	case 404:
		body = json_pack("{s:s}", "detail", "Not found.");
		break;
	case 405:
		body = json_pack("{s:s++}", "detail", "Method \"", req->method != NULL ?
				 req->method : "", "\" not allowed.");
		break;
	case 413:
		body = json_pack("{s:s}", "detail", "Request body is too large.");
		break;
	case 503:
		body = json_pack("{s:s}", "detail",
				 "Service temporarily unavailable, try again later.");
		break;
	default:
		body = json_pack("{s:s}", "detail", "A server error occurred.");
		break;
	}
	resp_json(resp, status, req_json_keep(req, body));
}

/* Out of our words: 500, or 503 when a queue was full. */
static enum pc_err sj_fail(struct pc_req *req, struct pc_resp *resp, enum pc_err err)
{
	sj_render_error(req, resp, err == PC_EBUSY || err == PC_EUNAVAILABLE ? 503 : 500, NULL);
	return PC_OK;
}

/* The 400 of sj_read; 500 when it could not make its body. */
static enum pc_err sj_invalid(struct pc_req *req, struct pc_resp *resp, json_t *bad)
{
	if (bad == NULL)
		return sj_fail(req, resp, PC_ENOMEM);
	return resp_json(resp, 400, bad);
}

/* {refresh, access}: the pair's opaque refresh token as simplejwt's refresh
 * JWT. Wipes the pair. */
static enum pc_err sj_pair_render(struct pc_req *req, struct pc_resp *resp, int status,
				  struct refresh_pair *p, const char *user_id)
{
	char refresh[PC_JWT_MAX];
	enum pc_err err = refresh_jwt_wrap(req->ctx, &jwt_claims_simplejwt_refresh, p->refresh,
					   user_id, refresh, sizeof(refresh));
	json_t *body = NULL;

	if (err == PC_OK)
		body = json_pack("{s:s, s:s}", "refresh", refresh, "access", p->access);
	crypto_wipe(p, sizeof(*p));
	crypto_wipe(refresh, sizeof(refresh));
	if (err != PC_OK)
		return sj_fail(req, resp, err);
	return resp_json(resp, status, req_json_keep(req, body));
}

/* A new refresh family for u, answered with status. */
static enum pc_err sj_login_issue(struct pc_req *req, struct pc_resp *resp, int status,
				  const struct pc_user *u)
{
	struct refresh_pair pair;
	enum pc_err err = refresh_login_from(req->ctx, &jwt_claims_simplejwt, u, req->client_ip,
					     req_header_get(req, "User-Agent"), &pair);

	if (err != PC_OK)
		return sj_fail(req, resp, err);
	return sj_pair_render(req, resp, status, &pair, u->id);
}

/* ---- handlers --------------------------------------------------------------------- */

static enum pc_err sj_token(struct pc_req *req, struct pc_resp *resp)
{
	const char *f[SJ_MAX_FIELDS] = { NULL, NULL };
	struct pc_user u;
	json_t *bad;
	enum pc_err err;

	if (!sj_read(req, sj_serializer_of(sj_token), f, &bad))
		return sj_invalid(req, resp, bad);
	err = face_limit_client(req, resp, PC_LIMIT_LOGIN_IP);
	if (err == PC_OK) {
		err = pc_login(req->ctx, f[0], f[1], strlen(f[1]), &u);
		if (err == PC_ELIMITED)
			err = face_login_locked(req, resp, f[0]);
	}
	/* DRF's throttling answer (Retry-After set) */
	if (err == PC_ELIMITED)
		return resp_json(resp, 429, req_json_keep(req,
			json_pack("{s:s}", "detail", "Request was throttled.")));
	/* unknown, wrong password, inactive, unverified, TOTP on: one answer */
	if (err == PC_EBADCREDS || err == PC_ENOTVERIFIED || err == PC_ESECONDFACTOR)
		return sj_401(req, resp, json_pack("{s:s}", "detail", SJ_NO_ACCOUNT));
	if (err != PC_OK)
		return sj_fail(req, resp, err);
	return sj_login_issue(req, resp, 200, &u);
}

static enum pc_err sj_refresh(struct pc_req *req, struct pc_resp *resp)
{
	const char *f[SJ_MAX_FIELDS] = { NULL, NULL };
	char token[PC_TOKEN_MAX];
	struct refresh_pair pair;
	struct pc_user u;
	json_t *bad;
	enum pc_err err;

	/* the seed's verify at token/refresh: {token} and no refresh */
	if (!sj_has(req, "refresh") && sj_has(req, "token"))
		return sj_verify(req, resp);
	if (!sj_read(req, sj_serializer_of(sj_refresh), f, &bad))
		return sj_invalid(req, resp, bad);
	err = refresh_jwt_unwrap(req->ctx, &jwt_claims_simplejwt_refresh, f[0], token);
	if (err == PC_OK)
		err = refresh_rotate(req->ctx, &jwt_claims_simplejwt, token, &pair, &u);
	crypto_wipe(token, sizeof(token));
	/* not ours, expired, revoked, its user gone or inactive; or reused: the
	 * family is revoked now */
	if (err == PC_EUNAUTHORIZED || err == PC_EREVOKED)
		return sj_not_valid(req, resp);
	if (err != PC_OK)
		return sj_fail(req, resp, err);
	return sj_pair_render(req, resp, 200, &pair, u.id);
}

static enum pc_err sj_verify(struct pc_req *req, struct pc_resp *resp)
{
	const char *f[SJ_MAX_FIELDS] = { NULL, NULL };
	char token[PC_TOKEN_MAX];
	struct pc_user u;
	json_t *bad;
	enum pc_err err;

	/* its own serializer also when token/refresh hands a {token} body over */
	if (!sj_read(req, sj_serializer_of(sj_verify), f, &bad))
		return sj_invalid(req, resp, bad);
	err = auth_jwt_authenticate(req->ctx, &jwt_claims_simplejwt, f[0], &u);
	if (err == PC_EUNAUTHORIZED) {
		err = refresh_jwt_unwrap(req->ctx, &jwt_claims_simplejwt_refresh, f[0], token);
		if (err == PC_OK)
			err = refresh_live(req->ctx, token);
		crypto_wipe(token, sizeof(token));
	}
	if (err == PC_EUNAUTHORIZED)
		return sj_not_valid(req, resp);
	if (err != PC_OK)
		return sj_fail(req, resp, err);
	return resp_json(resp, 200, req_json_keep(req, json_object()));
}

static enum pc_err sj_register(struct pc_req *req, struct pc_resp *resp)
{
	char client[PC_CLIENT_KEY_MAX];
	const char *f[SJ_MAX_FIELDS] = { NULL, NULL };
	struct pc_user_input in;
	struct pc_user u;
	json_t *bad;
	enum pc_err err;

	if (!sj_read(req, sj_serializer_of(sj_register), f, &bad))
		return sj_invalid(req, resp, bad);
	err = face_register_check(req, resp, client);
	if (err == PC_ELIMITED)
		return resp_json(resp, 429, req_json_keep(req,
			json_pack("{s:s}", "detail", "Request was throttled.")));
	if (err != PC_OK)
		return sj_fail(req, resp, err);
	pc_user_input_init(&in);
	in.username = f[0];
	in.password = f[1];
	in.password_len = strlen(f[1]);
	err = pc_user_register(req->ctx, &in, &u, &req->errinfo);
	if (err == PC_EEXISTS)
		return sj_detail(req, resp, 409, "User already exists");
	if (err == PC_EINVAL || err == PC_EBADPASSWORD)
		return resp_json(resp, 400, req_json_keep(req, drf_validation_new(&req->errinfo)));
	if (err != PC_OK)
		return sj_fail(req, resp, err);
	face_register_count(req, client);
	if (pc_ctx_config(req->ctx)->requires_verification)
		return resp_json(resp, 201, req_json_keep(req, json_object()));
	return sj_login_issue(req, resp, 201, &u);
}

static enum pc_err sj_getuser(struct pc_req *req, struct pc_resp *resp)
{
	const struct pc_user *u = req->user;
	struct pc_jw w;

	jw_init(&w, req->arena);
	jw_str(&w, "username", u->username[0] != '\0' ? u->username : u->email);
	return resp_jw(resp, 200, &w);
}

const struct pc_face face_simplejwt = {
	.name = "simplejwt",
	.mounts = sj_mounts,
	.nmounts = N(sj_mounts),
	.render_error = sj_render_error,
	.settings = &sj_settings,
	.auth = {
		.bearer = true,
		.cookie = false,
		.csrf = false,
		.claims = &jwt_claims_simplejwt,
	},
};
