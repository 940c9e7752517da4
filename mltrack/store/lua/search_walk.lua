-- The members of a stretch of a sorted set that are in the set of matches.
-- ARGV: prefix, matches, sorted set, '1' for descending, start, count.
-- Returns {members scanned, iid, iid, ...}; the caller walks on in stretches.
local matches, zkey, desc = ARGV[2], ARGV[3], ARGV[4] == '1'
local first, last = tonumber(ARGV[5]), tonumber(ARGV[5]) + tonumber(ARGV[6]) - 1
local ids
if desc then ids = redis.call('ZRANGE', zkey, first, last, 'REV')
else ids = redis.call('ZRANGE', zkey, first, last) end
local out = {#ids}
if #ids == 0 then return out end
local member = redis.call('SMISMEMBER', matches, unpack(ids))
for i, iid in ipairs(ids) do if member[i] == 1 then out[#out + 1] = iid end end
return out
