"""Configuration: flag > environment (PORTCULLIS_*) > INI (--config) > default,
checked through what the running server does (the exp of an issued token)."""

import time

import jwt

from conftest import (CHEAP_ARGON2, JWT_SECRET, assert_detail, bearer, decode_token, free_port,
                      run_cli, set_cookie_parts, sqlite_url)

PW = "correct-horse-9"


def issued_lifetime(srv):
    u = srv.register_ok(password=PW)
    t0 = time.time()
    token = srv.login(u["email"], PW)
    t1 = time.time()
    exp = decode_token(token, secret=srv.jwt_secret or JWT_SECRET)["exp"]
    return exp, t0, t1


def assert_lifetime(srv, seconds):
    exp, t0, t1 = issued_lifetime(srv)
    assert t0 + seconds - 3 <= exp <= t1 + seconds + 3, (exp - t0, seconds)


def write_ini(path, text):
    path.write_text(text)
    return path


def test_ini_file_sets_lifetime(server_factory, tmp_path):
    ini = write_ini(tmp_path / "p.ini", "lifetime_seconds = 1000\n")
    srv = server_factory(config_file=ini)
    assert_lifetime(srv, 1000)


def test_env_overrides_ini(server_factory, tmp_path):
    ini = write_ini(tmp_path / "p.ini", "[portcullis]\nlifetime_seconds = 1000\n")
    srv = server_factory(config_file=ini, env={"PORTCULLIS_LIFETIME_SECONDS": "2000"})
    assert_lifetime(srv, 2000)


def test_flag_overrides_env_and_ini(server_factory, tmp_path):
    ini = write_ini(tmp_path / "p.ini", "lifetime_seconds = 1000\n")
    srv = server_factory(config_file=ini, env={"PORTCULLIS_LIFETIME_SECONDS": "2000"},
                         lifetime_seconds=3000)
    assert_lifetime(srv, 3000)


def test_ini_alone_can_configure_the_server(server_factory, tmp_path):
    db = tmp_path / "ini.db"
    secret = "ini-secret-" + "0123456789abcdefghijklmnopqrstuvwxyz"  # varied: uniform ones are refused
    ini = write_ini(tmp_path / "full.ini", "\n".join([
        "; portcullis configuration",
        "[server]",
        f"database_url = {sqlite_url(db)}",
        f"jwt_secret = {secret}",
        "cookie_secure = false",
        f"argon2_memory_kib = {CHEAP_ARGON2['argon2_memory_kib']}",
        f"argon2_iterations = {CHEAP_ARGON2['argon2_iterations']}",
        "jwt_audience = ini:aud",
        "",
    ]))
    srv = server_factory(config_file=ini, with_defaults=False, db_path=db)
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    c = jwt.decode(token, secret, algorithms=["HS256"], audience="ini:aud")
    assert c["sub"] == u["id"]
    assert srv.db("SELECT id FROM users WHERE id = ?", (u["id"],))  # the INI's database


def test_environment_alone_can_configure_the_server(server_factory, tmp_path):
    db = tmp_path / "env.db"
    secret = "env-secret-" + "zyxwvutsrqponmlkjihgfedcba9876543210"  # varied: uniform ones are refused
    env = {
        "PORTCULLIS_DATABASE_URL": sqlite_url(db),
        "PORTCULLIS_JWT_SECRET": secret,
        "PORTCULLIS_COOKIE_SECURE": "false",
        "PORTCULLIS_ARGON2_MEMORY_KIB": "1024",
        "PORTCULLIS_ARGON2_ITERATIONS": "1",
        "PORTCULLIS_LIFETIME_SECONDS": "777",
    }
    srv = server_factory(env=env, with_defaults=False, db_path=db)
    u = srv.register_ok(password=PW)
    t0 = time.time()
    token = srv.login(u["email"], PW)
    c = jwt.decode(token, secret, algorithms=["HS256"], audience="fastapi-users:auth")
    assert abs(c["exp"] - (t0 + 777)) <= 5
    assert srv.user_row(id=u["id"]) is not None


def test_prefixes_move_the_routes(server_factory):
    # simplejwt's default prefix is /api/auth: moved out of the way
    srv = server_factory(auth_prefix="/api/auth", users_prefix="/api/users",
                         simplejwt_prefix="/api/jwt")
    email = srv.fresh_email()
    assert_detail(srv.post("/auth/register", json={"email": email, "password": PW}), 404, "Not Found")
    assert srv.user_row(email) is None
    r = srv.post("/api/auth/register", json={"email": email, "password": PW})
    assert r.status_code == 201, r.text
    r = srv.post("/api/auth/login", data={"username": email, "password": PW})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert srv.get("/api/users/me", headers=bearer(token)).status_code == 200
    assert_detail(srv.get("/users/me", headers=bearer(token)), 404, "Not Found")
    assert srv.post("/api/auth/cookie/login", data={"username": email, "password": PW}).status_code == 204
    assert srv.post("/auth/cookie/login", data={"username": email, "password": PW}).status_code == 404


def test_bad_ini_value_refuses_to_start(tmp_path):
    ini = write_ini(tmp_path / "bad.ini", "lifetime_seconds = soon\n")
    p = run_cli(["serve", "--config", str(ini), f"--port={free_port()}"], db_path=tmp_path / "x.db",
                env={"PORTCULLIS_JWT_SECRET": JWT_SECRET}, timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)  # a bad setting is a bad argument
    assert "lifetime_seconds" in p.stderr, p.stderr


def test_missing_config_file_refuses_to_start(tmp_path):
    p = run_cli(["serve", "--config", str(tmp_path / "absent.ini"), f"--port={free_port()}"],
                db_path=tmp_path / "x.db", env={"PORTCULLIS_JWT_SECRET": JWT_SECRET}, timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "absent.ini" in p.stderr, p.stderr


def test_bad_env_value_refuses_to_start(tmp_path):
    p = run_cli(["serve", f"--port={free_port()}"], db_path=tmp_path / "x.db",
                env={"PORTCULLIS_JWT_SECRET": JWT_SECRET, "PORTCULLIS_LIFETIME_SECONDS": "-5"},
                timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "lifetime" in p.stderr.lower(), p.stderr


def test_argon2_settings_are_honoured_and_old_hashes_upgrade_on_login(server_factory, tmp_path):
    db = tmp_path / "rehash.db"
    srv = server_factory(db_path=db)  # argon2 m=1024, t=1
    u = srv.register_ok(password=PW)
    old = srv.user_row(id=u["id"])["hashed_password"]
    assert "$m=1024,t=1," in old, old
    srv.stop()
    srv2 = server_factory(db_path=db, argon2_memory_kib=2048, argon2_iterations=2)
    # a wrong password changes nothing
    assert_detail(srv2.login_raw(u["email"], "wrong-password-1"), 400, "LOGIN_BAD_CREDENTIALS")
    assert srv2.user_row(id=u["id"])["hashed_password"] == old
    # the old hash still verifies, and is replaced by one of the current policy
    srv2.login(u["email"], PW)
    new = srv2.user_row(id=u["id"])["hashed_password"]
    assert new != old and "$m=2048,t=2," in new, new
    srv2.login(u["email"], PW)
    # a newly registered user gets the current policy straight away
    v = srv2.register_ok(password=PW)
    assert "$m=2048,t=2," in srv2.user_row(id=v["id"])["hashed_password"]


def test_without_a_jwt_secret_the_generated_one_is_kept_and_tokens_survive_a_restart(
        server_factory, tmp_path):
    """DESIGN §7: with no jwt_secret, a secret is generated once and kept in
    the database, so a restart on the same file keeps tokens valid."""
    db = tmp_path / "nosecret.db"
    srv = server_factory(db_path=db, jwt_secret=None)
    assert "--jwt-secret" not in " ".join(srv.argv())
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    assert srv.me(token).status_code == 200
    # not signed with the harness's secret: the generated one is in use
    try:
        decode_token(token)
        raise AssertionError("a token of a server without jwt_secret verified with the test secret")
    except jwt.InvalidSignatureError:
        pass
    srv.restart()
    r = srv.me(token)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == u["id"]
    # and a second server on the same file accepts it too
    srv.stop()
    other = server_factory(db_path=db, jwt_secret=None)
    assert other.me(token).status_code == 200


def cookie_of(srv, name):
    u = srv.register_ok(password=PW)
    r = srv.login_raw(u["email"], PW, path="/auth/cookie/login")
    assert r.status_code == 204, r.text
    names = [h.split("=", 1)[0].strip() for h in r.raw.headers.getlist("Set-Cookie")]
    assert names == [name], names
    _value, attrs = set_cookie_parts(r, name=name)
    return attrs


def test_precedence_flag_over_env_over_ini_over_default_for_a_string_and_a_boolean(
        server_factory, tmp_path):
    """README: flag > environment > file > default, for cookie_name (a string)
    and cookie_httponly (a boolean), as a running server's Set-Cookie shows."""
    ini = write_ini(tmp_path / "c.ini", "[cookies]\ncookie_name = ini_sid\ncookie_httponly = false\n")
    env = {"PORTCULLIS_COOKIE_NAME": "env_sid", "PORTCULLIS_COOKIE_HTTPONLY": "true"}
    # default
    attrs = cookie_of(server_factory(), "fastapiusersauth")
    assert attrs.get("httponly") is True, attrs
    # the file over the default
    attrs = cookie_of(server_factory(config_file=ini), "ini_sid")
    assert "httponly" not in attrs, attrs
    # the environment over the file
    attrs = cookie_of(server_factory(config_file=ini, env=env), "env_sid")
    assert attrs.get("httponly") is True, attrs
    # the flag over the environment and the file
    attrs = cookie_of(server_factory(config_file=ini, env=dict(env, PORTCULLIS_COOKIE_HTTPONLY="on"),
                                     cookie_name="flag_sid", cookie_httponly=False), "flag_sid")
    assert "httponly" not in attrs, attrs
    # each level only where it is set: env's name, the flag's boolean
    attrs = cookie_of(server_factory(config_file=ini, env={"PORTCULLIS_COOKIE_NAME": "env_sid"},
                                     cookie_httponly=True), "env_sid")
    assert attrs.get("httponly") is True, attrs
