"""The run view's charts: one per chart group of a task's metrics (metrics
naming the same `chart` share one), with the chosen runs of that task overlaid,
or their curves grouped by a hyperparameter (mean line, min-max band).

Each run keeps its colour in every chart and has one legend entry (a legend
group: clicking it hides the run in that chart); within a chart the task's
metrics are told apart by line style, shown once in grey at the top of the
legend. The legend stands at the right of the plot and scrolls when there are
more runs than fit, so it is never taller than the plot.

Figures are plain dicts in plotly.js's own form: building them through
plotly's graph objects validated every property and cost most of a redraw.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from dash import Patch

from mltrack import compare
from mltrack.store import Job
from mltrack.task import Metric, Schema

# 20 colours that stay apart from each other on white (the run view shows up to 20 runs)
PALETTE = ["#2f6fed", "#e4572e", "#17a398", "#8e44ad", "#f2a541", "#33658a", "#c2185b",
           "#6a994e", "#5f0f40", "#0f4c5c", "#fb0d0d", "#1ca71c", "#da16ff", "#b68100",
           "#750d86", "#eb663b", "#511cfb", "#00a08b", "#fb00d1", "#222a2a"]
LINE_STYLES = ("solid", "dot", "dash", "dashdot", "longdash")
HEIGHT = 360
KEY_COLOUR = "#6b7486"
EMPTY_TEXT = "No epoch recorded yet: the curves appear as the runs learn"
Run = tuple[Job, list[dict[str, Any]]]
_AXIS = {"gridcolor": "#e9edf3", "zerolinecolor": "#dde3ec", "linecolor": "#c9d1dd",
         "automargin": True}
_FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12,
         "color": "#1d2433"}


def colour(n: int) -> str:
    return PALETTE[n % len(PALETTE)]


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def chart_groups(schema: Schema) -> list[tuple[str, list[Metric]]]:
    """The task's charts in the order of their first metric: (chart, metrics)."""
    groups: dict[str, list[Metric]] = {}
    for metric in schema.metrics:
        groups.setdefault(metric.chart, []).append(metric)
    return list(groups.items())


def chart_title(chart: str) -> str:
    text = chart.replace("_", " ")
    return text[:1].upper() + text[1:]


def is_log(metrics: Sequence[Metric], options: Mapping[str, Any]) -> bool:
    """The log toggle applies to charts of metrics that go down (losses, errors)."""
    return bool(options.get("log")) and all(m.goal == "min" for m in metrics)


def _layout(title: str, metrics: Sequence[Metric], uirevision: str, log: bool,
            longest: int) -> dict[str, Any]:
    y_title = metrics[0].name if len(metrics) == 1 else chart_title(metrics[0].chart)
    return {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        "uirevision": uirevision, "height": HEIGHT, "font": _FONT,
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "margin": {"l": 56, "r": 8, "t": 38, "b": 42},
        "hovermode": "closest",
        "legend": {"x": 1.01, "xanchor": "left", "y": 1, "yanchor": "top",
                   "font": {"size": 11}, "tracegroupgap": 1, "itemsizing": "constant",
                   "bgcolor": "rgba(255,255,255,0)"},
        # every key an empty chart sets too, so that `patch` turns one into the other
        "annotations": [],
        "xaxis": {**_AXIS, "visible": True, "title": {"text": "epoch"},
                  "dtick": 1 if longest <= 20 else None},
        "yaxis": {**_AXIS, "visible": True, "title": {"text": y_title.replace("_", " ")},
                  "type": "log" if log else "linear"},
    }


def _style_key(metrics: Sequence[Metric]) -> list[dict[str, Any]]:
    """Grey legend entries naming each metric's line style (solid: train loss,
    dotted: test loss), when a chart holds several metrics."""
    if len(metrics) < 2:
        return []
    return [{"type": "scatter", "x": [None], "y": [None], "mode": "lines",
             "name": m.name.replace("_", " "), "legendgroup": "line-style", "legendrank": 1,
             "line": {"color": KEY_COLOUR, "dash": LINE_STYLES[n % len(LINE_STYLES)], "width": 2},
             "hoverinfo": "skip"} for n, m in enumerate(metrics)]


def empty_figure(title: str = "", text: str = EMPTY_TEXT,
                 uirevision: str = "empty") -> dict[str, Any]:
    """A chart with nothing to draw yet: its title and a line of text, no axes."""
    return {"data": [], "layout": {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        "uirevision": uirevision, "height": HEIGHT, "font": _FONT,
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "margin": {"l": 56, "r": 8, "t": 38, "b": 42},
        "xaxis": {"visible": False}, "yaxis": {"visible": False},
        "annotations": [{"text": text, "showarrow": False, "x": 0.5, "y": 0.5,
                         "xref": "paper", "yref": "paper", "font": {"color": "#8a94a6"}}]}}


def figure(title: str, runs: Sequence[tuple[int, Job, list[dict[str, Any]], str]],
           metrics: Sequence[Metric], *, primary: Metric | None = None,
           uirevision: str = "keep", log: bool = False) -> dict[str, Any]:
    """One chart: each metric of `metrics` per epoch for each run, runs
    overlaid, one legend entry per run. `runs` are (colour index, job, epochs,
    label). A star marks each run's best epoch by `primary` (the task's primary
    metric), on every metric of the chart. `uirevision` names what the chart
    shows: while it stays the same, zoom and hidden runs stay across refreshes."""
    if not any(compare.finite(e.get(m.name)) is not None
               for _, _, epochs, _ in runs for e in epochs for m in metrics):
        return empty_figure(title, uirevision=uirevision)
    data = _style_key(metrics)
    longest = max((len(e) for _, _, e, _ in runs), default=0)
    mode = "lines+markers" if longest <= 30 else "lines"
    for n, job, epochs, label in runs:
        c = colour(n)
        x = [e.get("epoch") for e in epochs]
        name = compare.short(label)
        for k, metric in enumerate(metrics):
            data.append({
                "type": "scatter", "mode": mode, "x": x,
                "y": [compare.finite(e.get(metric.name)) for e in epochs],
                "name": name, "legendgroup": job.iid, "showlegend": k == 0,
                "line": {"color": c, "dash": LINE_STYLES[k % len(LINE_STYLES)], "width": 2},
                "marker": {"size": 5},
                "hovertemplate": f"{metric.name} %{{y:.4g}}<br>epoch %{{x}}<extra>{label}</extra>"})
        best = compare.best_epoch(epochs, primary.name, primary.goal) if primary else None
        if best is not None:
            at = next((e for e in epochs if e.get("epoch") == best[0]), {})
            points = [(m, compare.finite(at.get(m.name))) for m in metrics]
            points = [(m, v) for m, v in points if v is not None]
            if points:
                data.append({
                    "type": "scatter", "mode": "markers", "x": [best[0]] * len(points),
                    "y": [v for _, v in points], "name": f"best epoch · {name}",
                    "legendgroup": job.iid, "showlegend": False,
                    "marker": {"symbol": "star", "size": 13, "color": c,
                               "line": {"color": "#ffffff", "width": 1}},
                    "customdata": [m.name for m, _ in points],
                    "hovertemplate": f"best {primary.name} at epoch %{{x}}<br>%{{customdata}} "
                                     f"%{{y:.4g}}<extra>{label}</extra>"})
    return {"data": data, "layout": _layout(title, metrics, uirevision, log, longest)}


def grouped_figure(title: str, groups: Sequence[tuple[int, str, list[list[dict[str, Any]]]]],
                   metrics: Sequence[Metric], *, uirevision: str = "keep",
                   log: bool = False) -> dict[str, Any]:
    """One chart of runs grouped by a hyperparameter: per group (colour index,
    legend label, each run's epochs) and metric, the mean over the runs per
    epoch as a line and their min-max as a band. One legend entry per group."""
    data = _style_key(metrics)
    longest = 0
    for n, label, curves in groups:
        c = colour(n)
        name = compare.short(label)
        for k, metric in enumerate(metrics):
            s = compare.spread(curves, metric.name)
            if not s["epoch"]:
                continue
            longest = max(longest, len(s["epoch"]))
            data.append({
                "type": "scatter", "mode": "lines", "x": s["epoch"] + s["epoch"][::-1],
                "y": s["high"] + s["low"][::-1], "fill": "toself",
                "fillcolor": _rgba(c, 0.16), "line": {"width": 0, "color": c},
                "legendgroup": label, "showlegend": False, "hoverinfo": "skip",
                "name": f"{name} range"})
            data.append({
                "type": "scatter", "mode": "lines+markers" if len(s["epoch"]) <= 30 else "lines",
                "x": s["epoch"], "y": s["mean"], "name": name, "legendgroup": label,
                "showlegend": k == 0,
                "line": {"color": c, "dash": LINE_STYLES[k % len(LINE_STYLES)], "width": 2.5},
                "marker": {"size": 5},
                "customdata": [[lo, hi, sd, cnt] for lo, hi, sd, cnt in
                               zip(s["low"], s["high"], s["std"], s["n"])],
                "hovertemplate": (f"{metric.name} mean %{{y:.4g}} ± %{{customdata[2]:.2g}}"
                                  "<br>min %{customdata[0]:.4g}, max %{customdata[1]:.4g}"
                                  f" over %{{customdata[3]}} runs<br>epoch %{{x}}"
                                  f"<extra>{label}</extra>")})
    if longest == 0:
        return empty_figure(title, uirevision=uirevision)
    return {"data": data, "layout": _layout(title, metrics, uirevision, log, longest)}


def patch(fig: dict[str, Any]) -> Patch:
    """`fig` as a change to the figure already in the page: its traces and
    layout, but not the axes' ranges. Dash copies the user's zoom into the
    page's figure; a whole new figure would drop it, a patch keeps it."""
    out = Patch()
    out["data"] = fig["data"]
    for key, value in fig["layout"].items():
        if key in ("xaxis", "yaxis"):
            for name, setting in value.items():
                out["layout"][key][name] = setting
        else:
            out["layout"][key] = value
    return out


def run_charts(runs: Sequence[Run], schemas: Mapping[str, Schema],
               label: Callable[[Job], str] | Mapping[str, str],
               options: Mapping[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(key, figure) for every chart the runs need: per task (in the order the
    runs come), one per chart group, that task's runs overlaid (or grouped by
    `options["group"]` when the task has that parameter). `label` names a run
    in legends (a function of the job, or {iid: label}); `schemas[job.task]`
    must exist for every job. A run's colour is its place among `runs`."""
    options = options or {}
    name = label.get if isinstance(label, Mapping) else None
    tasks: dict[str, list[tuple[int, Job, list[dict[str, Any]], str]]] = {}
    for n, (job, epochs) in enumerate(runs):
        text = name(job.iid) if name else label(job)  # type: ignore[operator]
        tasks.setdefault(job.task, []).append((n, job, epochs, text or job.iid[:6]))
    several = len(tasks) > 1
    iids = ",".join(sorted(job.iid for job, _ in runs))
    group = options.get("group")
    out = []
    for task, task_runs in tasks.items():
        schema = schemas[task]
        grouped = group_curves(task_runs, group, schema) if group else None
        for chart, metrics in chart_groups(schema):
            title = f"{task} · {chart_title(chart)}" if several else chart_title(chart)
            log = is_log(metrics, options)
            # what the chart shows: zoom and hidden runs are kept while it stays
            revision = f"{task}/{chart}|{iids}|log={log}|group={group if grouped else ''}"
            if grouped is not None:
                fig = grouped_figure(title, grouped, metrics, uirevision=revision, log=log)
            else:
                fig = figure(title, task_runs, metrics, primary=schema.primary,
                             uirevision=revision, log=log)
            out.append((f"{task}/{chart}", fig))
    return out


def group_curves(task_runs: Sequence[tuple[int, Job, list[dict[str, Any]], str]], param: str,
                 schema: Schema) -> list[tuple[int, str, list[list[dict[str, Any]]]]] | None:
    """The runs of one task grouped by `param`: (colour index, legend label,
    epochs of each run); None when the task has no such parameter."""
    if param not in schema.params:
        return None
    jobs = [job for _, job, _, _ in task_runs]
    epochs = {job.iid: e for _, job, e, _ in task_runs}
    out = []
    for n, (value, members) in enumerate(compare.group_runs(jobs, param, schema)):
        runs = "1 run" if len(members) == 1 else f"{len(members)} runs"
        out.append((n, f"{param} {compare.value_text(value)} ({runs})",
                    [epochs[j.iid] for j in members]))
    return out
