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

#define SERVE_TRIM_PERIOD_S 5

/* Whether a face sends its session cookie without Secure. */
static bool serve_insecure_cookie(const struct pc_config *cfg)
{
	for (size_t i = 0; i < faces_count; i++) {
		const struct pc_cookie_conf *ck = face_cookie_conf(faces_all[i], cfg);

		if (ck != NULL && !ck->secure)
			return true;
	}
	return false;
}

/* Waits for SIGINT or SIGTERM; meanwhile, every few seconds, returns the
 * pages malloc holds free (argon2 buffers after a login flood, connection
 * pools after a burst) to the OS, so an idle server is small again. */
static int serve_wait(const sigset_t *set)
{
	const struct timespec period = { SERVE_TRIM_PERIOD_S, 0 };
	int sig;

	do {
		sig = sigtimedwait(set, NULL, &period);
		if (sig < 0)
			malloc_trim(0);
	} while (sig < 0);
	return sig;
}

int cli_serve(int argc, char **argv)
{
	struct pc_errinfo ei = { 0 };
	struct pc_config cfg;
	struct pc_server *server;
	struct pc_router *routes;
	struct pc_ctx *ctx;
	int rc, sig;
	sigset_t set;
	enum pc_err err;

	rc = cli_settings_only(argc, argv, "serve", serve_help, &cfg);
	if (rc >= 0)
		return rc;
	/* Few malloc arenas keep per-thread caches small. argon2's buffers are
	 * reused from the heap while logins pour in (no page faults per hash),
	 * and serve_wait() gives free memory back to the OS once they stop. */
	mallopt(M_ARENA_MAX, 2);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The route table first: routes that collide are a configuration
	 * error, reported before the database is opened or made. */
	err = router_new(&cfg, faces_all, faces_count, &routes, &ei);
	if (err != PC_OK) {
		cli_report("cannot mount the routes", err, &ei);
		return cli_exit_for(err, &ei);
	}
	router_free(routes);
	err = pc_ctx_open(&cfg, &ctx, &ei);
	if (err != PC_OK) {
		cli_report("cannot start", err, &ei);
		return cli_exit_for(err, &ei);
	}
	err = server_start(ctx, faces_all, faces_count, &server, &ei);
	if (err != PC_OK) {
		cli_report("cannot listen", err, &ei);
		pc_ctx_free(ctx);
		return CLI_EXIT_FAIL;
	}
	fprintf(stderr, "portcullis: listening on http://%s:%d\n", cfg.host, cfg.port);
	if (cfg.database_url[0] != '\0' && strncmp(cfg.database_url, "sqlite:", 7) == 0 &&
	    serve_insecure_cookie(&cfg))
		fprintf(stderr, "portcullis: warning: cookie_secure=false: development only\n");
	sig = serve_wait(&set);
	fprintf(stderr, "portcullis: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	server_stop(server);
	pc_ctx_free(ctx);
	return CLI_EXIT_OK;
}
