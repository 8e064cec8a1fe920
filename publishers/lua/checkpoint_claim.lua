-- checkpoint_claim.lua - a new owner takes a partition's checkpoint (publishers/checkpoint.c).
-- KEYS[1] the checkpoint hash {p}:cp:{tag}, KEYS[2] its staging list, KEYS[3] its log
-- (all in the partition's slot); ARGV[1] the new owner's token.
-- The claim count goes up by one and the token is the new owner's: any former owner's
-- commit is refused from now on. Whatever a former owner had staged is dropped.
-- Returns {claims, committed flush number, resume point ("" = none), segments in the log, log
-- bytes, bytes of its last snapshot, segments}.
local claims = redis.call('HINCRBY', KEYS[1], 'claims', 1)
redis.call('HSET', KEYS[1], 'token', ARGV[1])
redis.call('UNLINK', KEYS[2])
local v = redis.call('HMGET', KEYS[1], 'seq', 'resume', 'bytes', 'snapbytes', 'segments')
return {claims, v[1] or '0', v[2] or '', redis.call('LLEN', KEYS[3]), v[3] or '0',
        v[4] or '0', v[5] or '0'}
