/*
 * internal.h - what the files of src/http share and faces never see.
 *
 * Groups:
 *   exchange   struct http_exchange: one request's server-side state, the
 *              target of req->impl; it lives in the request's arena
 *   decode     pure parsers (percent-decoding, UTF-8, Content-Type, form
 *              bodies, the Cookie header): no MHD, unit-tested directly
 *   body       the PC_R_JSON / PC_R_FORM checks (req.c)
 *   resp       reason phrases, header-name rules (resp.c)
 *   authn      the PC_R_AUTH / ACTIVE / SUPERUSER checks (authn.c)
 *   accesslog  request ids, JSON escaping, the per-request log line
 */
#ifndef PC_HTTP_INTERNAL_H
#define PC_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

struct MHD_Connection;
struct pc_server;

/* ---- exchange ------------------------------------------------------------- */

/* A decoded form field; both strings valid UTF-8 without NUL, arena-owned. */
struct http_field {
	const char *name;
	const char *value;
};

/*
 * Phases of an exchange (server.c drives them):
 *
 *   BODY --(final call: router, checks, inline handler)--> response queued
 *     \--(PC_R_SLOW, PC_R_COMMITS: suspend, submit)--> SLOW --(worker ran handler,
 *         slow_done = 1, resume)--> final call again: response queued
 *
 * too_big is set while gathering the body and answered with 413 at the
 * final call (or at the first one when Content-Length already says so).
 */
enum http_phase { HTTP_PHASE_BODY, HTTP_PHASE_SLOW, HTTP_PHASE_SENT };

struct http_exchange {
	struct pc_req req;               /* req.impl points back here */
	struct pc_resp resp;
	struct MHD_Connection *conn;     /* NULL in unit tests: no headers then */
	struct pc_server *srv;
	int64_t t0_us;                   /* time_mono_us() at the first call */
	enum http_phase phase;
	bool too_big;                    /* the body passed max_body_bytes */
	bool body_failed;                /* ENOMEM while gathering the body */
	bool counted_slow;               /* counted in the server's open slow requests */
	atomic_int slow_done;            /* set by the worker before it resumes */
	int sent_status;                 /* status queued to MHD; 0 if none */
	const struct http_field *form;   /* PC_R_FORM: decoded fields */
	size_t nform;
	char ip[48];                     /* INET6_ADDRSTRLEN */
	void *guard;                     /* server.c's record of the connection; may be NULL */
	void *lane;                      /* server.c's HTTP thread that took it; may be NULL */
	int64_t t1_us;                   /* time_mono_us() at completion; 0 before */
};

/* ---- decode (req.c) ------------------------------------------------------- */

/* Percent-decodes n bytes of src into dst (room for n + 1), NUL-terminating.
 * plus: '+' becomes a space (forms). A '%' not followed by two hex digits is
 * kept as is, as Python's unquote does. Returns the decoded length; the
 * result may hold NUL bytes: check with http_text_ok. */
size_t http_pct_decode(char *dst, const char *src, size_t n, bool plus);

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing past U+10FFFF) and holds no NUL byte. */
bool http_text_ok(const char *s, size_t n);

/* True when the Content-Type value ctype names type/subtype want (compared
 * without case; parameters after ';' and surrounding blanks ignored). */
bool http_ctype_is(const char *ctype, const char *want);

/* Parses an application/x-www-form-urlencoded body: fields split on '&',
 * name and value on the first '=', '+' is a space, %XX decoded; empty
 * pieces skipped. PC_EINVAL (ei: body, value_error, "Invalid form body")
 * when a decoded name or value is not valid UTF-8 or holds a NUL;
 * PC_ENOMEM. Fields are arena-owned; *n may be 0. */
enum pc_err http_form_parse(struct pc_arena *a, const char *body, size_t len,
			    const struct http_field **out, size_t *n, struct pc_errinfo *ei);

/* Finds cookie name in a Cookie header value ("a=1; b=2"): pairs split on
 * ';', blanks around names and values trimmed, one pair of surrounding
 * double quotes removed from the value. The first pair with that name wins.
 * Returns a pointer into header and the value length, or NULL. */
const char *http_cookie_find(const char *header, const char *name, size_t *vlen);

/* ---- body (req.c) -------------------------------------------------------- */

/* PC_R_JSON: parses req->body into req->json (an object, kept by the arena).
 * PC_EINVAL with req->errinfo set as FastAPI reports it; PC_ENOMEM. */
enum pc_err http_body_json(struct pc_req *req, const char *ctype);

/* PC_R_FORM: decodes req->body into x->form when ctype is urlencoded (any
 * other type gives an empty form). PC_EINVAL with req->errinfo; PC_ENOMEM. */
enum pc_err http_body_form(struct http_exchange *x, const char *ctype);

/* ---- resp (resp.c) --------------------------------------------------------- */


/* True when the response already carries a header of that name (any case). */
bool http_resp_has_header(const struct pc_resp *resp, const char *name);

/* ---- authn (authn.c) ---------------------------------------------------------- */

/* Runs the credential checks a route's flags ask for (PC_R_AUTH with
 * PC_R_BEARER / PC_R_COOKIE, then PC_R_ACTIVE, PC_R_SUPERUSER). Fills
 * req->user, cred_kind, cred. Returns 0 when they pass, else the status to
 * answer: 401, 403, or 500 when the store failed. */
int http_authn(struct pc_req *req, unsigned flags);

/* ---- cors (cors.c) -------------------------------------------------------------- */

/* Whether cors_origins names any origin. */
bool http_cors_on(const struct pc_config *cfg);
/* OPTIONS with Origin and Access-Control-Request-Method, CORS on. */
bool http_cors_is_preflight(const struct pc_config *cfg, const struct pc_req *req);
/* Answers a preflight to a mounted path: 0 with resp made (204 and the
 * Access-Control-Allow-Methods/-Headers/-Max-Age headers), else the status
 * to render: 403 (origin, method or a header not allowed), 500. */
int http_cors_preflight(const struct pc_config *cfg, struct pc_req *req, struct pc_resp *resp);
/* The Origin check of cookie-authenticated state-changing requests: true
 * when the request names no origin (no Origin, no Referer: not a browser's
 * page), or its Origin (else its Referer's origin) is the server's own (its
 * Host's), one of trusted_origins, or, that being empty, one of cors_origins
 * or the origin of reset_url, verify_url, magic_url or oauth_callback_base.
 * "null" and a malformed Referer are not trusted. */
bool http_origin_trusted(const struct pc_config *cfg, const struct pc_req *req);
/* Adds Vary: Origin, and for an allowed Origin Access-Control-Allow-Origin
 * (and -Credentials), to any answer; nothing when CORS is off. */
enum pc_err http_cors_headers(const struct pc_config *cfg, const struct pc_req *req,
			      struct pc_resp *resp);

/* ---- metrics (metrics.c) ------------------------------------------------------------ */

/* Per-route series: one block of slots per router entry, plus block 0 for
 * requests that matched no route. */
struct http_metrics {
	long base;      /* first stats slot; -1: per-route series off (no room) */
	size_t nblocks; /* router entries + 1 */
};

/* Reserves the slots of r's routes. */
void http_metrics_init(struct http_metrics *m, const struct pc_router *r);
/* Counts one answered request: route_id (0: no route), status, duration. */
void http_metrics_record(const struct http_metrics *m, size_t route_id, int status,
			 int64_t dur_us);
/* The Prometheus text exposition of every counter into out. PC_ENOMEM, PC_ETOOBIG. */
enum pc_err http_metrics_write(const struct http_metrics *m, const struct pc_router *r,
			       struct pc_ctx *ctx, struct pc_buf *out);
/* The per-thread connection series: open[i] and accepted[i] of HTTP thread
 * i, for i < n. PC_ENOMEM, PC_ETOOBIG. */
enum pc_err http_metrics_threads(struct pc_buf *out, const uint64_t *open,
				 const uint64_t *accepted, size_t n);

/* ---- router (router.c) ------------------------------------------------------------- */

/* Number of mounted routes; route ids run 1..router_size. */
size_t router_size(const struct pc_router *r);
/* Labels of route id (1-based): method, full pattern, face name. */
void router_route_labels(const struct pc_router *r, size_t id, const char **method,
			 const char **path, const char **face);

/* ---- accesslog (accesslog.c) ---------------------------------------------------- */

#define HTTP_REQUEST_ID_MAX 64

/* Keeps incoming as the request id when it is 1..64 of [A-Za-z0-9._-],
 * else writes 32 random hex digits. */
void http_request_id_set(struct pc_req *req, const char *incoming);

/* The log line of the finished exchange, in fmt, into line (size bytes at
 * most, newline included, cut if need be): its length. No allocation. */
size_t http_access_log_format(const struct http_exchange *x, enum log_format fmt, char *line,
			      size_t size);
/* That line to the calling thread's batch (flushed first if the line might
 * not fit), or, on a thread without one, to the log's sink with one write(2). */
void http_access_log(const struct http_exchange *x);

/* A thread's pending access-log lines: whole lines only, bounded, no malloc
 * per request. A lane (server.c) owns HTTP_LOG_BATCHES of them and fills
 * one while the log's writer writes those handed over; accesslog.c borrows
 * them through a thread-local pointer between begin and end. */
#define HTTP_LOG_BATCH_SIZE 65536
#define HTTP_LOG_BATCHES 4
struct http_log_batch {
	struct http_log_batch *next; /* in the writer's queue */
	bool queued;                 /* handed to the writer, not yet written (its lock) */
	size_t len;
	char buf[HTTP_LOG_BATCH_SIZE];
};
struct http_log_lane {
	struct http_log_batch batch[HTTP_LOG_BATCHES]; /* filled in turn */
	unsigned cur;                 /* the one being filled */
	struct http_log_writer *writer; /* NULL: the lane writes its batches itself */
};

/* The access log's writer: one thread that writes the lanes' batches in the
 * order they were handed over, so that a lane's thread, the server's
 * bottleneck under load, hands a full batch over instead of spending the
 * write(2) (a page-cache append, ~0.5 us a line) itself; a lane whose next
 * batch is still queued waits for it (the log then sets the pace, as when
 * the lane wrote). One writer: its writes never contend for the file. */
#define HTTP_LOG_WRITER_TICK_US 2000
struct http_log_writer {
	pthread_mutex_t lock;
	pthread_cond_t queued;        /* a batch handed over, or stop */
	pthread_cond_t written;       /* a batch written */
	struct http_log_batch *head, *tail;
	unsigned waiting;             /* lanes waiting for a batch to be written */
	bool asleep;                  /* until woken (else it looks again within a tick) */
	bool stop;
	bool on;                      /* the thread runs */
	pthread_t thread;
};
/* Starts w's thread: false if it cannot (lanes then write themselves). */
bool http_log_writer_start(struct http_log_writer *w);
/* Writes what is queued, then stops w's thread. After every lane's
 * http_log_batch_end. */
void http_log_writer_stop(struct http_log_writer *w);

/* Makes l (emptied) the calling thread's batches; writer: NULL or started. */
void http_log_batch_begin(struct http_log_lane *l, struct http_log_writer *writer);
/* Hands the calling thread's pending lines to the writer (or writes them with
 * one write(2)); none: nothing. */
void http_log_batch_flush(void);
/* Whether the calling thread's batch holds lines not yet handed over. */
bool http_log_batch_pending(void);
/* Flushes, then the thread has no batch any more (lines go out one by one). */
void http_log_batch_end(void);

#endif /* PC_HTTP_INTERNAL_H */
