/* libFuzzer driver: urlencoded form bodies (http_form_parse), and the
 * percent-decoder and UTF-8 check under it. Invariant checked: every field
 * that comes out is valid UTF-8 without NUL. */
#include <stdint.h>
#include <string.h>

#include "http/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_arena *a = arena_new(0);
	const struct http_field *f = NULL;
	struct pc_errinfo ei = { 0 };
	size_t n = 0;

	if (a == NULL)
		return 0;
	if (http_form_parse(a, (const char *)data, size, &f, &n, &ei) == PC_OK) {
		for (size_t i = 0; i < n; i++) {
			if (!http_text_ok(f[i].name, strlen(f[i].name)) ||
			    !http_text_ok(f[i].value, strlen(f[i].value)))
				__builtin_trap();
		}
	}
	arena_free(a);
	return 0;
}
