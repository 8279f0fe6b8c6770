/*
 * base.h - leaf utilities every layer may use: nothing here knows the core,
 * the store or HTTP. The groups:
 *   arena     request/task memory: bump allocator + deferred cleanups
 *   buf       bounded growable byte buffer (a maximum is mandatory)
 *   crypto    random, SHA-256, base64url, constant-time compare, UUIDv7, wipe
 *   ascii     locale-free character classes
 *   time      clocks
 *   stats     counters for /metrics: per thread, no lock on the hot path
 *   log       the process's log: levels, JSON or text, one write(2) a record
 *   dl        a shared library loaded when first needed (libpq, libcurl)
 * (err.c, the public pc_strerror and pc_errinfo_set, lives here too.)
 */
#ifndef PC_BASE_H
#define PC_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "portcullis.h"

/* ---- arena -------------------------------------------------------------- */

/* A bump allocator that frees everything at once. Cleanups registered with
 * arena_defer run in reverse order when the arena is freed. Not shared
 * between threads at the same time. Allocations are 16-byte aligned. */
struct pc_arena;
typedef void (*pc_cleanup_fn)(void *);

struct pc_arena *arena_new(size_t chunk_size);   /* NULL on ENOMEM */
void arena_free(struct pc_arena *a);             /* NULL is a no-op */
/* Runs the cleanups and frees all but the first chunk, which is reused:
 * the arena is empty again, everything it handed out gone. */
void arena_reset(struct pc_arena *a);            /* NULL is a no-op */
void *arena_alloc(struct pc_arena *a, size_t n); /* NULL on ENOMEM */
void *arena_calloc(struct pc_arena *a, size_t n);
char *arena_strdup(struct pc_arena *a, const char *s);
char *arena_strndup(struct pc_arena *a, const char *s, size_t n);
char *arena_printf(struct pc_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
enum pc_err arena_defer(struct pc_arena *a, pc_cleanup_fn fn, void *arg);

/* ---- buf ---------------------------------------------------------------- */

/* Always NUL-terminated after the first add (data may be NULL before). */
struct pc_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* the most len may reach */
};

void buf_init(struct pc_buf *b, size_t max);
enum pc_err buf_add(struct pc_buf *b, const void *p, size_t n); /* PC_ETOOBIG past max */
enum pc_err buf_addstr(struct pc_buf *b, const char *s);
enum pc_err buf_printf(struct pc_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_reset(struct pc_buf *b);   /* len = 0, keeps memory */
void buf_release(struct pc_buf *b); /* frees the data; the struct may be reused after init */

/* Numbers as decimal text without printf (hot paths: the access log line):
 * v into out, NUL-terminated, as "%lld" / "%llu" would write it; returns
 * the length (at most 20). out holds TEXT_INT_MAX bytes. */
#define TEXT_INT_MAX 21
size_t text_i64(char out[TEXT_INT_MAX], int64_t v);
size_t text_u64(char out[TEXT_INT_MAX], uint64_t v);

/* text_plain_run's word test: the high bit of each byte of x below b (b <=
 * 0x80) is set, and maybe others after the first such byte (a borrow runs
 * on), never one when no byte is below b. */
#define TEXT_ONES 0x0101010101010101ULL
#define TEXT_HIGHS 0x8080808080808080ULL

static inline uint64_t text_below(uint64_t x, unsigned b)
{
	return (x - TEXT_ONES * b) & ~x & TEXT_HIGHS;
}

static inline uint64_t text_has(uint64_t x, unsigned char c)
{
	return text_below(x ^ (TEXT_ONES * c), 1);
}

/* How many bytes at the start of s[0..n) a writer copies as they are, up
 * to the first it must escape: for a JSON string (json) every byte from
 * 0x20 up but '"' and '\\' (UTF-8 and 0x7f pass as they are), for a log
 * field (!json) 0x20-0x7e but '"' and '\\'. Eight bytes at a time where all
 * eight pass (hot paths: the response body, the access log line). */
static inline size_t text_plain_run(const char *s, size_t n, bool json)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i;

	for (i = 0; n - i >= 8; i += 8) {
		uint64_t x, bad;

		memcpy(&x, u + i, 8);
		bad = text_below(x, 0x20) | text_has(x, '"') | text_has(x, '\\');
		if (!json)
			bad |= (x & TEXT_HIGHS) | text_has(x, 0x7f);
		if (bad != 0) /* one of these eight: the byte loop finds which */
			break;
	}
	while (i < n && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\' && (json || u[i] < 0x7f))
		i++;
	return i;
}

/* ---- crypto --------------------------------------------------------------- */

#define PC_SHA256_LEN 32
#define PC_SHA256_HEX 65 /* 64 hex digits + NUL */
#define PC_UUID_STR 37

enum pc_err crypto_random(void *out, size_t n);
void crypto_sha256(const void *p, size_t n, unsigned char out[PC_SHA256_LEN]);
/* A keyed SHA-256: the state after a secret first block, kept and reused. */
#define PC_SHA256_BLOCK 64
struct pc_sha256_keyed {
	uint64_t state[16]; /* OpenSSL's SHA256_CTX (112 bytes) */
};
bool crypto_sha256_keyed_init(struct pc_sha256_keyed *k, const unsigned char key[PC_SHA256_BLOCK]);
void crypto_sha256_keyed(const struct pc_sha256_keyed *k, const void *a, size_t na,
			 const void *b, size_t nb, unsigned char out[PC_SHA256_LEN]);
void crypto_sha256_hex(const void *p, size_t n, char out[PC_SHA256_HEX]);
void crypto_hex_encode(const void *p, size_t n, char *out); /* out holds 2n+1 */
/* Constant-time equality of n bytes (CRYPTO_memcmp). */
bool crypto_ct_equal(const void *a, const void *b, size_t n);
/* The same, word by word: for long inputs on hot paths (authcache.c). */
bool crypto_ct_equal_words(const void *a, const void *b, size_t n);
/* Constant-time for equal lengths; different lengths compare unequal. */
bool crypto_ct_streq(const char *a, const char *b);
void crypto_wipe(void *p, size_t n);

/* base64url without padding. Encode returns the length written (excluding
 * NUL) or 0 when outsz is too small. Decode accepts no padding and rejects
 * characters outside the alphabet. */
size_t crypto_b64url_encode(const void *p, size_t n, char *out, size_t outsz);
enum pc_err crypto_b64url_decode(const char *s, size_t n, unsigned char *out, size_t outsz,
			     size_t *outlen);
/* The same two with the standard alphabet ("+/"), unpadded: PHC strings. */
size_t crypto_b64_encode(const void *p, size_t n, char *out, size_t outsz);
enum pc_err crypto_b64_decode(const char *s, size_t n, unsigned char *out, size_t outsz,
			  size_t *outlen);

/* ES256 signatures: JWS's fixed r || s (32 bytes each, RFC 7518 3.4) and
 * the DER ECDSA-Sig-Value OpenSSL signs and verifies. false on any
 * malformed input or a buffer too small. */
bool crypto_ecdsa_raw_to_der(const unsigned char raw[64], unsigned char *der, size_t dersz,
			     size_t *derlen);
bool crypto_ecdsa_der_to_raw(const unsigned char *der, size_t derlen, unsigned char raw[64]);

/* Whether s has the shape of the opaque tokens crypto_token_new makes:
 * exactly 43 base64url characters. */
bool crypto_token_shape_ok(const char *s);
/* 256 random bits as base64url (43 chars), NUL-terminated. */
enum pc_err crypto_token_new(char out[PC_TOKEN_MAX]);
/* The stored form of an opaque token: hex SHA-256 of its text. */
void crypto_token_hash(const char *token, char out[PC_SHA256_HEX]);

enum pc_err crypto_uuid7(char out[PC_UUID_STR]);
/* 8-4-4-4-12 lower- or upper-case hex. */
bool crypto_uuid_valid(const char *s);

/* ---- ascii ---------------------------------------------------------------- */

/* Locale-free character classes: the bytes of protocols, never of text. */
static inline bool ascii_is_digit(int c)
{
	return c >= '0' && c <= '9';
}
static inline bool ascii_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static inline bool ascii_is_alnum(int c)
{
	return ascii_is_alpha(c) || ascii_is_digit(c);
}
/* The base64url alphabet: A-Z a-z 0-9 - _ */
static inline bool ascii_is_b64url(int c)
{
	return ascii_is_alnum(c) || c == '-' || c == '_';
}
/* The value of a hex digit (either case), or -1. */
static inline int ascii_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}
static inline char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}
/* Lower-cases s in place, ASCII letters only. */
static inline void ascii_lower_str(char *s)
{
	for (; *s != '\0'; s++)
		*s = ascii_lower(*s);
}

/* ---- time ---------------------------------------------------------------- */

int64_t time_now(void);       /* unix seconds, wall clock */
int64_t time_now_ms(void);    /* unix milliseconds, wall clock */
int64_t time_mono_us(void);   /* monotonic microseconds, for durations */

/* ---- stats (stats.c) -------------------------------------------------------- */

/* Counters that any layer bumps and /metrics sums. Each thread owns a block
 * of STATS_SLOTS counters (made on its first bump, kept for the life of the
 * process on a list the reader walks); a bump is a relaxed load and store
 * on the thread's own cache lines: no lock, no shared write. A reader sums
 * every block with relaxed loads, so a total may miss a bump in flight.
 * Slots below STAT__NAMED are the named counters; the HTTP layer reserves
 * ranges above them (stats_reserve) for its per-route series. */
enum stat_id {
	STAT_LOGIN_OK,        /* a password (first factor) login that passed */
	STAT_LOGIN_FAILED,    /* one that did not (wrong password, unknown user, ...) */
	STAT_AUTHCACHE_HIT,   /* a credential answered from the per-thread cache */
	STAT_AUTHCACHE_MISS,  /* one that took the full check */
	STAT_STORE_ERRORS,    /* store statements that failed (PC_ESTORE) */
	STAT_HASH_JOBS,       /* jobs the hash workers took from their queue */
	STAT_HASH_WAIT_US,    /* their total wait in the queue, microseconds */
	STAT_WRITE_JOBS,      /* jobs the write workers took from their queue */
	STAT_WRITE_WAIT_US,   /* their total wait in the queue, microseconds */
	STAT__NAMED
};

#define STATS_SLOTS 8192

void stats_add(unsigned id, uint64_t n);
/* The sum of slot id over every thread's block. */
uint64_t stats_sum(unsigned id);
/* Sums slots [first, first + n) into out[0..n). */
void stats_sum_range(unsigned first, size_t n, uint64_t *out);
/* Reserves n slots for the life of the process: their first index, or -1
 * when fewer are left. */
long stats_reserve(size_t n);

/* ---- log (log.c) ------------------------------------------------------------ */

/* One record = one line = one write(2) from a bounded stack buffer (no
 * malloc), to stderr or log_file. JSON: {"ts","level","component","msg",
 * fields...}; text: "ts level component: msg key=value ...". Callers never
 * pass a password, a token or a secret. Thread-safe once configured. */
enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_AUTO, LOG_FORMAT_JSON, LOG_FORMAT_TEXT };

#define LOG_LINE_MAX 16384 /* a record, escaped; longer ones are cut and say so */
#define LOG_MSG_MAX 1024   /* the msg, formatted (long texts go in a field) */
#define LOG_TS_MAX 32

enum log_field_type { LOG_F_STR, LOG_F_INT, LOG_F_BOOL };
struct log_field {
	const char *key;
	enum log_field_type type;
	const char *str;   /* LOG_F_STR; NULL: JSON null */
	long long num;     /* LOG_F_INT, LOG_F_BOOL */
};
#define LOG_STR(k, v) { .key = (k), .type = LOG_F_STR, .str = (v) }
#define LOG_INT(k, v) { .key = (k), .type = LOG_F_INT, .num = (long long)(v) }
#define LOG_BOOL(k, v) { .key = (k), .type = LOG_F_BOOL, .num = (v) ? 1 : 0 }
/* An array of fields as log_emit's two arguments. */
#define LOG_FIELDS(a) (a), (sizeof(a) / sizeof((a)[0]))

/* "debug", "info", "warn", "error"; "json", "text", "auto" (or ""). */
bool log_level_parse(const char *s, enum log_level *out);
bool log_format_parse(const char *s, enum log_format *out);
const char *log_level_name(enum log_level lv);
/* Sets the minimum level, the format (AUTO: text on a terminal, else JSON)
 * and the sink: path, opened for appending, or stderr when NULL or "".
 * Call before threads start. PC_EINVAL with why when path cannot be opened. */
enum pc_err log_configure(enum log_level min, enum log_format fmt, const char *path,
			  char *why, size_t whysz);
/* Opens log_file again (after it was moved away: SIGHUP); the old
 * descriptor is replaced atomically under the writers. PC_OK when the log
 * is stderr; PC_EINTERNAL when the file cannot be opened (the old one stays). */
enum pc_err pc_log_reopen(void);
enum log_format log_format_get(void); /* JSON or TEXT, never AUTO */
bool log_enabled(enum log_level lv);

void log_emit(enum log_level lv, const char *component, const struct log_field *fields,
	      size_t nfields, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void log_emitv(enum log_level lv, const char *component, const struct log_field *fields,
	       size_t nfields, const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
#define log_debug(comp, ...) log_emit(LOG_LEVEL_DEBUG, (comp), NULL, 0, __VA_ARGS__)
#define log_info(comp, ...) log_emit(LOG_LEVEL_INFO, (comp), NULL, 0, __VA_ARGS__)
#define log_warn(comp, ...) log_emit(LOG_LEVEL_WARN, (comp), NULL, 0, __VA_ARGS__)
#define log_error(comp, ...) log_emit(LOG_LEVEL_ERROR, (comp), NULL, 0, __VA_ARGS__)

/* The pieces, for records built elsewhere (the access log): one record into
 * buf (bufsz > 64), returning its length, newline included; the timestamp;
 * JSON string escaping of s[0..n) into dst (always terminated; *cut set
 * when it did not all fit; never splits a character); one write. */
size_t log_format_record(char *buf, size_t bufsz, enum log_format fmt, enum log_level lv,
			 const char *component, const struct log_field *fields, size_t nfields,
			 const char *msg);
void log_timestamp(char out[LOG_TS_MAX]);
size_t log_escape(char *dst, size_t dstsz, const char *s, size_t n, bool *cut);
void log_write_line(const char *line, size_t len);
/* Whole lines buf[0..len) (len == 0 or buf[len-1] == '\n'): one write(2) to a
 * regular file; to a pipe or socket, writes of whole lines of at most
 * PIPE_BUF bytes each, so another writer's lines never land mid-line. */
void log_write_lines(const char *buf, size_t len);
/* url with the password of its userinfo and of any password= parameter
 * replaced by "***": postgres://u:***@h/db. Cut to outsz - 1 bytes. */
void log_redact_url(const char *url, char *out, size_t outsz);

/* ---- dl (dl.c) -------------------------------------------------------------- */

/* Opens the shared library soname (RTLD_NOW | RTLD_LOCAL) and resolves each
 * of names[0..n) into syms[i]. PC_EINTERNAL when the library or a name is
 * missing: nothing stays open, every syms[i] is NULL, and why says which,
 * with dlerror()'s words. The owner calls it once per library (under its
 * pthread_once) and keeps the result. A library loaded is never closed. */
enum pc_err pc_dl_load(const char *soname, const char *const *names, void **syms, size_t n,
		       char *why, size_t whysz);

#endif /* PC_BASE_H */
