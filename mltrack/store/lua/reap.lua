-- Put running jobs whose lease ran out back at the front of the queue, or fail
-- them once they were lost `max_lost` times; a tracked run fails at once. ARGV: prefix, now ('' = server
-- time), max_lost. Returns a flat list: iid, new status, ...
local now, max_lost = server_now(ARGV[2]), tonumber(ARGV[3])
local out = {}
for _, iid in ipairs(redis.call('ZRANGEBYSCORE', K.leases, '-inf', now)) do
  local jk = K.job(iid)
  if redis.call('HGET', jk, 'status') == 'running' then
    local lost = redis.call('HINCRBY', jk, 'lost', 1)
    if redis.call('HGET', jk, 'tracked') == '1' then
      -- a tracked run has no queue to go back to: its script is gone, so it
      -- fails at once
      redis.call('HSET', jk, 'status', 'failed', 'finished', now,
                 'error', 'lost: its script stopped reporting for ' ..
                 (redis.call('HGET', jk, 'lease') or '?') .. ' s (it was killed, crashed ' ..
                 'or lost the network)')
      move_scope(iid, 'running', 'failed')
      release(iid, true)
      out[#out + 1] = iid; out[#out + 1] = 'failed'
    elseif lost >= max_lost then
      redis.call('HSET', jk, 'status', 'failed', 'finished', now, 'worker', '',
                 'error', 'its worker was lost ' .. lost .. ' times (lease expired: the ' ..
                 'process died, hung or lost the database)')
      move_scope(iid, 'running', 'failed')
      release(iid, true)
      out[#out + 1] = iid; out[#out + 1] = 'failed'
    else
      redis.call('HSET', jk, 'status', 'waiting', 'worker', '')
      redis.call('LPUSH', K.queue(job_task(iid)), iid)
      move_scope(iid, 'running', 'waiting')
      release(iid, false)
      out[#out + 1] = iid; out[#out + 1] = 'waiting'
    end
  else
    redis.call('ZREM', K.leases, iid)
  end
end
return out
