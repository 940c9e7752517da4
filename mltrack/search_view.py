"""The dashboard's "Searches" view: the list of searches (name, task, status,
finished of total, best) and one search: its progress (finished, running,
pruned, failed, waiting), the best trial so far with a link to its run, the
best value over the trials, its trials' table, and a cancel button.

The records come from `mltrack.search` (`list_searches`, `search_record`),
the trials from the store. A refresh (the page's `tick`) redraws nothing
unless what it shows changed: the list and the search's counts are compared
with what the page holds, so an idle search costs one read per tick.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from mltrack import analysis, views
from mltrack.store import Job, Store
from mltrack.task import Schema

SELECTED = "search-selected"
MAX_LISTED = 20  # searches in the list (newest first): each reads its trials
MAX_TRIAL_ROWS = 200  # trials in a search's table
EMPTY = "No search yet: switch the form to Search (Optuna), pick what to search, start it."
ENDED = ("done", "pruned", "failed", "cancelled")
COUNTS = ("finished", "running", "waiting", *ENDED)


# -- pure parts ---------------------------------------------------------------------------
def _n(record: Mapping[str, Any], key: str) -> int:
    value = record.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def progress_text(record: Mapping[str, Any]) -> str:
    """`7 of 20 finished (4 done, 3 pruned) · 2 running · 8 waiting`: finished
    counts every trial that ended (done, pruned, failed, cancelled)."""
    ended = [f"{_n(record, k)} {k}" for k in ENDED if _n(record, k)]
    parts = [f"{_n(record, 'finished')} of {_n(record, 'trials')} finished"
             + (f" ({', '.join(ended)})" if ended else "")]
    parts += [f"{_n(record, k)} {k}" for k in ("running", "waiting") if _n(record, k)]
    return " · ".join(parts)


def progress_share(record: Mapping[str, Any]) -> float:
    """The share of trials that ended, for the bar."""
    total = _n(record, "trials")
    return min(1.0, _n(record, "finished") / total) if total else 0.0


def best_text(record: Mapping[str, Any]) -> str:
    best, objective = record.get("best"), record.get("objective") or {}
    if not isinstance(best, dict) or best.get("value") is None:
        return "no finished trial yet"
    metric = str(objective.get("metric", "value")).replace("_", " ")
    return f"{metric} {views.short_number(best['value'])}"


def label(record: Mapping[str, Any]) -> str:
    return str(record.get("name") or str(record.get("id", ""))[:8])


def run_href(iid: str) -> str:
    """The page with the table filtered to the run and the run ticked (the run view shows it)."""
    return f"/?q={iid}&ticked={iid}#runs"


def list_signature(records: Sequence[Mapping[str, Any]]) -> str:
    keys = ("id", "name", "status", "trials", *COUNTS, "best")
    return json.dumps([{k: r.get(k) for k in keys} for r in records], sort_keys=True,
                      default=str)


def list_table(records: Sequence[Mapping[str, Any]], selected: str | None) -> Any:
    if not records:
        return html.Div(EMPTY, className="run-empty search-empty")
    head = html.Tr([html.Th(h) for h in ("search", "task", "status", "finished", "best")])
    rows = []
    for r in records[:MAX_LISTED]:
        sid = str(r.get("id", ""))
        rows.append(html.Tr([
            html.Td(html.Button(label(r), id={"type": "search-open", "id": sid},
                                className="link-button", title=sid)),
            html.Td(str(r.get("task", ""))),
            html.Td(str(r.get("status", "")), className=f"status-cell status-{r.get('status')}"),
            html.Td(f"{_n(r, 'finished')}/{_n(r, 'trials')}"),
            html.Td(best_text(r) if isinstance(r.get("best"), dict) else "—"),
        ], className="search-list-row" + (" selected" if sid == selected else "")))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="search-table")


def _value(value: Any) -> str:
    """A sampled value as the trials' table shows it: floats to 5 digits (the run has all)."""
    return views.short_number(value) if isinstance(value, float) else views.param_text(value)


def trial_rows(record: Mapping[str, Any], jobs: Iterable[Job]) -> Any:
    """The search's trials in trial order: number, status, objective, the searched values."""
    metric = (record.get("objective") or {}).get("metric", "")
    space = list((record.get("space") or {}).keys())
    head = html.Tr([html.Th(h) for h in ("trial", "status", metric.replace("_", " "),
                                         *(views.header_name(n) for n in space), "run")])
    rows = []
    for n, job in enumerate(jobs):
        if n >= MAX_TRIAL_ROWS:
            break
        trial = job.trial if getattr(job, "trial", None) is not None else n
        rows.append(html.Tr([
            html.Td(str(trial)),
            html.Td(job.status.value, className=f"status-cell status-{job.status.value}"),
            html.Td(views.short_number(job.metrics.get(metric))
                    + (f" (epoch {job.epochs_done})" if job.status.value == "pruned" else "")),
            *(html.Td(_value(job.hyper_params.get(p))) for p in space),
            html.Td(html.A(job.iid[:8], href=run_href(job.iid), className="run-link")),
        ]))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="search-table trials")


def detail(record: Mapping[str, Any], jobs: list[Job], schema: Schema | None) -> list[Any]:
    """One search: title, progress, best, best-so-far chart, trials."""
    best = record.get("best") if isinstance(record.get("best"), dict) else None
    objective = record.get("objective") or {}
    children: list[Any] = [
        html.Div([
            html.H3(f"{label(record)} · {record.get('task', '')}", className="search-title"),
            html.Span(str(record.get("status", "")),
                      className=f"status-cell status-{record.get('status')}"),
            html.Span(f"{record.get('sampler', '')} sampler"
                      + (f", {record.get('pruner')} pruner" if record.get("pruner") else "")
                      + f", {_n(record, 'parallel')} at once", className="field-hint"),
        ], className="toolbar"),
        html.Div([html.Div(className="progress-fill",
                           style={"width": f"{100 * progress_share(record):.1f}%"}),
                  html.Span(progress_text(record), className="progress-label",
                            id="search-progress-text")],
                 className="progress search-progress"),
        html.Div(["Best so far: ", html.B(best_text(record), id="search-best"),
                  *([" · ", html.A(f"run {best['iid'][:8]}", href=run_href(best["iid"]),
                                   className="run-link")] if best and best.get("iid") else [])],
                 className="search-best"),
    ]
    if schema is not None and objective.get("metric") in schema.goals:
        runs = analysis.run_set(jobs, schema, analysis.Objective(objective["metric"],
                                                                 schema.goals[objective["metric"]]))
        if runs.points:
            children.append(dcc.Graph(id="search-best-chart",
                                      figure=analysis.best_so_far_figure(runs),
                                      config={"displaylogo": False, "displayModeBar": False},
                                      className="graph"))
    children.append(trial_rows(record, jobs))
    return children


def detail_signature(record: Mapping[str, Any], jobs: Sequence[Job]) -> str:
    return json.dumps({"record": {k: record.get(k) for k in ("id", "status", "trials", *COUNTS,
                                                             "best")},
                       "jobs": [(j.iid, j.status.value, j.epochs_done) for j in jobs]},
                      sort_keys=True, default=str)


# -- the page -----------------------------------------------------------------------------
def layout() -> html.Div:
    return html.Div([
        html.Div([html.H2("Searches"), html.Span(id="search-count", className="match-count")],
                 className="toolbar"),
        html.Div(id="search-list", className="search-list"),
        html.Div([
            html.Div(id="search-detail", className="search-detail"),
            html.Div([
                html.Button("Cancel search", id="search-cancel", className="button danger",
                            n_clicks=0),
                html.Button("Analyse its trials", id="search-analyse", className="button",
                            n_clicks=0, title="the analysis panel, over this search's trials"),
                html.Span(id="search-acted", className="action-result"),
            ], id="search-actions", className="toolbar search-actions",
                style={"display": "none"}),
        ]),
        dcc.Store(id=SELECTED),
        dcc.Store(id="search-list-signature"),
        dcc.Store(id="search-detail-signature"),
    ], className="card searches-card", id="searches")


def _search_api() -> Any:
    """mltrack.search, or None where it is not there (the view then says so)."""
    try:
        import mltrack.search as search
    except ImportError:
        return None
    ready = all(hasattr(search, f) for f in ("list_searches", "search_record"))
    return search if ready else None


def register_callbacks(app: dash.Dash, store: Store) -> None:

    def newest() -> str | None:
        from mltrack.store.searches import SearchStore

        ids = SearchStore(store).ids(1)
        return ids[0] if ids else None

    def records() -> list[dict[str, Any]]:
        search = _search_api()
        return list(search.list_searches(store, MAX_LISTED)) if search else []

    # One request per tick for the whole view: the list and the shown search,
    # each redrawn only when its signature changed.
    @app.callback(Output("search-list", "children"), Output("search-count", "children"),
                  Output("search-list-signature", "data"),
                  Output("search-detail", "children"),
                  Output("search-detail-signature", "data"),
                  Output("search-actions", "style"), Output("search-cancel", "disabled"),
                  Input("tick", "n_intervals"), Input(SELECTED, "data"),
                  Input("search-acted", "children"),
                  State("search-list-signature", "data"),
                  State("search-detail-signature", "data"))
    def refresh(_tick, selected, _acted, listed, shown_before):
        search = _search_api()
        if search is None:
            raise PreventUpdate
        found = records()
        sid = selected if isinstance(selected, str) and len(selected) <= 64 else None
        sid = sid or (found[0]["id"] if found else None)
        signature = list_signature(found) + f"|{sid}"
        count = f"{len(found)} search{'es' if len(found) != 1 else ''}" if found else ""
        out: list[Any] = ([list_table(found, sid), count, signature] if signature != listed
                          else [no_update] * 3)
        record = next((r for r in found if r.get("id") == sid), None)
        if record is None and sid is not None:
            try:
                record = search.search_record(store, sid)
            except LookupError:  # SearchNotFound: an unknown id (a page may send any)
                record = None
        if record is None:
            out += ([[], None, {"display": "none"}, True] if shown_before is not None
                    else [no_update] * 4)
        else:
            jobs = store.get_many(record.get("iids") or [])
            detail_sig = detail_signature(record, jobs)
            if detail_sig == shown_before:
                out += [no_update] * 4
            else:
                schema = store.schemas().get(record.get("task"))
                out += [detail(record, jobs, schema), detail_sig, {"display": "flex"},
                        record.get("status") != "running"]
        if all(o is no_update for o in out):
            raise PreventUpdate  # nothing changed: the browser keeps what it has
        return tuple(out)

    @app.callback(Output(SELECTED, "data"),
                  Input({"type": "search-open", "id": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def open_search(clicks):
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not isinstance(clicks, list) or not any(
                isinstance(c, int) and c for c in clicks):
            raise PreventUpdate  # the list was redrawn: no click
        value = ctx.triggered[0].get("value") if ctx.triggered else None
        if not value:
            raise PreventUpdate
        sid = trigger.get("id")
        if not isinstance(sid, str):
            raise PreventUpdate
        return sid

    @app.callback(Output("search-acted", "children"),
                  Input("search-cancel", "n_clicks"), State(SELECTED, "data"),
                  prevent_initial_call=True)
    def cancel(clicks, selected):
        search = _search_api()
        if search is None or not isinstance(clicks, int) or clicks < 1:
            raise PreventUpdate
        sid = selected if isinstance(selected, str) else None
        if sid is None:
            sid = newest()
        cancel_search = getattr(search, "cancel_search", None)
        if sid is None or cancel_search is None:
            raise PreventUpdate
        try:
            record = cancel_search(store, sid)
        except (LookupError, getattr(search, "SearchEnded", LookupError)) as exc:
            return f"Not cancelled: {exc}"  # unknown search, or it ended meanwhile
        return f"Cancelled search {label(record)}: no new trials; its running ones stop."
