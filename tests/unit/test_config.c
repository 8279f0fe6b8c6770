/* The settings table: defaults, each source, precedence and validation;
 * settings a layer declares (as a face does) go through all of it too. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

/* A layer as a face declares one: its own struct, its own rows, a rule. */
struct face_values {
	char prefix[64];
	bool secure;
	int depth;
	char same[16];
};

static const char *face_rule(const void *values, const char **field)
{
	const struct face_values *v = values;

	if (strcmp(v->same, "none") == 0 && !v->secure) {
		*field = "test_same";
		return "test_same=none requires test_secure=true";
	}
	return NULL;
}

static const struct config_row face_rows[] = {
	CONFIG_ROW_STR(struct face_values, "test_prefix", prefix, "/t", NULL, config_check_prefix,
		       "prefix of the test face"),
	CONFIG_ROW_BOOL(struct face_values, "test_secure", secure, "true", "a flag"),
	CONFIG_ROW_INT(struct face_values, "test_depth", depth, "3", 1, 9, "a number"),
	CONFIG_ROW_STR(struct face_values, "test_same", same, "lax", "lax|none", NULL, "a choice"),
};

static const struct config_layer face_layer = {
	"test_face", face_rows, sizeof(face_rows) / sizeof(face_rows[0]),
	sizeof(struct face_values), face_rule,
};

Test(config, defaults_are_valid_and_documented)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };

	pc_config_defaults(&cfg);
	cr_assert_eq(pc_config_validate(&cfg, &ei), PC_OK, "%s", ei.detail);
	cr_expect_str_eq(cfg.host, "127.0.0.1");
	cr_expect_eq(cfg.port, 8000);
	cr_expect_str_eq(cfg.database_url, "sqlite:///portcullis.db");
	cr_expect_eq(cfg.lifetime_seconds, 3600);
	cr_expect_str_eq(cfg.algorithm, "HS256");
	cr_expect_eq(cfg.password_min_length, 8);
	cr_expect_eq(cfg.argon2_memory_kib, 19456);
	cr_expect(!cfg.requires_verification);
	cr_expect(!pc_config_has("auth_prefix"), "route prefixes are the faces' settings");
	for (size_t i = 0; pc_config_setting_name(i, NULL) != NULL; i++) {
		const char *help = NULL;

		pc_config_setting_name(i, &help);
		cr_expect(help != NULL && help[0] != '\0');
	}
}

Test(config, values_are_parsed_and_checked)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };

	pc_config_defaults(&cfg);
	cr_expect_eq(pc_config_set(&cfg, "port", "9000", &ei), PC_OK);
	cr_expect_eq(cfg.port, 9000);
	cr_expect_eq(pc_config_set(&cfg, "port", "70000", &ei), PC_EINVAL);
	cr_expect_eq(pc_config_set(&cfg, "port", "12x", &ei), PC_EINVAL);
	cr_expect_eq(cfg.port, 9000, "a refused value leaves the setting as it was");
	cr_expect_eq(pc_config_set(&cfg, "access_log", "off", &ei), PC_OK);
	cr_expect(!cfg.access_log);
	cr_expect_eq(pc_config_set(&cfg, "access_log", "maybe", &ei), PC_EINVAL);
	cr_expect_eq(pc_config_set(&cfg, "algorithm", "none", &ei), PC_EINVAL);
	cr_expect_eq(pc_config_set(&cfg, "algorithm", "HS512", &ei), PC_OK);
	cr_expect_eq(pc_config_set(&cfg, "no_such_thing", "1", &ei), PC_ENOTFOUND);
	cr_expect_eq(pc_config_set(&cfg, "host", "a\nb", &ei), PC_EINVAL);
}

Test(config, uniform_or_short_secrets_are_refused)
{
	static const struct { const char *name, *value, *words; } weak[] = {
		{ "jwt_secret", "abababababababababababababababababab", "uniform" },
		{ "jwt_secret", "00000000000000000000000000000000000000000000", "uniform" },
		{ "webhook_secret", "short-secret", "16 bytes" },
		{ "webhook_secret", "aaaaaaaaaaaaaaaaaaaaaaaa", "uniform" },
	};
	struct pc_config cfg;
	struct pc_errinfo ei;
	size_t i;

	for (i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
		pc_config_defaults(&cfg);
		memset(&ei, 0, sizeof(ei));
		pc_config_set(&cfg, weak[i].name, weak[i].value, NULL);
		cr_expect_eq(pc_config_validate(&cfg, &ei), PC_EINVAL, "%s", weak[i].value);
		cr_expect_str_eq(ei.field, weak[i].name);
		cr_expect(strstr(ei.detail, weak[i].words) != NULL, "%s", ei.detail);
		cr_expect(strstr(ei.detail, weak[i].value) == NULL, "not echoed");
	}
	pc_config_defaults(&cfg);
	pc_config_set(&cfg, "webhook_secret", "0123456789abcdef", NULL);
	cr_expect_eq(pc_config_validate(&cfg, &ei), PC_OK);
}

Test(config, sqlite_synchronous_is_full_or_normal)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };

	pc_config_defaults(&cfg);
	cr_expect_str_eq(cfg.sqlite_synchronous, "full");
	cr_expect_eq(pc_config_set(&cfg, "sqlite_synchronous", "normal", &ei), PC_OK);
	cr_expect_neq(pc_config_set(&cfg, "sqlite_synchronous", "off", &ei), PC_OK);
}

Test(config, sqlite_mmap_mb_is_off_by_default_and_bounded)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };

	pc_config_defaults(&cfg);
	cr_expect_eq(cfg.sqlite_mmap_mb, 0);
	cr_expect_eq(pc_config_set(&cfg, "sqlite_mmap_mb", "1024", &ei), PC_OK);
	cr_expect_eq(cfg.sqlite_mmap_mb, 1024);
	cr_expect_neq(pc_config_set(&cfg, "sqlite_mmap_mb", "1025", &ei), PC_OK);
	cr_expect_neq(pc_config_set(&cfg, "sqlite_mmap_mb", "-1", &ei), PC_OK);
}

Test(config, short_secrets_are_refused)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };

	pc_config_defaults(&cfg);
	pc_config_set(&cfg, "jwt_secret", "too-short", NULL);
	cr_expect_eq(pc_config_validate(&cfg, &ei), PC_EINVAL);
	cr_expect(strstr(ei.detail, "32 bytes") != NULL);
	cr_expect_str_eq(ei.field, "jwt_secret");
	pc_config_set(&cfg, "jwt_secret", "0123456789abcdef0123456789abcdef", NULL);
	cr_expect_eq(pc_config_validate(&cfg, &ei), PC_OK);
}

/* Each row's check and each rule names the setting it refuses. */
Test(config, each_check_and_rule_names_its_setting)
{
	static const struct {
		const char *name, *value, *field;
	} bad[] = {
		{ "smtp_url", "http://mail.example:25", "smtp_url" },
		{ "smtp_password", "secret", "smtp_password" },
		{ "mail_from", "no address", "mail_from" },
		{ "mail_from", "Name <broken", "mail_from" },
		{ "mail_from", "Ren\xc3\xa9 <r@example.org>", "mail_from" },
		{ "reset_url", "javascript:alert(1)", "reset_url" },
		{ "verify_url", "https://x/\"><script>", "verify_url" },
		{ "webhook_url", "ftp://x/", "webhook_url" },
		{ "webhook_url", "https://hooks.example/x", "webhook_secret" },
		{ "mail_retry_base_seconds", "600", "mail_retry_base_seconds" },
		{ "password_min_length", "100", "password_min_length" },
		{ "bootstrap_admin_email", "admin@example.org", "bootstrap_admin_email" },
	};
	struct pc_config cfg;
	struct pc_errinfo ei;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pc_config_defaults(&cfg);
		memset(&ei, 0, sizeof(ei));
		pc_config_set(&cfg, "password_max_length", "64", NULL);
		cr_assert_eq(pc_config_set(&cfg, bad[i].name, bad[i].value, NULL), PC_OK);
		cr_assert_eq(pc_config_validate(&cfg, &ei), PC_EINVAL, "%s=%s", bad[i].name,
			     bad[i].value);
		cr_expect_str_eq(ei.field, bad[i].field, "%s=%s", bad[i].name, bad[i].value);
	}
	pc_config_defaults(&cfg);
	pc_config_set(&cfg, "smtp_url", "smtps://mail.example:465", NULL);
	pc_config_set(&cfg, "smtp_username", "me", NULL);
	pc_config_set(&cfg, "smtp_password", "secret", NULL);
	pc_config_set(&cfg, "mail_from", "Portcullis <no-reply@example.org>", NULL);
	pc_config_set(&cfg, "webhook_url", "https://hooks.example/x", NULL);
	pc_config_set(&cfg, "webhook_secret", "0123456789abcdef", NULL);
	cr_assert_eq(pc_config_validate(&cfg, &ei), PC_OK, "%s", ei.detail);
}

Test(config, a_layer_s_settings_go_through_every_source)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };
	const struct face_values *v;
	char path[] = "/tmp/pc_config_XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	bool listed = false;

	cr_assert_eq(config_layer_add(&face_layer, &ei), PC_OK, "%s", ei.detail);
	cr_assert_eq(config_layer_add(&face_layer, &ei), PC_OK, "registering twice is harmless");
	pc_config_defaults(&cfg);
	v = config_layer_get(&cfg, &face_layer);
	cr_assert_not_null(v);
	cr_expect_str_eq(v->prefix, "/t");
	cr_expect(v->secure);
	cr_expect_eq(v->depth, 3);
	cr_expect(pc_config_has("test_prefix") && pc_config_is_bool("test_secure"));
	cr_expect_str_eq(pc_config_get_str(&cfg, "test_prefix"), "/t");
	for (size_t i = 0; pc_config_setting_name(i, NULL) != NULL; i++)
		listed |= strcmp(pc_config_setting_name(i, NULL), "test_depth") == 0;
	cr_expect(listed, "--help lists the layer's settings");

	fprintf(f, "test_depth = 5\ntest_prefix = /from-ini\n");
	fclose(f);
	cr_assert_eq(pc_config_load_ini(&cfg, path, &ei), PC_OK, "%s", ei.detail);
	unlink(path);
	setenv("PORTCULLIS_TEST_DEPTH", "7", 1);
	cr_assert_eq(pc_config_load_env(&cfg, &ei), PC_OK);
	unsetenv("PORTCULLIS_TEST_DEPTH");
	cr_assert_eq(pc_config_set(&cfg, "test_secure", "off", &ei), PC_OK);
	cr_expect_eq(v->depth, 7, "environment over file");
	cr_expect_str_eq(v->prefix, "/from-ini");
	cr_expect(!v->secure);
	cr_expect_eq(pc_config_set(&cfg, "test_depth", "10", &ei), PC_EINVAL, "range");
	cr_expect_eq(pc_config_set(&cfg, "test_same", "strict", &ei), PC_EINVAL, "choices");

	cr_assert_eq(pc_config_validate(&cfg, &ei), PC_OK, "%s", ei.detail);
	pc_config_set(&cfg, "test_same", "none", NULL);
	cr_expect_eq(pc_config_validate(&cfg, &ei), PC_EINVAL, "the layer's rule");
	cr_expect_str_eq(ei.field, "test_same");
	pc_config_set(&cfg, "test_same", "lax", NULL);
	pc_config_set(&cfg, "test_prefix", "t/", NULL);
	cr_expect_eq(pc_config_validate(&cfg, &ei), PC_EINVAL, "the row's check");
	cr_expect_str_eq(ei.field, "test_prefix");
}

Test(config, a_layer_cannot_take_a_name_already_declared)
{
	static const struct config_row rows[] = {
		CONFIG_ROW_INT(struct face_values, "port", depth, "1", 1, 2, "clash"),
	};
	static const struct config_layer clash = {
		"clash", rows, 1, sizeof(struct face_values), NULL,
	};
	static const struct config_row outside[] = {
		CONFIG_ROW_INT(struct face_values, "test_outside", depth, "1", 1, 2, "outside"),
	};
	static const struct config_layer small = { "small", outside, 1, 4, NULL };
	struct pc_errinfo ei = { 0 };

	cr_expect_eq(config_layer_add(&clash, &ei), PC_EEXISTS);
	cr_expect_str_eq(ei.field, "port");
	cr_expect_eq(config_layer_add(&small, &ei), PC_EINVAL);
	cr_expect_null(config_layer_get(NULL, &clash), "not registered");
}

Test(config, ini_then_environment)
{
	char path[] = "/tmp/pc_config_XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };

	fprintf(f, "[portcullis]\nlifetime_seconds = 120\nport = 9100\n");
	fclose(f);
	pc_config_defaults(&cfg);
	cr_assert_eq(pc_config_load_ini(&cfg, path, &ei), PC_OK, "%s", ei.detail);
	cr_expect_eq(cfg.lifetime_seconds, 120);
	setenv("PORTCULLIS_LIFETIME_SECONDS", "60", 1);
	cr_assert_eq(pc_config_load_env(&cfg, &ei), PC_OK);
	unsetenv("PORTCULLIS_LIFETIME_SECONDS");
	cr_expect_eq(cfg.lifetime_seconds, 60, "environment overrides the file");
	cr_expect_eq(cfg.port, 9100);

	f = fopen(path, "w");
	fprintf(f, "lifetime_seconds = soon\n");
	fclose(f);
	cr_expect_eq(pc_config_load_ini(&cfg, path, &ei), PC_EINVAL);
	cr_expect(strstr(ei.detail, ":1:") != NULL, "the message names the line: %s", ei.detail);
	unlink(path);
	cr_expect_eq(pc_config_load_ini(&cfg, path, &ei), PC_ENOTFOUND);
}

/* ---- portcullis config: values as text, secrets masked ---------------------------------- */

static void text_of(const struct pc_config *cfg, const char *name, bool masked, char *out,
		    size_t outsz)
{
	struct config_view v;

	for (size_t i = 0; config_setting_at(cfg, i, &v); i++) {
		if (strcmp(v.name, name) == 0) {
			config_value_text(v.name, v.row, v.field, masked, out, outsz);
			return;
		}
	}
	cr_assert_fail("no setting %s", name);
}

Test(config, masking_hides_each_secret_and_url_password)
{
	static const struct {
		const char *name, *value, *shown;
	} cases[] = {
		{ "jwt_secret", "jwt-secret-0123456789abcdefghijklmnopq", "********" },
		{ "smtp_password", "pw-in-clear", "********" },
		{ "bootstrap_admin_password", "admin-pw-1", "********" },
		{ "webhook_secret", "webhook-secret-0123456789", "********" },
		{ "totp_key", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		  "********" },
		{ "oauth_corp_client_secret", "client-secret-x", "********" },
		{ "database_url", "postgres://u:pw1@h:5432/db?sslmode=require&password=pw2",
		  "postgres://u:********@h:5432/db?sslmode=require&password=********" },
		{ "database_url", "postgresql://u@h/db?Password=pw3#x",
		  "postgresql://u@h/db?password=********#x" },
		{ "database_url", "sqlite:///p.db", "sqlite:///p.db" },
		{ "smtp_url", "smtps://me:a:b@mail:465", "smtps://me:********@mail:465" },
		{ "webhook_url", "https://h.example/x?y=1", "https://h.example/x?y=1" },
		{ "smtp_username", "mailer", "mailer" },
		{ "oauth_corp_client_secret_file", "/etc/secret", "/etc/secret" },
		{ "jwt_secret", "", "" },
	};
	struct pc_config *cfg = malloc(sizeof(*cfg));
	char text[2048];

	pc_config_defaults(cfg);
	cr_assert_eq(pc_config_set(cfg, "oauth_providers", "corp", NULL), PC_OK);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(pc_config_set(cfg, cases[i].name, cases[i].value, NULL), PC_OK, "%s",
			     cases[i].name);
		text_of(cfg, cases[i].name, true, text, sizeof(text));
		cr_assert_str_eq(text, cases[i].shown, "%s", cases[i].name);
		text_of(cfg, cases[i].name, false, text, sizeof(text));
		cr_assert_str_eq(text, cases[i].value, "%s unmasked", cases[i].name);
	}
	cr_assert(config_is_secret("metrics_token") && config_is_secret("jwt_secret"));
	cr_assert(!config_is_secret("password_min_length") && !config_is_secret("jwt_private_key_file"));
	free(cfg);
}

/* ---- the live configuration (SIGHUP) -------------------------------------------------- */

struct said {
	char names[512];
	int applied, restart;
};

static void say(void *arg, const char *name, bool applied)
{
	struct said *s = arg;
	size_t n = strlen(s->names);

	snprintf(s->names + n, sizeof(s->names) - n, "%s ", name);
	if (applied)
		s->applied++;
	else
		s->restart++;
}

Test(config, live_copies_are_published_whole_and_kept)
{
	struct pc_config *base = malloc(sizeof(*base)), *next = malloc(sizeof(*next));
	const struct pc_config *first;
	const char *const reloadable[] = { "rate_limit_login_ip", "reset_url" };
	struct said s = { .names = "" };

	pc_config_defaults(base);
	cr_assert_eq(config_live(base), base, "nothing published: the base itself");
	memcpy(next, base, sizeof(*next));
	cr_assert_eq(pc_config_set(next, "rate_limit_login_ip", "7", NULL), PC_OK);
	cr_assert_eq(pc_config_set(next, "port", "9001", NULL), PC_OK);
	cr_assert_eq(pc_config_set(next, "jwt_secret", "jwt-secret-0123456789abcdefghijklmnopq", NULL),
		     PC_OK);
	{
		struct pc_config *merged = malloc(sizeof(*merged));

		memcpy(merged, base, sizeof(*merged));
		config_reload_merge(merged, next, reloadable, 2, say, &s);
		cr_assert_eq(merged->rate_limit_login_ip, 7);
		cr_assert_eq(merged->port, 8000, "not reloadable: kept");
		cr_assert_str_eq(merged->jwt_secret, "");
		cr_assert_eq(s.applied, 1);
		cr_assert_eq(s.restart, 2);
		cr_assert(strstr(s.names, "port ") != NULL && strstr(s.names, "jwt_secret ") != NULL);
		cr_assert_eq(config_live_publish(base, merged), PC_OK);
		free(merged);
	}
	first = config_live(base);
	cr_assert_neq(first, base);
	cr_assert_eq(first->rate_limit_login_ip, 7);
	cr_assert_eq(base->rate_limit_login_ip, 60, "the base never changes");
	/* a second publication: the first copy stays readable until forget */
	cr_assert_eq(pc_config_set(next, "rate_limit_login_ip", "8", NULL), PC_OK);
	cr_assert_eq(config_live_publish(base, next), PC_OK);
	cr_assert_eq(config_live(base)->rate_limit_login_ip, 8);
	cr_assert_eq(first->rate_limit_login_ip, 7);
	/* another base is not touched */
	cr_assert_eq(config_live(next), next);
	config_live_forget(base);
	cr_assert_eq(config_live(base), base);
	free(base);
	free(next);
}
