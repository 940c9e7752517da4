-- Set or edit a job's tags (annotations.py), keeping each tag's set of jobs true.
-- ARGV: prefix, iid, most tags, mode ('set': the tags become the added ones;
-- 'edit': the old ones less the removed, plus the added), the number of added
-- tags, the added tags, then the removed ones. Tags are checked words without
-- spaces (stored space separated, in order). Returns {'OK', tags},
-- {'NOTFOUND'}, {'DELETED'} or {'TOOMANY', count}; everything is checked
-- before the first write, and the same call sent twice changes nothing more.
local iid, most, mode, n = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local jk = K.job(iid)
if redis.call('EXISTS', jk) == 0 then
  if redis.call('EXISTS', K.tombstone(iid)) == 1 then return {'DELETED'} end
  return {'NOTFOUND'}
end
local old = {}
for tag in string.gmatch(redis.call('HGET', jk, 'tags') or '', '%S+') do old[#old + 1] = tag end
local removed = {}
for i = 6 + n, #ARGV do removed[ARGV[i]] = true end
local new, seen = {}, {}
local function keep(tag)
  if not seen[tag] and not removed[tag] then seen[tag] = true; new[#new + 1] = tag end
end
if mode == 'edit' then for _, tag in ipairs(old) do keep(tag) end end
for i = 6, 5 + n do keep(ARGV[i]) end
if #new > most then return {'TOOMANY', #new} end
for _, tag in ipairs(old) do
  if not seen[tag] then redis.call('SREM', K.tag(tag), iid) end
end
for _, tag in ipairs(new) do redis.call('SADD', K.tag(tag), iid) end
if #new > 0 then
  redis.call('HSET', jk, 'tags', table.concat(new, ' '))
else
  redis.call('HDEL', jk, 'tags')
end
return {'OK', table.concat(new, ' ')}
