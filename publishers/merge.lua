-- merge.lua - the one script supportpulse runs in Redis (embedded into the binary by
-- CMake; see redis_publisher.c). It applies one partition's flush atomically:
--
--   1. a fence: the partition's flush sequence number in {p}:meta must be the one the
--      writer restored. Equal to it + 1: this flush was applied already (its reply was
--      lost) and nothing is done. Anything else: another owner has written since, and
--      the flush is refused with SPSTALE.
--   2. the partition's partials of the changed (window, dims) cells, as absolute values
--      (what a restarted owner restores);
--   3. the change of those partials added to the 1m..1d totals (computed and summed by
--      the writer), ratios recomputed from the summed counts, updated_at, PUBLISH;
--   4. the partition's resume point and the new sequence number.
--
-- KEYS[1] {p}:meta, KEYS[2] the partition's index of partials, KEYS[3..] partials, then
-- totals and their {p}:ts index keys, referenced by number from ARGV:
-- ARGV[1] now (ms), [2] seq field, [3] expected seq, [4] resume field, [5] resume value,
-- [6] updates channel, [7] partial ttl, [8] P, then P times:
--   key#, index member, window start, nfields, field, value, ... (non-zero values)
-- then T, then T times:
--   key#, index key#, ttl (0 = keep), window start, nfields, field, delta, ...
-- Cost: O(changed fields) per key; index and TTL upkeep only when a key is created.

local meta = KEYS[1]
local cur = redis.call('HGET', meta, ARGV[2]) or '0'
local newseq = tostring(tonumber(ARGV[3]) + 1)
if cur == newseq then return 0 end
if cur ~= ARGV[3] then
  return redis.error_reply('SPSTALE ' .. ARGV[2] .. ' is at ' .. cur .. ', this writer expected ' .. ARGV[3])
end

-- ratio name, numerator fields (a leading '-' subtracts), denominator field, scale
local RATIOS = {
  {'csat', {'csat_positive'}, 'csat_responses', 1},
  {'csat_avg', {'csat_score_sum'}, 'csat_responses', 1},
  {'nps', {'nps_promoters', '-nps_detractors'}, 'nps_responses', 100},
  {'reopen_rate', {'reopened'}, 'solved', 1},
  {'handoff_rate', {'escalated_bot'}, 'created', 1},
}

local function derive(k, changed)
  for _, r in ipairs(RATIOS) do
    local names, touched = {r[3]}, changed[r[3]]
    for _, f in ipairs(r[2]) do
      local name = f:gsub('^-', '')
      names[#names + 1] = name
      touched = touched or changed[name]
    end
    if touched then
      local v = redis.call('HMGET', k, unpack(names))
      local den = tonumber(v[1]) or 0
      if den == 0 then
        redis.call('HDEL', k, r[1])
      else
        local num = 0
        for i, f in ipairs(r[2]) do
          local x = tonumber(v[i + 1]) or 0
          if f:sub(1, 1) == '-' then num = num - x else num = num + x end
        end
        redis.call('HSET', k, r[1], string.format('%.6g', r[4] * num / den))
      end
    end
  end
end

local now, channel, partial_ttl = ARGV[1], ARGV[6], ARGV[7]
local i = 8
local P = tonumber(ARGV[i]); i = i + 1
for _ = 1, P do
  local k, member, start, nf = KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  local set = {}
  for j = 0, 2 * nf - 1 do set[j + 1] = ARGV[i + j] end
  i = i + 2 * nf
  if nf > 0 then
    redis.call('DEL', k) -- absolute: fields that are zero now must not linger
    redis.call('HSET', k, unpack(set))
    redis.call('EXPIRE', k, partial_ttl)
    redis.call('ZADD', KEYS[2], start, member)
  end
end
if P > 0 then redis.call('EXPIRE', KEYS[2], partial_ttl) end

local T = tonumber(ARGV[i]); i = i + 1
for _ = 1, T do
  local k, idx = KEYS[tonumber(ARGV[i])], KEYS[tonumber(ARGV[i + 1])]
  local ttl, start, nf = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  i = i + 5
  local created = redis.call('EXISTS', k) == 0
  local changed = {}
  for j = 0, nf - 1 do
    local f, d = ARGV[i + 2 * j], ARGV[i + 2 * j + 1]
    redis.call('HINCRBY', k, f, d)
    changed[f] = true
  end
  i = i + 2 * nf
  derive(k, changed)
  redis.call('HSET', k, 'updated_at', now)
  if created then
    redis.call('ZADD', idx, start, start)
    if ttl > 0 then
      redis.call('EXPIRE', k, ttl)
      redis.call('ZREMRANGEBYSCORE', idx, '-inf', '(' .. string.format('%d', start - ttl))
      redis.call('EXPIRE', idx, ttl)
    end
  end
  redis.call('PUBLISH', channel, k)
end

redis.call('HSET', meta, ARGV[4], ARGV[5], ARGV[2], newseq)
return 1
