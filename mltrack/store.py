"""The job store on Redis: the only module that spells a Redis key.

Layout under one key prefix (default ``mltrack:``)::

    job:<iid>                 hash: the job record and its summary metrics
    job:<iid>:epochs          list: one JSON object per finished epoch, appended
    queue:requests            list: iids waiting to be claimed (head = next)
    idx:<scope>:<key>         sorted sets for listing; scope = all or a status,
                              key = a sort key (see SORT_KEYS) or ``pending``

Every state change is one Lua script, so it is atomic: a cancel racing a claim
sees either a waiting job or a running one, never half of each. Metric indexes
hold only jobs that finished an epoch; jobs without one are in ``pending``
(scored by creation time), and listings sorted by a metric put them last.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Sequence

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from mltrack.params import MODELS, OPTIMIZERS, HyperParams

DEFAULT_PREFIX = "mltrack:"
DEFAULT_LEASE = 30.0  # seconds a claim lasts unless its worker's heartbeat renews it
DEFAULT_MAX_LOST = 3  # a job whose worker was lost this often is failed


class Status(str, Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED})

# The lifecycle of DESIGN.md: which states each state may move to.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.WAITING: frozenset({Status.RUNNING, Status.CANCELLED}),
    Status.RUNNING: frozenset({Status.DONE, Status.FAILED, Status.CANCELLED, Status.WAITING}),
    Status.DONE: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
}

# Sort key (as the API names it) -> job hash field holding its value.
SORT_KEYS = {
    "created": "created",
    "test_accuracy": "test_accuracy",
    "best_test_accuracy": "best_test_accuracy",
    "train_loss": "train_loss",
    "test_loss": "test_loss",
    "runtime": "runtime",
    "epochs": "epochs_done",
    # hyperparameters, indexed when the job is created
    "learning_rate": "learning_rate",
    "batch_size": "batch_size",
    "num_epochs": "num_epochs",
    "model": "model",
    "optimizer": "optimizer",
}
# Listings also sort by status, in this order (within one, newest first); no
# index of its own: the per-status indexes, read one after another.
STATUS_ORDER = ("running", "waiting", "failed", "cancelled", "done")
LIST_SORTS = (*SORT_KEYS, "status")
# Hyperparameter sort keys and their scores (names sort in the order of their choices).
HYPER_KEYS = {
    "learning_rate": lambda hp: hp.learning_rate,
    "batch_size": lambda hp: hp.batch_size,
    "num_epochs": lambda hp: hp.num_epochs,
    "model": lambda hp: MODELS.index(hp.model),
    "optimizer": lambda hp: OPTIMIZERS.index(hp.optimizer),
}
# Keys every job has from the start; the others appear with the first epoch.
_ALWAYS_KEYS = ("created", "epochs", *HYPER_KEYS)
METRIC_KEYS = tuple(k for k in SORT_KEYS if k not in _ALWAYS_KEYS)
# The order that puts the best first, used when the caller names none.
DEFAULT_ORDER = {
    "created": "desc",
    "test_accuracy": "desc",
    "best_test_accuracy": "desc",
    "train_loss": "asc",
    "test_loss": "asc",
    "runtime": "asc",
    "epochs": "desc",
    "learning_rate": "asc",
    "batch_size": "asc",
    "num_epochs": "asc",
    "model": "asc",
    "optimizer": "asc",
    "status": "asc",
}
SUMMARY_FIELDS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy",
                  "best_test_accuracy", "runtime")
EPOCH_FIELDS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                "time_training")


class StoreError(Exception):
    """Base of the store's named errors."""


class JobNotFound(StoreError):
    def __init__(self, iid: str):
        super().__init__(f"no job with iid {iid!r}")
        self.iid = iid


class IllegalTransition(StoreError):
    def __init__(self, iid: str, current: str, wanted: str):
        super().__init__(f"job {iid} is {current}; it cannot become {wanted}")
        self.iid, self.current, self.wanted = iid, current, wanted


class StaleAttempt(StoreError):
    """A worker wrote for an attempt that is no longer the job's current one."""

    def __init__(self, iid: str, attempt: int):
        super().__init__(f"job {iid}: attempt {attempt} is no longer current")
        self.iid, self.attempt = iid, attempt


class EpochOutOfOrder(StoreError):
    def __init__(self, iid: str, epoch: int, expected: int):
        super().__init__(f"job {iid}: epoch {epoch} recorded, expected {expected}")
        self.iid, self.epoch, self.expected = iid, epoch, expected


def _when(now: float | None) -> str:
    """A time for a script: '' lets the server's clock decide (one clock for all)."""
    return "" if now is None else repr(float(now))


def _float(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)


@dataclass
class Job:
    """A job record as read from its hash."""

    iid: str
    status: Status
    hyper_params: dict[str, Any]
    created: float
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    error: str | None = None
    traceback: str | None = None
    worker: str | None = None
    cancel_requested: bool = False
    lost: int = 0
    progress: dict[str, Any] | None = None
    device: str | None = None
    precision: str | None = None
    retry_of: str | None = None
    num_epochs: int = 0
    epochs_done: int = 0
    # summary: the last finished epoch's metrics (None before the first)
    train_loss: float | None = None
    train_accuracy: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    best_test_accuracy: float | None = None
    runtime: float | None = None

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> "Job":
        return cls(
            iid=h["iid"],
            status=Status(h["status"]),
            hyper_params=json.loads(h["hyper_params"]),
            created=float(h["created"]),
            started=_float(h.get("started")),
            finished=_float(h.get("finished")),
            attempts=int(h.get("attempts") or 0),
            error=h.get("error") or None,
            traceback=h.get("traceback") or None,
            worker=h.get("worker") or None,
            cancel_requested=h.get("cancel_requested") == "1",
            lost=int(h.get("lost") or 0),
            progress=json.loads(h["progress"]) if h.get("progress") else None,
            device=h.get("device") or None,
            precision=h.get("precision") or None,
            retry_of=h.get("retry_of") or None,
            num_epochs=int(h.get("num_epochs") or 0),
            epochs_done=int(h.get("epochs_done") or 0),
            **{name: _float(h.get(name)) for name in SUMMARY_FIELDS},
        )


@dataclass(frozen=True)
class Claim:
    """A job a worker now runs, under attempt number `attempt`."""

    iid: str
    attempt: int
    hyper_params: HyperParams


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    total: int


# Shared Lua helpers, prepended to the scripts that change a job's scope.
_LUA_HELPERS = """
local INDEX_KEYS = {%(keys)s}
local function idx(p, scope, key) return p .. 'idx:' .. scope .. ':' .. key end
-- move a job's index entries from one status scope to another
local function move_scope(p, iid, old, new)
  for _, k in ipairs(INDEX_KEYS) do
    local score = redis.call('ZSCORE', idx(p, 'all', k), iid)
    if score then
      redis.call('ZREM', idx(p, old, k), iid)
      redis.call('ZADD', idx(p, new, k), score, iid)
    end
  end
end
-- the server's clock, so that leases mean the same to every machine
local function server_now(given)
  if given ~= nil and given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- a job left running: drop its lease, its progress and (when it ended) its checkpoint
local function release(p, iid, ended)
  redis.call('ZREM', p .. 'leases', iid)
  redis.call('HDEL', p .. 'job:' .. iid, 'progress')
  if ended then redis.call('DEL', p .. 'job:' .. iid .. ':checkpoint') end
end
local function drop_indexes(p, iid, status)
  for _, k in ipairs(INDEX_KEYS) do
    redis.call('ZREM', idx(p, 'all', k), iid)
    redis.call('ZREM', idx(p, status, k), iid)
  end
end
""" % {"keys": ", ".join(f"'{k}'" for k in (*SORT_KEYS, "pending"))}

# ARGV: prefix, created ('' = server time), retry_of ('' = none), then per job:
# iid, hyper_params json, num_epochs, and one score per HYPER_KEYS entry.
_CREATE = _LUA_HELPERS + """
local HYPER = {'learning_rate', 'batch_size', 'num_epochs', 'model', 'optimizer'}
local p, created = ARGV[1], server_now(ARGV[2])
local stride = 3 + #HYPER
for i = 4, #ARGV, stride do
  local iid = ARGV[i]
  local jk = p .. 'job:' .. iid
  if redis.call('EXISTS', jk) == 1 then return redis.error_reply('iid exists: ' .. iid) end
  redis.call('HSET', jk, 'iid', iid, 'status', 'waiting', 'hyper_params', ARGV[i + 1],
             'created', created, 'attempts', 0, 'num_epochs', ARGV[i + 2], 'epochs_done', 0)
  for _, scope in ipairs({'all', 'waiting'}) do
    redis.call('ZADD', idx(p, scope, 'created'), created, iid)
    redis.call('ZADD', idx(p, scope, 'epochs'), 0, iid)
    redis.call('ZADD', idx(p, scope, 'pending'), created, iid)
    for n, key in ipairs(HYPER) do redis.call('ZADD', idx(p, scope, key), ARGV[i + 2 + n], iid) end
  end
  if ARGV[3] ~= '' then redis.call('HSET', jk, 'retry_of', ARGV[3]) end
  redis.call('RPUSH', p .. 'queue:requests', iid)
end
return #ARGV
"""

# Generic transition. ARGV: prefix, iid, allowed-from (space separated), to,
# attempt ('' = no fencing), now ('' = server time), then field/value pairs.
# A terminal state gets its `finished` time.
# Returns {'OK', old} or {'NOTFOUND'} / {'ILLEGAL', current} / {'STALE', current}.
_TRANSITION = _LUA_HELPERS + """
local p, iid, to, attempt = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local jk = p .. 'job:' .. iid
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
local allowed = false
for s in string.gmatch(ARGV[3], '%S+') do if s == st then allowed = true end end
if not allowed then return {'ILLEGAL', st} end
if attempt ~= '' and redis.call('HGET', jk, 'attempts') ~= attempt then return {'STALE', st} end
if #ARGV > 6 then redis.call('HSET', jk, unpack(ARGV, 7)) end
if to == 'done' or to == 'failed' or to == 'cancelled' then
  redis.call('HSET', jk, 'finished', server_now(ARGV[6]))
end
if to ~= st then
  redis.call('HSET', jk, 'status', to)
  move_scope(p, iid, st, to)
end
if to == 'cancelled' then redis.call('LREM', p .. 'queue:requests', 0, iid) end
if to == 'waiting' then redis.call('LPUSH', p .. 'queue:requests', iid) end
if st == 'running' and to ~= 'running' then release(p, iid, to ~= 'waiting') end
return {'OK', st}
"""

# Pop queued iids until one is waiting, and make it running under a lease.
# ARGV: prefix, now ('' = server time), worker, lease seconds.
# Returns {iid, attempt, hyper_params} or false.
_CLAIM = _LUA_HELPERS + """
local p, now, worker = ARGV[1], server_now(ARGV[2]), ARGV[3]
while true do
  local iid = redis.call('LPOP', p .. 'queue:requests')
  if not iid then return false end
  local jk = p .. 'job:' .. iid
  -- entries of jobs cancelled or deleted meanwhile are skipped; a job whose
  -- cancel was asked while it ran, and that came back to the queue, ends here
  local st = redis.call('HGET', jk, 'status')
  if st == 'waiting' and redis.call('HGET', jk, 'cancel_requested') == '1' then
    redis.call('HSET', jk, 'status', 'cancelled', 'finished', now)
    redis.call('DEL', jk .. ':checkpoint')
    move_scope(p, iid, 'waiting', 'cancelled')
  elseif st == 'waiting' then
    local attempt = redis.call('HINCRBY', jk, 'attempts', 1)
    redis.call('HSET', jk, 'status', 'running', 'worker', worker)
    if not redis.call('HGET', jk, 'started') then redis.call('HSET', jk, 'started', now) end
    redis.call('ZADD', p .. 'leases', now + tonumber(ARGV[4]), iid)
    move_scope(p, iid, 'waiting', 'running')
    return {iid, attempt, redis.call('HGET', jk, 'hyper_params')}
  end
end
"""

# Cancel: a waiting job at once, a running one by flag (its worker stops it).
# ARGV: prefix, iid, now ('' = server time).
# Returns {'OK', new status} or {'NOTFOUND'} / {'ILLEGAL', st}.
_CANCEL = _LUA_HELPERS + """
local p, iid, now = ARGV[1], ARGV[2], server_now(ARGV[3])
local jk = p .. 'job:' .. iid
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
if st == 'waiting' then
  redis.call('HSET', jk, 'status', 'cancelled', 'finished', now)
  redis.call('LREM', p .. 'queue:requests', 0, iid)
  move_scope(p, iid, 'waiting', 'cancelled')
  return {'OK', 'cancelled'}
end
if st == 'running' then
  redis.call('HSET', jk, 'cancel_requested', 1)
  return {'OK', 'running'}
end
return {'ILLEGAL', st}
"""

# Append one epoch and update the summary and sort indexes, fenced by attempt.
# ARGV: prefix, iid, attempt, epoch, epoch json, train_loss, train_accuracy,
# test_loss, test_accuracy, runtime, checkpoint ('' = none). Returns {'OK'} / {'NOTFOUND'} /
# {'ILLEGAL', st} / {'STALE', st} / {'ORDER', expected epoch}.
_RECORD_EPOCH = _LUA_HELPERS + """
local p, iid, attempt, epoch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local jk = p .. 'job:' .. iid
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
if st ~= 'running' then return {'ILLEGAL', st} end
if redis.call('HGET', jk, 'attempts') ~= attempt then return {'STALE', st} end
local ek = jk .. ':epochs'
local expected = redis.call('LLEN', ek) + 1
if epoch ~= expected then return {'ORDER', expected} end
redis.call('RPUSH', ek, ARGV[5])
if ARGV[11] ~= '' then redis.call('SET', jk .. ':checkpoint', ARGV[11]) end
local best = ARGV[9]
local previous = redis.call('HGET', jk, 'best_test_accuracy')
if previous and tonumber(previous) > tonumber(best) then best = previous end
redis.call('HSET', jk, 'epochs_done', epoch, 'train_loss', ARGV[6], 'train_accuracy', ARGV[7],
           'test_loss', ARGV[8], 'test_accuracy', ARGV[9], 'best_test_accuracy', best,
           'runtime', ARGV[10])
local scores = {epochs = epoch, train_loss = ARGV[6], test_loss = ARGV[8],
                test_accuracy = ARGV[9], best_test_accuracy = best, runtime = ARGV[10]}
for _, scope in ipairs({'all', st}) do
  for key, score in pairs(scores) do redis.call('ZADD', idx(p, scope, key), score, iid) end
  redis.call('ZREM', idx(p, scope, 'pending'), iid)
end
return {'OK'}
"""

# Remove a finished job and everything it owns. ARGV: prefix, iid.
_DELETE = _LUA_HELPERS + """
local p, iid = ARGV[1], ARGV[2]
local jk = p .. 'job:' .. iid
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
if st ~= 'done' and st ~= 'failed' and st ~= 'cancelled' then return {'ILLEGAL', st} end
drop_indexes(p, iid, st)
redis.call('DEL', jk, jk .. ':epochs', jk .. ':checkpoint')
return {'OK', st}
"""

# Renew a running job's lease, fenced by attempt. ARGV: prefix, iid, attempt,
# lease seconds, now ('' = server time), progress json ('' = leave it).
# Returns {'OK', cancel_requested} / {'NOTFOUND'} / {'ILLEGAL', st} / {'STALE', st}.
_HEARTBEAT = _LUA_HELPERS + """
local p, iid, attempt = ARGV[1], ARGV[2], ARGV[3]
local jk = p .. 'job:' .. iid
local st = redis.call('HGET', jk, 'status')
if not st then return {'NOTFOUND'} end
if st ~= 'running' then return {'ILLEGAL', st} end
if redis.call('HGET', jk, 'attempts') ~= attempt then return {'STALE', st} end
redis.call('ZADD', p .. 'leases', server_now(ARGV[5]) + tonumber(ARGV[4]), iid)
if ARGV[6] ~= '' then redis.call('HSET', jk, 'progress', ARGV[6]) end
return {'OK', redis.call('HGET', jk, 'cancel_requested') or '0'}
"""

# Put running jobs whose lease ran out back at the front of the queue, or
# fail them once they were lost `max_lost` times. ARGV: prefix, now ('' =
# server time), max_lost. Returns a flat list: iid, new status, ...
_REAP = _LUA_HELPERS + """
local p, now, max_lost = ARGV[1], server_now(ARGV[2]), tonumber(ARGV[3])
local out = {}
for _, iid in ipairs(redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', now)) do
  local jk = p .. 'job:' .. iid
  if redis.call('HGET', jk, 'status') == 'running' then
    local lost = redis.call('HINCRBY', jk, 'lost', 1)
    if lost >= max_lost then
      redis.call('HSET', jk, 'status', 'failed', 'finished', now, 'worker', '',
                 'error', 'its worker was lost ' .. lost .. ' times (lease expired: the ' ..
                 'process died, hung or lost the database)')
      move_scope(p, iid, 'running', 'failed')
      release(p, iid, true)
      out[#out + 1] = iid; out[#out + 1] = 'failed'
    else
      redis.call('HSET', jk, 'status', 'waiting', 'worker', '')
      redis.call('LPUSH', p .. 'queue:requests', iid)
      move_scope(p, iid, 'running', 'waiting')
      release(p, iid, false)
      out[#out + 1] = iid; out[#out + 1] = 'waiting'
    end
  else
    redis.call('ZREM', p .. 'leases', iid)
  end
end
return out
"""

# Workers: `workers` scores each worker id by when its registration expires;
# `worker:<id>` holds its JSON description. ARGV: prefix, id, ttl, info json.
_REGISTER_WORKER = _LUA_HELPERS + """
local p, id = ARGV[1], ARGV[2]
redis.call('ZADD', p .. 'workers', server_now('') + tonumber(ARGV[3]), id)
redis.call('SET', p .. 'worker:' .. id, ARGV[4], 'PX', math.floor(tonumber(ARGV[3]) * 1000))
return 1
"""

# ARGV: prefix. Returns the JSON descriptions of the live workers.
_LIVE_WORKERS = _LUA_HELPERS + """
local p = ARGV[1]
local now = server_now('')
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'workers', '-inf', now)) do
  redis.call('DEL', p .. 'worker:' .. id)
end
redis.call('ZREMRANGEBYSCORE', p .. 'workers', '-inf', now)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', p .. 'workers', 0, -1)) do
  local info = redis.call('GET', p .. 'worker:' .. id)
  if info then out[#out + 1] = info end
end
return out
"""

# One page of jobs in one round trip. ARGV: prefix, scope, key, order, offset,
# limit, metric ('1' if key is absent until the first epoch), the statuses in
# order (for key 'status').
# Returns {total, hash1, hash2, ...} with each hash as a flat field/value list.
_LIST = """
local p, scope, key, order = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local offset, limit, metric = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
local function idx(k) return p .. 'idx:' .. scope .. ':' .. k end
local function range(k, start, count, rev)
  if count <= 0 then return {} end
  if rev then return redis.call('ZRANGE', idx(k), start, start + count - 1, 'REV') end
  return redis.call('ZRANGE', idx(k), start, start + count - 1)
end
local total = redis.call('ZCARD', idx('created'))
local ids = {}
if key == 'status' then
  -- the per-status indexes one after another, each newest first
  local statuses = {}
  for s in string.gmatch(ARGV[8], '%S+') do
    if scope == 'all' or scope == s then statuses[#statuses + 1] = s end
  end
  local skip, need = offset, limit
  for _, s in ipairs(statuses) do
    if need <= 0 then break end
    local zkey = p .. 'idx:' .. s .. ':created'
    local n = redis.call('ZCARD', zkey)
    if skip >= n then skip = skip - n
    else
      for _, iid in ipairs(redis.call('ZRANGE', zkey, skip, skip + need - 1, 'REV')) do
        ids[#ids + 1] = iid
      end
      need, skip = limit - #ids, 0
    end
  end
else
  ids = range(key, offset, limit, order == 'desc')
end
if metric then
  -- jobs without the metric yet come after those with it, newest first
  local ranked = redis.call('ZCARD', idx(key))
  local more = range('pending', math.max(0, offset - ranked), limit - #ids, true)
  for _, iid in ipairs(more) do ids[#ids + 1] = iid end
end
local out = {total}
for _, iid in ipairs(ids) do out[#out + 1] = redis.call('HGETALL', p .. 'job:' .. iid) end
return out
"""


# Like _LIST, keeping only jobs whose text (iid, status, hyperparameters as
# JSON) holds every word of ARGV[8] (ARGV[9]: the statuses in order). Walks the index in order, so it costs
# the number of jobs in scope, not a page; fine for tens of thousands.
_SEARCH = """
local p, scope, key, order = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local offset, limit, metric = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
local words = {}
for w in string.gmatch(string.lower(ARGV[8]), '%S+') do words[#words + 1] = w end
local total, out = 0, {}
local function scan_key(zkey, rev)
  local n, start = redis.call('ZCARD', zkey), 0
  while start < n do
    local ids
    if rev then ids = redis.call('ZRANGE', zkey, start, start + 499, 'REV')
    else ids = redis.call('ZRANGE', zkey, start, start + 499) end
    for _, iid in ipairs(ids) do
      local jk = p .. 'job:' .. iid
      local f = redis.call('HMGET', jk, 'status', 'hyper_params')
      local text = string.lower(iid .. ' ' .. (f[1] or '') .. ' ' .. (f[2] or ''))
      local hit = true
      for _, w in ipairs(words) do
        if not string.find(text, w, 1, true) then hit = false; break end
      end
      if hit then
        if total >= offset and #out < limit then out[#out + 1] = redis.call('HGETALL', jk) end
        total = total + 1
      end
    end
    start = start + 500
  end
end
if key == 'status' then
  for s in string.gmatch(ARGV[9], '%S+') do
    if scope == 'all' or scope == s then scan_key(p .. 'idx:' .. s .. ':created', true) end
  end
else
  scan_key(p .. 'idx:' .. scope .. ':' .. key, order == 'desc')
  if metric then scan_key(p .. 'idx:' .. scope .. ':pending', true) end
end
table.insert(out, 1, total)
return out
"""


_COUNT_SCOPES = [s.value for s in Status] + ["all"]


def _counts(sizes: Sequence[int]) -> dict[str, int]:
    counts = dict(zip(_COUNT_SCOPES, sizes))
    counts["total"] = counts.pop("all")
    return counts


def _page(reply: list[Any]) -> Page:
    """A _LIST / _SEARCH reply: the total, then each job's hash as a flat list."""
    total, *hashes = reply
    return Page([Job.from_hash(dict(zip(h[::2], h[1::2]))) for h in hashes if h], int(total))


class Store:
    """Jobs, their queue, metrics and indexes, on one Redis database."""

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX):
        if not prefix:
            raise ValueError("the key prefix must not be empty")
        self.redis = client
        self.prefix = prefix
        self._create = client.register_script(_CREATE)
        self._transition = client.register_script(_TRANSITION)
        self._claim = client.register_script(_CLAIM)
        self._cancel = client.register_script(_CANCEL)
        self._record_epoch = client.register_script(_RECORD_EPOCH)
        self._delete = client.register_script(_DELETE)
        self._list = client.register_script(_LIST)
        self._search = client.register_script(_SEARCH)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._reap = client.register_script(_REAP)
        self._register_worker = client.register_script(_REGISTER_WORKER)
        self._live_workers = client.register_script(_LIVE_WORKERS)
        # Checkpoints are bytes: read them through a client that does not decode.
        pool = client.connection_pool
        self._raw = redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class,
            **{**pool.connection_kwargs, "decode_responses": False}))

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX, **kwargs: Any) -> "Store":
        """A store on the server at `url` (redis://, rediss:// or unix://)."""
        options: dict[str, Any] = {
            # A short retry rides out a blip; a server that is down is reported
            # quickly (the API answers 503) instead of hanging requests.
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            "socket_connect_timeout": 2,
            "socket_timeout": 10,
            "health_check_interval": 30,
        }
        options.update(kwargs)
        return cls(redis.Redis.from_url(url, decode_responses=True, **options), prefix)

    # -- key names: the one block that spells them --------------------------
    def job_key(self, iid: str) -> str:
        return f"{self.prefix}job:{iid}"

    def epochs_key(self, iid: str) -> str:
        return f"{self.prefix}job:{iid}:epochs"

    def checkpoint_key(self, iid: str) -> str:
        return f"{self.prefix}job:{iid}:checkpoint"

    def worker_key(self, worker: str) -> str:
        return f"{self.prefix}worker:{worker}"

    @property
    def workers_key(self) -> str:
        return f"{self.prefix}workers"

    @property
    def queue_key(self) -> str:
        return f"{self.prefix}queue:requests"

    def index_key(self, scope: str, key: str) -> str:
        return f"{self.prefix}idx:{scope}:{key}"

    # -- writes --------------------------------------------------------------
    def create(self, params: HyperParams, now: float | None = None) -> str:
        """Record a new waiting job and queue it, in one step; returns its iid."""
        return self.create_many([params], now)[0]

    def create_many(self, params: Sequence[HyperParams], now: float | None = None,
                    retry_of: str | None = None) -> list[str]:
        """Record and queue several jobs atomically (a sweep goes in whole or not at all)."""
        iids = [uuid.uuid4().hex for _ in params]
        args: list[Any] = [self.prefix, _when(now), retry_of or ""]
        for iid, hp in zip(iids, params):
            args += [iid, json.dumps(hp.to_dict(), sort_keys=True), hp.num_epochs]
            args += [repr(float(score(hp))) for score in HYPER_KEYS.values()]
        if iids:
            self._create(args=args)
        return iids

    def claim(self, worker: str, lease: float = DEFAULT_LEASE,
              now: float | None = None) -> Claim | None:
        """Take the next waiting job and mark it running under a lease of `lease`
        seconds (renewed by heartbeat), or None if the queue is empty."""
        got = self._claim(args=[self.prefix, _when(now), worker, lease])
        if not got:
            return None
        iid, attempt, hyper_params = got
        return Claim(iid, int(attempt), HyperParams.parse(json.loads(hyper_params)))

    def cancel(self, iid: str, now: float | None = None) -> Status:
        """Cancel a waiting job now, or ask a running one to stop; returns its status."""
        result = self._cancel(args=[self.prefix, iid, _when(now)])
        self._check(result, iid, Status.CANCELLED)
        return Status(result[1])

    def finish(self, iid: str, attempt: int, status: Status, *, error: str | None = None,
               traceback: str | None = None, now: float | None = None) -> None:
        """End a running job as done, failed or cancelled (fenced by attempt)."""
        status = Status(status)
        if not status.terminal:
            raise ValueError(f"finish() takes a terminal status, not {status.value}")
        fields: list[Any] = []
        if error is not None:
            fields += ["error", error]
        if traceback is not None:
            fields += ["traceback", traceback]
        self._change(iid, (Status.RUNNING,), status, attempt, fields, now)

    def requeue(self, iid: str, attempt: int) -> None:
        """Put a running job back at the front of the queue; it resumes from its
        checkpoint. Not counted as a loss: the worker gave it back in order."""
        self._change(iid, (Status.RUNNING,), Status.WAITING, attempt, ["worker", ""])

    def set_run_info(self, iid: str, attempt: int, info: dict[str, Any]) -> None:
        """Record how a running job trains (`device`, `precision`), fenced by attempt."""
        fields: list[Any] = []
        for key in ("device", "precision"):
            if key in info:
                fields += [key, str(info[key])]
        self._change(iid, (Status.RUNNING,), Status.RUNNING, attempt, fields)

    def heartbeat(self, iid: str, attempt: int, lease: float = DEFAULT_LEASE, *,
                  progress: dict[str, Any] | None = None, now: float | None = None) -> bool:
        """Renew the lease of a running job (and store its progress); returns
        True when a user asked to cancel it. Raises StaleAttempt when another
        worker has taken the job over."""
        result = self._heartbeat(args=[self.prefix, iid, str(attempt), lease, _when(now),
                                       json.dumps(progress) if progress else ""])
        self._check(result, iid, Status.RUNNING, attempt)
        return result[1] == "1"

    def reap(self, max_lost: int = DEFAULT_MAX_LOST, now: float | None = None) -> dict[str, Status]:
        """Requeue (front) running jobs whose lease ran out; fail those lost
        `max_lost` times. Returns what happened to each."""
        out = self._reap(args=[self.prefix, _when(now), max_lost])
        return {iid: Status(status) for iid, status in zip(out[::2], out[1::2])}

    def checkpoint(self, iid: str) -> bytes | None:
        """The checkpoint of the job's last recorded epoch, if it has one."""
        return self._raw.get(self.checkpoint_key(iid))

    # -- workers ------------------------------------------------------------
    def register_worker(self, worker: str, info: dict[str, Any], ttl: float) -> None:
        """Say `worker` is alive for `ttl` seconds more, with what it runs."""
        self._register_worker(args=[self.prefix, worker, ttl,
                                    json.dumps(info, sort_keys=True)])

    def unregister_worker(self, worker: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(self.workers_key, worker)
        pipe.delete(self.worker_key(worker))
        pipe.execute()

    def live_workers(self) -> list[dict[str, Any]]:
        """Workers whose registration has not expired, sorted by id; one round trip."""
        return [json.loads(info) for info in self._live_workers(args=[self.prefix])]

    def record_epoch(self, iid: str, attempt: int, metrics: dict[str, float],
                     checkpoint: bytes | None = None) -> None:
        """Append one finished epoch, its checkpoint and the job's summary, atomically.

        `metrics` has the EPOCH_FIELDS; `epoch` must be the next one (1-based),
        so an epoch is recorded once even when a resumed worker repeats it.
        """
        missing = [f for f in EPOCH_FIELDS if f not in metrics]
        if missing:
            raise ValueError(f"epoch metrics lack {', '.join(missing)}")
        epoch = int(metrics["epoch"])
        args: list[Any] = [self.prefix, iid, str(attempt), epoch,
                           json.dumps({k: metrics[k] for k in EPOCH_FIELDS})]
        args += [repr(float(metrics[k])) for k in
                 ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "time_training")]
        args.append(checkpoint or "")
        result = self._record_epoch(args=args)
        if result[0] == "ORDER":
            raise EpochOutOfOrder(iid, epoch, int(result[1]))
        self._check(result, iid, Status.RUNNING, attempt)

    def retry(self, iid: str) -> str:
        """Queue a new job with the hyperparameters of a failed or cancelled one."""
        job = self.get(iid)
        if job.status not in (Status.FAILED, Status.CANCELLED):
            raise IllegalTransition(iid, job.status.value, "retried")
        return self.create_many([HyperParams.parse(job.hyper_params)], retry_of=iid)[0]

    def delete(self, iid: str) -> None:
        """Remove a finished job with its epochs; waiting and running jobs refuse."""
        self._check(self._delete(args=[self.prefix, iid]), iid, "deleted")

    # -- reads ----------------------------------------------------------------
    def get(self, iid: str) -> Job:
        h = self.redis.hgetall(self.job_key(iid))
        if not h:
            raise JobNotFound(iid)
        return Job.from_hash(h)

    def get_many(self, iids: Iterable[str]) -> list[Job]:
        """Jobs in the order asked, skipping unknown iids; one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for iid in iids:
            pipe.hgetall(self.job_key(iid))
        return [Job.from_hash(h) for h in pipe.execute() if h]

    def epochs(self, iid: str) -> list[dict[str, float]]:
        return [json.loads(e) for e in self.redis.lrange(self.epochs_key(iid), 0, -1)]

    def list_jobs(self, *, sort: str = "created", order: str | None = None,
                  status: Status | str | None = None, limit: int = 100,
                  offset: int = 0, text: str = "") -> Page:
        """One page of jobs sorted and filtered in Redis.

        Without `text` the cost grows with the page, not the total. With it,
        only jobs whose iid, status or hyperparameters hold every word count.
        """
        if sort not in LIST_SORTS:
            raise ValueError(f"sort must be one of {', '.join(LIST_SORTS)}")
        order = order or DEFAULT_ORDER[sort]
        if order not in ("asc", "desc"):
            raise ValueError("order must be asc or desc")
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        scope = Status(status).value if status else "all"
        if text.strip():
            *args, statuses = self._list_args(scope, sort, order, offset, limit)
            reply = self._search(args=[*args, text, statuses])
        else:
            reply = self._list(args=self._list_args(scope, sort, order, offset, limit))
        return _page(reply)

    def runs(self, iids: Sequence[str]) -> list[tuple[Job, list[dict[str, float]]]]:
        """Jobs with their epochs, in the order asked (unknown iids skipped); one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for iid in iids:
            pipe.hgetall(self.job_key(iid))
            pipe.lrange(self.epochs_key(iid), 0, -1)
        out = pipe.execute()
        return [(Job.from_hash(h), [json.loads(e) for e in epochs])
                for h, epochs in zip(out[::2], out[1::2]) if h]

    def overview(self, recent: int = 20) -> dict[str, Any]:
        """What the dashboard's header needs, in one round trip: counts per
        status, the running jobs (up to 100), the `recent` newest done jobs and
        the live workers."""
        pipe = self.redis.pipeline(transaction=False)
        self._queue_counts(pipe)
        for scope, limit in (("running", 100), ("done", recent)):
            self._list(args=self._list_args(scope, "created", "desc", 0, limit), client=pipe)
        self._live_workers(args=[self.prefix], client=pipe)
        *sizes, running, done, workers = pipe.execute()
        return {"counts": _counts(sizes), "running": _page(running).jobs,
                "recent_done": _page(done).jobs, "workers": [json.loads(w) for w in workers]}

    def counts(self) -> dict[str, int]:
        """Number of jobs per status, plus `total`."""
        pipe = self.redis.pipeline(transaction=False)
        self._queue_counts(pipe)
        return _counts(pipe.execute())

    def queue_length(self) -> int:
        return self.redis.llen(self.queue_key)

    def ping(self) -> bool:
        return bool(self.redis.ping())

    # -- helpers --------------------------------------------------------------
    def _list_args(self, scope: str, sort: str, order: str, offset: int,
                   limit: int) -> list[Any]:
        """The ARGV of _LIST (_SEARCH takes the same, with the text before the last)."""
        statuses = " ".join(STATUS_ORDER if order == "asc" else STATUS_ORDER[::-1])
        return [self.prefix, scope, sort, order, offset, limit,
                "1" if sort in METRIC_KEYS else "0", statuses]

    def _queue_counts(self, pipe: Any) -> None:
        """Queue one ZCARD per status and for all (read back with _counts)."""
        for scope in _COUNT_SCOPES:
            pipe.zcard(self.index_key(scope, "created"))

    def _change(self, iid: str, allowed: Iterable[Status], to: Status,
                attempt: int | None, fields: list[Any], now: float | None = None) -> None:
        args = [self.prefix, iid, " ".join(s.value for s in allowed), to.value,
                "" if attempt is None else str(attempt), _when(now), *fields]
        self._check(self._transition(args=args), iid, to, attempt)

    @staticmethod
    def _check(result: list[Any], iid: str, wanted: Any, attempt: int | None = None) -> None:
        code = result[0]
        if code == "OK":
            return
        if code == "NOTFOUND":
            raise JobNotFound(iid)
        if code == "STALE":
            raise StaleAttempt(iid, attempt if attempt is not None else -1)
        wanted = wanted.value if isinstance(wanted, Status) else str(wanted)
        raise IllegalTransition(iid, result[1], wanted)
