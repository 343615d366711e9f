-- POST .../users/{id}/password with password.check+json and the user's right password, so every
-- request verifies a hash and clears the failure count. The requests cycle through the user
-- paths listed one per line in BENCH_PATHS_FILE: more users than connections, so no user has
-- more checks in flight than its lockout admits at once.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local headers = {
  ["Authorization"] = "Bearer " .. common.env("BENCH_TOKEN"),
  ["Content-Type"] = "application/vnd.pingidentity.password.check+json",
}
local body = '{"password":"' .. common.env("BENCH_PASSWORD") .. '"}'
local paths = common.lines(common.env("BENCH_PATHS_FILE"))
local n = 0

function request()
  n = n + 1
  return wrk.format("POST", paths[(n % #paths) + 1], headers, body)
end
