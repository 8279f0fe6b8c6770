-- 010_signing_keys (PostgreSQL twin of sqlite/010_signing_keys.sql): the
-- asymmetric keys access JWTs are signed with (core/keys.c): kid (RFC 7638
-- thumbprint), the one algorithm it verifies, the private key as PKCS#8 PEM,
-- when it was made and when a newer key replaced it (NULL: the one that
-- signs). Each instance re-reads the table every jwt_keys_reload_seconds.
CREATE TABLE signing_keys (
	kid         TEXT PRIMARY KEY NOT NULL,
	alg         TEXT NOT NULL,
	private_pem TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	retired_at  BIGINT
);
