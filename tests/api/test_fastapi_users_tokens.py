"""Access JWTs: what the server accepts and what it must refuse.

Tokens are forged with PyJWT, an independent implementation."""

import base64
import json
import time
import uuid

import jwt
import pytest

from conftest import JWT_SECRET, assert_detail, bearer, cookie_header, decode_token, set_cookie_parts

PW = "correct-horse-9"
AUD = "fastapi-users:auth"


@pytest.fixture(scope="module")
def victim(server):
    """A registered user and a server-issued token for it."""
    u = server.register_ok(password=PW)
    return u, server.login(u["email"], PW)


def claims_for(user_id, **over):
    now = int(time.time())
    c = {"sub": user_id, "aud": AUD, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def b64(obj):
    raw = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_token_made_with_the_secret_by_another_implementation_is_accepted(server, victim):
    u, _ = victim
    token = jwt.encode(claims_for(u["id"]), JWT_SECRET, algorithm="HS256")
    r = server.me(token)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == u["id"]


def test_expired_token_is_rejected(server, victim):
    u, _ = victim
    now = int(time.time())
    token = jwt.encode(claims_for(u["id"], iat=now - 7200, exp=now - 60), JWT_SECRET, algorithm="HS256")
    assert_detail(server.me(token), 401, "Unauthorized")
    assert_detail(server.get("/protected", headers=bearer(token)), 401, "Unauthorized")


def test_token_without_exp_is_rejected(server, victim):
    u, _ = victim
    token = jwt.encode(claims_for(u["id"], exp=None), JWT_SECRET, algorithm="HS256")
    assert_detail(server.me(token), 401, "Unauthorized")


def test_alg_none_is_rejected(server, victim):
    u, _ = victim
    c = claims_for(u["id"])
    unsigned = [
        b64({"alg": "none", "typ": "JWT"}) + "." + b64(c) + ".",
        b64({"alg": "none", "typ": "JWT"}) + "." + b64(c),
        b64({"alg": "None", "typ": "JWT"}) + "." + b64(c) + ".",
        b64({"typ": "JWT"}) + "." + b64(c) + ".",
    ]
    for token in unsigned:
        assert_detail(server.me(token), 401, "Unauthorized")


def test_alg_none_header_with_a_valid_hs256_signature_is_rejected(server, victim):
    # the header says none; the signature part is a real HS256 MAC of header.payload
    import hashlib
    import hmac
    u, _ = victim
    signing_input = b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims_for(u["id"]))
    mac = hmac.new(JWT_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert_detail(server.me(signing_input + "." + b64(mac)), 401, "Unauthorized")


def test_token_signed_with_another_secret_is_rejected(server, victim):
    u, _ = victim
    token = jwt.encode(claims_for(u["id"]), "another-secret-of-sufficient-length-0123456789",
                       algorithm="HS256")
    assert_detail(server.me(token), 401, "Unauthorized")


def test_hs512_with_the_right_secret_is_rejected_when_hs256_is_configured(server, victim):
    u, _ = victim
    for alg in ("HS512", "HS384"):
        token = jwt.encode(claims_for(u["id"]), JWT_SECRET, algorithm=alg)
        assert_detail(server.me(token), 401, "Unauthorized")


def test_wrong_or_missing_audience_is_rejected(server, victim):
    u, _ = victim
    for aud in ("other:aud", ["other:aud"], "fastapi-users:auth ", None):
        token = jwt.encode(claims_for(u["id"], aud=aud), JWT_SECRET, algorithm="HS256")
        assert_detail(server.me(token), 401, "Unauthorized")


def test_token_for_an_unknown_or_malformed_subject_is_rejected(server):
    for sub in (str(uuid.uuid4()), "not-a-uuid", "", None):
        token = jwt.encode(claims_for(None, sub=sub), JWT_SECRET, algorithm="HS256")
        assert_detail(server.me(token), 401, "Unauthorized")


def test_tampered_tokens_are_rejected(server, victim):
    u, token = victim
    assert server.me(token).status_code == 200
    header, payload, sig = token.split(".")
    other = server.register_ok()
    swapped = dict(decode_token(token), sub=other["id"])
    variants = [
        header + "." + b64(swapped) + "." + sig,                       # payload changed
        header + "." + payload + "." + sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB"),
        header + "." + payload + "." + sig + "x",
        header + "." + payload,                                         # no signature
        header + "." + payload + ".",                                   # empty signature
        token + ".extra",
        "Bearer " + token,                                              # doubled scheme
        token[:-10],
        "\u00e9" + token,
    ]
    for t in variants:
        r = server.get("/users/me", headers={"Authorization": ("Bearer " + t).encode("utf-8")})
        assert_detail(r, 401, "Unauthorized")
    # the genuine token still works afterwards
    assert server.me(token).status_code == 200


def test_jwt_is_not_accepted_as_a_session_cookie(server, victim):
    _u, token = victim
    assert_detail(server.get("/users/me", headers=cookie_header(token)), 401, "Unauthorized")


def test_lifetime_settings_are_honoured_and_tokens_and_sessions_expire(server_factory):
    srv = server_factory(lifetime_seconds=3, session_lifetime_seconds=3)
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    cookie, attrs = set_cookie_parts(srv.cookie_login(u["email"], PW))
    c = decode_token(token)
    assert c["exp"] - c.get("iat", c["exp"] - 3) == 3
    assert abs(c["exp"] - (time.time() + 3)) <= 3
    assert int(attrs["max-age"]) == 3
    assert srv.me(token).status_code == 200
    assert srv.get("/users/me", headers=cookie_header(cookie)).status_code == 200
    time.sleep(max(0.0, c["exp"] + 1.5 - time.time()))
    assert_detail(srv.me(token), 401, "Unauthorized")
    assert_detail(srv.get("/users/me", headers=cookie_header(cookie)), 401, "Unauthorized")


def test_configured_algorithm_and_audience(server_factory):
    srv = server_factory(algorithm="HS512", jwt_audience="my-app:users", lifetime_seconds=900)
    u = srv.register_ok(password=PW)
    t0 = time.time()
    token = srv.login(u["email"], PW)
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    c = jwt.decode(token, JWT_SECRET, algorithms=["HS512"], audience="my-app:users")
    assert c["sub"] == u["id"]
    assert abs(c["exp"] - (t0 + 900)) <= 5
    assert srv.me(token).status_code == 200
    # HS256 with the right secret and audience is refused: the algorithm is pinned
    hs256 = jwt.encode(claims_for(u["id"], aud="my-app:users"), JWT_SECRET, algorithm="HS256")
    assert_detail(srv.me(hs256), 401, "Unauthorized")
    # the default audience is not accepted any more
    other_aud = jwt.encode(claims_for(u["id"]), JWT_SECRET, algorithm="HS512")
    assert_detail(srv.me(other_aud), 401, "Unauthorized")
    good = jwt.encode(claims_for(u["id"], aud="my-app:users"), JWT_SECRET, algorithm="HS512")
    assert srv.me(good).status_code == 200


def same_tail(token, at):
    """token with one byte at index `at` changed: same length, same last 16
    bytes (what picks the credential cache's slot), so only the cache's full
    compare tells it from the real one."""
    assert 0 <= at < len(token) - 16
    c = "B" if token[at] == "A" else "A"
    t = token[:at] + c + token[at + 1:]
    assert len(t) == len(token) and t[-16:] == token[-16:] and t != token
    return t


def test_a_remembered_token_never_answers_for_another_of_the_same_length_and_tail(server_factory):
    # One HTTP thread: every request sees the same per-thread cache; a long
    # cache time: the entry is still there when the tampered token comes.
    srv = server_factory(threads=1, auth_cache_ms=60000)
    u = srv.register_ok(password=PW)
    token = srv.login(u["email"], PW)
    cookie, _ = set_cookie_parts(srv.cookie_login(u["email"], PW))
    # remembered now; nothing is written from here on
    assert srv.me(token).status_code == 200
    assert srv.get("/users/me", headers=cookie_header(cookie)).status_code == 200
    header, payload, sig = token.split(".")
    for t in (same_tail(token, len(header) + 1 + len(payload) // 2),   # the payload
              same_tail(token, len(token) - 20)):                       # the signature's head
        assert_detail(srv.me(t), 401, "Unauthorized")
    assert_detail(srv.get("/users/me", headers=cookie_header(same_tail(cookie, 0))), 401,
                  "Unauthorized")
    # the real ones are still good (and were never written over)
    r = srv.me(token)
    assert r.status_code == 200 and r.json()["id"] == u["id"]
    assert srv.get("/users/me", headers=cookie_header(cookie)).status_code == 200
