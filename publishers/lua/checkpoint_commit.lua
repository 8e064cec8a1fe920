-- checkpoint_commit.lua - makes a staged segment part of a partition's checkpoint
-- (publishers/checkpoint.c), atomically with the partition's resume point.
-- KEYS[1] the checkpoint hash, KEYS[2] the staging list, KEYS[3] the log (the names of
-- the segments, in order), KEYS[4] the segment the staging list becomes (one slot).
-- ARGV: [1] claims, [2] token (the owner's claim), [3] flush number expected in Redis,
-- [4] the new one, [5] chunks staged, [6] kind ("D" delta: appended; "S" snapshot:
-- replaces the log, at the same flush number), [7] resume point, [8] segment bytes,
-- [9] the chunk header prefix every staged chunk starts with, [10] the segment's name,
-- [11] the key of a segment less its name (the log's segments are that plus a name).
-- Replies "ok", or "applied" when this commit was made already (its reply was lost).
-- Errors: SPSTALE (another owner claimed the partition since), SPBEHIND (Redis holds an
-- older claim or flush than this owner made: it went back in time), SPSTAGE (the
-- staging list is not this commit's chunks: send them again).
-- Work: a RENAME and an RPUSH (a snapshot also unlinks the segments it replaces, at most
-- a few hundred): the bytes are never copied, so the call is short whatever their size.
local cp, stage, log, seg = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local c = redis.call('HMGET', cp, 'claims', 'token', 'seq', 'snapseq')
local claims, mine = tonumber(c[1] or '0'), tonumber(ARGV[1])
if c[2] ~= ARGV[2] then
  if claims > mine then
    return redis.error_reply('SPSTALE partition claimed again (claim ' .. claims .. ', this owner ' .. mine .. ')')
  end
  return redis.error_reply('SPBEHIND claim ' .. claims .. ' in Redis, this owner holds claim ' .. mine)
end
local seq, expect, new = tonumber(c[3] or '0'), tonumber(ARGV[3]), tonumber(ARGV[4])
local n, kind = tonumber(ARGV[5]), ARGV[6]
if kind == 'D' then
  if seq == new then redis.call('UNLINK', stage); return 'applied' end
  if seq ~= expect then
    return redis.error_reply('SPBEHIND flush ' .. seq .. ' in Redis, this owner committed ' .. expect)
  end
else
  if seq ~= expect then
    return redis.error_reply('SPBEHIND flush ' .. seq .. ' in Redis, this owner committed ' .. expect)
  end
  if tonumber(c[4] or '-1') == seq and redis.call('LLEN', stage) == 0 then return 'applied' end
end
local have = redis.call('LLEN', stage)
if have ~= n or n == 0 then
  return redis.error_reply('SPSTAGE staging holds ' .. have .. ' chunks, the commit names ' .. n)
end
local pre = ARGV[9]
for _, at in ipairs({0, n - 1}) do
  if string.sub(redis.call('LINDEX', stage, at), 1, #pre) ~= pre then
    return redis.error_reply('SPSTAGE staging holds another commit\'s chunks')
  end
end
if kind == 'D' then
  redis.call('RENAME', stage, seg)
  redis.call('RPUSH', log, ARGV[10])
  redis.call('HINCRBY', cp, 'bytes', ARGV[8])
  redis.call('HINCRBY', cp, 'segments', 1)
else
  for _, name in ipairs(redis.call('LRANGE', log, 0, -1)) do
    if name ~= ARGV[10] then redis.call('UNLINK', ARGV[11] .. name) end
  end
  redis.call('UNLINK', log)
  redis.call('RENAME', stage, seg)
  redis.call('RPUSH', log, ARGV[10])
  redis.call('HSET', cp, 'bytes', ARGV[8], 'segments', 1, 'snapseq', seq, 'snapbytes', ARGV[8])
end
redis.call('HSET', cp, 'seq', new, 'resume', ARGV[7])
return 'ok'
