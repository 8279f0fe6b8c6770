/*
 * webhook.c - events, as fastapi-users' on_after_* handlers: the payload
 * written to the outbox, its signature, and its delivery over httpc.
 *
 * Owns nothing between calls.
 *
 * Writing (webhook_event; onetime.c calls it in the transaction that stores
 * the change it announces): a row of kind "webhook" for webhook_url holding
 * {"id": UUIDv7, "event", "user": {"id", "email"}, "ts": unix seconds}.
 *
 * Delivering (webhook_deliver, called by the outbox sender): POST of the
 * payload as application/json with X-Portcullis-Signature: sha256=<hex
 * HMAC-SHA256(webhook_secret, body)>; any 2xx is delivered, anything else is
 * retried by the outbox.
 *
 * Invariants: the payload carries no token; the secret is never logged.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"

enum pc_err webhook_event(struct pc_ctx *ctx, const char *event, const struct pc_user *u,
			  struct pc_outbox_row *out, bool *made)
{
	char id[PC_UUID_STR];
	int64_t now = time_now();
	json_t *j;
	char *text;
	size_t n;
	enum pc_err err;

	*made = false;
	if (ctx->cfg.webhook_url[0] == '\0')
		return PC_OK;
	err = crypto_uuid7(id);
	if (err != PC_OK)
		return err;
	/* "email": null for a user without one */
	j = json_pack("{s:s, s:s, s:{s:s, s:s?}, s:I}", "id", id, "event", event, "user", "id",
		      u->id, "email", u->email[0] != '\0' ? u->email : NULL, "ts", (json_int_t)now);
	if (j == NULL)
		return PC_ENOMEM;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return PC_ENOMEM;
	memset(out, 0, sizeof(*out));
	memcpy(out->kind, "webhook", sizeof("webhook"));
	n = strlen(ctx->cfg.webhook_url);
	err = n < sizeof(out->recipient) ? PC_OK : PC_ETOOBIG;
	if (err == PC_OK)
		memcpy(out->recipient, ctx->cfg.webhook_url, n + 1);
	n = strlen(text);
	if (err == PC_OK && n >= sizeof(out->payload))
		err = PC_ETOOBIG;
	if (err == PC_OK)
		memcpy(out->payload, text, n + 1);
	free(text);
	out->next_attempt_at = now;
	out->created_at = now;
	*made = err == PC_OK;
	return err;
}

void webhook_signature(const char *secret, const char *body, size_t n, char out[72])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memcpy(out, "sha256=", 7);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, n, md,
		 &mdlen) == NULL || mdlen != PC_SHA256_LEN) {
		out[7] = '\0';
		return;
	}
	crypto_hex_encode(md, mdlen, out + 7);
}

enum pc_err webhook_deliver(struct outbox_attempt *a)
{
	const struct pc_outbox_row *row = a->row;
	char sig[72], sig_header[96];
	const char *headers[] = { "Content-Type: application/json", sig_header, NULL };
	struct httpc_request req = {
		.method = "POST",
		.url = row->recipient,
		.headers = headers,
		.body = row->payload,
		.body_len = strlen(row->payload),
		.timeout_s = a->cfg->smtp_timeout_seconds,
		.response_max = 0, /* the status is the answer */
		.cancel = a->cancel,
	};
	struct httpc_response resp;
	enum pc_err e;

	webhook_signature(a->cfg->webhook_secret, row->payload, req.body_len, sig);
	snprintf(sig_header, sizeof(sig_header), "X-Portcullis-Signature: %s", sig);
	e = httpc_do(&req, &resp);
	if (e != PC_OK) {
		snprintf(a->error, sizeof(a->error), "webhook: %.200s", resp.error);
	} else if (resp.status < 200 || resp.status > 299) {
		snprintf(a->error, sizeof(a->error), "webhook: HTTP status %ld", resp.status);
		e = PC_EINTERNAL;
	}
	httpc_response_release(&resp);
	return e;
}
