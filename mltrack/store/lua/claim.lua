-- Pop queued iids until one is waiting, and make it running under a lease.
-- ARGV: prefix, now ('' = server time), worker, lease seconds.
-- Returns {iid, attempt, hyper_params} or false. Safe to repeat: a worker asks
-- for a job only when it runs none, so a job this worker already holds can
-- only be the answer to a claim whose reply was lost; it is given again.
local now, worker = server_now(ARGV[2]), ARGV[3]
local held = redis.call('GET', K.claimed(worker))
if held then
  local f = redis.call('HMGET', K.job(held), 'status', 'worker', 'attempts', 'hyper_params')
  if f[1] == 'running' and f[2] == worker then return {held, tonumber(f[3]), f[4]} end
end
while true do
  local iid = redis.call('LPOP', K.queue)
  if not iid then return false end
  local jk = K.job(iid)
  -- entries of jobs cancelled or deleted meanwhile are skipped; a job whose
  -- cancel was asked while it ran, and that came back to the queue, ends here
  local st = redis.call('HGET', jk, 'status')
  if st == 'waiting' and redis.call('HGET', jk, 'cancel_requested') == '1' then
    redis.call('HSET', jk, 'status', 'cancelled', 'finished', now)
    redis.call('DEL', K.checkpoint(iid))
    move_scope(iid, 'waiting', 'cancelled')
  elseif st == 'waiting' then
    local attempt = redis.call('HINCRBY', jk, 'attempts', 1)
    redis.call('HSET', jk, 'status', 'running', 'worker', worker)
    if not redis.call('HGET', jk, 'started') then redis.call('HSET', jk, 'started', now) end
    redis.call('ZADD', K.leases, now + tonumber(ARGV[4]), iid)
    redis.call('SET', K.claimed(worker), iid, 'EX', TOMBSTONE_SECONDS)
    move_scope(iid, 'waiting', 'running')
    return {iid, attempt, redis.call('HGET', jk, 'hyper_params')}
  end
end
