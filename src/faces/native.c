/*
 * native.c - portcullis' own routes: liveness, readiness, metrics.
 *
 *   GET /healthz  200 {"status": "ok"} while the process serves requests
 *   GET /readyz   200 {"status": "ready"} when the store answers and takes a
 *                 write (one small committed write: a full disk or a
 *                 read-only database is not ready), else 503
 *   GET /metrics  the Prometheus text exposition (metrics router, off by
 *                 default: metrics_router=true mounts it). With
 *                 metrics_token set, only "Authorization: Bearer <token>"
 *                 reads it (401 otherwise; the token is compared as SHA-256
 *                 digests in constant time, so neither its bytes nor its
 *                 length leak); without one, only loopback clients (403
 *                 otherwise).
 *
 * Errors use FastAPI's default shape {"detail": "..."}.
 */
#include <string.h>

#include "faces/face.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- settings ------------------------------------------------------------------ */

struct native_settings {
	bool metrics_router;
	char metrics_token[256];
};

static const char *native_check_token(const char *v)
{
	size_t n = strlen(v);

	if (n == 0)
		return NULL;
	if (n < 16)
		return "must be empty or at least 16 bytes (openssl rand -hex 32)";
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f)
			return "must be printable ASCII without blanks";
	}
	return NULL;
}

static const struct config_row native_setting_rows[] = {
	CONFIG_ROW_BOOL(struct native_settings, "metrics_router", metrics_router, "false",
			"mount GET /metrics (Prometheus text format)"),
	CONFIG_ROW_STR(struct native_settings, "metrics_token", metrics_token, "", NULL,
		       native_check_token,
		       "bearer token /metrics requires; empty: only loopback clients may read it"),
};

static const struct config_layer native_settings = {
	.name = "native",
	.rows = native_setting_rows,
	.nrows = N(native_setting_rows),
	.size = sizeof(struct native_settings),
	.rule = NULL,
};

/* ---- renderers ------------------------------------------------------------------ */

static void native_render_error(struct pc_req *req, struct pc_resp *resp, int status,
				const struct pc_errinfo *ei)
{
	(void)ei;
	resp_json(resp, status, req_json_keep(req, json_pack("{s:s}", "detail", resp_reason(status))));
}

/* ---- handlers ------------------------------------------------------------------ */

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

static bool native_loopback(const char *ip)
{
	return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
	       strncmp(ip, "::ffff:127.", 11) == 0;
}

/* The presented token against metrics_token: both hashed, the digests
 * compared in constant time. */
static bool native_token_ok(const char *presented, const char *want)
{
	unsigned char a[PC_SHA256_LEN], b[PC_SHA256_LEN];

	crypto_sha256(presented, strlen(presented), a);
	crypto_sha256(want, strlen(want), b);
	return crypto_ct_equal(a, b, sizeof(a));
}

static enum pc_err native_metrics(struct pc_req *req, struct pc_resp *resp)
{
	const struct native_settings *s = config_layer_get(&req->ctx->cfg, &native_settings);
	const char *t;

	if (s == NULL)
		return PC_EINTERNAL;
	if (s->metrics_token[0] != '\0') {
		t = req_bearer_get(req);
		if (t == NULL || !native_token_ok(t, s->metrics_token)) {
			native_render_error(req, resp, 401, NULL);
			resp_header_add(resp, "WWW-Authenticate",
					t == NULL ? "Bearer" : "Bearer error=\"invalid_token\"");
			return PC_EBADCREDS;
		}
	} else if (!native_loopback(req->client_ip)) {
		native_render_error(req, resp, 403, NULL);
		return PC_EBADCREDS;
	}
	return resp_metrics(req, resp);
}

/* ---- tables ------------------------------------------------------------------ */

static const struct pc_route native_routes[] = {
	{ "GET", "/healthz", native_healthz, 0 },
	{ "GET", "/readyz", native_readyz, 0 },
};

static const struct pc_route native_metrics_routes[] = {
	{ "GET", "/metrics", native_metrics, 0 },
};

static const struct pc_mount native_mounts[] = {
	{ .router = "health", .prefix_setting = NULL, .suffix = "", .routes = native_routes,
	  .nroutes = N(native_routes) },
	{ .router = "metrics", .prefix_setting = NULL, .suffix = "",
	  .enable_setting = "metrics_router", .routes = native_metrics_routes,
	  .nroutes = N(native_metrics_routes) },
};

const struct pc_face face_native = {
	.name = "native",
	.mounts = native_mounts,
	.nmounts = N(native_mounts),
	.render_error = native_render_error,
	.settings = &native_settings,
};
