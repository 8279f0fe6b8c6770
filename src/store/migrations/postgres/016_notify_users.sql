-- 016_notify_users: the notifications of channel portcullis_gen name the
-- users a write changed (store.h, store_cred_*; pg.c), so that an instance
-- voids the remembered credentials of those users only, not every one.
--
-- The triggers of 001 and 003 notified '' (every user) once a statement on
-- users, sessions, revoked_jti and refresh_families. They are replaced by
-- statement-level triggers that read the statement's transition tables:
-- pg_notify('portcullis_gen', <user id>) once for each distinct user of the
-- rows it changed (old and new rows of an UPDATE), or a single '' when a
-- row's user is NULL (revoked_jti.user_id of rows older than 015, or not
-- known) or more than 64 users were changed. A statement that changed no
-- row notifies nothing. The denylist's deletes (its purge of entries past
-- their token's expiry) notify nothing, as on SQLite (015): removing a
-- refusal changes no answer a cache holds, which are successes only, and a
-- purge of many would void every user's. PostgreSQL delivers a transaction's notifications
-- when it commits, once per distinct payload, and to the session that made
-- them too before its ReadyForQuery: each pooled connection of an instance
-- LISTENs, and bumps the users of its own writes before the writer returns.
-- TG_ARGV[0]: the column holding the user's id. A transition table may be
-- named by a trigger of one event only: one trigger an event.
-- portcullis_notify_gen (001) is kept for any trigger still on it: it
-- notifies '' (every user); after this migration none is.
CREATE FUNCTION portcullis_notify_users() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	ids TEXT[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg(DISTINCT to_jsonb(n) ->> TG_ARGV[0]) INTO ids FROM new_rows n;
	ELSIF TG_OP = 'DELETE' THEN
		SELECT array_agg(DISTINCT to_jsonb(o) ->> TG_ARGV[0]) INTO ids FROM old_rows o;
	ELSE
		SELECT array_agg(DISTINCT u) INTO ids FROM (
			SELECT to_jsonb(o) ->> TG_ARGV[0] AS u FROM old_rows o
			UNION ALL
			SELECT to_jsonb(n) ->> TG_ARGV[0] FROM new_rows n) r;
	END IF;
	IF ids IS NULL THEN
		RETURN NULL; -- no row changed
	END IF;
	IF cardinality(ids) > 64 OR array_position(ids, NULL) IS NOT NULL THEN
		PERFORM pg_notify('portcullis_gen', '');
	ELSE
		PERFORM pg_notify('portcullis_gen', u) FROM unnest(ids) u;
	END IF;
	RETURN NULL;
END;
$$;

DROP TRIGGER users_notify_gen ON users;
DROP TRIGGER sessions_notify_gen ON sessions;
DROP TRIGGER revoked_jti_notify_gen ON revoked_jti;
DROP TRIGGER refresh_families_notify_gen ON refresh_families;

CREATE TRIGGER users_notify_update AFTER UPDATE ON users
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_users('id');
CREATE TRIGGER users_notify_delete AFTER DELETE ON users
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_users('id');
CREATE TRIGGER sessions_notify_update AFTER UPDATE ON sessions
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_users('user_id');
CREATE TRIGGER sessions_notify_delete AFTER DELETE ON sessions
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_users('user_id');
CREATE TRIGGER revoked_jti_notify_insert AFTER INSERT ON revoked_jti
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_users('user_id');
CREATE TRIGGER revoked_jti_notify_update AFTER UPDATE ON revoked_jti
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_users('user_id');
CREATE TRIGGER refresh_families_notify_update AFTER UPDATE ON refresh_families
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_users('user_id');
CREATE TRIGGER refresh_families_notify_delete AFTER DELETE ON refresh_families
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_users('user_id');
