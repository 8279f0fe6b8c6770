/* libFuzzer driver: the JWT claims fast reader against jansson, on the
 * decoded payload (what jwt_verify reads once the signature holds), for
 * each kind of claims table (RFC 7519 with a family, a type claim, the
 * TOTP-purpose token's flag). Whatever the fast reader accepts, jansson
 * accepts with the same claims; whatever it rejects outright, jansson
 * rejects too; what it declines goes to jansson in jwt_verify. */
#include <stdint.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_compare(const struct jwt_claims_table *t, const char *json, size_t size)
{
	static const struct pc_jwt_key key = {
		.secret = "fuzz", .len = 4, .alg = "HS256", .aud = "fastapi-users:auth",
	};
	const int64_t now = 1700000000;
	struct pc_jwt_claims fast, slow;
	enum jwt_read r = jwt_claims_read_fast(&key, t, json, size, now, &fast);
	bool slow_ok = jwt_claims_read_full(&key, t, json, size, now, &slow);

	if (r == JWT_READ_OK && (!slow_ok || memcmp(&fast, &slow, sizeof(fast)) != 0))
		__builtin_trap(); /* accepted what jansson refuses, or read it differently */
	if (r == JWT_READ_REJECT && slow_ok)
		__builtin_trap(); /* refused what jansson accepts */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct jwt_claims_table typed = {
		.subject = "user_id", .token_id = "jti", .audience = false,
		.type_claim = "token_type", .access_type = "access",
	};

	fuzz_compare(&jwt_claims_rfc7519, (const char *)data, size);
	fuzz_compare(&typed, (const char *)data, size);
	fuzz_compare(&jwt_claims_totp, (const char *)data, size);
	fuzz_compare(&jwt_claims_simplejwt, (const char *)data, size);
	fuzz_compare(&jwt_claims_simplejwt_refresh, (const char *)data, size);
	fuzz_compare(&jwt_claims_flask, (const char *)data, size);
	fuzz_compare(&jwt_claims_flask_refresh, (const char *)data, size);
	return 0;
}
