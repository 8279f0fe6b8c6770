"""simplejwt face (seed 002): {simplejwt_prefix}/token, token/refresh,
token/verify, register, getuser, in Django REST framework's shapes."""

import time
import uuid

import jwt
import pytest

from conftest import JWT_SECRET, bearer

P = "/api/auth"
PW = "correct-horse-9"
NO_ACCOUNT = {"detail": "No active account found with the given credentials"}
NOT_VALID = {"detail": "Token is invalid or expired", "code": "token_not_valid"}
REQUIRED = ["This field is required."]


def uname(tag="sj"):
    return f"{tag}{uuid.uuid4().hex[:12]}"


def register(server, username, password=PW, **kw):
    return server.post(P + "/register", json={"username": username, "password": password}, **kw)


def token(server, username, password=PW):
    return server.post(P + "/token", json={"username": username, "password": password})


def pair(server, username, password=PW):
    r = token(server, username, password)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"refresh", "access"}
    return r.json()


def new_user(server):
    name = uname()
    r = register(server, name)
    assert r.status_code == 201, r.text
    return name, r.json()


def refresh(server, tok):
    return server.post(P + "/token/refresh", json={"refresh": tok})


def verify(server, tok):
    return server.post(P + "/token/verify", json={"token": tok})


def getuser(server, tok):
    return server.get(P + "/getuser", headers=bearer(tok))


def claims(tok):
    return jwt.decode(tok, JWT_SECRET, algorithms=["HS256"])


def counts(server):
    return {t: server.db(f"SELECT count(*) AS n FROM {t}")[0]["n"]
            for t in ("users", "refresh_tokens", "refresh_families")}


def db_write(server, sql, params=()):
    server.db(sql, params)


def assert_401(r, body):
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.json() == body
    assert r.headers.get("WWW-Authenticate") == 'Bearer realm="api"'


# ---- register / token ---------------------------------------------------------------


def test_register_makes_a_user_without_email_and_answers_tokens(server):
    name, body = new_user(server)
    assert set(body) == {"refresh", "access"}
    rows = server.db("SELECT * FROM users WHERE username_lc = ?", (name.lower(),))
    assert len(rows) == 1
    assert rows[0]["email"] is None and rows[0]["email_lc"] is None
    assert rows[0]["hashed_password"].startswith("$argon2id$")
    a, r = claims(body["access"]), claims(body["refresh"])
    assert a["token_type"] == "access" and r["token_type"] == "refresh"
    assert a["user_id"] == r["user_id"] == rows[0]["id"]
    # and a login by username
    p = pair(server, name)
    assert claims(p["access"])["user_id"] == rows[0]["id"]


def test_tokens_carry_simplejwt_claims_hs256(server):
    name, _ = new_user(server)
    p = pair(server, name)
    assert jwt.get_unverified_header(p["access"])["alg"] == "HS256"
    for tok, typ in ((p["access"], "access"), (p["refresh"], "refresh")):
        c = claims(tok)
        assert {"token_type", "user_id", "jti", "exp", "iat"} <= set(c), c
        assert c["token_type"] == typ
        assert "aud" not in c and "sub" not in c
        assert isinstance(c["exp"], int) and isinstance(c["iat"], int)
        assert c["iat"] <= time.time() + 5 < c["exp"]
    assert claims(p["refresh"])["exp"] > claims(p["access"])["exp"]
    # the refresh jti is the opaque token: only its hash is stored
    jti = claims(p["refresh"])["jti"]
    assert not server.db("SELECT 1 FROM refresh_tokens WHERE token_hash = ?", (jti,))
    import hashlib
    h = hashlib.sha256(jti.encode()).hexdigest()
    assert server.db("SELECT 1 FROM refresh_tokens WHERE token_hash = ?", (h,))


def test_token_accepts_a_form_body(server):
    name, _ = new_user(server)
    r = server.post(P + "/token", data={"username": name, "password": PW})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"refresh", "access"}


def test_token_wrong_password_unknown_user_401(server):
    name, _ = new_user(server)
    assert_401(token(server, name, "wrong-password-1"), NO_ACCOUNT)
    assert_401(token(server, uname("nobody"), PW), NO_ACCOUNT)


def test_token_missing_fields_names_only_those(server):
    r = server.post(P + "/token", json={"username": "x"})
    assert r.status_code == 400 and r.json() == {"password": REQUIRED}
    r = server.post(P + "/token", json={"password": "x"})
    assert r.status_code == 400 and r.json() == {"username": REQUIRED}
    r = server.post(P + "/token", json={})
    assert r.status_code == 400 and r.json() == {"username": REQUIRED, "password": REQUIRED}
    r = server.post(P + "/token", data={"username": "x"})
    assert r.status_code == 400 and r.json() == {"password": REQUIRED}
    r = server.post(P + "/token")
    assert r.status_code == 400 and r.json() == {"username": REQUIRED, "password": REQUIRED}


def test_token_by_email_same_user_across_faces(server):
    email = server.fresh_email("sj")
    u = server.register_ok(email, PW)
    fu = jwt.decode(server.login(email, PW), JWT_SECRET, algorithms=["HS256"],
                    audience="fastapi-users:auth")["sub"]
    r = server.post("/auth/login/oauth", data={"username": email, "password": PW})
    assert r.status_code == 200, r.text
    ma = jwt.decode(r.json()["access_token"], JWT_SECRET, algorithms=["HS256"],
                    audience="fastapi-users:auth")["sub"]
    sj = claims(pair(server, email)["access"])["user_id"]
    assert u["id"] == fu == ma == sj
    # getuser names a user without username by its email
    r = getuser(server, pair(server, email.upper())["access"])
    assert r.status_code == 200 and r.json() == {"username": email}


def test_totp_user_gets_401_at_token(server):
    name, _ = new_user(server)
    db_write(server, "UPDATE users SET totp_enabled = 1 WHERE username_lc = ?", (name.lower(),))
    before = counts(server)
    assert_401(token(server, name), NO_ACCOUNT)
    assert counts(server) == before


def test_register_existing_username_is_409(server):
    name, _ = new_user(server)
    before = counts(server)
    r = register(server, name.upper())
    assert r.status_code == 409 and r.json() == {"detail": "User already exists"}
    assert counts(server) == before


def test_register_missing_fields_and_policy(server):
    before = counts(server)
    r = server.post(P + "/register", json={"password": PW})
    assert r.status_code == 400 and r.json() == {"username": REQUIRED}
    r = server.post(P + "/register", json={})
    assert r.status_code == 400 and r.json() == {"username": REQUIRED, "password": REQUIRED}
    r = register(server, uname(), "short")
    assert r.status_code == 400 and list(r.json()) == ["password"], r.text
    assert isinstance(r.json()["password"][0], str)
    r = register(server, "bad name!")
    assert r.status_code == 400 and list(r.json()) == ["username"], r.text
    assert counts(server) == before


def test_register_with_verification_required_issues_no_tokens(server_factory):
    srv = server_factory(requires_verification=True)
    r = register(srv, uname())
    assert r.status_code == 201 and r.json() == {}
    assert srv.db("SELECT count(*) AS n FROM refresh_tokens")[0]["n"] == 0


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/token", "/register", "/token/refresh", "/token/verify"])
def test_malformed_json_is_drf_parse_error(server, path):
    before = counts(server)
    r = server.post(P + path, data=b'{"username": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert list(r.json()) == ["detail"]
    assert r.json()["detail"].startswith("JSON parse error - ")
    assert counts(server) == before


def test_wrong_types_blank_and_null(server):
    before = counts(server)
    r = server.post(P + "/register", json={"username": 5, "password": ["x"]})
    assert r.status_code == 400
    assert r.json() == {"username": ["Not a valid string."], "password": ["Not a valid string."]}
    r = server.post(P + "/token", json={"username": "", "password": None})
    assert r.status_code == 400
    assert r.json() == {"username": ["This field may not be blank."],
                        "password": ["This field may not be null."]}
    r = server.post(P + "/token", json=["username", "password"])
    assert r.status_code == 400
    assert r.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    r = server.post(P + "/token", json=5)
    assert r.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}
    r = server.post(P + "/token", data='{"username": "a", "password": "b"}',
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert r.json() == {"detail": 'Unsupported media type "text/plain" in request.'}
    r = server.post(P + "/token", data="[1]", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = server.post(P + "/token", data="{}", headers={"Content-Type": b"text/\xff".decode("latin-1")})
    assert r.status_code == 415 and list(r.json()) == ["detail"]
    r = server.post(P + "/token/refresh", json={"refresh": {"a": 1}})
    assert r.status_code == 400 and r.json() == {"refresh": ["Not a valid string."]}
    assert counts(server) == before


def test_oversized_body_is_413(server):
    before = counts(server)
    r = server.post(P + "/register", json={"username": "x" * 200000, "password": PW})
    assert r.status_code == 413
    assert list(r.json()) == ["detail"]
    assert counts(server) == before


def test_router_errors_in_drf_words(server):
    r = server.get(P + "/token")
    assert r.status_code == 405 and r.json() == {"detail": 'Method "GET" not allowed.'}
    r = server.get(P + "/nothing-here")
    assert r.status_code == 404 and r.json() == {"detail": "Not found."}


# ---- refresh ---------------------------------------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_family(server):
    name, _ = new_user(server)
    p1 = pair(server, name)
    r = refresh(server, p1["refresh"])
    assert r.status_code == 200, r.text
    p2 = r.json()
    assert set(p2) == {"refresh", "access"}
    assert claims(p2["refresh"])["user_id"] == claims(p1["refresh"])["user_id"]
    assert p2["refresh"] != p1["refresh"]
    assert getuser(server, p2["access"]).json() == {"username": name}
    # reuse of the spent token: 401, and the family is gone
    assert_401(refresh(server, p1["refresh"]), NOT_VALID)
    assert_401(refresh(server, p2["refresh"]), NOT_VALID)
    for a in (p1["access"], p2["access"]):
        r = getuser(server, a)
        assert r.status_code == 401 and r.json()["code"] == "token_not_valid"
    fam = claims(p2["access"])["fam"]
    assert server.db("SELECT revoked_at FROM refresh_families WHERE family_id = ?",
                     (fam,))[0]["revoked_at"]


def test_refresh_refuses_an_access_token_and_garbage(server):
    name, _ = new_user(server)
    p = pair(server, name)
    before = counts(server)
    assert_401(refresh(server, p["access"]), NOT_VALID)
    assert_401(refresh(server, "garbage"), NOT_VALID)
    forged = jwt.encode({**claims(p["refresh"]), "user_id": str(uuid.uuid4())}, "other-key",
                        algorithm="HS256")
    assert_401(refresh(server, forged), NOT_VALID)
    assert counts(server) == before
    r = server.post(P + "/token/refresh", json={})
    assert r.status_code == 400 and r.json() == {"refresh": REQUIRED}
    # the refresh token is still good afterwards
    assert refresh(server, p["refresh"]).status_code == 200


def test_refresh_route_with_token_is_a_verify(server):
    name, _ = new_user(server)
    p = pair(server, name)
    r = server.post(P + "/token/refresh", json={"token": p["access"]})
    assert r.status_code == 200 and r.json() == {}
    assert_401(server.post(P + "/token/refresh", json={"token": "nope"}), NOT_VALID)


# ---- verify -------------------------------------------------------------------------------


def test_verify_access_refresh_garbage_spent(server):
    name, _ = new_user(server)
    p = pair(server, name)
    for tok in (p["access"], p["refresh"]):
        r = verify(server, tok)
        assert r.status_code == 200 and r.json() == {}
    assert_401(verify(server, "garbage"), NOT_VALID)
    assert refresh(server, p["refresh"]).status_code == 200
    assert_401(verify(server, p["refresh"]), NOT_VALID)  # spent
    r = server.post(P + "/token/verify", json={})
    assert r.status_code == 400 and r.json() == {"token": REQUIRED}
    r = server.post(P + "/token/verify", data={"token": p["access"]})
    assert r.status_code == 200


def test_verify_and_getuser_refuse_an_expired_token(server_factory):
    srv = server_factory(lifetime_seconds=1)
    name, body = new_user(srv)
    time.sleep(2.2)
    assert_401(verify(srv, body["access"]), NOT_VALID)
    assert getuser(srv, body["access"]).status_code == 401
    assert verify(srv, body["refresh"]).status_code == 200


# ---- getuser and other faces' tokens --------------------------------------------------


def test_getuser(server):
    name, body = new_user(server)
    r = getuser(server, body["access"])
    assert r.status_code == 200 and r.json() == {"username": name}
    r = server.get(P + "/getuser")
    assert_401(r, {"detail": "Authentication credentials were not provided."})


def test_getuser_refuses_a_refresh_token(server):
    name, body = new_user(server)
    r = getuser(server, body["refresh"])
    assert r.status_code == 401
    assert r.json()["code"] == "token_not_valid"
    assert r.json()["detail"] == "Given token not valid for any token type"
    assert r.headers.get("WWW-Authenticate") == 'Bearer realm="api"'


def test_getuser_refuses_a_fastapi_users_token(server):
    email = server.fresh_email("sj")
    server.register_ok(email, PW)
    before = counts(server)
    r = getuser(server, server.login(email, PW))
    assert r.status_code == 401 and r.json()["code"] == "token_not_valid"
    assert counts(server) == before


def test_simplejwt_access_refused_by_other_faces(server):
    email = server.fresh_email("sj")
    server.register_ok(email, PW)
    a = pair(server, email)["access"]
    assert server.get("/users/me", headers=bearer(a)).status_code == 401
    assert server.get("/auth/users/me", headers=bearer(a)).status_code in (401, 403)
    # and a forged one with a sub claim but no aud is still refused
    c = claims(a)
    forged = jwt.encode({**c, "sub": c["user_id"]}, JWT_SECRET, algorithm="HS256")
    assert server.get("/users/me", headers=bearer(forged)).status_code == 401


def test_routers_can_be_switched_off(server_factory):
    srv = server_factory(simplejwt_register_router=False, simplejwt_prefix="/sj")
    r = srv.post("/sj/register", json={"username": uname(), "password": PW})
    assert r.status_code == 404 and r.json() == {"detail": "Not found."}
    assert srv.post("/sj/token", json={}).status_code == 400
    assert srv.post(P + "/token", json={}).status_code == 404


def test_a_colliding_prefix_refuses_to_start(server_factory):
    srv = server_factory(start=False, auth_prefix="/api/auth")
    srv.settings["port"] = 1
    import subprocess
    from conftest import BIN
    out = subprocess.run([str(BIN), "routes"] + [a for a in srv.argv()[2:]
                                                 if not a.startswith("--port")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "POST /api/auth/register" in out.stderr


def test_an_access_typed_token_is_no_refresh_token_even_with_a_live_jti(server):
    name, _ = new_user(server)
    p = pair(server, name)
    c = claims(p["refresh"])
    typed_access = jwt.encode({**c, "token_type": "access"}, JWT_SECRET, algorithm="HS256")
    before = counts(server)
    assert_401(refresh(server, typed_access), NOT_VALID)
    assert counts(server) == before
    assert refresh(server, p["refresh"]).status_code == 200


def test_a_user_without_email_reads_as_null_elsewhere(server):
    name, _ = new_user(server)
    r = server.post("/auth/login", data={"username": name, "password": PW})
    assert r.status_code == 200, r.text
    fu = r.json()["access_token"]
    r = server.get("/users/me", headers=bearer(fu))
    assert r.status_code == 200 and r.json()["email"] is None
    assert r.json()["username"] == name
    r = server.post("/auth/login/oauth", data={"username": name, "password": PW})
    assert r.status_code == 200, r.text
    r = server.get("/auth/users/me", headers=bearer(r.json()["access_token"]))
    assert r.status_code == 200 and r.json()["email"] is None
    # and no mail can be asked for it (there is no address to find it by)
    before = server.db("SELECT count(*) AS n FROM mail_outbox")[0]["n"]
    server.post("/auth/forgot-password", json={"email": name + "@example.com"})
    assert server.db("SELECT count(*) AS n FROM mail_outbox")[0]["n"] == before


def test_totp_label_of_a_user_without_email_is_the_username(server):
    name, _ = new_user(server)
    r = server.post("/auth/login/oauth", data={"username": name, "password": PW})
    r = server.post("/auth/login/new-totp", headers=bearer(r.json()["access_token"]))
    assert r.status_code == 200, r.text
    assert f":{name}?secret=" in r.json()["uri"]


@pytest.mark.parametrize("raw", [b'{"username": \xff}', b'{"username": tru\xff', b'\xff\xfe'])
def test_malformed_json_with_bytes_that_are_no_utf8(server, raw):
    r = server.post(P + "/token", data=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("JSON parse error")


HOSTILE = [
    b'{"username": "a", "password":',
    b'{"username": "a" "password": "x"}',
    b"{'username': 'a', 'password': 'b'}",
    b'{"username": "a", "password": "b",}',
    b'{"username": "a", "username": "b", "password": "c"}',
    b'{"username": "a\\u0000b", "password": "c"}',
    b'{"username": {"$gt": ""}, "password": {"$gt": ""}}',
    b'{"username": 1e999, "password": 99999999999999999999999}',
    b"[" * 5000 + b"]" * 5000,
    b'{"refresh": "' + b"A" * 5000 + b'", "token": 1}',
    b"null",
    b"\x00\x01\x02",
]


@pytest.mark.parametrize("path", ["/token", "/register", "/token/refresh", "/token/verify"])
@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_bodies_are_drf_4xx_and_store_nothing(server, path, raw):
    before = counts(server)
    r = server.post(P + path, data=raw, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    assert isinstance(body, dict) and body
    for k, v in body.items():
        assert isinstance(v, (str, list)), body
        if isinstance(v, list):
            assert all(isinstance(m, str) for m in v), body
    assert counts(server) == before
    assert server.alive()


def test_cli_lists_a_user_without_email(server_factory):
    import json
    from conftest import run_cli
    srv = server_factory()
    name, _ = new_user(srv)
    p = run_cli(["user", "list", "--json"], server=srv)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)  # one JSON array
    mine = [r for r in rows if r.get("username") == name]
    assert len(mine) == 1 and mine[0]["email"] is None
    p = run_cli(["user", "list"], server=srv)
    assert p.returncode == 0 and f"\t{name}\t" in p.stdout
