"""Forward auth (issue 14, item 3): GET /auth/forward for nginx auth_request,
Traefik ForwardAuth and Caddy forward_auth. Driven directly and through a real
Debian nginx started here on a free port, in front of a tiny upstream
(http.server) that records the headers it receives."""

import contextlib
import http.server
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, bearer, cookie_header, free_port

FWD = "/auth/forward"


def db_write(srv, sql, params=()):
    srv.db(sql, params)


def user_headers(r):
    # an empty header (no roles) may be dropped on the way: read it as ""
    return {k: r.headers.get(k, "") for k in ("X-Auth-User-Id", "X-Auth-Email", "X-Auth-Roles",
                                          "X-Auth-Verified", "X-Auth-Superuser")}


# ---- the endpoint itself ------------------------------------------------------------


def test_a_valid_bearer_token_hands_over_the_user(server):
    u, pw, tok = server.new_user()
    r = server.get(FWD, headers=bearer(tok))
    assert r.status_code == 200, r.text
    assert user_headers(r) == {"X-Auth-User-Id": u["id"], "X-Auth-Email": u["email"],
                               "X-Auth-Roles": "", "X-Auth-Verified": "false",
                               "X-Auth-Superuser": "false"}
    assert r.headers["Cache-Control"] == "no-store"


def test_a_session_cookie_hands_over_the_user(server):
    u = server.register_ok()
    r = server.cookie_login(u["email"], "correct-horse-9")
    cookie = r.cookies["fastapiusersauth"]
    r = server.get(FWD, headers=cookie_header(cookie))
    assert r.status_code == 200, r.text
    assert r.headers["X-Auth-User-Id"] == u["id"]


def test_roles_are_handed_over_comma_separated(server, admin_token):
    u, pw, tok = server.new_user()
    db_write(server, "UPDATE users SET roles = 'editor ops' WHERE id = ?", (u["id"],))
    r = server.get(FWD, headers=bearer(tok))
    assert r.status_code == 200
    assert r.headers["X-Auth-Roles"] == "editor,ops"


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer not-a-jwt"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Cookie": "fastapiusersauth=forged-session-token"},
])
def test_no_or_a_bad_credential_is_401(server, headers):
    r = server.get(FWD, headers=headers)
    assert r.status_code == 401
    assert "X-Auth-User-Id" not in r.headers
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_logged_out_or_deactivated_user_is_401(server):
    u, pw, tok = server.new_user()
    assert server.post("/auth/logout", headers=bearer(tok)).status_code == 204
    assert server.get(FWD, headers=bearer(tok)).status_code == 401
    u, pw, tok = server.new_user()
    db_write(server, "UPDATE users SET is_active = 0 WHERE id = ?", (u["id"],))
    time.sleep(1.1)  # past the credential cache's time to live (a hand edit moves no generation)
    assert server.get(FWD, headers=bearer(tok)).status_code == 401


def test_requirements_by_query(server, admin_token):
    u, pw, tok = server.new_user()
    assert server.get(FWD + "?require=verified", headers=bearer(tok)).status_code == 403
    assert server.get(FWD + "?require=superuser", headers=bearer(tok)).status_code == 403
    db_write(server, "UPDATE users SET is_superuser = 1 WHERE id = ?", (u["id"],))
    time.sleep(1.1)  # past the credential cache (a hand edit moves no write generation)
    assert server.get(FWD + "?require=superuser", headers=bearer(tok)).status_code == 200
    r = server.get(FWD + "?require=verified,superuser", headers=bearer(tok))
    assert r.status_code == 403, r.text  # a superuser, not verified
    assert r.json() == {"detail": "REQUIREMENT_NOT_MET"}
    assert "X-Auth-User-Id" not in r.headers
    db_write(server, "UPDATE users SET is_verified = 1 WHERE id = ?", (u["id"],))
    time.sleep(1.1)
    r = server.get(FWD + "?require=verified,superuser", headers=bearer(tok))
    assert r.status_code == 200, r.text
    assert r.headers["X-Auth-Superuser"] == "true" and r.headers["X-Auth-Verified"] == "true"
    for bad in ("admin", "verified,,x", "VERIFIED", "verified;superuser"):
        r = server.get(FWD, params={"require": bad}, headers=bearer(admin_token))
        assert r.status_code == 400, bad
        assert r.json() == {"detail": "UNKNOWN_REQUIREMENT"}


def test_requirements_by_configuration(server_factory):
    srv = server_factory(forward_auth_require_verified=True)
    u, pw, tok = srv.new_user()
    r = srv.get(FWD, headers=bearer(tok))
    assert r.status_code == 403
    assert r.json() == {"detail": "REQUIREMENT_NOT_MET"}
    db_write(srv, "UPDATE users SET is_verified = 1 WHERE id = ?", (u["id"],))
    time.sleep(1.1)
    assert srv.get(FWD, headers=bearer(tok)).status_code == 200


GOOD_URIS = ["/", "/app/page?x=1&y=%2Fz", "/a/b/../c", "https://app.example.com/x",
             "http://app.example.com", "/%E2%9C%93", "/a//b/./c/"]
BAD_URIS = [
    "", "relative/path", "/a b", "/a\tb", "/%zz", "/%2", "/%00", "/x%0d%0aSet-Cookie:%20a=b",
    "/%2e%2e/%2e%2e/etc/passwd", "/../admin", "/a/../../admin", "/a%2Fb",
    "/a#frag", "/a\\b", "/\x7f", "https:///x", "https://user@evil.example/x",
    "https://h%2fst/x", "ftp://app.example.com/x", "//evil.example/x/../../..",
    "/" + "a" * 9000, "/caf\u00e9",
]


@pytest.mark.parametrize("uri", GOOD_URIS)
def test_wellformed_forwarded_uris_pass(server, uri):
    u, pw, tok = server.new_user()
    for h in ("X-Forwarded-Uri", "X-Original-URL", "X-Original-URI"):
        r = server.get(FWD, headers={**bearer(tok), h: uri, "X-Forwarded-Method": "GET"})
        assert r.status_code == 200, (h, uri, r.text)


@pytest.mark.parametrize("uri", BAD_URIS)
def test_malformed_forwarded_uris_fail_closed(server, uri):
    """Authelia CVE-2021-32637: a URI the endpoint cannot parse must never pass."""
    u, pw, tok = server.new_user()
    raw = uri.encode("utf-8")
    for h in ("X-Forwarded-Uri", "X-Original-URL", "X-Original-URI"):
        resp = server.raw(b"GET " + FWD.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                          b"Authorization: Bearer " + tok.encode() + b"\r\n" +
                          h.encode() + b": " + raw + b"\r\nConnection: close\r\n\r\n")
        status, headers, body, _ = resp
        assert status is not None and 400 <= status < 500, (h, uri, status)
        assert "x-auth-user-id" not in headers
    assert server.alive()


@pytest.mark.parametrize("method", ["", "get", "G ET", "GET\x01"])
def test_a_malformed_forwarded_method_fails_closed(server, method):
    u, pw, tok = server.new_user()
    status, headers, body, _ = server.raw(
        b"GET " + FWD.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
        tok.encode() + b"\r\nX-Forwarded-Method: " + method.encode() +
        b"\r\nConnection: close\r\n\r\n")
    assert status is not None and 400 <= status < 500, status
    assert "x-auth-user-id" not in headers


def test_mount_is_configurable_and_switchable(server_factory):
    srv = server_factory(forward_auth_prefix="/edge")
    u, pw, tok = srv.new_user()
    assert srv.get("/edge/forward", headers=bearer(tok)).status_code == 200
    assert srv.get(FWD, headers=bearer(tok)).status_code == 404
    srv = server_factory(forward_auth_router=False)
    assert srv.get(FWD, headers=bearer(tok)).status_code == 404


# ---- rules by path --------------------------------------------------------------------

RULES = "/admin=superuser, /billing=verified, /ops/deploy=verified+superuser"


def fwd_to(srv, tok, uri, header="X-Forwarded-Uri"):
    return srv.get(FWD, headers={**bearer(tok), header: uri})


def test_path_rules_apply_after_normalising(server_factory):
    srv = server_factory(forward_auth_rules=RULES)
    u, pw, tok = srv.new_user()
    for uri in ("/", "/app", "/administrator", "/admin-panel", "/billingx", "/ops", "/ops/deployx",
                "https://app.example.com/app?next=/admin"):
        r = fwd_to(srv, tok, uri)
        assert r.status_code == 200, (uri, r.status_code)
        assert r.headers["X-Auth-User-Id"] == u["id"]
    # every spelling of a ruled path meets the rule (better-auth CVE-2025-71399)
    for uri in ("/admin", "/admin/", "/admin/users?x=1", "//admin", "///admin//users",
                "/./admin", "/x/../admin", "/x/%2e%2e/admin", "/%61dmin/panel", "/%61%64%6d%69%6e",
                "https://app.example.com//admin", "http://app.example.com/app/../admin/x",
                "/billing", "/billing/invoices", "/ops/deploy", "/ops//deploy/now"):
        for h in ("X-Forwarded-Uri", "X-Original-URL", "X-Original-URI"):
            r = fwd_to(srv, tok, uri, h)
            assert r.status_code == 403, (uri, h, r.status_code)
            assert r.json() == {"detail": "REQUIREMENT_NOT_MET"}
            assert "X-Auth-User-Id" not in r.headers


def test_path_rules_let_the_right_users_in(server_factory):
    srv = server_factory(forward_auth_rules=RULES)
    u, pw, tok = srv.new_user()
    db_write(srv, "UPDATE users SET is_superuser = 1 WHERE id = ?", (u["id"],))
    time.sleep(1.1)
    assert fwd_to(srv, tok, "//admin/x").status_code == 200
    assert fwd_to(srv, tok, "/billing").status_code == 403      # not verified
    assert fwd_to(srv, tok, "/ops/deploy").status_code == 403   # needs both
    db_write(srv, "UPDATE users SET is_verified = 1 WHERE id = ?", (u["id"],))
    time.sleep(1.1)
    assert fwd_to(srv, tok, "/billing").status_code == 200
    assert fwd_to(srv, tok, "/ops/deploy/x").status_code == 200


def test_with_rules_a_missing_or_ambiguous_path_fails_closed(server_factory):
    srv = server_factory(forward_auth_rules=RULES)
    u, pw, tok = srv.new_user()
    r = srv.get(FWD, headers=bearer(tok))
    assert r.status_code == 400
    assert r.json() == {"detail": "MISSING_FORWARDED_URI"}
    # a client's own X-Forwarded-Uri beside the proxy's X-Original-URI
    r = srv.get(FWD, headers={**bearer(tok), "X-Forwarded-Uri": "/public",
                              "X-Original-URI": "/admin/panel"})
    assert r.status_code == 400
    assert r.json() == {"detail": "MALFORMED_FORWARDED_REQUEST"}
    # the same path spelt twice is one path
    r = srv.get(FWD, headers={**bearer(tok), "X-Forwarded-Uri": "/app",
                              "X-Original-URL": "https://h.example/x/../app"})
    assert r.status_code == 200
    # no rules: a path may be absent
    srv2 = server_factory()
    u2, pw2, tok2 = srv2.new_user()
    assert srv2.get(FWD, headers=bearer(tok2)).status_code == 200


@pytest.mark.parametrize("rules", [
    "/admin/=superuser", "admin=superuser", "/a//b=verified", "/a/../b=verified", "/a/./b=verified",
    "/admin=root", "/admin", "/%61dmin=superuser", "/admin=", "/admin=verified+", "/a b=verified",
    "/admin=superuser,/billing",
])
def test_bad_rules_are_refused(tmp_path, rules):
    from conftest import JWT_SECRET, run_cli
    p = run_cli(["serve", f"--port={free_port()}", f"--forward-auth-rules={rules}"],
                db_path=tmp_path / "x.db", env={"PORTCULLIS_JWT_SECRET": JWT_SECRET}, timeout=20)
    assert p.returncode == 2, (rules, p.stderr)
    assert "forward_auth_rules" in p.stderr


# ---- through a real nginx -------------------------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Recorder.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = b"upstream says hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        self.do_GET()

    def log_message(self, *a):
        pass


NGINX_CONF = """
{user}
worker_processes 1;
error_log {prefix}/error.log info;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream portcullis {{ server 127.0.0.1:{auth_port}; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_request /_portcullis;
            auth_request_set $auth_user_id $upstream_http_x_auth_user_id;
            auth_request_set $auth_email $upstream_http_x_auth_email;
            auth_request_set $auth_roles $upstream_http_x_auth_roles;
            proxy_set_header X-Auth-User-Id $auth_user_id;
            proxy_set_header X-Auth-Email $auth_email;
            proxy_set_header X-Auth-Roles $auth_roles;
            proxy_pass http://127.0.0.1:{upstream_port};
        }}
        location /admin/ {{
            auth_request /_portcullis_superuser;
            auth_request_set $auth_user_id $upstream_http_x_auth_user_id;
            proxy_set_header X-Auth-User-Id $auth_user_id;
            proxy_pass http://127.0.0.1:{upstream_port};
        }}
        location = /_portcullis {{
            internal;
            proxy_pass http://portcullis/auth/forward;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-Method $request_method;
        }}
        location = /_portcullis_superuser {{
            internal;
            proxy_pass http://portcullis/auth/forward?require=superuser;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-Method $request_method;
        }}
    }}
}}
"""


def _nginx_bin():
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        pytest.fail("nginx is not installed: run scripts/bootstrap", pytrace=False)
    return found


@contextlib.contextmanager
def nginx_in_front_of(server, tmp_path):
    """(nginx base URL, upstream request log)."""
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    Recorder.seen = []
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(
        user="user root;" if os.geteuid() == 0 else "", prefix=prefix, port=port,
        auth_port=server.port, upstream_port=upstream.server_address[1]))
    proc = subprocess.Popen([_nginx_bin(), "-p", str(prefix), "-c", str(conf),
                             "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while True:
        try:
            requests.get(base + "/", timeout=1)
            break
        except requests.RequestException:
            if proc.poll() is not None or time.time() > deadline:
                err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None else ""
                pytest.fail(f"nginx did not start: {err}", pytrace=False)
            time.sleep(0.05)
    Recorder.seen = []
    try:
        yield base, Recorder.seen
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        upstream.shutdown()
        upstream.server_close()


@pytest.fixture
def proxied(server, tmp_path):
    with nginx_in_front_of(server, tmp_path) as p:
        yield p


def test_nginx_hands_the_user_to_the_upstream(server, proxied):
    base, seen = proxied
    u, pw, tok = server.new_user()
    db_write(server, "UPDATE users SET roles = 'editor' WHERE id = ?", (u["id"],))
    time.sleep(1.1)
    # a forged identity header from the client is replaced, never passed on
    r = requests.get(base + "/app/page?x=1", headers={**bearer(tok), "X-Auth-User-Id": "forged"},
                     timeout=10)
    assert r.status_code == 200, r.text
    assert r.text == "upstream says hello"
    assert len(seen) == 1
    path, h = seen[0]
    assert path == "/app/page?x=1"
    assert h["x-auth-user-id"] == u["id"]
    assert h["x-auth-email"] == u["email"]
    assert h["x-auth-roles"] == "editor"
    # any method of the main request: the subrequest is a GET without the body
    r = requests.post(base + "/app/form", data={"a": "b"}, headers=bearer(tok), timeout=10)
    assert r.status_code == 200, r.text
    assert seen[-1][0] == "/app/form" and seen[-1][1]["x-auth-user-id"] == u["id"]
    r = requests.post(base + "/app/form", data={"a": "b"}, timeout=10)
    assert r.status_code == 401
    assert len(seen) == 2


def test_nginx_with_a_session_cookie(server, proxied):
    base, seen = proxied
    u = server.register_ok()
    cookie = server.cookie_login(u["email"], "correct-horse-9").cookies["fastapiusersauth"]
    r = requests.get(base + "/dash", headers=cookie_header(cookie), timeout=10)
    assert r.status_code == 200
    assert seen[-1][1]["x-auth-user-id"] == u["id"]


def test_nginx_refuses_without_a_credential_and_never_reaches_upstream(server, proxied):
    base, seen = proxied
    for headers in ({}, {"Authorization": "Bearer nope"}, {"X-Auth-User-Id": "forged"},
                    {"X-Original-URI": "/public"}):
        r = requests.get(base + "/app", headers=headers, timeout=10)
        assert r.status_code == 401, (headers, r.status_code)
    assert seen == []


def test_nginx_superuser_location(server, proxied, admin_token):
    base, seen = proxied
    u, pw, tok = server.new_user()
    assert requests.get(base + "/admin/panel", headers=bearer(tok), timeout=10).status_code == 403
    assert seen == []
    r = requests.get(base + "/admin/panel", headers=bearer(admin_token), timeout=10)
    assert r.status_code == 200
    assert seen[-1][0] == "/admin/panel"


def test_nginx_malformed_uris_never_reach_upstream(server, proxied):
    """What nginx forwards raw in $request_uri is parsed again, and refused."""
    base, seen = proxied
    u, pw, tok = server.new_user()
    import socket
    host, port = base.rsplit("/", 1)[1].split(":")
    for target in (b"/%zz", b"/a/%00/b", b"/..%2f..%2fadmin", b"/caf\xc3\xa9"):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                      tok.encode() + b"\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        assert not data.startswith(b"HTTP/1.1 200"), (target, data[:200])
    assert seen == []
    # and a well-formed one still passes
    assert requests.get(base + "/ok%20fine", headers=bearer(tok), timeout=10).status_code == 200
    assert len(seen) == 1


def test_nginx_with_path_rules(server_factory, tmp_path):
    """The rule for /admin holds for every spelling nginx passes on, and a
    client's own X-Forwarded-Uri cannot point the rule at another path."""
    srv = server_factory(forward_auth_rules="/admin=superuser")
    u, pw, tok = srv.new_user()
    with nginx_in_front_of(srv, tmp_path) as (base, seen):
        assert requests.get(base + "/app", headers=bearer(tok), timeout=10).status_code == 200
        assert len(seen) == 1
        for path in ("/admin", "/admin/x", "//admin/x", "/%61dmin/x", "/x/../admin"):
            r = requests.get(base + path, headers=bearer(tok), timeout=10)
            assert r.status_code == 403, (path, r.status_code)
        r = requests.get(base + "/admin/x", headers={**bearer(tok), "X-Forwarded-Uri": "/app"},
                         timeout=10)
        assert r.status_code != 200 and r.status_code >= 400, r.status_code
        assert len(seen) == 1  # none of these reached the upstream
