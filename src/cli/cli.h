/*
 * cli.h - what the subcommands share: the command table's entry type, and
 * loading the configuration from --config, the environment and flags.
 */
#ifndef PC_CLI_H
#define PC_CLI_H

#include "portcullis.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1  /* the command ran and failed */
#define CLI_EXIT_USAGE 2 /* bad arguments */
#define CLI_ARGS_MAX 256 /* arguments a command line may hold */

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
	const char *summary;
};

/* Builds cfg from defaults < --config INI < PORTCULLIS_* < setting flags.
 * Arguments that are not settings are kept, in order, in rest[0..*nrest)
 * (rest must hold argc entries). Returns CLI_EXIT_OK or CLI_EXIT_USAGE after
 * printing the reason. */
int cli_config_load(int argc, char **argv, struct pc_config *cfg, char **rest, int *nrest);

/* For a command that takes settings and --help only: cli_config_load, then
 * --help/-h prints help() and an unknown argument is refused. Returns -1
 * when the command should go on, else the exit status to return. */
int cli_settings_only(int argc, char **argv, const char *cmd, void (*help)(void),
		      struct pc_config *cfg);

/* The exit status of a failure: CLI_EXIT_USAGE for a setting or argument
 * that cannot be right (PC_EINVAL on a value, routes the settings make
 * collide), CLI_EXIT_FAIL when something
 * could not be done (a database or file that cannot be opened, the store, a
 * bug). */
int cli_exit_for(enum pc_err err, const struct pc_errinfo *ei);
/* Prints "portcullis: <what>: <the error>: <ei described>" to stderr. */
void cli_report(const char *what, enum pc_err err, const struct pc_errinfo *ei);

/* pc_ctx_open for a command other than serve and migrate: no access log,
 * no development-default warnings, and a sqlite:// URL whose file is
 * missing is refused (PC_ENOTFOUND, ei says which file) instead of made. */
enum pc_err cli_ctx_open(struct pc_config *cfg, struct pc_ctx **out, struct pc_errinfo *ei);
/* portcullis user import (import.c); n, a: the arguments after "import". */
int cli_user_import(struct pc_config *cfg, int n, char **a);

/* One warning on stderr for each PORTCULLIS_* variable of the environment
 * that names no setting (PORTCULLIS_CONFIG aside), with the nearest
 * setting's variable when one is close; never the value. serve and config. */
void cli_warn_unknown_env(void);

int cli_config(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_migrate(int argc, char **argv);
int cli_user(int argc, char **argv);
int cli_routes(int argc, char **argv);
int cli_keys(int argc, char **argv);
int cli_audit(int argc, char **argv);

#endif /* PC_CLI_H */
