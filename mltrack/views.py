"""Pure functions that turn store records into what the dashboard shows.

No Dash callbacks and no Redis here: rows, labels, figures and form parsing,
each testable alone.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Iterable, Mapping

import plotly.graph_objects as go

from mltrack.params import HyperParams, InvalidParams, expand_sweep
from mltrack.store import LIST_SORTS, Job, Status

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
            "test_accuracy": job.test_accuracy,
            "best_test_accuracy": job.best_test_accuracy,
            "train_loss": job.train_loss,
            "test_loss": job.test_loss,
            "runtime": duration(job.runtime),
            "progress": round(progress_fraction(job) * 100, 1),
            "time_left": time_left(job) if running else "",
            "created": short_time(job.created),
            "cancel_requested": job.cancel_requested,
        })
    return rows


def sort_from_model(sort_model: list[dict[str, Any]] | None) -> tuple[str, str]:
    """The grid's sort model -> (store sort key, order); newest first by default."""
    # The grid's column ids are the store's sort keys.
    for entry in sort_model or []:
        key = entry.get("colId", "")
        if key in LIST_SORTS and entry.get("sort") in ("asc", "desc"):
            return key, entry["sort"]
    return "created", "desc"


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


def form_values(hyper_params: Mapping[str, Any]) -> dict[str, Any]:
    """A run's hyperparameters as form values (for clone)."""
    return {
        "model": [hyper_params["model"]], "optimizer": [hyper_params["optimizer"]],
        "learning_rate": f"{hyper_params['learning_rate']:g}",
        "num_epochs": str(hyper_params["num_epochs"]),
        "batch_size": str(hyper_params["batch_size"]),
        "momentum": f"{hyper_params['momentum']:g}",
        "weight_decay": f"{hyper_params['weight_decay']:g}",
        "seed": str(hyper_params["seed"]),
    }
