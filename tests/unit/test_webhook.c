/* Webhooks: the event payload, its signature, and its delivery through
 * httpc to a real listener on 127.0.0.1 (http_listener.h). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"
#include "http_listener.h"

#define SECRET "webhook-secret-0123456789"

Test(webhook, the_signature_is_hmac_sha256)
{
	char sig[72];

	/* RFC 4231, test case 2 */
	webhook_signature("Jefe", "what do ya want for nothing?", 28, sig);
	cr_assert_str_eq(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* A context with a config alone: all webhook_event reads. */
static struct pc_ctx *cfg_ctx(const char *url)
{
	struct pc_ctx *c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	pc_config_defaults(&c->cfg);
	if (url != NULL) {
		cr_assert_eq(pc_config_set(&c->cfg, "webhook_url", url, NULL), PC_OK);
		cr_assert_eq(pc_config_set(&c->cfg, "webhook_secret", SECRET, NULL), PC_OK);
	}
	return c;
}

static const struct pc_user arthur = { .id = "0190c5f0-0000-7000-8000-000000000001",
				       .email = "arthur@camelot.bt" };

Test(webhook, an_event_is_the_documented_json_for_webhook_url)
{
	struct pc_outbox_row *r = calloc(1, sizeof(*r));
	struct pc_ctx *c = cfg_ctx(NULL);
	json_t *j, *user;
	bool made = true;

	cr_assert_eq(webhook_event(c, "on_after_register", &arthur, r, &made), PC_OK);
	cr_assert_not(made, "no webhook_url: no event");
	free(c);
	c = cfg_ctx("https://hooks.example/portcullis");
	cr_assert_eq(webhook_event(c, "on_after_register", &arthur, r, &made), PC_OK);
	cr_assert(made);
	cr_assert_str_eq(r->kind, "webhook");
	cr_assert_str_eq(r->recipient, "https://hooks.example/portcullis");
	j = json_loads(r->payload, 0, NULL);
	cr_assert_not_null(j, "%s", r->payload);
	cr_assert_eq(json_object_size(j), 4, "%s", r->payload);
	cr_assert(crypto_uuid_valid(json_string_value(json_object_get(j, "id"))));
	cr_assert_str_eq(json_string_value(json_object_get(j, "event")), "on_after_register");
	user = json_object_get(j, "user");
	cr_assert_eq(json_object_size(user), 2);
	cr_assert_str_eq(json_string_value(json_object_get(user, "id")), arthur.id);
	cr_assert_str_eq(json_string_value(json_object_get(user, "email")), arthur.email);
	cr_assert_leq(llabs((long long)json_integer_value(json_object_get(j, "ts")) - time_now()), 5);
	json_decref(j);
	free(c);
	free(r);
}

/* Delivers an event for arthur to the listener l; returns the code. */
static enum pc_err deliver_to(struct listener *l, struct pc_outbox_row *r, struct outbox_attempt *a,
			      struct pc_ctx **c)
{
	char url[64];
	bool made;

	url_of(l, "/hooks/portcullis", url, sizeof(url));
	*c = cfg_ctx(url);
	cr_assert_eq(webhook_event(*c, "on_after_verify", &arthur, r, &made), PC_OK);
	memset(a, 0, sizeof(*a));
	a->cfg = &(*c)->cfg;
	a->row = r;
	a->now = time_now();
	return webhook_deliver(a);
}

Test(webhook, delivery_posts_the_payload_signed)
{
	struct listener *l = listener_start("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
					    false);
	struct pc_outbox_row *r = calloc(1, sizeof(*r));
	struct outbox_attempt a;
	struct pc_ctx *c;
	char sig[72], want[128];
	const char *body;

	cr_assert_eq(deliver_to(l, r, &a, &c), PC_OK, "%s", a.error);
	listener_wait(l);
	cr_assert_eq(strncmp(l->req, "POST /hooks/portcullis HTTP/1.1\r\n", 33), 0, "%s", l->req);
	cr_assert_not_null(strstr(l->req, "\r\nContent-Type: application/json\r\n"), "%s", l->req);
	webhook_signature(SECRET, r->payload, strlen(r->payload), sig);
	snprintf(want, sizeof(want), "\r\nX-Portcullis-Signature: %s\r\n", sig);
	cr_assert_not_null(strstr(l->req, want), "%s", l->req);
	body = strstr(l->req, "\r\n\r\n");
	cr_assert_not_null(body);
	cr_assert_str_eq(body + 4, r->payload);
	cr_assert_null(strstr(l->req, SECRET), "the secret never travels");
	listener_free(l);
	free(c);
	free(r);
}

Test(webhook, a_status_other_than_2xx_is_a_failure_to_retry)
{
	struct listener *l = listener_start("HTTP/1.1 500 Internal Server Error\r\n"
					    "Content-Length: 0\r\nConnection: close\r\n\r\n", false);
	struct pc_outbox_row *r = calloc(1, sizeof(*r));
	struct outbox_attempt a;
	struct pc_ctx *c;
	enum pc_err err = deliver_to(l, r, &a, &c);

	cr_assert(err != PC_OK && err != PC_EINVAL && err != PC_EBUSY, "%d", err);
	cr_assert_str_eq(a.error, "webhook: HTTP status 500");
	listener_free(l);
	free(c);
	free(r);
}
