"""Pure functions behind the run view's comparison of runs: what differs
between them, their final and best values, the best epoch, and curves grouped
by a hyperparameter (mean and spread over the other runs, seeds mostly).

No Dash and no Redis here: plain records in, plain data out, each testable alone.
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Iterable, Mapping, Sequence

from mltrack.store import Job
from mltrack.task import Choice, Metric, Schema

Epochs = list[dict[str, Any]]
NOT_APPLIED = None  # the value of a parameter that does not apply to a run (momentum with adam)

# The chart options the run view keeps in its `chart-options` store (and "dash" in the URL).
DEFAULT_OPTIONS: dict[str, Any] = {"log": False, "group": None, "all_params": False}
MAX_LABEL = 48  # characters of a legend entry; the full label is in the hover text


def chart_options(value: Any, params: Iterable[str] = ()) -> dict[str, Any]:
    """The chart options from whatever the store holds (the URL can say
    anything): a dict of exactly DEFAULT_OPTIONS' keys, a wrong value replaced
    by its default. `group` must name one of `params` (hyperparameter names)."""
    out = dict(DEFAULT_OPTIONS)
    if not isinstance(value, Mapping):
        return out
    for key in ("log", "all_params"):
        if isinstance(value.get(key), bool):
            out[key] = value[key]
    group = value.get("group")
    if isinstance(group, str) and group in set(params):
        out["group"] = group
    return out


def finite(value: Any) -> float | None:
    """A stored metric as a number to draw, None for a gap (NaN, infinity, missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def param_value(job: Job, name: str, schema: Schema | None) -> Any:
    """A run's value of a parameter; NOT_APPLIED when its task says it does not apply."""
    hp = job.hyper_params
    if name not in hp:
        return NOT_APPLIED
    if schema is not None and name in schema.params and not schema.applies(name, hp):
        return NOT_APPLIED
    return hp[name]


def param_names(jobs: Sequence[Job], schema: Schema | None) -> list[str]:
    """Every parameter of these runs, in the task's order (then any other)."""
    names = list(schema.params) if schema is not None else []
    for job in jobs:
        names += [n for n in job.hyper_params if n not in names]
    return names


def differing_params(jobs: Sequence[Job], schema: Schema | None) -> list[str]:
    """The parameters whose values are not the same in every run, in the task's
    order; seed and epochs count like any other. A parameter that applies to
    some runs only (momentum, with sgd and adam) differs."""
    if len(jobs) < 2:
        return []
    out = []
    for name in param_names(jobs, schema):
        values = {_key(param_value(j, name, schema)) for j in jobs}
        if len(values) > 1:
            out.append(name)
    return out


def _key(value: Any) -> Any:
    # 1 and True are one value to a set; a parameter's values keep their type
    return (type(value).__name__ if isinstance(value, bool) else "", value)


def value_text(value: Any) -> str:
    """A parameter's value in a label: 0.001, 1e-05, sgd, true; '—' when it does not apply."""
    if value is NOT_APPLIED:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _part(name: str, value: Any, schema: Schema | None) -> str:
    """`lr 0.1`; a choice's value alone (`sgd`), since it names itself."""
    choice = schema is not None and isinstance(schema.params.get(name), Choice)
    if choice and value is not NOT_APPLIED:
        return value_text(value)
    return f"{name} {value_text(value)}"


def run_names(jobs: Sequence[Job], schema: Schema | None,
              full: Any = None) -> dict[str, str]:
    """{iid: legend label}: only the parameters that differ between `jobs`
    (`lr 0.1 · seed 2`). Runs that differ in nothing are told apart by their
    short iid; a lone run gets `full(job)` (its whole label) when given."""
    if len(jobs) == 1:
        job = jobs[0]
        return {job.iid: full(job) if full else f"run {job.iid[:6]}"}
    names = differing_params(jobs, schema)
    labels = {j.iid: " · ".join(_part(n, param_value(j, n, schema), schema) for n in names)
              for j in jobs}
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {iid: (f"{label} ({iid[:6]})" if label else f"run {iid[:6]}")
            if seen[label] > 1 or not label else label for iid, label in labels.items()}


def short(label: str, limit: int = MAX_LABEL) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


# -- final, best, best epoch --------------------------------------------------------
def best_epoch(epochs: Epochs, metric: str, goal: str) -> tuple[int, float] | None:
    """(epoch, value) where `metric` was best by `goal` ('min' or 'max'); the
    first such epoch on a tie; None when no epoch has a finite value of it."""
    best: tuple[int, float] | None = None
    for n, epoch in enumerate(epochs, 1):
        value = finite(epoch.get(metric))
        if value is None:
            continue
        if best is None or (value < best[1] if goal == "min" else value > best[1]):
            best = (int(epoch.get("epoch", n)), value)
    return best


def final_value(epochs: Epochs, metric: str) -> float | None:
    """The metric at the last epoch that recorded it."""
    for epoch in reversed(epochs):
        value = finite(epoch.get(metric))
        if value is not None:
            return value
    return None


def summary(epochs: Epochs, metrics: Sequence[Metric]) -> dict[str, dict[str, Any]]:
    """{metric: {"final", "best", "best_epoch"}} of one run's epochs."""
    out = {}
    for metric in metrics:
        found = best_epoch(epochs, metric.name, metric.goal)
        out[metric.name] = {"final": final_value(epochs, metric.name),
                            "best": found[1] if found else None,
                            "best_epoch": found[0] if found else None}
    return out


def best_of(values: Iterable[float | None], goal: str) -> float | None:
    """The best of several runs' values (to highlight it in the compare table)."""
    numbers = [v for v in values if v is not None]
    if not numbers:
        return None
    return min(numbers) if goal == "min" else max(numbers)


# -- grouped by a hyperparameter ------------------------------------------------------
def group_runs(jobs: Sequence[Job], param: str,
               schema: Schema | None) -> list[tuple[Any, list[Job]]]:
    """[(value, runs)] of `param`, values in ascending order (numbers as
    numbers, NOT_APPLIED last), runs in the order given."""
    groups: dict[Any, tuple[Any, list[Job]]] = {}
    for job in jobs:
        value = param_value(job, param, schema)
        groups.setdefault(_key(value), (value, []))[1].append(job)

    def order(item: tuple[Any, list[Job]]) -> tuple[int, Any]:
        value = item[0]
        if value is NOT_APPLIED:
            return (3, "")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (0, value)
        return (1, str(value))

    return sorted(groups.values(), key=order)


def spread(curves: Sequence[Epochs], metric: str) -> dict[str, list[Any]]:
    """Mean and spread of `metric` per epoch over several runs: {"epoch",
    "mean", "low", "high", "std", "n"}, one entry per epoch that at least one
    run has a finite value for (runs of different lengths count where they
    reach). low/high are the min and max over the runs, std the population
    standard deviation (0 for one run)."""
    by_epoch: dict[int, list[float]] = {}
    for epochs in curves:
        for n, epoch in enumerate(epochs, 1):
            value = finite(epoch.get(metric))
            if value is not None:
                by_epoch.setdefault(int(epoch.get("epoch", n)), []).append(value)
    out: dict[str, list[Any]] = {"epoch": [], "mean": [], "low": [], "high": [], "std": [],
                                 "n": []}
    for epoch in sorted(by_epoch):
        values = by_epoch[epoch]
        out["epoch"].append(epoch)
        out["mean"].append(statistics.fmean(values))
        out["low"].append(min(values))
        out["high"].append(max(values))
        out["std"].append(statistics.pstdev(values) if len(values) > 1 else 0.0)
        out["n"].append(len(values))
    return out


def mean_std(values: Iterable[float | None]) -> tuple[float, float, int] | None:
    """(mean, population std, count) of the finite values; None if there are none."""
    numbers = [v for v in values if v is not None]
    if not numbers:
        return None
    return (statistics.fmean(numbers),
            statistics.pstdev(numbers) if len(numbers) > 1 else 0.0, len(numbers))


def shown_note(chosen: int, shown: int) -> str:
    """What the run view says when it shows fewer runs than are ticked."""
    if chosen <= shown:
        return ""
    return (f"Showing {shown} of {chosen} ticked runs (the first {shown} in the table's "
            "order): untick some to see others.")
