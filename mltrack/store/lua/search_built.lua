-- End a build: the word's set is whole. ARGV: prefix, word, build id.
-- Returns 1, or 0 if the build was given up meanwhile.
local state = redis.call('HGET', K.built, ARGV[2])
if not state or string.match(state, '%S+$') ~= ARGV[3] then return 0 end
redis.call('HSET', K.built, ARGV[2], 'done')
return 1
