/*
 * test_oauth.c - the OAuth providers' settings and authorization URLs
 * (core/oauth.c) over a real context: the presets' endpoints and scopes,
 * an override winning over a preset, the keyed settings' rules. No network:
 * the presets need no discovery to authorize. The flows themselves run
 * against a real OpenID provider in tests/api/test_oauth.py.
 */
#include <string.h>

#include "helpers.h"

static char dir[64];
static struct pc_ctx *ctx;

static void set(struct pc_config *cfg, const char *name, const char *value)
{
	struct pc_errinfo ei = { 0 };

	cr_assert_eq(pc_config_set(cfg, name, value, &ei), PC_OK, "%s: %s", name, ei.detail);
}

static void open_with_presets(void)
{
	struct pc_config *cfg = calloc(1, sizeof(*cfg));

	cr_assert_not_null(cfg);
	test_dir_make(dir, sizeof(dir), "pc_oauth_");
	test_config(cfg, dir);
	set(cfg, "oauth_providers", "google,github,facebook,gh2");
	set(cfg, "oauth_google_client_id", "g-client.apps.googleusercontent.com");
	set(cfg, "oauth_google_client_secret", "g-secret");
	set(cfg, "oauth_github_client_id", "gh-client");
	set(cfg, "oauth_github_client_secret", "gh-secret");
	set(cfg, "oauth_facebook_client_id", "fb-client");
	set(cfg, "oauth_facebook_client_secret", "fb-secret");
	set(cfg, "oauth_gh2_kind", "github");
	set(cfg, "oauth_gh2_client_id", "enterprise");
	set(cfg, "oauth_gh2_client_secret", "s");
	set(cfg, "oauth_gh2_authorize_url", "https://ghe.example.com/login/oauth/authorize");
	set(cfg, "oauth_gh2_scopes", "read:user");
	test_ctx_open(cfg, &ctx);
	free(cfg);
}

static void close_all(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(oauth, .init = open_with_presets, .fini = close_all);

/* The query argument name of url, decoded form compared: found as "name=value". */
static bool has_param(const char *url, const char *pair)
{
	const char *q = strchr(url, '?');
	size_t n = strlen(pair);

	for (const char *p = q; p != NULL; p = strchr(p + 1, '&')) {
		if (strncmp(p + 1, pair, n) == 0 && (p[1 + n] == '&' || p[1 + n] == '\0'))
			return true;
	}
	return false;
}

static void authorize(const char *name, struct oauth_start *st)
{
	cr_assert_eq(oauth_authorize(ctx, name, "login:jwt", NULL, 0,
				     "https://app.example.com/auth/x/callback", st), PC_OK);
	cr_assert_eq(strlen(st->cookie), 43 + 1 + 43, "cookie: csrf.verifier");
}

Test(oauth, google_preset_url_is_googles_endpoint_with_openid_nonce_and_pkce)
{
	struct oauth_start st;

	authorize("google", &st);
	cr_expect(strncmp(st.url, "https://accounts.google.com/o/oauth2/v2/auth?", 45) == 0, "%s",
		  st.url);
	cr_expect(has_param(st.url, "response_type=code"));
	cr_expect(has_param(st.url, "client_id=g-client.apps.googleusercontent.com"));
	cr_expect(has_param(st.url, "redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Fx%2Fcallback"));
	cr_expect(has_param(st.url, "scope=openid%20email%20profile"), "%s", st.url);
	cr_expect(has_param(st.url, "code_challenge_method=S256"));
	cr_expect(strstr(st.url, "&nonce=") != NULL, "an OpenID provider gets a nonce");
	cr_expect(strstr(st.url, "&state=") != NULL);
	cr_expect(strstr(st.url, "g-secret") == NULL, "never the secret");
}

Test(oauth, github_preset_url_asks_for_emails_and_has_no_nonce)
{
	struct oauth_start st;

	authorize("github", &st);
	cr_expect(strncmp(st.url, "https://github.com/login/oauth/authorize?", 41) == 0, "%s",
		  st.url);
	cr_expect(has_param(st.url, "client_id=gh-client"));
	cr_expect(has_param(st.url, "scope=read%3Auser%20user%3Aemail"), "%s", st.url);
	cr_expect(strstr(st.url, "&nonce=") == NULL, "github issues no ID token");
	cr_expect(strstr(st.url, "gh-secret") == NULL);
}

Test(oauth, facebook_preset_url_is_the_dialog_with_email_scope)
{
	struct oauth_start st;

	authorize("facebook", &st);
	cr_expect(strncmp(st.url, "https://www.facebook.com/v19.0/dialog/oauth?", 44) == 0, "%s",
		  st.url);
	cr_expect(has_param(st.url, "client_id=fb-client"));
	cr_expect(has_param(st.url, "scope=email%20public_profile"), "%s", st.url);
	cr_expect(strstr(st.url, "&nonce=") == NULL);
}

Test(oauth, overrides_win_over_the_preset)
{
	struct oauth_start st;

	authorize("gh2", &st);
	cr_expect(strncmp(st.url, "https://ghe.example.com/login/oauth/authorize?", 46) == 0, "%s",
		  st.url);
	cr_expect(has_param(st.url, "scope=read%3Auser"), "%s", st.url);
}

Test(oauth, request_scopes_replace_the_defaults_and_bad_ones_are_refused)
{
	const char *good[] = { "email", "openid" }, *bad[] = { "a b" }, *quote[] = { "a\"" };
	struct oauth_start st;

	cr_assert_eq(oauth_authorize(ctx, "google", "login:jwt", good, 2, "https://a.example/cb",
				     &st), PC_OK);
	cr_expect(has_param(st.url, "scope=email%20openid"), "%s", st.url);
	cr_expect_eq(oauth_authorize(ctx, "google", "login:jwt", bad, 1, "https://a.example/cb",
				     &st), PC_EINVAL);
	cr_expect_eq(oauth_authorize(ctx, "google", "login:jwt", quote, 1, "https://a.example/cb",
				     &st), PC_EINVAL);
	cr_expect_eq(oauth_authorize(ctx, "nope", "login:jwt", NULL, 0, "https://a.example/cb",
				     &st), PC_ENOTFOUND);
}

Test(oauth, each_authorize_makes_a_new_state_and_cookie)
{
	struct oauth_start a, b;

	authorize("google", &a);
	authorize("google", &b);
	cr_expect_str_neq(a.cookie, b.cookie);
	cr_expect_str_neq(a.url, b.url);
}

/* ---- the keyed settings ------------------------------------------------------------- */

static enum pc_err validate(const char *const *kv, size_t n, struct pc_errinfo *ei)
{
	struct pc_config *cfg = calloc(1, sizeof(*cfg));
	enum pc_err err = PC_OK;

	cr_assert_not_null(cfg);
	pc_config_defaults(cfg);
	for (size_t i = 0; i + 1 < n && err == PC_OK; i += 2)
		err = pc_config_set(cfg, kv[i], kv[i + 1], ei);
	if (err == PC_OK)
		err = pc_config_validate(cfg, ei);
	free(cfg);
	return err;
}

Test(oauth_config, a_provider_needs_its_name_listed_a_client_id_and_one_secret)
{
	struct pc_errinfo ei = { 0 };
	const char *unlisted[] = { "oauth_corp_client_id", "c", "oauth_corp_client_secret", "s",
				   "oauth_corp_issuer", "https://idp.example.com" };
	const char *no_secret[] = { "oauth_providers", "corp", "oauth_corp_client_id", "c",
				    "oauth_corp_issuer", "https://idp.example.com" };
	const char *no_issuer[] = { "oauth_providers", "corp", "oauth_corp_client_id", "c",
				    "oauth_corp_client_secret", "s" };
	const char *listed_only[] = { "oauth_providers", "corp,google" };
	const char *good[] = { "oauth_providers", "corp", "oauth_corp_client_id", "c",
			       "oauth_corp_client_secret", "s", "oauth_corp_issuer",
			       "https://idp.example.com" };
	const char *http_issuer[] = { "oauth_providers", "corp", "oauth_corp_client_id", "c",
				      "oauth_corp_client_secret", "s", "oauth_corp_issuer",
				      "http://idp.example.com" };

	cr_expect_eq(validate(unlisted, 6, &ei), PC_EINVAL);
	cr_expect_eq(validate(no_secret, 6, &ei), PC_EINVAL);
	cr_expect_eq(validate(no_issuer, 6, &ei), PC_EINVAL);
	cr_expect(strstr(ei.detail, "oauth_corp_issuer") != NULL, "%s", ei.detail);
	cr_expect_eq(validate(listed_only, 2, &ei), PC_EINVAL);
	cr_expect_eq(validate(good, 8, &ei), PC_OK, "%s", ei.detail);
	cr_expect_eq(validate(http_issuer, 8, &ei), PC_EINVAL, "http:// only to the loopback");
}

Test(oauth_config, keyed_names_are_parsed_by_the_longest_field)
{
	struct pc_config *cfg = calloc(1, sizeof(*cfg));

	cr_assert_not_null(cfg);
	pc_config_defaults(cfg);
	cr_expect(pc_config_has("oauth_corp_client_secret_file"));
	cr_expect(pc_config_has("oauth_a1_scopes"));
	cr_expect(!pc_config_has("oauth_Corp_client_id"), "names are [a-z0-9]");
	cr_expect(!pc_config_has("oauth__client_id"));
	cr_expect(!pc_config_has("oauth_corp_colour"));
	cr_expect_eq(pc_config_set(cfg, "oauth_corp_client_secret_file", "/x", NULL), PC_OK);
	cr_expect_str_eq(cfg->oauth[0].name, "corp");
	cr_expect_str_eq(cfg->oauth[0].client_secret_file, "/x");
	cr_expect_str_eq(cfg->oauth[0].client_secret, "");
	cr_expect_eq(pc_config_set(cfg, "oauth_corp_kind", "saml", NULL), PC_EINVAL);
	cr_expect_str_eq(pc_config_get_str(cfg, "oauth_corp_client_secret_file"), "/x");
	free(cfg);
}

Test(oauth_config, at_most_pc_oauth_max_providers)
{
	struct pc_config *cfg = calloc(1, sizeof(*cfg));
	char name[64];

	cr_assert_not_null(cfg);
	pc_config_defaults(cfg);
	for (int i = 0; i < PC_OAUTH_MAX; i++) {
		snprintf(name, sizeof(name), "oauth_p%d_client_id", i);
		cr_expect_eq(pc_config_set(cfg, name, "c", NULL), PC_OK);
	}
	cr_expect_eq(pc_config_set(cfg, "oauth_p0_scopes", "x", NULL), PC_OK, "a known one");
	cr_expect_eq(pc_config_set(cfg, "oauth_extra_client_id", "c", NULL), PC_EINVAL);
	free(cfg);
}
