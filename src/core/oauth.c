/*
 * oauth.c - OAuth2 / OpenID Connect social login: the providers (presets and
 * generic OIDC), the authorize and callback steps, account linking. The
 * pieces of OpenID Connect (discovery, JWKS, ID tokens, PKCE, the signed
 * state) are oidc.c's; outbound HTTP is httpc.c's.
 *
 * The flow (the function for each step beside it):
 *
 *   authorize   oauth_authorize: the provider ready (oauth_ready: an oidc
 *               kind discovers its endpoints on first use), a PKCE verifier,
 *               a nonce, a CSRF value; the state signs (provider, purpose,
 *               nonce, hash of verifier, hash of CSRF value). The browser
 *               keeps "<csrf>.<verifier>" in an HttpOnly cookie (the face
 *               sets it); the URL carries only the state and the challenge.
 *   callback    oauth_callback, on a worker thread (the route is PC_R_SLOW):
 *     1. error= from the provider: refused with its code, nothing else done;
 *     2. the state checked against the cookie (oidc_state_verify: MAC,
 *        expiry, the cookie's CSRF half), its provider and purpose against
 *        the route, the verifier half against the state;
 *     3. the state spent: its hash recorded in the store until it expires
 *        (store_oauth_state_use; a second use is refused: replay);
 *     4. the code exchanged at the token endpoint (with the verifier), then
 *        the identity: the ID token verified (oidc kinds, google: iss, aud,
 *        exp, nonce = the state's) or the user-info endpoints read (github:
 *        the primary verified address of /user/emails; facebook: an email
 *        never counted as verified);
 *     5. in one transaction (oauth_link): a linked account -> its tokens
 *        updated, its user; else (login) a user of that email -> linked only
 *        when associate_by_email is on and the provider asserts the email
 *        verified, else OAUTH_F_USER_EXISTS; else a new user (is_verified as
 *        the provider says) linked. Associate links to the logged-in user.
 *        Any failure rolls back: nothing is created by a failed flow.
 *
 * Provider tokens are sealed (seal_text, the TOTP key, aad
 * "oauth:<name>:<account id>") before they are stored. No secret, token or
 * response body is ever logged; error texts carry statuses only.
 *
 * Owns: ctx->oauth (the providers, their secrets, their JWKS caches).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "store/store.h"

#define OAUTH_BODY_MAX 65536     /* a token or user-info answer */
#define OAUTH_SECRET_MAX 512
#define OAUTH_UA "User-Agent: portcullis"

/* ---- presets --------------------------------------------------------------------- */

enum oauth_email_rule {
	EMAIL_CLAIM,          /* email_verified, exactly true (ID token or user info) */
	EMAIL_GITHUB_EMAILS,  /* the primary address of /user/emails, and its verified */
	EMAIL_NEVER_VERIFIED, /* facebook: an address, never asserted verified */
};

struct oauth_preset {
	const char *kind;
	const char *authorize_url, *token_url, *userinfo_url, *emails_url;
	const char *issuer, *jwks_url; /* the ID token's, when id_token */
	const char *scopes;
	enum oauth_email_rule email_rule;
	bool id_token;   /* an OpenID ID token identifies the user */
	bool discovery;  /* endpoints from {issuer}/.well-known/openid-configuration */
	bool basic_auth; /* client credentials by HTTP Basic, else in the form */
};

static const struct oauth_preset oauth_presets[] = {
	{ .kind = "google",
	  .authorize_url = "https://accounts.google.com/o/oauth2/v2/auth",
	  .token_url = "https://oauth2.googleapis.com/token",
	  .userinfo_url = "https://openidconnect.googleapis.com/v1/userinfo",
	  .issuer = "https://accounts.google.com",
	  .jwks_url = "https://www.googleapis.com/oauth2/v3/certs",
	  .scopes = "openid email profile", .email_rule = EMAIL_CLAIM, .id_token = true },
	{ .kind = "github",
	  .authorize_url = "https://github.com/login/oauth/authorize",
	  .token_url = "https://github.com/login/oauth/access_token",
	  .userinfo_url = "https://api.github.com/user",
	  .emails_url = "https://api.github.com/user/emails",
	  .scopes = "read:user user:email", .email_rule = EMAIL_GITHUB_EMAILS },
	{ .kind = "facebook",
	  .authorize_url = "https://www.facebook.com/v19.0/dialog/oauth",
	  .token_url = "https://graph.facebook.com/v19.0/oauth/access_token",
	  .userinfo_url = "https://graph.facebook.com/v19.0/me?fields=id,email",
	  .scopes = "email public_profile", .email_rule = EMAIL_NEVER_VERIFIED },
	{ .kind = "oidc", .scopes = "openid email profile", .email_rule = EMAIL_CLAIM,
	  .id_token = true, .discovery = true, .basic_auth = true },
};

#define NPRESETS (sizeof(oauth_presets) / sizeof(oauth_presets[0]))

/* ---- the providers ------------------------------------------------------------------ */

struct oauth_provider {
	const struct pc_oauth_conf *conf; /* in ctx->cfg */
	const struct oauth_preset *preset;
	char secret[OAUTH_SECRET_MAX];
	pthread_mutex_t lock;             /* ready, the endpoints, jwks */
	bool ready;
	char issuer[OIDC_URL_MAX];
	char authorize_url[OIDC_URL_MAX];
	char token_url[OIDC_URL_MAX];
	char userinfo_url[OIDC_URL_MAX];
	char emails_url[OIDC_URL_MAX];
	struct oidc_jwks *jwks;
};

struct oauth_set {
	struct oauth_provider p[PC_OAUTH_MAX];
	size_t n;
	unsigned char state_key[OIDC_STATE_KEY];
};

const char *oauth_kind_of(const struct pc_oauth_conf *c)
{
	if (c->kind[0] != '\0')
		return c->kind;
	for (size_t i = 0; i < NPRESETS; i++) {
		if (strcmp(c->name, oauth_presets[i].kind) == 0)
			return c->name;
	}
	return "oidc";
}

static const struct oauth_preset *oauth_preset_of(const char *kind)
{
	for (size_t i = 0; i < NPRESETS; i++) {
		if (strcmp(kind, oauth_presets[i].kind) == 0)
			return &oauth_presets[i];
	}
	return NULL;
}

/* Copies the override when set, else the preset's (NULL: ""). */
static void oauth_pick(char dst[OIDC_URL_MAX], const char *override, const char *preset)
{
	const char *v = override[0] != '\0' ? override : preset != NULL ? preset : "";

	snprintf(dst, OIDC_URL_MAX, "%s", v);
}

/* The client secret from the setting or its file (one line, trailing
 * blanks dropped). PC_EINVAL with ei naming the setting, never the value. */
static enum pc_err oauth_secret_load(struct oauth_provider *p, struct pc_errinfo *ei)
{
	const struct pc_oauth_conf *c = p->conf;
	size_t n;
	FILE *f;

	if (c->client_secret[0] != '\0') {
		n = strlen(c->client_secret);
		if (n >= sizeof(p->secret))
			goto out_bad;
		memcpy(p->secret, c->client_secret, n + 1);
		return PC_OK;
	}
	f = fopen(c->client_secret_file, "r");
	if (f == NULL) {
		pc_errinfo_setf(ei, "config", "client_secret_file", PC_V_IO,
				"oauth_%s_client_secret_file: cannot read the file", c->name);
		return PC_EINVAL;
	}
	n = fread(p->secret, 1, sizeof(p->secret) - 1, f);
	fclose(f);
	p->secret[n] = '\0';
	while (n > 0 && (p->secret[n - 1] == '\n' || p->secret[n - 1] == '\r' ||
			 p->secret[n - 1] == ' ' || p->secret[n - 1] == '\t'))
		p->secret[--n] = '\0';
	if (n == 0 || n == sizeof(p->secret) - 1 || strpbrk(p->secret, "\r\n") != NULL)
		goto out_bad;
	return PC_OK;
out_bad:
	crypto_wipe(p->secret, sizeof(p->secret));
	pc_errinfo_setf(ei, "config", "client_secret", PC_V_RULE,
			"oauth_%s_client_secret: must be one line of 1 to %zu bytes", c->name,
			sizeof(p->secret) - 2);
	return PC_EINVAL;
}

enum pc_err oauth_open(struct pc_ctx *ctx, struct pc_errinfo *ei)
{
	struct oauth_set *set;
	enum pc_err err;

	ctx->oauth = NULL;
	set = calloc(1, sizeof(*set));
	if (set == NULL)
		return PC_ENOMEM;
	err = oidc_state_key(&ctx->jwt, set->state_key);
	for (size_t i = 0; i < PC_OAUTH_MAX && err == PC_OK; i++) {
		const struct pc_oauth_conf *c = &ctx->cfg.oauth[i];
		struct oauth_provider *p = &set->p[set->n];

		if (c->name[0] == '\0')
			continue;
		p->conf = c;
		p->preset = oauth_preset_of(oauth_kind_of(c));
		if (p->preset == NULL)
			err = PC_EINVAL;
		if (err == PC_OK)
			err = oauth_secret_load(p, ei);
		if (err == PC_OK && pthread_mutex_init(&p->lock, NULL) != 0)
			err = PC_EINTERNAL;
		if (err != PC_OK)
			break;
		set->n++;
	}
	/* a provider is talked to with libcurl: loaded now (a missing libcurl
	 * is a start-up error), not at the first sign-in */
	if (err == PC_OK && set->n > 0 && httpc_global_init() != PC_OK) {
		pc_errinfo_setf(ei, "config", "oauth", PC_V_INTERNAL,
				"an OAuth provider is set, and libcurl could not be loaded (see the log)");
		err = PC_EINTERNAL;
	}
	ctx->oauth = set;
	if (err != PC_OK)
		oauth_close(ctx);
	return err;
}

void oauth_close(struct pc_ctx *ctx)
{
	struct oauth_set *set = ctx->oauth;

	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++) {
		oidc_jwks_free(set->p[i].jwks);
		pthread_mutex_destroy(&set->p[i].lock);
	}
	crypto_wipe(set, sizeof(*set));
	free(set);
	ctx->oauth = NULL;
}

static struct oauth_provider *oauth_find(struct pc_ctx *ctx, const char *name)
{
	struct oauth_set *set = ctx->oauth;

	for (size_t i = 0; set != NULL && name != NULL && i < set->n; i++) {
		if (strcmp(set->p[i].conf->name, name) == 0)
			return &set->p[i];
	}
	return NULL;
}

bool oauth_provider_exists(struct pc_ctx *ctx, const char *name)
{
	return oauth_find(ctx, name) != NULL;
}

/* The endpoints settled: the preset's or the overrides, or (oidc) those of
 * the discovery document, fetched once; the JWKS cache made. PC_OK, or the
 * exchange's error (PC_EINTERNAL, PC_EBUSY, PC_EUNAUTHORIZED). */
static enum pc_err oauth_ready(struct pc_ctx *ctx, struct oauth_provider *p)
{
	const struct pc_oauth_conf *c = p->conf;
	const struct oauth_preset *pr = p->preset;
	struct oidc_discovery d;
	const char *jwks_url;
	enum pc_err err = PC_OK;

	pthread_mutex_lock(&p->lock);
	if (p->ready)
		goto out_unlock;
	memset(&d, 0, sizeof(d));
	oauth_pick(p->issuer, c->issuer, pr->issuer);
	if (pr->discovery) {
		err = oidc_discover(p->issuer, ctx->cfg.oauth_timeout_seconds, &d, NULL);
		if (err != PC_OK)
			goto out_unlock;
	}
	oauth_pick(p->authorize_url, c->authorize_url,
		   pr->discovery ? d.authorization_endpoint : pr->authorize_url);
	oauth_pick(p->token_url, c->token_url, pr->discovery ? d.token_endpoint : pr->token_url);
	oauth_pick(p->userinfo_url, c->userinfo_url,
		   pr->discovery ? d.userinfo_endpoint : pr->userinfo_url);
	oauth_pick(p->emails_url, c->emails_url, pr->emails_url);
	jwks_url = c->jwks_url[0] != '\0' ? c->jwks_url : pr->discovery ? d.jwks_uri : pr->jwks_url;
	if (pr->id_token && p->jwks == NULL)
		err = oidc_jwks_new(jwks_url, ctx->cfg.oauth_timeout_seconds, &p->jwks);
	if (err == PC_OK && (p->authorize_url[0] == '\0' || p->token_url[0] == '\0'))
		err = PC_EUNAUTHORIZED;
	p->ready = err == PC_OK;
out_unlock:
	pthread_mutex_unlock(&p->lock);
	return err;
}

/* ---- the authorization URL --------------------------------------------------------- */

/* Appends s percent-encoded (all but RFC 3986's unreserved). */
static enum pc_err oauth_put_enc(struct pc_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	enum pc_err err = PC_OK;

	for (; *s != '\0' && err == PC_OK; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			err = buf_add(b, s, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			err = buf_add(b, e, 3);
		}
	}
	return err;
}

/* "&name=" + value encoded (no '&' first): a query or a form body. */
static enum pc_err oauth_param(struct pc_buf *b, const char *name, const char *value)
{
	enum pc_err err = buf_printf(b, "%s%s=", b->len > 0 ? "&" : "", name);

	return err == PC_OK ? oauth_put_enc(b, value) : err;
}

/* A scope token (RFC 6749 3.3): %x21 / %x23-5B / %x5D-7E, 1..128 bytes. */
static bool oauth_scope_ok(const char *s)
{
	size_t n = strnlen(s, 129);

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* The scope parameter: the request's scopes, or the setting's, or the
 * preset's; "openid" added for a provider identified by its ID token. */
static enum pc_err oauth_scope_text(const struct oauth_provider *p, const char *const *scopes,
				    size_t nscopes, struct pc_buf *out)
{
	const char *base = p->conf->scopes[0] != '\0' ? p->conf->scopes : p->preset->scopes;
	bool openid = false;
	enum pc_err err = PC_OK;

	if (nscopes > OAUTH_SCOPES_MAX)
		return PC_EINVAL;
	for (size_t i = 0; i < nscopes; i++) {
		if (!oauth_scope_ok(scopes[i]))
			return PC_EINVAL;
		openid = openid || strcmp(scopes[i], "openid") == 0;
		err = buf_printf(out, "%s%s", i > 0 ? " " : "", scopes[i]);
		if (err != PC_OK)
			return err;
	}
	if (nscopes == 0) {
		err = buf_addstr(out, base);
		openid = strstr(base, "openid") != NULL;
	}
	if (err == PC_OK && p->preset->id_token && !openid)
		err = buf_printf(out, "%sopenid", out->len > 0 ? " " : "");
	return err;
}

enum pc_err oauth_authorize(struct pc_ctx *ctx, const char *name, const char *purpose,
			    const char *const *scopes, size_t nscopes, const char *redirect_uri,
			    struct oauth_start *out)
{
	struct oauth_provider *p = oauth_find(ctx, name);
	char verifier[OIDC_VERIFIER_LEN + 1], challenge[OIDC_CHALLENGE_LEN + 1];
	char nonce[OIDC_NONCE_LEN + 1], csrf[OIDC_NONCE_LEN + 1], state[OIDC_STATE_MAX];
	struct pc_buf q, scope;
	enum pc_err err;

	memset(out, 0, sizeof(*out));
	if (p == NULL)
		return PC_ENOTFOUND;
	buf_init(&q, OAUTH_URL_MAX);
	buf_init(&scope, 4096);
	err = oauth_scope_text(p, scopes, nscopes, &scope);
	if (err != PC_OK)
		goto out_release;
	err = oauth_ready(ctx, p);
	if (err != PC_OK) {
		err = PC_EINTERNAL; /* the provider cannot be reached or read */
		goto out_release;
	}
	err = oidc_pkce_verifier(verifier);
	if (err == PC_OK)
		err = oidc_pkce_challenge(verifier, challenge);
	if (err == PC_OK)
		err = oidc_nonce_new(nonce);
	if (err == PC_OK)
		err = oidc_nonce_new(csrf);
	if (err == PC_OK)
		err = oidc_state_new(ctx->oauth->state_key, name, purpose, nonce, verifier, csrf,
				     time_now(), ctx->cfg.oauth_state_lifetime_seconds, state);
	if (err != PC_OK)
		goto out_release;
	err = oauth_param(&q, "response_type", "code");
	if (err == PC_OK)
		err = oauth_param(&q, "client_id", p->conf->client_id);
	if (err == PC_OK)
		err = oauth_param(&q, "redirect_uri", redirect_uri);
	if (err == PC_OK)
		err = oauth_param(&q, "scope", scope.data != NULL ? scope.data : "");
	if (err == PC_OK)
		err = oauth_param(&q, "state", state);
	if (err == PC_OK)
		err = oauth_param(&q, "code_challenge", challenge);
	if (err == PC_OK)
		err = oauth_param(&q, "code_challenge_method", "S256");
	if (err == PC_OK && p->preset->id_token)
		err = oauth_param(&q, "nonce", nonce);
	if (err == PC_OK &&
	    (size_t)snprintf(out->url, sizeof(out->url), "%s%c%s", p->authorize_url,
			     strchr(p->authorize_url, '?') ? '&' : '?', q.data) >= sizeof(out->url))
		err = PC_ETOOBIG;
	if (err == PC_OK)
		snprintf(out->cookie, sizeof(out->cookie), "%s.%s", csrf, verifier);
	if (err != PC_OK)
		memset(out, 0, sizeof(*out));
out_release:
	crypto_wipe(verifier, sizeof(verifier));
	buf_release(&q);
	buf_release(&scope);
	return err;
}

/* ---- the exchanges with the provider --------------------------------------------------- */

/* What the provider told us about the user and its tokens. */
struct oauth_identity {
	char account_id[PC_OAUTH_ACCOUNT_MAX + 1];
	char email[PC_EMAIL_MAX + 1];
	bool email_verified;
	char *access_token;  /* owned (jansson's copy freed with the doc) */
	char *refresh_token;
	int64_t expires_at;
};

/* A provider error code: [A-Za-z0-9_.-], 1..63 bytes, copied; else a
 * placeholder (a provider's text never reaches the client unchecked). */
static void oauth_error_code(const char *s, char out[OAUTH_ERROR_MAX])
{
	size_t n = s != NULL ? strnlen(s, OAUTH_ERROR_MAX) : 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			n = 0;
	}
	if (n == 0 || n >= OAUTH_ERROR_MAX)
		snprintf(out, OAUTH_ERROR_MAX, "%s", "OAUTH_PROVIDER_ERROR");
	else
		snprintf(out, OAUTH_ERROR_MAX, "%.*s", (int)n, s);
}

/* A string member, without NUL inside; NULL otherwise. */
static const char *oauth_str(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static char *oauth_strdup(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	d = malloc(n + 1);
	if (d != NULL)
		memcpy(d, s, n + 1);
	return d;
}

/* One request to the provider; its JSON object body into *doc on a 2xx.
 * Fails out->fail: UNREACHABLE (no answer, 5xx, a body that is not JSON),
 * TOKEN_REFUSED with the provider's error code (4xx). */
static enum pc_err oauth_call(struct pc_ctx *ctx, const char *method, const char *url,
			      const char *const *headers, const char *body,
			      struct oauth_result *out, json_t **doc)
{
	struct httpc_request req = {
		.method = method, .url = url, .headers = headers, .body = body,
		.body_len = body != NULL ? strlen(body) : 0,
		.timeout_s = ctx->cfg.oauth_timeout_seconds, .response_max = OAUTH_BODY_MAX,
	};
	struct httpc_response resp;
	enum pc_err err = httpc_do(&req, &resp);
	json_t *j = NULL;

	*doc = NULL;
	if (err == PC_OK && resp.body.len > 0)
		j = json_loadb(resp.body.data, resp.body.len, JSON_REJECT_DUPLICATES, NULL);
	if (err != PC_OK || resp.status >= 500 || resp.status < 200) {
		out->fail = OAUTH_F_UNREACHABLE;
		err = PC_EUNAUTHORIZED;
	} else if (resp.status >= 300 || json_object_get(j, "error") != NULL) {
		/* a 4xx; GitHub answers 200 {"error": ...} to a bad code */
		out->fail = OAUTH_F_TOKEN_REFUSED;
		oauth_error_code(oauth_str(j, "error"), out->provider_error);
		err = PC_EUNAUTHORIZED;
	} else if (!json_is_object(j) && !json_is_array(j)) {
		out->fail = OAUTH_F_UNREACHABLE;
		err = PC_EUNAUTHORIZED;
	}
	httpc_response_release(&resp);
	if (err != PC_OK) {
		json_decref(j);
		return err;
	}
	*doc = j;
	return PC_OK;
}

/* POST token_url: the code for tokens. *doc gets the answer. */
static enum pc_err oauth_exchange(struct pc_ctx *ctx, struct oauth_provider *p, const char *code,
				  const char *verifier, const char *redirect_uri,
				  struct oauth_result *out, json_t **doc)
{
	char basic[OAUTH_SECRET_MAX * 4 + 1024];
	const char *headers[5] = { "Accept: application/json", OAUTH_UA,
				   "Content-Type: application/x-www-form-urlencoded", NULL, NULL };
	struct pc_buf form, cred;
	size_t n;
	enum pc_err err;

	buf_init(&form, 16384);
	buf_init(&cred, (sizeof(basic) - 32) / 4 * 3);
	err = oauth_param(&form, "grant_type", "authorization_code");
	if (err == PC_OK)
		err = oauth_param(&form, "code", code);
	if (err == PC_OK)
		err = oauth_param(&form, "redirect_uri", redirect_uri);
	if (err == PC_OK)
		err = oauth_param(&form, "code_verifier", verifier);
	if (err == PC_OK && !p->preset->basic_auth) {
		err = oauth_param(&form, "client_id", p->conf->client_id);
		if (err == PC_OK)
			err = oauth_param(&form, "client_secret", p->secret);
	} else if (err == PC_OK) {
		/* RFC 6749 2.3.1: each form-encoded, then Basic */
		err = oauth_put_enc(&cred, p->conf->client_id);
		if (err == PC_OK)
			err = buf_addstr(&cred, ":");
		if (err == PC_OK)
			err = oauth_put_enc(&cred, p->secret);
		memcpy(basic, "Authorization: Basic ", 21);
		n = err == PC_OK ? crypto_b64_encode(cred.data, cred.len, basic + 21,
						     sizeof(basic) - 24) : 0;
		if (n == 0)
			err = PC_ETOOBIG;
		while (n > 0 && n % 4 != 0)
			basic[21 + n++] = '='; /* RFC 7617 takes padded base64 */
		basic[21 + n] = '\0';
		headers[3] = basic;
	}
	if (err == PC_OK) {
		err = oauth_call(ctx, "POST", p->token_url, headers, form.data, out, doc);
	} else {
		out->fail = OAUTH_F_NO_CODE; /* a code too long to send is no code */
		err = PC_EUNAUTHORIZED;
	}
	if (cred.data != NULL)
		crypto_wipe(cred.data, cred.len);
	if (form.data != NULL)
		crypto_wipe(form.data, form.len);
	crypto_wipe(basic, sizeof(basic));
	buf_release(&form);
	buf_release(&cred);
	return err;
}

/* GET url with the access token as bearer: the JSON answer. */
static enum pc_err oauth_get_json(struct pc_ctx *ctx, const char *url, const char *access,
				  struct oauth_result *out, json_t **doc)
{
	char *auth;
	const char *headers[4] = { "Accept: application/json", OAUTH_UA, NULL, NULL };
	size_t n = strlen(access) + 32;
	enum pc_err err;

	auth = malloc(n);
	if (auth == NULL)
		return PC_ENOMEM;
	snprintf(auth, n, "Authorization: Bearer %s", access);
	headers[2] = auth;
	err = oauth_call(ctx, "GET", url, headers, NULL, out, doc);
	if (err != PC_OK && out->fail == OAUTH_F_TOKEN_REFUSED)
		out->fail = OAUTH_F_ID_TOKEN; /* the provider refused its own token: a bad answer */
	crypto_wipe(auth, n);
	free(auth);
	return err;
}

/* An account id: a non-empty string or a non-negative integer member. */
static bool oauth_account_id(json_t *o, const char *name, char out[PC_OAUTH_ACCOUNT_MAX + 1])
{
	json_t *v = json_object_get(o, name);
	const char *s = oauth_str(o, name);

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(out, PC_OAUTH_ACCOUNT_MAX + 1, "%lld", (long long)json_integer_value(v));
		return true;
	}
	if (s == NULL || s[0] == '\0' || strlen(s) > PC_OAUTH_ACCOUNT_MAX)
		return false;
	memcpy(out, s, strlen(s) + 1);
	return true;
}

static void oauth_email_copy(const char *s, char out[PC_EMAIL_MAX + 1])
{
	out[0] = '\0';
	if (s != NULL && strlen(s) <= PC_EMAIL_MAX)
		memcpy(out, s, strlen(s) + 1);
}

/* github: the primary address of /user/emails, verified as it says. */
static enum pc_err oauth_github_email(struct pc_ctx *ctx, struct oauth_provider *p,
				      struct oauth_identity *id, struct oauth_result *out)
{
	json_t *doc, *e;
	size_t i;
	enum pc_err err = oauth_get_json(ctx, p->emails_url, id->access_token, out, &doc);

	if (err != PC_OK)
		return err;
	json_array_foreach(doc, i, e) {
		if (!json_is_true(json_object_get(e, "primary")))
			continue;
		oauth_email_copy(oauth_str(e, "email"), id->email);
		id->email_verified = id->email[0] != '\0' &&
				     json_is_true(json_object_get(e, "verified"));
		break;
	}
	json_decref(doc);
	return PC_OK;
}

/* The user-info endpoint: account id (github "id", others "sub" or "id"),
 * and the email as the provider's rule reads it. */
static enum pc_err oauth_userinfo(struct pc_ctx *ctx, struct oauth_provider *p,
				  struct oauth_identity *id, struct oauth_result *out)
{
	char sub[PC_OAUTH_ACCOUNT_MAX + 1] = "";
	json_t *doc;
	enum pc_err err;

	if (p->userinfo_url[0] == '\0') {
		out->fail = OAUTH_F_ID_TOKEN;
		return PC_EUNAUTHORIZED;
	}
	err = oauth_get_json(ctx, p->userinfo_url, id->access_token, out, &doc);
	if (err != PC_OK)
		return err;
	if (!oauth_account_id(doc, "sub", sub) && !oauth_account_id(doc, "id", sub)) {
		json_decref(doc);
		out->fail = OAUTH_F_ID_TOKEN;
		return PC_EUNAUTHORIZED;
	}
	if (id->account_id[0] != '\0' && strcmp(id->account_id, sub) != 0) {
		json_decref(doc); /* user info of another subject than the ID token's */
		out->fail = OAUTH_F_ID_TOKEN;
		return PC_EUNAUTHORIZED;
	}
	memcpy(id->account_id, sub, sizeof(sub));
	oauth_email_copy(oauth_str(doc, "email"), id->email);
	id->email_verified = p->preset->email_rule == EMAIL_CLAIM && id->email[0] != '\0' &&
			     json_is_true(json_object_get(doc, "email_verified"));
	json_decref(doc);
	if (p->preset->email_rule == EMAIL_GITHUB_EMAILS && p->emails_url[0] != '\0')
		return oauth_github_email(ctx, p, id, out);
	return PC_OK;
}

/* The code exchanged and the user identified: id filled. */
static enum pc_err oauth_identify(struct pc_ctx *ctx, struct oauth_provider *p, const char *code,
				  const char *verifier, const char *redirect_uri,
				  const struct oidc_state *st, struct oauth_identity *id,
				  struct oauth_result *out)
{
	struct oidc_id_claims claims;
	struct oidc_expect e;
	json_t *doc = NULL, *exp;
	const char *idt;
	enum pc_err err = oauth_exchange(ctx, p, code, verifier, redirect_uri, out, &doc);

	if (err != PC_OK)
		return err;
	id->access_token = oauth_strdup(oauth_str(doc, "access_token"));
	id->refresh_token = oauth_strdup(oauth_str(doc, "refresh_token"));
	exp = json_object_get(doc, "expires_in");
	if (json_is_integer(exp) && json_integer_value(exp) > 0 &&
	    json_integer_value(exp) < 100000000)
		id->expires_at = time_now() + json_integer_value(exp);
	idt = oauth_str(doc, "id_token");
	err = PC_EUNAUTHORIZED;
	out->fail = OAUTH_F_ID_TOKEN;
	if (id->access_token == NULL || id->access_token[0] == '\0')
		goto out_decref;
	if (p->preset->id_token) {
		if (idt == NULL)
			goto out_decref;
		e = (struct oidc_expect){ .issuer = p->issuer, .client_id = p->conf->client_id,
					  .nonce = st->nonce, .now = time_now() };
		err = oidc_id_token_verify(p->jwks, &e, idt, &claims);
		if (err != PC_OK) {
			out->fail = err == PC_EUNAUTHORIZED ? OAUTH_F_ID_TOKEN : OAUTH_F_UNREACHABLE;
			err = PC_EUNAUTHORIZED;
			goto out_decref;
		}
		if (strlen(claims.sub) > PC_OAUTH_ACCOUNT_MAX)
			goto out_decref;
		memcpy(id->account_id, claims.sub, strlen(claims.sub) + 1);
		memcpy(id->email, claims.email, sizeof(id->email));
		id->email_verified = claims.email_verified;
		out->fail = OAUTH_F_NONE;
		if (id->email[0] == '\0' && p->userinfo_url[0] != '\0')
			err = oauth_userinfo(ctx, p, id, out);
	} else {
		out->fail = OAUTH_F_NONE;
		err = oauth_userinfo(ctx, p, id, out);
	}
out_decref:
	json_decref(doc);
	return err;
}

static void oauth_identity_release(struct oauth_identity *id)
{
	if (id->access_token != NULL) {
		crypto_wipe(id->access_token, strlen(id->access_token));
		free(id->access_token);
	}
	if (id->refresh_token != NULL) {
		crypto_wipe(id->refresh_token, strlen(id->refresh_token));
		free(id->refresh_token);
	}
	memset(id, 0, sizeof(*id));
}

/* ---- linking ------------------------------------------------------------------------------ */

/* A token sealed into out, or out[0] = '\0' when there is none or it is
 * longer than sealing takes (then it is not kept). */
static void oauth_seal(struct pc_ctx *ctx, const char *aad, const char *token,
		       char out[SEAL_TEXT_MAX])
{
	out[0] = '\0';
	if (token == NULL || token[0] == '\0' || strlen(token) > SEAL_PLAIN_MAX)
		return;
	if (seal_text(ctx->totp_key, aad, (const unsigned char *)token, strlen(token), out,
		      SEAL_TEXT_MAX) != PC_OK)
		out[0] = '\0';
}

/* Links (or refreshes) the account, inside the caller's transaction. */
static enum pc_err oauth_link_write(struct pc_ctx *ctx, const char *name,
				    const struct oauth_identity *id, const char *user_id,
				    const struct pc_oauth_link *found, const char *email)
{
	char *access, *refresh, aad[PC_OAUTH_NAME_MAX + PC_OAUTH_ACCOUNT_MAX + 16];
	struct pc_oauth_tokens t;
	struct pc_oauth_link l;
	enum pc_err err = PC_ENOMEM;

	access = malloc(SEAL_TEXT_MAX);
	refresh = malloc(SEAL_TEXT_MAX);
	if (access == NULL || refresh == NULL)
		goto out_free;
	snprintf(aad, sizeof(aad), "oauth:%s:%s", name, id->account_id);
	oauth_seal(ctx, aad, id->access_token, access);
	oauth_seal(ctx, aad, id->refresh_token, refresh);
	t = (struct pc_oauth_tokens){ .access_enc = access[0] != '\0' ? access : NULL,
				      .refresh_enc = refresh[0] != '\0' ? refresh : NULL,
				      .expires_at = id->expires_at };
	if (found != NULL) {
		err = STORE_CALL(ctx->store, oauth_account_update, found->id, email, &t, time_now());
		goto out_free;
	}
	memset(&l, 0, sizeof(l));
	err = crypto_uuid7(l.id);
	if (err != PC_OK)
		goto out_free;
	snprintf(l.user_id, sizeof(l.user_id), "%s", user_id);
	snprintf(l.oauth_name, sizeof(l.oauth_name), "%s", name);
	memcpy(l.account_id, id->account_id, sizeof(l.account_id));
	snprintf(l.account_email, sizeof(l.account_email), "%s", email);
	err = STORE_CALL(ctx->store, oauth_account_insert, &l, &t, time_now());
out_free:
	free(access);
	free(refresh);
	return err;
}

/* The user a login links to (creating it when no one has the email), by
 * seed 000's three cases. Inside the caller's transaction. */
static enum pc_err oauth_login_user(struct pc_ctx *ctx, const struct oauth_identity *id,
				    const char *email_lc, struct oauth_result *out)
{
	enum pc_err err = STORE_CALL(ctx->store, user_by_email, email_lc, &out->user);

	if (err == PC_OK) {
		/* the provider must vouch for the address, and linking be on */
		if (!ctx->cfg.oauth_associate_by_email || !id->email_verified) {
			out->fail = OAUTH_F_USER_EXISTS;
			return PC_EUNAUTHORIZED;
		}
		return PC_OK;
	}
	if (err != PC_ENOTFOUND)
		return err;
	err = users_register_oauth(ctx, id->email, id->email_verified, &out->user, NULL);
	if (err == PC_EEXISTS) {
		out->fail = OAUTH_F_USER_EXISTS;
		return PC_EUNAUTHORIZED;
	}
	if (err == PC_EINVAL) {
		out->fail = OAUTH_F_NO_EMAIL;
		return PC_EUNAUTHORIZED;
	}
	out->created = err == PC_OK;
	return err;
}

/* Step 5, in one transaction: every write or none. */
static enum pc_err oauth_link(struct pc_ctx *ctx, const char *name, const struct pc_user *assoc,
			      const struct oauth_identity *id, struct oauth_result *out)
{
	char email[PC_EMAIL_MAX + 1], email_lc[PC_EMAIL_MAX + 1];
	struct pc_oauth_link found;
	bool linked;
	enum pc_err err;

	if (id->email[0] == '\0' || email_normalize(id->email, email, email_lc, NULL) != PC_OK) {
		out->fail = OAUTH_F_NO_EMAIL;
		return PC_EUNAUTHORIZED;
	}
	err = store_begin(ctx->store);
	if (err != PC_OK)
		return err;
	err = STORE_CALL(ctx->store, oauth_account_get, name, id->account_id, &found);
	linked = err == PC_OK;
	if (err == PC_ENOTFOUND)
		err = PC_OK;
	if (err == PC_OK && linked && assoc != NULL && strcmp(found.user_id, assoc->id) != 0) {
		out->fail = OAUTH_F_LINKED_ELSEWHERE;
		err = PC_EUNAUTHORIZED;
	} else if (err == PC_OK && assoc != NULL) {
		out->user = *assoc;
	} else if (err == PC_OK && linked) {
		err = STORE_CALL(ctx->store, user_by_id, found.user_id, &out->user);
	} else if (err == PC_OK) {
		err = oauth_login_user(ctx, id, email_lc, out);
	}
	if (err == PC_OK && assoc == NULL && !out->user.is_active) {
		out->fail = OAUTH_F_INACTIVE;
		err = PC_EUNAUTHORIZED;
	}
	if (err == PC_OK && assoc == NULL && out->user.totp_enabled) {
		out->fail = OAUTH_F_SECOND_FACTOR; /* a provider's word is one factor */
		err = PC_EUNAUTHORIZED;
	}
	if (err == PC_OK)
		err = oauth_link_write(ctx, name, id, out->user.id, linked ? &found : NULL, email);
	if (err == PC_OK && !linked) {
		char detail[80];

		/* in the link's transaction; the provider's name only, no token */
		snprintf(detail, sizeof(detail), "{\"provider\":\"%.31s\"}", name);
		(void)pc_audit(ctx, "oauth.link", out->user.id, detail);
	}
	if (err == PC_OK)
		err = store_commit(ctx->store);
	if (err != PC_OK) {
		(void)store_rollback(ctx->store);
		if (out->fail == OAUTH_F_NONE && err == PC_EEXISTS)
			out->fail = OAUTH_F_LINKED_ELSEWHERE; /* a race: linked meanwhile */
		out->created = false;
		if (out->fail != OAUTH_F_NONE)
			err = PC_EUNAUTHORIZED;
	}
	crypto_wipe(out->user.hashed_password, sizeof(out->user.hashed_password));
	return err;
}

/* ---- the callback ----------------------------------------------------------------------- */

/* Steps 2 and 3: the state good for this browser, route and purpose, then
 * spent. The cookie is "<csrf>.<verifier>"; verifier gets its second half. */
static bool oauth_state_take(struct pc_ctx *ctx, const char *name,
			     const struct oauth_callback_in *in, struct oidc_state *st,
			     char verifier[OIDC_VERIFIER_LEN + 1])
{
	char csrf[OIDC_NONCE_LEN + 1], hash[PC_SHA256_HEX], want[OIDC_PURPOSE_MAX];
	const char *dot;
	size_t n;
	bool ok;

	if (in->state == NULL || in->cookie == NULL)
		return false;
	dot = strchr(in->cookie, '.');
	n = dot != NULL ? (size_t)(dot - in->cookie) : 0;
	if (n == 0 || n >= sizeof(csrf) || strlen(dot + 1) != OIDC_VERIFIER_LEN)
		return false;
	memcpy(csrf, in->cookie, n);
	csrf[n] = '\0';
	memcpy(verifier, dot + 1, OIDC_VERIFIER_LEN + 1);
	if (oidc_state_verify(ctx->oauth->state_key, in->state, csrf, time_now(), st) != PC_OK)
		return false;
	if (in->assoc != NULL)
		snprintf(want, sizeof(want), "assoc:%s", in->assoc->id);
	ok = strcmp(st->provider, name) == 0 && oidc_state_verifier_ok(st, verifier) &&
	     (in->assoc != NULL ? strcmp(st->purpose, want) == 0
				: strncmp(st->purpose, "login:", 6) == 0);
	if (!ok)
		return false;
	/* spent once: a second callback with it finds the record */
	crypto_sha256_hex(in->state, strlen(in->state), hash);
	return STORE_CALL(ctx->store, oauth_state_use, hash, st->exp) == PC_OK;
}

enum pc_err oauth_callback(struct pc_ctx *ctx, const char *name, const struct oauth_callback_in *in,
			   struct oauth_result *out)
{
	struct oauth_provider *p = oauth_find(ctx, name);
	char verifier[OIDC_VERIFIER_LEN + 1] = "";
	struct oauth_identity id;
	struct oidc_state st;
	enum pc_err err;

	memset(out, 0, sizeof(*out));
	memset(&id, 0, sizeof(id));
	if (p == NULL)
		return PC_ENOTFOUND;
	if (in->error != NULL) {
		/* a provider's refusal is an error, never a login */
		out->fail = OAUTH_F_PROVIDER_ERROR;
		oauth_error_code(in->error, out->provider_error);
		return PC_EUNAUTHORIZED;
	}
	if (in->code == NULL || in->code[0] == '\0' || strnlen(in->code, 4097) > 4096) {
		out->fail = OAUTH_F_NO_CODE;
		return PC_EUNAUTHORIZED;
	}
	if (!oauth_state_take(ctx, name, in, &st, verifier)) {
		out->fail = OAUTH_F_STATE;
		return PC_EUNAUTHORIZED;
	}
	snprintf(out->purpose, sizeof(out->purpose), "%s", st.purpose);
	err = oauth_ready(ctx, p);
	if (err != PC_OK) {
		out->fail = OAUTH_F_UNREACHABLE;
		err = PC_EUNAUTHORIZED;
	}
	if (err == PC_OK)
		err = oauth_identify(ctx, p, in->code, verifier, in->redirect_uri, &st, &id, out);
	if (err == PC_OK)
		err = oauth_link(ctx, name, in->assoc, &id, out);
	oauth_identity_release(&id);
	crypto_wipe(verifier, sizeof(verifier));
	if (err != PC_OK)
		memset(&out->user, 0, sizeof(out->user));
	return err;
}

enum pc_err oauth_accounts(struct pc_ctx *ctx, const char *user_id,
			   struct oauth_account out[OAUTH_ACCOUNTS_MAX], size_t *n)
{
	struct pc_oauth_link *l = calloc(OAUTH_ACCOUNTS_MAX, sizeof(*l));
	enum pc_err err;

	*n = 0;
	if (l == NULL)
		return PC_ENOMEM;
	err = STORE_CALL(ctx->store, oauth_account_list, user_id, l, OAUTH_ACCOUNTS_MAX, n);
	for (size_t i = 0; err == PC_OK && i < *n; i++) {
		memcpy(out[i].id, l[i].id, sizeof(out[i].id));
		memcpy(out[i].oauth_name, l[i].oauth_name, sizeof(out[i].oauth_name));
		memcpy(out[i].account_id, l[i].account_id, sizeof(out[i].account_id));
		memcpy(out[i].account_email, l[i].account_email, sizeof(out[i].account_email));
	}
	free(l);
	return err;
}

enum pc_err oauth_purge(struct pc_ctx *ctx, int64_t now)
{
	int64_t removed;

	return STORE_CALL(ctx->store, oauth_state_purge, now, &removed);
}
