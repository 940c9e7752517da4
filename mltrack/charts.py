"""The run view's charts: one per chart group of a task's metrics (metrics
naming the same `chart` share one), with the chosen runs of that task overlaid.

Each run keeps its colour in every chart; within a chart the task's metrics
are told apart by line style, in the order the task declares them.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import plotly.graph_objects as go

from mltrack.store import Job
from mltrack.task import Metric, Schema

PALETTE = ["#2f6fed", "#e4572e", "#17a398", "#8e44ad", "#f2a541", "#33658a", "#c2185b",
           "#6a994e", "#5f0f40", "#0f4c5c"]
LINE_STYLES = ("solid", "dot", "dash", "dashdot", "longdash")
Run = tuple[Job, list[dict[str, float]]]


def chart_groups(schema: Schema) -> list[tuple[str, list[Metric]]]:
    """The task's charts in the order of their first metric: (chart, metrics)."""
    groups: dict[str, list[Metric]] = {}
    for metric in schema.metrics:
        groups.setdefault(metric.chart, []).append(metric)
    return list(groups.items())


def chart_title(chart: str) -> str:
    text = chart.replace("_", " ")
    return text[:1].upper() + text[1:]


def figure(title: str, runs: Sequence[tuple[int, Job, list[dict[str, float]], str]],
           metrics: Sequence[Metric]) -> go.Figure:
    """One chart: each metric of `metrics` per epoch for each run, runs overlaid.
    `runs` are (colour index, job, epochs, label). `uirevision` stays the same
    across refreshes, so zoom and legend clicks stay."""
    fig = go.Figure()
    for colour, job, epochs, label in runs:
        x = [e.get("epoch") for e in epochs]
        for n, metric in enumerate(metrics):
            name = metric.name if len(metrics) > 1 else ""
            fig.add_trace(go.Scatter(
                x=x, y=[e.get(metric.name) for e in epochs], mode="lines+markers",
                name=f"{name} · {label}" if name else label, legendgroup=job.iid,
                line={"color": PALETTE[colour % len(PALETTE)],
                      "dash": LINE_STYLES[n % len(LINE_STYLES)]},
                hovertemplate=f"{metric.name} %{{y:.4g}}<br>epoch %{{x}}<extra>{label}</extra>"))
    longest = max((len(e) for _, _, e, _ in runs), default=0)
    fig.update_layout(
        title={"text": title, "x": 0.02, "font": {"size": 15}}, uirevision="keep",
        margin={"l": 50, "r": 10, "t": 40, "b": 40}, height=320, template="plotly_white",
        legend={"orientation": "h", "y": -0.3, "font": {"size": 11}},
        xaxis={"title": "epoch", "dtick": 1 if longest <= 20 else None},
        yaxis={"title": metrics[0].name if len(metrics) == 1 else chart_title(metrics[0].chart)})
    return fig


def empty_figure(text: str = "Select runs in the table or by iid above") -> go.Figure:
    fig = go.Figure()
    fig.update_layout(height=320, template="plotly_white", uirevision="keep",
                      margin={"l": 50, "r": 10, "t": 40, "b": 40},
                      xaxis={"visible": False}, yaxis={"visible": False})
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"color": "#8a94a6"})
    return fig


def run_charts(runs: Sequence[Run], schemas: Mapping[str, Schema],
               label: Any) -> list[tuple[str, go.Figure]]:
    """(key, figure) for every chart the runs need: per task (in the order the
    runs come), one per chart group, that task's runs overlaid. `label(job)`
    names a run in legends; `schemas[job.task]` must exist for every job."""
    tasks: dict[str, list[tuple[int, Job, list[dict[str, float]], str]]] = {}
    for n, (job, epochs) in enumerate(runs):
        tasks.setdefault(job.task, []).append((n, job, epochs, label(job)))
    several = len(tasks) > 1
    out = []
    for task, task_runs in tasks.items():
        for chart, metrics in chart_groups(schemas[task]):
            title = f"{task} · {chart_title(chart)}" if several else chart_title(chart)
            out.append((f"{task}/{chart}", figure(title, task_runs, metrics)))
    return out
