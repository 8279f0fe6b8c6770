"""The command line: serve, migrate, user create, user list, --help, bad arguments."""

import json
import socket
import sqlite3
import time

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
    run_cli(["migrate"], db_path=tmp_db)  # user commands need the database to exist
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
    run_cli(["migrate"], db_path=tmp_db)  # user commands need the database to exist
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
    run_cli(["migrate"], db_path=tmp_db)  # user commands need the database to exist
    p = run_cli(["user", "create", "--email", email, "--password-stdin", "--roles", "ops admin"],
                db_path=tmp_db, input=PW)
    assert p.returncode == 0, p.stderr
    p = run_cli(["user", "list", "--json"], db_path=tmp_db)
    listed = json.loads(p.stdout)
    assert [u["roles"] for u in listed if u["email"] == email] == ["admin ops"]
    srv = server_factory(db_path=tmp_db)
    t = srv.post("/auth/login/oauth", data={"username": email, "password": PW})
    r = srv.get("/auth/users/", headers=bearer(t.json()["access_token"]))
    assert r.status_code == 200, r.text
    p = run_cli(["user", "create", "--email", "x@example.com", "--password-stdin",
                 "--roles", "Bad/Role"], db_path=tmp_db, input=PW)
    assert p.returncode == 2 and "roles" in p.stderr, (p.returncode, p.stderr)


# ---- the database must exist; no development warnings outside serve --------------------------


@pytest.mark.parametrize("args", [
    ["user", "list"], ["user", "list", "--json"], ["user", "show", "--email", "a@example.com"],
    ["user", "delete", "--email", "a@example.com"],
    ["user", "set-active", "--email", "a@example.com", "false"],
    ["user", "unlock", "--email", "a@example.com"], ["keys", "list"],
])
def test_a_missing_sqlite_file_is_an_error_not_a_new_database(tmp_db, args):
    p = run_cli(args, db_path=tmp_db)
    assert p.returncode == 1, (args, p.returncode, p.stderr)
    assert "does not exist" in p.stderr and str(tmp_db) in p.stderr, p.stderr
    assert not tmp_db.exists()  # nothing made


def test_a_missing_file_is_an_error_for_import_and_create_too(tmp_db, tmp_path):
    f = tmp_path / "u.jsonl"
    f.write_text('{"email": "x@example.com"}\n')
    p = run_cli(["user", "import", str(f)], db_path=tmp_db)
    assert p.returncode == 1 and "does not exist" in p.stderr, p.stderr
    p = run_cli(["user", "create", "--email", "x@example.com"], db_path=tmp_db, input=PW + "\n")
    assert p.returncode == 1 and "does not exist" in p.stderr, p.stderr
    assert not tmp_db.exists()


def test_user_commands_print_no_development_warnings(tmp_db):
    p = run_cli(["migrate"], db_path=tmp_db)
    assert p.returncode == 0
    p = run_cli(["user", "create", "--email", "quiet@example.com"], db_path=tmp_db, input=PW + "\n",
                env={"PORTCULLIS_JWT_SECRET": ""})
    assert p.returncode == 0, p.stderr
    for args in (["user", "list"], ["user", "show", "--email", "quiet@example.com"], ["keys", "list"]):
        p = run_cli(args, db_path=tmp_db, env={"PORTCULLIS_JWT_SECRET": ""})
        assert p.returncode == 0, (args, p.stderr)
        assert "warning" not in p.stderr and "development" not in p.stderr, (args, p.stderr)


# ---- user delete / set-active / show / list --json ------------------------------------------


def cli_user(srv, email, **flags):
    args = ["user", "create", "--email", email]
    for k, v in flags.items():
        args += [f"--{k.replace('_', '-')}", v]
    p = run_cli(args, server=srv, input=PW + "\n")
    assert p.returncode == 0, p.stderr
    return p.stdout.split("\t")[0]


def test_user_show_and_list_json_give_every_field(server_factory):
    srv = server_factory()
    uid = cli_user(srv, "shown@example.com", username="shown", full_name="Shown Person",
                   roles="ops admin")
    p = run_cli(["user", "show", "--email", "SHOWN@example.com"], server=srv)
    assert p.returncode == 0, p.stderr
    shown = json.loads(p.stdout)
    assert shown["id"] == uid and shown["email"] == "shown@example.com"
    assert shown["username"] == "shown" and shown["full_name"] == "Shown Person"
    assert shown["roles"] == "admin ops" and shown["is_active"] is True
    assert shown["is_superuser"] is False and shown["totp_enabled"] is False
    assert {"created_at", "updated_at", "password_changed_at", "is_verified"} <= set(shown)
    assert not any("hash" in k for k in shown) and "$argon2" not in p.stdout
    p = run_cli(["user", "show", "--id", uid], server=srv)
    assert json.loads(p.stdout) == shown
    p = run_cli(["user", "list", "--json"], server=srv)
    assert p.returncode == 0, p.stderr
    listed = json.loads(p.stdout)  # one JSON array
    assert isinstance(listed, list) and shown in listed


def test_user_list_json_of_no_users_is_an_empty_array(tmp_db):
    run_cli(["migrate"], db_path=tmp_db)
    p = run_cli(["user", "list", "--json"], db_path=tmp_db)
    assert p.returncode == 0 and json.loads(p.stdout) == []


def test_user_set_active_false_stops_logins_and_true_restores_them(server_factory):
    srv = server_factory()
    uid = cli_user(srv, "toggled@example.com")
    assert srv.login("toggled@example.com", PW)
    p = run_cli(["user", "set-active", "--email", "toggled@example.com", "false"], server=srv)
    assert p.returncode == 0, p.stderr
    assert srv.db("SELECT is_active FROM users WHERE id = ?", (uid,))[0]["is_active"] in (0, False)
    assert srv.login_raw("toggled@example.com", PW).status_code == 400
    p = run_cli(["user", "set-active", "--id", uid, "true"], server=srv)
    assert p.returncode == 0, p.stderr
    assert srv.login("toggled@example.com", PW)


def test_user_delete_removes_the_user_and_its_logins(server_factory):
    srv = server_factory()
    uid = cli_user(srv, "gone@example.com")
    token = srv.login("gone@example.com", PW)
    p = run_cli(["user", "delete", "--email", "gone@example.com"], server=srv)
    assert p.returncode == 0 and uid in p.stdout, p.stderr
    assert srv.db("SELECT id FROM users WHERE id = ?", (uid,)) == []
    assert srv.get("/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    p = run_cli(["user", "delete", "--email", "gone@example.com"], server=srv)
    assert p.returncode == 1 and "no user" in p.stderr


@pytest.mark.parametrize("args,code", [
    (["user", "delete"], 2),
    (["user", "delete", "--name", "x"], 2),
    (["user", "delete", "--email", "nobody@example.com"], 1),
    (["user", "delete", "--id", "not-a-uuid"], 1),
    (["user", "show"], 2),
    (["user", "show", "--email", "nobody@example.com"], 1),
    (["user", "set-active", "--email", "kept@example.com"], 2),
    (["user", "set-active", "--email", "kept@example.com", "perhaps"], 2),
    (["user", "set-active", "--email", "nobody@example.com", "false"], 1),
    (["user", "set-active", "--email", "kept@example.com", "false", "extra"], 2),
])
def test_user_admin_refusals_change_nothing(server_factory, args, code):
    srv = server_factory()
    cli_user(srv, "kept@example.com")
    before = srv.db("SELECT * FROM users")
    p = run_cli(args, server=srv)
    assert p.returncode == code, (args, p.returncode, p.stderr)
    assert p.stderr.strip()
    assert srv.db("SELECT * FROM users") == before


# ---- the password on a terminal: prompted, echo off ---------------------------------------------


def run_on_a_terminal(args, db_path, typed):
    """Runs the CLI with a pseudo-terminal as stdin, stdout and stderr; types
    each of typed after a prompt; returns (exit status, all the terminal showed)."""
    import os
    import pty
    import select
    from conftest import BIN, _base_env, sqlite_url
    env = _base_env()
    env["PORTCULLIS_DATABASE_URL"] = sqlite_url(db_path)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(str(BIN), [str(BIN)] + args, env)
    shown = b""
    pending = list(typed)
    deadline = time.time() + 60
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
            if pending and shown.count(b": ") > len(typed) - len(pending):
                os.write(fd, pending.pop(0).encode() + b"\n")
    done, status = os.waitpid(pid, os.WNOHANG)
    for _ in range(100):  # it closed the terminal: it is exiting
        if done != 0:
            break
        time.sleep(0.05)
        done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:  # still waiting for input: stop it, and fail
        os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        return -1, shown.decode(errors="replace")
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_a_password_typed_at_a_terminal_is_prompted_for_and_not_echoed(tmp_db, server_factory):
    run_cli(["migrate"], db_path=tmp_db)
    code, shown = run_on_a_terminal(["user", "create", "--email", "tty@example.com"], tmp_db,
                                    [PW, PW])
    assert code == 0, shown
    assert "New password: " in shown and "Repeat it: " in shown, shown
    assert PW not in shown  # echo was off
    srv = server_factory(db_path=tmp_db, jwt_secret=JWT_SECRET)
    assert srv.login("tty@example.com", PW)


def test_two_different_passwords_at_a_terminal_are_refused(tmp_db):
    run_cli(["migrate"], db_path=tmp_db)
    code, shown = run_on_a_terminal(["user", "create", "--email", "tty2@example.com"], tmp_db,
                                    [PW, PW + "x"])
    assert code == 2, shown
    assert "differ" in shown and PW not in shown
    assert rows(tmp_db, "SELECT id FROM users") == []


def test_user_set_password_reads_stdin_without_the_flag_and_refuses_an_unknown_user(server_factory):
    srv = server_factory()
    uid = cli_user(srv, "setpw@example.com")
    p = run_cli(["user", "set-password", "--email", "setpw@example.com"], server=srv,
                input="another-Secret-55\n")
    assert p.returncode == 0 and uid in p.stdout, p.stderr
    assert srv.login("setpw@example.com", "another-Secret-55")
    p = run_cli(["user", "set-password", "--email", "nobody@example.com"], server=srv,
                input="another-Secret-55\n")
    assert p.returncode == 1, (p.returncode, p.stderr)
    p = run_cli(["user", "set-password"], server=srv, input="another-Secret-55\n")
    assert p.returncode == 2 and "--email" in p.stderr
