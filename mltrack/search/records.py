"""Searches as the API and the dashboard see them: create, read, list, cancel.

No Optuna here (the driver talks to Optuna): a record is read from the store
alone, its counts and best trial from its trials' job records.
"""
from __future__ import annotations

from typing import Any, Mapping

from mltrack.search.spec import check_spec
from mltrack.store import IllegalTransition, JobNotFound, Status, Store
from mltrack.store.searches import (CANCELLED, DONE, RUNNING, SearchNotFound, SearchStore,
                                    valid_id)
from mltrack.task import Schema


class SearchEnded(Exception):
    """A cancel of a search that is done already."""

    def __init__(self, search_id: str, status: str):
        super().__init__(f"search {search_id} is {status}; it cannot be cancelled")
        self.search_id, self.status = search_id, status


def create_search(store: Store, schemas: Mapping[str, Schema] | None,
                  body: Any) -> dict[str, Any]:
    """Check a search body (InvalidValue naming the field; nothing written
    then) and record the search; the driver queues its trials. Its record."""
    schemas = store.schemas() if schemas is None else schemas
    _, spec = check_spec(body, schemas, store.tracked_tasks())
    name = spec.pop("name")
    search_id = SearchStore(store).create(spec, name=name)
    return search_record(store, search_id)


_ENDED = ("done", "pruned", "failed", "cancelled")


def _best(jobs: list, objective: Mapping[str, str]) -> dict[str, Any] | None:
    metric, goal = objective["metric"], objective["goal"]
    done = [j for j in jobs if j.status is Status.DONE and metric in j.metrics]
    if not done:
        return None
    pick = max if goal == "max" else min
    best = pick(done, key=lambda j: j.metrics[metric])
    return {"iid": best.iid, "trial": best.trial, "value": best.metrics[metric],
            "hyper_params": best.hyper_params}


def _records(store: Store, ids: list[str]) -> list[dict[str, Any]]:
    """The records of these searches (unknown ids skipped), in a few round
    trips whatever their trials: a trial the driver has told Optuna about is
    counted from the search's own counts (lua/study_told.lua); only the
    others' jobs (those waiting or running, at most a tick behind) and the
    best trial's job are read. A search whose best trial's job was deleted
    reads its remaining jobs to find the next best (rare)."""
    searches = SearchStore(store)
    summaries = searches.summaries(ids)
    wanted: list[str] = []
    for s in summaries:
        s["open"] = [s["trials"][n] for n in sorted(s["trials"]) if n not in s["told"]]
        wanted += s["open"]
        if s["best"] is not None and s["best"][0] in s["trials"]:
            wanted.append(s["trials"][s["best"][0]])
    jobs = {j.iid: j for j in store.get_many(wanted)}
    out = []
    for s in summaries:
        kept = None
        if s["kept"] < len(s["trials"]):  # some trial jobs were deleted
            kept = searches.kept_iids(s["id"])
        out.append(_serialize(store, s, jobs, kept))
    if any(r["status"] == RUNNING for r in out):
        served = _served(store)
        for r in out:
            if r["status"] == RUNNING and r["task"] not in served:
                r["note"] = f"no worker runs task {r['task']}"  # as GET /tasks says
    return out


def _served(store: Store) -> set[str]:
    """The tasks some live worker runs (as api.workers_per_task counts them;
    a worker that does not list its tasks runs mnist)."""
    served: set[str] = set()
    for worker in store.live_workers():
        tasks = worker.get("tasks")
        if isinstance(tasks, list):
            served.update(t for t in tasks if isinstance(t, str))
        else:
            served.add("mnist")
    return served


def _serialize(store: Store, s: dict[str, Any], jobs: dict[str, Any],
               kept: set[str] | None) -> dict[str, Any]:
    spec, trials = s["spec"], s["trials"]
    counts = {st.value: 0 for st in Status}
    for how, n in s["counts"].items():
        if how in counts:
            counts[how] += n
    open_jobs = [jobs[i] for i in s["open"] if i in jobs]
    for job in open_jobs:
        counts[job.status.value] += 1
    # trials whose job was deleted (only an ended trial's job can be): they
    # ended, so they count as finished, and leave the iids (their job is gone)
    deleted = len(trials) - s["kept"]
    untold_deleted = sum(1 for i in s["open"] if i not in jobs and kept is not None
                         and i not in kept)
    gone = s["counts"].get("deleted", 0) + untold_deleted
    unqueued = s["counts"].get("unqueued", 0)
    finished = sum(counts[st.value] for st in Status if st.terminal) + gone + unqueued
    missing = sum(1 for i in s["open"] if i not in jobs) - untold_deleted
    best = _best(open_jobs, spec["objective"])
    if s["best"] is not None:
        number, value = s["best"]
        iid = trials.get(number)
        job = jobs.get(iid) if iid else None
        if job is None:  # the best trial's job was deleted: the best of those left
            best = _best(store.get_many(sorted(kept or ())), spec["objective"])
        elif best is None or (value > best["value"] if spec["objective"]["goal"] == "max"
                              else value < best["value"]):
            best = {"iid": iid, "trial": number, "value": value,
                    "hyper_params": job.hyper_params}
    iids = [trials[n] for n in sorted(trials)]
    if kept is not None:
        iids = [i for i in iids if i in kept]
    return {
        "id": s["id"], "name": s["name"], "task": spec["task"],
        "status": s["status"], "trials": spec["trials"],
        "started": len(trials), "finished": finished, "running": counts["running"],
        "waiting": counts["waiting"], "done": counts["done"], "pruned": counts["pruned"],
        "failed": counts["failed"], "cancelled": counts["cancelled"], "deleted": deleted,
        "unqueued": unqueued, "missing": missing,
        "space": spec["space"], "fixed": spec["fixed"], "sampler": spec["sampler"],
        "pruner": spec["pruner"], "parallel": spec["parallel"], "seed": spec.get("seed"),
        "objective": spec["objective"], "best": best, "iids": iids,
        "created": s["created"], "ended": s["finished"],
        "note": None,  # `no worker runs task X` while running and no worker does
    }


def search_record(store: Store, search_id: str) -> dict[str, Any]:
    """The search's record with its trials' counts, best and iids (trial order);
    SearchNotFound for an unknown id."""
    records = _records(store, [search_id]) if valid_id(search_id) else []
    if not records:
        raise SearchNotFound(str(search_id))
    return records[0]


def list_searches(store: Store, limit: int | None = None) -> list[dict[str, Any]]:
    """Every search's record, newest first."""
    return _records(store, SearchStore(store).ids(limit))


def cancel_search(store: Store, search_id: str) -> dict[str, Any]:
    """No new trials; its waiting trials cancelled, its running ones asked to
    stop (as any job's cancel). Safe to repeat; SearchEnded for a done search."""
    searches = SearchStore(store)
    record = searches.get(search_id)
    if record["status"] == DONE:
        raise SearchEnded(search_id, DONE)
    if not searches.set_status(search_id, CANCELLED, only_from=RUNNING):
        status = searches.get(search_id)["status"]
        if status == DONE:
            raise SearchEnded(search_id, DONE)
    for iid in searches.trials(search_id).values():
        try:
            store.cancel(iid)
        except (IllegalTransition, JobNotFound):
            pass  # ended already, or not created yet (the driver cancels it then)
    return search_record(store, search_id)


__all__ = ["SearchEnded", "SearchNotFound", "cancel_search", "create_search",
           "list_searches", "search_record"]
