-- login.lua - POST /auth/login (form username, password) for seeded users in
-- turn: each thread walks its own share of bench<i>@example.org, i in
-- [PC_USER_FIRST, PC_USER_FIRST + PC_USER_COUNT), all with the same password.
-- Each login costs one argon2id verification on a hash worker.
-- Env: PC_LOGIN_PATH, PC_PASSWORD, PC_USER_FIRST, PC_USER_COUNT, PC_USER_STRIDE,
-- PC_WRK_THREADS.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")

common.count_status()

local path = common.env("PC_LOGIN_PATH", "/auth/login")
local pw = common.urlencode(common.env("PC_PASSWORD"))
local first = tonumber(common.env("PC_USER_FIRST", "1"))
local count = tonumber(common.env("PC_USER_COUNT"))
local stride = tonumber(common.env("PC_USER_STRIDE", "1"))
local nthreads = tonumber(common.env("PC_WRK_THREADS", "1"))
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local n

function init(args)
   n = tid or 0
end

function request()
   local i = first + (n % count) * stride
   n = n + nthreads
   local body = "username=" .. common.urlencode("bench" .. i .. "@example.org") ..
      "&password=" .. pw
   return wrk.format("POST", path, headers, body)
end
