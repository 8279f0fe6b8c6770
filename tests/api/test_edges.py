"""Standards at the edges (issue 14, item 4): WWW-Authenticate: Bearer on the
401s of bearer routes in every face (error="invalid_token" when a token was
presented and refused), none on cookie-only routes; Cache-Control: no-store
and Pragma: no-cache on every answer that carries a token or sets a cookie."""

import uuid

import pytest

from conftest import bearer

BAD = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

# (face, method, path): routes that require a bearer-capable credential
BEARER_ROUTES = [
    ("fastapi_users", "GET", "/users/me"),
    ("fastapi_users", "GET", "/protected"),
    ("fastapi_users", "POST", "/auth/logout"),
    ("myauth", "GET", "/auth/users/me"),
    ("myauth", "POST", "/auth/login/new-totp"),
    ("simplejwt", "GET", "/api/auth/getuser"),
    ("user_account", "GET", "/user_account/profile_settings"),
    ("forward_auth", "GET", "/auth/forward"),
]


# simplejwt answers as Django REST framework does, with its own realm
DRF = 'Bearer realm="api"'


@pytest.mark.parametrize("face,method,path", BEARER_ROUTES)
def test_401_without_a_token_says_bearer(server, face, method, path):
    r = server.request(method, path)
    assert r.status_code == 401, (face, r.status_code, r.text)
    assert r.headers["WWW-Authenticate"] == (DRF if face == "simplejwt" else "Bearer")


# MyAuth answers a refused token 403 "Could not validate credentials" (seed 001),
# user_account a malformed one 422 "Invalid token" (Flask-JWT-Extended): no 401
@pytest.mark.parametrize("face,method,path",
                         [r for r in BEARER_ROUTES if r[0] not in ("myauth", "user_account")])
def test_401_with_a_refused_token_says_invalid_token(server, face, method, path):
    r = server.request(method, path, headers=bearer(BAD))
    assert r.status_code == 401, (face, r.status_code, r.text)
    want = DRF if face == "simplejwt" else 'Bearer error="invalid_token"'
    assert r.headers["WWW-Authenticate"] == want


def test_an_expired_or_revoked_token_is_an_invalid_token(server):
    u, pw, token = server.new_user()
    assert server.post("/auth/logout", headers=bearer(token)).status_code == 204
    r = server.me(token)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_cookie_only_route_names_no_bearer_scheme(server):
    r = server.post("/auth/cookie/logout")
    assert r.status_code == 401
    assert "WWW-Authenticate" not in r.headers


def test_other_statuses_carry_no_challenge(server):
    u, pw, token = server.new_user()
    r = server.get("/users/00000000-0000-7000-8000-000000000000", headers=bearer(token))
    assert r.status_code == 403
    assert "WWW-Authenticate" not in r.headers
    assert server.me(token).status_code == 200
    assert "WWW-Authenticate" not in server.me(token).headers
    r = server.post("/auth/login", data={"username": u["email"], "password": "wrong-one-1"})
    assert r.status_code == 400
    assert "WWW-Authenticate" not in r.headers


def assert_not_cached(r):
    assert r.headers["Cache-Control"] == "no-store", r.headers
    assert r.headers["Pragma"] == "no-cache", r.headers


def test_token_answers_are_not_cached(server):
    u = server.register_ok()
    r = server.post("/auth/login", data={"username": u["email"], "password": "correct-horse-9"})
    assert r.status_code == 200 and "access_token" in r.json()
    assert_not_cached(r)
    r = server.post("/auth/cookie/login", data={"username": u["email"], "password": "correct-horse-9"})
    assert r.status_code == 204 and "Set-Cookie" in r.headers
    assert_not_cached(r)
    r = server.post("/auth/login/oauth", data={"username": u["email"], "password": "correct-horse-9"})
    assert r.status_code == 200 and "access_token" in r.json(), r.text
    assert_not_cached(r)
    refresh = r.json()["refresh_token"]
    r = server.post("/auth/login/refresh", headers=bearer(refresh))
    assert r.status_code == 200, r.text
    assert_not_cached(r)
    name = f"edge{uuid.uuid4().hex[:10]}"
    r = server.post("/api/auth/register", json={"username": name, "password": "correct-horse-9"})
    assert r.status_code == 201, r.text
    assert_not_cached(r)
    r = server.post("/api/auth/token", json={"username": name, "password": "correct-horse-9"})
    assert r.status_code == 200 and "access" in r.json()
    assert_not_cached(r)
    # and the refusals too
    assert_not_cached(server.me(BAD))
