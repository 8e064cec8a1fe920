-- merge.lua - the one script supportpulse runs in Redis (embedded into the binary by
-- CMake; see redis_publisher.c). It applies one flush of an instance atomically:
--
--   1. a fence per partition: its flush number in {p}:meta must be the one the writer
--      restored. If every partition is one ahead, this flush was applied already (its
--      reply was lost): nothing is done. If any other differs, another owner has
--      written that partition since: the whole flush is refused with SPSTALE <partition>.
--   2. each partition's partials of the changed windows: one hash per (partition,
--      window), fields "<metric>:<dims>" with absolute values (what a restarted owner
--      restores);
--   3. the change since the last flush, summed by the writer over all its partitions per
--      1m, 5m, 15m, 1h and 1d total: HINCRBY, ratios recomputed from the summed counts,
--      updated_at, PUBLISH {p}:updates <key>;
--   4. each partition's resume point and new flush number.
--
-- KEYS[1] {p}:meta; other keys are referenced by number from ARGV:
-- ARGV[1] now (ms), [2] updates channel, [3] partial ttl, [4] NP, then NP times:
--   seq field, expected seq, resume field, resume value, partition index key#, NW,
--   then NW times: window hash key#, window start, nfields, field, value, ...
-- then NT, then NT times: key#, index key#, ttl (0 = keep), window start, nfields,
--   field, delta, ...
-- Cost: O(changed fields) per key; index and TTL upkeep only when a key is created.

local meta = KEYS[1]
local now, channel, partial_ttl = ARGV[1], ARGV[2], ARGV[3]
local NP = tonumber(ARGV[4])

-- 1. fences, before any write
local i, parts, applied = 5, {}, 0
for p = 1, NP do
  local part = {seq = ARGV[i], expected = ARGV[i + 1], resume = ARGV[i + 2],
                value = ARGV[i + 3], pidx = KEYS[tonumber(ARGV[i + 4])], start = i + 6,
                nw = tonumber(ARGV[i + 5])}
  part.newseq = tostring(tonumber(part.expected) + 1)
  local cur = redis.call('HGET', meta, part.seq) or '0'
  if cur == part.newseq then
    applied = applied + 1
  elseif cur ~= part.expected then
    return redis.error_reply('SPSTALE ' .. part.seq .. ' is at ' .. cur .. ', this writer expected ' .. part.expected)
  end
  i = i + 6
  for _ = 1, part.nw do i = i + 3 + 2 * tonumber(ARGV[i + 2]) end
  parts[p] = part
end
if NP > 0 and applied == NP then return 0 end

-- 2. partials
for _, part in ipairs(parts) do
  local j = part.start
  for _ = 1, part.nw do
    local k, start, nf = KEYS[tonumber(ARGV[j])], ARGV[j + 1], tonumber(ARGV[j + 2])
    j = j + 3
    if nf > 0 then
      for c = j, j + 2 * nf - 1, 4000 do -- unpack is limited to a few thousand values
        redis.call('HSET', k, unpack(ARGV, c, math.min(c + 3999, j + 2 * nf - 1)))
      end
      redis.call('EXPIRE', k, partial_ttl)
      redis.call('ZADD', part.pidx, start, start)
    end
    j = j + 2 * nf
  end
  if part.nw > 0 then redis.call('EXPIRE', part.pidx, partial_ttl) end
end

-- ratio name, numerator fields (a leading '-' subtracts), denominator field, scale
local RATIOS = {
  {'csat', {'csat_positive'}, 'csat_responses', 1},
  {'csat_avg', {'csat_score_sum'}, 'csat_responses', 1},
  {'nps', {'nps_promoters', '-nps_detractors'}, 'nps_responses', 100},
  {'reopen_rate', {'reopened'}, 'solved', 1},
  {'handoff_rate', {'escalated_bot'}, 'created', 1},
}

-- Recomputes the ratios whose inputs changed. vals: field -> value when the caller
-- knows them all (a new key); otherwise they are read from the hash.
local function derive(k, changed, vals)
  local set, del = {}, {}
  for _, r in ipairs(RATIOS) do
    local names, touched = {r[3]}, changed[r[3]]
    for _, f in ipairs(r[2]) do
      local name = f:gsub('^-', '')
      names[#names + 1] = name
      touched = touched or changed[name]
    end
    if touched then
      local v
      if vals then
        v = {}
        for n, name in ipairs(names) do v[n] = vals[name] end
      else
        v = redis.call('HMGET', k, unpack(names))
      end
      local den = tonumber(v[1]) or 0
      if den == 0 then
        del[#del + 1] = r[1]
      else
        local num = 0
        for n, f in ipairs(r[2]) do
          local x = tonumber(v[n + 1]) or 0
          if f:sub(1, 1) == '-' then num = num - x else num = num + x end
        end
        set[#set + 1] = r[1]
        set[#set + 1] = string.format('%.6g', r[4] * num / den)
      end
    end
  end
  return set, del
end

-- 3. totals
local NT = tonumber(ARGV[i]); i = i + 1
for _ = 1, NT do
  local k, idx = KEYS[tonumber(ARGV[i])], KEYS[tonumber(ARGV[i + 1])]
  local ttl, start, nf = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  i = i + 5
  local created = redis.call('EXISTS', k) == 0
  local changed, fields = {}, {}
  for j = 0, nf - 1 do
    local f, d = ARGV[i + 2 * j], ARGV[i + 2 * j + 1]
    changed[f] = true
    if created then
      fields[f] = d
    else
      redis.call('HINCRBY', k, f, d)
    end
  end
  local set, del = derive(k, changed, created and fields or nil)
  if created then -- one HSET of the counts, the ratios and updated_at
    for j = 0, 2 * nf - 1 do set[#set + 1] = ARGV[i + j] end
  end
  i = i + 2 * nf
  set[#set + 1] = 'updated_at'
  set[#set + 1] = now
  redis.call('HSET', k, unpack(set))
  if #del > 0 then redis.call('HDEL', k, unpack(del)) end
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

-- 4. resume points and flush numbers
for _, part in ipairs(parts) do
  redis.call('HSET', meta, part.resume, part.value, part.seq, part.newseq)
end
return 1
