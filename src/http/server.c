/*
 * server.c - the libmicrohttpd daemon and the life of a request in it.
 *
 * Owns: the daemon, the router, and per request (through MHD's *con_cls)
 * an arena holding the struct http_exchange, plus the body buffer. Both
 * are let go in the completion callback, after the access log line: the
 * body freed, the arena emptied (arena_reset) and kept by the lane for its
 * next request (up to SERVER_ARENA_SPARE of them), so a request costs no
 * malloc of its own; the exchange is zeroed whole as each request starts.
 *
 * Threads: one libmicrohttpd daemon per HTTP thread (settings threads),
 * a lane: its own listening socket on the same address (SO_REUSEPORT: the
 * kernel spreads new connections over the sockets, so over the threads),
 * its own epoll set, run by its own thread (server_lane_main). MHD's thread
 * pool shares one socket and left connections where they landed (64/0 at
 * 64 connections). A connection stays on its lane's thread, so inline
 * requests take no lock; what the lanes share (the guard, the counters) is
 * locked or atomic.
 *
 * Why our own loop rather than MHD's internal polling thread: MHD 0.9.75's
 * MHD_epoll() reads events 128 at a time and, when a call returns exactly
 * 128, calls epoll_wait again with the timeout it computed before the first
 * (up to the 30 s idle timeout); the 128 connections already read wait
 * unserved until some other event comes: a burst of new connections, or
 * all of a lane's kept-alive connections at once, hangs. The lane's thread
 * waits itself (poll on the epoll set, with MHD_get_timeout) and then runs
 * MHD_run(), whose epoll_wait calls never block. A lane's eventfd wakes it:
 * for a resumed connection (MHD drops its own wake-up channel when it does
 * not run the loop) and to stop.
 * PC_R_SLOW handlers run on the core's hash pool while the connection is
 * suspended, PC_R_COMMITS handlers on its write pool the same way: a
 * durable commit waits ~0.2 ms on the disk's sync, during which an inline
 * handler would hold its lane (and every connection on it), and with as
 * many commits in flight as lanes the group commit has few to share a
 * sync. The write pool's many threads keep that many commits waiting
 * together; the hash pool's few, niced ones stay the cores' for hashing,
 * so neither kind of job queues behind the other.
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
 *                    PC_R_SLOW (hash pool) or PC_R_COMMITS (write pool):
 *                    phase SLOW, suspend, submit the job -- the worker
 *                    runs the handler, sets slow_done (release) and
 *                    resumes; submit failing (PC_EBUSY) renders 503 with
 *                    Retry-After and resumes at once.
 *   resumed call   phase SLOW and slow_done (acquire): queue the response.
 *
 * Suspend comes before submit, so a worker never resumes a connection that
 * is not yet suspended. Hand-off: the worker writes only the exchange
 * before its release store; the pool thread reads it only after the
 * acquire load (and MHD's resume goes through a mutex besides).
 *
 * Stopping: new connections are refused (the accept policy) and new
 * PC_R_SLOW and PC_R_COMMITS requests get 503; the server waits until every
 * submitted job (of either pool: s->jobs counts both) has resumed its
 * connection (MHD must not be stopped with suspended connections), then
 * briefly for those responses to go out, then stops the daemons. MHD_quiesce_daemon is not used: in 0.9.75 MHD_epoll() removes a
 * quiesced listening socket from its epoll set itself, and one of its two
 * removals calls MHD_PANIC on the ENOENT of losing that race to
 * MHD_quiesce_daemon's own removal.
 *
 * The listening sockets: SO_REUSEADDR (fast restarts) and SO_REUSEPORT
 * (one per daemon). SO_REUSEPORT would let a second server of the same user
 * bind the same port silently and share its traffic: a probe socket without
 * it is bound first and held until the daemons listen, so a port another
 * process listens on is refused ("Address already in use") as before.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http/internal.h"

#define SERVER_ARENA_CHUNK 8192
/* Emptied request arenas a lane keeps for its next requests: one per
 * request in flight on it at once (slow ones wait on a worker with theirs),
 * more are freed. */
#define SERVER_ARENA_SPARE 8
#define SERVER_CONN_TIMEOUT_S 30
/* libmicrohttpd's per-connection pool: the request's header block, its
 * parsed headers and the response's header block live in it, so it bounds
 * the request headers (431 beyond, as Node's 16 KiB default). MHD zeroes
 * the pool between keep-alive requests: its default 32 KiB cost two 16 KiB
 * memsets per request, and twice the memory per idle connection. */
#define SERVER_CONN_MEMORY 16384
/* How long a lane keeps its access-log lines while more work is ready: the
 * longest a line waits for its write(2) under load (server_lane_main). */
#define SERVER_LOG_HOLD_US 100000
/* The largest request line and header block answered (431 beyond, in the
 * face's shape). Below the pool: MHD 0.9.75 answers a block that outgrows
 * its pool 431 itself; one that fills the pool just short of that (about
 * 15.8-16.2 KiB in one line) reaches us with no room left in the pool for
 * the answer's header lines, so our 431 is written to the socket by us
 * (server_send_raw_close). */
#define SERVER_HEADER_MAX (14 * 1024)
#define SERVER_DEFAULT_CONNS 1024
#define SERVER_IP_BUCKETS 4096
#define SERVER_PROXIES_MAX 32
#define SERVER_REAP_US (100 * 1000)

/* One client address as the per-IP cap counts it: IPv4 (and IPv4-mapped
 * IPv6) by its 4 bytes, IPv6 by its /64. */
struct server_ipkey {
	unsigned char fam; /* 4 or 6; 0: unknown (not counted) */
	unsigned char b[8];
};

struct server_ipcount {
	struct server_ipkey key;
	unsigned n;
	struct server_ipcount *next;
};

/* The guard's record of an open connection (MHD's socket context): its
 * socket, its client key, and the deadline by which it must have sent what
 * it is sending (header block, then body); 0 while the server is answering. */
struct server_lane;
struct server_conn {
	struct server_conn *prev, *next;
	struct server_lane *lane;     /* the HTTP thread that holds it */
	int fd;
	struct server_ipkey key;
	_Atomic int64_t deadline_us;
	bool shut;
	char ip[48];                  /* the client's address as text, made once */
};
#define SERVER_DRAIN_US (5 * 1000 * 1000)
/* Each listening socket's queue of connections not yet accepted (the
 * kernel caps it at net.core.somaxconn). */
#define SERVER_BACKLOG 4096
#define SERVER_LANES_MAX 256 /* the threads setting's maximum */

/* One HTTP thread: its daemon (and so its listening socket and its
 * connections) and what /metrics says of it. */
struct server_lane {
	struct pc_server *srv;
	struct MHD_Daemon *daemon;
	int epoll_fd;                 /* the daemon's epoll set (MHD's) */
	int wake_fd;                  /* eventfd: wakes the lane's thread; -1: none */
	pthread_t thread;
	bool thread_on;
	atomic_uint open;             /* connections open now */
	atomic_ullong accepted;       /* connections taken since the start */
	struct http_log_lane log;     /* access-log lines not yet written (accesslog.c) */
	/* request arenas emptied (arena_reset) for the next exchanges: touched
	 * only on the lane's thread (its MHD callbacks), then by server stop */
	struct pc_arena *spare[SERVER_ARENA_SPARE];
	unsigned nspare;
};

struct pc_server {
	struct server_lane *lanes;    /* one per HTTP thread */
	unsigned nlanes;
	struct pc_ctx *ctx;
	struct pc_router *router;
	const struct pc_face *first_face; /* renders errors met before routing */
	struct pc_workers *workers;   /* hash pool; NULL: slow handlers run inline */
	struct pc_workers *write_workers; /* write pool; NULL: PC_R_COMMITS ones inline */
	size_t max_body;
	bool access_log;
	struct http_log_writer log_writer; /* writes the lanes' access-log lines */
	bool cors;                    /* cors_origins names an origin */
	struct http_metrics metrics;  /* per-route series of /metrics */
	atomic_bool starting;         /* MHD messages go to start_err too */
	char start_err[256];
	struct sockaddr_storage addr;
	atomic_int jobs;              /* submitted, not yet resumed */
	atomic_int slow_open;         /* slow requests not yet completed */
	atomic_bool stopping;
	atomic_bool lanes_stop;       /* the lanes' threads return */
	/* the guard: per-IP counts, open connections, the reaper thread */
	pthread_mutex_t guard_mu;
	struct server_ipcount *ipc[SERVER_IP_BUCKETS];
	struct server_conn conns;     /* list head (sentinel) */
	unsigned per_ip;              /* 0: no cap */
	struct server_ipkey proxies[SERVER_PROXIES_MAX]; /* trusted_proxies: not capped */
	size_t nproxies;
	int64_t header_us, body_us;
	pthread_t reaper;
	bool reaper_on;
	atomic_bool reaper_stop;
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

/* Appends fmt's text to out[size] at *off; false once it no longer fits. */
__attribute__((format(printf, 4, 5)))
static bool server_raw_add(char *out, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *off)
		return false;
	*off += (size_t)n;
	return true;
}

/*
 * The answer to a header block over SERVER_HEADER_MAX, written to the socket
 * here, then the connection closed (MHD_NO). libmicrohttpd keeps the whole
 * block in its per-connection pool and builds an answer's header lines in
 * what is left: a block that leaves less than that (about 15.8-16.2 KiB in a
 * 16 KiB pool) reached us and was closed without an answer when MHD could
 * not build ours. The block is read whole (it ended with its empty line), so
 * nothing unread makes the close a reset. Falls back to server_send when the
 * answer does not fit (it always does: a face's error body is small).
 */
static enum MHD_Result server_send_raw_close(struct http_exchange *x)
{
	const struct pc_resp *resp = &x->resp;
	const union MHD_ConnectionInfo *ci;
	const struct pc_header *h;
	char out[4096], date[64];
	size_t off = 0, sent = 0, i;
	struct tm tm;
	time_t now = time(NULL);
	bool ok;

	ci = MHD_get_connection_info(x->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL || gmtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		return server_send(x);
	server_challenge(x);
	if (x->srv->cors)
		http_cors_headers(&x->srv->ctx->cfg, &x->req, &x->resp);
	ok = server_raw_add(out, sizeof(out), &off, "HTTP/1.1 %d %s\r\nDate: %s\r\n", resp->status,
			    resp_reason(resp->status), date);
	if (ok && resp->content_type != NULL && !http_resp_has_header(resp, "Content-Type"))
		ok = server_raw_add(out, sizeof(out), &off, "Content-Type: %s\r\n", resp->content_type);
	for (h = resp->headers; ok && h != NULL; h = h->next) {
		if (strcasecmp(h->name, "Connection") != 0)
			ok = server_raw_add(out, sizeof(out), &off, "%s: %s\r\n", h->name, h->value);
	}
	for (i = 0; ok && i < sizeof(server_headers) / sizeof(server_headers[0]); i++) {
		if (!http_resp_has_header(resp, server_headers[i].name))
			ok = server_raw_add(out, sizeof(out), &off, "%s: %s\r\n", server_headers[i].name,
					    server_headers[i].value);
	}
	if (ok)
		ok = server_raw_add(out, sizeof(out), &off,
				    "X-Request-ID: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
				    x->req.request_id, resp->body != NULL ? resp->body_len : 0);
	if (ok && resp->body != NULL) {
		ok = resp->body_len <= sizeof(out) - off;
		if (ok) {
			memcpy(out + off, resp->body, resp->body_len);
			off += resp->body_len;
		}
	}
	if (!ok)
		return server_send(x);
	/* a few hundred bytes into an idle socket's empty send buffer */
	while (sent < off) {
		ssize_t n = send(ci->connect_fd, out + sent, off - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	x->sent_status = resp->status;
	x->phase = HTTP_PHASE_SENT;
	return MHD_NO;
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

/* Wakes lane l's thread: MHD then serves what was resumed at once. */
static void server_lane_wake(struct server_lane *l)
{
	uint64_t one = 1;

	/* EAGAIN (the counter is full) means it is awake already */
	if (l != NULL && l->wake_fd >= 0 && write(l->wake_fd, &one, sizeof(one)) < 0)
		return;
}

/* The lane of x's connection: its guard's, else the one of its daemon. */
static struct server_lane *server_lane_of(const struct http_exchange *x)
{
	const struct server_conn *sc = x->guard;
	const union MHD_ConnectionInfo *ci;

	if (sc != NULL)
		return sc->lane;
	ci = x->conn != NULL ? MHD_get_connection_info(x->conn, MHD_CONNECTION_INFO_DAEMON) : NULL;
	for (unsigned i = 0; ci != NULL && i < x->srv->nlanes; i++) {
		if (x->srv->lanes[i].daemon == ci->daemon)
			return &x->srv->lanes[i];
	}
	return NULL;
}

static void server_slow_job(void *arg)
{
	struct http_exchange *x = arg;
	struct pc_server *s = x->srv;
	struct MHD_Connection *c = x->conn;
	struct server_lane *l = server_lane_of(x);

	server_run_handler(x);
	/* x belongs to the pool thread from here: touch only s, c and l. */
	atomic_store_explicit(&x->slow_done, 1, memory_order_release);
	MHD_resume_connection(c);
	server_lane_wake(l); /* before the count: server_stop closes it at 0 */
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

/* PC_R_SLOW and PC_R_COMMITS: suspend, then hand the handler to pool w
 * (the client's share of it, cap jobs at most: workers_submit_keyed). */
static void server_slow_start(struct http_exchange *x, struct pc_workers *w, unsigned cap)
{
	struct pc_server *s = x->srv;
	enum pc_err err;

	if (w == NULL) {
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
	err = workers_submit_keyed(w, server_client_hash(x), cap, server_slow_job, x);
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
	server_lane_wake(server_lane_of(x));
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

/* The Origin check (login and logout CSRF): a request that may change
 * state (not GET, HEAD, OPTIONS; a GET of a PC_R_WRITES route does) and is,
 * or could become, a browser session's -- it carries a Cookie, or its face
 * signs in with cookies (cookie login included) -- sent by a page of an
 * origin not trusted. */
static bool server_origin_refused(const struct http_exchange *x)
{
	const struct pc_req *r = &x->req;
	const char *m = r->method;

	if (strcmp(m, "OPTIONS") == 0)
		return false;
	if ((strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) &&
	    !(r->route != NULL && (r->route->flags & PC_R_WRITES)))
		return false;
	if (req_header_get(r, "Cookie") == NULL &&
	    (r->face == NULL || !(r->face->auth.cookie || r->face->auth.cookie_jwt)))
		return false;
	return !http_origin_trusted(&x->srv->ctx->cfg, r);
}

/* The final call: match, check, run (or start the pool's job). */
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
	if (server_origin_refused(x)) {
		server_render_error(x, 403, NULL);
		return;
	}
	status = server_checks(x);
	if (status != 0) {
		server_render_error(x, status, status == 422 || status == 401 ? &x->req.errinfo : NULL);
		return;
	}
	if (x->req.route->flags & PC_R_SLOW)
		server_slow_start(x, x->srv->workers,
				  (unsigned)x->srv->ctx->cfg.hash_queue_per_client);
	else if (x->req.route->flags & PC_R_COMMITS)
		server_slow_start(x, x->srv->write_workers, 0); /* a fair order, no cap */
	else
		server_run_handler(x);
}

/* The per-thread series of /metrics: each lane's connections. */
static enum pc_err server_metrics_threads(const struct pc_server *s, struct pc_buf *out)
{
	uint64_t open[SERVER_LANES_MAX], accepted[SERVER_LANES_MAX];

	for (unsigned i = 0; i < s->nlanes; i++) {
		open[i] = atomic_load_explicit(&s->lanes[i].open, memory_order_relaxed);
		accepted[i] = atomic_load_explicit(&s->lanes[i].accepted, memory_order_relaxed);
	}
	return http_metrics_threads(out, open, accepted, s->nlanes);
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
	if (err == PC_OK)
		err = server_metrics_threads(x->srv, &b);
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

/* ---- the guard: connections per client, header and body deadlines ------------------- */

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

static void server_ipkey(const struct sockaddr *sa, struct server_ipkey *k)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(k, 0, sizeof(*k));
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;

		k->fam = 4;
		memcpy(k->b, &a->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;

		if (memcmp(a->sin6_addr.s6_addr, mapped, sizeof(mapped)) == 0) {
			k->fam = 4;
			memcpy(k->b, a->sin6_addr.s6_addr + 12, 4);
		} else {
			k->fam = 6;
			memcpy(k->b, a->sin6_addr.s6_addr, 8); /* the /64 */
		}
	}
}

/* The keys of the trusted_proxies addresses (those that parse). */
static void server_proxies(struct pc_server *s, const char *list)
{
	struct sockaddr_in6 a6;
	struct sockaddr_in a4;
	char one[INET6_ADDRSTRLEN + 1];
	const char *p = list;
	size_t n;

	while (*p != '\0' && s->nproxies < SERVER_PROXIES_MAX) {
		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		if (n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = '\0';
			memset(&a4, 0, sizeof(a4));
			memset(&a6, 0, sizeof(a6));
			if (inet_pton(AF_INET, one, &a4.sin_addr) == 1) {
				a4.sin_family = AF_INET;
				server_ipkey((const struct sockaddr *)&a4, &s->proxies[s->nproxies++]);
			} else if (inet_pton(AF_INET6, one, &a6.sin6_addr) == 1) {
				a6.sin6_family = AF_INET6;
				server_ipkey((const struct sockaddr *)&a6, &s->proxies[s->nproxies++]);
			}
		}
		p += n;
	}
}

static size_t server_ipkey_bucket(const struct server_ipkey *k)
{
	uint64_t h = 1469598103934665603ULL;

	h = (h ^ k->fam) * 1099511628211ULL;
	for (size_t i = 0; i < sizeof(k->b); i++)
		h = (h ^ k->b[i]) * 1099511628211ULL;
	return (size_t)(h % SERVER_IP_BUCKETS);
}

/* The count of k (guard_mu held); create: add a zero one when absent. */
static struct server_ipcount **server_ipcount_at(struct pc_server *s, const struct server_ipkey *k)
{
	struct server_ipcount **pp = &s->ipc[server_ipkey_bucket(k)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->key.fam == k->fam && memcmp((*pp)->key.b, k->b, sizeof(k->b)) == 0)
			break;
	}
	return pp;
}

/* MHD's accept policy (every daemon's): refuses every connection once the
 * server is stopping, and a client that holds per_ip connections. Two
 * daemons accepting at once may each let one more in: the cap is exact to
 * within the number of threads. */
static enum MHD_Result server_on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct pc_server *s = cls;
	struct server_ipcount **pp;
	struct server_ipkey k;
	bool ok;

	(void)len;
	if (atomic_load(&s->stopping))
		return MHD_NO; /* stopping: nothing new, as a quiesced daemon */
	if (s->per_ip == 0)
		return MHD_YES;
	server_ipkey(addr, &k);
	if (k.fam == 0)
		return MHD_YES;
	for (size_t i = 0; i < s->nproxies; i++) {
		/* a trusted proxy carries many clients' connections */
		if (s->proxies[i].fam == k.fam && memcmp(s->proxies[i].b, k.b, sizeof(k.b)) == 0)
			return MHD_YES;
	}
	pthread_mutex_lock(&s->guard_mu);
	pp = server_ipcount_at(s, &k);
	ok = *pp == NULL || (*pp)->n < s->per_ip;
	pthread_mutex_unlock(&s->guard_mu);
	return ok ? MHD_YES : MHD_NO;
}

static void server_conn_started(struct server_lane *l, struct MHD_Connection *c, void **sctx)
{
	struct pc_server *s = l->srv;
	const union MHD_ConnectionInfo *ci;
	struct server_ipcount **pp;
	struct server_conn *sc = calloc(1, sizeof(*sc));

	*sctx = sc;
	if (sc == NULL)
		return;
	sc->lane = l;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	sc->fd = ci != NULL ? ci->connect_fd : -1;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	server_ipkey(ci != NULL ? ci->client_addr : NULL, &sc->key);
	if (ci != NULL && ci->client_addr != NULL)
		server_ip_text(ci->client_addr, sc->ip, sizeof(sc->ip));
	atomic_init(&sc->deadline_us, time_mono_us() + s->header_us);
	pthread_mutex_lock(&s->guard_mu);
	if (sc->key.fam != 0) {
		pp = server_ipcount_at(s, &sc->key);
		if (*pp == NULL)
			*pp = calloc(1, sizeof(**pp));
		if (*pp != NULL) {
			(*pp)->key = sc->key;
			(*pp)->n++;
		} else {
			sc->key.fam = 0; /* out of memory: not counted */
		}
	}
	sc->next = s->conns.next;
	sc->prev = &s->conns;
	s->conns.next->prev = sc;
	s->conns.next = sc;
	pthread_mutex_unlock(&s->guard_mu);
}

/* MHD calls this before it closes the socket: once off the list, the
 * reaper no longer touches the descriptor. */
static void server_conn_closed(struct pc_server *s, struct server_conn *sc)
{
	struct server_ipcount **pp, *gone = NULL;

	if (sc == NULL)
		return;
	pthread_mutex_lock(&s->guard_mu);
	sc->prev->next = sc->next;
	sc->next->prev = sc->prev;
	if (sc->key.fam != 0) {
		pp = server_ipcount_at(s, &sc->key);
		if (*pp != NULL && --(*pp)->n == 0) {
			gone = *pp;
			*pp = gone->next;
		}
	}
	pthread_mutex_unlock(&s->guard_mu);
	free(gone);
	free(sc);
}

/* cls: the lane of the daemon that holds the connection. */
static void server_on_connection(void *cls, struct MHD_Connection *c, void **sctx,
				 enum MHD_ConnectionNotificationCode code)
{
	struct server_lane *l = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_add_explicit(&l->open, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&l->accepted, 1, memory_order_relaxed);
		server_conn_started(l, c, sctx);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		atomic_fetch_sub_explicit(&l->open, 1, memory_order_relaxed);
		server_conn_closed(l->srv, *sctx);
		*sctx = NULL;
	}
}

/* Sets the connection's deadline: now + us, or none (us 0). */
static void server_deadline_at(struct http_exchange *x, int64_t now, int64_t us)
{
	struct server_conn *sc = x->guard;

	if (sc != NULL)
		atomic_store_explicit(&sc->deadline_us, us != 0 ? now + us : 0,
				      memory_order_relaxed);
}

static void server_deadline(struct http_exchange *x, int64_t us)
{
	server_deadline_at(x, us != 0 && x->guard != NULL ? time_mono_us() : 0, us);
}

/* Shuts down (does not close) every connection past its deadline: MHD sees
 * the end of the stream, closes it and frees its resources. */
static void *server_reaper(void *arg)
{
	struct pc_server *s = arg;
	struct timespec ts = { 0, SERVER_REAP_US * 1000 };
	struct server_conn *sc;
	int64_t now, d;

	while (!atomic_load(&s->reaper_stop)) {
		nanosleep(&ts, NULL);
		now = time_mono_us();
		pthread_mutex_lock(&s->guard_mu);
		for (sc = s->conns.next; sc != &s->conns; sc = sc->next) {
			d = atomic_load_explicit(&sc->deadline_us, memory_order_relaxed);
			if (d != 0 && now > d && !sc->shut && sc->fd >= 0) {
				shutdown(sc->fd, SHUT_RDWR);
				sc->shut = true;
			}
		}
		pthread_mutex_unlock(&s->guard_mu);
	}
	return NULL;
}

/* ---- MHD callbacks ---------------------------------------------------------------- */

/* An empty request arena: one of the lane's spares, else a new one. */
static struct pc_arena *server_arena_take(struct server_lane *l)
{
	if (l != NULL && l->nspare > 0)
		return l->spare[--l->nspare];
	return arena_new(SERVER_ARENA_CHUNK);
}

/* Gives a request's arena back: emptied (its cleanups run, what it handed
 * out gone) and kept by the lane for its next request, or freed. */
static void server_arena_give(struct server_lane *l, struct pc_arena *a)
{
	if (l != NULL && l->nspare < SERVER_ARENA_SPARE) {
		arena_reset(a);
		l->spare[l->nspare++] = a;
		return;
	}
	arena_free(a);
}

static struct http_exchange *server_exchange_new(struct pc_server *s, struct MHD_Connection *c,
						 const char *url, const char *method)
{
	const union MHD_ConnectionInfo *ci;
	struct server_conn *sc;
	struct server_lane *l;
	struct http_exchange *x;
	struct pc_arena *a;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	sc = ci != NULL ? ci->socket_context : NULL;
	l = sc != NULL ? sc->lane : NULL;
	a = server_arena_take(l);
	if (a == NULL)
		return NULL;
	/* zeroed whole: nothing of the arena's last request shows through */
	x = arena_calloc(a, sizeof(*x));
	if (x == NULL) {
		server_arena_give(l, a);
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
	x->guard = sc;
	x->lane = l;
	if (sc != NULL) {
		memcpy(x->ip, sc->ip, sizeof(x->ip)); /* made when the connection opened */
	} else {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci != NULL && ci->client_addr != NULL)
			server_ip_text(ci->client_addr, x->ip, sizeof(x->ip));
	}
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

/* What server_strict counts of the header block. */
struct server_hdrs {
	unsigned content_length, transfer_encoding, host;
	const char *cl;      /* the first Content-Length */
	bool cl_differ;      /* another Content-Length with another value */
	size_t bytes;        /* names, values and their separators */
};

/* Whether key is name, in any case, as strcasecmp says (up to a NUL); a key
 * MHD measured shorter than name (key_size) cannot be, and is not compared. */
static bool server_key_is(const char *key, size_t key_size, const char *name, size_t name_len)
{
	return key_size >= name_len && strcasecmp(key, name) == 0;
}

static enum MHD_Result server_count_header(void *cls, enum MHD_ValueKind kind, const char *key,
					   size_t key_size, const char *value, size_t value_size)
{
	struct server_hdrs *h = cls;

	(void)kind;
	(void)value_size; /* counted up to a NUL, as before */
	if (key == NULL)
		return MHD_YES;
	h->bytes += strlen(key) + (value != NULL ? strlen(value) : 0) + 4;
	if (server_key_is(key, key_size, "Content-Length", 14)) {
		if (h->content_length++ == 0)
			h->cl = value;
		else if (value == NULL || h->cl == NULL || strcmp(value, h->cl) != 0)
			h->cl_differ = true;
	} else if (server_key_is(key, key_size, "Transfer-Encoding", 17)) {
		h->transfer_encoding++;
	} else if (server_key_is(key, key_size, "Host", 4)) {
		h->host++;
	}
	return MHD_YES;
}

/* The starts of the query's keys and values, to tell MHD's NULs from a client's. */
struct server_args {
	const char *at[64];
	size_t n;
	bool overflow;
};

static enum MHD_Result server_note_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				       const char *value)
{
	struct server_args *a = cls;

	(void)kind;
	if (a->n + 2 > sizeof(a->at) / sizeof(a->at[0])) {
		a->overflow = true;
		return MHD_NO;
	}
	a->at[a->n++] = key;
	if (value != NULL)
		a->at[a->n++] = value;
	return MHD_YES;
}

/* MHD 0.9.75 cuts the request line in place: method NUL target NUL version,
 * the target's '?', and in the query each '&' and '=', replaced by NUL too;
 * a NUL the client sent is taken as the same (MHD reads "/healthz\0x" as
 * "/healthz"). True when the text between method and version holds a NUL
 * MHD did not make: a segment that is neither the method, the path, nor a
 * query key or value (empty segments aside: "a&&b"). */
static bool server_line_has_nul(const struct http_exchange *x, const char *version)
{
	const char *m = x->req.method, *u = x->req.path, *p;
	struct server_args a;
	size_t i;

	if (m == NULL || u == NULL || version == NULL || m + strlen(m) + 1 != u)
		return true;
	if (version < u || version - u > 65536)
		return false; /* not MHD's in-place layout: nothing to tell */
	p = u + strlen(u) + 1;
	if (p >= version)
		return false;
	memset(&a, 0, sizeof(a));
	MHD_get_connection_values(x->conn, MHD_GET_ARGUMENT_KIND, server_note_arg, &a);
	if (a.overflow)
		return false;
	while (p < version) {
		if (*p != '\0') {
			for (i = 0; i < a.n && a.at[i] != p; i++)
				;
			if (i == a.n)
				return true;
		}
		p += strlen(p) + 1;
	}
	return false;
}

/* A byte allowed in the request target: visible ASCII (RFC 9112 3.2; the
 * rest must be percent-encoded). */
static bool server_target_byte_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* The strict reading of the request line and header block (RFC 9112),
 * where libmicrohttpd is lenient: 0 when it passes, else 400 or 431.
 *   - the version is HTTP/1.0 or HTTP/1.1, the method a token, the target
 *     visible ASCII (a NUL cuts MHD's line short: "GET /healthz\0x HTTP/1.1"
 *     reaches here as HTTP/0.9 or with the NUL's tail lost);
 *   - HTTP/1.1 names exactly one Host;
 *   - no two Content-Length headers that differ (MHD takes the first), no
 *     Content-Length beside Transfer-Encoding (the smuggling pair);
 *   - the header block within SERVER_HEADER_MAX (431 beyond). */
static int server_strict(struct http_exchange *x, const char *version)
{
	struct server_hdrs h;
	const char *p;

	if (version == NULL ||
	    (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0))
		return 400;
	for (p = x->req.method; p != NULL && *p != '\0'; p++) {
		if (!ascii_is_alnum(*p) && *p != '-' && *p != '_')
			return 400;
	}
	for (p = x->req.path; p != NULL && *p != '\0'; p++) {
		if (!server_target_byte_ok((unsigned char)*p))
			return 400;
	}
	if (x->conn == NULL)
		return 0;
	if (server_line_has_nul(x, version))
		return 400;
	memset(&h, 0, sizeof(h));
	MHD_get_connection_values_n(x->conn, MHD_HEADER_KIND, server_count_header, &h);
	if (h.bytes + strlen(x->req.path) > SERVER_HEADER_MAX)
		return 431;
	if (strcmp(version, "HTTP/1.1") == 0 && h.host != 1)
		return 400;
	if (h.cl_differ || (h.content_length > 0 && h.transfer_encoding > 0) ||
	    h.transfer_encoding > 1)
		return 400;
	return 0;
}

static enum MHD_Result server_on_access(void *cls, struct MHD_Connection *c, const char *url,
					const char *method, const char *version,
					const char *upload, size_t *upload_size, void **con_cls)
{
	struct pc_server *s = cls;
	struct http_exchange *x = *con_cls;
	int status;

	if (x == NULL) {
		x = server_exchange_new(s, c, url, method);
		if (x == NULL)
			return MHD_NO;
		*con_cls = x;
		status = server_strict(x, version);
		if (status != 0) {
			server_deadline(x, 0);
			server_render_error(x, status, NULL);
			if (status == 431)
				return server_send_raw_close(x);
			resp_header_add(&x->resp, "Connection", "close");
			return server_send(x);
		}
		if (!server_declared_too_big(x)) {
			server_deadline_at(x, x->t0_us, s->body_us);
			return MHD_YES;
		}
		server_deadline(x, 0);
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
		server_deadline(x, 0);
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
	x->t1_us = time_mono_us(); /* one clock read: deadline, log line, metrics */
	server_deadline_at(x, x->t1_us, s->header_us); /* the next request on the connection */
	if (s->access_log)
		http_access_log(x);
	if (x->sent_status != 0)
		http_metrics_record(&s->metrics, x->req.route_id, x->sent_status,
				    x->t1_us - x->t0_us);
	if (x->counted_slow)
		atomic_fetch_sub(&s->slow_open, 1);
	buf_release(&x->req.body);
	server_arena_give(x->lane, x->req.arena);
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
	log_error("http", "%s", msg);
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

/* A TCP socket for s->addr, non-blocking, close-on-exec, SO_REUSEADDR, and
 * SO_REUSEPORT when reuseport; an IPv6 one takes IPv6 only (as MHD's own).
 * -1 with errno on failure. */
static int server_socket(const struct pc_server *s, bool reuseport)
{
	int fam = s->addr.ss_family, one = 1, e;
	int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
	    (fam == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Binds n listening sockets to s->addr, one per lane, into fds. The probe
 * (no SO_REUSEPORT) is bound first and held until they listen: bound
 * beside another process's listening socket it fails, where theirs would
 * join its group and share its traffic. */
static enum pc_err server_listen(struct pc_server *s, const struct pc_config *cfg, int *fds,
				 unsigned n, struct pc_errinfo *ei)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
	socklen_t len = s->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						       : sizeof(struct sockaddr_in);
	int probe, e = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		fds[i] = -1;
	probe = server_socket(s, false);
	if (probe < 0 || bind(probe, sa, len) != 0)
		e = errno;
	for (i = 0; i < n && e == 0; i++) {
		fds[i] = server_socket(s, true);
		if (fds[i] < 0 || bind(fds[i], sa, len) != 0 || listen(fds[i], SERVER_BACKLOG) != 0)
			e = errno;
	}
	if (probe >= 0)
		close(probe);
	if (e == 0)
		return PC_OK;
	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	pc_errinfo_setf(ei, "", "port", PC_V_LISTEN, "cannot listen on %s:%d: %s", cfg->host,
			cfg->port, strerror(e));
	return PC_EINTERNAL;
}

/* Starts lane l's daemon on its listening socket fd, taking conns
 * connections at most; the lane's thread runs it. Every libmicrohttpd flag
 * and option of the server is here. MHD owns fd from the call on (on
 * failure it may have closed it or not: it is left, the server does not
 * start). */
static struct MHD_Daemon *server_daemon_start(struct server_lane *l, int fd, unsigned conns)
{
	struct pc_server *s = l->srv;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	if (s->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	return MHD_start_daemon(flags, 0, server_on_accept, s, server_on_access, s,
				MHD_OPTION_EXTERNAL_LOGGER, server_on_mhd_log, s,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, conns,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_CONN_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_CONN_MEMORY,
				MHD_OPTION_NOTIFY_COMPLETED, server_on_completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, server_on_connection, l,
				MHD_OPTION_UNESCAPE_CALLBACK, server_unescape_none, NULL,
				MHD_OPTION_END);
}

/* A lane's thread: waits for its daemon's events (or its timeout, or a
 * wake-up), then runs the daemon without blocking; see the head of the file. */
static void *server_lane_main(void *arg)
{
	struct server_lane *l = arg;
	struct pollfd p[2] = { { .fd = l->epoll_fd, .events = POLLIN },
			       { .fd = l->wake_fd, .events = POLLIN } };
	MHD_UNSIGNED_LONG_LONG t;
	int64_t flushed_us, now_us;
	uint64_t n;
	int ms, ready;

	http_log_batch_begin(&l->log, l->srv->access_log ? &l->srv->log_writer : NULL);
	flushed_us = time_mono_us();
	while (!atomic_load(&l->srv->lanes_stop)) {
		ms = -1;
		if (MHD_get_timeout(l->daemon, &t) == MHD_YES)
			ms = t < INT_MAX ? (int)t : INT_MAX;
		/* The access-log lines of the rounds so far wait while more work is
		 * ready (under load, one hand-over and one write(2) of a full batch
		 * rather than one a round: an append's cost is mostly per write),
		 * at most SERVER_LOG_HOLD_US; they are handed over before any wait. */
		ready = 0;
		if (http_log_batch_pending()) {
			ready = poll(p, 2, 0);
			now_us = time_mono_us();
			if (ready <= 0 || now_us - flushed_us >= SERVER_LOG_HOLD_US) {
				http_log_batch_flush();
				flushed_us = now_us;
			}
		}
		if (ready == 0)
			ready = poll(p, 2, ms);
		if (ready > 0 && (p[1].revents & POLLIN) && read(l->wake_fd, &n, sizeof(n)) < 0)
			n = 0; /* EAGAIN: another read took it */
		MHD_run(l->daemon);
	}
	http_log_batch_end();
	return NULL;
}

/* Stops every lane's thread, then its daemon (MHD closes what is left open),
 * then closes its eventfd. */
static void server_daemons_stop(struct pc_server *s)
{
	struct server_lane *l;
	unsigned i;

	atomic_store(&s->lanes_stop, true);
	for (i = 0; i < s->nlanes; i++) {
		l = &s->lanes[i];
		if (l->thread_on) {
			server_lane_wake(l);
			pthread_join(l->thread, NULL);
			l->thread_on = false;
		}
	}
	for (i = 0; i < s->nlanes; i++) {
		l = &s->lanes[i];
		if (l->daemon != NULL)
			MHD_stop_daemon(l->daemon); /* completes what is open: arenas come back */
		l->daemon = NULL;
		while (l->nspare > 0)
			arena_free(l->spare[--l->nspare]);
		if (l->wake_fd >= 0)
			close(l->wake_fd);
		l->wake_fd = -1;
	}
}

/* Runs lane l's daemon, started: its eventfd, its thread. */
static bool server_lane_run(struct server_lane *l)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_EPOLL_FD);

	if (di == NULL || di->epoll_fd < 0)
		return false;
	l->epoll_fd = di->epoll_fd;
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake_fd < 0)
		return false;
	l->thread_on = pthread_create(&l->thread, NULL, server_lane_main, l) == 0;
	return l->thread_on;
}

/* One lane per HTTP thread, each its daemon on its listening socket. */
static enum pc_err server_lanes_start(struct pc_server *s, const struct pc_config *cfg,
				      struct pc_errinfo *ei)
{
	int fds[SERVER_LANES_MAX];
	unsigned threads, conns, i;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	enum pc_err err;

	threads = cfg->threads > 0 ? (unsigned)cfg->threads : ncpu > 0 ? (unsigned)ncpu : 1;
	if (threads > SERVER_LANES_MAX)
		threads = SERVER_LANES_MAX;
	conns = cfg->max_connections > 0 ? (unsigned)cfg->max_connections : SERVER_DEFAULT_CONNS;
	conns = conns / threads > 0 ? conns / threads : 1; /* each daemon's share */
	s->lanes = calloc(threads, sizeof(*s->lanes));
	if (s->lanes == NULL)
		return PC_ENOMEM;
	s->nlanes = threads;
	for (i = 0; i < threads; i++) {
		s->lanes[i].srv = s;
		s->lanes[i].epoll_fd = -1;
		s->lanes[i].wake_fd = -1;
		atomic_init(&s->lanes[i].open, 0);
		atomic_init(&s->lanes[i].accepted, 0);
	}
	err = server_listen(s, cfg, fds, threads, ei);
	if (err != PC_OK)
		return err;
	atomic_store(&s->starting, true);
	for (i = 0; i < threads; i++) {
		s->lanes[i].daemon = server_daemon_start(&s->lanes[i], fds[i], conns);
		if (s->lanes[i].daemon == NULL || !server_lane_run(&s->lanes[i]))
			break;
	}
	atomic_store(&s->starting, false);
	if (i == threads)
		return PC_OK;
	for (unsigned j = i + 1; j < threads; j++)
		close(fds[j]);
	server_daemons_stop(s);
	pc_errinfo_setf(ei, "", "port", PC_V_LISTEN, "cannot listen on %s:%d: %s", cfg->host,
			cfg->port, s->start_err[0] != '\0' ? s->start_err : "cannot start a daemon");
	ei->detail[strcspn(ei->detail, "\n")] = '\0';
	return PC_EINTERNAL;
}

enum pc_err server_start(struct pc_ctx *ctx, const struct pc_face *const *faces, size_t nfaces,
			    struct pc_server **out, struct pc_errinfo *ei)
{
	const struct pc_config *cfg = &ctx->cfg;
	struct pc_errinfo scratch;
	struct pc_server *s;
	enum pc_err err;

	*out = NULL;
	if (ei == NULL)
		ei = &scratch;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PC_ENOMEM;
	s->ctx = ctx;
	s->workers = ctx_workers(ctx);
	s->write_workers = ctx_write_workers(ctx);
	s->max_body = cfg->max_body_bytes > 0 ? (size_t)cfg->max_body_bytes : 0;
	s->access_log = cfg->access_log;
	atomic_init(&s->jobs, 0);
	atomic_init(&s->slow_open, 0);
	atomic_init(&s->stopping, false);
	atomic_init(&s->lanes_stop, false);
	atomic_init(&s->starting, false);
	atomic_init(&s->reaper_stop, false);
	pthread_mutex_init(&s->guard_mu, NULL);
	s->conns.next = s->conns.prev = &s->conns;
	s->per_ip = cfg->max_connections_per_ip > 0 ? (unsigned)cfg->max_connections_per_ip : 0;
	server_proxies(s, cfg->trusted_proxies);
	s->header_us = (int64_t)cfg->header_timeout_seconds * 1000000;
	s->body_us = (int64_t)cfg->body_timeout_seconds * 1000000;
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
	if (s->access_log)
		(void)http_log_writer_start(&s->log_writer); /* else the lanes write */
	err = server_lanes_start(s, cfg, ei);
	if (err != PC_OK)
		goto out_free;
	if (pthread_create(&s->reaper, NULL, server_reaper, s) != 0) {
		server_daemons_stop(s);
		pc_errinfo_setf(ei, "", "port", PC_V_LISTEN, "cannot start the connection reaper");
		err = PC_EINTERNAL;
		goto out_free;
	}
	s->reaper_on = true;
	*out = s;
	return PC_OK;
out_free:
	http_log_writer_stop(&s->log_writer); /* the lanes are stopped: none left to hand over */
	free(s->lanes);
	router_free(s->router);
	pthread_mutex_destroy(&s->guard_mu);
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
	atomic_store(&s->stopping, true); /* no new connection, no new slow job */
	/* Every submitted job resumes its connection; MHD must not stop before. */
	while (atomic_load(&s->jobs) > 0)
		server_nap();
	deadline = time_mono_us() + SERVER_DRAIN_US;
	while (atomic_load(&s->slow_open) > 0 && time_mono_us() < deadline)
		server_nap();
	server_daemons_stop(s);
	http_log_writer_stop(&s->log_writer); /* after every lane's last batch */
	if (s->reaper_on) {
		atomic_store(&s->reaper_stop, true);
		pthread_join(s->reaper, NULL);
	}
	for (size_t i = 0; i < SERVER_IP_BUCKETS; i++) {
		while (s->ipc[i] != NULL) { /* none left once MHD closed every connection */
			struct server_ipcount *n = s->ipc[i];

			s->ipc[i] = n->next;
			free(n);
		}
	}
	pthread_mutex_destroy(&s->guard_mu);
	free(s->lanes);
	router_free(s->router);
	free(s);
}
