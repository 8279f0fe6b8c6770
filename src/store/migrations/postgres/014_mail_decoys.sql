-- 014_mail_decoys: the write a mail request makes when it sends nothing (an
-- unknown address, an inactive user, one verified already), so that its
-- commit costs what the token and its mail cost (issue 13, item 4;
-- core/onetime.c): token_decoys is shaped as one_time_tokens (a table and
-- three indexes), mail_decoys as mail_outbox (a table and two), and the
-- request writes one row in each as long as the row the other path writes.
-- Each is a ring of 64 slots overwritten by later requests with random text:
-- bounded without a purge; nothing reads them.
CREATE TABLE token_decoys (
	slot       BIGINT PRIMARY KEY,
	tag        TEXT NOT NULL UNIQUE,
	owner      TEXT NOT NULL,
	payload    TEXT NOT NULL,
	written_at BIGINT NOT NULL
);
CREATE INDEX token_decoys_owner ON token_decoys (owner, written_at);
CREATE INDEX token_decoys_at ON token_decoys (written_at);

CREATE TABLE mail_decoys (
	slot       BIGINT PRIMARY KEY,
	payload    TEXT NOT NULL,
	written_at BIGINT NOT NULL
);
CREATE INDEX mail_decoys_at ON mail_decoys (written_at);
CREATE INDEX mail_decoys_slot_at ON mail_decoys (slot, written_at);
