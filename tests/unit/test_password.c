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

/* ---- imported formats ---------------------------------------------------------
 * Each string below was made by the tool that makes it (Debian 12's
 * python3-bcrypt 3.2, Django 3.2's hashers, Werkzeug 2.2) for the password
 * "correct horse", with small costs; the scrypt one as Werkzeug 3 writes it
 * (hashlib.scrypt, dklen 64), as Debian 12's Werkzeug predates scrypt. */

static const char *const legacy_vectors[] = {
	"$2b$04$TxCD.dKVNjYi/LGQx2KNE.4zFHHtYcV/921F5P8sWQXh51B2Re3Zi",
	"$2a$04$2YlNjXkGh8hFV.3A2mGSVe/vjwNAMkolqNM9Yh45PaptSDbomNNUS",
	"$2y$04$TxCD.dKVNjYi/LGQx2KNE.4zFHHtYcV/921F5P8sWQXh51B2Re3Zi", /* PHP's name for 2b */
	"pbkdf2_sha256$1000$seasalt2024abc$s5HY4eKr8G/cGOmnuLRS2xIAtzPbnFodgA8Fe6LXang=",
	"argon2$argon2id$v=19$m=1024,t=1,p=2$c2Vhc2FsdDIwMjRhYmM$r+4OKAZTSwjswHEs1B7z5Q",
	"bcrypt_sha256$$2b$04$qpNVY6YLp4RfctoklaHJQ.lCOAdoTHlOXh8h/hjVgMZ1U/lvrVZ62",
	"pbkdf2:sha256:1000$3tfKpDpLN4zXC5G9$929407423479eec3ab3739c40f0b8a89d0a6b3e43f51c4333b75cfb70cb6173f",
	"pbkdf2:sha512:1000$jlsR0WWM7pRcds0A$31e209a9184a616be5b0517419f897582be00e4fe15723bd21a9e17945d0f3962703de87286d67c54059815e1b96cf46f9f2db4408f1d2b08712a17fdedc2069",
	"scrypt:1024:8:1$ZsaltZsaltZsalt1$31326674a731660715bb0b0dca2ba74ec14d8e7dd0ecffd272f520a152978eb8859b0e179d30236578990266ad61b1a05d6417866b096fdaa2c1b563e105145b",
};

Test(password, each_imported_format_verifies_its_password_and_asks_for_a_rehash)
{
	for (size_t i = 0; i < sizeof(legacy_vectors) / sizeof(legacy_vectors[0]); i++) {
		bool rehash = false;

		cr_assert_eq(password_verify(&fast, legacy_vectors[i], "correct horse", 13, &rehash),
			     PC_OK, "%s", legacy_vectors[i]);
		cr_assert(rehash, "no rehash asked for %s", legacy_vectors[i]);
		cr_assert(password_format_known(legacy_vectors[i]));
	}
}

Test(password, each_imported_format_refuses_a_wrong_password)
{
	static const char *const wrong[] = { "correct horsf", "correct horse ", "", "Correct horse" };

	for (size_t i = 0; i < sizeof(legacy_vectors) / sizeof(legacy_vectors[0]); i++) {
		for (size_t k = 0; k < sizeof(wrong) / sizeof(wrong[0]); k++) {
			bool rehash = true;

			cr_assert_eq(password_verify(&fast, legacy_vectors[i], wrong[k], strlen(wrong[k]),
						     &rehash), PC_EBADCREDS, "%s took '%s'",
				     legacy_vectors[i], wrong[k]);
			cr_assert_not(rehash);
		}
	}
}

Test(password, a_bcrypt_password_with_a_nul_byte_is_not_its_prefix)
{
	/* crypt sees C strings: "correct horse\0x" must not pass as "correct horse" */
	bool rehash;

	cr_assert_eq(password_verify(&fast, legacy_vectors[0], "correct horse\0x", 15, &rehash),
		     PC_EBADCREDS);
}

Test(password, a_changed_digest_is_a_mismatch_in_every_format)
{
	for (size_t i = 0; i < sizeof(legacy_vectors) / sizeof(legacy_vectors[0]); i++) {
		char h[512];
		size_t n = strlen(legacy_vectors[i]);
		bool rehash;
		enum pc_err err;

		memcpy(h, legacy_vectors[i], n + 1);
		/* the digest's next-to-last character, moved to another of its alphabet */
		h[n - 2] = h[n - 2] == 'a' ? 'b' : 'a';
		err = password_verify(&fast, h, "correct horse", 13, &rehash);
		cr_assert(err == PC_EBADCREDS || err == PC_EINVAL, "%s: %d", h, err);
		cr_assert_neq(err, PC_OK, "%s", h);
	}
}

Test(password, imported_costs_beyond_the_bounds_are_refused_unrun)
{
	/* each well formed but for its cost: verifying would take minutes or
	 * gigabytes, so it is PC_EINVAL (the dummy spent) at once */
	static const char *const costly[] = {
		"$2b$15$TxCD.dKVNjYi/LGQx2KNE.4zFHHtYcV/921F5P8sWQXh51B2Re3Zi",
		"$2b$31$TxCD.dKVNjYi/LGQx2KNE.4zFHHtYcV/921F5P8sWQXh51B2Re3Zi",
		"$2b$03$TxCD.dKVNjYi/LGQx2KNE.4zFHHtYcV/921F5P8sWQXh51B2Re3Zi",
		"pbkdf2_sha256$2000001$seasalt2024abc$s5HY4eKr8G/cGOmnuLRS2xIAtzPbnFodgA8Fe6LXang=",
		"pbkdf2_sha256$999999999999$seasalt2024abc$s5HY4eKr8G/cGOmnuLRS2xIAtzPbnFodgA8Fe6LXang=",
		"pbkdf2:sha256:2000001$3tfKpDpLN4zXC5G9$929407423479eec3ab3739c40f0b8a89d0a6b3e43f51c4333b75cfb70cb6173f",
		/* 128 r (n + p + 2) just above 256 MiB */
		"scrypt:262144:8:1$ZsaltZsaltZsalt1$31326674a731660715bb0b0dca2ba74ec14d8e7dd0ecffd272f520a152978eb8859b0e179d30236578990266ad61b1a05d6417866b096fdaa2c1b563e105145b",
		"scrypt:1048576:8:1$ZsaltZsaltZsalt1$31326674a731660715bb0b0dca2ba74ec14d8e7dd0ecffd272f520a152978eb8859b0e179d30236578990266ad61b1a05d6417866b096fdaa2c1b563e105145b",
		"scrypt:1024:8:17$ZsaltZsaltZsalt1$31326674a731660715bb0b0dca2ba74ec14d8e7dd0ecffd272f520a152978eb8859b0e179d30236578990266ad61b1a05d6417866b096fdaa2c1b563e105145b",
		"scrypt:1000:8:1$ZsaltZsaltZsalt1$31326674a731660715bb0b0dca2ba74ec14d8e7dd0ecffd272f520a152978eb8859b0e179d30236578990266ad61b1a05d6417866b096fdaa2c1b563e105145b",
		"argon2$argon2id$v=19$m=4194304,t=1,p=2$c2Vhc2FsdDIwMjRhYmM$r+4OKAZTSwjswHEs1B7z5Q",
	};

	for (size_t i = 0; i < sizeof(costly) / sizeof(costly[0]); i++) {
		bool rehash = true;

		cr_assert_eq(password_verify(&fast, costly[i], "correct horse", 13, &rehash), PC_EINVAL,
			     "%s", costly[i]);
		cr_assert_not(rehash);
	}
}

Test(password, malformed_imported_strings_are_invalid)
{
	static const char *const bad[] = {
		"$2b$04$TxCD.dKVNjYi/LGQx2KNE.4zFHHtYcV/921F5P8sWQXh51B2Re3Z",   /* short */
		"$2b$04$TxCD.dKVNjYi/LGQx2KNE.4zFHHtYcV/921F5P8sWQXh51B2Re3Zi!", /* long */
		"$2x$04$TxCD.dKVNjYi/LGQx2KNE.4zFHHtYcV/921F5P8sWQXh51B2Re3Zi",
		"$2b$4x$TxCD.dKVNjYi/LGQx2KNE.4zFHHtYcV/921F5P8sWQXh51B2Re3Zi",
		"pbkdf2_sha256$01000$seasalt2024abc$s5HY4eKr8G/cGOmnuLRS2xIAtzPbnFodgA8Fe6LXang=",
		"pbkdf2_sha256$1000$$s5HY4eKr8G/cGOmnuLRS2xIAtzPbnFodgA8Fe6LXang=",
		"pbkdf2_sha256$1000$seasalt2024abc$s5HY4eKr8G/cGOmnuLRS2xIAtzPbnFodgA8Fe6LX=",
		"pbkdf2_sha256$1000$seasalt2024abc$s5HY4eKr8G/cGOmnuLRS2xIAtzPbnFodgA8Fe6LXang=$x",
		"pbkdf2:md5:1000$3tfKpDpLN4zXC5G9$929407423479eec3ab3739c40f0b8a89",
		"pbkdf2:sha256$3tfKpDpLN4zXC5G9$929407423479eec3ab3739c40f0b8a89d0a6b3e43f51c4333b75cfb70cb6173f",
		"pbkdf2:sha256:1000$3tfKpDpLN4zXC5G9$929407423479eec3ab3739c40f0b8a89d0a6b3e43f51c4333b75cfb70cb617",
		"pbkdf2:sha256:1000$3tfKpDpLN4zXC5G9$z29407423479eec3ab3739c40f0b8a89d0a6b3e43f51c4333b75cfb70cb6173f",
		"scrypt:1024:0:1$ZsaltZsaltZsalt1$31326674a731660715bb0b0dca2ba74ec14d8e7dd0ecffd272f520a152978eb8859b0e179d30236578990266ad61b1a05d6417866b096fdaa2c1b563e105145b",
		"scrypt:1024:8:1$ZsaltZsaltZsalt1$3132",
		"bcrypt_sha256$pbkdf2_sha256$1000$seasalt2024abc$s5HY4eKr8G/cGOmnuLRS2xIAtzPbnFodgA8Fe6LXang=",
		"argon2$$2b$04$TxCD.dKVNjYi/LGQx2KNE.4zFHHtYcV/921F5P8sWQXh51B2Re3Zi",
		"md5$salt$0123456789abcdef0123456789abcdef",
		"!unusable",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool rehash = true;

		cr_assert_eq(password_verify(&fast, bad[i], "correct horse", 13, &rehash), PC_EINVAL,
			     "%s", bad[i]);
		cr_assert_not(rehash);
	}
	cr_assert_not(password_format_known("md5$salt$0123"));
	cr_assert_not(password_format_known("!unusable"));
}
