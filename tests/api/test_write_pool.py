"""The routes whose cost is a durable commit (refresh rotation, logout, the end of
sign-ins; PC_R_COMMITS) run on the write pool (write_workers threads), their connection
suspended, as the hashing routes run on the hash pool (issue 15): each such request is
one write-pool job and no hash job; while a rotation waits for the database's write
lock on a worker, the server's one HTTP thread serves the other connections; a full
write queue answers 503 with Retry-After in the face's shape; bad write_workers /
write_queue_max values refuse to start."""

import contextlib
import json
import re
import signal
import sqlite3
import threading
import time

import pytest
import requests

from conftest import (JWT_SECRET, bearer, cookie_header, free_port, run_cli, set_cookie_parts,
                      sha256_hex)

PW = "correct-horse-9"
UA = "/user_account"
SJ = "/api/auth"


def metric(srv, name):
    r = srv.get("/metrics", timeout=5)
    assert r.status_code == 200, r.text
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", r.text, re.M)
    assert m, name
    return float(m.group(1))


def jobs(srv):
    return metric(srv, "portcullis_write_jobs_total"), metric(srv, "portcullis_hash_jobs_total")


def wait_for(srv, name, value, seconds=10):
    deadline = time.monotonic() + seconds
    while metric(srv, name) != value:
        assert time.monotonic() < deadline, (name, metric(srv, name), value)
        time.sleep(0.02)


@contextlib.contextmanager
def write_lock(srv):
    """Holds the database's write lock (SQLite: a BEGIN IMMEDIATE of another
    connection; PostgreSQL: refresh_tokens locked) until the block ends."""
    if srv.pg_url:
        import psycopg2
        conn = psycopg2.connect(srv.pg_url)
        try:
            conn.cursor().execute("LOCK TABLE refresh_tokens IN ACCESS EXCLUSIVE MODE")
            yield
        finally:
            conn.rollback()
            conn.close()
        return
    conn = sqlite3.connect(str(srv.db_path), timeout=15, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def ma_pair(srv):
    email = srv.fresh_email("wp")
    r = srv.post("/auth/login/signup", json={"email": email, "password": PW})
    assert r.status_code == 200, r.text
    r = srv.post("/auth/login/oauth", data={"username": email, "password": PW})
    assert r.status_code == 200, r.text
    return r.json()


def ma_refresh(srv, token, out, i=0):
    try:
        out[i] = requests.post(srv.url("/auth/login/refresh"), headers=bearer(token), timeout=60)
    except requests.RequestException as e:
        out[i] = e


@pytest.fixture
def srv(server_factory):
    return server_factory(metrics_router=True, user_account_cookie_secure=False)


def assert_one_write_job(srv, before, what):
    w, h = jobs(srv)
    assert (w - before[0], h - before[1]) == (1, 0), what


def test_each_faces_refresh_and_logout_is_one_write_job_and_no_hash_job(srv):
    # myauth: rotation and revocation
    p = ma_pair(srv)
    before = jobs(srv)
    r = srv.post("/auth/login/refresh", headers=bearer(p["refresh_token"]))
    assert r.status_code == 200 and set(r.json()) == {"access_token", "refresh_token",
                                                      "token_type"}, r.text
    assert_one_write_job(srv, before, "myauth refresh")
    before = jobs(srv)
    r = srv.post("/auth/login/revoke", headers=bearer(r.json()["refresh_token"]))
    assert r.status_code == 200 and r.json() == {"msg": "Token revoked successfully."}
    assert_one_write_job(srv, before, "myauth revoke")

    # simplejwt
    name = "sj" + srv.fresh_email("x").split("@")[0].replace(".", "").replace("+", "")[-20:]
    r = srv.post(SJ + "/register", json={"username": name, "password": PW})
    assert r.status_code in (200, 201), r.text
    r = srv.post(SJ + "/token", json={"username": name, "password": PW})
    assert r.status_code == 200, r.text
    before = jobs(srv)
    r = srv.post(SJ + "/token/refresh", json={"refresh": r.json()["refresh"]})
    assert r.status_code == 200 and set(r.json()) >= {"access", "refresh"}, r.text
    assert_one_write_job(srv, before, "simplejwt refresh")

    # user_account: refresh (cookie and its CSRF), then logout (GET and POST)
    for method in ("GET", "POST"):
        name = "ua" + name[-18:] + method
        r = srv.post(UA + "/registration", json={"username": name, "pwd": PW,
                                                 "email": srv.fresh_email("ua")})
        assert r.status_code == 200, r.text
        s = requests.Session()
        r = s.post(srv.url(UA + "/login"), json={"username": name, "pwd": PW})
        assert r.status_code == 200, r.text
        before = jobs(srv)
        r = s.post(srv.url(UA + "/refresh"),
                   headers={"X-CSRF-TOKEN": s.cookies["csrf_refresh_token"]})
        assert r.status_code == 200 and r.json()["msg"] == "refresh successful", r.text
        assert_one_write_job(srv, before, "user_account refresh")
        before = jobs(srv)
        r = s.request(method, srv.url(UA + "/logout"),
                      headers={"X-CSRF-TOKEN": s.cookies["csrf_access_token"]})
        assert r.status_code == 200 and r.json() == {"msg": "logout successful"}, r.text
        assert_one_write_job(srv, before, "user_account logout " + method)

    # fastapi-users: bearer logout, cookie logout, the end of sign-ins
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    before = jobs(srv)
    assert srv.post("/auth/logout", headers=bearer(token)).status_code == 204
    assert_one_write_job(srv, before, "fastapi-users logout")
    assert srv.me(token).status_code == 401
    cookie, _ = set_cookie_parts(srv.cookie_login(u["email"], PW))
    before = jobs(srv)
    assert srv.post("/auth/cookie/logout", headers=cookie_header(cookie)).status_code == 204
    assert_one_write_job(srv, before, "fastapi-users cookie logout")
    assert srv.get("/users/me", headers=cookie_header(cookie)).status_code == 401
    token = srv.login(u["email"], PW)
    before = jobs(srv)
    r = srv.delete("/users/me/sessions", headers=bearer(token))
    assert r.status_code in (200, 204), r.text
    assert_one_write_job(srv, before, "fastapi-users end of sign-ins")

    # a route that only reads is no job of either pool
    token = srv.login(u["email"], PW)
    before = jobs(srv)
    assert srv.me(token).status_code == 200
    assert jobs(srv) == before


def test_a_rotation_waiting_for_the_write_lock_holds_no_http_thread(server_factory):
    srv = server_factory(metrics_router=True, threads=1)
    p = ma_pair(srv)
    w0 = metric(srv, "portcullis_write_jobs_total")
    out = [None]
    with write_lock(srv):
        t = threading.Thread(target=ma_refresh, args=(srv, p["refresh_token"], out))
        t.start()
        # a write worker took it and waits for the lock; the one HTTP thread
        # answers /metrics meanwhile (inline it would wait with the rotation)
        wait_for(srv, "portcullis_write_jobs_total", w0 + 1)
        assert srv.get("/healthz", timeout=5).status_code == 200
        assert t.is_alive() and out[0] is None
    t.join(30)
    assert not t.is_alive()
    r = out[0]
    assert isinstance(r, requests.Response) and r.status_code == 200, r
    new = r.json()["refresh_token"]
    assert srv.post("/auth/login/refresh", headers=bearer(new)).status_code == 200


def test_a_full_write_queue_is_503_with_retry_after_in_the_faces_shape(server_factory):
    srv = server_factory(metrics_router=True, write_workers=1, write_queue_max=1)
    pairs = [ma_pair(srv) for _ in range(3)]
    w0 = metric(srv, "portcullis_write_jobs_total")
    out = [None, None]
    threads = []
    with write_lock(srv):
        threads.append(threading.Thread(target=ma_refresh,
                                        args=(srv, pairs[0]["refresh_token"], out, 0)))
        threads[0].start()
        wait_for(srv, "portcullis_write_jobs_total", w0 + 1)  # the one worker holds it
        threads.append(threading.Thread(target=ma_refresh,
                                        args=(srv, pairs[1]["refresh_token"], out, 1)))
        threads[1].start()
        wait_for(srv, "portcullis_write_queue_depth", 1)      # the queue is full
        r = srv.post("/auth/login/refresh", headers=bearer(pairs[2]["refresh_token"]), timeout=5)
        assert r.status_code == 503, r.text
        assert r.headers.get("Retry-After") == "1"
        assert set(r.json()) == {"detail"}, r.text
        assert out == [None, None]
    for t in threads:
        t.join(30)
    assert [r.status_code for r in out] == [200, 200], out
    # the refused one was not rotated: its refresh token still works once
    r = srv.post("/auth/login/refresh", headers=bearer(pairs[2]["refresh_token"]))
    assert r.status_code == 200, r.text
    assert metric(srv, "portcullis_write_queue_depth") == 0


def test_sigterm_waits_for_the_write_jobs_under_way_and_queued(server_factory):
    srv = server_factory(metrics_router=True, write_workers=2)
    pairs = [ma_pair(srv) for _ in range(4)]
    w0 = metric(srv, "portcullis_write_jobs_total")
    out = [None] * 4
    threads = [threading.Thread(target=ma_refresh, args=(srv, p["refresh_token"], out, i))
               for i, p in enumerate(pairs)]
    with write_lock(srv):
        for t in threads:
            t.start()
        wait_for(srv, "portcullis_write_jobs_total", w0 + 2)  # both workers wait for the lock
        wait_for(srv, "portcullis_write_queue_depth", 2)      # two more queued
        proc = srv.proc
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None  # it waits for the jobs it took
    srv.stop()  # exits 0, no sanitizer report
    for t in threads:
        t.join(30)
    assert [getattr(r, "status_code", r) for r in out] == [200] * 4, out
    # each rotation that answered was committed: the new tokens are in the store
    for r in out:
        row = srv.db("SELECT used_at FROM refresh_tokens WHERE token_hash = ?",
                     (sha256_hex(r.json()["refresh_token"]),))
        assert len(row) == 1 and row[0]["used_at"] is None, row


@pytest.mark.parametrize("setting,value", [
    ("write_workers", "0"), ("write_workers", "-1"), ("write_workers", "many"),
    ("write_workers", "257"), ("write_workers", ""), ("write_queue_max", "0"),
    ("write_queue_max", "-5"), ("write_queue_max", "4k"),
])
def test_a_bad_write_pool_setting_refuses_to_start(tmp_path, setting, value):
    flag = "--" + setting.replace("_", "-") + "=" + value
    p = run_cli(["serve", flag, f"--port={free_port()}"], db_path=tmp_path / "x.db",
                env={"PORTCULLIS_JWT_SECRET": JWT_SECRET}, timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert setting in p.stderr, p.stderr
    p = run_cli(["serve", f"--port={free_port()}"], db_path=tmp_path / "y.db",
                env={"PORTCULLIS_JWT_SECRET": JWT_SECRET,
                     "PORTCULLIS_" + setting.upper(): value}, timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert setting in p.stderr, p.stderr


def test_write_workers_is_a_setting_of_every_source(server_factory, tmp_path):
    ini = tmp_path / "wp.ini"
    ini.write_text("write_workers = 3\nwrite_queue_max = 7\n")
    p = run_cli(["config", "--config", str(ini), "--json"], db_path=tmp_path / "x.db",
                env={"PORTCULLIS_WRITE_QUEUE_MAX": "9"}, timeout=20)
    assert p.returncode == 0, p.stderr
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert (rows["write_workers"]["value"], rows["write_workers"]["source"]) in ((3, "file"),
                                                                             ("3", "file"))
    assert (rows["write_queue_max"]["value"], rows["write_queue_max"]["source"]) in ((9, "env"),
                                                                                 ("9", "env"))
    p = run_cli(["config", "--write-workers", "5", "--json"], db_path=tmp_path / "x.db",
                timeout=20)
    assert p.returncode == 0, p.stderr
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert str(rows["write_workers"]["value"]) == "5" and rows["write_workers"]["source"] == "flag"
    assert str(rows["write_queue_max"]["value"]) == "4096"
    p = run_cli(["config", "--json"], db_path=tmp_path / "x.db", timeout=20)
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert str(rows["write_workers"]["value"]) == "16" and rows["write_workers"]["source"] == "default"
    srv = server_factory(metrics_router=True, write_workers=1, write_queue_max=1)
    p = ma_pair(srv)
    r = srv.post("/auth/login/refresh", headers=bearer(p["refresh_token"]))
    assert r.status_code == 200, r.text
