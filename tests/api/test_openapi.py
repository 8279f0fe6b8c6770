"""GET /openapi.json (issue 14, item 6): an OpenAPI 3.1 document generated
from the mounted route tables. Its paths and methods are exactly those
`portcullis routes` prints for the same settings; it validates with npm's
@apidevtools/swagger-parser (tests/openapi, `npm ci` there on first use)."""

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli

OPENAPI_DIR = Path(__file__).resolve().parents[1] / "openapi"
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def ensure_installed():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed (scripts/bootstrap installs them)", pytrace=False)
    if (OPENAPI_DIR / "node_modules" / "@apidevtools" / "swagger-parser" / "package.json").is_file():
        return
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=OPENAPI_DIR,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"npm ci in tests/openapi failed:\n{r.stderr[-2000:]}", pytrace=False)


def validate(doc, tmp_path):
    ensure_installed()
    f = tmp_path / "openapi.json"
    f.write_text(json.dumps(doc))
    r = subprocess.run(["node", "validate.js", str(f)], cwd=OPENAPI_DIR, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def document(srv):
    r = srv.get("/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def operations(doc):
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in METHODS}


def cli_routes(tmp_path, *settings):
    p = run_cli(["routes", *settings], db_path=tmp_path / "r.db")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()[1:]
    return {(line.split()[0], line.split()[1]) for line in lines}


def test_the_document_validates_as_openapi_3_1(server, tmp_path):
    doc = document(server)
    assert doc["openapi"] == "3.1.0"
    report = validate(doc, tmp_path)
    assert report == {"ok": True, "version": "3.1.0", "paths": len(doc["paths"])}, report
    # the validator is no rubber stamp: a broken copy fails
    broken = copy.deepcopy(doc)
    del broken["paths"]["/users/me"]["get"]["responses"]["200"]["description"]
    assert validate(broken, tmp_path)["ok"] is False
    broken = copy.deepcopy(doc)
    broken["paths"]["/users/{id}"]["get"]["parameters"][0]["in"] = "body"  # OpenAPI 2's
    assert validate(broken, tmp_path)["ok"] is False
    broken = copy.deepcopy(doc)
    broken["paths"]["/users/{id}"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"] = {"$ref": "#/components/schemas/Nothing"}
    assert validate(broken, tmp_path)["ok"] is False


def test_its_operations_are_exactly_the_mounted_routes(server, tmp_path):
    doc = document(server)
    assert operations(doc) == cli_routes(tmp_path)
    ids = [op["operationId"] for item in doc["paths"].values() for m, op in item.items()
           if m in METHODS]
    assert len(ids) == len(set(ids))
    # every {param} of a path is declared, and nothing else (the validator does not check it)
    import re
    for path, item in doc["paths"].items():
        for m, op in item.items():
            declared = {q["name"] for q in op.get("parameters", []) if q["in"] == "path"}
            assert declared == set(re.findall(r"{([^}]+)}", path)), (m, path)


@pytest.mark.parametrize("settings", [
    {"jwt_auth_path": "/jwt", "users_router": False, "pages_router": False},
    {"auth_prefix": "/api/v1/auth", "simplejwt_prefix": "/drf", "register_router": False},
])
def test_the_document_follows_the_settings(server_factory, tmp_path, settings):
    srv = server_factory(**settings)
    doc = document(srv)
    flags = [f"--{k.replace('_', '-')}={str(v).lower() if isinstance(v, bool) else v}"
             for k, v in settings.items()]
    assert operations(doc) == cli_routes(tmp_path, *flags)
    assert operations(doc) != operations(document_of_defaults(server_factory))
    assert validate(doc, tmp_path)["ok"] is True


def document_of_defaults(server_factory):
    return document(server_factory())


def test_security_bodies_and_error_shapes_come_from_the_tables(server):
    doc = document(server)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["fastapi_users_bearer"] == {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"}
    assert schemes["fastapi_users_cookie"] == {"type": "apiKey", "in": "cookie",
                                               "name": "fastapiusersauth"}
    p = doc["paths"]
    assert p["/users/me"]["get"]["security"] == [{"fastapi_users_bearer": []},
                                                 {"fastapi_users_cookie": []}]
    assert p["/auth/logout"]["post"]["security"] == [{"fastapi_users_bearer": []}]
    assert "security" not in p["/auth/register"]["post"]
    assert "401" in p["/users/me"]["get"]["responses"]
    assert "403" in p["/users/{id}"]["delete"]["responses"]
    assert p["/users/{id}"]["get"]["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    reg = p["/auth/register"]["post"]
    assert reg["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UserCreate"}
    assert "201" in reg["responses"] and "422" in reg["responses"]
    login = p["/auth/login"]["post"]["requestBody"]["content"]
    assert list(login) == ["application/x-www-form-urlencoded"]

    def err(path, method, status):
        return p[path][method]["responses"][status]["content"]["application/json"]["schema"]

    assert err("/users/me", "get", "401") == {"$ref": "#/components/schemas/FastAPIError"}
    assert err("/api/auth/token", "post", "4XX") == {"$ref": "#/components/schemas/DRFError"}
    ua = [path for path in p if path.startswith("/user_account/")]
    assert ua and all(err(path, m, "4XX") == {"$ref": "#/components/schemas/FlaskError"}
                      for path in ua for m in p[path] if m in METHODS)
    html = p["/reset-password"]["get"]["responses"]["200"]["content"]
    assert list(html) == ["text/html"]


def test_a_registered_user_has_the_documented_shape(server):
    doc = document(server)
    user = doc["components"]["schemas"]["User"]
    u = server.register_ok()
    assert set(user["required"]) <= set(u) <= set(user["properties"])


def test_other_methods_are_405(server):
    assert server.post("/openapi.json", json={}).status_code == 405


# ---- /docs: Swagger UI, served from this server only ---------------------------------------

SWAGGER_DIR = Path(__file__).resolve().parents[2] / "web" / "swagger-ui"


def swagger_ui_dir():
    dist = SWAGGER_DIR / "node_modules" / "swagger-ui-dist"
    if not (dist / "swagger-ui-bundle.js").is_file():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=SWAGGER_DIR,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.fail(f"npm ci in web/swagger-ui failed:\n{r.stderr[-2000:]}", pytrace=False)
    return str(dist)


def test_docs_shows_every_operation_in_a_real_browser(server_factory):
    from browser import drive
    from urllib.parse import urlsplit
    srv = server_factory(swagger_ui_dir=swagger_ui_dir())
    report = drive("docs", srv.base + "/docs")
    assert report["status"] == 200, report
    assert report["pageErrors"] == [], report
    shown = {(m.upper(), p) for m, p in report["operations"]}
    assert shown == operations(document(srv))
    for r in report["requests"]:
        u = urlsplit(r["url"])
        assert u.scheme == "data" or f"{u.scheme}://{u.netloc}" == srv.base, r
    csp = report["headers"]["content-security-policy"]
    assert "script-src 'self';" in csp and "default-src 'none'" in csp


def test_docs_files_are_served_by_name_only(server_factory):
    srv = server_factory(swagger_ui_dir=swagger_ui_dir())
    r = srv.get("/docs/swagger-ui-bundle.js")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/javascript")
    assert r.content == (Path(swagger_ui_dir()) / "swagger-ui-bundle.js").read_bytes()
    assert srv.get("/docs/swagger-ui.css").headers["Content-Type"].startswith("text/css")
    assert "openapi.json" in srv.get("/docs/init.js").text
    for name in ["index.html", "package.json", "..%2Fpackage.json", "%2E%2E", "swagger-ui.css.map",
                 "..", "x"]:
        r = srv.get("/docs/" + name)
        assert r.status_code == 404, name
        assert r.json() == {"detail": "Not Found"}
    assert srv.get("/docs/..%2F..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_without_swagger_ui_files_docs_files_are_404(server_factory, tmp_path):
    srv = server_factory(swagger_ui_dir=str(tmp_path / "absent"))
    assert srv.get("/docs").status_code == 200  # the page; its bundle is missing
    assert srv.get("/docs/swagger-ui-bundle.js").status_code == 404
    assert srv.alive()


def test_the_docs_router_can_be_switched_off(server_factory, tmp_path):
    srv = server_factory(docs_router=False)
    assert srv.get("/openapi.json").status_code == 404
    assert srv.get("/docs").status_code == 404
    assert ("GET", "/openapi.json") not in cli_routes(tmp_path, "--docs-router=false")


def test_the_other_faces_bodies_are_described_too(server):
    p = document(server)["paths"]

    def body(path, method, ctype="application/json"):
        return p[path][method]["requestBody"]["content"][ctype]["schema"]["$ref"].split("/")[-1]

    def ok(path, method, status="200"):
        return p[path][method]["responses"][status]["content"]["application/json"]["schema"]

    assert body("/api/auth/token", "post") == "SJCredentials"
    assert ok("/api/auth/token", "post") == {"$ref": "#/components/schemas/SJPair"}
    assert ok("/api/auth/register", "post", "201") == {"$ref": "#/components/schemas/SJPair"}
    assert body("/auth/login/signup", "post") == "MASignup"
    assert body("/auth/login/oauth", "post", "application/x-www-form-urlencoded") == "LoginForm"
    assert ok("/auth/login/oauth", "post") == {"$ref": "#/components/schemas/MAPair"}
    assert ok("/auth/users/", "get") == {"$ref": "#/components/schemas/MAUserList"}
    assert p["/auth/login/magic/{email}"]["post"]["parameters"][0]["name"] == "email"
    # a MyAuth user as the server answers it has the documented shape
    r = server.post("/auth/login/signup", json={"email": "oa-shape@example.com",
                                                "password": "correct-horse-9"})
    assert r.status_code == 200, r.text
    schema = document(server)["components"]["schemas"]["MAUser"]
    assert set(schema["required"]) <= set(r.json()) <= set(schema["properties"])
