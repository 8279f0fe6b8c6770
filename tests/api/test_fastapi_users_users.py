"""fastapi_users face: the users router (/users/me, /users/{id})."""

import uuid

import pytest

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, assert_detail, assert_validation_error,
                      bearer, cookie_header, set_cookie_parts, sha256_hex)

PW = "correct-horse-9"


# ---- /users/me ----------------------------------------------------------------------


def test_get_me_returns_the_current_user(server):
    u, _pw, token = server.new_user()
    r = server.me(token)
    assert r.status_code == 200, r.text
    body = r.json()
    for k in ("id", "email", "is_active", "is_superuser", "is_verified"):
        assert body[k] == u[k]
    assert "hashed_password" not in body and "password" not in body
    assert "no-store" in r.headers.get("Cache-Control", "")


def test_get_me_without_or_with_bad_credentials_is_unauthorized(server):
    assert_detail(server.get("/users/me"), 401, "Unauthorized")
    assert_detail(server.get("/users/me", headers=bearer("garbage")), 401, "Unauthorized")
    assert_detail(server.get("/users/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401,
                  "Unauthorized")
    assert_detail(server.get("/users/me", headers={"Authorization": "Bearer "}), 401, "Unauthorized")


def test_bootstrap_admin_is_an_active_verified_superuser(server, admin_token):
    rows = server.db("SELECT * FROM users WHERE email_lc = ?", (ADMIN_EMAIL,))
    assert len(rows) == 1
    row = rows[0]
    assert (row["is_active"], row["is_superuser"], row["is_verified"]) == (1, 1, 1)
    assert row["hashed_password"].startswith("$argon2id$")
    assert ADMIN_PASSWORD not in row["hashed_password"]
    me = server.me(admin_token).json()
    assert me["is_superuser"] is True and me["is_verified"] is True and me["is_active"] is True


def test_patch_me_changes_email_and_clears_verification(server, admin_token):
    u, pw, token = server.new_user()
    r = server.patch("/users/" + u["id"], json={"is_verified": True}, headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["is_verified"] is True
    new_email = server.fresh_email("moved")
    r = server.patch("/users/me", json={"email": new_email}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == new_email
    assert r.json()["is_verified"] is False
    row = server.user_row(id=u["id"])
    assert row["email"] == new_email and row["email_lc"] == new_email.lower()
    assert row["is_verified"] == 0
    # login follows the email
    assert_detail(server.login_raw(u["email"], pw), 400, "LOGIN_BAD_CREDENTIALS")
    server.login(new_email, pw)


def test_patch_me_same_email_keeps_verification(server, admin_token):
    u, _pw, token = server.new_user()
    server.patch("/users/" + u["id"], json={"is_verified": True}, headers=bearer(admin_token))
    r = server.patch("/users/me", json={"full_name": "Sir Lancelot"}, headers=bearer(token))
    assert r.status_code == 200, r.text
    row = server.user_row(id=u["id"])
    assert row["is_verified"] == 1
    assert row["full_name"] == "Sir Lancelot"
    assert row["email"] == u["email"]


def test_patch_me_cannot_grant_privileges(server):
    u, _pw, token = server.new_user()
    r = server.patch("/users/me", json={"is_superuser": True, "is_verified": True, "is_active": False},
                     headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_superuser"] is False
    assert body["is_verified"] is False
    assert body["is_active"] is True
    row = server.user_row(id=u["id"])
    assert (row["is_active"], row["is_superuser"], row["is_verified"]) == (1, 0, 0)
    assert server.get("/users/" + u["id"], headers=bearer(token)).status_code == 403


def test_patch_me_to_a_taken_email_is_rejected(server):
    other = server.register_ok()
    u, _pw, token = server.new_user()
    before = server.users_snapshot()
    r = server.patch("/users/me", json={"email": other["email"].upper()}, headers=bearer(token))
    assert_detail(r, 400, "UPDATE_USER_EMAIL_ALREADY_EXISTS")
    assert server.users_snapshot() == before


def test_patch_me_invalid_password_is_rejected(server):
    u, pw, token = server.new_user()
    before = server.user_row(id=u["id"])
    r = server.patch("/users/me", json={"password": "short"}, headers=bearer(token))
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "UPDATE_USER_INVALID_PASSWORD"
    assert isinstance(detail["reason"], str) and detail["reason"]
    assert server.user_row(id=u["id"]) == before
    server.login(u["email"], pw)


def test_patch_me_password_containing_email_is_rejected(server):
    u, pw, token = server.new_user()
    r = server.patch("/users/me", json={"password": "A" + u["email"]}, headers=bearer(token))
    assert r.status_code == 400, r.text
    assert r.json()["detail"]["code"] == "UPDATE_USER_INVALID_PASSWORD"
    server.login(u["email"], pw)


def test_patch_me_password_change(server):
    u, pw, token = server.new_user()
    old_hash = server.user_row(id=u["id"])["hashed_password"]
    r = server.patch("/users/me", json={"password": "brand-new-pass-2"}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert "brand-new-pass-2" not in r.text
    new_hash = server.user_row(id=u["id"])["hashed_password"]
    assert new_hash != old_hash and new_hash.startswith("$argon2id$")
    assert "brand-new-pass-2" not in new_hash
    assert_detail(server.login_raw(u["email"], pw), 400, "LOGIN_BAD_CREDENTIALS")
    server.login(u["email"], "brand-new-pass-2")


def test_patch_me_invalid_email_is_a_validation_error(server):
    u, _pw, token = server.new_user()
    before = server.user_row(id=u["id"])
    r = server.patch("/users/me", json={"email": "not-an-email"}, headers=bearer(token))
    assert_validation_error(r, "email")
    r = server.patch("/users/me", json={"email": 42}, headers=bearer(token))
    assert_validation_error(r, "email")
    assert server.user_row(id=u["id"]) == before


def test_patch_me_requires_authentication(server):
    before = server.users_snapshot()
    assert_detail(server.patch("/users/me", json={"email": server.fresh_email()}), 401, "Unauthorized")
    assert server.users_snapshot() == before


def test_get_me_with_cookie(server):
    u = server.register_ok(password=PW)
    value, _ = set_cookie_parts(server.cookie_login(u["email"], PW))
    r = server.get("/users/me", headers=cookie_header(value))
    assert r.status_code == 200 and r.json()["email"] == u["email"]


# ---- /users/{id} (superuser) ---------------------------------------------------------


def test_get_user_by_id_as_superuser(server, admin_token):
    u = server.register_ok(full_name="Guinevere")
    r = server.get("/users/" + u["id"], headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    body = r.json()
    for k in ("id", "email", "is_active", "is_superuser", "is_verified"):
        assert body[k] == u[k]
    assert "hashed_password" not in body


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_user_by_id_requires_credentials(server, method):
    u = server.register_ok()
    kw = {"json": {"is_superuser": True}} if method == "PATCH" else {}
    before = server.users_snapshot()
    assert_detail(server.request(method, "/users/" + u["id"], **kw), 401, "Unauthorized")
    assert_detail(server.request(method, "/users/" + u["id"], headers=bearer("x.y.z"), **kw),
                  401, "Unauthorized")
    assert server.users_snapshot() == before


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_user_by_id_is_forbidden_to_normal_users(server, method):
    victim = server.register_ok()
    me, _pw, token = server.new_user()
    kw = {"json": {"is_superuser": True}} if method == "PATCH" else {}
    before = server.users_snapshot()
    for target in (victim["id"], me["id"]):
        assert_detail(server.request(method, "/users/" + target, headers=bearer(token), **kw),
                      403, "Forbidden")
    assert server.users_snapshot() == before


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("target", ["unknown-uuid", "not-a-uuid"])
def test_user_by_id_unknown_is_not_found(server, admin_token, method, target):
    uid = str(uuid.uuid4()) if target == "unknown-uuid" else "not-a-uuid"
    kw = {"json": {"full_name": "x"}} if method == "PATCH" else {}
    before = server.users_snapshot()
    assert_detail(server.request(method, "/users/" + uid, headers=bearer(admin_token), **kw),
                  404, "Not Found")
    assert server.users_snapshot() == before


def test_patch_user_as_superuser_honours_privileged_fields(server, admin_token):
    u, pw, token = server.new_user()
    r = server.patch("/users/" + u["id"], json={"is_superuser": True, "is_verified": True},
                     headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    assert r.json()["is_superuser"] is True and r.json()["is_verified"] is True
    row = server.user_row(id=u["id"])
    assert (row["is_superuser"], row["is_verified"], row["is_active"]) == (1, 1, 1)
    # the new superuser now has the power
    other = server.register_ok()
    assert server.get("/users/" + other["id"], headers=bearer(token)).status_code == 200


def test_patch_me_by_a_superuser_honours_privileged_fields(server, admin_token):
    # the issue: "ignored for a normal user but honoured when a superuser sends them"
    u, pw, token = server.new_user()
    server.patch("/users/" + u["id"], json={"is_superuser": True}, headers=bearer(admin_token))
    other = server.register_ok()
    assert server.get("/users/" + other["id"], headers=bearer(token)).status_code == 200
    r = server.patch("/users/me", json={"is_superuser": False}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["is_superuser"] is False
    assert server.user_row(id=u["id"])["is_superuser"] == 0
    assert server.get("/users/" + other["id"], headers=bearer(token)).status_code == 403


def test_patch_user_as_superuser_changes_email_and_password(server, admin_token):
    u, pw, _token = server.new_user()
    new_email = server.fresh_email("adm")
    r = server.patch("/users/" + u["id"], json={"email": new_email, "password": "set-by-admin-3"},
                     headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == new_email
    assert_detail(server.login_raw(new_email, pw), 400, "LOGIN_BAD_CREDENTIALS")
    server.login(new_email, "set-by-admin-3")


def test_patch_user_to_a_taken_email_is_rejected(server, admin_token):
    a = server.register_ok()
    b = server.register_ok()
    before = server.users_snapshot()
    r = server.patch("/users/" + b["id"], json={"email": a["email"]}, headers=bearer(admin_token))
    assert_detail(r, 400, "UPDATE_USER_EMAIL_ALREADY_EXISTS")
    assert server.users_snapshot() == before


def test_patch_user_invalid_password_is_rejected(server, admin_token):
    u, pw, _ = server.new_user()
    r = server.patch("/users/" + u["id"], json={"password": "tiny"}, headers=bearer(admin_token))
    assert r.status_code == 400, r.text
    assert r.json()["detail"]["code"] == "UPDATE_USER_INVALID_PASSWORD"
    server.login(u["email"], pw)


def test_delete_user_as_superuser(server, admin_token):
    u, pw, token = server.new_user()
    cookie, _ = set_cookie_parts(server.cookie_login(u["email"], pw))
    assert server.db("SELECT * FROM sessions WHERE user_id = ?", (u["id"],))
    r = server.delete("/users/" + u["id"], headers=bearer(admin_token))
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert server.user_row(id=u["id"]) is None
    assert not server.db("SELECT * FROM sessions WHERE user_id = ?", (u["id"],))
    assert not server.db("SELECT * FROM sessions WHERE token_hash = ?", (sha256_hex(cookie),))
    assert_detail(server.get("/users/" + u["id"], headers=bearer(admin_token)), 404, "Not Found")
    assert_detail(server.delete("/users/" + u["id"], headers=bearer(admin_token)), 404, "Not Found")
    assert_detail(server.me(token), 401, "Unauthorized")
    assert_detail(server.get("/users/me", headers=cookie_header(cookie)), 401, "Unauthorized")
    assert_detail(server.login_raw(u["email"], pw), 400, "LOGIN_BAD_CREDENTIALS")
    # the email is free again
    server.register_ok(u["email"])


def test_delete_by_normal_user_leaves_the_target(server):
    victim = server.register_ok()
    _me, _pw, token = server.new_user()
    assert_detail(server.delete("/users/" + victim["id"], headers=bearer(token)), 403, "Forbidden")
    assert server.user_row(id=victim["id"]) is not None


# ---- inactive users ----------------------------------------------------------------------


def test_deactivated_user_loses_access_and_regains_it(server, admin_token):
    u, pw, token = server.new_user()
    cookie, _ = set_cookie_parts(server.cookie_login(u["email"], pw))
    assert server.me(token).status_code == 200
    r = server.patch("/users/" + u["id"], json={"is_active": False}, headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["is_active"] is False, r.text
    assert server.user_row(id=u["id"])["is_active"] == 0
    assert_detail(server.me(token), 401, "Unauthorized")
    assert_detail(server.get("/users/me", headers=cookie_header(cookie)), 401, "Unauthorized")
    assert_detail(server.get("/protected", headers=bearer(token)), 401, "Unauthorized")
    assert_detail(server.patch("/users/me", json={"full_name": "x"}, headers=bearer(token)),
                  401, "Unauthorized")
    assert_detail(server.login_raw(u["email"], pw), 400, "LOGIN_BAD_CREDENTIALS")
    assert_detail(server.login_raw(u["email"], pw, path="/auth/cookie/login"), 400,
                  "LOGIN_BAD_CREDENTIALS")
    # the superuser can still see it
    assert server.get("/users/" + u["id"], headers=bearer(admin_token)).json()["is_active"] is False
    r = server.patch("/users/" + u["id"], json={"is_active": True}, headers=bearer(admin_token))
    assert r.status_code == 200
    assert server.me(token).status_code == 200
    server.login(u["email"], pw)


def test_deactivated_superuser_loses_superuser_access(server, admin_token):
    u, pw, token = server.new_user()
    server.patch("/users/" + u["id"], json={"is_superuser": True}, headers=bearer(admin_token))
    other = server.register_ok()
    assert server.get("/users/" + other["id"], headers=bearer(token)).status_code == 200
    server.patch("/users/" + u["id"], json={"is_active": False}, headers=bearer(admin_token))
    assert_detail(server.get("/users/" + other["id"], headers=bearer(token)), 401, "Unauthorized")


def test_bootstrap_admin_is_created_once_and_not_reset_on_restart(server_factory):
    srv = server_factory(bootstrap_admin_email=ADMIN_EMAIL, bootstrap_admin_password=ADMIN_PASSWORD)
    token = srv.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    r = srv.patch("/users/me", json={"password": "rotated-admin-pass-9"}, headers=bearer(token))
    assert r.status_code == 200, r.text
    srv.restart()
    assert len(srv.db("SELECT id FROM users WHERE email_lc = ?", (ADMIN_EMAIL,))) == 1
    assert_detail(srv.login_raw(ADMIN_EMAIL, ADMIN_PASSWORD), 400, "LOGIN_BAD_CREDENTIALS")
    srv.login(ADMIN_EMAIL, "rotated-admin-pass-9")
