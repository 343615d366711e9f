-- POST /{envID}/as/token: client_credentials with HTTP Basic client authentication.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.path = common.env("BENCH_PATH")
wrk.headers["Authorization"] = "Basic " .. common.env("BENCH_BASIC")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials"
