-- Set a job's note (annotations.py); '' removes it. ARGV: prefix, iid, note.
-- Returns {'OK'}, {'NOTFOUND'} or {'DELETED'}.
local iid, note = ARGV[2], ARGV[3]
local jk = K.job(iid)
if redis.call('EXISTS', jk) == 0 then
  if redis.call('EXISTS', K.tombstone(iid)) == 1 then return {'DELETED'} end
  return {'NOTFOUND'}
end
if note == '' then redis.call('HDEL', jk, 'note') else redis.call('HSET', jk, 'note', note) end
return {'OK'}
