"""
PostgreSQL only (skipped without PORTCULLIS_TEST_DATABASE_URL; `make test`
runs them in its PostgreSQL pass): several instances over one database, and
the database failing under a running server.

Real parts only: the server binaries, the throwaway cluster of
scripts/with-postgres (stopped and started by its pg_ctl), an aiosmtpd sink.
"""

import concurrent.futures
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, PG_BASE_URL, assert_detail, bearer,
                      decode_token)

pytestmark = pytest.mark.skipif(not PG_BASE_URL, reason="PostgreSQL pass only")

PW = "correct-horse-9"
TIMEOUT_MS = 2000
ADMIN = {"bootstrap_admin_email": ADMIN_EMAIL, "bootstrap_admin_password": ADMIN_PASSWORD}


def pg_password():
    return PG_BASE_URL.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def superuser_exec(sql):
    import psycopg2
    conn = psycopg2.connect(os.environ["PORTCULLIS_TEST_PG_SUPERUSER"])
    try:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def pg_ctl(*args):
    cmd = os.environ["PORTCULLIS_TEST_PG_CTL"].split() + list(args)
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def pair(server_factory):
    """Two instances (A, B) on two ports over one PostgreSQL schema; one HTTP
    thread each, so that a repeated credential is answered from the cache."""
    a = server_factory(threads=1, **ADMIN)
    b = server_factory(pg_url=a.pg_url, threads=1, **ADMIN)
    return a, b


def admin_token(srv):
    return srv.login(ADMIN_EMAIL, ADMIN_PASSWORD)


# ---- many instances ----------------------------------------------------------------------


def test_register_on_a_log_in_on_b(pair):
    a, b = pair
    u = a.register_ok(password=PW)
    token = b.login(u["email"], PW)
    r = b.me(token)
    assert r.status_code == 200 and r.json()["id"] == u["id"]
    assert a.me(token).json()["id"] == u["id"]  # one secret, kept in the shared store


def test_refresh_on_a_then_reuse_of_the_old_token_on_b_is_detected(pair):
    a, b = pair
    u = a.register_ok(password=PW)
    first = a.post("/auth/login/oauth", data={"username": u["email"], "password": PW}).json()
    assert b.get("/users/me", headers=bearer(first["access_token"])).status_code == 200
    r = a.post("/auth/login/refresh", headers=bearer(first["refresh_token"]))
    assert r.status_code == 200, r.text
    second = r.json()
    r = b.post("/auth/login/refresh", headers=bearer(first["refresh_token"]))
    assert_detail(r, 403, "Could not validate credentials")
    fam = decode_token(first["access_token"])["fam"]
    assert a.db("SELECT revoked_at FROM refresh_families WHERE family_id = ?",
                (fam,))[0]["revoked_at"] is not None
    # the family's access tokens stop on both instances at once
    for srv in (a, b):
        assert srv.get("/users/me", headers=bearer(second["access_token"])).status_code == 401
    assert a.post("/auth/login/refresh",
                  headers=bearer(second["refresh_token"])).status_code == 403


def me_once_told(srv, token):
    """srv's answer to token once PostgreSQL has told srv of a write made
    elsewhere: it signals the listening sessions when the writing transaction
    commits, and each then writes the notification to its instance, moments
    later (well under a millisecond idle, a few on a busy 2-core machine); an
    instance checks its listening socket before it trusts a remembered entry.
    Polled for at most 250 ms, far within auth_cache_ms (1 s here): a lost
    notification shows as the entry answering for its whole second."""
    deadline = time.monotonic() + 0.25
    while True:
        r = srv.me(token)
        if r.status_code != 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.005)


def test_logout_on_a_is_refused_on_b_at_once(pair):
    a, b = pair
    u = a.register_ok(password=PW)
    token = a.login(u["email"], PW)
    for _ in range(3):  # B remembers the token (its credential cache)
        assert b.me(token).status_code == 200
    assert a.post("/auth/logout", headers=bearer(token)).status_code == 204
    assert_detail(a.me(token), 401, "Unauthorized")
    assert_detail(me_once_told(b, token), 401, "Unauthorized")


def test_a_user_deactivated_through_b_is_refused_on_a_at_once(pair):
    a, b = pair
    u = a.register_ok(password=PW)
    token = a.login(u["email"], PW)
    for _ in range(3):
        assert a.me(token).status_code == 200
    r = b.patch("/users/" + u["id"], json={"is_active": False},
                headers=bearer(admin_token(b)))
    assert r.status_code == 200, r.text
    assert_detail(me_once_told(a, token), 401, "Unauthorized")
    assert a.post("/auth/login", data={"username": u["email"], "password": PW}).status_code == 400


def test_nothing_is_cached_while_the_channel_of_other_writes_is_down(pair):
    a, b = pair
    u = a.register_ok(password=PW)
    token = a.login(u["email"], PW)
    try:
        # the listeners cannot come back while the role takes no new connection
        superuser_exec("ALTER ROLE portcullis CONNECTION LIMIT 0")
        superuser_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE application_name = 'portcullis' AND query ILIKE 'LISTEN%'")
        time.sleep(0.5)
        for _ in range(3):
            assert b.me(token).status_code == 200
        # another writer (here psql's superuser): B hears nothing of it
        superuser_exec(f"UPDATE {a.pg_url.rsplit('%3D', 1)[1]}.users SET is_active = 0 "
                       f"WHERE id = '{u['id']}'")
        assert_detail(b.me(token), 401, "Unauthorized")
    finally:
        superuser_exec("ALTER ROLE portcullis CONNECTION LIMIT -1")


def cache_counts(srv):
    """The credential cache's hits and misses so far (/metrics)."""
    got = {}
    for line in srv.get("/metrics").text.splitlines():
        if line.startswith('portcullis_auth_cache_total{result="'):
            got[line.split('"')[1]] = float(line.rsplit(" ", 1)[1])
    return got.get("hit", 0.0), got.get("miss", 0.0)


def listener_pids(srv):
    """The backends of every instance's listening connection: they LISTEN,
    and the probe that shows them live LISTENs again."""
    rows = superuser_exec("SELECT pid FROM pg_stat_activity WHERE application_name = 'portcullis' "
                          "AND query ILIKE 'LISTEN%'")
    return [r[0] for r in rows]


def test_an_entry_outlives_auth_cache_ms_while_the_channel_is_shown_live(server_factory):
    # The channel announces every write and its probe shows it live: an entry
    # then lives past auth_cache_ms (until a write, 5 minutes at most).
    srv = server_factory(threads=1, auth_cache_ms=300, metrics_router=True)
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    assert srv.me(token).status_code == 200
    time.sleep(1.0)  # past auth_cache_ms, and any announcement of the login is in
    hits, misses = cache_counts(srv)
    assert srv.me(token).status_code == 200
    assert cache_counts(srv) == (hits + 1, misses), "answered from the cache"


def test_a_stalled_channel_ends_long_lived_entries_within_auth_cache_ms(pair):
    # A's listening connection stops carrying (its backend frozen: a stalled
    # network, a hung server): A stops trusting its old entries within
    # auth_cache_ms (1 s), long before the probe's answer is overdue by the
    # store's timeout, and a deactivation through B is then seen.
    a, b = pair
    u = a.register_ok(password=PW)
    token = a.login(u["email"], PW)
    assert a.me(token).status_code == 200
    time.sleep(1.3)
    assert a.me(token).status_code == 200  # older than auth_cache_ms, still good
    pids = listener_pids(a)
    assert pids
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        r = b.patch("/users/" + u["id"], json={"is_active": False},
                    headers=bearer(admin_token(b)))
        assert r.status_code == 200, r.text
        t0 = time.monotonic()
        while a.me(token).status_code == 200:
            assert time.monotonic() - t0 < 1.8, "an entry outlived auth_cache_ms unconfirmed"
            time.sleep(0.02)
        assert_detail(a.me(token), 401, "Unauthorized")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


# ---- a write voids its users' remembered credentials only (migration 016) ---------------


def set_active(srv, admin, user_id, active):
    r = srv.patch("/users/" + user_id, json={"is_active": active}, headers=bearer(admin))
    assert r.status_code == 200, r.text


def own_write_cycles(srv, n):
    """n times: X and Y remembered; X deactivated on srv itself; X's token
    refused at once (its own notification bumped X before the PATCH
    returned), while Y's next check is answered from the cache; X back."""
    admin = admin_token(srv)
    x, y = srv.register_ok(password=PW), srv.register_ok(password=PW)
    tx, ty = srv.login(x["email"], PW), srv.login(y["email"], PW)
    for i in range(n):
        for t in (tx, ty, tx, ty):
            assert srv.me(t).status_code == 200
        set_active(srv, admin, x["id"], False)
        assert_detail(srv.me(tx), 401, "Unauthorized")  # read your writes
        hits, misses = cache_counts(srv)
        assert srv.me(ty).status_code == 200
        assert cache_counts(srv) == (hits + 1, misses), f"cycle {i}: Y stays remembered"
        set_active(srv, admin, x["id"], True)


def test_a_write_on_one_instance_voids_its_user_at_once_and_no_other(server_factory):
    srv = server_factory(threads=1, metrics_router=True, **ADMIN)
    own_write_cycles(srv, 20)


def test_own_writes_void_their_user_without_the_listener(server_factory):
    # The listening connection frozen: only the writing connection's own
    # notifications, read with the PATCH's result, can void X in time.
    others = set(listener_pids(None))  # other tests' instances may still run
    srv = server_factory(threads=1, metrics_router=True, **ADMIN)
    srv.register_ok(password=PW)  # the pool warm, the listener heard something
    pids = sorted(set(listener_pids(srv)) - others)
    assert len(pids) == 1
    try:
        os.kill(pids[0], signal.SIGSTOP)
        own_write_cycles(srv, 3)
    finally:
        os.kill(pids[0], signal.SIGCONT)


def test_a_write_through_b_voids_its_user_on_a_and_no_other(server_factory):
    a = server_factory(threads=1, metrics_router=True, **ADMIN)
    b = server_factory(pg_url=a.pg_url, threads=1, **ADMIN)
    admin = admin_token(b)
    x, y = a.register_ok(password=PW), a.register_ok(password=PW)
    tx, ty = a.login(x["email"], PW), a.login(y["email"], PW)
    for i in range(5):
        for t in (tx, ty, tx, ty):
            assert a.me(t).status_code == 200
        set_active(b, admin, x["id"], False)
        assert_detail(me_once_told(a, tx), 401, "Unauthorized")
        hits, misses = cache_counts(a)
        assert a.me(ty).status_code == 200
        assert cache_counts(a) == (hits + 1, misses), f"cycle {i}: Y stays remembered on A"
        set_active(b, admin, x["id"], True)
        t0 = time.monotonic()
        while a.me(tx).status_code != 200:  # X back on A once A heard it
            assert time.monotonic() - t0 < 0.25, "reactivation through B unseen on A"
            time.sleep(0.005)


def notify_queue_usage():
    return superuser_exec("SELECT pg_notification_queue_usage()")[0][0]


def test_idle_pooled_connections_do_not_hold_back_the_notification_queue(server_factory):
    # Every pooled connection LISTENs. One left idle while notifications pile
    # up stops reading once its socket is full; its backend then blocks and
    # holds the server's notification queue back (once it is full, 8 GB,
    # every NOTIFY fails, and with it every write that fires a trigger). The
    # listener reads the idle ones every 100 ms (pool_drain_idle).
    import psycopg2
    srv = server_factory(threads=2, **ADMIN)
    with concurrent.futures.ThreadPoolExecutor(6) as ex:  # several pooled connections
        users = list(ex.map(lambda _: srv.register_ok(password=PW), range(6)))
    pooled = superuser_exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                            "'portcullis' AND state = 'idle' AND query NOT ILIKE 'LISTEN%'")
    assert pooled[0][0] >= 1, "an idle pooled connection to hold"
    t0 = time.monotonic()
    while notify_queue_usage() > 0:  # what earlier tests left behind, read
        assert time.monotonic() - t0 < 10, "the queue is held before the burst"
        time.sleep(0.1)
    hand = psycopg2.connect(srv.pg_url)
    try:
        hand.autocommit = True
        # ~13 MB of messages to each listening backend: far more than a
        # socket that nobody reads takes in
        hand.cursor().execute("SELECT count(pg_notify('portcullis_gen', 'burst-' || i)) "
                              "FROM generate_series(1, 400000) i")
    finally:
        hand.close()
    assert notify_queue_usage() > 0, "the burst is queued"
    t0 = time.monotonic()
    while notify_queue_usage() > 0:
        assert time.monotonic() - t0 < 15, "an idle pooled connection holds the queue back"
        time.sleep(0.1)
    token = srv.login(users[0]["email"], PW)  # the pool still answers
    assert srv.me(token).status_code == 200


def test_the_triggers_name_each_user_a_statement_changed(server_factory):
    # Migration 016: one notification a distinct user of the rows a
    # statement changed; '' (every user) for a row of no known user or more
    # than 64 users; nothing for a statement that changed no row.
    import select
    import psycopg2
    srv = server_factory(threads=1)
    x, y = srv.register_ok(password=PW), srv.register_ok(password=PW)
    ear, hand = psycopg2.connect(srv.pg_url), psycopg2.connect(srv.pg_url)
    ear.autocommit = hand.autocommit = True
    ear.cursor().execute("LISTEN portcullis_gen")

    def heard(sql, want):
        ear.poll()
        del ear.notifies[:]
        hand.cursor().execute(sql)
        deadline = time.monotonic() + (0.2 if not want else 2.0)
        while time.monotonic() < deadline and len(ear.notifies) < len(want):
            select.select([ear], [], [], 0.05)
            ear.poll()
        time.sleep(0.05)
        ear.poll()
        return sorted(n.payload for n in ear.notifies)

    try:
        xi, yi = x["id"], y["id"]
        assert heard(f"UPDATE users SET full_name = 'x' WHERE id = '{xi}'", [xi]) == [xi]
        assert heard("UPDATE users SET full_name = 'x' WHERE id = 'nobody'", []) == []
        assert heard(f"UPDATE users SET full_name = 'y' WHERE id IN ('{xi}', '{yi}')",
                     [xi, yi]) == sorted([xi, yi])
        assert heard("INSERT INTO sessions (token_hash, user_id, created_at, expires_at, "
                     f"last_seen_at) VALUES ('t-x', '{xi}', 1, 4000000000, 1)", []) == []
        assert heard(f"DELETE FROM sessions WHERE user_id = '{xi}'", [xi]) == [xi]
        assert heard("INSERT INTO revoked_jti (jti, expires_at, user_id) "
                     f"VALUES ('j-x', 4000000000, '{xi}')", [xi]) == [xi]
        assert heard("INSERT INTO revoked_jti (jti, expires_at, user_id) "
                     "VALUES ('j-none', 4000000000, NULL)", [""]) == [""]
        assert heard("DELETE FROM revoked_jti WHERE jti IN ('j-x', 'j-none')", []) == [], \
            "the denylist's purge voids nothing"
        assert heard(f"UPDATE refresh_families SET revoked_at = 1 WHERE user_id = '{yi}'",
                     []) == []  # no family yet: no row changed
        hand.cursor().execute(
            "INSERT INTO users (id, email, email_lc, created_at, updated_at) "
            "SELECT 'bulk-' || i, 'bulk' || i || '@example.com', 'bulk' || i || '@example.com', "
            "1, 1 FROM generate_series(1, 65) i")
        assert heard("UPDATE users SET full_name = 'b' WHERE id LIKE 'bulk-%'", [""]) == [""]
        some = [f"bulk-{i}" for i in range(1, 65)]
        in_list = ", ".join(f"'{i}'" for i in some)
        assert heard(f"UPDATE users SET full_name = 'c' WHERE id IN ({in_list})",
                     some) == sorted(some), "64 users are each named"
    finally:
        ear.close()
        hand.close()


def test_32_concurrent_registrations_over_both_lose_nothing(pair):
    a, b = pair
    tag = uuid.uuid4().hex[:8]
    emails = [f"storm{i}-{tag}@example.com" for i in range(32)]

    def reg(i):
        srv = (a, b)[i % 2]
        return srv.post("/auth/register", json={"email": emails[i], "password": PW}).status_code

    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        statuses = list(ex.map(reg, range(32)))
    assert statuses == [201] * 32
    rows = a.db("SELECT email_lc FROM users WHERE email_lc LIKE ?", (f"%-{tag}@example.com",))
    assert sorted(r["email_lc"] for r in rows) == sorted(emails)
    # the count index (007) kept up with concurrent writers
    total = a.db("SELECT count(*) AS n FROM users")[0]["n"]
    assert a.db("SELECT sum(n) AS n FROM user_pages")[0]["n"] == total
    for e in emails[:4]:
        assert (b, a)[emails.index(e) % 2].login(e, PW)


def test_a_mail_queued_once_is_sent_once_although_both_senders_run(server_factory):
    from test_fastapi_users_mail import SmtpSink
    sink = SmtpSink().start()
    try:
        mail = {"smtp_url": sink.url, "reset_url": "https://app.example/reset",
                "mail_retry_base_seconds": 1, "mail_retry_max_seconds": 1}
        a = server_factory(**mail)
        b = server_factory(pg_url=a.pg_url, **mail)
        addrs = []
        for i in range(6):
            u = (a, b)[i % 2].register_ok(password=PW)
            addrs.append(u["email"])
            r = (b, a)[i % 2].post("/auth/forgot-password", json={"email": u["email"]})
            assert r.status_code == 202, r.text
        for addr in addrs:
            sink.wait(addr, 1)
        time.sleep(2.5)  # a second sending would have happened by now
        for addr in addrs:
            assert len(sink.to(addr)) == 1, addr
        rows = a.db("SELECT sent_at, attempts FROM mail_outbox WHERE kind = 'mail'")
        assert len(rows) == 6 and all(r["sent_at"] is not None and r["attempts"] == 1
                                      for r in rows)
    finally:
        sink.stop()


def test_migrations_run_once_when_instances_start_together(server_factory):
    from conftest import pg_fresh_url
    url = pg_fresh_url()
    # each with the bootstrap admin and no jwt_secret: one admin, one generated secret
    servers = [server_factory(start=False, pg_url=url, jwt_secret=None, **ADMIN)
               for _ in range(3)]
    threads = [threading.Thread(target=s.start) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = servers[0].db("SELECT version FROM schema_version ORDER BY version")
    assert [r["version"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(s.alive() for s in servers)
    assert servers[0].db("SELECT count(*) AS n FROM users")[0]["n"] == 1
    token = servers[0].login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert all(s.me(token).status_code == 200 for s in servers)


def test_the_database_password_is_never_logged(server_factory):
    srv = server_factory()
    srv.register_ok(password=PW)
    srv.restart()
    bad = PG_BASE_URL.replace(pg_password(), "wrong-" + pg_password())
    from conftest import run_cli
    p = run_cli(["migrate"], env={"PORTCULLIS_DATABASE_URL": bad})
    assert p.returncode != 0
    for text in (srv.stderr_text(), p.stderr, p.stdout):
        assert pg_password() not in text


# ---- faults ---------------------------------------------------------------------------------


def test_database_stopped_answers_503_in_each_faces_shape_and_recovers(server_factory):
    srv = server_factory(database_timeout_ms=TIMEOUT_MS, auth_cache_ms=60000, threads=1,
                         **ADMIN)
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    assert srv.me(token).status_code == 200  # cached by the one HTTP thread
    pg_ctl("stop", "-m", "fast", "-w")
    try:
        assert srv.get("/healthz").status_code == 200
        t0 = time.monotonic()
        r = srv.get("/readyz")
        assert r.status_code == 503 and r.json() == {"status": "unavailable"}
        # a credential cached before the fall, within its bound
        assert srv.me(token).status_code == 200
        # what needs the database: 503 in the face's own shape, in time
        r = srv.post("/auth/register", json={"email": srv.fresh_email(), "password": PW})
        assert r.status_code == 503 and set(r.json()) == {"detail"}, r.text
        r = srv.post("/auth/login", data={"username": u["email"], "password": PW})
        assert r.status_code == 503 and set(r.json()) == {"detail"}, r.text
        r = srv.post("/auth/login/oauth", data={"username": u["email"], "password": PW})
        assert r.status_code == 503, r.text
        other = srv.login_raw(u["email"], PW)
        assert other.status_code == 503
        assert time.monotonic() - t0 < 5 * TIMEOUT_MS / 1000
        assert srv.alive()
    finally:
        pg_ctl("start", "-w", "-l", os.environ["PORTCULLIS_TEST_PG_DIR"] + "/server.log")
    deadline = time.monotonic() + 15
    while srv.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "not ready again"
        time.sleep(0.2)
    v = srv.register_ok(password=PW)
    assert srv.me(srv.login(v["email"], PW)).status_code == 200
    assert srv.me(token).status_code == 200
    assert pg_password() not in srv.stderr_text()


def test_a_database_that_stops_answering_is_503_within_the_timeout(server_factory):
    """Every process of the cluster stopped (SIGSTOP, by pid: the postmaster
    and its backends), so connections stay open and nothing answers."""
    import signal
    srv = server_factory(database_timeout_ms=TIMEOUT_MS)
    u = srv.register_ok(password=PW)
    data = os.environ["PORTCULLIS_TEST_PG_DIR"] + "/data"
    with open(data + "/postmaster.pid") as f:
        pids = [int(f.readline())]
    # the postmaster first (no new backend starts after it), then every
    # child it has by then, read from /proc (a query would need a backend)
    os.kill(pids[0], signal.SIGSTOP)
    try:
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == pids[0]:
                    pids.append(int(d))
        for pid in pids[1:]:
            os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        r = srv.post("/auth/login", data={"username": u["email"], "password": PW})
        took = time.monotonic() - t0
        assert r.status_code == 503 and set(r.json()) == {"detail"}, r.text
        assert took < TIMEOUT_MS / 1000 * 2.5, took
        assert srv.get("/healthz").status_code == 200
        t0 = time.monotonic()
        assert srv.get("/readyz").status_code == 503
        assert time.monotonic() - t0 < TIMEOUT_MS / 1000 * 2.5
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 15
    while srv.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "not ready again"
        time.sleep(0.2)
    assert srv.login(u["email"], PW)


def test_connections_killed_mid_flow_lose_no_acknowledged_write(server_factory):
    srv = server_factory(database_timeout_ms=TIMEOUT_MS, database_pool_size=4)
    tag = uuid.uuid4().hex[:8]
    done = threading.Event()
    results = []

    def writer(k):
        i = 0
        while not done.is_set():
            email = f"kill{k}-{i}-{tag}@example.com"
            r = srv.post("/auth/register", json={"email": email, "password": PW})
            results.append((email, r.status_code))
            if r.status_code == 201:
                # a transaction of two rows: the reset token and its mail
                r = srv.post("/auth/forgot-password", json={"email": email})
                assert r.status_code in (202, 503), r.text
            i += 1

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    killed = 0
    try:
        for _ in range(15):
            time.sleep(0.1)
            killed += len(superuser_exec(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'portcullis' AND backend_type = 'client backend' "
                "AND query NOT ILIKE 'LISTEN%'"))
    finally:
        done.set()
        for t in threads:
            t.join()
    assert killed > 0
    statuses = {s for _, s in results}
    assert statuses <= {201, 503}, statuses
    stored = {r["email_lc"] for r in srv.db("SELECT email_lc FROM users WHERE email_lc LIKE ?",
                                            (f"%-{tag}@example.com",))}
    acked = {e for e, s in results if s == 201}
    assert acked <= stored  # every acknowledged write is there
    assert len(acked) > 0
    # no half-written one: every stored user is whole and counted
    total = srv.db("SELECT count(*) AS n FROM users")[0]["n"]
    assert srv.db("SELECT sum(n) AS n FROM user_pages")[0]["n"] == total
    assert srv.db("SELECT count(*) AS n FROM users WHERE hashed_password IS NULL "
                  "OR email_lc IS NULL")[0]["n"] == 0
    # each reset token was written with its mail, or neither was
    assert srv.db("SELECT count(*) AS n FROM one_time_tokens WHERE purpose = 'reset'")[0]["n"] == \
        srv.db("SELECT count(*) AS n FROM mail_outbox WHERE kind = 'mail'")[0]["n"]
    # and it keeps serving
    assert srv.register_ok(password=PW)
