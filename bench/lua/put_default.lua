-- PUT .../populations/{id} with "default": true, alternating between two populations so every
-- request really moves the environment's default (BENCH_PATH_A/B, BENCH_NAME_A/B).
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local targets = {
  { common.env("BENCH_PATH_A"), '{"name":"' .. common.env("BENCH_NAME_A") .. '","default":true}' },
  { common.env("BENCH_PATH_B"), '{"name":"' .. common.env("BENCH_NAME_B") .. '","default":true}' },
}
local headers = {
  ["Authorization"] = "Bearer " .. common.env("BENCH_TOKEN"),
  ["Content-Type"] = "application/json",
}
local n = 0

function request()
  n = n + 1
  local target = targets[n % 2 + 1]
  return wrk.format("PUT", target[1], headers, target[2])
end
