/*
 * authn.c - the credential checks of PC_R_AUTH routes, by the auth profile
 * of the face whose route matched (struct pc_auth_profile, http.h).
 *
 * Owns nothing: req->user is allocated in the arena, req->cred borrows the
 * header or the arena copy of the cookie. The credential is never logged.
 *
 * Which credential counts, by the profile and the route's flags:
 *   PC_R_AUTH                  a bearer header if the profile takes one and
 *                              one is present (no fallback to the cookie
 *                              when it fails), else the profile's session
 *                              cookie (its name from the face's settings)
 *   PC_R_AUTH | PC_R_BEARER    only "Authorization: Bearer <jwt>"
 *   PC_R_AUTH | PC_R_COOKIE    only the session cookie
 * A bearer token goes to auth_jwt_authenticate with the profile's claims
 * table, a cookie to pc_session_authenticate (or, with cookie_jwt, as a
 * bearer token); the core decides validity.
 * Then:
 *   profile csrf    a cookie-authenticated unsafe method without the
 *                   double submit (header equal to the CSRF cookie, or the
 *                   token's CSRF claim) is 403, errinfo saying which
 *   PC_R_ACTIVE     an inactive user is 401 (as fastapi-users answers), with
 *                   req->errinfo PC_V_INACTIVE for a face that says otherwise
 *   PC_R_SUPERUSER  a user who is not a superuser is 403
 *   PC_R_ADMIN      a user who is neither a superuser nor has the role
 *                   "admin" is 403
 */
#include <string.h>
#include <strings.h>

#include "http/internal.h"

const char *req_bearer_get(const struct pc_req *req)
{
	const char *h = req_header_get(req, "Authorization");

	if (h == NULL)
		return NULL;
	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t' && h[6] != '\0'))
		return NULL;
	h += 6;
	while (*h == ' ' || *h == '\t')
		h++;
	return h;
}

/* Maps the core's answer to a status: store trouble is ours, not the client's. */
static int authn_status(enum pc_err err)
{
	switch (err) {
	case PC_OK:
		return 0;
	case PC_ENOMEM:
	case PC_ESTORE:
	case PC_EINTERNAL:
		return 500;
	case PC_EUNAVAILABLE: /* the database is down: try again, the credential may be fine */
		return 503;
	default:
		return 401;
	}
}

static bool authn_token_ok(const char *t)
{
	size_t n = strnlen(t, PC_JWT_MAX + 1);

	/* the length known: two memchr, not strpbrk's byte set */
	return n > 0 && n <= PC_JWT_MAX && memchr(t, ' ', n) == NULL &&
	       memchr(t, '\t', n) == NULL;
}

const struct pc_cookie_conf *face_cookie_conf(const struct pc_face *f, const struct pc_config *cfg)
{
	const char *values;

	if (f == NULL || !f->auth.cookie)
		return NULL;
	values = config_layer_get(cfg, f->settings);
	return values != NULL ? (const struct pc_cookie_conf *)(const void *)(values + f->auth.cookie_at)
			      : NULL;
}

/* The double submit: on a method that changes state, the CSRF header must
 * equal the CSRF cookie, or with csrf_claim the CSRF claim of the access JWT
 * token (both present, compared in constant time). PC_V_NONE when it
 * holds, else PC_V_CSRF_MISSING (no header) or PC_V_CSRF_MISMATCH. */
static enum pc_verr authn_csrf(struct pc_req *req, const struct pc_auth_profile *ap,
			       const char *token)
{
	const char *m = req->method, *header, *expected;
	struct pc_jwt_claims c;
	bool ok;

	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0)
		return PC_V_NONE;
	header = req_header_get(req, ap->csrf_header);
	if (header == NULL || header[0] == '\0')
		return PC_V_CSRF_MISSING;
	memset(&c, 0, sizeof(c));
	if (!ap->csrf_claim)
		expected = req_cookie_get(req, ap->csrf_cookie);
	else if (auth_jwt_claims(req->ctx, ap->claims, token, &c) == PC_OK)
		expected = c.csrf;
	else
		expected = NULL;
	ok = expected != NULL && expected[0] != '\0' && crypto_ct_streq(header, expected);
	crypto_wipe(&c, sizeof(c));
	return ok ? PC_V_NONE : PC_V_CSRF_MISMATCH;
}

int http_authn(struct pc_req *req, unsigned flags)
{
	static const struct pc_auth_profile none = { 0 };
	const struct pc_auth_profile *ap = req->face != NULL ? &req->face->auth : &none;
	bool only_bearer = (flags & PC_R_BEARER) && !(flags & PC_R_COOKIE);
	bool only_cookie = (flags & PC_R_COOKIE) && !(flags & PC_R_BEARER);
	const struct pc_cookie_conf *ck = NULL;
	const char *token = NULL;
	struct pc_user *u;
	enum pc_err err;
	int status;

	req->user = NULL;
	req->cred_kind = PC_CRED_NONE;
	req->cred = NULL;
	if (!(flags & PC_R_AUTH))
		return 0;
	if (ap->bearer && ap->claims != NULL && !only_cookie)
		token = req_bearer_get(req);
	if (token != NULL) {
		req->cred_kind = PC_CRED_BEARER;
	} else if (!only_bearer) {
		ck = face_cookie_conf(req->face, &req->ctx->cfg);
		token = ck != NULL ? req_cookie_get(req, ck->name) : NULL;
		req->cred_kind = token != NULL ? PC_CRED_COOKIE : PC_CRED_NONE;
	}
	if (token == NULL || !authn_token_ok(token))
		goto out_unauthorized;
	u = arena_calloc(req->arena, sizeof(*u));
	if (u == NULL)
		return 500;
	if (req->cred_kind == PC_CRED_BEARER || ap->cookie_jwt)
		err = auth_jwt_authenticate(req->ctx, ap->claims, token, u);
	else
		err = pc_session_authenticate(req->ctx, token, u);
	status = authn_status(err);
	if (status != 0) {
		req->cred_kind = PC_CRED_NONE;
		return status;
	}
	if (req->cred_kind == PC_CRED_COOKIE && ap->csrf) {
		enum pc_verr why = authn_csrf(req, ap, token);

		if (why != PC_V_NONE) {
			pc_errinfo_set(&req->errinfo, "header", ap->csrf_header, why, 0);
			req->cred_kind = PC_CRED_NONE;
			return 403;
		}
	}
	if ((flags & PC_R_ACTIVE) && !u->is_active) {
		/* said to the face's renderer: MyAuth answers it with 400 */
		pc_errinfo_set(&req->errinfo, "header", "Authorization", PC_V_INACTIVE, 0);
		goto out_unauthorized;
	}
	req->user = u;
	req->cred = token;
	if ((flags & PC_R_SUPERUSER) && !u->is_superuser)
		return 403;
	if ((flags & PC_R_ADMIN) && !u->is_superuser && !pc_user_has_role(u, "admin"))
		return 403;
	return 0;
out_unauthorized:
	req->cred_kind = PC_CRED_NONE;
	return 401;
}
