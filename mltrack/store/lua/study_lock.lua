-- Take or renew search ARGV[2]'s driver lock for token ARGV[3], for ARGV[4]
-- milliseconds; ARGV[4] = 0 lets it go (only by its holder).
-- Returns 1 when the caller holds it now, else 0.
local key = P .. 'search:' .. ARGV[2] .. ':lock'
local token, ms = ARGV[3], tonumber(ARGV[4])
local holder = redis.call('GET', key)
if ms == 0 then
  if holder == token then redis.call('DEL', key) end
  return 0
end
if holder and holder ~= token then return 0 end
redis.call('SET', key, token, 'PX', ms)
return 1
