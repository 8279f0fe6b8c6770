-- 012_rate_limits (PostgreSQL twin of sqlite/012_rate_limits.sql): counters
-- of attempts shared by every instance. key "<kind>:<subject>": a window
-- counter (hits since window_start) or an account's consecutive failed
-- logins ("lock:...", with locked_until; a success deletes the row).
CREATE TABLE rate_limits (
	key          TEXT PRIMARY KEY NOT NULL,
	window_start BIGINT NOT NULL,
	hits         BIGINT NOT NULL,
	locked_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rate_limits_window ON rate_limits (window_start);
