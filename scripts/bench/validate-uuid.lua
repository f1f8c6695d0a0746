-- wrk script: POST /api/session/validate-uuid with a known session UUID.
-- The UUID comes from the environment (BENCH_UUID); seed it with generate-uuid first.
local id = os.getenv("BENCH_UUID")
if id == nil or id == "" then
  error("set BENCH_UUID to a session UUID made by generate-uuid")
end
wrk.method = "POST"
wrk.path = "/api/session/validate-uuid"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"uuid":"' .. id .. '"}'

-- No response() callback: it would cost wrk a Lua call per answer; wrk counts non-2xx itself.

function done(summary, latency, requests)
  io.write(string.format("p50_ms=%.3f p99_ms=%.3f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
