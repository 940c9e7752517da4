-- Where the jobs that one search word matches are: every job with a token that
-- starts with the word. ARGV: prefix, word, build id, most words kept.
-- Returns {'NONE'} (no token), {'TOKEN', key} (one token: its own set),
-- {'CACHED', key} (kept from an earlier search), {'BUSY'} (another search is
-- building it), or {'BUILD', key}: the caller fills the key with search_copy
-- under this build id, then calls search_built. Words are kept while used,
-- the least recently used dropped beyond the limit; creates and deletes keep
-- the kept ones true.
local word, build, most, now = ARGV[2], ARGV[3], tonumber(ARGV[4]), server_now('')
local tokens = redis.call('ZRANGEBYLEX', K.vocab, '[' .. word, '[' .. word .. '\255', 'LIMIT', 0, 2)
if #tokens == 0 then return {'NONE'} end
if #tokens == 1 then return {'TOKEN', K.token(tokens[1])} end
local state = redis.call('HGET', K.built, word)
if redis.call('ZSCORE', K.words, word) and state then
  redis.call('ZADD', K.words, now, word)
  if state == 'done' then return {'CACHED', K.word(word)} end
  local started = tonumber(string.match(state, '^building (%S+)'))
  if started and now - started < 5 then return {'BUSY'} end
end
while redis.call('ZCARD', K.words) >= most do
  local oldest = redis.call('ZRANGE', K.words, 0, 0)[1]
  redis.call('ZREM', K.words, oldest)
  redis.call('HDEL', K.built, oldest)
  redis.call('DEL', K.word(oldest))
end
redis.call('ZADD', K.words, now, word)
redis.call('HSET', K.built, word, 'building ' .. now .. ' ' .. build)
redis.call('DEL', K.word(word))
return {'BUILD', K.word(word)}
