"""fastapi_users face: POST /auth/register (seed 000, "Register router")."""

import re
import uuid

from conftest import assert_detail, assert_validation_error

PW = "correct-horse-9"


def test_register_returns_201_with_the_public_user(server):
    email = server.fresh_email()
    r = server.register(email, PW)
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["email"] == email
    assert body["is_active"] is True
    assert body["is_superuser"] is False
    assert body["is_verified"] is False
    assert uuid.UUID(body["id"]).version == 7  # DESIGN §3: UUIDv7 ids
    assert "password" not in body and "hashed_password" not in body
    assert PW not in r.text

    row = server.user_row(email)
    assert row is not None
    assert row["id"] == body["id"]
    assert row["email_lc"] == email.lower()
    assert (row["is_active"], row["is_superuser"], row["is_verified"]) == (1, 0, 0)


def test_stored_password_is_an_argon2id_phc_string_with_the_configured_cost(server):
    u = server.register_ok(password=PW)
    row = server.user_row(id=u["id"])
    h = row["hashed_password"]
    assert PW not in h
    assert re.fullmatch(r"\$argon2id\$v=19\$m=1024,t=1,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+", h), h
    # nothing else in the row holds the password either
    assert all(PW not in str(v) for v in row.values())


def test_two_users_with_the_same_password_get_different_hashes(server):
    a = server.register_ok(password=PW)
    b = server.register_ok(password=PW)
    ha = server.user_row(id=a["id"])["hashed_password"]
    hb = server.user_row(id=b["id"])["hashed_password"]
    assert ha != hb  # salted


def test_optional_username_and_full_name_are_stored(server):
    uname = "user_" + uuid.uuid4().hex[:10]
    u = server.register_ok(username=uname, full_name="Arthur Pendragon")
    row = server.user_row(id=u["id"])
    assert row["username"] == uname
    assert row["username_lc"] == uname.lower()
    assert row["full_name"] == "Arthur Pendragon"
    if "username" in u:
        assert u["username"] == uname
    if "full_name" in u:
        assert u["full_name"] == "Arthur Pendragon"


def test_duplicate_email_is_rejected(server):
    email = server.fresh_email()
    server.register_ok(email)
    before = server.users_snapshot()
    r = server.register(email, "another-password-1")
    assert_detail(r, 400, "REGISTER_USER_ALREADY_EXISTS")
    assert server.users_snapshot() == before


def test_duplicate_email_differing_only_in_case_is_rejected(server):
    local = "Case" + uuid.uuid4().hex[:10]
    server.register_ok(f"{local}@Example.COM")
    before = server.users_snapshot()
    r = server.register(f"{local.lower()}@example.com", "another-password-1")
    assert_detail(r, 400, "REGISTER_USER_ALREADY_EXISTS")
    r = server.register(f"{local.upper()}@EXAMPLE.com", "another-password-1")
    assert_detail(r, 400, "REGISTER_USER_ALREADY_EXISTS")
    assert server.users_snapshot() == before
    assert len(server.db("SELECT id FROM users WHERE email_lc = ?",
                         (f"{local.lower()}@example.com",))) == 1


def test_duplicate_username_is_rejected_and_nothing_is_stored(server):
    uname = "dup_" + uuid.uuid4().hex[:10]
    server.register_ok(username=uname)
    before = server.users_snapshot()
    r = server.register(server.fresh_email(), PW, username=uname.upper())
    assert r.status_code == 400, r.text
    assert server.users_snapshot() == before


def test_password_shorter_than_the_minimum_is_rejected(server):
    email = server.fresh_email()
    before = server.users_snapshot()
    r = server.register(email, "short7!")  # 7 characters, minimum is 8
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "REGISTER_INVALID_PASSWORD"
    assert isinstance(detail["reason"], str) and detail["reason"]
    assert server.users_snapshot() == before
    assert server.user_row(email) is None


def test_password_of_exactly_the_minimum_length_is_accepted(server):
    u = server.register_ok(password="eight8ch")
    assert server.user_row(id=u["id"]) is not None


def test_password_containing_the_email_is_rejected(server):
    email = server.fresh_email()
    r = server.register(email, "x" + email + "1")
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "REGISTER_INVALID_PASSWORD"
    assert isinstance(detail["reason"], str) and detail["reason"]
    assert server.user_row(email) is None


def test_password_min_length_setting_is_honoured(server_factory):
    srv = server_factory(password_min_length=12)
    r = srv.register(srv.fresh_email(), "elevenchars")
    assert r.status_code == 400, r.text
    assert r.json()["detail"]["code"] == "REGISTER_INVALID_PASSWORD"
    srv.register_ok(password="twelve-chars")


def test_client_cannot_register_itself_superuser_verified_or_inactive(server):
    email = server.fresh_email()
    r = server.register(email, PW, is_superuser=True, is_verified=True, is_active=False)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["is_superuser"] is False
    assert body["is_verified"] is False
    assert body["is_active"] is True
    row = server.user_row(email)
    assert (row["is_active"], row["is_superuser"], row["is_verified"]) == (1, 0, 0)
    # and the account really has no superuser power
    token = server.login(email, PW)
    assert server.get("/users/" + body["id"], headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_client_supplied_id_is_ignored(server):
    forced = str(uuid.uuid4())
    u = server.register_ok(id=forced)
    assert u["id"] != forced
    assert server.user_row(id=forced) is None


def test_missing_email_is_a_validation_error(server):
    before = server.users_snapshot()
    r = server.post("/auth/register", json={"password": PW})
    assert_validation_error(r, "email")
    assert server.users_snapshot() == before


def test_missing_password_is_a_validation_error(server):
    email = server.fresh_email()
    r = server.post("/auth/register", json={"email": email})
    assert_validation_error(r, "password")
    assert server.user_row(email) is None


def test_invalid_email_is_a_validation_error(server):
    before = server.users_snapshot()
    for bad in ("not-an-email", "@example.com", "user@", "user@@example.com", ""):
        r = server.register(bad, PW)
        assert_validation_error(r, "email")
    assert server.users_snapshot() == before


def test_form_encoded_body_is_a_validation_error(server):
    email = server.fresh_email()
    r = server.post("/auth/register", data={"email": email, "password": PW})
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], list)
    assert server.user_row(email) is None


def test_registered_user_can_log_in_and_read_itself(server):
    u = server.register_ok(password=PW)
    token = server.login(u["email"], PW)
    r = server.me(token)
    assert r.status_code == 200
    assert r.json()["id"] == u["id"]
    assert r.json()["email"] == u["email"]
