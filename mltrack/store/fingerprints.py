""""Already ran?": the jobs of a task with the same hyperparameters, found in O(1).

A job's fingerprint is the SHA-1 of its task's name and its hyperparameters
as stored: filled with the task's defaults (seed included) and written as
canonical JSON (sorted keys), so `{}` and every default spelled out are the
same job, and `"seed": 1` is another. `create.lua` adds every queued job to
the set of its fingerprint (`fp:<sha1>`), `delete.lua` removes it. Jobs
recorded before the index existed are added once, by the first lookup
(`index_old_jobs`, as the text index does with `_index_old_jobs`); a
database that starts with this version has them all from the start.
Tracked runs (scripts, POST /runs) are not in it: nothing queues them.

Which match answers "skip" (`existing`): a job that has or will have a
result, done first (the newest), else running, else waiting; failed,
cancelled and pruned jobs never do (running it again is what the user
wants then), so with only those a new job is queued. `create_missing` looks
and creates in one step: it WATCHes the fingerprints' sets, so two identical
requests at the same moment queue one job (the second sees the first's).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Sequence

import redis

from mltrack.store.model import Job, Status

STRETCH = 500  # jobs one indexing call reads
# what answers if_exists=skip, in order of preference (within each, the newest)
REUSABLE = (Status.DONE, Status.RUNNING, Status.WAITING)


def fingerprint(task: str, hyper_params: Mapping[str, Any]) -> str:
    """The digest create.lua computes from the stored JSON (same bytes, same SHA-1)."""
    text = f"{task}\n{json.dumps(dict(hyper_params), sort_keys=True)}"
    return hashlib.sha1(text.encode()).hexdigest()


def index_old_jobs(store: Any) -> None:
    """Put the jobs recorded before the fingerprint index into it, once."""
    if store.redis.exists(store.keys.fp_indexed):
        return
    start = 0
    while True:
        iids = store.redis.zrange(store.keys.index("all", "created"), start, start + STRETCH - 1)
        if not iids:
            break
        store._run("index_fingerprints", *iids)
        start += STRETCH
    store.redis.set(store.keys.fp_indexed, "1")


def same_jobs(store: Any, task: str, hyper_params: Mapping[str, Any]) -> list[Job]:
    """The jobs of `task` whose hyperparameters are `hyper_params` (checked
    and filled by the task's schema), newest first. One set read and one
    read of the matches, whatever the number of jobs."""
    index_old_jobs(store)
    iids = store.redis.smembers(store.keys.fingerprint(fingerprint(task, hyper_params)))
    wanted = dict(hyper_params)
    jobs = [j for j in store.get_many(sorted(iids))
            if j.task == task and j.hyper_params == wanted and not j.tracked]
    return sorted(jobs, key=lambda j: j.created, reverse=True)


def existing(jobs: Sequence[Job]) -> Job | None:
    """The match that if_exists=skip answers with (see the module's docstring)."""
    for status in REUSABLE:
        for job in jobs:  # newest first
            if job.status is status:
                return job
    return None


def create_missing(store: Any, schema: Any, jobs: Sequence[Mapping[str, Any]]
                   ) -> list[tuple[str, Job | None]]:
    """For each of `jobs` (checked hyperparameters of `schema`'s task): the
    existing job `existing` picks, or a new job queued in one batch with the
    others missing; (iid, the existing Job or None), in order. Atomic against
    another create or delete of the same hyperparameters (optimistic: the
    fingerprints' sets are watched, and a change meanwhile starts it again)."""
    index_old_jobs(store)
    keys = list(dict.fromkeys(store.keys.fingerprint(fingerprint(schema.name, p))
                              for p in jobs))
    with store.redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(*keys)
                found = [existing(same_jobs(store, schema.name, p)) for p in jobs]
                missing = [p for p, f in zip(jobs, found) if f is None]
                pipe.multi()
                created = store.create_many(missing, schema=schema, client=pipe)
                pipe.execute()
                if created:
                    store.queued(created)
                new = iter(created)
                return [(f.iid, f) if f is not None else (next(new), None) for f in found]
            except redis.WatchError:
                continue
