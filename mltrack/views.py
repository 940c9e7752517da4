"""Pure functions that turn store records into what the dashboard shows.

No Dash callbacks and no Redis here: rows, columns, labels and checks of what
callbacks are sent, each testable alone. The form lives in `form`, the charts
in `charts`; all of them read a task's schema, so every task gets them.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlencode

from mltrack.api import MAX_OFFSET, MAX_PAGE, is_iid, no_worker_note, unserved_tasks
from mltrack.form import number_text
from mltrack.store import IllegalTransition, Job, SortKey, Status, sort_keys
from mltrack.store.sorting import param_score, status_order
from mltrack.store.text import InvalidFilter, Query, text_tokens
from mltrack.task import Choice, Float, Metric, Schema

STATUS_COLORS = {
    "waiting": "#8a94a6",
    "running": "#2f6fed",
    "done": "#1f9d55",
    "failed": "#d64545",
    "cancelled": "#b7791f",
    "pruned": "#7c5cbf",  # a search's pruner stopped it
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


def table_rows(jobs: Iterable[Job], schemas: Mapping[str, Schema] | None = None,
               task_best: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """One grid row per job: its hyperparameters and metrics under their own
    names (the column ids); numbers stay numbers, the grid formats them. `note`
    (the status cell's tooltip) says why a run failed, or that it ended far from
    its best or far behind the best done run of its task (`task_best`, by
    task: its primary metric's value) (`flagged`)."""
    rows = []
    for job in jobs:
        running = job.status is Status.RUNNING
        flagged, note = run_note(job, (schemas or {}).get(job.task),
                                 (task_best or {}).get(job.task))
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
            "flagged": flagged,
            "note": note,
            "tags": " ".join(job.tags),  # runmeta
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
                   valueFormatter=_NUMBER, width=_NUMBER_WIDTH,
                   context={"metric": metric.name, "best": best})


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
    status = _column("status", "Status", sorts, width=92, tooltipField="note",
                     cellClass={"function": "'status-cell status-' + params.value + "
                                            "(params.data && params.data.flagged ? "
                                            "' status-flagged' : '')"},
                     valueFormatter={"function": "mltrackStatus(params)"})
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
                                width=_NUMBER_WIDTH if number else None,
                                context={"param": type(param).__name__.lower()}))
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
    cols.append(_column("tags", "Tags", sorts, width=90,  # runmeta: `tag:x` filters by one
                        tooltip="the run's tags; type tag:name in the search box to filter"))
    cols += [_column("runtime", "Run time", sorts, width=86),
             _column("created", "Created", sorts, width=120, initialSort="desc"),
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


def preset_title(preset: Mapping[str, Any]) -> str:
    """A preset button's tooltip: the values it fills in."""
    return "Fills in " + ", ".join(f"{name} {label_text(value)}" for name, value in preset.items())


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


# -- what the table shows: its filters, metric conditions and ticked rows -------------
_CONDITION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(>=|<=|>|<|=)\s*"
                        r"([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*")
MAX_CONDITIONS = 4
_COMPARE = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, "=": lambda a, b: a == b}


@dataclass(frozen=True)
class Condition:
    """A column filter: `test_accuracy > 97` (a metric's last value; best_<name>
    its best; a hyperparameter; run time...). A job without a value does not pass."""

    name: str  # a sort name: test_accuracy, best_loss, learning_rate
    op: str  # > >= < <= =
    value: float

    def holds(self, value: float | None) -> bool:
        return value is not None and _COMPARE[self.op](value, self.value)

    def query(self) -> str:
        """The condition in the store's query language: test_accuracy>97.0."""
        return f"{self.name}{self.op}{self.value!r}"


def parse_conditions(text: Any, sorts: Mapping[str, SortKey]) -> tuple[list[Condition], str]:
    """`test accuracy > 97, loss < 0.5` -> (conditions, error). Names as the
    columns spell them (spaces or underscores); any column the listing sorts by
    but the status."""
    if text is None or text == "":
        return [], ""
    if not isinstance(text, str):
        return [], "metric filter: not text"
    names = sorted(n for n in sorts if n != "status")
    out = []
    for part in re.split(r",|\band\b", text[:MAX_TEXT]):
        if not part.strip():
            continue
        match = _CONDITION.fullmatch(part)
        if match is None:
            return [], (f"metric filter: write a column, a comparison and a number, as in "
                        f"“test accuracy > 97”, not “{part.strip()[:40]}”")
        name = match.group(1).strip().lower().replace(" ", "_")
        if name not in names:
            shown = [n for n in names if sorts[n].index.startswith(("m:", "b:"))] or names
            return [], f"metric filter: no column “{name[:40]}” here (one of {', '.join(shown)})"
        value = float(match.group(3))
        if not math.isfinite(value):
            return [], f"metric filter: {match.group(3)[:20]} is not a finite number"
        out.append(Condition(name, match.group(2), value))
    if len(out) > MAX_CONDITIONS:
        return [], f"metric filter: at most {MAX_CONDITIONS} conditions"
    return out, ""


@dataclass(frozen=True)
class TableFilter:
    """The table's filters as checked: status, text, task and column conditions."""

    status: str | None = None
    text: str = ""
    task: str | None = None
    conditions: tuple[Condition, ...] = ()

    def query(self) -> str:
        """The text and the conditions in the store's query language."""
        return " ".join([self.text, *(c.query() for c in self.conditions)]).strip()


def export_href(where: TableFilter, sort: str, order: str) -> str:
    """The CSV of the table as it is filtered and sorted: every row."""
    query = {"sort": sort, "order": order, "status": where.status, "task": where.task,
             "q": where.query()}
    return "/experiments.csv?" + urlencode({k: v for k, v in query.items() if v})


def table_filter(status: Any, text: Any, task: str | None, where: Any,
                 sorts: Mapping[str, SortKey]) -> tuple[TableFilter, str] | None:
    """The filters' values (`task` already checked) -> (filter, metric filter
    error); None when one is not what the page sends. A metric filter that does
    not read is left out (and its error said)."""
    if status not in (None, "") and status not in [s.value for s in Status]:
        return None
    if text is not None and not isinstance(text, str):
        return None
    if where is not None and not isinstance(where, str):
        return None
    conditions, error = parse_conditions(where, sorts)
    return TableFilter(status or None, (text or "")[:MAX_TEXT], task, tuple(conditions)), error


def _job_sorts(job: Job, schemas: Mapping[str, Schema]) -> Mapping[str, SortKey]:
    schema = schemas.get(job.task)
    return sort_keys([schema] if schema else [])


def shows(job: Job, where: TableFilter, sort: str, schemas: Mapping[str, Schema]) -> bool:
    """Whether the table, filtered by `where` and sorted by `sort`, lists `job`:
    the store's rules (text words are prefixes of the job's tokens, a status
    word picks the status; a listing sorted by a metric or a hyperparameter
    holds only the jobs of the tasks that have it), plus the metric conditions."""
    if where.status and job.status.value != where.status:
        return False
    if where.task and job.task != where.task:
        return False
    try:
        query = Query.parse(where.text)
    except InvalidFilter:
        return False  # the table shows no rows for it
    if query.statuses is not None and job.status.value not in query.statuses:
        return False
    if not set(query.tags) <= set(job.tags):  # runmeta
        return False
    if query.words:
        tokens = text_tokens(job.iid, job.hyper_params, job.task).split()
        if not all(any(t.startswith(w) for t in tokens) for w in query.words):
            return False
    own = _job_sorts(job, schemas)
    if sort not in own:
        return False
    conditions = [*where.conditions, *(Condition(f.name, f.operator, f.value)
                                       for f in query.filters)]
    return all(c.name in own and c.holds(_score(job, own[c.name], schemas))
               for c in conditions)


def _score(job: Job, key: SortKey, schemas: Mapping[str, Schema]) -> float | None:
    """The score the store's index gives `job` under `key` (None: no value yet)."""
    if key.index == "created":
        return job.created
    if key.index == "epochs":
        return float(job.epochs_done)
    if key.index == "runtime":
        return job.runtime
    kind, _, name = key.index.partition(":")
    if kind == "m":
        return job.metrics.get(name)
    if kind == "b":
        return job.best.get(name)
    schema = schemas.get(job.task)
    param = schema.params.get(name) if schema else None
    value = job.hyper_params.get(name)
    return None if param is None or value is None else param_score(param, value)


def table_order(jobs: Iterable[Job], key: SortKey, order: str,
                schemas: Mapping[str, Schema]) -> list[Job]:
    """`jobs` in the order the store lists them under `key` and `order` (ties by
    iid; jobs without a value last, newest first; by status: the status order,
    newest first within one)."""
    jobs = list(jobs)
    newest = sorted(jobs, key=lambda j: (j.created, j.iid), reverse=True)
    if key.name == "status":
        rank = {s: n for n, s in enumerate(status_order(order))}
        return sorted(newest, key=lambda j: rank.get(j.status.value, len(rank)))
    scored = [(s, j) for j in jobs if (s := _score(j, key, schemas)) is not None]
    scored.sort(key=lambda p: (p[0], p[1].iid), reverse=order == "desc")
    have = {j.iid for _, j in scored}
    return [j for _, j in scored] + [j for j in newest if j.iid not in have]


ACTIVE = frozenset({Status.WAITING.value, Status.RUNNING.value})
RETRYABLE = frozenset({Status.FAILED.value, Status.CANCELLED.value})


def actions_allowed(statuses: Sequence[str]) -> dict[str, bool]:
    """Which of Cancel, Delete, Clone, Retry apply to ticked rows in `statuses`
    (their status now, not when they were ticked)."""
    present = set(statuses)
    return {"cancel": bool(present & ACTIVE), "delete": bool(present - ACTIVE),
            "clone": len(statuses) == 1, "retry": bool(present & RETRYABLE)}


def retryable(job: Job) -> bool:
    """Whether Retry queues `job` again: a failed or cancelled job of the queue. A
    run tracked from a script (start_run, POST /runs) is not: no worker could run
    it, its script runs it again (the store refuses it)."""
    return job.status.value in RETRYABLE and not job.tracked


SCRIPT_RUNS = "script runs are run again by their script"  # why Retry leaves them
NOT_CLONABLE = ("a run of a task tracked from scripts: the form cannot queue it (no worker "
                "runs that task)")


def ticked_actions(jobs: Sequence[Job], queueable: Iterable[str]) -> dict[str, bool]:
    """actions_allowed for ticked rows, as they are now: Retry only if one of
    them is retryable, Clone only a run of a task the form can queue."""
    allowed = actions_allowed([j.status.value for j in jobs])
    return {**allowed, "clone": allowed["clone"] and jobs[0].task in set(queueable),
            "retry": any(retryable(j) for j in jobs)}


def action_titles(jobs: Sequence[Job], allowed: Mapping[str, bool]) -> tuple[str, str]:
    """The tooltips of Clone and Retry: why one is off where the statuses alone
    do not say it (a tracked run ticked), else ""."""
    clone = NOT_CLONABLE if len(jobs) == 1 and not allowed["clone"] else ""
    scripts = any(j.status.value in RETRYABLE and j.tracked for j in jobs)
    retry = f"Retry: {SCRIPT_RUNS}" if scripts and not allowed["retry"] else ""
    return clone, retry


def ticked_text(ticked: int, matching: int | None, all_matching: bool) -> str:
    """The line beside the buttons: what they act on."""
    if all_matching:
        n = matching or 0
        return f"acting on all {n:,} matching job{'s' if n != 1 else ''}"
    return f"{ticked} ticked" if ticked else ""


def matching_text(total: int) -> str:
    return f"{total:,} matching" if total != 1 else "1 matching"


# How far a finished run may end from its best before the table flags it.
FLAG_DROP = 0.5
FLAG_BEHIND = 0.5  # a metric to maximise under half the task's best: flagged
FLAG_BEHIND_MIN = 10.0  # a metric to minimise over ten times the task's best: flagged


def run_note(job: Job, schema: Schema | None,
             task_best: float | None = None) -> tuple[bool, str]:
    """(flagged, note) for a row: a failed run's error; a done run whose primary
    metric ended far from its best (it diverged or collapsed: worse than its best
    by more than half the best's size), or far behind `task_best`, the best
    done run of its task (never learned: under half of it for a metric to
    maximise, over ten times it for one to minimise), is flagged and says so."""
    if job.status is Status.FAILED:
        return True, job.error or "failed (no error recorded)"
    if job.status is not Status.DONE or schema is None:
        return False, ""
    metric = schema.primary
    last, best = job.metrics.get(metric.name), job.best.get(metric.name)
    if last is None or best is None:
        return False, ""
    drop = (best - last) if metric.goal == "max" else (last - best)
    if drop > FLAG_DROP * abs(best) and drop > 0:
        return True, (f"ended at {short_number(last)} {header_name(metric.name)}, "
                      f"its best was {short_number(best)}: it diverged or collapsed")
    if task_best is not None and task_best > 0 and (
            last < task_best * FLAG_BEHIND if metric.goal == "max"
            else last > task_best * FLAG_BEHIND_MIN):
        return True, (f"ended at {short_number(last)} {header_name(metric.name)}, far behind "
                      f"the best run of its task ({short_number(task_best)}): it never "
                      "learned (a rate too high or too low?)")
    return False, ""


def all_matching_value(value: Any) -> list[str] | None:
    """The "all matching" checkbox's value; None if it is not one it can have."""
    if value is None:
        return []
    if isinstance(value, list) and all(v == "all" for v in value) and len(value) <= 1:
        return value
    return None


def all_matching(value: Any) -> bool:
    return all_matching_value(value) == ["all"]


def acted_on(action: str, jobs: Iterable[Job]) -> list[Job]:
    """The jobs an action applies to, by their status now (Retry: retryable)."""
    if action == "retry":
        return [j for j in jobs if retryable(j)]
    wanted = {"cancel": lambda s: s in ACTIVE, "delete": lambda s: s not in ACTIVE}[action]
    return [j for j in jobs if wanted(j.status.value)]


def left_out(action: str, jobs: Iterable[Job]) -> dict[str, int]:
    """{reason: count} of the jobs an action leaves out though their status
    would allow it: for Retry, failed or cancelled runs tracked from scripts."""
    if action != "retry":
        return {}
    scripts = sum(1 for j in jobs if j.status.value in RETRYABLE and j.tracked)
    return {SCRIPT_RUNS: scripts} if scripts else {}


def skip_reason(job: Job, error: Exception) -> str:
    """Why an action on `job` (as it was read) was refused: the store's reason
    where it gives one (retry: no worker has registered its task), else the
    job changed under the action (deleted, or another status)."""
    if isinstance(error, IllegalTransition):
        if error.current == job.status.value and ": " in error.wanted:
            return error.wanted.split(": ", 1)[1]  # "retried: no worker has registered ..."
        return "their status changed meanwhile"
    return "deleted meanwhile"  # JobNotFound


def action_result(action: str, done: int, skipped: Mapping[str, int]) -> str:
    """What an action says it did: `Queued again 2 jobs; 11 skipped: script
    runs are run again by their script.`"""
    verb = {"cancel": "Cancelled", "delete": "Deleted", "retry": "Queued again"}[action]
    message = f"{verb} {done} job{'s' if done != 1 else ''}"
    for reason, n in skipped.items():
        if n:
            message += f"; {n} skipped: {reason}"
    return message + "."


def confirm_text(action: str, n: int, of: int, everything: bool,
                 left: Mapping[str, int] | None = None) -> str:
    """The question before an action on `n` jobs (of `of` ticked or matching);
    `left`: {reason: count} of those it leaves out (left_out)."""
    jobs = f"{n:,} job{'s' if n != 1 else ''}"
    scope = f" of the {of:,} matching" if everything else ""
    if action == "cancel":
        return (f"Cancel {jobs}{scope} (those waiting or running)? Running jobs stop after "
                f"their current batch." if everything else
                f"Cancel {jobs}? Running jobs stop after their current batch.")
    if action == "delete":
        return (f"Delete {n:,} finished job{'s' if n != 1 else ''}{scope} and their metrics "
                f"for good?")
    besides = "".join(f" ({k:,} left out: {reason})" for reason, k in (left or {}).items() if k)
    return f"Queue {jobs}{scope} again (the failed and cancelled ones){besides}?"


# -- the view in the URL ------------------------------------------------------------
MAX_TICKED_IN_URL = 100
_CHART_KEY = re.compile(r"chart_([a-z][a-z0-9_]{0,31})")


def view_from_query(query: str, statuses: Iterable[str], tasks: Iterable[str],
                    sorts: Iterable[str] | None = None) -> dict[str, Any]:
    """A page's query string -> the view it asks for: {"status", "q", "task",
    "where", "sort", "order", "ticked", "chart"}. Anything that is not what
    the page writes is left out (a link may say anything); `sorts`, when
    given, are the sort names a link may name (`__proto__` is none of them)."""
    from urllib.parse import parse_qs

    try:
        args = parse_qs((query or "").lstrip("?")[:8192], max_num_fields=200)
    except ValueError:  # more fields than a page writes
        args = {}

    def one(name: str) -> str | None:
        values = args.get(name) or [None]
        value = values[0]
        return value if isinstance(value, str) and len(value) <= MAX_TEXT else None

    status, task = one("status"), one("task")
    sort, order = one("sort"), one("order")
    ticked = [i for i in (one("ticked") or "").split(",") if is_iid(i)]
    chart: dict[str, Any] = {}
    for name, values in args.items():
        match = _CHART_KEY.fullmatch(name)
        if match and len(values[0]) <= 64:
            chart[match.group(1)] = {"1": True, "0": False}.get(values[0], values[0])
    return {"status": status if status in set(statuses) else None,
            "task": task if task in set(tasks) else None,
            "q": one("q") or "", "where": one("where") or "",
            "sort": sort if sort and re.fullmatch(r"[a-z][a-z0-9_]{0,63}", sort)
            and (sorts is None or sort in set(sorts)) else None,
            "order": order if order in ("asc", "desc") else None,
            "ticked": list(dict.fromkeys(ticked))[:MAX_TICKED_IN_URL], "chart": chart}


# -- which columns show ------------------------------------------------------------------
ALWAYS_SHOWN = frozenset({"status"})
# Room for columns at 1280 px: the grid's 913 px less its tick column (50) and a
# vertical scroll bar (15).
TABLE_WIDTH = 848
# Shown by default when they fit: the run's state and its primary metric, then the
# hyperparameters in the task's order; the rest wait in the column chooser.
_FIRST = ("status", "task", "progress", "runtime")
_LAST = ("epochs", "created", "iid")
MAX_CHOSEN_COLUMNS = 200


def default_hidden(columns: Sequence[Mapping[str, Any]], width: int = TABLE_WIDTH) -> set[str]:
    """The columns hidden until chosen: what does not fit in `width` px, taken in
    order of what matters (state, primary metric, hyperparameters in the task's
    order but the seed, run time), and always the other metrics, the seed,
    epochs, creation time and iid."""
    fields = [c["field"] for c in columns]
    metric = {c["field"] for c in columns if (c.get("context") or {}).get("metric")}
    # the primary metrics come before the progress (table_columns' order)
    cut = fields.index("progress") if "progress" in fields else len(fields)
    primary = [f for f in fields[:cut] if f in metric]
    others = [f for f in fields if f in metric and f not in primary]
    params = [c for c in columns if c["field"] not in _FIRST and c["field"] not in _LAST
              and c["field"] not in metric and c["field"] != "seed"]
    # the hyperparameters in the task's order (it declares what matters first)
    ranked = ([f for f in fields if f in _FIRST and f != "runtime"] + primary
              + [c["field"] for c in params] + ["runtime"])
    room, shown = width, set()
    for field in (f for f in ranked if f in fields):
        need = next(c["minWidth"] for c in columns if c["field"] == field)
        if need > room and field not in ALWAYS_SHOWN:
            continue
        room -= need
        shown.add(field)
    return {f for f in fields if f not in shown} | set(others) - ALWAYS_SHOWN


def column_choice(value: Any) -> dict[str, list[str]]:
    """The user's column choice as stored: {"hidden": [...], "shown": [...]}
    (columns hidden or shown against the default); anything else is none."""
    out: dict[str, list[str]] = {"hidden": [], "shown": []}
    if isinstance(value, dict):
        for key in out:
            names = value.get(key)
            if isinstance(names, list) and all(isinstance(n, str) and len(n) <= 100
                                               for n in names):
                out[key] = sorted(set(names))[:MAX_CHOSEN_COLUMNS]
    return out


def choose_columns(columns: Sequence[Mapping[str, Any]], chosen: Sequence[str],
                   choice: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The choice after the user ticked `chosen` among `columns` (other tasks'
    columns keep theirs)."""
    default = default_hidden(columns)
    hidden, shown = set(choice["hidden"]), set(choice["shown"])
    for col in columns:
        field = col["field"]
        hidden.discard(field)
        shown.discard(field)
        if field in ALWAYS_SHOWN:
            continue
        if field in chosen and field in default:
            shown.add(field)
        elif field not in chosen and field not in default:
            hidden.add(field)
    return {"hidden": sorted(hidden)[:MAX_CHOSEN_COLUMNS],
            "shown": sorted(shown)[:MAX_CHOSEN_COLUMNS]}


def show_columns(columns: Sequence[Mapping[str, Any]],
                 choice: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """`columns` with `hide` set: the default, then the user's choice."""
    hidden = (default_hidden(columns) | set(choice["hidden"])) - set(choice["shown"])
    return [{**c, "hide": c["field"] in hidden and c["field"] not in ALWAYS_SHOWN}
            for c in columns]
