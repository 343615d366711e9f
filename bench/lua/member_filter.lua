-- GET .../users?filter=memberOfGroups[id eq "<group>"], cycling through the group ids listed
-- one per line in BENCH_IDS_FILE (groups of the big population, each a block of its users).
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local path = common.env("BENCH_PATH")
local headers = { ["Authorization"] = "Bearer " .. common.env("BENCH_TOKEN") }
local ids = common.lines(common.env("BENCH_IDS_FILE"))
local n = 0

function request()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  return wrk.format("GET", path .. "?filter=memberOfGroups%5Bid%20eq%20%22" .. id .. "%22%5D", headers)
end
