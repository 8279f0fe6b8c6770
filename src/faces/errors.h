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

/* DRF's serializer error body {"<field>": ["<message>"]} ("non_field_errors"
 * for the body as a whole). Caller decrefs; NULL on ENOMEM. */
json_t *drf_validation_new(const struct pc_errinfo *ei);

#endif /* PC_FACES_ERRORS_H */
