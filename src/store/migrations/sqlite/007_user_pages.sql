-- 007_user_pages: a count index over users in (created_at, id) order, so
-- that the admin list (STMT_USER_LIST) finds the row at any offset in about
-- B/2 + N/B steps instead of walking the offset in users_created.
--
-- user_pages holds buckets of consecutive users in (created_at, id) order.
-- A bucket is keyed by (first_created_at, first_id) and n is its user count.
-- The invariant, kept by the triggers below in the transaction of the write:
--   bucket i holds exactly the users whose key k has key_i <= k < key_(i+1)
--   (the last bucket: key_last <= k), n is their count, n > 0, and no user
--   has a key below the first bucket's key.
-- Then sum(n) is the user count, and the users before bucket i are exactly
-- sum(n) over the buckets before it: the list query finds the bucket where
-- its offset falls, seeks to key_i in users_created and skips the rest.
--
-- A bucket's key need not be the key of a user. Deleting the user whose key
-- is the bucket's key leaves the key as it is: it is still <= every key in
-- the bucket and > every key of the previous bucket, and a user later
-- inserted between the old key and the bucket's first remaining user falls
-- in this bucket by the rule, where the count puts it. A bucket whose n
-- reaches 0 is deleted: its range becomes part of the previous bucket's
-- (or lies before the first bucket), and it holds no user.
--
-- Insert of key k (users_pages_insert):
--   1. a new bucket (k, 0) is made when there is none at all, or when the
--      last bucket has its key < k, already holds >= B users, and no user has
--      a key > k (k is the new greatest key: the usual case, ids are UUIDv7
--      and created_at is now). "No user above k" is required: otherwise the
--      users above k in the last bucket would fall in the new bucket's range
--      while counted in the old one.
--   2. the bucket with the greatest key <= k counts it (n = n + 1);
--   3. when there is no such bucket (k is below every bucket key), the first
--      bucket takes it and its key moves down to k.
--   4. split: when the bucket that counted k now holds more than 2B users,
--      its users from the (B+1)-th on (in key order from its key) become a
--      new bucket keyed by that user's key, and it keeps B. Both ranges then
--      hold exactly what they count. The new bucket is made first (from the
--      old bucket's count), then the old one, which is the greatest key
--      <= k or the one just before it, is cut to B.
-- So no bucket holds more than 2B users, whatever the order of the keys:
-- old-dated imports, a clock that went back, or one user dated in the
-- future (above whom step 1 never starts a bucket) only make buckets split.
-- (Measured before the split existed: one future-dated user put every later
-- sign-up of a 1 000 000-user store in one bucket, 5 pages/s at the end.)
-- Delete of key k (users_pages_delete): the bucket with the greatest key
-- <= k loses one; it is deleted at 0.
-- created_at and id are never updated by portcullis (STMT_USER_UPDATE does
-- not set them); users_pages_move keeps the invariant anyway if an operator
-- does (a delete of the old key, then an insert of the new).
-- B = 1000: a constant in users_pages_insert, users_pages_move and the backfill.
-- Each bucket is found by a row-value "= (SELECT ... LIMIT 1)" on the
-- primary key, not "IN (SELECT ...)": the IN form builds a temporary table
-- per row and made 10 000 inserts ~15x slower than this one (measured on
-- 1 000 000 users: +3 us an insert, +9 us a delete with these triggers).
-- A later migration that rebuilds users (create, copy, drop, rename) drops
-- these triggers with the old table and must create them again.

CREATE TABLE user_pages (
	first_created_at INTEGER NOT NULL,
	first_id         TEXT NOT NULL,
	n                INTEGER NOT NULL,
	PRIMARY KEY (first_created_at, first_id)
) WITHOUT ROWID;

-- The backfill: every 1000 users from the first make a bucket.
INSERT INTO user_pages (first_created_at, first_id, n)
SELECT created_at, id, min(1000, total - rn + 1) FROM (
	SELECT created_at, id,
		row_number() OVER (ORDER BY created_at, id) AS rn,
		count(*) OVER () AS total
	FROM users
) WHERE rn % 1000 = 1;

CREATE TRIGGER users_pages_insert AFTER INSERT ON users
BEGIN
	INSERT INTO user_pages (first_created_at, first_id, n)
	SELECT NEW.created_at, NEW.id, 0
	WHERE NOT EXISTS (SELECT 1 FROM user_pages)
	OR (EXISTS (SELECT 1 FROM (SELECT first_created_at, first_id, n FROM user_pages
			ORDER BY first_created_at DESC, first_id DESC LIMIT 1) AS last
		WHERE (last.first_created_at, last.first_id) < (NEW.created_at, NEW.id)
		AND last.n >= 1000)
	AND NOT EXISTS (SELECT 1 FROM users
		WHERE (created_at, id) > (NEW.created_at, NEW.id)));
	UPDATE user_pages SET n = n + 1
	WHERE (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		WHERE (first_created_at, first_id) <= (NEW.created_at, NEW.id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
	UPDATE user_pages SET first_created_at = NEW.created_at, first_id = NEW.id, n = n + 1
	WHERE (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		ORDER BY first_created_at, first_id LIMIT 1)
	AND (first_created_at, first_id) > (NEW.created_at, NEW.id);
	-- 4. the split (a walk of B index entries, once every B inserts at most)
	INSERT INTO user_pages (first_created_at, first_id, n)
	SELECT (SELECT u.created_at FROM users AS u
			WHERE (u.created_at, u.id) >= (b.first_created_at, b.first_id)
			ORDER BY u.created_at, u.id LIMIT 1 OFFSET 1000),
		(SELECT u.id FROM users AS u
			WHERE (u.created_at, u.id) >= (b.first_created_at, b.first_id)
			ORDER BY u.created_at, u.id LIMIT 1 OFFSET 1000),
		b.n - 1000
	FROM (SELECT first_created_at, first_id, n FROM user_pages
		WHERE (first_created_at, first_id) <= (NEW.created_at, NEW.id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1) AS b
	WHERE b.n > 2000;
	UPDATE user_pages SET n = 1000
	WHERE n > 2000 AND (first_created_at, first_id) = (SELECT first_created_at, first_id
		FROM user_pages WHERE (first_created_at, first_id) <= (NEW.created_at, NEW.id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
	UPDATE user_pages SET n = 1000
	WHERE n > 2000 AND (first_created_at, first_id) = (SELECT first_created_at, first_id
		FROM user_pages WHERE (first_created_at, first_id) <= (NEW.created_at, NEW.id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1 OFFSET 1);
END;

CREATE TRIGGER users_pages_delete AFTER DELETE ON users
BEGIN
	UPDATE user_pages SET n = n - 1 -- the delete's count
	WHERE (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		WHERE (first_created_at, first_id) <= (OLD.created_at, OLD.id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
	DELETE FROM user_pages WHERE n <= 0
	AND (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		WHERE (first_created_at, first_id) <= (OLD.created_at, OLD.id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
END;

CREATE TRIGGER users_pages_move AFTER UPDATE OF created_at, id ON users
WHEN NEW.created_at IS NOT OLD.created_at OR NEW.id IS NOT OLD.id
BEGIN
	UPDATE user_pages SET n = n - 1
	WHERE (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		WHERE (first_created_at, first_id) <= (OLD.created_at, OLD.id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
	DELETE FROM user_pages WHERE n <= 0
	AND (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		WHERE (first_created_at, first_id) <= (OLD.created_at, OLD.id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
	INSERT INTO user_pages (first_created_at, first_id, n)
	SELECT NEW.created_at, NEW.id, 0
	WHERE NOT EXISTS (SELECT 1 FROM user_pages)
	OR (EXISTS (SELECT 1 FROM (SELECT first_created_at, first_id, n FROM user_pages
			ORDER BY first_created_at DESC, first_id DESC LIMIT 1) AS last
		WHERE (last.first_created_at, last.first_id) < (NEW.created_at, NEW.id)
		AND last.n >= 1000)
	AND NOT EXISTS (SELECT 1 FROM users
		WHERE (created_at, id) > (NEW.created_at, NEW.id)));
	UPDATE user_pages SET n = n + 1
	WHERE (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		WHERE (first_created_at, first_id) <= (NEW.created_at, NEW.id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
	UPDATE user_pages SET first_created_at = NEW.created_at, first_id = NEW.id, n = n + 1
	WHERE (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		ORDER BY first_created_at, first_id LIMIT 1)
	AND (first_created_at, first_id) > (NEW.created_at, NEW.id);
END;
