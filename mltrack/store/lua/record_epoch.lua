-- Append one epoch and update the summary and sort indexes, fenced by attempt.
-- ARGV: prefix, iid, attempt, epoch, epoch json, train_loss, train_accuracy,
-- test_loss, test_accuracy, runtime, checkpoint ('' = none). Every value was
-- checked by the caller (finite numbers), and every check here comes before
-- the first write, so the script cannot fail halfway. Safe to repeat: the same
-- epoch sent again finds itself recorded last and answers OK.
-- Returns {'OK'} / {'NOTFOUND'} / {'ILLEGAL', st} / {'STALE', st} / {'ORDER', expected}.
local iid, attempt, epoch = ARGV[2], ARGV[3], tonumber(ARGV[4])
local jk = K.job(iid)
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
if st ~= 'running' then return {'ILLEGAL', st} end
if redis.call('HGET', jk, 'attempts') ~= attempt then return {'STALE', st} end
local ek = K.epochs(iid)
local expected = redis.call('LLEN', ek) + 1
if epoch == expected - 1 and redis.call('LINDEX', ek, -1) == ARGV[5] then return {'OK'} end
if epoch ~= expected then return {'ORDER', expected} end
redis.call('RPUSH', ek, ARGV[5])
if ARGV[11] ~= '' then redis.call('SET', K.checkpoint(iid), ARGV[11]) end
local best = ARGV[9]
local previous = redis.call('HGET', jk, 'best_test_accuracy')
if previous and tonumber(previous) > tonumber(best) then best = previous end
redis.call('HSET', jk, 'epochs_done', epoch, 'train_loss', ARGV[6], 'train_accuracy', ARGV[7],
           'test_loss', ARGV[8], 'test_accuracy', ARGV[9], 'best_test_accuracy', best,
           'runtime', ARGV[10])
local scores = {epochs = epoch, train_loss = ARGV[6], test_loss = ARGV[8],
                test_accuracy = ARGV[9], best_test_accuracy = best, runtime = ARGV[10]}
for _, scope in ipairs({'all', st}) do
  for key, score in pairs(scores) do redis.call('ZADD', K.idx(scope, key), score, iid) end
  redis.call('ZREM', K.idx(scope, 'pending'), iid)
end
return {'OK'}
