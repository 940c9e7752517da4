-- One page of jobs in one round trip. ARGV: prefix, scope, key, order, offset,
-- limit, metric ('1' if key is absent until the first epoch), the statuses in
-- order (for key 'status').
-- Returns {total, hash1, hash2, ...} with each hash as a flat field/value list.
local scope, key, order = ARGV[2], ARGV[3], ARGV[4]
local offset, limit, metric = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
local function range(k, start, count, rev)
  if count <= 0 then return {} end
  if rev then return redis.call('ZRANGE', K.idx(scope, k), start, start + count - 1, 'REV') end
  return redis.call('ZRANGE', K.idx(scope, k), start, start + count - 1)
end
local total = redis.call('ZCARD', K.idx(scope, 'created'))
local ids = {}
if key == 'status' then
  -- the per-status indexes one after another, each newest first
  local skip, need = offset, limit
  for s in string.gmatch(ARGV[8], '%S+') do
    if need <= 0 then break end
    if scope == 'all' or scope == s then
      local zkey = K.idx(s, 'created')
      local n = redis.call('ZCARD', zkey)
      if skip >= n then skip = skip - n
      else
        for _, iid in ipairs(redis.call('ZRANGE', zkey, skip, skip + need - 1, 'REV')) do
          ids[#ids + 1] = iid
        end
        need, skip = limit - #ids, 0
      end
    end
  end
else
  ids = range(key, offset, limit, order == 'desc')
end
if metric then
  -- jobs without the metric yet come after those with it, newest first
  local ranked = redis.call('ZCARD', K.idx(scope, key))
  local more = range('pending', math.max(0, offset - ranked), limit - #ids, true)
  for _, iid in ipairs(more) do ids[#ids + 1] = iid end
end
local out = {total}
for _, iid in ipairs(ids) do out[#out + 1] = redis.call('HGETALL', K.job(iid)) end
return out
