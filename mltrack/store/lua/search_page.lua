-- A page of the jobs in the set ARGV[2] (a search's matches, small), in the
-- order of the sorted sets that follow it. ARGV: prefix, matches, offset,
-- limit, then (sorted set, '1' for descending) pairs, read one after another.
-- Returns {total, iid, iid, ...}.
local matches, offset, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local members = redis.call('SMEMBERS', matches)
local ordered = {}
for i = 5, #ARGV, 2 do
  local zkey, desc, found = ARGV[i], ARGV[i + 1] == '1', {}
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
for i = offset + 1, math.min(#ordered, offset + limit) do out[#out + 1] = ordered[i] end
return out
