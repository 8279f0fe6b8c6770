-- 006_users_optional_email (PostgreSQL twin): a user needs an email or a
-- username, not both; users gains phone and contacts. PostgreSQL changes the
-- table in place (SQLite rebuilds it).
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ALTER COLUMN email_lc DROP NOT NULL;
ALTER TABLE users ADD COLUMN phone TEXT;
ALTER TABLE users ADD COLUMN contacts TEXT;
ALTER TABLE users ADD CONSTRAINT users_email_or_username
	CHECK (email IS NOT NULL OR username IS NOT NULL);
ALTER TABLE users ADD CONSTRAINT users_email_lc_with_email
	CHECK ((email IS NULL) = (email_lc IS NULL));
