"""portcullis user import: users of fastapi-users, Django and Flask (Werkzeug)
moved in with their password hashes as those tools made them (Debian's
python3-bcrypt, python3-argon2, python3-django, python3-werkzeug), logged in
through the API, rehashed to argon2id at the first login; a second run
imports nothing twice; a malformed line is reported with its number and the
others go in. Runs on SQLite and, with PORTCULLIS_TEST_DATABASE_URL, on
PostgreSQL (the CLI is given the server's database)."""

import hashlib
import json
import uuid

import pytest

from conftest import run_cli

PW = "imported-Secret-7"


def _django_hashers():
    import django
    from django.conf import settings
    if not settings.configured:
        settings.configure(PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
            "django.contrib.auth.hashers.Argon2PasswordHasher",
            "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        ])
        django.setup()
    from django.contrib.auth import hashers
    return hashers


def made_hashes(pw):
    """{name: hash} for pw, each made by its own tool (small costs)."""
    import argon2
    import bcrypt
    import werkzeug.security as ws
    h = _django_hashers()

    class DjangoArgon2(h.Argon2PasswordHasher):
        time_cost, memory_cost, parallelism = 1, 1024, 2

    class DjangoBcryptSha256(h.BCryptSHA256PasswordHasher):
        rounds = 4

    salt = "Zq3x9Kp2Lm8Nw4Rt"
    scrypt = hashlib.scrypt(pw.encode(), salt=salt.encode(), n=1024, r=8, p=1, dklen=64).hex()
    return {
        # fastapi-users: pwdlib/passlib's bcrypt and argon2
        "bcrypt_2b": bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode(),
        "bcrypt_2a": bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4, prefix=b"2a")).decode(),
        "argon2id": argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=2).hash(pw),
        "argon2i": argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1,
                                         type=argon2.Type.I).hash(pw),
        # Django
        "django_pbkdf2": h.PBKDF2PasswordHasher().encode(pw, h.PBKDF2PasswordHasher().salt(),
                                                         iterations=1000),
        "django_argon2": DjangoArgon2().encode(pw, DjangoArgon2().salt()),
        "django_bcrypt_sha256": DjangoBcryptSha256().encode(pw, DjangoBcryptSha256().salt()),
        # Werkzeug (scrypt as Werkzeug 3 writes it: Debian 12's 2.2 has none)
        "werkzeug_pbkdf2": ws.generate_password_hash(pw, method="pbkdf2:sha256:1000"),
        "werkzeug_scrypt": f"scrypt:1024:8:1${salt}${scrypt}",
    }


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def user_row(srv, email):
    rows = srv.db("SELECT * FROM users WHERE email_lc = ?", (email.lower(),))
    return rows[0] if rows else None


def tag():
    return uuid.uuid4().hex[:8]


def test_every_format_logs_in_and_is_rehashed_at_its_first_login(server_factory, tmp_path):
    srv = server_factory()
    t = tag()
    hashes = made_hashes(PW)
    rows = [{"id": str(uuid.uuid4()), "email": f"{name}.{t}@example.com", "hashed_password": h,
             "is_active": True, "is_superuser": False, "is_verified": True}
            for name, h in hashes.items()]
    f = write_jsonl(tmp_path / "users.jsonl", rows)
    p = run_cli(["user", "import", str(f), "--format", "fastapi-users"], server=srv)
    assert p.returncode == 0, p.stderr
    assert f"imported {len(rows)}" in p.stdout, p.stdout
    assert "failed 0" in p.stdout
    assert p.stderr == ""  # no warnings outside serve; no progress bar off a terminal
    for r in rows:
        stored = user_row(srv, r["email"])
        assert stored["id"] == r["id"]  # a UUID id is kept
        assert stored["hashed_password"] == r["hashed_password"]  # kept as it is
        # a wrong password is refused and changes nothing
        assert srv.login_raw(r["email"], PW + "x").status_code == 400
        assert user_row(srv, r["email"])["hashed_password"] == r["hashed_password"]
        token = srv.login(r["email"], PW)
        me = srv.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["id"] == r["id"]
        after = user_row(srv, r["email"])["hashed_password"]
        assert after.startswith("$argon2id$v=19$m=1024,t=1,p=1$"), (r["email"], after)
        assert srv.login(r["email"], PW)  # and the new hash verifies


def test_django_csv_export_imports_with_names_and_unusable_passwords(server_factory, tmp_path):
    srv = server_factory()
    t = tag()
    hashes = made_hashes(PW)
    f = tmp_path / "auth_user.csv"
    f.write_text(
        "id,password,last_login,is_superuser,username,first_name,last_name,email,is_staff,"
        "is_active,date_joined\n"
        f"1,\"{hashes['django_pbkdf2']}\",,1,ann{t},Ann,\"Smith, Jr.\",ann.{t}@example.com,1,1,"
        "2020-01-01\n"
        f"2,\"{hashes['django_argon2']}\",,0,bob{t},Bob,,bob.{t}@example.com,0,0,2020-01-02\n"
        f"3,!UnusablePasswordXyz,,0,cy{t},,,cy.{t}@example.com,0,1,2020-01-03\n")
    p = run_cli(["user", "import", str(f), "--format", "django"], server=srv)
    assert p.returncode == 0, p.stderr
    assert "imported 3" in p.stdout, p.stdout
    ann = user_row(srv, f"ann.{t}@example.com")
    assert ann["full_name"] == "Ann Smith, Jr." and ann["username"] == f"ann{t}"
    assert ann["is_superuser"] in (1, True) and ann["is_active"] in (1, True)
    assert uuid.UUID(ann["id"])  # Django's integer id: a new UUID
    bob = user_row(srv, f"bob.{t}@example.com")
    assert bob["is_active"] in (0, False)
    # inactive: the right password still gets no token (as for any inactive user)
    assert srv.login_raw(bob["email"], PW).status_code == 400
    cy = user_row(srv, f"cy.{t}@example.com")
    assert cy["hashed_password"] in ("", None)  # no password: reset or magic link
    assert srv.login_raw(cy["email"], "!UnusablePasswordXyz").status_code == 400
    assert srv.login(ann["email"], PW)


def test_werkzeug_csv_with_password_hash_column(server_factory, tmp_path):
    srv = server_factory()
    t = tag()
    h = made_hashes(PW)["werkzeug_pbkdf2"]
    f = tmp_path / "flask.csv"
    f.write_text(f"id,email,password_hash\n7,flask.{t}@example.com,{h}\n")
    p = run_cli(["user", "import", str(f), "--format", "werkzeug"], server=srv)
    assert p.returncode == 0 and "imported 1" in p.stdout, (p.stdout, p.stderr)
    assert srv.login(f"flask.{t}@example.com", PW)


def test_a_second_run_imports_nothing_twice(server_factory, tmp_path):
    srv = server_factory()
    t = tag()
    h = made_hashes(PW)["bcrypt_2b"]
    rows = [{"id": str(uuid.uuid4()), "email": f"again{i}.{t}@example.com", "hashed_password": h,
             "username": f"again{i}{t}"} for i in range(5)]
    f = write_jsonl(tmp_path / "u.jsonl", rows)
    p = run_cli(["user", "import", str(f), "--batch", "2"], server=srv)
    assert p.returncode == 0 and "imported 5" in p.stdout, (p.stdout, p.stderr)
    before = srv.db("SELECT id, hashed_password FROM users ORDER BY id")
    p = run_cli(["user", "import", str(f)], server=srv)
    assert p.returncode == 0, p.stderr
    assert "imported 0" in p.stdout and "skipped 5 (already there: id 5," in p.stdout, p.stdout
    # the same people under other ids: their email is there, so skipped too
    for r in rows:
        r["id"] = str(uuid.uuid4())
    write_jsonl(f, rows)
    p = run_cli(["user", "import", str(f)], server=srv)
    assert "imported 0" in p.stdout and "email 5" in p.stdout, p.stdout
    assert srv.db("SELECT id, hashed_password FROM users ORDER BY id") == before


def test_a_malformed_line_is_reported_by_number_and_the_rest_go_in(server_factory, tmp_path):
    srv = server_factory()
    t = tag()
    h = made_hashes(PW)["werkzeug_pbkdf2"]
    good = [json.dumps({"email": f"m{i}.{t}@example.com", "password_hash": h}) for i in range(4)]
    lines = [good[0], good[1], '{"email": "broken@example.com", "password_hash": ', good[2],
             json.dumps({"email": "not-an-address", "password_hash": h}),
             json.dumps({"email": f"m9.{t}@example.com", "is_active": "perhaps"}), good[3]]
    f = tmp_path / "m.jsonl"
    f.write_text("\n".join(lines) + "\n")
    p = run_cli(["user", "import", str(f), "--format", "werkzeug"], server=srv)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "imported 4" in p.stdout and "failed 3" in p.stdout, p.stdout
    assert "line 3:" in p.stderr and "line 5:" in p.stderr and "line 6:" in p.stderr, p.stderr
    assert "line 1:" not in p.stderr and "line 7:" not in p.stderr
    said = {l.split(":")[2].strip(): l for l in p.stderr.splitlines()}
    assert "JSON" in said["line 3"] and "email" in said["line 5"] and "is_active" in said["line 6"]
    assert user_row(srv, "broken@example.com") is None
    assert user_row(srv, f"m9.{t}@example.com") is None
    for i in range(4):
        assert user_row(srv, f"m{i}.{t}@example.com") is not None
    assert srv.login(f"m3.{t}@example.com", PW)


def test_a_csv_row_with_an_unterminated_quote_is_reported(server_factory, tmp_path):
    srv = server_factory()
    t = tag()
    f = tmp_path / "q.csv"
    f.write_text(f"email,hashed_password\n\"q1.{t}@example.com,x\nq2.{t}@example.com,\n")
    p = run_cli(["user", "import", str(f)], server=srv)
    assert p.returncode == 1 and "line 2:" in p.stderr and "quote" in p.stderr, p.stderr
    assert "imported 1" in p.stdout
    assert user_row(srv, f"q2.{t}@example.com") is not None


def test_dry_run_stores_nothing(server_factory, tmp_path):
    srv = server_factory()
    t = tag()
    f = write_jsonl(tmp_path / "d.jsonl", [{"email": f"dry.{t}@example.com",
                                            "hashed_password": made_hashes(PW)["bcrypt_2b"]}])
    p = run_cli(["user", "import", str(f), "--dry-run"], server=srv)
    assert p.returncode == 0 and "would import 1" in p.stdout, (p.stdout, p.stderr)
    assert user_row(srv, f"dry.{t}@example.com") is None


def test_an_unknown_hash_format_imports_but_cannot_log_in(server_factory, tmp_path):
    srv = server_factory()
    t = tag()
    md5 = "md5$salt$" + hashlib.md5(b"salt" + PW.encode()).hexdigest()  # Django's old MD5
    costly = "$2b$31$" + made_hashes(PW)["bcrypt_2b"][7:]  # bcrypt beyond the cost bound
    rows = [{"email": f"md5.{t}@example.com", "hashed_password": md5},
            {"email": f"costly.{t}@example.com", "hashed_password": costly}]
    f = write_jsonl(tmp_path / "x.jsonl", rows)
    p = run_cli(["user", "import", str(f)], server=srv)
    assert p.returncode == 0 and "imported 2" in p.stdout
    assert "unknown hash format 1" in p.stdout, p.stdout
    for r in rows:
        bad = srv.login_raw(r["email"], PW)
        wrong = srv.login_raw(r["email"], "another-password")
        # the same answer as a wrong password
        assert bad.status_code == wrong.status_code == 400
        assert bad.json() == wrong.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}
        assert user_row(srv, r["email"])["hashed_password"] == r["hashed_password"]
    # the audit log says why, the answers never did
    md5_id = user_row(srv, rows[0]["email"])["id"]
    failures = srv.db("SELECT detail FROM audit_log WHERE event = 'login.failure' "
                      "AND user_id = ?", (md5_id,))
    assert len(failures) == 2 and all("unknown_hash_format" in f["detail"] for f in failures)


@pytest.mark.parametrize("args,code,mention", [
    (["user", "import"], 2, "usage"),
    (["user", "import", "f.jsonl", "--format", "mysql"], 2, "mysql"),
    (["user", "import", "f.jsonl", "--batch", "0"], 2, "batch"),
    (["user", "import", "f.jsonl", "--frob"], 2, "frob"),
    (["user", "import", "no-such-file.jsonl"], 1, "no-such-file"),
    (["user", "import", "adir.jsonl"], 1, "not a file"),
])
def test_import_refusals(server_factory, tmp_path, args, code, mention):
    srv = server_factory()
    (tmp_path / "f.jsonl").write_text("")
    (tmp_path / "adir.jsonl").mkdir()
    args = [str(tmp_path / a) if a.endswith(".jsonl") else a for a in args]
    p = run_cli(args, server=srv)
    assert p.returncode == code, (p.returncode, p.stderr)
    assert mention in p.stderr.lower(), p.stderr


def test_a_terminal_gets_a_progress_bar(tmp_path):
    from test_cli import run_on_a_terminal
    db = tmp_path / "p.db"
    assert run_cli(["migrate"], db_path=db).returncode == 0
    f = write_jsonl(tmp_path / "p.jsonl", [{"email": f"p{i}@example.com"} for i in range(1500)])
    code, shown = run_on_a_terminal(["user", "import", str(f)], db, [])
    assert code == 0, shown
    assert "100%" in shown and "1500 imported" in shown and "imported 1500" in shown, shown
