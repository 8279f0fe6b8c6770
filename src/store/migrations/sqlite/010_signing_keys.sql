-- 010_signing_keys: the asymmetric keys access JWTs are signed with (EdDSA,
-- ES256, RS256; core/keys.c). One row per key: its kid (the RFC 7638
-- thumbprint of its public JWK), its algorithm (the only one it verifies),
-- the private key as PKCS#8 PEM, when it was made, and when a newer key
-- replaced it (NULL: the key that signs). A retired key is still published
-- and accepted until the last token it signed has expired, then purged.
CREATE TABLE signing_keys (
	kid         TEXT PRIMARY KEY NOT NULL,
	alg         TEXT NOT NULL,
	private_pem TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	retired_at  INTEGER
);
