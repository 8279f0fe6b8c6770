/*
 * native.c - portcullis' own routes: liveness and readiness.
 *
 *   GET /healthz  200 {"status": "ok"} while the process serves requests
 *   GET /readyz   200 {"status": "ready"} when the store answers and takes a
 *                 write (one small committed write: a full disk or a
 *                 read-only database is not ready), else 503
 *
 * Errors use FastAPI's default shape {"detail": "..."}.
 */
#include "faces/face.h"

static enum pc_err native_healthz(struct pc_req *req, struct pc_resp *resp)
{
	return resp_json(resp, 200, req_json_keep(req, json_pack("{s:s}", "status", "ok")));
}

static enum pc_err native_readyz(struct pc_req *req, struct pc_resp *resp)
{
	bool ready = pc_ctx_ping(req->ctx) == PC_OK;

	return resp_json(resp, ready ? 200 : 503, req_json_keep(req,
		json_pack("{s:s}", "status", ready ? "ready" : "unavailable")));
}

static const struct pc_route native_routes[] = {
	{ "GET", "/healthz", native_healthz, 0 },
	{ "GET", "/readyz", native_readyz, 0 },
};

static const struct pc_mount native_mounts[] = {
	{ .router = "health", .prefix_setting = NULL, .suffix = "", .routes = native_routes,
	  .nroutes = sizeof(native_routes) / sizeof(native_routes[0]) },
};

static void native_render_error(struct pc_req *req, struct pc_resp *resp, int status,
				const struct pc_errinfo *ei)
{
	(void)ei;
	resp_json(resp, status, req_json_keep(req, json_pack("{s:s}", "detail", resp_reason(status))));
}

const struct pc_face face_native = {
	.name = "native",
	.mounts = native_mounts,
	.nmounts = sizeof(native_mounts) / sizeof(native_mounts[0]),
	.render_error = native_render_error,
};
