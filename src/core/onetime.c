/*
 * onetime.c - one-time tokens, and the flows built on them: password reset
 * and email verification (fastapi-users), magic-link login and password
 * recovery (MyAuth); and registration, which sets off the verify mail and
 * the on_after_register event (pc_user_register, over users.c's rules).
 *
 * A token is 256 bits from the system's generator as 43 base64url
 * characters. It exists in clear only in the mail that carries it (the
 * outbox row, cleared once sent); the store keeps the hex SHA-256 of its
 * text, with a purpose, the user, the lower-cased address it was sent to, an
 * expiry and used_at. A token is good while it has the purpose asked for, is
 * unused and unexpired, its user exists and still has that address.
 *
 * MyAuth's flows add a second half: the claim, another 256-bit token made
 * with the first and handed back to the client that asked, whose hex SHA-256
 * is claim_hash in the same row. A row with a claim is good only with its
 * claim (its hash compared in constant time), one without only without: a
 * recovery token (purpose reset, with a claim) does nothing at fastapi-users'
 * reset, a fastapi-users reset token nothing at MyAuth's. Purposes and
 * lifetimes: reset (reset_token_lifetime_seconds; with or without a claim),
 * verify (verify_token_lifetime_seconds), magic (always with a claim,
 * magic_token_lifetime_seconds).
 *
 * Life of a token row:
 *
 *     issued --consume (onetime_consume, only while good)--> used
 *     issued --a newer reset token (onetime_issue, void_older)--> used
 *     issued --a password change (store trigger on password_changed_at)--> used
 *     issued --expires_at passes--> expired --housekeeping's purge--> gone
 *
 * Flows, each check in the order it runs:
 *   forgot / request verify: address well-formed (else PC_EINVAL) -> user
 *       found and may receive (active; for verify also unverified) -> a token,
 *       its mail and events written in one transaction (else the decoy
 *       write, see Enumeration), sender woken.
 *   reset: token shape -> row good -> user active -> password policy -> hash
 *       -> consume + new hash + (other reset tokens voided) + sessions ended +
 *       event, in one transaction whose conditions re-check the token and the
 *       user, so a race never uses a token twice.
 *   verify: token shape -> row good -> not verified yet -> consume + verified
 *       + event, in one transaction.
 *   recover (MyAuth): as forgot, with a claim made, hashed into the row and
 *       returned (a decoy claim when no mail goes).
 *   magic request (MyAuth): as forgot, with a claim; an unknown address, when
 *       the face says registration is open, first becomes a passwordless user
 *       (users_register_passwordless) and on_after_register goes with the
 *       token; closed, it is a stand-in like any unknown address.
 *   reset with a claim (MyAuth): as reset, the claim checked right after the
 *       purpose.
 *   magic claim: token shape -> row of purpose magic -> claim -> good ->
 *       user active -> consume + verified (the user proved the address), in
 *       one transaction whose conditions re-check the token and the user;
 *       the face then starts a refresh family (ma_login_issue).
 *   Refusals: a token that is not one of ours of that purpose (shape,
 *   unknown, other purpose) is PC_EUNAUTHORIZED; ours but not good (claim,
 *   used, expired, user gone, inactive or moved) PC_EBADCREDS, which the
 *   one-half flows report as PC_EUNAUTHORIZED (their contract).
 *
 * Enumeration: forgot, request-verify, recover and magic (registration
 * closed) answer PC_OK for every well-formed address, and cost alike. For one
 * that may not receive a mail (unknown, inactive, verified already) the same
 * work is done but the write: a token (and a claim) is made and hashed, the
 * mail and events rendered; then, in place of the token and its messages, a
 * transaction of the same shape writes rows as long into tables shaped as
 * theirs (store_mail_decoy: token_decoys, mail_decoys, rings of 64 slots), so
 * that the commit, its fsync (synchronous=FULL) and its pages are paid alike.
 * Both wake the sender, which starts OUTBOX_KICK_DELAY_MS later, after the
 * answer (outbox.c). Measured over a kept-alive socket on a release build,
 * 100 interleaved requests each: before, median 0.75 ms for an existing
 * address and 0.25 ms for an unknown one (its one-row write did not change
 * the row: no commit to pay); after, 0.61-0.67 ms and 0.61-0.73 ms.
 * Delivery is asynchronous, so SMTP time never shows in the answer. (The
 * register route says outright whether an address is taken, as fastapi-users'
 * does, and so does MyAuth's signup; a magic link with open registration
 * answers alike but registers the address. Rate limits, a later issue, bound
 * them all.)
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"

#define OT_BATCH_MAX 3 /* messages written with one token: a mail and two events */

enum ot_purpose { OT_RESET, OT_VERIFY, OT_MAGIC, OT__MAX };

static const struct ot_purpose_def {
	const char *name;            /* one_time_tokens.purpose */
	enum pc_mail_kind mail;
	size_t lifetime_offset;      /* int seconds in struct pc_config */
	bool void_older;             /* a new token voids the user's unused ones */
	bool unverified_only;        /* only unverified users receive one */
	const char *issued_event;    /* written with the token */
	const char *used_event;      /* written when it is used */
} ot_purposes[OT__MAX] = {
	[OT_RESET] = { "reset", PC_MAIL_RESET,
		       offsetof(struct pc_config, reset_token_lifetime_seconds), true, false,
		       "on_after_forgot_password", "on_after_reset_password" },
	[OT_VERIFY] = { "verify", PC_MAIL_VERIFY,
			offsetof(struct pc_config, verify_token_lifetime_seconds), false, true,
			"on_after_request_verify", "on_after_verify" },
	/* MyAuth's sign-in link: two links may be out at once (two devices);
	 * no events of its own (a registration it makes writes its own). */
	[OT_MAGIC] = { "magic", PC_MAIL_MAGIC,
		       offsetof(struct pc_config, magic_token_lifetime_seconds), false, false,
		       NULL, NULL },
};

/* The messages one transaction writes. About 300 KiB: allocated. */
struct ot_batch {
	struct pc_outbox_row rows[OT_BATCH_MAX];
	const struct pc_outbox_row *msgs[OT_BATCH_MAX];
	size_t n;
};

static struct ot_batch *ot_batch_new(void)
{
	return calloc(1, sizeof(struct ot_batch));
}

/* Wipes (bodies hold the token) and frees. NULL is a no-op. */
static void ot_batch_free(struct ot_batch *b)
{
	if (b == NULL)
		return;
	crypto_wipe(b, sizeof(*b));
	free(b);
}

static enum pc_err ot_batch_mail(struct pc_ctx *ctx, struct ot_batch *b, enum pc_mail_kind kind,
				 const char *email, const char *token)
{
	enum pc_err err;

	/* A user without an email (a username-only one) gets no mail: as an
	 * address that may not receive; the token row is still written. */
	if (email[0] == '\0')
		return PC_OK;
	err = message_render(ctx, kind, email, token, &b->rows[b->n]);

	if (err == PC_OK) {
		b->msgs[b->n] = &b->rows[b->n];
		b->n++;
	}
	return err;
}

/* Adds the event when a webhook is configured; nothing otherwise. */
static enum pc_err ot_batch_event(struct pc_ctx *ctx, struct ot_batch *b, const char *event,
				  const struct pc_user *u)
{
	bool made = false;
	enum pc_err err;

	if (event == NULL)
		return PC_OK;
	err = webhook_event(ctx, event, u, &b->rows[b->n], &made);
	if (err == PC_OK && made) {
		b->msgs[b->n] = &b->rows[b->n];
		b->n++;
	}
	return err;
}

static int ot_lifetime(const struct pc_ctx *ctx, const struct ot_purpose_def *p)
{
	return *(const int *)(const void *)((const char *)&ctx->cfg + p->lifetime_offset);
}

/* A fresh token of purpose p for u, and the row that stores it. */
static enum pc_err ot_token_new(struct pc_ctx *ctx, const struct ot_purpose_def *p,
				const struct pc_user *u, char token[PC_TOKEN_MAX],
				struct pc_onetime_row *row)
{
	int64_t now = time_now();
	enum pc_err err;

	memset(row, 0, sizeof(*row));
	err = crypto_token_new(token);
	if (err != PC_OK)
		return err;
	crypto_token_hash(token, row->token_hash);
	snprintf(row->purpose, sizeof(row->purpose), "%s", p->name);
	memcpy(row->user_id, u->id, sizeof(row->user_id));
	memcpy(row->email, u->email, sizeof(row->email));
	ascii_lower_str(row->email);
	row->created_at = now;
	row->expires_at = now + ot_lifetime(ctx, p);
	return PC_OK;
}

/* What the token row and a message weigh in the store: the length of their
 * text columns and about 8 bytes for each integer. */
static size_t ot_row_size(const struct pc_onetime_row *r)
{
	return strlen(r->token_hash) + strlen(r->purpose) + PC_ID_LEN /* a stand-in has none */ +
	       strlen(r->email) + strlen(r->claim_hash) + 3 * 8;
}

static size_t ot_msg_size(const struct pc_outbox_row *m)
{
	return strlen(m->kind) + strlen(m->recipient) + strlen(m->subject) +
	       strlen(m->body_text) + strlen(m->body_html) + strlen(m->payload) + 7 * 8;
}

/*
 * Makes a token of purpose pi for u with its mail and events (first_event,
 * then the purpose's own). claim (NULL: none) gets a second, independent
 * token whose hash is stored in the same row: the half the client keeps.
 * write: stores them all in one transaction. !write: the same work, then
 * the decoy write of the same shape (see the file comment); the claim made is
 * a decoy. Both wake the sender. PC_ENOTFOUND when u was deleted meanwhile.
 */
static enum pc_err ot_send(struct pc_ctx *ctx, enum ot_purpose pi, const struct pc_user *u,
			   bool write, const char *first_event, char *claim)
{
	const struct ot_purpose_def *p = &ot_purposes[pi];
	struct pc_onetime_row row;
	char token[PC_TOKEN_MAX];
	struct ot_batch *b = ot_batch_new();
	enum pc_err err;

	if (b == NULL)
		return PC_ENOMEM;
	err = ot_token_new(ctx, p, u, token, &row);
	if (err == PC_OK && claim != NULL) {
		err = crypto_token_new(claim);
		if (err == PC_OK)
			crypto_token_hash(claim, row.claim_hash);
	}
	if (err == PC_OK)
		err = ot_batch_mail(ctx, b, p->mail, u->email, token);
	if (err == PC_OK)
		err = ot_batch_event(ctx, b, first_event, u);
	if (err == PC_OK)
		err = ot_batch_event(ctx, b, p->issued_event, u);
	crypto_wipe(token, sizeof(token));
	if (err == PC_OK && write) {
		err = STORE_CALL(ctx->store, onetime_issue, &row, p->void_older, b->msgs, b->n);
	} else if (err == PC_OK) {
		/* the same transaction's shape, rows as long, a ring of its own:
		 * the commit (its fsync) and its pages cost both paths alike */
		size_t lens[1 + OT_BATCH_MAX], n = 0;
		int64_t now = row.created_at;

		lens[n++] = ot_row_size(&row);
		for (size_t i = 0; i < b->n; i++)
			lens[n++] = ot_msg_size(b->msgs[i]);
		err = STORE_CALL(ctx->store, mail_decoy, p->name, p->void_older, lens, n, now);
	}
	ot_batch_free(b);
	/* both wake the sender: the one with nothing due finds nothing */
	if (err == PC_OK)
		outbox_kick(ctx);
	return err;
}

/*
 * forgot-password, request-verify-token, MyAuth's recover and magic: PC_OK
 * for any well-formed address. may_register: an unknown address becomes a
 * passwordless user (MyAuth's magic link with open registration), and its
 * on_after_register event goes with the token; without it an unknown
 * address is only a stand-in, answered alike. claim: see ot_send.
 */
static enum pc_err ot_request(struct pc_ctx *ctx, enum ot_purpose pi, const char *email,
			      bool may_register, char *claim, struct pc_errinfo *ei)
{
	const struct ot_purpose_def *p = &ot_purposes[pi];
	char norm[PC_EMAIL_MAX + 1], email_lc[PC_EMAIL_MAX + 1];
	const char *first_event = NULL;
	struct pc_user u;
	bool may_receive;
	enum pc_err err;

	err = email_normalize(email, norm, email_lc, ei);
	if (err != PC_OK)
		return err;
	err = STORE_CALL(ctx->store, user_by_email, email_lc, &u);
	if (err == PC_ENOTFOUND && may_register) {
		err = users_register_passwordless(ctx, norm, &u, NULL);
		if (err == PC_OK)
			first_event = "on_after_register";
		else if (err == PC_EEXISTS) /* registered meanwhile by another request */
			err = STORE_CALL(ctx->store, user_by_email, email_lc, &u);
	}
	if (err == PC_ENOTFOUND) {
		memset(&u, 0, sizeof(u)); /* a stand-in, so both paths do the same work */
		memcpy(u.email, norm, sizeof(u.email));
		may_receive = false;
	} else if (err != PC_OK) {
		return err;
	} else {
		may_receive = u.is_active && !(p->unverified_only && u.is_verified);
	}
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	err = ot_send(ctx, pi, &u, may_receive, first_event, claim);
	if (err == PC_ENOTFOUND) /* deleted between the lookup and the write */
		err = PC_OK;
	if (err != PC_OK && claim != NULL)
		crypto_wipe(claim, PC_TOKEN_MAX);
	return err;
}

enum pc_err pc_password_forgot(struct pc_ctx *ctx, const char *email, struct pc_errinfo *ei)
{
	return ot_request(ctx, OT_RESET, email, false, NULL, ei);
}

enum pc_err onetime_forgot_username(struct pc_ctx *ctx, const char *username, bool *known)
{
	char key[PC_USERNAME_MAX + 1];
	struct pc_user u;
	enum pc_err err;

	*known = false;
	err = PC_ENOTFOUND;
	if (username != NULL && email_username_normalize(username, key, NULL) == PC_OK)
		err = STORE_CALL(ctx->store, user_by_username, key, &u);
	if (err == PC_OK)
		crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	if (err == PC_OK && u.email[0] != '\0') {
		*known = true;
		return ot_request(ctx, OT_RESET, u.email, false, NULL, NULL);
	}
	if (err != PC_OK && err != PC_ENOTFOUND)
		return err;
	/* a stand-in, as ot_request's for an unknown address: the same work
	 * but the write (its address is never used: nothing is stored) */
	memset(&u, 0, sizeof(u));
	snprintf(u.email, sizeof(u.email), "%s", "unknown@stand-in.invalid");
	return ot_send(ctx, OT_RESET, &u, false, NULL, NULL);
}

enum pc_err pc_verify_request(struct pc_ctx *ctx, const char *email, struct pc_errinfo *ei)
{
	return ot_request(ctx, OT_VERIFY, email, false, NULL, ei);
}

enum pc_err pc_password_recover(struct pc_ctx *ctx, const char *email, char claim[PC_TOKEN_MAX],
				struct pc_errinfo *ei)
{
	return ot_request(ctx, OT_RESET, email, false, claim, ei);
}

enum pc_err pc_magic_request(struct pc_ctx *ctx, const char *email, bool may_register,
			     char claim[PC_TOKEN_MAX], struct pc_errinfo *ei)
{
	return ot_request(ctx, OT_MAGIC, email, may_register, claim, ei);
}

/*
 * Both halves: a token issued with a claim is good only with that claim
 * (its hash compared in constant time), one issued without only without.
 */
static bool ot_claim_ok(const struct pc_onetime_row *row, const char *claim)
{
	char hash[PC_SHA256_HEX];

	if (claim == NULL || row->claim_hash[0] == '\0')
		return claim == NULL && row->claim_hash[0] == '\0';
	if (!crypto_token_shape_ok(claim))
		return false;
	crypto_token_hash(claim, hash);
	return crypto_ct_equal(hash, row->claim_hash, sizeof(hash));
}

/*
 * Finds the good token of purpose pi, presented with claim (NULL: none), and
 * its user. PC_EUNAUTHORIZED when token is not one of ours of that purpose
 * (another shape, unknown, another purpose); PC_EBADCREDS when it is but is
 * not good: the wrong claim (or a claim where none was issued, or none
 * where one was), used, expired, or its user gone or at another address
 * now; PC_ESTORE.
 */
static enum pc_err ot_check(struct pc_ctx *ctx, enum ot_purpose pi, const char *token,
			    const char *claim, struct pc_onetime_row *row, struct pc_user *u)
{
	char hash[PC_SHA256_HEX], email_lc[PC_EMAIL_MAX + 1];
	enum pc_err err;

	if (!crypto_token_shape_ok(token))
		return PC_EUNAUTHORIZED;
	crypto_token_hash(token, hash);
	err = STORE_CALL(ctx->store, onetime_get, hash, row);
	if (err == PC_ENOTFOUND)
		return PC_EUNAUTHORIZED;
	if (err != PC_OK)
		return err;
	if (strcmp(row->purpose, ot_purposes[pi].name) != 0)
		return PC_EUNAUTHORIZED;
	if (!ot_claim_ok(row, claim))
		return PC_EBADCREDS;
	if (row->used_at != 0 || row->expires_at <= time_now())
		return PC_EBADCREDS;
	err = STORE_CALL(ctx->store, user_by_id, row->user_id, u);
	if (err == PC_ENOTFOUND)
		return PC_EBADCREDS;
	if (err != PC_OK)
		return err;
	memcpy(email_lc, u->email, sizeof(email_lc));
	ascii_lower_str(email_lc);
	if (strcmp(email_lc, row->email) != 0)
		return PC_EBADCREDS;
	return PC_OK;
}

/* The public contracts of the one-half flows know one refusal. */
static enum pc_err ot_one_refusal(enum pc_err err)
{
	return err == PC_EBADCREDS ? PC_EUNAUTHORIZED : err;
}

/*
 * The reset of both faces; claim NULL for fastapi-users' one-half token.
 * Errors as ot_check (an inactive user, or a race lost at the consume, is
 * PC_EBADCREDS), and PC_EBADPASSWORD.
 */
static enum pc_err ot_reset(struct pc_ctx *ctx, const char *token, const char *claim,
			    const char *password, size_t password_len, struct pc_user *out,
			    struct pc_errinfo *ei)
{
	struct pc_onetime_apply apply = { 0 };
	struct pc_onetime_row row;
	char phc[PC_HASH_MAX + 1];
	struct ot_batch *b = NULL;
	struct pc_user u;
	int64_t now;
	enum pc_err err;

	memset(&u, 0, sizeof(u));
	if (password == NULL)
		return PC_EINVAL;
	err = ot_check(ctx, OT_RESET, token, claim, &row, &u);
	if (err == PC_OK && !u.is_active)
		err = PC_EBADCREDS;
	if (err == PC_OK)
		err = password_check_policy(&ctx->cfg, password, password_len, u.email, u.username,
					    ei);
	if (err == PC_OK)
		err = password_hash(&ctx->argon2, password, password_len, phc, sizeof(phc));
	if (err != PC_OK)
		goto out_wipe;
	b = ot_batch_new();
	if (b == NULL) {
		err = PC_ENOMEM;
		goto out_wipe;
	}
	err = ot_batch_event(ctx, b, ot_purposes[OT_RESET].used_event, &u);
	if (err != PC_OK)
		goto out_wipe;
	now = time_now();
	apply.password_hash = phc;
	apply.msgs = b->msgs;
	apply.nmsgs = b->n;
	err = STORE_CALL(ctx->store, onetime_consume, row.token_hash, "reset", now, &apply);
	if (err == PC_ENOTFOUND) /* used, voided or the user changed meanwhile */
		err = PC_EBADCREDS;
	if (err != PC_OK)
		goto out_wipe;
	if (b->n > 0)
		outbox_kick(ctx);
	(void)pc_audit(ctx, "password.reset", u.id, NULL);
	if (out != NULL) {
		struct pc_user now_u;

		/* as stored; as the store's rule moved it when that read fails */
		if (STORE_CALL(ctx->store, user_by_id, u.id, &now_u) == PC_OK) {
			u = now_u;
		} else {
			u.password_changed_at = store_password_changed_at(u.password_changed_at, now);
			u.updated_at = now;
		}
		crypto_wipe(now_u.hashed_password, sizeof(now_u.hashed_password));
		*out = u;
	}
out_wipe:
	ot_batch_free(b);
	crypto_wipe(phc, sizeof(phc));
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	return err;
}

enum pc_err pc_password_reset(struct pc_ctx *ctx, const char *token, const char *password,
			      size_t password_len, struct pc_user *out, struct pc_errinfo *ei)
{
	return ot_one_refusal(ot_reset(ctx, token, NULL, password, password_len, out, ei));
}

enum pc_err pc_password_reset_claim(struct pc_ctx *ctx, const char *token, const char *claim,
				    const char *password, size_t password_len,
				    struct pc_user *out, struct pc_errinfo *ei)
{
	if (claim == NULL)
		return PC_EINVAL;
	return ot_reset(ctx, token, claim, password, password_len, out, ei);
}

/* The user as stored after a consume; u as it was when that read fails. */
static void ot_reread(struct pc_ctx *ctx, struct pc_user *u)
{
	struct pc_user now_u;

	if (STORE_CALL(ctx->store, user_by_id, u->id, &now_u) == PC_OK)
		*u = now_u;
	crypto_wipe(now_u.hashed_password, sizeof(now_u.hashed_password));
	crypto_wipe(u->hashed_password, sizeof(u->hashed_password));
}

enum pc_err pc_magic_claim(struct pc_ctx *ctx, const char *token, const char *claim,
			   struct pc_user *out)
{
	struct pc_onetime_apply apply = { 0 };
	struct pc_onetime_row row;
	struct pc_user u;
	int64_t now = time_now();
	enum pc_err err;

	memset(&u, 0, sizeof(u));
	if (claim == NULL)
		return PC_EINVAL;
	err = ot_check(ctx, OT_MAGIC, token, claim, &row, &u);
	if (err == PC_OK && !u.is_active)
		err = PC_EBADCREDS;
	if (err == PC_OK) {
		apply.login = true;
		err = STORE_CALL(ctx->store, onetime_consume, row.token_hash,
				 ot_purposes[OT_MAGIC].name, now, &apply);
		if (err == PC_ENOTFOUND) /* used meanwhile, or the user changed */
			err = PC_EBADCREDS;
	}
	if (err == PC_OK) {
		u.is_verified = true;
		ot_reread(ctx, &u);
		*out = u;
	}
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	return err;
}

enum pc_err pc_verify(struct pc_ctx *ctx, const char *token, struct pc_user *out)
{
	struct pc_onetime_apply apply = { 0 };
	struct pc_onetime_row row;
	struct ot_batch *b;
	struct pc_user u;
	int64_t now = time_now();
	enum pc_err err;

	err = ot_check(ctx, OT_VERIFY, token, NULL, &row, &u);
	if (err != PC_OK)
		return ot_one_refusal(err);
	if (u.is_verified)
		return PC_EALREADY;
	b = ot_batch_new();
	if (b == NULL)
		return PC_ENOMEM;
	u.is_verified = true;
	u.updated_at = now;
	err = ot_batch_event(ctx, b, ot_purposes[OT_VERIFY].used_event, &u);
	apply.set_verified = true;
	apply.msgs = b->msgs;
	apply.nmsgs = b->n;
	if (err == PC_OK)
		err = STORE_CALL(ctx->store, onetime_consume, row.token_hash, "verify", now, &apply);
	if (err == PC_ENOTFOUND) { /* lost a race: which one? */
		struct pc_user now_u;

		err = PC_EUNAUTHORIZED;
		if (STORE_CALL(ctx->store, user_by_id, row.user_id, &now_u) == PC_OK &&
		    now_u.is_verified)
			err = PC_EALREADY;
		crypto_wipe(now_u.hashed_password, sizeof(now_u.hashed_password));
	} else if (err == PC_OK) {
		if (b->n > 0)
			outbox_kick(ctx);
		*out = u;
	}
	ot_batch_free(b);
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	return err;
}

/* What a registration sets off: the on_after_register event, and with
 * requires_verification the verify token and its mail, in one transaction.
 * Failures are logged and returned; the user exists either way. */
static enum pc_err ot_after_register(struct pc_ctx *ctx, const struct pc_user *u)
{
	struct ot_batch *b;
	enum pc_err err;

	if (ctx->cfg.requires_verification && u->is_active && !u->is_verified) {
		err = ot_send(ctx, OT_VERIFY, u, true, "on_after_register", NULL);
	} else {
		b = ot_batch_new();
		if (b == NULL)
			return PC_ENOMEM;
		err = ot_batch_event(ctx, b, "on_after_register", u);
		if (err == PC_OK && b->n > 0)
			err = STORE_CALL(ctx->store, onetime_issue, NULL, false, b->msgs, b->n);
		if (err == PC_OK && b->n > 0)
			outbox_kick(ctx);
		ot_batch_free(b);
	}
	if (err != PC_OK)
		log_error("mail", "after the registration of user %s: cannot write its "
			"mail or event: %s", u->id, pc_strerror(err));
	return err;
}

enum pc_err pc_user_register(struct pc_ctx *ctx, const struct pc_user_input *in,
			     struct pc_user *out, struct pc_errinfo *ei)
{
	enum pc_err err = users_register(ctx, in, out, ei);

	/* The user exists whatever happens next: a failure is logged, and the
	 * user can ask for the verify mail again. */
	if (err == PC_OK)
		(void)ot_after_register(ctx, out);
	return err;
}
