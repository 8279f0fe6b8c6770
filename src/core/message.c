/*
 * message.c - the mail message: rendered from templates into an outbox row;
 * made into a MIME message by libcurl and sent by SMTP when the sender
 * delivers the row (or written to the log when there is no smtp_url).
 *
 * Owns: struct message_templates (ctx->templates), the override files' text.
 *
 * Rendering (message_render; onetime.c calls it inside the transaction that
 * stores the token): the link is the kind's page (reset_url, verify_url,
 * magic_url)
 * with token=<token> added to its query by libcurl's URL API; the bodies are
 * the kind's templates with {{link}} {{email}} {{token}} {{expires_in}}
 * filled in (HTML-escaped in the HTML ones).
 *
 * Delivering (message_deliver, called by the outbox sender): a MIME
 * multipart/alternative message, text/plain then text/html, both UTF-8 and
 * quoted-printable, built by curl_mime; the headers Date, From (mail_from),
 * To, Subject, Message-ID and Auto-Submitted are ours, as lines on the
 * transfer (CURLOPT_HTTPHEADER, which curl's SMTP writes as the message's
 * header). The Message-ID is the same on every attempt of a row, so a
 * duplicate after a crash is recognisably the same message. The bodies'
 * line ends become CRLF here: curl's encoder writes a bare LF as "=0A".
 *
 * Invariants: a recipient, subject or From holding CR, LF or any byte
 * outside printable ASCII never reaches a message (refused when rendering and
 * again when building; curl writes header lines as given); tokens reach the
 * log only in the development default's mail; the SMTP password is never
 * logged.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/libcurl.h"
#include "store/store.h"

#define MESSAGE_LINK_MAX 2048
#define MESSAGE_LINE_MAX (PC_OUTBOX_RCPT_MAX + 64) /* one header line */

/* ---- templates ------------------------------------------------------------------ */

/* ---- templates --------------------------------------------------------------- */

enum message_tpl {
	TPL_RESET_TEXT, TPL_RESET_HTML, TPL_VERIFY_TEXT, TPL_VERIFY_HTML, TPL_MAGIC_TEXT,
	TPL_MAGIC_HTML, TPL__MAX
};

#define TPL_FILE(name) #name, offsetof(struct pc_config, name)

static const struct message_tpl_def {
	const char *setting;  /* its name, for messages */
	size_t path_offset;   /* char[] in struct pc_config: an override file, "" for none */
	bool html;            /* values are HTML-escaped */
	const char *builtin;
} message_tpls[TPL__MAX] = {
	[TPL_RESET_TEXT] = { TPL_FILE(reset_template_text), false,
		"Hello,\n"
		"\n"
		"Someone asked to reset the password of the account {{email}}.\n"
		"To choose a new password, open this link:\n"
		"\n"
		"{{link}}\n"
		"\n"
		"The link works once and expires in {{expires_in}}. If you did not ask for\n"
		"this, ignore this message: your password stays as it is.\n" },
	[TPL_RESET_HTML] = { TPL_FILE(reset_template_html), true,
		"<!DOCTYPE html>\n"
		"<html><head><meta charset=\"utf-8\"><title>Reset your password</title></head>\n"
		"<body>\n"
		"<p>Hello,</p>\n"
		"<p>Someone asked to reset the password of the account {{email}}.</p>\n"
		"<p><a href=\"{{link}}\">Choose a new password</a></p>\n"
		"<p>The link works once and expires in {{expires_in}}. If you did not ask for "
		"this, ignore this message: your password stays as it is.</p>\n"
		"<p>If the button does not work, copy this address into your browser:<br>{{link}}</p>\n"
		"</body></html>\n" },
	[TPL_VERIFY_TEXT] = { TPL_FILE(verify_template_text), false,
		"Hello,\n"
		"\n"
		"Please confirm that {{email}} is your address by opening this link:\n"
		"\n"
		"{{link}}\n"
		"\n"
		"The link works once and expires in {{expires_in}}. If you did not create an\n"
		"account, ignore this message.\n" },
	[TPL_VERIFY_HTML] = { TPL_FILE(verify_template_html), true,
		"<!DOCTYPE html>\n"
		"<html><head><meta charset=\"utf-8\"><title>Verify your email address</title></head>\n"
		"<body>\n"
		"<p>Hello,</p>\n"
		"<p>Please confirm that {{email}} is your address.</p>\n"
		"<p><a href=\"{{link}}\">Verify my address</a></p>\n"
		"<p>The link works once and expires in {{expires_in}}. If you did not create an "
		"account, ignore this message.</p>\n"
		"<p>If the button does not work, copy this address into your browser:<br>{{link}}</p>\n"
		"</body></html>\n" },
	[TPL_MAGIC_TEXT] = { TPL_FILE(magic_template_text), false,
		"Hello,\n"
		"\n"
		"Someone asked to sign in to the account {{email}} without a password.\n"
		"To sign in, open this link on the device where you asked for it:\n"
		"\n"
		"{{link}}\n"
		"\n"
		"The link works once and expires in {{expires_in}}. If you did not ask for\n"
		"this, ignore this message: nobody can sign in without it.\n" },
	[TPL_MAGIC_HTML] = { TPL_FILE(magic_template_html), true,
		"<!DOCTYPE html>\n"
		"<html><head><meta charset=\"utf-8\"><title>Your sign-in link</title></head>\n"
		"<body>\n"
		"<p>Hello,</p>\n"
		"<p>Someone asked to sign in to the account {{email}} without a password.</p>\n"
		"<p><a href=\"{{link}}\">Sign in</a> (on the device where you asked for it)</p>\n"
		"<p>The link works once and expires in {{expires_in}}. If you did not ask for "
		"this, ignore this message: nobody can sign in without it.</p>\n"
		"<p>If the button does not work, copy this address into your browser:<br>{{link}}</p>\n"
		"</body></html>\n" },
};

/* The mails there are: subject, link target, templates, token lifetime. */
static const struct message_kind_def {
	const char *subject;
	size_t url_offset;      /* char[] in struct pc_config: the page the link opens */
	enum message_tpl text;
	enum message_tpl html;
	size_t lifetime_offset; /* int seconds in struct pc_config */
} message_kinds[PC_MAIL__MAX] = {
	[PC_MAIL_RESET] = { "Reset your password", offsetof(struct pc_config, reset_url),
			    TPL_RESET_TEXT, TPL_RESET_HTML,
			    offsetof(struct pc_config, reset_token_lifetime_seconds) },
	[PC_MAIL_VERIFY] = { "Verify your email address", offsetof(struct pc_config, verify_url),
			     TPL_VERIFY_TEXT, TPL_VERIFY_HTML,
			     offsetof(struct pc_config, verify_token_lifetime_seconds) },
	[PC_MAIL_MAGIC] = { "Your sign-in link", offsetof(struct pc_config, magic_url),
			    TPL_MAGIC_TEXT, TPL_MAGIC_HTML,
			    offsetof(struct pc_config, magic_token_lifetime_seconds) },
};

#define CFG_STR(cfg, off) ((const char *)(cfg) + (off))
#define CFG_INT(cfg, off) (*(const int *)(const void *)((const char *)(cfg) + (off)))

/* The override files' text (ctx->templates); NULL: the built-in one. */
struct message_templates {
	char *text[TPL__MAX];
	struct message_templates *prev; /* the set a reload replaced */
	int64_t replaced_us;            /* when (time_mono_us) */
};

/* A replaced set is freed this long after (a render reads its text within
 * one call that waits on nothing), else with ctx (message_templates_free). */
#define TEMPLATES_GRACE_US (600 * INT64_C(1000000))


static bool has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* Printable ASCII only: subjects are our own constants, never encoded words. */
static bool header_text_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

/* Copies s into a bounded field. PC_ETOOBIG when it does not fit. */
static enum pc_err field_set(char *field, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size)
		return PC_ETOOBIG;
	memcpy(field, s, n + 1);
	return PC_OK;
}

enum pc_err message_link(const char *url, const char *token, char *out, size_t outsz)
{
	char query[128];
	char *link = NULL;
	CURLU *u;
	enum pc_err err = PC_EINVAL;
	int n;

	n = snprintf(query, sizeof(query), "token=%s", token);
	if (n < 0 || (size_t)n >= sizeof(query))
		return PC_ETOOBIG;
	if (httpc_global_init() != PC_OK) {
		crypto_wipe(query, sizeof(query));
		return PC_EINTERNAL;
	}
	u = libcurl.url();
	if (u == NULL)
		return PC_ENOMEM;
	/* Into the query, before any #fragment; "?" or "&" as the URL needs. */
	if (libcurl.url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    libcurl.url_set(u, CURLUPART_QUERY, query, CURLU_APPENDQUERY | CURLU_URLENCODE) ==
		    CURLUE_OK &&
	    libcurl.url_get(u, CURLUPART_URL, &link, 0) == CURLUE_OK) {
		size_t len = strlen(link);

		err = len < outsz ? PC_OK : PC_ETOOBIG;
		if (err == PC_OK)
			memcpy(out, link, len + 1);
		crypto_wipe(link, len);
		libcurl.free(link);
	}
	libcurl.url_cleanup(u);
	crypto_wipe(query, sizeof(query));
	return err;
}

static enum pc_err html_escape_add(struct pc_buf *out, const char *s)
{
	enum pc_err err = PC_OK;

	for (; *s != '\0' && err == PC_OK; s++) {
		switch (*s) {
		case '&': err = buf_addstr(out, "&amp;"); break;
		case '<': err = buf_addstr(out, "&lt;"); break;
		case '>': err = buf_addstr(out, "&gt;"); break;
		case '"': err = buf_addstr(out, "&quot;"); break;
		case '\'': err = buf_addstr(out, "&#39;"); break;
		default: err = buf_add(out, s, 1); break;
		}
	}
	return err;
}

enum pc_err message_fill(const char *tpl, const char *const *names, const char *const *values,
			 size_t n, bool html, struct pc_buf *out)
{
	enum pc_err err = PC_OK;
	const char *p = tpl;

	while (err == PC_OK && *p != '\0') {
		const char *open = strstr(p, "{{");
		const char *close;
		size_t i, len;

		if (open == NULL)
			return buf_addstr(out, p);
		err = buf_add(out, p, (size_t)(open - p));
		if (err != PC_OK)
			break;
		close = strstr(open + 2, "}}");
		if (close == NULL)
			return buf_addstr(out, open);
		len = (size_t)(close - open - 2);
		for (i = 0; i < n; i++) {
			if (strlen(names[i]) == len && strncmp(open + 2, names[i], len) == 0)
				break;
		}
		if (i == n)
			err = buf_add(out, open, len + 4); /* unknown: left as it is */
		else if (html)
			err = html_escape_add(out, values[i]);
		else
			err = buf_addstr(out, values[i]);
		p = close + 2;
	}
	return err;
}

/* "1 hour", "30 minutes", "90 seconds": the largest unit that divides. */
static void expires_text(int seconds, char *out, size_t outsz)
{
	static const struct {
		int unit;
		const char *name;
	} units[] = { { 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" } };
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (seconds % units[i].unit == 0) {
			int v = seconds / units[i].unit;

			snprintf(out, outsz, "%d %s%s", v, units[i].name, v == 1 ? "" : "s");
			return;
		}
	}
}

static const char *template_text(struct pc_ctx *ctx, enum message_tpl t)
{
	const struct message_templates *m = atomic_load_explicit(&ctx->templates,
								 memory_order_acquire);

	if (m != NULL && m->text[t] != NULL)
		return m->text[t];
	return message_tpls[t].builtin;
}

/* Fills a template into field[size] through buf (reset after). */
static enum pc_err render_into(const char *tpl, const char *const *names, const char *const *values,
			       size_t n, bool html, struct pc_buf *buf, char *field, size_t size)
{
	enum pc_err err;

	buf_reset(buf);
	err = message_fill(tpl, names, values, n, html, buf);
	if (err != PC_OK)
		return err;
	if (buf->len >= size)
		return PC_ETOOBIG;
	if (buf->len > 0)
		memcpy(field, buf->data, buf->len);
	field[buf->len] = '\0';
	return PC_OK;
}

enum pc_err message_render(struct pc_ctx *ctx, enum pc_mail_kind kind, const char *email,
			   const char *token, struct pc_outbox_row *out)
{
	const struct message_kind_def *k;
	char link[MESSAGE_LINK_MAX], expires[48];
	const char *names[] = { "link", "email", "token", "expires_in" };
	const char *values[] = { link, email, token, expires };
	struct pc_buf buf;
	int64_t now = time_now();
	enum pc_err err;

	if ((unsigned)kind >= PC_MAIL__MAX || email == NULL || token == NULL)
		return PC_EINVAL;
	k = &message_kinds[kind];
	if (has_crlf(email) || has_crlf(k->subject))
		return PC_EINVAL; /* header injection: never build such a message */
	err = message_link(CFG_STR(config_live(&ctx->cfg), k->url_offset), token, link,
			   sizeof(link));
	if (err != PC_OK)
		return err;
	expires_text(CFG_INT(&ctx->cfg, k->lifetime_offset), expires, sizeof(expires));
	memset(out, 0, sizeof(*out));
	memcpy(out->kind, "mail", sizeof("mail"));
	err = field_set(out->recipient, sizeof(out->recipient), email);
	if (err == PC_OK)
		err = field_set(out->subject, sizeof(out->subject), k->subject);
	if (err != PC_OK)
		return err;
	buf_init(&buf, PC_OUTBOX_BODY_MAX);
	err = render_into(template_text(ctx, k->text), names, values, 4, false, &buf,
			  out->body_text, sizeof(out->body_text));
	if (err == PC_OK)
		err = render_into(template_text(ctx, k->html), names, values, 4, true, &buf,
				  out->body_html, sizeof(out->body_html));
	if (buf.data != NULL)
		crypto_wipe(buf.data, buf.cap);
	buf_release(&buf);
	crypto_wipe(link, sizeof(link));
	out->next_attempt_at = now;
	out->created_at = now;
	return err;
}

/* ---- the message ------------------------------------------------------------------ */

/* The bare address of a From value: "Name <a@b>" -> "a@b"; "a@b" -> "a@b". */
static enum pc_err from_address(const char *from, char *out, size_t outsz)
{
	const char *lt = strrchr(from, '<');
	const char *gt = lt != NULL ? strchr(lt, '>') : NULL;
	size_t n;

	if (lt != NULL && gt == NULL)
		return PC_EINVAL;
	if (lt != NULL) {
		from = lt + 1;
		n = (size_t)(gt - from);
	} else {
		n = strlen(from);
	}
	if (n == 0 || n >= outsz || memchr(from, '@', n) == NULL)
		return PC_EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)from[i];

		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == ',')
			return PC_EINVAL;
	}
	memcpy(out, from, n);
	out[n] = '\0';
	return PC_OK;
}

static void rfc5322_date(int64_t now, char *out, size_t outsz)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)now;
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
		 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

/* Appends one formatted header line to *list. */
__attribute__((format(printf, 2, 3)))
static enum pc_err header_add(struct curl_slist **list, const char *fmt, ...)
{
	char line[MESSAGE_LINE_MAX];
	struct curl_slist *l;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return PC_ETOOBIG;
	l = libcurl.slist_append(*list, line);
	if (l == NULL)
		return PC_ENOMEM;
	*list = l;
	return PC_OK;
}

/* The message's header lines, and the envelope's From address. PC_EINVAL
 * when a value holds CR, LF or anything but printable ASCII. */
static enum pc_err message_headers(const struct pc_config *cfg, const struct pc_outbox_row *row,
				   int64_t now, char from_addr[PC_EMAIL_MAX + 1],
				   struct curl_slist **out)
{
	char date[48], seed[PC_OUTBOX_RCPT_MAX + 64], digest[PC_SHA256_HEX];
	struct curl_slist *h = NULL;
	enum pc_err err;

	*out = NULL;
	/* The recipient was validated at registration; this is the last gate. */
	if (has_crlf(row->recipient) || has_crlf(row->subject) || has_crlf(cfg->mail_from))
		return PC_EINVAL;
	if (!header_text_ok(row->subject) || !header_text_ok(row->recipient) ||
	    !header_text_ok(cfg->mail_from))
		return PC_EINVAL;
	if (from_address(cfg->mail_from, from_addr, PC_EMAIL_MAX + 1) != PC_OK)
		return PC_EINVAL;
	rfc5322_date(now, date, sizeof(date));
	snprintf(seed, sizeof(seed), "%lld|%lld|%s|%s", (long long)row->id,
		 (long long)row->created_at, row->kind, row->recipient);
	crypto_sha256_hex(seed, strlen(seed), digest);
	err = header_add(&h, "Date: %s", date);
	if (err == PC_OK)
		err = header_add(&h, "From: %s", cfg->mail_from);
	if (err == PC_OK)
		err = header_add(&h, "To: %s", row->recipient);
	if (err == PC_OK)
		err = header_add(&h, "Subject: %s", row->subject);
	if (err == PC_OK)
		err = header_add(&h, "Message-ID: <pc.%.32s@%s>", digest + 32,
				 strchr(from_addr, '@') + 1);
	if (err == PC_OK)
		err = header_add(&h, "Auto-Submitted: auto-generated");
	/* The root part's type: curl adds its boundary and Mime-Version. */
	if (err == PC_OK)
		err = header_add(&h, "Content-Type: multipart/alternative");
	if (err != PC_OK) {
		libcurl.slist_free_all(h);
		return err;
	}
	*out = h;
	return PC_OK;
}

/* s with every line end CRLF, into out. */
static enum pc_err crlf_lines(const char *s, struct pc_buf *out)
{
	enum pc_err err = PC_OK;
	const char *lf;

	buf_reset(out);
	while (err == PC_OK && (lf = strchr(s, '\n')) != NULL) {
		size_t n = (size_t)(lf - s);

		if (n > 0 && s[n - 1] == '\r')
			n--;
		err = buf_add(out, s, n);
		if (err == PC_OK)
			err = buf_add(out, "\r\n", 2);
		s = lf + 1;
	}
	if (err == PC_OK)
		err = buf_addstr(out, s);
	return err;
}

/* The two parts, each quoted-printable, onto the handle c. */
static enum pc_err message_mime(CURL *c, const struct pc_outbox_row *row, curl_mime **out)
{
	const struct {
		const char *body;
		const char *type;
	} parts[] = {
		{ row->body_text, "text/plain; charset=utf-8" },
		{ row->body_html, "text/html; charset=utf-8" },
	};
	curl_mime *mime = libcurl.mime_init(c);
	struct pc_buf lines;
	enum pc_err err = mime != NULL ? PC_OK : PC_ENOMEM;

	buf_init(&lines, 2 * PC_OUTBOX_BODY_MAX + 2);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && err == PC_OK; i++) {
		curl_mimepart *p = libcurl.mime_addpart(mime);

		err = p != NULL ? crlf_lines(parts[i].body, &lines) : PC_ENOMEM;
		if (err != PC_OK)
			break;
		/* curl_mime_data copies the bytes */
		if (libcurl.mime_data(p, lines.data != NULL ? lines.data : "", lines.len) != CURLE_OK ||
		    libcurl.mime_type(p, parts[i].type) != CURLE_OK ||
		    libcurl.mime_encoder(p, "quoted-printable") != CURLE_OK)
			err = PC_ENOMEM;
	}
	if (lines.data != NULL)
		crypto_wipe(lines.data, lines.cap);
	buf_release(&lines);
	if (err != PC_OK) {
		libcurl.mime_free(mime);
		return err;
	}
	*out = mime;
	return PC_OK;
}

static enum pc_err message_send_smtp(struct outbox_attempt *a)
{
	const struct pc_config *cfg = a->cfg;
	const struct pc_outbox_row *row = a->row;
	char errbuf[CURL_ERROR_SIZE] = "", why[sizeof(a->error)];
	char from_addr[PC_EMAIL_MAX + 1], env_from[PC_EMAIL_MAX + 3], env_rcpt[PC_OUTBOX_RCPT_MAX + 3];
	struct curl_slist *headers = NULL, *rcpt = NULL;
	curl_mime *mime = NULL;
	CURLcode rc;
	CURL *c;
	enum pc_err e;

	if (httpc_global_init() != PC_OK) {
		snprintf(a->error, sizeof(a->error), "smtp: libcurl unavailable (see the log)");
		return PC_EINTERNAL; /* retried: the operator may install it */
	}
	e = message_headers(cfg, row, a->now, from_addr, &headers);
	if (e != PC_OK) {
		snprintf(a->error, sizeof(a->error), "cannot build the message: %s", pc_strerror(e));
		return PC_EINVAL; /* it never will be: no retry */
	}
	snprintf(env_from, sizeof(env_from), "<%s>", from_addr);
	snprintf(env_rcpt, sizeof(env_rcpt), "<%s>", row->recipient);
	c = libcurl.easy_init();
	rcpt = libcurl.slist_append(NULL, env_rcpt);
	e = c != NULL && rcpt != NULL ? message_mime(c, row, &mime) : PC_ENOMEM;
	if (e != PC_OK) {
		snprintf(a->error, sizeof(a->error), "smtp: out of memory");
		goto out_free;
	}
	httpc_curl_setup(c, cfg->smtp_timeout_seconds, errbuf, "smtp,smtps", &a->cancel);
	libcurl.easy_setopt(c, CURLOPT_URL, cfg->smtp_url);
	libcurl.easy_setopt(c, CURLOPT_MAIL_FROM, env_from);
	libcurl.easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	libcurl.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	libcurl.easy_setopt(c, CURLOPT_MIMEPOST, mime);
	if (cfg->smtp_starttls)
		libcurl.easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (cfg->smtp_username[0] != '\0') {
		libcurl.easy_setopt(c, CURLOPT_USERNAME, cfg->smtp_username);
		libcurl.easy_setopt(c, CURLOPT_PASSWORD, cfg->smtp_password);
	}
	rc = libcurl.easy_perform(c);
	if (rc != CURLE_OK) {
		long code = 0;

		e = httpc_curl_error(rc, errbuf, why, sizeof(why));
		libcurl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		/* A 5xx reply (RFC 5321 4.2.1: permanent) to MAIL, RCPT or DATA
		 * will come again: the mail is given up, not retried. A refused
		 * login is the operator's to fix: retried. */
		if (e != PC_EBUSY && code >= 500 && code <= 599 && rc != CURLE_LOGIN_DENIED) {
			e = PC_EINVAL;
			snprintf(a->error, sizeof(a->error), "smtp: permanent refusal %ld: %.*s", code,
				 (int)sizeof(why) - 40, why);
		} else {
			snprintf(a->error, sizeof(a->error), "smtp: %.*s", (int)sizeof(why) - 7, why);
		}
	}
out_free:
	libcurl.easy_cleanup(c); /* before the lists and parts it points to */
	libcurl.mime_free(mime);
	libcurl.slist_free_all(headers);
	libcurl.slist_free_all(rcpt);
	return e;
}

/* The development default: the mail, link included, goes to the log as one
 * record, its text in the field "mail" (escaped: one line). */
static enum pc_err message_send_log(struct outbox_attempt *a)
{
	const struct pc_outbox_row *row = a->row;
	char text[sizeof(row->recipient) + sizeof(row->subject) + sizeof(row->body_text) + 32];

	if (has_crlf(row->recipient) || has_crlf(row->subject)) {
		snprintf(a->error, sizeof(a->error), "a header holds CR or LF");
		return PC_EINVAL;
	}
	snprintf(text, sizeof(text), "To: %s\nSubject: %s\n\n%s", row->recipient, row->subject,
		 row->body_text);
	const struct log_field f[] = {
		LOG_INT("outbox_id", row->id),
		LOG_STR("to", row->recipient),
		LOG_STR("subject", row->subject),
		LOG_STR("mail", text),
	};
	log_emit(LOG_LEVEL_INFO, "mail", LOG_FIELDS(f),
		 "mail written here instead of sent (no smtp_url: development default)");
	return PC_OK;
}

enum pc_err message_deliver(struct outbox_attempt *a)
{
	if (a->cfg->smtp_url[0] == '\0')
		return message_send_log(a);
	return message_send_smtp(a);
}

/* ---- set-up ------------------------------------------------------------------------------ */

static enum pc_err message_bad(struct pc_errinfo *ei, const char *field, const char *msg)
{
	pc_errinfo_setf(ei, "config", field, PC_V_IO, "%s", msg);
	return PC_EINVAL;
}

/* Reads a template file whole: at most PC_OUTBOX_BODY_MAX / 2 bytes, no NUL. */
static enum pc_err tpl_load(const char *setting, const char *path, char **out,
			    struct pc_errinfo *ei)
{
	char msg[sizeof(ei->detail)];
	FILE *f = fopen(path, "rb");
	char *text;
	size_t n;

	*out = NULL;
	if (f == NULL) {
		snprintf(msg, sizeof(msg), "%s: cannot read %.180s: %s", setting, path, strerror(errno));
		return message_bad(ei, setting, msg);
	}
	text = malloc(PC_OUTBOX_BODY_MAX + 2);
	if (text == NULL) {
		fclose(f);
		return PC_ENOMEM;
	}
	n = fread(text, 1, PC_OUTBOX_BODY_MAX + 1, f);
	fclose(f);
	text[n] = '\0';
	if (n > PC_OUTBOX_BODY_MAX / 2 || memchr(text, '\0', n) != NULL) {
		free(text);
		snprintf(msg, sizeof(msg), "%s: %.180s is over %d bytes or holds a NUL byte", setting,
			 path, PC_OUTBOX_BODY_MAX / 2);
		return message_bad(ei, setting, msg);
	}
	*out = text;
	return PC_OK;
}

static void templates_free(struct message_templates *t)
{
	struct message_templates *prev;

	for (; t != NULL; t = prev) {
		prev = t->prev;
		for (size_t i = 0; i < TPL__MAX; i++)
			free(t->text[i]);
		free(t);
	}
}

void message_templates_free(struct pc_ctx *ctx)
{
	templates_free(atomic_exchange(&ctx->templates, NULL));
}

/* The override files cfg names, read now. */
static enum pc_err templates_read(const struct pc_config *cfg, struct message_templates **out,
				  struct pc_errinfo *ei)
{
	struct message_templates *t = calloc(1, sizeof(*t));
	enum pc_err err = t != NULL ? PC_OK : PC_ENOMEM;

	for (size_t i = 0; i < TPL__MAX && err == PC_OK; i++) {
		const char *path = CFG_STR(cfg, message_tpls[i].path_offset);

		if (path[0] != '\0')
			err = tpl_load(message_tpls[i].setting, path, &t->text[i], ei);
	}
	if (err != PC_OK) {
		templates_free(t);
		t = NULL;
	}
	*out = t;
	return err;
}

enum pc_err message_templates_load(struct pc_ctx *ctx, struct pc_errinfo *ei)
{
	struct message_templates *t;
	enum pc_err err = templates_read(&ctx->cfg, &t, ei);

	atomic_store(&ctx->templates, t);
	return err;
}

enum pc_err message_templates_reload(struct pc_ctx *ctx, const struct pc_config *cfg,
				     struct pc_errinfo *ei)
{
	struct message_templates *t;
	enum pc_err err = templates_read(cfg, &t, ei);
	int64_t now_us;

	if (err != PC_OK)
		return err;
	/* a render that has just loaded the old set keeps reading it: it stays,
	 * behind the new one, for the grace (only this function, on the one
	 * thread that reloads, touches the chain) */
	now_us = time_mono_us();
	t->prev = atomic_load(&ctx->templates);
	if (t->prev != NULL)
		t->prev->replaced_us = now_us;
	atomic_store_explicit(&ctx->templates, t, memory_order_release);
	for (struct message_templates *m = t; m->prev != NULL; m = m->prev) {
		if (m->prev->replaced_us + TEMPLATES_GRACE_US <= now_us) {
			templates_free(m->prev);
			m->prev = NULL;
			break;
		}
	}
	return PC_OK;
}
