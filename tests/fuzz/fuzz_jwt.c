/* libFuzzer driver: access-token verification (jwt_verify): shape, header
 * and alg pinning, EVP_MAC signature, claims. Nothing the fuzzer makes
 * without the secret may verify, with either claims table. */
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
	static const struct jwt_claims_table typed = {
		.subject = "user_id", .token_id = "jti", .audience = false,
		.type_claim = "token_type", .access_type = "access",
	};
	if (jwt_verify(&key, &jwt_claims_rfc7519, token, 1700000000, &claims) == PC_OK ||
	    jwt_verify(&key, &typed, token, 1700000000, &claims) == PC_OK)
		__builtin_trap(); /* a forgery verified */
	free(token);
	return 0;
}
