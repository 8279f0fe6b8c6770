/*
 * core.h - the internal interface of the core, one group per module.
 *
 * Nothing here knows HTTP. The leaf utilities (arena, buf, crypto, time)
 * are in base/base.h, below the store. The groups, bottom up:
 *   workers   bounded pool for slow work (argon2 hashing, outbound HTTP)
 *   password  argon2id hash/verify, dummy verify, policy
 *   jwt       encode/decode of access tokens with the algorithm pinned
 *   email     validation and normalisation of addresses and usernames
 *   onetime   one-time tokens (reset, verify): issue, check, consume
 *   httpc     outbound HTTP: one request, one bounded response (libcurl)
 *   mail      the outbox and its sender, the mail message, webhooks
 *   ctx       struct pc_ctx, what pc_ctx_open wires together
 */
#ifndef PC_CORE_H
#define PC_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portcullis.h"

struct pc_store;

#include "base/base.h"

/* ---- credential cache (authcache.c) -------------------------------------------- */

#define PC_AUTHCACHE_CRED_MAX 512 /* longer credentials are always checked in full */
enum { PC_AUTHCACHE_JWT = 1, PC_AUTHCACHE_SESSION = 2 };

/* The store's write generation to pass to authcache_put: read it before
 * the store lookup whose answer will be remembered. 0: do not remember
 * (cache off, or a store that cannot report its writes). */
uint64_t authcache_stamp(struct pc_ctx *ctx);
/* The user behind a credential verified moments ago on this thread, if the
 * same bytes of the same kind were remembered, have not expired (now < exp),
 * the store has not been written since and the entry is younger than
 * cfg.auth_cache_ms. out gets no password hash. */
bool authcache_get(struct pc_ctx *ctx, unsigned kind, const char *cred, size_t len,
		      int64_t now, struct pc_user *out);
/* Remembers a credential that has just passed the full check, valid until
 * exp (unix seconds). A no-op when stamp is 0 or the credential is longer
 * than PC_AUTHCACHE_CRED_MAX. */
void authcache_put(struct pc_ctx *ctx, unsigned kind, const char *cred, size_t len,
		      int64_t exp, uint64_t stamp, const struct pc_user *u);

/* ---- workers --------------------------------------------------------------- */

/* A fixed set of threads running jobs from a bounded FIFO. submit never
 * blocks: PC_EBUSY when the queue holds max_queue jobs. free stops accepting,
 * runs what is queued, joins the threads. */
struct pc_workers;
typedef void pc_job_fn(void *arg);

/* nice > 0 lowers the workers' scheduling priority by that much (0..19). */
enum pc_err workers_new(unsigned nthreads, size_t max_queue, int nice, struct pc_workers **out);
enum pc_err workers_submit(struct pc_workers *w, pc_job_fn *fn, void *arg);
unsigned workers_count(const struct pc_workers *w);
void workers_free(struct pc_workers *w);

/* ---- password ---------------------------------------------------------------- */

struct pc_argon2_params {
	uint32_t m_kib;
	uint32_t t;
	uint32_t p;
};

/* argon2id PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash), 16-byte salt,
 * 32-byte hash. PC_ETOOBIG when outsz is too small. */
enum pc_err password_hash(const struct pc_argon2_params *pp, const char *pw, size_t len,
			     char *out, size_t outsz);

/* What a PHC string says about itself (password_phc_parse). */
struct phc_info {
	int type; /* argon2_type: Argon2_d, Argon2_i, Argon2_id */
	uint32_t version;
	uint32_t m, t, p;
	size_t salt_len; /* decoded bytes */
	size_t hash_len;
};

/* Reads $argon2X$[v=N$]m=N,t=N,p=N$salt$hash (no sign or leading zero in a
 * number, unpadded standard base64). False when it is not one; true says
 * nothing of whether argon2 takes the parameters. Exposed for the fuzzer. */
bool password_phc_parse(const char *phc, struct phc_info *pi);

/* PC_OK on a match; PC_EBADCREDS on a mismatch; PC_EINVAL when the stored
 * string is not a hash we can verify. *needs_rehash is true on a match whose
 * parameters differ from the policy. */
PC_WUR enum pc_err password_verify(const struct pc_argon2_params *policy, const char *phc,
				      const char *pw, size_t len, bool *needs_rehash);

/* Spends the time of one verification against a fixed hash made with the
 * policy, so unknown users cost what known ones do. */
void password_dummy_verify(const struct pc_argon2_params *policy, const char *pw, size_t len);
/* argon2's memory (password.c): a thread that hashes often calls _keep once
 * to reuse one mapping from hash to hash, and _release when idle to drop its
 * pages (the mapping stays); _drop unmaps it. Other threads unmap it after
 * each hash. */
void password_memory_keep(void);
void password_memory_release(void);
void password_memory_drop(void);

/* PC_OK or PC_EBADPASSWORD with ei->msg set to the reason ("Password should
 * be at least 8 characters", "Password should not contain e-mail"). */
enum pc_err password_check_policy(const struct pc_config *cfg, const char *pw, size_t len,
				     const char *email, struct pc_errinfo *ei);

/* ---- jwt ------------------------------------------------------------------- */

struct pc_jwt_claims {
	char sub[64];
	char jti[64];
	int64_t iat;
	int64_t exp;
};

struct pc_jwt_key {
	unsigned char secret[256];
	size_t len;
	char alg[16]; /* "HS256", "HS384", "HS512": the only one accepted */
	char aud[128];
};

/* Encodes {sub, aud, iat, exp, jti} signed with key. */
enum pc_err jwt_sign(const struct pc_jwt_key *key, const char *sub, int64_t now,
			  int lifetime, char *out, size_t outsz, struct pc_jwt_claims *claims);

/* Verifies: the header's alg must equal key->alg before anything else;
 * signature; aud must contain key->aud; exp > now; sub and jti present.
 * PC_EUNAUTHORIZED on any failure. Does not consult the denylist. */
PC_WUR enum pc_err jwt_verify(const struct pc_jwt_key *key, const char *token, int64_t now,
				 struct pc_jwt_claims *out);

/* The claims check of jwt_verify on a decoded payload. mode 0: the
 * strict fast reader, and jansson where it declines (what decode uses);
 * 1: the fast reader alone; 2: jansson alone; 3: the fast reader alone with
 * its declines counted as passes (the fuzzer compares them). */
bool jwt_claims_check(const struct pc_jwt_key *key, const char *json, size_t len, int64_t now,
			 int mode, struct pc_jwt_claims *c);

/* ---- email / username ----------------------------------------------------------- */

/* Validates an address (ASCII dot-atom local part, DNS domain with a dot,
 * no spaces, quotes, controls or CR/LF; at most 320 bytes, local at most 64).
 * out gets it with the domain lower-cased; out_lc fully lower-cased (the
 * uniqueness key). Either out may be NULL. PC_EINVAL with ei (field "email"). */
enum pc_err email_normalize(const char *in, char out[PC_EMAIL_MAX + 1],
			       char out_lc[PC_EMAIL_MAX + 1], struct pc_errinfo *ei);

/* 3..150 of [A-Za-z0-9_.+-]; no '@'. out_lc lower-cased. */
enum pc_err email_username_normalize(const char *in, char out_lc[PC_USERNAME_MAX + 1],
				  struct pc_errinfo *ei);


/* ---- onetime (onetime.c) -------------------------------------------------------- */

/* What a registration sets off: the on_after_register event, and with
 * requires_verification the verify token and its mail, in one transaction.
 * Failures are logged and returned; the user exists either way. */
enum pc_err onetime_after_register(struct pc_ctx *ctx, const struct pc_user *u);


/* ---- httpc (httpc.c) ------------------------------------------------------------ */

/* libcurl's process-wide set-up, done once (every user of libcurl in the
 * core calls this before its first handle). PC_EINTERNAL when it failed. */
enum pc_err httpc_global_init(void);

/* A hook asked during a transfer: true aborts it (PC_EBUSY). fn NULL: none. */
struct httpc_cancel {
	bool (*fn)(void *arg);
	void *arg;
};

struct httpc_request {
	const char *method;          /* "GET", "POST", "PUT", "HEAD", ... */
	const char *url;             /* http:// or https:// only; redirects are not followed */
	const char *const *headers;  /* "Name: value" lines, NULL-terminated; NULL: none */
	const void *body;            /* NULL: no body */
	size_t body_len;
	long timeout_s;              /* the whole exchange, connect to last byte */
	size_t response_max;         /* response body bytes kept; 0: the body is discarded */
	struct httpc_cancel cancel;
};

struct httpc_response {
	long status;         /* the HTTP status; 0 when none came */
	struct pc_buf body;  /* NUL-terminated once non-empty; httpc_response_release frees */
	char error[256];     /* why it failed, for logs and last_error (no header values) */
};

/* Makes one request. PC_OK when a response came, whatever its status;
 * PC_EINVAL for a bad method or a header line with CR, LF or no colon
 * (nothing sent); PC_ETOOBIG when the body passed response_max; PC_EBUSY
 * when cancelled; PC_EINTERNAL when the exchange failed (refused, timed out,
 * TLS, a scheme other than http/https: resp->error says); PC_ENOMEM. The
 * caller releases resp in every case. */
enum pc_err httpc_do(const struct httpc_request *req, struct httpc_response *resp);
void httpc_response_release(struct httpc_response *resp);

/* For the core's other libcurl transfers (SMTP): the options every transfer
 * shares (no signals, timeouts, protocols, error buffer, cancel hook) on a
 * CURL handle, and a failed curl_easy_perform's code put in words into err
 * (PC_EBUSY when cancelled, PC_EINTERNAL otherwise). */
void httpc_curl_setup(void *curl, long timeout_s, char *errbuf, const char *protocols,
		      const struct httpc_cancel *cancel);
enum pc_err httpc_curl_error(int rc, const char *errbuf, char *err, size_t errsz);

/* ---- mail: the outbox (outbox.c), the message (message.c), webhooks (webhook.c) ---- */

struct pc_outbox_row;
struct pc_mailer;
struct message_templates;

enum pc_mail_kind { PC_MAIL_RESET, PC_MAIL_VERIFY, PC_MAIL__MAX };

/* The mail modules' set-up: loads the template files (message.c) and starts
 * the outbox sender thread (curl initialised once per process). PC_EINVAL
 * (ei names the setting) for an unreadable or oversized template;
 * PC_EINTERNAL when the thread cannot start. */
enum pc_err mail_open(struct pc_ctx *ctx, struct pc_errinfo *ei);
/* Stops the sender (an attempt in flight is abandoned and retried later)
 * and frees the templates. Closing what is not open is a no-op. */
void mail_close(struct pc_ctx *ctx);

/* outbox.c. Wakes the sender: call after committing outbox rows. */
void outbox_kick(struct pc_ctx *ctx);
/* Deletes one-time tokens expired at now and outbox rows sent or given up
 * over 7 days before it (a housekeeping job of ctx.c). PC_ESTORE. */
enum pc_err outbox_purge(struct pc_ctx *ctx, int64_t now);

/* One delivery attempt of a claimed row, as the sender hands it to the
 * transport of its kind. A transport returns PC_OK (delivered), PC_EBUSY
 * (cancelled: the server is stopping), PC_EINVAL (can never be delivered)
 * or another code (retry later), and on failure says why in error. */
struct outbox_attempt {
	const struct pc_config *cfg;
	const struct pc_outbox_row *row;
	int64_t now;                     /* when the attempt started (the Date of a mail) */
	struct httpc_cancel cancel;      /* passed on to the transfer */
	char error[256];                 /* kept as the row's last_error */
};

/* message.c. Fills out (kind "mail") with the mail of kind carrying token to
 * email: subject, text and HTML bodies from the templates, the link being
 * the kind's URL with token=<token> added to its query. PC_EINVAL when email
 * or the subject holds CR or LF, or the URL does not parse; PC_ETOOBIG. */
enum pc_err message_render(struct pc_ctx *ctx, enum pc_mail_kind kind, const char *email,
			   const char *token, struct pc_outbox_row *out);
/* The transport of kind "mail": by SMTP to smtp_url as a MIME
 * multipart/alternative message (text/plain, text/html, quoted-printable),
 * or to the log when smtp_url is empty. PC_EINVAL (nothing sent) when a
 * header value holds CR, LF or a byte outside printable ASCII. */
enum pc_err message_deliver(struct outbox_attempt *a);
/* Loads the override files named by the *_template_* settings into
 * ctx->templates; _free frees them (the built-in ones are used after). */
enum pc_err message_templates_load(struct pc_ctx *ctx, struct pc_errinfo *ei);
void message_templates_free(struct pc_ctx *ctx);
/* url with token=<token> added to its query (before any #fragment), by
 * libcurl's URL API. PC_EINVAL when url does not parse; PC_ETOOBIG. */
enum pc_err message_link(const char *url, const char *token, char *out, size_t outsz);
/* {{name}} substitution; values HTML-escaped when html. Unknown names stay.
 * PC_ETOOBIG past out's max. */
enum pc_err message_fill(const char *tpl, const char *const *names, const char *const *values,
			 size_t n, bool html, struct pc_buf *out);

/* webhook.c. Fills out (kind "webhook") with {"id", "event", "user": {"id",
 * "email"}, "ts"} for webhook_url. *made is false (out untouched) when no
 * webhook is configured. PC_ENOMEM, PC_ETOOBIG. */
enum pc_err webhook_event(struct pc_ctx *ctx, const char *event, const struct pc_user *u,
			  struct pc_outbox_row *out, bool *made);
/* The transport of kind "webhook": the payload POSTed (httpc) with its
 * signature; a 2xx status is delivered. */
enum pc_err webhook_deliver(struct outbox_attempt *a);
/* "sha256=" + hex HMAC-SHA256(secret, body). out holds 7 + 64 + 1. */
void webhook_signature(const char *secret, const char *body, size_t n, char out[72]);

/* ---- ctx ----------------------------------------------------------------------- */

struct pc_ctx {
	struct pc_config cfg;
	struct pc_store *store;
	struct pc_workers *workers;
	struct pc_jwt_key jwt;
	struct pc_argon2_params argon2;
	struct pc_mailer *mailer; /* the outbox sender (outbox.c) */
	struct message_templates *templates; /* mail template overrides (message.c) */
	uint64_t serial;          /* unique in the process: whose cache entries (authcache.c) */
};

/* The pool that runs slow work; the HTTP layer submits hashing requests here. */
struct pc_workers *ctx_workers(struct pc_ctx *ctx);

#endif /* PC_CORE_H */
