-- 005_roles (PostgreSQL twin of sqlite/005_roles.sql): a user's roles as
-- sorted space-separated names.
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '';
