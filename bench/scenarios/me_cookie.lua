-- me_cookie.lua - GET /users/me with the cookie that POST /auth/cookie/login
-- set (a database session: the token is looked up, as its SHA-256, in the
-- sessions table on every request). Env: PC_COOKIE ("name=value"), PC_ME_PATH.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")

wrk.method = "GET"
wrk.path = common.env("PC_ME_PATH", "/users/me")
wrk.headers["Cookie"] = common.env("PC_COOKIE")
