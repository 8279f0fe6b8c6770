/*
 * face.h - the faces: one route table per seed API, plus native routes.
 *
 * A face holds no business rules; it reads the request, calls the core,
 * and renders the core's answer in its API's exact JSON and status codes.
 */
#ifndef PC_FACE_H
#define PC_FACE_H

#include "http/http.h"

/* seeds 000 and 003: /auth, /auth/cookie, /users, /protected */
extern const struct pc_face face_fastapi_users;
/* /healthz, /readyz */
extern const struct pc_face face_native;

/* The faces the server mounts, in order; the first renders unmatched paths. */
extern const struct pc_face *const faces_all[];
extern const size_t faces_count;

#endif /* PC_FACE_H */
