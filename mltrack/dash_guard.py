"""Dash's own routes, made to answer bad requests with a 4xx instead of a 500.

Dash trusts the body of `/_dash-update-component` to be what its renderer
sends: it indexes into it without checks, so `{}`, `[]`, an unknown output or
an input list of the wrong shape ends in a KeyError or a TypeError (500).
`check_callback_body` compares the body with the callback's own definition
before Dash reads it: the output must name a server-side callback, and the
outputs, inputs and state must be that callback's, in order, with the same
ids and properties. Only the values are left free; the callbacks check those.

Also: an unknown component-suite file is a 404, not Dash's DependencyException.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import dash
from dash.exceptions import CallbackException, DependencyException, InvalidCallbackReturnValue
from flask import Flask, jsonify, request

from mltrack.jsonio import strict_loads

log = logging.getLogger(__name__)

CALLBACK_PATH = "/_dash-update-component"


class BadCallbackRequest(ValueError):
    """The callback request does not fit the callback it names; `field` says where."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _stringify_id(component_id: Any) -> str:
    # Dash's form of an id inside a prop id: dict ids as compact sorted JSON.
    if isinstance(component_id, dict):
        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return str(component_id)


def _output_specs(callback: dict[str, Any]) -> list[dict[str, Any]]:
    """The callback's outputs as {"id", "property"}, wildcards in their JSON form."""
    outputs = callback["output"]
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    specs = []
    for dep in outputs:
        cid = dep.component_id
        if isinstance(cid, dict):  # {"field": ALL} -> {"field": ["ALL"]}
            cid = json.loads(dep.component_id_str())
        specs.append({"id": cid, "property": dep.component_property})
    return specs


def _wildcard_keys(spec_id: Any) -> set[str] | None:
    """Keys of a pattern-matching id that hold a wildcard; None for a plain id."""
    if not isinstance(spec_id, dict):
        return None
    return {k for k, v in spec_id.items() if isinstance(v, list)}


def _check_item(item: Any, spec: dict[str, Any], where: str) -> None:
    """One concrete dependency `{"id", "property", "value"?}` against its spec."""
    if not isinstance(item, dict):
        raise BadCallbackRequest(where, "must be an object with id and property")
    prop = item.get("property")
    # An output with allow_duplicate is sent as "prop@hash".
    if not isinstance(prop, str) or prop.split("@")[0] != spec["property"]:
        raise BadCallbackRequest(f"{where}.property", f"must be {spec['property']!r}")
    wild = _wildcard_keys(spec["id"])
    cid = item.get("id")
    if wild is None:
        if cid != spec["id"]:
            raise BadCallbackRequest(f"{where}.id", f"must be {spec['id']!r}")
        return
    if not isinstance(cid, dict) or set(cid) != set(spec["id"]):
        raise BadCallbackRequest(f"{where}.id", f"must be an object with keys "
                                                f"{', '.join(sorted(spec['id']))}")
    for key, value in cid.items():
        if key in wild:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise BadCallbackRequest(f"{where}.id.{key}", "must be a string or a number")
        elif value != spec["id"][key]:
            raise BadCallbackRequest(f"{where}.id.{key}", f"must be {spec['id'][key]!r}")


def _check_dependency(given: Any, spec: dict[str, Any], where: str) -> None:
    """One entry of inputs/state/outputs: an item, or a list of them for ALL wildcards."""
    if _wildcard_keys(spec["id"]) and any(v != ["MATCH"] for v in spec["id"].values()
                                          if isinstance(v, list)):
        if not isinstance(given, list):
            raise BadCallbackRequest(where, "must be a list (a pattern-matching dependency)")
        for n, item in enumerate(given):
            _check_item(item, spec, f"{where}[{n}]")
    else:
        _check_item(given, spec, where)


def _dependency_spec(dep: dict[str, Any]) -> dict[str, Any]:
    """An input or state of the callback map: a pattern-matching id is kept
    there as its JSON text (`{"field":["ALL"],...}`); read it back."""
    cid = dep["id"]
    if isinstance(cid, str) and cid.startswith("{"):
        cid = json.loads(cid)
    return {"id": cid, "property": dep["property"]}


def _check_list(body: dict[str, Any], name: str, specs: list[dict[str, Any]]) -> list[Any]:
    specs = [_dependency_spec(s) for s in specs]
    given = body.get(name, [] if name == "state" else None)
    if not isinstance(given, list) or len(given) != len(specs):
        raise BadCallbackRequest(name, f"must be a list of {len(specs)} dependencies of "
                                       "this callback")
    for n, (item, spec) in enumerate(zip(given, specs)):
        _check_dependency(item, spec, f"{name}[{n}]")
    return given


def _prop_ids(items: list[Any]) -> set[str]:
    out = set()
    for entry in items:
        for item in entry if isinstance(entry, list) else [entry]:
            out.add(f"{_stringify_id(item['id'])}.{item['property']}")
    return out


def check_callback_body(body: Any, callback_map: dict[str, Any]) -> None:
    """Raise BadCallbackRequest unless `body` fits the callback it names."""
    if not isinstance(body, dict):
        raise BadCallbackRequest("body", "must be a JSON object")
    output = body.get("output")
    callback = callback_map.get(output) if isinstance(output, str) else None
    if callback is None or "callback" not in callback:  # clientside ones run in the page
        raise BadCallbackRequest("output", "names no server-side callback of this dashboard")
    specs = _output_specs(callback)
    if isinstance(callback["output"], (list, tuple)):
        _check_list(body, "outputs", specs)
    else:
        _check_dependency(body.get("outputs"), specs[0], "outputs")
    inputs = _check_list(body, "inputs", callback["inputs"])
    _check_list(body, "state", callback["state"])
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        raise BadCallbackRequest("changedPropIds", "must be a list of strings")
    unknown = set(changed) - _prop_ids(inputs)
    if unknown:
        raise BadCallbackRequest("changedPropIds", f"{sorted(unknown)[0]!r} is not an input "
                                                   "of this callback")


def guard_dash_routes(server: Flask, app: dash.Dash) -> None:
    """Check callback bodies before Dash reads them; Dash's own errors as 4xx JSON."""

    @server.before_request
    def check_callback_request():
        if request.path != CALLBACK_PATH or request.method != "POST":
            return None
        body = request.get_json(silent=True)  # strict JSON (app.json), parsed once for Dash
        if body is None:
            try:
                strict_loads(request.get_data(cache=True))
            except ValueError as exc:
                raise BadCallbackRequest("body", f"is not valid JSON: {exc}") from None
        check_callback_body(body, app.callback_map)
        return None

    @server.errorhandler(BadCallbackRequest)
    def bad_callback_request(exc: BadCallbackRequest):
        return jsonify(error=str(exc), field=exc.field), 400

    @server.errorhandler(CallbackException)
    def callback_mismatch(exc: CallbackException):
        # Dash's own shape checks ("Inputs do not match callback definition"):
        # the request's fault, except a callback returning the wrong shape (ours).
        if isinstance(exc, InvalidCallbackReturnValue):
            log.error("callback returned a wrong shape on %s", request.path, exc_info=exc)
            return jsonify(error="internal error (InvalidCallbackReturnValue); see the "
                                 "server log"), 500
        return jsonify(error=f"the callback request does not fit the callback: {exc}"), 400

    @server.errorhandler(DependencyException)
    def unknown_component_file(exc: DependencyException):
        return jsonify(error=f"no such component file: {request.path}"), 404
