/*
 * jwks.c - the published signing keys (core/keys.c) for services that
 * verify access tokens on their own:
 *
 *   GET /.well-known/jwks.json  200 {"keys": [...]}: the public JWK (kty,
 *       crv/x/y or n/e, kid, alg, use "sig") of every key that signs or
 *       still verifies; {"keys": []} with an HS* algorithm (an HMAC secret
 *       is never published)
 *
 * Cacheable for a short while (a verifier that meets an unknown kid fetches
 * it again). Errors use FastAPI's default shape {"detail": "..."}.
 */
#include "faces/face.h"

static enum pc_err jwks_get(struct pc_req *req, struct pc_resp *resp)
{
	json_t *j = req_json_keep(req, keys_jwks_new(req->ctx));
	enum pc_err err;

	if (j == NULL)
		return PC_ENOMEM;
	err = resp_json(resp, 200, j);
	if (err == PC_OK)
		err = resp_header_add(resp, "Cache-Control", "public, max-age=300");
	return err;
}

static const struct pc_route jwks_routes[] = {
	{ "GET", "/.well-known/jwks.json", jwks_get, 0 },
};

static const struct pc_mount jwks_mounts[] = {
	{ .router = "jwks", .prefix_setting = NULL, .suffix = "", .routes = jwks_routes,
	  .nroutes = sizeof(jwks_routes) / sizeof(jwks_routes[0]) },
};

static void jwks_render_error(struct pc_req *req, struct pc_resp *resp, int status,
			      const struct pc_errinfo *ei)
{
	(void)ei;
	resp_json(resp, status, req_json_keep(req, json_pack("{s:s}", "detail", resp_reason(status))));
}

const struct pc_face face_jwks = {
	.name = "jwks",
	.mounts = jwks_mounts,
	.nmounts = sizeof(jwks_mounts) / sizeof(jwks_mounts[0]),
	.render_error = jwks_render_error,
};
