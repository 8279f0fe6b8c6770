"""myauth face (seed 001): /auth/login/signup, /oauth, /refresh, /revoke."""

import time
import uuid

import pytest

from conftest import (assert_detail, assert_validation_error, bearer, decode_token,
                      sha256_hex)

PW = "correct-horse-9"
BAD_TOKEN = "Could not validate credentials"


def signup(server, email=None, password=PW, **extra):
    email = email or server.fresh_email("ma")
    return server.post("/auth/login/signup", json={"email": email, "password": password, **extra})


def oauth(server, username, password=PW):
    return server.post("/auth/login/oauth", data={"username": username, "password": password})


def pair(server, email):
    r = oauth(server, email)
    assert r.status_code == 200, r.text
    return r.json()


def refresh(server, token):
    return server.post("/auth/login/refresh", headers=bearer(token))


def revoke(server, token):
    return server.post("/auth/login/revoke", headers=bearer(token))


def me_id(server, token):
    r = server.get("/users/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()["id"]


def refresh_rows(server):
    return server.db("SELECT * FROM refresh_tokens ORDER BY token_hash")


def family_rows(server):
    return server.db("SELECT * FROM refresh_families ORDER BY family_id")


# ---- signup -------------------------------------------------------------------------


def test_signup_returns_the_user(server):
    email = server.fresh_email("ma")
    r = signup(server, email, full_name="Sir Percival")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"id", "email", "full_name", "is_active", "is_superuser",
                         "is_verified", "totp", "roles"}, body
    uuid.UUID(body["id"])
    assert body["email"] == email
    assert body["full_name"] == "Sir Percival"
    assert body["is_active"] is True and body["is_superuser"] is False
    assert body["is_verified"] is False and body["totp"] is False
    row = server.user_row(email=email)
    assert row["id"] == body["id"] and row["hashed_password"].startswith("$argon2id$")


def test_signup_without_full_name_gives_null(server):
    r = signup(server)
    assert r.status_code == 200, r.text
    assert r.json()["full_name"] is None


def test_signup_of_a_taken_email_is_400(server):
    email = server.fresh_email("ma")
    assert signup(server, email).status_code == 200
    before = server.users_snapshot()
    assert_detail(signup(server, email.upper()), 400, "This username is not available.")
    assert server.users_snapshot() == before


def test_signup_when_registration_is_closed_is_403(server_factory):
    srv = server_factory(users_open_registration=False)
    before = srv.users_snapshot()
    assert_detail(signup(srv), 403, "Registration is closed.")
    assert srv.users_snapshot() == before


@pytest.mark.parametrize("body,fields", [
    ({"password": PW}, ["email"]),
    ({"email": "a@example.com"}, ["password"]),
    ({"email": 5, "password": PW}, ["email"]),
    ({"email": "a@example.com", "password": ["x"]}, ["password"]),
    ({"email": "a@example.com", "password": PW, "full_name": 7}, ["full_name"]),
])
def test_signup_bad_input_is_422(server, body, fields):
    before = server.users_snapshot()
    r = server.post("/auth/login/signup", json=body)
    assert_validation_error(r, *fields)
    assert server.users_snapshot() == before


# ---- the same users as fastapi_users ---------------------------------------------------


def test_a_user_registered_at_fastapi_users_logs_in_here(server):
    u = server.register_ok(password=PW)
    body = pair(server, u["email"])
    assert decode_token(body["access_token"])["sub"] == u["id"]


def test_a_user_signed_up_here_logs_in_at_fastapi_users(server):
    r = signup(server)
    assert r.status_code == 200
    u = r.json()
    token = server.login(u["email"], PW)
    assert decode_token(token)["sub"] == u["id"]
    assert me_id(server, token) == u["id"]


# ---- oauth login ---------------------------------------------------------------------------


def test_oauth_login_gives_an_access_and_a_refresh_token(server):
    u = server.register_ok(password=PW)
    t0 = int(time.time())
    r = oauth(server, u["email"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "token_type"}
    assert body["token_type"] == "bearer"
    assert "no-store" in r.headers.get("Cache-Control", "")
    claims = decode_token(body["access_token"])  # PyJWT
    assert claims["sub"] == u["id"]
    fam = claims["fam"]
    assert family_rows(server) and any(f["family_id"] == fam for f in family_rows(server))
    rows = server.db("SELECT * FROM refresh_tokens WHERE token_hash = ?",
                     (sha256_hex(body["refresh_token"]),))
    assert len(rows) == 1, "stored as its SHA-256 only"
    row = rows[0]
    assert row["family_id"] == fam and row["user_id"] == u["id"]
    assert row["used_at"] is None and row["revoked_at"] is None
    assert t0 + 30 * 86400 - 5 <= row["expires_at"] <= int(time.time()) + 30 * 86400 + 5
    assert not server.db("SELECT 1 FROM refresh_tokens WHERE token_hash = ?",
                         (body["refresh_token"],))
    # the access token works wherever RFC 7519 tokens do
    assert me_id(server, body["access_token"]) == u["id"]


@pytest.mark.parametrize("password", [PW + "x", ""])
def test_oauth_bad_credentials_are_400(server, password):
    u = server.register_ok(password=PW)
    before = refresh_rows(server)
    assert_detail(oauth(server, u["email"], password), 400,
                  "Login failed; incorrect email or password.")
    assert refresh_rows(server) == before


def test_oauth_unknown_user_is_400(server):
    assert_detail(oauth(server, server.fresh_email("nobody")), 400,
                  "Login failed; incorrect email or password.")


@pytest.mark.parametrize("form,field", [
    ({"password": PW}, "username"),
    ({"username": "a@example.com"}, "password"),
])
def test_oauth_missing_form_fields_are_422(server, form, field):
    r = server.post("/auth/login/oauth", data=form)
    assert_validation_error(r, field)


def test_oauth_with_a_json_body_is_422(server):
    u = server.register_ok(password=PW)
    r = server.post("/auth/login/oauth", json={"username": u["email"], "password": PW})
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], list)


# ---- refresh rotation ----------------------------------------------------------------------


def test_refresh_rotates_within_the_family(server):
    u = server.register_ok(password=PW)
    first = pair(server, u["email"])
    fam = decode_token(first["access_token"])["fam"]
    r = refresh(server, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert set(second) == {"access_token", "refresh_token", "token_type"}
    assert second["refresh_token"] != first["refresh_token"]
    claims = decode_token(second["access_token"])
    assert claims["sub"] == u["id"] and claims["fam"] == fam
    spent = server.db("SELECT * FROM refresh_tokens WHERE token_hash = ?",
                      (sha256_hex(first["refresh_token"]),))[0]
    assert spent["used_at"] is not None and spent["revoked_at"] is None
    child = server.db("SELECT * FROM refresh_tokens WHERE token_hash = ?",
                      (sha256_hex(second["refresh_token"]),))[0]
    assert child["family_id"] == fam and child["used_at"] is None
    r = refresh(server, second["refresh_token"])
    assert r.status_code == 200, r.text
    assert me_id(server, r.json()["access_token"]) == u["id"]


def test_reuse_of_a_spent_token_revokes_the_family_and_its_access_tokens(server):
    u = server.register_ok(password=PW)
    first = pair(server, u["email"])
    other = pair(server, u["email"])  # another login: another family
    second = refresh(server, first["refresh_token"]).json()
    assert me_id(server, second["access_token"]) == u["id"]
    assert me_id(server, first["access_token"]) == u["id"]

    assert_detail(refresh(server, first["refresh_token"]), 403, BAD_TOKEN)  # reuse
    fam = decode_token(first["access_token"])["fam"]
    assert server.db("SELECT revoked_at FROM refresh_families WHERE family_id = ?",
                     (fam,))[0]["revoked_at"] is not None
    assert all(r["revoked_at"] is not None for r in
               server.db("SELECT revoked_at FROM refresh_tokens WHERE family_id = ?", (fam,)))
    # the unspent child goes with its family, and so do the family's access tokens
    assert_detail(refresh(server, second["refresh_token"]), 403, BAD_TOKEN)
    for tok in (first["access_token"], second["access_token"]):
        assert server.get("/users/me", headers=bearer(tok)).status_code == 401
    # the user's other family lives on
    assert me_id(server, other["access_token"]) == u["id"]
    assert refresh(server, other["refresh_token"]).status_code == 200


def test_revoke_ends_the_family(server):
    u = server.register_ok(password=PW)
    first = pair(server, u["email"])
    second = refresh(server, first["refresh_token"]).json()
    r = revoke(server, second["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.json() == {"msg": "Token revoked successfully."}
    assert_detail(refresh(server, second["refresh_token"]), 403, BAD_TOKEN)
    assert server.get("/users/me", headers=bearer(second["access_token"])).status_code == 401
    before = (refresh_rows(server), family_rows(server))
    assert_detail(revoke(server, second["refresh_token"]), 403, BAD_TOKEN)
    assert (refresh_rows(server), family_rows(server)) == before


def test_a_revoked_token_changes_nothing(server):
    u = server.register_ok(password=PW)
    first = pair(server, u["email"])
    second = refresh(server, first["refresh_token"]).json()
    assert refresh(server, first["refresh_token"]).status_code == 403  # reuse: revoked
    before = (refresh_rows(server), family_rows(server))
    for tok in (first["refresh_token"], second["refresh_token"]):
        assert_detail(refresh(server, tok), 403, BAD_TOKEN)
    assert (refresh_rows(server), family_rows(server)) == before


@pytest.mark.parametrize("token", ["garbage", "", "A" * 43, "x" * 5000,
                                   "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"])
@pytest.mark.parametrize("route", ["/auth/login/refresh", "/auth/login/revoke"])
def test_a_garbage_refresh_token_is_403_and_changes_nothing(server, token, route):
    u = server.register_ok(password=PW)
    pair(server, u["email"])
    before = (refresh_rows(server), family_rows(server))
    r = server.post(route, headers={"Authorization": f"Bearer {token}"})
    assert_detail(r, 403, BAD_TOKEN)
    assert (refresh_rows(server), family_rows(server)) == before


@pytest.mark.parametrize("route", ["/auth/login/refresh", "/auth/login/revoke"])
def test_no_bearer_is_401(server, route):
    r = server.post(route)
    assert_detail(r, 401, "Not authenticated")
    assert r.headers.get("WWW-Authenticate") == "Bearer"
    r = server.post(route, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert_detail(r, 401, "Not authenticated")


# ---- token kinds never cross -----------------------------------------------------------------


def test_an_access_token_is_no_refresh_token(server):
    u = server.register_ok(password=PW)
    body = pair(server, u["email"])
    fastapi_token = server.login(u["email"], PW)
    before = (refresh_rows(server), family_rows(server))
    for tok in (body["access_token"], fastapi_token):
        assert_detail(refresh(server, tok), 403, BAD_TOKEN)
        assert_detail(revoke(server, tok), 403, BAD_TOKEN)
    assert (refresh_rows(server), family_rows(server)) == before
    assert refresh(server, body["refresh_token"]).status_code == 200


def test_a_refresh_token_is_no_access_token(server):
    u = server.register_ok(password=PW)
    body = pair(server, u["email"])
    for path in ("/users/me", "/protected"):
        assert server.get(path, headers=bearer(body["refresh_token"])).status_code == 401
    assert server.post("/auth/logout", headers=bearer(body["refresh_token"])).status_code == 401
    assert refresh(server, body["refresh_token"]).status_code == 200, "left unspent"


# ---- settings ------------------------------------------------------------------------------


def test_prefix_and_lifetime_settings(server_factory):
    srv = server_factory(myauth_prefix="/myauth", refresh_token_lifetime_seconds=120)
    u = srv.register_ok(password=PW)
    assert srv.post("/auth/login/oauth",
                    data={"username": u["email"], "password": PW}).status_code == 404
    r = srv.post("/myauth/login/oauth", data={"username": u["email"], "password": PW})
    assert r.status_code == 200, r.text
    row = srv.db("SELECT created_at, expires_at FROM refresh_tokens")[0]
    assert row["expires_at"] - row["created_at"] == 120
    assert srv.post("/myauth/login/refresh",
                    headers=bearer(r.json()["refresh_token"])).status_code == 200


def test_grace_interval_lets_a_quick_second_use_rotate(server_factory):
    srv = server_factory(refresh_grace_seconds=60)
    u = srv.register_ok(password=PW)
    first = pair(srv, u["email"])
    a = refresh(srv, first["refresh_token"])
    b = refresh(srv, first["refresh_token"])
    assert a.status_code == 200 and b.status_code == 200, (a.text, b.text)
    assert a.json()["refresh_token"] != b.json()["refresh_token"]
    assert srv.db("SELECT revoked_at FROM refresh_families")[0]["revoked_at"] is None
    assert me_id(srv, a.json()["access_token"]) == u["id"]
