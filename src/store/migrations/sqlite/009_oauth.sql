-- 009_oauth: OAuth2 / OpenID Connect social login (core/oauth.c).
-- oauth_accounts: one row per provider account linked to a user; unique per
-- (oauth_name, account_id), so one provider account belongs to one user.
-- access_token and refresh_token are AES-256-GCM text "v1:<key id>:<base64>"
-- sealed under the TOTP key (never a token in clear); NULL when the
-- provider gave none. expires_at: the access token's expiry, 0 when
-- unknown.
-- oauth_used_states: the SHA-256 (hex) of each state a callback has
-- accepted, kept until the state would have expired anyway, so that a
-- state is spent once (a replayed callback finds its row and is refused).

CREATE TABLE oauth_accounts (
	id            TEXT PRIMARY KEY NOT NULL,
	user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	oauth_name    TEXT NOT NULL,
	account_id    TEXT NOT NULL,
	account_email TEXT NOT NULL,
	access_token  TEXT,
	expires_at    INTEGER,
	refresh_token TEXT,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	UNIQUE (oauth_name, account_id)
);

CREATE INDEX oauth_accounts_user ON oauth_accounts (user_id);

CREATE TABLE oauth_used_states (
	state_hash TEXT PRIMARY KEY NOT NULL,
	expires_at INTEGER NOT NULL
);
