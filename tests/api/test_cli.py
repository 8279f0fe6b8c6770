"""The command line: serve, migrate, user create, user list, --help, bad arguments."""

import json
import socket
import sqlite3

import pytest

from conftest import JWT_SECRET, bearer, decode_token, free_port, run_cli, sqlite_url

PW = "cli-password-42"
SERVE_TIMEOUT = 20  # a serve that should refuse to start must exit well before this


def tables(db_path):
    conn = sqlite3.connect(str(db_path))
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def rows(db_path, sql, params=()):
    conn = sqlite3.connect(str(db_path))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


# ---- --help ---------------------------------------------------------------------------


@pytest.mark.parametrize("args,expect", [
    (["--help"], ["serve", "migrate", "user"]),
    (["serve", "--help"], ["--jwt-secret", "--database-url", "--lifetime-seconds", "PORTCULLIS_"]),
    (["migrate", "--help"], ["migrate"]),
    (["user", "create", "--help"], ["--email", "--password-stdin", "--superuser"]),
    (["user", "list", "--help"], ["list"]),
])
def test_help_exits_zero_and_touches_nothing(tmp_path, args, expect):
    db = tmp_path / "help.db"
    p = run_cli(args, db_path=db)
    assert p.returncode == 0, (args, p.returncode, p.stderr)
    out = p.stdout + p.stderr
    for word in expect:
        assert word in out, (args, word, out[:2000])
    assert not db.exists(), "--help created the database"
    assert not (tmp_path / "portcullis.db").exists()


# ---- bad arguments ----------------------------------------------------------------------


@pytest.mark.parametrize("args,mention", [
    (["frobnicate"], "frobnicate"),
    (["serve", "--no-such-flag=1"], "no-such-flag"),
    (["serve", "--port=notanumber"], "port"),
    (["serve", "--port=70000"], "port"),
    (["serve", "--lifetime-seconds=0"], "lifetime"),
    (["serve", "--algorithm=PS256"], "algorithm"),
    (["serve", "--cookie-secure=maybe"], "cookie"),
    (["user", "frobnicate"], "frobnicate"),
    (["user", "create", "--password-stdin"], "email"),
    (["migrate", "--bogus"], "bogus"),
])
def test_bad_arguments_exit_non_zero_with_a_message(tmp_db, args, mention):
    p = run_cli(args, db_path=tmp_db, env={"PORTCULLIS_JWT_SECRET": JWT_SECRET},
                input="", timeout=SERVE_TIMEOUT)
    assert p.returncode == 2, (args, p.returncode, p.stdout, p.stderr)  # README: bad arguments
    assert p.stderr.strip(), f"no message on stderr for {args}"
    assert mention.lower() in p.stderr.lower(), (args, p.stderr)


@pytest.mark.parametrize("args", [[], ["serve", "--port"], ["user"], ["user", "create"]])
def test_missing_arguments_exit_2(tmp_db, args):
    p = run_cli(args, db_path=tmp_db, env={"PORTCULLIS_JWT_SECRET": JWT_SECRET}, input="",
                timeout=SERVE_TIMEOUT)
    assert p.returncode == 2, (args, p.returncode, p.stderr)
    assert p.stderr.strip()


# ---- failures: status 1 (README) ----------------------------------------------------------


def missing_dir_db(tmp_path):
    return {"PORTCULLIS_DATABASE_URL": sqlite_url(tmp_path / "no-such-dir" / "x.db")}


@pytest.mark.parametrize("args", [["migrate"], ["user", "list"]])
def test_a_database_that_cannot_be_opened_exits_1(tmp_db, tmp_path, args):
    p = run_cli(args, db_path=tmp_db, env=missing_dir_db(tmp_path))
    assert p.returncode == 1, (args, p.returncode, p.stderr)
    assert "no-such-dir" in p.stderr, p.stderr


def test_a_file_that_is_not_a_database_exits_1(tmp_path):
    bad = tmp_path / "not-a.db"
    bad.write_bytes(b"this is not an SQLite database\n" * 64)
    p = run_cli(["migrate"], db_path=bad)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert p.stderr.strip()


def test_serve_on_a_port_in_use_exits_1(tmp_db):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        p = run_cli(["serve", "--host=127.0.0.1", f"--port={port}"], db_path=tmp_db,
                    env={"PORTCULLIS_JWT_SECRET": JWT_SECRET}, timeout=SERVE_TIMEOUT)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert str(port) in p.stderr, p.stderr


def test_serve_with_a_database_that_cannot_be_opened_exits_1(tmp_db, tmp_path):
    env = dict(missing_dir_db(tmp_path), PORTCULLIS_JWT_SECRET=JWT_SECRET)
    p = run_cli(["serve", f"--port={free_port()}"], db_path=tmp_db, env=env, timeout=SERVE_TIMEOUT)
    assert p.returncode == 1, (p.returncode, p.stderr)


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_serve_refuses_a_short_jwt_secret(tmp_db, secret):
    p = run_cli(["serve", f"--jwt-secret={secret}", f"--port={free_port()}"], db_path=tmp_db,
                timeout=SERVE_TIMEOUT)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "secret" in p.stderr.lower(), p.stderr
    assert "32" in p.stderr, p.stderr
    assert secret not in p.stderr or len(secret) < 6  # do not echo the secret back


def test_serve_refuses_a_short_jwt_secret_from_the_environment(tmp_db):
    p = run_cli(["serve", f"--port={free_port()}"], db_path=tmp_db,
                env={"PORTCULLIS_JWT_SECRET": "y" * 31}, timeout=SERVE_TIMEOUT)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "secret" in p.stderr.lower(), p.stderr


# ---- migrate ------------------------------------------------------------------------------


def test_migrate_creates_the_schema_and_is_idempotent(tmp_db):
    p = run_cli(["migrate"], db_path=tmp_db)
    assert p.returncode == 0, p.stderr
    t = tables(tmp_db)
    assert {"users", "sessions", "revoked_jti", "keys", "schema_version"} <= t, t
    versions = rows(tmp_db, "SELECT * FROM schema_version")
    assert versions
    p = run_cli(["migrate"], db_path=tmp_db)
    assert p.returncode == 0, p.stderr
    assert rows(tmp_db, "SELECT * FROM schema_version") == versions
    assert tables(tmp_db) == t
    assert rows(tmp_db, "SELECT COUNT(*) AS n FROM users")[0]["n"] == 0


# ---- user create / list -------------------------------------------------------------------


def test_user_create_then_login_and_list(tmp_db, server_factory):
    email = "cli.user@example.com"
    p = run_cli(["user", "create", "--email", email, "--password-stdin"], db_path=tmp_db,
                input=PW + "\n")
    assert p.returncode == 0, p.stderr
    assert PW not in p.stdout + p.stderr
    row = rows(tmp_db, "SELECT * FROM users WHERE email_lc = ?", (email,))
    assert len(row) == 1
    row = row[0]
    assert row["is_superuser"] == 0 and row["is_active"] == 1
    assert row["hashed_password"].startswith("$argon2id$") and PW not in row["hashed_password"]

    p = run_cli(["user", "list"], db_path=tmp_db)
    assert p.returncode == 0, p.stderr
    assert email in p.stdout

    # a duplicate is refused and changes nothing
    p = run_cli(["user", "create", "--email", email.upper(), "--password-stdin"], db_path=tmp_db,
                input="other-password-1\n")
    assert p.returncode != 0
    assert p.stderr.strip()
    assert len(rows(tmp_db, "SELECT * FROM users")) == 1

    srv = server_factory(db_path=tmp_db)
    token = srv.login(email, PW)
    claims = decode_token(token)
    assert claims["sub"] == row["id"]
    me = srv.me(token).json()
    assert me["email"] == email and me["is_superuser"] is False
    assert srv.get("/users/" + row["id"], headers=bearer(token)).status_code == 403


def test_user_create_superuser_has_superuser_powers(tmp_db, server_factory):
    email = "root@example.com"
    p = run_cli(["user", "create", "--email", email, "--password-stdin", "--superuser"],
                db_path=tmp_db, input=PW)
    assert p.returncode == 0, p.stderr
    row = rows(tmp_db, "SELECT * FROM users WHERE email_lc = ?", (email,))[0]
    assert row["is_superuser"] == 1 and row["is_active"] == 1
    srv = server_factory(db_path=tmp_db)
    other = srv.register_ok()
    token = srv.login(email, PW)
    r = srv.get("/users/" + other["id"], headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == other["email"]


@pytest.mark.parametrize("email,password", [
    ("not-an-email", PW),
    ("a@b.c'; DROP TABLE users;--", PW),
    ("short@example.com", "short"),
    ("", PW),
])
def test_user_create_refuses_bad_input(tmp_db, email, password):
    run_cli(["migrate"], db_path=tmp_db)
    p = run_cli(["user", "create", "--email", email, "--password-stdin"], db_path=tmp_db,
                input=password + "\n")
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stderr.strip()
    assert rows(tmp_db, "SELECT COUNT(*) AS n FROM users")[0]["n"] == 0


def test_user_create_with_empty_stdin_is_refused(tmp_db):
    p = run_cli(["user", "create", "--email", "nopw@example.com", "--password-stdin"],
                db_path=tmp_db, input="")
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stderr.strip()
    if tmp_db.exists() and "users" in tables(tmp_db):
        assert rows(tmp_db, "SELECT COUNT(*) AS n FROM users")[0]["n"] == 0


def test_user_create_with_roles_makes_an_admin(tmp_db, server_factory):
    email = "seneschal@example.com"
    p = run_cli(["user", "create", "--email", email, "--password-stdin", "--roles", "ops admin"],
                db_path=tmp_db, input=PW)
    assert p.returncode == 0, p.stderr
    p = run_cli(["user", "list", "--json"], db_path=tmp_db)
    listed = [json.loads(l) for l in p.stdout.splitlines()]
    assert [u["roles"] for u in listed if u["email"] == email] == ["admin ops"]
    srv = server_factory(db_path=tmp_db)
    t = srv.post("/auth/login/oauth", data={"username": email, "password": PW})
    r = srv.get("/auth/users/", headers=bearer(t.json()["access_token"]))
    assert r.status_code == 200, r.text
    p = run_cli(["user", "create", "--email", "x@example.com", "--password-stdin",
                 "--roles", "Bad/Role"], db_path=tmp_db, input=PW)
    assert p.returncode == 2 and "roles" in p.stderr, (p.returncode, p.stderr)
