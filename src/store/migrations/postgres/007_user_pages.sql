-- 007_user_pages (PostgreSQL twin of sqlite/007_user_pages.sql): the count
-- index over users in (created_at, id) order that the admin list seeks
-- through. The rules (the invariant, insert steps 1-4, delete, move) are
-- the SQLite file's, word for word; read them there. B = 1000.
-- Concurrency: SQLite runs one writer at a time; PostgreSQL does not, so
-- each trigger first takes a transaction-scoped advisory lock (key
-- 7007, held to commit): the bucket maintenance of two inserting
-- transactions never interleaves, and under READ COMMITTED each statement
-- after the lock sees the other's committed rows.

CREATE TABLE user_pages (
	first_created_at BIGINT NOT NULL,
	first_id         TEXT NOT NULL,
	n                BIGINT NOT NULL,
	PRIMARY KEY (first_created_at, first_id)
);

INSERT INTO user_pages (first_created_at, first_id, n)
SELECT created_at, id, LEAST(1000, total - rn + 1) FROM (
	SELECT created_at, id,
		row_number() OVER (ORDER BY created_at, id) AS rn,
		count(*) OVER () AS total
	FROM users
) AS numbered WHERE rn % 1000 = 1;

CREATE FUNCTION user_pages_add(k_created BIGINT, k_id TEXT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO user_pages (first_created_at, first_id, n)
	SELECT k_created, k_id, 0
	WHERE NOT EXISTS (SELECT 1 FROM user_pages)
	OR (EXISTS (SELECT 1 FROM (SELECT first_created_at, first_id, n FROM user_pages
			ORDER BY first_created_at DESC, first_id DESC LIMIT 1) AS last
		WHERE (last.first_created_at, last.first_id) < (k_created, k_id)
		AND last.n >= 1000)
	AND NOT EXISTS (SELECT 1 FROM users
		WHERE (created_at, id) > (k_created, k_id)));
	UPDATE user_pages SET n = n + 1
	WHERE (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		WHERE (first_created_at, first_id) <= (k_created, k_id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
	UPDATE user_pages SET first_created_at = k_created, first_id = k_id, n = n + 1
	WHERE (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		ORDER BY first_created_at, first_id LIMIT 1)
	AND (first_created_at, first_id) > (k_created, k_id);
END;
$$;

CREATE FUNCTION user_pages_remove(k_created BIGINT, k_id TEXT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE user_pages SET n = n - 1
	WHERE (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		WHERE (first_created_at, first_id) <= (k_created, k_id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
	DELETE FROM user_pages WHERE n <= 0
	AND (first_created_at, first_id) = (SELECT first_created_at, first_id FROM user_pages
		WHERE (first_created_at, first_id) <= (k_created, k_id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
END;
$$;

-- 4. the split, after an insert counted k
CREATE FUNCTION user_pages_split(k_created BIGINT, k_id TEXT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO user_pages (first_created_at, first_id, n)
	SELECT (SELECT u.created_at FROM users AS u
			WHERE (u.created_at, u.id) >= (b.first_created_at, b.first_id)
			ORDER BY u.created_at, u.id LIMIT 1 OFFSET 1000),
		(SELECT u.id FROM users AS u
			WHERE (u.created_at, u.id) >= (b.first_created_at, b.first_id)
			ORDER BY u.created_at, u.id LIMIT 1 OFFSET 1000),
		b.n - 1000
	FROM (SELECT first_created_at, first_id, n FROM user_pages
		WHERE (first_created_at, first_id) <= (k_created, k_id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1) AS b
	WHERE b.n > 2000;
	UPDATE user_pages SET n = 1000
	WHERE n > 2000 AND (first_created_at, first_id) = (SELECT first_created_at, first_id
		FROM user_pages WHERE (first_created_at, first_id) <= (k_created, k_id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1);
	UPDATE user_pages SET n = 1000
	WHERE n > 2000 AND (first_created_at, first_id) = (SELECT first_created_at, first_id
		FROM user_pages WHERE (first_created_at, first_id) <= (k_created, k_id)
		ORDER BY first_created_at DESC, first_id DESC LIMIT 1 OFFSET 1);
END;
$$;

CREATE FUNCTION users_pages_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(7007);
	IF TG_OP = 'INSERT' THEN
		PERFORM user_pages_add(NEW.created_at, NEW.id);
		PERFORM user_pages_split(NEW.created_at, NEW.id);
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM user_pages_remove(OLD.created_at, OLD.id);
	ELSIF NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.id IS DISTINCT FROM OLD.id THEN
		PERFORM user_pages_remove(OLD.created_at, OLD.id);
		PERFORM user_pages_add(NEW.created_at, NEW.id);
	END IF;
	RETURN NULL;
END;
$$;

CREATE TRIGGER users_pages_insert AFTER INSERT ON users
	FOR EACH ROW EXECUTE FUNCTION users_pages_trigger();
CREATE TRIGGER users_pages_delete AFTER DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION users_pages_trigger();
CREATE TRIGGER users_pages_move AFTER UPDATE OF created_at, id ON users
	FOR EACH ROW EXECUTE FUNCTION users_pages_trigger();
