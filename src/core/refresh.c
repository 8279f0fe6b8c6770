/*
 * refresh.c - refresh-token families: a login starts one, each rotation
 * spends a token and issues its child in the same family, and a spent token
 * presented again revokes the whole family, with every access token issued
 * from it.
 *
 * A refresh token is 256 bits from the system's generator as 43 base64url
 * characters, given to the client only; the store keeps the hex SHA-256 of
 * its text (refresh_tokens), its family, user, expiry, used_at and
 * revoked_at. A family (refresh_families) is one row: its user and
 * revoked_at. Access tokens issued with a pair carry the family id as a
 * claim (the claims table's family, "fam"), and the access check refuses
 * them once the family is revoked (auth.c: one store read, as before).
 *
 * Life of a token (the function that makes each transition beside it):
 *
 *     (login) --refresh_login: new family + first token--> issued
 *     issued  --refresh_rotate: CAS used_at, child inserted--> used
 *     used    --refresh_rotate again, within refresh_grace_seconds
 *               of used_at: a sibling child inserted--> used
 *     used    --refresh_rotate again, outside the grace--> revoked
 *               (store_refresh_family_revoke: the family and all of
 *               its tokens; its access tokens refused from now on)
 *     issued, used --refresh_revoke--> revoked (the whole family)
 *     issued, used --expires_at passes--> expired (refused; nothing written)
 *     revoked, expired, unknown --anything--> refused, nothing written
 *     expired --refresh_purge (housekeeping)--> gone; a family left without
 *               tokens goes too, and its access tokens are refused
 *
 * Invariants:
 *   - a token is spent by one compare-and-swap in the store
 *     (store_refresh_use: UPDATE ... WHERE used_at IS NULL AND revoked_at
 *     IS NULL AND expires_at > now, exactly one row changed), never by a
 *     read followed by a write: of two rotations racing on one token exactly
 *     one wins, on any back end;
 *   - the spend, the user check and the child (or the revocation) are
 *     written in one transaction (store_begin/commit), or nothing is;
 *   - the work that writes nothing is done outside that transaction, which
 *     on SQLite holds every other writer of the process back (sqlite.c:
 *     the write turn): the child's text is drawn before it, the access
 *     token signed after its commit. A signing that fails there (a buffer
 *     too small: it would fail on every rotation alike) leaves the child
 *     stored and unanswered; the spent parent rotates again within
 *     refresh_grace_seconds;
 *   - reuse detection lives in the store, so it survives restarts and is
 *     shared by every instance on the database (DESIGN §9, Keycloak);
 *   - a refresh token never passes as an access token (it is no JWT: the
 *     shape check refuses it) and an access token never as a refresh token
 *     (no row has its hash). simplejwt's face hands the opaque token out
 *     inside a JWT (refresh_jwt_wrap, at the end of this file): its
 *     token_type "refresh" keeps it from every access check, and an access
 *     JWT (token_type "access") is refused by refresh_jwt_unwrap before any
 *     row is looked up.
 */
#include <string.h>

#include "core/core.h"
#include "store/store.h"

/* Copies a NUL-terminated id into a row field; PC_EINVAL when it does not fit. */
static enum pc_err refresh_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n = strnlen(src, dstsz);

	if (n == dstsz)
		return PC_EINVAL;
	memcpy(dst, src, n + 1);
	return PC_OK;
}

/* Inserts token (crypto_token_new, drawn by the caller before its
 * transaction) as a new token of family for user_id, valid from now. Joins
 * the caller's transaction. */
static enum pc_err refresh_issue(struct pc_ctx *ctx, const char *family, const char *user_id,
				 int64_t now, const char token[PC_TOKEN_MAX])
{
	struct pc_refresh_row row;
	enum pc_err err;

	memset(&row, 0, sizeof(row));
	err = refresh_copy(row.family_id, sizeof(row.family_id), family);
	if (err == PC_OK)
		err = refresh_copy(row.user_id, sizeof(row.user_id), user_id);
	if (err != PC_OK)
		return err;
	crypto_token_hash(token, row.token_hash);
	row.created_at = now;
	row.expires_at = now + ctx->cfg.refresh_token_lifetime_seconds;
	return STORE_CALL(ctx->store, refresh_insert, &row);
}

/* Ends the transaction begun by the caller: commits when err is PC_OK or
 * keep (a revocation to keep), else rolls back. The error that led here wins. */
static enum pc_err refresh_end(struct pc_ctx *ctx, enum pc_err err, enum pc_err keep)
{
	enum pc_err c;

	if (err == PC_OK || err == keep) {
		c = store_commit(ctx->store);
		if (c == PC_OK)
			return err;
		err = c;
	}
	(void)store_rollback(ctx->store);
	return err;
}

enum pc_err refresh_login(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			  const struct pc_user *u, struct refresh_pair *out)
{
	return refresh_login_from(ctx, t, u, NULL, NULL, out);
}

enum pc_err refresh_login_from(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			       const struct pc_user *u, const char *ip, const char *user_agent,
			       struct refresh_pair *out)
{
	char ua[256], where[64];
	int64_t now = time_now();
	enum pc_err err;

	if (ip != NULL)
		snprintf(where, sizeof(where), "%s", ip);
	if (user_agent != NULL)
		snprintf(ua, sizeof(ua), "%s", user_agent);

	memset(out, 0, sizeof(*out));
	err = crypto_uuid7(out->family);
	if (err == PC_OK)
		err = auth_jwt_issue_family(ctx, t, u, out->family, out->access, sizeof(out->access));
	if (err == PC_OK)
		err = crypto_token_new(out->refresh);
	if (err != PC_OK) {
		crypto_wipe(out, sizeof(*out));
		return err;
	}
	err = store_begin(ctx->store);
	if (err != PC_OK) {
		crypto_wipe(out, sizeof(*out));
		return err;
	}
	err = STORE_CALL(ctx->store, refresh_family_insert, out->family, u->id, now,
			 ip != NULL ? where : NULL, user_agent != NULL ? ua : NULL);
	if (err == PC_OK)
		err = refresh_issue(ctx, out->family, u->id, now, out->refresh);
	err = refresh_end(ctx, err, PC_OK);
	if (err != PC_OK)
		crypto_wipe(out, sizeof(*out));
	return err;
}

/*
 * The compare-and-swap found the token not good: why. PC_OK (row filled)
 * for a spent token within the grace interval; PC_EREVOKED after revoking
 * the family of a spent token outside it; PC_EUNAUTHORIZED for an unknown,
 * expired or revoked token (nothing written).
 */
static enum pc_err refresh_spent(struct pc_ctx *ctx, const char *hash, int64_t now,
				 struct pc_refresh_row *row)
{
	enum pc_err err = STORE_CALL(ctx->store, refresh_get, hash, row);

	if (err == PC_ENOTFOUND)
		return PC_EUNAUTHORIZED;
	if (err != PC_OK)
		return err;
	if (row->revoked_at != 0 || row->expires_at <= now || row->used_at == 0)
		return PC_EUNAUTHORIZED;
	if (now < row->used_at + ctx->cfg.refresh_grace_seconds)
		return PC_OK;
	err = STORE_CALL(ctx->store, refresh_family_revoke, row->family_id, now);
	/* in the same transaction as the revocation */
	if (err == PC_OK)
		(void)pc_audit(ctx, "refresh.reuse", row->user_id, NULL);
	return err == PC_OK ? PC_EREVOKED : err;
}

/* The token's user, who must exist and be active (PC_EUNAUTHORIZED). */
static enum pc_err refresh_user(struct pc_ctx *ctx, const char *id, struct pc_user *u)
{
	enum pc_err err = STORE_CALL(ctx->store, user_by_id, id, u);

	crypto_wipe(u->hashed_password, sizeof(u->hashed_password));
	if (err == PC_ENOTFOUND || (err == PC_OK && !u->is_active))
		return PC_EUNAUTHORIZED;
	return err;
}

enum pc_err refresh_rotate(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			   const char *token, struct refresh_pair *out, struct pc_user *u_out)
{
	char hash[PC_SHA256_HEX];
	struct pc_refresh_row row;
	struct pc_user u;
	int64_t now = time_now();
	enum pc_err err;

	memset(out, 0, sizeof(*out));
	memset(&u, 0, sizeof(u));
	if (token == NULL || !crypto_token_shape_ok(token))
		return PC_EUNAUTHORIZED;
	crypto_token_hash(token, hash);
	err = crypto_token_new(out->refresh); /* the child's text, drawn before the transaction */
	if (err == PC_OK)
		err = store_begin(ctx->store);
	if (err != PC_OK) {
		crypto_wipe(out, sizeof(*out));
		return err;
	}
	err = STORE_CALL(ctx->store, refresh_use, hash, now);
	if (err == PC_OK)
		err = STORE_CALL(ctx->store, refresh_get, hash, &row);
	else if (err == PC_ENOTFOUND)
		err = refresh_spent(ctx, hash, now, &row);
	if (err == PC_OK)
		err = refresh_user(ctx, row.user_id, &u);
	if (err == PC_OK)
		err = refresh_copy(out->family, sizeof(out->family), row.family_id);
	if (err == PC_OK)
		err = refresh_issue(ctx, out->family, u.id, now, out->refresh);
	err = refresh_end(ctx, err, PC_EREVOKED);
	if (err == PC_OK) /* after the commit: the signing holds no other writer back */
		err = auth_jwt_issue_family(ctx, t, &u, out->family, out->access,
					    sizeof(out->access));
	if (err != PC_OK)
		crypto_wipe(out, sizeof(*out));
	else if (u_out != NULL)
		*u_out = u;
	return err;
}

enum pc_err refresh_revoke(struct pc_ctx *ctx, const char *token)
{
	char hash[PC_SHA256_HEX];
	struct pc_refresh_row row;
	int64_t now = time_now();
	enum pc_err err;

	if (token == NULL || !crypto_token_shape_ok(token))
		return PC_EUNAUTHORIZED;
	crypto_token_hash(token, hash);
	err = store_begin(ctx->store);
	if (err != PC_OK)
		return err;
	err = STORE_CALL(ctx->store, refresh_get, hash, &row);
	if (err == PC_ENOTFOUND || (err == PC_OK && (row.revoked_at != 0 || row.expires_at <= now)))
		err = PC_EUNAUTHORIZED;
	if (err == PC_OK)
		err = STORE_CALL(ctx->store, refresh_family_revoke, row.family_id, now);
	return refresh_end(ctx, err, PC_OK);
}

enum pc_err refresh_revoke_family(struct pc_ctx *ctx, const char *family)
{
	enum pc_err err;

	if (family == NULL || family[0] == '\0')
		return PC_ENOTFOUND;
	err = store_begin(ctx->store);
	if (err != PC_OK)
		return err;
	err = STORE_CALL(ctx->store, refresh_family_revoke, family, time_now());
	return refresh_end(ctx, err, PC_OK);
}

enum pc_err refresh_purge(struct pc_ctx *ctx, int64_t now)
{
	int64_t removed = 0;

	return STORE_CALL(ctx->store, refresh_purge, now, &removed);
}

/* ---- simplejwt: the opaque token inside a JWT ------------------------------------ */

enum pc_err refresh_jwt_wrap(struct pc_ctx *ctx, const struct jwt_claims_table *rt,
			     const char *refresh, const char *user_id, char *out, size_t outsz)
{
	return jwt_sign_jti(&ctx->jwt, rt, user_id, refresh, time_now(),
			    ctx->cfg.refresh_token_lifetime_seconds, out, outsz, NULL);
}

enum pc_err refresh_jwt_unwrap(struct pc_ctx *ctx, const struct jwt_claims_table *rt,
			       const char *jwt, char token[PC_TOKEN_MAX])
{
	struct pc_jwt_claims c;
	enum pc_err err;

	token[0] = '\0';
	if (jwt == NULL)
		return PC_EUNAUTHORIZED;
	err = jwt_verify(&ctx->jwt, rt, jwt, time_now(), &c);
	if (err == PC_OK && (!crypto_token_shape_ok(c.jti) || strlen(c.jti) >= PC_TOKEN_MAX))
		err = PC_EUNAUTHORIZED;
	if (err == PC_OK)
		memcpy(token, c.jti, strlen(c.jti) + 1);
	crypto_wipe(&c, sizeof(c));
	return err;
}

enum pc_err refresh_live(struct pc_ctx *ctx, const char *token)
{
	char hash[PC_SHA256_HEX];
	struct pc_refresh_row row;
	enum pc_err err;

	if (token == NULL || !crypto_token_shape_ok(token))
		return PC_EUNAUTHORIZED;
	crypto_token_hash(token, hash);
	err = STORE_CALL(ctx->store, refresh_get, hash, &row);
	if (err == PC_ENOTFOUND)
		return PC_EUNAUTHORIZED;
	if (err != PC_OK)
		return err;
	if (row.used_at != 0 || row.revoked_at != 0 || row.expires_at <= time_now())
		return PC_EUNAUTHORIZED;
	return PC_OK;
}
