-- One page of jobs in one round trip: the sorted sets given, read one after
-- another. ARGV: prefix, offset, limit, then (sorted set, '1' for descending)
-- pairs. Returns {total, hash1, hash2, ...} with each hash as a flat
-- field/value list; total counts every job in the sets.
local offset, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local total, ids, skip = 0, {}, offset
for i = 4, #ARGV, 2 do
  local zkey, desc = ARGV[i], ARGV[i + 1] == '1'
  local n = redis.call('ZCARD', zkey)
  total = total + n
  local need = limit - #ids
  if need > 0 then
    if skip >= n then skip = skip - n
    else
      local got
      if desc then got = redis.call('ZRANGE', zkey, skip, skip + need - 1, 'REV')
      else got = redis.call('ZRANGE', zkey, skip, skip + need - 1) end
      for _, iid in ipairs(got) do ids[#ids + 1] = iid end
      skip = 0
    end
  end
end
local out = {total}
for _, iid in ipairs(ids) do out[#out + 1] = redis.call('HGETALL', K.job(iid)) end
return out
