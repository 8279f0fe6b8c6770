-- 012_rate_limits: counters of attempts, kept in the store so that every
-- instance sharing it counts the same (issue 13, item 1).
--
-- key: "<kind>:<subject>": a window counter ("login-ip:203.0.113.9",
-- "forgot-email:a@b.example", "forgot-ip:2001:db8:1:2::/64"), or an
-- account's consecutive failed logins ("lock:<email or username, lower
-- case>", kept for unknown identifiers too, so a lock tells nothing).
-- A window counter: hits within the window that began at window_start.
-- A lock row: hits = failures in a row, window_start = the last one,
-- locked_until = when the lock ends (0: not locked). A success deletes it.

CREATE TABLE rate_limits (
	key          TEXT PRIMARY KEY NOT NULL,
	window_start INTEGER NOT NULL,
	hits         INTEGER NOT NULL,
	locked_until INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX rate_limits_window ON rate_limits (window_start);
