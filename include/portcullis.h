/*
 * portcullis.h - the public API of libportcullis.
 *
 * Everything the server can do is reachable from here: open a context over a
 * configuration, register and authenticate users, issue and verify tokens.
 * The library knows no HTTP; the server binary is a thin main over it.
 *
 * Conventions (see STYLE.md):
 *   - every fallible call returns enum pc_err; results go out via parameters;
 *   - struct pc_user is a plain value with bounded fields: no ownership;
 *   - calls that verify a credential are warn_unused_result;
 *   - a struct pc_errinfo, when given, says which field failed and why.
 *
 * Thread safety: a struct pc_ctx may be used from any number of threads at
 * once once pc_ctx_open() has returned.
 */
#ifndef PORTCULLIS_H
#define PORTCULLIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PC_WUR __attribute__((warn_unused_result))

/* ---- errors ------------------------------------------------------------ */

enum pc_err {
	PC_OK = 0,
	PC_ENOMEM,        /* allocation failed */
	PC_EINVAL,        /* malformed input; errinfo names the field */
	PC_ETOOBIG,       /* input over its limit */
	PC_ENOTFOUND,     /* no such user / row */
	PC_EEXISTS,       /* unique value taken; errinfo.field says which */
	PC_EBADCREDS,     /* unknown user, wrong password or inactive: callers never learn which */
	PC_ENOTVERIFIED,  /* right password, but verification is required and missing */
	PC_EUNAUTHORIZED, /* missing, malformed, expired or revoked credential */
	PC_EFORBIDDEN,    /* authenticated, but not allowed */
	PC_EBADPASSWORD,  /* password fails the policy; errinfo.code says why */
	PC_EBUSY,         /* a bounded queue is full; try again later */
	PC_ESTORE,        /* the database failed */
	PC_EINTERNAL,     /* a bug or a failing library */
	PC_EALREADY,      /* the state asked for is already there (e.g. already verified) */
	PC_EREVOKED,      /* a spent refresh token presented again: its family is now revoked */
	PC_ELIMITED,      /* too many attempts: locked out for a while */
	PC_ESECONDFACTOR, /* right password, but the user's TOTP is on: a login needs its step */
	PC_EUNAVAILABLE,  /* the database cannot be reached or did not answer in time: 503 */
	PC_ERR__MAX
};

const char *pc_strerror(enum pc_err err);

/*
 * What is wrong with one value, as a code. The core, http and store layers
 * report these and never a client's words: each face renders them through
 * its own table (FastAPI's {"detail": [{"type", "loc", "msg"}]}, DRF's
 * {"field": ["..."]}, Flask's {"msg": ...}). limit carries the bound a
 * length or range check broke.
 */
enum pc_verr {
	PC_V_NONE = 0,
	/* shape of a request value */
	PC_V_MISSING,             /* required and absent (field "" : the whole body) */
	PC_V_STRING_TYPE,         /* not a string */
	PC_V_BOOL_TYPE,           /* not a boolean */
	PC_V_BOOL_PARSING,        /* a string or number that reads as no boolean */
	PC_V_OBJECT_TYPE,         /* the body is not an object */
	PC_V_JSON_INVALID,        /* the body does not parse as JSON */
	PC_V_FORM_INVALID,        /* the body does not parse as a form */
	PC_V_NUL_CHAR,            /* a string holding U+0000 */
	PC_V_PATTERN,             /* not the one value allowed (detail: the pattern) */
	/* rules on values */
	PC_V_TOO_SHORT,           /* fewer than limit characters */
	PC_V_TOO_LONG,            /* more than limit characters */
	PC_V_CONTAINS_EMAIL,      /* a password holding the user's address */
	PC_V_CONTAINS_USERNAME,   /* a password holding the user's username */
	PC_V_TOO_WEAK,            /* a password zxcvbn scores below limit (0..4) */
	PC_V_NAME_INVALID,        /* full_name: over 255 bytes or control characters */
	PC_V_ROLES_INVALID,       /* roles: a name not 1..32 of [a-z0-9_.-], or over limit names */
	PC_V_USERNAME_INVALID,    /* not 3..150 of [A-Za-z0-9_.+-] */
	PC_V_TAKEN,               /* a unique value another user holds */
	PC_V_INACTIVE,            /* a good credential whose user is inactive (the router's 401) */
	PC_V_CSRF_MISSING,        /* a cookie-authenticated unsafe request without the CSRF header */
	PC_V_CSRF_MISMATCH,       /* ... whose CSRF header is not the expected value */
	PC_V_INVALID,             /* a value of the right type and length that is no valid one */
	/* an email address, by the rule it breaks (email-validator's order) */
	PC_V_EMAIL_EMPTY,
	PC_V_EMAIL_TOO_LONG,
	PC_V_EMAIL_NO_AT,
	PC_V_EMAIL_BAD_CHARS,
	PC_V_EMAIL_LOCAL_EMPTY,
	PC_V_EMAIL_LOCAL_TOO_LONG,
	PC_V_EMAIL_LOCAL_DOT_EDGE,
	PC_V_EMAIL_LOCAL_DOUBLE_DOT,
	PC_V_EMAIL_LOCAL_BAD_CHARS,
	PC_V_EMAIL_DOMAIN_EMPTY,
	PC_V_EMAIL_DOMAIN_TOO_LONG,
	PC_V_EMAIL_DOMAIN_INVALID,
	PC_V_EMAIL_DOMAIN_BAD_CHARS,
	PC_V_EMAIL_DOMAIN_NO_DOT,
	/* operator-facing: settings, start-up (detail says more) */
	PC_V_UNKNOWN_SETTING,
	PC_V_NOT_INTEGER,
	PC_V_NOT_BOOL,
	PC_V_RANGE,               /* outside its range */
	PC_V_CHOICE,              /* not one of its choices */
	PC_V_CONTROL_CHARS,
	PC_V_RULE,                /* a rule over several settings */
	PC_V_IO,                  /* a file that cannot be read or made */
	PC_V_SYNTAX,              /* a file that does not parse */
	PC_V_STORE,               /* the database failed */
	PC_V_ROUTE,               /* a route table that cannot be mounted */
	PC_V_LISTEN,              /* the address cannot be resolved or bound */
	PC_V_INTERNAL,
	PC_V__MAX
};

struct pc_errinfo {
	char where[8];      /* "body", "query", "path", "header", "config" or "" */
	char field[64];     /* "email"; "" for the body as a whole */
	enum pc_verr code;
	long limit;         /* PC_V_TOO_SHORT, PC_V_TOO_LONG, PC_V_RANGE: the bound */
	char detail[256];   /* context for operators and logs (a file and line, the
	                     * choices of a setting, a pattern); no face sends it
	                     * to a client except as PC_V_PATTERN's pattern and
	                     * PC_V_JSON_INVALID's parser message (DRF says it) */
};

/* Sets where, field (each when not NULL), code and limit; clears detail. ei may be NULL. */
void pc_errinfo_set(struct pc_errinfo *ei, const char *where, const char *field,
		    enum pc_verr code, long limit);
/* Writes detail (printf-style). ei may be NULL. */
void pc_errinfo_detail(struct pc_errinfo *ei, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* pc_errinfo_set with limit 0, then the detail: for operator-facing failures. */
void pc_errinfo_setf(struct pc_errinfo *ei, const char *where, const char *field,
		     enum pc_verr code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A stable snake_case name of the code ("missing", "too_short"), for logs. */
const char *pc_verr_name(enum pc_verr code);
/* One line for an operator (the CLI, logs): the detail when there is one,
 * else "<field>: <code name> (limit N)". Returns out. */
const char *pc_errinfo_describe(const struct pc_errinfo *ei, char *out, size_t outsz);

/* ---- configuration ----------------------------------------------------- */

#define PC_CFG_STR 512
#define PC_CFG_LAYER_MAX 16384 /* bytes for the settings the faces declare */
#define PC_OAUTH_MAX 8        /* OAuth providers configured at once */

/* One OAuth provider's settings, oauth_<name>_<field> (config.c's keyed
 * rows): a slot is taken by the first setting naming a new provider. */
struct pc_oauth_conf {
	char name[32];                   /* "" = free slot; [a-z0-9]{1,31} */
	char kind[16];                   /* google, github, facebook, oidc */
	char client_id[256];
	char client_secret[PC_CFG_STR];  /* never logged */
	char client_secret_file[PC_CFG_STR];
	char issuer[PC_CFG_STR];         /* oidc: discovery; google: preset */
	char authorize_url[PC_CFG_STR];  /* "" = the preset's or discovery's */
	char token_url[PC_CFG_STR];
	char userinfo_url[PC_CFG_STR];
	char emails_url[PC_CFG_STR];     /* github: /user/emails */
	char jwks_url[PC_CFG_STR];
	char scopes[PC_CFG_STR];         /* blank-separated; "" = the preset's */
};

struct pc_config {
	char host[256];
	int port;
	char database_url[1024];
	char sqlite_synchronous[8];      /* "full" or "normal" (a sqlite:// URL's ?synchronous=) */
	int sqlite_mmap_mb;              /* MiB of the file SQLite reads through a map (?mmap_mb=) */
	char jwt_secret[PC_CFG_STR];     /* "" = generated once, kept in the store */
	char algorithm[16];              /* HS256, HS384, HS512; EdDSA, ES256, RS256 */
	char jwt_audience[128];
	char jwt_private_key_file[PC_CFG_STR]; /* PEM; "" = generated keys kept in the store */
	char jwt_extra_claims[128];      /* "email,is_superuser,is_verified" or a part; "" = none */
	int jwt_keys_reload_seconds;     /* how often the store's signing keys are read again */
	int lifetime_seconds;            /* access JWT lifetime */
	int session_lifetime_seconds;    /* database session (cookie) lifetime */
	int refresh_token_lifetime_seconds; /* a refresh token (and so a family at rest) */
	int refresh_grace_seconds;       /* a spent refresh token may be used again within this */
	int password_min_length;
	int password_max_length;
	int password_min_score;          /* zxcvbn score 0..4 a password needs; 0: no check */
	int rate_limit_login_ip;         /* logins per client a minute; 0: no limit */
	int rate_limit_mail_address;     /* mail requests per address per 15 min; 0: none */
	int rate_limit_mail_ip;          /* mail requests per client per 15 min; 0: none */
	int rate_limit_register_ip;      /* registrations made per client an hour; 0: none */
	int lockout_threshold;           /* failed logins in a row that lock; 0: never */
	int lockout_base_seconds;        /* the first lock; doubles per further failure */
	int lockout_max_seconds;         /* the longest lock */
	char trusted_proxies[PC_CFG_STR]; /* comma-separated addresses whose X-Forwarded-For counts */
	int audit_retention_days;        /* audit rows kept this long; 0: forever */
	char webhook_audit_events[PC_CFG_STR]; /* audit events sent as webhooks: "", "*" or a list */
	bool login_failure_delay;        /* failed logins held to the median successful one */
	int login_failure_jitter_ms;     /* plus up to this much at random */
	int hash_queue_per_client;       /* queued slow jobs one client may hold; 0: no cap */
	int argon2_memory_kib;
	int argon2_iterations;
	int argon2_parallelism;
	int hash_workers;                /* 0 = number of CPUs */
	int hash_queue_max;              /* queued slow jobs before 503 */
	int hash_nice;                   /* niceness added to hash worker threads */
	int write_workers;               /* threads running the durable-write routes */
	int write_queue_max;             /* queued durable-write jobs before 503 */
	int threads;                     /* HTTP threads; 0 = number of CPUs */
	int auth_cache_ms;               /* reuse of a verified credential; 0 = off */
	int database_pool_size;          /* PostgreSQL: connections per instance at most */
	int database_timeout_ms;         /* PostgreSQL: longest wait for a connection or answer */
	int max_body_bytes;
	int max_connections;
	int max_connections_per_ip;     /* per client IP (IPv6: per /64); 0: no cap */
	int header_timeout_seconds;      /* a request's header block must be complete within */
	int body_timeout_seconds;        /* and its body within this after the headers */
	bool requires_verification;
	char bootstrap_admin_email[321];
	char bootstrap_admin_password[PC_CFG_STR];
	bool access_log;
	char log_level[8];               /* debug, info, warn, error: the least a record needs */
	char log_format[8];              /* json, text; auto: text on a terminal, else json */
	char log_file[PC_CFG_STR];       /* "" = stderr; reopened by pc_log_reopen (SIGHUP) */
	bool quiet_dev_defaults;         /* not a setting: no development-default warnings
	                                  * (the CLI's commands other than serve) */
	/* mail, one-time tokens, events (issue 4) */
	char smtp_url[PC_CFG_STR];       /* smtp://host:port, smtps://...; "" = mail to the log */
	bool smtp_starttls;              /* smtp://: require STARTTLS */
	char smtp_username[256];
	char smtp_password[PC_CFG_STR];
	int smtp_timeout_seconds;        /* one delivery attempt, connect to end */
	char mail_from[PC_CFG_STR];      /* "addr@host" or "Name <addr@host>" */
	char reset_url[PC_CFG_STR];      /* front-end page; ?token=... is appended */
	char verify_url[PC_CFG_STR];
	char magic_url[PC_CFG_STR];      /* MyAuth's magic-link sign-in page */
	int reset_token_lifetime_seconds;
	int verify_token_lifetime_seconds;
	int magic_token_lifetime_seconds;
	char reset_template_text[PC_CFG_STR];  /* template files; "" = built in */
	char reset_template_html[PC_CFG_STR];
	char verify_template_text[PC_CFG_STR];
	char verify_template_html[PC_CFG_STR];
	char magic_template_text[PC_CFG_STR];
	char magic_template_html[PC_CFG_STR];
	char webhook_url[PC_CFG_STR];    /* "" = no events */
	char webhook_secret[PC_CFG_STR]; /* HMAC-SHA256 key of X-Portcullis-Signature */
	int mail_retry_base_seconds;     /* first retry delay, doubling ... */
	int mail_retry_max_seconds;      /* ... up to this */
	int mail_max_attempts;           /* 0 = retry forever */
	char totp_key[PC_CFG_STR];       /* 64 hex digits; "" = generated once, kept in the store */
	char totp_issuer[128];           /* issuer of otpauth:// URIs */
	/* OAuth2 / OpenID Connect social login (issue 11) */
	char oauth_providers[256];       /* "google,corp": the providers, by name */
	bool oauth_associate_by_email;   /* link a verified provider email to its user */
	char oauth_redirect_url[PC_CFG_STR]; /* cookie backend: 302 here after a login */
	char oauth_callback_base[PC_CFG_STR]; /* public base URL of the callbacks */
	int oauth_state_lifetime_seconds;
	int oauth_timeout_seconds;       /* one exchange with a provider */
	struct pc_oauth_conf oauth[PC_OAUTH_MAX];
	/* The settings the layers above the core declare (each face's route
	 * prefixes and cookie): set, loaded and listed by name like the fields
	 * above, read by their layer; opaque here. */
	unsigned char layer[PC_CFG_LAYER_MAX] __attribute__((aligned(16)));
};

/* Fills cfg with the built-in defaults (those of the registered layers too). */
void pc_config_defaults(struct pc_config *cfg);

/* Sets one setting by its name ("lifetime_seconds") from its text form.
 * PC_ENOTFOUND: no such setting; PC_EINVAL: the value does not parse (ei says why). */
enum pc_err pc_config_set(struct pc_config *cfg, const char *name, const char *value,
			  struct pc_errinfo *ei);

/* Applies an INI file (keys in any section, or none). PC_EINVAL with ei on a
 * bad line or value; PC_ENOTFOUND when the file cannot be read. */
enum pc_err pc_config_load_ini(struct pc_config *cfg, const char *path, struct pc_errinfo *ei);

/* Applies every PORTCULLIS_<NAME> variable of the environment. */
enum pc_err pc_config_load_env(struct pc_config *cfg, struct pc_errinfo *ei);

/* Checks each value (its row's check) and the settings together (the
 * cross-field rules: secret length, password bounds, pairs that go together). */
enum pc_err pc_config_validate(const struct pc_config *cfg, struct pc_errinfo *ei);

/* Reads a string setting by name, for embedders; NULL if none. Borrowed.
 * Modules of portcullis read their typed fields instead. */
const char *pc_config_get_str(const struct pc_config *cfg, const char *name);

/* The boolean words every source accepts, in any case: 1/true/yes/on and
 * 0/false/no/off. PC_EINVAL for anything else. */
enum pc_err pc_config_parse_bool(const char *v, bool *out);

/* Whether a setting of that name exists; whether it is a boolean. */
bool pc_config_has(const char *name);
bool pc_config_is_bool(const char *name);

/* Writes the settings table (flag, variable, default, help) for --help. */
void pc_config_print_help(FILE *out);

/* Iterates the settings table: i from 0 until it returns NULL. Borrowed. */
const char *pc_config_setting_name(size_t i, const char **help);

/* ---- context ------------------------------------------------------------ */

struct pc_ctx;

/* Opens the store, runs migrations, loads or generates keys, starts the hash
 * workers, creates the bootstrap superuser when configured and absent.
 * The config is copied. Caller frees with pc_ctx_free(). */
PC_WUR enum pc_err pc_ctx_open(const struct pc_config *cfg, struct pc_ctx **out,
			       struct pc_errinfo *ei);
void pc_ctx_free(struct pc_ctx *ctx);
const struct pc_config *pc_ctx_config(const struct pc_ctx *ctx);

/* PC_OK when the store answers and takes a write (/readyz). */
enum pc_err pc_ctx_ping(struct pc_ctx *ctx);

/* Runs pending migrations only (portcullis migrate). */
enum pc_err pc_migrate(const struct pc_config *cfg, int *applied, struct pc_errinfo *ei);

/* ---- users -------------------------------------------------------------- */

#define PC_ID_LEN 36
#define PC_EMAIL_MAX 320
#define PC_USERNAME_MAX 150
#define PC_NAME_MAX 255
#define PC_HASH_MAX 511
#define PC_ROLES_MAX 255 /* role names, space-separated */

struct pc_user {
	char id[PC_ID_LEN + 1];                /* UUIDv7, text form */
	char email[PC_EMAIL_MAX + 1];
	char username[PC_USERNAME_MAX + 1];    /* "" when the user has none */
	char full_name[PC_NAME_MAX + 1];       /* "" when unset */
	char hashed_password[PC_HASH_MAX + 1]; /* PHC string; "" for passwordless users */
	char roles[PC_ROLES_MAX + 1];          /* "admin ops": sorted, one space apart; "" */
	bool is_active;
	bool is_superuser;
	bool is_verified;
	int64_t password_changed_at;           /* unix seconds */
	int64_t created_at;
	int64_t updated_at;
	bool totp_enabled;                     /* the second factor is on (read only here:
	                                        * written by the TOTP calls alone) */
};

/* Input for create and update. NULL / PC_UNSET mean "absent". */
#define PC_UNSET (-1)
struct pc_user_input {
	const char *email;
	const char *password;
	size_t password_len;
	const char *username;
	const char *full_name;
	int is_active;     /* PC_UNSET, 0 or 1 */
	int is_superuser;
	int is_verified;
	/* NULL: unchanged. Else the whole set of role names, separated by
	 * spaces ("" clears them); honoured only where the flags are. */
	const char *roles;
};

void pc_user_input_init(struct pc_user_input *in);

/* The user_account face's profile fields, kept apart from struct pc_user
 * (which the credential cache copies): a phone (printable, no controls) and
 * contacts, a JSON object or array as compact text. */
#define PC_PHONE_MAX 64
#define PC_CONTACTS_MAX 4096
struct pc_user_profile {
	bool has_phone;                        /* false: null */
	char phone[PC_PHONE_MAX + 1];
	char contacts[PC_CONTACTS_MAX + 1];    /* JSON text; "" when null */
};
/* PC_OK when p would be stored, else PC_EINVAL as pc_user_profile_set
 * says (for a caller that checks before it creates the user). */
enum pc_err pc_user_profile_check(const struct pc_user_profile *p, struct pc_errinfo *ei);
/* PC_ENOTFOUND; PC_ESTORE. */
enum pc_err pc_user_profile_get(struct pc_ctx *ctx, const char *id, struct pc_user_profile *out);
/* Checks and stores both fields. PC_EINVAL (ei: field "phone" or
 * "contacts") for a phone with control characters or contacts that are no
 * JSON object or array; PC_ENOTFOUND; PC_ESTORE. */
enum pc_err pc_user_profile_set(struct pc_ctx *ctx, const char *id,
				const struct pc_user_profile *p, struct pc_errinfo *ei);
/* Whether u has the role (a name of its roles, compared exactly). */
bool pc_user_has_role(const struct pc_user *u, const char *role);

/* Self-service registration: the flags in `in` are ignored (a client cannot
 * make itself superuser or verified). Hashes: call from a worker thread.
 * PC_EINVAL (ei: field), PC_EBADPASSWORD (ei.msg), PC_EEXISTS (ei.field). */
PC_WUR enum pc_err pc_user_register(struct pc_ctx *ctx, const struct pc_user_input *in,
				    struct pc_user *out, struct pc_errinfo *ei);

/* Administrative creation (CLI, bootstrap): honours the flags. */
PC_WUR enum pc_err pc_user_create(struct pc_ctx *ctx, const struct pc_user_input *in,
				  struct pc_user *out, struct pc_errinfo *ei);

enum pc_user_update_flags {
	PC_UPDATE_PRIVILEGED = 1 << 0, /* honour is_active / is_superuser / is_verified */
};

/* Applies `patch` to the user with id u->id and stores it; u is updated in
 * place. A new email clears is_verified. Hashes when a password is given.
 * PC_ENOTFOUND, PC_EINVAL, PC_EBADPASSWORD, PC_EEXISTS. */
PC_WUR enum pc_err pc_user_update(struct pc_ctx *ctx, struct pc_user *u,
				  const struct pc_user_input *patch, unsigned flags,
				  struct pc_errinfo *ei);

/* PC_OK when pw is the password of the user with id, or the user has none;
 * PC_EBADCREDS when pw is NULL or wrong; PC_ENOTFOUND. Hashes. */
PC_WUR enum pc_err pc_user_check_password(struct pc_ctx *ctx, const char *id, const char *pw,
					  size_t len);
enum pc_err pc_user_get(struct pc_ctx *ctx, const char *id, struct pc_user *out);
enum pc_err pc_user_get_by_email(struct pc_ctx *ctx, const char *email, struct pc_user *out);
enum pc_err pc_user_delete(struct pc_ctx *ctx, const char *id);

/* Import of users from another system (portcullis user import): the
 * identity fields and flags of in (is_* PC_UNSET counts as 0, is_active
 * too), the id kept when it is a UUID, the hash kept as it is. PC_EEXISTS
 * (ei: field "id", "email" or "username"), PC_EINVAL (ei: field), PC_ESTORE.
 * Calls between _begin and _commit are one transaction (no other store
 * call of this thread may open one meanwhile); after an error, _rollback. */
PC_WUR enum pc_err pc_user_import(struct pc_ctx *ctx, const struct pc_user_input *in,
				  const char *id, const char *hashed, int64_t created_at,
				  struct pc_user *out, struct pc_errinfo *ei);
enum pc_err pc_user_import_begin(struct pc_ctx *ctx);
enum pc_err pc_user_import_commit(struct pc_ctx *ctx);
enum pc_err pc_user_import_rollback(struct pc_ctx *ctx);
/* Whether a stored hash is of a format login verifies (argon2, bcrypt,
 * Django's, Werkzeug's). */
bool pc_password_format_known(const char *hashed);

typedef int pc_user_cb(const struct pc_user *u, void *arg); /* nonzero stops */
enum pc_err pc_user_list(struct pc_ctx *ctx, int64_t offset, int limit, pc_user_cb *cb, void *arg);
enum pc_err pc_user_count(struct pc_ctx *ctx, int64_t *out);

/* ---- authentication ------------------------------------------------------ */

/* Password login. ident is an email (contains '@') or a username. Unknown
 * users still cost one hash verification. Rehashes to the current policy on
 * success when needed. Hashes: call from a worker thread.
 * PC_EBADCREDS (unknown, wrong password, inactive), PC_ENOTVERIFIED;
 * PC_ESECONDFACTOR when the password is right but the user has TOTP on: a
 * password alone never makes a credential for such a user. (A face that
 * has a second step, as MyAuth's, checks the password with
 * auth_first_factor and hands out a TOTP-purpose token instead.) */
PC_WUR enum pc_err pc_login(struct pc_ctx *ctx, const char *ident, const char *password,
			    size_t password_len, struct pc_user *out);

#define PC_JWT_MAX 2048
#define PC_TOKEN_MAX 64 /* opaque tokens: 43 base64url chars + NUL fit */

/* Issues an access JWT for the user (sub, aud, exp, iat, jti). */
enum pc_err pc_jwt_issue(struct pc_ctx *ctx, const struct pc_user *u, char *out, size_t outsz);

/* Verifies an access JWT (alg pinned, signature, exp, aud, denylist) and
 * loads its user, without its password hash. PC_EUNAUTHORIZED on any
 * failure. The user may be inactive: callers decide. A token checked
 * before is answered from memory (exp still checked) while nothing it
 * depends on changed: a write of this process to its user, session, jti or
 * refresh family voids it at once; another process's write is seen within
 * cfg.auth_cache_ms (on SQLite, from the store's change log; on PostgreSQL,
 * an entry lives that long at most); 0 turns this off. */
PC_WUR enum pc_err pc_jwt_authenticate(struct pc_ctx *ctx, const char *token, struct pc_user *out);

/* Logout of a JWT: its jti is denied until the token's own expiry. */
enum pc_err pc_jwt_revoke(struct pc_ctx *ctx, const char *token);

/* A user's sign-ins: its live database sessions (cookie logins) and refresh
 * families (token logins). id: "s" + 32 hex digits of the session token's
 * hash, or "r" + the family id; it names the sign-in and opens nothing. */
#define PC_SIGNINS_MAX 100 /* listed at most, oldest first */
struct pc_signin {
	char id[48];
	char kind[8];          /* "session" or "refresh" */
	int64_t created_at;
	int64_t last_seen_at;  /* a family: its newest token's creation */
	int64_t expires_at;    /* a family: its newest token's expiry */
	char ip[64];           /* "" when not kept (families) */
	char user_agent[256];
};
/* out holds PC_SIGNINS_MAX; *n gets how many. PC_ESTORE. */
enum pc_err pc_signins_list(struct pc_ctx *ctx, const char *user_id, struct pc_signin *out,
			    size_t *n);
/* Ends one (deletes the session, or revokes the family, its tokens and the
 * access tokens issued from it). PC_ENOTFOUND when the user has no live
 * sign-in of that id. */
enum pc_err pc_signin_end(struct pc_ctx *ctx, const char *user_id, const char *id);
/* Ends every session and family of the user. */
enum pc_err pc_signins_end_all(struct pc_ctx *ctx, const char *user_id);

/* Rate limits kept in the store (ratelimit.c), shared by every instance. */
enum pc_limit {
	PC_LIMIT_LOGIN_IP,     /* logins per client, rate_limit_login_ip a minute */
	PC_LIMIT_MAIL_ADDRESS, /* mail requests per address, rate_limit_mail_address / 15 min */
	PC_LIMIT_MAIL_IP,      /* mail requests per client, rate_limit_mail_ip / 15 min */
	PC_LIMIT_REGISTER_IP,  /* registrations made per client, rate_limit_register_ip / hour */
	PC_LIMIT__MAX
};
#define PC_CLIENT_KEY_MAX 64
/* Counts one hit of subject (a client key, an address); PC_ELIMITED with
 * *retry_after seconds when it is over the limit; PC_OK when the limit is
 * off (0). PC_ESTORE. */
enum pc_err pc_limit_hit(struct pc_ctx *ctx, enum pc_limit kind, const char *subject,
			 int64_t *retry_after);
/* Whether subject is at its limit already, without counting: PC_ELIMITED
 * with *retry_after, else PC_OK (for limits counted only on success:
 * registrations, so that refused input counts nothing). PC_ESTORE. */
enum pc_err pc_limit_peek(struct pc_ctx *ctx, enum pc_limit kind, const char *subject,
			  int64_t *retry_after);
/* The client's key: the peer address, or with trusted_proxies the nearest
 * untrusted X-Forwarded-For hop; IPv4 as is, IPv6 by its /64. */
void pc_client_key(struct pc_ctx *ctx, const char *peer, const char *xff,
		   char out[PC_CLIENT_KEY_MAX]);
/* How long the login identifier stays locked (0: not locked). PC_ESTORE. */
enum pc_err pc_login_retry_after(struct pc_ctx *ctx, const char *ident, int64_t *retry_after);
/* Unlocks a login identifier (its failed logins forgotten): a superuser's
 * call. PC_ESTORE. */
enum pc_err pc_login_unlock(struct pc_ctx *ctx, const char *ident);

/* ---- the audit log of security events (audit.c; migration 013) ---------------- */

#define PC_AUDIT_DETAIL_MAX 1024
#define PC_AUDIT_LIST_MAX 1000 /* rows per page at most */
struct pc_audit_row {
	char id[PC_ID_LEN + 1];        /* UUIDv7: rows sort by it, the list's cursor */
	int64_t at;                  /* unix seconds */
	char event[48];              /* "login.failure", "admin.user_delete", ... */
	char user_id[PC_ID_LEN + 1];   /* "" when no account is known */
	char actor_id[PC_ID_LEN + 1];  /* "" unless someone else acted (a superuser) */
	char ip[PC_CLIENT_KEY_MAX];  /* the client's key; "" outside a request (CLI) */
	char detail[PC_AUDIT_DETAIL_MAX]; /* a JSON object; never a secret or token */
};
/* The request being served on this thread: its peer address and
 * X-Forwarded-For (borrowed until cleared; the client's key, pc_client_key,
 * is derived from them only when a row is written) and its authenticated
 * user (NULL: none), so that audit rows name them. The HTTP layer sets it
 * around each handler and clears it (NULL, NULL, NULL) after. */
void pc_audit_scope(const char *peer, const char *xff, const char *actor_id);
/* Records event about user_id (NULL: none) with detail (a JSON object text;
 * NULL: {}): one insert, joining the caller's store transaction if one is
 * open, plus a webhook outbox row when webhook_audit_events names it.
 * Best effort for callers that must not fail on it: they ignore the result. */
enum pc_err pc_audit(struct pc_ctx *ctx, const char *event, const char *user_id,
		     const char *detail);
/* Rows after the cursor (an audit id; "" from the start), of user_id when not
 * NULL, oldest first, at most limit (1..PC_AUDIT_LIST_MAX). cb nonzero stops. */
typedef int pc_audit_cb(const struct pc_audit_row *r, void *arg);
enum pc_err pc_audit_list(struct pc_ctx *ctx, const char *user_id, const char *after, int limit,
			  pc_audit_cb *cb, void *arg);
/* A cursor for "at or after unix second t" (an id below every id of t). */
void pc_audit_cursor_at(int64_t t, char out[PC_ID_LEN + 1]);

/* Database sessions: opaque 256-bit token, stored as its SHA-256. */
enum pc_err pc_session_create(struct pc_ctx *ctx, const struct pc_user *u, const char *ip,
			      const char *user_agent, char token_out[PC_TOKEN_MAX]);
/* The user of an unexpired session, without its password hash; remembered
 * like pc_jwt_authenticate's. PC_EUNAUTHORIZED. */
PC_WUR enum pc_err pc_session_authenticate(struct pc_ctx *ctx, const char *token,
					   struct pc_user *out);
enum pc_err pc_session_end(struct pc_ctx *ctx, const char *token);

/* ---- password reset and email verification ---------------------------------- */

/*
 * One-time tokens are 256 random bits (base64url, 43 characters), stored only
 * as their SHA-256, single use, bound to a purpose, a user and the address
 * they were sent to. The mail carrying a token is written to the outbox in the
 * transaction that stores the token; a background sender delivers it (SMTP,
 * or the log when no smtp_url is set) and retries until it is delivered.
 * Events (webhook_url) go through the same outbox.
 */

/* Starts a password reset. For an active user: voids the user's older reset
 * tokens, issues one (reset_token_lifetime_seconds) and writes its mail and
 * the on_after_forgot_password event. An unknown or inactive address answers
 * PC_OK all the same, after the same work but the write: a token is made,
 * hashed and its mail rendered, and the token table is read instead.
 * PC_OK; PC_EINVAL (ei: field "email") for a malformed address; PC_ESTORE. */
enum pc_err pc_password_forgot(struct pc_ctx *ctx, const char *email, struct pc_errinfo *ei);

/* Completes a reset: the token must be a good reset token of an active user
 * whose address is still the one it was sent to. The password is checked
 * against the policy, hashed, and stored as the token is marked used, in one
 * transaction that also voids the user's other reset tokens, ends the user's
 * sessions, revokes its refresh families and access JWTs (as every password
 * change does: migration 011) and writes on_after_reset_password. Hashes:
 * call from a worker thread. out (may be NULL) gets the updated user.
 * PC_EUNAUTHORIZED: unknown, garbled, expired, used or other-purpose token, or
 * the user gone, inactive or moved; PC_EBADPASSWORD (ei.msg says why; the
 * token stays good); PC_ESTORE. */
PC_WUR enum pc_err pc_password_reset(struct pc_ctx *ctx, const char *token, const char *password,
				     size_t password_len, struct pc_user *out,
				     struct pc_errinfo *ei);

/* Mails a verify token (verify_token_lifetime_seconds) to an active,
 * unverified user, with the on_after_request_verify event. Any other address
 * answers PC_OK after the same work, as pc_password_forgot.
 * PC_OK; PC_EINVAL (ei: field "email"); PC_ESTORE. */
enum pc_err pc_verify_request(struct pc_ctx *ctx, const char *email, struct pc_errinfo *ei);

/* Uses a verify token: the user becomes verified (on_after_verify is
 * written in the same transaction). out gets the user.
 * PC_EUNAUTHORIZED: unknown, garbled, expired, used or other-purpose token, or
 * the user gone or its address changed since; PC_EALREADY: the user is
 * verified already (the token stays unused); PC_ESTORE. */
PC_WUR enum pc_err pc_verify(struct pc_ctx *ctx, const char *token, struct pc_user *out);

/* ---- two-half tokens: MyAuth's magic link and password recovery -------------------- */

/*
 * Each request makes two independent one-time tokens: the email token, sent
 * in the mail's link, and the claim, handed back to the client that asked.
 * The store keeps the SHA-256 of each, in one row. Using them needs both,
 * once: the row is found by the email token's hash, the claim's hash
 * compared in constant time, and the row consumed in the transaction that
 * does its effect. A two-half token is never good alone (pc_password_reset,
 * pc_verify refuse it), and a one-half token never with a claim.
 */

/* Starts a recovery: as pc_password_forgot, and claim gets the claim. An
 * unknown or inactive address gets a decoy claim after the same work but
 * the write (no token stored, no mail). PC_OK; PC_EINVAL (ei: field
 * "email"); PC_ESTORE. */
enum pc_err pc_password_recover(struct pc_ctx *ctx, const char *email, char claim[PC_TOKEN_MAX],
				struct pc_errinfo *ei);

/* Completes a recovery: pc_password_reset with the claim. PC_EUNAUTHORIZED
 * when token is not a reset token at all (garbled, unknown, another
 * purpose); PC_EBADCREDS when it is but the claim is wrong (or the token was
 * issued without one), or it is used, expired, or its user gone, inactive or
 * moved; PC_EBADPASSWORD (the tokens stay good); PC_EINVAL (claim NULL). */
PC_WUR enum pc_err pc_password_reset_claim(struct pc_ctx *ctx, const char *token,
					   const char *claim, const char *password,
					   size_t password_len, struct pc_user *out,
					   struct pc_errinfo *ei);

/* Mails a magic sign-in link (magic_token_lifetime_seconds, magic_url) to
 * an active user; claim gets its claim. An unknown address, with
 * may_register, becomes an active, unverified user without a password
 * (on_after_register is written with the token); without may_register it
 * is answered, as an inactive user is, with a decoy claim after the same
 * work but the write: no user, token or mail. PC_OK; PC_EINVAL (ei: field
 * "email"); PC_ESTORE. */
enum pc_err pc_magic_request(struct pc_ctx *ctx, const char *email, bool may_register,
			     char claim[PC_TOKEN_MAX], struct pc_errinfo *ei);

/* Uses a magic link: the token and its claim. The user, active and still
 * at the address the link went to, becomes verified (they proved control of
 * it) as the token is consumed, in one transaction. out gets the user; the
 * caller then issues the login's tokens. Errors as pc_password_reset_claim's
 * but PC_EBADPASSWORD. */
PC_WUR enum pc_err pc_magic_claim(struct pc_ctx *ctx, const char *token, const char *claim,
				  struct pc_user *out);

#ifdef __cplusplus
}
#endif
#endif /* PORTCULLIS_H */
