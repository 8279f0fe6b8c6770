-- 005_roles: the roles of a user (DESIGN 3), as the text of its role names
-- separated by single spaces, sorted, each [a-z0-9_.-]{1,32}, at most 16
-- (users.c normalises them; "" is none). The one role the server itself
-- reads is "admin": MyAuth's admin routes take a superuser or an admin.
-- A column of users, so that every user read (the access check included)
-- carries it without a second query.

ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '';
