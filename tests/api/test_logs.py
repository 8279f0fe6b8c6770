"""The server's log (issue 16 item 3): one format per stream (log_format),
log_level, log_file reopened on SIGHUP, the start-up record, the mail
records, and no secret anywhere in it.

Real parts only: the real binary, its real stderr (a file here, not a
terminal: JSON by default), the aiosmtpd sinks of the mail tests.
"""

import json
import os
import re
import signal
import time

import pytest

from conftest import PG_BASE_URL, bearer, cookie_header, run_cli, set_cookie_parts
from test_durability import RefusingSmtp
from test_fastapi_users_mail import FAST_RETRY, SmtpSink

PW = "Log-Test-Pa55word-1"
NEW_PW = "Log-Test-Pa55word-2"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"debug", "info", "warn", "error"}
WAIT = 10.0


def records(text):
    """Every line of text as a JSON object; fails on a line that is not one."""
    out = []
    for line in text.splitlines():
        assert line.strip(), "an empty line in the log"
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        out.append(obj)
    return out


def wait_for(srv, pred, timeout=WAIT, text=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        recs = records(text() if text else srv.stderr_text())
        hits = [r for r in recs if pred(r)]
        if hits:
            return hits
        time.sleep(0.1)
    raise AssertionError(f"no such record in:\n{(text() if text else srv.stderr_text())[-4000:]}")


def forgot(srv, addr):
    r = srv.post("/auth/forgot-password", json={"email": addr})
    assert r.status_code == 202, r.text


# ---- one format per stream ---------------------------------------------------------------


def test_every_line_of_a_json_run_is_a_record_with_ts_level_and_msg(server_factory):
    srv = server_factory(log_format="json", smtp_url="")
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    assert srv.me(token).status_code == 200
    assert srv.get("/no-such-path").status_code == 404
    forgot(srv, u["email"])  # the development mailer writes the mail to the log
    wait_for(srv, lambda r: "mail" in r and r.get("component") == "mail")
    srv.stop()
    recs = records(srv.stderr_text())
    assert len(recs) >= 8, recs
    for r in recs:
        assert TS_RE.match(r["ts"]), r
        assert r["level"] in LEVELS, r
        assert isinstance(r["msg"], str) and r["msg"], r
    # the access log is in the same stream, in the same shape
    paths = [r.get("path") for r in recs if r["msg"] == "request"]
    assert "/auth/login" in paths and "/no-such-path" in paths
    # the stop is a record too
    assert "SIGTERM" in recs[-1]["msg"], recs[-1]


def test_json_is_the_default_off_a_terminal(server_factory):
    srv = server_factory()
    srv.get("/healthz")
    srv.stop()
    recs = records(srv.stderr_text())
    assert any(r["msg"] == "request" for r in recs)


def test_the_start_up_record_names_version_database_address_and_faces(server_factory):
    srv = server_factory(log_format="json")
    srv.stop()
    recs = records(srv.stderr_text())
    start = [r for r in recs if r.get("component") == "serve" and "listen" in r]
    assert len(start) == 1, recs
    s = start[0]
    assert s["level"] == "info"
    p = run_cli(["--version"])
    assert s["version"] == p.stdout.split()[-1], (s, p.stdout)
    assert s["listen"] == f"http://127.0.0.1:{srv.port}"
    for face in ("fastapi_users", "myauth", "simplejwt", "user_account", "native"):
        assert face in s["faces"].split(","), s
    assert "fastapi_users/jwt auth" in s["routers"].split(","), s
    assert s["log_format"] == "json" and s["log_level"] == "info"
    url = srv.settings["database_url"]
    if url.startswith("postgres"):
        password = PG_BASE_URL.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert password not in srv.stderr_text()
        assert s["database"] == url.replace(":" + password + "@", ":***@"), s
    else:
        assert s["database"] == url


@pytest.mark.skipif(not PG_BASE_URL, reason="needs PORTCULLIS_TEST_DATABASE_URL")
def test_the_database_password_is_hidden_in_the_start_up_record(server_factory):
    srv = server_factory(log_format="text")
    srv.stop()
    password = PG_BASE_URL.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    text = srv.stderr_text()
    assert password not in text
    assert re.search(r"database=\"?postgres(ql)?://[^:@ ]+:\*\*\*@", text), text


def test_log_level_warn_hides_info_records(server_factory):
    srv = server_factory(log_level="warn", smtp_url="", jwt_secret=None)
    srv.register_ok(password=PW)
    srv.get("/healthz")
    srv.stop()
    recs = records(srv.stderr_text())
    levels = {r["level"] for r in recs}
    assert levels and levels <= {"warn", "error"}, recs
    # the development warnings are warn records, and they are there
    assert any("jwt_secret" in r["msg"] for r in recs), recs


def test_log_level_debug_and_error_are_accepted_and_a_bad_one_refused(server_factory, tmp_path):
    srv = server_factory(log_level="error")
    srv.get("/healthz")
    srv.stop()
    assert srv.stderr_text() == ""  # no error happened: nothing at all
    p = run_cli(["serve", "--log-level=verbose", "--port=1"])
    assert p.returncode == 2 and "log_level" in p.stderr, p.stderr
    p = run_cli(["serve", "--log-format=xml", "--port=1"])
    assert p.returncode == 2 and "log_format" in p.stderr, p.stderr


def test_text_format_is_one_readable_line_a_record_and_never_json(server_factory):
    srv = server_factory(log_format="text", smtp_url="")
    u = srv.register_ok(password=PW)
    srv.get("/healthz")
    forgot(srv, u["email"])
    deadline = time.monotonic() + WAIT
    while "development default)" not in srv.stderr_text().split("no smtp_url: mail is")[-1]:
        assert time.monotonic() < deadline, srv.stderr_text()
        time.sleep(0.1)
    srv.stop()
    lines = srv.stderr_text().splitlines()
    assert len(lines) >= 6
    for line in lines:
        assert TS_RE.match(line.split(" ", 1)[0]), line
        assert line.split()[1] in LEVELS, line
        with pytest.raises(ValueError):
            json.loads(line)
    assert any(f"listening on http://127.0.0.1:{srv.port}" in ln for ln in lines), lines
    assert any("access: GET /healthz 200" in ln for ln in lines), lines
    # the mail is one line too, its line breaks escaped
    mail = [ln for ln in lines if "mail written here" in ln]
    assert len(mail) == 1 and "To: " + u["email"] + "\\nSubject: " in mail[0], mail
    assert not any(ln.startswith("To:") or ln.startswith("Subject:") for ln in lines)


# ---- mail ---------------------------------------------------------------------------------


def mail_records(srv, outbox_id):
    return [r for r in records(srv.stderr_text()) if r.get("outbox_id") == outbox_id]


def test_a_mail_delivered_after_a_failed_attempt_logs_each_step_with_its_outbox_id(
        server_factory):
    down = SmtpSink().start()
    srv = server_factory(smtp_url=down.url, **FAST_RETRY)
    down.stop()  # the SMTP server goes down
    u = srv.register_ok(password=PW)
    forgot(srv, u["email"])
    failed = wait_for(srv, lambda r: r.get("component") == "mail" and r["level"] == "warn"
                      and "outbox_id" in r)
    oid = failed[0]["outbox_id"]
    rows = srv.db("SELECT id FROM mail_outbox WHERE recipient = ?", (u["email"],))
    assert [r["id"] for r in rows] == [oid]
    down.start()
    try:
        down.wait(u["email"])
        done = wait_for(srv, lambda r: r.get("outbox_id") == oid and "delivered" in r["msg"])
    finally:
        down.stop()
    mine = mail_records(srv, oid)
    attempts = [r for r in mine if r["msg"] == "mail attempt"]
    fails = [r for r in mine if r["level"] == "warn"]
    assert [r["attempt"] for r in attempts] == list(range(1, len(attempts) + 1)), mine
    assert len(attempts) >= 2 and len(fails) == len(attempts) - 1, mine
    assert attempts[0]["level"] == "info" and attempts[0]["subject"], attempts[0]
    assert fails[0]["attempt"] == 1 and "smtp" in fails[0]["error"].lower(), fails[0]
    assert fails[0]["retry_in_s"] >= 1, fails[0]
    assert len(done) == 1 and done[0]["level"] == "info"
    assert done[0]["attempt"] == attempts[-1]["attempt"], mine
    # nothing about the mail is logged without its id
    others = [r for r in records(srv.stderr_text())
              if r.get("component") == "mail" and "outbox_id" not in r]
    assert all("smtp_url" in r["msg"] for r in others), others


def test_a_mail_given_up_is_an_error_record_with_its_outbox_id(server_factory):
    with RefusingSmtp("550 5.1.1 mailbox unavailable") as smtp:
        srv = server_factory(smtp_url=f"smtp://127.0.0.1:{smtp.port}", **FAST_RETRY)
        u = srv.register_ok(password=PW)
        forgot(srv, u["email"])
        end = wait_for(srv, lambda r: r.get("component") == "mail" and r["level"] == "error")
    oid = srv.db("SELECT id FROM mail_outbox WHERE recipient = ?", (u["email"],))[0]["id"]
    assert len(end) == 1 and end[0]["outbox_id"] == oid, end
    assert "given up" in end[0]["msg"] and end[0]["attempt"] == 1
    assert "550" in end[0]["error"], end
    assert not any("delivered" in r["msg"] for r in mail_records(srv, oid))


def test_the_development_mailer_writes_each_mail_as_one_record(server_factory):
    srv = server_factory(smtp_url="")
    u = srv.register_ok(password=PW)
    forgot(srv, u["email"])
    recs = wait_for(srv, lambda r: "mail" in r)
    srv.stop()
    assert len(recs) == 1, recs
    m = recs[0]
    assert m["to"] == u["email"] and m["subject"] and m["component"] == "mail"
    assert m["mail"].startswith(f"To: {u['email']}\nSubject: {m['subject']}\n\n"), m
    token = re.search(r"[?&]token=([A-Za-z0-9_-]{43})\b", m["mail"]).group(1)
    oid = srv.db("SELECT id FROM mail_outbox WHERE recipient = ?", (u["email"],))[0]["id"]
    assert m["outbox_id"] == oid
    # the mail's link works: the record is the whole mail
    srv.start()
    r = srv.post("/auth/reset-password", json={"token": token, "password": NEW_PW})
    assert r.status_code == 200, r.text


# ---- log_file and SIGHUP ---------------------------------------------------------------------


def test_log_file_is_written_and_reopened_after_sighup(server_factory, tmp_path):
    path = tmp_path / "portcullis.log"
    srv = server_factory(log_file=str(path))
    first = srv.get("/healthz").headers["X-Request-ID"]
    time.sleep(0.2)
    rotated = tmp_path / "portcullis.log.1"
    os.rename(path, rotated)
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + WAIT
    while not path.exists():
        assert time.monotonic() < deadline, "no new log file after SIGHUP"
        time.sleep(0.05)
    second = srv.get("/healthz").headers["X-Request-ID"]
    assert srv.alive()
    srv.stop()
    old, new = records(rotated.read_text()), records(path.read_text())
    assert any(r.get("rid") == first for r in old)
    assert any(r.get("component") == "serve" and "listen" in r for r in old)
    assert not any(r.get("rid") == second for r in old)
    assert any("reopened" in r["msg"] for r in new), new
    assert any(r.get("rid") == second for r in new)
    # the stop record is the last but for the access lines the HTTP threads still
    # held in their batches when it was written (flushed as they stop)
    stop = max(i for i, r in enumerate(new) if "SIGTERM" in r["msg"])
    assert all(r.get("msg") == "request" for r in new[stop + 1:]), new[stop:]
    assert path.stat().st_mode & 0o007 == 0  # not for others to read
    assert srv.stderr_text() == ""  # everything went to the file


def test_sighup_without_log_file_keeps_the_server_and_stderr(server_factory):
    srv = server_factory()
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(srv, lambda r: "SIGHUP" in r["msg"])
    assert srv.alive()
    srv.stop()


def test_a_log_file_that_cannot_be_opened_stops_the_start_in_plain_words(tmp_path):
    bad = tmp_path / "no-such-dir" / "portcullis.log"
    p = run_cli(["serve", f"--log-file={bad}", "--port=1",
                 f"--database-url=sqlite:///{tmp_path}/x.db"])
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "log_file" in p.stderr and str(bad) in p.stderr, p.stderr
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened


def test_a_failed_start_is_an_error_record_and_with_log_file_plain_words_on_stderr(tmp_path):
    import socket
    for log_file in (None, tmp_path / "portcullis.log"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            args = ["serve", "--host=127.0.0.1", f"--port={port}", "--log-format=json",
                    f"--database-url=sqlite:///{tmp_path}/x.db"]
            if log_file:
                args.append(f"--log-file={log_file}")
            p = run_cli(args, env={"PORTCULLIS_JWT_SECRET": "k" * 8 + "0123456789abcdefghijklmnop"})
        assert p.returncode == 1, (p.returncode, p.stderr)
        text = log_file.read_text() if log_file else p.stderr
        err = [r for r in records(text) if r["level"] == "error" and r["component"] == "serve"]
        assert len(err) == 1 and "cannot listen" in err[0]["msg"], text
        assert str(port) in err[0]["msg"]
        if log_file:
            assert p.stderr.startswith("portcullis: cannot listen"), p.stderr
            assert str(port) in p.stderr


# ---- no secrets -------------------------------------------------------------------------------


def test_no_password_token_or_secret_reaches_the_log(server_factory):
    sink = SmtpSink().start()
    smtp_password = "Smtp-Pa55word-Hunter2"
    try:
        srv = server_factory(smtp_url=sink.url, smtp_username="mailer",
                             smtp_password=smtp_password, log_level="debug", **FAST_RETRY)
        u = srv.register_ok(password=PW)
        login = srv.login_raw(u["email"], PW)
        token = login.json()["access_token"]
        assert srv.me(token).status_code == 200
        cookie, _ = set_cookie_parts(srv.login_raw(u["email"], PW, path="/auth/cookie/login"))
        assert srv.get("/users/me", headers=cookie_header(cookie)).status_code == 200
        assert srv.login_raw(u["email"], "Wrong-Pa55word-9").status_code == 400
        forgot(srv, u["email"])
        reset_token = sink.last_token(u["email"])
        r = srv.post("/auth/reset-password", json={"token": reset_token, "password": NEW_PW})
        assert r.status_code == 200, r.text
        token2 = srv.login(u["email"], NEW_PW)
        srv.post("/auth/logout", headers=bearer(token2))
        r = srv.post("/auth/request-verify-token", json={"email": u["email"]})
        assert r.status_code == 202
        verify_token = sink.last_token(u["email"], n=2)
        wait_for(srv, lambda r: r.get("attempt") and "delivered" in r["msg"]
                 and r["outbox_id"] > 1)
        srv.stop()
    finally:
        sink.stop()
    log = srv.stderr_text()
    records(log)  # and all of it is records
    secrets = [PW, NEW_PW, "Wrong-Pa55word-9", token, token.split(".")[2], token2, cookie,
               reset_token, verify_token, smtp_password, srv.jwt_secret]
    for s in secrets:
        assert s and s not in log, f"a secret in the log: {s[:10]}..."


# ---- access-log lines are batched per HTTP thread (issue 15) -----------------------------------


def test_concurrent_requests_give_exactly_one_whole_line_each(server_factory):
    import concurrent.futures

    import requests

    srv = server_factory(access_log=True, threads=2)
    rids = [f"batch-{i:04d}-" + "x" * 40 for i in range(600)]

    def one(chunk):
        with requests.Session() as s:
            for rid in chunk:
                r = s.get(srv.base + "/healthz", headers={"X-Request-ID": rid}, timeout=10)
                assert r.status_code == 200 and r.headers["X-Request-ID"] == rid

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        list(pool.map(one, [rids[i::24] for i in range(24)]))
    srv.stop()  # the lanes' batches go out as the threads stop
    recs = records(srv.stderr_text())  # every line whole JSON: none cut or mixed
    seen = [r["rid"] for r in recs if r.get("msg") == "request"]
    for rid in rids:
        assert seen.count(rid) == 1, rid
    assert all(r["status"] == 200 and r["path"] == "/healthz"
               for r in recs if r.get("msg") == "request" and r["rid"] in set(rids))


def test_a_lone_request_is_logged_at_once_on_an_idle_server(server_factory):
    srv = server_factory(access_log=True)
    time.sleep(0.3)  # idle: the lanes wait in poll
    for i in range(3):
        rid = f"lone-request-{i}"
        t0 = time.monotonic()
        assert srv.get("/healthz", headers={"X-Request-ID": rid}).status_code == 200
        while not any(r.get("rid") == rid for r in records(srv.stderr_text())):
            assert time.monotonic() - t0 < 0.2, f"{rid} not in the log within 200 ms"
            time.sleep(0.005)
        time.sleep(0.3)


def test_a_request_shows_nothing_of_the_one_before_it_on_the_same_connection(server_factory):
    """An HTTP thread empties one request's arena and hands it to the next
    (issue 15): on one kept-alive connection, after a big request and a
    signed-in one, an anonymous request's answer and access line carry
    nothing of theirs."""
    import requests

    srv = server_factory(access_log=True, threads=1)
    u, _, token = srv.new_user(password=PW)
    marker = "arena-marker-" + "q" * 40 + "@" + "q" * 60 + ".example.com"
    with requests.Session() as s:
        # big: a long path split by the router (3 KB), then a user whose address is echoed
        long = s.get(srv.base + "/arena-marker/" + "q" * 3000, headers={"X-Request-ID": "reuse-0"},
                     timeout=10)
        assert long.status_code == 404
        other = s.post(srv.base + "/auth/register", headers={"X-Request-ID": "reuse-1"},
                       json={"email": marker, "password": PW}, timeout=10)
        assert other.status_code == 201 and other.json()["email"] == marker
        me = s.get(srv.base + "/users/me", headers={**bearer(token), "X-Request-ID": "reuse-2"},
                   timeout=10)
        assert me.status_code == 200 and me.json()["id"] == u["id"]
        anon = s.get(srv.base + "/users/me", headers={"X-Request-ID": "reuse-3"}, timeout=10)
        health = s.get(srv.base + "/healthz", timeout=10)
        small = s.get(srv.base + "/" + "p" * 300, timeout=10)
    assert anon.status_code == 401 and anon.json() == {"detail": "Unauthorized"}
    assert health.status_code == 200 and small.status_code == 404
    for r in (anon, health, small):
        seen = r.text + repr(sorted(r.headers.items()))
        for leak in ("arena-marker", u["id"], u["email"], other.json()["id"], "reuse-0",
                     "reuse-1", "reuse-2", "qqqq"):
            assert leak not in seen, (leak, r.request.url, seen)
    assert health.headers["X-Request-ID"] != small.headers["X-Request-ID"]
    srv.stop()
    recs = {r["rid"]: r for r in records(srv.stderr_text()) if r.get("msg") == "request"}
    assert recs["reuse-2"]["user"] == u["id"]
    assert recs["reuse-3"] == {**recs["reuse-3"], "method": "GET", "path": "/users/me",
                               "status": 401, "user": None}
    h = recs[health.headers["X-Request-ID"]]
    assert (h["path"], h["status"], h["user"]) == ("/healthz", 200, None)
    sm = recs[small.headers["X-Request-ID"]]
    assert (sm["path"], sm["status"], sm["user"]) == ("/" + "p" * 255, 404, None)
    for rid in ("reuse-3", health.headers["X-Request-ID"], small.headers["X-Request-ID"]):
        line = json.dumps(recs[rid])
        assert "arena-marker" not in line and u["id"] not in line and "qqqq" not in line, line


def test_lines_through_a_pipe_stay_whole_under_concurrent_requests(server_factory):
    """stderr a pipe (as under a service manager): batches go out as whole
    lines of at most PIPE_BUF bytes a write, so two threads never mix."""
    import concurrent.futures
    import subprocess
    import threading

    import requests

    from conftest import _base_env, free_port

    srv = server_factory(start=False, access_log=True, threads=2)
    port = free_port()
    argv = [a for a in srv.argv() if not a.startswith(("--port=", "--host="))]
    argv += ["--host=127.0.0.1", f"--port={port}"]
    srv.workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=_base_env(), cwd=srv.workdir)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stderr.read(512), b"")))
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        rids = [f"pipe-{i:04d}-" + "y" * 50 for i in range(800)]

        def one(chunk):
            with requests.Session() as s:
                for rid in chunk:
                    r = s.get(base + "/nope/" + "z" * 200, headers={"X-Request-ID": rid},
                              timeout=10)
                    assert r.status_code == 404

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            list(pool.map(one, [rids[i::32] for i in range(32)]))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT) == 0
        reader.join(WAIT)
    recs = records(b"".join(chunks).decode())
    seen = [r["rid"] for r in recs if r.get("msg") == "request"]
    for rid in rids:
        assert seen.count(rid) == 1, rid


def test_one_connections_requests_are_logged_once_each_and_in_order(server_factory):
    """A lane hands its full batches to the log's writer thread and fills the
    next meanwhile (issue 15): thousands of requests on one kept-alive
    connection (one lane) fill many batches, and the log must still hold
    each line once, whole, in the order the requests were answered."""
    import requests

    srv = server_factory(access_log=True, threads=2)
    rids = [f"order-{i:05d}-" + "y" * 48 for i in range(4000)]
    with requests.Session() as s:
        for rid in rids:
            r = s.get(srv.base + "/healthz", headers={"X-Request-ID": rid}, timeout=10)
            assert r.status_code == 200
    srv.stop()
    seen = [r["rid"] for r in records(srv.stderr_text())
            if r.get("msg") == "request" and r["rid"].startswith("order-")]
    assert seen == rids
