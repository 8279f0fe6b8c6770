/* The mail modules: the link and templates (message.c), the MIME message as
 * it reaches an SMTP server; the outbox sender over a real store (outbox.c)
 * and the housekeeping purges (ctx.c). A tiny SMTP server in a thread (plain
 * SMTP, no TLS, no login) takes the messages. Webhooks: test_webhook.c. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "store/store.h"
#include "helpers.h"

/* ---- pure functions ------------------------------------------------------------------- */

Test(mail, the_link_carries_the_token_in_its_query)
{
	char out[256];

	cr_assert_eq(message_link("https://app.example/reset", "TOK", out, sizeof(out)), PC_OK);
	cr_assert_str_eq(out, "https://app.example/reset?token=TOK");
	message_link("https://app.example/r?lang=en", "TOK", out, sizeof(out));
	cr_assert_str_eq(out, "https://app.example/r?lang=en&token=TOK");
	message_link("https://app.example/r?", "TOK", out, sizeof(out));
	cr_assert_str_eq(out, "https://app.example/r?token=TOK");
	message_link("https://app.example/#/reset", "TOK", out, sizeof(out));
	cr_assert_str_eq(out, "https://app.example/?token=TOK#/reset");
	message_link("https://app.example/r?a=1&", "TOK", out, sizeof(out));
	cr_assert_str_eq(out, "https://app.example/r?a=1&token=TOK");
	cr_assert_eq(message_link("https://app.example/reset", "TOK", out, 20), PC_ETOOBIG);
	cr_assert_eq(message_link("not a url", "TOK", out, sizeof(out)), PC_EINVAL);
	cr_assert_eq(message_link("javascript:alert(1)", "TOK", out, sizeof(out)), PC_EINVAL);
}

static const char *const names[] = { "link", "email" };

static char *fill(const char *tpl, const char *link, const char *email, bool html, size_t max,
		  enum pc_err *err)
{
	const char *values[] = { link, email };
	static char out[4096];
	struct pc_buf b;

	buf_init(&b, max);
	*err = message_fill(tpl, names, values, 2, html, &b);
	snprintf(out, sizeof(out), "%s", b.data != NULL ? b.data : "");
	buf_release(&b);
	return out;
}

Test(mail, templates_substitute_and_escape_for_html)
{
	enum pc_err err;

	cr_assert_str_eq(fill("Go to {{link}} ({{email}}) {{nope}} {{", "http://x/?token=a&b=1",
			      "o'brien&co@camelot.bt", false, 1000, &err),
			 "Go to http://x/?token=a&b=1 (o'brien&co@camelot.bt) {{nope}} {{");
	cr_assert_eq(err, PC_OK);
	cr_assert_str_eq(fill("<a href=\"{{link}}\">{{email}}</a>", "http://x/?a=1&token=\"<>",
			      "o'brien&co@camelot.bt", true, 1000, &err),
			 "<a href=\"http://x/?a=1&amp;token=&quot;&lt;&gt;\">o&#39;brien&amp;co@camelot.bt</a>");
	fill("{{link}}{{link}}{{link}}", "0123456789", "", false, 25, &err);
	cr_assert_eq(err, PC_ETOOBIG);
}

/* Decodes quoted-printable (soft breaks, =XX, CRLF -> LF) for the round trip. */
/* 7-bit CRLF lines of at most max characters, no blank before a line end. */
static void assert_lines(const char *s, size_t n, size_t max)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		cr_assert(c == '\r' || c == '\n' || c == '\t' || (c >= 32 && c < 127),
			  "byte %zu is %u", i, c);
		if (c == '\n') {
			cr_assert(i > 0 && s[i - 1] == '\r', "bare LF at %zu", i);
			if (i >= 2)
				cr_assert(s[i - 2] != ' ' && s[i - 2] != '\t', "trailing blank at %zu", i);
			col = 0;
		} else if (c != '\r') {
			cr_assert_leq(++col, max, "line too long at %zu", i);
		}
	}
}

static struct pc_outbox_row *mail_row(const char *rcpt, const char *subject)
{
	struct pc_outbox_row *r = calloc(1, sizeof(*r));

	cr_assert_not_null(r);
	snprintf(r->kind, sizeof(r->kind), "mail");
	snprintf(r->recipient, sizeof(r->recipient), "%s", rcpt);
	snprintf(r->subject, sizeof(r->subject), "%s", subject);
	snprintf(r->body_text, sizeof(r->body_text), "Hello\nhttp://x/?token=abc\n.\n");
	snprintf(r->body_html, sizeof(r->body_html), "<p>Hello</p>");
	r->id = 7;
	r->created_at = 1700000000;
	return r;
}

/* ---- a tiny SMTP server ------------------------------------------------------------------- */

struct fake_smtp {
	int lfd;
	int port;
	bool silent;          /* accept, then never answer */
	pthread_t thread;
	char from[256];
	char rcpt[256];
	char data[1 << 16];
	size_t len;
	volatile int done;
	char buf[8192];
	size_t blen;
};

/* Reads one CRLF line into line[n]; false on EOF, error or 5 s of silence. */
static bool fs_line(struct fake_smtp *s, int fd, char *line, size_t n)
{
	for (;;) {
		char *crlf = memmem(s->buf, s->blen, "\r\n", 2);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;

		if (crlf != NULL) {
			size_t len = (size_t)(crlf - s->buf);

			snprintf(line, n, "%.*s", (int)len, s->buf);
			memmove(s->buf, crlf + 2, s->blen - len - 2);
			s->blen -= len + 2;
			return true;
		}
		if (s->blen == sizeof(s->buf) || poll(&p, 1, 5000) != 1)
			return false;
		got = read(fd, s->buf + s->blen, sizeof(s->buf) - s->blen);
		if (got <= 0)
			return false;
		s->blen += (size_t)got;
	}
}

static void fs_say(int fd, const char *text)
{
	ssize_t n = write(fd, text, strlen(text));

	(void)n;
}

static void *fake_smtp_main(void *arg)
{
	struct fake_smtp *s = arg;
	char line[2048];
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (s->silent) { /* until the client gives up (or 20 s) */
		struct pollfd p = { .fd = fd, .events = POLLIN };

		while (poll(&p, 1, 20000) == 1 && read(fd, line, sizeof(line)) > 0)
			;
		close(fd);
		return NULL;
	}
	fs_say(fd, "220 fake ESMTP\r\n");
	while (fs_line(s, fd, line, sizeof(line))) {
		if (strncasecmp(line, "EHLO", 4) == 0) {
			fs_say(fd, "250-fake\r\n250 8BITMIME\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			snprintf(s->from, sizeof(s->from), "%.255s", line + 10);
			fs_say(fd, "250 OK\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			snprintf(s->rcpt, sizeof(s->rcpt), "%.255s", line + 8);
			fs_say(fd, "250 OK\r\n");
		} else if (strcasecmp(line, "DATA") == 0) {
			fs_say(fd, "354 go on\r\n");
			while (fs_line(s, fd, line, sizeof(line)) && strcmp(line, ".") != 0) {
				const char *l = line[0] == '.' ? line + 1 : line; /* dot-stuffing */

				s->len += (size_t)snprintf(s->data + s->len, sizeof(s->data) - s->len,
							   "%s\r\n", l);
			}
			fs_say(fd, "250 queued\r\n");
			s->done = 1;
		} else if (strcasecmp(line, "QUIT") == 0) {
			fs_say(fd, "221 bye\r\n");
			break;
		} else {
			fs_say(fd, "250 OK\r\n");
		}
	}
	close(fd);
	return NULL;
}

static struct fake_smtp *fake_smtp_start(bool silent)
{
	struct fake_smtp *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	cr_assert_not_null(s);
	s->silent = silent;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s->lfd, 4), 0);
	cr_assert_eq(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&s->thread, NULL, fake_smtp_main, s), 0);
	return s;
}

/* Stops the server (joined already when thread is 0) and frees it. */
static void fake_smtp_free(struct fake_smtp *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	close(s->lfd);
	if (s->thread != 0)
		pthread_join(s->thread, NULL);
	free(s);
}

/* ---- the message, as an SMTP server receives it ---------------------------------------- */

static void attempt_init(struct outbox_attempt *a, struct pc_config *cfg, const char *url,
			 const struct pc_outbox_row *r)
{
	pc_config_defaults(cfg);
	pc_config_set(cfg, "mail_from", "Camelot <no-reply@camelot.bt>", NULL);
	pc_config_set(cfg, "smtp_url", url, NULL);
	pc_config_set(cfg, "smtp_timeout_seconds", "5", NULL);
	memset(a, 0, sizeof(*a));
	a->cfg = cfg;
	a->row = r;
	a->now = 1700000000;
}

/* Sends r to a fresh fake SMTP server; returns it, done. */
static struct fake_smtp *send_one(const struct pc_outbox_row *r)
{
	struct fake_smtp *s = fake_smtp_start(false);
	struct outbox_attempt a;
	struct pc_config cfg;
	char url[64];

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", s->port);
	attempt_init(&a, &cfg, url, r);
	cr_assert_eq(message_deliver(&a), PC_OK, "%s", a.error);
	pthread_join(s->thread, NULL);
	s->thread = 0;
	cr_assert(s->done);
	return s;
}

Test(mail, the_message_is_mime_multipart_alternative_with_qp_parts)
{
	struct pc_outbox_row *r = mail_row("arthur@camelot.bt", "Reset your password");
	struct fake_smtp *s, *again;
	const char *p, *id1, *id2;

	s = send_one(r);
	cr_assert_str_eq(s->from, "<no-reply@camelot.bt>");
	cr_assert_str_eq(s->rcpt, "<arthur@camelot.bt>");
	cr_assert_not_null(strstr(s->data, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"), "%s", s->data);
	cr_assert_not_null(strstr(s->data, "\r\nFrom: Camelot <no-reply@camelot.bt>\r\n"));
	cr_assert_not_null(strstr(s->data, "\r\nTo: arthur@camelot.bt\r\n"));
	cr_assert_not_null(strstr(s->data, "\r\nSubject: Reset your password\r\n"));
	cr_assert_not_null(strstr(s->data, "\r\nAuto-Submitted: auto-generated\r\n"));
	cr_assert_not_null(strcasestr(s->data, "MIME-Version: 1.0\r\n"));
	p = strstr(s->data, "\r\nMessage-ID: <pc.");
	cr_assert_not_null(p);
	cr_assert_not_null(strstr(p, "@camelot.bt>\r\n"));
	/* one Content-Type header at the top, curl's boundary in it */
	p = strstr(s->data, "Content-Type: multipart/alternative; boundary=");
	cr_assert_not_null(p, "%s", s->data);
	cr_assert_lt(p, strstr(s->data, "\r\n\r\n"), "in the header");
	cr_assert_null(strstr(p + 1, "Content-Type: multipart/alternative"));
	/* LF line ends became CRLF hard breaks; '=' is encoded */
	cr_assert_not_null(strstr(s->data, "Content-Type: text/plain; charset=utf-8\r\n"
					   "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
					   "Hello\r\nhttp://x/?token=3Dabc\r\n"), "%s", s->data);
	cr_assert_not_null(strstr(s->data, "Content-Type: text/html; charset=utf-8\r\n"
					   "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
					   "<p>Hello</p>"));
	cr_assert_lt(strstr(s->data, "text/plain"), strstr(s->data, "text/html"), "plain first");
	assert_lines(s->data, s->len, 998);
	/* the same row gives the same Message-ID: a duplicate is recognisable */
	again = send_one(r);
	id1 = strstr(s->data, "Message-ID");
	id2 = strstr(again->data, "Message-ID");
	cr_assert_eq(strcspn(id1, "\r"), strcspn(id2, "\r"));
	cr_assert_eq(strncmp(id1, id2, strcspn(id1, "\r")), 0);
	fake_smtp_free(again);
	fake_smtp_free(s);
	free(r);
}

Test(mail, a_header_with_cr_or_lf_is_never_built)
{
	static const char *const rcpts[] = { "a@camelot.bt\r\nBcc: evil@evil.bt",
					     "a@camelot.bt\nBcc: evil@evil.bt", "a@camelot.bt\r",
					     "a@camelot.bt\tBcc" };
	struct pc_outbox_row *r;
	struct outbox_attempt a;
	struct pc_config cfg;
	char url[64];

	/* nothing listens there: a connection would fail otherwise than PC_EINVAL */
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", test_closed_port());
	for (size_t i = 0; i < sizeof(rcpts) / sizeof(rcpts[0]); i++) {
		r = mail_row(rcpts[i], "Reset your password");
		attempt_init(&a, &cfg, url, r);
		cr_assert_eq(message_deliver(&a), PC_EINVAL, "%zu", i);
		cr_assert_not_null(strstr(a.error, "cannot build the message"), "%s", a.error);
		free(r);
	}
	r = mail_row("a@camelot.bt", "Reset\r\nBcc: evil@evil.bt");
	attempt_init(&a, &cfg, url, r);
	cr_assert_eq(message_deliver(&a), PC_EINVAL);
	free(r);
	r = mail_row("a@camelot.bt", "Reset your password");
	attempt_init(&a, &cfg, url, r);
	snprintf(cfg.mail_from, sizeof(cfg.mail_from), "x@camelot.bt\r\nBcc: evil@evil.bt");
	cr_assert_eq(message_deliver(&a), PC_EINVAL);
	free(r);
}

/* ---- with a context ---------------------------------------------------------------------- */

static char dir[64];
static struct pc_ctx *ctx;

static void make_dir(void)
{
	test_dir_make(dir, sizeof(dir), "pc_mail_");
}

static void remove_dir(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(mailctx, .init = make_dir, .fini = remove_dir);

static enum pc_err open_with(struct pc_errinfo *ei, const char *name, ...)
{
	struct pc_config cfg;
	va_list ap;

	test_config(&cfg, dir);
	va_start(ap, name);
	for (const char *n = name; n != NULL; n = va_arg(ap, const char *))
		cr_assert_eq(pc_config_set(&cfg, n, va_arg(ap, const char *), NULL), PC_OK, "%s", n);
	va_end(ap);
	return pc_ctx_open(&cfg, &ctx, ei);
}

static void reg(const char *email)
{
	struct pc_user_input in;
	struct pc_user u;

	pc_user_input_init(&in);
	in.email = email;
	in.password = "correct-horse-9";
	in.password_len = strlen(in.password);
	cr_assert_eq(pc_user_register(ctx, &in, &u, NULL), PC_OK);
}

static void write_file(const char *name, const char *text, char *path, size_t pathsz)
{
	FILE *f;

	snprintf(path, pathsz, "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

/* Polls outbox row id until cond holds or ms pass; the row is left in *r. */
static bool wait_row(int64_t id, struct pc_outbox_row *r, bool (*cond)(const struct pc_outbox_row *),
		     int ms)
{
	for (int waited = 0; waited <= ms; waited += 20) {
		if (STORE_CALL(ctx->store, outbox_get, id, r) == PC_OK && cond(r))
			return true;
		usleep(20000);
	}
	return false;
}

static bool is_sent(const struct pc_outbox_row *r)
{
	return r->sent_at != 0;
}

static bool has_failed(const struct pc_outbox_row *r)
{
	return r->attempts >= 1 && r->last_error[0] != '\0' && r->claimed_until == 0;
}

static bool is_given_up(const struct pc_outbox_row *r)
{
	return r->gave_up_at != 0;
}

Test(mailctx, render_fills_the_templates_and_override_files_win)
{
	struct pc_outbox_row *r = calloc(1, sizeof(*r));
	char text[256], html[256];
	const char *tok = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

	write_file("reset.txt", "Hi {{email}}, go to {{link}} within {{expires_in}}", text,
		   sizeof(text));
	write_file("reset.html", "<a href=\"{{link}}\">{{email}}</a>", html, sizeof(html));
	cr_assert_eq(open_with(NULL, "reset_template_text", text, "reset_template_html", html,
			       "reset_url", "https://app.example/reset?x=1",
			       "reset_token_lifetime_seconds", "1800", NULL), PC_OK);
	cr_assert_eq(message_render(ctx, PC_MAIL_RESET, "o'brien&co@camelot.bt", tok, r), PC_OK);
	cr_assert_str_eq(r->kind, "mail");
	cr_assert_str_eq(r->recipient, "o'brien&co@camelot.bt");
	cr_assert_str_eq(r->subject, "Reset your password");
	cr_assert_str_eq(r->body_text, "Hi o'brien&co@camelot.bt, go to "
				       "https://app.example/reset?x=1&token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "
				       "within 30 minutes");
	cr_assert_str_eq(r->body_html, "<a href=\"https://app.example/reset?x=1&amp;token="
				       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\">"
				       "o&#39;brien&amp;co@camelot.bt</a>");
	/* the verify mail keeps its built-in templates */
	cr_assert_eq(message_render(ctx, PC_MAIL_VERIFY, "a@camelot.bt", tok, r), PC_OK);
	cr_assert_str_eq(r->subject, "Verify your email address");
	cr_assert_not_null(strstr(r->body_text, "http://127.0.0.1:8000/verify?token=AAAA"));
	cr_assert_not_null(strstr(r->body_text, "expires in 1 day"));
	cr_assert_not_null(strstr(r->body_html, "<a href=\"http://127.0.0.1:8000/verify?token=AAAA"));
	cr_assert_eq(message_render(ctx, PC_MAIL_VERIFY, "a@camelot.bt\r\nBcc: x@y.bt", tok, r),
		     PC_EINVAL);
	free(r);
}

Test(mailctx, the_magic_mail_has_its_page_lifetime_and_override_files)
{
	struct pc_outbox_row *r = calloc(1, sizeof(*r));
	char text[256];
	const char *tok = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

	write_file("magic.txt", "Sign in: {{link}} ({{expires_in}})", text, sizeof(text));
	cr_assert_eq(open_with(NULL, "magic_template_text", text,
			       "magic_url", "https://app.example/magic", NULL), PC_OK);
	cr_assert_eq(message_render(ctx, PC_MAIL_MAGIC, "a@camelot.bt", tok, r), PC_OK);
	cr_assert_str_eq(r->subject, "Your sign-in link");
	cr_assert_str_eq(r->body_text, "Sign in: https://app.example/magic?token="
				       "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB (15 minutes)");
	/* the HTML keeps its built-in template */
	cr_assert_not_null(strstr(r->body_html, "<a href=\"https://app.example/magic?token=BBBB"));
	free(r);
}

Test(mailctx, a_missing_template_file_stops_the_start)
{
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(open_with(&ei, "verify_template_html", "/nonexistent/verify.html", NULL),
		     PC_EINVAL);
	cr_assert_str_eq(ei.field, "verify_template_html");
	cr_assert_not_null(strstr(ei.detail, "/nonexistent/verify.html"));
}

Test(mailctx, without_smtp_url_mail_goes_to_the_log_and_is_marked_sent)
{
	struct pc_outbox_row *r = calloc(1, sizeof(*r));

	cr_assert_eq(open_with(NULL, NULL), PC_OK);
	reg("arthur@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "arthur@camelot.bt", NULL), PC_OK);
	cr_assert(wait_row(1, r, is_sent, 5000), "sent within 5 s");
	cr_assert_eq(r->attempts, 1);
	cr_assert_str_eq(r->body_text, "", "a sent mail keeps no link");
	free(r);
}

static int64_t count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

Test(mailctx, housekeeping_purges_at_start_and_stops_at_once)
{
	struct timespec t0, t1;
	char path[128];
	sqlite3 *db;
	int waited;

	cr_assert_eq(open_with(NULL, NULL), PC_OK);
	reg("arthur@camelot.bt");
	pc_ctx_free(ctx);
	ctx = NULL;
	/* long expired: one for each job of the table */
	snprintf(path, sizeof(path), "%s/t.db", dir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db,
		"INSERT INTO revoked_jti (jti, expires_at) VALUES ('j-old', 1);"
		"INSERT INTO one_time_tokens (token_hash, purpose, user_id, email, created_at, "
		"expires_at) SELECT 'h-old', 'reset', id, email_lc, 1, 2 FROM users;"
		"INSERT INTO one_time_tokens (token_hash, purpose, user_id, email, created_at, "
		"expires_at) SELECT 'h-new', 'reset', id, email_lc, 1, 4000000000 FROM users;",
		NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(open_with(NULL, NULL), PC_OK);
	for (waited = 0; waited < 5000; waited += 20) {
		if (count_rows(db, "SELECT count(*) FROM revoked_jti") == 0 &&
		    count_rows(db, "SELECT count(*) FROM one_time_tokens") == 1)
			break;
		usleep(20000);
	}
	cr_assert_lt(waited, 5000, "both purges ran at start-up");
	cr_assert_eq(count_rows(db, "SELECT count(*) FROM one_time_tokens WHERE token_hash = 'h-new'"), 1);
	sqlite3_close(db);
	/* the next round is 300 s away: stopping must not wait for it */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pc_ctx_free(ctx);
	ctx = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 500);
}

Test(mailctx, a_refused_delivery_is_retried_later_and_keeps_its_error)
{
	struct pc_outbox_row *r = calloc(1, sizeof(*r));
	char url[64];

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", test_closed_port());
	cr_assert_eq(open_with(NULL, "smtp_url", url, "mail_retry_base_seconds", "60", NULL), PC_OK);
	reg("arthur@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "arthur@camelot.bt", NULL), PC_OK);
	cr_assert(wait_row(1, r, has_failed, 5000), "attempted within 5 s");
	cr_assert_eq(r->sent_at, 0);
	cr_assert_eq(r->gave_up_at, 0);
	cr_assert_not_null(strstr(r->last_error, "smtp: "), "%s", r->last_error);
	cr_assert_geq(r->next_attempt_at, r->created_at + 59, "retry after the base delay");
	cr_assert_not_null(strstr(r->body_text, "token="), "kept for the retry");
	free(r);
}

/* The row that is attempt n of row 1, done: counted, failed and released. */
static int64_t want_attempts;

static bool attempt_done(const struct pc_outbox_row *r)
{
	return r->attempts == want_attempts && r->claimed_until == 0 && r->last_error[0] != '\0';
}

/* Makes row id due now, from another connection (as a second instance
 * would see it), and wakes the sender. */
static void make_due(int64_t id, int64_t attempts)
{
	char path[128], sql[160];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/t.db", dir);
	snprintf(sql, sizeof(sql),
		 "UPDATE mail_outbox SET next_attempt_at = 0 WHERE id = %lld AND attempts = %lld",
		 (long long)id, (long long)attempts);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_busy_timeout(db, 10000), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_changes(db), 1, "row %lld at attempt %lld", (long long)id,
		     (long long)attempts);
	sqlite3_close(db);
	outbox_kick(ctx);
}

Test(mailctx, the_retry_delay_doubles_from_the_base_up_to_the_cap, .timeout = 60)
{
	/* base 10 s, cap 30 s: after attempts 1, 2, 3, 4 the next one is due
	 * 10, 20, 30 (not 40), 30 s after the failure. Each failure happened at
	 * some second in [before, after], read around it. */
	static const int64_t delay[] = { 10, 20, 30, 30 };
	struct pc_outbox_row *r = calloc(1, sizeof(*r));
	char url[64];
	int64_t before, after;

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", test_closed_port());
	cr_assert_eq(open_with(NULL, "smtp_url", url, "mail_retry_base_seconds", "10",
			       "mail_retry_max_seconds", "30", NULL), PC_OK);
	reg("arthur@camelot.bt");
	before = time_now();
	cr_assert_eq(pc_password_forgot(ctx, "arthur@camelot.bt", NULL), PC_OK);
	for (int64_t n = 1; n <= 4; n++) {
		if (n > 1) {
			before = time_now();
			make_due(1, n - 1);
		}
		want_attempts = n;
		cr_assert(wait_row(1, r, attempt_done, 10000), "attempt %lld within 10 s", (long long)n);
		after = time_now();
		cr_assert_eq(r->sent_at, 0);
		cr_assert_eq(r->gave_up_at, 0);
		cr_expect(r->next_attempt_at >= before + delay[n - 1] &&
			  r->next_attempt_at <= after + delay[n - 1],
			  "after attempt %lld the next is due in %lld s, not %lld..%lld s",
			  (long long)n, (long long)delay[n - 1],
			  (long long)(r->next_attempt_at - after), (long long)(r->next_attempt_at - before));
	}
	free(r);
}

Test(mailctx, with_max_attempts_a_delivery_is_given_up)
{
	struct pc_outbox_row *r = calloc(1, sizeof(*r));
	char url[64];

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", test_closed_port());
	cr_assert_eq(open_with(NULL, "smtp_url", url, "mail_max_attempts", "1", NULL), PC_OK);
	reg("arthur@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "arthur@camelot.bt", NULL), PC_OK);
	cr_assert(wait_row(1, r, is_given_up, 5000));
	cr_assert_eq(r->attempts, 1);
	cr_assert_str_eq(r->body_text, "");
	free(r);
}

Test(mailctx, a_mail_is_delivered_by_smtp_with_its_envelope)
{
	struct pc_outbox_row *r = calloc(1, sizeof(*r));
	struct fake_smtp *s = fake_smtp_start(false);
	char url[64];

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", s->port);
	cr_assert_eq(open_with(NULL, "smtp_url", url, "mail_from", "Camelot <no-reply@camelot.bt>",
			       NULL), PC_OK);
	reg("arthur@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "arthur@camelot.bt", NULL), PC_OK);
	cr_assert(wait_row(1, r, is_sent, 5000), "sent within 5 s: %s", r->last_error);
	cr_assert(s->done);
	cr_assert_str_eq(s->from, "<no-reply@camelot.bt>");
	cr_assert_str_eq(s->rcpt, "<arthur@camelot.bt>");
	cr_assert_not_null(strstr(s->data, "To: arthur@camelot.bt\r\n"));
	cr_assert_not_null(strstr(s->data, "Subject: Reset your password\r\n"));
	cr_assert_not_null(strstr(s->data, "http://127.0.0.1:8000/reset-password?token=3D"));
	free(r);
	fake_smtp_free(s);
}

Test(mailctx, stopping_interrupts_a_hanging_delivery_and_leaves_it_due, .timeout = 30)
{
	struct pc_outbox_row *r = calloc(1, sizeof(*r));
	struct fake_smtp *s = fake_smtp_start(true);
	struct timespec t0, t1;
	struct pc_store *st;
	char url[128];

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", s->port);
	cr_assert_eq(open_with(NULL, "smtp_url", url, "smtp_timeout_seconds", "60", NULL), PC_OK);
	reg("arthur@camelot.bt");
	cr_assert_eq(pc_password_forgot(ctx, "arthur@camelot.bt", NULL), PC_OK);
	usleep(500000); /* the sender is now waiting for a greeting that never comes */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pc_ctx_free(ctx);
	ctx = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 5, "stopped without waiting for the timeout");
	fake_smtp_free(s);

	/* read the row with the store alone: no sender to race with */
	test_db_url(dir, url, sizeof(url));
	cr_assert_eq(store_open(url, &st, NULL), PC_OK);
	cr_assert_eq(STORE_CALL(st, outbox_get, 1, r), PC_OK);
	store_close(st);
	cr_assert_eq(r->sent_at, 0);
	cr_assert_eq(r->attempts, 1);
	cr_assert_eq(r->claimed_until, 0, "the lease was released");
	cr_assert_leq(r->next_attempt_at, time_now(), "due again at once");
	cr_assert_not_null(strstr(r->last_error, "interrupted"), "%s", r->last_error);
	free(r);
}

