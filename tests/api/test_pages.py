"""The pages behind the server's own links (issue 14, item 7): GET
/reset-password?token= and GET /verify?token= serve a small HTML page that
completes the flow through the JSON API, under a strict CSP.

End to end in a real headless browser (Debian's chromium with playwright-core,
tests/api/browser.py): the link is read from the mail the real SMTP sink got,
opened, a new password typed and submitted, and the user then logs in with it
through the API.
"""

import base64
import hashlib
import re
from urllib.parse import urlsplit

import pytest

from browser import drive
from conftest import Server, bearer
from test_fastapi_users_mail import SmtpSink

PW = "correct-horse-9"
NEW_PW = "new-horse-battery-7"
RESET_DONE = "Your password has been changed. You can now sign in with it."
VERIFY_DONE = "Your email address is verified."
BAD_LINK = "This link is invalid or has expired."
A_TOKEN = "A" * 43


class LinkServer(Server):
    """The mailed links point at this server's own pages, on the port it got."""

    def argv(self):
        base = f"http://127.0.0.1:{self.port}"
        return super().argv() + [f"--reset-url={base}/reset-password",
                                 f"--verify-url={base}/verify"]


@pytest.fixture(scope="module")
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, sink):
    s = LinkServer(tmp_path_factory.mktemp("pages"), settings={
        "smtp_url": sink.url, "mail_retry_base_seconds": 1, "mail_retry_max_seconds": 1})
    s.start()
    yield s
    s.stop()


def mailed_link(srv, sink, path, email, n=1):
    r = srv.post(path, json={"email": email})
    assert r.status_code == 202, r.text
    link = sink.wait(email, n)[n - 1].link()
    assert link.startswith(srv.base + "/"), link
    return link


def csp_of(resp):
    return dict(p.strip().split(" ", 1) for p in resp.headers["Content-Security-Policy"].split(";"))


def sha256_source(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def assert_same_origin(srv, report):
    for r in report["requests"]:
        u = urlsplit(r["url"])
        assert f"{u.scheme}://{u.netloc}" == srv.base, r


# ---- in the browser ---------------------------------------------------------------------------


def test_the_reset_link_opens_a_page_that_changes_the_password(srv, sink):
    u = srv.register_ok(password=PW)
    link = mailed_link(srv, sink, "/auth/forgot-password", u["email"])
    report = drive("reset", link, NEW_PW)
    assert report["status"] == 200
    assert report["title"] == "Choose a new password"
    assert report["message"] == RESET_DONE, report
    assert report["formHidden"] is True
    assert report["consoleErrors"] == [] and report["pageErrors"] == [], report
    assert_same_origin(srv, report)
    posts = [r for r in report["requests"] if r["method"] == "POST"]
    assert [urlsplit(p["url"]).path for p in posts] == ["/auth/reset-password"]
    # then the API takes the new password, not the old one
    token = srv.login(u["email"], NEW_PW)
    assert srv.me(token).json()["id"] == u["id"]
    assert srv.login_raw(u["email"], PW).status_code == 400
    # the link is spent: opened again, the page says so and nothing changes
    again = drive("reset", link, "yet-another-pass-5")
    assert again["message"] == BAD_LINK, again
    assert again["formHidden"] is False
    assert srv.login_raw(u["email"], "yet-another-pass-5").status_code == 400


def test_two_different_passwords_are_caught_in_the_page_and_nothing_is_sent(srv, sink):
    u = srv.register_ok(password=PW)
    link = mailed_link(srv, sink, "/auth/forgot-password", u["email"])
    report = drive("reset", link, NEW_PW, NEW_PW + "x")
    assert report["message"] == "The two passwords differ."
    assert [r for r in report["requests"] if r["method"] == "POST"] == []
    assert srv.login_raw(u["email"], PW).status_code == 200
    # a password the policy refuses: the API's reason is shown, the link still works
    report = drive("reset", link, "short")
    assert report["status"] == 200 and report["formHidden"] is False
    assert "short" in report["message"].lower() or "at least" in report["message"].lower(), report
    report = drive("reset", link, NEW_PW)
    assert report["message"] == RESET_DONE
    assert srv.login_raw(u["email"], NEW_PW).status_code == 200


def test_the_verify_link_opens_a_page_that_verifies_the_address(srv, sink):
    u = srv.register_ok(password=PW)
    assert u["is_verified"] is False
    link = mailed_link(srv, sink, "/auth/request-verify-token", u["email"])
    assert urlsplit(link).path == "/verify"
    report = drive("verify", link)
    assert report["status"] == 200
    assert report["message"] == VERIFY_DONE, report
    assert report["consoleErrors"] == [] and report["pageErrors"] == [], report
    assert_same_origin(srv, report)
    assert srv.user_row(id=u["id"])["is_verified"] == 1
    assert srv.me(srv.login(u["email"], PW)).json()["is_verified"] is True


# ---- the page itself, without a browser -------------------------------------------------------


@pytest.mark.parametrize("path,title", [("/reset-password", "Choose a new password"),
                                        ("/verify", "Verify your email address")])
def test_the_page_is_self_contained_under_a_strict_csp(srv, path, title):
    r = srv.get(path, params={"token": A_TOKEN})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Referrer-Policy"] == "no-referrer"  # the token is in the URL
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Frame-Options"] == "DENY"
    html = r.text
    assert f"<title>{title}</title>" in html
    assert f'data-token="{A_TOKEN}"' in html
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(scripts) == 1 and len(styles) == 1
    assert not re.search(r"\b(src|href)=", html)  # nothing loaded from anywhere
    csp = csp_of(r)
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == sha256_source(scripts[0])
    assert csp["style-src"] == sha256_source(styles[0])
    assert csp["connect-src"] == "'self'"
    assert csp["form-action"] == "'none'"
    assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
    assert "unsafe" not in r.headers["Content-Security-Policy"]
    assert 'method="post"' in html  # never a GET that would put a password in a URL


@pytest.mark.parametrize("path,code", [("/reset-password", "RESET_PASSWORD_BAD_TOKEN"),
                                       ("/verify", "VERIFY_USER_BAD_TOKEN")])
@pytest.mark.parametrize("query", [None, "", "short", "A" * 42, "A" * 44, "A" * 42 + "!",
                                   '"><script>alert(1)</script>' + "A" * 20])
def test_a_missing_or_malformed_token_is_the_apis_400(srv, path, code, query):
    before = srv.users_snapshot()
    r = srv.get(path, params=None if query is None else {"token": query})
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": code}
    assert "<script>" not in r.text
    assert srv.users_snapshot() == before


@pytest.mark.parametrize("path", ["/reset-password", "/verify"])
def test_other_methods_are_405(srv, path):
    r = srv.post(path, params={"token": A_TOKEN}, json={})
    assert r.status_code == 405


def test_the_page_posts_to_the_configured_api_paths(server_factory):
    s = server_factory(auth_prefix="/api/v1/auth", reset_password_path="/pw",
                       verify_path="/v")
    html = s.get("/reset-password", params={"token": A_TOKEN}).text
    assert 'data-api="/api/v1/auth/pw/reset-password"' in html
    html = s.get("/verify", params={"token": A_TOKEN}).text
    assert 'data-api="/api/v1/auth/v/verify"' in html


def test_pages_follow_their_routers(server_factory):
    s = server_factory(pages_router=False)
    assert s.get("/reset-password", params={"token": A_TOKEN}).status_code == 404
    s = server_factory(reset_password_router=False)
    assert s.get("/reset-password", params={"token": A_TOKEN}).status_code == 404
    assert s.get("/verify", params={"token": A_TOKEN}).status_code == 200


def test_the_api_path_is_html_escaped_in_the_page(server_factory):
    s = server_factory(auth_prefix='/a"b<c>&d')
    r = s.get("/reset-password", params={"token": A_TOKEN})
    assert r.status_code == 200
    assert 'data-api="/a&quot;b&lt;c&gt;&amp;d/reset-password"' in r.text
    assert '<c>' not in r.text
