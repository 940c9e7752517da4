"""The web application: a Flask server carrying the Dash dashboard and the REST API."""
from __future__ import annotations

from flask import Flask, Request, Response, request
from flask_compress import Compress
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from mltrack.annotations_api import register_annotations_api
from mltrack.api import json_http_error, register_api
from mltrack.dash_guard import guard_dash_routes
from mltrack.dashboard import create_dashboard
from mltrack.jsonio import StrictJSONProvider
from mltrack.model_files import ModelFiles
from mltrack.security import install_security
from mltrack.store import Store

# Dash's rule for multi-page apps: it answers every GET no other route takes
# with the dashboard's page. mltrack has one page, at `/`.
_DASH_CATCH_ALL = "/<path:path>"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def create_app(store: Store, *, password: str | None = None,
               loopback_only: bool = True, models: ModelFiles | None = None) -> Flask:
    """Build the server: guards, REST API and dashboard, all over `store`;
    `models`: where this server keeps trained models (None: it keeps none)."""
    server = Flask("mltrack")
    server.json = StrictJSONProvider(server)
    # `/experiments/` is `/experiments`, with no redirect (a POST would lose its body).
    server.url_map.strict_slashes = False
    install_security(server, password=password, loopback_only=loopback_only)
    register_api(server, store)
    register_annotations_api(server, store, models)  # runmeta: tags, notes, models
    _compress_and_cache(server)
    dash_app = create_dashboard(server, store)
    guard_dash_routes(server, dash_app)
    _only_known_paths(server)
    server.extensions["mltrack.dash"] = dash_app
    return server


def _route_methods(server: Flask, req: Request) -> set[str]:
    """The methods that a route other than Dash's catch-all takes at `req`'s path."""
    adapter = server.url_map.bind_to_environ(req.environ)
    found = set()
    for method in _METHODS:
        try:
            rule, _ = adapter.match(method=method, return_rule=True)
        except HTTPException:  # NotFound, MethodNotAllowed, a redirect
            continue
        if rule.rule != _DASH_CATCH_ALL:
            found.add(method)
    return found


def _only_known_paths(server: Flask) -> None:
    """Unknown paths are a JSON 404 and wrong methods a JSON 405, not the page."""

    @server.before_request
    def unknown_path():
        rule = request.url_rule
        if rule is None or rule.rule != _DASH_CATCH_ALL:
            return None
        allowed = _route_methods(server, request)
        if allowed:  # GET /train: the route exists, for other methods
            raise MethodNotAllowed(valid_methods=sorted(allowed))
        raise NotFound(f"no route {request.path}")

    @server.errorhandler(MethodNotAllowed)
    def wrong_method(exc: MethodNotAllowed):
        # POST /nope "exists" only as a GET of the catch-all: it is not a route.
        if not _route_methods(server, request):
            return json_http_error(NotFound(f"no route {request.path}"))
        return json_http_error(exc)


# What the browser may get compressed: the page, its scripts and styles, every JSON
# answer (Dash's callbacks too). Images and the checkpoint download are left alone.
COMPRESSED_TYPES = ["text/html", "text/css", "text/plain", "text/csv", "application/json",
                    "application/javascript", "text/javascript", "image/svg+xml"]
YEAR = 365 * 24 * 3600


def _compress_and_cache(server: Flask) -> None:
    """Compress answers the browser asks gzip or brotli for (the dashboard's 8 MB
    of JavaScript is ~2 MB so), and let it keep the page's own static files for a
    year: Dash names them with a fingerprint (`?m=<mtime>` for /assets/, a version
    in the path for its component suites, which Dash already marks so), so a new
    version is a new URL. Streamed answers (the CSV export) stay streamed."""
    server.config.update(COMPRESS_MIMETYPES=COMPRESSED_TYPES, COMPRESS_ALGORITHM=["br", "gzip"],
                         COMPRESS_MIN_SIZE=1024, COMPRESS_STREAMS=False, COMPRESS_BR_LEVEL=5)
    Compress(server)

    @server.after_request
    def cache_fingerprinted_assets(response: Response) -> Response:
        if (request.path.startswith("/assets/") and request.args.get("m")
                and response.status_code == 200):
            response.cache_control.public = True
            response.cache_control.max_age = YEAR
            response.cache_control.no_cache = None
        return response
