/* libFuzzer driver: the OIDC client core's parsers (oidc.c). The first byte
 * picks what the rest is:
 *   0  a JWKS document (oidc_jwks_load: JSON, JWK members, RSA and EC keys
 *      through OpenSSL), then a fixed ES256 token verified against it;
 *   1  an ID token (oidc_id_token_verify) against a set holding a P-256 key
 *      made at start: nothing the fuzzer makes may verify;
 *   2  a discovery document (oidc_discovery_parse);
 *   3  a state (oidc_state_verify): nothing the fuzzer makes may verify.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ISS "https://issuer.example.com"

static struct oidc_jwks *held;

/* A set with one P-256 key (kid "k"), made once per process. */
static void held_make(void)
{
	unsigned char x[32], y[32];
	char bx[48], by[48], doc[256];
	BIGNUM *bx_n = NULL, *by_n = NULL;
	EVP_PKEY *k;

	if (held != NULL)
		return;
	k = EVP_EC_gen("P-256");
	if (k == NULL || EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx_n) != 1 ||
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by_n) != 1)
		abort();
	BN_bn2binpad(bx_n, x, 32);
	BN_bn2binpad(by_n, y, 32);
	crypto_b64url_encode(x, 32, bx, sizeof(bx));
	crypto_b64url_encode(y, 32, by, sizeof(by));
	snprintf(doc, sizeof(doc),
		 "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
		 bx, by);
	if (oidc_jwks_new(NULL, 1, &held) != PC_OK || oidc_jwks_load(held, doc, strlen(doc)) != PC_OK)
		abort();
	BN_free(bx_n);
	BN_free(by_n);
	EVP_PKEY_free(k); /* held lives for the process */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct oidc_expect e = { ISS, "client", "nonce", 1700000000 };
	static const unsigned char key[OIDC_STATE_KEY] = "fuzz-state-key-fuzz-state-key-01";
	/* {"alg":"ES256","kid":"k"}.{}.<64 zero bytes> */
	static const char fixed[] = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.e30."
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	struct oidc_id_claims c;
	struct oidc_discovery d;
	struct oidc_state st;
	struct oidc_jwks *j;
	char *text;

	if (size == 0)
		return 0;
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		if (oidc_jwks_new(NULL, 1, &j) == PC_OK) {
			if (oidc_jwks_load(j, text, size - 1) == PC_OK &&
			    oidc_id_token_verify(j, &e, fixed, &c) == PC_OK)
				__builtin_trap(); /* zeros are no signature */
			oidc_jwks_free(j);
		}
		break;
	case 1:
		held_make();
		if (oidc_id_token_verify(held, &e, text, &c) == PC_OK)
			__builtin_trap(); /* a forgery verified */
		break;
	case 2:
		(void)oidc_discovery_parse(ISS, text, size - 1, &d);
		break;
	default:
		if (oidc_state_verify(key, text, "csrf", 1700000000, &st) == PC_OK)
			__builtin_trap(); /* a state forged without the key */
		break;
	}
	free(text);
	return 0;
}
