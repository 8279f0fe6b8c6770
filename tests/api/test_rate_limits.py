"""Issue 13, item 1: rate limits kept in the store, and the account lockout.

Servers here set the limits on (conftest turns them off for other tests).
Every refusal is a 429 with Retry-After in the face's shape; the counters are
rows of rate_limits, so every instance on the database shares them.
"""

import time

import pytest

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, bearer, run_cli

PW = "correct-horse-9"


def limited(server_factory, **settings):
    base = {"rate_limit_login_ip": 0, "rate_limit_mail_address": 0, "rate_limit_mail_ip": 0,
            "rate_limit_register_ip": 0, "lockout_threshold": 0}
    base.update(settings)
    return server_factory(**base)


def retry_after(r):
    assert r.status_code == 429, (r.status_code, r.text)
    v = int(r.headers["Retry-After"])
    assert v >= 1
    return v


def rows(srv, prefix):
    return srv.db("SELECT key, hits, locked_until FROM rate_limits WHERE key LIKE ?",
                  (prefix + "%",))


# ---- logins per client ---------------------------------------------------------------------


def test_logins_per_client_are_limited_on_every_face(server_factory):
    srv = limited(server_factory, rate_limit_login_ip=3)
    u = srv.register_ok(password=PW)
    for _ in range(3):
        assert srv.login_raw(u["email"], "wrong-horse-1").status_code == 400
    r = srv.login_raw(u["email"], PW)
    assert retry_after(r) <= 60
    assert r.json() == {"detail": "LOGIN_TOO_MANY_ATTEMPTS"}
    r = srv.post("/auth/cookie/login", data={"username": u["email"], "password": PW})
    retry_after(r)
    r = srv.post("/auth/login/oauth", data={"username": u["email"], "password": PW})
    retry_after(r)
    assert r.json() == {"detail": "Too many attempts; try again later."}
    r = srv.post("/api/auth/token", json={"username": u["email"], "password": PW})
    retry_after(r)
    assert r.json() == {"detail": "Request was throttled."}
    r = srv.post("/user_account/login", json={"username": u["email"], "pwd": PW})
    retry_after(r)
    assert r.json() == {"msg": "Too many requests"}
    assert [x["key"] for x in rows(srv, "login-ip:")] == ["login-ip:127.0.0.1"]


def test_bad_input_counts_nothing(server_factory):
    srv = limited(server_factory, rate_limit_login_ip=1, rate_limit_mail_ip=1)
    for _ in range(3):
        assert srv.post("/auth/login", data={"username": "x"}).status_code == 422
        assert srv.post("/auth/forgot-password", json={"email": "no-at"}).status_code == 422
    assert srv.db("SELECT count(*) AS n FROM rate_limits")[0]["n"] == 0


def test_forwarded_for_counts_only_behind_a_trusted_proxy(server_factory):
    srv = limited(server_factory, rate_limit_login_ip=2)
    for i in range(2):
        srv.login_raw("a@example.com", "wrong-horse-1")
    # a client cannot escape its limit by naming another address
    r = srv.post("/auth/login", data={"username": "a@example.com", "password": "x" * 8},
                 headers={"X-Forwarded-For": "198.51.100.7"})
    retry_after(r)

    srv = limited(server_factory, rate_limit_login_ip=2, trusted_proxies="127.0.0.1, ::1")

    def login(xff):
        return srv.post("/auth/login", data={"username": "a@example.com",
                                             "password": "wrong-horse-1"},
                        headers={"X-Forwarded-For": xff})

    # IPv6 by its /64, whatever the spelling; the nearest untrusted hop counts
    same = ["2001:db8:1:2::1", "203.0.113.9, 2001:0db8:0001:0002:ffff::9",
            "2001:DB8:1:2:0:0:0:3, 127.0.0.1"]
    assert [login(x).status_code for x in same] == [400, 400, 429]
    assert login("2001:db8:1:3::1").status_code == 400, "another /64"
    assert login("::ffff:192.0.2.1").status_code == 400
    assert login("192.0.2.1").status_code == 400
    assert login("192.0.2.1").status_code == 429, "an IPv4-mapped address is its IPv4"
    keys = sorted(x["key"] for x in rows(srv, "login-ip:"))
    assert keys == ["login-ip:192.0.2.1", "login-ip:2001:db8:1:2::/64",
                    "login-ip:2001:db8:1:3::/64"], keys


# ---- the account lockout ---------------------------------------------------------------------


def test_failed_logins_lock_the_account_with_a_growing_back_off(server_factory):
    srv = limited(server_factory, lockout_threshold=3, lockout_base_seconds=2,
                  lockout_max_seconds=60)
    u = srv.register_ok(password=PW)
    for _ in range(3):
        assert srv.login_raw(u["email"], "wrong-horse-1").status_code == 400
    r = srv.login_raw(u["email"], PW)
    assert retry_after(r) <= 2 and r.json() == {"detail": "LOGIN_TOO_MANY_ATTEMPTS"}
    # the other faces see the same lock (the identifier's)
    r = srv.post("/auth/login/oauth", data={"username": u["email"], "password": PW})
    retry_after(r)
    # an unknown identifier locks alike: a lock says nothing of existence
    for _ in range(3):
        assert srv.login_raw("nobody@example.com", "wrong-horse-1").status_code == 400
    retry_after(srv.login_raw("nobody@example.com", "wrong-horse-1"))
    time.sleep(2.2)
    # one more failure after the lock: locked again, twice as long
    assert srv.login_raw(u["email"], "wrong-horse-1").status_code == 400
    assert retry_after(srv.login_raw(u["email"], PW)) in (3, 4)
    time.sleep(4.2)
    assert srv.login_raw(u["email"], PW).status_code == 200, "a success clears the count"
    assert rows(srv, "lock:" + u["email"].lower()) == []
    assert srv.login_raw(u["email"], "wrong-horse-1").status_code == 400
    assert srv.login_raw(u["email"], PW).status_code == 200


def test_a_superuser_unlocks_by_api_and_cli(server_factory):
    srv = limited(server_factory, lockout_threshold=2, lockout_base_seconds=600,
                  bootstrap_admin_email=ADMIN_EMAIL, bootstrap_admin_password=ADMIN_PASSWORD)
    admin = srv.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    u = srv.register_ok(password=PW)
    user_jwt = srv.login(u["email"], PW)
    for _ in range(2):
        srv.login_raw(u["email"], "wrong-horse-1")
    assert retry_after(srv.login_raw(u["email"], PW)) > 500
    r = srv.post(f"/users/{u['id']}/unlock", headers=bearer(user_jwt))
    assert r.status_code == 403, "a superuser's"
    r = srv.post(f"/users/{u['id']}/unlock", headers=bearer(admin))
    assert r.status_code == 204, r.text
    assert srv.login_raw(u["email"], PW).status_code == 200
    r = srv.post("/users/0190a000-0000-7000-8000-00000000ffff/unlock", headers=bearer(admin))
    assert r.status_code == 404
    for _ in range(2):
        srv.login_raw(u["email"], "wrong-horse-1")
    retry_after(srv.login_raw(u["email"], PW))
    p = run_cli(["user", "unlock", "--email", u["email"]], server=srv)
    assert p.returncode == 0, p.stderr
    assert srv.login_raw(u["email"], PW).status_code == 200


# ---- mail requests ---------------------------------------------------------------------------


def test_mail_requests_are_limited_per_address_and_per_client(server_factory):
    srv = limited(server_factory, rate_limit_mail_address=2, rate_limit_mail_ip=5)
    u = srv.register_ok(password=PW)
    for _ in range(2):
        assert srv.post("/auth/forgot-password", json={"email": u["email"]}).status_code == 202
    r = srv.post("/auth/forgot-password", json={"email": u["email"].upper()})
    assert retry_after(r) > 800 and r.json() == {"detail": "TOO_MANY_REQUESTS"}
    tokens = srv.db("SELECT count(*) AS n FROM one_time_tokens WHERE user_id = ?",
                    (u["id"],))[0]["n"]
    assert tokens == 2, "the refused request made no token (no mail, no voided link)"
    # an unknown address is counted alike
    for _ in range(2):
        srv.post("/auth/forgot-password", json={"email": "ghost@example.com"})
    # the client's own window (5) is spent now
    r = srv.post("/auth/request-verify-token", json={"email": "third@example.com"})
    retry_after(r)
    r = srv.post("/auth/login/recover/fourth@example.com")
    retry_after(r)
    assert r.json() == {"detail": "Too many attempts; try again later."}
    r = srv.post("/user_account/reset_password_request", json={"username": "someone"})
    retry_after(r)
    assert r.json() == {"msg": "Too many requests"}


# ---- registrations -----------------------------------------------------------------------------


def test_registrations_per_client_count_only_those_made(server_factory):
    srv = limited(server_factory, rate_limit_register_ip=2)
    a = srv.register_ok(password=PW)
    # refused ones count nothing: taken address, bad input, weak password
    assert srv.register(a["email"], PW).status_code == 400
    assert srv.register("not-an-email", PW).status_code == 422
    assert srv.register(srv.fresh_email(), "password").status_code == 400
    srv.register_ok(password=PW)
    before = srv.db("SELECT count(*) AS n FROM users")[0]["n"]
    r = srv.register(srv.fresh_email(), PW)
    assert retry_after(r) > 3000 and r.json() == {"detail": "TOO_MANY_REQUESTS"}
    r = srv.post("/auth/login/signup", json={"email": srv.fresh_email(), "password": PW})
    retry_after(r)
    assert r.json() == {"detail": "Too many attempts; try again later."}
    r = srv.post("/api/auth/register", json={"username": "someone_new", "password": PW})
    retry_after(r)
    assert r.json() == {"detail": "Request was throttled."}
    r = srv.post("/user_account/registration", json={
        "username": "someone_else", "full_name": "A B", "email": srv.fresh_email(),
        "phone": None, "contacts": None, "pwd": PW})
    retry_after(r)
    assert r.json() == {"msg": "Too many requests"}
    assert srv.db("SELECT count(*) AS n FROM users")[0]["n"] == before, "nobody was made"
