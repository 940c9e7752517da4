-- Start a tracked run: a job that a script outside the queue runs and reports
-- itself over HTTP. It is created running under a lease that the script's
-- heartbeats and logs renew, and never queued, so no worker can claim it.
-- ARGV: prefix, now ('' = server time), iid, task, hyper_params json,
-- num_epochs ('' = unknown), text tokens, goals json, token hash, lease
-- seconds, the number of keys with a value, those (key, score) pairs, the
-- number of keys without a value yet, those keys.
-- Safe to repeat: the iid is made by the caller, so a resent start finds its
-- run (or its tombstone) and answers OK without writing.
local now, iid, task = server_now(ARGV[2]), ARGV[3], ARGV[4]
local jk = K.job(iid)
if redis.call('EXISTS', jk) == 1 or redis.call('EXISTS', K.tombstone(iid)) == 1 then return 'OK' end
-- a database that starts with this version has every job in the text index
if redis.call('EXISTS', K.idx('all', 'created')) == 0 then redis.call('SET', K.text_indexed, 1) end
redis.call('HSET', jk, 'iid', iid, 'task', task, 'status', 'running', 'hyper_params', ARGV[5],
           'created', now, 'started', now, 'attempts', 1, 'num_epochs', ARGV[6],
           'epochs_done', 0, 'goals', ARGV[8], 'tracked', 1, 'token', ARGV[9],
           'lease', ARGV[10], 'worker', 'tracked script')
index_text(iid, ARGV[7], cached_words())
local keys = {'created', 'epochs'}
index_add(iid, task, 'running', 'created', now)
index_add(iid, task, 'running', 'epochs', 0)
local n = tonumber(ARGV[11])
local i = 12
for j = i, i + 2 * n - 1, 2 do
  index_add(iid, task, 'running', ARGV[j], ARGV[j + 1])
  keys[#keys + 1] = ARGV[j]
end
i = i + 2 * n
for j = i + 1, i + tonumber(ARGV[i]) do
  index_add(iid, task, 'running', 'missing:' .. ARGV[j], now)
  keys[#keys + 1] = 'missing:' .. ARGV[j]
end
redis.call('HSET', jk, 'sort_keys', table.concat(keys, ' '))
redis.call('ZADD', K.leases, now + tonumber(ARGV[10]), iid)
return 'OK'
