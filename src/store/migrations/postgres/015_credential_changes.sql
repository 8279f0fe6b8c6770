-- 015_credential_changes: revoked_jti.user_id, the subject of the revoked
-- token (NULL for rows written before, and when unknown); the twin of
-- SQLite's 015. PostgreSQL keeps no change log: its triggers (001, 003, 011)
-- notify channel portcullis_gen, and a cached credential lives at most
-- auth_cache_ms there.
ALTER TABLE revoked_jti ADD COLUMN user_id TEXT;
