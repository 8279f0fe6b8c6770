/*
 * openapi.c - the API described as it is served:
 *
 *   GET /openapi.json  200: an OpenAPI 3.1 document of every mounted route
 *   GET /docs          200: Swagger UI over it (the npm package swagger-ui-dist,
 *                      its files read from swagger_ui_dir, which
 *                      scripts/bootstrap fills; nothing from the internet)
 *   GET /docs/{file}   its files: the bundle, its stylesheet, our initializer
 *
 * The document is generated, on each request, from the router the
 * configuration mounts (router_new + router_walk over faces_all, as the
 * server and `portcullis routes` build it), so it cannot drift from what is
 * served: a router switched off, a prefix moved, a face added, and the
 * document follows. From each route it takes the method, the path (its
 * {params} as path parameters), the body kind (JSON or form, from the
 * route's flags), the security (PC_R_AUTH with the face's auth profile:
 * bearer and/or cookie, each a security scheme of the face) and the errors
 * the router itself answers (401, 403, 422) in the face's own shape
 * (face_errors[]). What the flags cannot say (the fields of a body, the
 * success status and its body) comes from route_docs[], keyed by face,
 * router, method and pattern; a route it does not name is described by its
 * flags alone ("2XX", any JSON).
 *
 * /docs runs no inline code: its page loads the bundle and our initializer
 * from /docs/, under a CSP that allows scripts from this origin only
 * (Swagger UI sets style attributes, so styles also allow 'unsafe-inline').
 * Only the files of docs_files[] are served, by name: no path from the
 * request reaches the file system.
 *
 * Errors use FastAPI's default shape {"detail": "..."}.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faces/face.h"

/* ---- tables ------------------------------------------------------------------------------ */

/* The error shape of each face's answers; a face not named: FastAPI's. */
static const struct {
	const char *face;
	const char *schema;
} face_errors[] = {
	{ "simplejwt", "DRFError" },
	{ "user_account", "FlaskError" },
};

/* What a route's flags cannot tell. request: a schema name or NULL (a body
 * by the flags, any object); status: the success status ("2XX" when
 * NULL); response: a schema name, "null", "html", or NULL (no body). */
struct route_doc {
	const char *face, *router, *method, *pattern;
	const char *summary;
	const char *request;
	const char *status;
	const char *response;
};

static const struct route_doc route_docs[] = {
	{ "fastapi_users", "jwt auth", "POST", "/login", "Log in (bearer)", "LoginForm", "200",
	  "BearerResponse" },
	{ "fastapi_users", "jwt auth", "POST", "/logout", "Log out (bearer)", NULL, "204", NULL },
	{ "fastapi_users", "cookie auth", "POST", "/login", "Log in (cookie)", "LoginForm", "204",
	  NULL },
	{ "fastapi_users", "cookie auth", "POST", "/logout", "Log out (cookie)", NULL, "204", NULL },
	{ "fastapi_users", "register", "POST", "/register", "Register", "UserCreate", "201", "User" },
	{ "fastapi_users", "reset password", "POST", "/forgot-password", "Forgot password",
	  "EmailBody", "202", "null" },
	{ "fastapi_users", "reset password", "POST", "/reset-password", "Reset password",
	  "ResetBody", "200", "null" },
	{ "fastapi_users", "verify", "POST", "/request-verify-token", "Request a verify token",
	  "EmailBody", "202", "null" },
	{ "fastapi_users", "verify", "POST", "/verify", "Verify", "TokenBody", "200", "User" },
	{ "fastapi_users", "users", "GET", "/me", "The current user", NULL, "200", "User" },
	{ "fastapi_users", "users", "PATCH", "/me", "Update the current user", "UserUpdate", "200",
	  "User" },
	{ "fastapi_users", "users", "GET", "/{id}", "A user (superuser)", NULL, "200", "User" },
	{ "fastapi_users", "users", "PATCH", "/{id}", "Update a user (superuser)", "UserUpdateAdmin",
	  "200", "User" },
	{ "fastapi_users", "users", "DELETE", "/{id}", "Delete a user (superuser)", NULL, "204",
	  NULL },
	{ "fastapi_users", "pages", "GET", "/reset-password", "The reset link's page", NULL, "200",
	  "html" },
	{ "fastapi_users", "pages", "GET", "/verify", "The verify link's page", NULL, "200",
	  "html" },
	/* simplejwt (seed 002) */
	{ "simplejwt", "token", "POST", "/token", "Obtain a token pair", "SJCredentials", "200",
	  "SJPair" },
	{ "simplejwt", "token", "POST", "/token/refresh", "Rotate a refresh token", "SJRefresh",
	  "200", "SJPair" },
	{ "simplejwt", "token", "POST", "/token/verify", "Verify a token", "TokenBody", "200",
	  "object" },
	{ "simplejwt", "register", "POST", "/register", "Register", "SJCredentials", "201",
	  "SJPair" },
	{ "simplejwt", "user", "GET", "/getuser", "The current user's name", NULL, "200",
	  "SJUser" },
	/* MyAuth (seed 001) */
	{ "myauth", "login", "POST", "/signup", "Sign up", "MASignup", "200", "MAUser" },
	{ "myauth", "login", "POST", "/oauth", "Log in", "LoginForm", "200", "MAPair" },
	{ "myauth", "login", "POST", "/refresh", "Rotate the refresh token (as bearer)", NULL, "200",
	  "MAPair" },
	{ "myauth", "login", "POST", "/revoke", "Revoke the refresh family (as bearer)", NULL, "200",
	  "Msg" },
	{ "myauth", "login", "POST", "/magic/{email}", "Mail a sign-in link", NULL, "200",
	  "MAClaim" },
	{ "myauth", "login", "POST", "/claim", "Sign in by the mailed link (email token as bearer)",
	  "MAClaim", "200", "MAPair" },
	{ "myauth", "login", "POST", "/recover/{email}", "Mail a reset link", NULL, "200",
	  "MAClaim" },
	{ "myauth", "login", "POST", "/reset", "Reset by the mailed link (email token as bearer)",
	  "MAReset", "200", "Msg" },
	{ "myauth", "login", "POST", "/totp", "Second step: a TOTP or recovery code", "MAClaim",
	  "200", "MAPair" },
	{ "myauth", "users", "GET", "/me", "The current user", NULL, "200", "MAUser" },
	{ "myauth", "users", "PUT", "/me", "Update the current user", "MAUserUpdate", "200",
	  "MAUser" },
	{ "myauth", "users", "DELETE", "/me", "Delete the current user", NULL, "200", "Msg" },
	{ "myauth", "users", "GET", "/", "Users, a page (admin)", NULL, "200", "MAUserList" },
	{ "myauth", "users", "POST", "/create", "Create a user (admin)", "MAUserCreate", "200",
	  "MAUser" },
	{ "myauth", "users", "GET", "/{user_id}", "A user (admin)", NULL, "200", "MAUser" },
	{ "myauth", "users", "DELETE", "/{user_id}", "Delete a user (admin)", NULL, "200", "Msg" },
	{ "jwks", "jwks", "GET", "/.well-known/jwks.json", "The published signing keys", NULL, "200",
	  "JWKS" },
	{ "docs", "docs", "GET", "/openapi.json", "This document", NULL, "200", "object" },
	{ "docs", "docs", "GET", "/docs", "Swagger UI over this document", NULL, "200", "html" },
	{ "docs", "docs", "GET", "/docs/{file}", "Swagger UI's files", NULL, "200", "any" },
	{ "native", "health", "GET", "/healthz", "Liveness", NULL, "200", "object" },
	{ "native", "health", "GET", "/readyz", "Readiness (503 when the store does not answer)",
	  NULL, "200", "object" },
};

/* The shared schemas, as JSON text (parsed once per document). */
static const char components_schemas[] =
	"{"
	"\"User\":{\"type\":\"object\",\"required\":[\"id\",\"email\",\"is_active\","
	"\"is_superuser\",\"is_verified\"],\"properties\":{"
	"\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
	"\"email\":{\"type\":\"string\",\"format\":\"email\"},"
	"\"is_active\":{\"type\":\"boolean\"},\"is_superuser\":{\"type\":\"boolean\"},"
	"\"is_verified\":{\"type\":\"boolean\"},\"username\":{\"type\":\"string\"},"
	"\"full_name\":{\"type\":\"string\"},"
	"\"oauth_accounts\":{\"type\":\"array\",\"items\":{"
	"\"$ref\":\"#/components/schemas/OAuthAccount\"}}}},"
	"\"OAuthAccount\":{\"type\":\"object\",\"required\":[\"id\",\"oauth_name\","
	"\"account_id\",\"account_email\"],\"properties\":{"
	"\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
	"\"oauth_name\":{\"type\":\"string\"},\"account_id\":{\"type\":\"string\"},"
	"\"account_email\":{\"type\":\"string\"}}},"
	"\"UserCreate\":{\"type\":\"object\",\"required\":[\"email\",\"password\"],\"properties\":{"
	"\"email\":{\"type\":\"string\",\"format\":\"email\"},\"password\":{\"type\":\"string\"},"
	"\"username\":{\"type\":\"string\"},\"full_name\":{\"type\":\"string\"}}},"
	"\"UserUpdate\":{\"type\":\"object\",\"properties\":{"
	"\"email\":{\"type\":\"string\",\"format\":\"email\"},\"password\":{\"type\":\"string\"},"
	"\"username\":{\"type\":\"string\"},\"full_name\":{\"type\":\"string\"}}},"
	"\"UserUpdateAdmin\":{\"type\":\"object\",\"properties\":{"
	"\"email\":{\"type\":\"string\",\"format\":\"email\"},\"password\":{\"type\":\"string\"},"
	"\"username\":{\"type\":\"string\"},\"full_name\":{\"type\":\"string\"},"
	"\"is_active\":{\"type\":\"boolean\"},\"is_superuser\":{\"type\":\"boolean\"},"
	"\"is_verified\":{\"type\":\"boolean\"}}},"
	"\"LoginForm\":{\"type\":\"object\",\"required\":[\"username\",\"password\"],"
	"\"properties\":{\"username\":{\"type\":\"string\",\"description\":\"email or username\"},"
	"\"password\":{\"type\":\"string\"}}},"
	"\"BearerResponse\":{\"type\":\"object\",\"required\":[\"access_token\",\"token_type\"],"
	"\"properties\":{\"access_token\":{\"type\":\"string\"},"
	"\"token_type\":{\"type\":\"string\",\"const\":\"bearer\"}}},"
	"\"EmailBody\":{\"type\":\"object\",\"required\":[\"email\"],\"properties\":{"
	"\"email\":{\"type\":\"string\",\"format\":\"email\"}}},"
	"\"ResetBody\":{\"type\":\"object\",\"required\":[\"token\",\"password\"],\"properties\":{"
	"\"token\":{\"type\":\"string\"},\"password\":{\"type\":\"string\"}}},"
	"\"TokenBody\":{\"type\":\"object\",\"required\":[\"token\"],\"properties\":{"
	"\"token\":{\"type\":\"string\"}}},"
	"\"JWKS\":{\"type\":\"object\",\"required\":[\"keys\"],\"properties\":{\"keys\":{"
	"\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"kty\",\"kid\",\"alg\"]}}}},"
	"\"SJCredentials\":{\"type\":\"object\",\"required\":[\"username\",\"password\"],"
	"\"properties\":{\"username\":{\"type\":\"string\"},\"password\":{\"type\":\"string\"}}},"
	"\"SJRefresh\":{\"type\":\"object\",\"required\":[\"refresh\"],\"properties\":{"
	"\"refresh\":{\"type\":\"string\"}}},"
	"\"SJPair\":{\"type\":\"object\",\"properties\":{\"refresh\":{\"type\":\"string\"},"
	"\"access\":{\"type\":\"string\"}}},"
	"\"SJUser\":{\"type\":\"object\",\"required\":[\"username\"],\"properties\":{"
	"\"username\":{\"type\":\"string\"}}},"
	"\"MASignup\":{\"type\":\"object\",\"required\":[\"email\",\"password\"],\"properties\":{"
	"\"email\":{\"type\":\"string\",\"format\":\"email\"},\"password\":{\"type\":\"string\"},"
	"\"full_name\":{\"type\":\"string\"}}},"
	"\"MAUser\":{\"type\":\"object\",\"required\":[\"id\",\"email\",\"is_active\","
	"\"is_superuser\",\"is_verified\"],\"properties\":{"
	"\"id\":{\"type\":\"string\",\"format\":\"uuid\"},\"email\":{\"type\":\"string\"},"
	"\"full_name\":{\"type\":[\"string\",\"null\"]},\"is_active\":{\"type\":\"boolean\"},"
	"\"is_superuser\":{\"type\":\"boolean\"},\"is_verified\":{\"type\":\"boolean\"},"
	"\"totp\":{\"type\":\"boolean\"},\"roles\":{\"type\":\"array\",\"items\":{"
	"\"type\":\"string\"}}}},"
	"\"MAUserList\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/MAUser\"}},"
	"\"MAUserUpdate\":{\"type\":\"object\",\"properties\":{"
	"\"email\":{\"type\":\"string\",\"format\":\"email\"},\"password\":{\"type\":\"string\"},"
	"\"full_name\":{\"type\":\"string\"},\"original\":{\"type\":\"string\"}}},"
	"\"MAUserCreate\":{\"type\":\"object\",\"required\":[\"email\",\"password\"],"
	"\"properties\":{\"email\":{\"type\":\"string\",\"format\":\"email\"},"
	"\"password\":{\"type\":\"string\"},\"full_name\":{\"type\":\"string\"},"
	"\"is_active\":{\"type\":\"boolean\"},\"is_superuser\":{\"type\":\"boolean\"},"
	"\"is_verified\":{\"type\":\"boolean\"},\"roles\":{\"type\":\"array\",\"items\":{"
	"\"type\":\"string\"}}}},"
	"\"MAPair\":{\"type\":\"object\",\"required\":[\"access_token\",\"token_type\"],"
	"\"properties\":{\"access_token\":{\"type\":\"string\"},"
	"\"refresh_token\":{\"type\":[\"string\",\"null\"]},"
	"\"token_type\":{\"type\":\"string\",\"const\":\"bearer\"}}},"
	"\"MAClaim\":{\"type\":\"object\",\"required\":[\"claim\"],\"properties\":{"
	"\"claim\":{\"type\":\"string\"}}},"
	"\"MAReset\":{\"type\":\"object\",\"required\":[\"new_password\",\"claim\"],"
	"\"properties\":{\"new_password\":{\"type\":\"string\"},\"claim\":{\"type\":\"string\"}}},"
	"\"Msg\":{\"type\":\"object\",\"required\":[\"msg\"],\"properties\":{"
	"\"msg\":{\"type\":\"string\"}}},"
	"\"ValidationErrorItem\":{\"type\":\"object\",\"required\":[\"loc\",\"msg\",\"type\"],"
	"\"properties\":{\"loc\":{\"type\":\"array\",\"items\":{\"type\":[\"string\",\"integer\"]}},"
	"\"msg\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"}}},"
	"\"FastAPIError\":{\"type\":\"object\",\"required\":[\"detail\"],\"properties\":{"
	"\"detail\":{\"oneOf\":[{\"type\":\"string\"},"
	"{\"type\":\"object\",\"properties\":{\"code\":{\"type\":\"string\"},"
	"\"reason\":{\"type\":\"string\"}}},"
	"{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/ValidationErrorItem\"}}]}}},"
	"\"DRFError\":{\"type\":\"object\",\"description\":\"{\\\"detail\\\", \\\"code\\\"} or "
	"field: [messages]\",\"additionalProperties\":{\"oneOf\":[{\"type\":\"string\"},"
	"{\"type\":\"array\",\"items\":{\"type\":\"string\"}}]}},"
	"\"FlaskError\":{\"type\":\"object\",\"required\":[\"msg\"],\"properties\":{"
	"\"msg\":{\"type\":\"string\"}}}"
	"}";

/* ---- building ---------------------------------------------------------------------------- */

struct doc_build {
	const struct pc_config *cfg;
	json_t *paths;
	json_t *schemes;
	bool failed;
};

static const char *face_error_schema(const struct pc_face *f)
{
	for (size_t i = 0; i < sizeof(face_errors) / sizeof(face_errors[0]); i++) {
		if (strcmp(face_errors[i].face, f->name) == 0)
			return face_errors[i].schema;
	}
	return "FastAPIError";
}

static const struct route_doc *route_doc_find(const struct pc_face *f, const struct pc_mount *m,
					      const struct pc_route *r)
{
	const char *router = m->router != NULL ? m->router : "";

	for (size_t i = 0; i < sizeof(route_docs) / sizeof(route_docs[0]); i++) {
		const struct route_doc *d = &route_docs[i];

		if (strcmp(d->face, f->name) == 0 && strcmp(d->router, router) == 0 &&
		    strcmp(d->method, r->method) == 0 && strcmp(d->pattern, r->pattern) == 0)
			return d;
	}
	return NULL;
}

static json_t *ref(const char *schema)
{
	char text[128];

	snprintf(text, sizeof(text), "#/components/schemas/%s", schema);
	return json_pack("{s:s}", "$ref", text);
}

static json_t *json_content(json_t *schema)
{
	return json_pack("{s:{s:o}}", "application/json", "schema", schema);
}

/* The error answer of the face, with a description. */
static json_t *error_response(const struct pc_face *f, const char *description)
{
	return json_pack("{s:s, s:o}", "description", description, "content",
			 json_content(ref(face_error_schema(f))));
}

/* The face's security schemes (bearer, cookie), added once per face; the
 * requirement of an operation with these flags. */
static json_t *security_for(struct doc_build *b, const struct pc_face *f, unsigned flags)
{
	const struct pc_auth_profile *ap = &f->auth;
	const struct pc_cookie_conf *ck = face_cookie_conf(f, b->cfg);
	json_t *req = json_array();
	char name[96];

	if (req == NULL)
		return NULL;
	if (ap->bearer && !(flags & PC_R_COOKIE)) {
		snprintf(name, sizeof(name), "%s_bearer", f->name);
		if (json_object_get(b->schemes, name) == NULL)
			json_object_set_new(b->schemes, name, json_pack("{s:s, s:s, s:s}", "type",
					    "http", "scheme", "bearer", "bearerFormat", "JWT"));
		json_array_append_new(req, json_pack("{s:[]}", name));
	}
	if (ap->cookie && ck != NULL && !(flags & PC_R_BEARER)) {
		snprintf(name, sizeof(name), "%s_cookie", f->name);
		if (json_object_get(b->schemes, name) == NULL)
			json_object_set_new(b->schemes, name, json_pack("{s:s, s:s, s:s}", "type",
					    "apiKey", "in", "cookie", "name", ck->name));
		json_array_append_new(req, json_pack("{s:[]}", name));
	}
	return req;
}

/* The {params} of path as OpenAPI path parameters. */
static json_t *path_params(const char *path)
{
	json_t *a = json_array();
	const char *p = path, *open, *close;

	while (a != NULL && (open = strchr(p, '{')) != NULL) {
		close = strchr(open, '}');
		if (close == NULL)
			break;
		json_array_append_new(a, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", open + 1,
						   (size_t)(close - open - 1), "in", "path",
						   "required", 1, "schema", "type", "string"));
		p = close + 1;
	}
	return a;
}

static json_t *success_response(const struct route_doc *d, const char **status)
{
	const char *resp = d != NULL ? d->response : "any";

	*status = d != NULL && d->status != NULL ? d->status : "2XX";
	if (resp == NULL)
		return json_pack("{s:s}", "description", "Success, no body");
	if (strcmp(resp, "html") == 0)
		return json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", "An HTML page", "content",
				 "text/html", "schema", "type", "string");
	if (strcmp(resp, "null") == 0)
		return json_pack("{s:s, s:o}", "description", "Success", "content",
				 json_content(json_pack("{s:s}", "type", "null")));
	if (strcmp(resp, "object") == 0 || strcmp(resp, "any") == 0)
		return json_pack("{s:s, s:o}", "description", "Success", "content",
				 json_content(json_pack("{s:s}", "type", "object")));
	return json_pack("{s:s, s:o}", "description", "Success", "content", json_content(ref(resp)));
}

static void doc_route(const struct pc_face *f, const struct pc_mount *m,
		      const struct pc_route *r, const char *path, void *arg)
{
	struct doc_build *b = arg;
	const struct route_doc *d = route_doc_find(f, m, r);
	json_t *op, *responses, *item, *params, *body = NULL;
	const char *status;
	char method[8], opid[256];
	size_t i;

	for (i = 0; r->method[i] != '\0' && i + 1 < sizeof(method); i++)
		method[i] = ascii_lower(r->method[i]);
	method[i] = '\0';
	snprintf(opid, sizeof(opid), "%s %s %s", f->name, r->method, path);
	responses = json_object();
	op = json_pack("{s:[s], s:s, s:s, s:o}", "tags", f->name, "summary",
		       d != NULL ? d->summary : (m->router != NULL ? m->router : f->name),
		       "operationId", opid, "responses", responses);
	if (op == NULL) {
		b->failed = true;
		return;
	}
	{
		json_t *ok = success_response(d, &status);

		json_object_set_new(responses, status, ok);
	}
	if (r->flags & (PC_R_JSON | PC_R_FORM)) {
		json_t *schema = d != NULL && d->request != NULL ? ref(d->request) :
				 json_pack("{s:s}", "type", "object");
		body = json_object();
		if ((r->flags & PC_R_JSON) && !(d != NULL && d->request != NULL &&
						strcmp(d->request, "LoginForm") == 0))
			json_object_set_new(body, "application/json",
					    json_pack("{s:O}", "schema", schema));
		if (r->flags & PC_R_FORM)
			json_object_set_new(body, "application/x-www-form-urlencoded",
					    json_pack("{s:O}", "schema", schema));
		json_decref(schema);
		json_object_set_new(op, "requestBody", json_pack("{s:b, s:o}", "required", 1,
								 "content", body));
		json_object_set_new(responses, "422",
				    error_response(f, "The body is not what the route takes"));
	}
	if (r->flags & PC_R_AUTH) {
		json_object_set_new(op, "security", security_for(b, f, r->flags));
		json_object_set_new(responses, "401", error_response(f, "No valid credential"));
	}
	if (r->flags & (PC_R_SUPERUSER | PC_R_ADMIN) || ((r->flags & PC_R_AUTH) && f->auth.csrf))
		json_object_set_new(responses, "403", error_response(f, "Not allowed"));
	json_object_set_new(responses, "4XX", error_response(f, "Refused"));
	params = path_params(path);
	if (json_array_size(params) > 0) {
		json_object_set_new(op, "parameters", params);
		json_object_set_new(responses, "404", error_response(f, "Not found"));
	} else {
		json_decref(params);
	}
	item = json_object_get(b->paths, path);
	if (item == NULL) {
		item = json_object();
		json_object_set_new(b->paths, path, item);
	}
	if (item == NULL || json_object_set_new(item, method, op) != 0)
		b->failed = true;
}

json_t *openapi_document_new(const struct pc_config *cfg)
{
	struct pc_errinfo ei = { 0 };
	struct pc_router *r;
	struct doc_build b = { cfg, json_object(), json_object(), false };
	json_t *schemas = json_loads(components_schemas, 0, NULL), *doc = NULL;

	if (b.paths == NULL || b.schemes == NULL || schemas == NULL ||
	    router_new(cfg, faces_all, faces_count, &r, &ei) != PC_OK)
		goto out_free;
	if (router_walk(r, doc_route, &b) != PC_OK)
		b.failed = true;
	router_free(r);
	if (b.failed)
		goto out_free;
	doc = json_pack("{s:s, s:{s:s, s:s, s:s}, s:O, s:{s:O, s:O}}", "openapi", "3.1.0", "info",
			"title", "portcullis", "version", "0.1.0", "description",
			"Generated from the mounted route tables.", "paths", b.paths, "components",
			"schemas", schemas, "securitySchemes", b.schemes);
out_free:
	json_decref(b.paths);
	json_decref(b.schemes);
	json_decref(schemas);
	return doc;
}

/* ---- settings ------------------------------------------------------------------------- */

struct docs_settings {
	char swagger_ui_dir[256];
	bool on;
};

static const struct config_row docs_setting_rows[] = {
	CONFIG_ROW_BOOL(struct docs_settings, "docs_router", on, "true",
			"mount GET /openapi.json and the Swagger UI at /docs"),
	CONFIG_ROW_STR(struct docs_settings, "swagger_ui_dir", swagger_ui_dir,
		       "web/swagger-ui/node_modules/swagger-ui-dist", NULL, NULL,
		       "the swagger-ui-dist package's folder (scripts/bootstrap installs it), "
		       "served at /docs; relative to the working directory"),
};

static const struct config_layer docs_settings = {
	.name = "docs",
	.rows = docs_setting_rows,
	.nrows = sizeof(docs_setting_rows) / sizeof(docs_setting_rows[0]),
	.size = sizeof(struct docs_settings),
	.rule = NULL,
};

/* ---- the routes --------------------------------------------------------------------------- */

static enum pc_err docs_openapi(struct pc_req *req, struct pc_resp *resp)
{
	json_t *doc = req_json_keep(req, openapi_document_new(pc_ctx_config(req->ctx)));

	if (doc == NULL)
		return PC_ENOMEM;
	return resp_json(resp, 200, doc);
}

#define DOCS_FILE_MAX (8 << 20)

static const char docs_page[] =
	"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	"<title>portcullis API</title>"
	"<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\"></head>"
	"<body><div id=\"swagger-ui\"></div>"
	"<script src=\"/docs/swagger-ui-bundle.js\"></script>"
	"<script src=\"/docs/init.js\"></script></body></html>";

static const char docs_init[] =
	"window.ui = SwaggerUIBundle({ url: \"/openapi.json\", dom_id: \"#swagger-ui\", "
	"deepLinking: true, validatorUrl: null });\n";

static const char docs_csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
	"frame-ancestors 'none'";

/* The files of /docs/{file}: a name in swagger-ui-dist, or our text. */
static const struct {
	const char *name;
	const char *type;
	const char *text; /* NULL: the file of that name in swagger_ui_dir */
} docs_files[] = {
	{ "swagger-ui-bundle.js", "text/javascript; charset=utf-8", NULL },
	{ "swagger-ui.css", "text/css; charset=utf-8", NULL },
	{ "init.js", "text/javascript; charset=utf-8", docs_init },
};

/* Reads dir/name into the arena (at most DOCS_FILE_MAX). PC_ENOTFOUND. */
static enum pc_err docs_read(struct pc_arena *a, const char *dir, const char *name,
			     const char **out, size_t *outlen)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;
	size_t got;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return PC_ENOTFOUND;
	f = fopen(path, "rb");
	if (f == NULL)
		return PC_ENOTFOUND;
	n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
	if (n < 0 || n > DOCS_FILE_MAX || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return PC_ENOTFOUND;
	}
	buf = arena_alloc(a, (size_t)n + 1);
	got = buf != NULL ? fread(buf, 1, (size_t)n, f) : 0;
	fclose(f);
	if (buf == NULL)
		return PC_ENOMEM;
	if (got != (size_t)n)
		return PC_ENOTFOUND;
	buf[n] = '\0';
	*out = buf;
	*outlen = (size_t)n;
	return PC_OK;
}

static enum pc_err docs_send(struct pc_resp *resp, const char *type, const char *body, size_t n)
{
	resp->status = 200;
	resp->content_type = type;
	resp->body = body;
	resp->body_len = n;
	return resp_header_add(resp, "Content-Security-Policy", docs_csp);
}

static enum pc_err docs_ui(struct pc_req *req, struct pc_resp *resp)
{
	return docs_send(resp, "text/html; charset=utf-8", docs_page, sizeof(docs_page) - 1);
}

static enum pc_err docs_file(struct pc_req *req, struct pc_resp *resp)
{
	const struct docs_settings *s = config_layer_get(pc_ctx_config(req->ctx), &docs_settings);
	const char *name = req_param_get(req, "file"), *body;
	size_t n;
	enum pc_err err;

	for (size_t i = 0; name != NULL && i < sizeof(docs_files) / sizeof(docs_files[0]); i++) {
		if (strcmp(docs_files[i].name, name) != 0)
			continue;
		if (docs_files[i].text != NULL)
			return docs_send(resp, docs_files[i].type, docs_files[i].text,
					 strlen(docs_files[i].text));
		err = docs_read(req->arena, s->swagger_ui_dir, name, &body, &n);
		if (err == PC_OK)
			return docs_send(resp, docs_files[i].type, body, n);
		if (err != PC_ENOTFOUND)
			return err;
		break;
	}
	resp_json(resp, 404, req_json_keep(req, json_pack("{s:s}", "detail", "Not Found")));
	return PC_OK;
}

static const struct pc_route docs_routes[] = {
	{ "GET", "/openapi.json", docs_openapi, 0 },
	{ "GET", "/docs", docs_ui, 0 },
	{ "GET", "/docs/{file}", docs_file, 0 },
};

static const struct pc_mount docs_mounts[] = {
	{ .router = "docs", .prefix_setting = NULL, .suffix = "", .routes = docs_routes,
	  .nroutes = sizeof(docs_routes) / sizeof(docs_routes[0]), .enable_setting = "docs_router" },
};

static void docs_render_error(struct pc_req *req, struct pc_resp *resp, int status,
			      const struct pc_errinfo *ei)
{
	(void)ei;
	resp_json(resp, status, req_json_keep(req, json_pack("{s:s}", "detail", resp_reason(status))));
}

const struct pc_face face_docs = {
	.name = "docs",
	.mounts = docs_mounts,
	.nmounts = sizeof(docs_mounts) / sizeof(docs_mounts[0]),
	.render_error = docs_render_error,
	.settings = &docs_settings,
};
