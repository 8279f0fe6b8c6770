"""OAuth2 / OpenID Connect social login (issue 11), fastapi-users' OAuth and
associate routers at /auth/{provider}/..., against a real OpenID provider
(npm's oidc-provider, tests/oidc) driven through its login and consent
forms, and, for ID tokens a real provider will not make (wrong issuer,
audience or nonce), a small provider of this file's own (discovery, JWKS,
token endpoint) whose tokens PyJWT signs.

Each test asserts the answer, the stored state (users, oauth_accounts,
oauth_used_states) and what must not have happened (no user created, no
token in clear in the database file)."""

import base64
import hashlib
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import assert_detail, bearer, free_port

APP = "http://app.test"  # oauth_callback_base: only a name, never dialled
COOKIE = "fastapiusersoauthcsrf"
LOGIN_CB = APP + "/auth/corp/callback"
ASSOC_CB = APP + "/auth/corp/associate/callback"


# ---- helpers --------------------------------------------------------------------------------

def oauth_settings(issuer, client_id="portcullis", secret="portcullis-secret", **extra):
    s = {
        "oauth_providers": "corp",
        "oauth_corp_kind": "oidc",
        "oauth_corp_client_id": client_id,
        "oauth_corp_client_secret": secret,
        "oauth_corp_issuer": issuer,
        "oauth_callback_base": APP,
        "bootstrap_admin_email": "admin@example.com",
        "bootstrap_admin_password": "admin-password-123",
    }
    s.update(extra)
    return s


def set_cookie(resp, name):
    """The value a Set-Cookie header of resp gives name (None when absent)."""
    for k, v in resp.raw.headers.items():
        if k.lower() != "set-cookie":
            continue
        first = v.split(";", 1)[0]
        if first.startswith(name + "="):
            return first[len(name) + 1:]
    return None


def set_cookie_line(resp, name):
    for k, v in resp.raw.headers.items():
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            return v
    return None


def authorize(srv, backend="jwt", headers=None, path="/auth/corp/authorize", **params):
    q = {"authentication_backend": backend} if backend is not None else {}
    q.update(params)
    r = srv.get(path, params=q, headers=headers or {})
    assert r.status_code == 200, r.text
    url = r.json()["authorization_url"]
    cookie = set_cookie(r, COOKIE)
    assert cookie, r.headers
    return url, cookie, r


def url_params(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def callback(srv, query, cookie, path="/auth/corp/callback", headers=None):
    h = dict(headers or {})
    if cookie is not None:
        h["Cookie"] = f"{COOKIE}={cookie}"
    return srv.get(path, params=query, headers=h, allow_redirects=False)


def provider_flow(srv, provider, login="jane", backend="jwt", headers=None,
                  path="/auth/corp/authorize"):
    """authorize -> the provider's forms -> the query for our callback."""
    url, cookie, _ = authorize(srv, backend=backend, headers=headers, path=path)
    params = url_params(url)
    q = provider.login(params, login=login)
    assert "code" in q and q["state"] == params["state"], q
    return {"code": q["code"], "state": q["state"]}, cookie


def count(srv, sql, *args):
    return list(srv.db(sql, args)[0].values())[0]


def users_count(srv):
    return count(srv, "SELECT count(*) FROM users")


@pytest.fixture
def provider(oidc_provider_factory):
    return oidc_provider_factory(redirect_uri=LOGIN_CB, extra_redirect_uris=(ASSOC_CB,))


@pytest.fixture
def srv(server_factory, provider):
    return server_factory(**oauth_settings(provider.issuer))


# ---- authorize ---------------------------------------------------------------------------------

def test_authorize_answers_a_url_with_pkce_state_nonce_and_an_httponly_cookie(srv, provider):
    url, cookie, r = authorize(srv)
    assert url.startswith(provider.discovery["authorization_endpoint"] + "?")
    p = url_params(url)
    assert p["client_id"] == "portcullis"
    assert p["redirect_uri"] == LOGIN_CB
    assert p["response_type"] == "code"
    assert p["code_challenge_method"] == "S256" and len(p["code_challenge"]) == 43
    assert len(p["nonce"]) == 43 and "openid" in p["scope"].split()
    line = set_cookie_line(r, COOKIE)
    assert "HttpOnly" in line and "samesite=lax" in line.lower(), line
    # the cookie holds the CSRF half and the verifier; the URL neither
    csrf, verifier = cookie.split(".")
    assert csrf not in url and verifier not in url
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert challenge.rstrip(b"=").decode() == p["code_challenge"]
    assert "portcullis-secret" not in url
    assert r.headers["Cache-Control"] == "no-store"


def test_authorize_scopes_are_passed_as_given(srv):
    url, _, _ = authorize(srv, scopes=["openid", "email"])
    assert url_params(url)["scope"] == "openid email"


def test_authorize_without_backend_is_422_and_unknown_backend_is_400(srv):
    r = srv.get("/auth/corp/authorize")
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "authentication_backend"]
    r = srv.get("/auth/corp/authorize", params={"authentication_backend": "database"})
    assert_detail(r, 400, "OAUTH_UNKNOWN_AUTHENTICATION_BACKEND")
    assert set_cookie(r, COOKIE) is None


def test_authorize_bad_scope_is_422_and_unknown_provider_404(srv):
    r = srv.get("/auth/corp/authorize",
                params={"authentication_backend": "jwt", "scopes": "a\"b"})
    assert r.status_code == 422, r.text
    r = srv.get("/auth/nope/authorize", params={"authentication_backend": "jwt"})
    assert r.status_code == 404
    r = srv.get("/auth/nope/callback", params={"code": "x", "state": "y"})
    assert r.status_code == 404


# ---- callback: the three cases of seed 000 ------------------------------------------------------

def test_new_user_is_created_linked_and_logged_in(srv, provider):
    before = users_count(srv)
    q, cookie = provider_flow(srv, provider, login="newbie")
    r = callback(srv, q, cookie)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    me = srv.me(body["access_token"])
    assert me.status_code == 200
    user = me.json()
    assert user["email"] == "newbie@example.com"
    assert user["is_verified"] is True  # the provider asserted it
    assert user["is_active"] is True
    accounts = user["oauth_accounts"]
    assert len(accounts) == 1
    a = accounts[0]
    assert set(a) == {"id", "oauth_name", "account_id", "account_email"}
    assert a["oauth_name"] == "corp" and a["account_id"] == "newbie"
    assert a["account_email"] == "newbie@example.com"
    assert users_count(srv) == before + 1
    row = srv.db("SELECT hashed_password FROM users WHERE email = ?",
                 ("newbie@example.com",))[0]
    assert row["hashed_password"] in (None, "")  # no password: OAuth users log in by their provider
    # the state cookie is cleared by the callback
    assert "Max-Age=0" in set_cookie_line(r, COOKIE)


def test_second_login_of_a_linked_account_updates_its_tokens(srv, provider):
    q, cookie = provider_flow(srv, provider, login="again")
    assert callback(srv, q, cookie).status_code == 200
    first = srv.db("SELECT access_token, updated_at FROM oauth_accounts")[0]
    n = users_count(srv)
    time.sleep(1.1)
    q, cookie = provider_flow(srv, provider, login="again")
    r = callback(srv, q, cookie)
    assert r.status_code == 200, r.text
    assert users_count(srv) == n
    rows = srv.db("SELECT access_token, updated_at FROM oauth_accounts")
    assert len(rows) == 1
    assert rows[0]["access_token"] != first["access_token"]
    assert rows[0]["updated_at"] > first["updated_at"]
    # the link is audited once (issue 13, item 5), in its transaction, without a token
    uid = srv.db("SELECT user_id FROM oauth_accounts")[0]["user_id"]
    audit = srv.db("SELECT event, detail FROM audit_log WHERE user_id = ? AND event = ?",
                   (uid, "oauth.link"))
    assert audit == [{"event": "oauth.link", "detail": '{"provider":"corp"}'}], audit


def test_existing_user_is_linked_by_verified_email_when_on(server_factory, provider):
    srv = server_factory(**oauth_settings(provider.issuer, oauth_associate_by_email=True))
    u, _, _ = srv.new_user(email="linkme@example.com")
    n = users_count(srv)
    q, cookie = provider_flow(srv, provider, login="linkme@example.com")
    r = callback(srv, q, cookie)
    assert r.status_code == 200, r.text
    me = srv.me(r.json()["access_token"]).json()
    assert me["id"] == u["id"]
    assert me["oauth_accounts"][0]["account_email"] == "linkme@example.com"
    assert users_count(srv) == n


def test_unverified_email_is_refused_even_with_linking_on(server_factory, provider):
    srv = server_factory(**oauth_settings(provider.issuer, oauth_associate_by_email=True))
    srv.new_user(email="unverified@example.com")
    n = users_count(srv)
    q, cookie = provider_flow(srv, provider, login="unverified@example.com")
    r = callback(srv, q, cookie)
    assert_detail(r, 400, "OAUTH_USER_ALREADY_EXISTS")
    assert users_count(srv) == n
    assert count(srv, "SELECT count(*) FROM oauth_accounts") == 0


def test_linking_off_is_oauth_user_already_exists(srv, provider):
    srv.new_user(email="taken@example.com")
    n = users_count(srv)
    q, cookie = provider_flow(srv, provider, login="taken@example.com")
    r = callback(srv, q, cookie)
    assert_detail(r, 400, "OAUTH_USER_ALREADY_EXISTS")
    assert users_count(srv) == n
    assert count(srv, "SELECT count(*) FROM oauth_accounts") == 0


def test_new_user_with_unverified_email_is_created_unverified(srv, provider):
    q, cookie = provider_flow(srv, provider, login="unverified-new")
    r = callback(srv, q, cookie)
    assert r.status_code == 200, r.text
    assert srv.me(r.json()["access_token"]).json()["is_verified"] is False


def test_cookie_backend_answers_204_with_the_session_cookie(srv, provider):
    q, cookie = provider_flow(srv, provider, login="cookieuser", backend="cookie")
    r = callback(srv, q, cookie)
    assert r.status_code == 204, r.text
    session = set_cookie(r, "fastapiusersauth")
    assert session
    me = srv.get("/users/me", headers={"Cookie": f"fastapiusersauth={session}"})
    assert me.status_code == 200 and me.json()["email"] == "cookieuser@example.com"


def test_cookie_backend_with_redirect_url_answers_302_to_exactly_it(server_factory, provider):
    target = "https://front.example.com/after-login?from=oauth"
    srv = server_factory(**oauth_settings(provider.issuer, oauth_redirect_url=target))
    q, cookie = provider_flow(srv, provider, login="redir", backend="cookie")
    r = callback(srv, dict(q, next="https://evil.example.com/"), cookie)
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == target
    assert set_cookie(r, "fastapiusersauth")
    # the JWT backend is unaffected by the redirect URL
    q, cookie = provider_flow(srv, provider, login="redir", backend="jwt")
    r = callback(srv, q, cookie)
    assert r.status_code == 200 and "access_token" in r.json()


# ---- callback: refused flows create nothing -------------------------------------------------------

def test_replayed_state_is_refused(srv, provider):
    q, cookie = provider_flow(srv, provider, login="replay")
    assert callback(srv, q, cookie).status_code == 200
    assert count(srv, "SELECT count(*) FROM oauth_used_states") == 1
    n = users_count(srv)
    r = callback(srv, q, cookie)
    assert_detail(r, 400, "OAUTH_INVALID_STATE")
    assert users_count(srv) == n


def test_tampered_state_is_refused(srv, provider):
    q, cookie = provider_flow(srv, provider, login="tamper")
    payload, mac = q["state"].split(".")
    raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw["p"] = "corp"
    raw["a"] = "login:cookie"
    forged = base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode())
    n = users_count(srv)
    for state in (forged.rstrip(b"=").decode() + "." + mac, q["state"][:-2] + "AA", "x.y", ""):
        r = callback(srv, dict(q, state=state), cookie)
        assert_detail(r, 400, "OAUTH_INVALID_STATE")
    assert users_count(srv) == n
    assert count(srv, "SELECT count(*) FROM oauth_used_states") == 0


def test_state_from_another_browser_is_refused(srv, provider):
    q, cookie = provider_flow(srv, provider, login="victim")
    _, other_cookie, _ = authorize(srv)
    n = users_count(srv)
    assert_detail(callback(srv, q, None), 400, "OAUTH_INVALID_STATE")
    assert_detail(callback(srv, q, other_cookie), 400, "OAUTH_INVALID_STATE")
    csrf, verifier = cookie.split(".")
    other_csrf, other_verifier = other_cookie.split(".")
    assert_detail(callback(srv, q, f"{csrf}.{other_verifier}"), 400, "OAUTH_INVALID_STATE")
    assert_detail(callback(srv, q, f"{other_csrf}.{verifier}"), 400, "OAUTH_INVALID_STATE")
    assert_detail(callback(srv, q, csrf), 400, "OAUTH_INVALID_STATE")
    assert users_count(srv) == n
    # the rightful browser still completes: the refusals spent nothing
    assert callback(srv, q, cookie).status_code == 200


def test_state_of_another_provider_is_refused(server_factory, provider):
    settings = oauth_settings(provider.issuer, oauth_providers="corp,corp2")
    settings.update({"oauth_corp2_client_id": "portcullis",
                     "oauth_corp2_client_secret": "portcullis-secret",
                     "oauth_corp2_issuer": provider.issuer})
    srv = server_factory(**settings)
    q, cookie = provider_flow(srv, provider, login="crosser")
    n = users_count(srv)
    r = callback(srv, q, cookie, path="/auth/corp2/callback")
    assert_detail(r, 400, "OAUTH_INVALID_STATE")
    assert users_count(srv) == n


def test_provider_error_is_400_with_its_code_never_a_login(srv, provider):
    url, cookie, _ = authorize(srv)
    state = url_params(url)["state"]
    n = users_count(srv)
    r = callback(srv, {"error": "access_denied", "state": state}, cookie)
    assert_detail(r, 400, "access_denied")
    r = callback(srv, {"error": "access_denied", "code": "x", "state": state}, cookie)
    assert_detail(r, 400, "access_denied")
    r = callback(srv, {"error": "<script>", "state": state}, cookie)
    assert_detail(r, 400, "OAUTH_PROVIDER_ERROR")
    r = callback(srv, {"state": state}, cookie)
    assert_detail(r, 400, "OAUTH_MISSING_CODE")
    r = callback(srv, {"code": "c" * 5000, "state": state}, cookie)
    assert_detail(r, 400, "OAUTH_MISSING_CODE")
    assert count(srv, "SELECT count(*) FROM oauth_used_states") == 0
    assert users_count(srv) == n


def test_a_code_the_provider_refuses_is_400_with_its_error(srv, provider):
    url, cookie, _ = authorize(srv)
    state = url_params(url)["state"]
    r = callback(srv, {"code": "not-a-code", "state": state}, cookie)
    assert_detail(r, 400, "invalid_grant")
    assert count(srv, "SELECT count(*) FROM oauth_accounts") == 0


def test_provider_down_is_502_and_nothing_is_created(srv, provider):
    q, cookie = provider_flow(srv, provider, login="downer")
    n = users_count(srv)
    provider.stop()
    r = callback(srv, q, cookie)
    assert r.status_code == 502, r.text
    assert r.json() == {"detail": "Bad Gateway"}
    assert users_count(srv) == n
    assert count(srv, "SELECT count(*) FROM oauth_accounts") == 0
    assert srv.get("/healthz").status_code == 200


def test_provider_unreachable_at_authorize_is_502(server_factory):
    srv = server_factory(**oauth_settings(f"http://127.0.0.1:{free_port()}"))
    r = srv.get("/auth/corp/authorize", params={"authentication_backend": "jwt"})
    assert r.status_code == 502, r.text
    assert set_cookie(r, COOKIE) is None


# ---- associate -----------------------------------------------------------------------------------

def test_associate_links_the_logged_in_user(srv, provider):
    u, _, token = srv.new_user(email="owner@example.com")
    h = bearer(token)
    r = srv.get("/auth/corp/associate/authorize")
    assert r.status_code == 401
    url, cookie, _ = authorize(srv, backend=None, headers=h,
                               path="/auth/corp/associate/authorize")
    p = url_params(url)
    assert p["redirect_uri"] == ASSOC_CB
    q = provider.login(p, login="other-name@example.com")
    n = users_count(srv)
    # a login callback does not take an associate state
    r = callback(srv, {"code": q["code"], "state": q["state"]}, cookie)
    assert_detail(r, 400, "OAUTH_INVALID_STATE")
    q = provider.login(p, login="other-name@example.com")
    r = callback(srv, {"code": q["code"], "state": q["state"]}, cookie,
                 path="/auth/corp/associate/callback", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == u["id"] and body["email"] == "owner@example.com"
    assert body["oauth_accounts"][0]["account_email"] == "other-name@example.com"
    assert users_count(srv) == n
    # the provider account now logs in as that user
    q2, cookie2 = provider_flow(srv, provider, login="other-name@example.com")
    r = callback(srv, q2, cookie2)
    assert r.status_code == 200, r.text
    assert srv.me(r.json()["access_token"]).json()["id"] == u["id"]


def test_associate_state_of_another_user_is_refused(srv, provider):
    ha = bearer(srv.new_user(email="alice@example.com")[2])
    hb = bearer(srv.new_user(email="bob@example.com")[2])
    url, cookie, _ = authorize(srv, backend=None, headers=ha,
                               path="/auth/corp/associate/authorize")
    q = provider.login(url_params(url), login="alice-idp")
    r = callback(srv, {"code": q["code"], "state": q["state"]}, cookie,
                 path="/auth/corp/associate/callback", headers=hb)
    assert_detail(r, 400, "OAUTH_INVALID_STATE")
    assert count(srv, "SELECT count(*) FROM oauth_accounts") == 0


def test_admin_read_lists_oauth_accounts_without_tokens(srv, provider):
    q, cookie = provider_flow(srv, provider, login="listed")
    token = callback(srv, q, cookie).json()["access_token"]
    me = srv.me(token).json()
    admin = srv.login("admin@example.com", "admin-password-123")
    r = srv.get(f"/users/{me['id']}", headers=bearer(admin))
    assert r.status_code == 200
    assert r.json()["oauth_accounts"] == me["oauth_accounts"]
    text = json.dumps(r.json())
    assert "token" not in text
    # a user without links lists none
    assert srv.me(admin).json()["oauth_accounts"] == []


# ---- a provider of the test's own, for the ID tokens a real one will not make ---------------------

class FakeProvider:
    """Discovery, JWKS and a token endpoint on 127.0.0.1; the ID token's
    claims are what the test sets in .claims (nonce "echo": the one sent)."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.claims = {}
        self.access_token = "fake-access-" + base64.urlsafe_b64encode(
            hashlib.sha256(str(time.time()).encode()).digest()).decode()[:20]
        self.refresh_token = "fake-refresh-token-value-0123456789"
        self.token_requests = []
        self.token_body = None   # None: the OpenID answer with an ID token
        self.token_delay = 0     # seconds the token endpoint waits before answering
        self.user = {"id": 4242, "email": None}            # github /user, facebook /me
        self.emails = [{"email": "octo@example.com", "primary": True, "verified": True}]
        self.userinfo_requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _json(self, obj, status=200):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    self._json({"issuer": fake.issuer,
                                "authorization_endpoint": fake.issuer + "/auth",
                                "token_endpoint": fake.issuer + "/token",
                                "jwks_uri": fake.issuer + "/jwks"})
                elif self.path == "/jwks":
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(fake.key.public_key()))
                    jwk.update(kid="fake1", alg="RS256", use="sig")
                    self._json({"keys": [jwk]})
                elif self.path.startswith("/user") or self.path.startswith("/me"):
                    fake.userinfo_requests.append((self.path, dict(self.headers)))
                    if self.headers.get("Authorization") != "Bearer " + fake.access_token:
                        self._json({"message": "Bad credentials"}, 401)
                    elif self.path == "/user/emails":
                        self._json(fake.emails)
                    else:
                        self._json({k: v for k, v in fake.user.items() if v is not None})
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
                fake.token_requests.append((dict(self.headers), form))
                time.sleep(fake.token_delay)
                if fake.token_body is not None:
                    self._json(fake.token_body)
                    return
                now = int(time.time())
                claims = {"iss": fake.issuer, "aud": "fake-client", "sub": "fake-sub",
                          "iat": now, "exp": now + 300, "email": "fake@example.com",
                          "email_verified": True}
                claims.update(fake.claims)
                claims = {k: v for k, v in claims.items() if v is not None}  # None: left out
                idt = jwt.encode(claims, fake.key, algorithm="RS256",
                                 headers={"kid": "fake1"})
                self._json({"access_token": fake.access_token, "token_type": "Bearer",
                            "expires_in": 3600, "refresh_token": fake.refresh_token,
                            "id_token": idt})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    f = FakeProvider()
    yield f
    f.stop()


@pytest.fixture
def fake_srv(server_factory, fake):
    return server_factory(**oauth_settings(fake.issuer, client_id="fake-client",
                                           secret="fake-secret"))


def fake_flow(srv, fake, claims):
    url, cookie, _ = authorize(srv)
    p = url_params(url)
    c = dict(claims)
    if c.get("nonce", "echo") == "echo":
        c["nonce"] = p["nonce"]
    fake.claims = c
    return callback(srv, {"code": "fake-code", "state": p["state"]}, cookie), p


def test_fake_provider_login_sends_code_verifier_and_basic_client_auth(fake_srv, fake):
    r, p = fake_flow(fake_srv, fake, {})
    assert r.status_code == 200, r.text
    headers, form = fake.token_requests[-1]
    assert form["grant_type"] == "authorization_code" and form["code"] == "fake-code"
    assert form["redirect_uri"] == LOGIN_CB
    verifier = form["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert challenge.rstrip(b"=").decode() == p["code_challenge"]
    assert headers["Authorization"] == "Basic " + base64.b64encode(
        b"fake-client:fake-secret").decode()
    assert "client_secret" not in form


@pytest.mark.parametrize("claims", [
    {"iss": "http://127.0.0.1:1"},
    {"aud": "someone-else"},
    {"aud": ["fake-client", "other"]},  # several audiences without azp
    {"nonce": "not-the-nonce-we-sent"},
    {"exp": int(time.time()) - 3600},
], ids=["wrong-issuer", "wrong-audience", "audiences-without-azp", "wrong-nonce", "expired"])
def test_id_token_with_wrong_claims_is_refused_and_creates_nothing(fake_srv, fake, claims):
    n = users_count(fake_srv)
    r, _ = fake_flow(fake_srv, fake, claims)
    assert_detail(r, 400, "OAUTH_INVALID_ID_TOKEN")
    assert users_count(fake_srv) == n
    assert count(fake_srv, "SELECT count(*) FROM oauth_accounts") == 0


def test_no_email_is_oauth_not_available_email(fake_srv, fake):
    n = users_count(fake_srv)
    r, _ = fake_flow(fake_srv, fake, {"email": None})
    assert_detail(r, 400, "OAUTH_NOT_AVAILABLE_EMAIL")
    r, _ = fake_flow(fake_srv, fake, {"email": "not an address"})
    assert_detail(r, 400, "OAUTH_NOT_AVAILABLE_EMAIL")
    assert users_count(fake_srv) == n


def test_stored_provider_tokens_are_sealed_not_in_clear(fake_srv, fake):
    r, _ = fake_flow(fake_srv, fake, {})
    assert r.status_code == 200, r.text
    row = fake_srv.db("SELECT access_token, refresh_token, expires_at FROM oauth_accounts")[0]
    access, refresh, expires = row["access_token"], row["refresh_token"], row["expires_at"]
    assert access.startswith("v1:") and refresh.startswith("v1:")
    assert expires > time.time() + 3000
    # nowhere in the database files, WAL included
    for path in fake_srv.db_path.parent.glob(fake_srv.db_path.name + "*"):
        data = path.read_bytes()
        assert fake.access_token.encode() not in data, path
        assert fake.refresh_token.encode() not in data, path
    assert fake.access_token not in fake_srv.stderr_text()
    assert "fake-secret" not in fake_srv.stderr_text()


# ---- settings ---------------------------------------------------------------------------------------

def test_provider_settings_from_environment_ini_and_a_secret_file(server_factory, fake, tmp_path):
    secret = tmp_path / "corp.secret"
    secret.write_text("fake-secret\n")
    ini = tmp_path / "oauth.ini"
    ini.write_text("[oauth]\noauth_corp_client_id = fake-client\n")
    srv = server_factory(config_file=ini, env={
        "PORTCULLIS_OAUTH_PROVIDERS": "corp",
        "PORTCULLIS_OAUTH_CORP_ISSUER": fake.issuer,
        "PORTCULLIS_OAUTH_CORP_CLIENT_SECRET_FILE": str(secret),
        "PORTCULLIS_OAUTH_CALLBACK_BASE": APP,
    })
    r, _ = fake_flow(srv, fake, {})
    assert r.status_code == 200, r.text
    headers, _ = fake.token_requests[-1]
    assert headers["Authorization"] == "Basic " + base64.b64encode(
        b"fake-client:fake-secret").decode()
    assert "fake-secret" not in srv.stderr_text()


@pytest.mark.parametrize("args,word", [
    (["--oauth-providers=corp"], "oauth_corp_client_id"),
    (["--oauth-corp-client-id=c", "--oauth-corp-client-secret=s",
      "--oauth-corp-issuer=https://idp.example.com"], "oauth_providers"),
    (["--oauth-providers=corp", "--oauth-corp-client-id=c",
      "--oauth-corp-issuer=https://idp.example.com"], "oauth_corp_client_secret"),
    (["--oauth-providers=corp", "--oauth-corp-client-id=c", "--oauth-corp-client-secret=s"],
     "oauth_corp_issuer"),
    (["--oauth-providers=corp", "--oauth-corp-client-id=c", "--oauth-corp-client-secret=s",
      "--oauth-corp-issuer=http://idp.example.com"], "oauth_corp_issuer"),
    (["--oauth-providers=corp", "--oauth-corp-client-id=c",
      "--oauth-corp-client-secret-file=/nonexistent/secret",
      "--oauth-corp-issuer=https://idp.example.com"], "client_secret_file"),
    (["--oauth-providers=corp", "--oauth-corp-kind=saml"], "oauth_corp_kind"),
], ids=["no-client", "unlisted", "no-secret", "no-issuer", "plain-http", "secret-file", "kind"])
def test_bad_provider_settings_refuse_to_start(tmp_path, args, word):
    from conftest import JWT_SECRET, run_cli
    p = run_cli(["serve", f"--port={free_port()}", *args], db_path=tmp_path / "x.db",
                env={"PORTCULLIS_JWT_SECRET": JWT_SECRET}, timeout=20)
    assert p.returncode != 0, (p.returncode, p.stderr)
    assert word in p.stderr, p.stderr
    assert "secret=s" not in p.stderr


# ---- the presets' rules (github, facebook) against the test's provider -----------------------------

def preset_srv(server_factory, fake, kind, **extra):
    """A provider of a preset kind whose every endpoint is the test's own."""
    settings = {
        "oauth_providers": "corp", "oauth_corp_kind": kind,
        "oauth_corp_client_id": "fake-client", "oauth_corp_client_secret": "fake-secret",
        "oauth_corp_authorize_url": fake.issuer + "/authorize",
        "oauth_corp_token_url": fake.issuer + "/token",
        "oauth_corp_userinfo_url": fake.issuer + ("/user" if kind == "github" else "/me"),
        "oauth_callback_base": APP,
    }
    if kind == "github":
        settings["oauth_corp_emails_url"] = fake.issuer + "/user/emails"
    settings.update(extra)
    fake.token_body = {"access_token": fake.access_token, "token_type": "bearer",
                       "scope": "read:user,user:email"}
    return server_factory(**settings)


def preset_flow(srv):
    url, cookie, _ = authorize(srv)
    p = url_params(url)
    assert "nonce" not in p  # no ID token: no nonce
    return callback(srv, {"code": "fake-code", "state": p["state"]}, cookie)


def test_github_user_is_its_id_with_the_primary_verified_email(server_factory, fake):
    srv = preset_srv(server_factory, fake, "github")
    fake.emails = [{"email": "old@example.com", "primary": False, "verified": True},
                   {"email": "octo@example.com", "primary": True, "verified": True}]
    r = preset_flow(srv)
    assert r.status_code == 200, r.text
    me = srv.me(r.json()["access_token"]).json()
    assert me["email"] == "octo@example.com" and me["is_verified"] is True
    assert me["oauth_accounts"][0]["account_id"] == "4242"
    _, form = fake.token_requests[-1]
    assert form["client_id"] == "fake-client" and form["client_secret"] == "fake-secret"
    paths = [p for p, _ in fake.userinfo_requests]
    assert paths == ["/user", "/user/emails"]
    assert all(h.get("User-Agent") for _, h in fake.userinfo_requests)


def test_github_unverified_primary_email_does_not_link(server_factory, fake):
    srv = preset_srv(server_factory, fake, "github", oauth_associate_by_email=True)
    srv.new_user(email="octo@example.com")
    n = users_count(srv)
    fake.emails = [{"email": "octo@example.com", "primary": True, "verified": False}]
    assert_detail(preset_flow(srv), 400, "OAUTH_USER_ALREADY_EXISTS")
    fake.emails = [{"email": "octo@example.com", "primary": False, "verified": True}]
    assert_detail(preset_flow(srv), 400, "OAUTH_NOT_AVAILABLE_EMAIL")
    assert users_count(srv) == n
    fake.emails = [{"email": "octo@example.com", "primary": True, "verified": True}]
    r = preset_flow(srv)
    assert r.status_code == 200, r.text  # verified and linking on: linked


def test_github_error_in_a_200_token_answer_is_a_refusal(server_factory, fake):
    srv = preset_srv(server_factory, fake, "github")
    fake.token_body = {"error": "bad_verification_code",
                       "error_description": "The code passed is incorrect or expired."}
    n = users_count(srv)
    assert_detail(preset_flow(srv), 400, "bad_verification_code")
    assert users_count(srv) == n


def test_facebook_email_is_never_taken_as_verified(server_factory, fake):
    srv = preset_srv(server_factory, fake, "facebook", oauth_associate_by_email=True)
    srv.new_user(email="zuck@example.com")
    fake.user = {"id": "10001", "email": "zuck@example.com"}
    n = users_count(srv)
    assert_detail(preset_flow(srv), 400, "OAUTH_USER_ALREADY_EXISTS")
    assert users_count(srv) == n
    fake.user = {"id": "10002", "email": "new-fb@example.com", "email_verified": True}
    r = preset_flow(srv)
    assert r.status_code == 200, r.text
    me = srv.me(r.json()["access_token"]).json()
    assert me["is_verified"] is False and me["oauth_accounts"][0]["account_id"] == "10002"
    fake.user = {"id": "10003"}
    assert_detail(preset_flow(srv), 400, "OAUTH_NOT_AVAILABLE_EMAIL")


def test_prefix_and_switches_move_and_remove_the_routers(server_factory, fake):
    srv = server_factory(**oauth_settings(fake.issuer, client_id="fake-client",
                                          secret="fake-secret", oauth_prefix="/sso",
                                          oauth_associate_router=False))
    url, _, _ = authorize(srv, path="/sso/corp/authorize")
    assert url_params(url)["redirect_uri"] == APP + "/sso/corp/callback"
    assert srv.get("/auth/corp/authorize",
                   params={"authentication_backend": "jwt"}).status_code == 404
    token = srv.new_user()[2]
    assert srv.get("/sso/corp/associate/authorize", headers=bearer(token)).status_code == 404
    off = server_factory(**oauth_settings(fake.issuer, client_id="fake-client",
                                          secret="fake-secret", oauth_router=False))
    assert off.get("/auth/corp/authorize",
                   params={"authentication_backend": "jwt"}).status_code == 404
    r = off.get("/auth/corp/associate/authorize", headers=bearer(off.new_user()[2]))
    assert r.status_code == 200, r.text


def test_a_backend_whose_router_is_off_is_unknown(server_factory, fake):
    srv = server_factory(**oauth_settings(fake.issuer, client_id="fake-client",
                                          secret="fake-secret", cookie_auth_router=False))
    r = srv.get("/auth/corp/authorize", params={"authentication_backend": "cookie"})
    assert_detail(r, 400, "OAUTH_UNKNOWN_AUTHENTICATION_BACKEND")
    authorize(srv, backend="jwt")


def test_a_provider_that_does_not_answer_in_time_is_502(server_factory, fake):
    srv = server_factory(**oauth_settings(fake.issuer, client_id="fake-client",
                                          secret="fake-secret", oauth_timeout_seconds=1))
    fake.token_delay = 3
    n = users_count(srv)
    t0 = time.monotonic()
    r, _ = fake_flow(srv, fake, {})
    assert r.status_code == 502, r.text
    assert time.monotonic() - t0 < 2.9
    assert users_count(srv) == n
    fake.token_delay = 0


def test_associate_of_an_account_linked_to_another_user_is_refused(srv, provider):
    q, cookie = provider_flow(srv, provider, login="shared")
    first = srv.me(callback(srv, q, cookie).json()["access_token"]).json()
    _, _, token = srv.new_user(email="second@example.com")
    h = bearer(token)
    url, cookie, _ = authorize(srv, backend=None, headers=h,
                               path="/auth/corp/associate/authorize")
    q = provider.login(url_params(url), login="shared")
    r = callback(srv, {"code": q["code"], "state": q["state"]}, cookie,
                 path="/auth/corp/associate/callback", headers=h)
    assert_detail(r, 400, "OAUTH_ACCOUNT_ALREADY_LINKED")
    rows = srv.db("SELECT user_id FROM oauth_accounts")
    assert rows == [{"user_id": first["id"]}]


def _sql(srv, sql, *args):
    srv.db(sql, args)


def test_inactive_or_second_factor_users_do_not_log_in_by_a_provider(srv, provider):
    q, cookie = provider_flow(srv, provider, login="gated")
    uid = srv.me(callback(srv, q, cookie).json()["access_token"]).json()["id"]
    _sql(srv, "UPDATE users SET is_active = 0 WHERE id = ?", uid)
    q, cookie = provider_flow(srv, provider, login="gated")
    assert_detail(callback(srv, q, cookie), 400, "LOGIN_BAD_CREDENTIALS")
    _sql(srv, "UPDATE users SET is_active = 1, totp_enabled = 1 WHERE id = ?", uid)
    q, cookie = provider_flow(srv, provider, login="gated", backend="cookie")
    r = callback(srv, q, cookie)
    assert_detail(r, 400, "LOGIN_TOTP_REQUIRED")
    assert set_cookie(r, "fastapiusersauth") is None
    assert count(srv, "SELECT count(*) FROM sessions") == 0
