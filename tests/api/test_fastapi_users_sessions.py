"""Issue 13, item 2: a user sees its sign-ins and ends them; a superuser too.

GET /users/me/sessions lists the live database sessions (cookie logins) and
refresh families (MyAuth, simplejwt, user_account logins) of the user;
DELETE /users/me/sessions/{sid} ends one, DELETE /users/me/sessions all;
/users/{id}/sessions is the same for a superuser. Ending one is checked
where the credential is used, and on the stored rows.
"""

import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, bearer

PW = "correct-horse-9"


def cookie_login(srv, email, ua):
    r = requests.post(srv.url("/auth/cookie/login"), data={"username": email, "password": PW},
                      headers={"User-Agent": ua})
    assert r.status_code == 204, r.text
    return r.cookies


def token_login(srv, email):
    r = srv.post("/auth/login/oauth", data={"username": email, "password": PW},
                 headers={"User-Agent": "cli-app/3.0"})
    assert r.status_code == 200, r.text
    return r.json()


def signins(srv, token, path="/users/me/sessions"):
    r = srv.get(path, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def setup_user(srv):
    u = srv.register_ok(password=PW)
    jwt = srv.login(u["email"], PW)
    a = cookie_login(srv, u["email"], "browser-a/1.0")
    b = cookie_login(srv, u["email"], "browser-b/2.0")
    t = token_login(srv, u["email"])
    return u, jwt, a, b, t


def test_a_user_lists_its_sessions_and_refresh_families(server):
    u, jwt, a, b, t = setup_user(server)
    got = signins(server, jwt)
    assert sorted(s["kind"] for s in got) == ["refresh", "session", "session"], got
    sessions = [s for s in got if s["kind"] == "session"]
    assert {s["user_agent"] for s in sessions} == {"browser-a/1.0", "browser-b/2.0"}
    assert all(s["ip"] == "127.0.0.1" for s in sessions)
    fam = [s for s in got if s["kind"] == "refresh"][0]
    assert fam["ip"] == "127.0.0.1" and fam["user_agent"] == "cli-app/3.0"
    for s in got:
        assert set(s) == {"id", "kind", "created_at", "last_seen_at", "expires_at", "ip",
                          "user_agent"}
        assert s["created_at"] <= s["last_seen_at"] < s["expires_at"]
    # ids name the sign-in and open nothing: not the token, not its hash
    rows = server.db("SELECT token_hash FROM sessions WHERE user_id = ?", (u["id"],))
    hashes = {r["token_hash"] for r in rows}
    assert all(s["id"][1:] not in hashes for s in sessions)
    assert all(s["id"][1:] not in (a.get("fastapiusersauth"), b.get("fastapiusersauth"))
               for s in sessions)
    # the session cookie lists them as well
    r = server.get("/users/me/sessions", cookies=a)
    assert r.status_code == 200 and len(r.json()) == 3


def test_ending_one_session_ends_only_it(server):
    u, jwt, a, b, t = setup_user(server)
    got = signins(server, jwt)
    sid = next(s["id"] for s in got if s.get("user_agent") == "browser-a/1.0")
    r = server.delete(f"/users/me/sessions/{sid}", headers=bearer(jwt))
    assert r.status_code == 204, r.text
    assert server.get("/users/me", cookies=a).status_code == 401
    assert server.get("/users/me", cookies=b).status_code == 200
    assert len(signins(server, jwt)) == 2
    r = server.delete(f"/users/me/sessions/{sid}", headers=bearer(jwt))
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


def test_ending_a_refresh_family_ends_its_tokens(server):
    u, jwt, a, b, t = setup_user(server)
    fid = next(s["id"] for s in signins(server, jwt) if s["kind"] == "refresh")
    r = server.delete(f"/users/me/sessions/{fid}", headers=bearer(jwt))
    assert r.status_code == 204, r.text
    assert server.post("/auth/login/refresh",
                       headers=bearer(t["refresh_token"])).status_code == 403
    assert server.get("/auth/users/me", headers=bearer(t["access_token"])).status_code == 403
    assert server.get("/users/me", cookies=a).status_code == 200, "the rest stay"
    assert [s["kind"] for s in signins(server, jwt)] == ["session", "session"]


def test_ending_all_ends_every_session_and_family(server):
    u, jwt, a, b, t = setup_user(server)
    r = server.delete("/users/me/sessions", headers=bearer(jwt))
    assert r.status_code == 204, r.text
    assert server.get("/users/me", cookies=a).status_code == 401
    assert server.get("/users/me", cookies=b).status_code == 401
    assert server.post("/auth/login/refresh",
                       headers=bearer(t["refresh_token"])).status_code == 403
    assert signins(server, jwt) == []
    live = server.db("SELECT count(*) AS n FROM refresh_families WHERE user_id = ? "
                     "AND revoked_at IS NULL", (u["id"],))[0]["n"]
    assert live == 0


def test_another_users_sign_in_cannot_be_ended(server):
    victim, vjwt, va, vb, vt = setup_user(server)
    u, jwt, a, b, t = setup_user(server)
    theirs = signins(server, vjwt)
    before = server.db("SELECT count(*) AS n FROM sessions")[0]["n"]
    for s in theirs:
        r = server.delete(f"/users/me/sessions/{s['id']}", headers=bearer(jwt))
        assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    assert server.db("SELECT count(*) AS n FROM sessions")[0]["n"] == before
    assert len(signins(server, vjwt)) == 3
    for bad in ("x", "s", "r", "s" + "0" * 32, "r" + victim["id"], "%00", "s" * 300):
        r = server.delete(f"/users/me/sessions/{bad}", headers=bearer(jwt))
        assert r.status_code == 404, (bad, r.status_code, r.text)
    assert server.get("/users/me/sessions").status_code == 401


def test_a_superuser_lists_and_ends_any_users_sign_ins(server):
    admin = server.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    u, jwt, a, b, t = setup_user(server)
    path = f"/users/{u['id']}/sessions"
    got = signins(server, admin, path)
    assert len(got) == 3
    r = server.delete(f"{path}/{got[0]['id']}", headers=bearer(admin))
    assert r.status_code == 204
    assert len(signins(server, jwt)) == 2
    r = server.delete(path, headers=bearer(admin))
    assert r.status_code == 204
    assert signins(server, jwt) == []
    assert server.get(path, headers=bearer(jwt)).status_code == 403, "not for a user"
    assert server.delete(path, headers=bearer(jwt)).status_code == 403
    r = server.get("/users/0190a000-0000-7000-8000-00000000ffff/sessions",
                   headers=bearer(admin))
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


# ---- require_current_password --------------------------------------------------------------


def test_require_current_password_guards_password_and_email_changes(server_factory):
    srv = server_factory(require_current_password=True)
    u = srv.register_ok(password=PW)
    jwt = srv.login(u["email"], PW)
    before = srv.user_row(id=u["id"])
    for body in ({"password": "another-horse-8"},
                 {"password": "another-horse-8", "current_password": "wrong-horse-1"},
                 {"email": srv.fresh_email()},
                 {"email": srv.fresh_email(), "current_password": None}):
        r = srv.patch("/users/me", json=body, headers=bearer(jwt))
        assert r.status_code == 400, (body, r.text)
        assert r.json() == {"detail": "UPDATE_USER_BAD_CURRENT_PASSWORD"}
    assert srv.user_row(id=u["id"]) == before, "nothing changed"
    r = srv.patch("/users/me", json={"full_name": "No Secret Needed"}, headers=bearer(jwt))
    assert r.status_code == 200, r.text
    r = srv.patch("/users/me", json={"password": "another-horse-8", "current_password": PW},
                  headers=bearer(jwt))
    assert r.status_code == 200, r.text
    assert srv.me(jwt).status_code == 401, "the change ended the token it came with"
    srv.login(u["email"], "another-horse-8")


def test_without_require_current_password_fastapi_users_does_not_ask(server):
    u, jwt, a, b, t = setup_user(server)
    r = server.patch("/users/me", json={"password": "another-horse-8"}, headers=bearer(jwt))
    assert r.status_code == 200, r.text
