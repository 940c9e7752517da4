-- Move a job to another status. ARGV: prefix, iid, allowed-from (space separated),
-- to, attempt ('' = no fencing), now ('' = server time), then field/value pairs.
-- A terminal state gets its `finished` time. Safe to repeat: a job already in
-- `to` under the same attempt answers OK and changes nothing.
-- Returns {'OK', old} or {'NOTFOUND'} / {'ILLEGAL', current} / {'STALE', current}.
local iid, to, attempt = ARGV[2], ARGV[4], ARGV[5]
local jk = K.job(iid)
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
local fenced = attempt == '' or redis.call('HGET', jk, 'attempts') == attempt
if st == to and to ~= 'running' and fenced then return {'OK', st} end
local allowed = false
for s in string.gmatch(ARGV[3], '%S+') do if s == st then allowed = true end end
if not allowed then return {'ILLEGAL', st} end
if not fenced then return {'STALE', st} end
if #ARGV > 6 then redis.call('HSET', jk, unpack(ARGV, 7)) end
if is_terminal(to) then redis.call('HSET', jk, 'finished', server_now(ARGV[6])) end
if to ~= st then
  redis.call('HSET', jk, 'status', to)
  move_scope(iid, st, to)
end
if to == 'cancelled' then redis.call('LREM', K.queue(job_task(iid)), 0, iid) end
if to == 'waiting' then redis.call('LPUSH', K.queue(job_task(iid)), iid) end
if st == 'running' and to ~= 'running' then release(iid, to ~= 'waiting') end
return {'OK', st}
