-- 013_audit (PostgreSQL twin of sqlite/013_audit.sql): the audit log of
-- security events; id a UUIDv7 (time-ordered cursor), at unix seconds,
-- detail a JSON object with no secret, password or token. No reference to
-- users: the trail outlives the user. Purged after audit_retention_days.
CREATE TABLE audit_log (
	id       TEXT PRIMARY KEY NOT NULL,
	at       BIGINT NOT NULL,
	event    TEXT NOT NULL,
	user_id  TEXT,
	actor_id TEXT,
	ip       TEXT,
	detail   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_user ON audit_log (user_id, id);
CREATE INDEX audit_log_at ON audit_log (at);
