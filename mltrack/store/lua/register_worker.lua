-- Say a worker is alive. `workers` scores each worker id by when its
-- registration expires; `worker:<id>` holds its JSON description.
-- ARGV: prefix, id, ttl seconds, info json.
local id = ARGV[2]
redis.call('ZADD', K.workers, server_now('') + tonumber(ARGV[3]), id)
redis.call('SET', K.worker(id), ARGV[4], 'PX', math.floor(tonumber(ARGV[3]) * 1000))
return 1
