-- me_bearer.lua - GET /users/me with an access JWT in the Authorization
-- header (stateless strategy). Env: PC_TOKEN, PC_ME_PATH.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")

wrk.method = "GET"
wrk.path = common.env("PC_ME_PATH", "/users/me")
wrk.headers["Authorization"] = "Bearer " .. common.env("PC_TOKEN")
