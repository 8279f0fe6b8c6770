/*
 * pages.c - the two HTML pages behind the links the server mails by
 * default (reset_url, verify_url): a form that completes the flow through
 * the JSON API, so the links work without a front end. A front end that
 * sets reset_url / verify_url replaces them.
 *
 *   reset   two password fields; POST {api} {"token", "password"}
 *   verify  one button;          POST {api} {"token"}
 *
 * No framework and nothing external: one inline style and one inline
 * script, the same bytes on every page, allowed by their SHA-256 in a
 * strict Content-Security-Policy (default-src 'none'; no 'unsafe-inline';
 * connect-src 'self'; form-action 'none', so a browser without script
 * never sends the password anywhere). The token and the API path go into
 * the HTML as HTML-escaped data attributes (message_fill), never into the
 * script. The script writes with textContent only. The server's default
 * headers add Referrer-Policy: no-referrer (the token is in the URL) and
 * Cache-Control: no-store.
 */
#include <pthread.h>
#include <string.h>

#include "faces/face.h"

static const char page_style[] =
	"body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}"
	"label,input,button{display:block;width:100%;box-sizing:border-box;margin:.4rem 0}"
	"input,button{padding:.5rem;font-size:1rem}#m{min-height:1.5rem}";

static const char page_script[] =
	"\"use strict\";(function(){"
	"var f=document.getElementById(\"f\"),m=document.getElementById(\"m\"),"
	"b=f.querySelector(\"button\"),words={"
	"RESET_PASSWORD_BAD_TOKEN:\"This link is invalid or has expired.\","
	"VERIFY_USER_BAD_TOKEN:\"This link is invalid or has expired.\","
	"VERIFY_USER_ALREADY_VERIFIED:\"This address is already verified.\"};"
	"function say(t){m.textContent=t;}"
	"f.addEventListener(\"submit\",function(e){"
	"e.preventDefault();var body={token:f.dataset.token};"
	"if(f.elements.password){"
	"if(f.elements.password.value!==f.elements.confirm.value){"
	"say(\"The two passwords differ.\");return;}"
	"body.password=f.elements.password.value;}"
	"b.disabled=true;say(\"Sending...\");"
	"fetch(f.dataset.api,{method:\"POST\",credentials:\"omit\","
	"headers:{\"Content-Type\":\"application/json\"},body:JSON.stringify(body)})"
	".then(function(r){return r.json().catch(function(){return null;})"
	".then(function(j){return {ok:r.ok,j:j};});})"
	".then(function(x){"
	"if(x.ok){f.hidden=true;say(f.dataset.done);return;}"
	"var d=x.j&&x.j.detail;b.disabled=false;"
	"if(d&&typeof d===\"object\"&&d.reason)say(d.reason);"
	"else if(typeof d===\"string\")say(words[d]||d);"
	"else say(\"The request failed.\");"
	"},function(){b.disabled=false;say(\"The server could not be reached.\");});"
	"});})();";

static const char page_reset_tpl[] =
	"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	"<title>Choose a new password</title><style>{{style}}</style></head><body><main>"
	"<h1>Choose a new password</h1>"
	"<form id=\"f\" method=\"post\" data-api=\"{{api}}\" data-token=\"{{token}}\" "
	"data-done=\"Your password has been changed. You can now sign in with it.\">"
	"<label for=\"password\">New password</label>"
	"<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required>"
	"<label for=\"confirm\">The same again</label>"
	"<input id=\"confirm\" name=\"confirm\" type=\"password\" autocomplete=\"new-password\" required>"
	"<button type=\"submit\">Change my password</button></form>"
	"<p id=\"m\" role=\"status\"></p></main><script>{{script}}</script></body></html>";

static const char page_verify_tpl[] =
	"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	"<title>Verify your email address</title><style>{{style}}</style></head><body><main>"
	"<h1>Verify your email address</h1>"
	"<form id=\"f\" method=\"post\" data-api=\"{{api}}\" data-token=\"{{token}}\" "
	"data-done=\"Your email address is verified.\">"
	"<button type=\"submit\">Verify my email address</button></form>"
	"<p id=\"m\" role=\"status\"></p></main><script>{{script}}</script></body></html>";

/* ---- the policy, with the hashes of the style and script -------------------------- */

static char page_csp[512];
static pthread_once_t page_csp_once = PTHREAD_ONCE_INIT;

/* 'sha256-<standard base64, padded>' of text. */
static void page_hash(const char *text, char out[64])
{
	unsigned char d[PC_SHA256_LEN];
	size_t n;

	crypto_sha256(text, strlen(text), d);
	n = crypto_b64_encode(d, sizeof(d), out, 60);
	out[n] = '='; /* 32 bytes: 43 characters and one pad */
	out[n + 1] = '\0';
}

static void page_csp_make(void)
{
	char script[64], style[64];

	page_hash(page_script, script);
	page_hash(page_style, style);
	snprintf(page_csp, sizeof(page_csp),
		 "default-src 'none'; script-src 'sha256-%s'; style-src 'sha256-%s'; "
		 "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
		 script, style);
}

/* ---- rendering ---------------------------------------------------------------------- */

enum pc_err page_render(struct pc_req *req, struct pc_resp *resp, enum page_kind kind,
			const char *token, const char *api)
{
	const char *names[] = { "style", "script", "api", "token" };
	const char *values[] = { page_style, page_script, api, token };
	struct pc_buf b;
	enum pc_err err;

	pthread_once(&page_csp_once, page_csp_make);
	buf_init(&b, 16384);
	/* style and script go in as they are (they hold quotes the escaping would
	 * change, and their hashes are of these bytes): filled first, unescaped;
	 * then the data attributes, escaped */
	err = message_fill(kind == PAGE_RESET ? page_reset_tpl : page_verify_tpl, names, values, 2,
			   false, &b);
	if (err == PC_OK) {
		char *tpl = arena_strdup(req->arena, b.data);

		buf_reset(&b);
		err = tpl == NULL ? PC_ENOMEM : message_fill(tpl, names + 2, values + 2, 2, true, &b);
	}
	if (err == PC_OK) {
		resp->body = arena_strndup(req->arena, b.data, b.len);
		resp->body_len = b.len;
		err = resp->body == NULL ? PC_ENOMEM : PC_OK;
	}
	buf_release(&b);
	if (err != PC_OK)
		return err;
	resp->status = 200;
	resp->content_type = "text/html; charset=utf-8";
	return resp_header_add(resp, "Content-Security-Policy", page_csp);
}
