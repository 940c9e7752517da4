"""The web application: a Flask server carrying the Dash dashboard and the REST API."""
from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dcc, html
from flask import Flask

from mltrack.api import register_api
from mltrack.security import install_security
from mltrack.store import Job, Status, Store

REFRESH_MS = 2000


def create_app(store: Store, *, password: str | None = None,
               loopback_only: bool = True) -> Flask:
    """Build the server: guards, REST API and dashboard, all over `store`."""
    server = Flask("mltrack")
    install_security(server, password=password, loopback_only=loopback_only)
    register_api(server, store)
    create_dashboard(server, store)
    return server


def counts_line(counts: dict[str, int]) -> str:
    return " · ".join(f"{counts.get(s.value, 0)} {s.value}" for s in Status)


def table_rows(jobs: list[Job]) -> list[dict[str, Any]]:
    """Rows for the experiments table, one per job."""
    rows = []
    for job in jobs:
        hp = job.hyper_params
        rows.append({
            "iid": job.iid[:8],
            "status": job.status.value,
            "model": hp.get("model"),
            "optimizer": hp.get("optimizer"),
            "learning_rate": f"{hp.get('learning_rate', 0):g}",
            "epochs": f"{job.epochs_done}/{job.num_epochs}",
            "test_accuracy": "" if job.test_accuracy is None else f"{job.test_accuracy:.2f}%",
        })
    return rows


def create_dashboard(server: Flask, store: Store) -> dash.Dash:
    """Mount the Dash dashboard on `server` (a first version: counts and recent jobs)."""
    app = dash.Dash("mltrack", server=server, title="mltrack", update_title=None,
                    url_base_pathname="/")
    columns = ["iid", "status", "model", "optimizer", "learning_rate", "epochs",
               "test_accuracy"]
    app.layout = html.Div([
        html.H1("mltrack"),
        html.P(id="counts"),
        html.Table([html.Thead(html.Tr([html.Th(c) for c in columns])),
                    html.Tbody(id="recent-jobs")]),
        dcc.Interval(id="refresh", interval=REFRESH_MS),
    ], style={"fontFamily": "system-ui, sans-serif", "margin": "1rem 2rem"})

    @app.callback(Output("counts", "children"), Output("recent-jobs", "children"),
                  Input("refresh", "n_intervals"))
    def refresh(_n):
        page = store.list_jobs(limit=20)
        body = [html.Tr([html.Td(row[c]) for c in columns]) for row in table_rows(page.jobs)]
        return counts_line(store.counts()), body

    return app
