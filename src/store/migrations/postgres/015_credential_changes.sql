-- 015_credential_changes: revoked_jti.user_id, the subject of the revoked
-- token (NULL for rows written before, and when unknown); the twin of
-- SQLite's 015. PostgreSQL keeps no change log: its triggers notify channel
-- portcullis_gen, naming each user a statement changed since 016 (a NULL
-- user_id there notifies every user), and each instance bumps those users'
-- remembered credentials (store.h, store_cred_*).
ALTER TABLE revoked_jti ADD COLUMN user_id TEXT;
