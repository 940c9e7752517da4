-- Cancel: a waiting job at once (its checkpoint goes too), a running one by
-- flag (its worker stops it), a tracked run at once. ARGV: prefix, iid, now ('' = server time).
-- Safe to repeat: a cancelled job answers OK.
-- Returns {'OK', new status} or {'NOTFOUND'} / {'ILLEGAL', st}.
local iid, now = ARGV[2], server_now(ARGV[3])
local jk = K.job(iid)
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
if st == 'waiting' then
  redis.call('HSET', jk, 'status', 'cancelled', 'finished', now)
  redis.call('LREM', K.queue(job_task(iid)), 0, iid)
  redis.call('DEL', K.checkpoint(iid))
  move_scope(iid, 'waiting', 'cancelled')
  return {'OK', 'cancelled'}
end
if st == 'running' and redis.call('HGET', jk, 'tracked') == '1' then
  -- no worker of ours runs it: it ends now, and its script's next heartbeat
  -- or log is refused, which tells the script to stop
  redis.call('HSET', jk, 'status', 'cancelled', 'finished', now)
  move_scope(iid, 'running', 'cancelled')
  release(iid, true)
  return {'OK', 'cancelled'}
end
if st == 'running' then
  redis.call('HSET', jk, 'cancel_requested', 1)
  return {'OK', 'running'}
end
if st == 'cancelled' then return {'OK', 'cancelled'} end
return {'ILLEGAL', st}
