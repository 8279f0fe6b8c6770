"""fastapi_users face: the cookie backend at /auth/cookie (database sessions)."""

import time

import pytest

from conftest import (assert_detail, cookie_header, set_cookie_parts, sha256_hex)

PW = "correct-horse-9"


def test_cookie_login_sets_a_hardened_session_cookie(server):
    u = server.register_ok(password=PW)
    t0 = int(time.time())
    r = server.cookie_login(u["email"], PW)
    assert r.content == b""
    value, attrs = set_cookie_parts(r)
    assert len(value) >= 43  # 256 random bits, base64url
    assert attrs.get("httponly") is True
    assert str(attrs.get("samesite", "")).lower() == "lax"
    assert attrs.get("path") == "/"
    assert int(attrs["max-age"]) == 3600  # session_lifetime_seconds default
    assert "secure" not in attrs  # cookie_secure=false in the test server
    # stored as its SHA-256, never raw
    rows = server.db("SELECT * FROM sessions WHERE user_id = ?", (u["id"],))
    assert len(rows) == 1
    assert rows[0]["token_hash"] == sha256_hex(value)
    assert all(value not in str(v) for v in rows[0].values())
    assert t0 + 3600 - 5 <= rows[0]["expires_at"] <= int(time.time()) + 3600 + 5


def test_cookie_authenticates_users_me_and_protected(server):
    u = server.register_ok(password=PW)
    value, _ = set_cookie_parts(server.cookie_login(u["email"], PW))
    r = server.get("/users/me", headers=cookie_header(value))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == u["id"]
    r = server.get("/protected", headers=cookie_header(value))
    assert r.status_code == 200
    assert r.json() == {"message": f"Hello, {u['email']}!"}


def test_each_cookie_login_gets_its_own_session(server):
    u = server.register_ok(password=PW)
    a, _ = set_cookie_parts(server.cookie_login(u["email"], PW))
    b, _ = set_cookie_parts(server.cookie_login(u["email"], PW))
    assert a != b
    hashes = {r["token_hash"] for r in server.db("SELECT token_hash FROM sessions WHERE user_id = ?",
                                                  (u["id"],))}
    assert hashes == {sha256_hex(a), sha256_hex(b)}


def test_cookie_logout_ends_the_session(server):
    u = server.register_ok(password=PW)
    a, _ = set_cookie_parts(server.cookie_login(u["email"], PW))
    b, _ = set_cookie_parts(server.cookie_login(u["email"], PW))
    r = server.post("/auth/cookie/logout", headers=cookie_header(a))
    assert r.status_code == 204, r.text
    cleared, attrs = set_cookie_parts(r)
    assert cleared in ("", '""')
    assert int(attrs["max-age"]) == 0
    assert attrs.get("path") == "/"
    assert not server.db("SELECT * FROM sessions WHERE token_hash = ?", (sha256_hex(a),))
    assert_detail(server.get("/users/me", headers=cookie_header(a)), 401, "Unauthorized")
    assert_detail(server.post("/auth/cookie/logout", headers=cookie_header(a)), 401, "Unauthorized")
    # the other session of the same user is untouched
    assert server.get("/users/me", headers=cookie_header(b)).status_code == 200
    assert server.db("SELECT * FROM sessions WHERE token_hash = ?", (sha256_hex(b),))


def test_cookie_logout_without_cookie_is_unauthorized(server):
    before = server.db("SELECT COUNT(*) AS n FROM sessions")[0]["n"]
    assert_detail(server.post("/auth/cookie/logout"), 401, "Unauthorized")
    assert_detail(server.post("/auth/cookie/logout", headers=cookie_header("forged-value")),
                  401, "Unauthorized")
    assert server.db("SELECT COUNT(*) AS n FROM sessions")[0]["n"] == before


def test_cookie_login_bad_credentials_sets_no_cookie(server):
    u = server.register_ok(password=PW)
    r = server.login_raw(u["email"], "wrong-password-1", path="/auth/cookie/login")
    assert_detail(r, 400, "LOGIN_BAD_CREDENTIALS")
    assert "fastapiusersauth=" not in r.headers.get("Set-Cookie", "")
    assert not server.db("SELECT * FROM sessions WHERE user_id = ?", (u["id"],))
    r = server.login_raw(server.fresh_email(), PW, path="/auth/cookie/login")
    assert_detail(r, 400, "LOGIN_BAD_CREDENTIALS")


def test_cookie_login_missing_field_is_a_validation_error(server):
    r = server.post("/auth/cookie/login", data={"username": "x@example.com"})
    assert r.status_code == 422, r.text
    assert ["body", "password"] in [e["loc"] for e in r.json()["detail"]]


def test_forged_or_raw_hash_cookie_is_unauthorized(server):
    u = server.register_ok(password=PW)
    value, _ = set_cookie_parts(server.cookie_login(u["email"], PW))
    # presenting the stored hash instead of the token must not work
    assert_detail(server.get("/users/me", headers=cookie_header(sha256_hex(value))), 401, "Unauthorized")
    assert_detail(server.get("/users/me", headers=cookie_header(value[:-1] + ("A" if value[-1] != "A" else "B"))),
                  401, "Unauthorized")


def test_a_session_cookie_is_not_a_bearer_token(server):
    u = server.register_ok(password=PW)
    value, _ = set_cookie_parts(server.cookie_login(u["email"], PW))
    assert_detail(server.get("/users/me", headers={"Authorization": f"Bearer {value}"}), 401, "Unauthorized")


def test_cookie_settings_are_honoured_and_sessions_survive_restart(server_factory):
    srv = server_factory(cookie_secure=True, cookie_name="portcullis_sid", session_lifetime_seconds=1234)
    u = srv.register_ok(password=PW)
    r = srv.cookie_login(u["email"], PW)
    assert "fastapiusersauth=" not in r.headers.get("Set-Cookie", "")
    value, attrs = set_cookie_parts(r, name="portcullis_sid")
    assert attrs.get("secure") is True
    assert attrs.get("httponly") is True
    assert int(attrs["max-age"]) == 1234
    row = srv.db("SELECT * FROM sessions WHERE token_hash = ?", (sha256_hex(value),))[0]
    assert abs(row["expires_at"] - (int(time.time()) + 1234)) <= 10
    # the configured name is the one read back
    assert srv.get("/users/me", headers=cookie_header(value, "portcullis_sid")).status_code == 200
    assert srv.get("/users/me", headers=cookie_header(value)).status_code == 401
    # sessions live in the database: a restart keeps them
    srv.restart()
    r = srv.get("/users/me", headers=cookie_header(value, "portcullis_sid"))
    assert r.status_code == 200 and r.json()["id"] == u["id"]


def test_session_cookie_is_found_among_other_cookies(server):
    # browsers send every cookie of the site in one header
    u = server.register_ok(password=PW)
    value, _ = set_cookie_parts(server.cookie_login(u["email"], PW))
    for header in (f"theme=dark; fastapiusersauth={value}; _ga=GA1.2.3",
                   f"fastapiusersauth={value};lang=en",
                   f"xfastapiusersauth=nope; fastapiusersauth={value}"):
        r = server.get("/users/me", headers={"Cookie": header})
        assert r.status_code == 200, (header, r.text)
        assert r.json()["id"] == u["id"]
    # a cookie whose name merely ends with the session cookie's name is not it
    assert_detail(server.get("/users/me", headers={"Cookie": f"xfastapiusersauth={value}"}),
                  401, "Unauthorized")


@pytest.mark.parametrize("settings,expect", [
    # each cookie setting, as the running server's Set-Cookie shows it
    ({"cookie_samesite": "strict", "cookie_domain": "app.example.test", "cookie_httponly": False,
      "cookie_secure": False, "session_lifetime_seconds": 777},
     {"samesite": "strict", "domain": "app.example.test", "httponly": None, "secure": None,
      "max-age": "777"}),
    ({"cookie_samesite": "none", "cookie_secure": True, "cookie_httponly": True,
      "cookie_name": "sid"},
     {"samesite": "none", "domain": None, "httponly": True, "secure": True, "max-age": "3600"}),
    ({"cookie_samesite": "lax"},
     {"samesite": "lax", "domain": None, "httponly": True, "secure": None, "max-age": "3600"}),
], ids=["strict-domain-no-httponly", "none-secure-name", "lax"])
def test_each_cookie_setting_reaches_set_cookie(server_factory, settings, expect):
    srv = server_factory(**settings)
    name = settings.get("cookie_name", "fastapiusersauth")
    u = srv.register_ok(password=PW)
    r = srv.cookie_login(u["email"], PW)
    value, attrs = set_cookie_parts(r, name=name)
    for attr, want in expect.items():
        if want is None:
            assert attr not in attrs, (attr, attrs)
        elif want is True:
            assert attrs.get(attr) is True, (attr, attrs)
        else:
            assert str(attrs.get(attr, "")).lower() == want, (attr, attrs)
    assert attrs.get("path") == "/"
    # the cookie of that name is the one read back; logout clears it with the same attributes
    assert srv.get("/users/me", headers=cookie_header(value, name)).status_code == 200
    out = srv.post("/auth/cookie/logout", headers=cookie_header(value, name))
    assert out.status_code == 204, out.text
    _v, gone = set_cookie_parts(out, name=name)
    assert gone.get("max-age") == "0", gone
    if expect["domain"]:
        assert gone.get("domain") == expect["domain"], gone
