/*
 * ratelimit.c - counters of attempts kept in the store, shared by every
 * instance (issue 13, item 1).
 *
 * Two kinds of limit:
 *   - window counters (pc_limit_hit): at most N hits of one subject in a
 *     fixed window; past it, PC_ELIMITED with the seconds until the window
 *     ends. Logins per client IP; mail requests (forgot-password,
 *     request-verify, recovery, magic link) per address and per client IP,
 *     so nobody floods a victim's inbox or keeps voiding its reset link;
 *     registrations per client, counted when one succeeds (pc_limit_peek
 *     before, so that refused input counts nothing).
 *   - account lockout (auth_first_factor calls lock_check / lock_record):
 *     after lockout_threshold failed logins in a row for one identifier
 *     (an address or username, lower case; unknown ones too, so that a lock
 *     tells nothing of whether the account exists), the identifier is locked
 *     for lockout_base_seconds, doubled for each further failure, at most
 *     lockout_max_seconds. A success clears the count; a superuser clears it
 *     too (pc_login_unlock: the API and the CLI).
 *
 * Client IPs (pc_client_key): the socket's peer, unless the peer is one of
 * trusted_proxies: then the rightmost X-Forwarded-For entry that is not a
 * trusted proxy. IPv4 as is (an IPv4-mapped IPv6 address is its IPv4), IPv6
 * by its /64 whatever its notation, so one host cannot take a fresh key per
 * address of its prefix, nor per spelling of one address.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"

#define RL_KEY_MAX RATELIMIT_KEY_MAX

static const struct rl_kind {
	const char *prefix;
	size_t limit_offset; /* int in struct pc_config: hits allowed per window; 0: off */
	int window;          /* seconds */
} rl_kinds[PC_LIMIT__MAX] = {
	[PC_LIMIT_LOGIN_IP] = { "login-ip", offsetof(struct pc_config, rate_limit_login_ip), 60 },
	[PC_LIMIT_MAIL_ADDRESS] = { "mail-address",
				    offsetof(struct pc_config, rate_limit_mail_address), 900 },
	[PC_LIMIT_MAIL_IP] = { "mail-ip", offsetof(struct pc_config, rate_limit_mail_ip), 900 },
	[PC_LIMIT_REGISTER_IP] = { "register-ip",
				   offsetof(struct pc_config, rate_limit_register_ip), 3600 },
};

static int rl_limit(const struct pc_config *cfg, const struct rl_kind *k)
{
	return *(const int *)(const void *)((const char *)cfg + k->limit_offset);
}

/* "<prefix>:<subject lower case>", bounded. */
static void rl_key(const char *prefix, const char *subject, char out[RL_KEY_MAX])
{
	size_t n = (size_t)snprintf(out, RL_KEY_MAX, "%s:%.*s", prefix, PC_EMAIL_MAX,
				    subject != NULL ? subject : "");

	for (size_t i = strlen(prefix) + 1; i < n && i < RL_KEY_MAX; i++)
		out[i] = (char)ascii_lower(out[i]);
}

/* The kind's limit for subject, and its key: PC_EINVAL for no such kind;
 * *limit 0 when the limit is off (then nothing is counted). */
static enum pc_err rl_prepare(struct pc_ctx *ctx, enum pc_limit kind, const char *subject,
			      const struct rl_kind **k, int *limit, char key[RL_KEY_MAX])
{
	*limit = 0;
	if ((unsigned)kind >= PC_LIMIT__MAX)
		return PC_EINVAL;
	*k = &rl_kinds[kind];
	*limit = rl_limit(config_live(&ctx->cfg), *k); /* a reload may change it */
	if (*limit > 0)
		rl_key((*k)->prefix, subject, key);
	return PC_OK;
}

enum pc_err pc_limit_hit(struct pc_ctx *ctx, enum pc_limit kind, const char *subject,
			 int64_t *retry_after)
{
	const struct rl_kind *k = NULL;
	char key[RL_KEY_MAX];
	int64_t now = time_now(), hits = 0, start = 0;
	enum pc_err err;
	int limit;

	*retry_after = 0;
	err = rl_prepare(ctx, kind, subject, &k, &limit, key);
	if (err != PC_OK || limit <= 0)
		return err;
	err = STORE_CALL(ctx->store, rl_hit, key, now, k->window, &hits, &start);
	if (err != PC_OK)
		return err;
	if (hits <= limit)
		return PC_OK;
	*retry_after = start + k->window - now;
	if (*retry_after < 1)
		*retry_after = 1;
	return PC_ELIMITED;
}

enum pc_err pc_limit_peek(struct pc_ctx *ctx, enum pc_limit kind, const char *subject,
			  int64_t *retry_after)
{
	const struct rl_kind *k = NULL;
	char key[RL_KEY_MAX];
	int64_t now = time_now(), hits = 0, start = 0;
	enum pc_err err;
	int limit;

	*retry_after = 0;
	err = rl_prepare(ctx, kind, subject, &k, &limit, key);
	if (err != PC_OK || limit <= 0)
		return err;
	err = STORE_CALL(ctx->store, rl_window, key, &hits, &start);
	if (err != PC_OK || hits < limit || start <= now - k->window)
		return err;
	*retry_after = start + k->window - now;
	return PC_ELIMITED;
}

/* ---- account lockout --------------------------------------------------------- */

void ratelimit_lock_key(const char *ident_key, char out[RATELIMIT_KEY_MAX])
{
	rl_key("lock", ident_key, out);
}

enum pc_err ratelimit_lock_check(struct pc_ctx *ctx, const char *key, int64_t *hits,
				 int64_t *retry_after)
{
	int64_t until = 0, now = time_now();
	enum pc_err err;

	*hits = 0;
	*retry_after = 0;
	if (config_live(&ctx->cfg)->lockout_threshold <= 0)
		return PC_OK;
	err = STORE_CALL(ctx->store, rl_get, key, hits, &until);
	if (err != PC_OK)
		return err;
	if (until > now) {
		*retry_after = until - now;
		return PC_ELIMITED;
	}
	return PC_OK;
}

enum pc_err ratelimit_lock_record(struct pc_ctx *ctx, const char *key, bool failed, int64_t hits,
				  int64_t *locked_for)
{
	/* the live values, copied: a reload may publish others meanwhile, and
	 * the store call below may wait */
	const struct pc_config *live = config_live(&ctx->cfg);
	const int threshold = live->lockout_threshold, base = live->lockout_base_seconds,
		  max = live->lockout_max_seconds;
	int64_t now = time_now(), until = 0, lock;
	enum pc_err err;

	*locked_for = 0;
	if (threshold <= 0)
		return PC_OK;
	if (!failed)
		return hits > 0 ? STORE_CALL(ctx->store, rl_clear, key) : PC_OK;
	err = STORE_CALL(ctx->store, rl_fail, key, now, &hits, &until);
	if (err != PC_OK || hits < threshold)
		return err;
	lock = base;
	for (int64_t i = threshold; i < hits && lock < max; i++)
		lock *= 2;
	if (lock > max)
		lock = max;
	err = STORE_CALL(ctx->store, rl_lock, key, now + lock);
	if (err == PC_OK)
		*locked_for = lock;
	return err;
}

enum pc_err ratelimit_purge(struct pc_ctx *ctx, int64_t now)
{
	return STORE_CALL(ctx->store, rl_purge, now - 86400, now);
}

/* ---- client keys ------------------------------------------------------------------ */

/* The key of one address's text (whitespace around it ignored): IPv4 dotted,
 * IPv6 as "<first 64 bits>::/64". false when it is not an address. */
static bool ip_key(const char *s, size_t n, char *out, size_t outsz)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN + 1];

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(text))
		return false;
	memcpy(text, s, n);
	text[n] = '\0';
	if (inet_pton(AF_INET, text, a) == 1)
		return inet_ntop(AF_INET, a, out, (socklen_t)outsz) != NULL;
	if (inet_pton(AF_INET6, text, a) != 1)
		return false;
	if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) /* IPv4-mapped */
		return inet_ntop(AF_INET, a + 12, out, (socklen_t)outsz) != NULL;
	memset(a + 8, 0, 8);
	if (inet_ntop(AF_INET6, a, text, sizeof(text)) == NULL)
		return false;
	return (size_t)snprintf(out, outsz, "%s/64", text) < outsz;
}

/* Whether the address key k is one of trusted (comma-separated addresses). */
static bool ip_trusted(const char *trusted, const char *k)
{
	char one[PC_CLIENT_KEY_MAX];
	const char *p = trusted, *end;

	while (p != NULL && *p != '\0') {
		end = strchr(p, ',');
		if (ip_key(p, end != NULL ? (size_t)(end - p) : strlen(p), one, sizeof(one)) &&
		    strcmp(one, k) == 0)
			return true;
		p = end != NULL ? end + 1 : NULL;
	}
	return false;
}

void pc_client_key(struct pc_ctx *ctx, const char *peer, const char *xff,
		   char out[PC_CLIENT_KEY_MAX])
{
	char k[PC_CLIENT_KEY_MAX];
	const char *end;

	if (peer == NULL || !ip_key(peer, strlen(peer), out, PC_CLIENT_KEY_MAX))
		snprintf(out, PC_CLIENT_KEY_MAX, "%.*s", PC_CLIENT_KEY_MAX - 1,
			 peer != NULL ? peer : "");
	if (xff == NULL || ctx->cfg.trusted_proxies[0] == '\0' ||
	    !ip_trusted(ctx->cfg.trusted_proxies, out))
		return;
	/* right to left: the first hop that is not a trusted proxy is the client */
	end = xff + strlen(xff);
	while (end > xff) {
		const char *start = end;

		while (start > xff && start[-1] != ',')
			start--;
		if (!ip_key(start, (size_t)(end - start), k, sizeof(k)))
			return; /* a garbled entry: the proxy's own address stands */
		memcpy(out, k, sizeof(k));
		if (!ip_trusted(ctx->cfg.trusted_proxies, k))
			return;
		end = start > xff ? start - 1 : xff;
	}
}
