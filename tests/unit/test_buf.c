/*
 * test_buf.c - the bounded buffer: termination, growth, the maximum.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/core.h"

Test(buf, init_leaves_data_null_and_first_add_terminates)
{
	struct pc_buf b;

	buf_init(&b, 100);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.max, 100);
	cr_assert_eq(buf_add(&b, "", 0), PC_OK);
	cr_assert_not_null(b.data);
	cr_assert_str_eq(b.data, "");
	buf_release(&b);
}

Test(buf, adds_append_and_stay_nul_terminated)
{
	struct pc_buf b;

	buf_init(&b, 1000);
	cr_assert_eq(buf_addstr(&b, "hello"), PC_OK);
	cr_assert_eq(buf_add(&b, ", world!!!", 7), PC_OK);
	cr_assert_eq(buf_printf(&b, " %d-%s", 42, "x"), PC_OK);
	cr_assert_str_eq(b.data, "hello, world 42-x");
	cr_assert_eq(b.len, strlen("hello, world 42-x"));
	buf_release(&b);
}

Test(buf, grows_geometrically_over_many_adds)
{
	struct pc_buf b;
	size_t i, grows = 0, cap = 0;

	buf_init(&b, 1 << 20);
	for (i = 0; i < 100000; i++) {
		cr_assert_eq(buf_add(&b, "ab", 2), PC_OK);
		if (b.cap != cap) {
			grows++;
			cap = b.cap;
		}
	}
	cr_assert_eq(b.len, 200000);
	cr_assert_lt(grows, 20, "grew %zu times", grows);
	cr_assert_eq(b.data[b.len], '\0');
	cr_assert_eq(memcmp(b.data + 199998, "ab", 2), 0);
	buf_release(&b);
}

Test(buf, reaching_max_exactly_is_allowed_and_cap_stays_within_max_plus_one)
{
	struct pc_buf b;
	char chunk[10];

	memset(chunk, 'z', sizeof(chunk));
	buf_init(&b, 100);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(buf_add(&b, chunk, 10), PC_OK);
	cr_assert_eq(b.len, 100);
	cr_assert_leq(b.cap, 101);
	cr_assert_eq(b.data[100], '\0');
	buf_release(&b);
}

Test(buf, an_add_past_max_fails_and_leaves_the_buffer_unchanged)
{
	struct pc_buf b;
	char *data;
	size_t cap;

	buf_init(&b, 10);
	cr_assert_eq(buf_addstr(&b, "12345678"), PC_OK);
	data = b.data;
	cap = b.cap;
	cr_assert_eq(buf_addstr(&b, "abc"), PC_ETOOBIG);
	cr_assert_eq(buf_printf(&b, "%s", "abc"), PC_ETOOBIG);
	cr_assert_eq(b.len, 8);
	cr_assert_eq(b.data, data);
	cr_assert_eq(b.cap, cap);
	cr_assert_str_eq(b.data, "12345678");
	cr_assert_eq(buf_addstr(&b, "90"), PC_OK);
	cr_assert_str_eq(b.data, "1234567890");
	cr_assert_eq(buf_add(&b, "x", 1), PC_ETOOBIG);
	buf_release(&b);
}

Test(buf, a_huge_add_on_an_empty_buffer_is_too_big)
{
	struct pc_buf b;

	buf_init(&b, 16);
	cr_assert_eq(buf_add(&b, "x", SIZE_MAX), PC_ETOOBIG);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
}

Test(buf, a_zero_max_accepts_only_empty_adds)
{
	struct pc_buf b;

	buf_init(&b, 0);
	cr_assert_eq(buf_add(&b, "a", 1), PC_ETOOBIG);
	cr_assert_eq(buf_add(&b, "", 0), PC_OK);
	cr_assert_str_eq(b.data, "");
	buf_release(&b);
}

Test(buf, reset_keeps_memory_and_release_allows_reuse)
{
	struct pc_buf b;
	char *data;

	buf_init(&b, 64);
	cr_assert_eq(buf_addstr(&b, "secret password"), PC_OK);
	data = b.data;
	buf_reset(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.data, data);
	cr_assert_str_eq(b.data, "");
	cr_assert_eq(buf_addstr(&b, "again"), PC_OK);
	cr_assert_str_eq(b.data, "again");
	buf_release(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(buf_addstr(&b, "reused"), PC_OK);
	cr_assert_str_eq(b.data, "reused");
	buf_release(&b);
}

/* ---- numbers as text ------------------------------------------------------------ */

Test(text, signed_numbers_read_as_printf_writes_them)
{
	static const int64_t v[] = { 0, 1, -1, 9, 10, -10, 99, 100, 1000, -999, 123456789,
				     INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1,
				     INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1 };
	char got[TEXT_INT_MAX], want[64];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = text_i64(got, v[i]);

		snprintf(want, sizeof(want), "%" PRId64, v[i]);
		cr_expect_str_eq(got, want);
		cr_expect_eq(n, strlen(want), "%s", want);
	}
	/* the longest fills the buffer exactly, NUL included */
	cr_assert_eq(text_i64(got, INT64_MIN), TEXT_INT_MAX - 1);
}

Test(text, unsigned_numbers_read_as_printf_writes_them)
{
	static const uint64_t v[] = { 0, 1, 9, 10, 19, 20, 1000000, UINT32_MAX,
				      (uint64_t)INT64_MAX + 1, UINT64_MAX - 1, UINT64_MAX };
	char got[TEXT_INT_MAX], want[64];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = text_u64(got, v[i]);

		snprintf(want, sizeof(want), "%" PRIu64, v[i]);
		cr_expect_str_eq(got, want);
		cr_expect_eq(n, strlen(want), "%s", want);
	}
	cr_assert_eq(text_u64(got, UINT64_MAX), 20);
	for (uint64_t p = 1, d = 1; d <= 19; p *= 10, d++) { /* every power of ten and one less */
		snprintf(want, sizeof(want), "%" PRIu64, p);
		text_u64(got, p);
		cr_expect_str_eq(got, want);
		snprintf(want, sizeof(want), "%" PRIu64, p - 1);
		text_u64(got, p - 1);
		cr_expect_str_eq(got, want);
	}
}

/* ---- plain runs ------------------------------------------------------------------- */

/* What text_plain_run must find, a byte at a time. */
static size_t plain_run_ref(const unsigned char *u, size_t n, bool json)
{
	size_t i = 0;

	while (i < n && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\' && (json || u[i] < 0x7f))
		i++;
	return i;
}

Test(text, plain_runs_stop_at_the_first_byte_to_escape_wherever_it_sits)
{
	unsigned char s[40];

	/* every byte value at every offset of a run of 'a' (the word loop, its
	 * tail, and a word that holds a byte to escape with plain bytes on both
	 * sides), also behind a byte >= 0x80 that a JSON string keeps */
	for (int c = 0; c < 256; c++) {
		for (size_t at = 0; at < 24; at++) {
			for (int lead = 0; lead < 2; lead++) {
				size_t n = 24 + (size_t)(c % 9);

				memset(s, 'a', sizeof(s));
				if (lead && at > 0)
					s[0] = 0xc3;
				s[at] = (unsigned char)c;
				for (int json = 0; json < 2; json++) {
					size_t want = plain_run_ref(s, n, json);

					cr_expect_eq(text_plain_run((const char *)s, n, json), want,
						     "byte 0x%02x at %zu, lead %d, json %d", c, at,
						     lead, json);
				}
			}
		}
	}
	/* nothing, and a run that ends with the input */
	cr_assert_eq(text_plain_run("", 0, true), 0);
	cr_assert_eq(text_plain_run("abcdefghijklmnopq", 17, false), 17);
	/* a borrow in the word test flags bytes after the first to escape, never before */
	cr_assert_eq(text_plain_run("ab\x01!\"cdefgh", 11, true), 2);
	cr_assert_eq(text_plain_run("abcdefg\x1f", 8, true), 7);
	cr_assert_eq(text_plain_run("abcdefg\x7f", 8, true), 8);
	cr_assert_eq(text_plain_run("abcdefg\x7f", 8, false), 7);
}
