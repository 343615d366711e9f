-- Shared by every bench script: per-thread target ports, non-2xx counting, parseable results.
--
-- Environment (set by bench/run.py):
--   BENCH_PORTS   optional "p1,p2,...": thread i connects to 127.0.0.1:p(i) (round robin), so one
--                 wrk with -t2 loads two server processes with one merged latency histogram
--   BENCH_PREFIX  a string unique to this wrk run, for names that must never collide

local common = {}

local threads = {}
local next_id = 0

function common.env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then
      error("bench: environment variable " .. name .. " is not set")
    end
    return default
  end
  return value
end

function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
  local ports = os.getenv("BENCH_PORTS")
  if ports and ports ~= "" then
    local list = {}
    for port in ports:gmatch("%d+") do
      list[#list + 1] = port
    end
    local port = list[(next_id - 1) % #list + 1]
    thread.addr = wrk.lookup("127.0.0.1", port)[1]
  end
  threads[#threads + 1] = thread
end

bad_count = 0
bad_sample = ""

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad_count = bad_count + 1
    if bad_sample == "" then
      bad_sample = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local bad, sample = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("bad_count") or 0)
    local s = thread:get("bad_sample") or ""
    if sample == "" then
      sample = s
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"status_errors":%d,"non2xx":%d,"non2xx_sample":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status, bad, json_string(sample)
  ))
end

-- A counter per thread, for unique names: "<prefix>-t<thread>-<n>".
local sequence = 0
-- The non-empty lines of a file (ids, paths), in order.
function common.lines(path)
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then
      lines[#lines + 1] = line
    end
  end
  return lines
end

function common.unique()
  sequence = sequence + 1
  return string.format("%s-t%d-%d", common.prefix, thread_id or 0, sequence)
end

common.prefix = os.getenv("BENCH_PREFIX") or tostring(os.time())

return common
