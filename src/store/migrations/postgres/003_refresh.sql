-- 003_refresh (PostgreSQL twin of sqlite/003_refresh.sql): refresh-token
-- families. A revoked family is what every access token naming it checks,
-- so its writes notify the instances (portcullis_gen, 001).
CREATE TABLE refresh_families (
	family_id  TEXT PRIMARY KEY NOT NULL,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);
CREATE TRIGGER refresh_families_notify_gen AFTER UPDATE OR DELETE ON refresh_families
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_gen();

CREATE TABLE refresh_tokens (
	token_hash TEXT PRIMARY KEY NOT NULL,
	family_id  TEXT NOT NULL REFERENCES refresh_families (family_id) ON DELETE CASCADE,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT,
	revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
