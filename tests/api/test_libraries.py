"""The shared libraries loaded when first needed (issue 15, item 4): the server
does not link libpq nor libcurl; the store opens libpq at the first postgres://
store, the core opens libcurl at the first outbound request, SMTP mail or mail
link (at start-up when smtp_url, webhook_url or an OAuth provider is set). A
server on SQLite with none of these never maps them, nor their dependencies.

What is mapped is read from /proc/PID/maps of the real server. The error path
is met for real too: in a user and mount namespace of its own (unshare -rm),
the library's file is replaced for that process alone by /dev/null (it cannot
be loaded) or by another library (a function is missing).
"""

import os
import subprocess

import pytest

from conftest import (BIN, JWT_SECRET, PG_BASE_URL, Server, free_port, sanitizer_problems,
                      sqlite_url)

LAZY = ("libpq.so", "libcurl.so")
# what only libpq and libcurl bring in (gnutls, p11-kit come with libmicrohttpd)
CHAIN = ("libgssapi_krb5.so", "libkrb5.so", "libldap", "liblber", "libsasl2.so",
         "libnghttp2.so", "librtmp.so", "libssh2.so", "libpsl.so")
WEBHOOK_SECRET = "webhook-secret-0123456789"


def mapped(pid):
    """The file names of every file mapped into process pid."""
    names = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].startswith("/"):
                names.add(os.path.basename(parts[5].strip()))
    return names


def loaded(names, prefixes):
    return sorted(n for n in names if n.startswith(prefixes))


def use(srv, n=3):
    """Registration, login and /users/me, as a client does."""
    for _ in range(n):
        u, _pw, token = srv.new_user()
        r = srv.me(token)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == u["id"]


def test_a_server_on_sqlite_without_outbound_http_maps_neither_libpq_nor_libcurl(
        server_factory, tmp_path):
    srv = server_factory(db_path=tmp_path / "lazy.db")
    use(srv)
    assert srv.get("/readyz").status_code == 200
    names = mapped(srv.proc.pid)
    assert loaded(names, ("libsqlite3.so",)), sorted(names)  # the maps are read
    assert loaded(names, LAZY + CHAIN) == []


def test_a_server_that_posts_webhooks_loads_libcurl_at_start_up(server_factory, tmp_path):
    srv = server_factory(db_path=tmp_path / "hooks.db", webhook_url="http://127.0.0.1:9/hook",
                         webhook_secret=WEBHOOK_SECRET)
    names = mapped(srv.proc.pid)
    assert loaded(names, ("libcurl.so",)), sorted(names)
    assert loaded(names, ("libpq.so",)) == []


@pytest.mark.skipif(not PG_BASE_URL, reason="PostgreSQL: make test's second run")
def test_a_server_on_postgresql_maps_libpq_and_not_libcurl(server_factory):
    srv = server_factory()
    assert srv.pg_url
    use(srv)
    names = mapped(srv.proc.pid)
    assert loaded(names, ("libpq.so",)), sorted(names)
    assert loaded(names, ("libcurl.so",)) == []


# ---- a library that cannot be loaded -------------------------------------------------------


def _unshare_works():
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_unshare = pytest.mark.skipif(not _unshare_works(),
                                   reason="no unprivileged user namespaces (unshare -rm)")


def lib_file(soname):
    """The file the dynamic loader opens for soname (ldconfig's cache)."""
    out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.split(" ")[0] == soname:
            return os.path.realpath(path.strip())
    pytest.skip(f"{soname} not in ldconfig's cache")


def hiding(soname, instead="/dev/null"):
    """argv prefix: runs the rest with soname's file replaced by instead."""
    return ["unshare", "-rm", "sh", "-c", 'mount --bind "$0" "$1" && shift && exec "$@"',
            instead, lib_file(soname)]


def run_hidden(prefix, args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    e.update(env or {})
    try:
        p = subprocess.run(prefix + [str(BIN)] + args, capture_output=True, text=True, env=e,
                           timeout=20)
    except subprocess.TimeoutExpired as t:
        pytest.fail(f"still running after 20 s (the error was not met): {t.stderr!r:.4000}",
                    pytrace=False)
    assert not sanitizer_problems(p.stderr), p.stderr[-8000:]
    return p


class HiddenLibServer(Server):
    def __init__(self, prefix, *args, **kwargs):
        self.prefix = prefix
        super().__init__(*args, **kwargs)

    def argv(self):
        return self.prefix + super().argv()


@needs_unshare
def test_a_postgres_store_without_libpq_is_a_clean_start_up_error(tmp_path):
    url = "postgres://portcullis:pw-not-logged@127.0.0.1:1/portcullis"
    p = run_hidden(hiding("libpq.so.5"),
                   ["serve", "--database-url", url, "--jwt-secret", JWT_SECRET,
                    "--host=127.0.0.1", f"--port={free_port()}"])
    assert p.returncode == 1, (p.returncode, p.stderr)  # an exit, not a signal
    assert "PostgreSQL needs libpq: cannot load libpq.so.5:" in p.stderr, p.stderr
    assert "file too short" in p.stderr, p.stderr  # dlerror()'s words
    assert p.stderr.count("libpq unavailable") == 1, p.stderr  # logged once
    assert "pw-not-logged" not in p.stderr


@needs_unshare
def test_a_libpq_lacking_a_function_is_a_clean_error_of_the_cli(tmp_path):
    prefix = hiding("libpq.so.5", instead=lib_file("libsqlite3.so.0"))
    p = run_hidden(prefix, ["migrate"],
                   env={"PORTCULLIS_DATABASE_URL": "postgres://u@127.0.0.1:1/db"})
    assert 0 < p.returncode < 128, (p.returncode, p.stderr)  # an exit, not a signal
    assert "libpq.so.5 has no function PQ" in p.stderr, p.stderr
    assert "undefined symbol" in p.stderr, p.stderr
    # the SQLite store needs no libpq, under the same namespace
    db = tmp_path / "cli.db"
    p = run_hidden(prefix, ["migrate"], env={"PORTCULLIS_DATABASE_URL": sqlite_url(db)})
    assert p.returncode == 0, p.stderr
    assert db.exists()


@needs_unshare
def test_a_server_set_to_post_webhooks_without_libcurl_refuses_to_start(tmp_path):
    p = run_hidden(hiding("libcurl.so.4"),
                   ["serve", "--database-url", sqlite_url(tmp_path / "w.db"),
                    "--jwt-secret", JWT_SECRET, "--webhook-url", "http://127.0.0.1:9/hook",
                    "--webhook-secret", WEBHOOK_SECRET,
                    "--host=127.0.0.1", f"--port={free_port()}"])
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "webhook_url is set, and libcurl could not be loaded" in p.stderr, p.stderr
    assert "cannot load libcurl.so.4:" in p.stderr and "file too short" in p.stderr, p.stderr


@needs_unshare
def test_a_mail_link_without_libcurl_fails_that_request_and_nothing_else(tmp_path):
    srv = HiddenLibServer(hiding("libcurl.so.4"), tmp_path / "srv",
                          db_path=tmp_path / "nocurl.db",
                          settings={"reset_url": "https://app.example/reset"})
    srv.start()
    try:
        use(srv, n=1)  # no libcurl needed
        u = srv.register_ok()
        for _ in range(2):
            r = srv.post("/auth/forgot-password", json={"email": u["email"]})
            assert r.status_code == 500, r.text
        assert srv.db("SELECT COUNT(*) AS n FROM mail_outbox")[0]["n"] == 0
        assert srv.db("SELECT COUNT(*) AS n FROM one_time_tokens")[0]["n"] == 0
        assert srv.get("/healthz").status_code == 200
        use(srv, n=1)
        assert loaded(mapped(srv.proc.pid), LAZY) == []
    finally:
        srv.stop()
    err = srv.stderr_text()
    assert err.count("libcurl unavailable") == 1, err[-4000:]  # logged once
    assert "cannot load libcurl.so.4:" in err, err[-4000:]
