-- Write a tracked task's schema, only if the registry still holds what the
-- caller read (compare and set: two scripts extending one task at once never
-- lose each other's parameters; the loser reads again and merges).
-- ARGV: prefix, name, the schema read ('' = none), the new schema.
-- Returns 'OK', or 'CHANGED' when another writer came first. Safe to repeat:
-- a resent write finds its own schema there and answers OK.
local now = redis.call('HGET', K.tasks, ARGV[2]) or ''
if now == ARGV[4] then return 'OK' end
if now ~= ARGV[3] then return 'CHANGED' end
redis.call('HSET', K.tasks, ARGV[2], ARGV[4])
return 'OK'
