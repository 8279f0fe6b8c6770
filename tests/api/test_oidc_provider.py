"""The OIDC client core (src/core/oidc.c) against a real OpenID provider,
npm's oidc-provider (tests/oidc): discovery and the JWKS through the core's
HTTP client, then ID tokens the provider issued after its own login and
consent forms, verified by the core (RS256 and ES256). The small program
tests/unit/oidc_probe runs the core's calls; the routes come later."""

import base64
import hashlib
import json
import os
import secrets
import subprocess

import pytest
import requests

from conftest import BIN, SANITIZER_MARKERS, free_port
from oidc_provider import OidcProvider

PROBE = BIN.parent / "tests" / "unit" / "oidc_probe"


def probe(*args):
    if not PROBE.exists():
        pytest.fail(f"{PROBE} does not exist (build it with `make asan`)", pytrace=False)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    r = subprocess.run([str(PROBE), *args], capture_output=True, text=True, timeout=60, env=env)
    assert not [m for m in SANITIZER_MARKERS if m in r.stderr], r.stderr
    return r


@pytest.fixture(scope="module", params=["RS256", "ES256"])
def provider(request):
    p = OidcProvider(id_token_alg=request.param)
    yield p
    p.stop()


def id_token(p, login="jane", nonce=None):
    nonce = nonce or secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = p.login({"client_id": p.client_id, "response_type": "code", "scope": "openid email",
                 "redirect_uri": p.redirect_uri, "state": "s", "nonce": nonce,
                 "code_challenge": challenge, "code_challenge_method": "S256"}, login=login)
    assert q["state"] == "s"
    return p.token(q["code"], verifier)["id_token"], nonce


def test_discovery_and_jwks_fetch_hold_the_providers_keys(provider):
    r = probe(provider.issuer)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert f"jwks_uri {provider.discovery['jwks_uri']}" in lines
    kids = requests.get(provider.discovery["jwks_uri"], timeout=5).json()["keys"]
    assert sorted(l for l in lines if l.startswith("key ")) == sorted(
        f"key {k['kty']}:{k['kid']}" for k in kids)
    assert {"key RSA:rs1", "key EC:es1"} <= set(lines)


def test_an_id_token_from_the_provider_verifies(provider):
    token, nonce = id_token(provider)
    r = probe(provider.issuer, provider.client_id, nonce, token)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-3:] == ["sub jane", "email jane@example.com",
                                          "email_verified 1"]


def test_an_unverified_email_is_reported_unverified(provider):
    token, nonce = id_token(provider, login="unverified-joe")
    r = probe(provider.issuer, provider.client_id, nonce, token)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "email_verified 0"


def test_its_token_with_another_nonce_or_client_is_refused(provider):
    token, nonce = id_token(provider)
    r = probe(provider.issuer, provider.client_id, nonce + "x", token)
    assert r.returncode == 1 and "error id_token" in r.stderr
    r = probe(provider.issuer, "another-client", nonce, token)
    assert r.returncode == 1 and "error id_token" in r.stderr
    # a signature byte changed
    h, p, s = token.split(".")
    s = ("B" if s[0] == "A" else "A") + s[1:]
    r = probe(provider.issuer, provider.client_id, nonce, f"{h}.{p}.{s}")
    assert r.returncode == 1 and "error id_token" in r.stderr


def test_the_factory_fixture_starts_a_provider_with_our_redirect(oidc_provider_factory):
    p = oidc_provider_factory(redirect_uri="http://127.0.0.1:9/auth/oidc/callback",
                              id_token_alg="ES256")
    token, nonce = id_token(p)
    head = token.split(".")[0]
    head = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    assert head["alg"] == "ES256" and head["kid"] == "es1"
    r = probe(p.issuer, p.client_id, nonce, token)
    assert r.returncode == 0, r.stderr


def test_another_issuer_name_or_a_provider_down_fails_discovery(provider):
    # the document names http://127.0.0.1:<port>, not localhost
    r = probe(provider.issuer.replace("127.0.0.1", "localhost"))
    assert r.returncode == 1 and "error discover" in r.stderr
    r = probe(f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 1 and "error discover" in r.stderr
