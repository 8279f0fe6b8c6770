/*
 * face.h - the faces: one route table per seed API, plus native routes.
 *
 * A face holds no business rules; it reads the request, calls the core,
 * and renders the core's answer in its API's exact JSON and status codes.
 * It declares (struct pc_face, http.h) its route tables, its settings rows
 * (prefixes, cookie) and how it authenticates (bearer, which cookie, CSRF,
 * the claims table of its tokens).
 */
#ifndef PC_FACE_H
#define PC_FACE_H

#include "http/http.h"

/* seeds 000 and 003: /auth, /auth/cookie, /users, /protected */
extern const struct pc_face face_fastapi_users;
/* seed 001: {myauth_prefix}/login: signup, oauth, refresh, revoke */
extern const struct pc_face face_myauth;
/* seed 002 (Django REST framework simplejwt): {simplejwt_prefix}/token,
 * token/refresh, token/verify, register, getuser */
extern const struct pc_face face_simplejwt;
/* seed 004 (Flask, Flask-JWT-Extended): {user_account_prefix}/login, refresh,
 * logout, registration, confirm_email/{token}, reset_password_request,
 * reset_password/{token}, profile_settings; tokens in cookies (CSRF double
 * submit against the token's claim) or a bearer header */
extern const struct pc_face face_user_account;
/* {forward_auth_prefix}/forward: forward auth for nginx, Traefik, Caddy */
extern const struct pc_face face_forward_auth;
/* The check forward auth runs on a forwarded URI (X-Forwarded-Uri, ...):
 * true when u is origin-form (/path?query) or an absolute http(s) URL of
 * printable ASCII with well-formed %XX whose path decodes without NUL,
 * control bytes or an encoded '/', and stays under "/" once "//", "." and
 * ".." are resolved. path_out (FORWARD_URI_MAX bytes) then holds that
 * normalised, decoded path: "/" and segments, none empty, "." or "..",
 * ending in '/' only when the path did. (forward.c; fuzzed) */
#define FORWARD_URI_MAX 8192
bool forward_uri_parse(const char *u, char *path_out);
/* /healthz, /readyz, /metrics */
extern const struct pc_face face_native;

/* /.well-known/jwks.json: the public keys of the published signing keys */
extern const struct pc_face face_jwks;

/* /openapi.json: the OpenAPI 3.1 document of the mounted routes */
extern const struct pc_face face_docs;
/* The document for cfg, from the router it mounts (openapi.c). New
 * reference; NULL when out of memory or the routes do not mount. */
json_t *openapi_document_new(const struct pc_config *cfg);

/* pages.c: the HTML page of a mailed link (reset or verify), which POSTs
 * {"token", ("password")} to api through the JSON API; the token must
 * have been shape-checked by the caller. Sets status 200, the body and its
 * Content-Security-Policy. PC_ENOMEM, PC_ETOOBIG. */
enum page_kind { PAGE_RESET, PAGE_VERIFY };
enum pc_err page_render(struct pc_req *req, struct pc_resp *resp, enum page_kind kind,
			const char *token, const char *api);

/* Rate limits as the faces apply them (limits.c); each returns PC_OK or
 * PC_ELIMITED with Retry-After added to resp (the face renders its 429).
 * face_limit_client: one hit of the request's client (its IP, see
 * pc_client_key) in kind's window. face_limit_mail: a mail request (forgot,
 * verify, recovery, magic link): the client's window, then the address's
 * (NULL: only the client's). face_login_locked: after a login refused with
 * PC_ELIMITED (the identifier is locked), its Retry-After. */
enum pc_err face_limit_client(struct pc_req *req, struct pc_resp *resp, enum pc_limit kind);
enum pc_err face_limit_mail(struct pc_req *req, struct pc_resp *resp, const char *address);
enum pc_err face_login_locked(struct pc_req *req, struct pc_resp *resp, const char *ident);
/* Registrations: face_register_check before (PC_ELIMITED, Retry-After set,
 * when the client has made rate_limit_register_ip this hour; key gets the
 * client's key), face_register_count after one succeeded. */
enum pc_err face_register_check(struct pc_req *req, struct pc_resp *resp,
				char key[PC_CLIENT_KEY_MAX]);
void face_register_count(struct pc_req *req, const char *key);
/* One hit of subject (a username, say) in kind's window. */
enum pc_err face_limit_subject(struct pc_req *req, struct pc_resp *resp, enum pc_limit kind,
			       const char *subject);

/* The faces the server mounts, in order; the first renders unmatched paths. */
extern const struct pc_face *const faces_all[];
extern const size_t faces_count;

/* Registers every face's settings rows (config_layer_add): call once
 * before the configuration is read. A name declared twice fails (PC_EEXISTS
 * with ei), so does a layer that does not fit. */
enum pc_err faces_settings_add(struct pc_errinfo *ei);

#endif /* PC_FACE_H */
