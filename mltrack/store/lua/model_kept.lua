-- A server wrote a job's model to its disk (model_files.py): the bytes leave
-- Redis, and the job says where the model is kept. ARGV: prefix, iid, where
-- ('' when it was dropped: not done, or models are not kept). Safe to repeat.
local iid, where = ARGV[2], ARGV[3]
redis.call('DEL', K.model(iid))
redis.call('SREM', K.models_pending, iid)
if where ~= '' and redis.call('EXISTS', K.job(iid)) == 1 then
  redis.call('HSET', K.job(iid), 'model_kept', where)
end
return 'OK'
