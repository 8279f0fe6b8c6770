-- ceiling.lua - GET against pc-ceiling (bench/ceiling.c): the fixed 80-byte
-- JSON answer of a bare libmicrohttpd server. The most this machine gives
-- for one request; every throughput figure is divided by it.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")

wrk.method = "GET"
wrk.path = "/users/me"
