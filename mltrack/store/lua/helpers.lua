-- Shared by every script that writes (scripts.py puts this before each one).
-- Every script takes the key prefix as ARGV[1]; K spells each key from it, the
-- one key scheme of mltrack (mirrored for Python by keys.py).
local P = ARGV[1]
local K = {
  leases = P .. 'leases',
  workers = P .. 'workers',
  tasks = P .. 'tasks',
  vocab = P .. 'text:vocab',
  words = P .. 'text:words',
  built = P .. 'text:built',
  text_indexed = P .. 'text:indexed',
}
function K.job(iid) return P .. 'job:' .. iid end
function K.epochs(iid) return P .. 'job:' .. iid .. ':epochs' end
function K.checkpoint(iid) return P .. 'job:' .. iid .. ':checkpoint' end
function K.queue(task) return P .. 'queue:' .. task end
function K.tombstone(iid) return P .. 'deleted:' .. iid end
function K.claimed(worker) return P .. 'claimed:' .. worker end
function K.worker(id) return P .. 'worker:' .. id end
function K.idx(scope, key) return P .. 'idx:' .. scope .. ':' .. key end
function K.token(token) return P .. 'text:tok:' .. token end
function K.word(word) return P .. 'text:word:' .. word end
-- runmeta: the fingerprint index, tag sets, models on their way to disk (keys.py)
K.fp_indexed = P .. 'fp:indexed'
K.models_pending = P .. 'models:pending'
function K.fp(digest) return P .. 'fp:' .. digest end
function K.tag(name) return P .. 'tag:' .. name end
function K.model(iid) return P .. 'job:' .. iid .. ':model' end
-- a job's fingerprint: its task and its stored (filled, sorted) hyperparameters
local function fingerprint(task, hyper_params)
  return redis.sha1hex((task or 'mnist') .. '\n' .. hyper_params)
end

local TOMBSTONE_SECONDS = 86400

-- A job is listed in four scopes: all jobs, its status, its task, its task
-- and status. Its hash field `sort_keys` names every index it is in.
local function scopes(task, status)
  return {'all', status, 't:' .. task, 't:' .. task .. ':' .. status}
end

local function job_task(iid) return redis.call('HGET', K.job(iid), 'task') or 'mnist' end

local function sort_keys(iid)
  local keys = {}
  for k in string.gmatch(redis.call('HGET', K.job(iid), 'sort_keys') or '', '%S+') do
    keys[#keys + 1] = k
  end
  return keys
end

local function index_add(iid, task, status, key, score)
  for _, scope in ipairs(scopes(task, status)) do redis.call('ZADD', K.idx(scope, key), score, iid) end
end

local function index_rem(iid, task, status, key)
  for _, scope in ipairs(scopes(task, status)) do redis.call('ZREM', K.idx(scope, key), iid) end
end

-- move a job's index entries from one status to another
local function move_scope(iid, old, new)
  local task = job_task(iid)
  for _, k in ipairs(sort_keys(iid)) do
    local score = redis.call('ZSCORE', K.idx('all', k), iid)
    if score then
      redis.call('ZREM', K.idx(old, k), iid)
      redis.call('ZREM', K.idx('t:' .. task .. ':' .. old, k), iid)
      redis.call('ZADD', K.idx(new, k), score, iid)
      redis.call('ZADD', K.idx('t:' .. task .. ':' .. new, k), score, iid)
    end
  end
end

local function drop_indexes(iid, status)
  local task = job_task(iid)
  for _, k in ipairs(sort_keys(iid)) do index_rem(iid, task, status, k) end
end

-- the server's clock, so that leases mean the same to every machine
local function server_now(given)
  if given ~= nil and given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- a job left running: drop its lease, its progress and (when it ended) its checkpoint
local function release(iid, ended)
  redis.call('ZREM', K.leases, iid)
  redis.call('HDEL', K.job(iid), 'progress')
  if ended then redis.call('DEL', K.checkpoint(iid)) end
end

-- The text index (see text.py): each token -> the set of jobs that have it;
-- vocab lists the tokens; the matches of recently searched words that span
-- several tokens are kept too, and a new or deleted job updates them.
local function cached_words()
  local words = {}
  for _, w in ipairs(redis.call('ZRANGE', K.words, 0, -1)) do words[w] = true end
  return words
end

local function for_cached_words(tokens, words, action)
  if next(words) == nil then return end
  for token in string.gmatch(tokens, '%S+') do
    for n = 1, #token do
      local w = string.sub(token, 1, n)
      if words[w] then action(K.word(w)) end
    end
  end
end

local function index_text(iid, tokens, words)
  for token in string.gmatch(tokens, '%S+') do
    redis.call('SADD', K.token(token), iid)
    redis.call('ZADD', K.vocab, 0, token)
  end
  redis.call('HSET', K.job(iid), 'tokens', tokens)
  for_cached_words(tokens, words, function(key) redis.call('SADD', key, iid) end)
end

local function unindex_text(iid)
  local tokens = redis.call('HGET', K.job(iid), 'tokens') or ''
  for token in string.gmatch(tokens, '%S+') do
    redis.call('SREM', K.token(token), iid)
    if redis.call('EXISTS', K.token(token)) == 0 then redis.call('ZREM', K.vocab, token) end
  end
  for_cached_words(tokens, cached_words(), function(key) redis.call('SREM', key, iid) end)
end

local function is_terminal(status)
  return status == 'done' or status == 'failed' or status == 'cancelled' or status == 'pruned'
end

-- A search's conditions from ARGV[first]: number of sets, the sets, number of
-- ranges, then (sorted set, min, max) per range in ZRANGE's score syntax
-- ('(' excludes, '-inf', '+inf'). Returns the sets and ranges, and the index
-- after them.
local function read_conditions(first)
  local sets, ranges, i = {}, {}, first
  for _ = 1, tonumber(ARGV[i]) do i = i + 1; sets[#sets + 1] = ARGV[i] end
  i = i + 1
  for _ = 1, tonumber(ARGV[i]) do
    ranges[#ranges + 1] = {ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]}
    i = i + 3
  end
  return sets, ranges, i + 1
end

local function score_bound(text)
  local open = string.sub(text, 1, 1) == '('
  if open then text = string.sub(text, 2) end
  if text == '-inf' then return -math.huge, open end
  if text == '+inf' or text == 'inf' then return math.huge, open end
  return tonumber(text), open
end

local function in_range(score, low, high)
  if not score then return false end
  score = tonumber(score)
  local lo, lo_open = score_bound(low)
  local hi, hi_open = score_bound(high)
  if score < lo or (lo_open and score == lo) then return false end
  if score > hi or (hi_open and score == hi) then return false end
  return true
end

-- The ids (a list, at most a few thousand) that are in every set and within
-- every range, in their order.
local function keep_matching(ids, sets, ranges)
  for _, key in ipairs(sets) do
    if #ids == 0 then return ids end
    local kept = {}
    for i = 1, #ids, 1000 do
      local chunk = {unpack(ids, i, math.min(#ids, i + 999))}
      local found = redis.call('SMISMEMBER', key, unpack(chunk))
      for j, iid in ipairs(chunk) do if found[j] == 1 then kept[#kept + 1] = iid end end
    end
    ids = kept
  end
  for _, range in ipairs(ranges) do
    if #ids == 0 then return ids end
    local kept = {}
    for i = 1, #ids, 1000 do
      local chunk = {unpack(ids, i, math.min(#ids, i + 999))}
      local scores = redis.call('ZMSCORE', range[1], unpack(chunk))
      for j, iid in ipairs(chunk) do
        if in_range(scores[j], range[2], range[3]) then kept[#kept + 1] = iid end
      end
    end
    ids = kept
  end
  return ids
end
