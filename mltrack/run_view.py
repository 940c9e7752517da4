"""The run view: the runs ticked in the table (or picked in its selector) side
by side: a compare table of what differs between them, their charts, and each
run's hyperparameters and per-epoch table.

The table publishes the ticked iids in the `TICKED` store; this module owns
everything downstream of it, so the table and the run view never write the
same component. The chart options (log scale, group-by, all parameters) live
in the `CHART_OPTIONS` store, which the page's URL may also write: the toggles
follow it.

Data path: one callback sets the run selector's value AND its options (a
Dash dropdown drops any value missing from its options, so a run ticked that
was not among them was lost on the way to the charts). The charts read the
selector's value. A refresh redraws nothing unless a shown run changed
(status, epochs) or the options did; when only the data changed, the charts
already in the page get new figures (a graph replaced by a new one forgets
the user's zoom, a figure updated in place keeps it: see `uirevision`).
"""
from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from mltrack import charts, compare, run_meta, views
from mltrack.store import Job, Store
from mltrack.task import Schema

TICKED = "ticked-iids"
CHART_OPTIONS = "chart-options"
MAX_RUNS_SHOWN = 20  # charts stay readable and a redraw cheap; the view says when it shows fewer
MAX_CHOSEN = 100  # iids the run picker may hold; it shows MAX_RUNS_SHOWN of them
NEWEST = 20  # runs the selector offers when nothing is chosen or searched
CHART = {"type": "chart", "key": ALL}
EMPTY_TEXT = "Tick runs in the table (or find one by iid or hyperparameters above) to see " \
             "their curves side by side."


def layout() -> html.Div:
    return html.Div([
        html.Div([
            html.H2("Runs"),
            dcc.Dropdown(id="run-select", multi=True, placeholder="select runs in the table, "
                         "or type an iid or hyperparameters to find one", className="run-select"),
        ], className="toolbar"),
        html.Div([
            dcc.Checklist(id="chart-log", options=[{"label": " log scale (losses)",
                                                    "value": "log"}],
                          value=[], inline=True, className="chart-toggle",
                          inputClassName="chart-toggle-input"),
            html.Label("group by", htmlFor="chart-group", className="chart-group-label",
                       title="mean line and min-max band over the runs of each value "
                             "(seeds, mostly)"),
            dcc.Dropdown(id="chart-group", placeholder="each run", clearable=True,
                         searchable=False, className="chart-group"),
            dcc.Checklist(id="chart-all-params",
                          options=[{"label": " all hyperparameters", "value": "all"}],
                          value=[], inline=True, className="chart-toggle",
                          inputClassName="chart-toggle-input"),
        ], className="chart-toolbar"),
        html.Div(id="run-note", className="run-note"),
        html.Div(id="run-compare", className="run-compare"),
        html.Div(_empty(), id="run-graphs", className="graphs"),
        html.Div(id="run-details", className="run-details"),
        *run_meta.layout(),  # runmeta: tags, note, model download
        dcc.Store(id="run-signature"),
        dcc.Store(id="run-labels"),  # {iid: label} of the offered runs, status now
        dcc.Store(id=CHART_OPTIONS, data=dict(compare.DEFAULT_OPTIONS)),
    ], className="card runs-card")


def _empty() -> list[html.Div]:
    # no plot at all: an empty plotly chart draws axes from -1 to 6
    return [html.Div(EMPTY_TEXT, id={"type": "chart-empty", "key": "empty"},
                     className="run-empty")]


def _graph(key: str, fig: dict[str, Any]) -> dcc.Graph:
    return dcc.Graph(id={"type": "chart", "key": key}, figure=fig,
                     config={"displaylogo": False, "displayModeBar": "hover"},
                     className="graph")


def _option(job: Job, schema: Schema | None) -> dict[str, str]:
    return {"label": f"{job.task} · {views.run_label(job, schema)} · {job.status.value}",
            "value": job.iid}


def _param_names(store: Store) -> list[str]:
    """Every hyperparameter of the registered tasks, for the group-by selector."""
    names: list[str] = []
    for schema in store.schemas().values():
        names += [n for n in schema.params if n not in names]
    return names


def register_callbacks(app: dash.Dash, store: Store) -> None:
    """The run view's callbacks; they read `store` and the `TICKED` store."""
    run_meta.register_callbacks(app, store, Input("run-select", "value"))  # runmeta

    @app.callback(Output("run-select", "value"), Output("run-select", "options"),
                  Input(TICKED, "data"), Input("run-select", "search_value"),
                  Input("run-select", "value"), State("run-select", "options"))
    def picker(ticked, search, chosen, shown):
        """The selector's value and options, always together: the options hold
        every chosen run, then what the search finds."""
        chosen, search = views.chosen_iids(chosen, MAX_CHOSEN), views.search_text(search)
        if chosen is None or search is None:
            raise PreventUpdate
        value = no_update
        if ctx.triggered_id == TICKED:
            ticked = views.chosen_iids(ticked, MAX_CHOSEN)
            if ticked is None:
                raise PreventUpdate
            value = chosen = ticked  # the table's ticks are the selection
        schemas = store.schemas()
        known = {job.iid: job for job in store.get_many(chosen)}
        if len(known) < len(chosen):  # deleted runs leave the selection
            value = chosen = [iid for iid in chosen if iid in known]
        if search:
            for job in store.list_jobs(text=search, limit=NEWEST).jobs:
                known.setdefault(job.iid, job)
        elif not known:
            for job in store.list_jobs(limit=NEWEST).jobs:
                known[job.iid] = job
        options = [_option(job, schemas.get(job.task)) for job in known.values()]
        if value is no_update and options == shown:
            raise PreventUpdate  # nothing new: the browser keeps what it has
        return value, options

    @app.callback(Output("run-labels", "data"), Input("tick", "n_intervals"),
                  State("run-select", "value"), State("run-select", "options"),
                  State("run-labels", "data"), prevent_initial_call=True)
    def labels(_tick, chosen, shown, before):
        """Each offered run's label with its status now. The page merges them
        into the options it has then (a refresh that replaced the options
        could answer after the user picked a run, and drop it)."""
        chosen = views.chosen_iids(chosen, MAX_CHOSEN)
        if chosen is None or not isinstance(shown, list):
            raise PreventUpdate
        offered = [o.get("value") for o in shown[:MAX_CHOSEN + NEWEST] if isinstance(o, dict)]
        iids = list(dict.fromkeys([*chosen, *(i for i in offered if views.is_iid(i))]))
        schemas = store.schemas()
        jobs = {job.iid: job for job in store.get_many(iids)}
        now = {iid: _option(jobs[iid], schemas.get(jobs[iid].task))["label"] if iid in jobs
               else f"{iid[:6]} · deleted" for iid in iids}
        if now == before:
            raise PreventUpdate
        return now

    app.clientside_callback(
        """function(labels, options) {
            const nothing = window.dash_clientside.no_update;
            if (!labels || !Array.isArray(options)) { return nothing; }
            let changed = false;
            const out = options.map(o => {
                const label = labels[o.value];
                if (typeof label !== 'string' || label === o.label) { return o; }
                changed = true;
                return Object.assign({}, o, {label: label});
            });
            return changed ? out : nothing;
        }""",
        Output("run-select", "options", allow_duplicate=True), Input("run-labels", "data"),
        State("run-select", "options"), prevent_initial_call=True)

    @app.callback(Output(CHART_OPTIONS, "data"), Output("chart-log", "value"),
                  Output("chart-group", "value"), Output("chart-group", "options"),
                  Output("chart-all-params", "value"),
                  Input(CHART_OPTIONS, "data"), Input("chart-log", "value"),
                  Input("chart-group", "value"), Input("chart-all-params", "value"))
    def chart_options(data, log, group, all_params):
        """The toggles write the store; a store written from outside (the URL)
        sets the toggles. The group-by choices come with its value, so the
        dropdown never drops a value restored from a link."""
        names = _param_names(store)
        group_options = [{"label": views.header_name(n), "value": n} for n in names]
        if ctx.triggered_id in ("chart-log", "chart-group", "chart-all-params"):
            wanted = {"log": isinstance(log, list) and "log" in log,
                      "group": group,
                      "all_params": isinstance(all_params, list) and "all" in all_params}
            options = compare.chart_options(wanted, names)
            return options, no_update, no_update, group_options, no_update
        options = compare.chart_options(data, names)
        return (options if options != data else no_update, ["log"] if options["log"] else [],
                options["group"], group_options, ["all"] if options["all_params"] else [])

    @app.callback(Output("run-graphs", "children"), Output(CHART, "figure"),
                  Output("run-details", "children"), Output("run-compare", "children"),
                  Output("run-note", "children"), Output("run-signature", "data"),
                  Input("run-select", "value"), Input("tick", "n_intervals"),
                  Input(CHART_OPTIONS, "data"), State("run-signature", "data"))
    def run_view(chosen, _tick, options, signature):
        chosen = views.chosen_iids(chosen, MAX_CHOSEN)
        if chosen is None:
            raise PreventUpdate
        in_page = [o["id"]["key"] for o in ctx.outputs_list[1]] if ctx.outputs_list else []
        unchanged = [no_update] * len(in_page)
        schemas = store.schemas()
        params = [n for s in schemas.values() for n in s.params]
        options = compare.chart_options(options, params)
        shown = chosen[:MAX_RUNS_SHOWN]
        # one cheap read to learn whether anything changed; epochs only then
        jobs = store.get_many(shown)
        new_signature = [[[j.iid, j.status.value, j.epochs_done, j.attempts] for j in jobs],
                         len(chosen), options]
        if new_signature == signature:
            raise PreventUpdate  # nothing changed: no redraw, nothing sent
        note = compare.shown_note(len(chosen), len(shown))
        runs = store.runs([j.iid for j in jobs])
        drawable = [(j, e) for j, e in runs if j.task in schemas]
        if not drawable:
            return _empty(), unchanged, [], [], note, new_signature
        names = _names(drawable, schemas)
        drawn = charts.run_charts(drawable, schemas, names, options)
        details = [_run_details(job, epochs, schemas.get(job.task)) for job, epochs in runs]
        table = compare_tables(drawable, schemas, names, options)
        if [key for key, _ in drawn] == in_page:  # the same charts, updated in place
            # the same runs and options: a patch keeps the zoom; else a new view, zoomed out
            same = _same_view(signature, new_signature)
            figures = [charts.patch(f) if same else f for _, f in drawn]
            return no_update, figures, details, table, note, new_signature
        return ([_graph(k, f) for k, f in drawn], unchanged, details, table, note,
                new_signature)


def _same_view(old: Any, new: list) -> bool:
    """Whether the page's charts (signature `old`, as the page sent it back)
    show the same runs with the same options as `new`."""
    if not (isinstance(old, list) and len(old) == 3 and isinstance(old[0], list)):
        return False
    shown = [row[0] if isinstance(row, list) and row else None for row in old[0]]
    return old[2] == new[2] and shown == [row[0] for row in new[0]]


def _names(runs: list[tuple[Job, list]], schemas: dict[str, Schema]) -> dict[str, str]:
    """Legend labels: per task, only what differs between its shown runs."""
    by_task: dict[str, list[Job]] = {}
    for job, _ in runs:
        by_task.setdefault(job.task, []).append(job)
    names: dict[str, str] = {}
    for task, jobs in by_task.items():
        schema = schemas[task]
        names.update(compare.run_names(jobs, schema, lambda j: views.run_label(j, schema)))
    return names


def compare_tables(runs: list[tuple[Job, list]], schemas: dict[str, Schema],
                   names: dict[str, str], options: dict[str, Any]) -> list[html.Div]:
    """Per task, a table of its shown runs: the hyperparameters that differ (all
    of them with the toggle), each metric's final and best value (the best run's
    in bold), the primary metric first with the best epoch by it; grouped, a
    table per value."""
    if len(runs) < 2 and not options.get("all_params"):
        return []  # one run: its details below say it all
    colours = {job.iid: n for n, (job, _) in enumerate(runs)}
    by_task: dict[str, list[tuple[Job, list]]] = {}
    for job, epochs in runs:
        by_task.setdefault(job.task, []).append((job, epochs))
    out = []
    for task, task_runs in by_task.items():
        schema = schemas[task]
        jobs = [j for j, _ in task_runs]
        params = (compare.param_names(jobs, schema) if options.get("all_params")
                  else compare.differing_params(jobs, schema))
        metrics = sorted(schema.metrics, key=lambda m: not m.primary)
        summaries = {j.iid: compare.summary(e, metrics) for j, e in task_runs}
        best = {m.name: (compare.best_of((summaries[i][m.name]["final"] for i in summaries),
                                         m.goal),
                         compare.best_of((summaries[i][m.name]["best"] for i in summaries),
                                         m.goal)) for m in metrics}
        head = html.Thead([
            html.Tr([html.Th("run", rowSpan=2), html.Th("status", rowSpan=2),
                     *(html.Th(views.header_name(p), rowSpan=2, className="param",
                               title=getattr(schema.params.get(p), "help", "") or None)
                       for p in params),
                     *(part for m in metrics for part in (
                         html.Th(views.header_name(m.name), colSpan=2, className="metric",
                                 title=f"{m.goal} is best" + (" (primary)" if m.primary else "")),
                         # beside the primary metric, so it shows without scrolling
                         html.Th("best epoch", rowSpan=2, title=f"by {m.name}")
                     )[:2 if m.primary else 1])]),
            html.Tr([html.Th(w, className="sub") for _ in metrics for w in ("final", "best")]),
        ])
        rows = []
        for job, _ in task_runs:
            s = summaries[job.iid]
            cells = [html.Td([html.Span(className="swatch", style={
                        "background": charts.colour(colours[job.iid])}),
                        names.get(job.iid) or job.iid[:6]], className="run-name",
                        title=f"{job.iid}"),
                     html.Td(job.status.value, className=f"status-cell status-{job.status.value}")]
            cells += [html.Td(compare.value_text(compare.param_value(job, p, schema)),
                              className="param") for p in params]
            for m in metrics:
                for k, which in enumerate(("final", "best")):
                    value = s[m.name][which]
                    top = value is not None and value == best[m.name][k] and len(task_runs) > 1
                    cells.append(html.Td(views.short_number(value),
                                         className="num best" if top else "num"))
                if m.primary:
                    cells.append(html.Td(str(s[m.name]["best_epoch"] or ""),
                                         className="num best-epoch"))
            rows.append(html.Tr(cells))
        title = f"{task}: " if len(by_task) > 1 else ""
        if options.get("all_params"):
            said = "every hyperparameter"
        elif len(params) == 1:
            said = "1 hyperparameter differs"
        else:
            said = f"{len(params) or 'no'} hyperparameters differ"
        caption = f"{title}{len(jobs)} run{'s' if len(jobs) != 1 else ''}; {said}"

        tables = [html.Table([html.Caption(caption), head, html.Tbody(rows)],
                             className="compare", **{"data-task": task})]
        group = options.get("group")
        if group and group in schema.params:
            tables.append(_group_table(task_runs, schema, group))
        out.append(html.Div(tables, className="compare-task"))
    return out


def _group_table(task_runs: list[tuple[Job, list]], schema: Schema, group: str) -> html.Table:
    """Per value of `group`: how many runs, the primary metric's final and best
    as mean ± std over them, and the mean best epoch."""
    primary = schema.primary
    epochs = {j.iid: e for j, e in task_runs}
    rows = []
    for n, (value, members) in enumerate(compare.group_runs([j for j, _ in task_runs], group,
                                                            schema)):
        sums = [compare.summary(epochs[j.iid], [primary])[primary.name] for j in members]
        cells = [html.Td([html.Span(className="swatch", style={"background": charts.colour(n)}),
                          f"{group} {compare.value_text(value)}"], className="run-name"),
                 html.Td(str(len(members)), className="num")]
        for which in ("final", "best", "best_epoch"):
            stats = compare.mean_std(s[which] for s in sums)
            text = "" if stats is None else (
                f"{stats[0]:.4g} ± {stats[1]:.2g}" if which != "best_epoch" else f"{stats[0]:.3g}")
            cells.append(html.Td(text, className="num"))
        rows.append(html.Tr(cells))
    name = views.header_name(primary.name)
    return html.Table([
        html.Caption(f"grouped by {views.header_name(group)}: mean ± std over the runs of "
                     "each value"),
        html.Thead(html.Tr([html.Th(views.header_name(group)), html.Th("runs"),
                            html.Th(f"final {name}"), html.Th(f"best {name}"),
                            html.Th("best epoch")])),
        html.Tbody(rows)], className="compare compare-grouped")


def _run_details(job, epochs, schema: Schema | None) -> html.Details:
    """Hyperparameters (from the task's schema), the per-epoch table and any
    error of one run."""
    facts = views.run_facts(job, schema)
    headers, rows = views.epoch_table(epochs, schema)
    return html.Details([
        html.Summary([html.Span(job.status.value,
                                className=f"status-dot status-{job.status.value}"),
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
