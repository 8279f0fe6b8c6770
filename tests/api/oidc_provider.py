"""
The real OpenID Connect provider for the API tests: npm's oidc-provider
(tests/oidc/provider.js, the version pinned in tests/oidc/package.json).

`npm ci` runs once, when tests/oidc/node_modules is missing (the network is
needed that first time only); scripts/bootstrap installs node and npm.

OidcProvider(redirect_uri=..., id_token_alg=..., extra_redirect_uris=...) starts it on a free
127.0.0.1 port and waits until its discovery document answers; .stop()
ends it. .login(auth_params, login) drives its development login and
consent forms with requests and returns the redirect URI's query
(code, state, iss). .token(code, verifier) exchanges a code.
"""

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
START_TIMEOUT = 20.0


def _free_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_installed():
    """node_modules present, installed from the lockfile once."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed (scripts/bootstrap installs them)", pytrace=False)
    if (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=OIDC_DIR,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"npm ci in tests/oidc failed:\n{r.stderr[-2000:]}", pytrace=False)


class OidcProvider:
    def __init__(self, client_id="portcullis", client_secret="portcullis-secret",
                 redirect_uri="http://127.0.0.1:9/callback", id_token_alg="RS256",
                 extra_redirect_uris=()):
        ensure_installed()
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.redirect_uris = [redirect_uri, *extra_redirect_uris]
        env = dict(os.environ, OIDC_PORT=str(self.port), OIDC_CLIENT_ID=client_id,
                   OIDC_CLIENT_SECRET=client_secret,
                   OIDC_REDIRECT_URI=",".join(self.redirect_uris),
                   OIDC_ID_TOKEN_ALG=id_token_alg)
        self.proc = subprocess.Popen(["node", "provider.js"], cwd=OIDC_DIR, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read()
                pytest.fail(f"oidc provider exited: {out[-2000:]}", pytrace=False)
            try:
                r = requests.get(self.issuer + "/.well-known/openid-configuration", timeout=1)
                if r.status_code == 200:
                    self.discovery = r.json()
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("oidc provider did not answer in time", pytrace=False)
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def login(self, params, login="jane", session=None):
        """Follows the authorization request through the dev login and
        consent forms; returns the query of the redirect to redirect_uri."""
        s = session or requests.Session()
        url = self.discovery["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)
        method, data = "GET", None
        for _ in range(12):
            r = s.request(method, url, data=data, allow_redirects=False, timeout=10)
            if r.status_code in (302, 303):
                url = urllib.parse.urljoin(url, r.headers["Location"])
                method, data = "GET", None
                if any(url.startswith(u + "?") for u in self.redirect_uris):
                    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
                continue
            assert r.status_code == 200, (r.status_code, r.text[:500])
            action = re.search(r'<form[^>]*action="([^"]+)"', r.text)
            assert action, r.text[:500]
            url = urllib.parse.urljoin(url, action.group(1))
            method = "POST"
            if 'name="login"' in r.text:
                data = {"prompt": "login", "login": login, "password": "any"}
            else:
                data = {"prompt": "consent"}
        raise AssertionError("the provider's flow did not end at redirect_uri")

    def token(self, code, verifier):
        r = requests.post(self.discovery["token_endpoint"], timeout=10,
                          auth=(self.client_id, self.client_secret),
                          data={"grant_type": "authorization_code", "code": code,
                                "redirect_uri": self.redirect_uri, "code_verifier": verifier})
        assert r.status_code == 200, r.text
        return r.json()
