/*
 * sessions.c - database sessions behind the cookie transport.
 *
 * A session token is 256 random bits in base64url. Only its SHA-256 is
 * stored, so a copy of the database opens no session. A token that is not
 * of the shape we issue is refused before the store is asked.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"

#define SESSION_TOKEN_LEN 43

enum pc_err pc_session_create(struct pc_ctx *ctx, const struct pc_user *u, const char *ip,
			      const char *user_agent, char token_out[PC_TOKEN_MAX])
{
	struct pc_session_row row;
	char token[PC_TOKEN_MAX];
	int64_t now = time_now();
	enum pc_err err;

	memset(&row, 0, sizeof(row));
	err = crypto_token_new(token);
	if (err != PC_OK)
		return err;
	crypto_token_hash(token, row.token_hash);
	memcpy(row.user_id, u->id, sizeof(row.user_id));
	row.created_at = now;
	row.last_seen_at = now;
	row.expires_at = now + ctx->cfg.session_lifetime_seconds;
	snprintf(row.ip, sizeof(row.ip), "%s", ip != NULL ? ip : "");
	snprintf(row.user_agent, sizeof(row.user_agent), "%s", user_agent != NULL ? user_agent : "");
	err = STORE_CALL(ctx->store, session_insert, &row);
	if (err == PC_OK)
		memcpy(token_out, token, PC_TOKEN_MAX);
	crypto_wipe(token, sizeof(token));
	return err;
}

/* The full check behind the cache: the unexpired session's user. */
static enum pc_err session_check(struct pc_ctx *ctx, const void *arg, const char *token,
				 int64_t now, struct pc_user *out, int64_t *exp)
{
	char hash[PC_SHA256_HEX];

	(void)arg;
	crypto_token_hash(token, hash);
	if (STORE_CALL(ctx->store, session_user, hash, now, out, exp) != PC_OK)
		return PC_EUNAUTHORIZED;
	return PC_OK;
}

enum pc_err pc_session_authenticate(struct pc_ctx *ctx, const char *token, struct pc_user *out)
{
	if (!crypto_token_shape_ok(token))
		return PC_EUNAUTHORIZED;
	return authcache_through(ctx, PC_AUTHCACHE_SESSION, token, SESSION_TOKEN_LEN, session_check,
				 NULL, out);
}

enum pc_err pc_session_end(struct pc_ctx *ctx, const char *token)
{
	char hash[PC_SHA256_HEX];

	if (!crypto_token_shape_ok(token))
		return PC_EUNAUTHORIZED;
	crypto_token_hash(token, hash);
	return STORE_CALL(ctx->store, session_delete, hash);
}

/* ---- a user's sign-ins: list, end one, end all ------------------------------------ */

struct signins_acc {
	struct pc_signin *out;
	size_t n;
};

static int signins_take(const struct pc_signin *r, void *arg)
{
	struct signins_acc *a = arg;

	a->out[a->n++] = *r;
	return a->n == PC_SIGNINS_MAX;
}

enum pc_err pc_signins_list(struct pc_ctx *ctx, const char *user_id, struct pc_signin *out,
			    size_t *n)
{
	struct signins_acc a = { out, 0 };
	enum pc_err err = STORE_CALL(ctx->store, signins_of_user, user_id, time_now(),
				     signins_take, &a);

	*n = err == PC_OK ? a.n : 0;
	return err;
}

/* Ending sign-ins is audited when someone else (a superuser) does it. */
enum pc_err pc_signin_end(struct pc_ctx *ctx, const char *user_id, const char *id)
{
	enum pc_err err = STORE_CALL(ctx->store, signin_end, user_id, id, time_now());

	if (err == PC_OK && audit_by_other(user_id))
		(void)pc_audit(ctx, "admin.sessions_end", user_id, "{\"which\":\"one\"}");
	return err;
}

enum pc_err pc_signins_end_all(struct pc_ctx *ctx, const char *user_id)
{
	enum pc_err err = STORE_CALL(ctx->store, signins_end_all, user_id, time_now());

	if (err == PC_OK && audit_by_other(user_id))
		(void)pc_audit(ctx, "admin.sessions_end", user_id, "{\"which\":\"all\"}");
	return err;
}
