/*
 * audit.c - the audit log of security events (issue 13, item 5).
 *
 * Owns nothing between calls but the calling thread's scope: the peer, the
 * X-Forwarded-For and the authenticated user of the request that thread serves
 * (pc_audit_scope, set by the HTTP layer around each handler), so that a row
 * names who acted and from where without every core call carrying them.
 *
 * Writing (pc_audit): one row of audit_log (migration 013): a UUIDv7 id, the
 * time, the event's name, the user it concerns, the actor when that is
 * someone else (a superuser acting on another user: the events of admin
 * actions are named "admin.*" by their callers), the client key, and a
 * detail object built by the caller from fixed fields: never a password,
 * token, secret or hash. A caller inside a store transaction writes the row
 * in it (store_begin joins); otherwise it is one cheap insert. When
 * webhook_audit_events names the event ("*": all), the same transaction
 * adds a webhook outbox row: {"id", "event": "audit.<name>", "user":
 * {"id"}|null, "ts", "audit": {the row, detail as an object}}.
 *
 * Reading (pc_audit_list): rows after a cursor (an id; ids sort by time,
 * pc_audit_cursor_at makes one from a second), oldest first.
 *
 * Purging (audit_purge, the housekeeping thread): rows older than
 * audit_retention_days (0: kept forever).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"

static _Thread_local struct {
	const char *peer; /* borrowed from the request; NULL: none */
	const char *xff;
	char actor[PC_ID_LEN + 1];
} audit_scope_tls;

void pc_audit_scope(const char *peer, const char *xff, const char *actor_id)
{
	audit_scope_tls.peer = peer;
	audit_scope_tls.xff = xff;
	size_t n = actor_id != NULL ? strnlen(actor_id, sizeof(audit_scope_tls.actor) - 1) : 0;

	/* twice a request: a bounded copy, not snprintf */
	memcpy(audit_scope_tls.actor, actor_id != NULL ? actor_id : "", n);
	audit_scope_tls.actor[n] = '\0';
}

/* Whether list (comma-separated names, or "*") names event. */
static bool audit_listed(const char *list, const char *event)
{
	size_t n = strlen(event);
	const char *p = list;

	if (strcmp(list, "*") == 0)
		return true;
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == n && memcmp(p, event, n) == 0)
			return true;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

/* The webhook outbox row of r (ctx->cfg.webhook_url set). */
static enum pc_err audit_hook(struct pc_ctx *ctx, const struct pc_audit_row *r,
			      struct pc_outbox_row *out)
{
	char id[PC_UUID_STR], name[64];
	json_t *detail, *j;
	char *text;
	size_t n;
	enum pc_err err = crypto_uuid7(id);

	if (err != PC_OK)
		return err;
	snprintf(name, sizeof(name), "audit.%s", r->event);
	detail = json_loads(r->detail, 0, NULL);
	if (detail == NULL)
		detail = json_object();
	j = json_pack("{s:s, s:s, s:o, s:I, s:{s:s, s:I, s:s, s:s?, s:s?, s:s?, s:o}}", "id", id,
		      "event", name, "user",
		      r->user_id[0] != '\0' ? json_pack("{s:s}", "id", r->user_id) : json_null(),
		      "ts", (json_int_t)r->at, "audit", "id", r->id, "at", (json_int_t)r->at,
		      "event", r->event, "user_id", r->user_id[0] != '\0' ? r->user_id : NULL,
		      "actor_id", r->actor_id[0] != '\0' ? r->actor_id : NULL, "ip",
		      r->ip[0] != '\0' ? r->ip : NULL, "detail", detail);
	if (j == NULL)
		return PC_ENOMEM;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return PC_ENOMEM;
	memset(out, 0, sizeof(*out));
	memcpy(out->kind, "webhook", sizeof("webhook"));
	n = strlen(text);
	if (strlen(ctx->cfg.webhook_url) >= sizeof(out->recipient) || n >= sizeof(out->payload))
		err = PC_ETOOBIG;
	if (err == PC_OK) {
		memcpy(out->recipient, ctx->cfg.webhook_url, strlen(ctx->cfg.webhook_url) + 1);
		memcpy(out->payload, text, n + 1);
	}
	free(text);
	out->next_attempt_at = r->at;
	out->created_at = r->at;
	return err;
}

enum pc_err pc_audit(struct pc_ctx *ctx, const char *event, const char *user_id,
		     const char *detail)
{
	struct pc_audit_row r;
	struct pc_outbox_row *hook = NULL;
	enum pc_err err;

	if (ctx == NULL || event == NULL || strlen(event) >= sizeof(r.event))
		return PC_EINVAL;
	if (detail == NULL)
		detail = "{}";
	if (strlen(detail) >= sizeof(r.detail))
		return PC_ETOOBIG;
	memset(&r, 0, sizeof(r));
	err = crypto_uuid7(r.id);
	if (err != PC_OK)
		return err;
	r.at = time_now();
	memcpy(r.event, event, strlen(event) + 1);
	if (user_id != NULL && crypto_uuid_valid(user_id))
		memcpy(r.user_id, user_id, PC_ID_LEN + 1);
	/* the actor only when someone else acted */
	if (audit_scope_tls.actor[0] != '\0' && strcmp(audit_scope_tls.actor, r.user_id) != 0)
		memcpy(r.actor_id, audit_scope_tls.actor, sizeof(r.actor_id));
	if (audit_scope_tls.peer != NULL)
		pc_client_key(ctx, audit_scope_tls.peer, audit_scope_tls.xff, r.ip);
	memcpy(r.detail, detail, strlen(detail) + 1);
	if (ctx->cfg.webhook_url[0] != '\0' && ctx->cfg.webhook_audit_events[0] != '\0' &&
	    audit_listed(ctx->cfg.webhook_audit_events, event)) {
		hook = malloc(sizeof(*hook));
		if (hook == NULL)
			return PC_ENOMEM;
		err = audit_hook(ctx, &r, hook);
		if (err != PC_OK) {
			free(hook);
			return err;
		}
	}
	/* The webhook row is sent by the outbox's sender at its next round (at
	 * most a second away): no kick from here, so that the sender, which
	 * audits the mail it gives up, stays the only one of the two that calls
	 * the other. */
	err = STORE_CALL(ctx->store, audit_insert, &r, hook);
	free(hook);
	return err;
}

enum pc_err pc_audit_list(struct pc_ctx *ctx, const char *user_id, const char *after, int limit,
			  pc_audit_cb *cb, void *arg)
{
	if (limit < 1 || limit > PC_AUDIT_LIST_MAX)
		return PC_EINVAL;
	return STORE_CALL(ctx->store, audit_list, user_id, after, limit, cb, arg);
}

void pc_audit_cursor_at(int64_t t, char out[PC_ID_LEN + 1])
{
	uint64_t ms = t > 0 ? (uint64_t)t * 1000u : 0;

	snprintf(out, PC_ID_LEN + 1, "%08llx-%04llx-0000-0000-000000000000",
		 (unsigned long long)((ms >> 16) & 0xffffffffu), (unsigned long long)(ms & 0xffffu));
}

enum pc_err audit_purge(struct pc_ctx *ctx, int64_t now)
{
	if (ctx->cfg.audit_retention_days <= 0)
		return PC_OK;
	return STORE_CALL(ctx->store, audit_purge, now - (int64_t)ctx->cfg.audit_retention_days * 86400);
}

bool audit_in_request(void)
{
	return audit_scope_tls.actor[0] != '\0' || audit_scope_tls.peer != NULL;
}

bool audit_by_other(const char *user_id)
{
	return audit_scope_tls.actor[0] != '\0' &&
	       (user_id == NULL || strcmp(audit_scope_tls.actor, user_id) != 0);
}
