/*
 * config.c - `portcullis config [--config FILE] [--<setting> VALUE ...]
 * [--json]`: the configuration serve would run with, one line per setting:
 * its effective value and where it came from (flag, env, file, default),
 * secrets masked (config_value_text). A configuration serve would refuse
 * is refused the same way (the reason, exit status 2).
 *
 * The source of a value is the highest source that names the setting, in
 * the order the CLI applies them (cli_config_load): a flag on the command
 * line, a PORTCULLIS_* variable, a key of the --config file, else the
 * default. A source that names a setting counts even when its value equals
 * the default.
 */
#include <ini.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "faces/face.h"

static void config_help(void)
{
	printf("usage: portcullis config [--config FILE] [--<setting> VALUE ...] [--json]\n\n"
	       "Prints the effective configuration: each setting, its value and its source\n"
	       "(flag, env, file or default); secrets (*_secret, *_password, *_token, *_key)\n"
	       "are masked, and so is the password of a URL (database_url, smtp_url, ...).\n"
	       "--json: a JSON array of {\"name\", \"value\", \"source\"}. Refuses (exit 2) a\n"
	       "configuration that serve would refuse.\n");
}

/* The keys of the INI file, each once, as a NUL-separated list. */
struct ini_keys {
	char *names;
	size_t len, cap;
	bool failed;
};

static bool keys_has(const struct ini_keys *k, const char *name)
{
	for (size_t i = 0; i < k->len; i += strlen(k->names + i) + 1) {
		if (strcmp(k->names + i, name) == 0)
			return true;
	}
	return false;
}

static int keys_add(void *user, const char *section, const char *name, const char *value)
{
	struct ini_keys *k = user;
	size_t n = strlen(name) + 1;

	(void)section;
	(void)value;
	if (keys_has(k, name))
		return 1;
	if (k->len + n > k->cap) {
		size_t cap = (k->cap + n) * 2;
		char *p = cap <= 1 << 20 ? realloc(k->names, cap) : NULL;

		if (p == NULL) {
			k->failed = true;
			return 0;
		}
		k->names = p;
		k->cap = cap;
	}
	memcpy(k->names + k->len, name, n);
	k->len += n;
	return 1;
}

/* The --config FILE of argv, else $PORTCULLIS_CONFIG, as cli_config_load
 * finds it; NULL: none. */
static const char *config_path_of(int argc, char **argv)
{
	const char *path = getenv("PORTCULLIS_CONFIG");

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[i + 1];
	}
	return path != NULL && path[0] != '\0' ? path : NULL;
}

/* Whether a flag of argv names the setting: --name-with-dashes, alone or
 * with =VALUE. */
static bool flag_names(int argc, char **argv, const char *name)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t n = strlen(name), j;

		if (strncmp(a, "--", 2) != 0)
			continue;
		a += 2;
		for (j = 0; j < n; j++) {
			if (a[j] != (name[j] == '_' ? '-' : name[j]) && a[j] != name[j])
				break;
		}
		if (j == n && (a[n] == '\0' || a[n] == '='))
			return true;
	}
	return false;
}

static const char *config_source(int argc, char **argv, const struct ini_keys *file,
				 const char *name)
{
	char var[128];
	size_t n = (size_t)snprintf(var, sizeof(var), "PORTCULLIS_%s", name);

	if (flag_names(argc, argv, name))
		return "flag";
	for (size_t i = 0; i < n && i < sizeof(var); i++)
		var[i] = ascii_upper(var[i]);
	if (getenv(var) != NULL)
		return "env";
	if (keys_has(file, name))
		return "file";
	return "default";
}

static json_t *config_json_value(const struct config_view *v, const char *text)
{
	switch (v->row->type) {
	case CONFIG_INT:
		return json_integer(*(const int *)v->field);
	case CONFIG_BOOL:
		return json_boolean(*(const bool *)v->field);
	case CONFIG_STR:
		break;
	}
	return json_string(text);
}

int cli_config(int argc, char **argv)
{
	struct pc_config *cfg = malloc(sizeof(*cfg));
	struct ini_keys file = { 0 };
	struct pc_errinfo ei = { 0 };
	char *rest[CLI_ARGS_MAX], text[PC_CFG_STR * 3];
	struct config_view v;
	struct pc_router *routes;
	const char *path;
	json_t *arr = NULL;
	bool json = false;
	int nrest, rc = CLI_EXIT_OK;
	enum pc_err err;

	if (cfg == NULL)
		return CLI_EXIT_FAIL;
	rc = cli_config_load(argc, argv, cfg, rest, &nrest);
	for (int i = 1; rc == CLI_EXIT_OK && i < nrest; i++) {
		if (strcmp(rest[i], "--json") == 0) {
			json = true;
		} else if (strcmp(rest[i], "--help") == 0 || strcmp(rest[i], "-h") == 0) {
			config_help();
			goto out;
		} else {
			fprintf(stderr, "portcullis: config: unknown option '%s' (see portcullis "
				"config --help)\n", rest[i]);
			rc = CLI_EXIT_USAGE;
		}
	}
	if (rc != CLI_EXIT_OK)
		goto out;
	cli_warn_unknown_env();
	/* what serve checks before it opens anything */
	err = pc_config_validate(cfg, &ei);
	if (err == PC_OK)
		err = router_new(cfg, faces_all, faces_count, &routes, &ei);
	if (err != PC_OK) {
		cli_report("config", err, &ei);
		rc = cli_exit_for(err, &ei);
		goto out;
	}
	router_free(routes);
	path = config_path_of(argc, argv);
	if (path != NULL && (ini_parse(path, keys_add, &file) != 0 || file.failed)) {
		fprintf(stderr, "portcullis: config: cannot read %s again\n", path);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	if (json && (arr = json_array()) == NULL) {
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	for (size_t i = 0; config_setting_at(cfg, i, &v); i++) {
		const char *src = config_source(argc, argv, &file, v.name);

		config_value_text(v.name, v.row, v.field, true, text, sizeof(text));
		if (!json) {
			printf("%-36s %-8s %s\n", v.name, src, text);
			continue;
		}
		if (json_array_append_new(arr, json_pack("{s:s, s:o, s:s}", "name", v.name, "value",
							 config_json_value(&v, text), "source",
							 src)) != 0) {
			rc = CLI_EXIT_FAIL;
			goto out;
		}
	}
	if (json) {
		char *s = json_dumps(arr, JSON_INDENT(2));

		if (s == NULL) {
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		printf("%s\n", s);
		free(s);
	}
out:
	json_decref(arr);
	free(file.names);
	crypto_wipe(cfg, sizeof(*cfg));
	free(cfg);
	return rc;
}
