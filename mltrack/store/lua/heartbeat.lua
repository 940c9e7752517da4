-- Renew a running job's lease, fenced by attempt. ARGV: prefix, iid, attempt,
-- lease seconds, now ('' = server time), progress json ('' = leave it).
-- Returns {'OK', cancel_requested} / {'NOTFOUND'} / {'ILLEGAL', st} / {'STALE', st}.
local iid, attempt = ARGV[2], ARGV[3]
local jk = K.job(iid)
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
if st ~= 'running' then return {'ILLEGAL', st} end
if redis.call('HGET', jk, 'attempts') ~= attempt then return {'STALE', st} end
redis.call('ZADD', K.leases, server_now(ARGV[5]) + tonumber(ARGV[4]), iid)
if ARGV[6] ~= '' then redis.call('HSET', jk, 'progress', ARGV[6]) end
return {'OK', redis.call('HGET', jk, 'cancel_requested') or '0'}
