-- admin_list.lua - the admin user list at one page: GET PC_LIST_PATH with
-- ?page=PC_PAGE, as a superuser (bearer JWT). Run at page 1 and page 10 000 of
-- the 1 000 000-user store: a list that pages by OFFSET slows with the page.
-- Env: PC_TOKEN, PC_LIST_PATH, PC_PAGE.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")

wrk.method = "GET"
wrk.path = common.env("PC_LIST_PATH", "/auth/users/") .. "?page=" .. common.env("PC_PAGE")
wrk.headers["Authorization"] = "Bearer " .. common.env("PC_TOKEN")
