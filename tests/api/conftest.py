"""
Black-box API test harness for portcullis.

Starts the real server binary ($PORTCULLIS_BIN, default build/asan/portcullis
under the repository root) on a free 127.0.0.1 port with a throw-away SQLite
database, talks to it over real sockets (requests, raw sockets), and reads the
database directly (sqlite3) to assert stored state.

PostgreSQL: with PORTCULLIS_TEST_DATABASE_URL set to a postgres:// URL (`make
test` sets it to its throwaway cluster, scripts/with-postgres), every server
started without an explicit db_path gets a fresh schema of that database
(named to libpq by the URL's options=-csearch_path=...), and srv.db() reads
it through psycopg2. Tests about SQLite's own files keep SQLite (db_path).

On teardown each server gets SIGTERM; the test fails when the process exits
non-zero or its stderr holds a sanitizer report (the binary runs under
ASan+UBSan in `make test`).

Fixtures:
  server          session-scoped default server (most tests share it)
  server_factory  function-scoped factory: server_factory(**settings, env=..., config_file=...)
  admin_token     bearer token of the session server's bootstrap superuser
  tmp_db          a fresh database path (for CLI tests)
  oidc_provider_factory  function-scoped: oidc_provider_factory(redirect_uri=..., id_token_alg=...)
                  starts npm's oidc-provider (tests/api/oidc_provider.py) on a free port;
                  each one started is stopped at teardown

Helpers importable by the test modules (`from conftest import ...`):
  bearer(token), assert_detail(resp, status, detail), assert_validation_error(resp, *fields),
  assert_fastapi_error(resp, statuses), decode_token(token, secret, ...),
  run_cli(args, ...), SANITIZER_MARKERS.
"""

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]


def _bin_path():
    p = os.environ.get("PORTCULLIS_BIN", "build/asan/portcullis")
    p = Path(p)
    if not p.is_absolute():
        p = REPO_ROOT / p
    return p


BIN = _bin_path()

JWT_SECRET = "portcullis-test-secret-0123456789abcdefghijklmno"  # 48 chars
assert len(JWT_SECRET) == 48
AUDIENCE = "fastapi-users:auth"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-123"

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

START_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0

# Cheap hashing: tests are about behaviour, not argon2's cost.
CHEAP_ARGON2 = {"argon2_memory_kib": 1024, "argon2_iterations": 1}
# The rate limits and the account lockout (on by default) are off for tests
# that are about something else: a suite logs in from 127.0.0.1 far more
# often than a person. test_rate_limits.py sets them on.
NO_LIMITS = {"rate_limit_login_ip": 0, "rate_limit_mail_address": 0, "rate_limit_mail_ip": 0,
             "rate_limit_register_ip": 0, "lockout_threshold": 0, "max_connections_per_ip": 0}


def _base_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def _flag(name):
    return "--" + name.replace("_", "-")


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PG_BASE_URL = os.environ.get("PORTCULLIS_TEST_DATABASE_URL", "")
if not PG_BASE_URL.startswith("postgres"):
    PG_BASE_URL = ""


def pg_fresh_url():
    """A new empty schema of the test PostgreSQL database, as a URL."""
    import psycopg2
    schema = "pc_api_" + uuid.uuid4().hex[:16]
    conn = psycopg2.connect(PG_BASE_URL)
    try:
        conn.autocommit = True
        conn.cursor().execute(f"CREATE SCHEMA {schema}")
    finally:
        conn.close()
    sep = "&" if "?" in PG_BASE_URL else "?"
    return f"{PG_BASE_URL}{sep}options=-csearch_path%3D{schema}"


def sqlite_url(path):
    path = str(Path(path).resolve())
    assert path.startswith("/")
    return f"sqlite:///{path}"  # four slashes: absolute path


def sanitizer_problems(text):
    return [m for m in SANITIZER_MARKERS if m in text]


def _require_bin():
    if not BIN.exists():
        pytest.fail(f"server binary {BIN} does not exist (build it with `make asan`)", pytrace=False)


class Server:
    """One running portcullis process. Settings are passed as --flags by
    default; env holds extra PORTCULLIS_* (or any) variables."""

    def __init__(self, workdir, settings=None, env=None, config_file=None, extra_args=(),
                 db_path=None, with_defaults=True, pg_url=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = Path(db_path) if db_path else self.workdir / "portcullis.db"
        # pg_url: another server's database (instances sharing one PostgreSQL)
        self.pg_url = pg_url or (pg_fresh_url() if PG_BASE_URL and not db_path and with_defaults
                                 else None)
        self.settings = {}
        if with_defaults:
            self.settings.update({
                "database_url": self.pg_url or sqlite_url(self.db_path),
                "jwt_secret": JWT_SECRET,
                "cookie_secure": False,
            })
            self.settings.update(CHEAP_ARGON2)
            self.settings.update(NO_LIMITS)
        self.settings.update(settings or {})
        self.env = dict(env or {})
        self.config_file = config_file
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.starts = 0
        self.http = requests.Session()
        # Never keep cookies between requests: tests send them explicitly.
        import http.cookiejar
        self.http.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    # ---- life cycle -------------------------------------------------------

    @property
    def jwt_secret(self):
        return self.settings.get("jwt_secret", self.env.get("PORTCULLIS_JWT_SECRET"))

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def argv(self):
        args = [str(BIN), "serve"]
        if self.config_file:
            args += ["--config", str(self.config_file)]
        for k, v in self.settings.items():
            if v is None:
                continue
            args.append(f"{_flag(k)}={_value(v)}")
        return args + self.extra_args

    def start(self):
        _require_bin()
        last_err = ""
        for _attempt in range(3):
            self.port = free_port()
            self.starts += 1
            n = self.starts
            self.stderr_path = self.workdir / f"stderr.{n}.log"
            self.stdout_path = self.workdir / f"stdout.{n}.log"
            env = _base_env()
            env.update({k: _value(v) for k, v in self.env.items()})
            argv = self.argv()
            argv = [a for a in argv if not a.startswith("--port=") and not a.startswith("--host=")]
            argv += ["--host=127.0.0.1", f"--port={self.port}"]
            self._errf = open(self.stderr_path, "wb")
            self._outf = open(self.stdout_path, "wb")
            self.proc = subprocess.Popen(argv, stdout=self._outf, stderr=self._errf,
                                         stdin=subprocess.DEVNULL, env=env, cwd=self.workdir)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    r = requests.get(self.base + "/healthz", timeout=1)
                    if r.status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                self._close_files()
                pytest.fail(f"server did not answer /healthz within {START_TIMEOUT}s:\n"
                            f"{self.stderr_text()[-4000:]}", pytrace=False)
            self._close_files()
            last_err = self.stderr_text()
            if "in use" not in last_err.lower():
                break
        pytest.fail(f"server exited at start-up with code {self.proc.returncode}: "
                    f"{' '.join(argv)}\n{last_err[-4000:]}", pytrace=False)

    def _close_files(self):
        for f in (getattr(self, "_errf", None), getattr(self, "_outf", None)):
            if f and not f.closed:
                f.close()

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, check=True):
        """SIGTERM, wait, and (check=True) fail on a non-zero exit or a
        sanitizer report. Returns the exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self._close_files()
                if check:
                    pytest.fail(f"server did not exit within {STOP_TIMEOUT}s of SIGTERM", pytrace=False)
        self._close_files()
        rc = proc.returncode
        if check:
            err = self.stderr_text()
            bad = sanitizer_problems(err)
            if rc != 0 or bad:
                pytest.fail(f"server exit code {rc}, sanitizer markers {bad}:\n{err[-8000:]}",
                            pytrace=False)
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        r = requests.get(self.base + "/healthz", timeout=5)
        return r.status_code == 200

    # ---- HTTP --------------------------------------------------------------

    def url(self, path):
        return self.base + path

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        return self.http.request(method, self.base + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def raw(self, data, timeout=30, send_chunks=None):
        """Sends raw bytes on a fresh connection and reads until the server
        closes. Returns (status or None, headers dict (lower-case names), body
        bytes, raw response bytes)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            try:
                s.sendall(data)
                for chunk in send_chunks or ():
                    s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            buf = b""
            while True:
                try:
                    d = s.recv(65536)
                except ConnectionResetError:
                    break
                if not d:
                    break
                buf += d
                if _complete_response(buf):
                    break
        finally:
            s.close()
        return parse_raw_response(buf)

    # ---- users -------------------------------------------------------------

    def fresh_email(self, tag="u"):
        return f"{tag}{uuid.uuid4().hex[:16]}@example.com"

    def register(self, email, password, **extra):
        body = {"email": email, "password": password}
        body.update(extra)
        return self.post("/auth/register", json=body)

    def register_ok(self, email=None, password="correct-horse-9", **extra):
        email = email or self.fresh_email()
        r = self.register(email, password, **extra)
        assert r.status_code == 201, (r.status_code, r.text)
        return r.json()

    def login_raw(self, username, password, path="/auth/login"):
        return self.post(path, data={"username": username, "password": password})

    def login(self, username, password):
        r = self.login_raw(username, password)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert body["token_type"] == "bearer"
        return body["access_token"]

    def cookie_login(self, username, password):
        r = self.login_raw(username, password, path="/auth/cookie/login")
        assert r.status_code == 204, (r.status_code, r.text)
        return r

    def new_user(self, password="correct-horse-9", **extra):
        """Registers a fresh user and logs in; returns (user json, password, token)."""
        u = self.register_ok(password=password, **extra)
        return u, password, self.login(u["email"], password)

    def me(self, token):
        return self.get("/users/me", headers=bearer(token))

    # ---- database ------------------------------------------------------------

    @property
    def database_url(self):
        return self.pg_url or sqlite_url(self.db_path)

    def sqlite_only(self, why="about SQLite's own files"):
        if self.pg_url:
            pytest.skip(why)

    def db(self, sql, params=()):
        """Runs sql ("?" parameters) on the server's database; the rows as
        dicts ([] for a statement that returns none); committed."""
        if self.pg_url:
            import psycopg2
            import psycopg2.extras
            conn = psycopg2.connect(self.pg_url)
            try:
                conn.autocommit = True
                cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
                cur.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
                return [dict(r) for r in cur.fetchall()] if cur.description else []
            finally:
                conn.close()
        conn = sqlite3.connect(str(self.db_path), timeout=15)
        conn.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in conn.execute(sql, params).fetchall()]
            conn.commit()
            return rows
        finally:
            conn.close()

    def table_count(self, name):
        """1 when the server's database holds table name, else 0."""
        if self.pg_url:
            return self.db("SELECT count(*) AS n FROM information_schema.tables "
                           "WHERE table_schema = current_schema() AND table_name = ?",
                           (name,))[0]["n"]
        return self.db("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = ?", (name,))[0]["n"]

    def user_row(self, email=None, id=None):
        if id is not None:
            rows = self.db("SELECT * FROM users WHERE id = ?", (id,))
        else:
            rows = self.db("SELECT * FROM users WHERE email_lc = ?", (email.lower(),))
        assert len(rows) <= 1
        return rows[0] if rows else None

    def users_snapshot(self):
        return self.db("SELECT * FROM users ORDER BY id")


def _complete_response(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip()
    cl = headers.get(b"content-length")
    if cl is not None:
        try:
            return len(body) >= int(cl)
        except ValueError:
            return False
    return False


def parse_raw_response(buf):
    if not buf:
        return None, {}, b"", buf
    head, _sep, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = None
    parts = lines[0].split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    if "content-length" in headers:
        try:
            body = body[:int(headers["content-length"])]
        except ValueError:
            pass
    return status, headers, body, buf


# ---- helpers for the test modules -----------------------------------------------


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def cookie_header(value, name="fastapiusersauth"):
    return {"Cookie": f"{name}={value}"}


def decode_token(token, secret=JWT_SECRET, audience=AUDIENCE, algorithms=("HS256",)):
    return jwt.decode(token, secret, algorithms=list(algorithms), audience=audience)


def assert_detail(resp, status, detail):
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    assert resp.json() == {"detail": detail}, resp.text


def assert_validation_error(resp, *fields, where="body"):
    """FastAPI's 422: {"detail": [{"loc": [...], "msg": str, "type": str}, ...]}.
    Every field given must be named by one entry's loc[-1] (or loc == [where, field])."""
    assert resp.status_code == 422, (resp.status_code, resp.text)
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"detail"}, body
    detail = body["detail"]
    assert isinstance(detail, list) and detail, body
    for e in detail:
        assert isinstance(e, dict), body
        assert isinstance(e.get("loc"), list) and e["loc"], body
        assert isinstance(e.get("msg"), str) and e["msg"], body
        assert isinstance(e.get("type"), str) and e["type"], body
        assert e["loc"][0] == where, body
    locs = [e["loc"] for e in detail]
    for f in fields:
        assert [where, f] in locs, (f, body)
    return detail


def assert_fastapi_error(resp_or_status, statuses, body=None):
    """A 4xx error in the FastAPI shape: 422 -> the validation list; other
    codes -> {"detail": <str or object>}. Accepts a requests.Response or
    (status, body bytes)."""
    if isinstance(resp_or_status, requests.Response):
        status, raw = resp_or_status.status_code, resp_or_status.content
    else:
        status, raw = resp_or_status, body
    assert status in statuses, (status, raw[:500] if raw else raw)
    data = json.loads(raw)
    assert isinstance(data, dict) and "detail" in data, data
    if status == 422:
        assert isinstance(data["detail"], list) and data["detail"], data
        for e in data["detail"]:
            assert {"loc", "msg", "type"} <= set(e), data
    else:
        assert isinstance(data["detail"], (str, dict)), data
    return data


def sha256_hex(s):
    return hashlib.sha256(s.encode()).hexdigest()


def set_cookie_parts(resp, name="fastapiusersauth"):
    """Parses the Set-Cookie header for `name`: (value, {attr_lower: value or True})."""
    raw_headers = resp.raw.headers.getlist("Set-Cookie") if hasattr(resp.raw.headers, "getlist") \
        else [resp.headers.get("Set-Cookie", "")]
    for h in raw_headers:
        parts = [p.strip() for p in h.split(";")]
        k, _, v = parts[0].partition("=")
        if k != name:
            continue
        attrs = {}
        for p in parts[1:]:
            ak, eq, av = p.partition("=")
            attrs[ak.strip().lower()] = av.strip() if eq else True
        return v, attrs
    raise AssertionError(f"no Set-Cookie for {name}: {raw_headers}")


def run_cli(args, db_path=None, env=None, input=None, timeout=60, check_sanitizers=True,
            server=None):
    """Runs `portcullis <args>`; returns CompletedProcess (text). The database
    (db_path's, or server's: SQLite or PostgreSQL) and cheap argon2 are given
    through the environment."""
    _require_bin()
    e = _base_env()
    if server is not None:
        e["PORTCULLIS_DATABASE_URL"] = server.database_url
        db_path = server.db_path
    elif db_path is not None:
        e["PORTCULLIS_DATABASE_URL"] = sqlite_url(db_path)
    e["PORTCULLIS_ARGON2_MEMORY_KIB"] = "1024"
    e["PORTCULLIS_ARGON2_ITERATIONS"] = "1"
    e.update(env or {})
    p = subprocess.run([str(BIN)] + list(args), input=input, capture_output=True, text=True,
                       env=e, timeout=timeout, cwd=str(Path(db_path).parent) if db_path else None)
    if check_sanitizers:
        bad = sanitizer_problems(p.stderr)
        assert not bad, f"sanitizer report from {args}: {bad}\n{p.stderr[-8000:]}"
    return p


# ---- fixtures -------------------------------------------------------------------


SESSION_SETTINGS = {
    "bootstrap_admin_email": ADMIN_EMAIL,
    "bootstrap_admin_password": ADMIN_PASSWORD,
    "max_body_bytes": 131072,
}


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("server"), settings=SESSION_SETTINGS)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(tmp_path):
    started = []

    def make(start=True, **kw):
        n = len(started)
        settings = kw.pop("settings", {})
        known = ("env", "config_file", "extra_args", "db_path", "with_defaults", "pg_url")
        for k in list(kw):
            if k not in known:
                settings[k] = kw.pop(k)
        srv = Server(tmp_path / f"srv{n}", settings=settings, **kw)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    failures = []
    for srv in started:
        try:
            srv.stop()
        except pytest.fail.Exception as e:
            failures.append(str(e))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


@pytest.fixture(scope="session")
def admin_token(server):
    return server.login(ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture
def tmp_db(tmp_path):
    return tmp_path / "cli.db"


@pytest.fixture
def oidc_provider_factory():
    from oidc_provider import OidcProvider
    started = []

    def make(**kwargs):
        p = OidcProvider(**kwargs)
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()
