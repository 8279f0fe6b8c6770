"""myauth face (seed 001): magic-link login (/login/magic/{email}, /login/claim) and
password recovery (/login/recover/{email}, /login/reset).

Each flow hands out two independent halves: the claim, in the answer, and the email
token, in the mail's link. Mail goes over SMTP to the aiosmtpd sink of the
fastapi_users mail tests and is read back as a user would read it. After every
refused request the stored state is read again: nothing may have moved.
"""

import time

import pytest

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, Server, assert_detail,
                      assert_validation_error, bearer, decode_token, sha256_hex)
from test_fastapi_users_mail import FAST_RETRY, SmtpSink

PW = "correct-horse-9"
NEW_PW = "new-horse-battery-7"
MAGIC_URL = "https://app.example/magic-login"
RESET_URL = "https://app.example/reset-password"
BAD_TOKEN = "Could not validate credentials"
BAD_CLAIM = "Login failed; invalid claim."
BAD_RESET = "Password update failed; invalid claim."
BAD_LOGIN = "Login failed; incorrect email or password."
QUIET = 1.0  # seconds to wait for a mail that must not come, once a sent one is in


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


def mail_server(tmp_path_factory, sink, name, **settings):
    s = Server(tmp_path_factory.mktemp(name), settings={
        "smtp_url": sink.url,
        "mail_from": "Camelot <no-reply@camelot.example>",
        "magic_url": MAGIC_URL,
        "reset_url": RESET_URL,
        "bootstrap_admin_email": ADMIN_EMAIL,
        "bootstrap_admin_password": ADMIN_PASSWORD,
        **FAST_RETRY,
        **settings,
    })
    return s.start()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, sink):
    s = mail_server(tmp_path_factory, sink, "magic")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def closed(tmp_path_factory, sink):
    s = mail_server(tmp_path_factory, sink, "closed", users_open_registration=False)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def admin(srv):
    return srv.login(ADMIN_EMAIL, ADMIN_PASSWORD)


# ---- helpers -------------------------------------------------------------------------


def signup(srv, email=None, password=PW):
    email = email or srv.fresh_email("ma")
    r = srv.post("/auth/login/signup", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


def oauth(srv, email, password):
    return srv.post("/auth/login/oauth", data={"username": email, "password": password})


def magic(srv, email):
    return srv.post(f"/auth/login/magic/{email}")


def recover(srv, email):
    return srv.post(f"/auth/login/recover/{email}")


def webtoken(r):
    """The claim of a WebToken answer."""
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"claim"}, body
    assert r.headers.get("Cache-Control") == "no-store"
    assert isinstance(body["claim"], str) and len(body["claim"]) == 43, body
    return body["claim"]


def claim(srv, token, claim_, **kw):
    return srv.post("/auth/login/claim", json={"claim": claim_}, headers=bearer(token), **kw)


def reset(srv, token, claim_, password=NEW_PW):
    return srv.post("/auth/login/reset", json={"new_password": password, "claim": claim_},
                    headers=bearer(token))


def stored_state(srv):
    """Everything a request could change."""
    return (srv.users_snapshot(),
            srv.db("SELECT * FROM one_time_tokens ORDER BY token_hash"),
            srv.db("SELECT id, kind, recipient FROM mail_outbox ORDER BY id"),
            srv.db("SELECT * FROM refresh_tokens ORDER BY token_hash"))


def token_rows(srv, email):
    return srv.db("SELECT * FROM one_time_tokens WHERE email = ? ORDER BY created_at",
                  (email.lower(),))


def answer_shape(r):
    headers = {k.lower() for k in r.headers} - {"date", "x-request-id", "content-length"}
    return r.status_code, sorted(r.json()), len(r.json()["claim"]), sorted(headers)


def no_mail(sink, srv, *addrs):
    time.sleep(QUIET)
    for a in addrs:
        assert sink.to(a) == [], a
        assert srv.db("SELECT id FROM mail_outbox WHERE recipient = ?", (a,)) == []


def magic_link(srv, sink, email, n=1):
    """Asks for a magic link; returns (email token from the mail, claim)."""
    c = webtoken(magic(srv, email))
    mail = sink.wait(email, n)[n - 1]
    assert mail.msg["Subject"] == "Your sign-in link"
    assert mail.link().startswith(MAGIC_URL + "?token=")
    return mail.token(), c


def recovery(srv, sink, email, n=1):
    c = webtoken(recover(srv, email))
    mail = sink.wait(email, n)[n - 1]
    assert mail.msg["Subject"] == "Reset your password"
    assert mail.link().startswith(RESET_URL + "?token=")
    return mail.token(), c


def refused(srv, request, status, detail):
    """request() must answer status/detail and change nothing stored."""
    before = stored_state(srv)
    assert_detail(request(), status, detail)
    assert stored_state(srv) == before


# ---- magic link ----------------------------------------------------------------------


def test_a_magic_link_signs_a_known_user_in(srv, sink):
    u = signup(srv)
    token, c = magic_link(srv, sink, u["email"])
    assert token != c
    rows = token_rows(srv, u["email"])
    assert len(rows) == 1 and rows[0]["purpose"] == "magic" and rows[0]["used_at"] is None
    assert rows[0]["token_hash"] == sha256_hex(token)  # both stored as hashes only
    assert rows[0]["claim_hash"] == sha256_hex(c)
    assert rows[0]["expires_at"] - rows[0]["created_at"] == 900

    r = claim(srv, token, c)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "token_type"}
    assert body["token_type"] == "bearer"
    assert decode_token(body["access_token"])["sub"] == u["id"]  # PyJWT
    me = srv.get("/auth/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == u["id"], me.text
    assert me.json()["is_verified"] is True  # the claim proved the address
    assert srv.post("/auth/login/refresh", headers=bearer(body["refresh_token"])).status_code == 200
    assert token_rows(srv, u["email"])[0]["used_at"] is not None
    assert token not in srv.stderr_text() and c not in srv.stderr_text()


def test_an_unknown_address_becomes_a_passwordless_user_when_registration_is_open(srv, sink):
    email = srv.fresh_email("new")
    token, c = magic_link(srv, sink, email)
    row = srv.user_row(email=email)
    assert row is not None and row["hashed_password"] is None
    assert row["is_active"] == 1 and row["is_verified"] == 0 and row["is_superuser"] == 0
    for pw in (PW, "", "None"):
        assert_detail(oauth(srv, email, pw), 400, BAD_LOGIN)
    r = claim(srv, token, c)
    assert r.status_code == 200, r.text
    me = srv.get("/auth/users/me", headers=bearer(r.json()["access_token"])).json()
    assert me["email"] == email and me["is_verified"] is True
    assert srv.user_row(email=email)["is_verified"] == 1
    assert_detail(oauth(srv, email, PW), 400, BAD_LOGIN)  # still no password


def test_closed_registration_answers_an_unknown_address_as_a_known_one(closed, sink):
    admin = closed.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    known = closed.fresh_email("known")
    r = closed.post("/auth/users/create", json={"email": known, "password": PW},
                    headers=bearer(admin))
    assert r.status_code == 200, r.text
    unknown = closed.fresh_email("stranger")
    users = closed.users_snapshot()

    a_known = magic(closed, known)
    a_unknown = magic(closed, unknown)
    assert answer_shape(a_known) == answer_shape(a_unknown)
    webtoken(a_unknown)
    sink.wait(known)
    no_mail(sink, closed, unknown)
    assert closed.user_row(email=unknown) is None
    assert closed.users_snapshot() == users
    assert token_rows(closed, unknown) == []


def test_an_inactive_user_gets_a_decoy_and_no_mail(srv, sink, admin):
    u = signup(srv)
    r = srv.patch(f"/users/{u['id']}", json={"is_active": False}, headers=bearer(admin))
    assert r.status_code == 200, r.text
    known = signup(srv)
    before = stored_state(srv)
    answers = [magic(srv, u["email"]), recover(srv, u["email"])]
    assert stored_state(srv) == before
    answers += [magic(srv, known["email"]), recover(srv, known["email"])]
    for a in answers:
        webtoken(a)
    assert answer_shape(answers[0]) == answer_shape(answers[2])
    assert answer_shape(answers[1]) == answer_shape(answers[3])
    sink.wait(known["email"], 2)
    no_mail(sink, srv, u["email"])
    assert token_rows(srv, u["email"]) == []


def test_the_claim_of_another_link_is_refused_and_both_links_stay_good(srv, sink):
    u = signup(srv)
    t1, c1 = magic_link(srv, sink, u["email"], 1)
    t2, c2 = magic_link(srv, sink, u["email"], 2)
    refused(srv, lambda: claim(srv, t1, c2), 400, BAD_CLAIM)
    refused(srv, lambda: claim(srv, t2, c1), 400, BAD_CLAIM)
    refused(srv, lambda: claim(srv, t1, t1), 400, BAD_CLAIM)   # the token as its own claim
    refused(srv, lambda: claim(srv, t1, "x"), 400, BAD_CLAIM)
    rows = token_rows(srv, u["email"])
    assert len(rows) == 2 and all(r["used_at"] is None for r in rows)
    assert claim(srv, t1, c1).status_code == 200
    assert claim(srv, t2, c2).status_code == 200


def test_a_magic_link_works_once(srv, sink):
    u = signup(srv)
    token, c = magic_link(srv, sink, u["email"])
    assert claim(srv, token, c).status_code == 200
    refused(srv, lambda: claim(srv, token, c), 400, BAD_CLAIM)


def test_a_password_change_voids_outstanding_magic_links(srv, sink):
    """A magic link mailed before a password change no longer signs in."""
    u = signup(srv)
    token, c = magic_link(srv, sink, u["email"])
    t = oauth(srv, u["email"], PW).json()
    r = srv.request("PUT", "/auth/users/me", json={"password": NEW_PW, "original": PW},
                    headers=bearer(t["access_token"]))
    assert r.status_code == 200, r.text
    rows = token_rows(srv, u["email"])
    assert rows and all(r["used_at"] is not None for r in rows if r["purpose"] == "magic")
    refused(srv, lambda: claim(srv, token, c), 400, BAD_CLAIM)


def test_a_deactivated_users_link_is_refused(srv, sink, admin):
    u = signup(srv)
    token, c = magic_link(srv, sink, u["email"])
    assert srv.patch(f"/users/{u['id']}", json={"is_active": False},
                     headers=bearer(admin)).status_code == 200
    refused(srv, lambda: claim(srv, token, c), 400, BAD_CLAIM)
    assert token_rows(srv, u["email"])[0]["used_at"] is None


def test_expired_links_are_refused(tmp_path_factory, sink):
    s = mail_server(tmp_path_factory, sink, "short", magic_token_lifetime_seconds=1,
                    reset_token_lifetime_seconds=1)
    try:
        u = signup(s)
        mt, mc = magic_link(s, sink, u["email"], 1)
        rt, rc = recovery(s, sink, u["email"], 2)
        time.sleep(2.1)
        refused(s, lambda: claim(s, mt, mc), 400, BAD_CLAIM)
        refused(s, lambda: reset(s, rt, rc), 400, BAD_RESET)
        assert all(r["used_at"] is None for r in token_rows(s, u["email"]))
        assert oauth(s, u["email"], PW).status_code == 200
    finally:
        s.stop()


def test_a_token_works_only_for_its_purpose(srv, sink):
    u = signup(srv)
    mt, mc = magic_link(srv, sink, u["email"], 1)
    rt, rc = recovery(srv, sink, u["email"], 2)
    refused(srv, lambda: claim(srv, rt, rc), 403, BAD_TOKEN)
    refused(srv, lambda: reset(srv, mt, mc), 403, BAD_TOKEN)
    assert all(r["used_at"] is None for r in token_rows(srv, u["email"]))
    assert claim(srv, mt, mc).status_code == 200
    assert reset(srv, rt, rc).status_code == 200


@pytest.mark.parametrize("path,body", [
    ("/auth/login/claim", {"claim": "A" * 43}),
    ("/auth/login/reset", {"claim": "A" * 43, "new_password": NEW_PW}),
])
def test_without_a_bearer_it_is_401(srv, path, body):
    before = stored_state(srv)
    r = srv.post(path, json=body)
    assert_detail(r, 401, "Not authenticated")
    assert r.headers.get("WWW-Authenticate") == "Bearer"
    assert stored_state(srv) == before


@pytest.mark.parametrize("token", [
    "", "x", "' OR 1=1 --", "A" * 43, "!" * 43, "A" * 5000,
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.M10bjOe45I5Ncu_uXvOmVV8Q",
])
def test_a_bearer_that_is_no_such_token_is_403(srv, token):
    refused(srv, lambda: claim(srv, token, "A" * 43), 403, BAD_TOKEN)
    refused(srv, lambda: reset(srv, token, "A" * 43), 403, BAD_TOKEN)


def test_an_access_token_is_no_magic_token(srv):
    u = signup(srv)
    access = oauth(srv, u["email"], PW).json()["access_token"]
    refused(srv, lambda: claim(srv, access, "A" * 43), 403, BAD_TOKEN)


# ---- recovery --------------------------------------------------------------------------


def test_recovery_by_the_mailed_link_changes_the_password_once(srv, sink):
    u = signup(srv)
    token, c = recovery(srv, sink, u["email"])
    rows = token_rows(srv, u["email"])
    assert len(rows) == 1 and rows[0]["purpose"] == "reset"
    assert rows[0]["token_hash"] == sha256_hex(token) and rows[0]["claim_hash"] == sha256_hex(c)

    r = reset(srv, token, c)
    assert r.status_code == 200, r.text
    assert r.json() == {"msg": "Password updated successfully."}
    assert_detail(oauth(srv, u["email"], PW), 400, BAD_LOGIN)
    assert oauth(srv, u["email"], NEW_PW).status_code == 200
    refused(srv, lambda: reset(srv, token, c, "yet-another-pass-1"), 400, BAD_RESET)
    assert oauth(srv, u["email"], NEW_PW).status_code == 200


def test_recovery_sets_a_password_for_a_passwordless_user(srv, sink):
    email = srv.fresh_email("nopw")
    magic_link(srv, sink, email, 1)
    token, c = recovery(srv, sink, email, 2)
    assert reset(srv, token, c).status_code == 200
    assert oauth(srv, email, NEW_PW).status_code == 200


def test_recovery_of_an_unknown_address_is_a_decoy(srv, sink):
    known = signup(srv)
    unknown = srv.fresh_email("nobody")
    users = srv.users_snapshot()
    a_known = recover(srv, known["email"])
    a_unknown = recover(srv, unknown)
    assert answer_shape(a_known) == answer_shape(a_unknown)
    decoy = webtoken(a_unknown)
    sink.wait(known["email"])
    no_mail(sink, srv, unknown)
    assert token_rows(srv, unknown) == [] and srv.users_snapshot() == users
    assert srv.db("SELECT * FROM one_time_tokens WHERE claim_hash = ?", (sha256_hex(decoy),)) == []


def test_a_password_that_fails_the_policy_changes_nothing(srv, sink):
    u = signup(srv)
    token, c = recovery(srv, sink, u["email"])
    before = stored_state(srv)
    r = reset(srv, token, c, "short")
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail not in (BAD_RESET, BAD_TOKEN), detail
    assert stored_state(srv) == before
    assert oauth(srv, u["email"], PW).status_code == 200
    assert reset(srv, token, c).status_code == 200  # the tokens stay good


def test_a_recovery_ends_sessions_and_voids_older_links(srv, sink):
    u = signup(srv)
    cookie = srv.cookie_login(u["email"], PW).cookies["fastapiusersauth"]
    t1, c1 = recovery(srv, sink, u["email"], 1)
    t2, c2 = recovery(srv, sink, u["email"], 2)
    refused(srv, lambda: reset(srv, t1, c1), 400, BAD_RESET)  # voided by the second
    assert reset(srv, t2, c2).status_code == 200
    assert srv.get("/users/me", headers={"Cookie": f"fastapiusersauth={cookie}"}).status_code == 401


def test_the_other_faces_reset_tokens_do_not_cross(srv, sink):
    u = signup(srv)
    rt, rc = recovery(srv, sink, u["email"], 1)
    # fastapi-users' reset takes one half only: a two-half token is refused
    refused(srv, lambda: srv.post("/auth/reset-password", json={"token": rt, "password": NEW_PW}),
            400, "RESET_PASSWORD_BAD_TOKEN")
    # and MyAuth's reset refuses a one-half token, whatever claim comes with it
    assert srv.post("/auth/forgot-password", json={"email": u["email"]}).status_code == 202
    ft = sink.last_token(u["email"], 2)
    for c in (rc, "A" * 43, ft):
        refused(srv, lambda: reset(srv, ft, c), 400, BAD_RESET)
    assert srv.post("/auth/reset-password", json={"token": ft, "password": NEW_PW}).status_code == 200
    assert oauth(srv, u["email"], NEW_PW).status_code == 200


# ---- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("body,fields", [
    ({}, ("claim",)), ({"claim": 42}, ("claim",)), ({"claim": None}, ("claim",)),
    ({"claim": ["A" * 43]}, ("claim",)),
])
def test_claim_refuses_missing_or_mistyped_fields_with_422(srv, body, fields):
    before = stored_state(srv)
    assert_validation_error(srv.post("/auth/login/claim", json=body, headers=bearer("A" * 43)),
                            *fields)
    assert stored_state(srv) == before


@pytest.mark.parametrize("body,fields", [
    ({}, ("new_password",)), ({"claim": "A" * 43}, ("new_password",)),
    ({"new_password": NEW_PW}, ("claim",)), ({"new_password": 42, "claim": "A" * 43}, ("new_password",)),
    ({"new_password": NEW_PW, "claim": 42}, ("claim",)),
    ({"new_password": None, "claim": "A" * 43}, ("new_password",)),
])
def test_reset_refuses_missing_or_mistyped_fields_with_422(srv, body, fields):
    before = stored_state(srv)
    assert_validation_error(srv.post("/auth/login/reset", json=body, headers=bearer("A" * 43)),
                            *fields)
    assert stored_state(srv) == before


@pytest.mark.parametrize("addr", ["not-an-email", "a@b", "x" * 400 + "@example.com",
                                  "victim@example.com%0d%0aBcc:%20evil@example.com"])
def test_a_malformed_address_in_the_path_is_422(srv, addr):
    before = stored_state(srv)
    for path in ("/auth/login/magic/", "/auth/login/recover/"):
        assert_validation_error(srv.post(path + addr), "email", where="path")
    assert stored_state(srv) == before


def test_a_reset_revokes_the_users_refresh_families(srv, sink):
    """A reset ends what the old password opened (reset_ends_sessions): the
    refresh tokens of the user's families and the access tokens issued from
    them stop working."""
    u = signup(srv)
    t = oauth(srv, u["email"], PW).json()
    assert srv.get("/auth/users/me", headers=bearer(t["access_token"])).status_code == 200
    token, c = recovery(srv, sink, u["email"])
    assert reset(srv, token, c).status_code == 200
    r = srv.post("/auth/login/refresh", headers=bearer(t["refresh_token"]))
    assert_detail(r, 403, BAD_TOKEN)
    assert srv.get("/auth/users/me", headers=bearer(t["access_token"])).status_code == 403
    rows = srv.db("SELECT revoked_at FROM refresh_families WHERE user_id = ?", (u["id"],))
    assert rows and all(r["revoked_at"] is not None for r in rows)
    fresh = oauth(srv, u["email"], NEW_PW).json()
    assert srv.post("/auth/login/refresh",
                    headers=bearer(fresh["refresh_token"])).status_code == 200
