-- Reserve trial number ARGV[3] of search ARGV[2] for job ARGV[4]: the one
-- step that decides whether a trial runs, so a search never runs more than
-- its `trials` (ARGV[6]), whatever drivers race or crash.
-- ARGV: prefix, search id, trial number, iid, the driver's lock token.
-- Safe to repeat: a trial reserved already answers OK (with its iid).
-- Returns {'OK', iid} / {'FULL'} / {'LOCK'} (the caller does not hold the
-- search's lock any more) / {'STOPPED', status} (the search no longer asks).
local id, number, iid, token, cap = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local base = P .. 'search:' .. id
local reserved = redis.call('HGET', base .. ':trials', number)
if reserved then return {'OK', reserved} end
if redis.call('GET', base .. ':lock') ~= token then return {'LOCK'} end
local status = redis.call('HGET', base, 'status')
if status ~= 'running' then return {'STOPPED', status or 'missing'} end
if redis.call('HLEN', base .. ':trials') >= cap then return {'FULL'} end
redis.call('HSET', base .. ':trials', number, iid)
redis.call('SADD', base .. ':jobs', iid)
return {'OK', iid}
