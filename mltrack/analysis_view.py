"""The dashboard's analysis panel: which hyperparameters matter among the runs
in front of the user: the table's runs (its task and filters: status, text,
metric conditions) or one search's trials. It shows the importance bars, the
parallel coordinates, the best value so far and one slice chart per varying
hyperparameter, all from `mltrack.analysis`, or says why there is nothing to
show (too few runs, nothing varies).

The work is capped: the `MAX_RUNS` most recent done runs that match. A
refresh costs two counts: the panel is recomputed only when the filters, the
metric or the number of matching runs changed (and at most every
`REFRESH_MS` on its own timer, not the table's 1.5 s tick).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any

import dash
# Loaded here, in the thread that builds the app: the first analysis imports
# Optuna (which loads pandas, scipy, scikit-learn) in a request thread, and a
# plotly figure serialised meanwhile in another one checks `pandas.NaT` and
# `numpy` in sys.modules: half-imported, that was a 500.
import numpy  # noqa: F401
import pandas  # noqa: F401
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from mltrack import analysis, table_query, views
from mltrack.api import MAX_PAGE
from mltrack.store import Job, Store
from mltrack.task import Schema

log = logging.getLogger(__name__)
MAX_RUNS = 10_000  # the most recent matching done runs the analysis reads
REFRESH_MS = 10_000
SLOW_FACTOR = 20  # a computation that took t seconds is redone on the timer after 20 t
TABLE = "table"
SEARCH_PREFIX = "search:"
# no tool bar: it covered the charts' titles; drag to zoom, double-click to reset
_GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": False}


def layout() -> html.Div:
    return html.Div([
        html.Div([
            html.H2("Analysis"),
            dcc.Dropdown(id="analysis-scope", value=TABLE, clearable=False, searchable=False,
                         options=[{"label": "the table's runs (task and filters)",
                                   "value": TABLE}], className="analysis-scope"),
            dcc.Dropdown(id="analysis-metric", clearable=False, searchable=False,
                         placeholder="objective", className="analysis-metric"),
        ], className="toolbar"),
        html.Div(id="analysis-note", className="field-hint analysis-note"),
        dcc.Loading(html.Div(id="analysis-body", className="analysis-body"), type="dot",
                    delay_show=400),
        dcc.Interval(id="analysis-tick", interval=REFRESH_MS),
        dcc.Store(id="analysis-signature"),
    ], className="card analysis-card", id="analysis")


def _graph(key: str, figure: dict[str, Any], cls: str = "graph") -> dcc.Graph:
    return dcc.Graph(id={"type": "analysis-chart", "key": key}, figure=figure,
                     config=_GRAPH_CONFIG, className=cls)


def body(runs: analysis.RunSet, evaluator: str = analysis.PED_ANOVA) -> list[Any]:
    """The charts for `runs`, or the message saying why there are none."""
    message = analysis.too_few_text(runs)
    if message:
        return [html.Div(message, className="run-empty analysis-empty", id="analysis-empty")]
    try:
        shares = analysis.importances(runs, evaluator)
    except Exception:  # an evaluator's surprise must not cost the charts (nor be a 500)
        log.exception("importance failed over %d runs", len(runs.points))
        shares = {}
    order = list(shares)
    fixed = ", ".join(f"{views.header_name(n)} {views.param_text(v)}"
                      for n, v in runs.fixed.items())
    return [
        html.Div([
            _graph("importance", analysis.importance_figure(shares, evaluator)) if shares else
            html.Div("The importance could not be computed (see the server log).",
                     className="run-empty"),
            _graph("best", analysis.best_so_far_figure(runs)),
        ], className="analysis-row"),
        html.Div(f"Same in every run: {fixed}." if fixed else "", className="field-hint"),
        _graph("parallel", analysis.parallel_figure(runs, order)),
        html.Div([_graph(f"slice-{name}", fig, "graph slice")
                  for name, fig in analysis.slice_figures(runs, order)],
                 className="analysis-slices"),
    ]


def note(runs: analysis.RunSet, what: str, matching: int, capped: bool) -> str:
    n = len(runs.points)
    text = (f"{n:,} done run{'s' if n != 1 else ''} of {what}, judged by their last "
            f"{runs.objective.metric.replace('_', ' ')} ({runs.objective.goal}); "
            f"importance by Optuna's {analysis.EVALUATOR_NAMES[analysis.PED_ANOVA]}.")
    other = matching - n
    if other > 0:
        text += f" {other:,} other matching run{'s' if other != 1 else ''} (not done, or " \
                "without the metric) left out."
    if capped:
        text += f" Only the {MAX_RUNS:,} most recent done runs are read."
    warning = analysis.caution(runs)
    return f"{text} {warning}" if warning else text


def _search_api() -> Any:
    from mltrack.search_view import _search_api as api

    return api()


def keep(before: Any, signature: str, background: bool, now: float | None = None) -> bool:
    """Whether a refresh of its own (`background`: the panel's timer, a job
    queued) keeps what the page shows: nothing changed, or the last computation
    (`before`: {"sig", "at", "took"}) was slow and recent. 10,000 runs take
    seconds: redone at most every SLOW_FACTOR times that on the timer, while
    the user's own changes redo it at once."""
    if not background or not isinstance(before, dict):
        return False
    if before.get("sig") == signature:
        return True
    at, took = before.get("at"), before.get("took")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (at, took)):
        return False
    return (time.time() if now is None else now) - at < SLOW_FACTOR * took


def _search_heads(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """The newest searches' own records (id, name, spec), no trial read: the
    scope selector's options, read every tick."""
    if _search_api() is None:
        return []
    from mltrack.store.searches import SearchStore

    searches = SearchStore(store)
    return searches.get_many(searches.ids(limit))


def register_callbacks(app: dash.Dash, store: Store) -> None:

    def table_where(status, text, task, where, schemas):
        """(task, the table's filter) as the table reads its widgets; None when they
        do not parse (the table says why)."""
        try:
            task = views.task_choice(task, schemas)
        except ValueError:
            return None
        checked = views.table_filter(status, text, task, where, store.sort_keys(task))
        return None if checked is None else (task, checked[0])

    def table_runs(status, text, task, where) -> tuple[list[Job], Schema, int, bool, str] | None:
        """The done runs the table's filters match (its task, or the newest
        matching run's when no task is picked): (jobs, schema, matching, capped, what)."""
        schemas = store.schemas()
        found = table_where(status, text, task, where, schemas)
        if found is None:
            return None
        task, where_ = found
        picked = task is not None
        if task is None:  # one task at a time: the newest matching run's
            newest = table_query.page(store, where_, "created", "desc", 0, 1).jobs
            if not newest or newest[0].task not in schemas:
                return [], next(iter(schemas.values())), 0, False, "no matching run"
            found = table_where(status, text, newest[0].task, where, schemas)
            if found is None:
                return None
            task, where_ = found
        matching = table_query.page(store, where_, "created", "desc", 0, 0).total
        done = where_ if where_.status else replace(where_, status="done")
        jobs: list[Job] = []
        while len(jobs) < MAX_RUNS:
            got = table_query.page(store, done, "created", "desc", len(jobs),
                                   min(MAX_PAGE, MAX_RUNS - len(jobs)))
            jobs += got.jobs
            if len(got.jobs) < MAX_PAGE:
                break
        capped = len(jobs) >= MAX_RUNS
        what = (f"task {task}"
                + (" matching the table's filters" if where_.status or where_.query() else "")
                + (" (the newest matching run's task: pick one in the table's filter for "
                   "another)" if not picked else ""))
        return jobs, schemas[task], matching, capped, what

    def table_signature(status, text, task, where) -> str | None:
        """What the table's runs are now, in two counts (no rows read)."""
        found = table_where(status, text, task, where, store.schemas())
        if found is None:
            return None
        task, where_ = found
        done = where_ if where_.status else replace(where_, status="done")
        counts = [table_query.page(store, w, "created", "desc", 0, 0).total
                  for w in (where_, done)]
        return json.dumps([status, text, task, where, counts])

    @app.callback(Output("analysis-scope", "options"),
                  Output("analysis-scope", "value", allow_duplicate=True),
                  # the searches view's list changed (not every tick)
                  Input("search-list-signature", "data"), Input("search-analyse", "n_clicks"),
                  State("search-selected", "data"), State("analysis-scope", "options"),
                  prevent_initial_call="initial_duplicate")
    def scopes(_tick, _clicks, selected, shown):
        found = _search_heads(store)
        options = [{"label": "the table's runs (task and filters)", "value": TABLE}] + [
            {"label": f"search {r.get('name') or r['id'][:8]} ({r['spec'].get('task')})",
             "value": SEARCH_PREFIX + r["id"]} for r in found]
        value = no_update
        if ctx.triggered_id == "search-analyse":
            sid = selected if isinstance(selected, str) else (found[0]["id"] if found else None)
            if sid is not None and any(o["value"] == SEARCH_PREFIX + sid for o in options):
                value = SEARCH_PREFIX + sid
        if value is no_update and options == shown:
            raise PreventUpdate
        return options, value

    @app.callback(Output("analysis-body", "children"), Output("analysis-note", "children"),
                  Output("analysis-metric", "options"), Output("analysis-metric", "value"),
                  Output("analysis-signature", "data"),
                  Input("analysis-scope", "value"), Input("analysis-metric", "value"),
                  Input("status-filter", "value"), Input("text-filter", "value"),
                  Input("task-filter", "value"), Input("where-filter", "value"),
                  Input("analysis-tick", "n_intervals"), Input("grid-version", "data"),
                  # the page's first call comes with the filters the URL restores
                  State("analysis-signature", "data"), prevent_initial_call=True)
    def panel(scope, metric, status, text, task, where, _tick, _version, before):
        if not isinstance(scope, str):
            raise PreventUpdate
        if metric is not None and not isinstance(metric, str):
            raise PreventUpdate
        default = None
        if scope.startswith(SEARCH_PREFIX):
            got = _search_runs(scope[len(SEARCH_PREFIX):])
            if got is not None:
                # a search is judged by its own objective unless another metric is picked
                *got, default = got
                if metric is None or ctx.triggered_id == "analysis-scope":
                    metric = default
                got = (*got[:-1], got[-1] + f"|{metric}")
        elif scope == TABLE:
            signature = table_signature(status, text, task, where)
            if signature is None:
                raise PreventUpdate
            signature += f"|{metric}"
            if keep(before, signature, ctx.triggered_id in ("analysis-tick", "grid-version")):
                raise PreventUpdate  # nothing changed: keep what the page has
            got = table_runs(status, text, task, where)
            if got is None:
                raise PreventUpdate
            got = (*got, signature)
        else:
            raise PreventUpdate
        if got is None:
            raise PreventUpdate
        jobs, schema, matching, capped, what, signature = got
        if keep(before, signature, ctx.triggered_id in ("analysis-tick", "grid-version")):
            raise PreventUpdate
        started = time.monotonic()
        objective = analysis.objective_of(schema, metric)
        runs = analysis.run_set(jobs, schema, objective)
        options = [{"label": f"{views.header_name(m.name)} ({m.goal})", "value": m.name}
                   for m in schema.metrics]
        children = body(runs)
        return (children, note(runs, what, matching, capped), options, objective.metric,
                {"sig": signature, "at": time.time(), "took": time.monotonic() - started})

    def _search_runs(sid: str) -> tuple[list[Job], Schema, int, bool, str, str, str] | None:
        search = _search_api()
        if search is None or len(sid) > 64:
            return None
        try:
            record = search.search_record(store, sid)
        except LookupError:  # SearchNotFound: the page may send any id
            return None
        schema = store.schemas().get(record.get("task"))
        if schema is None:
            return None
        iids = list(record.get("iids") or [])[-MAX_RUNS:]
        jobs = store.get_many(iids)
        signature = json.dumps([sid, [(j.iid, j.status.value) for j in jobs]])
        name = record.get("name") or sid[:8]
        metric = (record.get("objective") or {}).get("metric")
        return (jobs, schema, len(jobs), len(iids) >= MAX_RUNS, f"search {name}", signature,
                metric if metric in schema.goals else schema.primary.name)
