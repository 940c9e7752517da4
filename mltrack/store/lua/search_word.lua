-- The jobs one search word matches: every job with a token that starts with the
-- word. ARGV: prefix, word, destination set, first token, at most this many
-- tokens. Adds the jobs of those tokens to the destination (a temporary key
-- that expires) and returns how many tokens it took; the caller goes on while
-- that equals the count, so no single call holds the server for long.
local word, dest, first, count = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local tokens = redis.call('ZRANGEBYLEX', K.vocab, '[' .. word, '[' .. word .. '\255',
                          'LIMIT', first, count)
if #tokens > 0 then
  local keys = {}
  for i, token in ipairs(tokens) do keys[i] = K.token(token) end
  redis.call('SUNIONSTORE', dest, dest, unpack(keys))
  redis.call('EXPIRE', dest, 60)
end
return #tokens
