-- The JSON descriptions of the live workers (expired ones are dropped). ARGV: prefix.
local now = server_now('')
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.workers, '-inf', now)) do
  redis.call('DEL', K.worker(id))
end
redis.call('ZREMRANGEBYSCORE', K.workers, '-inf', now)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', K.workers, 0, -1)) do
  local info = redis.call('GET', K.worker(id))
  if info then out[#out + 1] = info end
end
return out
