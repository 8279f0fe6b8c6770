-- me_paced.lua - GET /users/me with a JWT, paced: each connection waits
-- PC_DELAY_MS between its requests, so the server is not saturated and the
-- latency is that of one request, not of a queue. bench/run runs it alone
-- (idle p99) and beside a login flood (p99 under the flood).
-- Env: PC_TOKEN, PC_ME_PATH, PC_DELAY_MS.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")

wrk.method = "GET"
wrk.path = common.env("PC_ME_PATH", "/users/me")
wrk.headers["Authorization"] = "Bearer " .. common.env("PC_TOKEN")

local pause = tonumber(common.env("PC_DELAY_MS", "2"))

function delay()
   return pause
end
