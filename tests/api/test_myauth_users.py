"""myauth face (seed 001): its users router, /auth/users/me (GET, PUT, DELETE)."""

import pytest

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, assert_detail, assert_validation_error,
                      bearer)

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
                        "totp": False, "roles": []}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_no_token_is_401(server, method):
    r = server.request(method, "/auth/users/me", json={})
    assert_detail(r, 401, "Not authenticated")
    assert r.headers.get("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_refresh_token_is_no_access_token(server, method):
    _, uid, _, refresh = member(server)
    r = server.request(method, "/auth/users/me", json={"full_name": "x"}, headers=bearer(refresh))
    assert_detail(r, 403, "Could not validate credentials")
    assert "WWW-Authenticate" not in r.headers
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
    assert_detail(server.get("/auth/users/me", headers=bearer(access)), 403,
                  "Could not validate credentials")


def test_a_superuser_cannot_delete_itself(server, admin_token):
    r = server.delete("/auth/users/me", headers=bearer(admin_token))
    assert_detail(r, 400, "Super users are not allowed to delete themselves")
    assert server.db("SELECT 1 FROM users WHERE is_superuser = 1")


# ---- admin routes ---------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/auth/users/"),
    ("POST", "/auth/users/toggle-state"),
    ("POST", "/auth/users/create"),
    ("GET", "/auth/users/{id}"),
    ("POST", "/auth/users/{id}"),
    ("DELETE", "/auth/users/{id}"),
]


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_admin_routes_refuse_a_member_403_and_no_token_401(server, method, path):
    email, uid, access, _ = member(server)
    before = dict(row(server, uid))
    body = {"user_email": email, "email": server.fresh_email("mu-a"), "password": PW,
            "is_superuser": True}
    url = path.replace("{id}", uid)
    r = server.request(method, url, json=body, headers=bearer(access))
    assert_detail(r, 403, "The user doesn't have enough privileges")
    r = server.request(method, url, json=body)
    assert_detail(r, 401, "Not authenticated")
    assert dict(row(server, uid)) == before


def test_list_pages_in_creation_order(server_factory):
    srv = server_factory(settings={"myauth_page_size": 2, "bootstrap_admin_email": ADMIN_EMAIL,
                                   "bootstrap_admin_password": ADMIN_PASSWORD})
    admin = srv.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    for _ in range(3):
        member(srv)
    ids = [r["id"] for r in srv.db("SELECT id FROM users ORDER BY created_at, id")]
    assert len(ids) == 4
    got = []
    for page in range(3):
        r = srv.get(f"/auth/users/?page={page}", headers=bearer(admin))
        assert r.status_code == 200, r.text
        got.append([u["id"] for u in r.json()])
    assert got == [ids[0:2], ids[2:4], []]
    r = srv.get("/auth/users/", headers=bearer(admin))
    assert [u["id"] for u in r.json()] == ids[0:2]
    assert set(r.json()[0]) == {"id", "email", "full_name", "is_active", "is_superuser",
                                "is_verified", "totp", "roles"}
    r = srv.get("/auth/users/?page=99999999999999999", headers=bearer(admin))
    assert r.status_code == 200 and r.json() == [], r.text


@pytest.mark.parametrize("page", ["-1", "abc", "", "1.5"])
def test_list_bad_page_is_422(server, admin_token, page):
    r = server.get(f"/auth/users/?page={page}", headers=bearer(admin_token))
    assert_validation_error(r, "page", where="query")


def test_toggle_state_flips_is_active(server, admin_token):
    email, uid, access, _ = member(server)
    r = server.post("/auth/users/toggle-state", json={"user_email": email},
                    headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    assert r.json() == {"msg": "User state toggled successfully."}
    assert row(server, uid)["is_active"] == 0
    assert_detail(server.get("/auth/users/me", headers=bearer(access)), 400, "Inactive user")
    r = server.post("/auth/users/toggle-state", json={"user_email": email},
                    headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    assert row(server, uid)["is_active"] == 1


def test_toggle_state_of_an_unknown_email_is_404(server, admin_token):
    before = server.users_snapshot()
    r = server.post("/auth/users/toggle-state", json={"user_email": "nobody@example.com"},
                    headers=bearer(admin_token))
    assert_detail(r, 404, "User not found")
    assert server.users_snapshot() == before


@pytest.mark.parametrize("body", [{}, {"user_email": 7}])
def test_toggle_state_bad_input_is_422(server, admin_token, body):
    r = server.post("/auth/users/toggle-state", json=body, headers=bearer(admin_token))
    assert_validation_error(r, "user_email")


def test_create_honours_the_flags(server, admin_token):
    email = server.fresh_email("mu-c")
    r = server.post("/auth/users/create", headers=bearer(admin_token),
                    json={"email": email, "password": PW, "full_name": "Kay",
                          "is_superuser": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["email"] == email and body["full_name"] == "Kay" and body["is_superuser"] is True
    assert row(server, body["id"])["is_superuser"] == 1
    assert logs_in(server, email, PW)


def test_create_of_a_taken_email_is_400(server, admin_token):
    email, _, _, _ = member(server)
    r = server.post("/auth/users/create", json={"email": email, "password": PW},
                    headers=bearer(admin_token))
    assert_detail(r, 400, "This username is not available.")


@pytest.mark.parametrize("body, field", [
    ({"password": PW}, "email"),
    ({"email": "kay@example.com"}, "password"),
    ({"email": "kay2@example.com", "password": PW, "is_superuser": "maybe"}, "is_superuser"),
])
def test_create_bad_input_is_422(server, admin_token, body, field):
    before = server.users_snapshot()
    r = server.post("/auth/users/create", json=body, headers=bearer(admin_token))
    assert_validation_error(r, field)
    assert server.users_snapshot() == before


def test_get_update_and_delete_a_user_by_id(server, admin_token):
    email, uid, _, _ = member(server)
    r = server.get(f"/auth/users/{uid}", headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["email"] == email, r.text
    r = server.post(f"/auth/users/{uid}", json={"full_name": "Bedivere", "is_verified": True},
                    headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    assert r.json()["full_name"] == "Bedivere" and r.json()["is_verified"] is True
    assert row(server, uid)["is_verified"] == 1
    r = server.delete(f"/auth/users/{uid}", headers=bearer(admin_token))
    assert r.status_code == 200 and r.json() == {"msg": "User deleted successfully."}, r.text
    assert row(server, uid) is None


@pytest.mark.parametrize("uid", ["0190f6c4-0000-7000-8000-000000000000", "not-a-uuid"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_unknown_user_id_is_404(server, admin_token, uid, method):
    before = server.users_snapshot()
    r = server.request(method, f"/auth/users/{uid}", json={"full_name": "x"},
                       headers=bearer(admin_token))
    assert_detail(r, 404, "User not found")
    assert server.users_snapshot() == before


def test_a_superuser_cannot_delete_itself_by_id(server, admin_token):
    me = server.get("/auth/users/me", headers=bearer(admin_token)).json()
    before = server.users_snapshot()
    r = server.delete(f"/auth/users/{me['id']}", headers=bearer(admin_token))
    assert_detail(r, 400, "Super users are not allowed to delete themselves")
    assert server.users_snapshot() == before
    assert row(server, me["id"]) is not None


@pytest.mark.parametrize("superuser", [True, False])
def test_an_inactive_user_is_400_on_admin_routes_too(server, admin_token, superuser):
    """get_current_active_superuser builds on get_current_active_user: an
    inactive user hears "Inactive user" before any privilege check, and
    nothing runs."""
    email = server.fresh_email("ia")
    r = server.post("/auth/users/create", json={"email": email, "password": PW,
                                                "is_superuser": superuser},
                    headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    uid = r.json()["id"]
    t = server.post("/auth/login/oauth", data={"username": email, "password": PW})
    access = t.json()["access_token"]
    r = server.post("/auth/users/toggle-state", json={"user_email": email},
                    headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    victim, vid, _, _ = member(server)
    before = server.users_snapshot()
    for method, path, body in (("GET", "/auth/users/", None),
                               ("POST", "/auth/users/toggle-state", {"user_email": victim}),
                               ("POST", "/auth/users/create",
                                {"email": server.fresh_email("x"), "password": PW}),
                               ("GET", f"/auth/users/{vid}", None),
                               ("POST", f"/auth/users/{vid}", {"full_name": "x"}),
                               ("DELETE", f"/auth/users/{vid}", None)):
        r = server.request(method, path, json=body, headers=bearer(access))
        assert_detail(r, 400, "Inactive user")
        assert "WWW-Authenticate" not in r.headers
    assert server.users_snapshot() == before
    assert row(server, uid)["is_active"] == 0


# ---- the admin role: MyAuth's admin routes for a superuser or an "admin" -------------------


def role_user(server, admin_token, roles):
    """A user with roles, made by a superuser: (email, id, access token)."""
    email = server.fresh_email("ro")
    r = server.post("/auth/users/create", json={"email": email, "password": PW, "roles": roles},
                    headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == sorted(set(roles)), r.text
    t = server.post("/auth/login/oauth", data={"username": email, "password": PW})
    return email, r.json()["id"], t.json()["access_token"]


def test_an_admin_may_use_the_admin_routes(server, admin_token):
    _, aid, admin = role_user(server, admin_token, ["admin", "ops"])
    assert row(server, aid)["roles"] == "admin ops"
    victim, vid, _, _ = member(server)
    assert server.get("/auth/users/?page=0", headers=bearer(admin)).status_code == 200
    assert server.get(f"/auth/users/{vid}", headers=bearer(admin)).json()["email"] == victim
    r = server.post("/auth/users/toggle-state", json={"user_email": victim}, headers=bearer(admin))
    assert r.status_code == 200, r.text
    assert row(server, vid)["is_active"] == 0
    r = server.post(f"/auth/users/{vid}", json={"full_name": "Dagonet"}, headers=bearer(admin))
    assert r.status_code == 200 and r.json()["full_name"] == "Dagonet", r.text
    r = server.post("/auth/users/create", json={"email": server.fresh_email("n"), "password": PW},
                    headers=bearer(admin))
    assert r.status_code == 200 and r.json()["is_superuser"] is False, r.text
    r = server.delete(f"/auth/users/{vid}", headers=bearer(admin))
    assert r.status_code == 200, r.text
    assert row(server, vid) is None


def test_another_role_is_no_admin(server, admin_token):
    _, _, ops = role_user(server, admin_token, ["ops", "administrator"])
    before = server.users_snapshot()
    assert_detail(server.get("/auth/users/", headers=bearer(ops)), 403,
                  "The user doesn't have enough privileges")
    assert_detail(server.post("/auth/users/create", json={"email": server.fresh_email("n"),
                                                           "password": PW}, headers=bearer(ops)),
                  403, "The user doesn't have enough privileges")
    assert server.users_snapshot() == before


def test_an_admin_cannot_raise_privileges_or_touch_a_superuser(server, admin_token):
    """Only a superuser makes superusers, gives roles, or changes a superuser:
    an admin cannot make itself (or anyone) more than it is."""
    _, aid, admin = role_user(server, admin_token, ["admin"])
    me = server.get("/auth/users/me", headers=bearer(admin_token)).json()
    _, vid, _, _ = member(server)
    before = server.users_snapshot()
    for method, path, body in (
            ("POST", "/auth/users/create", {"email": server.fresh_email("s"), "password": PW,
                                            "is_superuser": True}),
            ("POST", "/auth/users/create", {"email": server.fresh_email("r"), "password": PW,
                                            "roles": ["admin"]}),
            ("POST", f"/auth/users/{aid}", {"is_superuser": True}),
            ("POST", f"/auth/users/{vid}", {"roles": ["admin"]}),
            ("POST", f"/auth/users/{me['id']}", {"full_name": "x"}),
            ("POST", "/auth/users/toggle-state", {"user_email": me["email"]}),
            ("DELETE", f"/auth/users/{me['id']}", None)):
        r = server.request(method, path, json=body, headers=bearer(admin))
        assert_detail(r, 403, "The user doesn't have enough privileges")
    assert server.users_snapshot() == before


@pytest.mark.parametrize("roles", ["admin", [1], ["has space"], ["UPPER"], [""], ["x" * 33],
                                   [f"r{i}" for i in range(17)]])
def test_bad_roles_are_422_and_store_nothing(server, admin_token, roles):
    before = server.users_snapshot()
    r = server.post("/auth/users/create", json={"email": server.fresh_email("b"), "password": PW,
                                                "roles": roles}, headers=bearer(admin_token))
    assert_validation_error(r, "roles")
    assert server.users_snapshot() == before


def test_a_superuser_sets_and_clears_roles(server, admin_token):
    _, vid, _, _ = member(server)
    r = server.post(f"/auth/users/{vid}", json={"roles": ["ops", "admin", "ops"]},
                    headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["roles"] == ["admin", "ops"], r.text
    r = server.post(f"/auth/users/{vid}", json={"roles": []}, headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["roles"] == [], r.text
    assert row(server, vid)["roles"] == ""
