"""GET /metrics (issue 14, item 5): Prometheus text format, off by default,
from loopback only or with the bearer metrics_token; counters move by the
requests the test makes."""

import re
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import (BIN, JWT_SECRET, _base_env, bearer, free_port, run_cli,
                      sanitizer_problems, sqlite_url)

TOKEN = "metrics-token-0123456789abcdef"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value}; checks every line's syntax."""
    out = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            types[name] = kind
            continue
        if line.startswith("# HELP ") or line == "":
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        key = (m.group(1), labels)
        assert key not in out, line
        out[key] = float(m.group(4))
    for name, _ in out:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, name
    return out


def scrape(srv, **kw):
    r = srv.get("/metrics", **kw)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0.0)


def route(face, method, path, **extra):
    return dict(face=face, method=method, route=path, **extra)


def test_metrics_are_off_by_default(server):
    r = server.get("/metrics")
    assert r.status_code == 404


def test_counters_move_by_the_requests_made(server_factory):
    srv = server_factory(metrics_router=True)
    before = scrape(srv)
    u = srv.register_ok()
    tok = srv.login(u["email"], "correct-horse-9")
    bad = srv.post("/auth/login", data={"username": u["email"], "password": "wrong-horse-1"})
    assert bad.status_code == 400
    for _ in range(3):
        assert srv.me(tok).status_code == 200
    assert srv.get("/users/me").status_code == 401
    assert srv.get("/nowhere").status_code == 404
    after = scrape(srv)

    me = route("fastapi_users", "GET", "/users/me")
    login = route("fastapi_users", "POST", "/auth/login")
    req = "portcullis_http_requests_total"
    assert val(after, req, status="200", **me) - val(before, req, status="200", **me) == 3
    assert val(after, req, status="401", **me) - val(before, req, status="401", **me) == 1
    assert val(after, req, status="200", **login) - val(before, req, status="200", **login) == 1
    assert val(after, req, status="400", **login) - val(before, req, status="400", **login) == 1
    reg = route("fastapi_users", "POST", "/auth/register", status="201")
    assert val(after, req, **reg) - val(before, req, **reg) == 1
    unm = dict(face="", method="", route="(unmatched)", status="404")
    assert val(after, req, **unm) - val(before, req, **unm) == 1
    # the scrape before is counted by the one after
    mt = route("native", "GET", "/metrics", status="200")
    assert val(after, req, **mt) - val(before, req, **mt) == 1

    h = "portcullis_http_request_duration_seconds"
    assert val(after, h + "_count", **me) - val(before, h + "_count", **me) == 4
    assert val(after, h + "_bucket", le="+Inf", **me) == val(after, h + "_count", **me)
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                     if k[0] == h + "_bucket" and dict(k[1])["route"] == "/users/me"
                     and dict(k[1])["le"] != "+Inf")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    assert val(after, h + "_sum", **me) > val(before, h + "_sum", **me)

    logins = "portcullis_logins_total"
    assert val(after, logins, result="ok") - val(before, logins, result="ok") == 1
    assert val(after, logins, result="failed") - val(before, logins, result="failed") == 1
    # register and two logins hashed on the workers
    assert val(after, "portcullis_hash_jobs_total") - val(before, "portcullis_hash_jobs_total") >= 3
    assert val(after, "portcullis_hash_queue_depth") == 0
    cache = "portcullis_auth_cache_total"
    moved = (val(after, cache, result="hit") + val(after, cache, result="miss")
             - val(before, cache, result="hit") - val(before, cache, result="miss"))
    assert moved == 3  # the three good /users/me (a missing token is no check)
    assert val(after, cache, result="miss") > val(before, cache, result="miss")
    assert val(after, "portcullis_store_errors_total") == 0
    assert val(after, "portcullis_outbox_scrape_ok") == 1


def test_outbox_gauges_follow_the_pending_mail(server_factory):
    # no SMTP server listens there: the mail stays pending and fails
    srv = server_factory(metrics_router=True, smtp_url="smtp://127.0.0.1:9",
                         mail_retry_base_seconds=3600, mail_retry_max_seconds=3600)
    m = scrape(srv)
    assert m[("portcullis_outbox_pending", frozenset())] == 0
    assert m[("portcullis_outbox_failed", frozenset())] == 0
    u = srv.register_ok()
    assert srv.post("/auth/forgot-password", json={"email": u["email"]}).status_code == 202
    deadline = time.time() + 20
    while True:  # the sender's first attempt fails at once (connection refused)
        m = scrape(srv)
        if m[("portcullis_outbox_failed", frozenset())] >= 1 or time.time() > deadline:
            break
        time.sleep(0.1)
    rows = srv.db("SELECT count(*) AS n, sum(CASE WHEN last_error IS NOT NULL THEN 1 ELSE 0 END) "
                  "AS f FROM mail_outbox "
                  "WHERE sent_at IS NULL AND gave_up_at IS NULL")
    assert rows[0]["n"] >= 1
    assert m[("portcullis_outbox_pending", frozenset())] == rows[0]["n"]
    assert m[("portcullis_outbox_failed", frozenset())] == rows[0]["f"] >= 1
    assert 0 <= m[("portcullis_outbox_oldest_age_seconds", frozenset())] < 60


def test_metrics_token_is_required_when_set(server_factory):
    srv = server_factory(metrics_router=True, metrics_token=TOKEN)
    r = srv.get("/metrics")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json() == {"detail": "Unauthorized"}
    assert "portcullis_" not in r.text
    for wrong in (TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "", "x" * len(TOKEN)):
        r = srv.get("/metrics", headers={"Authorization": f"Bearer {wrong}"})
        assert r.status_code == 401, wrong
        assert "portcullis_" not in r.text
    r = srv.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert r.status_code == 401
    m = scrape(srv, headers=bearer(TOKEN))
    assert ("portcullis_logins_total", frozenset({("result", "ok")})) in m


def _non_loopback_ip():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent: picks the outgoing address
        return s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()


def test_without_a_token_only_loopback_may_read(tmp_path):
    ip = _non_loopback_ip()
    if ip is None or ip.startswith("127."):
        pytest.skip("no non-loopback address on this machine")
    # the harness binds 127.0.0.1 only: this one listens on every address
    env = _base_env()
    # a port free on 127.0.0.1 may still be taken on another address: a
    # server that exits at once (cannot bind) is tried again on another
    for attempt in range(5):
        port = free_port()
        proc = subprocess.Popen([str(BIN), "serve", "--host=0.0.0.0", f"--port={port}",
                                 f"--database-url={sqlite_url(tmp_path / 'm.db')}",
                                 f"--jwt-secret={JWT_SECRET}", "--metrics-router=true"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                cwd=tmp_path)
        deadline = time.time() + 30
        while proc.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                assert time.time() < deadline, "server did not start"
                time.sleep(0.05)
        if proc.poll() is None:
            break
        err = proc.communicate(timeout=30)[1].decode(errors="replace")
        assert "bind" in err.lower() or "address" in err.lower(), err[-2000:]
    try:
        assert proc.poll() is None, "server did not start"
        assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 200
        r = requests.get(f"http://{ip}:{port}/metrics", timeout=10)
        assert r.status_code == 403
        assert r.json() == {"detail": "Forbidden"}
        assert "portcullis_" not in r.text
        assert requests.get(f"http://{ip}:{port}/healthz", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    assert not sanitizer_problems(err.decode(errors="replace"))


@pytest.mark.parametrize("token", ["short", "has space in it 0123456789"])
def test_a_weak_metrics_token_is_refused(server_factory, token):
    srv = server_factory(start=False, metrics_router=True, metrics_token=token)
    p = run_cli(["serve", f"--port={free_port()}", "--metrics-router=true",
                 f"--metrics-token={token}"], db_path=srv.db_path,
                env={"PORTCULLIS_JWT_SECRET": JWT_SECRET}, timeout=20)
    assert p.returncode == 2, p.stderr
    assert "metrics_token" in p.stderr


def cache_counts(srv):
    m = scrape(srv)
    c = "portcullis_auth_cache_total"
    return val(m, c, result="hit"), val(m, c, result="miss")


def test_attempt_counters_and_audit_rows_leave_the_credential_cache_alone(server_factory):
    # One HTTP thread: every request sees the same per-thread cache; a long
    # cache time: only a move of the write generation can void an entry.
    # The login rate limit and the lockout on, as by default.
    srv = server_factory(threads=1, auth_cache_ms=60000, metrics_router=True,
                         rate_limit_login_ip=100, lockout_threshold=10,
                         rate_limit_mail_address=100, rate_limit_mail_ip=100)
    u = srv.register_ok()
    tok = srv.login(u["email"], "correct-horse-9")
    assert srv.me(tok).status_code == 200  # remembered now
    counters = srv.db("SELECT count(*) AS n FROM rate_limits")[0]["n"]
    audit = srv.db("SELECT count(*) AS n FROM audit_log")[0]["n"]
    hit0, miss0 = cache_counts(srv)
    # a failed login writes its attempt counters (rate limit, lockout) and
    # an audit row, and nothing a credential check reads
    bad = srv.post("/auth/login", data={"username": u["email"], "password": "wrong-horse-1"})
    assert bad.status_code == 400
    assert srv.db("SELECT count(*) AS n FROM rate_limits")[0]["n"] > counters
    assert srv.db("SELECT count(*) AS n FROM audit_log")[0]["n"] > audit
    # forgot-password for an unknown address (its mail counters and the decoy
    # rows that pay the known path's commit) and for a known one (its token,
    # the void of the older ones, its outbox row)
    r = srv.post("/auth/forgot-password", json={"email": "nobody-" + u["email"]})
    assert r.status_code == 202
    assert srv.db("SELECT count(*) AS n FROM mail_decoys")[0]["n"] >= 1
    r = srv.post("/auth/forgot-password", json={"email": u["email"]})
    assert r.status_code == 202
    assert srv.db("SELECT count(*) AS n FROM one_time_tokens")[0]["n"] >= 1
    # /readyz's committed write probe
    assert srv.get("/readyz").status_code == 200
    assert srv.db("SELECT count(*) AS n FROM keys WHERE name = 'write_probe'")[0]["n"] == 1
    r = srv.me(tok)
    assert r.status_code == 200 and r.json()["id"] == u["id"]
    hit1, miss1 = cache_counts(srv)
    assert (hit1 - hit0, miss1 - miss0) == (1, 0), "the counters' write voided the cache"
    # a write a credential check reads (the user's own row) does void it
    assert srv.patch("/users/me", json={"email": "moved-" + u["email"]},
                     headers=bearer(tok)).status_code == 200
    hit2, miss2 = cache_counts(srv)
    r = srv.me(tok)
    assert r.status_code == 200 and r.json()["email"] == "moved-" + u["email"]
    hit3, miss3 = cache_counts(srv)
    assert miss3 - miss2 == 1 and hit3 == hit2
