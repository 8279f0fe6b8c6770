-- verify.lua - token verification of the simplejwt face: POST PC_VERIFY_PATH
-- with the access token in a JSON body. Env: PC_TOKEN, PC_VERIFY_PATH,
-- PC_VERIFY_FIELD (the body member, "token").
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")

wrk.method = "POST"
wrk.path = common.env("PC_VERIFY_PATH", "/auth/token/verify")
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"%s":"%s"}', common.env("PC_VERIFY_FIELD", "token"),
   common.env("PC_TOKEN"))
