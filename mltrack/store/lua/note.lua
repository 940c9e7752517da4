-- Set a job's note (annotations.py); '' removes it. ARGV: prefix, iid, note,
-- and optionally the note the writer was shown ('' for none): then the note is
-- only written if it still is that one (or already the new one), else
-- {'CHANGED', the note now} and nothing is written.
-- Returns {'OK'}, {'CHANGED', note}, {'NOTFOUND'} or {'DELETED'}.
local iid, note, seen = ARGV[2], ARGV[3], ARGV[4]
local jk = K.job(iid)
if redis.call('EXISTS', jk) == 0 then
  if redis.call('EXISTS', K.tombstone(iid)) == 1 then return {'DELETED'} end
  return {'NOTFOUND'}
end
if seen ~= nil then
  local now = redis.call('HGET', jk, 'note') or ''
  if now ~= seen and now ~= note then return {'CHANGED', now} end
end
if note == '' then redis.call('HDEL', jk, 'note') else redis.call('HSET', jk, 'note', note) end
return {'OK'}
