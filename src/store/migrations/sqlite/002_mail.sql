-- 002_mail: one-time tokens (reset, verify, ...) and the mail outbox.
-- Timestamps are unix seconds; NULL means "not yet".
--
-- one_time_tokens: the raw token is never stored, only the hex SHA-256 of
-- its text. A token is good while used_at IS NULL and expires_at > now.
-- email is the lower-cased address the token was sent to: a verify token
-- verifies that address only. claim_hash is for the magic-link claim of
-- seed 001 (a later issue).
CREATE TABLE one_time_tokens (
	token_hash TEXT PRIMARY KEY NOT NULL,
	purpose    TEXT NOT NULL CHECK (purpose IN ('reset', 'verify', 'magic', 'confirm')),
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	email      TEXT NOT NULL,
	claim_hash TEXT,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
) WITHOUT ROWID;
-- Serves the user's cascade (by user_id) and the voiding of unused tokens
-- (user_id, purpose, used_at IS NULL) without walking the used ones.
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id, purpose, used_at);
CREATE INDEX one_time_tokens_expires ON one_time_tokens (expires_at);

-- A password change voids every outstanding reset token of the user, in the
-- statement that changes it: no code path can forget it (DESIGN 3).
-- Rehashing on login rewrites hashed_password but not password_changed_at,
-- and so voids nothing.
CREATE TRIGGER users_password_change_voids_reset
AFTER UPDATE OF password_changed_at ON users
WHEN NEW.password_changed_at IS NOT OLD.password_changed_at
BEGIN
	UPDATE one_time_tokens SET used_at = NEW.password_changed_at
	WHERE user_id = NEW.id AND purpose = 'reset' AND used_at IS NULL;
END;

-- mail_outbox: every mail and webhook event is a row, written in the
-- transaction that made the token or event it carries. A sender claims a due
-- row by setting claimed_until (a lease): while the lease runs no other
-- sender takes it; if the sender dies, the lease runs out and the row is
-- tried again (at most one duplicate). Sent and given-up rows keep their
-- metadata but not their bodies (a link in a body is a live credential).
CREATE TABLE mail_outbox (
	id              INTEGER PRIMARY KEY,
	kind            TEXT NOT NULL CHECK (kind IN ('mail', 'webhook')),
	recipient       TEXT NOT NULL,            -- mail: the address; webhook: the URL
	subject         TEXT NOT NULL DEFAULT '',
	body_text       TEXT NOT NULL DEFAULT '',
	body_html       TEXT NOT NULL DEFAULT '',
	payload         TEXT NOT NULL DEFAULT '', -- webhook: the JSON body
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	claimed_until   INTEGER NOT NULL DEFAULT 0,
	sent_at         INTEGER,
	gave_up_at      INTEGER,
	last_error      TEXT,
	created_at      INTEGER NOT NULL
);
CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at)
	WHERE sent_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX mail_outbox_done ON mail_outbox (sent_at, gave_up_at);
