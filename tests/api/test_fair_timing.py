"""Issue 13, items 1 and 4 (their remainders): the hash queue shared fairly
between clients, and a failed login held to the time of successful ones.

The real server over real sockets; clients told apart by X-Forwarded-For
behind a trusted proxy (127.0.0.1), so that one machine plays many.
"""

import statistics
import threading
import time

from conftest import bearer  # noqa: F401  (the suite's helpers live there)

PW = "correct-horse-9"


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


# ---- the fair hash queue -------------------------------------------------------------------


def login_as(srv, client, username, password):
    return srv.post("/auth/login", data={"username": username, "password": password},
                    headers={"X-Forwarded-For": client}, timeout=60)


def test_one_clients_flood_of_logins_does_not_starve_another_clients(server_factory):
    srv = server_factory(trusted_proxies="127.0.0.1", hash_workers=2,
                         argon2_memory_kib=8192, argon2_iterations=2,
                         login_failure_delay=False, hash_queue_per_client=48)
    u = srv.register_ok(password=PW)
    calm, flood = "203.0.113.7", "198.51.100.66"
    base = sorted(timed(lambda: login_as(srv, calm, u["email"], PW))[1] for _ in range(5))
    unloaded = statistics.median(base)

    stop = threading.Event()
    statuses = []
    lock = threading.Lock()

    def flooder():
        while not stop.is_set():
            r = login_as(srv, flood, u["email"], "x" * 4096)
            with lock:
                statuses.append(r.status_code)

    threads = [threading.Thread(target=flooder) for _ in range(64)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)  # the queue fills with the flood's jobs
        times = []
        for _ in range(10):
            r, dt = timed(lambda: login_as(srv, calm, u["email"], PW))
            assert r.status_code == 200, r.text
            times.append(dt)
    finally:
        stop.set()
        for t in threads:
            t.join()
    # FIFO would put each of calm's logins behind ~48 flood jobs on 2 workers
    # (24 hash times); its share of the pool serves it after at most a couple
    # (one outlier of ten is the shared machine's, not the queue's)
    bound = max(10 * unloaded, 0.5)
    assert statistics.median(times) < bound / 2, (times, unloaded)
    assert sorted(times)[-2] < bound, (times, unloaded)
    # the flood's excess was refused 429 (its cap), not queued; most were served
    assert 400 in statuses and 429 in statuses, sorted(set(statuses))
    assert set(statuses) <= {400, 429}
    assert srv.alive()


def test_a_client_over_its_share_is_told_429_with_retry_after(server_factory):
    srv = server_factory(trusted_proxies="127.0.0.1", hash_workers=1,
                         argon2_memory_kib=16384, argon2_iterations=3,
                         login_failure_delay=False, hash_queue_per_client=2)
    u = srv.register_ok(password=PW)
    results = []
    lock = threading.Lock()

    def one():
        r = login_as(srv, "198.51.100.9", u["email"], PW)
        with lock:
            results.append((r.status_code, r.headers.get("Retry-After"), r.text))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [c for c, _, _ in results]
    assert 200 in codes and 429 in codes, codes
    for c, retry, text in results:
        if c == 429:
            assert retry == "1" and text == '{"detail":"Too Many Requests"}', (retry, text)
    # another client is not limited by that one's share
    assert login_as(srv, "203.0.113.1", u["email"], PW).status_code == 200


# ---- a failed login held to the successful ones -----------------------------------------------


def test_a_failed_login_is_no_faster_than_the_median_successful_one(server_factory):
    # users hashed at a high cost, then the server made cheap: a success
    # verifies the stored (costly) hash, a failure of an unknown user only the
    # cheap dummy one, so only the hold can make them alike
    srv = server_factory(argon2_memory_kib=65536, argon2_iterations=3)
    users = [srv.register_ok(password=PW) for _ in range(9)]
    srv.settings.update({"argon2_memory_kib": 1024, "argon2_iterations": 1})
    srv.restart()
    ok = []
    for u in users:
        r, dt = timed(lambda: srv.login_raw(u["email"], PW))
        assert r.status_code == 200, r.text
        ok.append(dt)
    bad = []
    for i in range(9):
        r, dt = timed(lambda: srv.login_raw(f"nobody{i}@example.com", PW))
        assert r.status_code == 400 and r.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}
        bad.append(dt)
    med = statistics.median(ok)
    assert min(bad) >= 0.9 * med, (bad, ok)
    assert statistics.median(bad) >= med, (bad, ok)

    # off: the failure answers as soon as its cheap work is done
    srv2 = server_factory(argon2_memory_kib=65536, argon2_iterations=3,
                          login_failure_delay=False)
    users = [srv2.register_ok(password=PW) for _ in range(5)]
    srv2.settings.update({"argon2_memory_kib": 1024, "argon2_iterations": 1})
    srv2.restart()
    ok2 = [timed(lambda: srv2.login_raw(u["email"], PW))[1] for u in users]
    bad2 = [timed(lambda: srv2.login_raw("nobody@example.com", PW))[1] for _ in range(5)]
    assert statistics.median(bad2) < statistics.median(ok2), (bad2, ok2)
