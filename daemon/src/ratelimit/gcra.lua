-- GCRA for one key, atomically (SPEC §3; the same algorithm as the memory backend).
-- KEYS[1]: the bucket key.  ARGV[1]: emission interval in µs.  ARGV[2]: burst (= the count).
-- The clock is the Redis server's, so every daemon sharing this Redis agrees on "now".
-- Returns {allowed (0|1), remaining, retry_after_us, reset_us}.
local t = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then
  tat = now
end
local tau = t * (burst - 1)
if now < tat - tau then
  -- Refused: the state is unchanged (a refused request costs nothing).
  return {0, 0, tat - tau - now, tat - now}
end
local new_tat = tat + t
-- The key lives exactly as long as it differs from a fresh bucket: Redis evicts idle keys.
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
local remaining = math.floor((now + tau + t - new_tat) / t)
return {1, remaining, 0, new_tat - now}
