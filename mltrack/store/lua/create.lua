-- Record new waiting jobs and queue them, all or none.
-- ARGV: prefix, created ('' = server time), retry_of ('' = none), then per job:
-- iid, hyper_params json, num_epochs, text tokens, and one score per HYPER key
-- (ARGV[4] names them, space separated). Safe to repeat: the iids are made by the
-- caller, so a resent create finds its jobs there and changes nothing.
local created = server_now(ARGV[2])
local hyper = {}
for key in string.gmatch(ARGV[4], '%S+') do hyper[#hyper + 1] = key end
local stride = 4 + #hyper
local words = cached_words()
-- a database that starts with this version has every job in the text index
if redis.call('EXISTS', K.idx('all', 'created')) == 0 then redis.call('SET', K.text_indexed, 1) end
if ARGV[5] and redis.call('EXISTS', K.job(ARGV[5])) == 1 then return 'EXISTS' end
for i = 5, #ARGV, stride do
  local iid = ARGV[i]
  local jk = K.job(iid)
  redis.call('HSET', jk, 'iid', iid, 'status', 'waiting', 'hyper_params', ARGV[i + 1],
             'created', created, 'attempts', 0, 'num_epochs', ARGV[i + 2], 'epochs_done', 0)
  if ARGV[3] ~= '' then redis.call('HSET', jk, 'retry_of', ARGV[3]) end
  index_text(iid, ARGV[i + 3], words)
  for _, scope in ipairs({'all', 'waiting'}) do
    redis.call('ZADD', K.idx(scope, 'created'), created, iid)
    redis.call('ZADD', K.idx(scope, 'epochs'), 0, iid)
    redis.call('ZADD', K.idx(scope, 'pending'), created, iid)
    for n, key in ipairs(hyper) do redis.call('ZADD', K.idx(scope, key), ARGV[i + 3 + n], iid) end
  end
  redis.call('RPUSH', K.queue, iid)
end
return 'OK'
