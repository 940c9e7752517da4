-- Mark job ARGV[3] as trial ARGV[4] of search ARGV[2] (the job record's
-- `search` and `trial`). ARGV: prefix, search id, iid, trial number.
-- Safe to repeat. Returns 1, or 0 when the job does not exist.
local jk = K.job(ARGV[3])
if redis.call('EXISTS', jk) == 0 then return 0 end
redis.call('HSET', jk, 'search', ARGV[2], 'trial', ARGV[4])
return 1
