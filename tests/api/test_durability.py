"""Issue 13, item 7: secrets and durability, on the real binary.

- a database file that its group or others may read is refused at start-up,
  with the chmod that fixes it (never silently tightened);
- uniform or short secrets are refused;
- /readyz is not ready while the database refuses writes (a real full
  filesystem: a small tmpfs, filled);
- a permanent SMTP refusal (5xx) ends that mail's retries, logged; a
  transient one (4xx) is retried.
"""

import asyncio
import json
import os
import subprocess
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import free_port, run_cli

SERVE_TIMEOUT = 20


def test_a_database_others_may_read_is_refused_at_start(tmp_path):
    db = tmp_path / "x.db"
    p = run_cli(["migrate"], db_path=db)
    assert p.returncode == 0, p.stderr
    assert (os.stat(db).st_mode & 0o777) == 0o600
    os.chmod(db, 0o644)
    for args in (["serve", f"--port={free_port()}"], ["migrate"]):
        p = run_cli(args, db_path=db, timeout=SERVE_TIMEOUT)
        assert p.returncode != 0, (args, p.stderr)
        assert "mode 0644" in p.stderr and "chmod 600" in p.stderr, p.stderr
    os.chmod(db, 0o600)
    assert run_cli(["migrate"], db_path=db).returncode == 0


@pytest.mark.parametrize("name,value", [
    ("JWT_SECRET", "ab" * 20),
    ("JWT_SECRET", "z" * 64),
    ("WEBHOOK_SECRET", "tiny-secret"),
])
def test_weak_secrets_are_refused_at_start(tmp_path, name, value):
    p = run_cli(["serve", f"--port={free_port()}"], db_path=tmp_path / "x.db",
                env={f"PORTCULLIS_{name}": value}, timeout=SERVE_TIMEOUT)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert name.lower() in p.stderr, p.stderr
    assert value not in p.stderr


# ---- /readyz on a full disk -------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path):
    """Writes path until the filesystem is full (the close may find the
    buffer's last partial write refused too: what is left free decides)."""
    try:
        with open(path, "wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    except OSError:
        pass


def test_readyz_is_not_ready_while_the_database_refuses_writes(server_factory, small_fs):
    srv = server_factory(db_path=small_fs / "db.sqlite")
    r = srv.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}
    filler = small_fs / "filler"
    fill(filler)
    try:
        # a small write may still pass (SQLite's WAL reuses its space); the
        # first write that needs room fails, and from then on: not ready
        for _ in range(40):
            r = srv.register(srv.fresh_email(), "correct-horse-9", full_name="x" * 200)
            if r.status_code >= 500:
                break
        assert r.status_code >= 500, r.text
        statuses = [srv.get("/readyz").status_code for _ in range(3)]
        assert statuses == [503, 503, 503], statuses
        assert srv.get("/readyz").json() == {"status": "unavailable"}
        assert srv.get("/healthz").status_code == 200, "alive, only not ready"
    finally:
        filler.unlink()
    deadline = time.monotonic() + 10
    while srv.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "ready again once there is room"
        time.sleep(0.2)
    srv.register_ok()


# ---- a permanent SMTP refusal -------------------------------------------------------------


class RefusingSmtp:
    """aiosmtpd answering every DATA with the given reply."""

    def __init__(self, reply):
        self.reply = reply
        self.port = free_port()
        self.tries = 0
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.tries += 1
        await asyncio.sleep(0)
        return self.reply

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def outbox_row(srv, addr):
    rows = srv.db("SELECT attempts, gave_up_at, sent_at, last_error FROM mail_outbox "
                  "WHERE recipient = ?", (addr,))
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("reply,permanent", [
    ("550 5.1.1 mailbox unavailable", True),
    ("554 5.7.1 rejected", True),
    ("451 4.3.0 try again later", False),
])
def test_a_permanent_smtp_refusal_ends_the_retries(server_factory, reply, permanent):
    with RefusingSmtp(reply) as smtp:
        srv = server_factory(smtp_url=f"smtp://127.0.0.1:{smtp.port}",
                             mail_retry_base_seconds=1, mail_retry_max_seconds=1,
                             smtp_timeout_seconds=5)
        u = srv.register_ok()
        r = srv.post("/auth/forgot-password", json={"email": u["email"]})
        assert r.status_code == 202
        deadline = time.monotonic() + 15
        while True:
            row = outbox_row(srv, u["email"])
            if permanent and row["gave_up_at"] is not None:
                break
            if not permanent and row["attempts"] >= 3:
                break
            assert time.monotonic() < deadline, row
            time.sleep(0.2)
        if permanent:
            time.sleep(2.5)  # past two retry delays: no further try
            row = outbox_row(srv, u["email"])
            assert row["attempts"] == 1 and smtp.tries == 1, (row, smtp.tries)
            assert row["sent_at"] is None
            assert "permanent refusal " + reply[:3] in row["last_error"], row
            assert "given up" in srv.stderr_text(), "logged"
        else:
            assert row["gave_up_at"] is None and smtp.tries >= 2, "retried"


@pytest.mark.parametrize("reply,max_attempts,reason", [
    ("550 5.1.1 <{addr}>: mailbox unavailable", 0, "smtp_refused"),
    ("451 4.3.0 <{addr}>: try again later", 2, "attempts"),
])
def test_a_mail_given_up_is_audited_and_sent_as_a_webhook(server_factory, reply, max_attempts,
                                                          reason):
    """Issue 13, item 7: a mail the outbox gives up (a permanent SMTP refusal,
    or mail_max_attempts spent) is written to the audit log as mail.gave_up,
    with the outbox id, why, the SMTP code, and the user the address belongs
    to; never the address nor the server's reply (which quotes it here). It is
    offered to webhook_audit_events as any audit event."""
    from test_fastapi_users_mail import HookSink
    hooks = HookSink()
    smtp = RefusingSmtp("")
    try:
        with smtp:
            srv = server_factory(smtp_url=f"smtp://127.0.0.1:{smtp.port}",
                                 mail_retry_base_seconds=1, mail_retry_max_seconds=1,
                                 mail_max_attempts=max_attempts, smtp_timeout_seconds=5,
                                 webhook_url=hooks.url,
                                 webhook_secret="gave-up-hook-secret-0123456789abcdefXYZ",
                                 webhook_audit_events="mail.gave_up")
            u = srv.register_ok()
            smtp.reply = reply.format(addr=u["email"])
            assert srv.post("/auth/forgot-password", json={"email": u["email"]}).status_code == 202
            deadline = time.monotonic() + 20
            while not srv.db("SELECT * FROM audit_log WHERE event = 'mail.gave_up'"):
                assert time.monotonic() < deadline, outbox_row(srv, u["email"])
                time.sleep(0.2)
            box = srv.db("SELECT id, attempts, gave_up_at FROM mail_outbox WHERE recipient = ?",
                         (u["email"],))[0]
            assert box["gave_up_at"] is not None
            assert box["attempts"] == (1 if max_attempts == 0 else max_attempts)
            rows = srv.db("SELECT * FROM audit_log WHERE event = 'mail.gave_up'")
            assert len(rows) == 1, rows
            row = rows[0]
            assert row["user_id"] == u["id"] and row["actor_id"] is None
            want = {"outbox_id": box["id"], "kind": "mail", "reason": reason,
                    "attempts": box["attempts"]}
            if reason == "smtp_refused":
                want["smtp_code"] = int(reply[:3])
            assert json.loads(row["detail"]) == want
            # the webhook, sent as any audit event
            deadline = time.monotonic() + 20
            got = []
            while not got:
                assert time.monotonic() < deadline, "no audit.mail.gave_up webhook"
                with hooks.cond:
                    got = [json.loads(b) for _, _, b in hooks.events]
                    got = [j for j in got if j["event"] == "audit.mail.gave_up"]
                    if not got:
                        hooks.cond.wait(0.5)
            assert got[0]["user"] == {"id": u["id"]}
            assert got[0]["audit"]["detail"] == want
            text = json.dumps([dict(r) for r in rows]) + json.dumps(got)
            assert u["email"].split("@")[0] not in text, "never the address"
            assert "mailbox unavailable" not in text and "try again" not in text
    finally:
        hooks.stop()
