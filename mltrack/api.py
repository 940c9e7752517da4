"""The REST API: routes as closures over the injected store, JSON in and out."""
from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from typing import Any, Iterable, Mapping

import redis
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, NotFound

from mltrack import __version__, tracking
from mltrack.api_spec import (DEFAULT_PAGE, MAX_OFFSET, MAX_PAGE, ROUTES, BadRequest, Route,
                              check_body, listed, query_args)
from mltrack.export import csv_response
from mltrack.jsonio import strict_loads
from mltrack.openapi import document
from mltrack.params import MNIST
from mltrack.store import annotations, fingerprints
from mltrack.store import (EpochOutOfOrder, IllegalTransition, InvalidValue, Job, JobDeleted,
                           JobNotFound, SortKey, StaleAttempt, Status, Store, TaskInUse,
                           TaskNotFound, WrongToken)
from mltrack.task import InvalidParams, Schema, json_type

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_PAGE", "MAX_OFFSET", "MAX_PAGE", "BadRequest", "register_api"]
_IID = re.compile(r"[0-9a-f]{32}")
DEFAULT_LEASE = ROUTES["start_run"].body["properties"]["lease"]["default"]  # tracked runs


# -- serializers: records -> JSON-ready dicts, no Flask needed ----------------
def iso_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def serialize_job(job: Job, schemas: Mapping[str, Schema] | None = None) -> dict[str, Any]:
    """A job as a listing shows it: record, hyperparameters and summary metrics
    (each metric its task declares, null until it has a value)."""
    out: dict[str, Any] = {
        "iid": job.iid,
        "status": job.status.value,
        "hyper_params": job.hyper_params,
        "time_added": iso_time(job.created),
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "attempts": job.attempts,
        "epochs_done": job.epochs_done,
        "num_epochs": job.num_epochs,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "worker": job.worker,
        "device": job.device,
        "precision": job.precision,
        "progress": job.progress if job.status is Status.RUNNING else None,
        "retry_of": job.retry_of,
        "tracked": job.tracked,
        "search": job.search,  # a search's trial: its search id and Optuna trial number
        "trial": job.trial,
        "tags": job.tags,  # runmeta
        "note": job.note,
    }
    out["task"] = job.task
    out["runtime"] = job.runtime
    schema = (schemas or {}).get(job.task)
    metric_keys = set()
    for metric in schema.metrics if schema else ():
        if metric.name not in out:
            out[metric.name] = out[f"best_{metric.name}"] = None
            metric_keys |= {metric.name, f"best_{metric.name}"}
    # each metric's last value, and best_<metric>; never over a record field (a
    # metric stored before its name was reserved, or a worker's declared one)
    record = set(out)
    out.update({k: v for k, v in job.summary().items() if k not in record or k in metric_keys})
    return out


def epochs_as_columns(epochs: list[dict[str, float]]) -> dict[str, list[float]]:
    """The seed's `in_update` form: one list per metric, one entry per epoch
    (None where an epoch lacks a metric that others have)."""
    names = dict.fromkeys(["epoch", *(k for e in epochs for k in e if k != "time_training"),
                           "time_training"])
    return {name: [e.get(name) for e in epochs] for name in names}


def serialize_status(job: Job, epochs: list[dict[str, float]],
                     schemas: Mapping[str, Schema] | None = None) -> dict[str, Any]:
    out = serialize_job(job, schemas)
    out["traceback"] = job.traceback
    out["in_update"] = epochs_as_columns(epochs)
    return out


# -- request parsing ------------------------------------------------------------
def _json_object() -> dict[str, Any]:
    try:
        body = strict_loads(request.get_data(cache=True))
    except ValueError as exc:  # UnicodeDecodeError included
        raise BadRequest("body", f"is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object")
    return body


def body_of(route: Route) -> dict[str, Any]:
    """The request's JSON body checked against `route`'s declared body
    (an optional body may be left out: then {})."""
    if not route.body_required and not request.get_data(cache=True):
        return {}
    body = _json_object()
    check_body(route.body or {}, body)
    return body


def task_schema(body: Mapping[str, Any], schemas: Mapping[str, Schema],
                tracked: Iterable[str] = ()) -> Schema:
    """The schema of the task a body names (`"task"`; none: the built-in mnist).
    A task only tracked scripts report to has no worker: nothing is queued for it."""
    name = body.get("task", MNIST.name)
    if not isinstance(name, str):
        raise BadRequest("task", f"must be a task's name, got {json_type(name)}")
    if name in tracked:  # with a metric yet or not
        raise BadRequest("task", f"task {name} is tracked from scripts (POST /runs); no worker "
                                 "runs it, so nothing can be queued for it")
    schema = schemas.get(name)
    if schema is None:
        shown = name if len(name) <= 80 else name[:80] + "…"
        raise BadRequest("task", f"no task {shown!r} (known: {listed(sorted(schemas))})")
    return schema


def parse_train_body(body: dict[str, Any], schemas: Mapping[str, Schema],
                     tracked: Iterable[str] = ()) -> tuple[Schema, dict[str, Any]]:
    """`{"task": name, "hyper_params": {...}}` -> (the task's schema, checked
    hyperparameters). Without `task` the job is mnist's; without `hyper_params`
    the other fields are the hyperparameters (the seed frontend's bare form).
    `task` is a name no hyperparameter may take, so both forms read it."""
    schema = task_schema(body, schemas, tracked)
    rest = {k: v for k, v in body.items() if k != "task"}
    if "hyper_params" not in rest:
        return schema, schema.parse(rest)
    extra = sorted(k for k in rest if k != "hyper_params")
    if extra:
        raise BadRequest(extra[0], 'unknown field; the body is {"task": "name", '
                                   '"hyper_params": {...}}')
    return schema, schema.parse(rest["hyper_params"])


def parse_sweep_body(body: dict[str, Any], schemas: Mapping[str, Schema],
                     tracked: Iterable[str] = ()) -> tuple[Schema, list[dict[str, Any]]]:
    """`{"task": name, "hyper_params": {...}, "sweep": {name: [values]}}` ->
    (schema, every combination checked)."""
    extra = sorted(k for k in body if k not in ("task", "hyper_params", "sweep"))
    if extra:
        raise BadRequest(extra[0], 'unknown field; the body is {"task": "name", '
                                   '"hyper_params": {...}, "sweep": {"name": [values...]}}')
    schema = task_schema(body, schemas, tracked)
    return schema, schema.expand_sweep(body.get("hyper_params"), body.get("sweep"))


# -- tasks and the workers that run them ----------------------------------------
def worker_tasks(worker: Mapping[str, Any]) -> list[str]:
    """The tasks a live worker says it runs (`info["tasks"]`); a worker that
    does not say is one of before tasks existed, which ran MNIST only."""
    tasks = worker.get("tasks")
    if not isinstance(tasks, list):
        return [MNIST.name]
    return [t for t in tasks if isinstance(t, str)]


def workers_per_task(workers: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for worker in workers:
        for task in set(worker_tasks(worker)):
            counts[task] = counts.get(task, 0) + 1
    return counts


def unserved_tasks(waiting_by_task: Mapping[str, int],
                   workers: Iterable[Mapping[str, Any]]) -> list[str]:
    """Tasks with waiting jobs that no live worker runs, by name."""
    served = workers_per_task(workers)
    return sorted(t for t, n in waiting_by_task.items() if n and not served.get(t))


def no_worker_note(task: str) -> str:
    return f"no worker runs task {task}"


def describe_tasks(schemas: Mapping[str, Schema], workers: list[Mapping[str, Any]],
                   waiting_by_task: Mapping[str, int],
                   tracked: Iterable[str] = (),
                   unschemaed: Mapping[str, Mapping[str, Any]] | None = None
                   ) -> list[dict[str, Any]]:
    """GET /tasks: each task's schema with its live workers and waiting jobs;
    `note` says when jobs wait that no live worker can run; `tracked` whether
    its schema comes from tracked scripts (POST /runs). `unschemaed`: tracked
    tasks with no metric yet (no Schema), as their registry entries."""
    served = workers_per_task(workers)
    tracked = set(tracked)
    shown = {name: schema.to_dict() for name, schema in schemas.items()}
    shown.update((name, dict(entry)) for name, entry in (unschemaed or {}).items()
                 if name not in shown)
    out = []
    for name in sorted(shown):
        waiting = int(waiting_by_task.get(name, 0))
        count = served.get(name, 0)
        out.append({**shown[name], "workers": count, "waiting": waiting,
                    "note": no_worker_note(name) if waiting and not count else None,
                    "tracked": name in tracked})
    return out


def parse_list_args(args: Mapping[str, str], sorts: Mapping[str, SortKey],
                    tasks: Iterable[str], declared: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
    """Validate /experiments query parameters (as `declared`, by default the
    listing's) into store.list_jobs arguments; `sorts` are the sort names the
    listing takes, `tasks` the known tasks."""
    query = query_args(declared or ROUTES["experiments"].query, args)
    task = known_task(query["task"] or None, tasks)
    sort = query["sort"]
    if sort not in sorts:
        raise BadRequest("sort", f"must be one of {listed(sorts)}; got {sort[:80]!r}")
    return {
        "sort": sort,
        "order": query["order"] or sorts[sort].default_order,
        "status": query["status"] or None,
        "task": task,
        "limit": query["limit"],
        "offset": query["offset"],
        "text": (query["q"] or "")[:200],
        "search": query.get("search") or None,  # search: its trials only
    }


def known_task(task: str | None, tasks: Iterable[str]) -> str | None:
    """`task` if it is one of `tasks` (or None), else BadRequest naming `task`."""
    if task is not None and task not in tasks:
        raise BadRequest("task", f"no task {task[:80]!r} (known: {listed(sorted(tasks))})")
    return task


def single_args() -> dict[str, str]:
    """The request's query parameters; one given twice is refused, not read as
    its first value (but `tag`: tag=a&tag=b means both)."""
    twice = sorted(k for k in request.args if len(request.args.getlist(k)) > 1 and k != "tag")
    if twice:
        raise BadRequest(twice[0][:80], "given more than once; give it once")
    return request.args.to_dict()


def is_iid(text: object) -> bool:
    """Whether `text` has an iid's shape: 32 lowercase hex digits, nothing more."""
    return isinstance(text, str) and _IID.fullmatch(text) is not None


def _known_iid(iid: str) -> str:
    # Anything that is not an iid's shape cannot name a job: 404 without a lookup.
    if not is_iid(iid):
        raise JobNotFound(iid)
    return iid


def run_stopped_message(job: Job | None) -> str:
    """Why a tracked run takes no more writes, in the words its script shows
    (the client raises it as the run's stop reason)."""
    if job is None:
        return "the run was deleted; stop training"
    if job.status is Status.CANCELLED:
        return "the run was cancelled (in the dashboard or with the API); stop training"
    if job.status is Status.FAILED and (job.error or "").startswith("lost: "):
        return f"the run was failed as {job.error}; stop training"
    if job.status is Status.FAILED:
        return f"the run has ended already, as failed: {(job.error or '')[:200]}".rstrip(": ")
    return f"the run has ended already, as {job.status.value}"


def error(code: int, message: str, **extra: Any):
    return jsonify(error=message, **extra), code


def register_api(server: Flask, store: Store) -> None:
    """Mount the REST API on `server`; every route reads and writes `store`.
    Each route's query and body rules are its declaration in api_spec.ROUTES."""

    def listing_query(declared: Mapping[str, Any]) -> dict[str, Any]:
        args = single_args()
        tasks = {*store.schemas(), *store.tracked_tasks()}
        query = parse_list_args(args, store.sort_keys(args["task"] if args.get("task") in tasks
                                                      else None), tasks, declared)
        query["tags"] = annotations.tag_filter(request.args.getlist("tag"))  # runmeta
        return query

    @server.post("/train")
    def train():
        body = body_of(ROUTES["train"])
        skip = body.pop("if_exists", "run") == "skip"  # runmeta: "already ran?"
        schema, params = parse_train_body(body, store.schemas(), store.tracked_tasks())
        if skip:  # look and create in one step
            ((iid, found),) = fingerprints.create_missing(store, schema, [params])
        else:
            iid, found = store.create(params, schema=schema), None
        if found is not None:
            return jsonify(iid=found.iid, status=found.status.value, task=schema.name,
                           hyper_params=found.hyper_params, existing=True), 200, {
                "Location": f"/status/{found.iid}"}
        response = jsonify(iid=iid, status=Status.WAITING.value, task=schema.name,
                           hyper_params=params, existing=False)
        return response, 201, {"Location": f"/status/{iid}"}

    @server.post("/sweep")
    def sweep():
        body = body_of(ROUTES["sweep"])
        skip = body.pop("if_exists", "run") == "skip"  # runmeta: "already ran?"
        schema, jobs = parse_sweep_body(body, store.schemas(), store.tracked_tasks())
        made = fingerprints.create_missing(store, schema, jobs) if skip else [
            (iid, None) for iid in store.create_many(jobs, schema=schema)]
        iids = [iid for iid, _ in made]
        existing = [iid for iid, found in made if found is not None]
        return jsonify(iids=iids, count=len(iids), task=schema.name, existing=existing), \
            201 if len(existing) < len(iids) else 200

    def tracked_without_metric(schemas: Mapping[str, Schema]) -> dict[str, dict[str, Any]]:
        """Tracked tasks with no metric logged yet (a script that crashed before
        its first log): no Schema, but their runs list, so they show too."""
        pending = store.tracked_tasks() - set(schemas)
        if not pending:
            return {}
        out = {}
        for name, data in store.task_entries().items():
            entry = tracking.Entry.read(name, data) if name in pending else None
            if entry is not None and entry.tracked:
                out[name] = entry.to_dict()
        return out

    @server.get("/tasks")
    def tasks():
        overview = store.overview(recent=0)
        schemas = store.schemas()
        listed = describe_tasks(schemas, overview["workers"], overview["waiting_by_task"],
                                store.tracked_tasks(), tracked_without_metric(schemas))
        return jsonify(tasks=listed, total=len(listed))

    @server.get("/tasks/<name>")
    def one_task(name: str):
        overview = store.overview(recent=0)
        schemas = store.schemas()
        pending = tracked_without_metric(schemas) if name not in schemas else {}
        if name not in schemas and name not in pending:
            raise NotFound(f"no task {name[:80]!r}")
        only = {name: schemas[name]} if name in schemas else {}
        return jsonify(describe_tasks(only, overview["workers"], overview["waiting_by_task"],
                                      store.tracked_tasks(), pending)[0])

    @server.delete("/tasks/<name>")
    def delete_task(name: str):
        try:
            store.delete_tracked_task(name)
        except TaskNotFound:
            raise NotFound(f"no task {name[:80]!r}") from None
        except TaskInUse as exc:
            return error(409, str(exc))
        return jsonify(name=name, deleted=True)

    @server.post("/experiments/<iid>/retry")
    def retry(iid: str):
        body_of(ROUTES["retry"])
        new = store.retry(_known_iid(iid))
        return jsonify(iid=new, retry_of=iid, status=Status.WAITING.value), 201, {
            "Location": f"/status/{new}"}

    @server.get("/status/<iid>")
    def status(iid: str):
        job = store.get(_known_iid(iid))
        return jsonify(serialize_status(job, store.epochs(iid), store.schemas()))

    @server.get("/experiments")
    def experiments():
        query = listing_query(ROUTES["experiments"].query)
        page = store.list_jobs(**query)
        schemas = store.schemas()
        return jsonify(results=[serialize_job(j, schemas) for j in page.jobs], total=page.total,
                       limit=query["limit"], offset=query["offset"],
                       sort=query["sort"], order=query["order"], q=query["text"])

    @server.get("/experiments.csv")
    def experiments_csv():
        return csv_response(store, listing_query(ROUTES["experiments_csv"].query))

    @server.post("/experiments/<iid>/cancel")
    def cancel(iid: str):
        body_of(ROUTES["cancel"])
        new_status = store.cancel(_known_iid(iid))
        return jsonify(iid=iid, status=new_status.value,
                       cancel_requested=new_status is Status.RUNNING)

    @server.delete("/experiments/<iid>")
    def delete(iid: str):
        store.delete(_known_iid(iid))
        return jsonify(iid=iid, deleted=True)

    @server.get("/workers")
    def workers():
        live = store.live_workers()
        return jsonify(workers=live, total=len(live))

    @server.get("/health")
    def health():
        return jsonify(status="ok", version=__version__, database="ok", counts=store.counts(),
                       workers=len(store.live_workers()))

    @server.get("/openapi.json")
    def openapi():
        return jsonify(document())

    # -- tracked runs: scripts outside the queue (see tracking.py) ------------------
    def run_write(view):
        """A write of a run's script: a run that no longer runs answers 409
        saying why in plain words (the store's IllegalTransition speaks of states)."""
        @functools.wraps(view)
        def wrapped(iid: str):
            try:
                return view(iid)
            except IllegalTransition as exc:
                try:
                    job = store.get(iid)
                except JobNotFound:  # deleted meanwhile
                    job = None
                return error(409, run_stopped_message(job), current_status=exc.current)
        return wrapped

    @server.post("/runs")
    def start_run():
        body = body_of(ROUTES["start_run"])
        task = tracking.check_task_name(body["task"])
        plans: list[tracking.Plan] = []

        def extend(entry: dict[str, Any] | None) -> dict[str, Any] | None:
            plans.append(tracking.plan_run(task, entry, body.get("hyper_params", {}),
                                           body.get("metrics", {}), body.get("num_epochs")))
            return plans[-1].entry

        store.update_task_entry(task, extend)
        plan = plans[-1]
        lease = float(body.get("lease", DEFAULT_LEASE))
        iid, token = store.start_tracked(task, plan.params, plan.goals, lease=lease,
                                         num_epochs=plan.num_epochs)
        return jsonify(iid=iid, attempt=1, lease=lease, token=token), 201, {
            "Location": f"/status/{iid}"}

    @server.post("/runs/<iid>/log")
    @run_write
    def log_run(iid: str):
        body = body_of(ROUTES["log_run"])
        # Everything is checked before the first write, the task's schema
        # included: the token, the names and values, then the epoch.
        job = store.check_token(_known_iid(iid), body["token"])
        epoch = int(body["epoch"])
        _, values, _ = tracking.plan_log(job.task, store.task_entry(job.task), body["metrics"])
        if job.status is Status.RUNNING and job.num_epochs and epoch > job.num_epochs:
            raise BadRequest("epoch", f"{epoch} is above the run's num_epochs {job.num_epochs}")
        if store.epoch_is_new(job, epoch, values):
            found: list[dict[str, str]] = []

            def extend(entry: dict[str, Any] | None) -> dict[str, Any] | None:
                new, _, goals = tracking.plan_log(job.task, entry, body["metrics"])
                found.append(goals)
                return new

            store.update_task_entry(job.task, extend)
            store.log_tracked(iid, body["token"], epoch, values, found[-1])
        else:  # sent again after a lost reply: recorded already
            store.heartbeat_tracked(iid, body["token"])
        return jsonify(ok=True)

    @server.post("/runs/<iid>/heartbeat")
    @run_write
    def heartbeat_run(iid: str):
        body = body_of(ROUTES["heartbeat_run"])
        store.heartbeat_tracked(_known_iid(iid), body["token"], body.get("progress"))
        return jsonify(ok=True)

    @server.post("/runs/<iid>/finish")
    @run_write
    def finish_run(iid: str):
        body = body_of(ROUTES["finish_run"])
        status = Status(body["status"])
        store.finish_tracked(_known_iid(iid), body["token"], status,
                             error=body.get("error") if status is Status.FAILED else None)
        return jsonify(ok=True)

    from mltrack.search_api import register_search_api  # search: /searches
    register_search_api(server, store)
    from mltrack.analysis_api import register_analysis_api  # GET /analysis
    register_analysis_api(server, store)
    register_error_handlers(server)


def json_http_error(exc: HTTPException) -> Response:
    """Werkzeug's HTTP errors (404, 405, 413...) as JSON, keeping their headers."""
    response = exc.get_response()
    response.data = jsonify(error=exc.description or exc.name).get_data()
    response.content_type = "application/json"
    return response


def register_error_handlers(server: Flask) -> None:
    """Named errors -> HTTP status codes, in one place; all answers JSON."""

    @server.errorhandler(InvalidParams)
    def invalid_params(exc: InvalidParams):
        return error(400, str(exc), field=exc.field)

    @server.errorhandler(BadRequest)
    def bad_request(exc: BadRequest):
        return error(400, str(exc), field=exc.field)

    @server.errorhandler(InvalidValue)
    def invalid_value(exc: InvalidValue):  # e.g. a filter in `q` that cannot apply
        return error(400, str(exc), field=exc.field)

    @server.errorhandler(JobNotFound)
    def not_found(exc: JobNotFound):
        return error(404, str(exc))

    @server.errorhandler(JobDeleted)
    def deleted(exc: JobDeleted):  # a tracked run's write: gone, not unknown
        return error(410, run_stopped_message(None))

    @server.errorhandler(IllegalTransition)
    def conflict(exc: IllegalTransition):
        return error(409, str(exc), current_status=exc.current)

    @server.errorhandler(WrongToken)
    def wrong_token(exc: WrongToken):
        return error(403, str(exc), field="token")

    @server.errorhandler(EpochOutOfOrder)
    def epoch_out_of_order(exc: EpochOutOfOrder):
        return error(400, f"epoch: {exc.epoch} is not above the last one logged; the next "
                          f"must be at least {exc.expected}", field="epoch")

    @server.errorhandler(StaleAttempt)
    def stale(exc: StaleAttempt):
        return error(409, str(exc))

    @server.errorhandler(redis.ConnectionError)
    @server.errorhandler(redis.TimeoutError)
    def database_down(exc: redis.RedisError):
        log.warning("database unreachable: %s", exc)
        return error(503, "the database is unreachable; try again shortly")

    server.register_error_handler(HTTPException, json_http_error)

    @server.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error(500, f"internal error ({type(exc).__name__}); see the server log")

    @server.errorhandler(redis.ResponseError)
    def database_cannot_write(exc: redis.ResponseError):
        # MISCONF: the server cannot persist (its disk is full or read-only) and
        # refuses writes until it can; READONLY: a replica. Both pass, so 503;
        # any other refusal is a bug, so 500 as for any unexpected error.
        message = str(exc)
        if not message.startswith(("MISCONF", "READONLY")):
            return unexpected(exc)
        log.warning("the database cannot write: %s", message)
        reason = message.split(". ")[0].split(" ", 1)[-1]
        return error(503, f"the database cannot write to disk: {reason}; try again when it "
                          "has space (see its log)")
