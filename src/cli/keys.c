/*
 * keys.c - `portcullis keys rotate|list`: the published signing keys
 * (core/keys.c), with algorithm EdDSA, ES256 or RS256.
 *
 *   keys rotate  stores a new key, which signs from then on; the one it
 *                replaces stays published and accepted until the last
 *                token it signed has expired (lifetime_seconds), then is
 *                dropped. Prints the new kid. A running server picks it
 *                up within jwt_keys_reload_seconds.
 *   keys list    prints kid and alg of each published key, the one that
 *                signs first.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"

static void keys_help(FILE *out)
{
	fprintf(out,
		"usage: portcullis keys rotate\n"
		"       portcullis keys list\n\n"
		"With --algorithm EdDSA, ES256 or RS256 and no jwt_private_key_file: rotate\n"
		"adds a new signing key (the old one stays published until its tokens expire),\n"
		"list prints the published keys. Takes the same settings as serve.\n");
}

static int keys_rotate_cmd(struct pc_ctx *ctx)
{
	char kid[64];
	enum pc_err err = keys_rotate(ctx, kid);

	if (err == PC_EINVAL) {
		fprintf(stderr, "portcullis: keys rotate: needs algorithm EdDSA, ES256 or RS256 "
				"and no jwt_private_key_file\n");
		return CLI_EXIT_USAGE;
	}
	if (err != PC_OK) {
		cli_report("keys rotate", err, NULL);
		return CLI_EXIT_FAIL;
	}
	printf("%s\n", kid);
	return CLI_EXIT_OK;
}

static int keys_list_cmd(struct pc_ctx *ctx)
{
	json_t *jwks = keys_jwks_new(ctx), *k;
	size_t i;

	if (jwks == NULL) {
		cli_report("keys list", PC_ENOMEM, NULL);
		return CLI_EXIT_FAIL;
	}
	json_array_foreach(json_object_get(jwks, "keys"), i, k) {
		printf("%s\t%s\n", json_string_value(json_object_get(k, "kid")),
		       json_string_value(json_object_get(k, "alg")));
	}
	json_decref(jwks);
	return CLI_EXIT_OK;
}

int cli_keys(int argc, char **argv)
{
	struct pc_errinfo ei = { 0 };
	struct pc_config cfg;
	struct pc_ctx *ctx;
	char *rest[CLI_ARGS_MAX];
	int nrest, rc;
	enum pc_err err;

	rc = cli_config_load(argc, argv, &cfg, rest, &nrest);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (nrest == 2 && (strcmp(rest[1], "--help") == 0 || strcmp(rest[1], "-h") == 0)) {
		keys_help(stdout);
		return CLI_EXIT_OK;
	}
	if (nrest != 2 || (strcmp(rest[1], "rotate") != 0 && strcmp(rest[1], "list") != 0)) {
		keys_help(stderr);
		return CLI_EXIT_USAGE;
	}
	cfg.access_log = false;
	err = cli_ctx_open(&cfg, &ctx, &ei);
	if (err != PC_OK) {
		cli_report("cannot open", err, &ei);
		return cli_exit_for(err, &ei);
	}
	rc = strcmp(rest[1], "rotate") == 0 ? keys_rotate_cmd(ctx) : keys_list_cmd(ctx);
	pc_ctx_free(ctx);
	return rc;
}
