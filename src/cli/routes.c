/*
 * routes.c - `portcullis routes`: the route table the configuration mounts,
 * one line per route (method, path, face, router), sorted by path. The same
 * check as serve's start-up: a collision fails with both routes named.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "faces/face.h"

static void routes_print(const char *method, const char *path, const char *face,
			 const char *router, void *arg)
{
	(void)arg;
	printf("%-7s %-40s %-14s %s\n", method, path, face, router);
}

static void routes_help(void)
{
	printf("usage: portcullis routes [--config FILE] [--<setting> VALUE ...]\n\n"
	       "Prints the routes the configuration mounts: method, path, face and\n"
	       "router, sorted by path. Fails, naming both, when two routes collide.\n");
}

int cli_routes(int argc, char **argv)
{
	struct pc_errinfo ei = { 0 };
	struct pc_config cfg;
	struct pc_router *r;
	int rc;
	enum pc_err err;

	rc = cli_settings_only(argc, argv, "routes", routes_help, &cfg);
	if (rc >= 0)
		return rc;
	err = router_new(&cfg, faces_all, faces_count, &r, &ei);
	if (err != PC_OK) {
		cli_report("routes", err, &ei);
		return cli_exit_for(err, &ei);
	}
	printf("%-7s %-40s %-14s %s\n", "METHOD", "PATH", "FACE", "ROUTER");
	err = router_each(r, routes_print, NULL);
	router_free(r);
	if (err != PC_OK) {
		cli_report("routes", err, NULL);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
