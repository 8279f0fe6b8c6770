/*
 * test_crypto.c - hex, SHA-256, base64url, constant-time compares, tokens,
 * UUIDv7.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "core/core.h"

Test(crypto, sha256_hex_matches_the_standard_vectors)
{
	char hex[PC_SHA256_HEX];

	crypto_sha256_hex("abc", 3, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	crypto_sha256_hex("", 0, hex);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* The 448-bit standard vector: two blocks, the second all padding. */
Test(crypto, sha256_of_a_whole_block_and_more_matches_the_standard_vector)
{
	static const char m[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char hex[PC_SHA256_HEX];

	crypto_sha256_hex(m, strlen(m), hex);
	cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* The keyed state is SHA-256 with the key block hashed first: the same
 * digest as hashing key || a || b in one go, whatever the lengths (an
 * empty part, a part ending in the middle of a block, whole blocks), and
 * another key gives another digest. */
Test(crypto, keyed_sha256_is_the_hash_of_the_key_then_the_parts)
{
	static const size_t lens[] = { 0, 1, 15, 16, 55, 56, 63, 64, 65, 300, 1000 };
	unsigned char key[PC_SHA256_BLOCK], data[1100], joined[PC_SHA256_BLOCK + 16 + 1100];
	unsigned char want[PC_SHA256_LEN], got[PC_SHA256_LEN];
	struct pc_sha256_keyed k, k2;
	size_t i, j;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(7 * i + 1);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 31 + 5);
	cr_assert(crypto_sha256_keyed_init(&k, key));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (j = 0; j <= 16; j += 8) {
			memcpy(joined, key, sizeof(key));
			memcpy(joined + sizeof(key), data, j);
			memcpy(joined + sizeof(key) + j, data + 100, lens[i]);
			crypto_sha256(joined, sizeof(key) + j + lens[i], want);
			crypto_sha256_keyed(&k, data, j, data + 100, lens[i], got);
			cr_assert(memcmp(want, got, sizeof(got)) == 0, "head %zu, data %zu", j,
				  lens[i]);
		}
	}
	/* the state is kept: the same call again gives the same digest */
	crypto_sha256_keyed(&k, data, 8, data, 300, want);
	crypto_sha256_keyed(&k, data, 8, data, 300, got);
	cr_assert(memcmp(want, got, sizeof(got)) == 0);
	key[0] ^= 1;
	cr_assert(crypto_sha256_keyed_init(&k2, key));
	crypto_sha256_keyed(&k2, data, 8, data, 300, got);
	cr_assert(memcmp(want, got, sizeof(got)) != 0);
}

Test(crypto, token_hash_is_the_hex_sha256_of_the_text)
{
	char a[PC_SHA256_HEX], b[PC_SHA256_HEX];

	crypto_token_hash("abc", a);
	crypto_sha256_hex("abc", 3, b);
	cr_assert_str_eq(a, b);
}

Test(crypto, hex_encode_is_lower_case)
{
	char out[9];

	crypto_hex_encode("\x00\xab\xcd\xff", 4, out);
	cr_assert_str_eq(out, "00abcdff");
}

Test(crypto, base64url_matches_rfc4648_vectors_without_padding)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
		{ "\xfb\xff\xbf", "-_-_" },
	};
	char enc[32];
	unsigned char dec[32];
	size_t i, n;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = crypto_b64url_encode(v[i].in, strlen(v[i].in), enc, sizeof(enc));
		cr_assert_str_eq(enc, v[i].out);
		cr_assert_eq(n, strlen(v[i].out));
		cr_assert_eq(crypto_b64url_decode(enc, n, dec, sizeof(dec), &n), PC_OK);
		cr_assert_eq(n, strlen(v[i].in));
		cr_assert_eq(memcmp(dec, v[i].in, n), 0);
	}
}

Test(crypto, base64url_round_trips_every_length_of_random_bytes)
{
	unsigned char in[100], out[100];
	char enc[200];
	size_t len, n, m;

	for (len = 0; len <= sizeof(in); len++) {
		cr_assert_eq(crypto_random(in, len), PC_OK);
		n = crypto_b64url_encode(in, len, enc, sizeof(enc));
		cr_assert(len == 0 || n > 0);
		cr_assert_eq(strlen(enc), n);
		cr_assert_eq(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), n);
		cr_assert_eq(crypto_b64url_decode(enc, n, out, sizeof(out), &m), PC_OK);
		cr_assert_eq(m, len);
		cr_assert_eq(memcmp(in, out, len), 0);
	}
}

Test(crypto, base64url_encode_reports_a_too_small_output)
{
	char out[4];

	cr_assert_eq(crypto_b64url_encode("foo", 3, out, sizeof(out)), 0); /* needs 5 */
	cr_assert_str_eq(out, "");
	cr_assert_eq(crypto_b64url_encode("fo", 2, out, sizeof(out)), 3);
	cr_assert_str_eq(out, "Zm8");
}

Test(crypto, base64url_decode_rejects_bad_characters_padding_and_lengths)
{
	unsigned char out[32];
	size_t n;
	const char *bad[] = {
		"Zm9v+", "Zm9v/w", "Zm8=", "Zg==", "Zm 9v", "Zm9v\n", "Zm9vY", "!!!!", "Zm9\x80",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(crypto_b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
			     PC_EINVAL, "accepted %s", bad[i]);
}

Test(crypto, base64url_decode_rejects_non_canonical_trailing_bits)
{
	unsigned char out[8];

	cr_assert_eq(crypto_b64url_decode("Zg", 2, out, sizeof(out), NULL), PC_OK);
	cr_assert_eq(crypto_b64url_decode("Zh", 2, out, sizeof(out), NULL), PC_EINVAL);
	cr_assert_eq(crypto_b64url_decode("Zm9", 3, out, sizeof(out), NULL), PC_EINVAL);
}

Test(crypto, base64url_decode_reports_a_too_small_output)
{
	unsigned char out[2];

	cr_assert_eq(crypto_b64url_decode("Zm9v", 4, out, sizeof(out), NULL), PC_ETOOBIG);
	cr_assert_eq(crypto_b64url_decode("Zm8", 3, out, sizeof(out), NULL), PC_OK);
}

Test(crypto, ct_equal_and_streq_compare_content_and_length)
{
	cr_assert(crypto_ct_equal("abcd", "abcd", 4));
	cr_assert_not(crypto_ct_equal("abcd", "abce", 4));
	cr_assert(crypto_ct_streq("token", "token"));
	cr_assert(crypto_ct_streq("", ""));
	cr_assert_not(crypto_ct_streq("token", "tokeN"));
	cr_assert_not(crypto_ct_streq("token", "token2"));
	cr_assert_not(crypto_ct_streq("token2", "token"));
	cr_assert_not(crypto_ct_streq("", "x"));
	cr_assert_not(crypto_ct_streq(NULL, "x"));
	cr_assert_not(crypto_ct_streq(NULL, NULL));
}

/* Both compares: CRYPTO_memcmp's and the word-wise one of the cache. */
static void flipped_bits_are_found(bool (*eq)(const void *, const void *, size_t))
{
	unsigned char a[67], b[67];

	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (unsigned char)(i * 37 + 11);
	for (size_t n = 0; n <= sizeof(a); n++) {
		memcpy(b, a, sizeof(a));
		cr_assert(eq(a, b, n), "equal, n=%zu", n);
		for (size_t i = 0; i < n; i++) {
			for (int bit = 0; bit < 8; bit++) {
				b[i] ^= (unsigned char)(1u << bit);
				cr_assert_not(eq(a, b, n), "n=%zu, byte %zu, bit %d", n, i, bit);
				b[i] ^= (unsigned char)(1u << bit);
			}
		}
		if (n < sizeof(a)) {
			b[n] ^= 1;
			cr_assert(eq(a, b, n), "bytes past n do not count, n=%zu", n);
		}
	}
}

Test(crypto, ct_equal_finds_one_flipped_bit_anywhere_in_words_and_tails)
{
	flipped_bits_are_found(crypto_ct_equal);
	flipped_bits_are_found(crypto_ct_equal_words);
}

Test(crypto, wipe_zeroes_memory)
{
	char s[16] = "secret-password";
	size_t i;

	crypto_wipe(s, sizeof(s));
	for (i = 0; i < sizeof(s); i++)
		cr_assert_eq(s[i], 0);
	crypto_wipe(NULL, 0);
}

Test(crypto, token_new_is_43_base64url_chars_of_256_bits)
{
	char t[PC_TOKEN_MAX];
	unsigned char raw[64];
	size_t n;

	cr_assert_eq(crypto_token_new(t), PC_OK);
	cr_assert_eq(strlen(t), 43);
	cr_assert_eq(crypto_b64url_decode(t, 43, raw, sizeof(raw), &n), PC_OK);
	cr_assert_eq(n, 32);
}

Test(crypto, token_new_never_repeats)
{
	static char t[1000][PC_TOKEN_MAX];
	size_t i, j;

	for (i = 0; i < 1000; i++)
		cr_assert_eq(crypto_token_new(t[i]), PC_OK);
	for (i = 0; i < 1000; i++)
		for (j = i + 1; j < 1000; j++)
			cr_assert_str_neq(t[i], t[j]);
}

Test(crypto, uuid7_has_the_rfc9562_layout)
{
	char u[PC_UUID_STR];
	size_t i;

	cr_assert_eq(crypto_uuid7(u), PC_OK);
	cr_assert_eq(strlen(u), 36);
	cr_assert(crypto_uuid_valid(u));
	for (i = 0; i < 36; i++)
		cr_assert(u[i] == '-' || (u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f'),
			  "not lower-case hex: %s", u);
	cr_assert_eq(u[14], '7', "version nibble in %s", u);
	cr_assert(strchr("89ab", u[19]) != NULL, "variant bits in %s", u);
}

Test(crypto, uuid7_carries_the_current_millisecond)
{
	char u[PC_UUID_STR], hex[13];
	int64_t before = time_now_ms(), after, ms;

	cr_assert_eq(crypto_uuid7(u), PC_OK);
	after = time_now_ms();
	memcpy(hex, u, 8);
	memcpy(hex + 8, u + 9, 4);
	hex[12] = '\0';
	ms = strtoll(hex, NULL, 16);
	cr_assert_geq(ms, before);
	cr_assert_leq(ms, after + 1);
}

Test(crypto, uuid7_sorts_in_creation_order_even_within_a_millisecond)
{
	static char u[5000][PC_UUID_STR];
	size_t i;

	for (i = 0; i < 5000; i++)
		cr_assert_eq(crypto_uuid7(u[i]), PC_OK);
	for (i = 1; i < 5000; i++)
		cr_assert_lt(strcmp(u[i - 1], u[i]), 0, "%s !< %s", u[i - 1], u[i]);
}

Test(crypto, uuid_valid_checks_shape_and_digits)
{
	cr_assert(crypto_uuid_valid("0190a6e4-3b2c-7d1e-8f00-123456789abc"));
	cr_assert(crypto_uuid_valid("0190A6E4-3B2C-7D1E-8F00-123456789ABC"));
	cr_assert_not(crypto_uuid_valid("0190a6e4-3b2c-7d1e-8f00-123456789ab"));
	cr_assert_not(crypto_uuid_valid("0190a6e4-3b2c-7d1e-8f00-123456789abcd"));
	cr_assert_not(crypto_uuid_valid("0190a6e4x3b2c-7d1e-8f00-123456789abc"));
	cr_assert_not(crypto_uuid_valid("0190a6e4-3b2c-7d1e-8f00-123456789abg"));
	cr_assert_not(crypto_uuid_valid(""));
	cr_assert_not(crypto_uuid_valid(NULL));
}
