"""The searches' REST routes (POST/GET /searches, GET /searches/<id>, cancel):
closures over the store, each body checked by mltrack.search.spec (which
names the field) and then against its declaration in api_spec.ROUTES."""
from __future__ import annotations

from flask import Flask, jsonify

from mltrack.api import _json_object as json_object
from mltrack.api import body_of, error
from mltrack.api_spec import ROUTES, check_body
from mltrack.search import (SearchEnded, SearchNotFound, cancel_search, check_spec,
                            create_search, list_searches, search_record)
from mltrack.store import Store
from mltrack.store.searches import valid_id


def _known(search_id: str) -> str:
    """A search id of the right shape (32 hex digits), else 404 before Redis
    is asked: `<id>:jobs` would name another of the search's keys."""
    if not valid_id(search_id):
        raise SearchNotFound(search_id)
    return search_id


def register_search_api(server: Flask, store: Store) -> None:
    """Mount the /searches routes on `server`."""

    @server.post("/searches")
    def search_create():
        body = json_object()
        # The search's own checks first: their messages name the field in full
        # (space.learning_rate); the declaration is a safety net behind them.
        check_spec(body, store.schemas(), store.tracked_tasks())
        check_body(ROUTES["create_search"].body, body)
        record = create_search(store, None, body)
        return jsonify(record), 201, {"Location": f"/searches/{record['id']}"}

    @server.get("/searches")
    def search_list():
        return jsonify(searches=list_searches(store))

    @server.get("/searches/<search_id>")
    def search_one(search_id: str):
        return jsonify(search_record(store, _known(search_id)))

    @server.post("/searches/<search_id>/cancel")
    def search_cancel(search_id: str):
        _known(search_id)
        body_of(ROUTES["cancel_search"])
        return jsonify(cancel_search(store, search_id))

    @server.errorhandler(SearchNotFound)
    def search_not_found(exc: SearchNotFound):
        return error(404, str(exc))

    @server.errorhandler(SearchEnded)
    def search_ended(exc: SearchEnded):
        return error(409, str(exc), current_status=exc.status)

