/*
 * users.c - the rules of users: who may be created, what an update may
 * change, and who is told what.
 *
 * Rules, in the order they are checked (fastapi-users' order where it has one):
 *   create:  an email or a username (either may be absent, not both:
 *            PC_EINVAL on "username") -> email valid -> username valid -> full_name valid -> password
 *            policy -> email/username free -> hash -> insert (a race that
 *            loses the unique index still answers PC_EEXISTS).
 *   register is create with the flags forced: active, not superuser, not
 *            verified. A client cannot raise its own privileges.
 *   passwordless register (MyAuth's magic link to an unknown address, with
 *            open registration): register without the password steps; the
 *            user has no hash ("" here, NULL stored), so a password login
 *            never succeeds for it (pc_login) until a reset sets one.
 *   update:  a new email (compared case-insensitively) clears is_verified;
 *            a new password is policy-checked, hashed, and stamps
 *            password_changed_at; the flags move only with
 *            PC_UPDATE_PRIVILEGED, and an explicit is_verified from a
 *            superuser wins over the email rule.
 *   roles:   set only where the flags are honoured (administrative create,
 *            privileged update), always as a whole set: names of 1..32 of
 *            [a-z0-9_.-], at most 16, stored sorted and once each, one space
 *            apart (roles_normalize).
 * Hashing happens here: callers on a request path run these on a worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "store/store.h"

void pc_user_input_init(struct pc_user_input *in)
{
	memset(in, 0, sizeof(*in));
	in->is_active = PC_UNSET;
	in->is_superuser = PC_UNSET;
	in->is_verified = PC_UNSET;
}

/* Printable text without controls; UTF-8 validity is the caller's (JSON). */
static enum pc_err full_name_check(const char *s, struct pc_errinfo *ei)
{
	size_t n = strnlen(s, PC_NAME_MAX + 1);

	if (n > PC_NAME_MAX)
		goto out_bad;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			goto out_bad;
	}
	return PC_OK;
out_bad:
	pc_errinfo_set(ei, "body", "full_name", PC_V_NAME_INVALID, PC_NAME_MAX);
	return PC_EINVAL;
}

#define ROLE_NAME_MAX 32
#define ROLES_COUNT_MAX 16

static bool role_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static int role_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* "ops  admin ops" -> "admin ops" in out. PC_EINVAL (ei: field "roles",
 * PC_V_ROLES_INVALID) for a name of other characters or length, or more
 * than ROLES_COUNT_MAX names. */
static enum pc_err roles_normalize(const char *in, char out[PC_ROLES_MAX + 1],
				   struct pc_errinfo *ei)
{
	char names[ROLES_COUNT_MAX][ROLE_NAME_MAX + 1];
	size_t n = 0, len = 0, i;
	const char *p = in;

	while (*p != '\0') {
		size_t k = 0;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (n == ROLES_COUNT_MAX)
			goto out_bad;
		while (*p != '\0' && *p != ' ') {
			if (k == ROLE_NAME_MAX || !role_char_ok(*p))
				goto out_bad;
			names[n][k++] = *p++;
		}
		names[n++][k] = '\0';
	}
	qsort(names, n, sizeof(names[0]), role_cmp);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t k = strlen(names[i]);

		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue;
		/* 16 names of 32 with their spaces (527) may not fit PC_ROLES_MAX */
		if (len + (len > 0) + k > PC_ROLES_MAX)
			goto out_bad;
		if (len > 0)
			out[len++] = ' ';
		memcpy(out + len, names[i], k + 1);
		len += k;
	}
	return PC_OK;
out_bad:
	pc_errinfo_set(ei, "body", "roles", PC_V_ROLES_INVALID, ROLES_COUNT_MAX);
	return PC_EINVAL;
}

bool pc_user_has_role(const struct pc_user *u, const char *role)
{
	size_t n = strlen(role);
	const char *p = u->roles;

	if (strchr(role, ' ') != NULL) /* no name holds one */
		return false;
	while (n > 0 && (p = strstr(p, role)) != NULL) {
		if ((p == u->roles || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
		p += n;
	}
	return false;
}

static enum pc_err hash_into(struct pc_ctx *ctx, const char *pw, size_t len, struct pc_user *u)
{
	return password_hash(&ctx->argon2, pw, len, u->hashed_password,
				sizeof(u->hashed_password));
}

/* PC_EEXISTS (ei.field) when the email or username already belongs to a user. */
static enum pc_err taken_check(struct pc_ctx *ctx, const char *email_lc, const char *username_lc,
			       const char *self_id, struct pc_errinfo *ei)
{
	struct pc_user other;
	enum pc_err err;

	if (email_lc != NULL) {
		err = STORE_CALL(ctx->store, user_by_email, email_lc, &other);
		if (err == PC_OK && (self_id == NULL || strcmp(other.id, self_id) != 0)) {
			pc_errinfo_set(ei, "body", "email", PC_V_TAKEN, 0);
			return PC_EEXISTS;
		}
		if (err != PC_OK && err != PC_ENOTFOUND)
			return err;
	}
	if (username_lc != NULL) {
		err = STORE_CALL(ctx->store, user_by_username, username_lc, &other);
		if (err == PC_OK && (self_id == NULL || strcmp(other.id, self_id) != 0)) {
			pc_errinfo_set(ei, "body", "username", PC_V_TAKEN, 0);
			return PC_EEXISTS;
		}
		if (err != PC_OK && err != PC_ENOTFOUND)
			return err;
	}
	return PC_OK;
}

enum user_create_how {
	USER_HONOUR_FLAGS = 1 << 0, /* administrative: is_active, is_superuser, is_verified */
	USER_PASSWORDLESS = 1 << 1, /* no password asked for, none stored */
	USER_VERIFIED = 1 << 2,     /* is_verified from the start (an OAuth provider said so) */
};

static enum pc_err user_create(struct pc_ctx *ctx, const struct pc_user_input *in, unsigned how,
			       struct pc_user *out, struct pc_errinfo *ei)
{
	char email_lc[PC_EMAIL_MAX + 1], username_lc[PC_USERNAME_MAX + 1];
	struct pc_user u;
	bool honour_flags = (how & USER_HONOUR_FLAGS) != 0;
	bool passwordless = (how & USER_PASSWORDLESS) != 0;
	bool has_username;
	enum pc_err err;
	int64_t now = time_now();

	memset(&u, 0, sizeof(u));
	has_username = in->username != NULL && in->username[0] != '\0';
	/* An email or a username: a user may have either, needs one. */
	if (in->email == NULL && !has_username) {
		pc_errinfo_set(ei, "body", "username", PC_V_MISSING, 0);
		return PC_EINVAL;
	}
	if (in->email != NULL) {
		err = email_normalize(in->email, u.email, email_lc, ei);
		if (err != PC_OK)
			return err;
	}
	if (has_username) {
		err = email_username_normalize(in->username, username_lc, ei);
		if (err != PC_OK)
			return err;
		memcpy(u.username, in->username, strlen(in->username) + 1);
	}
	if (in->full_name != NULL) {
		err = full_name_check(in->full_name, ei);
		if (err != PC_OK)
			return err;
		memcpy(u.full_name, in->full_name, strlen(in->full_name) + 1);
	}
	if (honour_flags && in->roles != NULL) {
		err = roles_normalize(in->roles, u.roles, ei);
		if (err != PC_OK)
			return err;
	}
	if (in->password == NULL && !passwordless) {
		pc_errinfo_set(ei, "body", "password", PC_V_MISSING, 0);
		return PC_EINVAL;
	}
	if (!passwordless) {
		err = password_check_policy(&ctx->cfg, in->password, in->password_len, u.email,
					    u.username, ei);
		if (err != PC_OK)
			return err;
	}
	err = taken_check(ctx, u.email[0] ? email_lc : NULL, u.username[0] ? username_lc : NULL,
			  NULL, ei);
	if (err != PC_OK)
		return err;
	if (!passwordless) {
		err = hash_into(ctx, in->password, in->password_len, &u);
		if (err != PC_OK)
			return err;
	}
	err = crypto_uuid7(u.id);
	if (err != PC_OK)
		return err;
	u.is_active = !honour_flags || in->is_active != 0;
	u.is_superuser = honour_flags && in->is_superuser == 1;
	u.is_verified = (honour_flags && in->is_verified == 1) || (how & USER_VERIFIED) != 0;
	u.password_changed_at = now;
	u.created_at = now;
	u.updated_at = now;
	err = STORE_CALL(ctx->store, user_insert, &u, ei);
	if (err == PC_OK)
		*out = u;
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	return err;
}

enum pc_err users_register(struct pc_ctx *ctx, const struct pc_user_input *in,
			   struct pc_user *out, struct pc_errinfo *ei)
{
	return user_create(ctx, in, 0, out, ei);
}

/* The privileged create (a superuser's, the CLI's, the bootstrap admin's):
 * an admin action, audited with the flags given. */
enum pc_err pc_user_create(struct pc_ctx *ctx, const struct pc_user_input *in,
			   struct pc_user *out, struct pc_errinfo *ei)
{
	enum pc_err err = user_create(ctx, in, USER_HONOUR_FLAGS, out, ei);

	if (err == PC_OK)
		(void)pc_audit(ctx, "admin.user_create", out->id,
			       out->is_superuser ? "{\"is_superuser\":true}" : "{\"is_superuser\":false}");
	return err;
}

enum pc_err users_register_passwordless(struct pc_ctx *ctx, const char *email,
					struct pc_user *out, struct pc_errinfo *ei)
{
	struct pc_user_input in;

	pc_user_input_init(&in);
	in.email = email;
	return user_create(ctx, &in, USER_PASSWORDLESS, out, ei);
}

enum pc_err users_register_oauth(struct pc_ctx *ctx, const char *email, bool verified,
				 struct pc_user *out, struct pc_errinfo *ei)
{
	struct pc_user_input in;

	pc_user_input_init(&in);
	in.email = email;
	return user_create(ctx, &in, USER_PASSWORDLESS | (verified ? USER_VERIFIED : 0), out, ei);
}

/* Applies the identity fields of patch to u. Sets *email_changed. */
static enum pc_err patch_identity(struct pc_ctx *ctx, struct pc_user *u,
				  const struct pc_user_input *patch, bool *email_changed,
				  struct pc_errinfo *ei)
{
	char email[PC_EMAIL_MAX + 1], email_lc[PC_EMAIL_MAX + 1], old_lc[PC_EMAIL_MAX + 1];
	char username_lc[PC_USERNAME_MAX + 1];
	const char *check_email = NULL, *check_username = NULL;
	enum pc_err err;

	*email_changed = false;
	if (patch->email != NULL) {
		err = email_normalize(patch->email, email, email_lc, ei);
		if (err != PC_OK)
			return err;
		memcpy(old_lc, u->email, sizeof(old_lc));
		ascii_lower_str(old_lc);
		if (strcmp(old_lc, email_lc) != 0) {
			*email_changed = true;
			check_email = email_lc;
		}
		memcpy(u->email, email, sizeof(u->email));
	}
	if (patch->username != NULL) {
		if (patch->username[0] != '\0') {
			err = email_username_normalize(patch->username, username_lc, ei);
			if (err != PC_OK)
				return err;
			check_username = username_lc;
		}
		memcpy(u->username, patch->username, strlen(patch->username) + 1);
	}
	/* clearing the username of a user without an email would leave neither */
	if (u->email[0] == '\0' && u->username[0] == '\0') {
		pc_errinfo_set(ei, "body", "username", PC_V_MISSING, 0);
		return PC_EINVAL;
	}
	if (patch->full_name != NULL) {
		err = full_name_check(patch->full_name, ei);
		if (err != PC_OK)
			return err;
		memcpy(u->full_name, patch->full_name, strlen(patch->full_name) + 1);
	}
	return taken_check(ctx, check_email, check_username, u->id, ei);
}

/* The audit rows of an update: password.change when the password moved, and
 * admin.user_update (the fields given, never their values) when a superuser
 * changed someone else, or the CLI (privileged, outside any request) anyone;
 * a superuser's PATCH of its own account is its own change. */
static void users_audit_update(struct pc_ctx *ctx, const char *id,
			       const struct pc_user_input *patch, unsigned flags)
{
	char detail[256];
	bool admin = audit_by_other(id) || ((flags & PC_UPDATE_PRIVILEGED) && !audit_in_request());
	int n;

	if (patch->password != NULL)
		(void)pc_audit(ctx, "password.change", id,
			       admin ? "{\"by\":\"admin\"}" : "{\"by\":\"self\"}");
	if (!admin)
		return;
	n = snprintf(detail, sizeof(detail), "{\"fields\":[%s%s%s%s%s%s%s%s",
		     patch->email != NULL ? "\"email\"," : "",
		     patch->password != NULL ? "\"password\"," : "",
		     patch->username != NULL ? "\"username\"," : "",
		     patch->full_name != NULL ? "\"full_name\"," : "",
		     patch->is_active != PC_UNSET ? "\"is_active\"," : "",
		     patch->is_superuser != PC_UNSET ? "\"is_superuser\"," : "",
		     patch->is_verified != PC_UNSET ? "\"is_verified\"," : "",
		     patch->roles != NULL ? "\"roles\"," : "");
	if (n < 0 || (size_t)n + 3 > sizeof(detail))
		return;
	if (detail[n - 1] == ',')
		n--;
	memcpy(detail + n, "]}", 3);
	(void)pc_audit(ctx, "admin.user_update", id, detail);
}

/* Whether b holds what a stored of every field an update may change (their
 * text, not the bytes after it). */
static bool user_same(const struct pc_user *a, const struct pc_user *b)
{
	return strcmp(a->email, b->email) == 0 && strcmp(a->username, b->username) == 0 &&
	       strcmp(a->full_name, b->full_name) == 0 && strcmp(a->roles, b->roles) == 0 &&
	       strcmp(a->hashed_password, b->hashed_password) == 0 &&
	       a->password_changed_at == b->password_changed_at && a->is_active == b->is_active &&
	       a->is_superuser == b->is_superuser && a->is_verified == b->is_verified;
}

enum pc_err pc_user_update(struct pc_ctx *ctx, struct pc_user *u, const struct pc_user_input *patch,
			   unsigned flags, struct pc_errinfo *ei)
{
	struct pc_user cur, was;
	bool email_changed;
	enum pc_err err;
	int64_t now = time_now();

	err = STORE_CALL(ctx->store, user_by_id, u->id, &cur);
	if (err != PC_OK)
		return err;
	was = cur;
	err = patch_identity(ctx, &cur, patch, &email_changed, ei);
	if (err == PC_OK && (flags & PC_UPDATE_PRIVILEGED) && patch->roles != NULL)
		err = roles_normalize(patch->roles, cur.roles, ei);
	if (err != PC_OK)
		goto out_wipe;
	if (patch->password != NULL) {
		err = password_check_policy(&ctx->cfg, patch->password, patch->password_len,
					       cur.email, cur.username, ei);
		if (err != PC_OK)
			goto out_wipe;
		err = hash_into(ctx, patch->password, patch->password_len, &cur);
		if (err != PC_OK)
			goto out_wipe;
		/* Strictly later than the last change (the store's rule). */
		cur.password_changed_at = store_password_changed_at(cur.password_changed_at, now);
	}
	if (email_changed)
		cur.is_verified = false;
	if (flags & PC_UPDATE_PRIVILEGED) {
		if (patch->is_active != PC_UNSET)
			cur.is_active = patch->is_active != 0;
		if (patch->is_superuser != PC_UNSET)
			cur.is_superuser = patch->is_superuser != 0;
		if (patch->is_verified != PC_UNSET)
			cur.is_verified = patch->is_verified != 0;
	}
	/* a patch that changes nothing (every field given as it was, or null
	 * for "absent") writes nothing: not even updated_at */
	if (!user_same(&was, &cur)) {
		cur.updated_at = now;
		err = STORE_CALL(ctx->store, user_update, &cur, ei);
	}
	if (err == PC_OK) {
		*u = cur;
		users_audit_update(ctx, cur.id, patch, flags);
	}
out_wipe:
	crypto_wipe(cur.hashed_password, sizeof(cur.hashed_password));
	crypto_wipe(was.hashed_password, sizeof(was.hashed_password));
	return err;
}

/* MyAuth's `original`: PC_OK when pw is the stored password of user id, or
 * when the user has none (passwordless: nothing to prove); PC_EBADCREDS when
 * pw is NULL or wrong. Hashes: call from a worker thread. */
enum pc_err pc_user_check_password(struct pc_ctx *ctx, const char *id, const char *pw,
				   size_t len)
{
	struct pc_user cur;
	bool rehash;
	enum pc_err err = STORE_CALL(ctx->store, user_by_id, id, &cur);

	if (err != PC_OK)
		return err;
	if (cur.hashed_password[0] == '\0')
		err = PC_OK;
	else if (pw == NULL)
		err = PC_EBADCREDS;
	else if (password_verify(&ctx->argon2, cur.hashed_password, pw, len, &rehash) != PC_OK)
		err = PC_EBADCREDS;
	crypto_wipe(cur.hashed_password, sizeof(cur.hashed_password));
	return err;
}

/* Ids are stored lower-case; any other text is simply no user. */
static bool id_canonical(const char *id, char out[PC_UUID_STR])
{
	if (id == NULL || !crypto_uuid_valid(id))
		return false;
	memcpy(out, id, PC_UUID_STR);
	ascii_lower_str(out);
	return true;
}

enum pc_err pc_user_get(struct pc_ctx *ctx, const char *id, struct pc_user *out)
{
	char key[PC_UUID_STR];

	if (!id_canonical(id, key))
		return PC_ENOTFOUND;
	return STORE_CALL(ctx->store, user_by_id, key, out);
}

enum pc_err pc_user_get_by_email(struct pc_ctx *ctx, const char *email, struct pc_user *out)
{
	char email_lc[PC_EMAIL_MAX + 1];

	if (email_normalize(email, NULL, email_lc, NULL) != PC_OK)
		return PC_ENOTFOUND;
	return STORE_CALL(ctx->store, user_by_email, email_lc, out);
}

enum pc_err pc_user_delete(struct pc_ctx *ctx, const char *id)
{
	char key[PC_UUID_STR];
	enum pc_err err;

	if (!id_canonical(id, key))
		return PC_ENOTFOUND;
	err = STORE_CALL(ctx->store, user_delete, key);
	if (err == PC_OK)
		(void)pc_audit(ctx, audit_by_other(key) ? "admin.user_delete" : "user.delete", key,
			       NULL);
	return err;
}

enum pc_err pc_user_list(struct pc_ctx *ctx, int64_t offset, int limit, pc_user_cb *cb, void *arg)
{
	if (offset < 0 || limit < 0)
		return PC_EINVAL;
	return STORE_CALL(ctx->store, user_list, offset, limit, cb, arg);
}

enum pc_err pc_user_count(struct pc_ctx *ctx, int64_t *out)
{
	return STORE_CALL(ctx->store, user_count, out);
}

/* ---- import ------------------------------------------------------------------------- */

/* One user of another system, its password hash kept as it is (verified
 * by password_verify's imported formats, rehashed at its first login).
 * The same checks as pc_user_create on the identity fields; the id is kept
 * when it is a UUID (fastapi-users), else (Django's integers) a new one is
 * made. PC_EEXISTS, ei's field "id", "email" or "username" saying which is
 * taken (so a second run of the same file adds nothing); PC_EINVAL (ei:
 * field) for a field that would be refused at registration or a hash longer
 * than PC_HASH_MAX; PC_ESTORE. hashed may be NULL or "": a user without a
 * password (a reset or a magic link gives it one). */
enum pc_err pc_user_import(struct pc_ctx *ctx, const struct pc_user_input *in, const char *id,
			   const char *hashed, int64_t created_at, struct pc_user *out,
			   struct pc_errinfo *ei)
{
	char email_lc[PC_EMAIL_MAX + 1], username_lc[PC_USERNAME_MAX + 1], key[PC_UUID_STR];
	struct pc_user u, other;
	bool has_username = in->username != NULL && in->username[0] != '\0';
	bool has_email = in->email != NULL && in->email[0] != '\0';
	enum pc_err err;
	int64_t now = time_now();

	memset(&u, 0, sizeof(u));
	if (!has_email && !has_username) {
		pc_errinfo_set(ei, "body", "email", PC_V_MISSING, 0);
		return PC_EINVAL;
	}
	if (has_email) {
		err = email_normalize(in->email, u.email, email_lc, ei);
		if (err != PC_OK)
			return err;
	}
	if (has_username) {
		err = email_username_normalize(in->username, username_lc, ei);
		if (err != PC_OK)
			return err;
		memcpy(u.username, in->username, strlen(in->username) + 1);
	}
	if (in->full_name != NULL && in->full_name[0] != '\0') {
		err = full_name_check(in->full_name, ei);
		if (err != PC_OK)
			return err;
		memcpy(u.full_name, in->full_name, strlen(in->full_name) + 1);
	}
	if (in->roles != NULL) {
		err = roles_normalize(in->roles, u.roles, ei);
		if (err != PC_OK)
			return err;
	}
	if (hashed != NULL && strlen(hashed) > PC_HASH_MAX) {
		pc_errinfo_set(ei, "body", "hashed_password", PC_V_TOO_LONG, PC_HASH_MAX);
		return PC_EINVAL;
	}
	if (id != NULL && id_canonical(id, key)) {
		err = STORE_CALL(ctx->store, user_by_id, key, &other);
		crypto_wipe(other.hashed_password, sizeof(other.hashed_password));
		if (err == PC_OK) {
			pc_errinfo_set(ei, "body", "id", PC_V_TAKEN, 0);
			return PC_EEXISTS;
		}
		if (err != PC_ENOTFOUND)
			return err;
		memcpy(u.id, key, PC_UUID_STR);
	} else {
		err = crypto_uuid7(u.id);
		if (err != PC_OK)
			return err;
	}
	err = taken_check(ctx, has_email ? email_lc : NULL, has_username ? username_lc : NULL, NULL,
			  ei);
	if (err != PC_OK)
		return err;
	if (hashed != NULL)
		memcpy(u.hashed_password, hashed, strlen(hashed) + 1);
	u.is_active = in->is_active != 0;
	u.is_superuser = in->is_superuser == 1;
	u.is_verified = in->is_verified == 1;
	u.password_changed_at = now;
	u.created_at = created_at > 0 ? created_at : now;
	u.updated_at = now;
	err = STORE_CALL(ctx->store, user_insert, &u, ei);
	if (err == PC_OK && out != NULL)
		*out = u;
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	return err;
}

enum pc_err pc_user_import_begin(struct pc_ctx *ctx)
{
	return store_begin(ctx->store);
}

enum pc_err pc_user_import_commit(struct pc_ctx *ctx)
{
	return store_commit(ctx->store);
}

enum pc_err pc_user_import_rollback(struct pc_ctx *ctx)
{
	return store_rollback(ctx->store);
}

bool pc_password_format_known(const char *hashed)
{
	return password_format_known(hashed);
}

/* ---- the user_account face's profile fields ------------------------------------------ */

/* printable: no C0 controls or DEL (UTF-8 above 0x7f passes, as the request
 * parser has checked it). */
static bool profile_text_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* contacts: "" or the text of a JSON object or array. */
static bool profile_contacts_ok(const char *s)
{
	json_t *j;
	bool ok;

	if (s[0] == '\0')
		return true;
	j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	ok = json_is_object(j) || json_is_array(j);
	json_decref(j);
	return ok;
}

enum pc_err pc_user_profile_get(struct pc_ctx *ctx, const char *id, struct pc_user_profile *out)
{
	char key[PC_UUID_STR];

	if (!id_canonical(id, key))
		return PC_ENOTFOUND;
	return STORE_CALL(ctx->store, user_profile_get, key, out);
}

enum pc_err pc_user_profile_check(const struct pc_user_profile *p, struct pc_errinfo *ei)
{
	if (memchr(p->phone, '\0', sizeof(p->phone)) == NULL || !profile_text_ok(p->phone)) {
		pc_errinfo_set(ei, "body", "phone", PC_V_INVALID, 0);
		return PC_EINVAL;
	}
	if (memchr(p->contacts, '\0', sizeof(p->contacts)) == NULL ||
	    !profile_contacts_ok(p->contacts)) {
		pc_errinfo_set(ei, "body", "contacts", PC_V_INVALID, 0);
		return PC_EINVAL;
	}
	return PC_OK;
}

enum pc_err pc_user_profile_set(struct pc_ctx *ctx, const char *id,
				const struct pc_user_profile *p, struct pc_errinfo *ei)
{
	char key[PC_UUID_STR];
	enum pc_err err = pc_user_profile_check(p, ei);

	if (err != PC_OK)
		return err;
	if (!id_canonical(id, key))
		return PC_ENOTFOUND;
	return STORE_CALL(ctx->store, user_profile_set, key, p, time_now());
}
