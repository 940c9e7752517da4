-- A page of the jobs that meet a search's conditions, taken from a small
-- source of candidates (a word's set, or a filter's range), in the order of
-- the sorted sets that follow. ARGV: prefix, offset, limit, the source ('set',
-- key, '', '' or 'range', sorted set, min, max), the other conditions (see
-- read_conditions), then (sorted set, '1' for descending) pairs, read one
-- after another. Returns {total, iid, ...}.
local offset, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local members
if ARGV[4] == 'set' then members = redis.call('SMEMBERS', ARGV[5])
else members = redis.call('ZRANGE', ARGV[5], ARGV[6], ARGV[7], 'BYSCORE') end
local sets, ranges, i = read_conditions(8)
members = keep_matching(members, sets, ranges)
local ordered = {}
for s = i, #ARGV, 2 do
  local zkey, desc, found = ARGV[s], ARGV[s + 1] == '1', {}
  for _, iid in ipairs(members) do
    local score = redis.call('ZSCORE', zkey, iid)
    if score then found[#found + 1] = {tonumber(score), iid} end
  end
  -- the order of ZRANGE: by score, then by member (both reversed with REV)
  table.sort(found, function(a, b)
    if a[1] ~= b[1] then if desc then return a[1] > b[1] else return a[1] < b[1] end end
    if desc then return a[2] > b[2] else return a[2] < b[2] end
  end)
  for _, pair in ipairs(found) do ordered[#ordered + 1] = pair[2] end
end
local out = {#ordered}
for n = offset + 1, math.min(#ordered, offset + limit) do out[#out + 1] = ordered[n] end
return out
