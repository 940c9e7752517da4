-- Say a task exists, with its schema. ARGV: prefix, name, schema json.
-- Returns the schema stored before ('' if none), so a caller can warn of a change.
local before = redis.call('HGET', K.tasks, ARGV[2]) or ''
redis.call('HSET', K.tasks, ARGV[2], ARGV[3])
return before
