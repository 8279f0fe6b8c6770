-- common.lua - shared by every scenario in bench/scenarios/.
--
-- Each scenario file starts with
--     local common = dofile(<the directory of the scenario> .. "common.lua")
-- and gets:
--   common.env(name, default)  an environment variable set by bench/run
--                              (error when unset and no default)
--   setup(thread)              numbers the threads (global tid in each)
--   done(...)                  writes wrk's summary as one JSON object to
--                              $PC_WRK_OUT: requests, duration, bytes,
--                              errors (connect, read, write, status, timeout),
--                              latency percentiles in microseconds, and the
--                              per-class status counts when counted
--   common.count_status()      installs a response() hook counting 2xx, 3xx,
--                              4xx and 5xx per thread. Only the hashing
--                              scenarios use it: a response() hook makes wrk
--                              hand every response to Lua, which would slow
--                              wrk itself in the throughput scenarios (there,
--                              wrk's own non-2xx/3xx count is used).
--   common.count(status)       the counting step, for a scenario's own hook
--   common.urlencode(s)        form encoding
--
-- Nothing here prints: bench/run reads $PC_WRK_OUT.

local M = {}
local threads = {}

function M.env(name, default)
   local v = os.getenv(name)
   if v == nil or v == "" then
      if default == nil then
         error("bench: environment variable " .. name .. " is not set")
      end
      return default
   end
   return v
end

function M.urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", string.byte(c))
   end))
end

-- Thread-local counters (each wrk thread has its own Lua state).
s2xx, s3xx, s4xx, s5xx, sother = 0, 0, 0, 0, 0
counting = false

function M.count(status)
   if status >= 500 then s5xx = s5xx + 1
   elseif status >= 400 then s4xx = s4xx + 1
   elseif status >= 300 then s3xx = s3xx + 1
   elseif status >= 200 then s2xx = s2xx + 1
   else sother = sother + 1 end
end

function M.count_status()
   counting = true
   response = function(status, headers, body)
      M.count(status)
   end
end

-- Runs in wrk's main Lua state, once per thread, before the thread's init().
function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local function num(x)
   if x == nil then return "null" end
   if x ~= x then return "null" end   -- NaN
   return string.format("%.3f", x)
end

-- Runs in the main state after the run.
function done(summary, latency, requests)
   local path = M.env("PC_WRK_OUT")
   local e = summary.errors
   local parts = {}
   local function add(k, v) table.insert(parts, string.format("%q:%s", k, v)) end
   add("requests", string.format("%d", summary.requests))
   add("duration_us", string.format("%d", summary.duration))
   add("bytes", string.format("%d", summary.bytes))
   add("errors", string.format(
      '{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
      e.connect, e.read, e.write, e.status, e.timeout))
   if summary.requests > 0 then
      add("latency_us", string.format(
         '{"p50":%s,"p90":%s,"p99":%s,"p999":%s,"mean":%s,"stdev":%s,"max":%s}',
         num(latency:percentile(50)), num(latency:percentile(90)),
         num(latency:percentile(99)), num(latency:percentile(99.9)),
         num(latency.mean), num(latency.stdev), num(latency.max)))
   else
      add("latency_us", "null")
   end
   -- PC_WRK_HIST set: the whole latency histogram too, [microseconds, count]
   -- for every value seen, so that bench/run can merge the slices of a
   -- lockstep row into one distribution (wrk's latency(i): the i-th value)
   if summary.requests > 0 and os.getenv("PC_WRK_HIST") then
      local h = {}
      for i = 1, #latency do
         local v, c = latency(i)
         h[#h + 1] = string.format("[%d,%d]", v, c)
      end
      add("hist", "[" .. table.concat(h, ",") .. "]")
   end
   local counted = false
   local c = { s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0, sother = 0 }
   for _, t in ipairs(threads) do
      if t:get("counting") then
         counted = true
         for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
      end
   end
   if counted then
      add("status", string.format('{"2xx":%d,"3xx":%d,"4xx":%d,"5xx":%d,"other":%d}',
         c.s2xx, c.s3xx, c.s4xx, c.s5xx, c.sother))
   else
      add("status", "null")
   end
   local f = assert(io.open(path, "w"))
   f:write("{" .. table.concat(parts, ",") .. "}\n")
   f:close()
end

return M
