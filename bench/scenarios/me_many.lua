-- me_many.lua - GET /users/me, each request presenting the next of many
-- users' credentials (one per line of PC_CREDS_FILE, sent as header
-- PC_CRED_HEADER with PC_CRED_PREFIX before it): what a deployment sees,
-- where each client has its own token, rather than one token over and over
-- (the credential cache's best case). Thread t of n takes lines t, t+n, ...
-- and cycles through them; the requests are formatted once, at init, so
-- that wrk spends no more per request than with a fixed one.
-- Env: PC_CREDS_FILE, PC_CRED_HEADER, PC_CRED_PREFIX, PC_ME_PATH, PC_WRK_THREADS.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")

local file = common.env("PC_CREDS_FILE")
local header = common.env("PC_CRED_HEADER", "Authorization")
local prefix = common.env("PC_CRED_PREFIX", "")
local path = common.env("PC_ME_PATH", "/users/me")
local nthreads = tonumber(common.env("PC_WRK_THREADS", "1"))
local reqs, n, i = {}, 0, 0

function init(args)
   local k = 0
   for line in io.lines(file) do
      if line ~= "" then
         if k % nthreads == (tid or 0) then
            n = n + 1
            reqs[n] = wrk.format("GET", path, { [header] = prefix .. line }, nil)
         end
         k = k + 1
      end
   end
   if n == 0 then
      error("bench: no credentials for thread " .. tostring(tid) .. " in " .. file)
   end
end

function request()
   i = i % n + 1
   return reqs[i]
end
