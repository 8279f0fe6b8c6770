/*
 * test_req.c - reading requests and writing responses without a server:
 * form bodies, UTF-8, the Cookie header, JSON bodies and the 422 details,
 * Set-Cookie rendering, headers, JSON output, log escaping, request ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "http/internal.h"

static struct pc_arena *arena;
static struct http_exchange *x;

static void setup(void)
{
	arena = arena_new(0);
	cr_assert_not_null(arena);
	x = arena_calloc(arena, sizeof(*x));
	cr_assert_not_null(x);
	x->req.arena = arena;
	x->req.impl = x;
	x->resp.arena = arena;
	buf_init(&x->req.body, 4096);
}

static void teardown(void)
{
	buf_release(&x->req.body);
	arena_free(arena);
}

TestSuite(form, .init = setup, .fini = teardown);
TestSuite(cookie, .init = setup, .fini = teardown);
TestSuite(json, .init = setup, .fini = teardown);
TestSuite(resp, .init = setup, .fini = teardown);
TestSuite(text);

static void body_set(const char *s, size_t n)
{
	buf_reset(&x->req.body);
	cr_assert_eq(buf_add(&x->req.body, s, n), PC_OK);
}

/* ---- form ------------------------------------------------------------------------ */

static enum pc_err form(const char *body)
{
	body_set(body, strlen(body));
	return http_body_form(x, "application/x-www-form-urlencoded");
}

Test(form, fields_decode_plus_and_percent_escapes)
{
	cr_assert_eq(form("username=a%40b.io&password=p+w%2Bd%26%3D&grant_type=password"), PC_OK);
	cr_assert_eq(x->nform, 3);
	cr_assert_str_eq(req_form_get(&x->req, "username"), "a@b.io");
	cr_assert_str_eq(req_form_get(&x->req, "password"), "p w+d&=");
	cr_assert_str_eq(req_form_get(&x->req, "grant_type"), "password");
	cr_assert_null(req_form_get(&x->req, "scope"));
}

Test(form, names_are_decoded_and_empty_pieces_skipped)
{
	cr_assert_eq(form("&&user%5Fname=x&flag&=v&"), PC_OK);
	cr_assert_eq(x->nform, 3);
	cr_assert_str_eq(req_form_get(&x->req, "user_name"), "x");
	cr_assert_str_eq(req_form_get(&x->req, "flag"), "");
	cr_assert_str_eq(req_form_get(&x->req, ""), "v");
}

Test(form, the_last_of_repeated_fields_wins)
{
	cr_assert_eq(form("a=1&a=2"), PC_OK);
	cr_assert_str_eq(req_form_get(&x->req, "a"), "2");
}

Test(form, a_bad_percent_escape_is_kept_literally)
{
	cr_assert_eq(form("p=100%&q=%zz&r=%4&s=%%41"), PC_OK);
	cr_assert_str_eq(req_form_get(&x->req, "p"), "100%");
	cr_assert_str_eq(req_form_get(&x->req, "q"), "%zz");
	cr_assert_str_eq(req_form_get(&x->req, "r"), "%4");
	cr_assert_str_eq(req_form_get(&x->req, "s"), "%A");
}

Test(form, multibyte_utf8_is_accepted)
{
	cr_assert_eq(form("n=caf%C3%A9+%E2%82%AC+%F0%9F%94%91"), PC_OK);
	cr_assert_str_eq(req_form_get(&x->req, "n"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
}

Test(form, invalid_utf8_is_a_422_value_error)
{
	const char *bad[] = { "p=%FF", "p=%C3", "p=%C0%AF", "p=%ED%A0%80", "p=%F4%90%80%80",
			      "%FF=x", "p=\xff" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&x->req.errinfo, 0, sizeof(x->req.errinfo));
		cr_assert_eq(form(bad[i]), PC_EINVAL, "%s", bad[i]);
		cr_assert_str_eq(x->req.errinfo.where, "body");
		cr_assert_eq(x->req.errinfo.code, PC_V_FORM_INVALID);
	}
}

Test(form, a_nul_byte_is_refused_encoded_or_raw)
{
	cr_assert_eq(form("p=a%00b"), PC_EINVAL);
	body_set("p=a\0b", 5);
	cr_assert_eq(http_body_form(x, "application/x-www-form-urlencoded"), PC_EINVAL);
}

Test(form, another_content_type_gives_an_empty_form)
{
	body_set("username=a", 10);
	cr_assert_eq(http_body_form(x, "application/json"), PC_OK);
	cr_assert_eq(x->nform, 0);
	cr_assert_null(req_form_get(&x->req, "username"));
	cr_assert_eq(http_body_form(x, NULL), PC_OK);
	cr_assert_eq(x->nform, 0);
	cr_assert_eq(http_body_form(x, "Application/X-WWW-Form-Urlencoded; charset=utf-8"), PC_OK);
	cr_assert_str_eq(req_form_get(&x->req, "username"), "a");
}

/* ---- text helpers --------------------------------------------------------------------- */

Test(text, content_types_compare_without_case_or_parameters)
{
	cr_assert(http_ctype_is("application/json", "application/json"));
	cr_assert(http_ctype_is(" Application/JSON ; charset=utf-8", "application/json"));
	cr_assert_not(http_ctype_is("application/jsonx", "application/json"));
	cr_assert_not(http_ctype_is("text/plain", "application/json"));
	cr_assert_not(http_ctype_is(NULL, "application/json"));
}

Test(text, percent_decoding_keeps_plus_outside_forms)
{
	char out[32];

	cr_assert_eq(http_pct_decode(out, "a+b%20c", 7, false), 5);
	cr_assert_str_eq(out, "a+b c");
	cr_assert_eq(http_pct_decode(out, "a+b", 3, true), 3);
	cr_assert_str_eq(out, "a b");
	cr_assert_eq(http_pct_decode(out, "%2", 2, false), 2);
	cr_assert_str_eq(out, "%2");
}

Test(text, access_log_paths_are_escaped_as_json_within_the_size)
{
	char out[64];

	log_escape(out, sizeof(out), "/a\"b\\c\n\x01\xff", 9, NULL);
	cr_assert_str_eq(out, "/a\\\"b\\\\c\\n\\u0001\\ufffd");
	cr_assert_eq(log_escape(out, 8, "\x01\x01", 2, NULL), 6);
	cr_assert_str_eq(out, "\\u0001");
}

Test(text, request_ids_are_kept_when_clean_else_random)
{
	struct pc_req r;
	char long_id[70];

	memset(&r, 0, sizeof(r));
	http_request_id_set(&r, "abc-123_X.y");
	cr_assert_str_eq(r.request_id, "abc-123_X.y");
	memset(long_id, 'a', 64);
	long_id[64] = '\0';
	http_request_id_set(&r, long_id);
	cr_assert_str_eq(r.request_id, long_id);
	long_id[64] = 'a';
	long_id[65] = '\0';
	http_request_id_set(&r, long_id);
	cr_assert_eq(strlen(r.request_id), 32);
	cr_assert_eq(strspn(r.request_id, "0123456789abcdef"), 32);
	http_request_id_set(&r, "evil\"id");
	cr_assert_eq(strlen(r.request_id), 32);
	http_request_id_set(&r, "");
	cr_assert_eq(strlen(r.request_id), 32);
}

/* ---- cookie header ------------------------------------------------------------------------ */

static const char *cookie(const char *header, const char *name)
{
	size_t n;
	const char *v = http_cookie_find(header, name, &n);

	return v != NULL ? arena_strndup(arena, v, n) : NULL;
}

Test(cookie, finds_a_cookie_among_others)
{
	const char *h = "a=1; fastapiusersauth=tok.en-_; b=2";

	cr_assert_str_eq(cookie(h, "fastapiusersauth"), "tok.en-_");
	cr_assert_str_eq(cookie(h, "a"), "1");
	cr_assert_str_eq(cookie(h, "b"), "2");
	cr_assert_null(cookie(h, "c"));
	cr_assert_null(cookie(NULL, "a"));
}

Test(cookie, names_match_exactly)
{
	cr_assert_null(cookie("session=1", "sess"));
	cr_assert_null(cookie("sess=1", "session"));
	cr_assert_null(cookie("Session=1", "session"));
	cr_assert_str_eq(cookie("xsession=0; session=1", "session"), "1");
}

Test(cookie, blanks_and_quotes_are_trimmed)
{
	cr_assert_str_eq(cookie("  a = 1 ;b=\"q v\"", "a"), "1");
	cr_assert_str_eq(cookie("a=1;b=\"q v\"", "b"), "q v");
	cr_assert_str_eq(cookie("a=", "a"), "");
	cr_assert_str_eq(cookie("a=\"", "a"), "\"");
}

Test(cookie, the_first_of_repeated_cookies_wins_and_junk_is_skipped)
{
	cr_assert_str_eq(cookie("junk; a=1; a=2", "a"), "1");
	cr_assert_str_eq(cookie(";;a=x=y;", "a"), "x=y");
}

/* ---- cookie rendering ---------------------------------------------------------------------- */

static const char *set_cookie_of(const struct pc_resp *resp)
{
	const struct pc_header *h;

	for (h = resp->headers; h != NULL; h = h->next) {
		if (strcmp(h->name, "Set-Cookie") == 0)
			return h->value;
	}
	return NULL;
}

Test(resp, a_session_cookie_renders_every_attribute)
{
	struct pc_cookie c = { .name = "fastapiusersauth", .value = "abc", .max_age = 3600,
			       .samesite = "lax", .secure = true, .httponly = true };

	cr_assert_eq(resp_cookie_set(&x->resp, &c), PC_OK);
	cr_assert_str_eq(set_cookie_of(&x->resp),
			 "fastapiusersauth=abc; Max-Age=3600; Path=/; SameSite=lax; Secure; HttpOnly");
}

Test(resp, a_domain_and_path_are_rendered_when_set)
{
	struct pc_cookie c = { .name = "s", .value = "v", .max_age = 60, .path = "/app",
			       .domain = "example.com", .samesite = "strict" };

	cr_assert_eq(resp_cookie_set(&x->resp, &c), PC_OK);
	cr_assert_str_eq(set_cookie_of(&x->resp),
			 "s=v; Max-Age=60; Domain=example.com; Path=/app; SameSite=strict");
}

Test(resp, deleting_a_cookie_sends_max_age_zero_and_an_old_expiry)
{
	struct pc_cookie c = { .name = "fastapiusersauth", .value = "", .max_age = 0,
			       .samesite = "lax", .secure = true, .httponly = true };

	cr_assert_eq(resp_cookie_set(&x->resp, &c), PC_OK);
	cr_assert_str_eq(set_cookie_of(&x->resp),
			 "fastapiusersauth=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
			 "Path=/; SameSite=lax; Secure; HttpOnly");
}

Test(resp, cookies_that_could_smuggle_attributes_are_refused)
{
	const char *bad_values[] = { "a;b", "a b", "a,b", "a\r\nX: y", "a\"b", "caf\xc3\xa9",
				     "a\\b" };
	const char *bad_names[] = { "", "a b", "a;b", "a=b", "a\x01" };
	struct pc_cookie c = { .name = "n", .value = "v", .max_age = 1 };
	size_t i;

	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		c.value = bad_values[i];
		cr_assert_eq(resp_cookie_set(&x->resp, &c), PC_EINVAL, "value %zu", i);
	}
	c.value = "v";
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		c.name = bad_names[i];
		cr_assert_eq(resp_cookie_set(&x->resp, &c), PC_EINVAL, "name %zu", i);
	}
	c.name = "n";
	c.domain = "a.com; Secure";
	cr_assert_eq(resp_cookie_set(&x->resp, &c), PC_EINVAL);
	c.domain = NULL;
	c.samesite = "sometimes";
	cr_assert_eq(resp_cookie_set(&x->resp, &c), PC_EINVAL);
	c.samesite = NULL;
	c.max_age = -1;
	cr_assert_eq(resp_cookie_set(&x->resp, &c), PC_EINVAL);
	cr_assert_null(x->resp.headers);
}

Test(resp, headers_are_appended_in_order_and_cannot_be_split)
{
	char stackval[8] = "v1";

	cr_assert_eq(resp_header_add(&x->resp, "X-A", stackval), PC_OK);
	stackval[1] = '9'; /* the arena holds a copy */
	cr_assert_eq(resp_header_add(&x->resp, "X-B", "v2"), PC_OK);
	cr_assert_eq(resp_header_add(&x->resp, "X-C", "v\r\nSet-Cookie: a=b"), PC_EINVAL);
	cr_assert_eq(resp_header_add(&x->resp, "X C", "v"), PC_EINVAL);
	cr_assert_eq(resp_header_add(&x->resp, "X-D:", "v"), PC_EINVAL);
	cr_assert_str_eq(x->resp.headers->name, "X-A");
	cr_assert_str_eq(x->resp.headers->value, "v1");
	cr_assert_str_eq(x->resp.headers->next->name, "X-B");
	cr_assert_null(x->resp.headers->next->next);
	cr_assert(http_resp_has_header(&x->resp, "x-b"));
	cr_assert_not(http_resp_has_header(&x->resp, "x-c"));
}

Test(resp, json_bodies_are_compact_and_keep_key_order)
{
	json_t *j = req_json_keep(&x->req, json_pack("{s:s, s:i, s:[b]}", "detail", "caf\xc3\xa9/x",
							 "n", 1, "l", 1));

	cr_assert_eq(resp_json(&x->resp, 400, j), PC_OK);
	cr_assert_eq(x->resp.status, 400);
	cr_assert_str_eq(x->resp.content_type, "application/json");
	cr_assert_str_eq(x->resp.body, "{\"detail\":\"caf\xc3\xa9/x\",\"n\":1,\"l\":[true]}");
	cr_assert_eq(x->resp.body_len, strlen(x->resp.body));
	cr_assert_eq(resp_json(&x->resp, 200, NULL), PC_ENOMEM);
	cr_assert_eq(x->resp.status, 400);
}

Test(resp, large_json_bodies_grow_in_the_arena)
{
	json_t *a = req_json_keep(&x->req, json_array());
	int i;

	for (i = 0; i < 2000; i++)
		json_array_append_new(a, json_string("0123456789"));
	cr_assert_eq(resp_json(&x->resp, 200, a), PC_OK);
	cr_assert_eq(x->resp.body_len, 2 + 2000 * 12 + 1999);
	cr_assert_eq(x->resp.body[x->resp.body_len], '\0');
}

Test(resp, a_bare_status_clears_the_body)
{
	json_t *j = req_json_keep(&x->req, json_object());

	cr_assert_eq(resp_json(&x->resp, 200, j), PC_OK);
	cr_assert_eq(resp_status(&x->resp, 204), PC_OK);
	cr_assert_eq(x->resp.status, 204);
	cr_assert_null(x->resp.body);
	cr_assert_null(x->resp.content_type);
	cr_assert_eq(resp_status(&x->resp, 42), PC_EINVAL);
}

/* ---- JSON bodies --------------------------------------------------------------------------- */

static enum pc_err json_body(const char *ctype, const char *body)
{
	memset(&x->req.errinfo, 0, sizeof(x->req.errinfo));
	body_set(body, strlen(body));
	return http_body_json(&x->req, ctype);
}

static void assert_ei(const char *field, enum pc_verr code)
{
	cr_assert_str_eq(x->req.errinfo.where, "body");
	cr_assert_str_eq(x->req.errinfo.field, field);
	cr_assert_eq(x->req.errinfo.code, code, "%s", pc_verr_name(x->req.errinfo.code));
}

Test(json, an_object_body_is_parsed_and_kept)
{
	cr_assert_eq(json_body("application/json", "{\"email\": \"a@b.io\"}"), PC_OK);
	cr_assert(json_is_object(x->req.json));
	cr_assert_eq(json_body("application/json; charset=utf-8", "{}"), PC_OK);
	cr_assert_eq(json_body("application/merge-patch+json", "{}"), PC_OK);
	cr_assert_eq(json_body(NULL, "{}"), PC_OK); /* FastAPI parses a body without a type */
}

Test(json, malformed_json_is_json_invalid)
{
	const char *bad[] = { "{", "{\"a\":}", "{} x", "{\"a\":1,\"a\":2}",
			      "{\"a\":\"\xff\"}", "{\"a\":\"\xed\xa0\x80\"}" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(json_body("application/json", bad[i]), PC_EINVAL, "%zu", i);
		assert_ei("", PC_V_JSON_INVALID);
		cr_assert_null(x->req.json);
	}
}

Test(json, an_escaped_nul_parses_but_is_refused_on_its_field)
{
	const char *v = "unset";

	cr_assert_eq(json_body("application/json", "{\"email\":\"a\\u0000@b.io\"}"), PC_OK);
	cr_assert_eq(req_json_str(&x->req, "email", true, &v), PC_EINVAL);
	cr_expect_null(v, "no truncated prefix is handed out");
	cr_expect_str_eq(x->req.errinfo.field, "email");
	cr_expect_eq(x->req.errinfo.code, PC_V_NUL_CHAR);
}

Test(json, a_body_that_is_not_an_object_is_an_object_type_error)
{
	cr_assert_eq(json_body("application/json", "[1]"), PC_EINVAL);
	assert_ei("", PC_V_OBJECT_TYPE);
	cr_assert_eq(json_body("application/json", "\"s\""), PC_EINVAL);
	assert_ei("", PC_V_OBJECT_TYPE);
	cr_assert_eq(json_body("text/plain", "{\"a\":1}"), PC_EINVAL);
	assert_ei("", PC_V_OBJECT_TYPE);
	cr_assert_eq(json_body("application/x-www-form-urlencoded", "a=1"), PC_EINVAL);
	assert_ei("", PC_V_OBJECT_TYPE);
	cr_assert_null(x->req.json);
}

Test(json, an_empty_body_is_missing)
{
	cr_assert_eq(json_body("application/json", ""), PC_EINVAL);
	assert_ei("", PC_V_MISSING);
}

Test(json, json_str_reports_missing_and_wrong_types_like_pydantic)
{
	const char *s = "unchanged";

	cr_assert_eq(json_body("application/json",
			       "{\"email\":\"a@b.io\",\"n\":1,\"z\":null,\"o\":{}}"), PC_OK);
	cr_assert_eq(req_json_str(&x->req, "email", true, &s), PC_OK);
	cr_assert_str_eq(s, "a@b.io");

	cr_assert_eq(req_json_str(&x->req, "password", true, &s), PC_EINVAL);
	cr_assert_null(s);
	assert_ei("password", PC_V_MISSING);

	cr_assert_eq(req_json_str(&x->req, "n", false, &s), PC_EINVAL);
	assert_ei("n", PC_V_STRING_TYPE);
	cr_assert_eq(req_json_str(&x->req, "o", true, &s), PC_EINVAL);
	assert_ei("o", PC_V_STRING_TYPE);

	cr_assert_eq(req_json_str(&x->req, "username", false, &s), PC_OK);
	cr_assert_null(s);
	cr_assert_eq(req_json_str(&x->req, "z", false, &s), PC_OK);
	cr_assert_null(s);
	cr_assert_eq(req_json_str(&x->req, "z", true, &s), PC_EINVAL);
	assert_ei("z", PC_V_STRING_TYPE);
}

Test(json, json_bool_accepts_pydantic_lax_booleans)
{
	int v = 7;

	cr_assert_eq(json_body("application/json",
			       "{\"t\":true,\"f\":false,\"z\":null,\"one\":1,\"zero\":0.0,"
			       "\"yes\":\"YES\",\"off\":\"off\"}"), PC_OK);
	cr_assert_eq(req_json_bool(&x->req, "t", &v), PC_OK);
	cr_assert_eq(v, 1);
	cr_assert_eq(req_json_bool(&x->req, "f", &v), PC_OK);
	cr_assert_eq(v, 0);
	cr_assert_eq(req_json_bool(&x->req, "z", &v), PC_OK);
	cr_assert_eq(v, PC_UNSET);
	cr_assert_eq(req_json_bool(&x->req, "absent", &v), PC_OK);
	cr_assert_eq(v, PC_UNSET);
	cr_assert_eq(req_json_bool(&x->req, "one", &v), PC_OK);
	cr_assert_eq(v, 1);
	cr_assert_eq(req_json_bool(&x->req, "zero", &v), PC_OK);
	cr_assert_eq(v, 0);
	cr_assert_eq(req_json_bool(&x->req, "yes", &v), PC_OK);
	cr_assert_eq(v, 1);
	cr_assert_eq(req_json_bool(&x->req, "off", &v), PC_OK);
	cr_assert_eq(v, 0);
}

Test(json, json_bool_reports_wrong_types)
{
	int v = 7;

	cr_assert_eq(json_body("application/json", "{\"a\":[],\"b\":{},\"c\":\"maybe\",\"d\":2}"),
		     PC_OK);
	cr_assert_eq(req_json_bool(&x->req, "a", &v), PC_EINVAL);
	assert_ei("a", PC_V_BOOL_TYPE);
	cr_assert_eq(req_json_bool(&x->req, "b", &v), PC_EINVAL);
	assert_ei("b", PC_V_BOOL_TYPE);
	cr_assert_eq(req_json_bool(&x->req, "c", &v), PC_EINVAL);
	assert_ei("c", PC_V_BOOL_PARSING);
	cr_assert_eq(req_json_bool(&x->req, "d", &v), PC_EINVAL);
	assert_ei("d", PC_V_BOOL_PARSING);
	cr_assert_eq(v, PC_UNSET);
}

Test(json, without_a_server_headers_and_query_are_absent)
{
	cr_assert_null(req_header_get(&x->req, "Cookie"));
	cr_assert_null(req_cookie_get(&x->req, "a"));
	cr_assert_null(req_query_get(&x->req, "a"));
}

/* ---- the JSON writer against jansson ------------------------------------------------ */

Test(resp, the_json_writer_writes_what_jansson_writes)
{
	static const char *const values[] = {
		"", "plain", "quote \" and backslash \\", "slash / stays",
		"\b\f\n\r\t", "\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x94\x91",
		"<script>&'", "a@example.com",
	};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct pc_jw w;
		json_t *j = json_pack("{s:s, s:b, s:b, s:s}", "k", values[i], "t", 1, "f", 0,
				      values[i], "v");
		char *want = json_dumps(j, JSON_COMPACT);

		cr_assert_not_null(want);
		jw_init(&w, arena);
		jw_str(&w, "k", values[i]);
		jw_bool(&w, "t", true);
		jw_bool(&w, "f", false);
		jw_str(&w, values[i], "v");
		cr_assert_eq(resp_jw(&x->resp, 200, &w), PC_OK);
		cr_expect_eq(x->resp.body_len, strlen(want), "value %zu", i);
		cr_expect_str_eq(x->resp.body, want, "value %zu", i);
		cr_expect_eq(x->resp.status, 200);
		cr_expect_str_eq(x->resp.content_type, "application/json");
		free(want);
		json_decref(j);
	}
}

Test(resp, the_json_writer_escapes_each_ascii_byte_wherever_it_sits_in_a_long_value)
{
	char v[32];

	/* the plain bytes around it go eight at a time (text_plain_run) */
	for (int c = 1; c < 0x80; c++) {
		for (size_t at = 0; at < sizeof(v) - 1; at += 5) {
			struct pc_jw w;
			json_t *j;
			char *want;

			memset(v, 'a', sizeof(v) - 1);
			v[sizeof(v) - 1] = '\0';
			v[at] = (char)c;
			j = json_pack("{s:s}", "k", v);
			want = json_dumps(j, JSON_COMPACT);
			cr_assert_not_null(want);
			jw_init(&w, arena);
			jw_str(&w, "k", v);
			cr_assert_eq(resp_jw(&x->resp, 200, &w), PC_OK);
			cr_expect_str_eq(x->resp.body, want, "byte 0x%02x at %zu", c, at);
			free(want);
			json_decref(j);
		}
	}
}

Test(resp, the_json_writer_grows_past_its_first_buffer)
{
	char big[3000];
	struct pc_jw w;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[100] = '"';
	jw_init(&w, arena);
	jw_str(&w, "big", big);
	cr_assert_eq(resp_jw(&x->resp, 201, &w), PC_OK);
	cr_expect_eq(x->resp.body_len, sizeof(big) - 1 + 1 + 10);
	cr_expect_eq(strncmp(x->resp.body, "{\"big\":\"xxx", 11), 0);
	cr_expect_str_eq(x->resp.body + x->resp.body_len - 3, "x\"}");
}

/* ---- the access log line: written without printf, read as printf wrote it ------- */

/* The line as http_access_log_format wrote it with snprintf (method, path
 * and user escaped the same way), cut to size the same way. */
static size_t ref_access_line(const struct http_exchange *e, bool json, char *line, size_t size)
{
	const struct pc_req *r = &e->req;
	char ts[LOG_TS_MAX], method[64], path[256 * 6 + 1], user[3 * (PC_ID_LEN + 1) + 3];
	int64_t dur = e->t1_us - e->t0_us;
	int n;

	log_timestamp(ts);
	log_escape(method, sizeof(method), r->method, strnlen(r->method, 16), NULL);
	log_escape(path, sizeof(path), r->path, strnlen(r->path, 256), NULL);
	if (r->user != NULL) {
		n = (int)log_escape(user + (json ? 1 : 0), sizeof(user) - 2, r->user->id,
				    strnlen(r->user->id, PC_ID_LEN), NULL);
		if (json) {
			user[0] = '"';
			user[n + 1] = '"';
			user[n + 2] = '\0';
		}
	} else {
		snprintf(user, sizeof(user), "%s", json ? "null" : "-");
	}
	if (json)
		n = snprintf(line, size,
			     "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"request\",\"rid\":\"%s\","
			     "\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"dur_ms\":%lld.%03lld,"
			     "\"ip\":\"%s\",\"user\":%s}\n",
			     ts, r->request_id, method, path, e->sent_status, (long long)(dur / 1000),
			     (long long)(dur % 1000), e->ip, user);
	else
		n = snprintf(line, size,
			     "%s info  access: %s %s %d %lld.%03lldms rid=%s ip=%s user=%s\n", ts,
			     method, path, e->sent_status, (long long)(dur / 1000),
			     (long long)(dur % 1000), r->request_id, e->ip, user);
	if ((size_t)n >= size) {
		line[size - 2] = '\n';
		return size - 1;
	}
	return (size_t)n;
}

static void access_same(bool json)
{
	char got[4096], want[4096], again[4096];
	size_t full = 0;

	for (size_t size = 2; size <= sizeof(got) && (full == 0 || size <= full + 3); size++) {
		size_t g, w;

		do { /* the timestamp's millisecond may turn between the two */
			ref_access_line(x, json, want, size);
			memset(got, 'Z', sizeof(got));
			g = http_access_log_format(x, json ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT, got,
						   size);
			w = ref_access_line(x, json, again, size);
		} while (strcmp(want, again) != 0);
		cr_assert_eq(g, w, "length at size %zu", size);
		cr_assert_str_eq(got, want, "size %zu", size);
		cr_assert_eq(got[w - 1], '\n', "one line, size %zu", size);
		if (size < sizeof(got))
			cr_assert_eq(got[size], 'Z', "nothing past the buffer, size %zu", size);
		if (w < size - 1 && full == 0)
			full = w;
	}
	cr_assert_gt(full, 0);
}

Test(resp, the_access_log_line_reads_as_printf_wrote_it)
{
	static struct pc_user u;
	static const struct {
		const char *method, *path, *ip;
		int status;
		int64_t dur;
		bool user;
	} cases[] = {
		{ "GET", "/users/me", "127.0.0.1", 200, 1234, true },
		{ "POST", "/auth/login", "::1", 422, 0, false },
		{ "PATCH", "/a\"b\\c\n\x01\xff", "2001:db8::1", 503, 999, true },
		{ "GE\x01T", "/", "", 0, 1000, false },
		{ "DELETE", "/x", "10.0.0.1", 404, INT64_C(123456789012), true },
		{ "VERYLONGMETHODNAMEOVER16", "/p", "1.2.3.4", 999, 7, false },
	};

	memcpy(u.id, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", PC_ID_LEN);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		x->req.method = cases[i].method;
		x->req.path = cases[i].path;
		snprintf(x->ip, sizeof(x->ip), "%s", cases[i].ip);
		snprintf(x->req.request_id, sizeof(x->req.request_id), "rid-%zu", i);
		x->sent_status = cases[i].status;
		x->t0_us = 1000000;
		x->t1_us = 1000000 + cases[i].dur;
		x->req.user = cases[i].user ? &u : NULL;
		access_same(true);
		access_same(false);
	}
	/* a long path: the first 256 bytes, escaped */
	{
		char path[1000];

		memset(path, '\x01', sizeof(path) - 1);
		path[sizeof(path) - 1] = '\0';
		x->req.path = path;
		access_same(true);
		access_same(false);
	}
}

Test(resp, the_json_writer_escapes_every_byte_as_jansson_and_passes_the_rest)
{
	static const char hex[] = "0123456789ABCDEF";

	for (int c = 1; c < 256; c++) {
		char in[4] = { 'a', (char)c, 'b', '\0' }, want[32];
		struct pc_jw w;

		if (c == '"' || c == '\\')
			snprintf(want, sizeof(want), "{\"k\":\"a\\%cb\"}", c);
		else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
			snprintf(want, sizeof(want), "{\"k\":\"a\\%cb\"}",
				 c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		else if (c < 0x20)
			snprintf(want, sizeof(want), "{\"k\":\"a\\u00%c%cb\"}", hex[c >> 4], hex[c & 15]);
		else /* 0x7f and every byte >= 0x80, valid UTF-8 or not, as it is */
			snprintf(want, sizeof(want), "{\"k\":\"a%cb\"}", c);
		jw_init(&w, arena);
		jw_str(&w, "k", in);
		cr_assert_eq(resp_jw(&x->resp, 200, &w), PC_OK);
		cr_assert_str_eq(x->resp.body, want, "byte %d", c);
		cr_assert_eq(x->resp.body_len, strlen(want), "byte %d", c);
	}
}

Test(resp, the_json_writer_fills_its_buffer_exactly_and_grows_on_the_next_byte)
{
	/* values around the first buffer's size, ending on an escape or not */
	for (size_t n = 230; n < 270; n++) {
		char v[300];
		struct pc_jw w;
		json_t *j;
		char *want;

		memset(v, 'v', n);
		v[n] = '\0';
		if (n % 2 == 0)
			v[n - 1] = '\n';
		if (n % 3 == 0)
			v[n - 2] = '\x01';
		j = json_pack("{s:s, s:b}", "k", v, "t", 1);
		want = json_dumps(j, JSON_COMPACT);
		jw_init(&w, arena);
		jw_str(&w, "k", v);
		jw_bool(&w, "t", true);
		cr_assert_eq(resp_jw(&x->resp, 200, &w), PC_OK);
		cr_assert_str_eq(x->resp.body, want, "length %zu", n);
		cr_assert_eq(x->resp.body_len, strlen(want));
		free(want);
		json_decref(j);
	}
}

Test(text, made_request_ids_are_the_thread_prefix_then_the_counter_in_hex)
{
	struct pc_req a, b;
	unsigned char bytes[16];
	uint64_t sa, sb;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	http_request_id_set(&a, NULL);
	http_request_id_set(&b, NULL);
	cr_assert_eq(strlen(a.request_id), 32);
	cr_assert_eq(strspn(b.request_id, "0123456789abcdef"), 32);
	cr_assert_eq(memcmp(a.request_id, b.request_id, 16), 0, "one prefix a thread");
	/* the 16 bytes prefix then counter, as crypto_hex_encode writes them */
	for (int i = 0; i < 16; i++) {
		unsigned hi = (unsigned)ascii_hex_value(b.request_id[2 * i]);
		unsigned lo = (unsigned)ascii_hex_value(b.request_id[2 * i + 1]);

		bytes[i] = (unsigned char)(hi << 4 | lo);
	}
	memcpy(&sb, bytes + 8, 8);
	for (int i = 0; i < 8; i++) {
		unsigned hi = (unsigned)ascii_hex_value(a.request_id[16 + 2 * i]);
		unsigned lo = (unsigned)ascii_hex_value(a.request_id[16 + 2 * i + 1]);

		bytes[8 + i] = (unsigned char)(hi << 4 | lo);
	}
	memcpy(&sa, bytes + 8, 8);
	cr_assert_eq(sb, sa + 1, "the counter counts");
}
