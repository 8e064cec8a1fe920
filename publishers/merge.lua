-- merge.lua - the one script supportpulse runs in Redis (embedded into the binary by
-- CMake; see redis_publisher.c). It applies one flush of an instance atomically:
--
--   1. a fence per partition: its flush number in {p}:meta must be the one the writer
--      restored. If every partition is one ahead, this flush was applied already (its
--      reply was lost): nothing is done. If any other differs, another owner has
--      written that partition since: the whole flush is refused with SPSTALE <partition>.
--   2. each partition's partials of the changed windows: one hash per (partition,
--      window), fields "<metric>:<dims>" with absolute values (what a restarted owner
--      restores); its changed cases ({p}:cases:...); the event ids it saw since its
--      last flush, appended to {p}:ids:... (dedup across restarts); and who handled
--      the cases that left its memory, in {p}:attr:...:{day} (surveys days later);
--   3. the change since the last flush, summed by the writer over all its partitions per
--      1m, 5m, 15m, 1h and 1d total: added here to the counts read with one HMGET and
--      written back with one HSET, ratios recomputed from the summed counts,
--      updated_at, PUBLISH {p}:updates <key>; then csat_smoothed of every agent of a
--      window whose own or whose desk's CSAT counts changed (so the value depends on
--      the counts only, never on when flushes happened);
--      Duration sketches: one hash per rollup, {p}:sk:{res}:{dims}:{start} (field
--      <duration number> * 100000 + <bucket>: count; field "v", written first so it
--      is found first: the version). The writer keeps a copy
--      of the sketches it last wrote (sketch_cache.h) and sends, per changed bucket,
--      the change and the new count, and the new percentiles. When the hash's version
--      is the one the writer expects (or the rollup is new and the writer had no copy:
--      nothing to read), those are written as they are (one HSET with the new
--      version); otherwise the changes are added to the stored counts here (one
--      HGETALL, one HSET), the percentiles recomputed from the merged counts, and the
--      rollup named in the reply so the writer reloads its copy. Either way the
--      version becomes the writer's new one. Sketches an earlier build left (a hash
--      per duration and a {p}:skv:... key) are moved into the one hash then;
--      percentiles go to the rollup as <duration>_p50, _p90, _p99;
--   4. the live hashes {p}:live:{dims}: gauge deltas (in_queue, backlog), agents
--      available and staffed from agent presence ({p}:presence), each
--      partition's oldest waiting call in {p}:oldest:{dims}, and the last-15-minutes,
--      last-hour and today values computed from the 1m, 5m and 1d rollups (panes), not
--      raw events;
--   5. each partition's resume point and new flush number, and the change of its
--      message counts (consumed, applied, ..., rejected:<reason>) added to the totals
--      in {p}:meta: a replay re-counts from the restored counts, so it adds nothing.
--
-- KEYS[1] {p}:meta; other keys are referenced by number from ARGV:
-- ARGV[1] now (ms), [2] updates channel, [3] partial ttl, [4] prefix, [5] the flush's
--   newest event time (ms), [6] the names of the counters in {p}:meta that resume
--   values carry (space-separated), [7] NP, then NP times:
--   seq field, expected seq, resume field, resume value ("<next offset> <newest event
--   time> <count> ..." with a count per counter name), partition index key#, NW,
--   then NW times: window hash key#, window start, nfields, field, value, ...,
--   then cases key#, NSET, field, value, ..., NDEL, field, ..., ids key#, ids blob,
--   journal length, NA, then NA times: attribution key#, ttl, n, field, value, ...
-- then NT, m, then NT times: key#, index key#, ttl (0 = keep), window start, nfields,
--   field, delta, ..., csat agents key# (0 = none), desk key# (0 = none: a desk or
--   not smoothed), sketch key# (0 = no duration changed), expected version ("-" =
--   none yet), new version, ndurations, then per duration: name, nbuckets, p50, p90,
--   p99 (the writer's; "-" when it has no copy), then nbuckets times: field
--   (<duration number> * 100000 + <bucket>), delta, new count
-- then NL, then NL times: dims, in_queue delta, backlog delta, noldest,
--   "<topic>:<partition>", oldest offered ms or "-", ...
-- then NPR, then NPR times: agent (dims form), ts, status, ndims, dims, ...
-- Live keys are built here from the prefix (Redis Cluster is not supported).
-- Cost: a fixed number of commands per total key, whatever its changed durations (the
-- data is O(changed fields); sketches the writer's copy vouches for are written without
-- being read); TTL upkeep only when a key is created, and each series index
-- ({p}:ts:...) once per flush whatever the number of windows it gains;
-- the Lua work per rollup reuses scratch tables (a new table costs more than a command
-- here) and passes numbers to Redis as the strings they came as;
-- a live hash reads 16 rollups for its 15-minute and today values and at most 16 (2
-- fields each) for its last hour.

local meta = KEYS[1]
local now, channel, partial_ttl, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now_event = tonumber(ARGV[5])
local count_names = ARGV[6]
local NP = tonumber(ARGV[7])

-- 1. fences, before any write
local i, parts, applied = 8, {}, 0
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
  part.cases, part.nset, part.set_at = KEYS[tonumber(ARGV[i])], tonumber(ARGV[i + 1]), i + 2
  i = i + 2 + 2 * part.nset
  part.ndel, part.del_at = tonumber(ARGV[i]), i + 1
  i = i + 1 + part.ndel
  part.ids, part.blob, part.keep = KEYS[tonumber(ARGV[i])], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  part.na, part.attr_at = tonumber(ARGV[i]), i + 1
  i = i + 1
  for _ = 1, part.na do i = i + 3 + 2 * tonumber(ARGV[i + 2]) end
  parts[p] = part
end
if NP > 0 and applied == NP then return 0 end

-- redis.call(cmd, key, t[from], ..., t[to]) in slices: unpack is limited to a few
-- thousand values.
local function call_sliced(cmd, key, t, from, to)
  for c = from, to, 4000 do
    redis.call(cmd, key, unpack(t, c, math.min(c + 3999, to)))
  end
end

-- 2. partials
for _, part in ipairs(parts) do
  local j = part.start
  for _ = 1, part.nw do
    local k, start, nf = KEYS[tonumber(ARGV[j])], ARGV[j + 1], tonumber(ARGV[j + 2])
    j = j + 3
    if nf > 0 then
      call_sliced('HSET', k, ARGV, j, j + 2 * nf - 1)
      redis.call('EXPIRE', k, partial_ttl)
      redis.call('ZADD', part.pidx, start, start)
    end
    j = j + 2 * nf
  end
  if part.nw > 0 then redis.call('EXPIRE', part.pidx, partial_ttl) end
  -- the partition's cases, and the event ids it saw (dedup across restarts)
  call_sliced('HSET', part.cases, ARGV, part.set_at, part.set_at + 2 * part.nset - 1)
  call_sliced('HDEL', part.cases, ARGV, part.del_at, part.del_at + part.ndel - 1)
  if #part.blob > 0 then
    redis.call('RPUSH', part.ids, part.blob)
    redis.call('LTRIM', part.ids, -part.keep, -1)
    redis.call('EXPIRE', part.ids, partial_ttl)
  end
  local j = part.attr_at
  for _ = 1, part.na do
    local ak, ttl, n = KEYS[tonumber(ARGV[j])], ARGV[j + 1], tonumber(ARGV[j + 2])
    j = j + 3
    call_sliced('HSET', ak, ARGV, j, j + 2 * n - 1)
    redis.call('EXPIRE', ak, ttl)
    j = j + 2 * n
  end
end

-- ratio name, numerator fields, denominator fields (a leading '-' subtracts), scale.
-- A ratio is absent when its denominator is 0 or less.
local RATIOS = {
  {'csat', {'csat_positive'}, {'csat_responses'}, 1},
  {'csat_avg', {'csat_score_sum'}, {'csat_responses'}, 1},
  {'dissatisfied', {'csat_negative'}, {'csat_responses'}, 1},
  {'nps', {'nps_promoters', '-nps_detractors'}, {'nps_responses'}, 100},
  {'reopen_rate', {'reopened'}, {'solved'}, 1},
  {'handoff_rate', {'escalated_bot'}, {'created'}, 1},
  {'service_level', {'answered_in_sl'},
   {'wait_ms_count', 'abandon_wait_ms_count', '-short_abandoned'}, 1},
  {'abandon_rate', {'abandoned', '-short_abandoned'}, {'offered', '-short_abandoned'}, 1},
  {'asa_ms_avg', {'wait_ms_sum'}, {'wait_ms_count'}, 1},
  {'wait_ms_avg', {'wait_ms_sum'}, {'wait_ms_count'}, 1},
  {'abandon_wait_ms_avg', {'abandon_wait_ms_sum'}, {'abandon_wait_ms_count'}, 1},
  {'handle_ms_avg', {'handle_ms_sum'}, {'handle_ms_count'}, 1},
  {'first_reply_ms_avg', {'first_reply_ms_sum'}, {'first_reply_ms_count'}, 1},
  {'resolution_ms_avg', {'resolution_ms_sum'}, {'resolution_ms_count'}, 1},
}

-- Each ratio's terms parsed once: {name, sign} for its numerator (num) and
-- denominator (den), and the names of all its inputs (inputs).
for _, r in ipairs(RATIOS) do
  local seen = {}
  r.inputs = {}
  for n = 2, 3 do
    local terms = {}
    for _, f in ipairs(r[n]) do
      local neg = f:sub(1, 1) == '-'
      local name = neg and f:sub(2) or f
      terms[#terms + 1] = {name, neg and -1 or 1}
      if not seen[name] then
        seen[name] = true
        r.inputs[#r.inputs + 1] = name
      end
    end
    if n == 2 then r.num = terms else r.den = terms end
  end
end

-- The weighted sum of terms ({field, weight} pairs) over the counts in t.
local function term_sum(terms, t)
  local v = 0
  for x = 1, #terms do v = v + terms[x][2] * (tonumber(t[terms[x][1]]) or 0) end
  return v
end

-- The value of ratio r from the counts in t (field -> number), or nil when its
-- denominator is not positive.
local function ratio(r, t)
  local den = term_sum(r.den, t)
  if den <= 0 then return nil end
  return string.format('%.6g', r[4] * term_sum(r.num, t) / den)
end

-- The ratios each field is an input of, so that a rollup looks only at the ratios its
-- changed fields move (not at every ratio and input).
local RATIOS_OF = {}
for _, r in ipairs(RATIOS) do
  for _, name in ipairs(r.inputs) do
    RATIOS_OF[name] = RATIOS_OF[name] or {}
    table.insert(RATIOS_OF[name], r)
  end
end

-- Scratch space reused by every rollup of the flush. Lua 5.1 grows a table by
-- rehashing it, so a few new tables per rollup cost more than its Redis commands.
-- set[1..ns] are the field, value pairs the rollup's HSET writes, del[1..ndel] the
-- fields its HDEL removes; read[1..nr] the fields its HMGET reads; known holds the
-- counts read (only those read for the current rollup are ever looked at); mark[x] ==
-- gen when field or ratio x was taken for the current rollup.
local set, ns, del, ndel = {}, 0, {}, 0
local read, touched, known, mark, gen = {}, {}, {}, {}, 0

local function set_add(f, v)
  set[ns + 1] = f
  set[ns + 2] = v
  ns = ns + 2
end

-- Adds one rollup's deltas (nf field, delta pairs from ARGV[at]): fills set with the new
-- counts and the ratios they move, del with the ratios that became undefined, and
-- returns whether the rollup is new. One HMGET reads the changed counts, the other
-- inputs of the moved ratios and updated_at (which every rollup has: absent, the rollup
-- is new and its counts are its deltas): one command per rollup whatever the number of
-- changed fields (a HINCRBY each would make Redis work grow with the variety of
-- events). Counts stay exact below 2^53.
local function add_counts(k, at, nf)
  gen = gen + 1
  local nr, nt = 0, 0
  for j = 0, nf - 1 do
    local f = ARGV[at + 2 * j]
    mark[f] = gen
    nr = nr + 1
    read[nr] = f
  end
  for j = 0, nf - 1 do
    local rs = RATIOS_OF[ARGV[at + 2 * j]]
    for x = 1, rs and #rs or 0 do
      local r = rs[x]
      if mark[r] ~= gen then
        mark[r] = gen
        nt = nt + 1
        touched[nt] = r
        for y = 1, #r.inputs do
          local name = r.inputs[y]
          if mark[name] ~= gen then
            mark[name] = gen
            nr = nr + 1
            read[nr] = name
          end
        end
      end
    end
  end
  nr = nr + 1
  read[nr] = 'updated_at'
  local v = redis.call('HMGET', k, unpack(read, 1, nr))
  for n = 1, nr - 1 do known[read[n]] = tonumber(v[n]) or 0 end
  ns, ndel = 0, 0
  for j = 0, nf - 1 do
    local f, delta = ARGV[at + 2 * j], ARGV[at + 2 * j + 1]
    local c = known[f]
    if c == 0 then -- the count is the delta, as the writer formatted it
      known[f] = tonumber(delta)
      set_add(f, delta)
    else
      c = c + tonumber(delta)
      known[f] = c
      set_add(f, string.format('%.0f', c))
    end
  end
  for x = 1, nt do
    local r = touched[x]
    local value = ratio(r, known)
    if value then
      set_add(r[1], value)
    else
      ndel = ndel + 1
      del[ndel] = r[1]
    end
  end
  return not v[nr]
end

-- The value a sketch bucket reports (sketch.h): exact below 128, else the middle of
-- its 1/64-of-a-power-of-two range.
local function bucket_value(idx)
  if idx < 128 then return idx end
  local e = 7 + math.floor((idx - 128) / 64)
  local width = 2 ^ (e - 6)
  return 2 ^ e + ((idx - 128) % 64) * width + width / 2
end

-- Percentiles of one duration from its bucket counts (bucket index -> count),
-- added to set as <duration>_p50, _p90, _p99.
local QUANTILES = {{'_p50', 0.5}, {'_p90', 0.9}, {'_p99', 0.99}}
local PCT_NAMES = {} -- duration -> its three field names, made once
local function pct_names(d)
  local names = PCT_NAMES[d]
  if not names then
    names = {d .. QUANTILES[1][1], d .. QUANTILES[2][1], d .. QUANTILES[3][1]}
    PCT_NAMES[d] = names
  end
  return names
end
local function percentiles(counts, d)
  local idx, n = {}, 0
  for b, c in pairs(counts) do
    idx[#idx + 1] = b
    n = n + c
  end
  table.sort(idx) -- numbers: compared in C, no Lua comparator
  local names, q, seen = pct_names(d), 1, 0
  for _, b in ipairs(idx) do
    seen = seen + counts[b]
    while q <= #QUANTILES and seen > math.floor(QUANTILES[q][2] * (n - 1)) do
      set_add(names[q], string.format('%.0f', bucket_value(b)))
      q = q + 1
    end
    if q > #QUANTILES then break end
  end
end

-- A rollup's sketches live in one hash, {p}:sk:{res}:{dims}:{start}: field
-- <duration number> * 100000 + <bucket> holds a bucket's count (a number, which Redis
-- stores and compares as an integer; wait_ms is duration 0, so its fields are the bucket
-- numbers), field "v" the version (which writer's flush left them). The writer sends each
-- changed bucket as its field. Durations are numbered as in metrics.h (sp_duration):
local DURATIONS = {'wait_ms', 'abandon_wait_ms', 'handle_ms', 'first_reply_ms', 'resolution_ms'}
local STRIDE = 100000
local buckets = {} -- scratch: field, count pairs for the one HSET

-- The bucket counts of duration number code in stored, made empty when absent.
local function counts_of(stored, code)
  local c = stored[code]
  if not c then
    c = {}
    stored[code] = c
  end
  return c
end

-- Adds one duration's bucket deltas (nb triples from ARGV[at]) to the stored counts of
-- its duration number (stored: number -> bucket -> count), queues the sums for the HSET
-- after buckets[n], and adds the percentiles of the merged counts. Returns the new n.
local function add_buckets(stored, d, at, nb, n)
  local counts = counts_of(stored, math.floor(tonumber(ARGV[at]) / STRIDE))
  for j = 0, nb - 1 do
    local field = ARGV[at + 3 * j]
    local b = tonumber(field) % STRIDE
    counts[b] = (counts[b] or 0) + tonumber(ARGV[at + 3 * j + 1])
    buckets[n + 1] = field
    buckets[n + 2] = string.format('%.0f', counts[b])
    n = n + 2
  end
  percentiles(counts, d)
  return n
end

-- The writer's copy is what the hash holds: its new counts (nb triples from ARGV[at])
-- are queued as they are, its percentiles (ARGV[pat], +1, +2) go to the rollup. No
-- read, no parse, no sort. Returns the new n.
local function put_buckets(d, at, nb, pat, n)
  for j = 0, nb - 1 do
    buckets[n + 1] = ARGV[at + 3 * j]
    buckets[n + 2] = ARGV[at + 3 * j + 2]
    n = n + 2
  end
  local names = pct_names(d)
  for q = 1, 3 do set_add(names[q], ARGV[pat + q - 1]) end
  return n
end

-- Sketches an earlier build wrote: one hash per duration ({sk}:<duration>, field:
-- bucket) and the version in {p}:skv:.... Their buckets move into sk and into stored
-- (duration number -> bucket -> count); the old keys go. Only a rollup that existed
-- before this flush and has no sk yet can have them. Returns whether there were any.
local function migrate(sk, stored)
  local old = {prefix .. ':skv:' .. string.sub(sk, #prefix + 5)}
  if redis.call('EXISTS', old[1]) == 0 then return false end
  redis.call('HSET', sk, 'v', '-') -- at the head, as in every sketch hash
  for x, d in ipairs(DURATIONS) do
    local dk, counts, out, code = sk .. ':' .. d, {}, {}, (x - 1) * STRIDE
    local flat = redis.call('HGETALL', dk)
    for j = 1, #flat, 2 do
      local b = tonumber(flat[j])
      counts[b] = tonumber(flat[j + 1])
      out[j], out[j + 1] = string.format('%d', code + b), flat[j + 1]
    end
    if #flat > 0 then
      call_sliced('HSET', sk, out, 1, #out)
      stored[x - 1] = counts
    end
    old[#old + 1] = dk
  end
  redis.call('DEL', unpack(old))
  return true
end

-- The counts sk holds, duration number -> bucket -> count, with one HGETALL.
local function stored_counts(sk)
  local stored = {}
  local flat = redis.call('HGETALL', sk)
  for j = 1, #flat, 2 do
    local f = tonumber(flat[j]) -- nil for "v"
    if f then counts_of(stored, math.floor(f / STRIDE))[f % STRIDE] = tonumber(flat[j + 1]) end
  end
  return stored
end

-- Writes a total's nd changed durations (from ARGV[at]) into its sketch hash sk with
-- one HSET, and the new version newv with them. The writer's counts go in as they are
-- when sk holds the version it expects, or when sk does not exist and the writer had
-- no copy (expect "-": its counts are all there is; a new rollup's sk, which has the
-- rollup's TTL, cannot exist, so nothing is read). Otherwise the changes are added to
-- the stored counts here and the rollup k is named in the reply (the writer reloads
-- its copy). A new sk gets the rollup's TTL. Returns the ARGV index after.
local function write_sketches(k, sk, at, nd, created, expect, newv, ttl, reply)
  -- stored (duration number -> bucket -> count) is made only off the trusted path: a
  -- table per rollup costs more than a command here
  local have, trusted, stored = false, created and expect == '-', nil
  if not trusted then
    have = redis.call('HGET', sk, 'v')
    trusted = have == expect
    if not have and not created then -- (created: expect is not "-" here)
      stored = {}
      if not migrate(sk, stored) and expect == '-' then trusted = true end
    end
    if not trusted then
      reply[#reply + 1] = k
      stored = have and stored_counts(sk) or stored or {}
    end
  end
  buckets[1], buckets[2] = 'v', newv -- first: a new hash keeps it at its head
  local n = 2
  for _ = 1, nd do
    local d, nb = ARGV[at], tonumber(ARGV[at + 1])
    if trusted then
      n = put_buckets(d, at + 5, nb, at + 2, n)
    else
      n = add_buckets(stored, d, at + 5, nb, n)
    end
    at = at + 5 + 3 * nb
  end
  call_sliced('HSET', sk, buckets, 1, n)
  if not have and ttl ~= '0' then redis.call('EXPIRE', sk, ttl) end
  return at
end

-- The series indexes ({p}:ts:...) of the rollups this flush creates, each kept up once
-- per flush: one ZADD of all its new windows, one trim of the windows older than the
-- TTL (from the newest), one EXPIRE. A catch-up creates several windows of a series per
-- flush.
local index_members, index_newest, index_ttl, index_order = {}, {}, {}, {}
local function index_add(idx, start, ttl)
  local m, s = index_members[idx], tonumber(start)
  if not m then
    m = {}
    index_members[idx] = m
    index_ttl[idx] = ttl
    index_newest[idx] = s
    index_order[#index_order + 1] = idx
  elseif s > index_newest[idx] then
    index_newest[idx] = s
  end
  m[#m + 1] = start
  m[#m + 1] = start
end
local function index_flush()
  for _, idx in ipairs(index_order) do
    local m, ttl = index_members[idx], index_ttl[idx]
    call_sliced('ZADD', idx, m, 1, #m)
    if ttl ~= '0' then
      redis.call('ZREMRANGEBYSCORE', idx, '-inf',
                 '(' .. string.format('%d', index_newest[idx] - tonumber(ttl)))
      redis.call('EXPIRE', idx, ttl)
    end
  end
end

-- 3. totals
local NT, prior_weight = tonumber(ARGV[i]), tonumber(ARGV[i + 1]); i = i + 2
-- csat_smoothed due: csat agents set -> desk rollup key, and the set's TTL
local smooth, smooth_ttl, nsmooth = {}, {}, {}
local reply = {1} -- then the rollups whose sketches the writer must reload
for _ = 1, NT do
  local k, idx = KEYS[tonumber(ARGV[i])], KEYS[tonumber(ARGV[i + 1])]
  -- ttl and start stay strings: Redis would format a Lua number with %.17g
  local ttl, start, nf = ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  i = i + 5
  local created = add_counts(k, i, nf)
  i = i + 2 * nf
  local ag, desk = tonumber(ARGV[i]), tonumber(ARGV[i + 1]); i = i + 2
  if ag > 0 then
    ag = KEYS[ag]
    if not smooth[ag] then nsmooth[#nsmooth + 1] = ag end
    if desk > 0 then
      smooth[ag] = KEYS[desk]
      redis.call('SADD', ag, k)
    else
      smooth[ag] = k
    end
    smooth_ttl[ag] = ttl
  end
  -- sketch buckets of its durations, in one hash (write_sketches)
  local sk, expect, newv = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
  local nd = tonumber(ARGV[i + 3])
  i = i + 4
  if nd > 0 then
    i = write_sketches(k, KEYS[sk], i, nd, created, expect, newv, ttl, reply)
  end
  set_add('updated_at', now)
  redis.call('HSET', k, unpack(set, 1, ns))
  if ndel > 0 then redis.call('HDEL', k, unpack(del, 1, ndel)) end
  if created then
    if ttl ~= '0' then redis.call('EXPIRE', k, ttl) end
    index_add(idx, start, ttl)
  end
  redis.call('PUBLISH', channel, k)
end
index_flush()

-- An agent's CSAT leaning toward the desk's: (positive + m * desk) / (responses + m),
-- desk = csat_positive / csat_responses of the same window over all agents (or over the
-- agent's tenant). Recomputed, after every total of this flush is applied, for every
-- agent with surveys in a window where the agent's or the desk's counts changed.
for _, ag in ipairs(nsmooth) do
  local d = redis.call('HMGET', smooth[ag], 'csat_positive', 'csat_responses')
  local dpos, dn = tonumber(d[1]) or 0, tonumber(d[2]) or 0
  for _, k in ipairs(redis.call('SMEMBERS', ag)) do
    local v = redis.call('HMGET', k, 'csat_positive', 'csat_responses')
    local pos, n = tonumber(v[1]) or 0, tonumber(v[2]) or 0
    if n > 0 and dn > 0 then
      redis.call('HSET', k, 'csat_smoothed',
                 string.format('%.6g', (pos + prior_weight * dpos / dn) / (n + prior_weight)))
    else
      redis.call('HDEL', k, 'csat_smoothed')
    end
  end
  if smooth_ttl[ag] ~= '0' then redis.call('EXPIRE', ag, smooth_ttl[ag]) end
end

-- 4. live hashes
local LIVE_FIELDS = {'answered_in_sl', 'wait_ms_count', 'abandon_wait_ms_count',
  'short_abandoned', 'abandoned', 'offered', 'wait_ms_sum', 'csat_positive',
  'csat_responses'}
local LIVE_RATIOS = {'service_level', 'asa_ms_avg', 'abandon_rate', 'csat'}
local HOUR_FIELDS = {'csat_negative', 'csat_responses'}
local RATIO_BY_NAME = {}
for _, r in ipairs(RATIOS) do RATIO_BY_NAME[r[1]] = r end

-- Sums fields (LIVE_FIELDS when nil) over the given rollup keys.
local function sum_rollups(keys, fields)
  fields = fields or LIVE_FIELDS
  local sum = {}
  for _, f in ipairs(fields) do sum[f] = 0 end
  for _, key in ipairs(keys) do
    local v = redis.call('HMGET', key, unpack(fields))
    for n, f in ipairs(fields) do sum[f] = sum[f] + (tonumber(v[n]) or 0) end
  end
  return sum
end

-- The rollups covering the 60 one-minute windows up to the pane starting at `last`:
-- whole 5-minute windows where they fit, 1-minute windows at either end.
local function hour_rollups(dims, last)
  local keys, s = {}, last - 59 * 60
  while s <= last do
    if s % 300 == 0 and s + 240 <= last then
      keys[#keys + 1] = prefix .. ':r:5m:' .. dims .. ':' .. s
      s = s + 300
    else
      keys[#keys + 1] = prefix .. ':r:1m:' .. dims .. ':' .. s
      s = s + 60
    end
  end
  return keys
end

-- Share of 1-2 scores and responses over the last hour (dissatisfied_1h absent with
-- no response).
local function hour_csat(dims, last, set, del)
  local sum = sum_rollups(hour_rollups(dims, last), HOUR_FIELDS)
  set[#set + 1] = 'csat_responses_1h'
  set[#set + 1] = sum['csat_responses']
  if sum['csat_responses'] > 0 then
    set[#set + 1] = 'dissatisfied_1h'
    set[#set + 1] = string.format('%.6g', sum['csat_negative'] / sum['csat_responses'])
  else
    del[#del + 1] = 'dissatisfied_1h'
  end
end

-- The ratios over sum, and the volumes they are taken over (for alert rules' minimums).
local function live_ratios(sum, suffix, set, del)
  set[#set + 1] = 'offered' .. suffix
  set[#set + 1] = sum['offered']
  set[#set + 1] = 'csat_responses' .. suffix
  set[#set + 1] = sum['csat_responses']
  for _, name in ipairs(LIVE_RATIOS) do
    local value = ratio(RATIO_BY_NAME[name], sum)
    if value then
      set[#set + 1] = name .. suffix
      set[#set + 1] = value
    else
      del[#del + 1] = name .. suffix
    end
  end
end

local now_s = math.floor(now_event / 1000)
local pane = now_s - now_s % 60
local day = now_s - now_s % 86400

-- Seconds the longest-waiting call of a dimension set has waited (0 when none).
local function oldest_wait(ok)
  local oldest
  for _, v in ipairs(redis.call('HVALS', ok)) do
    v = tonumber(v)
    if not oldest or v < oldest then oldest = v end
  end
  return oldest and math.max(0, math.floor((now_event - oldest) / 1000)) or 0
end

-- {p}:waiting lists the dimension sets with a waiting call on any partition, so that
-- their oldest_wait_s keeps growing on every flush even when no event touches them.
local waiting, refreshed = prefix .. ':waiting', {}
local livedims = prefix .. ':livedims'   -- every dims with a live hash (alert rules' "*")
local NL = tonumber(ARGV[i]); i = i + 1
for _ = 1, NL do
  local dims, dq, db, no = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  local lk, ok = prefix .. ':live:' .. dims, prefix .. ':oldest:' .. dims
  for j = 0, no - 1 do
    local f, v = ARGV[i + 2 * j], ARGV[i + 2 * j + 1]
    if v == '-' then redis.call('HDEL', ok, f) else redis.call('HSET', ok, f, v) end
  end
  i = i + 2 * no
  if no > 0 then
    if redis.call('EXISTS', ok) == 1 then
      redis.call('SADD', waiting, dims)
    else
      redis.call('SREM', waiting, dims)
    end
  end
  refreshed[dims] = true
  redis.call('HINCRBY', lk, 'in_queue', dq)
  redis.call('HINCRBY', lk, 'backlog', db)
  local wait_s = oldest_wait(ok)
  local panes = {}
  for s = pane - 14 * 60, pane, 60 do
    panes[#panes + 1] = prefix .. ':r:1m:' .. dims .. ':' .. s
  end
  local set, del = {'oldest_wait_s', wait_s, 'updated_at', now, 'as_of', now_event}, {}
  live_ratios(sum_rollups(panes), '_15m', set, del)
  live_ratios(sum_rollups({prefix .. ':r:1d:' .. dims .. ':' .. day}), '_today', set, del)
  hour_csat(dims, pane, set, del)
  redis.call('HSET', lk, unpack(set))
  if #del > 0 then redis.call('HDEL', lk, unpack(del)) end
  redis.call('SADD', livedims, dims)
  redis.call('PUBLISH', channel, lk)
end

for _, dims in ipairs(redis.call('SMEMBERS', waiting)) do
  if not refreshed[dims] then
    local lk = prefix .. ':live:' .. dims
    redis.call('HSET', lk, 'oldest_wait_s', oldest_wait(prefix .. ':oldest:' .. dims),
               'updated_at', now)
    redis.call('PUBLISH', channel, lk)
  end
end

-- 4b. agent presence: {p}:presence holds each agent's newest status as
-- "<ts> <status>\n<dims>\n<dims>..." (the live dims it counts in). An update replaces
-- it only when newer (later ts; same ts: greater status name), so a replay or a
-- reordering changes nothing; the counts move by the difference.
local presence = prefix .. ':presence'
local function presence_parse(v)
  if not v then return nil end
  local rec, first = {dims = {}}, true
  for line in string.gmatch(v, '[^\n]+') do
    if first then
      local ts, st = string.match(line, '^(%S+) (%S+)$')
      rec.ts, rec.status, first = tonumber(ts), st, false
    else
      rec.dims[#rec.dims + 1] = line
    end
  end
  return rec
end
local function presence_count(rec, sign, touched)
  local av = rec.status == 'available' and sign or 0
  local st = (rec.status == 'available' or rec.status == 'busy') and sign or 0
  for _, d in ipairs(rec.dims) do
    local lk = prefix .. ':live:' .. d
    redis.call('HINCRBY', lk, 'agents_available', av)
    redis.call('HINCRBY', lk, 'agents_staffed', st)
    touched[d] = true
  end
end
local NPR = tonumber(ARGV[i]); i = i + 1
local touched = {}
for _ = 1, NPR do
  local agent, ts, status, nd = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], tonumber(ARGV[i + 3])
  local new = {ts = ts, status = status, dims = {}}
  for j = 1, nd do new.dims[j] = ARGV[i + 3 + j] end
  i = i + 4 + nd
  local old = presence_parse(redis.call('HGET', presence, agent))
  if not old or ts > old.ts or (ts == old.ts and status > old.status) then
    if old then presence_count(old, -1, touched) end
    presence_count(new, 1, touched)
    local v = ts .. ' ' .. status
    for _, d in ipairs(new.dims) do v = v .. '\n' .. d end
    redis.call('HSET', presence, agent, v)
  end
end
for d in pairs(touched) do
  local lk = prefix .. ':live:' .. d
  redis.call('HSET', lk, 'updated_at', now)
  redis.call('SADD', livedims, d)
  redis.call('PUBLISH', channel, lk)
end

-- 5. resume points, flush numbers and message counts
local function words(s)
  local t = {}
  for w in string.gmatch(s or '', '%S+') do t[#t + 1] = w end
  return t
end
local names = words(count_names)
for _, part in ipairs(parts) do
  local old, new = words(redis.call('HGET', meta, part.resume)), words(part.value)
  for c = 1, #names do
    local d = (tonumber(new[c + 2]) or 0) - (tonumber(old[c + 2]) or 0)
    if d ~= 0 then redis.call('HINCRBY', meta, names[c], d) end
  end
  redis.call('HSET', meta, part.resume, part.value, part.seq, part.newseq)
end
return reply
