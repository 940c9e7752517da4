-- One stretch of a build: copy the jobs of some tokens into a word's set,
-- about `budget` of them at most, so that no call holds the server for long.
-- ARGV: prefix, word, build id, budget, SSCAN cursor of the first token ('0'
-- from its start), then the tokens. Returns {tokens finished, cursor of the
-- next one}, or {-1} if this build was given up (the word was dropped, or
-- another search rebuilt it).
local word, build, budget, cursor = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local state = redis.call('HGET', K.built, word)
if not state or string.match(state, '%S+$') ~= build then return {-1} end
local dest = K.word(word)
local function add(members)
  for i = 1, #members, 1000 do
    redis.call('SADD', dest, unpack(members, i, math.min(#members, i + 999)))
  end
  budget = budget - #members
end
local finished = 0
for i = 6, #ARGV do
  if budget <= 0 then break end
  local key = K.token(ARGV[i])
  if cursor == '0' and redis.call('SCARD', key) <= budget then
    add(redis.call('SMEMBERS', key))
  else
    repeat
      local scan = redis.call('SSCAN', key, cursor, 'COUNT', 1000)
      add(scan[2])
      cursor = scan[1]
    until cursor == '0' or budget <= 0
    if cursor ~= '0' then return {finished, cursor} end
  end
  finished = finished + 1
end
return {finished, '0'}
