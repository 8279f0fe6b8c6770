-- register.lua - POST /auth/register (JSON email, password), every request a
-- new address: r<PC_RUN_ID>t<thread>n<k>@example.org. Each registration costs
-- one argon2id hash and one INSERT; on SQLite every INSERT is a write
-- transaction, so this is the scenario where "database is locked" shows.
-- Env: PC_REGISTER_PATH, PC_PASSWORD, PC_RUN_ID.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")

common.count_status()

local path = common.env("PC_REGISTER_PATH", "/auth/register")
local pw = common.env("PC_PASSWORD")
local run = common.env("PC_RUN_ID")
local headers = { ["Content-Type"] = "application/json" }
local k = 0

function request()
   k = k + 1
   local body = string.format('{"email":"r%st%dn%d@example.org","password":"%s"}',
      run, tid or 0, k, pw)
   return wrk.format("POST", path, headers, body)
end
