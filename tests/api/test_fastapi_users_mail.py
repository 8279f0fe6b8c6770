"""fastapi_users face: the mail flows (seed 000 "Reset password router", seed 003
endpoint table): forgot-password, reset-password, request-verify-token, verify,
and the outbox under them.

Real parts only: mail goes over SMTP to an aiosmtpd sink the fixture starts on
127.0.0.1, and is read back as a user would read it (the link in the mail);
events go over HTTP to a tiny http.server whose HMAC is checked here.
"""

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, Server, assert_detail,
                      assert_validation_error, bearer, cookie_header, free_port)

PW = "correct-horse-9"
NEW_PW = "new-horse-battery-7"
WEBHOOK_SECRET = "webhook-secret-0123456789"
RESET_URL = "https://app.example/reset-password"
VERIFY_URL = "https://app.example/verify?lang=en"
TOKEN_RE = re.compile(r"[?&]token=([A-Za-z0-9_-]{43})\b")
MAIL_WAIT = 10.0

# Short retries, so a sink that comes back is used within a second or two.
FAST_RETRY = {"mail_retry_base_seconds": 1, "mail_retry_max_seconds": 1,
              "smtp_timeout_seconds": 5}


# ---- the SMTP sink ------------------------------------------------------------------


class Mail:
    def __init__(self, mail_from, rcpts, raw):
        self.mail_from = mail_from
        self.rcpts = rcpts
        self.raw = raw
        self.msg = email.message_from_bytes(raw, policy=email.policy.default)

    @property
    def to(self):
        return str(self.msg["To"])

    def part(self, ctype):
        p = self.msg.get_body(preferencelist=(ctype.split("/")[1],))
        assert p is not None and p.get_content_type() == ctype, self.raw[:2000]
        return p.get_content()

    def link(self):
        text = self.part("text/plain")
        links = [w for w in text.split() if "token=" in w]
        assert len(links) == 1, text
        return links[0]

    def token(self):
        m = TOKEN_RE.search(self.link())
        assert m, self.link()
        # the HTML part carries the same link (HTML-escaped)
        assert self.link().replace("&", "&amp;") in self.part("text/html")
        return m.group(1)


class SmtpSink:
    """aiosmtpd on 127.0.0.1; can be stopped and started again on its port."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.delay = 0  # seconds to wait, after taking a mail, before answering 250
        self.mails = []
        self.cond = threading.Condition()
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        raw = getattr(envelope, "original_content", None) or envelope.content
        with self.cond:
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), raw))
            self.cond.notify_all()
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def start(self):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, addr):
        with self.cond:
            return [m for m in self.mails if addr in m.rcpts]

    def wait(self, addr, n=1, timeout=MAIL_WAIT):
        """Waits until at least n mails reached addr; returns them all."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [m for m in self.mails if addr in m.rcpts]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(got)} of {n} mails to {addr} in {timeout}s")
                self.cond.wait(left)

    def last_token(self, addr, n=1):
        return self.wait(addr, n)[n - 1].token()


# ---- the webhook receiver --------------------------------------------------------------


class HookSink:
    def __init__(self):
        self.events = []
        self.cond = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.cond:
                    sink.events.append((self.path, self.headers, body))
                    sink.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/portcullis"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait(self, event, user_email, timeout=MAIL_WAIT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for path, headers, body in self.events:
                    j = json.loads(body)
                    if j["event"] == event and j["user"]["email"] == user_email:
                        return path, headers, body, j
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {event} for {user_email} in {timeout}s")
                self.cond.wait(left)


# ---- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def hooks():
    h = HookSink()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, sink, hooks):
    s = Server(tmp_path_factory.mktemp("mail"), settings={
        "smtp_url": sink.url,
        "mail_from": "Camelot <no-reply@camelot.example>",
        "reset_url": RESET_URL,
        "verify_url": VERIFY_URL,
        "webhook_url": hooks.url,
        "webhook_secret": WEBHOOK_SECRET,
        "bootstrap_admin_email": ADMIN_EMAIL,
        "bootstrap_admin_password": ADMIN_PASSWORD,
        **FAST_RETRY,
    })
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def admin(srv):
    return srv.login(ADMIN_EMAIL, ADMIN_PASSWORD)


def post(srv, path, body):
    return srv.post("/auth" + path, json=body)


def forgot(srv, addr):
    r = post(srv, "/forgot-password", {"email": addr})
    assert r.status_code == 202, r.text
    assert r.json() is None
    return r


def reset(srv, token, password=NEW_PW):
    return post(srv, "/reset-password", {"token": token, "password": password})


def stored_state(srv):
    """Everything a request could change."""
    return (srv.users_snapshot(),
            srv.db("SELECT * FROM one_time_tokens ORDER BY token_hash"),
            srv.db("SELECT id, kind, recipient FROM mail_outbox ORDER BY id"),
            srv.db("SELECT * FROM sessions ORDER BY token_hash"))


def outbox_to(srv, addr):
    return srv.db("SELECT * FROM mail_outbox WHERE kind = 'mail' AND recipient = ?", (addr,))


# ---- reset password ----------------------------------------------------------------------


def test_reset_by_the_mailed_link_changes_the_password_once(srv, sink):
    u = srv.register_ok(password=PW)
    addr = u["email"]
    r = forgot(srv, addr)
    assert r.content == b"null"

    mail = sink.wait(addr)[0]
    assert mail.rcpts == [addr]
    assert mail.mail_from == "no-reply@camelot.example"
    assert mail.to == addr
    assert str(mail.msg["From"]) == "Camelot <no-reply@camelot.example>"
    assert mail.msg["Subject"] == "Reset your password"
    assert mail.msg["Date"] and mail.msg["Message-ID"]
    assert mail.msg.get_content_type() == "multipart/alternative"
    assert mail.link().startswith(RESET_URL + "?token=")
    token = mail.token()

    r = reset(srv, token)
    assert r.status_code == 200, r.text
    assert r.json() is None
    srv.login(addr, NEW_PW)
    assert_detail(srv.login_raw(addr, PW), 400, "LOGIN_BAD_CREDENTIALS")
    assert_detail(reset(srv, token, "yet-another-pass-1"), 400, "RESET_PASSWORD_BAD_TOKEN")
    srv.login(addr, NEW_PW)  # the replay changed nothing

    # stored only as a hash; the sent row keeps no link
    rows = srv.db("SELECT * FROM one_time_tokens WHERE user_id = ?", (u["id"],))
    assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert rows[0]["used_at"] is not None
    for row in outbox_to(srv, addr):
        assert row["sent_at"] is not None and token not in json.dumps(row)
    assert token not in srv.stderr_text()


def test_reset_ends_the_users_sessions(srv, sink):
    u = srv.register_ok(password=PW)
    cookie = srv.cookie_login(u["email"], PW).cookies["fastapiusersauth"]
    assert srv.get("/users/me", headers=cookie_header(cookie)).status_code == 200
    forgot(srv, u["email"])
    assert reset(srv, sink.last_token(u["email"])).status_code == 200
    assert srv.get("/users/me", headers=cookie_header(cookie)).status_code == 401


def test_a_weak_password_is_refused_with_the_reason_and_the_token_stays_good(srv, sink):
    u = srv.register_ok(password=PW)
    forgot(srv, u["email"])
    token = sink.last_token(u["email"])
    r = reset(srv, token, "short")
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "RESET_PASSWORD_INVALID_PASSWORD"
    assert isinstance(detail["reason"], str) and detail["reason"]
    srv.login(u["email"], PW)
    assert reset(srv, token).status_code == 200


def test_a_second_request_voids_the_first_link(srv, sink):
    u = srv.register_ok(password=PW)
    forgot(srv, u["email"])
    first = sink.last_token(u["email"], 1)
    forgot(srv, u["email"])
    second = sink.last_token(u["email"], 2)
    assert first != second
    assert_detail(reset(srv, first), 400, "RESET_PASSWORD_BAD_TOKEN")
    assert reset(srv, second).status_code == 200


def test_a_password_change_voids_an_outstanding_reset_link(srv, sink):
    u, _, token = srv.new_user(password=PW)
    forgot(srv, u["email"])
    link_token = sink.last_token(u["email"])
    r = srv.patch("/users/me", json={"password": "changed-by-me-42"}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert_detail(reset(srv, link_token), 400, "RESET_PASSWORD_BAD_TOKEN")
    srv.login(u["email"], "changed-by-me-42")


def test_the_token_of_a_deactivated_user_is_refused(srv, sink, admin):
    u = srv.register_ok(password=PW)
    forgot(srv, u["email"])
    token = sink.last_token(u["email"])
    r = srv.patch(f"/users/{u['id']}", json={"is_active": False}, headers=bearer(admin))
    assert r.status_code == 200, r.text
    before = stored_state(srv)
    assert_detail(reset(srv, token), 400, "RESET_PASSWORD_BAD_TOKEN")
    assert stored_state(srv) == before


def test_forgot_password_answers_alike_for_unknown_inactive_and_existing(srv, sink, admin):
    known = srv.register_ok(password=PW)
    inactive = srv.register_ok(password=PW)
    r = srv.patch(f"/users/{inactive['id']}", json={"is_active": False}, headers=bearer(admin))
    assert r.status_code == 200
    unknown = srv.fresh_email("nobody")

    answers = []
    for addr in (unknown, inactive["email"], known["email"], unknown.upper()):
        r = forgot(srv, addr)
        headers = {k.lower() for k in r.headers} - {"date", "x-request-id"}
        answers.append((r.status_code, r.content, sorted(headers)))
    assert all(a == answers[0] for a in answers), answers

    sink.wait(known["email"])
    time.sleep(0.5)  # what would have been sent is sent by now
    assert sink.to(unknown) == [] and sink.to(inactive["email"]) == []
    assert outbox_to(srv, unknown) == [] and outbox_to(srv, inactive["email"]) == []


@pytest.mark.parametrize("body", [
    {}, {"email": None}, {"email": 42}, {"email": ["a@example.com"]}, {"email": "not-an-email"},
    {"email": "a@b"}, {"email": "victim@example.com\r\nBcc: evil@example.com"},
])
def test_forgot_password_and_request_verify_refuse_bad_input_with_422(srv, body):
    before = stored_state(srv)
    for path in ("/forgot-password", "/request-verify-token"):
        assert_validation_error(post(srv, path, body), "email")
    assert stored_state(srv) == before


@pytest.mark.parametrize("token", [
    "", "x", "' OR 1=1 --", "A" * 43, "A" * 44, "!" * 43, "A" * 10000,
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiOTIyMWZmYzkifQ.M10bjOe45I5Ncu_uXvOmVV8Q",
])
def test_unknown_and_garbled_tokens_are_bad_tokens(srv, token):
    before = stored_state(srv)
    assert_detail(reset(srv, token), 400, "RESET_PASSWORD_BAD_TOKEN")
    assert_detail(post(srv, "/verify", {"token": token}), 400, "VERIFY_USER_BAD_TOKEN")
    assert stored_state(srv) == before


@pytest.mark.parametrize("body,fields", [
    ({}, ("token",)), ({"token": "A" * 43}, ("password",)), ({"password": NEW_PW}, ("token",)),
    ({"token": 42, "password": NEW_PW}, ("token",)), ({"token": "A" * 43, "password": None}, ("password",)),
])
def test_reset_password_refuses_missing_or_mistyped_fields_with_422(srv, body, fields):
    before = stored_state(srv)
    assert_validation_error(post(srv, "/reset-password", body), *fields)
    if not isinstance(body.get("token"), str):  # /verify reads the token alone
        assert_validation_error(post(srv, "/verify", body), "token")
    assert stored_state(srv) == before


def test_a_token_works_only_for_its_purpose(srv, sink):
    u = srv.register_ok(password=PW)
    assert post(srv, "/request-verify-token", {"email": u["email"]}).status_code == 202
    verify_token = sink.last_token(u["email"], 1)
    forgot(srv, u["email"])
    reset_token = sink.last_token(u["email"], 2)
    assert_detail(reset(srv, verify_token), 400, "RESET_PASSWORD_BAD_TOKEN")
    assert_detail(post(srv, "/verify", {"token": reset_token}), 400, "VERIFY_USER_BAD_TOKEN")
    srv.login(u["email"], PW)
    assert post(srv, "/verify", {"token": verify_token}).status_code == 200
    assert reset(srv, reset_token).status_code == 200


# ---- verify ---------------------------------------------------------------------------------


def test_verify_by_the_mailed_link(srv, sink):
    u, _, access = srv.new_user(password=PW)
    r = post(srv, "/request-verify-token", {"email": u["email"]})
    assert r.status_code == 202 and r.json() is None
    mail = sink.wait(u["email"])[0]
    assert mail.msg["Subject"] == "Verify your email address"
    assert mail.link().startswith(VERIFY_URL + "&token=")
    token = mail.token()

    r = post(srv, "/verify", {"token": token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == u["id"] and body["email"] == u["email"]
    assert body["is_verified"] is True and body["is_active"] is True
    assert srv.me(access).json()["is_verified"] is True
    assert_detail(post(srv, "/verify", {"token": token}), 400, "VERIFY_USER_BAD_TOKEN")

    # a verified user is sent nothing more, and is answered alike
    before = len(srv.db("SELECT id FROM mail_outbox"))
    r2 = post(srv, "/request-verify-token", {"email": u["email"]})
    assert (r2.status_code, r2.content) == (202, b"null")
    assert len(srv.db("SELECT id FROM mail_outbox")) == before


def test_an_already_verified_user_is_told_so(srv, sink, admin):
    u = srv.register_ok(password=PW)
    assert post(srv, "/request-verify-token", {"email": u["email"]}).status_code == 202
    token = sink.last_token(u["email"])
    r = srv.patch(f"/users/{u['id']}", json={"is_verified": True}, headers=bearer(admin))
    assert r.status_code == 200
    assert_detail(post(srv, "/verify", {"token": token}), 400, "VERIFY_USER_ALREADY_VERIFIED")


def test_a_verify_link_does_not_verify_a_changed_address(srv, sink):
    u, _, access = srv.new_user(password=PW)
    assert post(srv, "/request-verify-token", {"email": u["email"]}).status_code == 202
    token = sink.last_token(u["email"])
    new_addr = srv.fresh_email("moved")
    assert srv.patch("/users/me", json={"email": new_addr}, headers=bearer(access)).status_code == 200
    assert_detail(post(srv, "/verify", {"token": token}), 400, "VERIFY_USER_BAD_TOKEN")
    assert srv.me(access).json()["is_verified"] is False


# ---- header injection -------------------------------------------------------------------------


@pytest.mark.parametrize("addr", [
    "victim@example.com\r\nBcc: evil@example.com",
    "victim@example.com\nBcc: evil@example.com",
    "victim@example.com\rBcc: evil@example.com",
    "evil@example.com\r\n\r\nbody",
])
def test_cr_lf_in_an_address_is_refused_and_never_reaches_smtp(srv, sink, addr):
    before = stored_state(srv)
    assert_validation_error(srv.register(addr, PW), "email")
    assert_validation_error(post(srv, "/forgot-password", {"email": addr}), "email")
    assert stored_state(srv) == before
    time.sleep(0.2)
    assert sink.to("evil@example.com") == []
    assert all("evil@example.com" not in m.raw.decode("latin-1") for m in sink.mails)


# ---- events ---------------------------------------------------------------------------------------


def test_each_step_posts_a_signed_event(srv, sink, hooks):
    u = srv.register_ok(password=PW)
    addr = u["email"]
    forgot(srv, addr)
    assert reset(srv, sink.last_token(addr, 1)).status_code == 200
    assert post(srv, "/request-verify-token", {"email": addr}).status_code == 202
    assert post(srv, "/verify", {"token": sink.last_token(addr, 2)}).status_code == 200

    ids = set()
    for event in ("on_after_register", "on_after_forgot_password", "on_after_reset_password",
                  "on_after_request_verify", "on_after_verify"):
        path, headers, body, j = hooks.wait(event, addr)
        assert path == "/hooks/portcullis"
        assert headers["Content-Type"] == "application/json"
        want = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Portcullis-Signature"], want), event
        assert j["user"] == {"id": u["id"], "email": addr}
        assert isinstance(j["ts"], int) and abs(j["ts"] - time.time()) < 60
        ids.add(j["id"])
        assert "token" not in body.decode()
    assert len(ids) == 5


# ---- other configurations ----------------------------------------------------------------------


def test_expired_tokens_are_bad_tokens(server_factory, sink):
    srv = server_factory(smtp_url=sink.url, reset_token_lifetime_seconds=1,
                         verify_token_lifetime_seconds=1, **FAST_RETRY)
    u = srv.register_ok(password=PW)
    forgot(srv, u["email"])
    assert post(srv, "/request-verify-token", {"email": u["email"]}).status_code == 202
    mails = sink.wait(u["email"], 2)
    tokens = {m.msg["Subject"]: m.token() for m in mails}
    time.sleep(2.1)
    assert_detail(reset(srv, tokens["Reset your password"]), 400, "RESET_PASSWORD_BAD_TOKEN")
    assert_detail(post(srv, "/verify", {"token": tokens["Verify your email address"]}), 400,
                  "VERIFY_USER_BAD_TOKEN")
    srv.login(u["email"], PW)


def test_requires_verification_mails_the_link_at_registration(server_factory, sink):
    srv = server_factory(smtp_url=sink.url, requires_verification=True, **FAST_RETRY)
    u = srv.register_ok(password=PW)
    assert_detail(srv.login_raw(u["email"], PW), 400, "LOGIN_USER_NOT_VERIFIED")
    token = sink.last_token(u["email"])
    r = post(srv, "/verify", {"token": token})
    assert r.status_code == 200 and r.json()["is_verified"] is True
    srv.login(u["email"], PW)


def test_without_smtp_url_the_mail_is_written_to_the_log(server_factory):
    srv = server_factory()
    u = srv.register_ok(password=PW)
    forgot(srv, u["email"])
    deadline = time.monotonic() + MAIL_WAIT
    while not TOKEN_RE.search(srv.stderr_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    log = srv.stderr_text()
    assert f"To: {u['email']}" in log
    token = TOKEN_RE.search(log).group(1)
    assert reset(srv, token).status_code == 200
    srv.login(u["email"], NEW_PW)
    wait_sent(srv, u["email"])


def wait_sent(srv, addr, timeout=MAIL_WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = outbox_to(srv, addr)
        if rows and all(r["sent_at"] is not None for r in rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"not sent: {outbox_to(srv, addr)}")


def wait_failed_attempt(srv, addr, timeout=MAIL_WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = outbox_to(srv, addr)
        if rows and rows[0]["attempts"] >= 1 and rows[0]["last_error"]:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"no failed attempt: {outbox_to(srv, addr)}")


# ---- faults -------------------------------------------------------------------------------------


def test_a_mail_asked_for_while_smtp_is_down_arrives_once_it_is_back(server_factory):
    down = SmtpSink().start()
    srv = server_factory(smtp_url=down.url, **FAST_RETRY)
    down.stop()  # the SMTP server goes down
    u = srv.register_ok(password=PW)
    forgot(srv, u["email"])
    row = wait_failed_attempt(srv, u["email"])
    assert row["sent_at"] is None and "smtp" in row["last_error"].lower()

    down.start()  # back, on the same port
    try:
        token = down.last_token(u["email"])
        time.sleep(2.5)  # a second retry would have come by now
        assert len(down.to(u["email"])) == 1
        row = wait_sent(srv, u["email"])[0]
        assert row["attempts"] >= 2 and row["last_error"]
        assert reset(srv, token).status_code == 200
    finally:
        down.stop()


def kill_9(srv):
    srv.proc.kill()  # SIGKILL: no clean shutdown, nothing flushed
    srv.proc.wait()
    srv.proc = None
    srv._close_files()


def test_mail_pending_at_a_kill_9_is_delivered_after_the_restart(server_factory):
    down = SmtpSink()  # nothing listens on its port yet
    srv = server_factory(smtp_url=down.url, smtp_username="mailer",
                         smtp_password="hunter2-smtp-password", **FAST_RETRY)
    u = srv.register_ok(password=PW)
    forgot(srv, u["email"])
    wait_failed_attempt(srv, u["email"])
    kill_9(srv)
    assert "hunter2-smtp-password" not in srv.stderr_text()

    srv.start()
    down.start()
    try:
        token = down.last_token(u["email"])
        wait_sent(srv, u["email"])
        time.sleep(1.5)  # a retry would have come by now
        assert len(down.to(u["email"])) == 1
        assert reset(srv, token).status_code == 200
        srv.login(u["email"], NEW_PW)
    finally:
        down.stop()
    assert "hunter2-smtp-password" not in srv.stderr_text()


def test_a_kill_9_in_the_middle_of_a_send_gives_at_most_one_duplicate(server_factory):
    slow = SmtpSink().start()
    slow.delay = 30  # takes the mail, then keeps the sender waiting for its 250
    # lease = 2 * smtp_timeout_seconds + 1 = 5 s
    srv = server_factory(smtp_url=slow.url, mail_retry_base_seconds=1, mail_retry_max_seconds=1,
                         smtp_timeout_seconds=2)
    try:
        u = srv.register_ok(password=PW)
        forgot(srv, u["email"])
        slow.wait(u["email"])
        kill_9(srv)  # the mail is out, but the server never heard the 250
        slow.delay = 0
        srv.start()
        copies = slow.wait(u["email"], 2, timeout=15)  # after the lease runs out
        wait_sent(srv, u["email"])
        time.sleep(1.5)
        assert len(slow.to(u["email"])) == 2
        assert copies[0].msg["Message-ID"] == copies[1].msg["Message-ID"]
        assert copies[0].token() == copies[1].token()
        assert reset(srv, copies[1].token()).status_code == 200
    finally:
        slow.stop()
