-- POST .../populations with a name no other request (thread, run) uses.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local path = common.env("BENCH_PATH")
local headers = {
  ["Authorization"] = "Bearer " .. common.env("BENCH_TOKEN"),
  ["Content-Type"] = "application/json",
}

function request()
  local body = '{"name":"' .. common.unique() .. '","description":"bench"}'
  return wrk.format("POST", path, headers, body)
end
