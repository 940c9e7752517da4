"""GET /analysis: which hyperparameters matter among the runs a script picks
with the listing's filters (task, status, q, tag, search), for notebooks and
the CLI as the dashboard's analysis panel shows it. The work is
`mltrack.analysis`'s; this reads the runs, picks the objective and answers."""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from mltrack import analysis
from mltrack.api import known_task, single_args
from mltrack.api_spec import MAX_PAGE, ROUTES, BadRequest, listed, query_args
from mltrack.store import Job, Store, annotations

MAX_RUNS = 10_000  # the newest matching done runs read, as the dashboard's panel


def _search_task(store: Store, search_id: str) -> tuple[str, str | None]:
    """(the search's task, its objective metric); BadRequest naming `search`."""
    from mltrack.search import SearchNotFound, search_record

    try:
        record = search_record(store, search_id)
    except SearchNotFound:
        raise BadRequest("search", f"no search with id {search_id[:80]!r}") from None
    return record["task"], (record.get("objective") or {}).get("metric")


def _runs(store: Store, where: dict[str, Any]) -> tuple[list[Job], int, bool]:
    """(the newest MAX_RUNS jobs `where` picks, done ones unless a status is
    given; how many it picks in any status; whether it was capped)."""
    matching = store.list_jobs(**where, limit=0).total
    picked = {**where, "status": where["status"] or "done"}
    jobs: list[Job] = []
    while True:
        page = store.list_jobs(**picked, sort="created", order="desc", offset=len(jobs),
                               limit=min(MAX_PAGE, MAX_RUNS - len(jobs)))
        jobs += page.jobs
        if len(page.jobs) < MAX_PAGE or len(jobs) >= MAX_RUNS:
            return jobs, matching, page.total > MAX_RUNS  # more than were read


def analyse(store: Store, query: dict[str, Any], tags: list[str]) -> dict[str, Any]:
    """The /analysis answer for checked query parameters (see its Route)."""
    schemas = store.schemas()
    named = query["task"] or None
    if named is not None and named not in schemas and named in store.task_entries():
        # a task scripts track, none of whose runs has logged a metric yet
        raise BadRequest("task", f"task {named} has no metric recorded yet: nothing to "
                                 "analyse until its runs log one")
    task = known_task(named, schemas)
    search, objective_metric = query["search"] or None, None
    if search is not None:
        search_task, objective_metric = _search_task(store, search)
        if task is not None and task != search_task:  # they could only pick nothing
            raise BadRequest("task", f"search {search[:80]} is a search of task {search_task}, "
                                     f"not {task}: leave task out, or give {search_task}")
        task = search_task
    if task is None:
        raise BadRequest("task", "give a task (or a search): the analysis compares the runs "
                                 f"of one task (known: {listed(sorted(schemas))})")
    schema = schemas[task]
    metric = query["metric"] or None
    if metric is not None and metric not in schema.goals:
        raise BadRequest("metric", f"task {task} has no metric {metric[:80]!r} (it has: "
                                   f"{listed(list(schema.goals))})")
    objective = analysis.objective_of(schema, metric or objective_metric)
    where = {"task": task, "status": query["status"] or None, "text": (query["q"] or "")[:200],
             "tags": tags, "search": search}
    jobs, matching, capped = _runs(store, where)
    runs = analysis.run_set(jobs, schema, objective)
    shares = analysis.importances(runs, query["evaluator"])
    best = None
    if runs.points:
        pick = min if objective.goal == "min" else max
        top = pick(runs.points, key=lambda p: p.value)
        best = {"iid": top.iid, "value": top.value,
                "hyper_params": next(j.hyper_params for j in jobs if j.iid == top.iid)}
    return {
        "task": task, "metric": objective.metric, "goal": objective.goal,
        "evaluator": query["evaluator"], "matching": matching, "runs": len(runs.points),
        "left_out": matching - len(runs.points), "capped": capped,
        "importance": [{"name": name, "share": share} for name, share in shares.items()],
        "fixed": runs.fixed, "best": best, "message": analysis.too_few_text(runs),
        "caution": analysis.caution(runs),
    }


def register_analysis_api(server: Flask, store: Store) -> None:
    """Mount GET /analysis on `server`."""

    @server.get("/analysis")
    def analysis_route():
        query = query_args(ROUTES["analysis"].query, single_args())
        tags = annotations.tag_filter(request.args.getlist("tag"))
        return jsonify(analyse(store, query, tags))
