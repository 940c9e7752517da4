"""Pure functions that turn store records into what the dashboard shows.

No Dash callbacks and no Redis here: rows, labels, figures and form parsing,
each testable alone.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Iterable, Mapping

import plotly.graph_objects as go

from mltrack.api import MAX_OFFSET, MAX_PAGE, is_iid
from mltrack.params import MAX_SWEEP, HyperParams, InvalidParams, expand_sweep
from mltrack.params import MNIST
from mltrack.store import Job, Status, sort_keys

LIST_SORTS = tuple(sort_keys([MNIST]))  # the table's sortable columns (MNIST's for now)

STATUS_COLORS = {
    "waiting": "#8a94a6",
    "running": "#2f6fed",
    "done": "#1f9d55",
    "failed": "#d64545",
    "cancelled": "#b7791f",
}
FORM_FIELDS = ("model", "optimizer", "learning_rate", "num_epochs", "batch_size",
               "momentum", "weight_decay", "seed")
_PALETTE = ["#2f6fed", "#e4572e", "#17a398", "#8e44ad", "#f2a541", "#33658a", "#c2185b",
            "#6a994e", "#5f0f40", "#0f4c5c"]


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


def run_label(job: Job) -> str:
    """What a legend says of a run: its hyperparameters and a short iid."""
    hp = job.hyper_params
    parts = [hp.get("model", "?"), hp.get("optimizer", "?"), f"lr {hp.get('learning_rate', 0):g}",
             f"bs {hp.get('batch_size')}"]
    if hp.get("momentum"):
        parts.append(f"mom {hp['momentum']:g}")
    if hp.get("weight_decay"):
        parts.append(f"wd {hp['weight_decay']:g}")
    return " · ".join(str(p) for p in parts) + f" ({job.iid[:6]})"


# -- the experiments table ----------------------------------------------------------
def progress_fraction(job: Job) -> float:
    """0..1: finished epochs plus the running epoch's part."""
    if not job.num_epochs:
        return 0.0
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
    """One grid row per job; numbers stay numbers, the grid formats them."""
    rows = []
    for job in jobs:
        hp = job.hyper_params
        running = job.status is Status.RUNNING
        rows.append({
            "iid": job.iid,
            "status": job.status.value,
            "model": hp.get("model"),
            "optimizer": hp.get("optimizer"),
            "learning_rate": hp.get("learning_rate"),
            "batch_size": hp.get("batch_size"),
            "epochs": f"{job.epochs_done}/{job.num_epochs}",
            **job.summary(),
            "runtime": duration(job.runtime),
            "progress": round(progress_fraction(job) * 100, 1),
            "time_left": time_left(job) if running else "",
            "created": short_time(job.created),
            "cancel_requested": job.cancel_requested,
        })
    return rows


def sort_from_model(sort_model: Any) -> tuple[str, str]:
    """The grid's sort model -> (store sort key, order); newest first by default."""
    # The grid's column ids are the store's sort keys; anything else is ignored.
    for entry in sort_model if isinstance(sort_model, list) else []:
        if not isinstance(entry, dict):
            continue
        key, order = entry.get("colId"), entry.get("sort")
        if isinstance(key, str) and key in LIST_SORTS and order in ("asc", "desc"):
            return key, order
    return "created", "desc"


# -- what callbacks are sent: checked, since any page can post anything ---------------
MAX_TEXT = 200  # as the API's `q`


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def rows_request(request: Any, status: Any, text: Any) -> dict[str, Any] | None:
    """The grid's getRowsRequest and the filters -> `store.list_jobs` arguments;
    None when any of them is not what the grid and the filters send."""
    if not isinstance(request, dict):
        return None
    start, end = request.get("startRow", 0), request.get("endRow", 100)
    if not (_is_int(start) and _is_int(end) and 0 <= start <= MAX_OFFSET and end > start):
        return None
    if status not in (None, "") and status not in [s.value for s in Status]:
        return None
    if text is not None and not isinstance(text, str):
        return None
    sort, order = sort_from_model(request.get("sortModel"))
    return {"sort": sort, "order": order, "status": status or None, "offset": start,
            "limit": min(end - start, MAX_PAGE), "text": (text or "")[:MAX_TEXT]}


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


# -- curves -----------------------------------------------------------------------
def curves_figure(runs: list[tuple[Job, list[dict[str, float]]]], kind: str) -> go.Figure:
    """Loss or accuracy per epoch, train (dotted) and test (solid), runs overlaid.

    `uirevision` stays the same across refreshes, so zoom and legend clicks stay.
    """
    metric, title, unit = (("loss", "Loss", "cross-entropy") if kind == "loss"
                           else ("accuracy", "Accuracy", "%"))
    fig = go.Figure()
    for n, (job, epochs) in enumerate(runs):
        color = _PALETTE[n % len(_PALETTE)]
        x = [e["epoch"] for e in epochs]
        label = run_label(job)
        for split, dash in (("test", "solid"), ("train", "dot")):
            fig.add_trace(go.Scatter(
                x=x, y=[e[f"{split}_{metric}"] for e in epochs], mode="lines+markers",
                name=f"{split} · {label}", legendgroup=job.iid, line={"color": color, "dash": dash},
                hovertemplate=f"{split} {metric} %{{y:.4g}}<br>epoch %{{x}}<extra>{label}</extra>"))
    fig.update_layout(
        title={"text": title, "x": 0.02, "font": {"size": 15}}, uirevision="keep",
        margin={"l": 50, "r": 10, "t": 40, "b": 40}, height=320, template="plotly_white",
        legend={"orientation": "h", "y": -0.3, "font": {"size": 11}},
        xaxis={"title": "epoch", "dtick": 1 if max((len(e) for _, e in runs), default=0) <= 20
               else None},
        yaxis={"title": unit})
    if not runs:
        fig.add_annotation(text="Select runs in the table or by iid above", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper", font={"color": "#8a94a6"})
    return fig


def epoch_rows(epochs: list[dict[str, float]]) -> list[dict[str, Any]]:
    return [{"epoch": e["epoch"], "train_loss": round(e["train_loss"], 4),
             "train_accuracy": round(e["train_accuracy"], 2),
             "test_loss": round(e["test_loss"], 4), "test_accuracy": round(e["test_accuracy"], 2),
             "time": duration(e["time_training"])} for e in epochs]


# -- the submit form ----------------------------------------------------------------
def _parse_value(field: str, text: Any) -> Any:
    if field in ("model", "optimizer"):
        return text
    if isinstance(text, (int, float)):
        return text
    text = str(text).strip()
    try:
        number = float(text)
    except ValueError:
        raise InvalidParams(field, f"{text!r} is not a number") from None
    return int(number) if number.is_integer() and field not in (
        "learning_rate", "momentum", "weight_decay") else number


def _values(field: str, raw: Any) -> list[Any]:
    """A form value: one value, a comma-separated list, or a dropdown's list."""
    if raw is None or raw == "" or raw == []:
        raise InvalidParams(field, "needs a value")
    items = raw if isinstance(raw, list) else [v for v in str(raw).split(",")]
    if len(items) > MAX_SWEEP:
        raise InvalidParams(field, f"at most {MAX_SWEEP} values")
    values = [_parse_value(field, v) for v in items if str(v).strip() != ""]
    if not values:
        raise InvalidParams(field, "needs a value")
    return values


def parse_form(form: Mapping[str, Any]) -> tuple[list[HyperParams], dict[str, str]]:
    """Form values -> (jobs to queue, {field: error}); every field checked alone
    first, so each error shows next to its own field."""
    errors: dict[str, str] = {}
    base: dict[str, Any] = {}
    sweep: dict[str, list[Any]] = {}
    for field in FORM_FIELDS:
        try:
            values = _values(field, form.get(field))
            for value in values:  # each value against the field's own rules
                _check_alone(field, value)
        except InvalidParams as exc:
            errors[field] = exc.message
            continue
        if len(values) == 1:
            base[field] = values[0]
        else:
            sweep[field] = values
    if errors:
        return [], errors
    try:
        jobs = expand_sweep(base, sweep) if sweep else [_single(base)]
    except InvalidParams as exc:
        return [], {exc.field if exc.field in FORM_FIELDS else "form": exc.message}
    return jobs, {}


def _check_alone(field: str, value: Any) -> None:
    probe = {field: value}
    if field == "momentum" and value:
        probe["optimizer"] = "sgd"  # momentum's pairing is checked on the whole
    HyperParams.parse(probe)


def _single(base: dict[str, Any]) -> HyperParams:
    return HyperParams.parse(base)


def number_text(value: float) -> str:
    """A float as the shortest text that reads back as the same float: 0.0012345678
    stays 0.0012345678 (`:g` would round it to 0.00123457), 0.0 is "0"."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def form_values(hyper_params: Mapping[str, Any]) -> dict[str, Any]:
    """A run's hyperparameters as form values (for clone), at full precision."""
    return {
        "model": [hyper_params["model"]], "optimizer": [hyper_params["optimizer"]],
        "learning_rate": number_text(hyper_params["learning_rate"]),
        "num_epochs": str(hyper_params["num_epochs"]),
        "batch_size": str(hyper_params["batch_size"]),
        "momentum": number_text(hyper_params["momentum"]),
        "weight_decay": number_text(hyper_params["weight_decay"]),
        "seed": str(hyper_params["seed"]),
    }
