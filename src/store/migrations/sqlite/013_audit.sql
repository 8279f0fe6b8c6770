-- 013_audit: the audit log of security events (issue 13, item 5).
--
-- One row per event: id a UUIDv7 (so ids sort by time: the list's cursor),
-- at unix seconds, event its name ("login.failure", "admin.user_delete"),
-- user_id the user it concerns (NULL: unknown, a failed login of no
-- account), actor_id who acted when it was someone else (a superuser), ip
-- the client's key, detail a JSON object. No secret, password or token is
-- ever written here. No reference to users: the trail outlives the user.
-- Rows older than audit_retention_days are purged.

CREATE TABLE audit_log (
	id       TEXT PRIMARY KEY NOT NULL,
	at       INTEGER NOT NULL,
	event    TEXT NOT NULL,
	user_id  TEXT,
	actor_id TEXT,
	ip       TEXT,
	detail   TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE INDEX audit_log_user ON audit_log (user_id, id);
CREATE INDEX audit_log_at ON audit_log (at);
