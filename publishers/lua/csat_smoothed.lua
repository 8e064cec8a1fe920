-- csat_smoothed.lua - sets an agent rollup's csat_smoothed only while its counts are
-- the ones the value was computed from (publishers/rollups.c, the smoothing pass).
-- KEYS[1] the agent's rollup; ARGV[1] csat_positive, ARGV[2] csat_responses it was
-- computed from, ARGV[3] the value ("" = delete the field). 1 written, 0 counts moved.
local v = redis.call('HMGET', KEYS[1], 'csat_positive', 'csat_responses')
if (v[1] or '0') ~= ARGV[1] or (v[2] or '0') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], 'csat_smoothed')
else redis.call('HSET', KEYS[1], 'csat_smoothed', ARGV[3]) end
return 1
