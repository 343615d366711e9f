-- POST .../users with a username and email no other request (thread, run) uses.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local path = common.env("BENCH_PATH")
local headers = {
  ["Authorization"] = "Bearer " .. common.env("BENCH_TOKEN"),
  ["Content-Type"] = "application/json",
}

function request()
  local name = common.unique()
  local body = '{"username":"' .. name .. '","email":"' .. name .. '@example.com"}'
  return wrk.format("POST", path, headers, body)
end
