"""Searches as the API and the dashboard see them: create, read, list, cancel.

No Optuna here (the driver talks to Optuna): a record is read from the store
alone, its counts and best trial from its trials' job records.
"""
from __future__ import annotations

from typing import Any, Mapping

from mltrack.search.spec import check_spec
from mltrack.store import IllegalTransition, JobNotFound, Status, Store
from mltrack.store.searches import CANCELLED, DONE, RUNNING, SearchNotFound, SearchStore
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


def _best(jobs: list, objective: Mapping[str, str]) -> dict[str, Any] | None:
    metric, goal = objective["metric"], objective["goal"]
    done = [j for j in jobs if j.status is Status.DONE and metric in j.metrics]
    if not done:
        return None
    pick = max if goal == "max" else min
    best = pick(done, key=lambda j: j.metrics[metric])
    return {"iid": best.iid, "trial": best.trial, "value": best.metrics[metric],
            "hyper_params": best.hyper_params}


def _serialize(record: dict[str, Any], trials: dict[int, str], jobs: list) -> dict[str, Any]:
    spec = record["spec"]
    counts = {s.value: 0 for s in Status}
    for job in jobs:
        counts[job.status.value] += 1
    gone = len(trials) - len(jobs)  # deleted trial jobs (or not created yet)
    finished = sum(counts[s.value] for s in Status if s.terminal)
    return {
        "id": record["id"], "name": record["name"], "task": spec["task"],
        "status": record["status"], "trials": spec["trials"],
        "started": len(trials), "finished": finished, "running": counts["running"],
        "waiting": counts["waiting"], "done": counts["done"], "pruned": counts["pruned"],
        "failed": counts["failed"], "cancelled": counts["cancelled"], "missing": gone,
        "space": spec["space"], "fixed": spec["fixed"], "sampler": spec["sampler"],
        "pruner": spec["pruner"], "parallel": spec["parallel"], "seed": spec.get("seed"),
        "objective": spec["objective"], "best": _best(jobs, spec["objective"]),
        "iids": [trials[n] for n in sorted(trials)],
        "created": record["created"], "ended": record["finished"],
    }


def search_record(store: Store, search_id: str) -> dict[str, Any]:
    """The search's record with its trials' counts, best and iids (trial order);
    SearchNotFound for an unknown id."""
    searches = SearchStore(store)
    record = searches.get(search_id)
    trials = searches.trials(search_id)
    jobs = store.get_many(trials[n] for n in sorted(trials))
    return _serialize(record, trials, jobs)


def list_searches(store: Store, limit: int | None = None) -> list[dict[str, Any]]:
    """Every search's record, newest first."""
    searches = SearchStore(store)
    return [search_record(store, r["id"]) for r in searches.get_many(searches.ids(limit))]


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
