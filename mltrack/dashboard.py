"""The Dash dashboard: submit jobs and sweeps of any task, watch them, sort and
compare runs.

Callbacks stay thin: they read the store and hand records to the pure
functions of `views`, `form` and `charts`. Any page can post to a callback, so
each one checks what it is sent and ignores nonsense (PreventUpdate) instead
of failing on it. The table is an AG Grid in its infinite row model, so the
browser asks the store for the rows it shows, sorted and filtered there, and a
refresh re-reads only those rows.

Everything task-specific comes from the task's schema: the form is rebuilt
when the task selector changes (its widgets carry the task in their ids, so a
callback never mixes one task's values with another's schema), the table's
columns follow the task filter, the run view draws each task's chart groups.
"""
from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import dash
import dash_ag_grid as dag
import redis
from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import Flask

from mltrack import already_ran_view, form, run_view, table_query, views
from mltrack import analysis_view, search_form, search_view  # insight: searches, analysis
from mltrack.params import FAST_PRESET, MNIST, HyperParams
from mltrack.store import IllegalTransition, Job, JobNotFound, Status, Store, sort_keys
from mltrack.task import Float, Param, Schema

REFRESH_MS = 1500
FAST_PRESET_LABEL = "fast: 99% in 2 epochs"
MAX_TOKENS = 10_000  # form states remembered as queued
CHART_OPTIONS = getattr(run_view, "CHART_OPTIONS", "chart-options")  # "runs" owns the store
NO_ROWS = "No experiments to show: queue one on the left, or clear the filters."
_ASSETS = Path(__file__).parent / "assets"

# Pattern-matching ids of the form's widgets. `kind` is the widget (form.widget),
# so the log slider's callback matches only the text boxes that have a slider.
PARAMS = {"type": "param", "task": ALL, "field": ALL, "kind": ALL}
FIELDS = {"type": "param-field", "task": ALL, "field": ALL}
FIELD_ERRORS = {"type": "field-error", "field": ALL}
_SLIDER = {"type": "param-slider", "task": MATCH, "field": MATCH}
_LOG_TEXT = {"type": "param", "task": MATCH, "field": MATCH, "kind": form.LOG_SLIDER}


def _dom_id(cid: dict[str, Any]) -> str:
    """A dict id as Dash writes it into the page (sorted compact JSON)."""
    return json.dumps(cid, sort_keys=True, separators=(",", ":"))


def _field_class(param: Param | None, on: bool = True) -> str:
    wide = param is not None and form.widget(param) != form.TEXT
    return "field" + (" field-wide" if wide else "") + ("" if on else " field-off")


# -- the form ------------------------------------------------------------------------
def _control(task: str, name: str, param: Param, value: Any) -> Any:
    kind = form.widget(param)
    cid = {"type": "param", "task": task, "field": name, "kind": kind}
    if kind == form.CHOICE:
        return dcc.Dropdown(id=cid, options=[{"label": str(o), "value": o}
                                             for o in param.options],
                            multi=True, value=value, clearable=False)
    if kind == form.CHECKLIST:
        return dcc.Checklist(id=cid, options=[{"label": v, "value": v} for v in form.BOOL_VALUES],
                             value=value, inline=True, className="checklist")
    text = dcc.Input(id=cid, value=value, type="text", debounce=False, className="text-input",
                     autoComplete="off", placeholder=param.rule())
    if kind != form.LOG_SLIDER:
        return text
    low, high = form.slider_range(param)
    position = form.text_to_slider(value, low, high)
    return html.Div([
        dcc.Slider(id={"type": "param-slider", "task": task, "field": name}, min=low, max=high,
                   step=0.1, value=low if position is None else position,
                   marks=form.slider_marks(low, high), included=False, updatemode="drag"),
        text])


def _param_field(task: str, name: str, param: Param, value: Any) -> html.Div:
    kind = form.widget(param)
    cid = {"type": "param", "task": task, "field": name, "kind": kind}
    return html.Div([
        html.Label(views.header_name(name), htmlFor=_dom_id(cid), className="field-label",
                   title=param.rule()),
        _control(task, name, param, value),
        html.Div(form.hint(param), className="field-hint") if form.hint(param) else None,
        html.Div(form.when_text(param), className="field-when") if param.when else None,
        html.Div(id={"type": "field-error", "field": name}, className="field-error"),
    ], id={"type": "param-field", "task": task, "field": name}, className=_field_class(param))


def form_fields(schema: Schema, params: dict[str, Any] | None = None) -> list[html.Div]:
    """One field per parameter of `schema`, filled with `params` (or defaults)."""
    values = form.form_values(schema, params)
    return [_param_field(schema.name, n, p, values[n]) for n, p in schema.params.items()]


def _form(schemas: dict[str, Schema]) -> html.Div:
    return html.Div([
        html.H2("New experiment"),
        html.Div([
            html.Label("Task", htmlFor="form-task", className="field-label"),
            dcc.Dropdown(id="form-task", options=views.task_options(schemas), value=MNIST.name,
                         clearable=False, searchable=False),
            html.Div(views.task_help(schemas.get(MNIST.name, MNIST)), id="form-task-help",
                     className="field-hint"),
        ], className="field task-field"),
        html.Div([
            html.Span("Preset", className="field-label"),
            html.Button(FAST_PRESET_LABEL, id="preset-fast", className="button preset",
                        n_clicks=0, title=views.preset_title(FAST_PRESET)),
        ], id="form-presets", className="presets"),
        search_form.mode_switch(),  # insight: jobs or a search
        html.P(form.SWEEP_HINT, className="field-hint sweep-hint"),
        html.Div(form_fields(schemas.get(MNIST.name, MNIST)), id="form-fields",
                 className="form-fields"),
        # kept at the bottom of the form's view, however long the form
        html.Div([
            html.Div(id="form-error", className="field-error"),
            html.Div(id="sweep-preview", className="sweep-preview"),
            html.Button("Queue 1 job", id="submit", className="button primary", n_clicks=0),
            html.Div(id="submit-result", className="submit-result"),
        ], className="form-submit", id="form-submit"),
        search_form.layout(schemas.get(MNIST.name, MNIST)),  # insight: the search mode
        dcc.Store(id="form-fill"),  # a run to fill the form with (clone)
        dcc.Store(id="form-token"),  # one per state of the form: queued once
    ], className="card form-card")


# -- the table -------------------------------------------------------------------------
def _table(schemas: dict[str, Schema]) -> html.Div:
    return html.Div([
        html.Div([
            html.H2("Experiments"),
            dcc.Dropdown(id="task-filter", placeholder="all tasks", clearable=True,
                         options=views.task_options(schemas), className="task-filter"),
            dcc.Dropdown(id="status-filter", placeholder="any status", clearable=True,
                         options=[{"label": s.value, "value": s.value} for s in Status],
                         className="status-filter"),
            dcc.Input(id="text-filter", placeholder="filter: mlp sgd 0.01 tag:best …",
                      type="search",
                      debounce=0.4, className="text-input text-filter"),
            html.Div(dcc.Input(id="where-filter", placeholder="metric: test accuracy > 97",
                               type="search", debounce=0.4, className="text-input"),
                     title="conditions on metrics, comma-separated: test accuracy > 97, "
                           "best loss < 0.5 (a run without a value yet is left out)",
                     className="where-filter"),
        ], className="toolbar"),
        html.Div([
            html.Span(id="match-count", className="match-count"),
            dcc.Checklist(id="all-matching", options=[{"label": "act on all matching",
                                                       "value": "all"}],
                          value=[], inline=True, className="checklist all-matching"),
            html.Span(id="ticked-count", className="ticked-count"),
            html.Span(id="live-note", className="live-note"),
            html.Div([
                html.Button("Cancel", id="action-cancel", className="button", disabled=True),
                html.Button("Delete", id="action-delete", className="button danger",
                            disabled=True),
                html.Button("Clone", id="action-clone", className="button", disabled=True),
                html.Button("Retry", id="action-retry", className="button", disabled=True),
                html.Details([
                    html.Summary("Columns", className="button"),
                    dcc.Checklist(id="column-chooser", className="column-chooser-list"),
                ], className="column-chooser"),
                dcc.Store(id="column-choice", storage_type="local"),
                # the table as filtered and sorted, every row (GET /experiments.csv)
                html.A("Export CSV", id="export-csv", href="/experiments.csv", download="",
                       className="button", title="every row the filters keep, in the "
                                                 "table's order, as a CSV file"),
            ], className="actions"),
        ], className="toolbar action-bar"),
        html.Div(id="where-error", className="field-error"),
        html.Div(id="action-result", className="action-result"),
        dag.AgGrid(
            id="jobs-grid",
            columnDefs=views.table_columns(schemas, None, sort_keys(schemas.values())),
            rowModelType="infinite",
            getRowId="params.data.iid",
            defaultColDef={"resizable": True, "suppressHeaderMenuButton": True,
                           "wrapHeaderText": True, "autoHeaderHeight": True},
            dashGridOptions={
                "rowSelection": {"mode": "multiRow", "headerCheckbox": False},
                "cacheBlockSize": 100, "maxBlocksInCache": 20, "infiniteInitialRowCount": 1,
                "rowBuffer": 10, "animateRows": False, "suppressCellFocus": True,
                "rowHeight": 34, "suppressColumnVirtualisation": True, "tooltipShowDelay": 300,
                # a plain text (an overlay template would be HTML, which the grid refuses)
                "localeText": {"noRowsToShow": NO_ROWS},
            },
            style={"height": "380px"},
            className="ag-theme-alpine jobs-grid",
        ),
        dcc.ConfirmDialog(id="confirm-cancel"),
        dcc.ConfirmDialog(id="confirm-delete"),
        dcc.ConfirmDialog(id="confirm-retry"),
    ], className="card table-card", id="experiments")


def _schemas_for_page(store: Store) -> tuple[dict[str, Schema], dict[str, Schema]]:
    """The tasks the page starts with, and those of them the form can queue.
    Dash builds the page once when the app is made, maybe before the database
    answers: then MNIST alone (the callbacks read the store again, and answer
    503 while it is down)."""
    try:
        return store.schemas(), _queueable(store)
    except redis.RedisError:
        return {MNIST.name: MNIST}, {MNIST.name: MNIST}


def layout(store: Store) -> html.Div:
    schemas, queueable = _schemas_for_page(store)
    return html.Div([
        html.Header([
            html.Div([html.Span("mltrack", className="brand"),
                      html.Span("experiments", className="brand-sub")]),
            html.Div(id="header-counts", className="header-counts"),
        ], className="header"),
        html.Main([
            _form(queueable),
            html.Div([
                # one click to either part, the page never scrolled past the table by hand
                html.Nav([
                    html.A("Experiments", href="#experiments", id="tab-table",
                           className="view-tab"),
                    html.A(["Runs", html.Span(id="tab-runs-count", className="tab-count")],
                           href="#runs", id="tab-runs", className="view-tab"),
                    # insight: searches and the analysis panel
                    html.A("Searches", href="#searches", id="tab-searches", className="view-tab"),
                    html.A("Analysis", href="#analysis", id="tab-analysis", className="view-tab"),
                ], className="view-tabs"),
                _table(schemas),
                html.Div(run_view.layout(), id="runs", className="runs-anchor"),
                search_view.layout(),  # insight
                analysis_view.layout(),  # insight
            ], className="main-column"),
        ], className="body"),
        dcc.Interval(id="tick", interval=REFRESH_MS),
        dcc.Location(id="url", refresh=False),
        dcc.Store(id="grid-version", data=0),  # bumped when jobs are added or removed
        dcc.Store(id="grid-refreshed"),  # when the grid last asked for its rows again
        # what the rows the grid got were read under: {"sort", "order", "total"}
        dcc.Store(id="rows-read"),
        # the view a URL asked for at load: sort and ticked runs, applied in the page
        dcc.Store(id="restore"),
        dcc.Store(id="restore-applied"),
        dcc.Store(id="url-written"),
        # the ticked rows' iids, in table order: what the run view shows
        dcc.Store(id=run_view.TICKED, data=[]),
    ], className="app")


def create_dashboard(server: Flask, store: Store) -> dash.Dash:
    """Mount the dashboard on `server`; every callback reads and writes `store`."""
    app = dash.Dash("mltrack", server=server, title="mltrack", update_title=None,
                    url_base_pathname="/", assets_folder=str(_ASSETS))
    app.layout = lambda: layout(store)
    # -- speed: Dash writes every callback's answer with plotly's JSON writer. Its
    # default engine, orjson when installed, fails on Dash components and then
    # walks the whole answer in Python first; the json engine (C encoder, plotly's
    # encoder for the components) writes the same JSON 3-5x faster: a table
    # refresh 6 -> 1.2 ms, an 8-run redraw 22 -> 9 ms (benchmarks/dashboard_refresh.py).
    import plotly.io

    plotly.io.json.config.default_engine = "json"
    # -- end speed
    _register_callbacks(app, store)
    run_view.register_callbacks(app, store)
    # insight: the form's search mode, the searches view, the analysis panel
    search_form.register_callbacks(app, store, lambda: _queueable(store), PARAMS)
    search_view.register_callbacks(app, store)
    analysis_view.register_callbacks(app, store)
    return app


def header_chips(store: Store) -> list[html.Span]:
    """The header: jobs per status, live workers, tasks nobody runs, the queue's ETA."""
    o = store.overview()
    counts, workers = o["counts"], o["workers"]
    eta = views.queue_eta(counts["waiting"], o["running"], o["recent_done"], len(workers))
    chips = [html.Span([html.B(counts[s.value]), f" {s.value}"],
                       className=f"chip chip-{s.value}", id=f"count-{s.value}") for s in Status]
    busy = sum(1 for w in workers if w.get("job"))
    chips.append(html.Span(f"{len(workers)} worker{'s' if len(workers) != 1 else ''}"
                           f" ({busy} busy)", className="chip chip-workers",
                           title="\n".join(str(w.get("id")) for w in workers)
                           or "no live worker"))
    notes = views.no_worker_notes(o["waiting_by_task"], workers)
    chips += [html.Span(note, className="chip chip-warn no-worker",
                        title="start a worker with this task: python -m mltrack worker "
                              "--task module:task") for note in notes]
    if (counts["waiting"] or counts["running"]) and not notes:
        text = ("queue empty in ≈ " + views.duration(eta)) if eta is not None else (
            "no live worker" if not workers else "queue empty: estimating…")
        chips.append(html.Span(text, className="chip chip-eta", id="queue-eta"))
    return chips


def _queueable(store: Store) -> dict[str, Schema]:
    """The tasks the form may queue jobs of: every task but those only tracked
    from scripts (no worker could run their jobs)."""
    tracked = store.tracked_tasks()
    return {name: schema for name, schema in store.schemas().items() if name not in tracked}


def _schema(store: Store, task: Any) -> Schema | None:
    """The form's task's schema; None for a task the form cannot queue."""
    return _queueable(store).get(task) if isinstance(task, str) else None


def _register_callbacks(app: dash.Dash, store: Store) -> None:

    # -- tasks: the selector, the filter and the table's columns ---------------------
    # The columns shown: those that fit at 1280 px by default, then the user's
    # choice (kept in the browser's local storage, so it outlives a reload).
    @app.callback(Output("form-task", "options"), Output("task-filter", "options"),
                  Output("jobs-grid", "columnDefs"), Output("column-chooser", "options"),
                  Output("column-chooser", "value"), Output("column-choice", "data"),
                  Input("tick", "n_intervals"), Input("task-filter", "value"),
                  Input("column-chooser", "value"), Input("column-choice", "data"),
                  State("task-filter", "options"))
    def tasks(_tick, task, chosen, choice, shown):
        schemas = store.schemas()
        options = views.task_options(schemas)
        form_options = views.task_options(_queueable(store))
        try:
            task = views.task_choice(task, schemas)
        except ValueError:
            raise PreventUpdate from None
        if ctx.triggered_id == "tick" and shown == options:
            raise PreventUpdate  # the same tasks: nothing to redraw
        choice = views.column_choice(choice)
        columns = views.table_columns(schemas, task, store.sort_keys(task))
        if ctx.triggered_id == "column-chooser":
            if not (isinstance(chosen, list) and all(isinstance(c, str) for c in chosen)):
                raise PreventUpdate
            choice = views.choose_columns(columns, chosen, choice)
        columns = views.show_columns(columns, choice)
        chooser = [{"label": c["headerName"], "value": c["field"]} for c in columns
                   if c["field"] not in views.ALWAYS_SHOWN]
        visible = [c["value"] for c in chooser
                   if not next(x for x in columns if x["field"] == c["value"]).get("hide")]
        return form_options, options, columns, chooser, visible, choice

    @app.callback(Output("form-fields", "children"), Output("form-task-help", "children"),
                  Output("form-presets", "style"),
                  Input("form-task", "value"), Input("form-fill", "data"),
                  prevent_initial_call=True)
    def build_form(task, fill):
        schema = _schema(store, task)
        if schema is None:
            raise PreventUpdate
        params = None
        filled = "form-fill.data" in ctx.triggered_prop_ids and isinstance(fill, dict)
        iid = fill.get("iid") if filled else None
        if views.is_iid(iid):
            try:
                job = store.get(iid)
            except JobNotFound:  # deleted since it was cloned
                job = None
            if job is not None and job.task == schema.name:
                params = job.hyper_params
        elif filled and fill.get("preset") == "fast" and schema.name == MNIST.name:
            params = {**HyperParams().to_dict(), **FAST_PRESET}
        presets = {"display": "flex" if schema.name == MNIST.name else "none"}
        return form_fields(schema, params), views.task_help(schema), presets

    @app.callback(Output(_SLIDER, "value"), Output(_LOG_TEXT, "value"),
                  Input(_SLIDER, "value"), Input(_LOG_TEXT, "value"),
                  prevent_initial_call=True)
    def log_scale(exponent, text):
        cid = ctx.outputs_list[0].get("id", {}) if isinstance(ctx.outputs_list[0], dict) else {}
        schema = _schema(store, cid.get("task"))
        param = schema.params.get(cid.get("field")) if schema else None
        if not isinstance(param, Float) or form.widget(param) != form.LOG_SLIDER:
            raise PreventUpdate
        low, high = form.slider_range(param)
        if (ctx.triggered_id or {}).get("type") == "param-slider":
            if (not isinstance(exponent, (int, float)) or isinstance(exponent, bool)
                    or not low <= exponent <= high):
                raise PreventUpdate  # not a position of the slider
            return no_update, form.slider_into_text(exponent, text)
        position = form.text_to_slider(text, low, high)
        return (no_update if position is None else position), no_update

    @app.callback(Output(FIELD_ERRORS, "children"), Output(FIELDS, "className"),
                  Output("form-error", "children"), Output("sweep-preview", "children"),
                  Output("submit", "children"), Output("submit", "disabled"),
                  Output("form-token", "data"),
                  Input(PARAMS, "value"), Input("form-task", "value"))
    def check_form(_values, task):
        schema = _schema(store, task)
        values = form.form_inputs(ctx.inputs_list[0], task) if schema else None
        if values is None or set(values) != set(schema.params):
            raise PreventUpdate  # the form is being rebuilt for another task
        jobs, errors = form.parse_form(schema, values)
        on = form.applies(schema, values)
        field_errors = [errors.get(spec["id"]["field"], "") for spec in ctx.outputs_list[0]]
        classes = [_field_class(schema.params.get(spec["id"]["field"]),
                                on.get(spec["id"]["field"], True)) for spec in ctx.outputs_list[1]]
        token = uuid.uuid4().hex  # a new state of the form: it may be queued (once)
        if errors:
            return (field_errors, classes, form.errors_summary(errors), "", "Queue jobs",
                    True, token)
        n = len(jobs)
        return (field_errors, classes, "", form.preview(n),
                f"Queue {n} job{'s' if n != 1 else ''}", False, token)

    # A form is queued once: the button says so until the form changes, and a
    # second click that left before the first answer is refused by its token.
    queued_tokens: OrderedDict[str, None] = OrderedDict()
    tokens_lock = threading.Lock()

    def first_use(token: Any) -> bool:
        if not (isinstance(token, str) and len(token) == 32):
            return True  # a page that sends none (an older one): as before
        with tokens_lock:
            if token in queued_tokens:
                return False
            queued_tokens[token] = None
            while len(queued_tokens) > MAX_TOKENS:
                queued_tokens.popitem(last=False)
            return True

    @app.callback(Output("submit-result", "children"), Output("grid-version", "data"),
                  Output("submit", "children", allow_duplicate=True),
                  Output("submit", "disabled", allow_duplicate=True),
                  Input("submit", "n_clicks"),
                  Input(already_ran_view.BUTTONS, "n_clicks"),  # runmeta: "already ran?"
                  State(PARAMS, "value"),
                  State("form-task", "value"), State("grid-version", "data"),
                  State("form-token", "data"), prevent_initial_call=True)
    def submit(_clicks, _already, _values, task, version, token):
        schema = _schema(store, task)
        values = form.form_inputs(ctx.states_list[0], task) if schema else None
        if values is None or set(values) != set(schema.params):
            return "The form is changing task; try again.", no_update, no_update, no_update
        jobs, errors = form.parse_form(schema, values)
        if errors:
            return "Fix the fields marked in red first.", no_update, no_update, no_update
        if isinstance(ctx.triggered_id, dict) and not ctx.triggered[0].get("value"):
            raise PreventUpdate  # runmeta: a warning's button drawn, not clicked
        if isinstance(token, str) and token in queued_tokens:  # queued: say so, not "ran"
            return ("Already queued: change the form to queue more.", no_update,
                    no_update, True)
        ask, jobs = already_ran_view.decide(store, schema, jobs, ctx.triggered_id, token)
        if ask is not None or not jobs:  # runmeta: some exist: ask first (or nothing new)
            return ask or "Nothing new to queue.", no_update, no_update, no_update
        if not first_use(token):
            return ("Already queued: change the form to queue more.", no_update,
                    no_update, True)
        iids = store.create_many(jobs, schema=schema)
        n = len(iids)
        return (f"Queued {n} {schema.name} job{'s' if n != 1 else ''}.",
                views.next_version(version), f"Queued {n} job{'s' if n != 1 else ''} ✓", True)

    # -- the table -----------------------------------------------------------------------
    def view_of(status: Any, text: Any, task: Any, where: Any, read: Any
                ) -> tuple[views.TableFilter, str, str] | None:
        """The table's filters and sort as checked; None if one is nonsense."""
        try:
            task = views.task_choice(task, store.schemas())
        except ValueError:
            return None
        sorts = store.sort_keys(task)
        checked = views.table_filter(status, text, task, where, sorts)
        if checked is None:
            return None
        sort, order = "created", "desc"
        if (isinstance(read, dict) and isinstance(read.get("sort"), str)
                and read["sort"] in sorts and read.get("order") in ("asc", "desc")):
            sort, order = read["sort"], read["order"]
        return checked[0], sort, order

    def ticked(selected: Any, view: tuple[views.TableFilter, str, str]) -> list[Job] | None:
        """The ticked rows the table shows now, as they are now (table order)."""
        rows = views.selected_rows(selected)
        if rows is None:
            return None
        return table_query.shown(store, [r["iid"] for r in rows], *view)

    def targets(selected: Any, everything: Any, view) -> list[Job] | None:
        """What an action acts on: the ticked rows shown, or all matching rows."""
        if view is None:
            return None
        if views.all_matching(everything):
            return table_query.every_match(store, view[0])
        return ticked(selected, view)

    # Rows, header and counts come from one request, so they agree.
    @app.callback(Output("jobs-grid", "getRowsResponse"), Output("header-counts", "children"),
                  Output("match-count", "children"), Output("where-error", "children"),
                  Output("rows-read", "data"),
                  Input("jobs-grid", "getRowsRequest"),
                  State("status-filter", "value"), State("text-filter", "value"),
                  State("task-filter", "value"), State("where-filter", "value"))
    def rows(request, status, text, task, where):
        if not request:
            raise PreventUpdate
        try:
            task = views.task_choice(task, store.schemas())
        except ValueError:
            raise PreventUpdate from None
        sorts = store.sort_keys(task)
        query = views.rows_request(request, status, text, task, sorts)
        checked = views.table_filter(status, text, task, where, sorts)
        if query is None or checked is None:
            raise PreventUpdate
        view, error = checked
        page = table_query.page(store, view, query["sort"], query["order"], query["offset"],
                                query["limit"])
        schemas = store.schemas()
        bests = table_query.task_bests(store, page.jobs, schemas)
        return ({"rowData": views.table_rows(page.jobs, schemas, bests),
                 "rowCount": page.total},
                header_chips(store), views.matching_text(page.total), error,
                {"sort": query["sort"], "order": query["order"], "total": page.total})

    @app.callback(Output("export-csv", "href"), Input("rows-read", "data"),
                  State("status-filter", "value"), State("text-filter", "value"),
                  State("task-filter", "value"), State("where-filter", "value"))
    def export_link(read, status, text, task, where):
        view = view_of(status, text, task, where, read)
        if view is None:
            raise PreventUpdate
        return views.export_href(*view)

    # Live refresh keeps sort, filter, scroll and selection: the grid re-asks
    # for the blocks it holds. A filter change starts the grid afresh.
    app.clientside_callback(
        """function(tick, status, text, task, where, version) {
            return window.mltrack.refreshGrid('jobs-grid', dash_clientside.callback_context);
        }""",
        Output("grid-refreshed", "data"), Output("live-note", "children"),
        Input("tick", "n_intervals"),
        Input("status-filter", "value"), Input("text-filter", "value"),
        Input("task-filter", "value"), Input("where-filter", "value"),
        Input("grid-version", "data"), prevent_initial_call=True)

    # The buttons, the count and the run view follow the ticked rows as the
    # table shows them now: each time rows are read, not only when ticked.
    @app.callback(Output("action-cancel", "disabled"), Output("action-delete", "disabled"),
                  Output("action-clone", "disabled"), Output("action-retry", "disabled"),
                  Output("action-clone", "title"), Output("action-retry", "title"),
                  Output("ticked-count", "children"), Output(run_view.TICKED, "data"),
                  Input("jobs-grid", "selectedRows"), Input("rows-read", "data"),
                  Input("all-matching", "value"),
                  State("status-filter", "value"), State("text-filter", "value"),
                  State("task-filter", "value"), State("where-filter", "value"),
                  State(run_view.TICKED, "data"))
    def selection(selected, read, everything, status, text, task, where, published):
        view = view_of(status, text, task, where, read)
        jobs = ticked(selected, view) if view is not None else None
        if jobs is None or views.all_matching_value(everything) is None:
            raise PreventUpdate
        iids = [j.iid for j in jobs]
        if views.all_matching(everything):
            total = read.get("total") if isinstance(read, dict) else None
            total = total if isinstance(total, int) and not isinstance(total, bool) else 0
            # what the matching jobs' statuses allow (all done: Delete only)
            allowed = {**views.actions_allowed(table_query.statuses_matching(store, view[0])),
                       "clone": False}
            if allowed["retry"]:  # failed ones, but maybe all tracked from scripts
                allowed["retry"] = table_query.any_retryable(store, view[0])
            titles = ("", "")
        else:
            total = None
            allowed = views.ticked_actions(jobs, _queueable(store))
            titles = views.action_titles(jobs, allowed)
        return (not allowed["cancel"], not allowed["delete"], not allowed["clone"],
                not allowed["retry"], *titles,
                views.ticked_text(len(jobs), total, bool(total is not None)),
                iids if iids != published else no_update)

    # -- the view in the URL: read once when the page loads, written as it changes -----
    chart_options = any(getattr(c, "id", None) == CHART_OPTIONS
                        for c in run_view.layout()._traverse())
    restore_outputs = [Output("status-filter", "value", allow_duplicate=True),
                       Output("text-filter", "value", allow_duplicate=True),
                       Output("task-filter", "value", allow_duplicate=True),
                       Output("where-filter", "value", allow_duplicate=True),
                       Output("restore", "data")]
    if chart_options:
        restore_outputs.append(Output(CHART_OPTIONS, "data", allow_duplicate=True))

    @app.callback(*restore_outputs, Input("url", "search"),
                  prevent_initial_call="initial_duplicate")
    def restore(search):
        if search is not None and not isinstance(search, str):
            raise PreventUpdate
        view = views.view_from_query(search or "", [s.value for s in Status], store.schemas(),
                                     store.sort_keys(None))
        out = [view["status"], view["q"], view["task"], view["where"],
               {"sort": view["sort"], "order": view["order"], "ticked": view["ticked"]}]
        if chart_options:
            out.append(view["chart"] if view["chart"] else no_update)
        return tuple(out)

    app.clientside_callback(
        "function(view) { return window.mltrack.restore(view); }",
        Output("restore-applied", "data"), Input("restore", "data"), prevent_initial_call=True)
    app.clientside_callback(
        "function(read, columns) { return window.mltrack.applyPending('jobs-grid'); }",
        Output("restore-applied", "data", allow_duplicate=True), Input("rows-read", "data"),
        Input("jobs-grid", "columnDefs"), prevent_initial_call=True)
    app.clientside_callback(
        """function(status, text, task, where, read, ticked, chart) {
            return window.mltrack.writeUrl(status, text, task, where, read, ticked, chart);
        }""",
        Output("url-written", "data"), Input("status-filter", "value"),
        Input("text-filter", "value"), Input("task-filter", "value"),
        Input("where-filter", "value"), Input("rows-read", "data"),
        Input(run_view.TICKED, "data"),
        *([Input(CHART_OPTIONS, "data")] if chart_options else []), prevent_initial_call=True)

    app.clientside_callback(
        "function(ticked) { return ticked && ticked.length ? ' · ' + ticked.length : ''; }",
        Output("tab-runs-count", "children"), Input(run_view.TICKED, "data"))

    # -- actions -----------------------------------------------------------------------
    FILTERS = [State("all-matching", "value"), State("status-filter", "value"),
               State("text-filter", "value"), State("task-filter", "value"),
               State("where-filter", "value"), State("rows-read", "data")]

    def ask(action: str, selected, everything, status, text, task, where, read) -> tuple[bool, str]:
        jobs = targets(selected, everything, view_of(status, text, task, where, read))
        if jobs is None:
            raise PreventUpdate
        n = len(views.acted_on(action, jobs))
        return True, views.confirm_text(action, n, len(jobs), views.all_matching(everything),
                                        views.left_out(action, jobs))

    @app.callback(Output("confirm-cancel", "displayed"), Output("confirm-cancel", "message"),
                  Input("action-cancel", "n_clicks"), State("jobs-grid", "selectedRows"),
                  *FILTERS, prevent_initial_call=True)
    def ask_cancel(_n, selected, *filters):
        return ask("cancel", selected, *filters)

    @app.callback(Output("confirm-delete", "displayed"), Output("confirm-delete", "message"),
                  Input("action-delete", "n_clicks"), State("jobs-grid", "selectedRows"),
                  *FILTERS, prevent_initial_call=True)
    def ask_delete(_n, selected, *filters):
        return ask("delete", selected, *filters)

    @app.callback(Output("confirm-retry", "displayed"), Output("confirm-retry", "message"),
                  Input("action-retry", "n_clicks"), State("jobs-grid", "selectedRows"),
                  *FILTERS, prevent_initial_call=True)
    def ask_retry(_n, selected, everything, *filters):
        if not views.all_matching(everything):
            raise PreventUpdate  # ticked rows are queued again at once
        return ask("retry", selected, everything, *filters)

    @app.callback(Output("action-result", "children"),
                  Output("grid-version", "data", allow_duplicate=True),
                  Input("confirm-cancel", "submit_n_clicks"),
                  Input("confirm-delete", "submit_n_clicks"), Input("action-retry", "n_clicks"),
                  Input("confirm-retry", "submit_n_clicks"),
                  State("jobs-grid", "selectedRows"), *FILTERS, State("grid-version", "data"),
                  prevent_initial_call=True)
    def act(_cancel, _delete, _retry, _retry_all, selected, everything, status, text, task,
            where, read, version):
        action = {"confirm-cancel": "cancel", "confirm-delete": "delete",
                  "action-retry": "retry", "confirm-retry": "retry"}.get(ctx.triggered_id)
        if action is None or (ctx.triggered_id == "action-retry"
                              and views.all_matching(everything)):
            raise PreventUpdate  # nothing clicked, or the bulk retry waits for its confirmation
        jobs = targets(selected, everything, view_of(status, text, task, where, read))
        if jobs is None:  # nonsense rows or filters
            raise PreventUpdate
        operation = {"cancel": store.cancel, "delete": store.delete, "retry": store.retry}[action]
        done = 0
        # each skip with its reason: a tracked run left out, a refusal the store explains
        # (a task no worker registered), or a job that changed since it was read
        skipped = dict(views.left_out(action, jobs))
        for job in views.acted_on(action, jobs):
            try:
                operation(job.iid)
                done += 1
            except (IllegalTransition, JobNotFound) as exc:
                reason = views.skip_reason(job, exc)
                skipped[reason] = skipped.get(reason, 0) + 1
        return views.action_result(action, done, skipped), views.next_version(version)

    # A preset fills the MNIST form (switching to MNIST); the user can still edit it.
    @app.callback(Output("form-task", "value", allow_duplicate=True),
                  Output("form-fill", "data", allow_duplicate=True),
                  Input("preset-fast", "n_clicks"), prevent_initial_call=True)
    def preset(clicks):
        if not isinstance(clicks, int) or isinstance(clicks, bool) or clicks < 1:
            raise PreventUpdate
        return MNIST.name, {"preset": "fast", "n": clicks}

    @app.callback(Output("form-task", "value"), Output("form-fill", "data"),
                  Input("action-clone", "n_clicks"), State("jobs-grid", "selectedRows"),
                  *FILTERS[1:], prevent_initial_call=True)
    def clone(clicks, selected, status, text, task, where, read):
        view = view_of(status, text, task, where, read)
        jobs = ticked(selected, view) if view is not None else None
        if not jobs or len(jobs) != 1:
            raise PreventUpdate
        job = jobs[0]
        if job.task not in _queueable(store):
            raise PreventUpdate
        # the counter makes a second clone of the same run a change the form sees
        return job.task, {"iid": job.iid, "n": views.next_version(clicks)}
