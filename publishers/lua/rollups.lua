-- rollups.lua - writes rollups whole, each only if it is as the writer last knew it
-- (publishers/rollups.c; docs/design.md, "Writing rollups").
-- KEYS: per rollup its hash {p}:r:{res}:{dims}:{start} and its companion
-- {p}:x:{<the rollup key>} (the same slot: the rollup key is the companion's hash tag).
-- ARGV per rollup, in KEYS order: expected companion version (16 bytes; "" = the rollup
-- must not exist yet), the new companion, the rollup's TTL in ms ("0" = none), a mode and
-- its body:
--   "r" RESTORE of a serialized hash (redis_dump.h): the whole rollup, in one command;
--   "h" the same as field/value pairs (count, then pairs) when RESTORE is not available;
--   "u" field/value pairs added to the rollup as it is (its percentiles are kept).
-- A companion starts with one format byte, then the 16-byte version.
-- Replies with what it did not write: per rollup not written, its index (1-based), the
-- companion Redis holds ("" when none) and the rollup's fields; the writer merges its
-- change into that and sends again. A rollup already written with this exact new
-- version (an earlier reply was lost) is skipped.
-- Work: per rollup one RESTORE (or one HSET), a share of one MGET and one MSET.
-- A new rollup is restored without REPLACE: Redis refuses it (BUSYKEY) when one is
-- there, which takes no extra lookup.
local n = #KEYS / 2
local xs = {}
for j = 1, n do xs[j] = KEYS[2 * j] end
local have = redis.call('MGET', unpack(xs))
local out, set = {}, {}
local a = 1
for j = 1, n do
  local r, x = KEYS[2 * j - 1], KEYS[2 * j]
  local expect, newx, ttl, mode = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local nf = (mode == 'r') and 0 or tonumber(ARGV[a + 4])
  local body = a + 4
  a = (mode == 'r') and a + 5 or a + 5 + 2 * nf
  local h = have[j] or ''
  local hv = string.sub(h, 2, 17)
  local written = false
  if hv == expect then
    if mode == 'r' and expect == '' then
      -- refused (BUSYKEY) when the rollup outlived its companion: merge into what it holds
      local res = redis.pcall('RESTORE', r, ttl, ARGV[body])
      if res.err and not string.find(res.err, 'BUSYKEY', 1, true) then
        return redis.error_reply(res.err)
      end
      written = not res.err
    elseif expect == '' and mode ~= 'u' and redis.call('EXISTS', r) == 1 then
      written = false -- the rollup outlived its companion: merge into what it holds
    elseif mode == 'r' then
      redis.call('RESTORE', r, ttl, ARGV[body], 'REPLACE')
      written = true
    else
      if mode == 'h' and expect ~= '' then redis.call('DEL', r) end
      if nf > 0 then redis.call('HSET', r, unpack(ARGV, body + 1, body + 2 * nf)) end
      if ttl ~= '0' then redis.call('PEXPIRE', r, ttl) end
      written = true
    end
    if written then
      set[#set + 1] = x
      set[#set + 1] = newx
    end
  elseif hv == string.sub(newx, 2, 17) then
    written = true
  end
  if not written then
    out[#out + 1] = j
    out[#out + 1] = h
    out[#out + 1] = redis.call('HGETALL', r)
  end
end
if #set > 0 then redis.call('MSET', unpack(set)) end
return out
