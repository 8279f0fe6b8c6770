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
/* /healthz, /readyz */
extern const struct pc_face face_native;

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
