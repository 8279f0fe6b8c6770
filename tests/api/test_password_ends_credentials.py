"""Issue 13, item 2: credentials end with the password.

One user holds a credential on every face (a fastapi-users bearer JWT and its
database-session cookie, MyAuth's access and refresh tokens, simplejwt's pair,
user_account's cookies); then its password changes by each way there is
(fastapi-users PATCH /users/me, a superuser's PATCH /users/{id}, the
fastapi-users reset, MyAuth's PUT /auth/users/me with `original`, MyAuth's recovery, the
user_account reset). After each, every credential issued before is refused,
whatever the face, and logins with the new password work. The change and the
first requests fall in one second: the issue millisecond in each access JWT's
id is what tells them apart (migration 011).
"""

import uuid

import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, bearer
from test_fastapi_users_mail import FAST_RETRY, SmtpSink

PW = "correct-horse-9"
NEW_PW = "new-horse-battery-7"
UA = "/user_account"
SJ = "/api/auth"


@pytest.fixture(scope="module")
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, sink):
    s = Server(tmp_path_factory.mktemp("pwends"), settings={
        "smtp_url": sink.url,
        "reset_url": "https://app.example/reset",
        "magic_url": "https://app.example/magic",
        "verify_url": "https://app.example/verify",
        "user_account_cookie_secure": False,
        "bootstrap_admin_email": ADMIN_EMAIL,
        "bootstrap_admin_password": ADMIN_PASSWORD,
        **FAST_RETRY,
    })
    s.start()
    yield s
    s.stop()


def new_user(srv):
    name = f"pw{uuid.uuid4().hex[:12]}"
    email = f"{name}@example.com"
    r = srv.post(UA + "/registration", json={
        "username": name, "full_name": "A B", "email": email, "phone": None,
        "contacts": None, "pwd": PW})
    assert r.status_code == 200, r.text
    uid = srv.db("SELECT id FROM users WHERE username_lc = ?", (name,))[0]["id"]
    return name, email, uid


def credentials(srv, name, email, pw=PW):
    """A credential of each kind, on each face, all checked good."""
    c = {"fu_jwt": srv.login(email, pw)}
    r = srv.post("/auth/cookie/login", data={"username": email, "password": pw})
    assert r.status_code == 204, r.text
    c["fu_cookie"] = r.cookies
    r = srv.post("/auth/login/oauth", data={"username": email, "password": pw})
    assert r.status_code == 200, r.text
    c["ma_access"], c["ma_refresh"] = r.json()["access_token"], r.json()["refresh_token"]
    r = srv.post(SJ + "/token", json={"username": name, "password": pw})
    assert r.status_code == 200, r.text
    c["sj_access"], c["sj_refresh"] = r.json()["access"], r.json()["refresh"]
    s = requests.Session()
    r = s.post(srv.url(UA + "/login"), json={"username": name, "pwd": pw})
    assert r.status_code == 200, r.text
    c["ua_session"] = s
    for kind, ok in probes(srv, c, refresh=False).items():
        assert ok == 200, (kind, ok)
    return c


def probes(srv, c, refresh=True):
    """The status each credential gets where it is used; the refresh tokens
    (spent when good) only when refresh is set."""
    out = {
        "fu_jwt": srv.get("/users/me", headers=bearer(c["fu_jwt"])).status_code,
        "fu_cookie": srv.get("/users/me", cookies=c["fu_cookie"]).status_code,
        "ma_access": srv.get("/auth/users/me",
                               headers=bearer(c["ma_access"])).status_code,
        "sj_access": srv.get(SJ + "/getuser", headers=bearer(c["sj_access"])).status_code,
        "sj_verify": srv.post(SJ + "/token/verify",
                              json={"token": c["sj_access"]}).status_code,
        "ua_access": c["ua_session"].get(srv.url(UA + "/profile_settings")).status_code,
        "ua_bearer": srv.get(UA + "/profile_settings", headers=bearer(
            c["ua_session"].cookies.get("access_token_cookie"))).status_code,
    }
    if refresh:
        out["ma_refresh"] = srv.post("/auth/login/refresh",
                                     headers=bearer(c["ma_refresh"])).status_code
        out["sj_refresh"] = srv.post(SJ + "/token/refresh",
                                     json={"refresh": c["sj_refresh"]}).status_code
        out["ua_refresh"] = c["ua_session"].post(
            srv.url(UA + "/refresh"), headers={
                "X-CSRF-TOKEN": c["ua_session"].cookies.get("csrf_refresh_token")}).status_code
    return out


REFUSED = {"fu_jwt": 401, "fu_cookie": 401, "ma_access": 403, "ma_refresh": 403,
           "sj_access": 401, "sj_verify": 401, "sj_refresh": 401, "ua_access": 401,
           "ua_bearer": 401, "ua_refresh": 401}


# ---- the ways a password changes ------------------------------------------------------


def reset_token(sink, email):
    """The token of the reset mail to email (after its confirmation mail)."""
    for n in (1, 2, 3):
        resets = [m for m in sink.wait(email, n) if "/reset?" in m.link()]
        if resets:
            return resets[-1].token()
    raise AssertionError("no reset mail")


def by_fu_patch(srv, sink, name, email, uid, c):
    r = srv.patch("/users/me", json={"password": NEW_PW}, headers=bearer(c["fu_jwt"]))
    assert r.status_code == 200, r.text


def by_admin_patch(srv, sink, name, email, uid, c):
    admin = srv.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    r = srv.patch(f"/users/{uid}", json={"password": NEW_PW}, headers=bearer(admin))
    assert r.status_code == 200, r.text


def by_fu_reset(srv, sink, name, email, uid, c):
    r = srv.post("/auth/forgot-password", json={"email": email})
    assert r.status_code == 202, r.text
    r = srv.post("/auth/reset-password", json={"token": reset_token(sink, email),
                                                "password": NEW_PW})
    assert r.status_code == 200, r.text


def by_myauth_patch(srv, sink, name, email, uid, c):
    r = srv.request("PUT", "/auth/users/me", json={"password": NEW_PW, "original": PW},
                    headers=bearer(c["ma_access"]))
    assert r.status_code == 200, r.text


def by_myauth_recovery(srv, sink, name, email, uid, c):
    r = srv.post(f"/auth/login/recover/{email}")
    assert r.status_code == 200, r.text
    claim = r.json()["claim"]
    token = reset_token(sink, email)
    r = srv.post("/auth/login/reset", json={"new_password": NEW_PW, "claim": claim},
                 headers=bearer(token))
    assert r.status_code == 200, r.text


def by_user_account_reset(srv, sink, name, email, uid, c):
    r = srv.post(UA + "/reset_password_request", json={"username": name})
    assert r.status_code == 200, r.text
    token = reset_token(sink, email)
    r = srv.post(UA + f"/reset_password/{token}", json={"new_pwd": NEW_PW})
    assert r.status_code == 200, r.text


CHANGES = [by_fu_patch, by_admin_patch, by_fu_reset, by_myauth_patch, by_myauth_recovery,
           by_user_account_reset]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_a_password_change_ends_every_credential_on_every_face(srv, sink, change):
    name, email, uid = new_user(srv)
    c = credentials(srv, name, email)
    change(srv, sink, name, email, uid, c)
    assert probes(srv, c) == REFUSED
    assert srv.db("SELECT count(*) AS n FROM sessions WHERE user_id = ?", (uid,))[0]["n"] == 0
    live = srv.db("SELECT count(*) AS n FROM refresh_families WHERE user_id = ? "
                  "AND revoked_at IS NULL", (uid,))[0]["n"]
    assert live == 0
    epoch = srv.db("SELECT credentials_epoch_ms AS e FROM users WHERE id = ?", (uid,))[0]["e"]
    assert epoch > 0
    # the new password opens everything again, at once (same second included)
    fresh = credentials(srv, name, email, NEW_PW)
    assert all(v == 200 for v in probes(srv, fresh).values())


def test_a_change_of_another_field_ends_nothing(srv):
    name, email, uid = new_user(srv)
    c = credentials(srv, name, email)
    r = srv.patch("/users/me", json={"full_name": "Someone Else"}, headers=bearer(c["fu_jwt"]))
    assert r.status_code == 200, r.text
    assert all(v == 200 for v in probes(srv, c).values())
    epoch = srv.db("SELECT credentials_epoch_ms AS e FROM users WHERE id = ?", (uid,))[0]["e"]
    assert epoch == 0


def test_other_users_keep_their_credentials(srv):
    a = new_user(srv)
    b = new_user(srv)
    cb = credentials(srv, b[0], b[1])
    ca = credentials(srv, a[0], a[1])
    by_fu_patch(srv, None, *a, ca)
    assert probes(srv, ca) == REFUSED
    assert all(v == 200 for v in probes(srv, cb).values())


def test_the_cli_set_password_ends_every_credential(srv, sink):
    """`portcullis user set-password`, another process on the same database:
    the running server sees it within auth_cache_ms (1 s)."""
    import time
    from conftest import run_cli
    name, email, uid = new_user(srv)
    c = credentials(srv, name, email)
    p = run_cli(["user", "set-password", "--email", email, "--password-stdin"],
                server=srv, input=NEW_PW + "\n", env={"PORTCULLIS_SMTP_URL": sink.url})
    assert p.returncode == 0, p.stderr
    assert uid in p.stdout
    time.sleep(1.2)
    assert probes(srv, c) == REFUSED
    fresh = credentials(srv, name, email, NEW_PW)
    assert all(v == 200 for v in probes(srv, fresh).values())
    # the policy applies there too, and nothing changes
    p = run_cli(["user", "set-password", "--email", email, "--password-stdin"],
                server=srv, input="password\n", env={"PORTCULLIS_SMTP_URL": sink.url})
    assert p.returncode == 2, (p.returncode, p.stderr)
    srv.login(email, NEW_PW)
