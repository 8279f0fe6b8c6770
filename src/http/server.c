/*
 * server.c - the libmicrohttpd daemon and the life of a request in it.
 *
 * Owns: the daemon, the router, and per request (through MHD's *con_cls)
 * an arena holding the struct http_exchange, plus the body buffer. Both
 * are freed in the completion callback, after the access log line.
 *
 * Threads: MHD's internal epoll thread pool runs the access handler; a
 * connection stays on one pool thread, so inline requests take no lock.
 * PC_R_SLOW handlers run on the core's worker pool while the connection is
 * suspended.
 *
 * The access handler, call by call (MHD calls it again until a response is
 * queued):
 *
 *   first call     *con_cls == NULL: make the exchange (arena, request id,
 *                  client address). Content-Length > max_body_bytes:
 *                  413 at once (MHD then closes the connection).
 *   upload calls   *upload_size > 0: append to req->body; past the maximum
 *                  keep consuming but discard, and remember too_big.
 *   final call     router (face, 404, 405 + Allow), 413 if too_big, the
 *                  checks (422 body, 401/403 credentials), then
 *                    inline: run the handler, queue the response;
 *                    PC_R_SLOW: phase SLOW, suspend, submit the job -- the
 *                    worker runs the handler, sets slow_done (release) and
 *                    resumes; submit failing (PC_EBUSY) renders 503 with
 *                    Retry-After and resumes at once.
 *   resumed call   phase SLOW and slow_done (acquire): queue the response.
 *
 * Suspend comes before submit, so a worker never resumes a connection that
 * is not yet suspended. Hand-off: the worker writes only the exchange
 * before its release store; the pool thread reads it only after the
 * acquire load (and MHD's resume goes through a mutex besides).
 *
 * Stopping: new PC_R_SLOW requests get 503; the server waits until every
 * submitted job has resumed its connection (MHD must not be stopped with
 * suspended connections), then briefly for those responses to go out, then
 * stops the daemon. MHD_quiesce_daemon is not used: in 0.9.75 its removal
 * of the listening socket from each pool thread's epoll set races with the
 * threads doing the same, and the loser calls MHD_PANIC.
 *
 * The listening socket keeps MHD's default SO_REUSEADDR (fast restarts).
 * MHD_OPTION_LISTENING_ADDRESS_REUSE is not passed: 1 adds SO_REUSEPORT,
 * which would let a second server bind the same port silently and share
 * its traffic; 0 drops SO_REUSEADDR.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http/internal.h"

#define SERVER_ARENA_CHUNK 8192
#define SERVER_CONN_TIMEOUT_S 30
/* libmicrohttpd's per-connection pool: the request's header block, its
 * parsed headers and the response's header block live in it, so it bounds
 * the request headers (431 beyond, as Node's 16 KiB default). MHD zeroes
 * the pool between keep-alive requests: its default 32 KiB cost two 16 KiB
 * memsets per request, and twice the memory per idle connection. */
#define SERVER_CONN_MEMORY 16384
#define SERVER_DEFAULT_CONNS 1024
#define SERVER_DRAIN_US (5 * 1000 * 1000)

struct pc_server {
	struct MHD_Daemon *daemon;
	struct pc_ctx *ctx;
	struct pc_router *router;
	const struct pc_face *first_face; /* renders errors met before routing */
	struct pc_workers *workers;   /* NULL: slow handlers run inline */
	size_t max_body;
	bool access_log;
	bool cors;                    /* cors_origins names an origin */
	struct http_metrics metrics;  /* per-route series of /metrics */
	atomic_bool starting;         /* MHD messages go to start_err too */
	char start_err[256];
	struct sockaddr_storage addr;
	atomic_int jobs;              /* submitted, not yet resumed */
	atomic_int slow_open;         /* slow requests not yet completed */
	atomic_bool stopping;
};

/* Added to every response unless the handler set the same header. */
static const struct {
	const char *name;
	const char *value;
} server_headers[] = {
	{ "Cache-Control", "no-store" },
	{ "Pragma", "no-cache" },     /* HTTP/1.0 caches: RFC 6749 5.1 asks both of token answers */
	{ "X-Content-Type-Options", "nosniff" },
	{ "X-Frame-Options", "DENY" },
	{ "Referrer-Policy", "no-referrer" },
	{ "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'" },
};

/* ---- rendering and sending ----------------------------------------------------- */

/* Replaces whatever the response held by the face's rendering of status:
 * the matched (or nearest) face's, else the first face's; {"detail":
 * "<reason>"} only when the face rendered nothing (out of memory). */
static void server_render_error(struct http_exchange *x, int status, const struct pc_errinfo *ei)
{
	struct pc_resp *resp = &x->resp;
	const struct pc_face *f = x->req.face;

	if (f == NULL && x->srv != NULL)
		f = x->srv->first_face;
	resp->status = 0;
	resp->content_type = NULL;
	resp->body = NULL;
	resp->body_len = 0;
	resp->headers = NULL;
	if (f != NULL && f->render_error != NULL)
		f->render_error(&x->req, resp, status, ei);
	if (resp->status != 0)
		return;
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = arena_printf(x->req.arena, "{\"detail\":\"%s\"}", resp_reason(status));
	resp->body_len = resp->body != NULL ? strlen(resp->body) : 0;
}

/* A 401 of a bearer route says so (RFC 6750 3), as FastAPI's
 * OAuth2PasswordBearer does: "Bearer", with error="invalid_token" when a
 * bearer token was presented and refused. A bearer route: a PC_R_AUTH route
 * (not cookie-only) of a face that takes bearer tokens. A face that words
 * its own challenge (simplejwt: DRF's realm) keeps it. */
static void server_challenge(struct http_exchange *x)
{
	const struct pc_route *rt = x->req.route;
	const struct pc_face *f = x->req.face;
	const char *token;

	if (x->resp.status != 401 || rt == NULL || f == NULL || !f->auth.bearer ||
	    ((rt->flags & PC_R_COOKIE) && !(rt->flags & PC_R_BEARER)) ||
	    http_resp_has_header(&x->resp, "WWW-Authenticate"))
		return;
	token = req_bearer_get(&x->req);
	if (!(rt->flags & PC_R_AUTH))
		return;
	resp_header_add(&x->resp, "WWW-Authenticate",
			token != NULL ? "Bearer error=\"invalid_token\"" : "Bearer");
}

static enum MHD_Result server_send(struct http_exchange *x)
{
	const struct pc_resp *resp = &x->resp;
	const struct pc_header *h;
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t i;

	server_challenge(x);
	if (x->srv->cors)
		http_cors_headers(&x->srv->ctx->cfg, &x->req, &x->resp);
	r = MHD_create_response_from_buffer(resp->body != NULL ? resp->body_len : 0,
					    (void *)resp->body, MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	if (resp->content_type != NULL && !http_resp_has_header(resp, "Content-Type"))
		MHD_add_response_header(r, "Content-Type", resp->content_type);
	for (h = resp->headers; h != NULL; h = h->next)
		MHD_add_response_header(r, h->name, h->value);
	for (i = 0; i < sizeof(server_headers) / sizeof(server_headers[0]); i++) {
		if (!http_resp_has_header(resp, server_headers[i].name))
			MHD_add_response_header(r, server_headers[i].name, server_headers[i].value);
	}
	MHD_add_response_header(r, "X-Request-ID", x->req.request_id);
	x->sent_status = resp->status;
	x->phase = HTTP_PHASE_SENT;
	ret = MHD_queue_response(x->conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- handlers ------------------------------------------------------------------ */

/* Runs the route's handler (on a pool thread or a worker). A handler that
 * set no status, whatever it returned, is answered 500. */
static void server_run_handler(struct http_exchange *x)
{
	enum pc_err err;

	/* who acts and from where, for the audit rows the handler writes (the
	 * client's key is worked out only when a row is) */
	pc_audit_scope(x->req.client_ip, req_header_get(&x->req, "X-Forwarded-For"),
		       x->req.user != NULL ? x->req.user->id : NULL);
	err = x->req.route->handler(&x->req, &x->resp);
	pc_audit_scope(NULL, NULL, NULL);

	/* PC_OK or not, what counts is whether a response was made; a handler
	 * that let the database's absence through unrendered answers 503 */
	if (x->resp.status == 0)
		server_render_error(x, err == PC_EUNAVAILABLE ? 503 : 500, NULL);
}

static void server_slow_job(void *arg)
{
	struct http_exchange *x = arg;
	struct pc_server *s = x->srv;
	struct MHD_Connection *c = x->conn;

	server_run_handler(x);
	/* x belongs to the pool thread from here: touch only s and c. */
	atomic_store_explicit(&x->slow_done, 1, memory_order_release);
	MHD_resume_connection(c);
	atomic_fetch_sub(&s->jobs, 1);
}

static void server_busy(struct http_exchange *x)
{
	server_render_error(x, 503, NULL);
	resp_header_add(&x->resp, "Retry-After", "1");
}

/* The client's key (pc_client_key) as the worker pool's 64-bit key
 * (FNV-1a; never 0, the pool's "no client"). */
static uint64_t server_client_hash(struct http_exchange *x)
{
	char client[PC_CLIENT_KEY_MAX];
	uint64_t h = 14695981039346656037ULL;

	pc_client_key(x->req.ctx, x->req.client_ip, req_header_get(&x->req, "X-Forwarded-For"),
		      client);
	for (const char *p = client; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	return h != 0 ? h : 1;
}

/* PC_R_SLOW: suspend, then hand the handler to the worker pool (the
 * client's share of it: workers_submit_keyed). */
static void server_slow_start(struct http_exchange *x)
{
	struct pc_server *s = x->srv;
	enum pc_err err;

	if (s->workers == NULL) {
		server_run_handler(x);
		return;
	}
	atomic_fetch_add(&s->jobs, 1);
	if (atomic_load(&s->stopping)) { /* seq_cst: pairs with server_stop */
		atomic_fetch_sub(&s->jobs, 1);
		server_busy(x);
		return;
	}
	x->phase = HTTP_PHASE_SLOW;
	x->counted_slow = true;
	atomic_fetch_add(&s->slow_open, 1);
	MHD_suspend_connection(x->conn);
	err = workers_submit_keyed(s->workers, server_client_hash(x),
				   (unsigned)s->ctx->cfg.hash_queue_per_client, server_slow_job, x);
	if (err == PC_OK)
		return;
	if (err == PC_ELIMITED) { /* this client's share of the pool is taken */
		server_render_error(x, 429, NULL);
		resp_header_add(&x->resp, "Retry-After", "1");
	} else {
		server_busy(x);
	}
	atomic_store_explicit(&x->slow_done, 1, memory_order_release);
	MHD_resume_connection(x->conn);
	atomic_fetch_sub(&s->jobs, 1);
}

/* The body checks and the credential checks; 0 or the status to answer. */
static int server_checks(struct http_exchange *x)
{
	unsigned flags = x->req.route->flags;
	const char *ctype;
	enum pc_err err;

	if (flags & (PC_R_JSON | PC_R_FORM)) {
		ctype = req_header_get(&x->req, "Content-Type");
		/* both flags: a form when the body says so, else JSON (DRF's parsers) */
		if ((flags & PC_R_FORM) &&
		    (!(flags & PC_R_JSON) || http_ctype_is(ctype, "application/x-www-form-urlencoded")))
			err = http_body_form(x, ctype);
		else
			err = http_body_json(&x->req, ctype);
		if (err == PC_EINVAL)
			return 422;
		if (err != PC_OK)
			return 500;
	}
	return http_authn(&x->req, flags);
}

/* The final call: match, check, run (or start the slow job). */
static void server_dispatch(struct http_exchange *x)
{
	const char *allow = NULL;
	enum pc_match m;
	int status;

	m = router_match(x->srv->router, &x->req, &allow);
	if (x->too_big || x->body_failed) {
		server_render_error(x, x->too_big ? 413 : 500, NULL);
		return;
	}
	if (m == PC_MATCH_NOT_FOUND) {
		server_render_error(x, 404, NULL);
		return;
	}
	/* a preflight to a mounted path, whatever methods the path has */
	if (x->srv->cors && http_cors_is_preflight(&x->srv->ctx->cfg, &x->req)) {
		status = http_cors_preflight(&x->srv->ctx->cfg, &x->req, &x->resp);
		if (status != 0)
			server_render_error(x, status, NULL);
		return;
	}
	if (m == PC_MATCH_BAD_METHOD) {
		server_render_error(x, 405, NULL);
		resp_header_add(&x->resp, "Allow", allow != NULL ? allow : "");
		return;
	}
	status = server_checks(x);
	if (status != 0) {
		server_render_error(x, status, status == 422 || status == 401 ? &x->req.errinfo : NULL);
		return;
	}
	if (x->req.route->flags & PC_R_SLOW)
		server_slow_start(x);
	else
		server_run_handler(x);
}

enum pc_err resp_metrics(struct pc_req *req, struct pc_resp *resp)
{
	struct http_exchange *x = req->impl;
	struct pc_buf b;
	enum pc_err err;

	if (x == NULL || x->srv == NULL)
		return PC_EINVAL;
	buf_init(&b, 4 * 1024 * 1024);
	err = http_metrics_write(&x->srv->metrics, x->srv->router, req->ctx, &b);
	if (err == PC_OK) {
		resp->body = arena_strndup(req->arena, b.data != NULL ? b.data : "", b.len);
		err = resp->body != NULL ? PC_OK : PC_ENOMEM;
	}
	buf_release(&b);
	if (err != PC_OK)
		return err;
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	resp->body_len = strlen(resp->body);
	return PC_OK;
}

/* ---- MHD callbacks ---------------------------------------------------------------- */

static void server_ip_text(const struct sockaddr *sa, char *out, size_t outsz)
{
	const void *addr = NULL;

	if (sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (addr == NULL || inet_ntop(sa->sa_family, addr, out, (socklen_t)outsz) == NULL)
		out[0] = '\0';
}

static struct http_exchange *server_exchange_new(struct pc_server *s, struct MHD_Connection *c,
						 const char *url, const char *method)
{
	const union MHD_ConnectionInfo *ci;
	struct http_exchange *x;
	struct pc_arena *a;

	a = arena_new(SERVER_ARENA_CHUNK);
	if (a == NULL)
		return NULL;
	x = arena_calloc(a, sizeof(*x));
	if (x == NULL) {
		arena_free(a);
		return NULL;
	}
	x->req.ctx = s->ctx;
	x->req.arena = a;
	x->req.method = method;
	x->req.path = url;
	x->req.client_ip = x->ip;
	x->req.impl = x;
	x->resp.arena = a;
	buf_init(&x->req.body, s->max_body);
	x->conn = c;
	x->srv = s;
	x->t0_us = time_mono_us();
	atomic_init(&x->slow_done, 0);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr != NULL)
		server_ip_text(ci->client_addr, x->ip, sizeof(x->ip));
	http_request_id_set(&x->req, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								 "X-Request-ID"));
	return x;
}

/* True when the declared Content-Length passes max (MHD has checked its syntax). */
static bool server_declared_too_big(const struct http_exchange *x)
{
	const char *cl = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Content-Length");
	uint64_t n = 0;

	if (cl == NULL)
		return false;
	for (; *cl >= '0' && *cl <= '9'; cl++) {
		if (n > (UINT64_MAX - 9) / 10)
			return true;
		n = n * 10 + (uint64_t)(*cl - '0');
	}
	return n > x->req.body.max;
}

static void server_gather(struct http_exchange *x, const char *data, size_t n)
{
	enum pc_err err;

	if (x->too_big || x->body_failed)
		return;
	err = buf_add(&x->req.body, data, n);
	if (err == PC_OK)
		return;
	if (err == PC_ETOOBIG)
		x->too_big = true;
	else
		x->body_failed = true;
	buf_release(&x->req.body);
}

static enum MHD_Result server_on_access(void *cls, struct MHD_Connection *c, const char *url,
					const char *method, const char *version,
					const char *upload, size_t *upload_size, void **con_cls)
{
	struct pc_server *s = cls;
	struct http_exchange *x = *con_cls;

	(void)version;
	if (x == NULL) {
		x = server_exchange_new(s, c, url, method);
		if (x == NULL)
			return MHD_NO;
		*con_cls = x;
		if (!server_declared_too_big(x))
			return MHD_YES;
		x->too_big = true;
		server_dispatch(x);
		return server_send(x);
	}
	if (*upload_size != 0) {
		server_gather(x, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	switch (x->phase) {
	case HTTP_PHASE_BODY:
		server_dispatch(x);
		if (x->phase == HTTP_PHASE_SLOW)
			return MHD_YES;
		return server_send(x);
	case HTTP_PHASE_SLOW:
		if (!atomic_load_explicit(&x->slow_done, memory_order_acquire))
			return MHD_YES;
		return server_send(x);
	case HTTP_PHASE_SENT:
	default:
		return MHD_YES;
	}
}

static void server_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
				enum MHD_RequestTerminationCode toe)
{
	struct pc_server *s = cls;
	struct http_exchange *x = *con_cls;

	(void)c;
	(void)toe;
	if (x == NULL)
		return;
	*con_cls = NULL;
	if (s->access_log)
		http_access_log(x);
	if (x->sent_status != 0)
		http_metrics_record(&s->metrics, x->req.route_id, x->sent_status,
				    time_mono_us() - x->t0_us);
	if (x->counted_slow)
		atomic_fetch_sub(&s->slow_open, 1);
	buf_release(&x->req.body);
	arena_free(x->req.arena);
}

/* Leaves the path and query percent-encoded: req.c and the router decode. */
static size_t server_unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

__attribute__((format(printf, 2, 0)))
static void server_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct pc_server *s = cls;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (atomic_load_explicit(&s->starting, memory_order_relaxed))
		if (snprintf(s->start_err, sizeof(s->start_err), "%s", msg) < 0)
			s->start_err[0] = '\0';
	http_log_event("error", msg);
}

/* ---- start and stop -------------------------------------------------------------------- */

/* Raises the soft limit on open files to the hard one: each connection is a
 * descriptor. Failure is not fatal. */
static void server_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1 << 20;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* Resolves cfg host:port (IPv4 or IPv6 literal, "[v6]", or a name; "" =
 * every IPv4 address) into s->addr. */
static enum pc_err server_resolve(struct pc_server *s, const struct pc_config *cfg,
				  struct pc_errinfo *ei)
{
	struct addrinfo hints, *res = NULL;
	char host[sizeof(cfg->host)], port[16];
	size_t n = strlen(cfg->host);
	int rc;

	if (n >= 2 && cfg->host[0] == '[' && cfg->host[n - 1] == ']') {
		memcpy(host, cfg->host + 1, n - 2);
		host[n - 2] = '\0';
	} else {
		memcpy(host, cfg->host, n + 1);
	}
	snprintf(port, sizeof(port), "%d", cfg->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		pc_errinfo_setf(ei, "", "host", PC_V_LISTEN, "cannot resolve host \"%s\": %s",
				cfg->host, rc != 0 ? gai_strerror(rc) : "no address");
		return PC_EINVAL;
	}
	memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return PC_OK;
}

enum pc_err server_start(struct pc_ctx *ctx, const struct pc_face *const *faces, size_t nfaces,
			    struct pc_server **out, struct pc_errinfo *ei)
{
	const struct pc_config *cfg = &ctx->cfg;
	struct pc_errinfo scratch;
	struct pc_server *s;
	unsigned flags, threads, conns;
	long ncpu;
	enum pc_err err;

	*out = NULL;
	if (ei == NULL)
		ei = &scratch;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PC_ENOMEM;
	s->ctx = ctx;
	s->workers = ctx_workers(ctx);
	s->max_body = cfg->max_body_bytes > 0 ? (size_t)cfg->max_body_bytes : 0;
	s->access_log = cfg->access_log;
	atomic_init(&s->jobs, 0);
	atomic_init(&s->slow_open, 0);
	atomic_init(&s->stopping, false);
	atomic_init(&s->starting, false);
	err = router_new(cfg, faces, nfaces, &s->router, ei);
	if (err != PC_OK)
		goto out_free;
	s->first_face = nfaces > 0 ? faces[0] : NULL;
	s->cors = http_cors_on(cfg);
	http_metrics_init(&s->metrics, s->router);
	err = server_resolve(s, cfg, ei);
	if (err != PC_OK)
		goto out_free;
	server_raise_nofile();

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	threads = cfg->threads > 0 ? (unsigned)cfg->threads : ncpu > 0 ? (unsigned)ncpu : 1;
	conns = cfg->max_connections > 0 ? (unsigned)cfg->max_connections : SERVER_DEFAULT_CONNS;
	if (conns < threads)
		conns = threads; /* MHD gives each pool thread conns / threads */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG;
	if (s->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	atomic_store(&s->starting, true);
	s->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, server_on_access, s,
				     MHD_OPTION_EXTERNAL_LOGGER, server_on_mhd_log, s,
				     MHD_OPTION_THREAD_POOL_SIZE, threads,
				     MHD_OPTION_CONNECTION_LIMIT, conns,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_CONN_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_CONN_MEMORY,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->addr,
				     MHD_OPTION_NOTIFY_COMPLETED, server_on_completed, s,
				     MHD_OPTION_UNESCAPE_CALLBACK, server_unescape_none, NULL,
				     MHD_OPTION_END);
	atomic_store(&s->starting, false);
	if (s->daemon == NULL) {
		pc_errinfo_setf(ei, "", "port", PC_V_LISTEN, "cannot listen on %s:%d: %s", cfg->host,
				cfg->port, s->start_err[0] != '\0' ? s->start_err
								    : "MHD_start_daemon failed");
		if (ei != NULL)
			ei->detail[strcspn(ei->detail, "\n")] = '\0';
		err = PC_EINTERNAL;
		goto out_free;
	}
	*out = s;
	return PC_OK;
out_free:
	router_free(s->router);
	free(s);
	return err;
}

static void server_nap(void)
{
	struct timespec ts = { 0, 1000 * 1000 };

	nanosleep(&ts, NULL);
}

void server_stop(struct pc_server *s)
{
	int64_t deadline;

	if (s == NULL)
		return;
	atomic_store(&s->stopping, true);
	/* Every submitted job resumes its connection; MHD must not stop before. */
	while (atomic_load(&s->jobs) > 0)
		server_nap();
	deadline = time_mono_us() + SERVER_DRAIN_US;
	while (atomic_load(&s->slow_open) > 0 && time_mono_us() < deadline)
		server_nap();
	MHD_stop_daemon(s->daemon);
	router_free(s->router);
	free(s);
}
