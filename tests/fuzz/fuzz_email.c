/* libFuzzer driver: email and username validation. An accepted address is
 * printable ASCII with exactly one '@' and no CR, LF, space, quote or ';'
 * (it goes into SMTP envelopes and headers as it is). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_safe(const char *s)
{
	int ats = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == ';' || c == ',' || c == '<' ||
		    c == '>' || c == '\\')
			__builtin_trap();
		ats += c == '@';
	}
	if (ats != 1)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[PC_EMAIL_MAX + 1], lc[PC_EMAIL_MAX + 1], ulc[PC_USERNAME_MAX + 1];
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (email_normalize(s, out, lc, NULL) == PC_OK) {
		check_safe(out);
		check_safe(lc);
	}
	if (email_username_normalize(s, ulc, NULL) == PC_OK && strchr(ulc, '@') != NULL)
		__builtin_trap();
	free(s);
	return 0;
}
