"""The Dash dashboard: submit jobs and sweeps, watch them, sort and compare runs.

Callbacks stay thin: they read the store and hand records to the pure
functions of `views`. Any page can post to a callback, so each one checks
what it is sent (with `views`' checkers) and ignores nonsense (PreventUpdate)
instead of failing on it. The table is an AG Grid in its infinite row model, so
the browser asks the store for the rows it shows, sorted and filtered there,
and a refresh re-reads only those rows.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import dash
import dash_ag_grid as dag
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import Flask

from mltrack.params import MODELS, OPTIMIZERS, HyperParams
from mltrack.store import IllegalTransition, JobNotFound, Status, Store
from mltrack import views

REFRESH_MS = 1500
MAX_RUNS_SHOWN = 8
MAX_CHOSEN = 100  # iids the run picker may hold; it shows MAX_RUNS_SHOWN of them
_ASSETS = Path(__file__).parent / "assets"
_DEFAULTS = HyperParams()


def _field(label: str, control: Any, field: str, hint: str = "") -> html.Div:
    return html.Div([
        html.Label(label, htmlFor=f"form-{field}", className="field-label"),
        control,
        html.Div(hint, className="field-hint") if hint else None,
        html.Div(id={"type": "field-error", "field": field}, className="field-error"),
    ], className="field")


def _text(field: str, value: Any) -> dcc.Input:
    return dcc.Input(id=f"form-{field}", value=str(value), type="text", debounce=False,
                     className="text-input", autoComplete="off")


def _form() -> html.Div:
    lr_marks = {e: f"1e{e}" if e else "1" for e in range(-5, 2)}
    return html.Div([
        html.H2("New experiment"),
        _field("Model", dcc.Dropdown(id="form-model", options=list(MODELS), multi=True,
                                     value=[_DEFAULTS.model], clearable=False), "model"),
        _field("Optimizer", dcc.Dropdown(id="form-optimizer", options=list(OPTIMIZERS),
                                         multi=True, value=[_DEFAULTS.optimizer],
                                         clearable=False), "optimizer",
               "pick several to sweep"),
        _field("Learning rate", html.Div([
            dcc.Slider(id="form-lr-slider", min=-5, max=1, step=0.1, value=-3, marks=lr_marks,
                       included=False, updatemode="drag"),
            _text("learning_rate", f"{_DEFAULTS.learning_rate:g}"),
        ]), "learning_rate", "log scale; comma-separate values to sweep: 0.1, 0.01"),
        html.Div([
            _field("Epochs", _text("num_epochs", _DEFAULTS.num_epochs), "num_epochs"),
            _field("Batch size", _text("batch_size", _DEFAULTS.batch_size), "batch_size"),
        ], className="field-row"),
        html.Div([
            _field("Momentum", _text("momentum", f"{_DEFAULTS.momentum:g}"), "momentum",
                   "sgd, rmsprop"),
            _field("Weight decay", _text("weight_decay", f"{_DEFAULTS.weight_decay:g}"),
                   "weight_decay"),
        ], className="field-row"),
        _field("Seed", _text("seed", _DEFAULTS.seed), "seed"),
        html.Div(id="form-error", className="field-error"),
        html.Div(id="sweep-preview", className="sweep-preview"),
        html.Button("Queue 1 job", id="submit", className="button primary", n_clicks=0),
        html.Div(id="submit-result", className="submit-result"),
    ], className="card form-card")


_COLUMNS = [
    {"field": "status", "headerName": "Status", "width": 96,
     "cellClass": {"function": "'status-cell status-' + params.value"}},
    {"field": "model", "headerName": "Model", "width": 70},
    {"field": "optimizer", "headerName": "Optimizer", "width": 88},
    {"field": "learning_rate", "headerName": "LR", "width": 66,
     "valueFormatter": {"function": "params.value == null ? '' : Number(params.value).toPrecision(3).replace(/\\.?0+$/, '')"}},
    {"field": "batch_size", "headerName": "Batch", "width": 64},
    {"field": "epochs", "headerName": "Epochs", "width": 70},
    {"field": "progress", "headerName": "Progress", "width": 124, "sortable": False,
     "cellRenderer": "ProgressBar"},
    {"field": "test_accuracy", "headerName": "Test acc", "width": 98,
     "valueFormatter": {"function": "params.value == null ? '' : params.value.toFixed(2) + '%'"}},
    {"field": "best_test_accuracy", "headerName": "Best", "width": 78,
     "valueFormatter": {"function": "params.value == null ? '' : params.value.toFixed(2) + '%'"}},
    {"field": "train_loss", "headerName": "Train loss", "width": 88,
     "valueFormatter": {"function": "params.value == null ? '' : params.value.toFixed(4)"}},
    {"field": "test_loss", "headerName": "Test loss", "width": 86,
     "valueFormatter": {"function": "params.value == null ? '' : params.value.toFixed(4)"}},
    {"field": "runtime", "headerName": "Run time", "width": 86},
    {"field": "created", "headerName": "Created", "width": 142, "sort": "desc"},
    {"field": "iid", "headerName": "iid", "width": 90, "sortable": False,
     "valueFormatter": {"function": "params.value ? params.value.slice(0, 8) : ''"}},
]


def _table() -> html.Div:
    return html.Div([
        html.Div([
            html.H2("Experiments"),
            dcc.Dropdown(id="status-filter", placeholder="any status", clearable=True,
                         options=[{"label": s.value, "value": s.value} for s in Status],
                         className="status-filter"),
            dcc.Input(id="text-filter", placeholder="filter: mlp sgd 0.01 …", type="search",
                      debounce=0.4, className="text-input text-filter"),
            html.Div([
                html.Button("Cancel", id="action-cancel", className="button", disabled=True),
                html.Button("Delete", id="action-delete", className="button danger",
                            disabled=True),
                html.Button("Clone", id="action-clone", className="button", disabled=True),
                html.Button("Retry", id="action-retry", className="button", disabled=True),
            ], className="actions"),
        ], className="toolbar"),
        html.Div(id="action-result", className="action-result"),
        dag.AgGrid(
            id="jobs-grid",
            columnDefs=_COLUMNS,
            rowModelType="infinite",
            getRowId="params.data.iid",
            defaultColDef={"sortable": True, "resizable": True, "suppressHeaderMenuButton": True},
            dashGridOptions={
                "rowSelection": {"mode": "multiRow", "headerCheckbox": False},
                "cacheBlockSize": 100, "maxBlocksInCache": 20, "infiniteInitialRowCount": 1,
                "rowBuffer": 10, "animateRows": False, "suppressCellFocus": True,
                "rowHeight": 34, "headerHeight": 36, "suppressColumnVirtualisation": True,
                "overlayNoRowsTemplate": "No experiments yet: queue one on the left.",
            },
            style={"height": "380px"},
            className="ag-theme-alpine jobs-grid",
        ),
        dcc.ConfirmDialog(id="confirm-cancel"),
        dcc.ConfirmDialog(id="confirm-delete"),
    ], className="card table-card")


def _run_view() -> html.Div:
    return html.Div([
        html.Div([
            html.H2("Runs"),
            dcc.Dropdown(id="run-select", multi=True, placeholder="select runs in the table, "
                         "or type an iid or hyperparameters to find one", className="run-select"),
        ], className="toolbar"),
        html.Div([
            dcc.Graph(id="loss-graph", figure=views.curves_figure([], "loss"),
                      config={"displaylogo": False}, className="graph"),
            dcc.Graph(id="accuracy-graph", figure=views.curves_figure([], "accuracy"),
                      config={"displaylogo": False}, className="graph"),
        ], className="graphs"),
        html.Div(id="run-details", className="run-details"),
        dcc.Store(id="run-signature"),
    ], className="card runs-card")


def layout() -> html.Div:
    return html.Div([
        html.Header([
            html.Div([html.Span("mltrack", className="brand"),
                      html.Span("MNIST experiments", className="brand-sub")]),
            html.Div(id="header-counts", className="header-counts"),
        ], className="header"),
        html.Main([
            _form(),
            html.Div([_table(), _run_view()], className="main-column"),
        ], className="body"),
        dcc.Interval(id="tick", interval=REFRESH_MS),
        dcc.Store(id="grid-version", data=0),  # bumped when jobs are added or removed
        dcc.Store(id="grid-refreshed"),  # when the grid last re-read its rows
    ], className="app")


def create_dashboard(server: Flask, store: Store) -> dash.Dash:
    """Mount the dashboard on `server`; every callback reads and writes `store`."""
    app = dash.Dash("mltrack", server=server, title="mltrack", update_title=None,
                    url_base_pathname="/", assets_folder=str(_ASSETS))
    app.layout = layout
    _register_callbacks(app, store)
    return app


def _register_callbacks(app: dash.Dash, store: Store) -> None:
    form_inputs = [Input(f"form-{f}", "value") for f in views.FORM_FIELDS]

    @app.callback(Output("header-counts", "children"), Input("tick", "n_intervals"))
    def header(_tick):
        o = store.overview()
        counts, workers = o["counts"], o["workers"]
        eta = views.queue_eta(counts["waiting"], o["running"], o["recent_done"], len(workers))
        chips = [html.Span([html.B(counts[s]), f" {s}"], className=f"chip chip-{s}",
                           id=f"count-{s}") for s in ("waiting", "running", "done", "failed")]
        busy = sum(1 for w in workers if w.get("job"))
        chips.append(html.Span(f"{len(workers)} worker{'s' if len(workers) != 1 else ''}"
                               f" ({busy} busy)", className="chip chip-workers",
                               title="\n".join(w["id"] for w in workers) or "no live worker"))
        if counts["waiting"] or counts["running"]:
            text = ("queue empty in ≈ " + views.duration(eta)) if eta is not None else (
                "no live worker" if not workers else "queue empty: estimating…")
            chips.append(html.Span(text, className="chip chip-eta", id="queue-eta"))
        return chips

    @app.callback(Output("jobs-grid", "getRowsResponse"), Input("jobs-grid", "getRowsRequest"),
                  State("status-filter", "value"), State("text-filter", "value"))
    def rows(request, status, text):
        if not request:
            return no_update
        query = views.rows_request(request, status, text)
        if query is None:
            raise PreventUpdate
        page = store.list_jobs(**query)
        return {"rowData": views.table_rows(page.jobs), "rowCount": page.total}

    # Live refresh keeps sort, filter, scroll and selection: the grid re-asks
    # for the blocks it holds. A filter change starts the grid afresh.
    app.clientside_callback(
        """function(tick, status, text, version) {
            const api = dash_ag_grid.getApi('jobs-grid');
            if (!api) { return window.dash_clientside.no_update; }  // not rendered yet
            const trigger = (dash_clientside.callback_context.triggered[0] || {}).prop_id || '';
            if (trigger.startsWith('tick')) { api.refreshInfiniteCache(); }
            else { api.purgeInfiniteCache(); }
            return Date.now();
        }""",
        Output("grid-refreshed", "data"), Input("tick", "n_intervals"),
        Input("status-filter", "value"), Input("text-filter", "value"),
        Input("grid-version", "data"), prevent_initial_call=True)

    @app.callback(Output("form-lr-slider", "value"), Output("form-learning_rate", "value"),
                  Input("form-lr-slider", "value"), Input("form-learning_rate", "value"),
                  prevent_initial_call=True)
    def learning_rate_scale(exponent, text):
        if ctx.triggered_id == "form-lr-slider":
            if (not isinstance(exponent, (int, float)) or isinstance(exponent, bool)
                    or not -5 <= exponent <= 1):
                raise PreventUpdate  # not a position of the slider
            return no_update, f"{10 ** exponent:.2g}"
        try:
            value = float(text)
        except (TypeError, ValueError, OverflowError):
            return no_update, no_update  # a list, a typo, 10**400: the text is the truth
        if not 0 < value < math.inf:
            return no_update, no_update
        return max(-5.0, min(1.0, round(math.log10(value), 1))), no_update

    @app.callback(Output({"type": "field-error", "field": ALL}, "children"),
                  Output("form-error", "children"), Output("sweep-preview", "children"),
                  Output("submit", "children"), Output("submit", "disabled"), *form_inputs)
    def check_form(*values):
        jobs, errors = views.parse_form(dict(zip(views.FORM_FIELDS, values)))
        field_errors = [errors.get(spec["id"]["field"], "") for spec in ctx.outputs_list[0]]
        if errors:
            return field_errors, errors.get("form", ""), "", "Queue jobs", True
        n = len(jobs)
        preview = (f"This will queue {n} jobs (every combination of the listed values)."
                   if n > 1 else "")
        return field_errors, "", preview, f"Queue {n} job{'s' if n != 1 else ''}", False

    @app.callback(Output("submit-result", "children"), Output("grid-version", "data"),
                  Input("submit", "n_clicks"), *[State(f"form-{f}", "value")
                                                 for f in views.FORM_FIELDS],
                  State("grid-version", "data"), prevent_initial_call=True)
    def submit(_clicks, *values):
        *form, version = values
        jobs, errors = views.parse_form(dict(zip(views.FORM_FIELDS, form)))
        if errors:
            return "Fix the fields marked in red first.", no_update
        iids = store.create_many(jobs)
        return (f"Queued {len(iids)} job{'s' if len(iids) != 1 else ''}.",
                views.next_version(version))

    @app.callback(Output("action-cancel", "disabled"), Output("action-delete", "disabled"),
                  Output("action-clone", "disabled"), Output("action-retry", "disabled"),
                  Output("run-select", "value"), Input("jobs-grid", "selectedRows"),
                  State("run-select", "value"))
    def selection(selected, chosen):
        selected = views.selected_rows(selected)
        if selected is None:
            raise PreventUpdate
        statuses = {r["status"] for r in selected}
        active = {Status.WAITING.value, Status.RUNNING.value}
        iids = [r["iid"] for r in selected][:MAX_RUNS_SHOWN]
        return (not statuses & active, not statuses - active, len(selected) != 1,
                not statuses & {Status.FAILED.value, Status.CANCELLED.value},
                iids if selected or not chosen else no_update)

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
        return [{"label": views.run_label(job) + f" · {job.status.value}", "value": iid}
                for iid, job in known.items()]

    @app.callback(Output("loss-graph", "figure"), Output("accuracy-graph", "figure"),
                  Output("run-details", "children"), Output("run-signature", "data"),
                  Input("run-select", "value"), Input("tick", "n_intervals"),
                  State("run-signature", "data"))
    def run_view(chosen, _tick, signature):
        chosen = views.chosen_iids(chosen, MAX_CHOSEN)
        if chosen is None:
            raise PreventUpdate
        runs = store.runs(chosen[:MAX_RUNS_SHOWN])
        new_signature = [[j.iid, j.status.value, len(e)] for j, e in runs]
        if new_signature == signature:
            return no_update, no_update, no_update, no_update  # nothing changed: no redraw
        details = [_run_details(job, epochs) for job, epochs in runs]
        return (views.curves_figure(runs, "loss"), views.curves_figure(runs, "accuracy"),
                details, new_signature)

    @app.callback(Output("confirm-cancel", "displayed"), Output("confirm-cancel", "message"),
                  Input("action-cancel", "n_clicks"), State("jobs-grid", "selectedRows"),
                  prevent_initial_call=True)
    def ask_cancel(_n, selected):
        selected = views.selected_rows(selected)
        if selected is None:
            raise PreventUpdate
        n = len([r for r in selected if r["status"] in ("waiting", "running")])
        return True, f"Cancel {n} job{'s' if n != 1 else ''}? Running jobs stop after their current batch."

    @app.callback(Output("confirm-delete", "displayed"), Output("confirm-delete", "message"),
                  Input("action-delete", "n_clicks"), State("jobs-grid", "selectedRows"),
                  prevent_initial_call=True)
    def ask_delete(_n, selected):
        selected = views.selected_rows(selected)
        if selected is None:
            raise PreventUpdate
        n = len([r for r in selected if r["status"] not in ("waiting", "running")])
        return True, f"Delete {n} finished job{'s' if n != 1 else ''} and their metrics for good?"

    @app.callback(Output("action-result", "children"),
                  Output("grid-version", "data", allow_duplicate=True),
                  Input("confirm-cancel", "submit_n_clicks"),
                  Input("confirm-delete", "submit_n_clicks"), Input("action-retry", "n_clicks"),
                  State("jobs-grid", "selectedRows"), State("grid-version", "data"),
                  prevent_initial_call=True)
    def act(_cancel, _delete, _retry, selected, version):
        selected = views.selected_rows(selected)
        action = {"confirm-cancel": "cancel", "confirm-delete": "delete",
                  "action-retry": "retry"}.get(ctx.triggered_id)
        if selected is None or action is None:  # nothing clicked, or no rows
            raise PreventUpdate
        operation = {"cancel": store.cancel, "delete": store.delete, "retry": store.retry}[action]
        done, skipped = 0, 0
        for row in selected:
            try:
                operation(row["iid"])
                done += 1
            except (IllegalTransition, JobNotFound):
                skipped += 1
        verb = {"cancel": "Cancelled", "delete": "Deleted", "retry": "Queued again"}[action]
        message = f"{verb} {done} job{'s' if done != 1 else ''}"
        if skipped:
            message += f"; {skipped} skipped (not in a state that allows it)"
        return message + ".", views.next_version(version)

    @app.callback(*[Output(f"form-{f}", "value", allow_duplicate=True)
                    for f in views.FORM_FIELDS],
                  Input("action-clone", "n_clicks"), State("jobs-grid", "selectedRows"),
                  prevent_initial_call=True)
    def clone(_n, selected):
        selected = views.selected_rows(selected)
        if not selected:
            raise PreventUpdate
        try:
            job = store.get(selected[0]["iid"])
        except JobNotFound:  # deleted since it was selected
            raise PreventUpdate from None
        values = views.form_values(job.hyper_params)
        return [values[f] for f in views.FORM_FIELDS]


def _run_details(job, epochs) -> html.Details:
    """Hyperparameters, the per-epoch table and any error of one run."""
    hp = job.hyper_params
    facts = [("status", job.status.value), ("iid", job.iid),
             ("device", f"{job.device or '-'} ({job.precision or '-'})"),
             ("created", views.local_time(job.created)), ("run time", views.duration(job.runtime)),
             ("attempts", str(job.attempts))] + [(k.replace("_", " "), f"{v:g}" if isinstance(
                 v, float) else str(v)) for k, v in hp.items()]
    rows = views.epoch_rows(epochs)
    return html.Details([
        html.Summary([html.Span(job.status.value, className=f"status-dot status-{job.status.value}"),
                      views.run_label(job)]),
        html.Div([
            html.Table([html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in facts])],
                       className="facts"),
            html.Table([
                html.Thead(html.Tr([html.Th(h) for h in ("epoch", "train loss", "train acc %",
                                                         "test loss", "test acc %", "time")])),
                html.Tbody([html.Tr([html.Td(r[k]) for k in ("epoch", "train_loss",
                                                             "train_accuracy", "test_loss",
                                                             "test_accuracy", "time")])
                            for r in rows]),
            ], className="epochs") if rows else html.P("No finished epoch yet.", className="muted"),
        ], className="details-body"),
        html.Pre(job.error + ("\n\n" + job.traceback if job.traceback else ""),
                 className="error-text") if job.error else None,
    ], open=bool(epochs) or bool(job.error), className="run")
