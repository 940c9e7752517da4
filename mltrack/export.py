"""GET /experiments.csv: every job of a listing as CSV, streamed page by page.

The rows come in the listing's order (the same query as GET /experiments,
read from the store one page at a time, so a large export never sits whole in
memory); the columns are the job's record, then each hyperparameter and each
metric (last value, then best_<metric>) of the tasks listed, in their
schemas' order.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Iterator, Mapping

from flask import Response

from mltrack.params import MNIST
from mltrack.store import Job, Store

PAGE = 500  # jobs read from the store per round trip
RECORD = ("iid", "task", "status", "created", "started", "finished", "runtime", "epochs_done",
          "num_epochs", "attempts", "tracked", "retry_of", "error",
          "tags", "note",  # runmeta: tags space separated
          "search", "trial")  # search: the search a job is a trial of, and its number
# A cell that starts with one of these is a formula to a spreadsheet (CSV
# injection): a string from a tracked script could be one, so it is quoted.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _time(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def columns(entries: Mapping[str, Mapping[str, Any]],
            task: str | None) -> tuple[list[str], list[str]]:
    """(hyperparameters, metrics) of the tasks a listing holds, each once, in
    their schemas' order; `entries` are the task registry's (a tracked task's
    without a metric yet included). A task's epochs parameter is the
    num_epochs column."""
    entries = {MNIST.name: MNIST.to_dict(), **entries}
    names = [task] if task else sorted(entries, key=lambda n: (n != MNIST.name, n))
    listed = [entries[n] for n in names if n in entries]
    params = list(dict.fromkeys(p for e in listed for p in e.get("params", {})
                                if p != e.get("epochs")))
    metrics = list(dict.fromkeys(x for e in listed for m in e.get("metrics", [])
                                 for x in (m["name"], f"best_{m['name']}")))
    return params, [m for m in metrics if m not in params]


def header(params: list[str], metrics: list[str]) -> list[str]:
    """Column names; a hyperparameter or metric named like a record column is
    hyper_params.<name> or metrics.<name>."""
    return [*RECORD, *(f"hyper_params.{p}" if p in RECORD else p for p in params),
            *(f"metrics.{m}" if m in RECORD else m for m in metrics)]


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def row(job: Job, params: list[str], metrics: list[str]) -> list[Any]:
    record = {"iid": job.iid, "task": job.task, "status": job.status.value,
              "created": _time(job.created), "started": _time(job.started),
              "finished": _time(job.finished), "runtime": job.runtime,
              "epochs_done": job.epochs_done, "num_epochs": job.num_epochs,
              "attempts": job.attempts, "tracked": job.tracked, "retry_of": job.retry_of,
              "error": job.error, "tags": " ".join(job.tags), "note": job.note,
              "search": job.search, "trial": job.trial}
    summary = job.summary()
    values = [record[c] for c in RECORD]
    values += [job.hyper_params.get(p, summary.get(p)) for p in params]
    values += [summary.get(m, job.hyper_params.get(m)) for m in metrics]
    return [cell(v) for v in values]


def rows(store: Store, query: Mapping[str, Any]) -> Iterator[str]:
    """The CSV text, a page of jobs at a time: `query` is store.list_jobs's
    arguments, `limit` None for every matching job."""
    params, metrics = columns(store.task_entries(), query["task"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header(params, metrics))
    offset, left = query["offset"], query["limit"]
    args = {k: v for k, v in query.items() if k not in ("limit", "offset")}
    while True:
        want = PAGE if left is None else min(PAGE, left)
        if want <= 0:
            break
        page = store.list_jobs(**args, limit=want, offset=offset)
        for job in page.jobs:
            writer.writerow(row(job, params, metrics))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(page.jobs) < want:
            break
        offset += len(page.jobs)
        left = None if left is None else left - len(page.jobs)
    if buffer.getvalue():
        yield buffer.getvalue()


def csv_response(store: Store, query: Mapping[str, Any]) -> Response:
    """A streamed text/csv answer, as a file to save (mltrack-experiments[-task].csv)."""
    chunks = rows(store, query)
    first = next(chunks)  # the header and first page: a database error is still a 503 here
    name = "mltrack-experiments" + (f"-{query['task']}" if query["task"] else "") + ".csv"

    def body() -> Iterator[str]:
        yield first
        yield from chunks

    return Response(body(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
