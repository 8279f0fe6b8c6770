/*
 * test_password.c - argon2id hash and verify, rehash decisions, invalid
 * stored strings, the dummy verification and the policy messages.
 * Small parameters (m=1024 KiB, t=1, p=1) keep it fast.
 */
#include <string.h>

#include <argon2.h>
#include <criterion/criterion.h>

#include "core/core.h"

static const struct pc_argon2_params fast = { .m_kib = 1024, .t = 1, .p = 1 };

static void hash_or_fail(const struct pc_argon2_params *pp, const char *pw, char *out, size_t sz)
{
	cr_assert_eq(password_hash(pp, pw, strlen(pw), out, sz), PC_OK);
}

Test(password, hash_is_an_argon2id_phc_string_with_the_given_params)
{
	char phc[256];
	const char *salt, *hash;

	hash_or_fail(&fast, "correct horse", phc, sizeof(phc));
	cr_assert_eq(strncmp(phc, "$argon2id$v=19$m=1024,t=1,p=1$", 30), 0, "%s", phc);
	salt = phc + 30;
	hash = strchr(salt, '$');
	cr_assert_not_null(hash);
	cr_assert_eq(hash - salt, 22, "16-byte salt is 22 base64 chars: %s", phc);
	cr_assert_eq(strlen(hash + 1), 43, "32-byte hash is 43 base64 chars: %s", phc);
}

Test(password, hashes_of_one_password_differ_by_salt)
{
	char a[256], b[256];

	hash_or_fail(&fast, "same password", a, sizeof(a));
	hash_or_fail(&fast, "same password", b, sizeof(b));
	cr_assert_str_neq(a, b);
}

Test(password, the_right_password_verifies_without_rehash)
{
	char phc[256];
	bool rehash = true;

	hash_or_fail(&fast, "correct horse", phc, sizeof(phc));
	cr_assert_eq(password_verify(&fast, phc, "correct horse", 13, &rehash), PC_OK);
	cr_assert_not(rehash);
}

Test(password, a_wrong_password_is_bad_credentials)
{
	char phc[256];
	bool rehash = true;

	hash_or_fail(&fast, "correct horse", phc, sizeof(phc));
	cr_assert_eq(password_verify(&fast, phc, "correct horsf", 13, &rehash), PC_EBADCREDS);
	cr_assert_not(rehash);
	cr_assert_eq(password_verify(&fast, phc, "correct horse ", 14, &rehash), PC_EBADCREDS);
	cr_assert_eq(password_verify(&fast, phc, "", 0, &rehash), PC_EBADCREDS);
}

Test(password, the_length_not_the_nul_decides_what_is_hashed)
{
	char phc[256];
	const char pw[] = "abc\0def";
	bool rehash;

	cr_assert_eq(password_hash(&fast, pw, 7, phc, sizeof(phc)), PC_OK);
	cr_assert_eq(password_verify(&fast, phc, pw, 7, &rehash), PC_OK);
	cr_assert_eq(password_verify(&fast, phc, pw, 3, &rehash), PC_EBADCREDS);
}

Test(password, a_match_under_other_params_needs_rehash)
{
	const struct pc_argon2_params other_m = { .m_kib = 2048, .t = 1, .p = 1 };
	const struct pc_argon2_params other_t = { .m_kib = 1024, .t = 2, .p = 1 };
	const struct pc_argon2_params other_p = { .m_kib = 1024, .t = 1, .p = 2 };
	char phc[256];
	bool rehash = false;

	hash_or_fail(&fast, "pw-123456", phc, sizeof(phc));
	cr_assert_eq(password_verify(&other_m, phc, "pw-123456", 9, &rehash), PC_OK);
	cr_assert(rehash);
	rehash = false;
	cr_assert_eq(password_verify(&other_t, phc, "pw-123456", 9, &rehash), PC_OK);
	cr_assert(rehash);
	rehash = false;
	cr_assert_eq(password_verify(&other_p, phc, "pw-123456", 9, &rehash), PC_OK);
	cr_assert(rehash);
}

Test(password, argon2i_hashes_verify_and_need_rehash)
{
	char phc[256];
	const unsigned char salt[16] = "0123456789abcdef";
	bool rehash = false;

	cr_assert_eq(argon2i_hash_encoded(1, 1024, 1, "legacy", 6, salt, 16, 32, phc, sizeof(phc)),
		     ARGON2_OK);
	cr_assert_eq(password_verify(&fast, phc, "legacy", 6, &rehash), PC_OK);
	cr_assert(rehash);
	cr_assert_eq(password_verify(&fast, phc, "legacz", 6, &rehash), PC_EBADCREDS);
}

Test(password, a_short_hash_or_salt_needs_rehash)
{
	char phc[256];
	const unsigned char salt[8] = "01234567";
	bool rehash = false;

	cr_assert_eq(argon2id_hash_encoded(1, 1024, 1, "pw", 2, salt, 8, 16, phc, sizeof(phc)),
		     ARGON2_OK);
	cr_assert_eq(password_verify(&fast, phc, "pw", 2, &rehash), PC_OK);
	cr_assert(rehash);
}

Test(password, strings_that_are_not_argon2_are_invalid)
{
	const char *bad[] = {
		"",
		"plaintext",
		"$argon2id$v=19$m=1024,t=1,p=1$",
		"$argon2id$v=19$m=1024,t=1$c2FsdHNhbHQ$aGFzaGhhc2g",
		"$argon2id$v=19$m=x,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
		"$argon2id$v=19$m=01024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
		"$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g$extra",
		"$argon2id$v=19$m=1024,t=1,p=1$c2Fs*HNhbHQ$aGFzaGhhc2g",
		"$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
	};
	size_t i;
	bool rehash = true;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(password_verify(&fast, bad[i], "pw", 2, &rehash), PC_EINVAL,
			     "accepted %s", bad[i]);
		cr_assert_not(rehash);
	}
	cr_assert_eq(password_verify(&fast, NULL, "pw", 2, &rehash), PC_EINVAL);
}

Test(password, a_stored_string_asking_for_huge_memory_is_refused)
{
	/* Well formed, but 4 GiB: refused before argon2 allocates anything. */
	const char *phc = "$argon2id$v=19$m=4194304,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
			  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	bool rehash;

	cr_assert_eq(password_verify(&fast, phc, "pw", 2, &rehash), PC_EINVAL);
}

Test(password, hash_reports_a_too_small_output)
{
	char phc[40];

	cr_assert_eq(password_hash(&fast, "pw", 2, phc, sizeof(phc)), PC_ETOOBIG);
}

Test(password, hash_rejects_impossible_params)
{
	const struct pc_argon2_params zero_t = { .m_kib = 1024, .t = 0, .p = 1 };
	char phc[256];

	cr_assert_eq(password_hash(&zero_t, "pw", 2, phc, sizeof(phc)), PC_EINVAL);
	cr_assert_str_eq(phc, "");
}

Test(password, dummy_verify_spends_a_verification_and_survives_policy_changes)
{
	const struct pc_argon2_params other = { .m_kib = 2048, .t = 1, .p = 1 };
	int64_t t0, t1;

	password_dummy_verify(&fast, "whatever", 8);
	password_dummy_verify(&fast, "whatever", 8);
	password_dummy_verify(&other, "whatever", 8);
	/* With a real policy it costs real time, as a true verification does. */
	const struct pc_argon2_params real = { .m_kib = 19456, .t = 2, .p = 1 };
	password_dummy_verify(&real, "warm", 4);
	t0 = time_mono_us();
	password_dummy_verify(&real, "whatever", 8);
	t1 = time_mono_us();
	cr_assert_gt(t1 - t0, 1000, "dummy verify took only %lld us", (long long)(t1 - t0));
}

static struct pc_config policy_cfg(void)
{
	struct pc_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.password_min_length = 8;
	cfg.password_max_length = 64;
	return cfg;
}

Test(password, policy_accepts_a_reasonable_password)
{
	struct pc_config cfg = policy_cfg();
	struct pc_errinfo ei;

	memset(&ei, 0, sizeof(ei));
	cr_assert_eq(password_check_policy(&cfg, "long enough", 11, "king@example.com", NULL, &ei), PC_OK);
	cr_assert_eq(password_check_policy(&cfg, "12345678", 8, NULL, NULL, &ei), PC_OK);
	cr_assert_eq(ei.code, PC_V_NONE);
}

Test(password, policy_rejects_a_short_password_with_the_minimum)
{
	struct pc_config cfg = policy_cfg();
	struct pc_errinfo ei;

	memset(&ei, 0, sizeof(ei));
	cr_assert_eq(password_check_policy(&cfg, "1234567", 7, NULL, NULL, &ei), PC_EBADPASSWORD);
	cr_assert_eq(ei.code, PC_V_TOO_SHORT);
	cr_assert_eq(ei.limit, 8);
	cr_assert_str_eq(ei.field, "password");
	cfg.password_min_length = 3;
	cr_assert_eq(password_check_policy(&cfg, "ab", 2, NULL, NULL, &ei), PC_EBADPASSWORD);
	cr_assert_eq(ei.code, PC_V_TOO_SHORT);
	cr_assert_eq(ei.limit, 3);
}

Test(password, policy_rejects_a_long_password_with_the_maximum)
{
	struct pc_config cfg = policy_cfg();
	struct pc_errinfo ei;
	char pw[65];

	memset(pw, 'a', sizeof(pw));
	memset(&ei, 0, sizeof(ei));
	cr_assert_eq(password_check_policy(&cfg, pw, 64, NULL, NULL, &ei), PC_OK);
	cr_assert_eq(password_check_policy(&cfg, pw, 65, NULL, NULL, &ei), PC_EBADPASSWORD);
	cr_assert_eq(ei.code, PC_V_TOO_LONG);
	cr_assert_eq(ei.limit, 64);
}

Test(password, policy_counts_bytes_not_characters)
{
	struct pc_config cfg = policy_cfg();
	struct pc_errinfo ei;
	const char *pw = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"; /* four é, eight bytes */

	cr_assert_eq(password_check_policy(&cfg, pw, strlen(pw), NULL, NULL, &ei), PC_OK);
}

Test(password, policy_rejects_a_password_containing_the_email_in_any_case)
{
	struct pc_config cfg = policy_cfg();
	struct pc_errinfo ei;
	const char *pw = "my King@Example.COM pass";

	memset(&ei, 0, sizeof(ei));
	cr_assert_eq(password_check_policy(&cfg, pw, strlen(pw), "king@example.com", NULL, &ei),
		     PC_EBADPASSWORD);
	cr_assert_eq(ei.code, PC_V_CONTAINS_EMAIL);
	cr_assert_eq(password_check_policy(&cfg, "king@example.co", 15, "king@example.com", NULL, &ei),
		     PC_OK, "a prefix of the email is not the email");
	cr_assert_eq(password_check_policy(&cfg, pw, strlen(pw), "", NULL, &ei), PC_OK);
}

Test(password, policy_rejects_a_password_containing_the_username)
{
	struct pc_config cfg = policy_cfg();
	struct pc_errinfo ei;
	const char *pw = "the-LANCELOT-of-the-lake";

	memset(&ei, 0, sizeof(ei));
	cr_assert_eq(password_check_policy(&cfg, pw, strlen(pw), "sir@camelot.bt", "Lancelot", &ei),
		     PC_EBADPASSWORD);
	cr_assert_eq(ei.code, PC_V_CONTAINS_USERNAME);
	cr_assert_eq(password_check_policy(&cfg, pw, strlen(pw), "sir@camelot.bt", "gawain", &ei),
		     PC_OK);
	cr_assert_eq(password_check_policy(&cfg, pw, strlen(pw), NULL, "", &ei), PC_OK);
}

Test(password, policy_rejects_what_zxcvbn_scores_below_the_threshold)
{
	static const char *const weak[] = {
		"password", "12345678", "qwertyuiop", "aaaaaaaaaaaa", "Passw0rd!", "iloveyou1",
		"abcdefgh12",
	};
	static const char *const strong[] = {
		"correct-horse-9", "new-horse-battery-7", "long enough 42 gnus", "Tr0ub4dor&3x!",
	};
	struct pc_config cfg = policy_cfg();
	struct pc_errinfo ei;
	size_t i;

	cfg.password_min_score = 2;
	for (i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
		memset(&ei, 0, sizeof(ei));
		cr_expect_eq(password_check_policy(&cfg, weak[i], strlen(weak[i]), NULL, NULL, &ei),
			     PC_EBADPASSWORD, "%s", weak[i]);
		cr_expect_eq(ei.code, PC_V_TOO_WEAK, "%s", weak[i]);
		cr_expect_eq(ei.limit, 2);
	}
	for (i = 0; i < sizeof(strong) / sizeof(strong[0]); i++)
		cr_expect_eq(password_check_policy(&cfg, strong[i], strlen(strong[i]), NULL, NULL,
						   &ei), PC_OK, "%s", strong[i]);
	cfg.password_min_score = 0;
	cr_expect_eq(password_check_policy(&cfg, "password", 8, NULL, NULL, &ei), PC_OK, "off");
}

Test(password, policy_takes_the_users_own_words_as_known)
{
	struct pc_config cfg = policy_cfg();
	struct pc_errinfo ei = { 0 };
	const char *pw = "percivale1971";

	cfg.password_min_score = 2;
	cr_assert_eq(password_check_policy(&cfg, pw, strlen(pw), NULL, NULL, &ei), PC_OK);
	/* the address's local part is a word an attacker knows: no longer enough */
	cr_assert_eq(password_check_policy(&cfg, pw, strlen(pw), "percivale@camelot.bt", NULL,
					   &ei), PC_EBADPASSWORD);
	cr_assert_eq(ei.code, PC_V_TOO_WEAK);
}

Test(password, our_strings_verify_with_libargon2_itself_and_its_strings_with_ours)
{
	const struct pc_argon2_params two_lanes = { .m_kib = 1024, .t = 2, .p = 2 };
	const struct pc_argon2_params *pps[] = { &fast, &two_lanes };
	unsigned char salt[16] = "0123456789abcdef";
	char phc[256], ref[256];

	for (size_t i = 0; i < sizeof(pps) / sizeof(pps[0]); i++) {
		hash_or_fail(pps[i], "sesame", phc, sizeof(phc));
		cr_expect_eq(argon2_verify(phc, "sesame", 6, Argon2_id), ARGON2_OK, "%s", phc);
		cr_expect_eq(argon2_verify(phc, "sesamE", 6, Argon2_id), ARGON2_VERIFY_MISMATCH);
		cr_assert_eq(argon2id_hash_encoded(pps[i]->t, pps[i]->m_kib, pps[i]->p, "sesame", 6,
						   salt, sizeof(salt), 32, ref, sizeof(ref)),
			     ARGON2_OK);
		cr_expect_eq(password_verify(pps[i], ref, "sesame", 6, NULL), PC_OK, "%s", ref);
		cr_expect_eq(password_verify(pps[i], ref, "sesamE", 6, NULL), PC_EBADCREDS);
	}
}

Test(password, a_kept_mapping_hashes_again_after_its_pages_were_released)
{
	char a[256], b[256];

	password_memory_keep();
	hash_or_fail(&fast, "first", a, sizeof(a));
	password_memory_release();
	hash_or_fail(&fast, "second", b, sizeof(b));
	cr_expect_eq(password_verify(&fast, a, "first", 5, NULL), PC_OK);
	password_memory_release();
	cr_expect_eq(password_verify(&fast, b, "second", 6, NULL), PC_OK);
	cr_expect_eq(password_verify(&fast, b, "first", 5, NULL), PC_EBADCREDS);
	password_memory_drop();
	cr_expect_eq(password_verify(&fast, a, "first", 5, NULL), PC_OK, "and after unmapping");
}

Test(password, a_hash_with_non_zero_padding_bits_is_not_a_match)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char phc[256];
	size_t n;

	hash_or_fail(&fast, "pad", phc, sizeof(phc));
	cr_assert_eq(password_verify(&fast, phc, "pad", 3, NULL), PC_OK);
	/* 32 bytes encode as 43 characters: the last carries 2 zero bits; the
	 * next character of the alphabet sets one of them. */
	n = strlen(phc);
	phc[n - 1] = alphabet[strchr(alphabet, phc[n - 1]) - alphabet + 1];
	cr_expect_neq(password_verify(&fast, phc, "pad", 3, NULL), PC_OK, "%s", phc);
}
