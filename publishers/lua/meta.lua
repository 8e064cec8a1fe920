-- meta.lua - the resume points and message counts of partitions in {p}:meta
-- (publishers/redis_publisher.c). KEYS[1] {p}:meta. A resume point is "<next offset>
-- <newest event time> <count> ..." with a count per name in ARGV[1]; the change of each
-- count since the point Redis holds is added to the totals, so the totals stay exact
-- whoever sends a point, and sending one twice adds nothing.
-- ARGV: [1] the count names (space-separated), [2] n, then n times resume field, value;
-- then m, then m field/value pairs set as they are (versions, watermark); then the
-- resume field prefix of the topic ("resume:<topic>:") and its number of partitions.
-- Replies with the oldest newest-event-time over the topic's partitions ("" while any
-- partition has none yet, or the count is unknown): every partition's watermark is at
-- least that less the lateness, so windows that ended before it can change no more.
local meta = KEYS[1]
local function words(s)
  local t = {}
  for w in string.gmatch(s or '', '%S+') do t[#t + 1] = w end
  return t
end
local names = words(ARGV[1])
local n, i = tonumber(ARGV[2]), 3
for _ = 1, n do
  local field, value = ARGV[i], ARGV[i + 1]
  i = i + 2
  local old, new = words(redis.call('HGET', meta, field)), words(value)
  for c = 1, #names do
    local d = (tonumber(new[c + 2]) or 0) - (tonumber(old[c + 2]) or 0)
    if d ~= 0 then redis.call('HINCRBY', meta, names[c], d) end
  end
  redis.call('HSET', meta, field, value)
end
local m = tonumber(ARGV[i])
if m > 0 then redis.call('HSET', meta, unpack(ARGV, i + 1, i + 2 * m)) end
i = i + 1 + 2 * m
-- the oldest newest event time over the topic's partitions (one with no event has the
-- smallest 64-bit number there)
local pre, parts = ARGV[i], tonumber(ARGV[i + 1]) or 0
local oldest, seen = nil, 0
local flat = redis.call('HGETALL', meta)
for j = 1, #flat, 2 do
  if string.sub(flat[j], 1, #pre) == pre then
    local ts = string.match(flat[j + 1], '^%S+ (%-?%d+)')
    if not ts or ts == '-9223372036854775808' then return '' end
    ts = tonumber(ts) -- epoch ms: exact in a double
    seen = seen + 1
    if not oldest or ts < oldest then oldest = ts end
  end
end
if parts == 0 or seen < parts then return '' end
return string.format('%d', oldest)
