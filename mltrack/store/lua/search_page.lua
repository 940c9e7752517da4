-- A page of the jobs in every one of a few sets (a search's words, the
-- smallest first and small), in the order of the sorted sets that follow.
-- ARGV: prefix, offset, limit, number of sets, the sets, then (sorted set,
-- '1' for descending) pairs, read one after another. Returns {total, iid, ...}.
local offset, limit, nsets = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local members = redis.call('SMEMBERS', ARGV[5])
for s = 6, 4 + nsets do
  if #members == 0 then break end
  local kept = {}
  for i = 1, #members, 1000 do
    local chunk = {unpack(members, i, math.min(#members, i + 999))}
    local found = redis.call('SMISMEMBER', ARGV[s], unpack(chunk))
    for j, iid in ipairs(chunk) do if found[j] == 1 then kept[#kept + 1] = iid end end
  end
  members = kept
end
local ordered = {}
for i = 5 + nsets, #ARGV, 2 do
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
