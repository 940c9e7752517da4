"""Searches in the store: their records, which job runs which trial, the driver's lock.

Layout under the store's key prefix (beside the jobs' keys; see redis_store.py)::

    searches                  sorted set: search ids by creation time
    searches:active           set: searches a driver still has work for (asks or tells)
    search:<id>               hash: the search's record (its spec as JSON, status, times)
    search:<id>:trials        hash: Optuna trial number -> the iid of the job that runs it
                              (a reservation: see lua/study_reserve.lua)
    search:<id>:told          hash: trial number -> how it ended (its job's status, or
                              deleted / unqueued), noted once when the driver tells Optuna;
                              with the counts `n:<status>` and `best_value`/`best_trial` in
                              search:<id> (lua/study_told.lua), so a record reads counts,
                              not every trial's job
    search:<id>:jobs          set: those iids (the `search` filter of listings)
    search:<id>:lock          string: the token of the driver that drives it, with expiry
    search:<id>:optuna:*      the Optuna study's journal (optuna.storages.journal)

A trial's job has the iid `trial_iid(search, number)`: the same trial always
makes the same job, so a job created twice (a driver that crashed between
the two steps and one that takes over) is created once (create.lua answers
EXISTS and changes nothing). A job record of a trial carries `search` and
`trial` (lua/study_link.lua).

Nothing here imports Optuna; `mltrack.search` does.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any, Iterable

from redis.exceptions import WatchError

from mltrack.store.redis_store import Store

RUNNING, DONE, CANCELLED = "running", "done", "cancelled"
_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex: nothing else can name a search's keys


def valid_id(search_id: object) -> bool:
    """Whether `search_id` has a search id's shape (32 hex digits); anything
    else (`<id>:jobs`, `<id>:lock`) would name another of its Redis keys."""
    return isinstance(search_id, str) and _ID.fullmatch(search_id) is not None
SEARCH_STATUSES = (RUNNING, DONE, CANCELLED)


class SearchNotFound(LookupError):
    def __init__(self, search_id: str):
        super().__init__(f"no search {search_id[:80]!r}")
        self.search_id = search_id


def trial_iid(search_id: str, number: int) -> str:
    """The iid of the job that runs trial `number` of a search (32 hex digits,
    like any iid): made from the two, so every driver makes the same one."""
    return hashlib.sha256(f"{search_id}:{int(number)}".encode()).hexdigest()[:32]


class SearchStore:
    """The search records of one store (same Redis, same key prefix)."""

    def __init__(self, store: Store):
        self.store = store
        self.redis = store.redis
        self.prefix = store.prefix
        self.index = f"{self.prefix}searches"
        self.active = f"{self.prefix}searches:active"

    # -- keys ------------------------------------------------------------------
    def key(self, search_id: str, part: str = "") -> str:
        return f"{self.prefix}search:{search_id}" + (f":{part}" if part else "")

    def journal_prefix(self, search_id: str) -> str:
        """Where the Optuna journal of the search lives (its keys are this + ':log:N')."""
        return self.key(search_id, "optuna")

    def jobs_key(self, search_id: str) -> str:
        """The set of the search's trial iids (a listing's `search` filter reads it)."""
        return self.store.keys.search_jobs(search_id)

    # -- records -----------------------------------------------------------------
    def create(self, spec: dict[str, Any], name: str = "", now: float | None = None) -> str:
        """Record a new running search with its checked `spec`; returns its id."""
        search_id = uuid.uuid4().hex
        created = time.time() if now is None else now
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key(search_id), mapping={
            "id": search_id, "name": name, "status": RUNNING, "created": repr(created),
            "spec": json.dumps(spec, sort_keys=True, allow_nan=False)})
        pipe.zadd(self.index, {search_id: created})
        pipe.sadd(self.active, search_id)
        pipe.execute()
        return search_id

    def get(self, search_id: str) -> dict[str, Any]:
        """The record: id, name, status, created, finished (or None), spec (a dict)."""
        h = self.redis.hgetall(self.key(search_id)) if valid_id(search_id) else {}
        if not h or "spec" not in h:
            raise SearchNotFound(str(search_id))
        return _record(h)

    def get_many(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        pipe = self.redis.pipeline(transaction=False)
        ids = list(ids)
        for search_id in ids:
            pipe.hgetall(self.key(search_id))
        return [_record(h) for h in pipe.execute() if h and "spec" in h]

    def summaries(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """For each existing search of `ids`: its record plus what its record's
        counts need, in one round trip: `trials` (number -> iid), `told`
        (number -> how it ended), `counts` (`n:<status>` of the told ones),
        `best` ((trial, value) of the best told one, or None) and `kept` (how
        many of its trials' jobs were not deleted)."""
        ids = [i for i in ids if valid_id(i)]
        pipe = self.redis.pipeline(transaction=False)
        for search_id in ids:
            pipe.hgetall(self.key(search_id))
            pipe.hgetall(self.key(search_id, "trials"))
            pipe.hgetall(self.key(search_id, "told"))
            pipe.scard(self.jobs_key(search_id))
        answers = pipe.execute()
        out = []
        for at in range(0, len(answers), 4):
            h, trials, told, kept = answers[at:at + 4]
            if not h or "spec" not in h:
                continue
            record = _record(h)
            record["trials"] = {int(n): iid for n, iid in trials.items()}
            record["told"] = {int(n): how for n, how in told.items()}
            record["counts"] = {k[2:]: int(v) for k, v in h.items() if k.startswith("n:")}
            record["best"] = ((int(h["best_trial"]), float(h["best_value"]))
                              if h.get("best_trial") else None)
            record["kept"] = int(kept)
            out.append(record)
        return out

    def kept_iids(self, search_id: str) -> set[str]:
        """The iids of the search's trial jobs that were not deleted."""
        return set(self.redis.smembers(self.jobs_key(search_id)))

    def ids(self, limit: int | None = None) -> list[str]:
        """Search ids, newest first."""
        return self.redis.zrevrange(self.index, 0, -1 if limit is None else limit - 1)

    def exists(self, search_id: str) -> bool:
        return bool(self.redis.exists(self.key(search_id)))

    def set_status(self, search_id: str, status: str, *, only_from: str = RUNNING) -> bool:
        """Move a search from `only_from` to `status` (done or cancelled); False
        if it was not in `only_from` (a cancel and the driver's end racing)."""
        if status not in SEARCH_STATUSES:
            raise ValueError(f"a search's status is one of {', '.join(SEARCH_STATUSES)}")
        key = self.key(search_id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    if pipe.hget(key, "status") != only_from:
                        return False
                    pipe.multi()
                    pipe.hset(key, mapping={"status": status, "finished": repr(time.time())})
                    pipe.execute()
                    return True
                except WatchError:  # changed meanwhile: read it again
                    continue

    # -- trials --------------------------------------------------------------------
    def trials(self, search_id: str) -> dict[int, str]:
        """Trial number -> iid of every reserved trial."""
        return {int(n): iid for n, iid in self.redis.hgetall(self.key(search_id, "trials")).items()}

    def reserve(self, search_id: str, number: int, token: str, cap: int) -> tuple[str, str | None]:
        """Reserve trial `number` for its job (see lua/study_reserve.lua):
        ('OK', iid), ('FULL', None), ('LOCK', None) or ('STOPPED', status)."""
        out = self.store._run("study_reserve", search_id, int(number),
                              trial_iid(search_id, number), token, int(cap))
        return out[0], (out[1] if len(out) > 1 else None)

    def told(self, search_id: str, number: int, how: str, value: float | None,
             goal: str) -> bool:
        """Note once how trial `number` ended (its job's status, `deleted` or
        `unqueued`) and its objective `value` (lua/study_told.lua); False if
        it was noted already."""
        return bool(self.store._run("study_told", search_id, int(number), how,
                                    "" if value is None else repr(float(value)), goal))

    def link(self, search_id: str, iid: str, number: int) -> bool:
        """Write `search` and `trial` on the job record; False if there is no such job."""
        return bool(self.store._run("study_link", search_id, iid, int(number)))

    def deleted(self, iids: Iterable[str]) -> set[str]:
        """The iids among `iids` that were deleted (their tombstone is there, a day)."""
        iids = list(iids)
        pipe = self.redis.pipeline(transaction=False)
        for iid in iids:
            pipe.exists(self.store.keys.tombstone(iid))
        return {iid for iid, gone in zip(iids, pipe.execute()) if gone}

    def job_states(self, iids: Iterable[str], metric: str
                   ) -> dict[str, tuple[str, float | None, bool]]:
        """iid -> (status, last value of `metric` or None, whether the job is
        linked to its search) for the jobs that exist; one round trip."""
        iids = list(iids)
        pipe = self.redis.pipeline(transaction=False)
        for iid in iids:
            pipe.hmget(self.store.keys.job(iid), "status", f"m:{metric}", "search")
        out = {}
        for iid, (status, value, search) in zip(iids, pipe.execute()):
            if status is not None:
                out[iid] = (status, None if value in (None, "") else float(value), bool(search))
        return out

    # -- the driver's view -------------------------------------------------------------
    def active_ids(self) -> list[str]:
        return sorted(self.redis.smembers(self.active))

    def deactivate(self, search_id: str) -> None:
        self.redis.srem(self.active, search_id)

    def lock(self, search_id: str, token: str, seconds: float) -> bool:
        """Take or renew the search's driver lock (expiring after `seconds`)."""
        return bool(self.store._run("study_lock", search_id, token, max(1, int(seconds * 1000))))

    def unlock(self, search_id: str, token: str) -> None:
        self.store._run("study_lock", search_id, token, 0)

    def job_search(self, iid: str) -> tuple[str, int] | None:
        """(search id, trial number) of a trial's job, or None for any other job."""
        search_id, trial = self.redis.hmget(self.store.keys.job(iid), "search", "trial")
        if not search_id or trial in (None, ""):
            return None
        return search_id, int(trial)


def _record(h: dict[str, str]) -> dict[str, Any]:
    return {"id": h["id"], "name": h.get("name") or "", "status": h.get("status", RUNNING),
            "created": float(h["created"]),
            "finished": float(h["finished"]) if h.get("finished") else None,
            "spec": json.loads(h["spec"])}
