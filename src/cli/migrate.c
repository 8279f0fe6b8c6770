/*
 * migrate.c - `portcullis migrate`: apply pending migrations and exit.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cli_migrate(int argc, char **argv)
{
	struct pc_errinfo ei = { 0 };
	struct pc_config cfg;
	char *rest[CLI_ARGS_MAX];
	int nrest, applied = 0, rc;
	enum pc_err err;

	rc = cli_config_load(argc, argv, &cfg, rest, &nrest);
	if (rc != CLI_EXIT_OK)
		return rc;
	for (int i = 1; i < nrest; i++) {
		if (strcmp(rest[i], "--help") == 0 || strcmp(rest[i], "-h") == 0) {
			printf("usage: portcullis migrate [--database-url URL] [--config FILE]\n\n"
			       "Applies the pending numbered migrations to the database and exits.\n"
			       "serve also applies them at start-up.\n");
			return CLI_EXIT_OK;
		}
		fprintf(stderr, "portcullis: migrate: unknown option '%s'\n", rest[i]);
		return CLI_EXIT_USAGE;
	}
	err = pc_migrate(&cfg, &applied, &ei);
	if (err != PC_OK) {
		cli_report("migrate", err, &ei);
		return CLI_EXIT_FAIL;
	}
	printf("%d migration%s applied\n", applied, applied == 1 ? "" : "s");
	return CLI_EXIT_OK;
}
