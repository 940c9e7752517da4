-- Remove a finished job and everything it owns. ARGV: prefix, iid.
-- Safe to repeat: a tombstone remembers the deleted iid for a day.
local iid = ARGV[2]
local jk = K.job(iid)
local st = redis.call('HGET', jk, 'status')
if not st then
  if redis.call('EXISTS', K.tombstone(iid)) == 1 then return {'OK', 'deleted'} end
  return {'NOTFOUND'}
end
if not is_terminal(st) then return {'ILLEGAL', st} end
drop_indexes(iid, st)
unindex_text(iid)
redis.call('DEL', jk, K.epochs(iid), K.checkpoint(iid))
redis.call('SET', K.tombstone(iid), st, 'EX', TOMBSTONE_SECONDS)
return {'OK', st}
