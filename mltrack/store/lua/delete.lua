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
-- search: a trial leaves its search's listing (store/searches.py)
local search = redis.call('HGET', jk, 'search')
if search then redis.call('SREM', P .. 'search:' .. search .. ':jobs', iid) end
unindex_text(iid)
-- runmeta: out of the fingerprint index and its tags' sets; a model still in Redis goes
local meta = redis.call('HMGET', jk, 'task', 'hyper_params', 'tags')
if meta[2] then redis.call('SREM', K.fp(fingerprint(meta[1], meta[2])), iid) end
for tag in string.gmatch(meta[3] or '', '%S+') do redis.call('SREM', K.tag(tag), iid) end
redis.call('SREM', K.models_pending, iid)
redis.call('DEL', jk, K.epochs(iid), K.checkpoint(iid), K.model(iid))
redis.call('SET', K.tombstone(iid), st, 'EX', TOMBSTONE_SECONDS)
return {'OK', st}
