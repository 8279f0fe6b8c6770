/* libFuzzer driver: the Cookie header parser (http_cookie_find). The input
 * is "name\0header"; the value found must lie inside the header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 2);
	const char *name, *header, *v;
	size_t vlen = 0;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	buf[size + 1] = '\0';
	name = buf;
	header = buf + strlen(buf) + 1;
	if (header > buf + size)
		header = buf + size;
	v = http_cookie_find(header, name[0] ? name : "fastapiusersauth", &vlen);
	if (v != NULL && (v < header || v + vlen > header + strlen(header)))
		__builtin_trap();
	free(buf);
	return 0;
}
