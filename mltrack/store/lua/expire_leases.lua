-- End the lease of running queue jobs now, each only if the worker named is
-- still the one running it (so a job reclaimed meanwhile by a live worker keeps
-- its lease); the next reap requeues them. ARGV: prefix, now ('' = server
-- time), then iid, worker pairs. Returns the iids whose lease was ended.
local now = server_now(ARGV[2])
local out = {}
for i = 3, #ARGV, 2 do
  local iid, worker = ARGV[i], ARGV[i + 1]
  local f = redis.call('HMGET', K.job(iid), 'status', 'worker', 'tracked')
  if f[1] == 'running' and f[2] == worker and f[3] ~= '1'
      and redis.call('ZSCORE', K.leases, iid) then
    redis.call('ZADD', K.leases, now, iid)
    out[#out + 1] = iid
  end
end
return out
