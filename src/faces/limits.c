/*
 * limits.c - the rate limits as every face applies them (the counting is
 * the core's, ratelimit.c): the client's key from the request, and the
 * Retry-After header on a refusal. Each face renders the 429 in its shape.
 */
#include <stdio.h>

#include "core/core.h"
#include "faces/face.h"

static enum pc_err face_retry_after(struct pc_resp *resp, int64_t retry)
{
	char secs[24];

	snprintf(secs, sizeof(secs), "%lld", (long long)(retry > 0 ? retry : 1));
	return resp_header_add(resp, "Retry-After", secs);
}

/* err, with Retry-After added to resp when it is PC_ELIMITED. */
static enum pc_err face_limited(struct pc_resp *resp, enum pc_err err, int64_t retry)
{
	if (err == PC_ELIMITED && face_retry_after(resp, retry) != PC_OK)
		return PC_ENOMEM;
	return err;
}

enum pc_err face_limit_client(struct pc_req *req, struct pc_resp *resp, enum pc_limit kind)
{
	char key[PC_CLIENT_KEY_MAX];
	int64_t retry = 0;
	enum pc_err err;

	pc_client_key(req->ctx, req->client_ip, req_header_get(req, "X-Forwarded-For"), key);
	err = pc_limit_hit(req->ctx, kind, key, &retry);
	return face_limited(resp, err, retry);
}

/* A malformed address counts nothing: bad input stores nothing, and the
 * core's call after this answers it. */
enum pc_err face_limit_mail(struct pc_req *req, struct pc_resp *resp, const char *address)
{
	char norm[PC_EMAIL_MAX + 1], lc[PC_EMAIL_MAX + 1];
	int64_t retry = 0;
	enum pc_err err;

	if (address != NULL && email_normalize(address, norm, lc, NULL) != PC_OK)
		return PC_OK;
	err = face_limit_client(req, resp, PC_LIMIT_MAIL_IP);
	if (err == PC_OK && address != NULL) {
		err = pc_limit_hit(req->ctx, PC_LIMIT_MAIL_ADDRESS, lc, &retry);
		err = face_limited(resp, err, retry);
	}
	return err;
}

enum pc_err face_limit_subject(struct pc_req *req, struct pc_resp *resp, enum pc_limit kind,
			       const char *subject)
{
	int64_t retry = 0;
	enum pc_err err = pc_limit_hit(req->ctx, kind, subject, &retry);

	return face_limited(resp, err, retry);
}

enum pc_err face_register_check(struct pc_req *req, struct pc_resp *resp, char key[PC_CLIENT_KEY_MAX])
{
	int64_t retry = 0;
	enum pc_err err;

	pc_client_key(req->ctx, req->client_ip, req_header_get(req, "X-Forwarded-For"), key);
	err = pc_limit_peek(req->ctx, PC_LIMIT_REGISTER_IP, key, &retry);
	return face_limited(resp, err, retry);
}

void face_register_count(struct pc_req *req, const char *key)
{
	int64_t retry;

	/* the user is made: a counter that fails to move loses one count, no more */
	(void)pc_limit_hit(req->ctx, PC_LIMIT_REGISTER_IP, key, &retry);
}

enum pc_err face_login_locked(struct pc_req *req, struct pc_resp *resp, const char *ident)
{
	int64_t retry = 0;
	enum pc_err err = pc_login_retry_after(req->ctx, ident, &retry);

	if (err != PC_OK)
		return err;
	return face_limited(resp, PC_ELIMITED, retry);
}
