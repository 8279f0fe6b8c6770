/*
 * store.h - the one storage interface, and its row structs.
 *
 * The core reaches storage only through the store_*() functions below. They
 * are written once (ops.c) over a small SQL driver (driver.h: prepare, bind,
 * step, column, begin/commit/rollback), one per back end; each back end
 * brings its dialect's text of one statement enum. Every query is
 * parameterized; every string column that comes back is copied into a bounded
 * field (truncation is an error, PC_ESTORE).
 *
 * Threads: a store may be called from any thread at once. The SQLite back end
 * keeps one connection per thread, opened on first use, and one prepared
 * statement per (connection, statement).
 *
 * Errors: PC_ENOTFOUND when the row is absent; PC_EEXISTS on a unique
 * violation, with ei->field set to "email" or "username" when ei is given;
 * PC_EUNAVAILABLE when the database cannot be reached or stops answering
 * within the store's timeout (PostgreSQL: faces answer 503); PC_ESTORE for
 * anything the database reports otherwise (logged by the back end without
 * parameter values).
 */
#ifndef PC_STORE_H
#define PC_STORE_H

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "portcullis.h"
#include "base/base.h"

/* ---- rows ---------------------------------------------------------------- */

struct pc_session_row {
	char token_hash[PC_SHA256_HEX];
	char user_id[PC_ID_LEN + 1];
	int64_t created_at;
	int64_t expires_at;
	int64_t last_seen_at;
	char ip[64];
	char user_agent[256];
};

/* One-time tokens (002_mail). A token is good while used_at is 0 and
 * expires_at > now. purpose is "reset", "verify", "magic" or "confirm".
 * claim_hash: the hex SHA-256 of the second half MyAuth's two-half flows
 * hand to the client (magic link, recovery); "" (NULL stored) for a token
 * that is used alone. */
struct pc_onetime_row {
	char token_hash[PC_SHA256_HEX];
	char purpose[16];
	char user_id[PC_ID_LEN + 1];
	char email[PC_EMAIL_MAX + 1]; /* lower-cased address it was sent to */
	char claim_hash[PC_SHA256_HEX]; /* "" when the token has no claim */
	int64_t created_at;
	int64_t expires_at;
	int64_t used_at;              /* 0: unused */
};

/* A row of mail_outbox: a mail (kind "mail") or a webhook event ("webhook").
 * About 100 KiB: allocate it, never put it on a stack. */
#define PC_OUTBOX_RCPT_MAX 2047    /* an address or a URL */
#define PC_OUTBOX_SUBJECT_MAX 255
#define PC_OUTBOX_BODY_MAX 32767   /* each of body_text, body_html */
#define PC_OUTBOX_PAYLOAD_MAX 4095
#define PC_OUTBOX_ERROR_MAX 255

struct pc_outbox_row {
	int64_t id;                                 /* set by the store */
	char kind[16];                              /* "mail" or "webhook" */
	char recipient[PC_OUTBOX_RCPT_MAX + 1];
	char subject[PC_OUTBOX_SUBJECT_MAX + 1];
	char body_text[PC_OUTBOX_BODY_MAX + 1];
	char body_html[PC_OUTBOX_BODY_MAX + 1];
	char payload[PC_OUTBOX_PAYLOAD_MAX + 1];
	int64_t attempts;                           /* made so far, counting a claimed one */
	int64_t next_attempt_at;
	int64_t claimed_until;                      /* the lease; 0: none */
	int64_t sent_at;                            /* 0: not sent */
	int64_t gave_up_at;                         /* 0: still trying */
	char last_error[PC_OUTBOX_ERROR_MAX + 1];
	int64_t created_at;
};

/* A refresh token (003_refresh): good while used_at and revoked_at are 0
 * and expires_at > now. Its family is the chain of rotations from one login. */
struct pc_refresh_row {
	char token_hash[PC_SHA256_HEX];
	char family_id[PC_ID_LEN + 1];
	char user_id[PC_ID_LEN + 1];
	int64_t created_at;
	int64_t expires_at;
	int64_t used_at;    /* 0: not spent */
	int64_t revoked_at; /* 0: its family is live */
};

/* A user's TOTP state (004_totp). The secrets are sealed text (totp.c),
 * "" when absent. */
#define PC_TOTP_ENC_MAX 127
struct pc_totp_row {
	char user_id[PC_ID_LEN + 1];
	char secret_enc[PC_TOTP_ENC_MAX + 1];  /* the enabled secret; "" when off */
	char pending_enc[PC_TOTP_ENC_MAX + 1]; /* handed out by new-totp, not confirmed */
	int64_t last_step;                     /* last accepted time step */
	int64_t failures;                      /* wrong codes in a row */
	int64_t locked_until;                  /* 0: not locked */
	bool enabled;                          /* users.totp_enabled */
};

/* An OAuth provider account linked to a user (009_oauth), as read back:
 * never its tokens. */
#define PC_OAUTH_NAME_MAX 31
#define PC_OAUTH_ACCOUNT_MAX 255
struct pc_oauth_link {
	char id[PC_ID_LEN + 1];
	char user_id[PC_ID_LEN + 1];
	char oauth_name[PC_OAUTH_NAME_MAX + 1];
	char account_id[PC_OAUTH_ACCOUNT_MAX + 1];
	char account_email[PC_EMAIL_MAX + 1];
};

/* The provider's tokens as written: sealed text (core/oauth.c), NULL when
 * the provider gave none; expires_at 0 when unknown. */
struct pc_oauth_tokens {
	const char *access_enc;
	const char *refresh_enc;
	int64_t expires_at;
};

/* The lockout rule of wrong codes, in the store's one UPDATE. */
struct pc_totp_lockout {
	int threshold;   /* failures in a row before the first lock */
	int base;        /* seconds of the first lock; doubles per further failure */
	int cap;         /* longest lock */
};

/* What using a one-time token does besides marking it used (onetime_consume).
 * All of it happens in the transaction that marks the token used, or none. */
struct pc_onetime_apply {
	const char *password_hash; /* reset: new hash; updated_at = now, password_changed_at =
	                            * now or, if that would not move it, one more than it was.
	                            * Only for an active user whose email is still the
	                            * token's. Moving password_changed_at
	                            * voids the user's other reset tokens, ends its
	                            * sessions and refresh families (see user_update). */
	bool set_verified;         /* verify: is_verified = 1, only while the user's email
	                            * is still the token's and the user is not verified yet */
	bool login;                /* magic link: is_verified = 1 (they proved the address),
	                            * only for an active user whose email is still the
	                            * token's */
	const struct pc_outbox_row *const *msgs; /* events to enqueue with it */
	size_t nmsgs;
};

/* ---- the rule of password_changed_at ------------------------------------------------ */

/*
 * The one place of the rule: a password change moves password_changed_at
 * strictly later than it was: to now, or to one more than it was when now
 * would not move it (two changes within one second). A move voids the user's
 * outstanding reset tokens (the store's trigger), and a token issued before
 * the change can be told from one issued after.
 */
static inline int64_t store_password_changed_at(int64_t was, int64_t now)
{
	return now > was ? now : was + 1;
}

/* ---- the store ------------------------------------------------------------------------- */

struct store_driver; /* driver.h: the back end's method table */

/* The buckets of the per-user credential stamps: users whose ids hash to
 * the same bucket share one (a bump of either voids the other's entries:
 * a miss, never a stale hit). A power of two; 128 KiB, touched as used. */
#define STORE_CRED_BUCKETS 16384
struct store_pages_memo; /* ops.c */

/*
 * Every back end's store starts with this.
 * gen: the write generation, moved by the back end after each committed
 * write (never before: a reader that reads gen before its query can then
 * tell whether what it read may have changed since). Starts at 1.
 * gen_tracked: whether the back end moves it; when false nothing may be
 * cached over the store (authcache.c).
 * gen_grace: while gen_tracked is false, whether what was cached before it
 * went false may still be used for the rest of its time to live (PostgreSQL,
 * while its channel of other instances' writes is down: those entries are
 * then as stale as a cache entry may be anyway, auth_cache_ms).
 * gen_fd: a socket on which other processes' writes are announced
 * (PostgreSQL's LISTEN connection), -1 when none: while it holds unread
 * data, an announcement is on its way to the thread that moves gen, and
 * the generation is moved here at once, so that a reader does not race that
 * thread (store_generation_sync).
 * gen_polled_us: when (time_mono_us) a reader last looked at gen_fd.
 */
struct pc_store {
	const struct store_driver *drv;
	_Atomic uint64_t gen;
	_Atomic bool gen_tracked;
	_Atomic bool gen_grace;
	_Atomic int gen_fd;
	_Atomic int64_t gen_polled_us;
	_Atomic int64_t write_refused_ms; /* when storage last refused a write (unix ms); 0: never */
	struct store_pages_memo *pages_memo; /* ops.c: the user list's buckets, remembered */
	/* Per-user credential stamps (below: store_cred_*). */
	_Atomic uint64_t cred_seq;  /* the last stamp handed out; starts at 1 */
	_Atomic uint64_t cred_all;  /* a bump of every user: no entry stamped before it counts */
	_Atomic bool cred_exact;    /* the stamps follow every write, also other processes'
	                             * (SQLite's change log, migration 015) */
	/* PostgreSQL: when (monotonic coarse ms, as store_cred_exact_at's now) the
	 * channel of other instances' writes was last shown live: every write
	 * committed before then has been announced here; 0: not now */
	_Atomic int64_t cred_live_ms;
	_Atomic int64_t cred_read_ms; /* when the change log was last read (monotonic ms) */
	_Atomic bool cred_reading;  /* a thread is reading it (store_cred_poll) */
	_Atomic int64_t cred_last;  /* the log's last seq applied; -1: never read */
	_Atomic uint64_t cred_bucket[STORE_CRED_BUCKETS]; /* by store_cred_bucket(user id) */
};

/* Moves the generation when an announcement of another process's write is
 * waiting on gen_fd (a poll of 0 ms; nothing when there is no such socket),
 * and bumps the users it names (store_gen_fd_announces). A socket that is
 * closing (the database went down) is no announcement: the listener thread
 * sees it too and puts the store in its grace, where what is cached stays
 * good for the rest of its time to live. */
static inline bool store_gen_fd_announces(struct pc_store *s, int fd);

/* How long a look at gen_fd stands for every reader of the store: another
 * process's write counts here at most this long after its announcement
 * reached the socket, rather than at the very next lookup. PostgreSQL
 * itself takes from well under a millisecond (idle) to a few (a busy
 * machine) to deliver it. A poll(2) at every lookup cost the PostgreSQL
 * deployment rows of the benchmark 10-20 % (0.49-0.56 x the ceiling
 * against 0.54-0.64 x with none). */
#define STORE_GEN_POLL_US 100

static inline void store_generation_sync(struct pc_store *s)
{
	struct pollfd p = { .fd = atomic_load_explicit(&s->gen_fd, memory_order_relaxed),
			    .events = POLLIN | POLLRDHUP, .revents = 0 };
	int64_t now;

	if (p.fd < 0)
		return;
	now = time_mono_us();
	if (now - atomic_load_explicit(&s->gen_polled_us, memory_order_relaxed) < STORE_GEN_POLL_US)
		return;
	atomic_store_explicit(&s->gen_polled_us, now, memory_order_relaxed);
	if (poll(&p, 1, 0) > 0 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) == 0 &&
	    store_gen_fd_announces(s, p.fd))
		atomic_fetch_add(&s->gen, 1);
}

/*
 * Per-user credential stamps: what lets a remembered credential (authcache.c)
 * outlive a write of another user.
 *
 * A check reads stamp = store_cred_stamp() BEFORE its store read; its answer
 * counts while store_cred_fresh(stamp, bucket of its user) holds. A bump of
 * user U (after a committed write that may change what a check of U reads,
 * before the writer returns) takes v = ++cred_seq and raises U's bucket to
 * v; a bump of all raises cred_all to v. A stamp read before the bump is
 * below v, so an answer read before the write stops counting; a stamp read
 * after it belongs to a read that sees the write.
 *
 * Who bumps: SQLite after each commit that logged rows in
 * credential_changes (its triggers, migration 015): each logged user, or all
 * for a row of unknown user; other processes' rows when the log is read
 * (store_cred_poll). PostgreSQL from the notifications of channel
 * portcullis_gen (its triggers, migration 016: one a statement for each
 * user it changed, or '' for every user): its own, read on the connection
 * that wrote before the writer returns; every instance's, by its listener
 * thread and by readers that peek at that thread's socket
 * (store_gen_fd_announces); each through store_cred_bump_payload. A
 * migration, a listening connection that came back (something may have
 * been missed), a pooled connection that could not LISTEN, and any doubt
 * (a notification cut short or that cannot be read) bump all.
 */
static inline size_t store_cred_bucket(const char *user_id, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)user_id[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 32;
	return (size_t)(h & (STORE_CRED_BUCKETS - 1));
}

static inline void store_cred_raise(_Atomic uint64_t *at, uint64_t v)
{
	uint64_t was = atomic_load(at);

	while (was < v && !atomic_compare_exchange_weak(at, &was, v))
		;
}

/* The stamp to keep with an answer: read before the store read. */
static inline uint64_t store_cred_stamp(struct pc_store *s)
{
	return atomic_load(&s->cred_seq);
}

static inline void store_cred_bump_user(struct pc_store *s, const char *user_id, size_t len)
{
	uint64_t v = atomic_fetch_add(&s->cred_seq, 1) + 1;

	store_cred_raise(&s->cred_bucket[store_cred_bucket(user_id, len)], v);
}

static inline void store_cred_bump_all(struct pc_store *s)
{
	uint64_t v = atomic_fetch_add(&s->cred_seq, 1) + 1;

	store_cred_raise(&s->cred_all, v);
}

/* Whether an answer stamped stamp, of a user of bucket, still counts. */
static inline bool store_cred_fresh(struct pc_store *s, uint64_t stamp, size_t bucket)
{
	return atomic_load(&s->cred_all) <= stamp &&
	       atomic_load(&s->cred_bucket[bucket & (STORE_CRED_BUCKETS - 1)]) <= stamp;
}

/* Whether the stamps follow other processes' writes too (then a remembered
 * answer may live long; otherwise at most auth_cache_ms). */
static inline bool store_cred_exact(struct pc_store *s)
{
	return atomic_load_explicit(&s->cred_exact, memory_order_relaxed);
}

/* As store_cred_exact, at now_ms (CLOCK_MONOTONIC_COARSE, ms), with other
 * processes' writes seen up to window_ms ago at most: SQLite's log is read
 * often enough by store_cred_poll; PostgreSQL's channel must have been
 * shown live (cred_live_ms) within window_ms while it is listened to. */
static inline bool store_cred_exact_at(struct pc_store *s, int64_t now_ms, int64_t window_ms)
{
	int64_t live = atomic_load_explicit(&s->cred_live_ms, memory_order_relaxed);

	if (store_cred_exact(s))
		return true;
	return live > 0 && now_ms - live <= window_ms &&
	       atomic_load_explicit(&s->gen_tracked, memory_order_relaxed);
}

/* The one reading of a notification's payload (PostgreSQL's channel
 * portcullis_gen, migration 016): "" is every user; 1..PC_ID_LEN bytes of
 * what an id holds (hex digits and '-', crypto_uuid_valid) are that user;
 * anything else is every user too (a miss at worst, never a stale hit). */
static inline void store_cred_bump_payload(struct pc_store *s, const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > PC_ID_LEN)
		goto out_all;
	for (i = 0; i < len; i++) {
		char c = p[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		      c == '-'))
			goto out_all;
	}
	store_cred_bump_user(s, p, len);
	return;
out_all:
	store_cred_bump_all(s);
}

/*
 * Whether what waits on a readable announcement socket holds an
 * announcement, bumping the users it names (the listener thread of a driver
 * reads from it: a reader that finds it empty has nothing to announce, the
 * listener made the bumps before it read; the end of the stream is a
 * closing, not an announcement). PostgreSQL's messages, peeked (never read)
 * in order: a notification ('A': int32 length, int32 sender's pid, the
 * channel and the payload as C strings) is one, and its payload's user is
 * bumped (store_cred_bump_payload); an error ('E', what a server going down
 * sends before it closes) ends the walk with no more; the answer to the
 * listener's liveness probe (its LISTEN again: 'C' CommandComplete, then 'Z'
 * ReadyForQuery) is none and is skipped. Anything else, a message cut short
 * by the peek, more than was peeked, or bytes that cannot be told apart
 * (encrypted) count as an announcement of every user: a cache miss at worst.
 * No allocation: it runs on every cache lookup while the socket has data.
 */
#define STORE_GEN_PEEK 512
static inline bool store_gen_fd_announces(struct pc_store *s, int fd)
{
	unsigned char b[STORE_GEN_PEEK];
	ssize_t n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	size_t at = 0, len, chan, pay;
	const unsigned char *end;
	bool announced = false;

	/* nothing left: the listener read it, having made the bumps first if
	 * it was an announcement; the end of the stream: closing */
	if (n == 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
		return false;
	if (n < 0)
		goto out_all;
	while (at < (size_t)n) {
		if (b[at] == 'E')
			return announced;
		if ((b[at] != 'A' && b[at] != 'C' && b[at] != 'Z') || (size_t)n - at < 5)
			goto out_all;
		len = (size_t)b[at + 1] << 24 | (size_t)b[at + 2] << 16 | (size_t)b[at + 3] << 8 |
		      (size_t)b[at + 4];
		if (b[at] == 'A') {
			/* pid, channel, payload: each string ends inside the message */
			if (len < 4 + 4 + 2 || len > (size_t)n - at - 1)
				goto out_all;
			chan = at + 1 + 8;
			end = memchr(b + chan, 0, at + 1 + len - chan);
			if (end == NULL)
				goto out_all;
			pay = (size_t)(end - b) + 1;
			end = memchr(b + pay, 0, at + 1 + len - pay);
			if (end == NULL || (size_t)(end - b) + 1 != at + 1 + len)
				goto out_all;
			store_cred_bump_payload(s, (const char *)b + pay, (size_t)(end - b) - pay);
			announced = true;
		} else if (len != 5 && (b[at] != 'C' || len < 4 || len > 32)) {
			goto out_all; /* 'Z' is 5, "LISTEN"'s 'C' 11: not the probe's answer */
		}
		at += 1 + len;
	}
	/* the last message cut short, or more behind what was peeked */
	if (at == (size_t)n && (size_t)n < sizeof(b))
		return announced;
out_all:
	store_cred_bump_all(s);
	return true;
}

/* Reads the change log of other processes' writes and bumps their users,
 * when more than every_ms passed since it was last read and no other
 * thread is reading it (that one's reading will do): store.c. Nothing on a
 * back end without a log. */
void store_cred_poll(struct pc_store *s, int64_t every_ms);


/* A driver's note that the storage refused a write (disk full, I/O error,
 * read-only, locked past the busy timeout): /readyz is not ready for a while
 * after (store_writes_refused). */
static inline void store_note_write_refused(struct pc_store *s, int64_t now_ms)
{
	atomic_store(&s->write_refused_ms, now_ms);
}

/* Whether the storage refused a write within window_ms before now_ms. */
static inline bool store_writes_refused(struct pc_store *s, int64_t now_ms, int64_t window_ms)
{
	int64_t at = atomic_load(&s->write_refused_ms);

	return at != 0 && now_ms - at < window_ms;
}

/* The write generation; false when the store does not track its writes:
 * then nothing new may be cached. */
static inline bool store_generation(struct pc_store *s, uint64_t *gen)
{
	store_generation_sync(s);
	*gen = atomic_load(&s->gen);
	return atomic_load_explicit(&s->gen_tracked, memory_order_relaxed);
}

/* As store_generation, for using an entry cached earlier: true also in the
 * grace of gen_grace. */
static inline bool store_generation_use(struct pc_store *s, uint64_t *gen)
{
	store_generation_sync(s);
	*gen = atomic_load(&s->gen);
	return atomic_load_explicit(&s->gen_tracked, memory_order_relaxed) ||
	       atomic_load_explicit(&s->gen_grace, memory_order_relaxed);
}

/* What a back end with a connection pool takes from the settings; 0 (or
 * conf NULL): its default. SQLite ignores both. */
struct store_conf {
	int pool_size;  /* database_pool_size: connections at most */
	int timeout_ms; /* database_timeout_ms: longest wait for a connection or an answer */
};

/* Picks the back end by URL scheme (store.c). PC_EINVAL with ei for an
 * unknown scheme; otherwise what the driver's open returns. store_open is
 * store_open_conf with the defaults. */
enum pc_err store_open(const char *url, struct pc_store **out, struct pc_errinfo *ei);
enum pc_err store_open_conf(const char *url, const struct store_conf *conf, struct pc_store **out,
			    struct pc_errinfo *ei);
/* Closes every connection of the store and frees it. NULL is a no-op. */
void store_close(struct pc_store *s);
/* Applies pending numbered migrations in one transaction each; *applied counts them. */
enum pc_err store_migrate(struct pc_store *s, int *applied);
enum pc_err store_ping(struct pc_store *s);
/* How durable a commit is on this thread's connection: 2 (on disk before
 * the commit returns: SQLite's synchronous=FULL, or NORMAL with the driver's
 * group commit), 1 (NORMAL alone: a power loss may undo the last commits),
 * 0 (OFF). PC_ESTORE. */
enum pc_err store_durability(struct pc_store *s, int64_t *level);
/* One small committed write (a row of the keys table that only it uses):
 * PC_ESTORE when the database refuses writes (disk full, read-only, locked). */
enum pc_err store_write_probe(struct pc_store *s, int64_t now);

/* ---- transactions ---------------------------------------------------------------------- */

/*
 * A transaction of the calling thread's connection: the operations called
 * between begin and commit, on this thread, are written together or (rollback,
 * or any error before commit) not at all. begin takes the write lock up front
 * on SQLite (writers wait their turn on the busy timeout, never fail with
 * "database is locked"). Keep it short: no hashing or network inside.
 *
 * No nesting. begin inside an open transaction, and commit or rollback with
 * none open, are refused with PC_EINVAL and change nothing. The operations
 * that run their own transaction (onetime_issue, onetime_consume,
 * outbox_claim, purge_expired, mail_purge, migrate) are refused the same way
 * inside one; the others join it. After an error inside a transaction, roll
 * back. A failed commit leaves the transaction open: roll back.
 */
enum pc_err store_begin(struct pc_store *s);
enum pc_err store_commit(struct pc_store *s);
enum pc_err store_rollback(struct pc_store *s);

/* ---- the operations (ops.c), written once over the driver ------------------------------ */

/* users; email_lc and username_lc are derived by the store from u.
 * insert: PC_EEXISTS (ei->field "email", "username" or "id"), PC_EINVAL. */
enum pc_err store_user_insert(struct pc_store *s, const struct pc_user *u, struct pc_errinfo *ei);
enum pc_err store_user_by_id(struct pc_store *s, const char *id, struct pc_user *out);
/* The key is lower-cased again here, so any case finds the user. */
enum pc_err store_user_by_email(struct pc_store *s, const char *email_lc, struct pc_user *out);
enum pc_err store_user_by_username(struct pc_store *s, const char *username_lc,
				   struct pc_user *out);
/* The user with that id, unless jti is on the denylist or the user's
 * password changed at or after issued_ms (the token's issue time, unix ms;
 * credentials_epoch_ms, migration 011): one query (one read transaction)
 * for what every JWT-authenticated request needs. PC_ENOTFOUND when there is
 * no such user, the jti is revoked or the token predates the password. */
enum pc_err store_user_by_id_unrevoked(struct pc_store *s, const char *id, const char *jti,
				       int64_t issued_ms, struct pc_user *out);
/* As user_by_id_unrevoked, and only while the refresh family (named by an
 * access token's family claim) belongs to the user and is not revoked: still
 * one query. PC_ENOTFOUND otherwise. */
enum pc_err store_user_by_id_unrevoked_in_family(struct pc_store *s, const char *id,
						 const char *jti, const char *family,
						 int64_t issued_ms, struct pc_user *out);
/* Writes every column but id and created_at, as given (a new password's
 * password_changed_at comes from store_password_changed_at()). PC_ENOTFOUND,
 * PC_EEXISTS. When password_changed_at moves, in the same statement: the
 * user's unused reset and magic tokens are voided, its sessions deleted,
 * its refresh families and their tokens revoked, and credentials_epoch_ms
 * set to now (access tokens issued before are refused; migration 011). */
enum pc_err store_user_update(struct pc_store *s, const struct pc_user *u, struct pc_errinfo *ei);
/* Deletes the user and, by cascade, its sessions and tokens. PC_ENOTFOUND. */
enum pc_err store_user_delete(struct pc_store *s, const char *id);
/* Frees what store_user_list remembers of the store (store_close). */
/* Ordered by created_at, id; the offset is found through the count index
 * user_pages (migration 007), not walked (its buckets remembered for up to
 * a second while the write generation holds, ops.c). cb returning nonzero
 * stops the walk. cb may call the store, but not user_list: its statements
 * are in use. */
enum pc_err store_user_list(struct pc_store *s, int64_t offset, int limit, pc_user_cb *cb,
			    void *arg);
enum pc_err store_user_count(struct pc_store *s, int64_t *out);
/* The user_account face's fields (phone, contacts), apart from the user row
 * struct. get: PC_ENOTFOUND. set: writes both (has_phone false and contacts
 * "" store NULL); PC_ENOTFOUND when no user has that id. */
enum pc_err store_user_profile_get(struct pc_store *s, const char *id, struct pc_user_profile *out);
enum pc_err store_user_profile_set(struct pc_store *s, const char *id,
				   const struct pc_user_profile *p, int64_t now);

/* sessions. insert: PC_EEXISTS for a hash already stored, PC_ENOTFOUND when
 * the user is gone. */
enum pc_err store_session_insert(struct pc_store *s, const struct pc_session_row *row);
/* The user of an unexpired session (expires_at > now), and (when
 * expires_at is not NULL) the session's expiry. PC_ENOTFOUND otherwise. */
enum pc_err store_session_user(struct pc_store *s, const char *token_hash, int64_t now,
			       struct pc_user *out, int64_t *expires_at);
enum pc_err store_session_delete(struct pc_store *s, const char *token_hash); /* PC_ENOTFOUND */
enum pc_err store_session_delete_user(struct pc_store *s, const char *user_id);

/* Rate limits (migration 012). rl_hit counts one hit of key in a window of
 * window seconds (a window begun window seconds before now or earlier starts
 * again): *hits and *window_start after it, in one statement. rl_get reads
 * an account lock row (*hits failures in a row, *locked_until; both 0 when
 * there is none); rl_fail counts one more failure (*hits after it); rl_lock
 * moves locked_until to until when that is later; rl_clear deletes key;
 * rl_purge deletes rows idle since before and not locked at now. PC_ESTORE. */
enum pc_err store_rl_hit(struct pc_store *s, const char *key, int64_t now, int64_t window,
			 int64_t *hits, int64_t *window_start);
enum pc_err store_rl_get(struct pc_store *s, const char *key, int64_t *hits, int64_t *locked_until);
/* A window counter's *hits and *window_start, without counting (0, 0: none). */
enum pc_err store_rl_window(struct pc_store *s, const char *key, int64_t *hits,
			    int64_t *window_start);
enum pc_err store_rl_fail(struct pc_store *s, const char *key, int64_t now, int64_t *hits,
			  int64_t *locked_until);
enum pc_err store_rl_lock(struct pc_store *s, const char *key, int64_t until);
enum pc_err store_rl_clear(struct pc_store *s, const char *key);
enum pc_err store_rl_purge(struct pc_store *s, int64_t before, int64_t now);

/* The audit log (migration 013; struct pc_audit_row, portcullis.h). insert:
 * one row, and with hook (a webhook outbox row; NULL: none) both or neither,
 * in the caller's transaction when one is open. list: rows with id > after
 * ("" from the start), of user_id when not NULL, oldest first, at most
 * limit. purge: rows with at < before. PC_ESTORE. */
typedef int store_audit_cb(const struct pc_audit_row *r, void *arg); /* nonzero stops */
enum pc_err store_audit_insert(struct pc_store *s, const struct pc_audit_row *r,
			       const struct pc_outbox_row *hook);
enum pc_err store_audit_list(struct pc_store *s, const char *user_id, const char *after,
			     int limit, store_audit_cb *cb, void *arg);
enum pc_err store_audit_purge(struct pc_store *s, int64_t before);

/* A user's sign-ins (struct pc_signin, portcullis.h), oldest first. */
typedef int store_signin_cb(const struct pc_signin *r, void *arg); /* nonzero stops */
enum pc_err store_signins_of_user(struct pc_store *s, const char *user_id, int64_t now,
				  store_signin_cb *cb, void *arg);
/* Ends the user's sign-in id: deletes the session, or revokes the family and
 * its tokens. PC_ENOTFOUND when the user has no live sign-in of that id. */
enum pc_err store_signin_end(struct pc_store *s, const char *user_id, const char *id, int64_t now);
/* Ends them all: deletes the sessions, revokes the families, in one transaction. */
enum pc_err store_signins_end_all(struct pc_store *s, const char *user_id, int64_t now);

/* JWT denylist. Revoking a jti twice is PC_OK; the first expiry stays.
 * user_id: the token's subject (NULL: unknown; then every remembered
 * credential is voided, not only that user's). */
enum pc_err store_jti_revoke(struct pc_store *s, const char *jti, const char *user_id,
			     int64_t exp);
enum pc_err store_jti_is_revoked(struct pc_store *s, const char *jti, bool *out);

/* Deletes expired sessions and denylist entries, and the change log's rows
 * (015) older than STORE_CRED_LOG_KEEP_S, in one transaction; *removed counts
 * the sessions and denylist entries. */
#define STORE_CRED_LOG_KEEP_S 3600
enum pc_err store_purge_expired(struct pc_store *s, int64_t now, int64_t *removed);

/* Generated secrets of the embedded default. get: PC_ENOTFOUND when absent,
 * PC_ESTORE when the value does not fit out[outsz]. put_if_absent keeps an
 * existing value (first writer wins). */
enum pc_err store_key_get(struct pc_store *s, const char *name, char *out, size_t outsz);
enum pc_err store_key_put_if_absent(struct pc_store *s, const char *name, const char *value);

/* A row of signing_keys (010): an asymmetric key that signs or signed
 * access JWTs (core/keys.c). retired_at 0: it signs. */
#define PC_SIGNING_PEM_MAX 8191 /* PKCS#8 PEM of an RSA key up to 4096 bits */
struct pc_signing_key_row {
	char kid[64];
	char alg[16];
	char private_pem[PC_SIGNING_PEM_MAX + 1];
	int64_t created_at;
	int64_t retired_at;
};

/* cb sees each row (borrowed for the call; wiped after), newest first;
 * non-zero stops the walk. */
typedef int pc_signing_key_cb(const struct pc_signing_key_row *k, void *arg);
enum pc_err store_signing_key_list(struct pc_store *s, pc_signing_key_cb *cb, void *arg);
/* In one transaction: inserts k, and retires every other unretired key at
 * k->created_at. PC_EEXISTS for a kid already stored; PC_EINVAL. */
enum pc_err store_signing_key_add(struct pc_store *s, const struct pc_signing_key_row *k);
/* Deletes the keys retired at or before before; *removed (may be NULL). */
enum pc_err store_signing_key_purge(struct pc_store *s, int64_t before, int64_t *removed);

/* In one transaction: when tok is given and void_older, marks the user's
 * unused tokens of tok->purpose used (used_at = tok->created_at); inserts
 * tok; inserts each of msgs (their id, attempts, claimed_until, sent_at,
 * gave_up_at and last_error are ignored). tok may be NULL (messages only).
 * PC_ENOTFOUND when tok's user does not exist; PC_EEXISTS for a token hash
 * already stored; nothing is written on any error. */
enum pc_err store_onetime_issue(struct pc_store *s, const struct pc_onetime_row *tok,
				bool void_older, const struct pc_outbox_row *const *msgs,
				size_t nmsgs);
/* The write of a mail request that sends nothing, shaped as
 * store_onetime_issue's: in one transaction, when void_older, the same void
 * (of nobody's tokens of purpose), then one row per length in lens[n] (the
 * token row's, each message's), of random text that long, each into a random
 * slot of a ring of STORE_DECOY_SLOTS (mail_decoys): so that its commit costs
 * what the other's does, and the table stays bounded. PC_ETOOBIG past
 * STORE_DECOY_MAX; nothing is written on any error. */
#define STORE_DECOY_SLOTS 64
#define STORE_DECOY_MAX (512 * 1024)
enum pc_err store_mail_decoy(struct pc_store *s, const char *purpose, bool void_older,
			     const size_t *lens, size_t n, int64_t now);
/* The token row, used or not. PC_ENOTFOUND. */
enum pc_err store_onetime_get(struct pc_store *s, const char *token_hash,
			      struct pc_onetime_row *out);
/* In one transaction: marks the token used when it has this purpose, is
 * unused and expires after now; then does what apply says. PC_ENOTFOUND
 * (nothing written) when the token is not good, or when apply's condition
 * on the user fails (inactive for a reset or a login; email moved for
 * either, or already verified for a verify). */
enum pc_err store_onetime_consume(struct pc_store *s, const char *token_hash,
				  const char *purpose, int64_t now,
				  const struct pc_onetime_apply *apply);

/* Whether an outbox row is due: unsent, not given up, next_attempt_at <= now
 * and no lease running. A read; no lock taken. */
enum pc_err store_outbox_due(struct pc_store *s, int64_t now, bool *out);
/* Rows not yet sent nor given up: how many, how many of them have failed at
 * least once (hold a last_error; a first attempt in flight does not count),
 * and the created_at of the oldest (0 when none). For /metrics. */
struct pc_outbox_stats {
	int64_t pending;
	int64_t failed;
	int64_t oldest_created_at;
};
enum pc_err store_outbox_stats(struct pc_store *s, struct pc_outbox_stats *out);
/* Claims the oldest due row: sets claimed_until = lease_until and counts
 * the attempt, in one write transaction, and reads it into out.
 * PC_ENOTFOUND when none is due. */
enum pc_err store_outbox_claim(struct pc_store *s, int64_t now, int64_t lease_until,
			       struct pc_outbox_row *out);
/* Marks a claimed row sent at now, clears its bodies and payload and lease. */
enum pc_err store_outbox_sent(struct pc_store *s, int64_t id, int64_t now);
/* Records a failed attempt: last_error, the lease released, and either
 * next_attempt_at (retry) or, with give_up, gave_up_at = now and the
 * bodies cleared. error may be NULL. */
enum pc_err store_outbox_failed(struct pc_store *s, int64_t id, int64_t now,
				int64_t next_attempt_at, const char *error, bool give_up);
/* Reads one row by id (tests, tools). PC_ENOTFOUND. */
enum pc_err store_outbox_get(struct pc_store *s, int64_t id, struct pc_outbox_row *out);
/* Deletes tokens that expired at or before now, and outbox rows sent or
 * given up at or before done_before, in one transaction. *removed counts rows. */
enum pc_err store_mail_purge(struct pc_store *s, int64_t now, int64_t done_before,
			     int64_t *removed);

/* Refresh families (refresh.c holds the states and runs these inside one
 * store_begin/commit: they join the caller's transaction).
 * family_insert: a new live family of user_id. PC_ENOTFOUND when the user is gone. */
enum pc_err store_refresh_family_insert(struct pc_store *s, const char *family_id,
					const char *user_id, int64_t now, const char *ip,
					const char *user_agent);
/* Inserts a token row (used_at and revoked_at NULL). PC_EEXISTS, PC_ENOTFOUND. */
enum pc_err store_refresh_insert(struct pc_store *s, const struct pc_refresh_row *row);
/* Spends the token by one compare-and-swap: used_at = now where it is unused,
 * unrevoked and expires after now. PC_OK when this call spent it (exactly one
 * row changed), PC_ENOTFOUND when it was not good (nothing written). */
enum pc_err store_refresh_use(struct pc_store *s, const char *token_hash, int64_t now);
/* The token row, whatever its state. PC_ENOTFOUND. */
enum pc_err store_refresh_get(struct pc_store *s, const char *token_hash,
			      struct pc_refresh_row *out);
/* Revokes the family and every token of it (revoked_at = now where NULL);
 * PC_OK also when it was revoked already (then nothing changes). */
enum pc_err store_refresh_family_revoke(struct pc_store *s, const char *family_id, int64_t now);

/* Deletes refresh tokens that expired at or before now, then the families
 * left without a token, in one transaction; *removed counts both. A purged
 * family's access tokens are refused, as a revoked one's. */
enum pc_err store_refresh_purge(struct pc_store *s, int64_t now, int64_t *removed);

/* TOTP (totp.c holds the states). get: PC_ENOTFOUND when the user never
 * started enrolment. */
enum pc_err store_totp_get(struct pc_store *s, const char *user_id, struct pc_totp_row *out);
/* Keeps pending_enc as the user's pending secret (inserting the row). */
enum pc_err store_totp_set_pending(struct pc_store *s, const char *user_id,
				   const char *pending_enc, int64_t now);
/* In one transaction: the pending secret (still equal to pending_enc)
 * becomes the enabled one with last_step = step, users.totp_enabled = 1,
 * the recovery codes replaced by code_hashes[0..n). PC_ENOTFOUND (nothing
 * written) when the pending secret changed meanwhile. */
enum pc_err store_totp_enable(struct pc_store *s, const char *user_id, const char *pending_enc,
			      int64_t step, int64_t now, const char (*code_hashes)[PC_SHA256_HEX],
			      size_t n);
/* In one transaction: the row and the recovery codes deleted,
 * users.totp_enabled = 0. PC_OK also when there was nothing. */
enum pc_err store_totp_disable(struct pc_store *s, const char *user_id, int64_t now);
/* The replay guard: last_step = step by one compare-and-swap, only when
 * step > last_step, TOTP is on and no lock runs at now (failures reset).
 * PC_OK when this call took the step; PC_ENOTFOUND otherwise (nothing written). */
enum pc_err store_totp_step_use(struct pc_store *s, const char *user_id, int64_t step,
				int64_t now);
/* Spends the recovery code with that hash (used_at = now) by one
 * compare-and-swap, and resets the failures. PC_ENOTFOUND when it is not
 * an unused code of the user. */
enum pc_err store_totp_recovery_use(struct pc_store *s, const char *user_id,
				    const char *code_hash, int64_t now);
/* Counts one wrong code; *locked_until gets the lock now in force (0: none). */
enum pc_err store_totp_fail(struct pc_store *s, const char *user_id, int64_t now,
			    const struct pc_totp_lockout *rule, int64_t *locked_until);
/* Users with a stored secret sealed under a key whose text prefix
 * ("v1:<key id>:") is not prefix. */
enum pc_err store_totp_count_other_key(struct pc_store *s, const char *prefix, int64_t *out);

/* OAuth accounts (core/oauth.c; these join the caller's transaction).
 * get: the link of (oauth_name, account_id); PC_ENOTFOUND. */
enum pc_err store_oauth_account_get(struct pc_store *s, const char *oauth_name,
				    const char *account_id, struct pc_oauth_link *out);
/* The user's links, at most max, ordered by oauth_name, account_id. */
enum pc_err store_oauth_account_list(struct pc_store *s, const char *user_id,
				     struct pc_oauth_link *out, size_t max, size_t *n);
/* insert: PC_EEXISTS when (oauth_name, account_id) is linked already,
 * PC_ENOTFOUND when the user is gone. update: the link's email and fresh
 * tokens; PC_ENOTFOUND. */
enum pc_err store_oauth_account_insert(struct pc_store *s, const struct pc_oauth_link *l,
				       const struct pc_oauth_tokens *t, int64_t now);
enum pc_err store_oauth_account_update(struct pc_store *s, const char *id,
				       const char *account_email,
				       const struct pc_oauth_tokens *t, int64_t now);
/* The replay record of OAuth states: records state_hash as spent until
 * expires_at. PC_EEXISTS when it was spent already (nothing written). */
enum pc_err store_oauth_state_use(struct pc_store *s, const char *state_hash, int64_t expires_at);
/* Deletes the records of states expired by now; *removed counts them. */
enum pc_err store_oauth_state_purge(struct pc_store *s, int64_t now, int64_t *removed);

/* The callers' spelling: STORE_CALL(s, user_by_id, id, &u) is store_user_by_id(s, id, &u). */
#define STORE_CALL(s, op, ...) store_##op((s), __VA_ARGS__)

#endif /* PC_STORE_H */
