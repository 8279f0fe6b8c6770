"""myauth face (seed 001): TOTP. /auth/login/new-totp, PUT/DELETE/POST /auth/login/totp,
the /oauth branch for a user with TOTP on, and what portcullis adds: the QR as SVG,
the pending secret bound to the server, secrets sealed at rest, the replay guard,
recovery codes, the lockout and the TOTP-purpose token under its own key.

Codes are computed with pyotp from the key the server returned (an independent
implementation of RFC 6238)."""

import time
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlparse

import jwt
import pyotp
import pytest

from conftest import JWT_SECRET, AUDIENCE, assert_detail, assert_validation_error, bearer

PW = "correct-horse-9"
BAD_TOKEN = "Could not validate credentials"
ON_FAIL = "Unable to authenticate or activate TOTP."
OFF_FAIL = "Unable to authenticate or deactivate TOTP."
NOT_ON = "Login failed; TOTP is not enabled."
BAD_CODE = "Login failed; unable to verify TOTP."
LOCKED = "Too many attempts; try again later."
SVG_NS = "{http://www.w3.org/2000/svg}"


# ---- helpers ------------------------------------------------------------------------


def signup(server, password=PW):
    email = server.fresh_email("tp")
    r = server.post("/auth/login/signup", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


def oauth(server, email, password=PW):
    return server.post("/auth/login/oauth", data={"username": email, "password": password})


def member(server):
    """A fresh user and its access token."""
    u = signup(server)
    r = oauth(server, u["email"])
    assert r.status_code == 200, r.text
    return u, r.json()["access_token"]


def new_totp(server, token):
    r = server.post("/auth/login/new-totp", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def enable(server, token, claim, uri, password=PW):
    body = {"claim": claim, "uri": uri}
    if password is not None:
        body["password"] = password
    return server.request("PUT", "/auth/login/totp", json=body, headers=bearer(token))


def wait_fresh_step(totp):
    """Keeps away from a step's end, so that the step a code was made for is
    still in the server's window when it arrives."""
    now = time.time()
    if now % 30 > 27:
        time.sleep(30 - now % 30 + 0.2)


def enabled_user(server):
    """A user with TOTP on: (user, access token, pyotp.TOTP, recovery codes).
    Enabled with the previous step's code (inside the window), so that the
    current step's code (totp.now()) is good for a login right away."""
    u, token = member(server)
    n = new_totp(server, token)
    totp = pyotp.TOTP(n["key"])
    wait_fresh_step(totp)
    r = enable(server, token, totp.at(time.time() - 30), n["uri"])
    assert r.status_code == 200, r.text
    return u, token, totp, r.json()["recovery_codes"]


def totp_row(server, user_id):
    rows = server.db("SELECT * FROM user_totp WHERE user_id = ?", (user_id,))
    return rows[0] if rows else None


def flag(server, user_id):
    return server.db("SELECT totp_enabled FROM users WHERE id = ?", (user_id,))[0]["totp_enabled"]


def families(server, user_id):
    return server.db("SELECT count(*) AS n FROM refresh_families WHERE user_id = ?",
                     (user_id,))[0]["n"]


def pending_token(server, email):
    r = oauth(server, email)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refresh_token"] is None and body["token_type"] == "bearer"
    return body["access_token"]


def second_step(server, token, claim):
    return server.post("/auth/login/totp", json={"claim": claim}, headers=bearer(token))


def next_code_after_step(totp, step):
    """The code of the current step, once it is later than `step`."""
    while int(time.time()) // 30 <= step:
        time.sleep(0.5)
    return totp.now()


# ---- new-totp --------------------------------------------------------------------------


def test_new_totp_returns_key_uri_and_a_parseable_svg(server):
    u, token = member(server)
    n = new_totp(server, token)
    assert set(n) == {"key", "uri", "qr_svg"}
    assert len(pyotp.TOTP(n["key"]).byte_secret()) == 20  # 160 bits
    parsed = pyotp.parse_uri(n["uri"])
    assert parsed.secret == n["key"]
    assert parsed.issuer == "portcullis" and parsed.name == u["email"]
    assert n["uri"].startswith("otpauth://totp/portcullis:")
    root = ET.fromstring(n["qr_svg"])
    assert root.tag == SVG_NS + "svg"
    assert root.find(SVG_NS + "path") is not None
    # new-totp alone does not enable TOTP
    assert flag(server, u["id"]) == 0
    me = server.get("/auth/users/me", headers=bearer(token)).json()
    assert me["totp"] is False


def test_new_totp_for_a_long_address(server):
    # every character of the local part is percent-encoded in the uri (3 bytes)
    email = "a" + "+" * 62 + "b" + "@" + ".".join(["c" * 60] * 4)
    assert len(email) > 300 and len(email.split("@")[1]) < 254
    r = server.post("/auth/login/signup", json={"email": email, "password": PW})
    assert r.status_code == 200, r.text
    token = oauth(server, email).json()["access_token"]
    n = new_totp(server, token)
    assert pyotp.parse_uri(n["uri"]).name == email
    assert ET.fromstring(n["qr_svg"]).tag == SVG_NS + "svg"


def test_new_totp_format_svg_answers_the_image(server):
    _, token = member(server)
    r = server.post("/auth/login/new-totp?format=svg", headers=bearer(token))
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("image/svg+xml")
    assert ET.fromstring(r.content).tag == SVG_NS + "svg"


def test_new_totp_needs_a_token(server):
    r = server.post("/auth/login/new-totp")
    assert_detail(r, 401, "Not authenticated")


def test_the_secret_is_not_stored_in_clear(server):
    u, token = member(server)
    n = new_totp(server, token)
    row = totp_row(server, u["id"])
    assert row["pending_enc"].startswith("v1:") and n["key"] not in row["pending_enc"]
    server.sqlite_only("reads SQLite's database file")
    raw = server.db_path.read_bytes()
    for path in (server.db_path.with_name(server.db_path.name + "-wal"),):
        if path.exists():
            raw += path.read_bytes()
    assert n["key"].encode() not in raw
    assert pyotp.TOTP(n["key"]).byte_secret() not in raw


# ---- enabling ---------------------------------------------------------------------------------


def test_enable_with_the_right_code(server):
    u, token = member(server)
    n = new_totp(server, token)
    totp = pyotp.TOTP(n["key"])
    wait_fresh_step(totp)
    r = enable(server, token, totp.now(), n["uri"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["msg"] == "TOTP enabled. Do not lose your recovery code."
    codes = body["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    for c in codes:
        parts = c.split("-")
        assert len(parts) == 4 and all(len(p) == 4 for p in parts)
        assert set(c.replace("-", "")) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert flag(server, u["id"]) == 1
    row = totp_row(server, u["id"])
    assert row["secret_enc"].startswith("v1:") and row["pending_enc"] is None
    assert abs(row["last_step"] - int(time.time()) // 30) <= 1
    stored = server.db("SELECT code_hash FROM totp_recovery_codes WHERE user_id = ?", (u["id"],))
    assert len(stored) == 10
    assert not any(c in str(stored) for c in codes)
    assert server.get("/auth/users/me", headers=bearer(token)).json()["totp"] is True


@pytest.mark.parametrize("claim", ["000000x", "12345", "1234567", "abcdef", "",
                                   "1" * 5000])
def test_enable_refuses_a_bad_code_and_changes_nothing(server, claim):
    u, token = member(server)
    n = new_totp(server, token)
    before = totp_row(server, u["id"])
    r = enable(server, token, claim, n["uri"])
    assert_detail(r, 400, ON_FAIL)
    assert flag(server, u["id"]) == 0
    assert totp_row(server, u["id"]) == before


def test_enable_refuses_a_wrong_code(server):
    u, token = member(server)
    n = new_totp(server, token)
    totp = pyotp.TOTP(n["key"])
    wrong = totp.at(time.time() + 3600)
    assert_detail(enable(server, token, wrong, n["uri"]), 400, ON_FAIL)
    assert flag(server, u["id"]) == 0


@pytest.mark.parametrize("password", [None, "wrong-password-1"])
def test_enable_needs_the_password(server, password):
    u, token = member(server)
    n = new_totp(server, token)
    totp = pyotp.TOTP(n["key"])
    r = enable(server, token, totp.now(), n["uri"], password=password)
    assert_detail(r, 400, ON_FAIL)
    assert flag(server, u["id"]) == 0
    assert totp_row(server, u["id"])["secret_enc"] is None


def test_enable_refuses_a_secret_of_the_clients_choosing(server):
    u, token = member(server)
    new_totp(server, token)
    mine = pyotp.random_base32(32)
    uri = pyotp.TOTP(mine).provisioning_uri(name=u["email"], issuer_name="portcullis")
    r = enable(server, token, pyotp.TOTP(mine).now(), uri)
    assert_detail(r, 400, ON_FAIL)
    assert flag(server, u["id"]) == 0


def test_enable_refuses_the_uri_of_another_secret_even_with_the_right_code(server):
    # the code is right for the server's pending secret; the uri names another
    u, token = member(server)
    n = new_totp(server, token)
    other = pyotp.random_base32(32)
    uri = n["uri"].replace(n["key"], other)
    assert other in uri and n["key"] not in uri
    r = enable(server, token, pyotp.TOTP(n["key"]).now(), uri)
    assert_detail(r, 400, ON_FAIL)
    assert flag(server, u["id"]) == 0
    assert totp_row(server, u["id"])["pending_enc"] is not None


@pytest.mark.parametrize("uri", ["", "garbage", "otpauth://hotp/x?secret=AAAAAAAAAAAAAAAA",
                                 "otpauth://totp/x", "otpauth://totp/x?issuer=a",
                                 "otpauth://totp/x?secret=",
                                 "otpauth://totp/x?secret=1111111111111111",
                                 "otpauth://totp/x?secret=" + "A" * 5000])
def test_enable_refuses_a_garbage_uri(server, uri):
    u, token = member(server)
    n = new_totp(server, token)
    r = enable(server, token, pyotp.TOTP(n["key"]).now(), uri)
    assert_detail(r, 400, ON_FAIL)
    assert flag(server, u["id"]) == 0


def test_enable_with_the_uri_of_a_superseded_secret_is_refused(server):
    u, token = member(server)
    first = new_totp(server, token)
    new_totp(server, token)
    r = enable(server, token, pyotp.TOTP(first["key"]).now(), first["uri"])
    assert_detail(r, 400, ON_FAIL)
    assert flag(server, u["id"]) == 0


@pytest.mark.parametrize("body", [{"claim": 123456, "uri": "otpauth://totp/x?secret=A"},
                                  {"uri": "otpauth://totp/x"}, {"claim": "123456"},
                                  {"claim": "123456", "uri": ["x"]}])
def test_enable_wrong_json_types_are_422(server, body):
    _, token = member(server)
    new_totp(server, token)
    r = server.request("PUT", "/auth/login/totp", json=body, headers=bearer(token))
    assert r.status_code == 422, r.text


def test_enable_without_new_totp_is_refused(server):
    u, token = member(server)
    key = pyotp.random_base32(32)
    uri = pyotp.TOTP(key).provisioning_uri(name=u["email"], issuer_name="portcullis")
    assert_detail(enable(server, token, pyotp.TOTP(key).now(), uri), 400, ON_FAIL)


# ---- the login --------------------------------------------------------------------------------


def test_login_with_totp_goes_through_the_second_step(server):
    u, _, totp, _ = enabled_user(server)
    before = families(server, u["id"])
    token = pending_token(server, u["email"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["totp"] is True and claims["sub"] == u["id"]
    assert claims["exp"] - claims["iat"] == 300
    assert families(server, u["id"]) == before  # no refresh family started
    last = totp_row(server, u["id"])["last_step"]
    code = next_code_after_step(totp, last)
    r = second_step(server, token, code)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["refresh_token"]
    assert families(server, u["id"]) == before + 1
    me = server.get("/auth/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["totp"] is True
    # the pending token is spent
    assert_detail(second_step(server, token, code), 403, BAD_TOKEN)


def test_the_totp_token_is_signed_with_another_key(server):
    u, _, _, _ = enabled_user(server)
    token = pending_token(server, u["email"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, JWT_SECRET, audience=AUDIENCE, algorithms=["HS256"])


def test_the_totp_token_is_refused_everywhere_else(server):
    u, _, _, _ = enabled_user(server)
    token = pending_token(server, u["email"])
    fams, row = families(server, u["id"]), totp_row(server, u["id"])
    assert_detail(server.get("/auth/users/me", headers=bearer(token)), 403, BAD_TOKEN)
    assert server.get("/users/me", headers=bearer(token)).status_code == 401
    assert_detail(server.post("/auth/login/refresh", headers=bearer(token)), 403, BAD_TOKEN)
    assert_detail(server.post("/auth/login/revoke", headers=bearer(token)), 403, BAD_TOKEN)
    r = server.post("/auth/login/new-totp", headers=bearer(token))
    assert_detail(r, 403, BAD_TOKEN)
    r = server.request("DELETE", "/auth/login/totp", json={"original": PW}, headers=bearer(token))
    assert_detail(r, 403, BAD_TOKEN)
    assert families(server, u["id"]) == fams and totp_row(server, u["id"]) == row


def test_a_forged_totp_claim_under_the_access_key_is_refused(server):
    u, _, totp, _ = enabled_user(server)
    now = int(time.time())
    forged = jwt.encode({"sub": u["id"], "jti": "x" * 22, "iat": now, "exp": now + 300,
                         "aud": AUDIENCE, "totp": True}, JWT_SECRET, algorithm="HS256")
    assert_detail(second_step(server, forged, totp.now()), 403, BAD_TOKEN)


def test_access_refresh_and_garbage_tokens_are_refused_at_the_second_step(server):
    u, token = member(server)
    pair = oauth(server, u["email"]).json()
    fams = families(server, u["id"])
    for t in (token, pair["access_token"], pair["refresh_token"], "garbage"):
        assert_detail(second_step(server, t, "123456"), 403, BAD_TOKEN)
    assert families(server, u["id"]) == fams
    # nor an access token of a user whose TOTP is on
    v, access, totp, _ = enabled_user(server)
    row = totp_row(server, v["id"])
    assert_detail(second_step(server, access, totp.now()), 403, BAD_TOKEN)
    assert totp_row(server, v["id"]) == row


def test_the_second_step_needs_a_bearer(server):
    r = server.post("/auth/login/totp", json={"claim": "123456"})
    assert_detail(r, 401, "Not authenticated")
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_the_second_step_for_a_user_without_totp(server):
    # a user who enabled then disabled TOTP, holding a pending token from before
    u, access, totp, _ = enabled_user(server)
    token = pending_token(server, u["email"])
    r = server.request("DELETE", "/auth/login/totp", json={"original": PW},
                       headers=bearer(access))
    assert r.status_code == 200, r.text
    assert_detail(second_step(server, token, totp.now()), 400, NOT_ON)


def test_a_wrong_code_is_refused_and_counted(server):
    u, _, totp, _ = enabled_user(server)
    token = pending_token(server, u["email"])
    before = totp_row(server, u["id"])
    fams = families(server, u["id"])
    r = second_step(server, token, totp.at(time.time() + 3600))
    assert_detail(r, 400, BAD_CODE)
    after = totp_row(server, u["id"])
    assert after["last_step"] == before["last_step"]
    assert after["failures"] == before["failures"] + 1
    assert families(server, u["id"]) == fams
    for claim in ("abcdef", "1234567", ""):
        assert_detail(second_step(server, token, claim), 400, BAD_CODE)


def test_a_replayed_code_is_refused(server):
    u, _, totp, _ = enabled_user(server)
    last = totp_row(server, u["id"])["last_step"]
    code = next_code_after_step(totp, last)
    r = second_step(server, pending_token(server, u["email"]), code)
    assert r.status_code == 200, r.text
    step = totp_row(server, u["id"])["last_step"]
    fams = families(server, u["id"])
    r = second_step(server, pending_token(server, u["email"]), code)
    assert_detail(r, 400, BAD_CODE)
    assert totp_row(server, u["id"])["last_step"] == step
    assert families(server, u["id"]) == fams


def test_one_code_sent_at_once_by_many_passes_once(server):
    from concurrent.futures import ThreadPoolExecutor
    import requests

    u, _, totp, _ = enabled_user(server)
    tokens = [pending_token(server, u["email"]) for _ in range(8)]
    fams = families(server, u["id"])
    code = totp.now()

    def go(t):
        return requests.post(server.url("/auth/login/totp"), json={"claim": code},
                             headers=bearer(t), timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(go, tokens))
    # the losers are replays, counted as wrong codes: past 5 the lock answers
    assert statuses.count(200) == 1, statuses
    assert set(statuses) - {200} <= {400, 429}, statuses
    assert families(server, u["id"]) == fams + 1


def test_the_code_used_to_enable_cannot_log_in(server):
    u, token = member(server)
    n = new_totp(server, token)
    totp = pyotp.TOTP(n["key"])
    wait_fresh_step(totp)
    code = totp.now()
    assert enable(server, token, code, n["uri"]).status_code == 200
    assert_detail(second_step(server, pending_token(server, u["email"]), code), 400, BAD_CODE)


def test_an_old_code_is_refused(server):
    u, _, totp, _ = enabled_user(server)
    old = totp.at(time.time() - 90)  # 3 steps back
    assert_detail(second_step(server, pending_token(server, u["email"]), old), 400, BAD_CODE)


def test_a_recovery_code_works_once(server):
    u, _, _, codes = enabled_user(server)
    fams = families(server, u["id"])
    r = second_step(server, pending_token(server, u["email"]), codes[0].lower())
    assert r.status_code == 200, r.text
    assert families(server, u["id"]) == fams + 1
    used = server.db("SELECT count(*) AS n FROM totp_recovery_codes WHERE user_id = ? "
                     "AND used_at IS NOT NULL", (u["id"],))[0]["n"]
    assert used == 1
    r = second_step(server, pending_token(server, u["email"]), codes[0])
    assert_detail(r, 400, BAD_CODE)
    assert families(server, u["id"]) == fams + 1
    r = second_step(server, pending_token(server, u["email"]), codes[1])
    assert r.status_code == 200, r.text


def test_lockout_after_five_wrong_codes(server):
    u, _, totp, codes = enabled_user(server)
    token = pending_token(server, u["email"])
    wrong = totp.at(time.time() + 3600)
    for _ in range(5):
        assert_detail(second_step(server, token, wrong), 400, BAD_CODE)
    row = totp_row(server, u["id"])
    assert row["failures"] == 5 and row["locked_until"] > time.time()
    r = second_step(server, token, wrong)
    assert_detail(r, 429, LOCKED)
    assert 0 < int(r.headers["Retry-After"]) <= 30
    # a right code during the lock is refused and not consumed
    last = row["last_step"]
    r = second_step(server, token, next_code_after_step(totp, last))
    assert_detail(r, 429, LOCKED)
    assert "Retry-After" in r.headers
    assert totp_row(server, u["id"])["last_step"] == last
    r = second_step(server, token, codes[0])
    assert_detail(r, 429, LOCKED)
    assert server.db("SELECT count(*) AS n FROM totp_recovery_codes WHERE user_id = ? "
                     "AND used_at IS NOT NULL", (u["id"],))[0]["n"] == 0


def test_lockout_survives_a_restart_and_doubles(server_factory):
    srv = server_factory()
    u, _, totp, _ = enabled_user(srv)
    wrong = totp.at(time.time() + 3600)
    token = pending_token(srv, u["email"])
    for _ in range(5):
        assert_detail(second_step(srv, token, wrong), 400, BAD_CODE)
    # as if the first lock had run out: one more failure locks for 60 s
    srv.db("UPDATE user_totp SET locked_until = 1 WHERE user_id = ?", (u["id"],))
    srv.restart()
    assert_detail(second_step(srv, token, wrong), 400, BAD_CODE)
    row = totp_row(srv, u["id"])
    assert row["failures"] == 6
    assert 55 <= row["locked_until"] - time.time() <= 61
    srv.restart()
    r = second_step(srv, token, wrong)
    assert_detail(r, 429, LOCKED)
    assert 30 < int(r.headers["Retry-After"]) <= 60


# ---- disabling -----------------------------------------------------------------------------


def test_disable_needs_the_password(server):
    u, token, _, _ = enabled_user(server)
    for body in ({}, {"original": "wrong-password-1"}):
        r = server.request("DELETE", "/auth/login/totp", json=body, headers=bearer(token))
        assert_detail(r, 400, OFF_FAIL)
        assert flag(server, u["id"]) == 1
    r = server.request("DELETE", "/auth/login/totp", json={"original": PW},
                       headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"msg": "TOTP disabled. You can re-enable it at any time."}
    assert flag(server, u["id"]) == 0
    assert totp_row(server, u["id"]) is None
    assert server.db("SELECT count(*) AS n FROM totp_recovery_codes WHERE user_id = ?",
                     (u["id"],))[0]["n"] == 0
    assert server.get("/auth/users/me", headers=bearer(token)).json()["totp"] is False
    body = oauth(server, u["email"]).json()
    assert body["refresh_token"] is not None


def test_re_enabling_replaces_the_recovery_codes(server):
    u, token, totp, codes = enabled_user(server)
    n = new_totp(server, token)
    t2 = pyotp.TOTP(n["key"])
    last = totp_row(server, u["id"])["last_step"]
    code = next_code_after_step(t2, last)
    r = enable(server, token, code, n["uri"])
    assert r.status_code == 200, r.text
    fresh = r.json()["recovery_codes"]
    assert not set(fresh) & set(codes)
    assert_detail(second_step(server, pending_token(server, u["email"]), codes[2]), 400,
                  BAD_CODE)
    r = second_step(server, pending_token(server, u["email"]), fresh[0])
    assert r.status_code == 200, r.text


# ---- the sealing key -------------------------------------------------------------------------

KEY_A = "a" * 64
KEY_B = "b" * 64


def test_start_up_refuses_secrets_sealed_under_another_key(server_factory):
    srv = server_factory(totp_key=KEY_A)
    enabled_user(srv)
    srv.stop()
    srv.settings["totp_key"] = KEY_B
    proc = __import__("subprocess").run(srv.argv(), capture_output=True, text=True, timeout=60,
                                        env=__import__("conftest")._base_env())
    assert proc.returncode == 2, proc.stderr
    assert "totp_key" in proc.stderr and "1 user(s)" in proc.stderr
    assert KEY_A not in proc.stderr and KEY_B not in proc.stderr
    srv.settings["totp_key"] = KEY_A
    srv.start()
    assert srv.get("/healthz").status_code == 200


@pytest.mark.parametrize("bad", ["abc", "g" * 64, "a" * 63, "a" * 65])
def test_a_malformed_totp_key_is_refused(server_factory, bad):
    srv = server_factory(start=False, totp_key=bad)
    proc = __import__("subprocess").run(srv.argv(), capture_output=True, text=True, timeout=60,
                                        env=__import__("conftest")._base_env())
    assert proc.returncode == 2, proc.stderr
    assert "totp_key" in proc.stderr and bad not in proc.stderr


def test_a_generated_key_is_kept_in_the_store(server_factory):
    srv = server_factory(totp_key="")
    u, _, totp, _ = enabled_user(srv)
    keys = srv.db("SELECT value FROM keys WHERE name = 'totp_key'")
    assert len(keys) == 1 and len(keys[0]["value"]) == 64
    srv.restart()
    token = pending_token(srv, u["email"])
    last = totp_row(srv, u["id"])["last_step"]
    r = second_step(srv, token, next_code_after_step(totp, last))
    assert r.status_code == 200, r.text


def test_user_read_lists_totp_for_admins(server, admin_token):
    u, _, _, _ = enabled_user(server)
    r = server.get(f"/auth/users/{u['id']}", headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["totp"] is True


# ---- no face hands out a credential for a password alone ------------------------------------


def test_fastapi_users_login_refuses_a_password_alone_when_totp_is_on(server):
    """fastapi-users has no second step: its JWT and cookie logins refuse a
    user with TOTP on (else a password would skip the second factor), and
    make no session; with TOTP off again, they work."""
    u, token, _, _ = enabled_user(server)
    email = u["email"]
    for path in ("/auth/login", "/auth/cookie/login"):
        r = server.post(path, data={"username": email, "password": PW})
        assert_detail(r, 400, "LOGIN_TOTP_REQUIRED")
        assert "set-cookie" not in {k.lower() for k in r.headers}
    assert server.db("SELECT count(*) AS n FROM sessions WHERE user_id = ?",
                     (u["id"],))[0]["n"] == 0
    # a wrong password still says nothing of TOTP
    assert_detail(server.post("/auth/login", data={"username": email, "password": "nope-nope-1"}),
                  400, "LOGIN_BAD_CREDENTIALS")
    r = server.request("DELETE", "/auth/login/totp", json={"original": PW}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert server.post("/auth/login", data={"username": email, "password": PW}).status_code == 200


def test_a_pending_second_step_token_dies_with_a_password_change(server):
    """Issue 13, item 2: the TOTP-purpose token a password opened is a
    credential too; a password change (here MyAuth's own PUT /users/me)
    refuses it, as it does access tokens."""
    u, token, totp, codes = enabled_user(server)
    pending = pending_token(server, u["email"])
    r = server.request("PUT", "/auth/users/me", json={"password": "new-horse-battery-7",
                                                      "original": PW},
                       headers=bearer(token))
    assert r.status_code == 200, r.text
    r = second_step(server, pending, totp.now())
    assert_detail(r, 403, "Could not validate credentials")
    fresh = pending_token_pw(server, u["email"], "new-horse-battery-7")
    wait_fresh_step(totp)
    assert second_step(server, fresh, totp.now()).status_code == 200


def pending_token_pw(server, email, password):
    r = oauth(server, email, password)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]
