"""Published signing keys (issue 14, item 2): access tokens signed with EdDSA,
ES256 or RS256, verified here by PyJWT from GET /.well-known/jwks.json alone;
`portcullis keys rotate`, an old key kept until its last token expires; forged
tokens (alg swap, unknown kid, HS256 keyed with the public key, none) refused.

Real parts only: the server binary, its SQLite store, the CLI against the same
database while the server runs, PyJWT and python3-cryptography as the
independent implementation.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import AUDIENCE, JWT_SECRET, bearer, run_cli

PW = "correct-horse-9"
ALGS = ["EdDSA", "ES256", "RS256"]
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwks(srv):
    r = srv.get("/.well-known/jwks.json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"keys"}
    for k in body["keys"]:
        assert not PRIVATE_MEMBERS & set(k), k  # never a private part
        assert k["use"] == "sig" and k["kid"] and k["alg"] in ALGS
    return body["keys"]


def verify_by_jwks(srv, token, **kw):
    """What a service does: pick the JWK by the header's kid, pin its alg."""
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in jwks(srv) if k["kid"] == kid]
    key = jwt.PyJWK(jwk)
    return jwt.decode(token, key.key, algorithms=[jwk["alg"]], audience=AUDIENCE, **kw)


def thumbprint(jwk):
    """RFC 7638."""
    req = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}
    members = {m: jwk[m] for m in req[jwk["kty"]]}
    text = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(text.encode()).digest())


def new_user(srv, **extra):
    email = f"k-{uuid.uuid4().hex[:12]}@example.com"
    r = srv.register(email, PW, **extra)
    assert r.status_code == 201, r.text
    return r.json()


def me(srv, token):
    return srv.get("/users/me", headers=bearer(token))


def private_key(alg):
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key, password=None):
    enc = (serialization.BestAvailableEncryption(password) if password
           else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def hand_made(header, claims, sign):
    """header.payload.signature with sign(signing_input) -> bytes."""
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{h}.{p}.{b64url(sign(f'{h}.{p}'.encode()))}"


def good_claims(user, lifetime=600):
    now = int(time.time())
    return {"sub": user["id"], "aud": AUDIENCE, "iat": now, "exp": now + lifetime,
            "jti": uuid.uuid4().hex}


# ---- HS256 stays the default ---------------------------------------------------------------


def test_hs256_by_default_publishes_no_key_and_tokens_carry_no_kid(server):
    assert jwks(server) == []
    u = new_user(server)
    token = server.login(u["email"], PW)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["sub"] == u["id"]
    assert "email" not in claims and "is_superuser" not in claims


# ---- each algorithm, verified from the JWKS alone -------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_a_token_of_each_algorithm_verifies_by_the_jwks_alone(server_factory, alg):
    srv = server_factory(algorithm=alg, jwt_extra_claims="email,is_superuser,is_verified")
    keys = jwks(srv)
    assert len(keys) == 1
    assert keys[0]["alg"] == alg
    assert keys[0]["kid"] == thumbprint(keys[0])
    assert srv.get("/.well-known/jwks.json").headers["Cache-Control"] == "public, max-age=300"
    stored = srv.db("SELECT kid, alg, retired_at FROM signing_keys")
    assert [(r["kid"], r["alg"], r["retired_at"]) for r in stored] == [(keys[0]["kid"], alg, None)]

    u = new_user(srv)
    token = srv.login(u["email"], PW)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "kid": keys[0]["kid"], "typ": "JWT"}
    claims = verify_by_jwks(srv, token)
    assert claims["sub"] == u["id"]
    # as a service would, with PyJWT's own JWKS client over HTTP
    client = jwt.PyJWKClient(srv.base + "/.well-known/jwks.json")
    signing = client.get_signing_key_from_jwt(token)
    assert jwt.decode(token, signing.key, algorithms=[alg], audience=AUDIENCE) == claims
    assert claims["email"] == u["email"]
    assert claims["is_superuser"] is False and claims["is_verified"] is False
    # the HMAC secret does not verify it, whatever alg one claims
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(token, JWT_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert me(srv, token).status_code == 200
    # logout (jti denylist) works on it as on an HS256 token
    assert srv.post("/auth/logout", headers=bearer(token)).status_code == 204
    assert me(srv, token).status_code == 401


def test_myauth_tokens_are_published_and_simplejwt_ones_stay_hs256(server_factory):
    srv = server_factory(algorithm="ES256")
    u = new_user(srv)
    r = srv.post("/auth/login/oauth", data={"username": u["email"], "password": PW})
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    assert verify_by_jwks(srv, access)["sub"] == u["id"]
    assert srv.get("/auth/users/me", headers=bearer(access)).status_code == 200

    name = f"sj{uuid.uuid4().hex[:10]}"
    r = srv.post("/api/auth/register", json={"username": name, "password": PW})
    assert r.status_code in (200, 201), r.text
    r = srv.post("/api/auth/token", json={"username": name, "password": PW})
    assert r.status_code == 200, r.text
    sj = r.json()["access"]
    assert jwt.get_unverified_header(sj)["alg"] == "HS256"
    jwt.decode(sj, JWT_SECRET, algorithms=["HS256"])
    assert srv.post("/api/auth/token/verify", json={"token": sj}).status_code == 200


def test_without_extra_claims_setting_none_are_added(server_factory):
    srv = server_factory(algorithm="EdDSA")
    u = new_user(srv)
    claims = verify_by_jwks(srv, srv.login(u["email"], PW))
    assert set(claims) == {"sub", "aud", "exp", "iat", "jti"}


def test_generated_keys_survive_a_restart(server_factory):
    srv = server_factory(algorithm="EdDSA")
    u = new_user(srv)
    token = srv.login(u["email"], PW)
    before = jwks(srv)
    srv.restart()
    assert jwks(srv) == before
    assert me(srv, token).status_code == 200


# ---- forged tokens ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["EdDSA", "RS256"])
def forge_srv(request, tmp_path_factory):
    from conftest import Server
    s = Server(tmp_path_factory.mktemp(f"forge-{request.param}"),
               settings={"algorithm": request.param})
    s.start()
    yield s
    s.stop()


def public_pem(srv):
    (k,) = jwks(srv)
    return jwt.PyJWK(k).key.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def test_a_good_hand_made_token_passes(forge_srv):
    """The control: the same claims, signed by the server, pass."""
    u = new_user(forge_srv)
    token = forge_srv.login(u["email"], PW)
    assert me(forge_srv, token).status_code == 200


def test_hs256_keyed_with_the_public_key_is_refused(forge_srv):
    u = new_user(forge_srv)
    (k,) = jwks(forge_srv)
    key = public_pem(forge_srv)
    for header in ({"alg": "HS256", "kid": k["kid"], "typ": "JWT"},
                   {"alg": "HS256", "typ": "JWT"}):
        t = hand_made(header, good_claims(u),
                      lambda m: hmac.new(key, m, hashlib.sha256).digest())
        assert me(forge_srv, t).status_code == 401, header


def test_hs256_with_the_server_secret_is_refused_by_a_published_face(forge_srv):
    """With an asymmetric algorithm the HMAC secret signs nothing
    fastapi-users accepts (no HS/asymmetric confusion either way)."""
    u = new_user(forge_srv)
    t = jwt.encode(good_claims(u), JWT_SECRET, algorithm="HS256")
    assert me(forge_srv, t).status_code == 401
    (k,) = jwks(forge_srv)
    t = jwt.encode(good_claims(u), JWT_SECRET, algorithm="HS256", headers={"kid": k["kid"]})
    assert me(forge_srv, t).status_code == 401


def test_alg_none_and_alg_swaps_are_refused(forge_srv):
    u = new_user(forge_srv)
    (k,) = jwks(forge_srv)
    t = hand_made({"alg": "none", "kid": k["kid"]}, good_claims(u), lambda m: b"")
    assert me(forge_srv, t).status_code == 401
    t = hand_made({"alg": "none", "kid": k["kid"]}, good_claims(u), lambda m: b"x")
    assert me(forge_srv, t).status_code == 401
    # the other asymmetric algorithms, with the real kid, signed by a key of theirs
    for other in ALGS:
        if other == k["alg"]:
            continue
        t = jwt.encode(good_claims(u), pem(private_key(other)), algorithm=other,
                       headers={"kid": k["kid"]})
        assert me(forge_srv, t).status_code == 401, other
    # the server's own token with its header's alg rewritten
    token = forge_srv.login(u["email"], PW)
    h, p, s = token.split(".")
    for alg in ["HS256", "ES256" if k["alg"] != "ES256" else "RS256", "none"]:
        hdr = b64url(json.dumps({"alg": alg, "kid": k["kid"], "typ": "JWT"}).encode())
        assert me(forge_srv, f"{hdr}.{p}.{s}").status_code == 401, alg
    assert me(forge_srv, token).status_code == 200


def test_unknown_kid_and_a_foreign_key_are_refused(forge_srv):
    u = new_user(forge_srv)
    (k,) = jwks(forge_srv)
    mine = private_key(k["alg"])
    for kid in ["not-a-kid-we-hold", k["kid"]]:
        t = jwt.encode(good_claims(u), pem(mine), algorithm=k["alg"], headers={"kid": kid})
        assert me(forge_srv, t).status_code == 401, kid
    # no kid at all
    t = jwt.encode(good_claims(u), pem(mine), algorithm=k["alg"])
    assert me(forge_srv, t).status_code == 401
    # a kid that is no string, or far too long
    for kid in [7, None, ["x"], "A" * 200, "a.b", ""]:
        t = hand_made({"alg": k["alg"], "kid": kid}, good_claims(u), lambda m: b"s" * 64)
        assert me(forge_srv, t).status_code == 401, kid
    assert forge_srv.alive()


def test_a_tampered_payload_or_signature_is_refused(forge_srv):
    u = new_user(forge_srv)
    other = new_user(forge_srv)
    token = forge_srv.login(u["email"], PW)
    h, p, s = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["sub"] = other["id"]
    forged = b64url(json.dumps(claims, separators=(",", ":")).encode())
    assert me(forge_srv, f"{h}.{forged}.{s}").status_code == 401
    sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    sig[5] ^= 1
    assert me(forge_srv, f"{h}.{p}.{b64url(bytes(sig))}").status_code == 401
    assert me(forge_srv, f"{h}.{p}.{s[:-4]}").status_code == 401
    assert me(forge_srv, f"{h}.{p}.").status_code == 401


# ---- rotation ---------------------------------------------------------------------------------


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("alg", ALGS)
def test_rotation_signs_with_the_new_key_and_keeps_the_old_until_its_tokens_expire(
        server_factory, alg):
    lifetime = 6
    srv = server_factory(algorithm=alg, lifetime_seconds=lifetime, jwt_keys_reload_seconds=1)
    u = new_user(srv)
    (old,) = jwks(srv)
    old_token = srv.login(u["email"], PW)
    assert verify_by_jwks(srv, old_token)["sub"] == u["id"]

    p = run_cli(["keys", "rotate", f"--algorithm={alg}", f"--lifetime-seconds={lifetime}"],
                server=srv)
    assert p.returncode == 0, p.stderr
    new_kid = p.stdout.strip()
    assert new_kid and new_kid != old["kid"]
    rotated_at = time.time()

    # the running server reads the store again within jwt_keys_reload_seconds
    wait_for(lambda: {k["kid"] for k in jwks(srv)} == {old["kid"], new_kid})
    new_token = srv.login(u["email"], PW)
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert verify_by_jwks(srv, new_token)["sub"] == u["id"]
    # the old key's token: still published, still accepted
    assert verify_by_jwks(srv, old_token)["sub"] == u["id"]
    assert me(srv, old_token).status_code == 200
    rows = {r["kid"]: r for r in srv.db("SELECT kid, retired_at FROM signing_keys")}
    assert rows[new_kid]["retired_at"] is None and rows[old["kid"]]["retired_at"] is not None

    # once the old key's last token has expired, the key is dropped
    time.sleep(max(0.0, rotated_at + lifetime + 1.5 - time.time()))
    assert me(srv, old_token).status_code == 401
    wait_for(lambda: [k["kid"] for k in jwks(srv)] == [new_kid])
    assert [r["kid"] for r in srv.db("SELECT kid FROM signing_keys")] == [new_kid]
    assert me(srv, srv.login(u["email"], PW)).status_code == 200


def test_keys_list_and_rotate_refuse_hs256(tmp_db):
    run_cli(["migrate"], db_path=tmp_db)
    p = run_cli(["keys", "rotate"], db_path=tmp_db)
    assert p.returncode == 2, p.stderr
    assert "EdDSA, ES256 or RS256" in p.stderr
    p = run_cli(["keys", "list"], db_path=tmp_db)
    assert p.returncode == 0 and p.stdout == ""
    p = run_cli(["keys", "spin"], db_path=tmp_db)
    assert p.returncode == 2


def test_keys_list_prints_the_signing_key_first(tmp_db):
    run_cli(["migrate"], db_path=tmp_db)
    p = run_cli(["keys", "list", "--algorithm=ES256"], db_path=tmp_db)
    assert p.returncode == 0, p.stderr
    first = p.stdout.split()[0]
    p = run_cli(["keys", "rotate", "--algorithm=ES256"], db_path=tmp_db)
    new = p.stdout.strip()
    p = run_cli(["keys", "list", "--algorithm=ES256"], db_path=tmp_db)
    lines = [line.split("\t") for line in p.stdout.splitlines()]
    assert lines == [[new, "ES256"], [first, "ES256"]]


# ---- keys from PEM files ----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_a_pem_key_file_signs_and_is_published_with_its_thumbprint(server_factory, tmp_path,
                                                                     alg):
    key = private_key(alg)
    path = tmp_path / "signing.pem"
    path.write_bytes(pem(key))
    srv = server_factory(algorithm=alg, jwt_private_key_file=str(path))
    (k,) = jwks(srv)
    assert k["kid"] == thumbprint(k)
    u = new_user(srv)
    token = srv.login(u["email"], PW)
    pub = key.public_key()
    claims = jwt.decode(token, pub, algorithms=[alg], audience=AUDIENCE)
    assert claims["sub"] == u["id"]
    assert srv.db("SELECT * FROM signing_keys") == []  # nothing stored
    p = run_cli(["keys", "rotate", f"--algorithm={alg}", f"--jwt-private-key-file={path}"],
                server=srv)
    assert p.returncode == 2, p.stderr


@pytest.mark.parametrize("setup", ["wrong_type", "encrypted", "garbage", "absent", "hs256",
                                   "small_rsa"])
def test_an_unusable_key_file_refuses_to_start(tmp_path, setup):
    path = tmp_path / "k.pem"
    alg = "EdDSA"
    if setup == "wrong_type":
        path.write_bytes(pem(private_key("ES256")))
    elif setup == "encrypted":
        path.write_bytes(pem(private_key("EdDSA"), password=b"secret-pass"))
    elif setup == "garbage":
        path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    elif setup == "hs256":
        path.write_bytes(pem(private_key("EdDSA")))
        alg = "HS256"
    elif setup == "small_rsa":
        path.write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
        alg = "RS256"
    p = run_cli(["serve", f"--algorithm={alg}", f"--jwt-private-key-file={path}",
                 "--port=1"], db_path=tmp_path / "x.db", timeout=30)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "jwt_private_key_file" in p.stderr
    assert "secret-pass" not in p.stderr


@pytest.mark.parametrize("value", ["email,", "roles", "email,,is_verified", ",email", "EMAIL"])
def test_bad_extra_claims_refuse_to_start(tmp_path, value):
    p = run_cli(["serve", f"--jwt-extra-claims={value}", "--port=1"], db_path=tmp_path / "x.db")
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "jwt_extra_claims" in p.stderr


def test_the_jwks_route_answers_other_methods_with_405(server):
    r = server.post("/.well-known/jwks.json", json={})
    assert r.status_code == 405
    assert "detail" in r.json()
