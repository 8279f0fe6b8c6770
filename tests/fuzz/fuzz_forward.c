/* libFuzzer driver: forward auth's forwarded-URI check (forward_uri_parse).
 * Whatever it accepts must come out as a normalised path: it starts with
 * '/', holds no empty, "." or ".." segment and no byte below 0x20, and is no
 * longer than the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "faces/face.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_segments_ok(const char *p)
{
	const char *s = p + 1;

	while (*s != '\0') {
		size_t n = strcspn(s, "/");

		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += n;
		if (*s == '/')
			s++;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *u = malloc(size + 1);
	char *path = malloc(FORWARD_URI_MAX);

	if (u == NULL || path == NULL)
		goto out;
	memcpy(u, data, size);
	u[size] = '\0';
	if (forward_uri_parse(u, path)) {
		size_t n = strlen(path);

		if (path[0] != '/' || n > strlen(u) + 1 || !fuzz_segments_ok(path))
			__builtin_trap();
		for (size_t i = 0; i < n; i++) {
			if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
				__builtin_trap();
		}
	}
out:
	free(u);
	free(path);
	return 0;
}
