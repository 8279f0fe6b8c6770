-- 016_notify_users: the twin of PostgreSQL's 016, which makes the
-- notifications of its channel portcullis_gen name the users a write
-- changed. SQLite has no such channel: its change log (015,
-- credential_changes) already names each user, so there is nothing to
-- change here; the file keeps the two back ends' migration numbers in step.
SELECT 1;
