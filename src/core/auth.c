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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	struct pc_user u;
	bool is_email, key_ok;
	enum pc_err err;

	if (ident == NULL)
		return PC_EINVAL;
	key_ok = login_key(ident, key, &is_email);
	ratelimit_lock_key(key, lock);
	err = STORE_CALL(ctx->store, rl_clear, lock);
	if (err == PC_OK) {
		bool known = login_lookup(ctx, key, key_ok, is_email, &u) == PC_OK;

		(void)pc_audit(ctx, "admin.unlock", known ? u.id : NULL, NULL);
		if (known)
			crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	}
	return err;
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

/* What the audit row of a login names: the account when known, why it
 * failed, and the lock a failure set (seconds; 0: none). */
struct login_audit {
	char user_id[PC_ID_LEN + 1];
	const char *reason;
	int64_t locked_for;
};

static enum pc_err auth_first_factor_check(struct pc_ctx *ctx, const char *ident,
					   const char *password, size_t password_len,
					   struct pc_user *out, struct login_audit *la);

/* ---- failed logins held to the successful ones' time (issue 13, item 4) ---------- */

/* The durations of the last LOGIN_TIMES successful first factors (us): a
 * failed one answers no sooner than their median plus jitter, so that no
 * path of a failure (an unknown user, a hash we cannot read) is faster than
 * a success, as Authelia does. Process-wide, under login_times_lock. */
#define LOGIN_TIMES 32
static pthread_mutex_t login_times_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t login_times[LOGIN_TIMES];
static size_t login_times_n, login_times_next;

static void login_timing_record(int64_t us)
{
	pthread_mutex_lock(&login_times_lock);
	login_times[login_times_next] = us;
	login_times_next = (login_times_next + 1) % LOGIN_TIMES;
	if (login_times_n < LOGIN_TIMES)
		login_times_n++;
	pthread_mutex_unlock(&login_times_lock);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The median of the recorded successes (us); 0 when there are none. */
static int64_t login_timing_median(void)
{
	int64_t v[LOGIN_TIMES];
	size_t n;

	pthread_mutex_lock(&login_times_lock);
	n = login_times_n;
	memcpy(v, login_times, sizeof(v));
	pthread_mutex_unlock(&login_times_lock);
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_i64);
	return v[n / 2];
}

/* Sleeps until the failure begun at t0 (time_mono_us) is as old as the
 * median success plus up to login_failure_jitter_ms at random. */
static void login_failure_hold(struct pc_ctx *ctx, int64_t t0)
{
	int64_t target, left;
	uint32_t r = 0;

	if (!ctx->cfg.login_failure_delay)
		return;
	target = login_timing_median();
	if (ctx->cfg.login_failure_jitter_ms > 0 && crypto_random(&r, sizeof(r)) == PC_OK)
		target += (int64_t)(r % ((uint32_t)ctx->cfg.login_failure_jitter_ms * 1000u + 1u));
	left = t0 + target - time_mono_us();
	if (left > 0) {
		struct timespec ts = { .tv_sec = left / 1000000, .tv_nsec = (left % 1000000) * 1000 };

		while (nanosleep(&ts, &ts) != 0)
			;
	}
}

/* Counts the attempt (STAT_LOGIN_OK or STAT_LOGIN_FAILED; store trouble is
 * not the user's failure and counts as neither) around the check. */
enum pc_err auth_first_factor(struct pc_ctx *ctx, const char *ident, const char *password,
			      size_t password_len, struct pc_user *out)
{
	struct login_audit la = { .reason = NULL };
	int64_t t0 = time_mono_us();
	enum pc_err err = auth_first_factor_check(ctx, ident, password, password_len, out, &la);

	if (err == PC_OK) {
		stats_add(STAT_LOGIN_OK, 1);
		/* a TOTP user's password is one factor: the login goes on (MyAuth's
		 * second step) or stops (the faces without one) */
		(void)pc_audit(ctx, "login.success", out->id,
			       out->totp_enabled ? "{\"second_factor\":\"pending\"}" : NULL);
		login_timing_record(time_mono_us() - t0); /* the answer's time, audit row included */
	} else if (err != PC_ESTORE && err != PC_ENOMEM && err != PC_EUNAVAILABLE) {
		char detail[96];

		stats_add(STAT_LOGIN_FAILED, 1);
		snprintf(detail, sizeof(detail), "{\"reason\":\"%s\"}",
			 la.reason != NULL ? la.reason : "bad_credentials");
		(void)pc_audit(ctx, "login.failure", la.user_id[0] != '\0' ? la.user_id : NULL,
			       detail);
		if (la.locked_for > 0) {
			snprintf(detail, sizeof(detail), "{\"seconds\":%lld}",
				 (long long)la.locked_for);
			(void)pc_audit(ctx, "lockout", la.user_id[0] != '\0' ? la.user_id : NULL,
				       detail);
		}
		if (err != PC_ELIMITED)
			login_failure_hold(ctx, t0);
	}
	return err;
}

static enum pc_err auth_first_factor_check(struct pc_ctx *ctx, const char *ident,
					   const char *password, size_t password_len,
					   struct pc_user *out, struct login_audit *la)
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
	if (err == PC_ELIMITED) {
		/* for the audit row: whose account is locked, when there is one */
		la->reason = "locked";
		if (login_lookup(ctx, key, key_ok, is_email, &u) == PC_OK) {
			memcpy(la->user_id, u.id, sizeof(la->user_id));
			crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
		}
	}
	if (err != PC_OK)
		return err;
	err = login_lookup(ctx, key, key_ok, is_email, &u);
	if (err == PC_ESTORE || err == PC_EUNAVAILABLE)
		return err;
	if (err == PC_OK)
		memcpy(la->user_id, u.id, sizeof(la->user_id));
	if (err != PC_OK || u.hashed_password[0] == '\0') {
		la->reason = err != PC_OK ? "unknown_user" : "no_password";
		if (err == PC_OK)
			crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
		password_dummy_verify(&ctx->argon2, password, password_len);
		err = ratelimit_lock_record(ctx, lock, true, hits, &la->locked_for);
		return err == PC_OK ? PC_EBADCREDS : err;
	}
	err = password_verify(&ctx->argon2, u.hashed_password, password, password_len,
				 &needs_rehash);
	/* the lock counts wrong passwords only: a right one clears the count,
	 * whatever comes after (inactive, unverified) */
	if (ratelimit_lock_record(ctx, lock, err != PC_OK, hits, &la->locked_for) != PC_OK) {
		err = PC_ESTORE;
		goto out_wipe;
	}
	if (err != PC_OK) {
		/* a stored hash of a format this server cannot verify (an import)
		 * is said in the audit log only, never in the answer */
		la->reason = pc_password_format_known(u.hashed_password) ? "bad_password"
									  : "unknown_hash_format";
		err = PC_EBADCREDS;
		goto out_wipe;
	}
	if (!u.is_active) {
		la->reason = "inactive";
		err = PC_EBADCREDS;
		goto out_wipe;
	}
	if (ctx->cfg.requires_verification && !u.is_verified) {
		la->reason = "unverified";
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
	return STORE_CALL(ctx->store, jti_revoke, claims.jti, claims.sub, claims.exp);
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
