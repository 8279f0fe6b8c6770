/* The settings table: defaults, each source, precedence and validation. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portcullis.h"

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
	cr_expect(cfg.cookie_secure);
	cr_expect(cfg.cookie_httponly);
	cr_expect(!cfg.requires_verification);
	cr_expect_str_eq(cfg.auth_prefix, "/auth");
	cr_expect_str_eq(cfg.users_prefix, "/users");
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
	cr_expect_eq(pc_config_set(&cfg, "cookie_secure", "off", &ei), PC_OK);
	cr_expect(!cfg.cookie_secure);
	cr_expect_eq(pc_config_set(&cfg, "cookie_secure", "maybe", &ei), PC_EINVAL);
	cr_expect_eq(pc_config_set(&cfg, "algorithm", "none", &ei), PC_EINVAL);
	cr_expect_eq(pc_config_set(&cfg, "algorithm", "HS512", &ei), PC_OK);
	cr_expect_eq(pc_config_set(&cfg, "no_such_thing", "1", &ei), PC_ENOTFOUND);
	cr_expect_eq(pc_config_set(&cfg, "host", "a\nb", &ei), PC_EINVAL);
}

Test(config, short_secrets_and_bad_prefixes_are_refused)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };

	pc_config_defaults(&cfg);
	pc_config_set(&cfg, "jwt_secret", "too-short", NULL);
	cr_expect_eq(pc_config_validate(&cfg, &ei), PC_EINVAL);
	cr_expect(strstr(ei.detail, "32 bytes") != NULL);
	pc_config_set(&cfg, "jwt_secret", "0123456789abcdef0123456789abcdef", NULL);
	cr_expect_eq(pc_config_validate(&cfg, &ei), PC_OK);
	pc_config_set(&cfg, "auth_prefix", "auth/", NULL);
	cr_expect_eq(pc_config_validate(&cfg, &ei), PC_EINVAL);
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
