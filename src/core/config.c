/*
 * config.c - the settings table, and the four sources that fill it.
 *
 * Every setting is one row (struct config_row, core.h): its name (also the
 * INI key), its type, where it lives, its default as text, its range or
 * choices, a check of its value, and one line of help. The flag
 * (--name-with-dashes) and the environment variable (PORTCULLIS_NAME) are
 * derived from the name, so the sources cannot drift apart. Defaults go
 * through the same parser as user input.
 *
 * The core's rows are `settings[]` over struct pc_config. The layers above
 * (each face: its route prefixes, its cookie) declare their own rows over
 * their own structs and register them with config_layer_add before the
 * configuration is read; their values live in pc_config's layer area, at a
 * place given at registration, and every source, --help and validation
 * treat them as the core's. A setting is read as a typed field: the core's
 * from struct pc_config, a layer's from config_layer_get's struct; a name
 * that matches no row fails registration or start-up, never a request.
 *
 * Validation (pc_config_validate): each row's check on its value, then the
 * rules that tie settings together, all in `rules[]` below (and a layer's
 * own rule over its values).
 *
 * Precedence is the order of application, lowest first:
 *   pc_config_defaults < pc_config_load_ini < pc_config_load_env < flags
 * (the CLI applies flags last with pc_config_set).
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"

/* ---- checks of one value ------------------------------------------------------ */

/* How many different byte values v holds: "aaaa..." or "abab..." of any
 * length is no secret. */
static size_t distinct_bytes(const char *v)
{
	bool seen[256] = { false };
	size_t k = 0;

	for (; *v != '\0'; v++) {
		k += !seen[(unsigned char)*v];
		seen[(unsigned char)*v] = true;
	}
	return k;
}

static const char *check_jwt_secret(const char *v)
{
	size_t n = strlen(v);

	if (n > 0 && n < 32)
		return "must be at least 32 bytes (generate one with: openssl rand -base64 48)";
	if (n > 0 && distinct_bytes(v) < 10)
		return "is too uniform to be a secret: fewer than 10 different characters "
		       "(generate one with: openssl rand -base64 48)";
	return NULL;
}

static const char *check_webhook_secret(const char *v)
{
	size_t n = strlen(v);

	if (n > 0 && n < 16)
		return "must be at least 16 bytes (generate one with: openssl rand -base64 32)";
	if (n > 0 && distinct_bytes(v) < 8)
		return "is too uniform to be a secret: fewer than 8 different characters "
		       "(generate one with: openssl rand -base64 32)";
	return NULL;
}

/* The names jwt_extra_claims takes, and their bits (core.h). */
static const struct {
	const char *name;
	unsigned flag;
} jwt_extra_names[] = {
	{ "email", JWT_EXTRA_EMAIL },
	{ "is_superuser", JWT_EXTRA_SUPERUSER },
	{ "is_verified", JWT_EXTRA_VERIFIED },
};

bool config_jwt_extra_flags(const char *v, unsigned *flags)
{
	const char *p = v;

	*flags = 0;
	while (*p != '\0') {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < sizeof(jwt_extra_names) / sizeof(jwt_extra_names[0]); i++) {
			if (strlen(jwt_extra_names[i].name) == n &&
			    memcmp(jwt_extra_names[i].name, p, n) == 0)
				break;
		}
		if (i == sizeof(jwt_extra_names) / sizeof(jwt_extra_names[0]))
			return false;
		*flags |= jwt_extra_names[i].flag;
		p += n;
		if (*p == ',' && *++p == '\0')
			return false;
	}
	return true;
}

static const char *check_jwt_extra_claims(const char *v)
{
	unsigned flags;

	if (!config_jwt_extra_flags(v, &flags))
		return "must be a comma list of email, is_superuser, is_verified";
	return NULL;
}

static const char *check_totp_key(const char *v)
{
	size_t n = strlen(v);

	if (n == 0)
		return NULL;
	if (n != 64 || strspn(v, "0123456789abcdefABCDEF") != 64)
		return "must be 64 hex digits (32 bytes; generate one with: openssl rand -hex 32)";
	return NULL;
}

static const char *check_totp_issuer(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 64)
		return "must be 1 to 64 bytes";
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return "must hold no control characters";
	}
	return NULL;
}

const char *config_check_http_url(const char *v)
{
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		return "must be an http:// or https:// URL";
	if (strpbrk(v, " \"'<>\\`") != NULL)
		return "must be an http:// or https:// URL without quotes, spaces or angle brackets";
	return NULL;
}

static const char *check_http_url_or_empty(const char *v)
{
	return v[0] == '\0' ? NULL : config_check_http_url(v);
}

static const char *check_smtp_url(const char *v)
{
	if (v[0] != '\0' && strncmp(v, "smtp://", 7) != 0 && strncmp(v, "smtps://", 8) != 0)
		return "must start with smtp:// or smtps://";
	return NULL;
}

/* addr@host or Name <addr@host>: printable ASCII; the address without
 * blanks, quotes, commas or angle brackets. */
static const char *check_mail_from(const char *v)
{
	static const char why[] = "must be addr@host or Name <addr@host> (printable ASCII)";
	const char *lt = strrchr(v, '<');
	const char *gt = lt != NULL ? strchr(lt, '>') : NULL;
	const char *a = v;
	size_t n;

	for (const char *p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return why;
	}
	if (lt != NULL && gt == NULL)
		return why;
	if (lt != NULL) {
		a = lt + 1;
		n = (size_t)(gt - a);
	} else {
		n = strlen(v);
	}
	if (n == 0 || n > PC_EMAIL_MAX || memchr(a, '@', n) == NULL)
		return why;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c <= ' ' || c == '<' || c == '>' || c == '"' || c == ',')
			return why;
	}
	return NULL;
}

const char *config_check_prefix(const char *p)
{
	size_t n = strlen(p);

	if (n == 0)
		return NULL;
	if (p[0] != '/' || p[n - 1] == '/' || strpbrk(p, "{}?# ") != NULL)
		return "must be empty or start with '/' and not end with '/'";
	return NULL;
}

const char *config_check_cookie_name(const char *v)
{
	if (v[0] == '\0' || strpbrk(v, " ;,=\"\\") != NULL)
		return "must be a non-empty token";
	return NULL;
}

/* [a-z0-9]{1,31}: an OAuth provider's name (its URL segment, its keys). */
static bool oauth_name_ok(const char *p, size_t n)
{
	if (n == 0 || n >= sizeof(((struct pc_oauth_conf *)0)->name))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')))
			return false;
	}
	return true;
}

static const char *check_oauth_providers(const char *v)
{
	for (const char *p = v; *p != '\0';) {
		size_t n = strcspn(p, ",");

		if (!oauth_name_ok(p, n))
			return "must be names of [a-z0-9] (at most 31), comma-separated";
		p += n + (p[n] == ',' ? 1 : 0);
	}
	return NULL;
}

static const char *check_oauth_url(const char *v)
{
	return v[0] == '\0' ? NULL : oidc_url_check(v);
}

/* ---- the core's rows ---------------------------------------------------------------- */

#define S_STR(f, d, ch, chk, h) CONFIG_ROW_STR(struct pc_config, #f, f, d, ch, chk, h)
#define S_INT(f, d, lo, hi, h) CONFIG_ROW_INT(struct pc_config, #f, f, d, lo, hi, h)
#define S_BOOL(f, d, h) CONFIG_ROW_BOOL(struct pc_config, #f, f, d, h)

static const struct config_row settings[] = {
	S_STR(host, "127.0.0.1", NULL, NULL, "address to listen on"),
	S_INT(port, "8000", 1, 65535, "TCP port to listen on"),
	S_STR(database_url, "sqlite:///portcullis.db", NULL, NULL,
	      "sqlite:///relative.db, sqlite:////absolute/path.db, or "
	      "postgres://user:password@host:port/db (postgresql:// too; any libpq URI parameter)"),
	S_INT(database_pool_size, "16", 1, 1024,
	      "PostgreSQL: connections each instance keeps at most"),
	S_INT(database_timeout_ms, "5000", 100, 600000,
	      "PostgreSQL: longest wait for a free connection or an answer before 503"),
	S_STR(sqlite_synchronous, "full", "full|normal", NULL,
	      "SQLite: full: each commit is on disk before it is acknowledged (survives power "
	      "loss); normal: faster, a power loss may undo the last commits"),
	S_INT(sqlite_mmap_mb, "0", 0, 1024,
	      "SQLite: MiB of the database file read through a memory map (skips a copy per page "
	      "read, but each page read stays in the server's RSS); 0: SQLite's own page cache"),
	S_STR(jwt_secret, "", NULL, check_jwt_secret,
	      "HMAC secret for access JWTs, at least 32 bytes; empty: generated and kept in the database"),
	S_STR(algorithm, "HS256", "HS256|HS384|HS512|EdDSA|ES256|RS256", NULL,
	      "JWT signing algorithm (the only one accepted); EdDSA, ES256, RS256: fastapi-users "
	      "and myauth access tokens are signed with a key published at /.well-known/jwks.json "
	      "(simplejwt, user_account and TOTP tokens stay HS256)"),
	S_STR(jwt_audience, "fastapi-users:auth", NULL, NULL, "aud claim of access JWTs"),
	S_STR(jwt_private_key_file, "", NULL, NULL,
	      "PEM file of the EdDSA/ES256/RS256 signing key; empty: generated and kept in the "
	      "database (portcullis keys rotate adds a new one)"),
	S_STR(jwt_extra_claims, "", NULL, check_jwt_extra_claims,
	      "claims added to published access tokens: a comma list of email, is_superuser, "
	      "is_verified"),
	S_INT(jwt_keys_reload_seconds, "30", 1, 86400,
	      "how often the signing keys are read again from the database (rotations by "
	      "another process)"),
	S_INT(lifetime_seconds, "3600", 1, 31536000, "access JWT lifetime"),
	S_INT(session_lifetime_seconds, "3600", 1, 31536000, "database session (cookie) lifetime"),
	S_INT(refresh_token_lifetime_seconds, "2592000", 1, 31536000,
	      "refresh token lifetime (each rotation issues a token of this lifetime)"),
	S_INT(refresh_grace_seconds, "0", 0, 300,
	      "a spent refresh token used again within this many seconds rotates instead of "
	      "revoking its family (0: never)"),
	S_INT(password_min_length, "8", 1, 4096, "shortest password accepted"),
	S_INT(password_max_length, "4096", 8, 65536, "longest password accepted, in bytes"),
	S_INT(rate_limit_login_ip, "60", 0, 1000000,
	      "logins a client (IP; IPv6 by /64) may try a minute, 429 beyond; 0: no limit"),
	S_INT(rate_limit_mail_address, "5", 0, 1000000,
	      "forgot-password, verify, recovery and magic link requests per address per 15 min; 0: no limit"),
	S_INT(rate_limit_mail_ip, "30", 0, 1000000,
	      "the same requests per client per 15 min; 0: no limit"),
	S_INT(rate_limit_register_ip, "20", 0, 1000000,
	      "registrations a client may make an hour (refused ones do not count); 0: no limit"),
	S_INT(lockout_threshold, "10", 0, 1000,
	      "failed logins in a row that lock an account (known or not); 0: never"),
	S_INT(lockout_base_seconds, "30", 1, 86400, "the first lock; doubled per further failure"),
	S_INT(lockout_max_seconds, "3600", 1, 604800, "the longest lock"),
	S_STR(trusted_proxies, "", NULL, NULL,
	      "comma-separated proxy addresses whose X-Forwarded-For names the client; empty: none"),
	S_INT(audit_retention_days, "90", 0, 36500,
	      "days the audit log keeps a security event; 0: forever"),
	S_STR(webhook_audit_events, "", NULL, NULL,
	      "audit events also sent as webhooks (event \"audit.<name>\"): * for all, a comma "
	      "list of names (login.failure,admin.user_delete), or empty: none"),
	S_BOOL(login_failure_delay, "true",
	       "a failed login answers no sooner than the median of the recent successful ones"),
	S_INT(login_failure_jitter_ms, "25", 0, 10000,
	      "random delay up to this many ms added to a held failed login"),
	S_INT(password_min_score, "2", 0, 4,
	      "zxcvbn score (0-4) a new password needs: 2 is at least a million guesses; 0: no check"),
	S_INT(argon2_memory_kib, "19456", 8, 4194304, "argon2id memory cost m (KiB)"),
	S_INT(argon2_iterations, "2", 1, 100, "argon2id time cost t"),
	S_INT(argon2_parallelism, "1", 1, 64, "argon2id lanes p"),
	S_INT(hash_workers, "0", 0, 256, "password hashing threads; 0: one per CPU"),
	S_INT(hash_queue_max, "4096", 1, 1000000, "queued hashing requests before 503"),
	S_INT(hash_queue_per_client, "512", 0, 1000000,
	      "hashing requests of one client (its IP, see trusted_proxies) queued or running at "
	      "once, 503 beyond; the queue serves the client with the fewest running first; 0: no cap"),
	S_INT(hash_nice, "10", 0, 19,
	      "niceness of hash worker threads, so token checks preempt hashing"),
	S_INT(write_workers, "16", 1, 256,
	      "threads running the routes whose cost is a durable commit (refresh, logout): "
	      "enough commits in flight for concurrent ones to share a sync"),
	S_INT(write_queue_max, "4096", 1, 1000000, "queued durable-write requests before 503"),
	S_INT(threads, "0", 0, 256, "HTTP threads; 0: one per CPU"),
	S_INT(auth_cache_ms, "1000", 0, 60000,
	      "credential cache: longest a write by another process (CLI, hand edit) goes unseen; 0: off"),
	S_INT(max_body_bytes, "65536", 1024, 16777216, "largest request body accepted (413 beyond)"),
	S_INT(max_connections, "4096", 16, 1000000, "simultaneous connections"),
	S_INT(max_connections_per_ip, "64", 0, 1000000,
	      "simultaneous connections from one client address (IPv6: one /64); 0: no cap"),
	S_INT(header_timeout_seconds, "10", 1, 3600,
	      "seconds a client has to send a request's whole header block (then dropped)"),
	S_INT(body_timeout_seconds, "30", 1, 3600,
	      "seconds a client has to send a request's body after its headers (then dropped)"),
	S_BOOL(requires_verification, "false", "unverified users cannot log in"),
	S_STR(bootstrap_admin_email, "", NULL, NULL, "superuser created at start-up when absent"),
	S_STR(bootstrap_admin_password, "", NULL, NULL, "its password"),
	S_BOOL(access_log, "true", "one log line per request"),
	S_STR(log_level, "info", "debug|info|warn|error", NULL, "the least level a log record needs"),
	S_STR(log_format, "auto", "auto|json|text", NULL,
	      "log records as JSON lines or text; auto: text on a terminal, else JSON"),
	S_STR(log_file, "", NULL, NULL, "file the log is appended to (SIGHUP reopens it); empty: stderr"),
	S_STR(smtp_url, "", NULL, check_smtp_url,
	      "smtp://host:port or smtps://host:port; empty: mail is written to the log (development)"),
	S_BOOL(smtp_starttls, "false", "smtp://: require STARTTLS before sending"),
	S_STR(smtp_username, "", NULL, NULL, "SMTP login name; empty: no login"),
	S_STR(smtp_password, "", NULL, NULL, "SMTP password (never logged)"),
	S_INT(smtp_timeout_seconds, "30", 1, 600, "one delivery attempt (SMTP or webhook), start to end"),
	S_STR(mail_from, "portcullis@localhost", NULL, check_mail_from,
	      "From of mail: addr@host or Name <addr@host>"),
	S_STR(reset_url, "http://127.0.0.1:8000/reset-password", NULL, config_check_http_url,
	      "front-end page of the reset link; ?token=<token> is appended"),
	S_STR(verify_url, "http://127.0.0.1:8000/verify", NULL, config_check_http_url,
	      "front-end page of the verify link; ?token=<token> is appended"),
	S_STR(magic_url, "http://127.0.0.1:8000/magic-login", NULL, config_check_http_url,
	      "front-end page of the magic sign-in link (myauth); ?token=<token> is appended"),
	S_INT(reset_token_lifetime_seconds, "3600", 1, 604800, "reset token lifetime"),
	S_INT(verify_token_lifetime_seconds, "86400", 1, 2592000, "verify token lifetime"),
	S_INT(magic_token_lifetime_seconds, "900", 1, 86400, "magic sign-in link lifetime (myauth)"),
	S_STR(reset_template_text, "", NULL, NULL,
	      "file: plain-text reset mail ({{link}} {{email}} {{token}} {{expires_in}})"),
	S_STR(reset_template_html, "", NULL, NULL, "file: HTML reset mail (values are HTML-escaped)"),
	S_STR(verify_template_text, "", NULL, NULL, "file: plain-text verify mail"),
	S_STR(verify_template_html, "", NULL, NULL, "file: HTML verify mail"),
	S_STR(magic_template_text, "", NULL, NULL, "file: plain-text magic sign-in mail"),
	S_STR(magic_template_html, "", NULL, NULL, "file: HTML magic sign-in mail"),
	S_STR(webhook_url, "", NULL, check_http_url_or_empty,
	      "http(s) URL that receives events (on_after_register, ...)"),
	S_STR(webhook_secret, "", NULL, check_webhook_secret,
	      "HMAC-SHA256 key of the X-Portcullis-Signature header, at least 16 bytes"),
	S_INT(mail_retry_base_seconds, "2", 1, 3600, "first retry delay of a failed delivery (doubles)"),
	S_INT(mail_retry_max_seconds, "300", 1, 86400, "longest retry delay"),
	S_INT(mail_max_attempts, "0", 0, 1000000, "attempts before a delivery is given up; 0: never"),
	S_STR(totp_key, "", NULL, check_totp_key,
	      "AES-256 key sealing TOTP secrets, 64 hex digits (openssl rand -hex 32); "
	      "empty: generated and kept in the database"),
	S_STR(totp_issuer, "portcullis", NULL, check_totp_issuer,
	      "issuer named in TOTP otpauth:// URIs"),
	S_STR(oauth_providers, "", NULL, check_oauth_providers,
	      "OAuth providers by name, comma-separated (google,corp); each one's settings are "
	      "oauth_<name>_<field>, listed below"),
	S_BOOL(oauth_associate_by_email, "false",
	       "an OAuth login whose provider asserts a verified email links to the user of "
	       "that email (off: 400 OAUTH_USER_ALREADY_EXISTS)"),
	S_STR(oauth_redirect_url, "", NULL, check_http_url_or_empty,
	      "cookie backend: after an OAuth login answer 302 to this exact front-end URL "
	      "(empty: 204)"),
	S_STR(oauth_callback_base, "http://127.0.0.1:8000", NULL, config_check_http_url,
	      "public base URL of this server: redirect_uri = base + the callback route's path"),
	S_INT(oauth_state_lifetime_seconds, "600", 30, 3600,
	      "how long an OAuth state (authorize to callback) is good"),
	S_INT(oauth_timeout_seconds, "10", 1, 120,
	      "one exchange with an OAuth provider (token, user info, discovery), start to end"),
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* ---- rules that tie settings together ----------------------------------------------- */

struct config_rule {
	const char *field;                          /* the setting the message names */
	bool (*holds)(const struct pc_config *cfg);
	const char *msg;
};

static bool rule_password_bounds(const struct pc_config *c)
{
	return c->password_min_length <= c->password_max_length;
}

static bool rule_bootstrap_pair(const struct pc_config *c)
{
	return (c->bootstrap_admin_email[0] == '\0') == (c->bootstrap_admin_password[0] == '\0');
}

static bool rule_smtp_login(const struct pc_config *c)
{
	return c->smtp_password[0] == '\0' || c->smtp_username[0] != '\0';
}

static bool rule_webhook_secret(const struct pc_config *c)
{
	return c->webhook_url[0] == '\0' || strlen(c->webhook_secret) >= 16;
}

static bool rule_retry_bounds(const struct pc_config *c)
{
	return c->mail_retry_base_seconds <= c->mail_retry_max_seconds;
}

static bool rule_key_file_asymmetric(const struct pc_config *c)
{
	return c->jwt_private_key_file[0] == '\0' || jwt_alg_asymmetric(c->algorithm);
}

static const struct config_rule rules[] = {
	{ "jwt_private_key_file", rule_key_file_asymmetric,
	  "jwt_private_key_file needs algorithm EdDSA, ES256 or RS256" },
	{ "password_min_length", rule_password_bounds,
	  "password_min_length is above password_max_length" },
	{ "bootstrap_admin_email", rule_bootstrap_pair,
	  "bootstrap_admin_email and bootstrap_admin_password go together" },
	{ "smtp_password", rule_smtp_login, "smtp_password needs smtp_username" },
	{ "webhook_secret", rule_webhook_secret,
	  "webhook_url needs a webhook_secret of at least 16 bytes" },
	{ "mail_retry_base_seconds", rule_retry_bounds,
	  "mail_retry_base_seconds is above mail_retry_max_seconds" },
};

/* ---- the layers' rows ------------------------------------------------------------------ */

#define CONFIG_LAYERS_MAX 16

static struct {
	const struct config_layer *layer;
	size_t base; /* offset of its values in pc_config */
} layers[CONFIG_LAYERS_MAX];
static size_t nlayers, layer_used;

/* A row and where its struct starts in pc_config. */
struct row_ref {
	const struct config_row *row;
	size_t base;
};

/* The i-th row: the core's, then each layer's in registration order. */
static bool row_at(size_t i, struct row_ref *out)
{
	if (i < NSETTINGS) {
		*out = (struct row_ref){ &settings[i], 0 };
		return true;
	}
	i -= NSETTINGS;
	for (size_t k = 0; k < nlayers; k++) {
		if (i < layers[k].layer->nrows) {
			*out = (struct row_ref){ &layers[k].layer->rows[i], layers[k].base };
			return true;
		}
		i -= layers[k].layer->nrows;
	}
	return false;
}

static bool row_find(const char *name, struct row_ref *out)
{
	for (size_t i = 0; row_at(i, out); i++) {
		if (strcmp(out->row->name, name) == 0)
			return true;
	}
	return false;
}

static char *row_field(const struct pc_config *cfg, const struct row_ref *r)
{
	return (char *)cfg + r->base + r->row->offset;
}

/* ---- keyed rows: oauth_<name>_<field>, one slot of pc_config.oauth a provider ---- */

#define K_STR(f, ch, chk, h) CONFIG_ROW_STR(struct pc_oauth_conf, #f, f, "", ch, chk, h)

static const struct config_row oauth_rows[] = {
	K_STR(kind, "google|github|facebook|oidc", NULL,
	      "preset: google, github, facebook; oidc: any OpenID provider by discovery "
	      "(empty: the name when it is a preset, else oidc)"),
	K_STR(client_id, NULL, NULL, "the client id registered with the provider"),
	K_STR(client_secret, NULL, NULL, "its client secret (never logged)"),
	K_STR(client_secret_file, NULL, NULL, "a file holding the client secret instead"),
	K_STR(issuer, NULL, check_oauth_url,
	      "oidc: the issuer URL (discovery at {issuer}/.well-known/openid-configuration)"),
	K_STR(authorize_url, NULL, check_oauth_url, "authorization endpoint (overrides the preset)"),
	K_STR(token_url, NULL, check_oauth_url, "token endpoint (overrides the preset)"),
	K_STR(userinfo_url, NULL, check_oauth_url, "user info endpoint (overrides the preset)"),
	K_STR(emails_url, NULL, check_oauth_url, "github: the emails endpoint (overrides the preset)"),
	K_STR(jwks_url, NULL, check_oauth_url, "JWKS of ID tokens (overrides the preset)"),
	K_STR(scopes, NULL, NULL, "scopes asked, blank-separated (empty: the preset's)"),
};

#define NOAUTH_ROWS (sizeof(oauth_rows) / sizeof(oauth_rows[0]))
#define OAUTH_KEY_PREFIX "oauth_"

/* The keyed row name spells (oauth_<key>_<row>, the longest row name that
 * fits), with the key's place in it; false when name is no such setting. */
static bool keyed_parse(const char *name, const struct config_row **row, const char **key,
			size_t *keylen)
{
	size_t n, rn, best = 0;
	const char *rest;

	*row = NULL;
	if (strncmp(name, OAUTH_KEY_PREFIX, strlen(OAUTH_KEY_PREFIX)) != 0)
		return false;
	rest = name + strlen(OAUTH_KEY_PREFIX);
	n = strlen(rest);
	for (size_t i = 0; i < NOAUTH_ROWS; i++) {
		rn = strlen(oauth_rows[i].name);
		if (rn + 2 > n || rn <= best || rest[n - rn - 1] != '_' ||
		    strcmp(rest + n - rn, oauth_rows[i].name) != 0)
			continue;
		best = rn;
		*row = &oauth_rows[i];
	}
	if (*row == NULL || !oauth_name_ok(rest, n - best - 1))
		return false;
	*key = rest;
	*keylen = n - best - 1;
	return true;
}

/* The keyed row name spells, in cfg's slot of its key (taken when create
 * and the key has none). false: not such a name, or no slot (*full). */
static bool keyed_find(const struct pc_config *cfg, const char *name, bool create,
		       struct row_ref *out, bool *full)
{
	struct pc_config *c = (struct pc_config *)cfg;
	const char *key;
	size_t keylen, slot = PC_OAUTH_MAX, free_slot = PC_OAUTH_MAX;

	*full = false;
	if (!keyed_parse(name, &out->row, &key, &keylen))
		return false;
	for (size_t i = 0; i < PC_OAUTH_MAX && slot == PC_OAUTH_MAX; i++) {
		if (strlen(c->oauth[i].name) == keylen && strncmp(c->oauth[i].name, key, keylen) == 0)
			slot = i;
		else if (free_slot == PC_OAUTH_MAX && c->oauth[i].name[0] == '\0')
			free_slot = i;
	}
	if (slot == PC_OAUTH_MAX && create && free_slot < PC_OAUTH_MAX) {
		slot = free_slot;
		memcpy(c->oauth[slot].name, key, keylen);
		c->oauth[slot].name[keylen] = '\0';
	}
	if (slot == PC_OAUTH_MAX) {
		*full = create;
		return false;
	}
	out->base = offsetof(struct pc_config, oauth) + slot * sizeof(struct pc_oauth_conf);
	return true;
}


enum pc_err config_layer_add(const struct config_layer *l, struct pc_errinfo *ei)
{
	size_t base = (layer_used + 15) & ~(size_t)15;
	struct row_ref taken;
	char msg[200];

	for (size_t k = 0; k < nlayers; k++) {
		if (layers[k].layer == l)
			return PC_OK;
	}
	if (nlayers == CONFIG_LAYERS_MAX || base + l->size > PC_CFG_LAYER_MAX) {
		snprintf(msg, sizeof(msg), "settings of %s: no room left in the configuration", l->name);
		pc_errinfo_setf(ei, "config", l->name, PC_V_INTERNAL, "%s", msg);
		return PC_ETOOBIG;
	}
	for (size_t i = 0; i < l->nrows; i++) {
		const struct config_row *r = &l->rows[i];

		if (row_find(r->name, &taken)) {
			snprintf(msg, sizeof(msg), "settings of %s: %s is declared twice", l->name,
				 r->name);
			pc_errinfo_setf(ei, "config", r->name, PC_V_INTERNAL, "%s", msg);
			return PC_EEXISTS;
		}
		if (r->offset + r->size > l->size || (r->type == CONFIG_STR && r->size == 0)) {
			snprintf(msg, sizeof(msg), "settings of %s: %s lies outside them", l->name, r->name);
			pc_errinfo_setf(ei, "config", r->name, PC_V_INTERNAL, "%s", msg);
			return PC_EINVAL;
		}
	}
	layers[nlayers].layer = l;
	layers[nlayers].base = offsetof(struct pc_config, layer) + base;
	nlayers++;
	layer_used = base + l->size;
	return PC_OK;
}

const void *config_layer_get(const struct pc_config *cfg, const struct config_layer *l)
{
	for (size_t k = 0; k < nlayers; k++) {
		if (layers[k].layer == l)
			return (const char *)cfg + layers[k].base;
	}
	return NULL;
}

const struct config_row *config_layer_row(const struct config_layer *l, const char *name)
{
	for (size_t i = 0; l != NULL && i < l->nrows; i++) {
		if (strcmp(l->rows[i].name, name) == 0)
			return &l->rows[i];
	}
	return NULL;
}

/* ---- parsing one value ---------------------------------------------------------------- */

static bool choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *p = choices; *p != '\0';) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, v, n) == 0)
			return true;
		p += len + (bar ? 1 : 0);
	}
	return false;
}

static enum pc_err bad_value(struct pc_errinfo *ei, const struct config_row *s, enum pc_verr code,
			     const char *why)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", s->name, why);
	pc_errinfo_setf(ei, "config", s->name, code, "%s", msg);
	return PC_EINVAL;
}

enum pc_err pc_config_parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return PC_OK;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return PC_OK;
		}
	}
	return PC_EINVAL;
}

static enum pc_err setting_apply(struct pc_config *cfg, const struct row_ref *r, const char *v,
				 struct pc_errinfo *ei)
{
	const struct config_row *s = r->row;
	char *field = row_field(cfg, r);
	char *end;
	long n;
	size_t len;

	switch (s->type) {
	case CONFIG_STR:
		len = strlen(v);
		if (len >= s->size)
			return bad_value(ei, s, PC_V_TOO_LONG, "value too long");
		for (size_t i = 0; i < len; i++) {
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				return bad_value(ei, s, PC_V_CONTROL_CHARS,
						 "control characters are not allowed");
		}
		if (s->choices != NULL && !choice_ok(s->choices, v)) {
			char why[160];

			snprintf(why, sizeof(why), "must be one of %s", s->choices);
			return bad_value(ei, s, PC_V_CHOICE, why);
		}
		memcpy(field, v, len + 1);
		return PC_OK;
	case CONFIG_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0')
			return bad_value(ei, s, PC_V_NOT_INTEGER, "not an integer");
		if (n < s->min || n > s->max) {
			char why[96];

			snprintf(why, sizeof(why), "must be between %ld and %ld", s->min, s->max);
			return bad_value(ei, s, PC_V_RANGE, why);
		}
		*(int *)(void *)field = (int)n;
		return PC_OK;
	case CONFIG_BOOL:
		if (pc_config_parse_bool(v, (bool *)(void *)field) != PC_OK)
			return bad_value(ei, s, PC_V_NOT_BOOL, "must be true or false");
		return PC_OK;
	}
	return PC_EINTERNAL;
}

void pc_config_defaults(struct pc_config *cfg)
{
	struct row_ref r;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; row_at(i, &r); i++) {
		enum pc_err err = setting_apply(cfg, &r, r.row->def, NULL);

		(void)err; /* the defaults are valid: test_config checks it */
	}
}

enum pc_err pc_config_set(struct pc_config *cfg, const char *name, const char *value,
			  struct pc_errinfo *ei)
{
	struct row_ref r;
	bool full = false;
	enum pc_err err;

	if (!row_find(name, &r) && !keyed_find(cfg, name, true, &r, &full)) {
		char msg[160];

		if (full) {
			snprintf(msg, sizeof(msg), "%.100s: more than %d OAuth providers", name,
				 PC_OAUTH_MAX);
			pc_errinfo_setf(ei, "config", name, PC_V_RULE, "%s", msg);
			return PC_EINVAL;
		}

		snprintf(msg, sizeof(msg), "unknown setting '%.100s'", name);
		pc_errinfo_setf(ei, "config", name, PC_V_UNKNOWN_SETTING, "%s", msg);
		return PC_ENOTFOUND;
	}
	err = setting_apply(cfg, &r, value, ei);
	if (err != PC_OK && ei != NULL && strcmp(r.row->name, name) != 0 &&
	    strncmp(ei->detail, r.row->name, strlen(r.row->name)) == 0) {
		char msg[sizeof(ei->detail)];

		/* a keyed row's message names the whole setting: oauth_corp_kind */
		snprintf(msg, sizeof(msg), "%.100s%.140s", name, ei->detail + strlen(r.row->name));
		memcpy(ei->detail, msg, sizeof(ei->detail));
	}
	return err;
}

const char *pc_config_get_str(const struct pc_config *cfg, const char *name)
{
	struct row_ref r;
	bool full;

	if ((!row_find(name, &r) && !keyed_find(cfg, name, false, &r, &full)) ||
	    r.row->type != CONFIG_STR)
		return NULL;
	return row_field(cfg, &r);
}

struct ini_state {
	struct pc_config *cfg;
	struct pc_errinfo *ei;
	enum pc_err err;
};

static int ini_entry(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;

	(void)section;
	if (st->err != PC_OK)
		return 0;
	st->err = pc_config_set(st->cfg, name, value, st->ei);
	if (st->err == PC_ENOTFOUND)
		st->err = PC_EINVAL;
	return st->err == PC_OK;
}

enum pc_err pc_config_load_ini(struct pc_config *cfg, const char *path, struct pc_errinfo *ei)
{
	struct ini_state st = { cfg, ei, PC_OK };
	int line = ini_parse(path, ini_entry, &st);

	if (line == -1) {
		char msg[256];

		snprintf(msg, sizeof(msg), "cannot read config file %.200s", path);
		pc_errinfo_setf(ei, "config", "config", PC_V_IO, "%s", msg);
		return PC_ENOTFOUND;
	}
	if (line != 0) {
		if (st.err == PC_OK) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%.200s:%d: cannot parse this line", path, line);
			pc_errinfo_setf(ei, "config", "config", PC_V_SYNTAX, "%s", msg);
		} else if (ei != NULL) {
			char msg[sizeof(ei->detail)];

			snprintf(msg, sizeof(msg), "%.100s:%d: %.140s", path, line, ei->detail);
			memcpy(ei->detail, msg, sizeof(ei->detail));
		}
		return PC_EINVAL;
	}
	return PC_OK;
}

/* PORTCULLIS_ + the name upper-cased. */
static void env_name(const char *name, char *out, size_t outsz)
{
	size_t n = (size_t)snprintf(out, outsz, "PORTCULLIS_%s", name);

	for (size_t i = 0; i < n && i < outsz; i++)
		out[i] = ascii_upper(out[i]);
}

extern char **environ;

/* PORTCULLIS_OAUTH_<NAME>_<FIELD> variables: the keyed rows, whose names
 * the row table cannot list. */
static enum pc_err keyed_load_env(struct pc_config *cfg, struct pc_errinfo *ei)
{
	static const char pre[] = "PORTCULLIS_OAUTH_";
	char name[96];
	const struct config_row *row;
	const char *key;
	size_t keylen;
	struct row_ref r;

	for (char **e = environ; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		size_t n = eq != NULL ? (size_t)(eq - *e) : 0;
		enum pc_err err;

		if (n <= strlen("PORTCULLIS_") || n - strlen("PORTCULLIS_") >= sizeof(name) ||
		    strncmp(*e, pre, strlen(pre)) != 0)
			continue;
		n -= strlen("PORTCULLIS_");
		for (size_t i = 0; i < n; i++)
			name[i] = ascii_lower((*e)[strlen("PORTCULLIS_") + i]);
		name[n] = '\0';
		if (row_find(name, &r) || !keyed_parse(name, &row, &key, &keylen))
			continue;
		err = pc_config_set(cfg, name, eq + 1, ei);
		if (err != PC_OK)
			return err;
	}
	return PC_OK;
}

enum pc_err pc_config_load_env(struct pc_config *cfg, struct pc_errinfo *ei)
{
	struct row_ref r;
	char var[96];

	for (size_t i = 0; row_at(i, &r); i++) {
		const char *v;
		enum pc_err err;

		env_name(r.row->name, var, sizeof(var));
		v = getenv(var);
		if (v == NULL)
			continue;
		err = setting_apply(cfg, &r, v, ei);
		if (err != PC_OK)
			return err;
	}
	return keyed_load_env(cfg, ei);
}

/* Whether name is one of the comma-separated list. */
static bool list_has(const char *list, const char *name)
{
	size_t want = strlen(name);

	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ",");

		if (n == want && strncmp(p, name, n) == 0)
			return true;
		p += n + (p[n] == ',' ? 1 : 0);
	}
	return false;
}

static enum pc_err keyed_bad(struct pc_errinfo *ei, const char *name, const char *field,
			     const char *why)
{
	char setting[96];

	snprintf(setting, sizeof(setting), "oauth_%s_%s", name, field);
	pc_errinfo_setf(ei, "config", field, PC_V_RULE, "%s: %s", setting, why);
	return PC_EINVAL;
}

/* Each provider slot: its values' checks, its name in oauth_providers, a
 * client id, one secret source, an issuer for oidc; each listed name has a
 * slot. */
static enum pc_err keyed_validate(const struct pc_config *cfg, struct pc_errinfo *ei)
{
	for (size_t i = 0; i < PC_OAUTH_MAX; i++) {
		const struct pc_oauth_conf *o = &cfg->oauth[i];

		if (o->name[0] == '\0')
			continue;
		for (size_t k = 0; k < NOAUTH_ROWS; k++) {
			const char *why = oauth_rows[k].check == NULL ? NULL :
				oauth_rows[k].check((const char *)o + oauth_rows[k].offset);

			if (why != NULL)
				return keyed_bad(ei, o->name, oauth_rows[k].name, why);
		}
		if (!list_has(cfg->oauth_providers, o->name))
			return keyed_bad(ei, o->name, "client_id", "the provider is not in oauth_providers");
		if (o->client_id[0] == '\0')
			return keyed_bad(ei, o->name, "client_id", "is required");
		if ((o->client_secret[0] == '\0') == (o->client_secret_file[0] == '\0'))
			return keyed_bad(ei, o->name, "client_secret",
					 "give it or client_secret_file, one of them");
		if (strcmp(oauth_kind_of(o), "oidc") == 0 && o->issuer[0] == '\0')
			return keyed_bad(ei, o->name, "issuer", "is required for kind oidc");
	}
	for (const char *p = cfg->oauth_providers; *p != '\0';) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < PC_OAUTH_MAX; i++) {
			if (strlen(cfg->oauth[i].name) == n && strncmp(cfg->oauth[i].name, p, n) == 0)
				break;
		}
		if (i == PC_OAUTH_MAX) {
			pc_errinfo_setf(ei, "config", "oauth_providers", PC_V_RULE,
					"oauth_providers: %.*s has no oauth_%.*s_client_id", (int)n, p,
					(int)n, p);
			return PC_EINVAL;
		}
		p += n + (p[n] == ',' ? 1 : 0);
	}
	return PC_OK;
}

/* Each string row's check (numbers and booleans have their range, checked
 * as they are set), then the rules, then each layer's rule. */
enum pc_err pc_config_validate(const struct pc_config *cfg, struct pc_errinfo *ei)
{
	struct row_ref r;

	for (size_t i = 0; row_at(i, &r); i++) {
		const char *why;

		if (r.row->check == NULL || r.row->type != CONFIG_STR)
			continue;
		why = r.row->check(row_field(cfg, &r));
		if (why != NULL)
			return bad_value(ei, r.row, PC_V_RULE, why);
	}
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		if (!rules[i].holds(cfg)) {
			pc_errinfo_setf(ei, "config", rules[i].field, PC_V_RULE, "%s", rules[i].msg);
			return PC_EINVAL;
		}
	}
	if (keyed_validate(cfg, ei) != PC_OK)
		return PC_EINVAL;
	for (size_t k = 0; k < nlayers; k++) {
		const char *field = layers[k].layer->name, *msg;

		if (layers[k].layer->rule == NULL)
			continue;
		msg = layers[k].layer->rule((const char *)cfg + layers[k].base, &field);
		if (msg != NULL) {
			pc_errinfo_setf(ei, "config", field, PC_V_RULE, "%s", msg);
			return PC_EINVAL;
		}
	}
	return PC_OK;
}

bool pc_config_has(const char *name)
{
	const struct config_row *row;
	const char *key;
	size_t keylen;
	struct row_ref r;

	return row_find(name, &r) || keyed_parse(name, &row, &key, &keylen);
}

bool pc_config_is_bool(const char *name)
{
	struct row_ref r;

	return row_find(name, &r) && r.row->type == CONFIG_BOOL;
}

const char *pc_config_setting_name(size_t i, const char **help)
{
	struct row_ref r;

	if (!row_at(i, &r))
		return NULL;
	if (help != NULL)
		*help = r.row->help;
	return r.row->name;
}

void pc_config_print_help(FILE *out)
{
	char var[96], flag[96];
	struct row_ref r;

	fprintf(out, "Settings (flag > environment > --config INI file > default):\n");
	for (size_t i = 0; row_at(i, &r); i++) {
		const struct config_row *s = r.row;
		size_t n = (size_t)snprintf(flag, sizeof(flag), "--%s", s->name);

		for (size_t k = 0; k < nlayers; k++) {
			if (s == &layers[k].layer->rows[0])
				fprintf(out, "Settings of %s:\n", layers[k].layer->name);
		}

		for (size_t j = 0; j < n && j < sizeof(flag); j++) {
			if (flag[j] == '_')
				flag[j] = '-';
		}
		env_name(s->name, var, sizeof(var));
		fprintf(out, "  %-30s %-38s default: %s\n      %s\n", flag, var,
			s->def[0] != '\0' ? s->def : "(empty)", s->help);
	}
	fprintf(out, "Settings of each OAuth provider <name> of oauth_providers:\n");
	for (size_t i = 0; i < NOAUTH_ROWS; i++) {
		size_t n = (size_t)snprintf(flag, sizeof(flag), "--oauth-<name>-%s", oauth_rows[i].name);
		size_t m = (size_t)snprintf(var, sizeof(var), "PORTCULLIS_OAUTH_<NAME>_%s",
					    oauth_rows[i].name);

		for (size_t j = 0; j < n && j < sizeof(flag); j++)
			flag[j] = flag[j] == '_' ? '-' : flag[j];
		for (size_t j = 0; j < m && j < sizeof(var); j++)
			var[j] = ascii_upper(var[j]);
		fprintf(out, "  %-30s %s\n      %s\n", flag, var, oauth_rows[i].help);
	}
}

/* ---- the log -------------------------------------------------------------------------- */

enum pc_err config_log_open(const struct pc_config *cfg, struct pc_errinfo *ei)
{
	enum log_level lv = LOG_LEVEL_INFO;
	enum log_format fmt = LOG_FORMAT_AUTO;
	char why[256 + PC_CFG_STR];

	if (!log_level_parse(cfg->log_level, &lv) || !log_format_parse(cfg->log_format, &fmt)) {
		pc_errinfo_setf(ei, "config", "log_level", PC_V_PATTERN, "log_level or log_format");
		return PC_EINVAL;
	}
	if (log_configure(lv, fmt, cfg->log_file, why, sizeof(why)) != PC_OK) {
		pc_errinfo_setf(ei, "config", "log_file", PC_V_IO, "%s", why);
		return PC_EINVAL;
	}
	return PC_OK;
}
/* ---- every setting's value as text, secrets masked ---------------------------------- */

/* The names whose whole value is a secret: a key, a password, a token. */
static const char *const secret_suffixes[] = { "_secret", "_password", "_token", "_key" };

bool config_is_secret(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(secret_suffixes) / sizeof(secret_suffixes[0]); i++) {
		size_t k = strlen(secret_suffixes[i]);

		if (n >= k && strcmp(name + n - k, secret_suffixes[i]) == 0)
			return true;
	}
	return false;
}

#define CONFIG_MASK "********"

/* v with the password of a URL's user:password@ and the value of a
 * password= query parameter replaced by CONFIG_MASK, into out. */
static void mask_url(const char *v, char *out, size_t outsz)
{
	const char *scheme = strstr(v, "://"), *auth, *at, *colon, *q, *p;
	size_t len;
	int n = 0;

	out[0] = '\0';
	if (scheme == NULL) {
		snprintf(out, outsz, "%s", v);
		return;
	}
	auth = scheme + 3;
	len = strcspn(auth, "/?#");
	at = memchr(auth, '@', len);
	for (const char *s = auth; at != NULL && s < auth + len; s++) {
		if (*s == '@')
			at = s; /* the last '@' of the authority ends the user part */
	}
	colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon != NULL)
		n = snprintf(out, outsz, "%.*s:%s%.*s", (int)(colon - v), v, CONFIG_MASK,
			     (int)(auth + len - at), at);
	else
		n = snprintf(out, outsz, "%.*s", (int)(auth + len - v), v);
	if (n < 0 || (size_t)n >= outsz)
		return;
	/* the query: password=... (libpq), whatever the case of the name */
	q = auth + len;
	for (p = q; *p != '\0';) {
		size_t seg = strcspn(p + 1, "?&#") + 1;
		int m;

		if ((p[0] == '?' || p[0] == '&') && strncasecmp(p + 1, "password=", 9) == 0)
			m = snprintf(out + n, outsz - (size_t)n, "%cpassword=%s", p[0], CONFIG_MASK);
		else
			m = snprintf(out + n, outsz - (size_t)n, "%.*s", (int)seg, p);
		if (m < 0 || (size_t)(n + m) >= outsz)
			return;
		n += m;
		p += seg;
	}
}

void config_value_text(const char *name, const struct config_row *row, const void *field,
		       bool masked, char *out, size_t outsz)
{
	switch (row->type) {
	case CONFIG_INT:
		snprintf(out, outsz, "%d", *(const int *)field);
		return;
	case CONFIG_BOOL:
		snprintf(out, outsz, "%s", *(const bool *)field ? "true" : "false");
		return;
	case CONFIG_STR:
		break;
	}
	if (!masked || ((const char *)field)[0] == '\0')
		snprintf(out, outsz, "%s", (const char *)field);
	else if (config_is_secret(name))
		snprintf(out, outsz, "%s", CONFIG_MASK);
	else
		mask_url(field, out, outsz);
}

bool config_setting_at(const struct pc_config *cfg, size_t i, struct config_view *out)
{
	struct row_ref r;

	memset(out, 0, sizeof(*out));
	if (row_at(i, &r)) {
		snprintf(out->name, sizeof(out->name), "%s", r.row->name);
		out->row = r.row;
		out->field = row_field(cfg, &r);
		out->def = r.row->def;
		return true;
	}
	/* past the rows: each used provider slot's keyed rows */
	{
		size_t nrows = NSETTINGS, j;

		for (size_t k = 0; k < nlayers; k++)
			nrows += layers[k].layer->nrows;
		j = i - nrows;
		for (size_t s = 0; s < PC_OAUTH_MAX; s++) {
			const struct pc_oauth_conf *o = &cfg->oauth[s];

			if (o->name[0] == '\0')
				continue;
			if (j < NOAUTH_ROWS) {
				snprintf(out->name, sizeof(out->name), "oauth_%s_%s", o->name,
					 oauth_rows[j].name);
				out->row = &oauth_rows[j];
				out->field = (const char *)o + oauth_rows[j].offset;
				out->def = oauth_rows[j].def;
				return true;
			}
			j -= NOAUTH_ROWS;
		}
	}
	return false;
}

static bool name_listed(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], name) == 0)
			return true;
	}
	return false;
}

void config_reload_merge(struct pc_config *cur, const struct pc_config *next,
			 const char *const *reloadable, size_t nreloadable, config_diff_fn *say,
			 void *arg)
{
	struct row_ref r;

	for (size_t i = 0; row_at(i, &r); i++) {
		char *a = row_field(cur, &r);
		const char *b = (const char *)next + r.base + r.row->offset;
		bool same = r.row->type == CONFIG_STR ? strcmp(a, b) == 0 :
							memcmp(a, b, r.row->size) == 0;
		bool apply = name_listed(r.row->name, reloadable, nreloadable);

		if (same)
			continue;
		if (apply)
			memcpy(a, b, r.row->size);
		if (say != NULL)
			say(arg, r.row->name, apply);
	}
	for (size_t s = 0; s < PC_OAUTH_MAX; s++) {
		bool differ = strcmp(cur->oauth[s].name, next->oauth[s].name) != 0;

		for (size_t k = 0; k < NOAUTH_ROWS && !differ; k++)
			differ = strcmp((const char *)&cur->oauth[s] + oauth_rows[k].offset,
					(const char *)&next->oauth[s] + oauth_rows[k].offset) != 0;
		if (differ) {
			if (say != NULL)
				say(arg, "oauth_<name>_*", false);
			break;
		}
	}
}
