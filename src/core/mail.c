/*
 * mail.c - the outbox: templates, events, and the background sender.
 *
 * Owns: struct pc_mailer (ctx->mailer): the loaded template overrides, and
 * the sender thread with its lock and condition variable.
 *
 * Writing. Nothing here writes a row: onetime.c renders a mail or an event
 * with mail_render / mail_event and hands it to the store in the
 * transaction that stores the token or the change it announces; then it
 * calls mail_kick.
 *
 * Sending. One thread per context:
 *
 *     wait (kick, 1 s, or stop) -> due row? -> claim (lease) -> deliver
 *         ^                                                       |
 *         +---- outbox_sent / outbox_failed (backoff, last_error) +
 *
 * A claim sets claimed_until = now + lease, so no other sender (another
 * instance on the same database) takes the row while this one works on it.
 * The lease is longer than an attempt can take (twice smtp_timeout_seconds,
 * plus one). If the process dies mid-attempt, the lease runs out and the row
 * is taken again: a mail may then arrive twice, never zero times. A failed
 * attempt sets next_attempt_at = now + base * 2^(attempts-1), at most
 * mail_retry_max_seconds, and keeps the error; with mail_max_attempts the row
 * is given up after that many attempts. Stopping interrupts an attempt in
 * flight (curl's progress callback) and leaves the row due at once.
 *
 * Delivery: kind "mail" goes by SMTP (libcurl) when smtp_url is set, or is
 * written to the log (stderr) with its text body, link included, when it is
 * not (the development default). Kind "webhook" is POSTed to its URL with
 * X-Portcullis-Signature: sha256=<hex HMAC-SHA256(webhook_secret, body)>;
 * any 2xx is delivered.
 *
 * Invariants: a recipient, subject or From with CR or LF never reaches a
 * message (refused when rendering and again when building); tokens appear in
 * the log only in the development default's mail; the SMTP password is
 * never logged; sent and given-up rows lose their bodies (store).
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "store/store.h"

#define MAIL_POLL_S 1
#define MAIL_PURGE_PERIOD_S 300
#define MAIL_KEEP_DONE_S (7 * 86400) /* sent or given-up rows kept this long */
#define MAIL_LINK_MAX 2048
#define MAIL_MESSAGE_MAX (4 * PC_OUTBOX_BODY_MAX + 8192) /* QP grows a body up to 3x */
#define MAIL_ERR_MAX (PC_OUTBOX_ERROR_MAX + 1)

/* ---- templates --------------------------------------------------------------- */

enum mail_tpl { TPL_RESET_TEXT, TPL_RESET_HTML, TPL_VERIFY_TEXT, TPL_VERIFY_HTML, TPL__MAX };

static const struct mail_tpl_def {
	const char *setting; /* the setting that names an override file */
	bool html;           /* values are HTML-escaped */
	const char *builtin;
} mail_tpls[TPL__MAX] = {
	[TPL_RESET_TEXT] = { "reset_template_text", false,
		"Hello,\n"
		"\n"
		"Someone asked to reset the password of the account {{email}}.\n"
		"To choose a new password, open this link:\n"
		"\n"
		"{{link}}\n"
		"\n"
		"The link works once and expires in {{expires_in}}. If you did not ask for\n"
		"this, ignore this message: your password stays as it is.\n" },
	[TPL_RESET_HTML] = { "reset_template_html", true,
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
	[TPL_VERIFY_TEXT] = { "verify_template_text", false,
		"Hello,\n"
		"\n"
		"Please confirm that {{email}} is your address by opening this link:\n"
		"\n"
		"{{link}}\n"
		"\n"
		"The link works once and expires in {{expires_in}}. If you did not create an\n"
		"account, ignore this message.\n" },
	[TPL_VERIFY_HTML] = { "verify_template_html", true,
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
};

/* The mails there are: subject, link target, templates, token lifetime. */
static const struct mail_kind_def {
	const char *subject;
	const char *url_setting;
	enum mail_tpl text;
	enum mail_tpl html;
	size_t lifetime_offset; /* int seconds in struct pc_config */
} mail_kinds[PC_MAIL__MAX] = {
	[PC_MAIL_RESET] = { "Reset your password", "reset_url", TPL_RESET_TEXT, TPL_RESET_HTML,
			    offsetof(struct pc_config, reset_token_lifetime_seconds) },
	[PC_MAIL_VERIFY] = { "Verify your email address", "verify_url", TPL_VERIFY_TEXT,
			     TPL_VERIFY_HTML, offsetof(struct pc_config, verify_token_lifetime_seconds) },
};

struct pc_mailer {
	struct pc_ctx *ctx;
	char *tpl[TPL__MAX];         /* override files' text; NULL: the built-in one */
	struct pc_outbox_row *row;   /* the sender's claimed row */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool kicked;                 /* under lock */
	atomic_bool stop;            /* also read by curl's progress callback */
	struct httpc_cancel cancel;  /* mail_stopping(this): aborts a transfer in flight */
	bool running;
};

static bool has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
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

enum pc_err mail_link(const char *url, const char *token, char *out, size_t outsz)
{
	const char *hash = strchr(url, '#');
	size_t base = hash != NULL ? (size_t)(hash - url) : strlen(url);
	const char *sep = "?";
	int n;

	if (memchr(url, '?', base) != NULL) /* a query already: add to it */
		sep = url[base - 1] == '?' || url[base - 1] == '&' ? "" : "&";
	/* The token goes into the query, before any #fragment. */
	n = snprintf(out, outsz, "%.*s%stoken=%s%s", (int)base, url, sep, token,
		     hash != NULL ? hash : "");
	if (n < 0 || (size_t)n >= outsz)
		return PC_ETOOBIG;
	return PC_OK;
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

enum pc_err mail_template_fill(const char *tpl, const char *const *names,
				  const char *const *values, size_t n, bool html,
				  struct pc_buf *out)
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

static const char *mail_tpl_text(const struct pc_ctx *ctx, enum mail_tpl t)
{
	if (ctx->mailer != NULL && ctx->mailer->tpl[t] != NULL)
		return ctx->mailer->tpl[t];
	return mail_tpls[t].builtin;
}

/* Fills a template into field[size] through buf (reset after). */
static enum pc_err render_into(const char *tpl, const char *const *names, const char *const *values,
			       size_t n, bool html, struct pc_buf *buf, char *field, size_t size)
{
	enum pc_err err;

	buf_reset(buf);
	err = mail_template_fill(tpl, names, values, n, html, buf);
	if (err != PC_OK)
		return err;
	if (buf->len >= size)
		return PC_ETOOBIG;
	if (buf->len > 0)
		memcpy(field, buf->data, buf->len);
	field[buf->len] = '\0';
	return PC_OK;
}

enum pc_err mail_render(struct pc_ctx *ctx, enum pc_mail_kind kind, const char *email,
			   const char *token, struct pc_outbox_row *out)
{
	const struct mail_kind_def *k;
	char link[MAIL_LINK_MAX], expires[48];
	const char *names[] = { "link", "email", "token", "expires_in" };
	const char *values[] = { link, email, token, expires };
	struct pc_buf buf;
	int64_t now = time_now();
	enum pc_err err;

	if ((unsigned)kind >= PC_MAIL__MAX || email == NULL || token == NULL)
		return PC_EINVAL;
	k = &mail_kinds[kind];
	if (has_crlf(email) || has_crlf(k->subject))
		return PC_EINVAL; /* header injection: never build such a message */
	err = mail_link(pc_config_get_str(&ctx->cfg, k->url_setting), token, link, sizeof(link));
	if (err != PC_OK)
		return err;
	expires_text(*(const int *)(const void *)((const char *)&ctx->cfg + k->lifetime_offset),
		     expires, sizeof(expires));
	memset(out, 0, sizeof(*out));
	memcpy(out->kind, "mail", sizeof("mail"));
	err = field_set(out->recipient, sizeof(out->recipient), email);
	if (err == PC_OK)
		err = field_set(out->subject, sizeof(out->subject), k->subject);
	if (err != PC_OK)
		return err;
	buf_init(&buf, PC_OUTBOX_BODY_MAX);
	err = render_into(mail_tpl_text(ctx, k->text), names, values, 4, false, &buf,
			  out->body_text, sizeof(out->body_text));
	if (err == PC_OK)
		err = render_into(mail_tpl_text(ctx, k->html), names, values, 4, true, &buf,
				  out->body_html, sizeof(out->body_html));
	buf_release(&buf);
	crypto_wipe(link, sizeof(link));
	out->next_attempt_at = now;
	out->created_at = now;
	return err;
}

/* ---- events --------------------------------------------------------------------- */

enum pc_err mail_event(struct pc_ctx *ctx, const char *event, const struct pc_user *u,
			  struct pc_outbox_row *out, bool *made)
{
	char id[PC_UUID_STR];
	int64_t now = time_now();
	json_t *j;
	char *text;
	enum pc_err err;

	*made = false;
	if (ctx->cfg.webhook_url[0] == '\0')
		return PC_OK;
	err = crypto_uuid7(id);
	if (err != PC_OK)
		return err;
	j = json_pack("{s:s, s:s, s:{s:s, s:s}, s:I}", "id", id, "event", event, "user", "id",
		      u->id, "email", u->email, "ts", (json_int_t)now);
	if (j == NULL)
		return PC_ENOMEM;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return PC_ENOMEM;
	memset(out, 0, sizeof(*out));
	memcpy(out->kind, "webhook", sizeof("webhook"));
	err = field_set(out->recipient, sizeof(out->recipient), ctx->cfg.webhook_url);
	if (err == PC_OK)
		err = field_set(out->payload, sizeof(out->payload), text);
	free(text);
	out->next_attempt_at = now;
	out->created_at = now;
	*made = err == PC_OK;
	return err;
}

void mail_signature(const char *secret, const char *body, size_t n, char out[72])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memcpy(out, "sha256=", 7);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, n, md,
		 &mdlen) == NULL || mdlen != PC_SHA256_LEN) {
		out[7] = '\0';
		return;
	}
	crypto_hex_encode(md, mdlen, out + 7);
}

/* ---- the message ------------------------------------------------------------------ */

enum pc_err mail_qp_encode(const char *in, size_t n, struct pc_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	enum pc_err err = PC_OK;
	size_t col = 0, i;

	for (i = 0; i < n && err == PC_OK; i++) {
		unsigned char c = (unsigned char)in[i];
		bool eol_next;
		char enc[3];
		size_t len;

		if (c == '\r' && i + 1 < n && in[i + 1] == '\n')
			continue; /* CRLF is written as the LF's CRLF */
		if (c == '\n') {
			err = buf_add(out, "\r\n", 2);
			col = 0;
			continue;
		}
		eol_next = i + 1 == n || in[i + 1] == '\n' ||
			   (in[i + 1] == '\r' && i + 2 < n && in[i + 2] == '\n');
		if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol_next)) {
			enc[0] = (char)c;
			len = 1;
		} else {
			enc[0] = '=';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			len = 3;
		}
		if (col + len > 75) { /* a soft break: the line with its '=' is at most 76 */
			err = buf_add(out, "=\r\n", 3);
			col = 0;
		}
		if (err == PC_OK)
			err = buf_add(out, enc, len);
		col += len;
	}
	return err;
}

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

/* Printable ASCII only: subjects are our own constants, never encoded words. */
static bool header_text_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

enum pc_err mail_message(const struct pc_config *cfg, const struct pc_outbox_row *m,
			    int64_t now, struct pc_buf *out)
{
	char date[48], from_addr[PC_EMAIL_MAX + 1], seed[PC_OUTBOX_RCPT_MAX + 64];
	char digest[PC_SHA256_HEX], boundary[48];
	const char *domain;
	enum pc_err err;

	/* The recipient was validated at registration; this is the last gate. */
	if (has_crlf(m->recipient) || has_crlf(m->subject) || has_crlf(cfg->mail_from))
		return PC_EINVAL;
	if (!header_text_ok(m->subject) || !header_text_ok(m->recipient) ||
	    !header_text_ok(cfg->mail_from))
		return PC_EINVAL;
	if (from_address(cfg->mail_from, from_addr, sizeof(from_addr)) != PC_OK)
		return PC_EINVAL;
	domain = strchr(from_addr, '@') + 1;
	rfc5322_date(now, date, sizeof(date));
	/* Message-ID and boundary are the same on every attempt of a row, so a
	 * duplicate after a crash is recognisably the same message. "=_" can never
	 * occur in quoted-printable text, so the boundary cannot either. */
	snprintf(seed, sizeof(seed), "%lld|%lld|%s|%s", (long long)m->id, (long long)m->created_at,
		 m->kind, m->recipient);
	crypto_sha256_hex(seed, strlen(seed), digest);
	snprintf(boundary, sizeof(boundary), "=_pc_%.24s", digest);
	err = buf_printf(out,
			    "Date: %s\r\n"
			    "From: %s\r\n"
			    "To: %s\r\n"
			    "Subject: %s\r\n"
			    "Message-ID: <pc.%.32s@%s>\r\n"
			    "Auto-Submitted: auto-generated\r\n"
			    "MIME-Version: 1.0\r\n"
			    "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n"
			    "\r\n"
			    "--%s\r\n"
			    "Content-Type: text/plain; charset=utf-8\r\n"
			    "Content-Transfer-Encoding: quoted-printable\r\n"
			    "\r\n",
			    date, cfg->mail_from, m->recipient, m->subject, digest + 32, domain,
			    boundary, boundary);
	if (err == PC_OK)
		err = mail_qp_encode(m->body_text, strlen(m->body_text), out);
	if (err == PC_OK)
		err = buf_printf(out,
				    "\r\n--%s\r\n"
				    "Content-Type: text/html; charset=utf-8\r\n"
				    "Content-Transfer-Encoding: quoted-printable\r\n"
				    "\r\n",
				    boundary);
	if (err == PC_OK)
		err = mail_qp_encode(m->body_html, strlen(m->body_html), out);
	if (err == PC_OK)
		err = buf_printf(out, "\r\n--%s--\r\n", boundary);
	return err;
}

/* ---- delivery ------------------------------------------------------------------------ */

struct mail_upload {
	const char *p;
	size_t left;
};

static size_t upload_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct mail_upload *u = arg;
	size_t n = size * nitems;

	if (n > u->left)
		n = u->left;
	memcpy(buf, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

/* The sender's cancel hook: true once the mailer is stopping. */
static bool mail_stopping(void *arg)
{
	struct pc_mailer *m = arg;

	return atomic_load(&m->stop);
}

static enum pc_err smtp_send(struct pc_mailer *m, const struct pc_outbox_row *row, char *err,
			     size_t errsz)
{
	const struct pc_config *cfg = &m->ctx->cfg;
	char errbuf[CURL_ERROR_SIZE] = "";
	char from_addr[PC_EMAIL_MAX + 1], env_from[PC_EMAIL_MAX + 3], env_rcpt[PC_OUTBOX_RCPT_MAX + 3];
	struct curl_slist *rcpt = NULL;
	struct mail_upload up;
	struct pc_buf msg;
	CURLcode rc;
	CURL *c;
	enum pc_err e;

	buf_init(&msg, MAIL_MESSAGE_MAX);
	e = mail_message(cfg, row, time_now(), &msg);
	if (e != PC_OK || from_address(cfg->mail_from, from_addr, sizeof(from_addr)) != PC_OK) {
		snprintf(err, errsz, "cannot build the message: %s", pc_strerror(e));
		buf_release(&msg);
		return PC_EINVAL;
	}
	snprintf(env_from, sizeof(env_from), "<%s>", from_addr);
	snprintf(env_rcpt, sizeof(env_rcpt), "<%s>", row->recipient);
	c = curl_easy_init();
	rcpt = curl_slist_append(NULL, env_rcpt);
	if (c == NULL || rcpt == NULL) {
		snprintf(err, errsz, "smtp: out of memory");
		e = PC_ENOMEM;
		goto out_free;
	}
	up.p = msg.data;
	up.left = msg.len;
	httpc_curl_setup(c, cfg->smtp_timeout_seconds, errbuf, "smtp,smtps", &m->cancel);
	curl_easy_setopt(c, CURLOPT_URL, cfg->smtp_url);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, env_from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &up);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	if (cfg->smtp_starttls)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (cfg->smtp_username[0] != '\0') {
		curl_easy_setopt(c, CURLOPT_USERNAME, cfg->smtp_username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->smtp_password);
	}
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		char why[MAIL_ERR_MAX];

		e = httpc_curl_error(rc, errbuf, why, sizeof(why));
		snprintf(err, errsz, "smtp: %s", why);
	}
out_free:
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	buf_release(&msg);
	return e;
}

static enum pc_err webhook_post(struct pc_mailer *m, const struct pc_outbox_row *row, char *err,
				size_t errsz)
{
	char sig[72], sig_header[96];
	const char *headers[] = { "Content-Type: application/json", sig_header, NULL };
	struct httpc_request req = {
		.method = "POST",
		.url = row->recipient,
		.headers = headers,
		.body = row->payload,
		.body_len = strlen(row->payload),
		.timeout_s = m->ctx->cfg.smtp_timeout_seconds,
		.response_max = 0,
		.cancel = m->cancel,
	};
	struct httpc_response resp;
	enum pc_err e;

	mail_signature(m->ctx->cfg.webhook_secret, row->payload, req.body_len, sig);
	snprintf(sig_header, sizeof(sig_header), "X-Portcullis-Signature: %s", sig);
	e = httpc_do(&req, &resp);
	if (e != PC_OK)
		snprintf(err, errsz, "webhook: %s", resp.error);
	else if (resp.status < 200 || resp.status > 299) {
		snprintf(err, errsz, "webhook: HTTP status %ld", resp.status);
		e = PC_EINTERNAL;
	}
	httpc_response_release(&resp);
	return e;
}

/* The development default: the mail, link included, goes to the log. */
static enum pc_err mail_to_log(const struct pc_outbox_row *row)
{
	if (has_crlf(row->recipient) || has_crlf(row->subject))
		return PC_EINVAL;
	flockfile(stderr);
	fprintf(stderr,
		"portcullis: mail (no smtp_url: written here instead of sent; development default)\n"
		"To: %s\nSubject: %s\n\n%s\n-- end of mail --\n",
		row->recipient, row->subject, row->body_text);
	funlockfile(stderr);
	return PC_OK;
}

static enum pc_err mail_deliver(struct pc_mailer *m, const struct pc_outbox_row *row, char *err,
				size_t errsz)
{
	if (strcmp(row->kind, "webhook") == 0)
		return webhook_post(m, row, err, errsz);
	if (strcmp(row->kind, "mail") != 0) {
		snprintf(err, errsz, "unknown outbox kind");
		return PC_EINVAL;
	}
	if (m->ctx->cfg.smtp_url[0] == '\0') {
		enum pc_err e = mail_to_log(row);

		if (e != PC_OK)
			snprintf(err, errsz, "a header holds CR or LF");
		return e;
	}
	return smtp_send(m, row, err, errsz);
}

/* base * 2^(attempts-1), at most max. */
static int64_t retry_delay(const struct pc_config *cfg, int64_t attempts)
{
	int64_t d = cfg->mail_retry_base_seconds;
	int64_t i;

	for (i = 1; i < attempts && d < cfg->mail_retry_max_seconds; i++)
		d *= 2;
	return d < cfg->mail_retry_max_seconds ? d : cfg->mail_retry_max_seconds;
}

/* Records the outcome of one attempt on the claimed row. */
static void mail_record(struct pc_mailer *m, const struct pc_outbox_row *row, enum pc_err result,
			const char *error)
{
	const struct pc_config *cfg = &m->ctx->cfg;
	struct pc_store *st = m->ctx->store;
	int64_t now = time_now(), next;
	bool give_up;
	enum pc_err err;

	if (result == PC_OK) {
		err = STORE_CALL(st, outbox_sent, row->id, now);
		if (err != PC_OK)
			fprintf(stderr, "portcullis: mail: outbox row %lld was delivered but cannot "
				"be marked sent (%s): it may be delivered again\n",
				(long long)row->id, pc_strerror(err));
		return;
	}
	if (result == PC_EBUSY) { /* interrupted by stopping: due again at once */
		next = now;
		give_up = false;
	} else {
		next = now + retry_delay(cfg, row->attempts);
		/* A message that cannot be built never will be: no retry. */
		give_up = result == PC_EINVAL ||
			  (cfg->mail_max_attempts > 0 && row->attempts >= cfg->mail_max_attempts);
	}
	if (give_up)
		fprintf(stderr, "portcullis: mail: %s outbox row %lld given up after %lld attempts: %s\n",
			row->kind, (long long)row->id, (long long)row->attempts, error);
	else if (result != PC_EBUSY)
		fprintf(stderr, "portcullis: mail: %s outbox row %lld, attempt %lld failed: %s; "
			"next in %lld s\n", row->kind, (long long)row->id, (long long)row->attempts,
			error, (long long)(next - now));
	err = STORE_CALL(st, outbox_failed, row->id, now, next, error, give_up);
	if (err != PC_OK)
		fprintf(stderr, "portcullis: mail: cannot record a failed attempt (%s)\n",
			pc_strerror(err));
}

/* Delivers every due row, one claim at a time, until none is due or stop. */
static void mail_drain(struct pc_mailer *m)
{
	const struct pc_config *cfg = &m->ctx->cfg;
	struct pc_store *st = m->ctx->store;
	struct pc_outbox_row *row = m->row;
	char error[MAIL_ERR_MAX];
	int64_t now, lease = 2 * (int64_t)cfg->smtp_timeout_seconds + 1;
	bool due = false;
	enum pc_err err;

	while (!atomic_load(&m->stop)) {
		now = time_now();
		if (STORE_CALL(st, outbox_due, now, &due) != PC_OK || !due)
			return;
		err = STORE_CALL(st, outbox_claim, now, now + lease, row);
		if (err != PC_OK)
			return; /* taken by another sender meanwhile, or the store failed */
		error[0] = '\0';
		err = mail_deliver(m, row, error, sizeof(error));
		if (err == PC_EBUSY)
			snprintf(error, sizeof(error), "interrupted: the server stopped");
		mail_record(m, row, err, error);
		crypto_wipe(row, sizeof(*row));
	}
}

static void mail_purge(struct pc_mailer *m)
{
	int64_t now = time_now(), removed = 0;

	if (STORE_CALL(m->ctx->store, mail_purge, now, now - MAIL_KEEP_DONE_S, &removed) != PC_OK)
		fprintf(stderr, "portcullis: mail: purge of old tokens and outbox rows failed\n");
}

static void *mail_sender_main(void *arg)
{
	struct pc_mailer *m = arg;
	int64_t next_purge = 0;

	while (!atomic_load(&m->stop)) {
		struct timespec until;

		mail_drain(m);
		if (time_now() >= next_purge) {
			mail_purge(m);
			next_purge = time_now() + MAIL_PURGE_PERIOD_S;
		}
		pthread_mutex_lock(&m->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += MAIL_POLL_S;
		while (!m->kicked && !atomic_load(&m->stop)) {
			if (pthread_cond_timedwait(&m->wake, &m->lock, &until) != 0)
				break;
		}
		m->kicked = false;
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

void mail_kick(struct pc_ctx *ctx)
{
	struct pc_mailer *m = ctx->mailer;

	if (m == NULL || !m->running)
		return;
	pthread_mutex_lock(&m->lock);
	m->kicked = true;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
}

/* ---- set-up ------------------------------------------------------------------------------ */

static bool http_url_ok(const char *u)
{
	if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
		return false;
	return strpbrk(u, " \"'<>\\`") == NULL;
}

static enum pc_err mail_bad(struct pc_errinfo *ei, const char *field, const char *msg)
{
	pc_errinfo_set(ei, "config", field, "value_error", msg);
	return PC_EINVAL;
}

enum pc_err mail_config_validate(const struct pc_config *cfg, struct pc_errinfo *ei)
{
	char addr[PC_EMAIL_MAX + 1];

	if (cfg->smtp_url[0] != '\0' && strncmp(cfg->smtp_url, "smtp://", 7) != 0 &&
	    strncmp(cfg->smtp_url, "smtps://", 8) != 0)
		return mail_bad(ei, "smtp_url", "smtp_url must start with smtp:// or smtps://");
	if (cfg->smtp_password[0] != '\0' && cfg->smtp_username[0] == '\0')
		return mail_bad(ei, "smtp_password", "smtp_password needs smtp_username");
	if (from_address(cfg->mail_from, addr, sizeof(addr)) != PC_OK ||
	    !header_text_ok(cfg->mail_from))
		return mail_bad(ei, "mail_from",
				"mail_from must be addr@host or Name <addr@host> (printable ASCII)");
	if (!http_url_ok(cfg->reset_url))
		return mail_bad(ei, "reset_url", "reset_url must be an http:// or https:// URL");
	if (!http_url_ok(cfg->verify_url))
		return mail_bad(ei, "verify_url", "verify_url must be an http:// or https:// URL");
	if (cfg->webhook_url[0] != '\0' && !http_url_ok(cfg->webhook_url))
		return mail_bad(ei, "webhook_url", "webhook_url must be an http:// or https:// URL");
	if (cfg->webhook_url[0] != '\0' && strlen(cfg->webhook_secret) < 16)
		return mail_bad(ei, "webhook_secret",
				"webhook_url needs a webhook_secret of at least 16 bytes");
	if (cfg->mail_retry_base_seconds > cfg->mail_retry_max_seconds)
		return mail_bad(ei, "mail_retry_base_seconds",
				"mail_retry_base_seconds is above mail_retry_max_seconds");
	return PC_OK;
}

/* Reads a template file whole: at most PC_OUTBOX_BODY_MAX bytes, no NUL. */
static enum pc_err tpl_load(const char *setting, const char *path, char **out,
			    struct pc_errinfo *ei)
{
	char msg[sizeof(ei->msg)];
	FILE *f = fopen(path, "rb");
	char *text;
	size_t n;

	*out = NULL;
	if (f == NULL) {
		snprintf(msg, sizeof(msg), "%s: cannot read %.180s: %s", setting, path, strerror(errno));
		return mail_bad(ei, setting, msg);
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
		return mail_bad(ei, setting, msg);
	}
	*out = text;
	return PC_OK;
}

static void mailer_free(struct pc_mailer *m)
{
	size_t i;

	for (i = 0; i < TPL__MAX; i++)
		free(m->tpl[i]);
	free(m->row);
	free(m);
}

enum pc_err mail_open(struct pc_ctx *ctx, struct pc_errinfo *ei)
{
	const struct pc_config *cfg = &ctx->cfg;
	struct pc_mailer *m;
	enum pc_err err = PC_OK;
	size_t i;

	if (httpc_global_init() != PC_OK) {
		pc_errinfo_set(ei, "config", "smtp_url", "internal", "libcurl failed to initialise");
		return PC_EINTERNAL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return PC_ENOMEM;
	m->ctx = ctx;
	m->cancel.fn = mail_stopping;
	m->cancel.arg = m;
	m->row = malloc(sizeof(*m->row));
	if (m->row == NULL)
		err = PC_ENOMEM;
	for (i = 0; i < TPL__MAX && err == PC_OK; i++) {
		const char *path = pc_config_get_str(cfg, mail_tpls[i].setting);

		if (path != NULL && path[0] != '\0')
			err = tpl_load(mail_tpls[i].setting, path, &m->tpl[i], ei);
	}
	if (err != PC_OK) {
		mailer_free(m);
		return err;
	}
	atomic_init(&m->stop, false);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	ctx->mailer = m;
	if (pthread_create(&m->thread, NULL, mail_sender_main, m) != 0) {
		ctx->mailer = NULL;
		pthread_cond_destroy(&m->wake);
		pthread_mutex_destroy(&m->lock);
		mailer_free(m);
		return PC_EINTERNAL;
	}
	m->running = true;
	if (cfg->smtp_url[0] == '\0')
		fprintf(stderr, "portcullis: warning: no smtp_url: mail is written to the log, "
			"not sent (development default)\n");
	else if (cfg->smtp_username[0] != '\0' && strncmp(cfg->smtp_url, "smtp://", 7) == 0 &&
		 !cfg->smtp_starttls)
		fprintf(stderr, "portcullis: warning: SMTP login over smtp:// without "
			"smtp_starttls: the password crosses the network in clear\n");
	return PC_OK;
}

void mail_close(struct pc_ctx *ctx)
{
	struct pc_mailer *m = ctx->mailer;

	if (m == NULL)
		return;
	if (m->running) {
		pthread_mutex_lock(&m->lock);
		atomic_store(&m->stop, true);
		pthread_cond_signal(&m->wake);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->thread, NULL);
		m->running = false;
	}
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	ctx->mailer = NULL;
	mailer_free(m);
}
