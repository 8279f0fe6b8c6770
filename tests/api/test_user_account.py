"""user_account face (seed 004): a Flask API whose tokens are Flask-JWT-Extended's,
in cookies (with the CSRF double submit) or an Authorization header.

Real parts only: the server binary, a requests.Session cookie jar, the SMTP sink
of test_fastapi_users_mail (mail read back, its link followed), PyJWT for claims.
"""

import time
import uuid

import jwt
import pytest
import requests

from conftest import JWT_SECRET, Server, bearer
from test_fastapi_users_mail import FAST_RETRY, SmtpSink

P = "/user_account"
PW = "correct-horse-9"
NEW_PW = "new-horse-battery-7"
MISSING_JWT = {"msg": 'Missing JWT in headers or cookies (Missing Authorization Header; '
                      'Missing cookie "access_token_cookie")'}
EXPIRED = {"msg": "Token has expired"}
REVOKED = {"msg": "Token has been revoked"}
MISSING_CSRF = {"msg": "Missing CSRF token"}
CSRF_MISMATCH = {"msg": "CSRF double submit tokens do not match"}
INVALID = {"msg": "Invalid token"}
SETTINGS = {"user_account_cookie_secure": False, "verify_url": "https://app.example/confirm",
            "reset_url": "https://app.example/reset", **FAST_RETRY}


# ---- fixtures and helpers ------------------------------------------------------------


@pytest.fixture(scope="module")
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, sink):
    s = Server(tmp_path_factory.mktemp("uacct"), settings={"smtp_url": sink.url, **SETTINGS})
    s.start()
    yield s
    s.stop()


def uname(tag="ua"):
    return f"{tag}{uuid.uuid4().hex[:12]}"


def registration(srv, username, **fields):
    body = {"username": username, "full_name": "Admin A.A.",
            "email": f"{username}@example.com", "phone": None, "contacts": None, "pwd": PW}
    body.update(fields)
    return srv.post(P + "/registration", json=body)


def new_user(srv, **extra):
    name = uname()
    r = registration(srv, name, **extra)
    assert r.status_code == 200, r.text
    assert r.json() == {"msg": "Check your email..."}
    return name


def session_login(srv, username, pwd=PW):
    s = requests.Session()
    r = s.post(srv.url(P + "/login"), json={"username": username, "pwd": pwd})
    assert r.status_code == 200, r.text
    return s, r


def claims(tok):
    return jwt.decode(tok, JWT_SECRET, algorithms=["HS256"])


def set_cookies(r):
    """name -> the Set-Cookie line, lower-cased attributes kept as written."""
    out = {}
    for line in r.raw.headers.getlist("Set-Cookie"):
        out[line.split("=", 1)[0]] = line
    return out


def cookie_value(line):
    return line.split(";", 1)[0].split("=", 1)[1]


def profile(srv, session=None, **kw):
    if session is not None:
        return session.get(srv.url(P + "/profile_settings"), **kw)
    return srv.get(P + "/profile_settings", **kw)


def user_id(srv, username):
    return srv.db("SELECT id FROM users WHERE username_lc = ?", (username.lower(),))[0]["id"]


def counts(srv):
    return {t: srv.db(f"SELECT count(*) AS n FROM {t}")[0]["n"]
            for t in ("users", "refresh_tokens", "one_time_tokens", "revoked_jti")}


# ---- login --------------------------------------------------------------------------------


def test_login_answers_the_token_and_sets_the_three_cookies(srv):
    name = new_user(srv)
    t0 = int(time.time())
    s, r = session_login(srv, name)
    body = r.json()
    assert set(body) == {"msg", "token"} and body["msg"] == "login successful"
    c = claims(body["token"])
    assert c["sub"] == user_id(srv, name)
    assert c["type"] == "access" and c["fresh"] is False
    assert t0 - 1 <= c["iat"] == c["nbf"] <= t0 + 5 and c["exp"] == c["iat"] + 3600
    assert c["jti"] and c["csrf"] and c["fam"]
    ck = set_cookies(r)
    assert set(ck) == {"access_token_cookie", "csrf_access_token", "refresh_token_cookie",
                       "csrf_refresh_token"}
    assert cookie_value(ck["access_token_cookie"]) == body["token"]
    assert "HttpOnly" in ck["access_token_cookie"] and "Path=/;" in ck["access_token_cookie"] + ";"
    assert "HttpOnly" in ck["refresh_token_cookie"]
    assert "Path=/user_account/refresh" in ck["refresh_token_cookie"]
    assert "HttpOnly" not in ck["csrf_access_token"]
    assert cookie_value(ck["csrf_access_token"]) == c["csrf"]
    rc = claims(cookie_value(ck["refresh_token_cookie"]))
    assert rc["type"] == "refresh" and rc["sub"] == c["sub"]
    assert cookie_value(ck["csrf_refresh_token"]) == rc["csrf"]
    for line in ck.values():
        assert "SameSite=lax" in line and "Secure" not in line
    assert "no-store" in r.headers.get("Cache-Control", "")


def test_cookies_are_secure_by_default(server_factory):
    server = server_factory()
    name = uname()
    assert registration(server, name).status_code == 200
    r = server.post(P + "/login", json={"username": name, "pwd": PW})
    assert r.status_code == 200, r.text
    for line in set_cookies(r).values():
        assert "; Secure" in line


def test_wrong_password_or_username_is_401(srv):
    name = new_user(srv)
    for body in ({"username": name, "pwd": "wrong-horse-9"},
                 {"username": uname(), "pwd": PW}):
        r = srv.post(P + "/login", json=body)
        assert r.status_code == 401
        assert r.json() == {"msg": "Wrong username or password"}
        assert "Set-Cookie" not in r.headers


# ---- profile_settings ---------------------------------------------------------------------


def test_profile_settings_by_cookie_and_by_bearer(srv):
    name = uname()
    r = registration(srv, name, email="dmitriyz@Yandex.ru", phone="+7 900 000-00-00",
                     contacts={"telegram": "@dz", "list": [1, 2]})
    assert r.status_code == 200, r.text
    s, login = session_login(srv, name)
    want = {"contacts": {"telegram": "@dz", "list": [1, 2]}, "email": "d******z@yandex.ru",
            "full_name": "Admin A.A.", "is_email_verified": False,
            "phone": "+7 900 000-00-00", "pwd": "********", "username": name}
    r = profile(srv, s)
    assert r.status_code == 200, r.text
    assert r.json() == want
    assert list(r.json()) == sorted(want)
    assert "Set-Cookie" not in r.headers  # an hour left: outside the 30-minute window
    r = profile(srv, headers=bearer(login.json()["token"]))
    assert r.status_code == 200 and r.json() == want


def test_profile_settings_nulls(srv):
    name = new_user(srv)
    s, _ = session_login(srv, name)
    body = profile(srv, s).json()
    assert body["contacts"] is None and body["phone"] is None


def test_profile_settings_without_a_token_is_401(srv):
    r = profile(srv)
    assert r.status_code == 401 and r.json() == MISSING_JWT


def test_the_access_cookie_name_is_a_setting(server_factory):
    srv = server_factory(user_account_access_cookie_name="uat", **SETTINGS)
    name = new_user(srv)
    s, _ = session_login(srv, name)
    assert "uat" in s.cookies and "access_token_cookie" not in s.cookies
    assert profile(srv, s).status_code == 200
    assert profile(srv).json() == {"msg": 'Missing JWT in headers or cookies (Missing '
                                          'Authorization Header; Missing cookie "uat")'}


# ---- CSRF double submit -------------------------------------------------------------------


def test_cookie_post_needs_the_csrf_header(srv):
    name = new_user(srv)
    s, login = session_login(srv, name)
    csrf = s.cookies["csrf_access_token"]
    r = s.post(srv.url(P + "/logout"))
    assert r.status_code == 401 and r.json() == MISSING_CSRF
    r = s.post(srv.url(P + "/logout"), headers={"X-CSRF-TOKEN": csrf[:-1] + "A" if csrf[-1] != "A"
                                                else csrf[:-1] + "B"})
    assert r.status_code == 401 and r.json() == CSRF_MISMATCH
    assert profile(srv, s).status_code == 200  # nothing was revoked
    r = s.post(srv.url(P + "/logout"), headers={"X-CSRF-TOKEN": csrf})
    assert r.status_code == 200 and r.json() == {"msg": "logout successful"}
    assert profile(srv, headers=bearer(login.json()["token"])).json() == REVOKED


def test_another_users_csrf_value_is_refused(srv):
    a, b = new_user(srv), new_user(srv)
    sa, _ = session_login(srv, a)
    sb, _ = session_login(srv, b)
    r = sa.post(srv.url(P + "/logout"), headers={"X-CSRF-TOKEN": sb.cookies["csrf_access_token"]})
    assert r.status_code == 401 and r.json() == CSRF_MISMATCH


def test_a_planted_csrf_cookie_proves_nothing(srv):
    """The header is compared with the token's claim, not with the cookie: an
    attacker who can set the CSRF cookie still cannot forge a request."""
    name = new_user(srv)
    s, _ = session_login(srv, name)
    s2 = requests.Session()
    s2.cookies.set("access_token_cookie", s.cookies["access_token_cookie"])
    s2.cookies.set("csrf_access_token", "planted-by-attacker")
    r = s2.post(srv.url(P + "/logout"), headers={"X-CSRF-TOKEN": "planted-by-attacker"})
    assert r.status_code == 401 and r.json() == CSRF_MISMATCH
    assert profile(srv, s).status_code == 200  # still logged in


def test_get_and_bearer_need_no_csrf(srv):
    name = new_user(srv)
    s, login = session_login(srv, name)
    assert profile(srv, s).status_code == 200
    r = srv.post(P + "/logout", headers=bearer(login.json()["token"]))
    assert r.status_code == 200 and r.json() == {"msg": "logout successful"}


def test_cookies_of_another_user_are_that_users(srv):
    a, b = new_user(srv), new_user(srv)
    sa, _ = session_login(srv, a)
    sb, _ = session_login(srv, b)
    # a's access cookie with b's CSRF cookie and header: a's claim decides
    s = requests.Session()
    s.cookies.set("access_token_cookie", sa.cookies["access_token_cookie"])
    s.cookies.set("csrf_access_token", sb.cookies["csrf_access_token"])
    r = s.post(srv.url(P + "/logout"), headers={"X-CSRF-TOKEN": sb.cookies["csrf_access_token"]})
    assert r.status_code == 401 and r.json() == CSRF_MISMATCH
    assert profile(srv, s).json()["username"] == a


# ---- refresh ---------------------------------------------------------------------------------


def test_refresh_with_the_cookie_and_its_csrf(srv):
    name = new_user(srv)
    s, login = session_login(srv, name)
    url = srv.url(P + "/refresh")
    r = s.post(url)
    assert r.status_code == 401 and r.json() == MISSING_CSRF
    r = s.post(url, headers={"X-CSRF-TOKEN": s.cookies["csrf_access_token"]})
    assert r.status_code == 401 and r.json() == CSRF_MISMATCH
    old_refresh = s.cookies["refresh_token_cookie"]
    r = s.post(url, headers={"X-CSRF-TOKEN": s.cookies["csrf_refresh_token"]})
    assert r.status_code == 200, r.text
    assert r.json()["msg"] == "refresh successful"
    new = r.json()["token"]
    assert new != login.json()["token"]
    assert claims(new)["fam"] == claims(login.json()["token"])["fam"]
    assert s.cookies["access_token_cookie"] == new
    assert profile(srv, s).status_code == 200
    # the spent refresh token again: reuse, the family is revoked
    s2 = requests.Session()
    s2.cookies.set("refresh_token_cookie", old_refresh)
    r = s2.post(url, headers={"X-CSRF-TOKEN": claims(old_refresh)["csrf"]})
    assert r.status_code == 401 and r.json() == REVOKED
    assert profile(srv, s).json() == REVOKED


def test_refresh_without_the_cookie(srv):
    r = srv.post(P + "/refresh")
    assert r.status_code == 401
    assert r.json() == {"msg": 'Missing cookie "refresh_token_cookie"'}


def test_a_refresh_cookie_is_no_access_cookie(srv):
    name = new_user(srv)
    s, _ = session_login(srv, name)
    refresh = s.cookies["refresh_token_cookie"]
    s2 = requests.Session()
    s2.cookies.set("access_token_cookie", refresh)
    r = profile(srv, s2)
    assert r.status_code == 422 and r.json() == {"msg": "Only non-refresh tokens are allowed"}
    r = profile(srv, headers=bearer(refresh))
    assert r.status_code == 422 and r.json() == {"msg": "Only non-refresh tokens are allowed"}


def test_an_access_token_is_no_refresh_token(srv):
    name = new_user(srv)
    s, login = session_login(srv, name)
    s2 = requests.Session()
    s2.cookies.set("refresh_token_cookie", login.json()["token"])
    r = s2.post(srv.url(P + "/refresh"), headers={"X-CSRF-TOKEN": claims(login.json()["token"])["csrf"]})
    assert r.status_code == 422 and r.json() == {"msg": "Only refresh tokens are allowed"}


# ---- implicit refresh and expiry ---------------------------------------------------------------


def test_implicit_refresh_near_expiry(server_factory):
    srv = server_factory(lifetime_seconds=60, user_account_refresh_window_seconds=3600,
                         **SETTINGS)
    name = new_user(srv)
    s, login = session_login(srv, name)
    old = login.json()["token"]
    r = profile(srv, s)
    assert r.status_code == 200
    ck = set_cookies(r)
    assert set(ck) == {"access_token_cookie", "csrf_access_token"}
    new = cookie_value(ck["access_token_cookie"])
    assert new != old
    assert claims(new)["sub"] == claims(old)["sub"] and claims(new)["fam"] == claims(old)["fam"]
    assert cookie_value(ck["csrf_access_token"]) == claims(new)["csrf"]
    assert "HttpOnly" in ck["access_token_cookie"] and "HttpOnly" not in ck["csrf_access_token"]
    # the jar took them: the new token works, CSRF by the new claim
    assert s.cookies["access_token_cookie"] == new
    assert profile(srv, s).status_code == 200
    # a bearer request is not refreshed
    assert "Set-Cookie" not in profile(srv, headers=bearer(old)).headers


def test_an_expired_token_is_403(server_factory):
    srv = server_factory(lifetime_seconds=1, **SETTINGS)
    name = new_user(srv)
    s, login = session_login(srv, name)
    time.sleep(2.2)
    r = profile(srv, s)
    assert r.status_code == 403 and r.json() == EXPIRED
    r = profile(srv, headers=bearer(login.json()["token"]))
    assert r.status_code == 403 and r.json() == EXPIRED
    # the refresh cookie still gets a new pair
    r = s.post(srv.url(P + "/refresh"), headers={"X-CSRF-TOKEN": s.cookies["csrf_refresh_token"]})
    assert r.status_code == 200, r.text


# ---- tokens of other faces, forged tokens --------------------------------------------------------


def test_tokens_whose_claims_do_not_fit_are_refused(srv):
    name = new_user(srv)
    email = f"{name}@example.com"
    s, login = session_login(srv, name)
    uid = user_id(srv, name)
    fu = srv.login(email, PW)  # fastapi-users: sub, aud, no type
    sj = srv.post("/api/auth/token", json={"username": name, "password": PW}).json()["access"]
    now = int(time.time())
    forged = jwt.encode({"sub": uid, "jti": "x", "type": "access", "exp": now + 60, "csrf": "c"},
                        "another-secret-0123456789abcdefghijklmn", algorithm="HS256")
    unsigned = jwt.encode({"sub": uid, "jti": "x", "type": "access", "exp": now + 60},
                          None, algorithm="none")
    for tok in (fu, sj, forged, unsigned, "garbage"):
        r = profile(srv, headers=bearer(tok))
        assert r.status_code == 422 and r.json() == INVALID, tok
        s2 = requests.Session()
        s2.cookies.set("access_token_cookie", tok)
        assert profile(srv, s2).json() == INVALID
    # and ours elsewhere
    ours = login.json()["token"]
    assert srv.me(ours).status_code == 401
    assert srv.get("/api/auth/getuser", headers=bearer(ours)).status_code == 401


# ---- logout --------------------------------------------------------------------------------


def test_logout_clears_the_cookies_and_revokes_the_tokens(srv):
    name = new_user(srv)
    s, login = session_login(srv, name)
    access = login.json()["token"]
    refresh = s.cookies["refresh_token_cookie"]
    csrf_refresh = s.cookies["csrf_refresh_token"]
    r = s.get(srv.url(P + "/logout"))
    assert r.status_code == 200 and r.json() == {"msg": "logout successful"}
    ck = set_cookies(r)
    assert set(ck) == {"access_token_cookie", "csrf_access_token", "refresh_token_cookie",
                       "csrf_refresh_token"}
    for line in ck.values():
        assert "Max-Age=0" in line and cookie_value(line) == ""
    assert "access_token_cookie" not in s.cookies
    r = profile(srv, headers=bearer(access))
    assert r.status_code == 401 and r.json() == REVOKED
    s2 = requests.Session()
    s2.cookies.set("refresh_token_cookie", refresh)
    r = s2.post(srv.url(P + "/refresh"), headers={"X-CSRF-TOKEN": csrf_refresh})
    assert r.status_code == 401 and r.json() == REVOKED
    assert srv.get(P + "/logout").json() == MISSING_JWT


@pytest.mark.parametrize("hdrs", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Referer": "https://evil.example/page"},
    {"Origin": "https://sub.app.example"},
])
def test_a_cross_site_get_logout_is_refused_and_the_session_kept(srv, hdrs):
    """Issue 13, item 6: GET /logout changes state (it revokes the tokens and
    clears the cookies), so it is under the Origin check of the other
    cookie-carrying state changes: a page of another origin (an <img> or a
    link) cannot sign the user out. Refused 403 in the face's shape; nothing
    revoked; the same GET from the server's own origin, or with neither
    header (curl), still signs out."""
    name = new_user(srv)
    s, login = session_login(srv, name)
    access = login.json()["token"]
    before = counts(srv)
    r = s.get(srv.url(P + "/logout"), headers=hdrs)
    assert r.status_code == 403, r.text
    assert r.json() == {"msg": "Forbidden"}
    assert "set-cookie" not in r.headers
    assert counts(srv) == before, "nothing revoked"
    assert profile(srv, session=s).status_code == 200, "the cookie session lives"
    assert profile(srv, headers=bearer(access)).status_code == 200
    r = s.get(srv.url(P + "/logout"), headers={"Origin": srv.base})
    assert r.status_code == 200 and r.json() == {"msg": "logout successful"}
    assert profile(srv, headers=bearer(access)).json() == REVOKED
    # with neither Origin nor Referer (not a browser's page): as before
    s2, login2 = session_login(srv, name)
    assert s2.get(srv.url(P + "/logout")).status_code == 200
    assert profile(srv, headers=bearer(login2.json()["token"])).json() == REVOKED


# ---- registration and confirmation ------------------------------------------------------------


def test_registration_mails_a_confirmation_that_works_once(srv, sink):
    name = uname()
    email = f"{name}@example.com"
    r = registration(srv, name, email=email, phone="12345", contacts=["a", {"b": None}])
    assert r.status_code == 200 and r.json() == {"msg": "Check your email..."}
    row = srv.db("SELECT * FROM users WHERE username_lc = ?", (name.lower(),))[0]
    assert row["email"] == email and row["full_name"] == "Admin A.A."
    assert row["phone"] == "12345" and row["contacts"] == '["a",{"b":null}]'
    assert row["is_verified"] == 0
    mail = sink.wait(email)[0]
    assert mail.link().startswith("https://app.example/confirm?token=")
    token = mail.token()
    r = srv.get(P + f"/confirm_email/{token}")
    assert r.status_code == 200 and r.json() == {"msg": "Your email has been confirmed."}
    assert srv.db("SELECT is_verified FROM users WHERE id = ?", (row["id"],))[0]["is_verified"] == 1
    r = srv.get(P + f"/confirm_email/{token}")
    assert r.status_code == 400 and r.json() == {"msg": "Wrong token"}
    s, _ = session_login(srv, name)
    assert profile(srv, s).json()["is_email_verified"] is True


def test_confirm_with_a_bad_token_is_400(srv):
    for tok in ("x" * 43, "short", "x" * 300):
        r = srv.get(P + f"/confirm_email/{tok}")
        assert r.status_code == 400 and r.json() == {"msg": "Wrong token"}, tok


def test_registration_refuses_a_taken_or_invalid_username(srv):
    name = new_user(srv)
    before = counts(srv)
    for bad in (name, name.upper(), "a!", "ab", "x" * 151):
        r = registration(srv, bad, email=f"{uname()}@example.com")
        assert r.status_code == 400 and r.json() == {"msg": "username is not allowed"}, bad
    r = registration(srv, uname(), email=f"{name.upper()}@example.com")
    assert r.status_code == 400 and r.json() == {"msg": "email is not allowed"}
    assert counts(srv) == before


def test_registration_field_errors_store_nothing(srv):
    before = counts(srv)
    cases = [
        ({"email": None}, "email must be a string"),
        ({"email": "not-an-email"}, "email is not valid"),
        ({"pwd": 1234}, "pwd must be a string"),
        ({"pwd": "123"}, None),
        ({"phone": 5}, "phone must be a string"),
        ({"phone": "1\n2"}, "phone is not valid"),
        ({"phone": "1" * 65}, "phone is too long (at most 64)"),
        ({"contacts": "text"}, "contacts must be an object, an array or null"),
        ({"contacts": {"k": "v" * 5000}}, "contacts is too long (at most 4096)"),
        ({"full_name": ["x"]}, "full_name must be a string"),
    ]
    for extra, msg in cases:
        r = registration(srv, uname(), **extra)
        assert r.status_code == 400, (extra, r.text)
        assert set(r.json()) == {"msg"}
        if msg is not None:
            assert r.json() == {"msg": msg}, extra
    r = srv.post(P + "/registration", json={"username": uname(), "pwd": PW})
    assert r.status_code == 400 and r.json() == {"msg": "email is required"}
    assert counts(srv) == before


# ---- password reset ----------------------------------------------------------------------------


def test_reset_flow(srv, sink):
    name = new_user(srv)
    email = f"{name}@example.com"
    before_reset, _ = session_login(srv, name)
    r = srv.post(P + "/reset_password_request", json={"username": name})
    assert r.status_code == 200 and r.json() == {"msg": "Check your email..."}
    mail = [m for m in sink.wait(email, 2) if "reset" in m.link()][0]
    token = mail.token()
    r = srv.post(P + f"/reset_password/{token}", json={"new_pwd": NEW_PW})
    assert r.status_code == 200 and r.json() == {"msg": "Your password has been reset."}
    assert srv.post(P + "/login", json={"username": name, "pwd": PW}).status_code == 401
    session_login(srv, name, NEW_PW)
    # the reset ended the logins made before it (their refresh families)
    assert profile(srv, before_reset).json() == REVOKED
    r = srv.post(P + f"/reset_password/{token}", json={"new_pwd": PW})
    assert r.status_code == 400 and r.json() == {"msg": "Wrong token"}


def test_reset_with_a_bad_token_or_body(srv):
    r = srv.post(P + "/reset_password/" + "x" * 43, json={"new_pwd": NEW_PW})
    assert r.status_code == 400 and r.json() == {"msg": "Wrong token"}
    r = srv.post(P + "/reset_password/" + "x" * 43, json={})
    assert r.status_code == 400 and r.json() == {"msg": "new_pwd is required"}


def test_reset_request_for_an_unknown_user_is_400(srv):
    before = counts(srv)
    r = srv.post(P + "/reset_password_request", json={"username": uname()})
    assert r.status_code == 400 and r.json() == {"msg": "user not found"}
    assert counts(srv) == before


def test_reset_request_hides_unknown_users_when_told(server_factory):
    srv = server_factory(user_account_reveal_unknown_users=False, **SETTINGS)
    before = counts(srv)
    r = srv.post(P + "/reset_password_request", json={"username": uname()})
    assert r.status_code == 200 and r.json() == {"msg": "Check your email..."}
    assert counts(srv) == before


def test_reset_routes_refuse_an_authenticated_user(srv):
    name = new_user(srv)
    s, login = session_login(srv, name)
    before = counts(srv)
    for kw in ({"headers": bearer(login.json()["token"])}, {}):
        post = s.post if not kw else requests.post
        r = post(srv.url(P + "/reset_password_request"), json={"username": name}, **kw)
        assert r.status_code == 403 and r.json() == {"msg": "user is already authenticated"}
        r = post(srv.url(P + "/reset_password/" + "x" * 43), json={"new_pwd": NEW_PW}, **kw)
        assert r.status_code == 403 and r.json() == {"msg": "user is already authenticated"}
    assert counts(srv) == before


# ---- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/registration", "/reset_password_request",
                                  "/reset_password/" + "x" * 43])
def test_hostile_bodies_answer_msg_and_store_nothing(srv, path):
    before = counts(srv)
    headers = {"Content-Type": "application/json"}
    for data, msg in ((b"{", "The request body is not valid JSON"),
                      (b"[1]", "The request body must be a JSON object"),
                      (b"", "The request body must be a JSON object"),
                      (b'{"username": 1, "pwd": 2, "new_pwd": 3, "email": 4}', None)):
        r = srv.post(P + path, data=data, headers=headers)
        assert r.status_code == 400, (path, data, r.text)
        assert set(r.json()) == {"msg"}
        if msg is not None:
            assert r.json() == {"msg": msg}
    r = srv.post(P + path, data=b'{"x": "' + b"a" * 200000 + b'"}', headers=headers)
    assert r.status_code == 413 and r.json() == {"msg": "Request body is too large"}
    assert counts(srv) == before


def test_login_missing_fields(srv):
    r = srv.post(P + "/login", json={"username": "someone"})
    assert r.status_code == 400 and r.json() == {"msg": "pwd is required"}
    r = srv.post(P + "/login", json={"pwd": PW})
    assert r.status_code == 400 and r.json() == {"msg": "username is required"}


def test_unknown_route_and_method(srv):
    r = srv.get(P + "/nowhere")
    assert r.status_code == 404 and r.json() == {"msg": "Not found"}
    r = srv.get(P + "/login")
    assert r.status_code == 405 and r.json() == {"msg": "Method not allowed"}


# ---- one user, four faces ------------------------------------------------------------------------


def test_one_user_logs_in_through_all_four_faces(srv):
    name = new_user(srv)
    email = f"{name}@example.com"
    uid = user_id(srv, name)
    _, r = session_login(srv, name)
    assert claims(r.json()["token"])["sub"] == uid
    fu = srv.login(email, PW)
    assert srv.me(fu).json()["id"] == uid
    r = srv.post("/auth/login/oauth", data={"username": email, "password": PW})
    assert r.status_code == 200, r.text
    assert claims_aud(r.json()["access_token"])["sub"] == uid
    r = srv.post("/api/auth/token", json={"username": name, "password": PW})
    assert r.status_code == 200, r.text
    assert claims(r.json()["access"])["user_id"] == uid
    r = srv.get("/api/auth/getuser", headers=bearer(r.json()["access"]))
    assert r.json() == {"username": name}


def claims_aud(tok):
    return jwt.decode(tok, JWT_SECRET, algorithms=["HS256"], options={"verify_aud": False})


def test_an_inactive_users_token_is_refused(srv):
    name = new_user(srv)
    _, login = session_login(srv, name)
    srv.db("UPDATE users SET is_active = 0 WHERE username_lc = ?", (name.lower(),))
    r = profile(srv, headers=bearer(login.json()["token"]))
    assert r.status_code == 401 and r.json() == {"msg": "User is inactive"}
    r = srv.post(P + "/login", json={"username": name, "pwd": PW})
    assert r.status_code == 401 and r.json() == {"msg": "Wrong username or password"}
