-- Append one epoch and update the summary and sort indexes, fenced by attempt.
-- ARGV: prefix, iid, attempt, epoch, epoch json, runtime, checkpoint ('' =
-- none), then (metric, value, goal if the job's task declares none) triples.
-- Every value was checked by the caller (finite numbers, valid names), and
-- every check here comes before the first write, so the script cannot fail
-- halfway. Safe to repeat: the same epoch sent again finds itself recorded
-- last and answers OK.
-- Returns {'OK'} / {'NOTFOUND'} / {'ILLEGAL', st} / {'STALE', st} / {'ORDER', expected}.
local iid, attempt, epoch = ARGV[2], ARGV[3], tonumber(ARGV[4])
local jk = K.job(iid)
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
if st ~= 'running' then return {'ILLEGAL', st} end
if redis.call('HGET', jk, 'attempts') ~= attempt then return {'STALE', st} end
local ek = K.epochs(iid)
-- a worker's epochs come one after another; a tracked script may log every
-- few epochs, so its epochs need only go up
local gaps = redis.call('HGET', jk, 'tracked') == '1'
local last = gaps and tonumber(redis.call('HGET', jk, 'epochs_done') or '0') or redis.call('LLEN', ek)
if epoch == last and redis.call('LINDEX', ek, -1) == ARGV[5] then return {'OK'} end
if (gaps and epoch <= last) or (not gaps and epoch ~= last + 1) then return {'ORDER', last + 1} end
local task = job_task(iid)
local goals = cjson.decode(redis.call('HGET', jk, 'goals') or '{}')
local known = ' ' .. (redis.call('HGET', jk, 'sort_keys') or '') .. ' '
local added = {}
local function set_score(key, score)
  index_add(iid, task, st, key, score)
  if not string.find(known, ' ' .. key .. ' ', 1, true) then added[#added + 1] = key end
  if string.find(known, ' missing:' .. key .. ' ', 1, true) then
    index_rem(iid, task, st, 'missing:' .. key)
  end
end
redis.call('RPUSH', ek, ARGV[5])
if ARGV[7] ~= '' then redis.call('SET', K.checkpoint(iid), ARGV[7]) end
redis.call('HSET', jk, 'epochs_done', epoch, 'runtime', ARGV[6])
set_score('epochs', epoch)
set_score('runtime', ARGV[6])
for i = 8, #ARGV, 3 do
  local name, value = ARGV[i], ARGV[i + 1]
  local goal = goals[name] or ARGV[i + 2]
  local best = value
  local previous = redis.call('HGET', jk, 'b:' .. name)
  if previous then
    local p, v = tonumber(previous), tonumber(value)
    if (goal == 'min' and p < v) or (goal ~= 'min' and p > v) then best = previous end
  end
  redis.call('HSET', jk, 'm:' .. name, value, 'b:' .. name, best)
  set_score('m:' .. name, value)
  set_score('b:' .. name, best)
end
if #added > 0 then
  redis.call('HSET', jk, 'sort_keys', string.sub(known, 2, -2) .. ' ' .. table.concat(added, ' '))
end
return {'OK'}
