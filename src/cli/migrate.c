/*
 * migrate.c - `portcullis migrate`: apply pending migrations and exit.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void migrate_help(void)
{
	printf("usage: portcullis migrate [--database-url URL] [--config FILE]\n\n"
	       "Applies the pending numbered migrations to the database and exits.\n"
	       "serve also applies them at start-up.\n");
}

int cli_migrate(int argc, char **argv)
{
	struct pc_errinfo ei = { 0 };
	struct pc_config cfg;
	int applied = 0, rc;
	enum pc_err err;

	rc = cli_settings_only(argc, argv, "migrate", migrate_help, &cfg);
	if (rc >= 0)
		return rc;
	err = pc_migrate(&cfg, &applied, &ei);
	if (err != PC_OK) {
		cli_report("migrate", err, &ei);
		return CLI_EXIT_FAIL;
	}
	printf("%d migration%s applied\n", applied, applied == 1 ? "" : "s");
	return CLI_EXIT_OK;
}
