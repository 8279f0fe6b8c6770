/*
 * errors.h - the words of each API for the core's validation codes.
 *
 * The core, http and store layers report what is wrong with a value as
 * struct pc_errinfo (a field, an enum pc_verr code, a limit). Each face turns
 * that into its API's exact body through one of these tables; faces of the
 * same framework share one (fastapi_users and myauth are both FastAPI).
 *
 *   FastAPI/pydantic: 422 {"detail": [{"type", "loc", "msg", "input"}]}
 *                      and fastapi-users' password "reason" texts
 *   Django REST framework: 400 {"<field>": ["<message>"]}
 */
#ifndef PC_FACES_ERRORS_H
#define PC_FACES_ERRORS_H

#include <jansson.h>

#include "portcullis.h"

/* FastAPI's RequestValidationError body for ei. Caller decrefs; NULL on ENOMEM. */
json_t *fastapi_validation_new(const struct pc_errinfo *ei);
/* The text fastapi-users gives as "reason" of an invalid password
 * ("Password should be at least 8 characters"). Returns out. */
const char *fastapi_password_reason(const struct pc_errinfo *ei, char *out, size_t outsz);

struct pc_req;
/* FastAPI's OAuth2PasswordRequestForm on a PC_R_FORM route: username and
 * password required, grant_type optional and then "password". PC_EINVAL
 * with req->errinfo set (rendered as FastAPI's 422); both borrowed. */
enum pc_err fastapi_read_password_form(struct pc_req *req, const char **username,
				       const char **password);

/* A UserCreate (create: email and password required) or UserUpdate JSON
 * body into in: email, password, full_name, username (with_username; MyAuth's
 * models have none) and the flags is_active, is_superuser, is_verified, for
 * the caller to honour or not. PC_EINVAL with req->errinfo set. */
enum pc_err fastapi_read_user(struct pc_req *req, bool create, bool with_username,
			      struct pc_user_input *in);

/* DRF's serializer error body {"<field>": ["<message>"]} ("non_field_errors"
 * for the body as a whole). Caller decrefs; NULL on ENOMEM. */
json_t *drf_validation_new(const struct pc_errinfo *ei);

#endif /* PC_FACES_ERRORS_H */
