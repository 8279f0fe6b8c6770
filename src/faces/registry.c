/*
 * registry.c - the faces the server mounts. The first one renders errors for
 * paths that match no mount.
 */
#include "faces/face.h"

const struct pc_face *const pc_faces[] = {
	&pc_face_fastapi_users,
	&pc_face_native,
};

const size_t pc_nfaces = sizeof(pc_faces) / sizeof(pc_faces[0]);
