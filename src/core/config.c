/*
 * config.c - the settings table, and the four sources that fill it.
 *
 * Every setting is one row of `settings[]`: its name (also the INI key), its
 * type, where it lives in struct pc_config, its default as text, its range or
 * choices, and one line of help. The flag (--name-with-dashes) and the
 * environment variable (PORTCULLIS_NAME) are derived from the name, so the
 * three sources cannot drift apart. Defaults go through the same parser as
 * user input.
 *
 * Precedence is the order of application, lowest first:
 *   pc_config_defaults < pc_config_load_ini < pc_config_load_env < flags
 * (the CLI applies flags last with pc_config_set).
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

enum setting_type { T_STR, T_INT, T_BOOL };

struct setting {
	const char *name;
	enum setting_type type;
	size_t offset;
	size_t size;          /* T_STR: capacity of the char array */
	const char *def;
	long min, max;        /* T_INT range */
	const char *choices;  /* T_STR: "a|b|c" or NULL */
	const char *help;
};

#define S_STR(f, d, ch, h) { #f, T_STR, offsetof(struct pc_config, f), \
	sizeof(((struct pc_config *)0)->f), d, 0, 0, ch, h }
#define S_INT(f, d, lo, hi, h) { #f, T_INT, offsetof(struct pc_config, f), 0, d, lo, hi, NULL, h }
#define S_BOOL(f, d, h) { #f, T_BOOL, offsetof(struct pc_config, f), 0, d, 0, 0, NULL, h }

static const struct setting settings[] = {
	S_STR(host, "127.0.0.1", NULL, "address to listen on"),
	S_INT(port, "8000", 1, 65535, "TCP port to listen on"),
	S_STR(database_url, "sqlite:///portcullis.db", NULL,
	      "sqlite:///relative.db or sqlite:////absolute/path.db"),
	S_STR(jwt_secret, "", NULL,
	      "HMAC secret for access JWTs, at least 32 bytes; empty: generated and kept in the database"),
	S_STR(algorithm, "HS256", "HS256|HS384|HS512", "JWT signing algorithm (the only one accepted)"),
	S_STR(jwt_audience, "fastapi-users:auth", NULL, "aud claim of access JWTs"),
	S_INT(lifetime_seconds, "3600", 1, 31536000, "access JWT lifetime"),
	S_INT(session_lifetime_seconds, "3600", 1, 31536000, "database session (cookie) lifetime"),
	S_STR(cookie_name, "fastapiusersauth", NULL, "session cookie name"),
	S_BOOL(cookie_secure, "true", "Secure attribute on cookies (set false for plain-HTTP development)"),
	S_BOOL(cookie_httponly, "true", "HttpOnly attribute on the session cookie"),
	S_STR(cookie_samesite, "lax", "lax|strict|none", "SameSite attribute of cookies"),
	S_STR(cookie_domain, "", NULL, "Domain attribute of cookies; empty: host-only"),
	S_INT(password_min_length, "8", 1, 4096, "shortest password accepted"),
	S_INT(password_max_length, "4096", 8, 65536, "longest password accepted, in bytes"),
	S_INT(argon2_memory_kib, "19456", 8, 4194304, "argon2id memory cost m (KiB)"),
	S_INT(argon2_iterations, "2", 1, 100, "argon2id time cost t"),
	S_INT(argon2_parallelism, "1", 1, 64, "argon2id lanes p"),
	S_INT(hash_workers, "0", 0, 256, "password hashing threads; 0: one per CPU"),
	S_INT(hash_queue_max, "4096", 1, 1000000, "queued hashing requests before 503"),
	S_INT(hash_nice, "10", 0, 19,
	      "niceness of hash worker threads, so token checks preempt hashing"),
	S_INT(threads, "0", 0, 256, "HTTP threads; 0: one per CPU"),
	S_INT(auth_cache_ms, "1000", 0, 60000,
	      "how long a thread reuses a verified token or cookie unless the store changes; 0: off"),
	S_INT(max_body_bytes, "65536", 1024, 16777216, "largest request body accepted (413 beyond)"),
	S_INT(max_connections, "4096", 16, 1000000, "simultaneous connections"),
	S_BOOL(requires_verification, "false", "unverified users cannot log in"),
	S_STR(auth_prefix, "/auth", NULL, "prefix of the fastapi_users auth and register routes"),
	S_STR(users_prefix, "/users", NULL, "prefix of the fastapi_users users routes"),
	S_STR(bootstrap_admin_email, "", NULL, "superuser created at start-up when absent"),
	S_STR(bootstrap_admin_password, "", NULL, "its password"),
	S_BOOL(access_log, "true", "one JSON line per request on stderr"),
	S_STR(smtp_url, "", NULL,
	      "smtp://host:port or smtps://host:port; empty: mail is written to the log (development)"),
	S_BOOL(smtp_starttls, "false", "smtp://: require STARTTLS before sending"),
	S_STR(smtp_username, "", NULL, "SMTP login name; empty: no login"),
	S_STR(smtp_password, "", NULL, "SMTP password (never logged)"),
	S_INT(smtp_timeout_seconds, "30", 1, 600, "one delivery attempt (SMTP or webhook), start to end"),
	S_STR(mail_from, "portcullis@localhost", NULL, "From of mail: addr@host or Name <addr@host>"),
	S_STR(reset_url, "http://127.0.0.1:8000/reset-password", NULL,
	      "front-end page of the reset link; ?token=<token> is appended"),
	S_STR(verify_url, "http://127.0.0.1:8000/verify", NULL,
	      "front-end page of the verify link; ?token=<token> is appended"),
	S_INT(reset_token_lifetime_seconds, "3600", 1, 604800, "reset token lifetime"),
	S_INT(verify_token_lifetime_seconds, "86400", 1, 2592000, "verify token lifetime"),
	S_BOOL(reset_ends_sessions, "true", "a password reset ends the user's sessions"),
	S_STR(reset_template_text, "", NULL, "file: plain-text reset mail ({{link}} {{email}} {{token}} {{expires_in}})"),
	S_STR(reset_template_html, "", NULL, "file: HTML reset mail (values are HTML-escaped)"),
	S_STR(verify_template_text, "", NULL, "file: plain-text verify mail"),
	S_STR(verify_template_html, "", NULL, "file: HTML verify mail"),
	S_STR(webhook_url, "", NULL, "http(s) URL that receives events (on_after_register, ...)"),
	S_STR(webhook_secret, "", NULL, "HMAC-SHA256 key of the X-Portcullis-Signature header"),
	S_INT(mail_retry_base_seconds, "2", 1, 3600, "first retry delay of a failed delivery (doubles)"),
	S_INT(mail_retry_max_seconds, "300", 1, 86400, "longest retry delay"),
	S_INT(mail_max_attempts, "0", 0, 1000000, "attempts before a delivery is given up; 0: never"),
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const struct setting *setting_find(const char *name)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	}
	return NULL;
}

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

static enum pc_err bad_value(struct pc_errinfo *ei, const struct setting *s, const char *why)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", s->name, why);
	pc_errinfo_setf(ei, "config", s->name, PC_V_RULE, "%s", msg);
	return PC_EINVAL;
}

static enum pc_err parse_bool(const char *v, bool *out)
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

static enum pc_err setting_apply(struct pc_config *cfg, const struct setting *s, const char *v,
				 struct pc_errinfo *ei)
{
	char *field = (char *)cfg + s->offset;
	char *end;
	long n;
	size_t len;

	switch (s->type) {
	case T_STR:
		len = strlen(v);
		if (len >= s->size)
			return bad_value(ei, s, "value too long");
		for (size_t i = 0; i < len; i++) {
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				return bad_value(ei, s, "control characters are not allowed");
		}
		if (s->choices != NULL && !choice_ok(s->choices, v)) {
			char why[160];

			snprintf(why, sizeof(why), "must be one of %s", s->choices);
			return bad_value(ei, s, why);
		}
		memcpy(field, v, len + 1);
		return PC_OK;
	case T_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0')
			return bad_value(ei, s, "not an integer");
		if (n < s->min || n > s->max) {
			char why[96];

			snprintf(why, sizeof(why), "must be between %ld and %ld", s->min, s->max);
			return bad_value(ei, s, why);
		}
		*(int *)(void *)field = (int)n;
		return PC_OK;
	case T_BOOL:
		if (parse_bool(v, (bool *)(void *)field) != PC_OK)
			return bad_value(ei, s, "must be true or false");
		return PC_OK;
	}
	return PC_EINTERNAL;
}

void pc_config_defaults(struct pc_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NSETTINGS; i++) {
		enum pc_err err = setting_apply(cfg, &settings[i], settings[i].def, NULL);

		(void)err; /* the defaults are valid: test_config checks it */
	}
}

enum pc_err pc_config_set(struct pc_config *cfg, const char *name, const char *value,
			  struct pc_errinfo *ei)
{
	const struct setting *s = setting_find(name);

	if (s == NULL) {
		char msg[160];

		snprintf(msg, sizeof(msg), "unknown setting '%.100s'", name);
		pc_errinfo_setf(ei, "config", name, PC_V_UNKNOWN_SETTING, "%s", msg);
		return PC_ENOTFOUND;
	}
	return setting_apply(cfg, s, value, ei);
}

const char *pc_config_get_str(const struct pc_config *cfg, const char *name)
{
	const struct setting *s = setting_find(name);

	if (s == NULL || s->type != T_STR)
		return NULL;
	return (const char *)cfg + s->offset;
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
		out[i] = (char)toupper((unsigned char)out[i]);
}

enum pc_err pc_config_load_env(struct pc_config *cfg, struct pc_errinfo *ei)
{
	char var[96];

	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v;
		enum pc_err err;

		env_name(settings[i].name, var, sizeof(var));
		v = getenv(var);
		if (v == NULL)
			continue;
		err = setting_apply(cfg, &settings[i], v, ei);
		if (err != PC_OK)
			return err;
	}
	return PC_OK;
}

static bool prefix_ok(const char *p)
{
	size_t n = strlen(p);

	if (n == 0)
		return true;
	if (p[0] != '/' || p[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '{' || p[i] == '}' || p[i] == '?' || p[i] == '#' || p[i] == ' ')
			return false;
	}
	return true;
}

enum pc_err pc_config_validate(const struct pc_config *cfg, struct pc_errinfo *ei)
{
	size_t secret_len = strlen(cfg->jwt_secret);

	if (secret_len > 0 && secret_len < 32) {
		pc_errinfo_setf(ei, "config", "jwt_secret", PC_V_RULE, "jwt_secret: must be at least 32 bytes (generate one with: openssl rand -base64 48)");
		return PC_EINVAL;
	}
	if (!prefix_ok(cfg->auth_prefix) || !prefix_ok(cfg->users_prefix)) {
		pc_errinfo_setf(ei, "config", "auth_prefix", PC_V_RULE, "prefixes must be empty or start with '/' and not end with '/'");
		return PC_EINVAL;
	}
	if (cfg->password_min_length > cfg->password_max_length) {
		pc_errinfo_setf(ei, "config", "password_min_length", PC_V_RULE, "password_min_length is above password_max_length");
		return PC_EINVAL;
	}
	if ((cfg->bootstrap_admin_email[0] == '\0') != (cfg->bootstrap_admin_password[0] == '\0')) {
		pc_errinfo_setf(ei, "config", "bootstrap_admin_email", PC_V_RULE, "bootstrap_admin_email and bootstrap_admin_password go together");
		return PC_EINVAL;
	}
	if (strcmp(cfg->cookie_samesite, "none") == 0 && !cfg->cookie_secure) {
		pc_errinfo_setf(ei, "config", "cookie_samesite", PC_V_RULE, "cookie_samesite=none requires cookie_secure=true");
		return PC_EINVAL;
	}
	if (strpbrk(cfg->cookie_name, " ;,=\"\\") != NULL || cfg->cookie_name[0] == '\0') {
		pc_errinfo_setf(ei, "config", "cookie_name", PC_V_RULE, "cookie_name must be a non-empty token");
		return PC_EINVAL;
	}
	return PC_OK; /* mail checks: moved to the setting rows (authn branch) */
}

bool pc_config_has(const char *name)
{
	return setting_find(name) != NULL;
}

bool pc_config_is_bool(const char *name)
{
	const struct setting *s = setting_find(name);

	return s != NULL && s->type == T_BOOL;
}

const char *pc_config_setting_name(size_t i, const char **help)
{
	if (i >= NSETTINGS)
		return NULL;
	if (help != NULL)
		*help = settings[i].help;
	return settings[i].name;
}

void pc_config_print_help(FILE *out)
{
	char var[96], flag[96];

	fprintf(out, "Settings (flag > environment > --config INI file > default):\n");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		size_t n = (size_t)snprintf(flag, sizeof(flag), "--%s", s->name);

		for (size_t j = 0; j < n && j < sizeof(flag); j++) {
			if (flag[j] == '_')
				flag[j] = '-';
		}
		env_name(s->name, var, sizeof(var));
		fprintf(out, "  %-30s %-38s default: %s\n      %s\n", flag, var,
			s->def[0] != '\0' ? s->def : "(empty)", s->help);
	}
}
