"""myauth face (seed 001): its users router, /auth/users/me (GET, PUT, DELETE)."""

import pytest

from conftest import assert_detail, assert_validation_error, bearer

PW = "correct-horse-9"
NEW_PW = "battery-staple-7"
NO_AUTH = "Unable to authenticate this update."


def member(server, **extra):
    """A signed-up user: (email, id, access token, refresh token)."""
    email = server.fresh_email("mu")
    r = server.post("/auth/login/signup", json={"email": email, "password": PW, **extra})
    assert r.status_code == 200, r.text
    t = server.post("/auth/login/oauth", data={"username": email, "password": PW})
    assert t.status_code == 200, t.text
    return email, r.json()["id"], t.json()["access_token"], t.json()["refresh_token"]


def put_me(server, token, body):
    return server.request("PUT", "/auth/users/me", json=body, headers=bearer(token))


def row(server, uid):
    rows = server.db("SELECT * FROM users WHERE id = ?", (uid,))
    return rows[0] if rows else None


def logs_in(server, email, password):
    r = server.post("/auth/login/oauth", data={"username": email, "password": password})
    return r.status_code == 200


# ---- GET /me --------------------------------------------------------------------------


def test_get_me_is_the_user_read(server):
    email, uid, access, _ = member(server, full_name="Lady Ragnell")
    r = server.get("/auth/users/me", headers=bearer(access))
    assert r.status_code == 200, r.text
    assert r.json() == {"id": uid, "email": email, "full_name": "Lady Ragnell",
                        "is_active": True, "is_superuser": False, "is_verified": False,
                        "totp": False}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_no_token_is_401(server, method):
    r = server.request(method, "/auth/users/me", json={})
    assert_detail(r, 401, "Not authenticated")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_refresh_token_is_no_access_token(server, method):
    _, uid, _, refresh = member(server)
    r = server.request(method, "/auth/users/me", json={"full_name": "x"}, headers=bearer(refresh))
    assert r.status_code == 401, r.text
    assert row(server, uid) is not None and row(server, uid)["full_name"] in (None, "")


def test_an_inactive_user_is_400(server, admin_token):
    _, uid, access, _ = member(server)
    r = server.patch(f"/users/{uid}", json={"is_active": False}, headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    for method in ("GET", "PUT", "DELETE"):
        r = server.request(method, "/auth/users/me", json={"full_name": "x"},
                           headers=bearer(access))
        assert_detail(r, 400, "Inactive user")
    assert row(server, uid) is not None


# ---- PUT /me --------------------------------------------------------------------------


def test_put_full_name_needs_no_original(server):
    email, uid, access, _ = member(server)
    r = put_me(server, access, {"full_name": "Sir Gawain"})
    assert r.status_code == 200, r.text
    assert r.json()["full_name"] == "Sir Gawain" and r.json()["email"] == email
    assert row(server, uid)["full_name"] == "Sir Gawain"


def test_put_password_with_the_original_changes_it(server):
    email, uid, access, _ = member(server)
    r = put_me(server, access, {"password": NEW_PW, "original": PW})
    assert r.status_code == 200, r.text
    assert logs_in(server, email, NEW_PW)
    assert not logs_in(server, email, PW)


def test_put_email_with_the_original_changes_it(server):
    _, uid, access, _ = member(server)
    new = server.fresh_email("mu-new")
    r = put_me(server, access, {"email": new, "original": PW})
    assert r.status_code == 200, r.text
    assert r.json()["email"] == new
    assert row(server, uid)["email"] == new


@pytest.mark.parametrize("original", [None, "wrong-password-1", ""])
@pytest.mark.parametrize("change", ["email", "password"])
def test_put_without_the_right_original_is_400_and_changes_nothing(server, original, change):
    email, uid, access, _ = member(server)
    before = dict(row(server, uid))
    body = {"email": server.fresh_email("mu-x")} if change == "email" else {"password": NEW_PW}
    body["full_name"] = "Mordred"
    if original is not None:
        body["original"] = original
    r = put_me(server, access, body)
    assert_detail(r, 400, NO_AUTH)
    assert dict(row(server, uid)) == before
    assert logs_in(server, email, PW)


def test_put_a_taken_email_is_400(server):
    taken, _, _, _ = member(server)
    _, uid, access, _ = member(server)
    before = dict(row(server, uid))
    r = put_me(server, access, {"email": taken, "original": PW})
    assert_detail(r, 400, "This username is not available.")
    assert dict(row(server, uid)) == before


def test_put_a_weak_password_is_400_with_the_reason(server):
    email, uid, access, _ = member(server)
    r = put_me(server, access, {"password": "x", "original": PW})
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and detail != NO_AUTH
    assert logs_in(server, email, PW)


@pytest.mark.parametrize("body, field", [
    ({"full_name": 5}, "full_name"),
    ({"email": ["a@b.c"], "original": PW}, "email"),
    ({"password": True, "original": PW}, "password"),
    ({"password": NEW_PW, "original": 123}, "original"),
    ({"email": "not-an-email", "original": PW}, "email"),
])
def test_put_bad_input_is_422(server, body, field):
    email, uid, access, _ = member(server)
    before = dict(row(server, uid))
    r = put_me(server, access, body)
    assert_validation_error(r, field)
    assert dict(row(server, uid)) == before


# ---- DELETE /me -----------------------------------------------------------------------


def test_delete_me_removes_the_user(server):
    email, uid, access, _ = member(server)
    r = server.delete("/auth/users/me", headers=bearer(access))
    assert r.status_code == 200, r.text
    assert r.json() == {"msg": "User deleted successfully"}
    assert row(server, uid) is None
    assert not logs_in(server, email, PW)
    assert server.get("/auth/users/me", headers=bearer(access)).status_code == 401


def test_a_superuser_cannot_delete_itself(server, admin_token):
    r = server.delete("/auth/users/me", headers=bearer(admin_token))
    assert_detail(r, 400, "Super users are not allowed to delete themselves")
    assert server.db("SELECT 1 FROM users WHERE is_superuser = 1")
