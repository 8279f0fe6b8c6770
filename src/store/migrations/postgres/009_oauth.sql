-- 009_oauth (PostgreSQL twin of sqlite/009_oauth.sql): the provider accounts
-- linked to users (core/oauth.c), their provider tokens sealed under the TOTP
-- key (never read back into a response), and the spent OAuth states: a state
-- is recorded once, the primary key refuses its replay on any instance, and
-- the housekeeping job drops the record once the state has expired.
CREATE TABLE oauth_accounts (
	id            TEXT PRIMARY KEY NOT NULL,
	user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	oauth_name    TEXT NOT NULL,
	account_id    TEXT NOT NULL,
	account_email TEXT NOT NULL,
	access_token  TEXT,
	expires_at    BIGINT,
	refresh_token TEXT,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	UNIQUE (oauth_name, account_id)
);
CREATE INDEX oauth_accounts_user ON oauth_accounts (user_id);

CREATE TABLE oauth_used_states (
	state_hash TEXT PRIMARY KEY NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_used_states_expires ON oauth_used_states (expires_at);
