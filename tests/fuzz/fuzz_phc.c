/* libFuzzer driver: the argon2 PHC string reader (password_phc_parse) and
 * password_verify over it. Invariants:
 *   - what the reader accepts is written back byte for byte from what it
 *     read: "$argon2X$" [v=N$] "m=N,t=N,p=N$" salt "$" hash, numbers in
 *     canonical decimal, salt and hash unpadded base64 of the lengths it
 *     reported (when crypto_b64_decode takes them);
 *   - what it refuses, password_verify refuses as PC_EINVAL (never a match),
 *     unless it is of an imported format (bcrypt, Django, Werkzeug);
 *   - a string it accepts with cheap parameters is verified for real against
 *     the password "fuzz" (argon2 runs): only PC_OK, PC_EBADCREDS or
 *     PC_EINVAL come back, PC_EINVAL when the decoder refuses salt or hash,
 *     and the rehash advice follows the policy (m=8, t=1, p=1, 16-byte
 *     salt, 32-byte hash). The seed corpus holds a real hash of "fuzz". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* argon2 runs only below these (a verify costs microseconds there). */
#define CHEAP_M_KIB 64u
#define CHEAP_T 2u
#define CHEAP_P 2u

static const char *type_prefix(int type)
{
	switch (type) {
	case Argon2_id: return "$argon2id$";
	case Argon2_i: return "$argon2i$";
	case Argon2_d: return "$argon2d$";
	}
	__builtin_trap();
}

/* Checks seg (up to the next '$' or NUL) against crypto_b64_decode, which
 * password_verify decodes it with: same length when it decodes. The reader
 * only counts characters, so a last character with non-zero padding bits
 * passes it and not the decoder; *canonical says which. */
static const char *check_b64(const char *seg, size_t want, bool *canonical)
{
	unsigned char out[512];
	const char *end = strchr(seg, '$');
	size_t n = end != NULL ? (size_t)(end - seg) : strlen(seg), got = 0;
	enum pc_err err;

	if (n / 4 * 3 + 3 > sizeof(out))
		return seg + n; /* longer than any stored hash: verify refuses it by length */
	err = crypto_b64_decode(seg, n, out, sizeof(out), &got);
	if (err == PC_OK && got != want)
		__builtin_trap(); /* the reader and the decoder disagree on the length */
	if (err != PC_OK && err != PC_EINVAL)
		__builtin_trap();
	if (err != PC_OK)
		*canonical = false;
	return seg + n;
}

static void check_accepted(const char *s, const struct phc_info *pi, bool *canonical)
{
	char head[128];
	const char *p;
	size_t hn;
	int n;

	/* With "v=" written out, or (version 1.0 only) without it. */
	n = snprintf(head, sizeof(head), "%sv=%u$m=%u,t=%u,p=%u$", type_prefix(pi->type),
		     pi->version, pi->m, pi->t, pi->p);
	hn = (size_t)n;
	if (strncmp(s, head, hn) != 0) {
		if (pi->version != ARGON2_VERSION_10)
			__builtin_trap();
		n = snprintf(head, sizeof(head), "%sm=%u,t=%u,p=%u$", type_prefix(pi->type),
			     pi->m, pi->t, pi->p);
		hn = (size_t)n;
		if (strncmp(s, head, hn) != 0)
			__builtin_trap(); /* not what the reader says it read */
	}
	if (pi->salt_len == 0 || pi->hash_len == 0)
		__builtin_trap();
	p = check_b64(s + hn, pi->salt_len, canonical);
	if (*p != '$')
		__builtin_trap();
	p = check_b64(p + 1, pi->hash_len, canonical);
	if (*p != '\0')
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pc_argon2_params policy = { 8, 1, 1 };
	struct phc_info pi;
	bool rehash = true, canonical = true;
	enum pc_err err;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (!password_phc_parse(s, &pi)) {
		/* an imported format (bcrypt, Django's, Werkzeug's; issue 16) has its
		 * own verifier and unit tests, and costs up to a second: left out */
		if (password_format_known(s)) {
			free(s);
			return 0;
		}
		if (password_verify(&policy, s, "fuzz", 4, &rehash) != PC_EINVAL || rehash)
			__builtin_trap(); /* refused by the reader, yet verified */
		free(s);
		return 0;
	}
	check_accepted(s, &pi, &canonical);
	if (pi.m <= CHEAP_M_KIB && pi.t <= CHEAP_T && pi.p <= CHEAP_P) {
		err = password_verify(&policy, s, "fuzz", 4, &rehash);
		if (err != PC_OK && err != PC_EBADCREDS && err != PC_EINVAL)
			__builtin_trap();
		if (err != PC_OK && rehash)
			__builtin_trap();
		if (!canonical && err != PC_EINVAL)
			__builtin_trap(); /* verified against bytes it could not decode */
		if (err == PC_OK && rehash != (pi.type != Argon2_id || pi.version != ARGON2_VERSION_13 ||
					       pi.m != 8 || pi.t != 1 || pi.p != 1 ||
					       pi.salt_len != 16 || pi.hash_len != 32))
			__builtin_trap(); /* rehash advice that does not follow the policy */
	}
	free(s);
	return 0;
}
