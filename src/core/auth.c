/*
 * auth.c - password login and access JWTs over the store.
 *
 * Login never tells which part was wrong: an unknown identifier, a user
 * without a password, a hash we cannot read, a wrong password and an
 * inactive user all answer PC_EBADCREDS, and each spends one hash
 * verification (the dummy one when there is no hash or one password_verify
 * cannot read, an old Django "md5$" or a bcrypt beyond its cost bound say),
 * so timing does not tell either. Imported hashes it can read (bcrypt,
 * Django's, Werkzeug's) verify, and are rehashed like old-parameter argon2
 * ones. Only a right password of an active but unverified user, when
 * verification is required, answers PC_ENOTVERIFIED (fastapi-users does the
 * same). A successful login with an old-parameter hash rehashes it.
 *
 * Access JWTs: jwt_verify (jwt.c) checks alg, signature and the claims by
 * the face's table; here the token id denylist (logout) and the user's
 * existence are checked, behind the credential cache (authcache_through).
 * A token that carries a refresh family claim (myauth's) is good only while
 * that family is its user's and live: the same single store read, by a
 * statement that adds the family's row to the user and jti lookup
 * (user_by_id_unrevoked_in_family). Revoking a family is a committed write,
 * which voids the credential cache, so it counts from the next request.
 * A token issued before its user's last password change is refused (the
 * same read: credentials_epoch_ms, migration 011, against the issue
 * millisecond its jti carries, jwt_issued_ms), so a password change ends
 * every access token out there, on every face.
 * The public pc_jwt_* calls use RFC 7519's table (sub, jti, aud).
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"

/* The identifier's lookup key (a normalised address or username) into key;
 * false when it is neither (then key holds its text, bounded, for the lock). */
static bool login_key(const char *ident, char key[PC_EMAIL_MAX + 1], bool *is_email)
{
	*is_email = strchr(ident, '@') != NULL;
	if (*is_email && email_normalize(ident, NULL, key, NULL) == PC_OK)
		return true;
	if (!*is_email && email_username_normalize(ident, key, NULL) == PC_OK)
		return true;
	snprintf(key, PC_EMAIL_MAX + 1, "%s", ident);
	return false;
}

static enum pc_err login_lookup(struct pc_ctx *ctx, const char *key, bool ok, bool is_email,
				struct pc_user *u)
{
	if (!ok)
		return PC_ENOTFOUND;
	if (is_email)
		return STORE_CALL(ctx->store, user_by_email, key, u);
	return STORE_CALL(ctx->store, user_by_username, key, u);
}

enum pc_err pc_login_retry_after(struct pc_ctx *ctx, const char *ident, int64_t *retry_after)
{
	char key[PC_EMAIL_MAX + 1], lock[RATELIMIT_KEY_MAX];
	int64_t hits;
	bool is_email;
	enum pc_err err;

	*retry_after = 0;
	if (ident == NULL)
		return PC_OK;
	(void)login_key(ident, key, &is_email);
	ratelimit_lock_key(key, lock);
	err = ratelimit_lock_check(ctx, lock, &hits, retry_after);
	return err == PC_ELIMITED ? PC_OK : err;
}

enum pc_err pc_login_unlock(struct pc_ctx *ctx, const char *ident)
{
	char key[PC_EMAIL_MAX + 1], lock[RATELIMIT_KEY_MAX];
	bool is_email;

	if (ident == NULL)
		return PC_EINVAL;
	(void)login_key(ident, key, &is_email);
	ratelimit_lock_key(key, lock);
	return STORE_CALL(ctx->store, rl_clear, lock);
}

/* Best effort: a failed rehash leaves the old, still valid hash. */
static void login_rehash(struct pc_ctx *ctx, struct pc_user *u, const char *pw, size_t len)
{
	struct pc_user next = *u;

	if (password_hash(&ctx->argon2, pw, len, next.hashed_password,
			     sizeof(next.hashed_password)) != PC_OK)
		return;
	if (STORE_CALL(ctx->store, user_update, &next, NULL) == PC_OK)
		memcpy(u->hashed_password, next.hashed_password, sizeof(u->hashed_password));
	crypto_wipe(next.hashed_password, sizeof(next.hashed_password));
}

enum pc_err pc_login(struct pc_ctx *ctx, const char *ident, const char *password,
		     size_t password_len, struct pc_user *out)
{
	struct pc_user u;
	enum pc_err err = auth_first_factor(ctx, ident, password, password_len, &u);

	if (err == PC_OK && u.totp_enabled)
		err = PC_ESECONDFACTOR;
	if (err == PC_OK)
		*out = u;
	return err;
}

static enum pc_err auth_first_factor_check(struct pc_ctx *ctx, const char *ident,
					   const char *password, size_t password_len,
					   struct pc_user *out);

/* Counts the attempt (STAT_LOGIN_OK or STAT_LOGIN_FAILED; store trouble is
 * not the user's failure and counts as neither) around the check. */
enum pc_err auth_first_factor(struct pc_ctx *ctx, const char *ident, const char *password,
			      size_t password_len, struct pc_user *out)
{
	enum pc_err err = auth_first_factor_check(ctx, ident, password, password_len, out);

	if (err == PC_OK)
		stats_add(STAT_LOGIN_OK, 1);
	else if (err != PC_ESTORE && err != PC_ENOMEM && err != PC_EUNAVAILABLE)
		stats_add(STAT_LOGIN_FAILED, 1);
	return err;
}

static enum pc_err auth_first_factor_check(struct pc_ctx *ctx, const char *ident,
					   const char *password, size_t password_len,
					   struct pc_user *out)
{
	char key[PC_EMAIL_MAX + 1], lock[RATELIMIT_KEY_MAX];
	struct pc_user u;
	bool needs_rehash = false, key_ok, is_email;
	int64_t hits, retry;
	enum pc_err err;

	if (ident == NULL || password == NULL)
		return PC_EBADCREDS;
	key_ok = login_key(ident, key, &is_email);
	ratelimit_lock_key(key, lock);
	/* a locked identifier, known or not, is refused before any hash work */
	err = ratelimit_lock_check(ctx, lock, &hits, &retry);
	if (err != PC_OK)
		return err;
	err = login_lookup(ctx, key, key_ok, is_email, &u);
	if (err == PC_ESTORE || err == PC_EUNAVAILABLE)
		return err;
	if (err != PC_OK || u.hashed_password[0] == '\0') {
		password_dummy_verify(&ctx->argon2, password, password_len);
		err = ratelimit_lock_record(ctx, lock, true, hits);
		return err == PC_OK ? PC_EBADCREDS : err;
	}
	err = password_verify(&ctx->argon2, u.hashed_password, password, password_len,
				 &needs_rehash);
	/* the lock counts wrong passwords only: a right one clears the count,
	 * whatever comes after (inactive, unverified) */
	if (ratelimit_lock_record(ctx, lock, err != PC_OK, hits) != PC_OK) {
		err = PC_ESTORE;
		goto out_wipe;
	}
	if (err != PC_OK) {
		err = PC_EBADCREDS;
		goto out_wipe;
	}
	if (!u.is_active) {
		err = PC_EBADCREDS;
		goto out_wipe;
	}
	if (ctx->cfg.requires_verification && !u.is_verified) {
		err = PC_ENOTVERIFIED;
		goto out_wipe;
	}
	if (needs_rehash)
		login_rehash(ctx, &u, password, password_len);
	*out = u;
out_wipe:
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	return err;
}

/* ---- access JWTs ------------------------------------------------------------- */

enum pc_err auth_jwt_issue(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			   const struct pc_user *u, char *out, size_t outsz)
{
	return keys_sign(ctx, t, u, NULL, out, outsz);
}

enum pc_err auth_jwt_issue_family(struct pc_ctx *ctx, const struct jwt_claims_table *t,
				  const struct pc_user *u, const char *family, char *out,
				  size_t outsz)
{
	return keys_sign(ctx, t, u, family, out, outsz);
}

/* The full check behind the cache: signature and claims by the table, then
 * the denylist, the user and (when the token names one) its refresh family
 * in one store read. */
static enum pc_err auth_jwt_check(struct pc_ctx *ctx, const void *arg, const char *token,
				  int64_t now, struct pc_user *out, int64_t *exp)
{
	struct pc_jwt_claims claims;
	int64_t issued_ms;
	enum pc_err err;

	if (keys_verify(ctx, arg, token, now, &claims) != PC_OK ||
	    !crypto_uuid_valid(claims.sub))
		return PC_EUNAUTHORIZED;
	issued_ms = jwt_issued_ms(&claims);
	if (claims.fam[0] != '\0')
		err = STORE_CALL(ctx->store, user_by_id_unrevoked_in_family, claims.sub, claims.jti,
				 claims.fam, issued_ms, out);
	else
		err = STORE_CALL(ctx->store, user_by_id_unrevoked, claims.sub, claims.jti,
				 issued_ms, out);
	if (err != PC_OK)
		return PC_EUNAUTHORIZED;
	*exp = claims.exp;
	return PC_OK;
}

enum pc_err auth_jwt_authenticate(struct pc_ctx *ctx, const struct jwt_claims_table *t,
				  const char *token, struct pc_user *out)
{
	if (token == NULL || t == NULL)
		return PC_EUNAUTHORIZED;
	return authcache_through(ctx, (uintptr_t)t, token, strnlen(token, PC_JWT_MAX + 1),
				 auth_jwt_check, t, out);
}

enum pc_err auth_jwt_revoke(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			    const char *token)
{
	struct pc_jwt_claims claims;

	if (keys_verify(ctx, t, token, time_now(), &claims) != PC_OK)
		return PC_EUNAUTHORIZED;
	return STORE_CALL(ctx->store, jti_revoke, claims.jti, claims.exp);
}

enum pc_err auth_jwt_claims(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			    const char *token, struct pc_jwt_claims *out)
{
	return keys_verify(ctx, t, token, time_now(), out);
}

bool auth_jwt_expired(struct pc_ctx *ctx, const struct jwt_claims_table *t, const char *token)
{
	return keys_expired(ctx, t, token, time_now());
}

enum pc_err pc_jwt_issue(struct pc_ctx *ctx, const struct pc_user *u, char *out, size_t outsz)
{
	return auth_jwt_issue(ctx, &jwt_claims_rfc7519, u, out, outsz);
}

enum pc_err pc_jwt_authenticate(struct pc_ctx *ctx, const char *token, struct pc_user *out)
{
	return auth_jwt_authenticate(ctx, &jwt_claims_rfc7519, token, out);
}

enum pc_err pc_jwt_revoke(struct pc_ctx *ctx, const char *token)
{
	return auth_jwt_revoke(ctx, &jwt_claims_rfc7519, token);
}
