-- Put jobs recorded before the fingerprint index into it (fingerprints.py).
-- ARGV: prefix, then iids. Tracked runs are left out (never queued, see create.lua).
-- Safe to repeat: a set holds an iid once.
for i = 2, #ARGV do
  local h = redis.call('HMGET', K.job(ARGV[i]), 'task', 'hyper_params', 'tracked')
  if h[2] and h[3] ~= '1' then redis.call('SADD', K.fp(fingerprint(h[1], h[2])), ARGV[i]) end
end
return 'OK'
