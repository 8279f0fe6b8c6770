-- 003_refresh: refresh-token families (src/core/refresh.c draws their states).
-- A login starts a family; each rotation spends one token (used_at) and
-- inserts its child in the same family. Tokens are stored only as hex
-- SHA-256 of their text. A family is revoked by one row (revoked_at of
-- refresh_families), which every access token carrying its id checks, and
-- its tokens are marked revoked with it, so that the spending
-- compare-and-swap on refresh_tokens needs no join.

CREATE TABLE refresh_families (
	family_id  TEXT PRIMARY KEY NOT NULL,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX refresh_families_user ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
	token_hash TEXT PRIMARY KEY NOT NULL,
	family_id  TEXT NOT NULL REFERENCES refresh_families (family_id) ON DELETE CASCADE,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER,
	revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
