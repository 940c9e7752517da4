-- Keep a running job's model in Redis until a server moves it to its disk
-- (store/models.py, model_files.py). Fenced by attempt, like every write of a
-- worker. ARGV: prefix, iid, attempt, seconds to keep it, the model's bytes.
-- Returns {'OK'}, {'NOTFOUND'}, {'STALE'} or {'ILLEGAL', status}.
local iid, attempt, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4])
local jk = K.job(iid)
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
if redis.call('HGET', jk, 'attempts') ~= attempt then return {'STALE'} end
if st ~= 'running' then return {'ILLEGAL', st} end
redis.call('SET', K.model(iid), ARGV[5], 'EX', ttl)
redis.call('SADD', K.models_pending, iid)
redis.call('HSET', jk, 'model_bytes', string.len(ARGV[5]))
return {'OK'}
