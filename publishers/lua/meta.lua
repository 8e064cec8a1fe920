-- meta.lua - the resume points and message counts of partitions in {p}:meta
-- (publishers/redis_publisher.c). KEYS[1] {p}:meta. A resume point is "<next offset>
-- <newest event time> <count> ..." with a count per name in ARGV[1]; the change of each
-- count since the point Redis holds is added to the totals, so the totals stay exact
-- whoever sends a point, and sending one twice adds nothing.
-- ARGV: [1] the count names (space-separated), [2] n, then n times resume field, value;
-- then m, then m field/value pairs set as they are (versions, watermark).
-- Replies with the oldest newest-event-time of any partition's resume point ("" when
-- none has one): every partition's watermark is at least that less the lateness.
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
-- the oldest newest event time over the resume points (a partition with no event has
-- the smallest 64-bit number there, and is left out)
local oldest
local flat = redis.call('HGETALL', meta)
for j = 1, #flat, 2 do
  if string.sub(flat[j], 1, 7) == 'resume:' then
    local ts = string.match(flat[j + 1], '^%S+ (%-?%d+)')
    if ts and ts ~= '-9223372036854775808' then
      ts = tonumber(ts) -- epoch ms: exact in a double
      if not oldest or ts < oldest then oldest = ts end
    end
  end
end
return oldest and string.format('%d', oldest) or ''
