/* oidc_probe: the OIDC core against a real provider, for the API tests
 * (tests/api/test_oidc_provider.py starts npm's oidc-provider and runs this).
 *
 *   oidc_probe ISSUER                          discovery + JWKS fetch
 *   oidc_probe ISSUER CLIENT_ID NONCE ID_TOKEN  ... then verifies the token
 *
 * Prints "jwks_uri <url>", one "key <kty>:<kid>" line per key held and, with
 * a token, "sub <sub>", "email <email>", "email_verified <0|1>". Exit status
 * 0 when every step passed, else 1 with "error <step>: <code>" on stderr. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

int main(int argc, char **argv)
{
	struct oidc_discovery d;
	struct pc_errinfo ei;
	struct oidc_jwks *j = NULL;
	struct oidc_id_claims c;
	struct pc_buf kids;
	enum pc_err err;
	char *line, *save = NULL;

	if (argc != 2 && argc != 5) {
		fprintf(stderr, "usage: oidc_probe ISSUER [CLIENT_ID NONCE ID_TOKEN]\n");
		return 2;
	}
	memset(&ei, 0, sizeof(ei));
	err = oidc_discover(argv[1], 10, &d, &ei);
	if (err != PC_OK) {
		fprintf(stderr, "error discover: %s (%s)\n", pc_strerror(err), ei.detail);
		return 1;
	}
	printf("jwks_uri %s\n", d.jwks_uri);
	err = oidc_jwks_new(d.jwks_uri, 10, &j);
	if (err == PC_OK)
		err = oidc_jwks_fetch(j, time_now());
	buf_init(&kids, 4096);
	if (err == PC_OK)
		err = oidc_jwks_describe(j, &kids);
	if (err != PC_OK) {
		fprintf(stderr, "error jwks: %s\n", pc_strerror(err));
		goto out;
	}
	for (line = kids.data != NULL ? strtok_r(kids.data, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		printf("key %s\n", line);
	if (argc == 5) {
		struct oidc_expect e = { d.issuer, argv[2], argv[3], time_now() };

		err = oidc_id_token_verify(j, &e, argv[4], &c);
		if (err != PC_OK) {
			fprintf(stderr, "error id_token: %s\n", pc_strerror(err));
			goto out;
		}
		printf("sub %s\nemail %s\nemail_verified %d\n", c.sub, c.email, c.email_verified);
	}
out:
	buf_release(&kids);
	oidc_jwks_free(j);
	return err == PC_OK ? 0 : 1;
}
