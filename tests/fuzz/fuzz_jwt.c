/* libFuzzer driver: access-token verification (jwt_verify): our own
 * header decoding and alg pinning, then libjwt. Nothing the fuzzer makes
 * without the secret may verify. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pc_jwt_key key = {
		.secret = "fuzz-secret-fuzz-secret-fuzz-secret-0123",
		.len = 40,
		.alg = "HS256",
		.aud = "fastapi-users:auth",
	};
	struct pc_jwt_claims claims;
	char *token = malloc(size + 1);

	if (token == NULL)
		return 0;
	memcpy(token, data, size);
	token[size] = '\0';
	if (jwt_verify(&key, token, 1700000000, &claims) == PC_OK)
		__builtin_trap(); /* a forgery verified */
	free(token);
	return 0;
}
