-- live.lua - a live hash {p}:live:{dims} and its companion {p}:lx:{<live key>}, which
-- holds each partition's gauges (publishers/live.c). The writer sends the absolute
-- gauges of its partitions and the live values it computed from the rollups; the
-- script sums the gauges over every partition, so the hash does not depend on which
-- instance owns which partition, and a write sent twice changes nothing.
-- KEYS[1] the live hash, KEYS[2] its companion (one slot).
-- ARGV: [1] now (epoch ms), [2] newest event time of the writer (ms), [3] n, then n
-- times partition field ("<topic>:<partition>") and "<in_queue> <backlog> <oldest offered
-- ms or ->", then m, then m field/value pairs to set, then k, then k fields to delete.
local live, comp = KEYS[1], KEYS[2]
local now, ev = ARGV[1], tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local i = 4
if n > 0 then
  redis.call('HSET', comp, unpack(ARGV, i, i + 2 * n - 1))
  i = i + 2 * n
end
local inq, backlog, oldest = 0, 0, nil
for _, v in ipairs(redis.call('HVALS', comp)) do
  local q, b, o = string.match(v, '^(%-?%d+) (%-?%d+) (%S+)$')
  inq = inq + (tonumber(q) or 0)
  backlog = backlog + (tonumber(b) or 0)
  o = tonumber(o)
  if o and (not oldest or o < oldest) then oldest = o end
end
local wait = oldest and math.max(0, math.floor((ev - oldest) / 1000)) or 0
local set = {'in_queue', inq, 'backlog', backlog, 'oldest_wait_s', wait, 'updated_at', now,
             'as_of', ARGV[2]}
local m = tonumber(ARGV[i])
for j = 1, 2 * m do set[#set + 1] = ARGV[i + j] end
i = i + 1 + 2 * m
redis.call('HSET', live, unpack(set))
local k = tonumber(ARGV[i])
if k > 0 then redis.call('HDEL', live, unpack(ARGV, i + 1, i + k)) end
return inq
