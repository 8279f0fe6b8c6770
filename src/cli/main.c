/*
 * main.c - the portcullis command: a table of subcommands (git's commands[]
 * style) and the configuration flags every subcommand shares.
 *
 * Flags: every setting NAME is --name-with-dashes VALUE or --name=VALUE;
 * boolean settings also take a bare flag for true. --config FILE names an
 * INI file. Precedence: flag > PORTCULLIS_* environment > INI > default.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "faces/face.h"

static const struct cli_cmd commands[] = {
	{ "serve", cli_serve, "run the HTTP server" },
	{ "migrate", cli_migrate, "apply pending database migrations and exit" },
	{ "user", cli_user, "create and list users (user create, user list)" },
	{ "routes", cli_routes, "print the mounted routes: method, path, face, router" },
	{ "audit", cli_audit, "the audit log of security events (--user-id, --after, --json)" },
	{ "keys", cli_keys, "signing keys of EdDSA/ES256/RS256 tokens (keys rotate, keys list)" },
	{ "config", cli_config, "print the effective configuration: values, sources, secrets masked" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: portcullis <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'portcullis <command> --help' describes a command and its settings.\n");
}

int cli_settings_only(int argc, char **argv, const char *cmd, void (*help)(void),
		      struct pc_config *cfg)
{
	char *rest[CLI_ARGS_MAX];
	int nrest, rc = cli_config_load(argc, argv, cfg, rest, &nrest);

	if (rc != CLI_EXIT_OK)
		return rc;
	for (int i = 1; i < nrest; i++) {
		if (strcmp(rest[i], "--help") == 0 || strcmp(rest[i], "-h") == 0) {
			help();
			return CLI_EXIT_OK;
		}
		fprintf(stderr, "portcullis: %s: unknown option '%s' (see portcullis %s --help)\n",
			cmd, rest[i], cmd);
		return CLI_EXIT_USAGE;
	}
	return -1;
}

int cli_exit_for(enum pc_err err, const struct pc_errinfo *ei)
{
	if (err == PC_EEXISTS && ei->code == PC_V_ROUTE) /* prefixes that make routes collide */
		return CLI_EXIT_USAGE;
	if (err != PC_EINVAL)
		return CLI_EXIT_FAIL;
	switch (ei->code) {
	case PC_V_IO:
	case PC_V_STORE:
	case PC_V_INTERNAL:
	case PC_V_LISTEN:
		return CLI_EXIT_FAIL;
	default:
		return CLI_EXIT_USAGE;
	}
}

void cli_report(const char *what, enum pc_err err, const struct pc_errinfo *ei)
{
	char line[320];

	if (ei != NULL && (ei->detail[0] != '\0' || ei->code != PC_V_NONE))
		fprintf(stderr, "portcullis: %s: %s: %s\n", what, pc_strerror(err),
			pc_errinfo_describe(ei, line, sizeof(line)));
	else
		fprintf(stderr, "portcullis: %s: %s\n", what, pc_strerror(err));
}

/* SQLite's URL is sqlite:///rel.db or sqlite:////abs.db, maybe with a
 * ?query: a command that only uses a database refuses one whose file is
 * missing, where SQLite would make a new, empty one. */
enum pc_err cli_ctx_open(struct pc_config *cfg, struct pc_ctx **out, struct pc_errinfo *ei)
{
	static const char scheme[] = "sqlite:///";
	char path[sizeof(cfg->database_url)];
	struct stat st;
	size_t n;

	cfg->access_log = false;
	cfg->quiet_dev_defaults = true;
	if (strncmp(cfg->database_url, scheme, sizeof(scheme) - 1) == 0) {
		const char *p = cfg->database_url + sizeof(scheme) - 1;

		n = strcspn(p, "?");
		memcpy(path, p, n);
		path[n] = '\0';
		if (n > 0 && stat(path, &st) != 0 && errno == ENOENT) {
			pc_errinfo_setf(ei, "config", "database_url", PC_V_IO,
					"database file %s does not exist (portcullis migrate creates it)",
					path);
			return PC_ENOTFOUND;
		}
	}
	return pc_ctx_open(cfg, out, ei);
}

/* Levenshtein distance of a and b (each under 96 bytes), at most 99. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), row[96], prev, tmp;

	if (na >= 96 || nb >= 96)
		return 99;
	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			tmp = row[j];
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[nb];
}

extern char **environ;

void cli_warn_unknown_env(void)
{
	static const char pre[] = "PORTCULLIS_";
	char name[96];

	for (char **e = environ; e != NULL && *e != NULL; e++) {
		size_t n = strcspn(*e, "="), best_d = 99;
		const char *best = NULL, *s, *help;
		char hint[160];

		if (strncmp(*e, pre, sizeof(pre) - 1) != 0)
			continue;
		n -= sizeof(pre) - 1;
		if (n == 0 || n >= sizeof(name)) {
			log_warn("config", "an environment variable PORTCULLIS_... names no "
				 "setting and is ignored");
			continue;
		}
		for (size_t i = 0; i < n; i++)
			name[i] = ascii_lower((*e)[sizeof(pre) - 1 + i]);
		name[n] = '\0';
		if (strcmp(name, "config") == 0 || pc_config_has(name))
			continue;
		for (size_t i = 0; (s = pc_config_setting_name(i, &help)) != NULL; i++) {
			size_t d = edit_distance(name, s);

			if (d < best_d) {
				best_d = d;
				best = s;
			}
		}
		/* the variable's name only: its value may be a secret */
		hint[0] = '\0';
		if (best != NULL && best_d <= 3 && best_d * 3 <= n) {
			char var[128];
			size_t m = (size_t)snprintf(var, sizeof(var), "PORTCULLIS_%s", best);

			for (size_t i = 0; i < m && i < sizeof(var); i++)
				var[i] = ascii_upper(var[i]);
			snprintf(hint, sizeof(hint), " (did you mean %s?)", var);
		}
		log_warn("config", "environment variable %.*s names no setting and is ignored%s",
			 (int)(n + sizeof(pre) - 1), *e, hint);
	}
}

static bool is_bool_word(const char *s)
{
	bool ignored;

	return pc_config_parse_bool(s, &ignored) == PC_OK;
}

/* "--cookie-secure" -> "cookie_secure" in out; false if arg is not a long flag. */
static bool flag_to_name(const char *arg, char *out, size_t outsz, const char **inline_value)
{
	const char *eq;
	size_t n;

	*inline_value = NULL;
	if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
		return false;
	arg += 2;
	eq = strchr(arg, '=');
	n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	if (n + 1 > outsz)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = arg[i] == '-' ? '_' : arg[i];
	out[n] = '\0';
	if (eq != NULL)
		*inline_value = eq + 1;
	return true;
}

int cli_config_load(int argc, char **argv, struct pc_config *cfg, char **rest, int *nrest)
{
	struct pc_errinfo ei = { 0 };
	const char *config_path = getenv("PORTCULLIS_CONFIG");
	char name[96];
	enum pc_err err;

	/* Pass 1: the config file, wherever it is named. */
	for (int i = 1; i < argc; i++) {
		const char *v;

		if (flag_to_name(argv[i], name, sizeof(name), &v) && strcmp(name, "config") == 0) {
			if (v == NULL && i + 1 >= argc) {
				fprintf(stderr, "portcullis: --config needs a file\n");
				return CLI_EXIT_USAGE;
			}
			config_path = v != NULL ? v : argv[i + 1];
		}
	}
	err = faces_settings_add(&ei); /* the faces' own settings, before any source */
	if (err != PC_OK) {
		cli_report("settings", err, &ei);
		return CLI_EXIT_FAIL;
	}
	pc_config_defaults(cfg);
	if (config_path != NULL && config_path[0] != '\0') {
		err = pc_config_load_ini(cfg, config_path, &ei);
		if (err != PC_OK) {
			cli_report("config", err, &ei);
			return CLI_EXIT_USAGE;
		}
	}
	err = pc_config_load_env(cfg, &ei);
	if (err != PC_OK) {
		cli_report("environment", err, &ei);
		return CLI_EXIT_USAGE;
	}
	/* Pass 2: setting flags, in order; everything else is kept. */
	*nrest = 0;
	rest[(*nrest)++] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *v;

		if (!flag_to_name(argv[i], name, sizeof(name), &v) ||
		    (strcmp(name, "config") != 0 && !pc_config_has(name))) {
			rest[(*nrest)++] = argv[i];
			continue;
		}
		if (v == NULL) {
			if (pc_config_is_bool(name) && (i + 1 >= argc || !is_bool_word(argv[i + 1])))
				v = "true";
			else if (i + 1 < argc)
				v = argv[++i];
			else {
				fprintf(stderr, "portcullis: %s needs a value\n", argv[i]);
				return CLI_EXIT_USAGE;
			}
		}
		if (strcmp(name, "config") == 0)
			continue;
		err = pc_config_set(cfg, name, v, &ei);
		if (err != PC_OK) {
			cli_report("option", err, &ei);
			return CLI_EXIT_USAGE;
		}
	}
	return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("portcullis %s\n", PC_VERSION);
		return CLI_EXIT_OK;
	}
	if (argc > CLI_ARGS_MAX) {
		fprintf(stderr, "portcullis: too many arguments\n");
		return CLI_EXIT_USAGE;
	}
	/* A command's stderr is for a person: what the core logs there is text,
	 * like the command's own messages. serve sets its log from its settings. */
	if (log_configure(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL, NULL, 0) != PC_OK)
		return CLI_EXIT_FAIL;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "portcullis: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
