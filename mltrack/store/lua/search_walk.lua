-- The members of a stretch of a sorted set that are in every one of the sets
-- of a search's words. ARGV: prefix, sorted set, '1' for descending, start,
-- count, then the sets. Returns {members read, iid, iid, ...}; the caller walks
-- on in stretches.
local zkey, desc = ARGV[2], ARGV[3] == '1'
local first, last = tonumber(ARGV[4]), tonumber(ARGV[4]) + tonumber(ARGV[5]) - 1
local ids
if desc then ids = redis.call('ZRANGE', zkey, first, last, 'REV')
else ids = redis.call('ZRANGE', zkey, first, last) end
local read = #ids
for s = 6, #ARGV do
  if #ids == 0 then break end
  local found, kept = redis.call('SMISMEMBER', ARGV[s], unpack(ids)), {}
  for i, iid in ipairs(ids) do if found[i] == 1 then kept[#kept + 1] = iid end end
  ids = kept
end
table.insert(ids, 1, read)
return ids
