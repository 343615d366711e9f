-- GET .../populations?filter=name sw "<stem>" in an environment whose BENCH_LIST_COUNT
-- populations are named BENCH_LIST_NAME .. NNNNN (5 digits, from 00000). Each request asks for
-- the next 4-digit stem, which matches exactly 10 populations.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local path = common.env("BENCH_PATH")
local name = common.env("BENCH_LIST_NAME")
local stems = math.floor(tonumber(common.env("BENCH_LIST_COUNT")) / 10)
local headers = { ["Authorization"] = "Bearer " .. common.env("BENCH_TOKEN") }
local n = 0

function request()
  n = n + 1
  local stem = string.format("%s%04d", name, n % stems)
  return wrk.format("GET", path .. "?filter=name%20sw%20%22" .. stem .. "%22", headers)
end
