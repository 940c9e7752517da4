-- Keep a running job's checkpoint without recording an epoch (a worker that
-- stops gracefully saves the one it held back), fenced by attempt. ARGV:
-- prefix, iid, attempt, checkpoint. Safe to repeat.
-- Returns {'OK'} / {'NOTFOUND'} / {'ILLEGAL', st} / {'STALE', st}.
local iid, attempt = ARGV[2], ARGV[3]
local jk = K.job(iid)
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
if st ~= 'running' then return {'ILLEGAL', st} end
if redis.call('HGET', jk, 'attempts') ~= attempt then return {'STALE', st} end
redis.call('SET', K.checkpoint(iid), ARGV[4])
return {'OK'}
