-- Take the next waiting job of the tasks this worker runs and make it running
-- under a lease: the oldest at the head of those tasks' queues (a job put back
-- goes to the head of its queue). ARGV: prefix, now ('' = server time),
-- worker, lease seconds, then the task names.
-- Returns {iid, attempt, hyper_params, task} or false. Safe to repeat: a
-- worker asks for a job only when it runs none, so a job this worker already
-- holds can only be the answer to a claim whose reply was lost; it is given again.
local now, worker = server_now(ARGV[2]), ARGV[3]
local held = redis.call('GET', K.claimed(worker))
if held then
  local f = redis.call('HMGET', K.job(held), 'status', 'worker', 'attempts', 'hyper_params', 'task')
  if f[1] == 'running' and f[2] == worker then return {held, tonumber(f[3]), f[4], f[5] or 'mnist'} end
end
local best, best_task, best_created
for n = 5, #ARGV do
  local queue = K.queue(ARGV[n])
  while true do
    local iid = redis.call('LINDEX', queue, 0)
    if not iid then break end
    local jk = K.job(iid)
    local f = redis.call('HMGET', jk, 'status', 'created', 'cancel_requested')
    if f[1] == 'waiting' and f[3] == '1' then
      -- its cancel was asked while it ran, and it came back to the queue: it ends here
      redis.call('LPOP', queue)
      redis.call('HSET', jk, 'status', 'cancelled', 'finished', now)
      redis.call('DEL', K.checkpoint(iid))
      move_scope(iid, 'waiting', 'cancelled')
    elseif f[1] == 'waiting' then
      if not best or tonumber(f[2]) < best_created then
        best, best_task, best_created = iid, ARGV[n], tonumber(f[2])
      end
      break
    else
      redis.call('LPOP', queue)  -- cancelled or deleted meanwhile
    end
  end
end
if not best then return false end
redis.call('LPOP', K.queue(best_task))
local jk = K.job(best)
local attempt = redis.call('HINCRBY', jk, 'attempts', 1)
redis.call('HSET', jk, 'status', 'running', 'worker', worker)
if not redis.call('HGET', jk, 'started') then redis.call('HSET', jk, 'started', now) end
redis.call('ZADD', K.leases, now + tonumber(ARGV[4]), best)
redis.call('SET', K.claimed(worker), best, 'EX', TOMBSTONE_SECONDS)
move_scope(best, 'waiting', 'running')
return {best, attempt, redis.call('HGET', jk, 'hyper_params'), best_task}
