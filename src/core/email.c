/*
 * email.c - validation and normalisation of email addresses and usernames.
 *
 * An address is accepted only in the plain dot-atom form that mail systems
 * and email-validator (what fastapi-users relies on) accept: an ASCII local
 * part of atext and single dots, an '@', and a DNS domain of at least two
 * labels. Quotes, spaces, controls (CR/LF: header injection), commas,
 * semicolons, brackets and non-ASCII bytes are refused, so an address that
 * passes is safe to place in an SMTP envelope and a mail header as it is.
 *
 * Invariants: out has the domain lower-cased and the local part as given;
 * out_lc is wholly lower-cased and is the uniqueness key.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

#define LOCAL_MAX 64
#define LABEL_MAX 63

/* RFC 5322 atext. */
static bool is_atext(unsigned char c)
{
	return ascii_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static enum pc_err email_bad(struct pc_errinfo *ei, enum pc_verr why)
{
	pc_errinfo_set(ei, "body", "email", why, 0);
	return PC_EINVAL;
}

static enum pc_err check_local(const char *s, size_t n, struct pc_errinfo *ei)
{
	if (n == 0)
		return email_bad(ei, PC_V_EMAIL_LOCAL_EMPTY);
	if (n > LOCAL_MAX)
		return email_bad(ei, PC_V_EMAIL_LOCAL_TOO_LONG);
	if (s[0] == '.' || s[n - 1] == '.')
		return email_bad(ei, PC_V_EMAIL_LOCAL_DOT_EDGE);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (s[i + 1] == '.')
				return email_bad(ei, PC_V_EMAIL_LOCAL_DOUBLE_DOT);
			continue;
		}
		if (!is_atext(c))
			return email_bad(ei, PC_V_EMAIL_LOCAL_BAD_CHARS);
	}
	return PC_OK;
}

static enum pc_err check_domain(const char *s, size_t n, struct pc_errinfo *ei)
{
	size_t label = 0, labels = 1;
	bool tld_alpha = false;

	if (n == 0)
		return email_bad(ei, PC_V_EMAIL_DOMAIN_EMPTY);
	if (n > 253)
		return email_bad(ei, PC_V_EMAIL_DOMAIN_TOO_LONG);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return email_bad(ei, PC_V_EMAIL_DOMAIN_INVALID);
			label = 0;
			labels++;
			tld_alpha = false;
			continue;
		}
		if (!ascii_is_alnum(c) && c != '-')
			return email_bad(ei, PC_V_EMAIL_DOMAIN_BAD_CHARS);
		if (c == '-' && label == 0)
			return email_bad(ei, PC_V_EMAIL_DOMAIN_INVALID);
		if (!(c >= '0' && c <= '9'))
			tld_alpha = true;
		if (++label > LABEL_MAX)
			return email_bad(ei, PC_V_EMAIL_DOMAIN_INVALID);
	}
	if (label == 0 || s[n - 1] == '-')
		return email_bad(ei, PC_V_EMAIL_DOMAIN_INVALID);
	if (labels < 2)
		return email_bad(ei, PC_V_EMAIL_DOMAIN_NO_DOT);
	if (!tld_alpha)
		return email_bad(ei, PC_V_EMAIL_DOMAIN_INVALID);
	return PC_OK;
}

enum pc_err email_normalize(const char *in, char out[PC_EMAIL_MAX + 1],
			       char out_lc[PC_EMAIL_MAX + 1], struct pc_errinfo *ei)
{
	const char *at;
	size_t n, local_n;
	enum pc_err err;

	if (in == NULL)
		return email_bad(ei, PC_V_EMAIL_EMPTY);
	n = strnlen(in, PC_EMAIL_MAX + 1);
	if (n > PC_EMAIL_MAX)
		return email_bad(ei, PC_V_EMAIL_TOO_LONG);
	at = strchr(in, '@');
	if (at == NULL)
		return email_bad(ei, PC_V_EMAIL_NO_AT);
	if (strchr(at + 1, '@') != NULL)
		return email_bad(ei, PC_V_EMAIL_BAD_CHARS);
	local_n = (size_t)(at - in);
	err = check_local(in, local_n, ei);
	if (err == PC_OK)
		err = check_domain(at + 1, n - local_n - 1, ei);
	if (err != PC_OK)
		return err;
	if (out != NULL) {
		memcpy(out, in, n + 1);
		ascii_lower_str(out + local_n + 1);
	}
	if (out_lc != NULL) {
		memcpy(out_lc, in, n + 1);
		ascii_lower_str(out_lc);
	}
	return PC_OK;
}

enum pc_err email_username_normalize(const char *in, char out_lc[PC_USERNAME_MAX + 1],
				  struct pc_errinfo *ei)
{
	size_t n;

	if (in == NULL)
		goto out_bad;
	n = strnlen(in, PC_USERNAME_MAX + 1);
	if (n < 3 || n > PC_USERNAME_MAX)
		goto out_bad;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (!ascii_is_alnum(c) && c != '_' && c != '.' && c != '+' && c != '-')
			goto out_bad;
	}
	if (out_lc != NULL) {
		memcpy(out_lc, in, n + 1);
		ascii_lower_str(out_lc);
	}
	return PC_OK;
out_bad:
	pc_errinfo_set(ei, "body", "username", PC_V_USERNAME_INVALID, PC_USERNAME_MAX);
	return PC_EINVAL;
}
