-- wrk script: POST /api/session/validate-uuid with a random UUID from a file of known ones.
-- usage: wrk -t1 -c32 -d10s -s scripts/bench/validate.lua http://127.0.0.1:8080 -- uuids.txt
local uuids = {}
function init(args)
  local path = args[1] or "uuids.txt"
  for line in io.lines(path) do
    if #line == 36 then uuids[#uuids + 1] = line end
  end
  if #uuids == 0 then error("no UUIDs in " .. path) end
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end
function request()
  local id = uuids[math.random(#uuids)]
  return wrk.format("POST", "/api/session/validate-uuid", {["Content-Type"] = "application/json"},
    '{"uuid":"' .. id .. '"}')
end
function done(summary, latency, requests)
  io.write(string.format("RESULT req/s=%.0f p50_ms=%.3f p99_ms=%.3f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
