-- Add jobs made before the text index to it. ARGV: prefix, then iid, tokens pairs.
local words = cached_words()
for i = 2, #ARGV, 2 do
  if redis.call('EXISTS', K.job(ARGV[i])) == 1 and not redis.call('HGET', K.job(ARGV[i]), 'tokens') then
    index_text(ARGV[i], ARGV[i + 1], words)
  end
end
return 'OK'
