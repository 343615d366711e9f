-- GET BENCH_PATH with a bearer token (GET population; also the ceiling, which ignores it).
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "GET"
wrk.path = common.env("BENCH_PATH")
wrk.headers["Authorization"] = "Bearer " .. common.env("BENCH_TOKEN", "none")
