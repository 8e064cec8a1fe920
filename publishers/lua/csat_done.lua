-- csat_done.lua - clears a window's mark in {p}:csat_due once the smoothing pass has
-- brought its agents up to date, only if no writer marked it again meanwhile
-- (publishers/rollups.c, the smoothing pass). KEYS[1] {p}:csat_due (a hash: window ->
-- how many times it was marked); ARGV[1] the window, ARGV[2] the count the pass read.
-- 1 cleared, 0 marked again since (the next pass takes it).
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
