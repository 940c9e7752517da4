"""Pure functions that turn store records into what the dashboard shows.

No Dash callbacks and no Redis here: rows, columns, labels and checks of what
callbacks are sent, each testable alone. The form lives in `form`, the charts
in `charts`; all of them read a task's schema, so every task gets them.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Iterable, Mapping

from mltrack.api import MAX_OFFSET, MAX_PAGE, is_iid, no_worker_note, unserved_tasks
from mltrack.form import number_text
from mltrack.store import Job, SortKey, Status
from mltrack.task import Choice, Float, Metric, Schema

STATUS_COLORS = {
    "waiting": "#8a94a6",
    "running": "#2f6fed",
    "done": "#1f9d55",
    "failed": "#d64545",
    "cancelled": "#b7791f",
}


# -- small formats ----------------------------------------------------------------
def duration(seconds: float | None) -> str:
    """2.4 s, 12 s, 3m 05s, 1h 02m."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def local_time(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def short_time(ts: float | None, now: float | None = None) -> str:
    """Today: 14:05:09; earlier: Nov 24 14:05."""
    if ts is None:
        return ""
    when = dt.datetime.fromtimestamp(ts)
    today = dt.datetime.fromtimestamp(now) if now is not None else dt.datetime.now()
    return when.strftime("%H:%M:%S" if when.date() == today.date() else "%b %d %H:%M")


def short_number(value: Any) -> str:
    """A metric as tables show it: 5 significant digits, '' for no value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.5g}"
    return str(value)


def param_text(value: Any) -> str:
    """A hyperparameter as the run view lists it: floats at full precision."""
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def label_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else param_text(value)


def header_name(name: str) -> str:
    return name.replace("_", " ")


def run_label(job: Job, schema: Schema | None) -> str:
    """What a legend says of a run: its hyperparameters and a short iid. A task
    of up to four parameters shows them all; a larger one its choices and the
    values that differ from the defaults. Parameters that do not apply are left out."""
    hp = job.hyper_params
    if schema is None:
        names = list(hp)
    else:
        names = [n for n in schema.params if n in hp and schema.applies(n, hp)]
        if len(names) > 4:
            names = [n for n in names if isinstance(schema.params[n], Choice)
                     or hp[n] != schema.params[n].default]
    parts = [label_text(hp[n]) if schema is not None and isinstance(schema.params[n], Choice)
             else f"{n} {label_text(hp[n])}" for n in names]
    return " · ".join(parts or ["defaults"]) + f" ({job.iid[:6]})"


# -- the experiments table ----------------------------------------------------------
def progress_fraction(job: Job) -> float:
    """0..1: finished epochs plus the running epoch's part."""
    if not job.num_epochs:
        return 1.0 if job.status is Status.DONE else 0.0
    done = job.epochs_done
    if job.status is Status.RUNNING and job.progress and job.progress.get("batches"):
        done = (job.progress["epoch"] - 1) + job.progress["batch"] / job.progress["batches"]
    return max(0.0, min(1.0, done / job.num_epochs))


ESTIMATING = "estimating…"


def time_left(job: Job) -> str:
    """A running job's time left; "estimating…" until its worker can tell
    (the first batches of a run say little about the rest)."""
    if not job.progress:
        return ESTIMATING  # claimed, its first batch not yet reported
    eta = job.progress.get("eta_seconds")
    return ESTIMATING if eta is None else duration(eta)


def table_rows(jobs: Iterable[Job]) -> list[dict[str, Any]]:
    """One grid row per job: its hyperparameters and metrics under their own
    names (the column ids); numbers stay numbers, the grid formats them."""
    rows = []
    for job in jobs:
        running = job.status is Status.RUNNING
        rows.append({
            **job.hyper_params,
            **job.summary(),
            "iid": job.iid,
            "status": job.status.value,
            "task": job.task,
            "epochs": (f"{job.epochs_done}/{job.num_epochs}" if job.num_epochs
                       else str(job.epochs_done)),
            "runtime": duration(job.runtime),
            "progress": round(progress_fraction(job) * 100, 1),
            "time_left": time_left(job) if running else "",
            "created": short_time(job.created),
            "cancel_requested": job.cancel_requested,
        })
    return rows


_NUMBER = {"function": "mltrackNumber(params.value)"}
_NUMBER_WIDTH = 88  # "3.865e-6", "0.0025391"


def _column(field: str, header: str, sorts: Mapping[str, SortKey], *, tooltip: str = "",
            width: int | None = None, **extra: Any) -> dict[str, Any]:
    """A grid column; sortable when its id is a sort name of the listing, best
    first on the first click (a loss ascending, an accuracy descending)."""
    longest = max((len(w) for w in header.split()), default=4)  # headers wrap at spaces
    col: dict[str, Any] = {"field": field, "headerName": header,
                           "minWidth": max(width or 0, 60, 7 * longest + 44), "flex": 1,
                           "sortable": field in sorts, **extra}
    if field in sorts:
        first = sorts[field].default_order
        col["sortingOrder"] = [first, "asc" if first == "desc" else "desc", None]
    if tooltip:
        col["headerTooltip"] = tooltip
    return col


def _metric_column(metric: Metric, sorts: Mapping[str, SortKey], best: bool = False,
                   header: str | None = None) -> dict[str, Any]:
    name = f"best_{metric.name}" if best else metric.name
    tip = (f"best value so far ({metric.goal})" if best
           else metric.help or f"last value ({metric.goal} is best)")
    return _column(name, header or header_name(name), sorts, tooltip=tip,
                   valueFormatter=_NUMBER, width=_NUMBER_WIDTH)


def table_columns(schemas: Mapping[str, Schema], task: str | None,
                  sorts: Mapping[str, SortKey]) -> list[dict[str, Any]]:
    """The grid's columns, their ids the store's sort names, what matters most
    on the left (a wide task scrolls to the right).

    One task (chosen, or the only one there is): its primary metric (last and
    best), then its hyperparameters, then its other metrics. All tasks: the
    task and each task's primary metric (tasks sharing one share a column).
    Both: status, epochs, progress, run time, creation time and iid."""
    one = schemas.get(task) if task else (next(iter(schemas.values()))
                                           if len(schemas) == 1 else None)
    status = _column("status", "Status", sorts, width=92,
                     cellClass={"function": "'status-cell status-' + params.value"})
    progress = [_column("epochs", "Epochs", sorts, width=72),
                _column("progress", "Progress", sorts, width=124, cellRenderer="ProgressBar")]
    if one is not None:
        primary = one.primary
        cols = [status, _metric_column(primary, sorts), _metric_column(primary, sorts, True),
                *progress]
        for name, param in one.params.items():
            if name == one.epochs:
                continue  # the epochs column says it
            number = isinstance(param, Float)
            cols.append(_column(name, header_name(name), sorts, tooltip=param.help,
                                valueFormatter=_NUMBER if number else None,
                                width=_NUMBER_WIDTH if number else None))
        cols += [_metric_column(m, sorts) for m in one.metrics if m is not primary]
    else:
        cols = [status, _column("task", "Task", sorts, width=90)]
        tasks_of: dict[str, list[Schema]] = {}
        for name in sorted(schemas):
            tasks_of.setdefault(schemas[name].primary.name, []).append(schemas[name])
        for metric, owners in tasks_of.items():
            names = ", ".join(o.name for o in owners)
            cols.append(_metric_column(owners[0].primary, sorts,
                                       header=f"{header_name(metric)} ({names})"))
        cols += progress
    cols += [_column("runtime", "Run time", sorts, width=86),
             _column("created", "Created", sorts, width=120, sort="desc"),
             _column("iid", "iid", sorts, width=84,
                     valueFormatter={"function": "params.value ? params.value.slice(0, 8) : ''"})]
    for col in cols:
        if col.get("valueFormatter") is None:
            col.pop("valueFormatter", None)
    return cols


def sort_from_model(sort_model: Any, sorts: Mapping[str, SortKey]) -> tuple[str, str]:
    """The grid's sort model -> (store sort name, order); newest first by default."""
    # The grid's column ids are the store's sort names; anything else is ignored.
    for entry in sort_model if isinstance(sort_model, list) else []:
        if not isinstance(entry, dict):
            continue
        key, order = entry.get("colId"), entry.get("sort")
        if isinstance(key, str) and key in sorts and order in ("asc", "desc"):
            return key, order
    return "created", "desc"


# -- what callbacks are sent: checked, since any page can post anything ---------------
MAX_TEXT = 200  # as the API's `q`


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def task_choice(value: Any, tasks: Iterable[str]) -> str | None:
    """A task filter's or selector's value: '' and None are all tasks (None);
    raises ValueError for anything that is not a known task."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and value in tasks:
        return value
    raise ValueError("not a task")


def rows_request(request: Any, status: Any, text: Any, task: str | None,
                 sorts: Mapping[str, SortKey]) -> dict[str, Any] | None:
    """The grid's getRowsRequest and the filters -> `store.list_jobs` arguments
    (`task` already checked, `sorts` that listing's sort names); None when any
    of them is not what the grid and the filters send."""
    if not isinstance(request, dict):
        return None
    start, end = request.get("startRow", 0), request.get("endRow", 100)
    if not (_is_int(start) and _is_int(end) and 0 <= start <= MAX_OFFSET and end > start):
        return None
    if status not in (None, "") and status not in [s.value for s in Status]:
        return None
    if text is not None and not isinstance(text, str):
        return None
    sort, order = sort_from_model(request.get("sortModel"), sorts)
    return {"sort": sort, "order": order, "status": status or None, "task": task,
            "offset": start, "limit": min(end - start, MAX_PAGE),
            "text": (text or "")[:MAX_TEXT]}


def selected_rows(value: Any) -> list[dict[str, Any]] | None:
    """The grid's selectedRows: rows with an iid and a status; None if anything else."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(
            isinstance(r, dict) and is_iid(r.get("iid")) and isinstance(r.get("status"), str)
            for r in value):
        return None
    return value


def chosen_iids(value: Any, limit: int) -> list[str] | None:
    """A list of iids (the run picker's value), at most `limit`; None if anything else."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > limit or not all(map(is_iid, value)):
        return None
    return value


def search_text(value: Any) -> str | None:
    """A search box's text, cut to MAX_TEXT; None if it is not text."""
    if value is None:
        return ""
    return value[:MAX_TEXT] if isinstance(value, str) else None


def next_version(version: Any) -> int:
    """A counter kept in the page, one up; a counter that is not one starts again."""
    return version + 1 if _is_int(version) and 0 <= version < 2**53 else 1


def task_help(schema: Schema) -> str:
    """The line under the task selector: the task's description and its
    metrics, each with the way that is better (↓ lower, ↑ higher)."""
    metrics = ", ".join(f"{m.name} {'↓' if m.goal == 'min' else '↑'}"
                        + (" (primary)" if m is schema.primary else "") for m in schema.metrics)
    return " · ".join(t for t in (schema.description, f"metrics: {metrics}") if t)


def task_options(schemas: Mapping[str, Schema]) -> list[dict[str, str]]:
    """The task selector's options: mnist first (the built-in), then by name."""
    names = sorted(schemas, key=lambda n: (n != "mnist", n))
    return [{"label": n, "value": n, "title": schemas[n].description} for n in names]


# -- the header -------------------------------------------------------------------
def queue_eta(waiting: int, running: list[Job], recent_done: list[Job], workers: int) -> float | None:
    """Seconds until the queue is empty: the running jobs' time left, plus the
    waiting jobs at the mean run time of recent ones, shared among the workers."""
    if not waiting and not running:
        return 0.0
    if workers <= 0:
        return None
    running_left = [(j.progress or {}).get("eta_seconds") for j in running]
    if None in running_left:
        return None  # a run is still estimating its own time left
    runtimes = [j.runtime for j in recent_done if j.runtime]
    if waiting and not runtimes:
        return None
    mean = sum(runtimes) / len(runtimes) if runtimes else 0.0
    return (sum(running_left) + waiting * mean) / workers


def no_worker_notes(waiting_by_task: Mapping[str, int],
                    workers: list[Mapping[str, Any]]) -> list[str]:
    """`no worker runs task quadratic` for each task whose jobs wait in vain."""
    return [no_worker_note(t) for t in unserved_tasks(waiting_by_task, workers)]


# -- one run in the run view ---------------------------------------------------------
def run_facts(job: Job, schema: Schema | None) -> list[tuple[str, str, str]]:
    """(name, value, help) lines of a run: its record, then its hyperparameters
    in the schema's order (those that do not apply to it left out)."""
    facts = [("status", job.status.value, ""), ("task", job.task, ""), ("iid", job.iid, ""),
             ("device", f"{job.device or '-'} ({job.precision or '-'})", ""),
             ("created", local_time(job.created), ""), ("run time", duration(job.runtime), ""),
             ("attempts", str(job.attempts), "")]
    hp = job.hyper_params
    if schema is None:
        return facts + [(header_name(k), param_text(v), "") for k, v in hp.items()]
    return facts + [(header_name(n), param_text(hp[n]), p.help) for n, p in schema.params.items()
                    if n in hp and schema.applies(n, hp)]


def epoch_table(epochs: list[dict[str, float]],
                schema: Schema | None) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of a run's epochs: each metric the task declares, then
    any other it recorded, and the training time."""
    declared = [m.name for m in schema.metrics] if schema else []
    recorded = [k for e in epochs for k in e if k not in ("epoch", "time_training")]
    names = list(dict.fromkeys([*declared, *recorded]))
    rows = [[str(e.get("epoch", "")), *(short_number(e.get(n)) for n in names),
             duration(e.get("time_training"))] for e in epochs]
    return ["epoch", *(header_name(n) for n in names), "time"], rows
