-- Record new waiting jobs and queue them, all or none.
-- ARGV: prefix, created ('' = server time), retry_of ('' = none), then per job:
-- iid, task, hyper_params json, num_epochs ('' = unknown), text tokens, goals
-- json, the number of keys with a value, those (key, score) pairs, the number
-- of keys without a value yet, those keys. Safe to repeat: the iids are made
-- by the caller, so a resent create finds its jobs there and changes nothing.
local created = server_now(ARGV[2])
if ARGV[4] and redis.call('EXISTS', K.job(ARGV[4])) == 1 then return 'EXISTS' end
local words = cached_words()
-- a database that starts with this version has every job in the text index
if redis.call('EXISTS', K.idx('all', 'created')) == 0 then
  redis.call('SET', K.text_indexed, 1)
  redis.call('SET', K.fp_indexed, 1)  -- runmeta: and in the fingerprint index
end
local i = 4
while i <= #ARGV do
  local iid, task = ARGV[i], ARGV[i + 1]
  local jk = K.job(iid)
  redis.call('HSET', jk, 'iid', iid, 'task', task, 'status', 'waiting',
             'hyper_params', ARGV[i + 2], 'created', created, 'attempts', 0,
             'num_epochs', ARGV[i + 3], 'epochs_done', 0, 'goals', ARGV[i + 5])
  if ARGV[3] ~= '' then redis.call('HSET', jk, 'retry_of', ARGV[3]) end
  redis.call('SADD', K.fp(fingerprint(task, ARGV[i + 2])), iid)  -- runmeta: "already ran?"
  index_text(iid, ARGV[i + 4], words)
  local keys = {'created', 'epochs'}
  index_add(iid, task, 'waiting', 'created', created)
  index_add(iid, task, 'waiting', 'epochs', 0)
  local n = tonumber(ARGV[i + 6])
  i = i + 7
  for j = i, i + 2 * n - 1, 2 do
    index_add(iid, task, 'waiting', ARGV[j], ARGV[j + 1])
    keys[#keys + 1] = ARGV[j]
  end
  i = i + 2 * n
  local m = tonumber(ARGV[i])
  for j = i + 1, i + m do
    index_add(iid, task, 'waiting', 'missing:' .. ARGV[j], created)
    keys[#keys + 1] = 'missing:' .. ARGV[j]
  end
  i = i + m + 1
  redis.call('HSET', jk, 'sort_keys', table.concat(keys, ' '))
  redis.call('RPUSH', K.queue(task), iid)
end
return 'OK'
