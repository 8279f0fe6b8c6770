-- refresh.lua - refresh-token rotation (myauth face): POST PC_REFRESH_PATH
-- with a refresh token in the Authorization header; the answer carries a new
-- refresh token and the old one is spent. Every connection therefore needs a
-- fresh token for each request: each thread keeps a queue, filled at start
-- with its share of the tokens in PC_TOKENS_FILE (one per line, at least as
-- many as connections) and, after each answer, with the token it returned.
-- A request finding the queue empty sends a spent token (counted as 4xx).
-- Env: PC_REFRESH_PATH, PC_TOKENS_FILE, PC_WRK_THREADS.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")

counting = true

local path = common.env("PC_REFRESH_PATH", "/auth/login/refresh")
local file = common.env("PC_TOKENS_FILE")
local nthreads = tonumber(common.env("PC_WRK_THREADS", "1"))
local queue, head, tail = {}, 1, 0
local last = "spent"

function init(args)
   local i = 0
   for line in io.lines(file) do
      if line ~= "" and i % nthreads == (tid or 0) then
         tail = tail + 1
         queue[tail] = line
      end
      i = i + 1
   end
end

function request()
   local t = last
   if head <= tail then
      t = queue[head]
      queue[head] = nil
      head = head + 1
   end
   last = t
   return wrk.format("POST", path, { ["Authorization"] = "Bearer " .. t }, nil)
end

function response(status, headers, body)
   common.count(status)
   if status == 200 then
      local t = body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if t then
         tail = tail + 1
         queue[tail] = t
      end
   end
end
