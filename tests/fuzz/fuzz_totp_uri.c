/* libFuzzer driver: the otpauth:// parser of PUT /totp (totp_uri_secret) and
 * the recovery-code reader behind POST /totp. An accepted uri is shorter
 * than TOTP_URI_MAX and starts otpauth://totp/; its secret is 16..64
 * characters of the base32 alphabet, NUL-terminated within its field. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char secret[TOTP_B32_MAX + 1], small[20];
	char *s = malloc(size + 1);
	size_t n;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (totp_uri_secret(s, secret, sizeof(secret))) {
		n = strlen(secret);
		if (strlen(s) >= TOTP_URI_MAX || strncmp(s, "otpauth://totp/", 15) != 0 ||
		    n < 16 || n > TOTP_B32_MAX ||
		    strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != n)
			__builtin_trap();
	}
	if (totp_uri_secret(s, small, sizeof(small)) && strlen(small) >= sizeof(small))
		__builtin_trap();
	free(s);
	return 0;
}
