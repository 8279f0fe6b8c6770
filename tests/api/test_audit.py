"""Issue 13, item 5: the audit log of security events.

Rows of audit_log (migration 013), written by the server as the events
happen; read by superusers at GET /admin/audit (fastapi-users' error shape)
and with `portcullis audit`; sent as webhooks when webhook_audit_events
names them. No row carries a password, token or hash.
"""

import json
import time

import pytest

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, assert_validation_error, bearer, run_cli)
from test_fastapi_users_mail import FAST_RETRY, HookSink, SmtpSink

PW = "correct-horse-9"
NEW_PW = "battery-staple-77"
WRONG = "wrong-horse-1"


def audit_rows(srv, user_id=None):
    if user_id is None:
        return srv.db("SELECT * FROM audit_log ORDER BY id")
    return srv.db("SELECT * FROM audit_log WHERE user_id = ? ORDER BY id", (user_id,))


def events(srv, user_id=None):
    return [r["event"] for r in audit_rows(srv, user_id)]


def no_secret_in(srv, *secrets):
    text = json.dumps(audit_rows(srv))
    for s in secrets:
        assert s not in text, s


@pytest.fixture
def admin_srv(server_factory):
    return server_factory(bootstrap_admin_email=ADMIN_EMAIL,
                          bootstrap_admin_password=ADMIN_PASSWORD, lockout_threshold=3,
                          lockout_base_seconds=600, trusted_proxies="127.0.0.1")


# ---- what is written ---------------------------------------------------------------------------


def test_logins_failures_and_the_lockout_are_recorded_without_secrets(admin_srv):
    srv = admin_srv
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    r = srv.post("/auth/login", data={"username": u["email"], "password": WRONG},
                 headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 400
    assert srv.login_raw("ghost@example.com", WRONG).status_code == 400
    for _ in range(2):
        srv.login_raw(u["email"], WRONG)
    assert srv.login_raw(u["email"], PW).status_code == 429
    rows = audit_rows(srv, u["id"])
    assert [r["event"] for r in rows] == [
        "login.success", "login.failure", "login.failure", "login.failure", "lockout",
        "login.failure"], rows
    assert rows[0]["ip"] == "127.0.0.1" and rows[0]["actor_id"] is None
    assert rows[1]["ip"] == "203.0.113.9", "the client behind the trusted proxy"
    assert json.loads(rows[1]["detail"]) == {"reason": "bad_password"}
    assert json.loads(rows[4]["detail"]) == {"seconds": 600}
    assert json.loads(rows[5]["detail"]) == {"reason": "locked"}
    ghost = srv.db("SELECT * FROM audit_log WHERE user_id IS NULL AND event = 'login.failure'")
    assert len(ghost) == 1 and json.loads(ghost[0]["detail"]) == {"reason": "unknown_user"}
    # a token check is no event: nothing written on the hot path
    n = srv.table_count("audit_log")
    for _ in range(3):
        assert srv.me(token).json()["id"] == u["id"]
    assert srv.table_count("audit_log") == n
    no_secret_in(srv, PW, WRONG, token, srv.user_row(id=u["id"])["hashed_password"])


def test_password_changes_and_admin_actions_are_recorded_with_the_actor(admin_srv):
    srv = admin_srv
    admin = srv.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    admin_id = srv.me(admin).json()["id"]
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    r = srv.patch("/users/me", json={"password": NEW_PW}, headers=bearer(token))
    assert r.status_code == 200, r.text
    r = srv.patch(f"/users/{u['id']}", json={"is_verified": True, "password": PW},
                  headers=bearer(admin))
    assert r.status_code == 200, r.text
    srv.login(u["email"], PW)
    assert srv.delete(f"/users/{u['id']}/sessions", headers=bearer(admin)).status_code == 204
    assert srv.post(f"/users/{u['id']}/unlock", headers=bearer(admin)).status_code == 204
    assert srv.delete(f"/users/{u['id']}", headers=bearer(admin)).status_code == 204
    rows = [r for r in audit_rows(srv, u["id"]) if not r["event"].startswith("login.")]
    assert [(r["event"], r["actor_id"]) for r in rows] == [
        ("password.change", None),
        ("password.change", admin_id),
        ("admin.user_update", admin_id),
        ("admin.sessions_end", admin_id),
        ("admin.unlock", admin_id),
        ("admin.user_delete", admin_id),
    ], rows
    assert json.loads(rows[0]["detail"]) == {"by": "self"}
    assert json.loads(rows[1]["detail"]) == {"by": "admin"}
    assert json.loads(rows[2]["detail"]) == {"fields": ["password", "is_verified"]}
    # a superuser changing its own password acts for itself
    r = srv.patch("/users/me", json={"password": NEW_PW + "x"}, headers=bearer(admin))
    assert r.status_code == 200, r.text
    mine = audit_rows(srv, admin_id)
    assert [(x["event"], x["actor_id"], json.loads(x["detail"])) for x in mine
            if not x["event"].startswith("login.")] == [
        ("admin.user_create", None, {"is_superuser": True}),  # the bootstrap admin
        ("password.change", None, {"by": "self"})], mine
    # the trail outlives the user
    assert srv.db("SELECT count(*) AS n FROM users WHERE id = ?", (u["id"],))[0]["n"] == 0
    no_secret_in(srv, PW, NEW_PW, NEW_PW + "x", token, admin)


def test_a_refresh_token_used_twice_is_recorded(server_factory):
    srv = server_factory()
    u = srv.register_ok(password=PW)
    r = srv.post("/auth/login/oauth", data={"username": u["email"], "password": PW})
    first = r.json()["refresh_token"]
    assert srv.post("/auth/login/refresh", headers=bearer(first)).status_code == 200
    assert srv.post("/auth/login/refresh", headers=bearer(first)).status_code != 200
    assert events(srv, u["id"]) == ["login.success", "refresh.reuse"]
    no_secret_in(srv, first)


def test_a_reset_is_recorded_and_audit_events_go_out_as_webhooks(server_factory):
    sink, hooks = SmtpSink().start(), HookSink()
    try:
        srv = server_factory(smtp_url=sink.url, webhook_url=hooks.url,
                             webhook_secret="audit-hook-secret-0123456789abcdefXYZ", reset_url="https://app.example/reset",
                             webhook_audit_events="password.reset, login.failure",
                             **FAST_RETRY)
        u = srv.register_ok(password=PW)
        assert srv.post("/auth/forgot-password", json={"email": u["email"]}).status_code == 202
        token = sink.last_token(u["email"])
        r = srv.post("/auth/reset-password", json={"token": token, "password": NEW_PW})
        assert r.status_code == 200, r.text
        srv.login_raw(u["email"], WRONG)
        srv.login(u["email"], NEW_PW)
        assert events(srv, u["id"]) == ["password.reset", "login.failure", "login.success"]
        deadline = time.monotonic() + 20
        got = []
        while time.monotonic() < deadline and len(got) < 2:
            with hooks.cond:
                got = [json.loads(b) for _, _, b in hooks.events]
                got = [j for j in got if j["event"].startswith("audit.")]
                if len(got) < 2:
                    hooks.cond.wait(0.5)
        assert sorted(j["event"] for j in got) == ["audit.login.failure", "audit.password.reset"]
        for j in got:
            assert j["user"] == {"id": u["id"]}
            assert j["audit"]["user_id"] == u["id"] and j["audit"]["ip"] == "127.0.0.1"
        fail = [j for j in got if j["event"] == "audit.login.failure"][0]
        assert fail["audit"]["detail"] == {"reason": "bad_password"}
        text = json.dumps(got)
        for s in (PW, NEW_PW, WRONG, token):
            assert s not in text
        # login.success is not named: no webhook for it, not even queued
        assert not [j for j in got if j["event"] == "audit.login.success"]
        deadline = time.monotonic() + 20
        while srv.db("SELECT count(*) AS n FROM mail_outbox WHERE kind = 'webhook' "
                     "AND (sent_at IS NULL OR sent_at = 0)")[0]["n"] > 0:
            assert time.monotonic() < deadline, "webhooks still pending"
            time.sleep(0.2)
        with hooks.cond:
            sent = [json.loads(b)["event"] for _, _, b in hooks.events]
        assert sorted(e for e in sent if e.startswith("audit.")) == [
            "audit.login.failure", "audit.password.reset"], sent
        no_secret_in(srv, PW, NEW_PW, WRONG, token)
    finally:
        hooks.stop()
        sink.stop()


# ---- reading it: GET /admin/audit and the CLI -------------------------------------------------


def test_superusers_read_the_log_by_user_and_cursor(admin_srv):
    srv = admin_srv
    admin = srv.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    a, b = srv.register_ok(password=PW), srv.register_ok(password=PW)
    a_token = srv.login(a["email"], PW)
    srv.login_raw(a["email"], WRONG)
    srv.login(b["email"], PW)
    r = srv.get("/admin/audit", params={"user_id": a["id"]}, headers=bearer(admin))
    assert r.status_code == 200, r.text
    got = r.json()
    assert [x["event"] for x in got] == ["login.success", "login.failure"]
    assert set(got[1]) == {"id", "at", "event", "user_id", "actor_id", "ip", "detail"}
    assert got[1]["detail"] == {"reason": "bad_password"} and got[1]["user_id"] == a["id"]
    assert got[1]["actor_id"] is None and got[1]["ip"] == "127.0.0.1"
    assert abs(got[1]["at"] - time.time()) < 60
    # the next page starts after the last id; upper case is the same id
    r = srv.get("/admin/audit", params={"user_id": a["id"].upper(), "after": got[0]["id"]},
                headers=bearer(admin))
    assert [x["id"] for x in r.json()] == [got[1]["id"]]
    everything = srv.get("/admin/audit", headers=bearer(admin)).json()
    assert [x["id"] for x in everything] == [x["id"] for x in
                                             srv.get("/admin/audit", params={"limit": 1000},
                                                     headers=bearer(admin)).json()]
    assert len(srv.get("/admin/audit", params={"limit": 2}, headers=bearer(admin)).json()) == 2
    # after= unix seconds: from that second on
    now = int(time.time())
    assert srv.get("/admin/audit", params={"after": now + 5},
                   headers=bearer(admin)).json() == []
    assert len(srv.get("/admin/audit", params={"after": now - 120},
                       headers=bearer(admin)).json()) == len(everything)

    assert srv.get("/admin/audit").status_code == 401
    r = srv.get("/admin/audit", headers=bearer(a_token))
    assert r.status_code == 403 and r.json() == {"detail": "Forbidden"}
    before = srv.table_count("audit_log")
    for params, field in [({"user_id": "nope"}, "user_id"), ({"after": "yesterday"}, "after"),
                          ({"after": "-5"}, "after"), ({"limit": "0"}, "limit"),
                          ({"limit": "1001"}, "limit"), ({"limit": "ten"}, "limit"),
                          ({"limit": ""}, "limit")]:
        r = srv.get("/admin/audit", params=params, headers=bearer(admin))
        assert_validation_error(r, field, where="query")
    assert srv.table_count("audit_log") == before, "reading writes nothing"
    assert srv.alive()


def test_the_cli_prints_the_log(admin_srv):
    srv = admin_srv
    u = srv.register_ok(password=PW)
    srv.login(u["email"], PW)
    srv.login_raw(u["email"], WRONG)
    p = run_cli(["audit", "--user-id", u["id"], "--json"], server=srv)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert [x["event"] for x in lines] == ["login.success", "login.failure"]
    assert lines[1]["detail"] == {"reason": "bad_password"}
    p = run_cli(["audit", "--user-id", u["id"], "--after", lines[0]["id"]], server=srv)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert len(out) == 1 and "\tlogin.failure\t" in out[0] and f"user={u['id']}" in out[0]
    p = run_cli(["audit", "--after", str(int(time.time()) + 5)], server=srv)
    assert p.returncode == 0 and p.stdout == ""
    p = run_cli(["user", "create", "--email", "made@example.com", "--password-stdin"],
                server=srv, input=PW + "\n")
    assert p.returncode == 0, p.stderr
    made = srv.user_row(email="made@example.com")["id"]
    assert [(r["event"], r["actor_id"], json.loads(r["detail"])) for r in audit_rows(srv, made)] \
        == [("admin.user_create", None, {"is_superuser": False})]
    # a CLI password change is an admin action without an actor
    p = run_cli(["user", "set-password", "--email", u["email"], "--password-stdin"],
                server=srv, input=NEW_PW + "\n")
    assert p.returncode == 0, p.stderr
    p = run_cli(["audit", "--user-id", u["id"], "--json", "--limit", "10"], server=srv)
    tail = [json.loads(x) for x in p.stdout.splitlines()][-2:]
    assert [(x["event"], x["actor_id"], x["ip"]) for x in tail] == [
        ("password.change", None, None), ("admin.user_update", None, None)]
    for bad in (["--user-id", "x"], ["--after", "soon"], ["--limit", "0"], ["--bogus"]):
        p = run_cli(["audit"] + bad, server=srv)
        assert p.returncode == 2, (bad, p.stdout, p.stderr)


def test_totp_on_and_off_and_second_steps_are_recorded_without_the_secret(server_factory):
    from test_myauth_totp import (PW as TOTP_PW, enabled_user, pending_token, second_step,
                                  totp_row)
    srv = server_factory()
    u, token, totp, codes = enabled_user(srv)
    secret = totp.secret
    row = totp_row(srv, u["id"])
    pending = pending_token(srv, u["email"])
    wrong = "000000" if totp.now() != "000000" else "111111"
    assert second_step(srv, pending, wrong).status_code == 400
    assert second_step(srv, pending, totp.now()).status_code == 200
    got = srv.db("SELECT event, detail FROM audit_log WHERE user_id = ? ORDER BY id",
                 (u["id"],))
    tail = [(g["event"], json.loads(g["detail"])) for g in got][-3:]
    assert tail == [("login.success", {"second_factor": "pending"}),
                    ("login.failure", {"reason": "bad_code"}),
                    ("login.success", {"second_factor": "done"})], tail
    r = srv.request("DELETE", "/auth/login/totp", json={"original": TOTP_PW},
                    headers=bearer(token))
    assert r.status_code == 200, r.text
    assert [e for e in events(srv, u["id"]) if e.startswith("totp.")] == [
        "totp.enable", "totp.disable"]
    no_secret_in(srv, secret, TOTP_PW, token, pending, row["secret_enc"], *codes)
