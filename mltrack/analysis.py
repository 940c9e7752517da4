"""Which hyperparameters matter, over any set of runs of one task: the runs ->
an in-memory Optuna study -> hyperparameter importances; and the charts that
show the same runs: parallel coordinates, one slice chart per hyperparameter,
the best value so far over the trials.

Pure functions: no Dash, no Redis. The dashboard's analysis panel and the
search view hand them jobs (their hyperparameters and last metric values) and
the task's schema. Figures are plain dicts in plotly.js's own form, as in
`charts` (graph objects validate every property and cost most of a redraw):
measured against `optuna.visualization` in benchmarks/analysis_charts.py.

Importance is Optuna's PED-ANOVA: at 1,000 runs it takes ~15 ms where fANOVA
with Optuna's default 64 trees takes ~35 s (16 trees of depth 8: ~0.5 s) on
this 2-core machine; fANOVA stays available (`evaluator="fanova"`) with those
smaller settings. Optuna is imported when an importance is asked for, so the
dashboard starts without it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from mltrack import optuna_import
from mltrack.store import Job, Status
from mltrack.task import Bool, Choice, Int, Param, Schema

MIN_RUNS = 2  # importance and charts need at least this many runs with a value
# Below this many runs an importance is mostly noise (a seed came out at 36% over
# 9 runs): it is shown, with a word of caution.
FEW_RUNS = 20
PED_ANOVA, FANOVA = "ped-anova", "fanova"
EVALUATOR_NAMES = {PED_ANOVA: "PED-ANOVA", FANOVA: "fANOVA (16 trees, depth 8)"}
# fANOVA's settings: Optuna's default (64 trees, depth 64) took 35 s at 1,000 runs
FANOVA_TREES, FANOVA_DEPTH = 16, 8
GL_POINTS = 1000  # above this many points a scatter draws with WebGL
_FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12,
         "color": "#1d2433"}
_AXIS = {"gridcolor": "#e9edf3", "zerolinecolor": "#dde3ec", "linecolor": "#c9d1dd",
         "automargin": True}
BAR_COLOUR, POINT_COLOUR, BEST_COLOUR = "#2f6fed", "#8a94a6", "#e4572e"


@dataclass(frozen=True)
class Objective:
    """The metric a set of runs is judged by (its last value) and which way is better."""

    metric: str
    goal: str  # "min" or "max"


def objective_of(schema: Schema, metric: str | None = None) -> Objective:
    """`metric` of `schema` (its primary metric when None or unknown) with its goal."""
    goals = schema.goals
    name = metric if metric in goals else schema.primary.name
    return Objective(name, goals[name])


@dataclass(frozen=True)
class Point:
    """One run as the analysis sees it: the hyperparameters that apply to it and
    its objective value."""

    iid: str
    params: Mapping[str, Any]
    value: float
    order: float  # trial number for a search, else creation time: the x of best-so-far


@dataclass(frozen=True)
class RunSet:
    """The usable runs of one task, in trial order, and what varies among them."""

    schema: Schema
    objective: Objective
    points: list[Point]
    varying: dict[str, Param]  # hyperparameters with more than one value among the points
    fixed: dict[str, Any] = field(default_factory=dict)  # the others: their one value
    left_out: int = 0  # runs given that had no finite value of the metric, or were not done
    by_trial: bool = False  # ordered by trial number (a search), not by creation time

    @property
    def enough(self) -> bool:
        return len(self.points) >= MIN_RUNS and bool(self.varying)


def usable(job: Job, schema: Schema, objective: Objective) -> float | None:
    """The run's objective value (the metric's last value), if it counts: a done
    run of the task with a finite value. A run still going, pruned or failed
    would be judged on an epoch where it stopped (Optuna also counts only
    complete trials)."""
    if job.task != schema.name or job.status is not Status.DONE:
        return None
    value = job.metrics.get(objective.metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _applying(schema: Schema, params: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters of `params` that the schema knows and that apply
    (momentum's beta with adam does not: Optuna treats it as not sampled)."""
    return {name: params[name] for name in schema.params
            if name in params and schema.applies(name, params)
            and _valid(schema.params[name], params[name])}


def _valid(param: Param, value: Any) -> bool:
    if isinstance(param, (Choice, Bool)):
        return isinstance(value, (str, int, float, bool))
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def run_set(jobs: Iterable[Job], schema: Schema, objective: Objective) -> RunSet:
    """The runs of `jobs` the analysis can use, oldest (or lowest trial) first."""
    points, left_out, trials = [], 0, True
    for job in jobs:
        value = usable(job, schema, objective)
        if value is None:
            left_out += 1
            continue
        trial = getattr(job, "trial", None)  # set on a search's trials
        trials = trials and isinstance(trial, int)
        points.append((job, value, trial))
    by_trial = trials and bool(points)
    points.sort(key=lambda p: (p[2], p[0].created) if by_trial else (p[0].created, p[0].iid))
    out = [Point(job.iid, _applying(schema, job.hyper_params), value,
                 float(trial) if by_trial else job.created) for job, value, trial in points]
    varying, fixed = {}, {}
    for name, param in schema.params.items():
        seen = {_key(p.params[name]) for p in out if name in p.params}
        if len(seen) > 1:
            varying[name] = param
        elif seen and all(name in p.params for p in out):  # one value in every run
            fixed[name] = out[0].params[name]
    return RunSet(schema, objective, out, varying, fixed, left_out, by_trial)


def _key(value: Any) -> Any:
    # 1 and True are one dict key; runs' values never mix them within a parameter
    return (type(value).__name__, value)


def too_few_text(runs: RunSet) -> str:
    """What the panel says instead of charts, or "" when there is enough to show."""
    n = len(runs.points)
    metric = runs.objective.metric.replace("_", " ")
    if n < MIN_RUNS:
        besides = f" ({runs.left_out} other{'s' if runs.left_out != 1 else ''} not done or " \
                  f"without it)" if runs.left_out else ""
        return (f"Too few runs to analyse: {n} done run{'s' if n != 1 else ''} with a value "
                f"of {metric}{besides}; at least {MIN_RUNS} are needed.")
    if not runs.varying:
        return (f"Every one of the {n} runs has the same hyperparameters: nothing to compare "
                "(a search or a sweep varies them).")
    return ""


def caution(runs: RunSet) -> str:
    """A word of caution where an importance is shown over few runs, else ""."""
    n = len(runs.points)
    if not runs.enough or n >= FEW_RUNS:
        return ""
    return (f"Only {n} runs: below about {FEW_RUNS} the importance is mostly noise, a hint "
            "at best.")


# -- importance -------------------------------------------------------------------------
def distributions(runs: RunSet) -> dict[str, Any]:
    """An Optuna distribution per varying hyperparameter, from the schema's type
    and log flag over the range the runs span (a schema's bounds may be
    infinite, and the runs' own range is where the evaluator has data)."""
    optuna_import.load()
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)

    out: dict[str, Any] = {}
    for name, param in runs.varying.items():
        values = [p.params[name] for p in runs.points if name in p.params]
        if isinstance(param, (Choice, Bool)):
            out[name] = CategoricalDistribution(_categories(param, values))
        elif isinstance(param, Int) and all(float(v).is_integer() for v in values):
            low, high = int(min(values)), int(max(values))
            out[name] = IntDistribution(low, high, log=param.log and low >= 1)
        else:
            low, high = float(min(values)), float(max(values))
            out[name] = FloatDistribution(low, high, log=bool(param.log) and low > 0)
    return out


def _categories(param: Param, values: Sequence[Any]) -> list[Any]:
    """The values the runs took, in the schema's order (unknown ones after)."""
    order = list(param.options) if isinstance(param, Choice) else [False, True]
    taken = {_key(v) for v in values}
    known = [o for o in order if _key(o) in taken]
    return known + sorted({v for v in values if _key(v) not in {_key(o) for o in known}},
                          key=str)


def study(runs: RunSet) -> Any:
    """An in-memory Optuna study holding the runs as complete trials."""
    optuna_import.load()
    import optuna
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = distributions(runs)
    trials = []
    for point in runs.points:
        params = {n: _optuna_value(dists[n], v) for n, v in point.params.items() if n in dists}
        trials.append(create_trial(params=params, distributions={n: dists[n] for n in params},
                                   value=point.value))
    out = optuna.create_study(direction="maximize" if runs.objective.goal == "max"
                              else "minimize")
    out.add_trials(trials)
    return out


def _optuna_value(dist: Any, value: Any) -> Any:
    optuna_import.load()
    from optuna.distributions import IntDistribution

    return int(value) if isinstance(dist, IntDistribution) else value


def importances(runs: RunSet, evaluator: str = PED_ANOVA) -> dict[str, float]:
    """Each varying hyperparameter's share of the importance (summing to 1, most
    important first; all 0 when the evaluator finds none), by Optuna's
    PED-ANOVA or fANOVA. Empty with too few runs."""
    if not runs.enough:
        return {}
    optuna_import.load()
    from optuna.importance import (FanovaImportanceEvaluator, PedAnovaImportanceEvaluator,
                                   get_param_importances)

    n = len(runs.points)
    if evaluator == FANOVA:
        chosen: Any = FanovaImportanceEvaluator(n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH,
                                                seed=0)
    elif evaluator == PED_ANOVA:
        # the top 10% of runs, but at least 5 of them (PED-ANOVA's own advice)
        chosen = PedAnovaImportanceEvaluator(target_quantile=min(0.5, max(0.1, 5 / n)))
    else:
        raise ValueError(f"evaluator must be {PED_ANOVA} or {FANOVA}, not {evaluator!r}")
    # Optuna's warnings ("few trials in a regime", "experimental"): optuna_import
    raw = get_param_importances(study(runs), evaluator=chosen, params=list(runs.varying),
                                normalize=False)
    raw = {k: float(v) if math.isfinite(float(v)) and v > 0 else 0.0 for k, v in raw.items()}
    total = sum(raw.values())
    shares = {k: (v / total if total > 0 else 0.0) for k, v in raw.items()}
    return dict(sorted(shares.items(), key=lambda kv: (-kv[1], list(runs.varying).index(kv[0]))))


# -- figures ------------------------------------------------------------------------------
def _words(name: str) -> str:
    return name.replace("_", " ")


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
            "font": _FONT, "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
            "margin": {"l": 56, "r": 16, "t": 38, "b": 42}, "hovermode": "closest",
            "showlegend": False, **extra}


def importance_figure(shares: Mapping[str, float], evaluator: str = PED_ANOVA
                      ) -> dict[str, Any]:
    """Horizontal bars, the most important hyperparameter on top."""
    names = list(shares)[::-1]
    return {"data": [{"type": "bar", "orientation": "h", "y": [_words(n) for n in names],
                      "x": [round(100 * shares[n], 2) for n in names],
                      "marker": {"color": BAR_COLOUR},
                      "text": [f"{100 * shares[n]:.0f}%" for n in names],
                      "textposition": "auto",
                      "hovertemplate": "%{y}: %{x:.1f}%<extra></extra>"}],
            "layout": _layout(f"Hyperparameter importance ({EVALUATOR_NAMES[evaluator]})",
                              height=max(160, 60 + 34 * len(names)),
                              xaxis={**_AXIS, "title": {"text": "share of importance (%)"},
                                     "range": [0, 100]},
                              yaxis={**_AXIS})}


def _dimension(name: str, param: Param, values: list[Any]) -> dict[str, Any]:
    """One parallel-coordinates axis: numbers as they are (log ones as powers of
    ten, ticks labelled with the values), choices as positions with labels."""
    label = _words(name)
    if isinstance(param, (Choice, Bool)):
        cats = _categories(param, [v for v in values if v is not None])
        index = {_key(c): i for i, c in enumerate(cats)}
        return {"label": label, "values": [index.get(_key(v), -1) for v in values],
                "tickvals": list(range(len(cats))), "ticktext": [str(c) for c in cats],
                "range": [-0.5, len(cats) - 0.5]}
    numbers = [float(v) for v in values]
    if getattr(param, "log", False) and min(numbers) > 0:
        logs = [math.log10(v) for v in numbers]
        low, high = math.floor(min(logs)), math.ceil(max(logs))
        ticks = list(range(low, high + 1))
        # the axis spans whole decades: a tick outside the range is drawn off the axis
        return {"label": f"{label} (log)", "values": logs, "range": [low, high],
                "tickvals": ticks, "ticktext": [f"{10.0 ** t:g}" for t in ticks]}
    return {"label": label, "values": numbers, "range": [min(numbers), max(numbers)]}


def parallel_figure(runs: RunSet, order: Sequence[str] | None = None) -> dict[str, Any]:
    """Parallel coordinates: the objective, then each varying hyperparameter
    (in `order`, e.g. by importance); one line per run coloured by its value,
    the best runs brightest. A hyperparameter that does not apply to a run
    (momentum's beta with adam) shows the value the run was recorded with."""
    names = [n for n in (order or []) if n in runs.varying]
    names += [n for n in runs.varying if n not in names]
    values = [p.value for p in runs.points]
    metric = _words(runs.objective.metric)
    dims = [{"label": metric, "values": values, "range": [min(values), max(values)]}]
    for name in names:
        param = runs.varying[name]
        dims.append(_dimension(name, param, [p.params.get(name, param.default)
                                             for p in runs.points]))
    return {"data": [{"type": "parcoords", "dimensions": dims,
                      "line": {"color": values, "colorscale": "Viridis",
                               "reversescale": runs.objective.goal == "min",
                               "showscale": True,
                               "colorbar": {"title": {"text": metric}, "thickness": 12}},
                      "labelangle": 0, "labelfont": {"size": 12}}],
            "layout": _layout(f"Parallel coordinates: {metric} ({runs.objective.goal}) against "
                              "the hyperparameters", height=380,
                              margin={"l": 64, "r": 40, "t": 80, "b": 30})}


def slice_figures(runs: RunSet, order: Sequence[str] | None = None
                  ) -> list[tuple[str, dict[str, Any]]]:
    """One chart per varying hyperparameter: the objective against its value
    (only the runs it applies to), darker points for later runs."""
    names = [n for n in (order or []) if n in runs.varying]
    names += [n for n in runs.varying if n not in names]
    metric = _words(runs.objective.metric)
    kind = "scattergl" if len(runs.points) > GL_POINTS else "scatter"
    out = []
    for name in names:
        param = runs.varying[name]
        shown = [p for p in runs.points if name in p.params]
        xs = [p.params[name] for p in shown]
        xaxis: dict[str, Any] = {**_AXIS, "title": {"text": _words(name)}}
        if isinstance(param, (Choice, Bool)):
            cats = [str(c) for c in _categories(param, xs)]
            xs = [str(x) for x in xs]
            xaxis.update(type="category", categoryorder="array", categoryarray=cats)
        elif getattr(param, "log", False) and min(xs) > 0:
            xaxis["type"] = "log"
        out.append((name, {
            "data": [{"type": kind, "mode": "markers", "x": xs, "y": [p.value for p in shown],
                      "text": [p.iid[:8] for p in shown],
                      "marker": {"size": 6, "opacity": 0.75,
                                 "color": list(range(len(shown))), "colorscale": "Blues",
                                 "cmin": -len(shown) // 3, "cmax": max(len(shown) - 1, 1)},
                      "hovertemplate": f"{_words(name)} %{{x}}<br>{metric} %{{y:.5g}}"
                                       "<br>run %{text}<extra></extra>"}],
            "layout": _layout(f"{metric} by {_words(name)}", height=280,
                              xaxis=xaxis, yaxis={**_AXIS, "title": {"text": metric}},
                              margin={"l": 56, "r": 12, "t": 38, "b": 42})}))
    return out


def best_so_far(values: Sequence[float], goal: str) -> list[float]:
    """The best value among the first 1, 2, ... runs."""
    out: list[float] = []
    pick = max if goal == "max" else min
    for value in values:
        out.append(value if not out else pick(out[-1], value))
    return out


def _whole_number_ticks(count: int) -> dict[str, Any]:
    """Trials are counted: no tick at 1.5 (plotly's choice for two or three points)."""
    return {"tickformat": "d", **({"dtick": 1} if count <= 10 else {})}


def best_so_far_figure(runs: RunSet) -> dict[str, Any]:
    """Each run's value in trial order (or creation order) and the best so far."""
    values = [p.value for p in runs.points]
    xs = list(range(1, len(values) + 1)) if not runs.by_trial else [int(p.order)
                                                                      for p in runs.points]
    metric = _words(runs.objective.metric)
    kind = "scattergl" if len(values) > GL_POINTS else "scatter"
    return {"data": [
        {"type": kind, "mode": "markers", "name": metric, "x": xs, "y": values,
         "text": [p.iid[:8] for p in runs.points],
         "marker": {"size": 6, "color": POINT_COLOUR, "opacity": 0.8},
         "hovertemplate": f"%{{x}}: {metric} %{{y:.5g}}<br>run %{{text}}<extra></extra>"},
        {"type": kind, "mode": "lines", "name": "best so far", "x": xs,
         "y": best_so_far(values, runs.objective.goal), "line": {"color": BEST_COLOUR,
                                                                 "shape": "hv", "width": 2},
         "hovertemplate": "best so far %{y:.5g}<extra></extra>"}],
        "layout": _layout(f"Best {metric} so far ({runs.objective.goal})", height=300,
                          showlegend=True,
                          legend={"x": 1, "xanchor": "right", "y": 1.12, "orientation": "h"},
                          xaxis={**_AXIS, **_whole_number_ticks(len(xs)),
                                 "title": {"text": "trial" if runs.by_trial
                                           else "run (oldest first)"}},
                          yaxis={**_AXIS, "title": {"text": metric}})}
