/*
 * http.h - requests, responses, routes, and the server over libmicrohttpd.
 *
 * Groups:
 *   route     struct pc_route (a face's const table) and its flags
 *   req       the request as handlers see it: arena, path params, headers,
 *             cookies, query, parsed JSON or form body, authenticated user
 *   resp      status, headers, body, cookies; security headers are added by
 *             the server to every response
 *   router    mounting tables under prefixes, collision check, matching
 *   server    the MHD daemon: thread pool, body limit, suspend/resume to the
 *             hash pool for PC_R_SLOW routes and to the write pool for
 *             PC_R_COMMITS routes, access log
 *
 * No type from microhttpd.h appears here: faces never see MHD.
 *
 * Life of a request: MHD calls the access handler; headers arrive, the body
 * is gathered into req->body (413 past max_body_bytes), the router matches
 * (404 / 405 otherwise), then the shared checks run in this order, each
 * rendered by the face's render_error on failure:
 *   PC_R_JSON / PC_R_FORM  body decoding             -> 422
 *   PC_R_AUTH (+ BEARER/COOKIE) credentials          -> 401
 *   PC_R_ACTIVE            user is active            -> 401
 *   PC_R_SUPERUSER         user is superuser         -> 403
 *   PC_R_ADMIN             superuser or role "admin" -> 403
 * then the handler runs: inline, or for PC_R_SLOW (PC_R_COMMITS) on a hash
 * (write) worker thread while the connection is suspended. The arena is
 * freed after the response is sent, when the access log line is written.
 */
#ifndef PC_HTTP_H
#define PC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "portcullis.h"
#include "core/core.h"

struct pc_req;
struct pc_resp;
struct pc_face;

/* ---- route -------------------------------------------------------------- */

typedef enum pc_err pc_handler_fn(struct pc_req *req, struct pc_resp *resp);

enum pc_route_flags {
	PC_R_AUTH = 1 << 0,      /* a credential is required, as the face's auth profile says */
	PC_R_ACTIVE = 1 << 1,    /* the user must be active, else 401 */
	PC_R_SUPERUSER = 1 << 2, /* the user must be a superuser, else 403 */
	PC_R_JSON = 1 << 3,      /* body: a JSON object, parsed into req->json */
	PC_R_FORM = 1 << 4,      /* body: urlencoded form, parsed; read with req_form_get.
				  * With PC_R_JSON: either, by Content-Type (urlencoded: the
				  * form, req->json NULL; else JSON) */
	PC_R_SLOW = 1 << 5,      /* the handler runs on the worker pool (it hashes) */
	PC_R_BEARER = 1 << 6,    /* with PC_R_AUTH: only the Authorization bearer JWT counts */
	PC_R_COOKIE = 1 << 7,    /* with PC_R_AUTH: only the session cookie counts */
	PC_R_ADMIN = 1 << 8,     /* a superuser or a user with the role "admin", else 403 */
	PC_R_WRITES = 1 << 9,    /* a GET that changes state (user_account's logout): under
				  * the Origin check as the other methods are */
	PC_R_COMMITS = 1 << 10,  /* the handler's cost is a durable commit (refresh, logout):
				  * it runs on the write pool, the connection suspended */
};

struct pc_route {
	const char *method;   /* "GET", "POST", "PATCH", "PUT", "DELETE" */
	const char *pattern;  /* relative to the mount prefix: "/me", "/{id}", "" */
	pc_handler_fn *handler;
	unsigned flags;
};

/* ---- req ------------------------------------------------------------------- */

#define PC_MAX_PARAMS 4

enum pc_cred_kind { PC_CRED_NONE, PC_CRED_BEARER, PC_CRED_COOKIE };

struct pc_req {
	struct pc_ctx *ctx;
	struct pc_arena *arena;
	const char *method;
	const char *path;          /* without the query string */
	const char *client_ip;     /* text form of the peer address */
	char request_id[65];       /* 1..64 of [A-Za-z0-9._-]; echoed as X-Request-ID */
	struct pc_buf body;        /* raw body, NUL-terminated, at most max_body_bytes */
	json_t *json;              /* PC_R_JSON: the body object (borrowed from the arena) */
	const struct pc_face *face; /* the face whose route matched (or the nearest mount) */
	const struct pc_route *route;
	size_t route_id;           /* the router's number of route (1..), 0: none (metrics) */
	int nparams;
	const char *param_name[PC_MAX_PARAMS];
	const char *param_value[PC_MAX_PARAMS]; /* percent-decoded */
	/* authentication, filled by the router for PC_R_AUTH routes */
	struct pc_user *user;      /* arena-owned; NULL when unauthenticated */
	enum pc_cred_kind cred_kind;
	const char *cred;          /* the raw credential: never log it */
	struct pc_errinfo errinfo; /* scratch for handlers and the router */
	void *impl;                /* server-private state */
};

/* All borrowed, valid for the life of the request; NULL when absent. */
const char *req_header_get(const struct pc_req *req, const char *name);
const char *req_cookie_get(const struct pc_req *req, const char *name);
const char *req_query_get(const struct pc_req *req, const char *name);
const char *req_param_get(const struct pc_req *req, const char *name);
/* Every value of a repeated query argument (scopes=a&scopes=b), decoded,
 * in order, borrowed: *n of them. PC_ETOOBIG past max, PC_EINVAL for one
 * that is not valid text (then *n is 0). */
enum pc_err req_query_all(const struct pc_req *req, const char *name, const char **out,
			  size_t max, size_t *n);
/* PC_R_FORM routes: a decoded form field (valid UTF-8), or NULL. */
const char *req_form_get(const struct pc_req *req, const char *name);

/* The token of an "Authorization: Bearer <token>" header (scheme without
 * case), or NULL when the header is absent or has another scheme. An empty
 * token is returned as "" (and fails). Borrowed. (authn.c) */
const char *req_bearer_get(const struct pc_req *req);

/* Whether the request's Content-Type is one PC_R_JSON reads as JSON (none,
 * application/json, application/<x>+json). */
bool req_body_is_json(const struct pc_req *req);

/* Hands a json_t to the arena (decref at request end) and returns it. */
json_t *req_json_keep(struct pc_req *req, json_t *j);

/* ---- resp ------------------------------------------------------------------- */

struct pc_header {
	const char *name;
	const char *value;
	struct pc_header *next;
};

struct pc_resp {
	struct pc_arena *arena;   /* the request's */
	int status;               /* 0 until set */
	const char *content_type;
	const char *body;         /* arena-owned */
	size_t body_len;
	struct pc_header *headers;
};

/* Serialises j (borrowed) as the body with Content-Type application/json. */
enum pc_err resp_json(struct pc_resp *resp, int status, const json_t *j);
/* A JSON object written straight into the arena, for bodies on hot paths
 * (no jansson tree). Members in call order; strings must be valid UTF-8 (as
 * everything that came through the request parser or the store is); the
 * bytes equal jansson's JSON_COMPACT output. Out of memory is remembered
 * and reported by resp_jw (PC_ENOMEM, response left unset). */
struct pc_jw {
	struct pc_arena *arena;
	char *p;
	size_t len, cap;
	unsigned members;
	bool failed;
};
void jw_init(struct pc_jw *w, struct pc_arena *arena);
/* value NULL: the member is null. */
void jw_str(struct pc_jw *w, const char *key, const char *value);
void jw_bool(struct pc_jw *w, const char *key, bool value);
/* A member whose value is json, JSON text the caller made (jansson's). */
void jw_raw(struct pc_jw *w, const char *key, const char *json);
/* Closes the object and makes it the body, Content-Type application/json. */
enum pc_err resp_jw(struct pc_resp *resp, int status, struct pc_jw *w);
/* The HTTP reason phrase: "Not Found" for 404, ...; "Error" for a status
 * it does not know. Static. */
const char *resp_reason(int status);
/* A status with no body (204) or a fixed text body. */
enum pc_err resp_status(struct pc_resp *resp, int status);
enum pc_err resp_header_add(struct pc_resp *resp, const char *name, const char *value);

struct pc_cookie {
	const char *name;
	const char *value;
	int max_age;              /* seconds; 0 = delete (Max-Age=0 and an old Expires) */
	const char *path;         /* NULL = "/" */
	const char *domain;       /* NULL or "" = host-only */
	const char *samesite;     /* "lax", "strict", "none" */
	bool secure;
	bool httponly;
};
enum pc_err resp_cookie_set(struct pc_resp *resp, const struct pc_cookie *c);

/* ---- face ------------------------------------------------------------------------ */

/* A mount: one router of a face (as a Python app includes a router with a
 * prefix), its routes under prefix + suffix. The prefix is the value of one
 * of the face's own settings (a CONFIG_STR row of face->settings; NULL: the
 * root); the suffix is the value of another (suffix_setting) or the fixed
 * text suffix. enable_setting names a CONFIG_BOOL row that switches the
 * router on and off (NULL: always on). A name that is not such a row fails
 * router_new. */
struct pc_mount {
	const char *prefix_setting; /* e.g. "auth_prefix" */
	const char *suffix;         /* e.g. "/cookie"; when suffix_setting is NULL */
	const struct pc_route *routes;
	size_t nroutes;
	const char *router;         /* its name in messages and `portcullis routes` */
	const char *suffix_setting; /* e.g. "cookie_auth_path"; NULL: suffix */
	const char *enable_setting; /* e.g. "register_router"; NULL: always mounted */
};

/* Renders an error the router or server detected (401, 403, 404, 405, 413,
 * 422, 500, 503) in the face's own shape. ei is set for 422. */
typedef void pc_render_error_fn(struct pc_req *req, struct pc_resp *resp, int status,
				const struct pc_errinfo *ei);

/* A face's session cookie, as its settings rows fill it (cookie_name,
 * cookie_secure, ... for fastapi_users). */
struct pc_cookie_conf {
	char name[64];
	bool secure;
	bool httponly;
	char samesite[16];  /* lax, strict, none */
	char domain[256];   /* "" = host-only */
};

/* How a face authenticates its PC_R_AUTH routes (authn.c):
 *   bearer  "Authorization: Bearer <jwt>" counts, checked with `claims`;
 *   cookie  the session cookie of the struct pc_cookie_conf at cookie_at in
 *           the face's settings counts (a database session);
 *   cookie_jwt  the cookie holds an access JWT, checked as a bearer one
 *           (with `claims`), not a database session;
 *   csrf    a cookie-authenticated request other than GET, HEAD and
 *           OPTIONS also needs the header csrf_header equal (constant time)
 *           to the cookie csrf_cookie: the double submit; with csrf_claim,
 *           to the access JWT's CSRF claim instead (Flask-JWT-Extended's
 *           check: the csrf_cookie a script reads holds that claim, and a
 *           value planted in that cookie proves nothing). A refusal is 403
 *           with req->errinfo PC_V_CSRF_MISSING or PC_V_CSRF_MISMATCH, for
 *           the face's renderer to word (and status) as its API does. */
struct pc_auth_profile {
	bool bearer;
	bool cookie;
	size_t cookie_at;
	bool cookie_jwt;
	bool csrf;
	bool csrf_claim;
	const char *csrf_cookie;
	const char *csrf_header;
	const struct jwt_claims_table *claims;
};

struct pc_face {
	const char *name;
	const struct pc_mount *mounts;
	size_t nmounts;
	pc_render_error_fn *render_error;
	const struct config_layer *settings; /* its settings rows; NULL: none */
	struct pc_auth_profile auth;
};

/* The face's cookie settings in cfg; NULL when it has no cookie or its
 * settings are not registered (router_new refuses such a face). */
const struct pc_cookie_conf *face_cookie_conf(const struct pc_face *f, const struct pc_config *cfg);

/* ---- router -------------------------------------------------------------------------- */

struct pc_router;

/* Mounts every face's tables under the prefixes of cfg. PC_EEXISTS (ei.detail
 * names both routes) when two routes would answer the same method and path;
 * PC_EINVAL (ei.detail says which) when a face's settings are not registered,
 * a mount names a setting its face does not declare, or the auth profile
 * does not fit the face's settings. */
enum pc_err router_new(const struct pc_config *cfg, const struct pc_face *const *faces,
			  size_t nfaces, struct pc_router **out, struct pc_errinfo *ei);
void router_free(struct pc_router *r);
/* Calls fn for each mounted route, sorted by path then method (for
 * `portcullis routes`). PC_ENOMEM: fn was not called. */
enum pc_err router_each(const struct pc_router *r,
		 void (*fn)(const char *method, const char *path, const char *face,
			    const char *router, void *arg),
		 void *arg);
/* router_each with each route's face, mount and table row (the OpenAPI
 * document, faces/openapi.c); path is the full pattern. */
enum pc_err router_walk(const struct pc_router *r,
			void (*fn)(const struct pc_face *face, const struct pc_mount *mount,
				   const struct pc_route *route, const char *path, void *arg),
			void *arg);

enum pc_match { PC_MATCH_OK, PC_MATCH_NOT_FOUND, PC_MATCH_BAD_METHOD };

/* Literal segments win over {param} ones. On PC_MATCH_OK fills req->route,
 * req->face and params (allocated in req->arena). On a miss sets req->face
 * to the face with the longest mount prefix of the path (or the first face),
 * and for PC_MATCH_BAD_METHOD writes the allowed methods to *allow. */
enum pc_match router_match(const struct pc_router *r, struct pc_req *req, const char **allow);

/* ---- server --------------------------------------------------------------------------- */

struct pc_server;

/* Starts listening on cfg host:port with the faces mounted. */
enum pc_err server_start(struct pc_ctx *ctx, const struct pc_face *const *faces, size_t nfaces,
			    struct pc_server **out, struct pc_errinfo *ei);
/* Stops accepting, finishes suspended requests, joins threads. */
void server_stop(struct pc_server *s);

/* The CORS settings (cors.c): a configuration layer the registry adds with
 * the faces' (cors_origins, cors_methods, cors_headers, cors_credentials,
 * cors_max_age). */
extern const struct config_layer http_cors_layer;

/* GET /metrics: the Prometheus text exposition of the server that serves
 * req (requests by face, route and status, latency histograms, logins,
 * hash queue, outbox, store errors, credential cache). */
enum pc_err resp_metrics(struct pc_req *req, struct pc_resp *resp);

/* ---- shared readers (req.c) ------------------------------------------------------------- */

/* Reads a string member of req->json. required: absent -> PC_EINVAL "missing".
 * Present but not a string -> PC_EINVAL "string_type". *out NULL when absent
 * and optional. JSON null counts as absent for optional fields. */
enum pc_err req_json_str(struct pc_req *req, const char *name, bool required, const char **out);
/* A boolean member: PC_UNSET when absent or null, else 0/1; PC_EINVAL "bool_type". */
enum pc_err req_json_bool(struct pc_req *req, const char *name, int *out);

#endif /* PC_HTTP_H */
