/*
 * test_log.c - the log's records (base/log.c): JSON and text shapes,
 * escaping (controls, quotes, invalid UTF-8), the cut of a record too long
 * for its buffer, levels, and the password hidden in a database URL.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "base/base.h"

static size_t rec(char *buf, size_t size, enum log_format fmt, const char *msg,
		  const struct log_field *f, size_t n)
{
	size_t len = log_format_record(buf, size, fmt, LOG_LEVEL_WARN, "mail", f, n, msg);

	cr_assert_eq(len, strlen(buf));
	cr_assert(len > 0 && buf[len - 1] == '\n');
	cr_assert_null(memchr(buf, '\n', len - 1), "one line: %s", buf);
	return len;
}

Test(log, a_json_record_holds_ts_level_component_msg_and_typed_fields)
{
	char buf[512];
	const struct log_field f[] = {
		LOG_INT("outbox_id", 42), LOG_STR("error", "smtp: \"no\"\r\n"),
		LOG_BOOL("final", true), LOG_STR("user", NULL),
	};

	json_t *j;

	rec(buf, sizeof(buf), LOG_FORMAT_JSON, "attempt failed\n", LOG_FIELDS(f));
	j = json_loads(buf, 0, NULL);
	cr_assert_not_null(j, "%s", buf);
	json_decref(j);
	cr_assert(strncmp(buf, "{\"ts\":\"", 7) == 0, "%s", buf);
	cr_assert(buf[30] == 'Z' && buf[31] == '"', "%s", buf);
	cr_assert_str_eq(buf + 32,
			 ",\"level\":\"warn\",\"component\":\"mail\",\"msg\":\"attempt failed\","
			 "\"outbox_id\":42,\"error\":\"smtp: \\\"no\\\"\\r\\n\",\"final\":true,"
			 "\"user\":null}\n");
}

Test(log, a_text_record_is_one_readable_line_with_key_value_fields)
{
	char buf[512];
	const struct log_field f[] = {
		LOG_INT("outbox_id", 7), LOG_STR("kind", "mail"), LOG_STR("error", "a b\nc"),
	};

	rec(buf, sizeof(buf), LOG_FORMAT_TEXT, "attempt", LOG_FIELDS(f));
	cr_assert_str_eq(buf + 24, " warn  mail: attempt outbox_id=7 kind=mail error=\"a b\\nc\"\n",
			 "%s", buf);
}

Test(log, escaping_keeps_utf8_and_replaces_what_is_not)
{
	char out[64];
	bool cut = false;

	log_escape(out, sizeof(out), "caf\xc3\xa9 \x01\x7f", 8, &cut);
	cr_assert_str_eq(out, "caf\xc3\xa9 \\u0001\\u007f");
	log_escape(out, sizeof(out), "\xff\xc3(\xed\xa0\x80\xe0\x80\x80", 9, &cut);
	cr_assert_str_eq(out, "\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd");
	cr_assert_not(cut);
	/* no escape and no character is split at the end */
	cr_assert_eq(log_escape(out, 8, "\x01\xc3\xa9", 3, &cut), 6);
	cr_assert_str_eq(out, "\\u0001");
	cr_assert(cut);
}

Test(log, escaping_finds_each_byte_to_escape_wherever_it_sits_in_a_long_field)
{
	/* the plain bytes around it go eight at a time (text_plain_run) */
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "\x01", "\\u0001" }, { "\n", "\\n" }, { "\"", "\\\"" }, { "\\", "\\\\" },
		{ "\x7f", "\\u007f" }, { "\xff", "\\ufffd" }, { "\xc3\xa9", "\xc3\xa9" },
	};
	char in[40], want[80], out[128];

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		size_t n = strlen(cases[k].in);

		for (size_t at = 0; at + n <= 24; at++) {
			memset(in, 'a', 24);
			memcpy(in + at, cases[k].in, n);
			memset(want, 'a', at);
			snprintf(want + at, sizeof(want) - at, "%s%.*s", cases[k].out,
				 (int)(24 - at - n), "aaaaaaaaaaaaaaaaaaaaaaaa");
			log_escape(out, sizeof(out), in, 24, NULL);
			cr_expect_str_eq(out, want, "case %zu at %zu", k, at);
		}
	}
}

Test(log, a_record_too_long_is_cut_and_stays_one_valid_line)
{
	char buf[200], big[1000];
	const struct log_field f[] = { LOG_STR("mail", big), LOG_INT("outbox_id", 3) };
	size_t len;

	json_error_t jerr;
	json_t *j;

	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* cut inside a string value, inside a key, inside the msg: valid JSON each time */
	for (size_t size = 120; size <= sizeof(buf); size += 7) {
		len = rec(buf, size, LOG_FORMAT_JSON, "a message", LOG_FIELDS(f));
		cr_assert(len < size);
		j = json_loads(buf, 0, &jerr);
		cr_assert_not_null(j, "%zu: %s: %s", size, jerr.text, buf);
		cr_assert(json_is_true(json_object_get(j, "truncated")), "%s", buf);
		json_decref(j);
	}
	len = rec(buf, sizeof(buf), LOG_FORMAT_JSON, big, NULL, 0);
	j = json_loads(buf, 0, &jerr);
	cr_assert_not_null(j, "%s: %s", jerr.text, buf);
	json_decref(j);
	len = rec(buf, sizeof(buf), LOG_FORMAT_TEXT, "x", LOG_FIELDS(f));
	cr_assert(strstr(buf, " [truncated]\n") != NULL, "%s", buf);
}

Test(log, levels_and_formats_parse_by_name_only)
{
	enum log_level lv;
	enum log_format fmt;

	cr_assert(log_level_parse("warn", &lv) && lv == LOG_LEVEL_WARN);
	cr_assert(log_level_parse("debug", &lv) && lv == LOG_LEVEL_DEBUG);
	cr_assert_not(log_level_parse("WARN", &lv));
	cr_assert_not(log_level_parse("warning", &lv));
	cr_assert(log_format_parse("text", &fmt) && fmt == LOG_FORMAT_TEXT);
	cr_assert(log_format_parse("auto", &fmt) && fmt == LOG_FORMAT_AUTO);
	cr_assert_not(log_format_parse("xml", &fmt));
}

Test(log, the_minimum_level_filters)
{
	char why[64];

	cr_assert_eq(log_configure(LOG_LEVEL_WARN, LOG_FORMAT_JSON, NULL, why, sizeof(why)), PC_OK);
	cr_assert_not(log_enabled(LOG_LEVEL_INFO));
	cr_assert(log_enabled(LOG_LEVEL_WARN) && log_enabled(LOG_LEVEL_ERROR));
	cr_assert_eq(log_format_get(), LOG_FORMAT_JSON);
	cr_assert_eq(log_configure(LOG_LEVEL_INFO, LOG_FORMAT_JSON, "/no/such/dir/x.log", why,
				   sizeof(why)), PC_EINVAL);
	cr_assert(strstr(why, "/no/such/dir/x.log") != NULL, "%s", why);
}

static void redacted(const char *url, const char *want)
{
	char out[256];

	log_redact_url(url, out, sizeof(out));
	cr_assert_str_eq(out, want);
}

Test(log, the_password_of_a_database_url_is_hidden)
{
	redacted("postgres://portcullis:s3cret@127.0.0.1:5432/db",
		 "postgres://portcullis:***@127.0.0.1:5432/db");
	redacted("postgresql://u:p%40ss:w@h/db?sslmode=require",
		 "postgresql://u:***@h/db?sslmode=require");
	redacted("postgres://h/db?sslmode=require&password=s3cret&user=u",
		 "postgres://h/db?sslmode=require&password=***&user=u");
	redacted("postgres://h/db?password=s3cret", "postgres://h/db?password=***");
	/* no password: unchanged */
	redacted("postgres://u@h/db", "postgres://u@h/db");
	redacted("sqlite:///var/lib/portcullis/p.db", "sqlite:///var/lib/portcullis/p.db");
	redacted("sqlite:///a@b:c.db", "sqlite:///a@b:c.db");
}

Test(log, a_redacted_url_is_cut_to_its_buffer)
{
	char out[12], out16[16];

	log_redact_url("postgres://u:secret@host/db", out, sizeof(out));
	cr_assert_str_eq(out, "postgres://");
	log_redact_url("postgres://u:secret@host/db", out16, sizeof(out16));
	cr_assert_str_eq(out16, "postgres://u:**");
}

/* ---- log_escape: its fast path for plain runs against a byte-by-byte reference ---- */

/* The escaper byte by byte, as it was before runs of plain bytes were copied
 * whole: what log_escape must still write, cut included. */
static size_t ref_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

static size_t ref_escape(char *dst, size_t dstsz, const char *s, size_t n, bool *cut)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	if (dstsz == 0)
		return 0;
	while (i < n) {
		unsigned char c = u[i];
		char tmp[8];
		size_t k = 1, w;

		if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') {
			tmp[0] = '\\';
			tmp[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : (char)c;
			w = 2;
		} else if (c < 0x20 || c == 0x7F) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			w = 6;
		} else {
			k = ref_utf8_len(u + i, n - i);
			if (k == 0) {
				memcpy(tmp, "\\ufffd", 6);
				w = 6;
				k = 1;
			} else {
				memcpy(tmp, u + i, k);
				w = k;
			}
		}
		if (o + w >= dstsz) {
			*cut = true;
			break;
		}
		memcpy(dst + o, tmp, w);
		o += w;
		i += k;
	}
	dst[o] = '\0';
	return o;
}

static void escape_same(const char *s, size_t n)
{
	char got[200], want[200];

	for (size_t size = 1; size <= sizeof(got); size++) {
		bool gcut = false, wcut = false;
		size_t g, w;

		memset(got, 'Z', sizeof(got));
		g = log_escape(got, size, s, n, &gcut);
		w = ref_escape(want, size, s, n, &wcut);
		cr_assert_eq(g, w, "length, size %zu", size);
		cr_assert_eq(memcmp(got, want, w + 1), 0, "text, size %zu: %s / %s", size, got, want);
		cr_assert_eq(gcut, wcut, "cut, size %zu", size);
		if (size < sizeof(got))
			cr_assert_eq(got[size], 'Z', "nothing past the buffer, size %zu", size);
	}
}

Test(log, every_byte_alone_escapes_as_before)
{
	for (int c = 0; c < 256; c++) {
		char one = (char)c;

		escape_same(&one, 1);
	}
	/* and every control byte in a plain run's middle */
	for (int c = 0; c < 0x20; c++) {
		char s[] = "abcdefgh?ijklmnop";

		s[8] = (char)c;
		escape_same(s, sizeof(s) - 1);
	}
}

Test(log, plain_runs_are_cut_where_the_buffer_ends)
{
	static const char *const cases[] = {
		"/users/me", "/a\"b\\c\n\x01\xff", "caf\xc3\xa9 \x7f plain \xed\xa0\x80 tail",
		"\xf0\x9f\x94\x91\xf4\x90\x80\x80\xe0\x80\x80 x", "GET", "", "a\tb\rc",
		"0123456789012345678901234567890123456789012345678901234567890123456789",
	};
	char exact[10];
	bool cut = false;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		escape_same(cases[i], strlen(cases[i]));
	/* a plain run that fills the buffer exactly (NUL included) is whole */
	cr_assert_eq(log_escape(exact, sizeof(exact), "123456789", 9, &cut), 9);
	cr_assert_str_eq(exact, "123456789");
	cr_assert_not(cut);
	cr_assert_eq(log_escape(exact, sizeof(exact), "1234567890", 10, &cut), 9);
	cr_assert_str_eq(exact, "123456789");
	cr_assert(cut);
}
