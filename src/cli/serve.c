/*
 * serve.c - `portcullis serve`: open the core, mount the faces, listen until
 * SIGINT or SIGTERM, then stop cleanly (in-flight requests finish). SIGHUP
 * reads the configuration again (serve_reload).
 *
 * Signals are blocked in every thread (the mask is inherited) and taken by
 * sigwait here, so no handler runs inside library code. SIGHUP reopens
 * log_file (after logrotate moved it away).
 *
 * What serve prints is a log stream (log_format, log_file): records from the
 * moment the configuration is read. Only a bad configuration, found before
 * the log is set up, is told as plain text.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "faces/face.h"

static void serve_help(void)
{
	printf("usage: portcullis serve [--config FILE] [--<setting> VALUE ...]\n\n"
	       "Runs the HTTP server. With no configuration: SQLite file ./portcullis.db,\n"
	       "http://127.0.0.1:8000, a generated JWT secret kept in the database.\n"
	       "SIGINT or SIGTERM stops it; SIGHUP reads the configuration again and applies\n"
	       "the rate limits, lockout, CORS, trusted origins, mail links and templates,\n"
	       "naming each other changed setting as needing a restart. `portcullis config`\n"
	       "prints the effective configuration, secrets masked.\n\n");
	pc_config_print_help(stdout);
}

#define SERVE_TRIM_PERIOD_S 5

/* A failure to start, as an error record: "<what>: <error>: <detail>"; with
 * log_file, on stderr too (in plain words), for whoever started the server. */
static void serve_report(const struct pc_config *cfg, const char *what, enum pc_err err,
			 const struct pc_errinfo *ei)
{
	char line[320];

	if (cfg->log_file[0] != '\0')
		cli_report(what, err, ei);
	if (ei != NULL && (ei->detail[0] != '\0' || ei->code != PC_V_NONE))
		log_error("serve", "%s: %s: %s", what, pc_strerror(err),
			  pc_errinfo_describe(ei, line, sizeof(line)));
	else
		log_error("serve", "%s: %s", what, pc_strerror(err));
}

/* Each face that sends its session cookie without Secure, loudly: over
 * plain HTTP that is what makes cookie login work (make run), and in
 * production it hands the session to anyone on the path. */
static void serve_warn_insecure_cookies(const struct pc_config *cfg)
{
	for (size_t i = 0; i < faces_count; i++) {
		const struct pc_face *f = faces_all[i];
		const struct pc_cookie_conf *ck = face_cookie_conf(f, cfg);
		const char *setting = NULL;

		if (ck == NULL || ck->secure)
			continue;
		for (size_t k = 0; f->settings != NULL && k < f->settings->nrows; k++) {
			const char *n = f->settings->rows[k].name;
			size_t len = strlen(n);

			if (len >= 13 && strcmp(n + len - 13, "cookie_secure") == 0)
				setting = n;
		}
		if (setting == NULL)
			continue; /* it reads another face's cookie, and sets none */
		log_warn("serve",
			 "WARNING: %s=false: the %s session cookie is sent without "
			"Secure, over plain HTTP too. DEVELOPMENT ONLY: never in production, "
			"where %s must stay true (its default) behind HTTPS",
			setting, f->name, setting);
	}
}

/* The settings a SIGHUP changes for the requests that follow: each is read
 * through config_live where it is used (ratelimit.c, cors.c, message.c),
 * and the mail templates are read again whatever their names. Any other
 * setting that differs is reported as needing a restart. */
static const char *const serve_reloadable[] = {
	"rate_limit_login_ip", "rate_limit_mail_address", "rate_limit_mail_ip",
	"rate_limit_register_ip", "lockout_threshold", "lockout_base_seconds",
	"lockout_max_seconds", "cors_origins", "cors_methods", "cors_headers",
	"cors_credentials", "cors_max_age", "trusted_origins", "reset_url", "verify_url",
	"magic_url", "reset_template_text", "reset_template_html", "verify_template_text",
	"verify_template_html", "magic_template_text", "magic_template_html",
};

#define SERVE_RELOADABLE_N (sizeof(serve_reloadable) / sizeof(serve_reloadable[0]))

struct serve_said {
	char applied[1024]; /* names, comma-separated */
	size_t napplied, nrestart;
};

static void serve_reload_say(void *arg, const char *name, bool applied)
{
	struct serve_said *s = arg;
	size_t n = strlen(s->applied);

	if (!applied) {
		log_warn("serve", "reload: %s changed, but takes a restart to apply; "
			 "the old value stays in use", name);
		s->nrestart++;
		return;
	}
	snprintf(s->applied + n, sizeof(s->applied) - n, "%s%s", n > 0 ? ", " : "", name);
	s->napplied++;
}

/* SIGHUP: the configuration read again from the same sources (the same
 * flags, the environment, the --config file), and what can change while
 * requests run applied (ctx_reload). An invalid configuration, or a
 * template that cannot be read, changes nothing. */
static void serve_reload(int argc, char **argv, struct pc_ctx *ctx, const struct pc_config *start)
{
	struct pc_config *next = malloc(sizeof(*next));
	const char *list[SERVE_RELOADABLE_N];
	struct pc_errinfo ei = { 0 };
	struct serve_said said = { .applied = "" };
	char *rest[CLI_ARGS_MAX];
	size_t n = 0;
	int nrest;
	enum pc_err err;

	if (next == NULL) {
		log_error("serve", "reload refused: out of memory; nothing changed");
		return;
	}
	log_info("serve", "SIGHUP received, reading the configuration again");
	if (cli_config_load(argc, argv, next, rest, &nrest) != CLI_EXIT_OK) {
		log_error("serve", "reload refused (the reason is above); nothing "
			  "changed, the running configuration stays");
		goto out;
	}
	/* CORS turned on from off: the server decided at start not to look */
	for (size_t i = 0; i < SERVE_RELOADABLE_N; i++) {
		if (strcmp(serve_reloadable[i], "cors_origins") == 0 &&
		    pc_config_get_str(start, "cors_origins") != NULL &&
		    pc_config_get_str(start, "cors_origins")[0] == '\0')
			continue;
		list[n++] = serve_reloadable[i];
	}
	err = ctx_reload(ctx, next, list, n, serve_reload_say, &said, &ei);
	if (err != PC_OK) {
		serve_report(start, "reload refused, nothing changed, the running configuration stays",
			     err, &ei);
		goto out;
	}
	log_info("serve", "reload: done; applied: %s; mail templates read again%s",
		said.napplied > 0 ? said.applied : "no setting changed",
		said.nrestart > 0 ? "; see above for what needs a restart" : "");
out:
	crypto_wipe(next, sizeof(*next));
	free(next);
}

/* The faces and routers the routes of cfg mount, as "a,b,c" lists, for the
 * start-up record. */
struct serve_mounted {
	char faces[256];
	char routers[1024];
};

static void serve_add_name(char *list, size_t size, const char *name)
{
	size_t n = strlen(name), len = strlen(list);
	const char *p = list;

	if (n == 0)
		return;
	while (*p != '\0') { /* already listed? */
		size_t k = strcspn(p, ",");

		if (k == n && memcmp(p, name, n) == 0)
			return;
		p += k + (p[k] == ',');
	}
	if (len + n + 2 > size)
		return;
	if (len > 0)
		list[len++] = ',';
	memcpy(list + len, name, n + 1);
}

static void serve_note_route(const char *method, const char *path, const char *face,
			     const char *router, void *arg)
{
	struct serve_mounted *m = arg;
	char both[160];

	(void)method;
	(void)path;
	serve_add_name(m->faces, sizeof(m->faces), face);
	if (router[0] != '\0' && snprintf(both, sizeof(both), "%s/%s", face, router) > 0)
		serve_add_name(m->routers, sizeof(m->routers), both);
}

/* The start-up record: what runs, where, on what (the database URL with its
 * password hidden). */
static void serve_log_start(const struct pc_config *cfg, const struct serve_mounted *m)
{
	char db[sizeof(cfg->database_url)], listen[sizeof(cfg->host) + 32];
	const char *fmt = log_format_get() == LOG_FORMAT_TEXT ? "text" : "json";

	log_redact_url(cfg->database_url, db, sizeof(db));
	snprintf(listen, sizeof(listen), "http://%s:%d", cfg->host, cfg->port);
	const struct log_field f[] = {
		LOG_STR("version", PC_VERSION), LOG_STR("database", db),
		LOG_STR("listen", listen),      LOG_STR("faces", m->faces),
		LOG_STR("routers", m->routers), LOG_STR("log_format", fmt),
		LOG_STR("log_level", cfg->log_level),
	};
	log_emit(LOG_LEVEL_INFO, "serve", LOG_FIELDS(f), "portcullis %s listening on %s",
		 PC_VERSION, listen);
}

/* SIGHUP: log_file again (logrotate moved the old one away). */
static void serve_reopen_log(const struct pc_config *cfg)
{
	if (pc_log_reopen() != PC_OK)
		log_error("serve", "SIGHUP: cannot reopen log_file %s; still writing the old one",
			  cfg->log_file);
	else
		log_info("serve", "SIGHUP: log reopened");
}

/* Waits for SIGINT, SIGTERM or SIGHUP; meanwhile, every few seconds, returns the
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
	struct serve_mounted mounted = { "", "" };
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
	err = config_log_open(&cfg, &ei);
	if (err != PC_OK) {
		cli_report("cannot open the log", err, &ei);
		return cli_exit_for(err, &ei);
	}
	cli_warn_unknown_env();
	/* Few malloc arenas keep per-thread caches small. argon2's buffers are
	 * reused from the heap while logins pour in (no page faults per hash),
	 * and serve_wait() gives free memory back to the OS once they stop. */
	mallopt(M_ARENA_MAX, 2);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The route table first: routes that collide are a configuration
	 * error, reported before the database is opened or made. */
	err = router_new(&cfg, faces_all, faces_count, &routes, &ei);
	if (err != PC_OK) {
		serve_report(&cfg, "cannot mount the routes", err, &ei);
		return cli_exit_for(err, &ei);
	}
	if (router_each(routes, serve_note_route, &mounted) != PC_OK)
		memcpy(mounted.faces, "?", 2);
	router_free(routes);
	err = pc_ctx_open(&cfg, &ctx, &ei);
	if (err != PC_OK) {
		serve_report(&cfg, "cannot start", err, &ei);
		return cli_exit_for(err, &ei);
	}
	err = server_start(ctx, faces_all, faces_count, &server, &ei);
	if (err != PC_OK) {
		serve_report(&cfg, "cannot listen", err, &ei);
		pc_ctx_free(ctx);
		return CLI_EXIT_FAIL;
	}
	serve_log_start(&cfg, &mounted);
	serve_warn_insecure_cookies(&cfg);
	while ((sig = serve_wait(&set)) == SIGHUP) {
		serve_reopen_log(&cfg);
		serve_reload(argc, argv, ctx, &cfg);
	}
	log_info("serve", "%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	server_stop(server);
	pc_ctx_free(ctx);
	return CLI_EXIT_OK;
}
