/*
 * registry.c - the faces the server mounts. The first one renders errors for
 * paths that match no mount.
 */
#include "faces/face.h"

const struct pc_face *const faces_all[] = {
	&face_fastapi_users,
	&face_native,
};

const size_t faces_count = sizeof(faces_all) / sizeof(faces_all[0]);
