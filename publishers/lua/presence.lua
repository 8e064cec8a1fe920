-- presence.lua - agents' newest status and, per live dimension set, how many are
-- available and staffed (publishers/live.c). KEYS[1] {p}:pr:{{p}:presence} (agent ->
-- "<ts> <status>\n<dims>\n..."), KEYS[2] {p}:prc:{{p}:presence} ("<dims>\tavailable",
-- "<dims>\tstaffed" -> count); one slot. An update replaces an agent's entry only when
-- newer (later ts; same ts: greater status name), so replays and reordering change
-- nothing and the counts move by the difference.
-- ARGV: n, then n times agent, ts, status, ndims, dims... Replies with the dimension
-- sets whose counts moved.
local rec, cnt = KEYS[1], KEYS[2]
local touched, order = {}, {}
local function parse(v)
  if not v then return nil end
  local r, first = {dims = {}}, true
  for line in string.gmatch(v, '[^\n]+') do
    if first then
      local ts, st = string.match(line, '^(%S+) (%S+)$')
      r.ts, r.status, first = tonumber(ts), st, false
    else
      r.dims[#r.dims + 1] = line
    end
  end
  return r
end
local function count(r, sign)
  local av = r.status == 'available' and sign or 0
  local st = (r.status == 'available' or r.status == 'busy') and sign or 0
  for _, d in ipairs(r.dims) do
    if av ~= 0 then redis.call('HINCRBY', cnt, d .. '\tavailable', av) end
    if st ~= 0 then redis.call('HINCRBY', cnt, d .. '\tstaffed', st) end
    if not touched[d] then touched[d] = true; order[#order + 1] = d end
  end
end
local i, n = 2, tonumber(ARGV[1])
for _ = 1, n do
  local agent, ts, status, nd = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], tonumber(ARGV[i + 3])
  local new = {ts = ts, status = status, dims = {}}
  for j = 1, nd do new.dims[j] = ARGV[i + 3 + j] end
  i = i + 4 + nd
  local old = parse(redis.call('HGET', rec, agent))
  if not old or ts > old.ts or (ts == old.ts and status > old.status) then
    if old then count(old, -1) end
    count(new, 1)
    local v = ts .. ' ' .. status
    for _, d in ipairs(new.dims) do v = v .. '\n' .. d end
    redis.call('HSET', rec, agent, v)
  end
end
return order
