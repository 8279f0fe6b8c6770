/*
 * core.h - the internal interface of the core, one group per module.
 *
 * Nothing here knows HTTP. The leaf utilities (arena, buf, crypto, time)
 * are in base/base.h, below the store. The groups, in file order:
 *   config    setting rows (the core's and those a face declares), checks
 *   authcache remembered credentials; authcache_through, the one check path
 *   auth      access JWTs by a face's claims table (login is public API)
 *   refresh   refresh families: rotate, detect reuse, revoke
 *   totp      the second factor: enrol, verify, replay guard, recovery, lockout
 *   workers   bounded pools for slow work (argon2 hashing, outbound HTTP) and
 *             for durable commits
 *   password  argon2id hash/verify, imported formats, dummy verify, policy
 *   jwt       claims tables; issue/verify access tokens, the algorithm pinned
 *   email     validation and normalisation of addresses and usernames
 *   users     passwordless registration (the rest of users.c is public API)
 *   onetime   one-time tokens (reset, verify, magic; claims): issue, check, consume
 *   httpc     outbound HTTP: one request, one bounded response (libcurl)
 *   oidc      OpenID Connect client core: discovery, JWKS, ID tokens, PKCE, state
 *   oauth     social login: providers, authorize, callback, account linking
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
struct jwt_claims_table;
struct keyset;
struct pc_jwt_claims;

#include "base/base.h"

/* ---- config (config.c): setting rows, of the core and of the layers above ---- */

enum config_type { CONFIG_STR, CONFIG_INT, CONFIG_BOOL };

/* Checks the value of a string setting: NULL when it is good, else the
 * reason, a phrase that follows the setting's name ("must be an http:// or
 * https:// URL"). Run by pc_config_validate on every value, defaults
 * included (numbers and booleans have their range, checked when set). */
typedef const char *config_check_fn(const char *value);

/* One setting. Its flag (--name-with-dashes), environment variable
 * (PORTCULLIS_NAME), INI key and --help line all come from the row. */
struct config_row {
	const char *name;
	enum config_type type;
	size_t offset;          /* of the value in its struct: pc_config, or a layer's */
	size_t size;            /* CONFIG_STR: capacity of the char array */
	const char *def;        /* parsed like user input */
	long min, max;          /* CONFIG_INT range */
	const char *choices;    /* CONFIG_STR: "a|b|c" or NULL */
	config_check_fn *check; /* NULL: none */
	const char *help;
};

#define CONFIG_ROW_STR(type, name, member, def, choices, check, help) \
	{ name, CONFIG_STR, offsetof(type, member), sizeof(((type *)0)->member), def, 0, 0, \
	  choices, check, help }
#define CONFIG_ROW_INT(type, name, member, def, lo, hi, help) \
	{ name, CONFIG_INT, offsetof(type, member), sizeof(int), def, lo, hi, NULL, NULL, help }
#define CONFIG_ROW_BOOL(type, name, member, def, help) \
	{ name, CONFIG_BOOL, offsetof(type, member), sizeof(bool), def, 0, 0, NULL, NULL, help }

/* Settings that a layer above the core declares (a face's route prefixes
 * and cookie): rows over the layer's own struct, whose value lives in
 * pc_config's layer area. Adding a face adds a layer, not config fields. */
struct config_layer {
	const char *name;              /* the face's name, for messages */
	const struct config_row *rows;
	size_t nrows;
	size_t size;                   /* sizeof the layer's struct */
	/* Cross-field rule over the layer's values: NULL when they hold, else
	 * the message, with *field set to the setting to name. NULL: none. */
	const char *(*rule)(const void *values, const char **field);
};

/* Registers a layer's rows, before the configuration is read (the CLI does
 * it for every face); registering it again does nothing. PC_EEXISTS when
 * one of its names is taken, PC_ETOOBIG when the area is full, PC_EINVAL
 * for a row outside the layer's struct: start-up errors, with ei. */
enum pc_err config_layer_add(const struct config_layer *l, struct pc_errinfo *ei);
/* The layer's values in cfg, or NULL when the layer is not registered. */
const void *config_layer_get(const struct pc_config *cfg, const struct config_layer *l);
/* A row of the layer by name, or NULL (mount prefixes, at start-up). */
const struct config_row *config_layer_row(const struct config_layer *l, const char *name);

/* Sets up the log (base/log.c) from log_level, log_format and log_file:
 * `serve` does, before it logs anything. PC_EINVAL with ei when log_file
 * cannot be opened for appending. */
enum pc_err config_log_open(const struct pc_config *cfg, struct pc_errinfo *ei);
/* One effective setting, for `portcullis config`: its name (a keyed one
 * spelled out, oauth_corp_client_id), its row, where its value lives in the
 * configuration read, its default text. */
struct config_view {
	char name[96];
	const struct config_row *row;
	const void *field;
	const char *def;
};
/* The i-th setting of cfg: the core's rows, each layer's, then the keyed
 * rows of each provider cfg names; false past the last. */
bool config_setting_at(const struct pc_config *cfg, size_t i, struct config_view *out);
/* Whether the setting's whole value is a secret (a name ending _secret,
 * _password, _token or _key: jwt_secret, smtp_password, metrics_token, ...). */
bool config_is_secret(const char *name);
/* The value as text into out; masked: a secret's non-empty value becomes
 * "********", and any other string keeps its URL's user but not its
 * password (scheme://user:********@host, ?password=********). */
void config_value_text(const char *name, const struct config_row *row, const void *field,
		       bool masked, char *out, size_t outsz);

/* The live configuration. A server's configuration (ctx->cfg, the base)
 * never changes; a reload publishes a whole new copy for it, and whoever
 * reads a setting that a reload may change reads config_live(base): the
 * latest copy published for base, or base itself. A published copy is
 * never written, so a reader never sees half of one; it stays allocated
 * for 10 minutes after a newer one replaces it (a reader uses the pointer
 * within one call that waits on nothing, then drops it), the last until
 * config_live_forget(base). PC_ENOMEM; PC_ETOOBIG past 8 bases. */
const struct pc_config *config_live(const struct pc_config *base);
enum pc_err config_live_publish(const struct pc_config *base, const struct pc_config *next);
void config_live_forget(const struct pc_config *base);
/* For each setting whose value differs between cur and next: when its name
 * is one of reloadable[], next's value is copied into cur; either way
 * say(arg, name, copied) (say may be NULL). Values are compared, never
 * passed to say. The OAuth providers' settings are never copied
 * ("oauth_<name>_*"). */
typedef void config_diff_fn(void *arg, const char *name, bool applied);
void config_reload_merge(struct pc_config *cur, const struct pc_config *next,
			 const char *const *reloadable, size_t nreloadable, config_diff_fn *say,
			 void *arg);

/* Leaf checks that rows share (config.c). */
const char *config_check_http_url(const char *v);   /* http:// or https://, no quotes */
const char *config_check_prefix(const char *v);     /* "" or /a/b, no trailing '/' */
const char *config_check_cookie_name(const char *v);/* a non-empty cookie token */

/* ---- credential cache (authcache.c) -------------------------------------------- */

#define PC_AUTHCACHE_CRED_MAX 512 /* longer credentials are always checked in full */
/* The kind of a remembered credential: a session token, or a JWT checked
 * with a claims table, whose address is then its kind (a token good for
 * one face's table is not remembered as good for another's). */
enum { PC_AUTHCACHE_SESSION = 2 }; /* never an address */

/* The store's credential stamp to pass to authcache_put (store.h,
 * store_cred_stamp): read it before the store lookup whose answer will be
 * remembered. 0: do not remember (cache off, or a store that cannot report
 * its writes). */
uint64_t authcache_stamp(struct pc_ctx *ctx);
/* The user behind a credential verified moments ago (by any thread), if the
 * same bytes of the same kind were remembered, have not expired (now < exp),
 * nothing a check of its user reads was written since (the user's stamp
 * bucket) and the entry is younger than its time to live (cfg.auth_cache_ms,
 * or a 5-minute cap where the store's stamps follow every writer). Reads the
 * store's change log first when auth_cache_ms / 2 passed since it was last
 * read. out gets no password hash. */
bool authcache_get(struct pc_ctx *ctx, uintptr_t kind, const char *cred, size_t len,
		   int64_t now, struct pc_user *out);
/* Remembers a credential that has just passed the full check, valid until
 * exp (unix seconds). A no-op when stamp is 0 or the credential is longer
 * than PC_AUTHCACHE_CRED_MAX. */
void authcache_put(struct pc_ctx *ctx, uintptr_t kind, const char *cred, size_t len,
		   int64_t exp, uint64_t stamp, const struct pc_user *u);

/* The full check of a credential: PC_OK with out (the user) and *exp (the
 * credential's expiry) filled, else the error to answer. */
typedef enum pc_err authcache_check_fn(struct pc_ctx *ctx, const void *arg, const char *cred,
				       int64_t now, struct pc_user *out, int64_t *exp);
/* The one way credentials are checked: a remembered answer (authcache_get),
 * else stamp, check(ctx, arg, ...), wipe the password hash, remember. */
PC_WUR enum pc_err authcache_through(struct pc_ctx *ctx, uintptr_t kind, const char *cred,
				     size_t len, authcache_check_fn *check, const void *arg,
				     struct pc_user *out);

/* ---- auth (auth.c): access JWTs by a face's claims table ------------------------ */

/* pc_jwt_issue, pc_jwt_authenticate and pc_jwt_revoke use jwt_claims_rfc7519;
 * a face with other claims calls these with its table. */
enum pc_err auth_jwt_issue(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			   const struct pc_user *u, char *out, size_t outsz);
PC_WUR enum pc_err auth_jwt_authenticate(struct pc_ctx *ctx, const struct jwt_claims_table *t,
					 const char *token, struct pc_user *out);
enum pc_err auth_jwt_revoke(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			    const char *token);
/* The claims of token by t (signature, exp and the table's checks: jwt_verify
 * now; no store read, so it says nothing of revocation). PC_EUNAUTHORIZED. */
PC_WUR enum pc_err auth_jwt_claims(struct pc_ctx *ctx, const struct jwt_claims_table *t,
				   const char *token, struct pc_jwt_claims *out);
/* Whether token is good by t but for its expiry (jwt_expired now). */
bool auth_jwt_expired(struct pc_ctx *ctx, const struct jwt_claims_table *t, const char *token);
/* pc_login without its second-factor rule: the password check alone, for a
 * face that goes on to the TOTP step itself (out->totp_enabled says). */
PC_WUR enum pc_err auth_first_factor(struct pc_ctx *ctx, const char *ident, const char *password,
				     size_t password_len, struct pc_user *out);
/* auth_jwt_issue with the family claim (refresh.c). */
enum pc_err auth_jwt_issue_family(struct pc_ctx *ctx, const struct jwt_claims_table *t,
				  const struct pc_user *u, const char *family, char *out,
				  size_t outsz);

/* ---- refresh families (refresh.c) ------------------------------------------------ */

/* What a login or a rotation hands out: an access JWT carrying the family
 * claim, and an opaque refresh token of the same family. */
struct refresh_pair {
	char access[PC_JWT_MAX];
	char refresh[PC_TOKEN_MAX];
	char family[PC_ID_LEN + 1];
};

/* Starts a family for u (who has just logged in) and issues its first pair,
 * access token by t (which must name a family claim). PC_ENOTFOUND when the
 * user is gone; PC_ESTORE, PC_EINTERNAL. */
enum pc_err refresh_login(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			  const struct pc_user *u, struct refresh_pair *out);
/* refresh_login, keeping where the login came from (the client's address and
 * user agent, NULL: not known; the agent cut to 255 bytes) with the family,
 * for the user's list of its sign-ins. */
enum pc_err refresh_login_from(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			       const struct pc_user *u, const char *ip, const char *user_agent,
			       struct refresh_pair *out);
/* Spends token and issues its child in the same family, in one transaction;
 * u (may be NULL) gets the user. PC_EUNAUTHORIZED for a token that is not
 * ours, expired, revoked, or whose user is inactive or gone (nothing
 * written); PC_EREVOKED when it was spent already outside the grace
 * interval: the family has been revoked. */
PC_WUR enum pc_err refresh_rotate(struct pc_ctx *ctx, const struct jwt_claims_table *t,
				  const char *token, struct refresh_pair *out, struct pc_user *u);
/* Revokes the family of token (spent or not). PC_EUNAUTHORIZED (nothing
 * written) for a token that is not ours, expired, or already revoked. */
PC_WUR enum pc_err refresh_revoke(struct pc_ctx *ctx, const char *token);
/* Revokes the family named family (a family claim of an access token):
 * its refresh tokens and its access tokens are refused from now on.
 * PC_OK (nothing written) for an unknown id too; PC_ENOTFOUND for an
 * empty one; PC_ESTORE. */
enum pc_err refresh_revoke_family(struct pc_ctx *ctx, const char *family);
/* Housekeeping: deletes tokens expired by now and the families left empty. */
enum pc_err refresh_purge(struct pc_ctx *ctx, int64_t now);

/* simplejwt's refresh side: the opaque refresh token handed out inside a
 * JWT of table rt (jwt_claims_simplejwt_refresh): its token id is the
 * opaque token, its subject the user, exp the token's lifetime. The store
 * still keeps only the opaque token's hash; the JWT is the client's alone.
 * refresh_jwt_wrap signs p->refresh for user_id into out (PC_ETOOBIG,
 * PC_EINVAL). refresh_jwt_unwrap checks signature, exp and type (a JWT of
 * another table, an access token, is PC_EUNAUTHORIZED) and copies the opaque
 * token to token. */
enum pc_err refresh_jwt_wrap(struct pc_ctx *ctx, const struct jwt_claims_table *rt,
			     const char *refresh, const char *user_id, char *out, size_t outsz);
PC_WUR enum pc_err refresh_jwt_unwrap(struct pc_ctx *ctx, const struct jwt_claims_table *rt,
				      const char *jwt, char token[PC_TOKEN_MAX]);
/* PC_OK when token is one of ours, unspent, unrevoked and unexpired (what
 * a rotation would spend); PC_EUNAUTHORIZED otherwise. Reads only. */
PC_WUR enum pc_err refresh_live(struct pc_ctx *ctx, const char *token);

/* ---- totp (totp.c): the second factor; states drawn atop the file ------------ */

#define TOTP_PERIOD 30            /* seconds a step */
#define TOTP_SECRET_BYTES 20      /* 160 bits, what new-totp makes */
#define TOTP_SECRET_MAX 64        /* the most a sealed secret may hold */
#define TOTP_B32_MAX 64           /* longest base32 secret read from a uri */
#define TOTP_URI_MAX 2048         /* a 320-byte email percent-encoded fits */
#define TOTP_AES_KEY 32
#define TOTP_KID_LEN 8            /* hex digits of SHA-256(key) naming it */
#define TOTP_RECOVERY_N 10        /* recovery codes made on enabling */
#define TOTP_RECOVERY_LEN 19      /* XXXX-XXXX-XXXX-XXXX, base32: 80 bits */
#define TOTP_PENDING_LIFETIME 300 /* seconds of a TOTP-purpose token */

/* The TOTP-purpose token's claims (sub, jti, aud, "totp": true). */
extern const struct jwt_claims_table jwt_claims_totp;

/* What new-totp hands out. */
struct totp_enrolment {
	char key[TOTP_B32_MAX + 1];  /* base32 secret */
	char uri[TOTP_URI_MAX];      /* otpauth://totp/<issuer>:<email>?secret=..&issuer=.. */
	char *qr_svg;                /* owned: totp_enrolment_release frees */
};

/* Start-up: settles the sealing key (totp_key or the generated one), refuses
 * (PC_EINVAL, ei names totp_key and the count) when stored secrets were
 * sealed under another key, keys the TOTP-purpose token. totp_close undoes. */
enum pc_err totp_open(struct pc_ctx *ctx, struct pc_errinfo *ei);
void totp_close(struct pc_ctx *ctx);
/* off/pending/on -> pending: a new secret for u, stored sealed as pending. */
enum pc_err totp_new(struct pc_ctx *ctx, const struct pc_user *u, struct totp_enrolment *out);
void totp_enrolment_release(struct totp_enrolment *e);
/* pending -> on. PC_EBADCREDS for a wrong or missing password (when u has
 * one), a claim that is not the right 6-digit code, a uri that does not
 * parse or carries another secret than the pending one, or no pending
 * secret; codes gets the recovery codes (shown once). Hashes: a worker. */
PC_WUR enum pc_err totp_enable(struct pc_ctx *ctx, const struct pc_user *u, const char *claim,
			       const char *uri, const char *password,
			       char (*codes)[TOTP_RECOVERY_LEN + 1]);
/* -> off. PC_EBADCREDS for a wrong or missing password (when u has one). */
PC_WUR enum pc_err totp_disable(struct pc_ctx *ctx, const struct pc_user *u,
				const char *original);
/* The TOTP-purpose token of u (whose first factor has just passed). */
enum pc_err totp_pending_issue(struct pc_ctx *ctx, const struct pc_user *u, char *out,
			       size_t outsz);
/* The second step: token must be a TOTP-purpose token (else
 * PC_EUNAUTHORIZED), claim a code or an unused recovery code. PC_ENOTFOUND:
 * TOTP is not on; PC_ELIMITED with *retry_after seconds while locked out;
 * PC_EBADCREDS: wrong (counted). On PC_OK out is the user and the token spent. */
PC_WUR enum pc_err totp_login(struct pc_ctx *ctx, const char *token, const char *claim,
			      struct pc_user *out, int64_t *retry_after);
/* The pieces, for the unit tests: the code of a step (digits 6..8; out
 * holds digits + 1), sealing, the uri's secret, the QR. */
enum pc_err totp_code(const unsigned char *secret, size_t n, int64_t step, unsigned digits,
		      char *out);
void totp_key_id(const unsigned char key[TOTP_AES_KEY], char out[TOTP_KID_LEN + 1]);
enum pc_err totp_seal(const unsigned char key[TOTP_AES_KEY], const char *aad,
		      const unsigned char *pt, size_t n, char *out, size_t outsz);
/* The sealing itself, for any secret of the core under the same key (TOTP
 * secrets, OAuth provider tokens): AES-256-GCM, aad bound, "v1:<kid>:<b64>";
 * at most SEAL_PLAIN_MAX bytes (PC_EINVAL beyond). totp_seal is this with
 * TOTP_SECRET_MAX. */
#define SEAL_PLAIN_MAX 4096
#define SEAL_TEXT_MAX (3 + TOTP_KID_LEN + 1 + (12 + SEAL_PLAIN_MAX + 16 + 2) / 3 * 4 + 1)
enum pc_err seal_text(const unsigned char key[TOTP_AES_KEY], const char *aad,
		      const unsigned char *pt, size_t n, char *out, size_t outsz);
PC_WUR enum pc_err unseal_text(const unsigned char key[TOTP_AES_KEY], const char *aad,
			       const char *text, unsigned char *pt, size_t ptsz, size_t *n);
/* PC_EUNAUTHORIZED for another key, a tampered text or another aad. */
PC_WUR enum pc_err totp_unseal(const unsigned char key[TOTP_AES_KEY], const char *aad,
			       const char *text, unsigned char *pt, size_t ptsz, size_t *n);
/* The secret= of an otpauth://totp/ uri, upper-cased; false when the uri is
 * not one (strict: printable ASCII, bounded, exactly one base32 secret). */
bool totp_uri_secret(const char *uri, char *secret, size_t secretsz);
/* An SVG image of the QR code of text; *out owned by the caller (free). */
enum pc_err totp_qr_svg(const char *text, char **out);

/* ---- workers --------------------------------------------------------------- */

/* A fixed set of threads running jobs from a bounded FIFO. submit never
 * blocks: PC_EBUSY when the queue holds max_queue jobs. free stops accepting,
 * runs what is queued, joins the threads. */
struct pc_workers;
typedef void pc_job_fn(void *arg);

/* What a pool runs: hashing (its threads keep their hash memory between
 * jobs; STAT_HASH_*) or durable commits (STAT_WRITE_*). */
enum workers_kind { WORKERS_HASH, WORKERS_WRITE };

/* nice > 0 lowers the workers' scheduling priority by that much (0..19). */
enum pc_err workers_new_kind(enum workers_kind kind, unsigned nthreads, size_t max_queue, int nice,
			     struct pc_workers **out);
/* A WORKERS_HASH pool. */
enum pc_err workers_new(unsigned nthreads, size_t max_queue, int nice, struct pc_workers **out);
enum pc_err workers_submit(struct pc_workers *w, pc_job_fn *fn, void *arg);
/* As workers_submit, with the client's key (0: none): a free worker runs
 * the oldest job of the key with the fewest jobs running; PC_ELIMITED when
 * cap (0: none) jobs of key are queued or running already. */
enum pc_err workers_submit_keyed(struct pc_workers *w, uint64_t key, unsigned cap, pc_job_fn *fn,
				 void *arg);
unsigned workers_count(const struct pc_workers *w);
/* Jobs waiting in the queue now (takes the lock: for /metrics, not hot paths). */
size_t workers_queued(struct pc_workers *w);
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
/* Whether password_verify knows the format of h (argon2 PHC, bcrypt,
 * Django's, Werkzeug's); not whether its costs are within bounds. */
bool password_format_known(const char *h);

/* PC_OK on a match; PC_EBADCREDS on a mismatch; PC_EINVAL when the stored
 * string is not a hash we can verify, after spending a dummy verification
 * with policy (when not NULL), so that such a string costs what a hash does.
 * *needs_rehash is true on a match whose parameters differ from the policy,
 * and on every match of an imported (non-argon2) format. */
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

/* PC_OK or PC_EBADPASSWORD with ei->code the rule broken (PC_V_TOO_SHORT,
 * PC_V_TOO_LONG with ei->limit, PC_V_CONTAINS_EMAIL, PC_V_CONTAINS_USERNAME,
 * PC_V_TOO_WEAK with ei->limit the zxcvbn score needed, password_min_score).
 * email, username: the user's (NULL or "": none). */
enum pc_err password_check_policy(const struct pc_config *cfg, const char *pw, size_t len,
				     const char *email, const char *username,
				     struct pc_errinfo *ei);

/* ---- jwt ------------------------------------------------------------------- */

struct pc_jwt_claims {
	char sub[64];
	char jti[64];
	char fam[64]; /* the refresh family claim; "" when the token has none */
	char csrf[64]; /* the CSRF claim (Flask-JWT-Extended); "" when none */
	int64_t iat;
	int64_t exp;
};

/* The claims a face's access tokens carry, issued and checked by jwt.c. The
 * subject and token id claims are required non-empty strings; exp is
 * required, iat issued, nbf honoured. */
struct jwt_claims_table {
	const char *subject;     /* the user id: "sub"; simplejwt: "user_id" */
	const char *token_id;    /* the denylist key: "jti" */
	bool audience;           /* aud is issued as key->aud and must contain it */
	const char *type_claim;  /* NULL: none; simplejwt: "token_type" */
	const char *access_type; /* its value in access tokens: "access" */
	/* NULL: none. Else the optional claim naming the refresh family a token
	 * was issued from ("fam"): issued when given, read when present (a
	 * non-empty string, or the token is refused); the access check then
	 * also requires the family to be live (auth.c). */
	const char *family;
	/* NULL: none. Else a claim issued as true and required to be exactly
	 * true ("totp" of the TOTP-purpose token, totp.c). */
	const char *flag;
	/* NULL: none. Else the CSRF token claim of Flask-JWT-Extended ("csrf"):
	 * issued as a fresh 128-bit random value, read when present (a
	 * non-empty string, or the token is refused) into claims.csrf. */
	const char *csrf;
	/* nbf (= iat) is issued (it is honoured whether issued or not). */
	bool not_before;
	/* NULL: none. Else a claim issued as false and not read (Flask-JWT-
	 * Extended's "fresh": no token of ours is a fresh-login token). */
	const char *fresh;
	/* Its tokens are signed by the published key set (keys.c) when the
	 * configured algorithm is asymmetric, and carry the extra claims; else
	 * by the HMAC secret (the contract of simplejwt and Flask: HS256). */
	bool published;
};

/* sub, jti, aud and the optional fam: RFC 7519's names, what fastapi-users
 * issues and checks; fam is what myauth's tokens add. */
extern const struct jwt_claims_table jwt_claims_rfc7519;
/* Django REST framework simplejwt's claims: user_id, jti, exp, iat and
 * token_type "access" (with the family claim "fam" of core/refresh.c; no
 * aud, as simplejwt issues none by default), and its refresh tokens' with
 * token_type "refresh" (refresh_jwt_wrap). Neither passes as the other. */
extern const struct jwt_claims_table jwt_claims_simplejwt;
extern const struct jwt_claims_table jwt_claims_simplejwt_refresh;
/* Flask-JWT-Extended's claims (the user_account face): sub, jti, type
 * "access", fresh, iat, nbf, exp, csrf, and the family claim "fam"; its
 * refresh tokens' with type "refresh" (refresh_jwt_wrap) and no family.
 * Neither passes as the other, nor as a token of another face's table. */
extern const struct jwt_claims_table jwt_claims_flask;
extern const struct jwt_claims_table jwt_claims_flask_refresh;

struct pc_jwt_key {
	unsigned char secret[256];
	size_t len;
	/* the only one accepted: "HS256", "HS384", "HS512" with secret;
	 * "EdDSA" (Ed25519), "ES256" (P-256), "RS256" (2048-4096 bits) with pkey */
	char alg[16];
	char aud[128];
	void *mac;    /* EVP_MAC_CTX keyed once by jwt_key_open; NULL: keyed per call */
	void *pkey;   /* EVP_PKEY of an asymmetric key; owned by the key once set */
	char kid[64]; /* asymmetric: its kid (base64url), which the header must name */
	char header[192]; /* asymmetric: base64url of its header, by jwt_key_open */
};

/* Keys key->mac from secret and alg (HMAC), or checks that key->pkey is a
 * key of alg and key->kid a base64url kid and writes key->header
 * (asymmetric). PC_EINVAL for an unusable key; PC_EINTERNAL. An asymmetric
 * key signs and verifies only once opened. jwt_key_close frees mac and
 * pkey; both leave the rest alone. */
enum pc_err jwt_key_open(struct pc_jwt_key *key);
void jwt_key_close(struct pc_jwt_key *key);
/* The JWT_EXTRA_* bits a jwt_extra_claims value names; false when it is
 * not a comma list of email, is_superuser, is_verified (config.c). */
bool config_jwt_extra_flags(const char *v, unsigned *flags);
/* Whether alg names an asymmetric algorithm (EdDSA, ES256, RS256). */
bool jwt_alg_asymmetric(const char *alg);

/* Optional claims of the user (jwt_extra_claims): each JWT_EXTRA_* bit adds
 * one; "email" only when the user has one. Read by nobody here: they are
 * for services that authorise from the token alone. */
enum jwt_extra_flags {
	JWT_EXTRA_EMAIL = 1 << 0,
	JWT_EXTRA_SUPERUSER = 1 << 1,
	JWT_EXTRA_VERIFIED = 1 << 2,
};
struct jwt_extra {
	unsigned flags;
	const char *email;
	bool is_superuser;
	bool is_verified;
};

/* Encodes the table's claims for sub (iat = now, exp = now + lifetime, a
 * fresh 128-bit token id) signed with key. */
enum pc_err jwt_sign(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
		     const char *sub, int64_t now, int lifetime, char *out, size_t outsz,
		     struct pc_jwt_claims *claims);
/* jwt_sign with the table's family claim set to family (NULL: none; a
 * family without a claim name in the table is PC_EINVAL). */
enum pc_err jwt_sign_family(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			    const char *sub, const char *family, int64_t now, int lifetime,
			    char *out, size_t outsz, struct pc_jwt_claims *claims);

/* jwt_sign_family with the extra claims x (NULL: none). */
enum pc_err jwt_sign_extra(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			   const char *sub, const char *family, const struct jwt_extra *x,
			   int64_t now, int lifetime, char *out, size_t outsz,
			   struct pc_jwt_claims *claims);
/* The kid a token's header names, read before anything is verified (to
 * pick the key; jwt_verify then checks the header against that key).
 * kid[0] is '\0' when the header has none. false: not a token of our
 * shape, a header that is no JSON object, or a kid that is not a
 * base64url string shorter than 64 bytes. */
PC_WUR bool jwt_header_kid(const char *token, char kid[64]);

/* jwt_sign with the token id given (a non-empty string that fits the
 * claims, else PC_EINVAL) instead of a fresh one: the refresh JWT of
 * simplejwt carries its opaque refresh token there (refresh.c). */
enum pc_err jwt_sign_jti(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			 const char *sub, const char *jti, int64_t now, int lifetime, char *out,
			 size_t outsz, struct pc_jwt_claims *claims);

/* Verifies: the header's alg must equal key->alg before anything else;
 * signature; then the claims by the table (aud, exp > now, nbf, type,
 * subject and token id present). PC_EUNAUTHORIZED on any failure. Does not
 * consult the denylist. */
PC_WUR enum pc_err jwt_verify(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			      const char *token, int64_t now, struct pc_jwt_claims *out);
/* When a verified token was issued, in unix milliseconds: the millisecond
 * its token id carries (jwt.c makes ids so) when that falls in its iat
 * second, else iat's first millisecond (an id made otherwise: taken as
 * early as it can be). */
int64_t jwt_issued_ms(const struct pc_jwt_claims *c);
/* Whether token fails jwt_verify at now only because it has expired: its
 * signature and every other claim check pass, and exp <= now (it would
 * have verified at exp - 1). For a face that answers expiry apart. */
bool jwt_expired(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
		 const char *token, int64_t now);

/* The two readers of a decoded payload that jwt_verify combines (fast,
 * then jansson where the fast one declines); apart for the differential
 * fuzzer and the micro-benchmark. OK fills c; REJECT: well-formed but
 * failing a check; DECLINE: not the simple shape the fast reader takes. */
enum jwt_read { JWT_READ_OK, JWT_READ_REJECT, JWT_READ_DECLINE };
enum jwt_read jwt_claims_read_fast(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
				   const char *json, size_t len, int64_t now,
				   struct pc_jwt_claims *c);
bool jwt_claims_read_full(const struct pc_jwt_key *key, const struct jwt_claims_table *t,
			  const char *json, size_t len, int64_t now, struct pc_jwt_claims *c);

/* ---- keys (keys.c): the published asymmetric signing keys ----------------------- */

/* With an asymmetric algorithm: the key of jwt_private_key_file, or the
 * store's keys (one generated on first start); ctx->keys NULL otherwise.
 * PC_EINVAL (ei: an unreadable key file), PC_ESTORE, PC_ENOMEM. */
enum pc_err keys_open(struct pc_ctx *ctx, struct pc_errinfo *ei);
void keys_close(struct pc_ctx *ctx);
/* Stores a new key of the configured algorithm that signs from now on
 * (every other key retired now, still published until lifetime_seconds
 * have passed); kid gets its kid. PC_EINVAL without a stored key set (HS*,
 * or a key file). */
enum pc_err keys_rotate(struct pc_ctx *ctx, char kid[64]);
/* Reads the store's keys again once jwt_keys_reload_seconds have passed
 * since the last read (purging the keys no live token can need); a failed
 * read keeps the set there is. A housekeeping job (ctx.c). */
enum pc_err keys_reload(struct pc_ctx *ctx, int64_t now);
/* Sign and verify by table: a published table with a key set goes to the
 * set (verification by the header's kid, alg pinned per key; the extra
 * claims added when signing); every other to the HMAC key ctx->jwt. */
enum pc_err keys_sign(struct pc_ctx *ctx, const struct jwt_claims_table *t,
		      const struct pc_user *u, const char *family, char *out, size_t outsz);
PC_WUR enum pc_err keys_verify(struct pc_ctx *ctx, const struct jwt_claims_table *t,
			       const char *token, int64_t now, struct pc_jwt_claims *out);
bool keys_expired(struct pc_ctx *ctx, const struct jwt_claims_table *t, const char *token,
		  int64_t now);
/* {"keys": [public JWKs with kid, alg, use]}: never a secret. New reference;
 * NULL when out of memory. */
struct json_t *keys_jwks_new(struct pc_ctx *ctx);

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


/* ---- users (users.c) ----------------------------------------------------------------- */

/* Self-service registration (pc_user_register without its event and mail,
 * which onetime.c writes): the flags in `in` are ignored. */
enum pc_err users_register(struct pc_ctx *ctx, const struct pc_user_input *in,
			   struct pc_user *out, struct pc_errinfo *ei);

/* Self-service registration of a user without a password (MyAuth's magic
 * link with open registration): active, not superuser, not verified, no
 * hash, so no password login until a reset sets one. No event or mail: the
 * caller writes them with its own (onetime.c). PC_EINVAL (ei: "email"),
 * PC_EEXISTS (a race lost to another registration), PC_ESTORE. */
enum pc_err users_register_passwordless(struct pc_ctx *ctx, const char *email,
					struct pc_user *out, struct pc_errinfo *ei);

/* The user an OAuth login creates: passwordless, active, is_verified as
 * the provider asserted the email. Joins the caller's transaction.
 * PC_EINVAL (ei: "email"), PC_EEXISTS, PC_ESTORE. */
enum pc_err users_register_oauth(struct pc_ctx *ctx, const char *email, bool verified,
				 struct pc_user *out, struct pc_errinfo *ei);

/* ---- onetime (onetime.c) -------------------------------------------------------- */

/* (pc_user_register lives in onetime.c: a registration is users_register
 * and then what it sets off, the on_after_register event and with
 * requires_verification the verify token and its mail.) */

/* pc_password_forgot by username (the user_account face): *known says
 * whether a user has that username and an address to mail. For a known
 * one, pc_password_forgot of its address; a malformed or unknown username,
 * or a user without email, is not known and gets a stand-in's work without
 * the write (no token, no mail), as an unknown address does. PC_OK;
 * PC_ESTORE. */
enum pc_err onetime_forgot_username(struct pc_ctx *ctx, const char *username, bool *known);


/* ---- httpc (httpc.c) ------------------------------------------------------------ */

/* Loads libcurl (libcurl.h: the server does not link it) and runs its
 * process-wide set-up, once per process: every user of libcurl in the core
 * calls this before its first libcurl call, and makes none unless PC_OK.
 * PC_EINTERNAL when libcurl or one of its functions is missing or its set-up
 * failed (logged once, naming the library and why; the same answer after). */
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

/* For the core's other libcurl transfers (SMTP), after httpc_global_init:
 * the options every transfer shares (no signals, timeouts, protocols, error
 * buffer, cancel hook) on a CURL handle, and a failed curl_easy_perform's code put in words into err
 * (PC_EBUSY when cancelled, PC_EINTERNAL otherwise). */
void httpc_curl_setup(void *handle, long timeout_s, char *errbuf, const char *protocols,
		      const struct httpc_cancel *cancel);
enum pc_err httpc_curl_error(int rc, const char *errbuf, char *err, size_t errsz);

/* ---- oidc (oidc.c): the OpenID Connect client core; flow drawn atop the file ---- */

#define OIDC_URL_MAX 1024         /* an issuer or endpoint URL, NUL included */
#define OIDC_DOC_MAX 65536        /* discovery document and JWKS bodies */
#define OIDC_TOKEN_MAX 16384      /* the longest ID token looked at */
#define OIDC_KEYS_MAX 16          /* keys kept from one JWKS */
#define OIDC_KID_MAX 128          /* a key id, NUL included */
#define OIDC_LEEWAY 60            /* seconds of clock skew allowed on exp and iat */
#define OIDC_REFETCH_S 60         /* an unknown kid refetches the JWKS at most this often */
#define OIDC_SUB_MAX 256          /* sub, NUL included (OIDC: at most 255 ASCII) */
#define OIDC_VERIFIER_LEN 43      /* what oidc_pkce_verifier makes (32 bytes) */
#define OIDC_CHALLENGE_LEN 43     /* base64url of a SHA-256 */
#define OIDC_NONCE_LEN 43
#define OIDC_PROVIDER_MAX 32      /* a provider name in a state, NUL included */
#define OIDC_STATE_MAX 768        /* a state's text, NUL included */
#define OIDC_STATE_KEY 32
#define OIDC_PURPOSE_MAX 48       /* a state's purpose, NUL included */

/* Whether url may be an issuer or an endpoint: https://, or http:// to
 * 127.0.0.1 or localhost only (test providers); no fragment, no userinfo,
 * no whitespace, shorter than OIDC_URL_MAX. NULL when fine, else why. */
const char *oidc_url_check(const char *url);

/* What a discovery document says (oidc_discover). */
struct oidc_discovery {
	char issuer[OIDC_URL_MAX];
	char authorization_endpoint[OIDC_URL_MAX];
	char token_endpoint[OIDC_URL_MAX];
	char jwks_uri[OIDC_URL_MAX];
	char userinfo_endpoint[OIDC_URL_MAX]; /* "" when not given */
};

/* GETs {issuer}/.well-known/openid-configuration (httpc, timeout_s) and
 * reads it (oidc_discovery_parse). PC_EINVAL with ei (field "issuer") for an
 * issuer oidc_url_check refuses; PC_EINTERNAL / PC_EBUSY when the exchange
 * failed or the status is not 200 (ei says, never a body); PC_ETOOBIG past
 * OIDC_DOC_MAX; PC_EUNAUTHORIZED for a document that is not one or names
 * another issuer. */
enum pc_err oidc_discover(const char *issuer, long timeout_s, struct oidc_discovery *out,
			  struct pc_errinfo *ei);
/* The document's checks alone: a JSON object whose "issuer" is exactly
 * issuer, with authorization_endpoint, token_endpoint and jwks_uri (and
 * userinfo_endpoint when present) URLs oidc_url_check takes.
 * PC_EUNAUTHORIZED otherwise. For the fuzzer and the tests. */
enum pc_err oidc_discovery_parse(const char *issuer, const char *json, size_t len,
				 struct oidc_discovery *out);

/* A provider's signing keys (RSA, EC P-256), by kid; thread-safe. */
struct oidc_jwks;
/* An empty set that fetches from jwks_uri (NULL: never fetches; keys come
 * from oidc_jwks_load only). PC_EINVAL for a URL oidc_url_check refuses. */
enum pc_err oidc_jwks_new(const char *jwks_uri, long timeout_s, struct oidc_jwks **out);
void oidc_jwks_free(struct oidc_jwks *j); /* NULL is a no-op */
/* Replaces the keys with those of a JWKS document: RSA (2048..8192 bits)
 * and EC P-256 keys whose use is absent or "sig" and alg absent or
 * RS256/ES256; others are skipped. PC_EUNAUTHORIZED for a document that is
 * not a JWKS or a usable key that does not decode; PC_ETOOBIG. */
enum pc_err oidc_jwks_load(struct oidc_jwks *j, const char *json, size_t len);
/* Fetches jwks_uri now and loads it. PC_EINTERNAL / PC_EBUSY (exchange,
 * status), PC_ETOOBIG, PC_EUNAUTHORIZED (the body). */
enum pc_err oidc_jwks_fetch(struct oidc_jwks *j, int64_t now);
/* The kids held, as "kty:kid" lines into out (the probe and tests). */
enum pc_err oidc_jwks_describe(struct oidc_jwks *j, struct pc_buf *out);

/* What ID token verification expects. */
struct oidc_expect {
	const char *issuer;    /* iss, exactly */
	const char *client_id; /* in aud; azp when aud names several */
	const char *nonce;     /* the nonce sent with the authorization request */
	int64_t now;
};

struct oidc_id_claims {
	char sub[OIDC_SUB_MAX];
	char email[PC_EMAIL_MAX + 1]; /* "" when the token has none */
	bool email_verified;          /* the claim is exactly true */
};

/* Verifies a compact JWS ID token (the checks listed atop oidc.c): alg
 * RS256 or ES256 matching the key's type, the key found by kid (an unknown
 * kid refetches once a minute at most), the signature, iss, aud/azp, exp,
 * iat, nonce. PC_OK fills out; PC_EUNAUTHORIZED for any fault of the token
 * (out zeroed); PC_EINTERNAL / PC_EBUSY when a needed refetch failed. */
PC_WUR enum pc_err oidc_id_token_verify(struct oidc_jwks *j, const struct oidc_expect *e,
					const char *token, struct oidc_id_claims *out);

/* PKCE (RFC 7636): a verifier of 43 base64url characters from 32 random
 * bytes; the S256 challenge of a verifier (43..128 unreserved characters,
 * else PC_EINVAL). */
enum pc_err oidc_pkce_verifier(char out[OIDC_VERIFIER_LEN + 1]);
enum pc_err oidc_pkce_challenge(const char *verifier, char out[OIDC_CHALLENGE_LEN + 1]);
/* A nonce: 43 base64url characters from 32 random bytes. */
enum pc_err oidc_nonce_new(char out[OIDC_NONCE_LEN + 1]);

/* The state's MAC key: HMAC-SHA256(jwt secret, "portcullis oidc-state v1"). */
enum pc_err oidc_state_key(const struct pc_jwt_key *jwt, unsigned char out[OIDC_STATE_KEY]);

/* What a state carries: the provider, the nonce, and the SHA-256 (base64url)
 * of the PKCE verifier and of the browser's CSRF cookie value, so neither
 * secret travels in the URL. */
struct oidc_state {
	char provider[OIDC_PROVIDER_MAX];
	char purpose[OIDC_PURPOSE_MAX]; /* what the flow is for: the caller's words */
	char nonce[OIDC_NONCE_LEN + 1];
	char verifier_hash[OIDC_CHALLENGE_LEN + 1];
	char csrf_hash[OIDC_CHALLENGE_LEN + 1];
	int64_t exp;
};

/* base64url({"a","c","exp","n","p","v"}) "." base64url(HMAC-SHA256(key, first
 * part)), expiring at now + lifetime; "a" is purpose (printable ASCII).
 * PC_EINVAL for an empty or oversized provider, purpose, nonce, verifier or csrf, lifetime <= 0; PC_ETOOBIG. */
enum pc_err oidc_state_new(const unsigned char key[OIDC_STATE_KEY], const char *provider,
			   const char *purpose, const char *nonce, const char *verifier, const char *csrf,
			   int64_t now, int lifetime, char out[OIDC_STATE_MAX]);
/* PC_OK with out filled when text is a state made under key (constant-time
 * MAC compare), unexpired at now, and csrf (the cookie's value) is the one
 * it was made for; PC_EUNAUTHORIZED otherwise (out zeroed). */
PC_WUR enum pc_err oidc_state_verify(const unsigned char key[OIDC_STATE_KEY], const char *text,
				     const char *csrf, int64_t now, struct oidc_state *out);
/* Whether verifier is the one a verified state was made with (constant time). */
bool oidc_state_verifier_ok(const struct oidc_state *st, const char *verifier);

/* ---- oauth (oauth.c): social login over oidc; the flow drawn atop the file ---- */

#define OAUTH_URL_MAX 4096        /* an authorization URL, NUL included */
#define OAUTH_COOKIE_MAX 96       /* "<csrf>.<verifier>", NUL included */
#define OAUTH_SCOPES_MAX 16       /* scopes a request may name */
#define OAUTH_ERROR_MAX 64        /* a provider's error code kept, NUL included */

/* Why a callback failed, for the face to word (its codes, its statuses). */
enum oauth_fail {
	OAUTH_F_NONE,
	OAUTH_F_STATE,            /* bad, expired, replayed or foreign state, no cookie */
	OAUTH_F_PROVIDER_ERROR,   /* error= from the provider (provider_error) */
	OAUTH_F_NO_CODE,          /* neither code nor error */
	OAUTH_F_TOKEN_REFUSED,    /* the token endpoint refused the code (provider_error) */
	OAUTH_F_ID_TOKEN,         /* an ID token or user info that does not verify */
	OAUTH_F_UNREACHABLE,      /* no answer, a 5xx, or an answer that is not JSON */
	OAUTH_F_NO_EMAIL,         /* the provider gave no usable email */
	OAUTH_F_USER_EXISTS,      /* a user has the email; linking off or email unverified */
	OAUTH_F_LINKED_ELSEWHERE, /* associate: the account belongs to another user */
	OAUTH_F_INACTIVE,         /* the linked user is inactive */
	OAUTH_F_SECOND_FACTOR,    /* the user has TOTP on: no login by a provider alone */
};

/* What authorize hands out: the URL for the browser, and the value of the
 * HttpOnly cookie that binds the state to it. */
struct oauth_start {
	char url[OAUTH_URL_MAX];
	char cookie[OAUTH_COOKIE_MAX];
};

struct oauth_callback_in {
	const char *code, *state, *error; /* the query's; NULL when absent */
	const char *cookie;               /* the state cookie's value; NULL when absent */
	const char *redirect_uri;         /* the one authorize sent */
	const struct pc_user *assoc;      /* associate: the logged-in user; NULL: login */
};

struct oauth_result {
	enum oauth_fail fail;
	char provider_error[OAUTH_ERROR_MAX];
	char purpose[OIDC_PURPOSE_MAX];   /* the state's: "login:<backend>" or "assoc:<id>" */
	struct pc_user user;              /* no password hash */
	bool created;
};

/* Start-up: the configured providers (presets, secrets read from their
 * files), the state key. PC_EINVAL with ei for an unreadable secret file.
 * No network here: an oidc provider discovers on first use. */
enum pc_err oauth_open(struct pc_ctx *ctx, struct pc_errinfo *ei);
void oauth_close(struct pc_ctx *ctx);
/* The kind of a provider's settings: its kind, else its name when that is a
 * preset, else "oidc". */
const char *oauth_kind_of(const struct pc_oauth_conf *c);
bool oauth_provider_exists(struct pc_ctx *ctx, const char *name);
/* The authorization URL of provider name for purpose ("login:jwt",
 * "login:cookie", "assoc:<user id>"), scopes (nscopes 0: the configured or
 * preset ones). PC_ENOTFOUND: no such provider; PC_EINVAL: a bad scope;
 * PC_EINTERNAL: an oidc provider's discovery failed (network: a worker). */
enum pc_err oauth_authorize(struct pc_ctx *ctx, const char *name, const char *purpose,
			    const char *const *scopes, size_t nscopes, const char *redirect_uri,
			    struct oauth_start *out);
/* The callback, on a worker (it talks to the provider). PC_OK: out->user is
 * logged in (or, associate, linked); PC_EUNAUTHORIZED with out->fail;
 * PC_ENOTFOUND: no such provider; PC_ESTORE and the like. Nothing is
 * written on a failure but the spent state. */
PC_WUR enum pc_err oauth_callback(struct pc_ctx *ctx, const char *name,
				  const struct oauth_callback_in *in, struct oauth_result *out);
/* A linked provider account as the users read model shows it. */
struct oauth_account {
	char id[PC_ID_LEN + 1];
	char oauth_name[32];
	char account_id[256];
	char account_email[PC_EMAIL_MAX + 1];
};
#define OAUTH_ACCOUNTS_MAX 32 /* listed per user */
/* A user's linked accounts (never their tokens), at most OAUTH_ACCOUNTS_MAX. */
enum pc_err oauth_accounts(struct pc_ctx *ctx, const char *user_id,
			   struct oauth_account out[OAUTH_ACCOUNTS_MAX], size_t *n);
/* Housekeeping: forgets spent states expired by now. */
enum pc_err oauth_purge(struct pc_ctx *ctx, int64_t now);

/* ---- mail: the outbox (outbox.c), the message (message.c), webhooks (webhook.c) ---- */

struct pc_outbox_row;
struct pc_mailer;
struct message_templates;

enum pc_mail_kind { PC_MAIL_RESET, PC_MAIL_VERIFY, PC_MAIL_MAGIC, PC_MAIL__MAX };

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
/* For /metrics: rows waiting to be delivered, those of them that have
 * failed at least once, and the age in seconds of the oldest (0: none).
 * PC_ESTORE. */
enum pc_err outbox_stats(struct pc_ctx *ctx, int64_t *pending, int64_t *failed,
			 int64_t *oldest_age_s);

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
/* Reads the override files cfg names again (also when the names are the
 * same) and makes them the ones rendered from now on; the set they replace
 * stays allocated 10 minutes (a render holds it within one call), or until
 * message_templates_free. On failure (a file that
 * cannot be read, with ei) nothing changes. */
enum pc_err message_templates_reload(struct pc_ctx *ctx, const struct pc_config *cfg,
				     struct pc_errinfo *ei);
/* url with token=<token> added to its query (before any #fragment), by
 * libcurl's URL API. PC_EINVAL when url does not parse; PC_ETOOBIG;
 * PC_EINTERNAL when libcurl cannot be loaded (httpc_global_init). */
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

/* ---- ratelimit (ratelimit.c): window counters, account lockout ----------------- */

#define RATELIMIT_KEY_MAX (PC_EMAIL_MAX + 32)

/* The lock key of a login identifier (its normalised address or username). */
void ratelimit_lock_key(const char *ident_key, char out[RATELIMIT_KEY_MAX]);
/* PC_ELIMITED with *retry_after seconds while key is locked; *hits gets its
 * failures in a row (0: none). PC_OK when lockout is off. PC_ESTORE. */
enum pc_err ratelimit_lock_check(struct pc_ctx *ctx, const char *key, int64_t *hits,
				 int64_t *retry_after);
/* Deletes counters idle for a day and not locked at now (housekeeping). */
enum pc_err ratelimit_purge(struct pc_ctx *ctx, int64_t now);
/* Whether the request this thread serves is authenticated as someone other
 * than user_id (a superuser acting on another user: its events are
 * "admin.*"). audit.c. */
bool audit_by_other(const char *user_id);
/* Whether this thread serves a request (pc_audit_scope set); false in the CLI. */
bool audit_in_request(void);
/* Deletes audit rows older than audit_retention_days (housekeeping; audit.c). */
enum pc_err audit_purge(struct pc_ctx *ctx, int64_t now);
/* After a login: a failure counts one more (and locks past the threshold:
 * *locked_for gets the lock's seconds, else 0);
 * a success clears a count there was (hits, from ratelimit_lock_check). */
enum pc_err ratelimit_lock_record(struct pc_ctx *ctx, const char *key, bool failed, int64_t hits,
				  int64_t *locked_for);

/* ---- ctx ----------------------------------------------------------------------- */

struct pc_ctx {
	struct pc_config cfg;
	struct pc_store *store;
	struct pc_workers *workers;       /* hashing (PC_R_SLOW routes) */
	struct pc_workers *write_workers; /* durable commits (PC_R_COMMITS routes) */
	struct pc_jwt_key jwt;
	struct pc_argon2_params argon2;
	struct pc_mailer *mailer; /* the outbox sender (outbox.c) */
	/* mail template overrides (message.c); a reload swaps in a new set */
	_Atomic(struct message_templates *) templates;
	uint64_t serial;          /* unique in the process: whose cache entries (authcache.c) */
	struct pc_jwt_key totp_jwt;             /* the TOTP-purpose token's key (totp.c) */
	unsigned char totp_key[TOTP_AES_KEY];   /* seals TOTP secrets */
	char totp_kid[TOTP_KID_LEN + 1];
	struct oauth_set *oauth;                /* the OAuth providers (oauth.c) */
	struct keyset *keys;                    /* published signing keys; NULL: HS* (keys.c) */
};

/* A reload (SIGHUP): next is the configuration read again from the same
 * sources. When it is valid and the mail templates it names can be read,
 * the settings named in reloadable[] take next's values for every request
 * from now on (config_live; the templates are read again whatever their
 * names), and say(arg, name, applied) tells each setting that differs
 * (applied false: it needs a restart). Otherwise nothing changes, nothing
 * is said, and ei says why (PC_EINVAL, PC_ENOMEM). */
enum pc_err ctx_reload(struct pc_ctx *ctx, const struct pc_config *next,
		       const char *const *reloadable, size_t nreloadable, config_diff_fn *say,
		       void *arg, struct pc_errinfo *ei);

/* The pool that runs slow work; the HTTP layer submits hashing requests here. */
struct pc_workers *ctx_workers(struct pc_ctx *ctx);
/* The pool of write_workers threads; the HTTP layer submits here the
 * requests whose cost is a durable commit. */
struct pc_workers *ctx_write_workers(struct pc_ctx *ctx);

#endif /* PC_CORE_H */
