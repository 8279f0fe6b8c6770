"""CORS (issue 14, item 1): exact allowed origins, preflight OPTIONS on every
mounted path, Access-Control-Allow-Origin only for an allowed origin,
Vary: Origin on every answer while CORS is on; off by default; configurations
that would let any site read credentialed answers are refused."""

import pytest

from conftest import JWT_SECRET, bearer, free_port, run_cli

APP = "https://app.example.com"
EVIL = "https://evil.example.net"

CORS = {"cors_origins": f"{APP}, http://localhost:3000", "cors_credentials": True,
        "cors_max_age": 900}


def preflight(srv, path, origin, method="POST", headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        h["Access-Control-Request-Headers"] = headers
    return srv.request("OPTIONS", path, headers=h)


def acl_headers(resp):
    return {k.lower(): v for k, v in resp.headers.items() if k.lower().startswith("access-control-")}


@pytest.fixture
def cors_server(server_factory):
    return server_factory(**CORS)


def test_cors_is_off_by_default(server):
    r = preflight(server, "/auth/login", APP)
    assert r.status_code == 405  # no preflight: the path has POST only
    assert acl_headers(r) == {}
    r = server.get("/healthz", headers={"Origin": APP})
    assert r.status_code == 200
    assert acl_headers(r) == {}
    assert "Vary" not in r.headers


def test_preflight_from_an_allowed_origin_on_every_mounted_route(cors_server):
    paths = ["/auth/login", "/auth/register", "/users/me", "/users/some-id",
             "/auth/cookie/login", "/api/auth/token", "/user_account/login", "/healthz"]
    for path in paths:
        r = preflight(cors_server, path, APP, headers="authorization, content-type")
        assert r.status_code == 204, (path, r.status_code, r.text)
        assert r.headers["Access-Control-Allow-Origin"] == APP
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
        assert r.headers["Access-Control-Max-Age"] == "900"
        assert r.headers["Vary"] == "Origin"
        assert r.content == b""
    # the second listed origin, with a port, works too
    r = preflight(cors_server, "/auth/login", "http://localhost:3000")
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_preflight_from_a_refused_origin_gets_no_allowance(cors_server):
    for origin in (EVIL, APP + ".evil.net", APP + ":443", "null", "https://APP.example.com",
                   APP + "/", "http://app.example.com"):
        r = preflight(cors_server, "/auth/login", origin)
        assert r.status_code == 403, (origin, r.status_code)
        assert acl_headers(r) == {}, origin
        assert r.json() == {"detail": "Forbidden"}
        assert r.headers["Vary"] == "Origin"


def test_preflight_with_a_method_or_header_not_allowed_is_refused(cors_server):
    # the origin is allowed (its answers are readable) but the preflight
    # grants nothing: no allowed methods, headers or max-age
    r = preflight(cors_server, "/auth/login", APP, method="TRACE")
    assert r.status_code == 403
    assert set(acl_headers(r)) <= {"access-control-allow-origin", "access-control-allow-credentials"}
    r = preflight(cors_server, "/auth/login", APP, headers="content-type, x-secret-thing")
    assert r.status_code == 403
    assert set(acl_headers(r)) <= {"access-control-allow-origin", "access-control-allow-credentials"}


def test_preflight_of_an_unknown_path_is_404(cors_server):
    r = preflight(cors_server, "/nowhere", APP)
    assert r.status_code == 404
    assert "Access-Control-Allow-Methods" not in r.headers


def test_plain_options_without_preflight_headers_is_still_405(cors_server):
    r = cors_server.request("OPTIONS", "/auth/login")
    assert r.status_code == 405


def test_actual_requests_from_allowed_and_refused_origins(cors_server):
    u, pw, token = cors_server.new_user()
    r = cors_server.get("/users/me", headers={**bearer(token), "Origin": APP})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == APP
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Vary"] == "Origin"
    # a refused origin: the answer is made (the server is no firewall) but
    # carries no allowance, so a browser keeps it from the page
    r = cors_server.get("/users/me", headers={**bearer(token), "Origin": EVIL})
    assert r.status_code == 200
    assert acl_headers(r) == {}
    assert r.headers["Vary"] == "Origin"
    # errors carry the allowance too (a page must be able to read a 401)
    r = cors_server.get("/users/me", headers={"Origin": APP})
    assert r.status_code == 401
    assert r.headers["Access-Control-Allow-Origin"] == APP
    # no Origin: Vary only
    r = cors_server.get("/healthz")
    assert acl_headers(r) == {}
    assert r.headers["Vary"] == "Origin"


def test_star_without_credentials_echoes_any_origin(server_factory):
    srv = server_factory(cors_origins="*")
    r = srv.get("/healthz", headers={"Origin": EVIL})
    assert r.headers["Access-Control-Allow-Origin"] == EVIL
    assert "Access-Control-Allow-Credentials" not in r.headers
    r = srv.get("/healthz", headers={"Origin": "null"})
    assert acl_headers(r) == {}


@pytest.mark.parametrize("settings,word", [
    ({"cors_origins": "*", "cors_credentials": "true"}, "cors_origins"),
    ({"cors_origins": "https://app.example.com, *", "cors_credentials": "true"}, "cors_origins"),
    ({"cors_origins": "https://*.example.com"}, "cors_origins"),
    ({"cors_origins": "null"}, "cors_origins"),
    ({"cors_origins": "https://app.example.com/"}, "cors_origins"),
    ({"cors_origins": "https://App.example.com"}, "cors_origins"),
    ({"cors_origins": "ftp://app.example.com"}, "cors_origins"),
    ({"cors_origins": "https://user@app.example.com"}, "cors_origins"),
    ({"cors_origins": APP, "cors_methods": "GET, P;OST"}, "cors_methods"),
    ({"cors_origins": APP, "cors_headers": "X-A\"b"}, "cors_headers"),
    ({"cors_origins": APP, "cors_max_age": "-1"}, "cors_max_age"),
])
def test_unsafe_cors_configurations_are_refused(tmp_path, settings, word):
    args = ["serve", f"--port={free_port()}"]
    args += [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    p = run_cli(args, db_path=tmp_path / "x.db", env={"PORTCULLIS_JWT_SECRET": JWT_SECRET},
                timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert word in p.stderr, p.stderr
