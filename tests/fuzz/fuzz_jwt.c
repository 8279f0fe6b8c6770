/* libFuzzer driver: access-token verification (jwt_verify): shape, header
 * and alg pinning, EVP_MAC signature, claims. Nothing the fuzzer makes
 * without the secret may verify, with either claims table. Also the kid
 * reader (jwt_header_kid), whose kid must be base64url and fit, and an
 * Ed25519 key (keys.c's published keys): nothing verifies under it either. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/base.h"
#include "core/core.h"

static struct pc_jwt_key ed_key;

static void ed_key_make(void)
{
	memset(&ed_key, 0, sizeof(ed_key));
	ed_key.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	memcpy(ed_key.alg, "EdDSA", 6);
	memcpy(ed_key.aud, "fastapi-users:auth", 19);
	memcpy(ed_key.kid, "fuzz-kid", 9);
	if (ed_key.pkey == NULL || jwt_key_open(&ed_key) != PC_OK)
		abort();
}

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
	char kid[64];

	if (ed_key.pkey == NULL)
		ed_key_make();
	if (jwt_verify(&key, &jwt_claims_rfc7519, token, 1700000000, &claims) == PC_OK ||
	    jwt_verify(&key, &typed, token, 1700000000, &claims) == PC_OK ||
	    jwt_verify(&ed_key, &jwt_claims_rfc7519, token, 1700000000, &claims) == PC_OK)
		__builtin_trap(); /* a forgery verified */
	if (jwt_header_kid(token, kid)) {
		size_t n = strnlen(kid, sizeof(kid));

		if (n == sizeof(kid))
			__builtin_trap();
		for (size_t i = 0; i < n; i++) {
			if (!ascii_is_b64url((unsigned char)kid[i]))
				__builtin_trap();
		}
	}
	free(token);
	return 0;
}
