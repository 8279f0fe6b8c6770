"""Slow and hostile clients (item 6 of issue 13): connections per client
address, deadlines for the header block and the body, strict request
parsing, the security headers, the Origin check on cookie sessions, and
mailed links that no Host header can change.

Real server over real sockets; the flood comes from 127.0.0.2 (the loopback
network answers every 127/8 address), the client that must be served from
127.0.0.1.
"""

import resource
import socket
import time

import pytest

from conftest import assert_detail, cookie_header
from test_fastapi_users_mail import SmtpSink

PW = "correct-horse-9"
EVIL = "https://evil.example"
APP = "https://app.example"


def _raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _open_from(srv, src, n, first=b"GET /healthz HTTP/1.1\r\nHost: x\r\n"):
    """n connections from address src, each having sent first (a header
    block left open). Connections the server refused at once are closed."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((src, 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", srv.port))
            s.sendall(first)
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def _open_count(socks, wait=0.5):
    """How many of socks the server still holds open (not closed or reset)."""
    time.sleep(wait)
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            d = s.recv(1, socket.MSG_PEEK)
            if d:
                n += 1
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def _drip(socks):
    for i, s in enumerate(socks):
        try:
            s.setblocking(True)
            s.settimeout(1)
            s.sendall(b"X-Drip-%d: x\r\n" % i)
        except OSError:
            pass


def _timed_health(srv):
    t0 = time.monotonic()
    r = srv.get("/healthz", timeout=10)
    return r, time.monotonic() - t0


# ---- connections per client and deadlines ----------------------------------------------


def test_a_flood_of_dripping_connections_from_one_address_does_not_starve_another(
        server_factory):
    limit = _raise_nofile(4096 + 256)
    n = max(200, min(4000, limit - 256))
    srv = server_factory(max_connections_per_ip=64, header_timeout_seconds=60,
                         body_timeout_seconds=60)
    flood = _open_from(srv, "127.0.0.2", n)
    try:
        _drip(flood)
        held = _open_count(flood)
        # the cap (64 by default, give or take one per pool thread) holds
        assert held <= 64 + 8, (held, n)
        assert held >= 32, held
        times = []
        for _ in range(5):
            _drip(flood)
            r, dt = _timed_health(srv)
            assert r.status_code == 200, r.text
            assert r.json() == {"status": "ok"}
            times.append(dt)
        times.sort()
        print(f"{n} dripping connections from 127.0.0.2 ({held} held); "
              f"/healthz from 127.0.0.1: median {times[2] * 1000:.1f} ms, "
              f"max {times[-1] * 1000:.1f} ms")
        assert times[2] < 0.5, times
    finally:
        for s in flood:
            s.close()
    assert srv.alive()


def test_the_per_address_cap_is_a_setting_and_frees_with_the_connections(server_factory):
    srv = server_factory(max_connections_per_ip=5, header_timeout_seconds=60)
    first = _open_from(srv, "127.0.0.2", 12)
    try:
        held = _open_count(first)
        assert 5 <= held <= 5 + 4, held
        # another address is not counted with it
        assert srv.get("/healthz").status_code == 200
    finally:
        for s in first:
            s.close()
    time.sleep(0.5)
    again = _open_from(srv, "127.0.0.2", 5)
    try:
        assert _open_count(again) == 5
    finally:
        for s in again:
            s.close()


def test_the_cap_is_on_by_default(server_factory):
    srv = server_factory(settings={"max_connections_per_ip": None}, header_timeout_seconds=60)
    socks = _open_from(srv, "127.0.0.2", 100)
    try:
        assert 64 <= _open_count(socks) <= 64 + 8
    finally:
        for s in socks:
            s.close()


def test_a_trusted_proxy_is_not_capped(server_factory):
    srv = server_factory(max_connections_per_ip=5, trusted_proxies="10.0.0.1, 127.0.0.2",
                         header_timeout_seconds=60)
    socks = _open_from(srv, "127.0.0.2", 30)
    try:
        assert _open_count(socks) == 30
    finally:
        for s in socks:
            s.close()


def test_a_cap_of_zero_is_no_cap(server_factory):
    srv = server_factory(max_connections_per_ip=0, header_timeout_seconds=60)
    socks = _open_from(srv, "127.0.0.2", 100)
    try:
        assert _open_count(socks) == 100
    finally:
        for s in socks:
            s.close()


def _closed_after(s, limit):
    """Seconds until the server closed s (reading what it sends), or None."""
    t0 = time.monotonic()
    s.settimeout(0.2)
    got = b""
    while time.monotonic() - t0 < limit:
        try:
            d = s.recv(4096)
            if not d:
                return time.monotonic() - t0, got
            got += d
        except socket.timeout:
            pass
        except OSError:
            return time.monotonic() - t0, got
    return None, got


def test_a_header_block_dripped_past_its_deadline_is_dropped(server_factory):
    srv = server_factory(header_timeout_seconds=2)
    s = _open_from(srv, "127.0.0.1", 1)[0]
    t0 = time.monotonic()
    try:
        closed = None
        for i in range(40):      # a line every 0.25 s: MHD's idle timeout never fires
            try:
                s.sendall(b"X-Drip-%d: x\r\n" % i)
            except OSError:
                closed = time.monotonic() - t0
                break
            _, got = _closed_after_nowait(s)
            if _ is not None:
                closed = time.monotonic() - t0
                assert got == b""  # dropped, not answered
                break
            time.sleep(0.25)
        assert closed is not None and 1.5 < closed < 5, closed
        # served meanwhile and after
        assert srv.get("/healthz").status_code == 200
    finally:
        s.close()


def _closed_after_nowait(s):
    s.setblocking(False)
    try:
        d = s.recv(4096)
        return (0, d) if not d else (None, d)
    except BlockingIOError:
        return None, b""
    except OSError:
        return 0, b""
    finally:
        s.setblocking(True)


def test_a_body_dripped_past_its_deadline_is_dropped_and_nothing_is_stored(server_factory):
    srv = server_factory(body_timeout_seconds=2, header_timeout_seconds=30)
    email = srv.fresh_email("drip")
    body = ('{"email": "%s", "password": "%s"}' % (email, PW)).encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    t0 = time.monotonic()
    closed = None
    try:
        s.sendall(b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        for b in body:
            try:
                s.sendall(bytes([b]))
            except OSError:
                closed = time.monotonic() - t0
                break
            done, got = _closed_after_nowait(s)
            if done is not None:
                closed = time.monotonic() - t0
                assert got == b""
                break
            time.sleep(0.25)
        assert closed is not None and 1.5 < closed < 5, closed
    finally:
        s.close()
    assert srv.user_row(email) is None
    assert srv.get("/healthz").status_code == 200


def test_the_next_request_on_a_kept_alive_connection_has_a_deadline_too(server_factory):
    srv = server_factory(header_timeout_seconds=2)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b'{"status":"ok"}'):
            got += s.recv(4096)
        t0 = time.monotonic()
        closed = None
        for i in range(40):
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\n" if i == 0 else b"X-Drip-%d: x\r\n" % i)
            except OSError:
                closed = time.monotonic() - t0
                break
            done, got = _closed_after_nowait(s)
            if done is not None:
                closed = time.monotonic() - t0
                break
            time.sleep(0.25)
        assert closed is not None and closed < 5, closed
    finally:
        s.close()


def test_keep_alive_requests_each_get_a_fresh_deadline(server_factory):
    srv = server_factory(header_timeout_seconds=2)
    for _ in range(4):                     # one connection (requests.Session), 4 s in all
        assert srv.get("/healthz").status_code == 200
        time.sleep(1)


# ---- strict parsing --------------------------------------------------------------------


def _register_raw(email, extra_headers, body=None):
    body = body if body is not None else ('{"email":"%s","password":"%s"}' % (email, PW)).encode()
    return (b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + extra_headers + b"\r\n" + body)


@pytest.mark.parametrize("case", ["two_lengths", "length_and_chunked", "two_chunked"])
def test_ambiguous_body_framing_is_400_and_nothing_is_stored(server, case):
    email = server.fresh_email("smuggle")
    body = ('{"email":"%s","password":"%s"}' % (email, PW)).encode()
    if case == "two_lengths":
        extra = b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(body), len(body) + 5)
        data = _register_raw(email, extra, body + b"GET /")
    elif case == "length_and_chunked":
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        extra = b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(chunked)
        data = _register_raw(email, extra, chunked)
    else:
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        extra = b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
        data = _register_raw(email, extra, chunked)
    status, headers, rbody, _ = server.raw(data, timeout=10)
    assert status == 400, rbody
    assert rbody == b'{"detail":"Bad Request"}'
    assert headers["connection"].lower() == "close"
    assert server.user_row(email) is None
    assert server.get("/healthz").status_code == 200


def test_the_same_content_length_twice_is_one(server):
    email = server.fresh_email("twice")
    body = ('{"email":"%s","password":"%s"}' % (email, PW)).encode()
    extra = b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(body), len(body))
    status, _, rbody, _ = server.raw(_register_raw(email, extra, body), timeout=10)
    assert status == 201, rbody
    assert server.user_row(email) is not None


@pytest.mark.parametrize("line", [
    b"GET /healthz\x00x HTTP/1.1",
    b"GET /healthz?a=1\x00x HTTP/1.1",
    b"GET /health\x01z HTTP/1.1",
    b"GET /health\x7fz HTTP/1.1",
    b"GE\x00T /healthz HTTP/1.1",
    b"GET /healthz HTTP/1.2",
])
def test_nul_and_control_bytes_in_the_request_line_are_400(server, line):
    status, headers, body, _ = server.raw(line + b"\r\nHost: x\r\n\r\n", timeout=10)
    assert status == 400, (line, body)
    if body.startswith(b"{"):
        assert body == b'{"detail":"Bad Request"}'
    assert server.get("/healthz").status_code == 200


def test_queries_with_empty_fields_still_pass_the_nul_check(server):
    for q in (b"?a=1&b=2", b"?a&&b=", b"?=x&y", b"?a=b=c", b"?"):
        status, _, body, _ = server.raw(b"GET /healthz" + q + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 200, (q, body)


def test_http_1_1_without_host_is_400_and_1_0_without_is_fine(server):
    status, _, body, _ = server.raw(b"GET /healthz HTTP/1.1\r\n\r\n")
    assert status == 400
    assert body == b'{"detail":"Bad Request"}'
    status, _, body, _ = server.raw(b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert status == 400
    status, _, body, _ = server.raw(b"GET /healthz HTTP/1.0\r\n\r\n")
    assert status == 200, body


@pytest.mark.parametrize("size", [14500, 15400, 15700, 17000, 30000, 70000])
def test_an_oversized_header_block_is_431(server, size):
    status, _, body, raw = server.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                                      + b"a" * size + b"\r\n\r\n", timeout=10)
    assert status == 431, raw[:200]
    assert server.get("/healthz").status_code == 200


def test_every_header_block_size_from_13_to_64_kib_gets_an_answer(server):
    """Issue 13, item 6: every oversized header block is answered 431, never
    a silent close. libmicrohttpd 0.9.75 keeps the block in a 16 KiB pool
    per connection; a block that filled it just short (one line, about 15.8 to
    16.2 KiB in all) reached us but left no room for the answer's header
    lines, and the connection closed without one. The 431 for a block over
    our 14 KiB limit is now written to the socket by us. Sizes every 256
    bytes from 13 to 64 KiB, every 16 bytes from 15 to 17 KiB, one long line
    and many short ones: each answered, 431 past the limit."""
    sizes = sorted(set(range(13 * 1024, 64 * 1024 + 1, 256)) |
                   set(range(15 * 1024, 17 * 1024, 16)))
    silent, wrong = [], []
    for shape in ("one line", "many lines"):
        for n in sizes:
            head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            if shape == "one line":
                block = head + b"X-Big: " + b"a" * (n - len(head) - 11)
            else:
                lines = b"".join(b"X-H%05d: %s\r\n" % (i, b"b" * 40) for i in range(n // 50 + 1))
                block = (head + lines)[:n - 5] + b"z"
            data = block + b"\r\n\r\n"
            assert len(data) == n
            status, _, body, raw = server.raw(data, timeout=10)
            if status is None:
                silent.append((shape, n))
            elif n > 14 * 1024 + 64 and status != 431:
                wrong.append((shape, n, status, body[:80]))
            elif n <= 14 * 1024 and status not in ((200,) if shape == "one line" else (200, 431)):
                # (hundreds of short lines fill the pool with their records
                # sooner: libmicrohttpd answers 431 itself below our limit)
                wrong.append((shape, n, status, body[:80]))
            elif status == 431 and shape == "one line" and n <= 16 * 1024 - 128:
                # ours, in the face's shape (near the pool's end, and sooner
                # with many lines, each a record in the pool: MHD's own)
                assert body == b'{"detail":"Request Header Fields Too Large"}', (n, raw[:300])
    assert not silent, f"closed without an answer: {silent[:20]} ({len(silent)} in all)"
    assert not wrong, wrong[:20]
    assert server.get("/healthz").status_code == 200


def test_many_headers_past_the_limit_are_431_in_the_faces_shape(server):
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1850) for i in range(8))
    status, _, body, _ = server.raw(b"GET /users/me HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status == 431
    assert body == b'{"detail":"Request Header Fields Too Large"}'


def test_a_large_but_allowed_header_block_is_served(server):
    status, _, body, _ = server.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                                    + b"a" * 11000 + b"\r\n\r\n")
    assert status == 200, body


# ---- security headers ---------------------------------------------------------------


SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def test_every_answer_carries_the_security_headers(server):
    answers = [
        server.get("/healthz"),
        server.get("/nope"),
        server.delete("/healthz"),
        server.get("/users/me"),
        server.post("/auth/login", data={"username": "x@example.com", "password": "bad-pw-123"}),
        server.post("/auth/register", json={"email": 1}),
    ]
    for r in answers:
        for k, v in SECURITY.items():
            assert r.headers.get(k) == v, (r.request.url, r.status_code, k)
        assert r.headers.get("cache-control") == "no-store", r.request.url
        if r.headers.get("content-type", "").startswith("application/json"):
            assert r.headers["content-security-policy"] == \
                "default-src 'none'; frame-ancestors 'none'"


def test_token_answers_are_not_stored_and_pages_keep_their_own_csp(server):
    email = server.fresh_email("hdr")
    server.register_ok(email, PW)
    r = server.login_raw(email, PW)
    assert r.status_code == 200 and "access_token" in r.json()
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    r = server.post("/auth/cookie/login", data={"username": email, "password": PW})
    assert r.status_code == 204
    assert r.headers["cache-control"] == "no-store"
    r = server.get("/reset-password", params={"token": "A" * 43})
    if r.status_code == 200 and r.headers["content-type"].startswith("text/html"):
        csp = r.headers["content-security-policy"]
        assert csp != "default-src 'none'; frame-ancestors 'none'"
        assert r.headers["x-content-type-options"] == "nosniff"


# ---- the Origin check on cookie sessions ---------------------------------------------------


@pytest.fixture(scope="module")
def osrv(tmp_path_factory):
    from conftest import Server
    s = Server(tmp_path_factory.mktemp("origin"), settings={"cors_origins": APP,
                                                            "cors_credentials": True})
    s.start()
    yield s
    s.stop()


def _cookie_login(srv, email, headers=None):
    return srv.post("/auth/cookie/login", data={"username": email, "password": PW},
                    headers=headers or {})


def _sessions(srv, email):
    uid = srv.user_row(email)["id"]
    return srv.db("SELECT count(*) AS n FROM sessions WHERE user_id = ?", (uid,))[0]["n"]


@pytest.mark.parametrize("hdrs", [
    {"Origin": EVIL},
    {"Origin": "null"},
    {"Referer": EVIL + "/page"},
    {"Origin": "http://127.0.0.1.evil.example"},
])
def test_cookie_login_from_another_origin_is_refused_and_signs_nobody_in(osrv, hdrs):
    email = osrv.fresh_email("csrf")
    osrv.register_ok(email, PW)
    before = _sessions(osrv, email)
    r = _cookie_login(osrv, email, hdrs)
    assert_detail(r, 403, "Forbidden")
    assert "set-cookie" not in r.headers
    assert _sessions(osrv, email) == before


def test_cookie_login_from_trusted_origins_and_from_curl_is_fine(osrv):
    email = osrv.fresh_email("ok")
    osrv.register_ok(email, PW)
    own = f"http://127.0.0.1:{osrv.port}"
    for hdrs in ({"Origin": APP}, {"Origin": own}, {"Referer": APP + "/login?x=1"}, {}):
        r = _cookie_login(osrv, email, hdrs)
        assert r.status_code == 204, (hdrs, r.text)
        assert "set-cookie" in r.headers


def test_cookie_logout_from_another_origin_is_refused_and_the_session_lives(osrv):
    email = osrv.fresh_email("out")
    osrv.register_ok(email, PW)
    cookie = _cookie_login(osrv, email).cookies["fastapiusersauth"]
    r = osrv.post("/auth/cookie/logout", headers={**cookie_header(cookie), "Origin": EVIL})
    assert_detail(r, 403, "Forbidden")
    assert osrv.get("/users/me", headers=cookie_header(cookie)).status_code == 200
    # a sibling subdomain is another origin too
    r = osrv.post("/auth/cookie/logout",
                  headers={**cookie_header(cookie), "Origin": "https://sub.app.example"})
    assert r.status_code == 403
    assert osrv.get("/users/me", headers=cookie_header(cookie)).status_code == 200
    r = osrv.post("/auth/cookie/logout", headers={**cookie_header(cookie), "Origin": APP})
    assert r.status_code == 204, r.text
    assert osrv.get("/users/me", headers=cookie_header(cookie)).status_code == 401


def test_cookie_state_changes_from_another_origin_are_refused(osrv):
    email = osrv.fresh_email("patch")
    osrv.register_ok(email, PW)
    cookie = _cookie_login(osrv, email).cookies["fastapiusersauth"]
    r = osrv.patch("/users/me", json={"email": "evil-" + email},
                   headers={**cookie_header(cookie), "Origin": EVIL})
    assert_detail(r, 403, "Forbidden")
    assert osrv.user_row(email) is not None
    # reads are not state changes; a request without Origin or Referer passes
    r = osrv.get("/users/me", headers={**cookie_header(cookie), "Origin": EVIL})
    assert r.status_code == 200
    r = osrv.patch("/users/me", json={"is_verified": False}, headers=cookie_header(cookie))
    assert r.status_code == 200, r.text


def test_bearer_calls_of_a_face_without_cookies_are_not_origin_checked(server):
    # simplejwt signs in with bearer tokens only: nothing for a page to ride on
    r = server.post("/api/auth/token", json={"username": "nobody@example.com", "password": "x"},
                    headers={"Origin": EVIL})
    assert r.status_code == 401, r.text


def test_trusted_origins_replaces_the_default_list(server_factory):
    srv = server_factory(cors_origins=APP, trusted_origins="https://only.example")
    email = srv.fresh_email("trust")
    srv.register_ok(email, PW)
    assert _cookie_login(srv, email, {"Origin": APP}).status_code == 403
    assert _cookie_login(srv, email, {"Origin": "https://only.example"}).status_code == 204
    assert _cookie_login(srv, email, {"Origin": f"http://127.0.0.1:{srv.port}"}).status_code == 204


def test_a_malformed_trusted_origins_is_refused_at_start(tmp_path):
    from conftest import BIN, JWT_SECRET
    import subprocess
    r = subprocess.run([str(BIN), "serve", "--trusted-origins=https://a.example/path",
                        "--jwt-secret=" + JWT_SECRET], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert r.returncode != 0
    assert "trusted_origins" in r.stderr


# ---- mailed links come from configuration ------------------------------------------------------


@pytest.fixture(scope="module")
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


def test_a_forged_host_or_forwarded_host_does_not_change_the_mailed_link(
        server_factory, sink):
    srv = server_factory(smtp_url=sink.url, reset_url="https://app.example/reset",
                         verify_url="https://app.example/verify",
                         mail_retry_base_seconds=1, mail_retry_max_seconds=1)
    email = srv.fresh_email("host")
    srv.register_ok(email, PW)
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example",
              "X-Forwarded-Proto": "http", "X-Forwarded-Port": "6666"}
    r = srv.post("/auth/forgot-password", json={"email": email}, headers=forged)
    assert r.status_code == 202, r.text
    r = srv.post("/auth/request-verify-token", json={"email": email}, headers=forged)
    assert r.status_code == 202, r.text
    mails = sink.wait(email, 2)
    links = sorted(m.link() for m in mails)
    assert links[0].startswith("https://app.example/reset?token="), links
    assert links[1].startswith("https://app.example/verify?token="), links
    for m in mails:
        assert b"evil.example" not in m.raw
        assert b"6666" not in m.raw
