"""Native routes and conventions shared by every response (DESIGN §6)."""

import json
import shutil
import time

from conftest import assert_detail, bearer, cookie_header, set_cookie_parts

PW = "correct-horse-9"


def test_healthz_and_readyz(server):
    for path, body in (("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})):
        r = server.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
        assert r.json() == body, (path, r.text)


def test_readyz_is_503_when_the_database_does_not_answer(server_factory, tmp_path):
    """README: /readyz is 200 only while the database answers; /healthz
    (the process is up) stays 200. The database's directory goes away
    before the request thread ever opened its connection (one HTTP thread;
    the start-up check asks only /healthz), so its ping cannot open it."""
    dbdir = tmp_path / "dbdir"
    dbdir.mkdir()
    srv = server_factory(threads=1, db_path=dbdir / "p.db")
    shutil.rmtree(dbdir)
    r = srv.get("/readyz")
    assert r.status_code == 503, r.text
    assert r.json() != {"status": "ready"}, r.text
    r = srv.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text


def test_protected_greets_the_authenticated_user(server):
    u, _pw, token = server.new_user()
    r = server.get("/protected", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"message": f"Hello, {u['email']}!"}


def test_protected_requires_authentication(server):
    assert_detail(server.get("/protected"), 401, "Unauthorized")
    assert_detail(server.get("/protected", headers=bearer("nope")), 401, "Unauthorized")


def test_error_shapes(server):
    assert_detail(server.get("/no/such/route"), 404, "Not Found")
    assert_detail(server.get("/auth/login"), 405, "Method Not Allowed")
    _u, _pw, token = server.new_user()
    assert_detail(server.get("/users/00000000-0000-0000-0000-000000000000", headers=bearer(token)),
                  403, "Forbidden")
    assert_detail(server.get("/users/me"), 401, "Unauthorized")


def test_405_lists_the_allowed_methods(server):
    r = server.get("/auth/login")
    assert r.status_code == 405
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert "POST" in allow
    r = server.request("PUT", "/users/me", json={})
    assert_detail(r, 405, "Method Not Allowed")
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert {"GET", "PATCH"} <= allow


def test_every_response_has_a_request_id_and_no_store(server):
    u, _pw, token = server.new_user()
    responses = {
        "200 healthz": server.get("/healthz"),
        "200 me": server.me(token),
        "201 register": server.register(server.fresh_email(), PW),
        "204 cookie login": server.login_raw(u["email"], PW, path="/auth/cookie/login"),
        "400 bad creds": server.login_raw(u["email"], "wrong-password-1"),
        "401": server.get("/users/me"),
        "403": server.get("/users/" + u["id"], headers=bearer(token)),
        "404": server.get("/nope"),
        "405": server.get("/auth/register"),
        "413": server.post("/auth/register", data=b"{" + b" " * 300000 + b"}",
                           headers={"Content-Type": "application/json"}),
        "422": server.post("/auth/register", json={}),
    }
    ids = []
    for name, r in responses.items():
        assert name.split()[0] == str(r.status_code), (name, r.status_code, r.text[:300])
        rid = r.headers.get("X-Request-ID")
        assert rid, (name, dict(r.headers))
        ids.append(rid)
        cc = [p.strip().lower() for p in r.headers.get("Cache-Control", "").split(",")]
        assert "no-store" in cc, (name, r.headers.get("Cache-Control"))
    assert len(set(ids)) == len(ids), ids


def _log_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append((line, obj))
    return out


def test_access_log_is_json_and_holds_no_secrets(server_factory):
    srv = server_factory(access_log=True)
    password = "Sup3r-Secret-Pa55word"
    u = srv.register_ok(password=password)
    login = srv.login_raw(u["email"], password)
    token = login.json()["access_token"]
    me = srv.me(token)
    prot = srv.get("/protected", headers=bearer(token))
    cookie, _ = set_cookie_parts(srv.login_raw(u["email"], password, path="/auth/cookie/login"))
    srv.get("/users/me", headers=cookie_header(cookie))
    srv.patch("/users/me", json={"password": "An0ther-Secret-Pa55"}, headers=bearer(token))
    srv.post("/auth/logout", headers=bearer(token))
    srv.post("/auth/cookie/logout", headers=cookie_header(cookie))
    # credentials misplaced in the query string are neither accepted nor logged
    q = srv.post(f"/auth/login?username={u['email']}&password=Qu3ry-Secret-Pa55")
    assert q.status_code == 422, q.text
    time.sleep(0.5)
    srv.stop()  # flushes; fails the test on a bad exit
    err = srv.stderr_text()
    for secret in (password, "An0ther-Secret-Pa55", "Qu3ry-Secret-Pa55", token, token.split(".")[2],
                   cookie):
        assert secret not in err, f"secret leaked into the log: {secret[:12]}..."
    lines = _log_lines(err)
    # one JSON line per request, naming method, path and status
    for r, path in ((login, "/auth/login"), (me, "/users/me"), (prot, "/protected")):
        rid = r.headers["X-Request-ID"]
        mine = [obj for line, obj in lines if rid in line]
        assert len(mine) == 1, (rid, err[-3000:])
        values = json.dumps(mine[0])
        assert path in values
        assert str(r.status_code) in values
        assert ("POST" if path == "/auth/login" else "GET") in values
    # every non-empty stderr line of a request is JSON
    for line in err.splitlines():
        if '"/auth/' in line or '"/users' in line:
            json.loads(line)


def test_access_log_can_be_turned_off(server_factory):
    srv = server_factory(access_log=False)
    r = srv.get("/healthz")
    rid = r.headers.get("X-Request-ID")
    srv.get("/nope")
    time.sleep(0.3)
    srv.stop()
    err = srv.stderr_text()
    assert rid and rid not in err
    assert "/nope" not in err
