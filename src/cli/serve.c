/*
 * serve.c - `portcullis serve`: open the core, mount the faces, listen until
 * SIGINT or SIGTERM, then stop cleanly (in-flight requests finish).
 *
 * Signals are blocked in every thread (the mask is inherited) and taken by
 * sigwait here, so no handler runs inside library code.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "faces/face.h"

static void serve_help(void)
{
	printf("usage: portcullis serve [--config FILE] [--<setting> VALUE ...]\n\n"
	       "Runs the HTTP server. With no configuration: SQLite file ./portcullis.db,\n"
	       "http://127.0.0.1:8000, a generated JWT secret kept in the database.\n\n");
	pc_config_print_help(stdout);
}

int cli_serve(int argc, char **argv)
{
	struct pc_errinfo ei = { 0 };
	struct pc_config cfg;
	struct pc_server *server;
	struct pc_ctx *ctx;
	char *rest[CLI_ARGS_MAX];
	int nrest, rc, sig;
	sigset_t set;
	enum pc_err err;

	rc = cli_config_load(argc, argv, &cfg, rest, &nrest);
	if (rc != CLI_EXIT_OK)
		return rc;
	for (int i = 1; i < nrest; i++) {
		if (strcmp(rest[i], "--help") == 0 || strcmp(rest[i], "-h") == 0) {
			serve_help();
			return CLI_EXIT_OK;
		}
		fprintf(stderr, "portcullis: serve: unknown option '%s' (see portcullis serve --help)\n",
			rest[i]);
		return CLI_EXIT_USAGE;
	}
	/* Fixed mmap threshold: every argon2 buffer (m KiB, far above it) is
	 * mapped for its hash and unmapped after, so memory returns to the OS
	 * once a login flood ends instead of staying in malloc's arenas (glibc's
	 * dynamic threshold would otherwise rise to keep them). Few arenas keep
	 * the per-thread caches small. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_ARENA_MAX, 2);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	err = pc_ctx_open(&cfg, &ctx, &ei);
	if (err != PC_OK) {
		cli_report("cannot start", err, &ei);
		return err == PC_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	}
	err = pc_server_start(ctx, pc_faces, pc_nfaces, &server, &ei);
	if (err != PC_OK) {
		cli_report("cannot listen", err, &ei);
		pc_ctx_free(ctx);
		return CLI_EXIT_FAIL;
	}
	fprintf(stderr, "portcullis: listening on http://%s:%d\n", cfg.host, cfg.port);
	if (cfg.database_url[0] != '\0' && strncmp(cfg.database_url, "sqlite:", 7) == 0 &&
	    !cfg.cookie_secure)
		fprintf(stderr, "portcullis: warning: cookie_secure=false: development only\n");
	sigwait(&set, &sig);
	fprintf(stderr, "portcullis: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	pc_server_stop(server);
	pc_ctx_free(ctx);
	return CLI_EXIT_OK;
}
