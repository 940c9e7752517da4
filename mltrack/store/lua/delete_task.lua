-- Remove a tracked task's registry entry once no job of it is left (its
-- scripts' runs all deleted), so a task made by mistake can go. A task a
-- worker declared is not removed here (its worker would register it again).
-- ARGV: prefix, name. Returns {'OK'}, {'NOTFOUND'}, {'DECLARED'} or
-- {'JOBS', how many jobs of it are left}. Check and removal in one step: a
-- run started meanwhile either counts or finds the entry gone.
local name = ARGV[2]
local text = redis.call('HGET', K.tasks, name)
if not text then return {'NOTFOUND'} end
local ok, data = pcall(cjson.decode, text)
if not ok or type(data) ~= 'table' or data['tracked'] ~= true then return {'DECLARED'} end
local left = redis.call('ZCARD', K.idx('t:' .. name, 'created'))
if left > 0 then return {'JOBS', left} end
redis.call('HDEL', K.tasks, name)
return {'OK'}
