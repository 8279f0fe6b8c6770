/* libFuzzer driver: the JWT claims fast reader against jansson, on the
 * decoded payload (what jwt_verify reads once the signature holds).
 * Whatever the fast reader accepts, jansson accepts with the same claims;
 * whatever it rejects outright, jansson rejects too. */
#include <stdint.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pc_jwt_key key = {
		.secret = "fuzz", .len = 4, .alg = "HS256", .aud = "fastapi-users:auth",
	};
	const int64_t now = 1700000000;
	struct pc_jwt_claims fast, slow, both;
	const char *json = (const char *)data;
	bool fast_ok = jwt_claims_check(&key, json, size, now, 1, &fast);
	bool fast_not_rejected = jwt_claims_check(&key, json, size, now, 3, &both);
	bool slow_ok = jwt_claims_check(&key, json, size, now, 2, &slow);

	if (fast_ok && (!slow_ok || memcmp(&fast, &slow, sizeof(fast)) != 0))
		__builtin_trap(); /* accepted what jansson refuses, or read it differently */
	if (!fast_not_rejected && slow_ok)
		__builtin_trap(); /* refused what jansson accepts */
	if (jwt_claims_check(&key, json, size, now, 0, &both) != slow_ok)
		__builtin_trap(); /* the combination decides as jansson does */
	return 0;
}
