/*
 * registry.c - the faces the server mounts. The first one renders errors for
 * paths that match no mount. Their settings join the configuration through
 * faces_settings_add, before it is read. Their default prefixes do not
 * meet (simplejwt's is /api/auth, not /auth: fastapi-users has
 * POST /auth/register; user_account's is /user_account, which nothing
 * else uses); router_new refuses two routes on one path.
 */
#include "faces/face.h"

const struct pc_face *const faces_all[] = {
	&face_fastapi_users,
	&face_myauth,
	&face_simplejwt,
	&face_user_account,
	&face_forward_auth,
	&face_native,
	&face_jwks,
	&face_docs,
};

const size_t faces_count = sizeof(faces_all) / sizeof(faces_all[0]);

enum pc_err faces_settings_add(struct pc_errinfo *ei)
{
	enum pc_err cerr = config_layer_add(&http_cors_layer, ei); /* the server's own */

	if (cerr != PC_OK)
		return cerr;
	for (size_t i = 0; i < faces_count; i++) {
		enum pc_err err;

		if (faces_all[i]->settings == NULL)
			continue;
		err = config_layer_add(faces_all[i]->settings, ei);
		if (err != PC_OK)
			return err;
	}
	return PC_OK;
}
