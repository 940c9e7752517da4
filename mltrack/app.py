"""The web application: a Flask server carrying the Dash dashboard and the REST API."""
from __future__ import annotations

from flask import Flask

from mltrack.api import register_api
from mltrack.dashboard import create_dashboard
from mltrack.security import install_security
from mltrack.store import Store


def create_app(store: Store, *, password: str | None = None,
               loopback_only: bool = True) -> Flask:
    """Build the server: guards, REST API and dashboard, all over `store`."""
    server = Flask("mltrack")
    install_security(server, password=password, loopback_only=loopback_only)
    register_api(server, store)
    server.extensions["mltrack.dash"] = create_dashboard(server, store)
    return server
