-- merge.lua - the one script supportpulse runs in Redis (embedded into the binary by
-- CMake; see redis_publisher.c). Two modes:
--
-- "cell": replace one partition's partial of one (window, dims) cell and add the
--   difference to the 1m..1d totals that contain the window, so re-sending the same
--   partial adds zero.
--   KEYS[1] partial, KEYS[2..6] totals 1m,5m,15m,1h,1d, KEYS[7..11] their {p}:ts index,
--   KEYS[12] the partition's index of partials.
--   ARGV[2] now (ms), ARGV[3..7] ttl per resolution (0 = keep), ARGV[8..12] window start
--   per resolution, ARGV[13] member in the partition index, ARGV[14] partial ttl,
--   ARGV[15] the updates channel, ARGV[16] drop partition-index members below this start,
--   ARGV[17..] field, value pairs (integers).
-- "meta": KEYS[1] the meta hash, ARGV[2] field, ARGV[3] value. Sent last in a flush's
--   MULTI, through the same script, so it cannot be written when the script is missing
--   and the partials are not.

if ARGV[1] == 'meta' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  return 0
end

local function ratio(a, b)
  if b == 0 then return nil end
  return a / b
end

-- Ratios are recomputed from the summed counts; absent when the denominator is 0.
local function derive(k)
  local v = redis.call('HMGET', k, 'csat_responses', 'csat_positive', 'csat_score_sum',
    'nps_responses', 'nps_promoters', 'nps_detractors', 'solved', 'reopened', 'created',
    'escalated_bot')
  for i = 1, 10 do v[i] = tonumber(v[i]) or 0 end
  local nps = nil
  if v[4] > 0 then nps = 100 * (v[5] - v[6]) / v[4] end
  local out = {
    {'csat', ratio(v[2], v[1])}, {'csat_avg', ratio(v[3], v[1])}, {'nps', nps},
    {'reopen_rate', ratio(v[8], v[7])}, {'handoff_rate', ratio(v[10], v[9])},
  }
  for _, o in ipairs(out) do
    if o[2] == nil then
      redis.call('HDEL', k, o[1])
    else
      redis.call('HSET', k, o[1], string.format('%.6g', o[2]))
    end
  end
end

local F = 17
local n = (#ARGV - F + 1) / 2
local fields, setargs = {}, {}
for i = 1, n do
  fields[i] = ARGV[F + 2 * i - 2]
  setargs[2 * i - 1] = fields[i]
  setargs[2 * i] = ARGV[F + 2 * i - 1]
end

redis.call('ZADD', KEYS[12], ARGV[8], ARGV[13])
redis.call('ZREMRANGEBYSCORE', KEYS[12], '-inf', '(' .. ARGV[16])
redis.call('EXPIRE', KEYS[12], ARGV[14])

local old = redis.call('HMGET', KEYS[1], unpack(fields))
local deltas = {}
for i = 1, n do
  local d = tonumber(setargs[2 * i]) - (tonumber(old[i]) or 0)
  if d ~= 0 then
    deltas[#deltas + 1] = fields[i]
    deltas[#deltas + 1] = d
  end
end
redis.call('HSET', KEYS[1], unpack(setargs))
redis.call('EXPIRE', KEYS[1], ARGV[14])
if #deltas == 0 then return 0 end

for r = 1, 5 do
  local k = KEYS[1 + r]
  for j = 1, #deltas, 2 do redis.call('HINCRBY', k, deltas[j], deltas[j + 1]) end
  derive(k)
  redis.call('HSET', k, 'updated_at', ARGV[2])
  local ttl = tonumber(ARGV[2 + r])
  local start = tonumber(ARGV[7 + r])
  redis.call('ZADD', KEYS[6 + r], start, ARGV[7 + r])
  if ttl > 0 then
    redis.call('EXPIRE', k, ttl)
    redis.call('ZREMRANGEBYSCORE', KEYS[6 + r], '-inf', '(' .. string.format('%d', start - ttl))
    redis.call('EXPIRE', KEYS[6 + r], ttl)
  end
  redis.call('PUBLISH', ARGV[15], k)
end
return 1
