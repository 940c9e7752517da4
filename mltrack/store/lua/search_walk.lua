-- The members of a stretch of a sorted set that meet a search's conditions
-- (in every set of its words, within every range of its filters). ARGV:
-- prefix, sorted set, '1' for descending, start, count, then the conditions
-- (see read_conditions). Returns {members read, iid, iid, ...}; the caller
-- walks on in stretches.
local zkey, desc = ARGV[2], ARGV[3] == '1'
local first, last = tonumber(ARGV[4]), tonumber(ARGV[4]) + tonumber(ARGV[5]) - 1
local ids
if desc then ids = redis.call('ZRANGE', zkey, first, last, 'REV')
else ids = redis.call('ZRANGE', zkey, first, last) end
local read = #ids
local sets, ranges = read_conditions(6)
ids = keep_matching(ids, sets, ranges)
table.insert(ids, 1, read)
return ids
