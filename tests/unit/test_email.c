/* Email and username rules: what is accepted, how it is normalised, and that
 * nothing able to inject a header or break out of a query gets through. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/core.h"

static enum pc_err norm(const char *in, char *out, char *lc)
{
	struct pc_errinfo ei = { 0 };
	enum pc_err err = email_normalize(in, out, lc, &ei);

	if (err != PC_OK) {
		cr_expect_str_eq(ei.field, "email");
		cr_expect(ei.code >= PC_V_EMAIL_EMPTY && ei.code <= PC_V_EMAIL_DOMAIN_NO_DOT, "%s",
			  pc_verr_name(ei.code));
	}
	return err;
}

Test(email, plain_addresses_are_accepted_with_the_domain_lowercased)
{
	char out[PC_EMAIL_MAX + 1], lc[PC_EMAIL_MAX + 1];

	cr_assert_eq(norm("King.Arthur@Camelot.BT", out, lc), PC_OK);
	cr_expect_str_eq(out, "King.Arthur@camelot.bt");
	cr_expect_str_eq(lc, "king.arthur@camelot.bt");
	cr_expect_eq(norm("o'brien+tag@mail.example.org", out, lc), PC_OK);
	cr_expect_eq(norm("a@b-c.io", out, lc), PC_OK);
}

Test(email, header_injection_and_sql_are_refused)
{
	static const char *const bad[] = {
		"a@b.c\r\nBcc: x@y.z", "a\n@b.io", "a b@c.io", "\"quoted\"@b.io",
		"a@b.c'; DROP TABLE users;--", "a;b@c.io", "a,b@c.io", "a@b.io,c@d.io",
		"<a@b.io>", "a@b", "@b.io", "a@", "a..b@c.io", ".a@b.io", "a.@b.io",
		"a@-b.io", "a@b-.io", "a@b..io", "a@@b.io", "a@b@c.io", "", "a@b.123",
		"\xc3\xa9@b.io", "a@b.io\x7f",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(norm(bad[i], NULL, NULL), PC_EINVAL, "accepted: %s", bad[i]);
}

Test(email, lengths_are_bounded)
{
	char big[400];

	memset(big, 'a', 65);
	memcpy(big + 65, "@b.io", 6);
	cr_expect_eq(norm(big, NULL, NULL), PC_EINVAL, "local part over 64");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '@';
	big[20] = '.';
	cr_expect_eq(norm(big, NULL, NULL), PC_EINVAL, "over 320 bytes");
	cr_expect_eq(norm(NULL, NULL, NULL), PC_EINVAL);
}

Test(username, letters_digits_and_few_marks)
{
	char lc[PC_USERNAME_MAX + 1];

	cr_assert_eq(email_username_normalize("Arthur_Pendragon.1", lc, NULL), PC_OK);
	cr_expect_str_eq(lc, "arthur_pendragon.1");
	cr_expect_eq(email_username_normalize("ab", lc, NULL), PC_EINVAL);
	cr_expect_eq(email_username_normalize("a@b", lc, NULL), PC_EINVAL);
	cr_expect_eq(email_username_normalize("robert'); --", lc, NULL), PC_EINVAL);
	cr_expect_eq(email_username_normalize("with space", lc, NULL), PC_EINVAL);
}
