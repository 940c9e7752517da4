"""The run view: charts, hyperparameters and per-epoch tables of the runs
ticked in the table (or picked in its selector).

The table publishes the ticked iids in the `TICKED` store; this module owns
everything downstream of it, so the table and the run view never write the
same component.
"""
from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from mltrack import charts, views
from mltrack.store import Store
from mltrack.task import Schema

TICKED = "ticked-iids"
MAX_RUNS_SHOWN = 8
MAX_CHOSEN = 100  # iids the run picker may hold; it shows MAX_RUNS_SHOWN of them


def layout() -> html.Div:
    return html.Div([
        html.Div([
            html.H2("Runs"),
            dcc.Dropdown(id="run-select", multi=True, placeholder="select runs in the table, "
                         "or type an iid or hyperparameters to find one", className="run-select"),
        ], className="toolbar"),
        html.Div(_graphs([]), id="run-graphs", className="graphs"),
        html.Div(id="run-details", className="run-details"),
        dcc.Store(id="run-signature"),
    ], className="card runs-card")


def _graphs(figures: list[tuple[str, Any]]) -> list[dcc.Graph]:
    figures = figures or [("empty", charts.empty_figure())]
    return [dcc.Graph(id={"type": "chart", "key": key}, figure=fig,
                      config={"displaylogo": False, "displayModeBar": key != "empty" and "hover"},
                      className="graph") for key, fig in figures]


def register_callbacks(app: dash.Dash, store: Store) -> None:
    """The run view's callbacks; they read `store` and the `TICKED` store."""

    @app.callback(Output("run-select", "value"), Input(TICKED, "data"),
                  State("run-select", "value"), prevent_initial_call=True)
    def follow_ticks(ticked, chosen):
        ticked = views.chosen_iids(ticked, MAX_CHOSEN)
        if ticked is None:
            raise PreventUpdate
        return ticked[:MAX_RUNS_SHOWN] if ticked or not chosen else no_update

    @app.callback(Output("run-select", "options"), Input("run-select", "search_value"),
                  Input("run-select", "value"))
    def run_options(search, chosen):
        chosen, search = views.chosen_iids(chosen, MAX_CHOSEN), views.search_text(search)
        if chosen is None or search is None:
            raise PreventUpdate
        known = {job.iid: job for job in store.get_many(chosen)}
        if search:
            for job in store.list_jobs(text=search, limit=20).jobs:
                known.setdefault(job.iid, job)
        elif not known:
            for job in store.list_jobs(limit=20).jobs:
                known[job.iid] = job
        schemas = store.schemas()
        return [{"label": f"{job.task} · {views.run_label(job, schemas.get(job.task))} · "
                          f"{job.status.value}", "value": iid} for iid, job in known.items()]

    @app.callback(Output("run-graphs", "children"), Output("run-details", "children"),
                  Output("run-signature", "data"),
                  Input("run-select", "value"), Input("tick", "n_intervals"),
                  State("run-signature", "data"))
    def run_view(chosen, _tick, signature):
        chosen = views.chosen_iids(chosen, MAX_CHOSEN)
        if chosen is None:
            raise PreventUpdate
        runs = store.runs(chosen[:MAX_RUNS_SHOWN])
        new_signature = [[j.iid, j.status.value, len(e)] for j, e in runs]
        if new_signature == signature:
            return no_update, no_update, no_update  # nothing changed: no redraw
        schemas = store.schemas()
        drawn = charts.run_charts([(j, e) for j, e in runs if j.task in schemas], schemas,
                                  lambda job: views.run_label(job, schemas[job.task]))
        details = [_run_details(job, epochs, schemas.get(job.task)) for job, epochs in runs]
        return _graphs(drawn), details, new_signature



def _run_details(job, epochs, schema: Schema | None) -> html.Details:
    """Hyperparameters (from the task's schema), the per-epoch table and any
    error of one run."""
    facts = views.run_facts(job, schema)
    headers, rows = views.epoch_table(epochs, schema)
    return html.Details([
        html.Summary([html.Span(job.status.value, className=f"status-dot status-{job.status.value}"),
                      f"{job.task} · {views.run_label(job, schema)}"]),
        html.Div([
            html.Table([html.Tbody([html.Tr([html.Th(k, title=h or None), html.Td(v)])
                                    for k, v, h in facts])], className="facts"),
            html.Table([
                html.Thead(html.Tr([html.Th(h) for h in headers])),
                html.Tbody([html.Tr([html.Td(v) for v in row]) for row in rows]),
            ], className="epochs") if rows else html.P("No finished epoch yet.", className="muted"),
        ], className="details-body"),
        html.Pre(job.error + ("\n\n" + job.traceback if job.traceback else ""),
                 className="error-text") if job.error else None,
    ], open=bool(epochs) or bool(job.error), className="run")
