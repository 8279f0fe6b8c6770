"""Every router mounted where its users want it (issue 10, item 1): each
router of each face has a switch and a path, `portcullis routes` prints the
table, and two routes that would answer the same request stop the start."""

from conftest import assert_detail, bearer, free_port, run_cli, JWT_SECRET

PW = "correct-horse-9"


def test_the_documentation_layout_by_configuration_alone(server_factory):
    """fastapi-users' docs include the JWT router at /auth/jwt and the cookie
    router at /auth/cookie: one setting serves that layout."""
    srv = server_factory(jwt_auth_path="/jwt")
    u = srv.register_ok(password=PW)  # the register router stays at /auth/register
    r = srv.post("/auth/jwt/login", data={"username": u["email"], "password": PW})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert srv.get("/users/me", headers=bearer(token)).json()["id"] == u["id"]
    assert_detail(srv.post("/auth/login", data={"username": u["email"], "password": PW}),
                  404, "Not Found")
    r = srv.post("/auth/cookie/login", data={"username": u["email"], "password": PW})
    assert r.status_code == 204, r.text
    r = srv.post("/auth/jwt/logout", headers=bearer(token))
    assert r.status_code == 204, r.text


def test_a_router_switched_off_is_not_there(server_factory):
    srv = server_factory(register_router=False, myauth_users_router=False)
    email = srv.fresh_email()
    assert_detail(srv.post("/auth/register", json={"email": email, "password": PW}),
                  404, "Not Found")
    assert srv.user_row(email) is None
    # the other routers are unmoved: MyAuth's signup, fastapi-users' login
    r = srv.post("/auth/login/signup", json={"email": email, "password": PW})
    assert r.status_code == 200, r.text
    r = srv.post("/auth/login", data={"username": email, "password": PW})
    assert r.status_code == 200, r.text
    assert_detail(srv.get("/auth/users/me", headers=bearer(r.json()["access_token"])),
                  404, "Not Found")


def test_a_switched_off_router_frees_its_paths_for_another(server_factory):
    """MyAuth's users router off, fastapi-users' users router may take
    /auth/users: no collision, and the routes are fastapi-users'."""
    srv = server_factory(myauth_users_router=False, users_prefix="/auth/users")
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    r = srv.request("PATCH", "/auth/users/me", json={"full_name": "Enid"},
                    headers=bearer(token))
    assert r.status_code == 200 and r.json()["full_name"] == "Enid", r.text


def test_colliding_routes_stop_the_start_naming_both(tmp_path):
    p = run_cli(["serve", f"--port={free_port()}", "--users-prefix=/auth/users"],
                db_path=tmp_path / "x.db", env={"PORTCULLIS_JWT_SECRET": JWT_SECRET}, timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "route collision" in p.stderr, p.stderr
    assert "(fastapi_users users router)" in p.stderr, p.stderr
    assert "(myauth users router)" in p.stderr, p.stderr
    assert not (tmp_path / "x.db").exists() or p.returncode != 0


def test_routes_prints_the_mounted_table(tmp_path):
    p = run_cli(["routes", "--jwt-auth-path=/jwt", "--verify-router=false"],
                db_path=tmp_path / "x.db")
    assert p.returncode == 0, p.stderr
    lines = [l.split() for l in p.stdout.splitlines()]
    assert lines[0] == ["METHOD", "PATH", "FACE", "ROUTER"]
    rows = {(l[0], l[1]): (l[2], " ".join(l[3:])) for l in lines[1:]}
    assert rows[("POST", "/auth/jwt/login")] == ("fastapi_users", "jwt auth")
    assert rows[("POST", "/auth/cookie/login")] == ("fastapi_users", "cookie auth")
    assert rows[("POST", "/auth/register")] == ("fastapi_users", "register")
    assert rows[("GET", "/users/me")] == ("fastapi_users", "users")
    assert rows[("POST", "/auth/login/oauth")] == ("myauth", "login")
    assert rows[("GET", "/auth/users/me")] == ("myauth", "users")
    assert rows[("GET", "/healthz")] == ("native", "health")
    assert ("POST", "/auth/login") not in rows
    assert ("POST", "/auth/verify") not in rows
    assert [l[1] for l in lines[1:]] == sorted(l[1] for l in lines[1:])
    p = run_cli(["routes", "--users-prefix=/auth/users"], db_path=tmp_path / "x.db")
    assert p.returncode == 2 and "route collision" in p.stderr, (p.returncode, p.stderr)


def test_every_face_has_its_switches(server_factory):
    """simplejwt's and user_account's routers switch off like the others."""
    srv = server_factory(user_account_router=False, simplejwt_register_router=False)
    assert srv.post("/user_account/login", json={"username": "x", "pwd": "y"}).status_code == 404
    r = srv.post("/api/auth/register", json={"username": "someone", "password": PW})
    assert r.status_code == 404
    assert srv.db("SELECT count(*) AS n FROM users WHERE username = 'someone'")[0]["n"] == 0
    assert srv.post("/api/auth/token", json={"username": "x", "password": "y"}).status_code == 401
