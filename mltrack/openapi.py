"""GET /openapi.json: the OpenAPI 3.1 document, built from api_spec.ROUTES.

Nothing here describes a route by hand: each operation's parameters, body and
answers are the declarations the API validates requests with. The errors
every route may answer (a foreign Host header, a missing password, the
database down) are added to each operation here, once.
"""
from __future__ import annotations

import re
from typing import Any

from mltrack import __version__
from mltrack.api_spec import ERROR, IID, ROUTES, SEARCH_ID, Route

# Answers any route may give, whatever it takes.
COMMON_ERRORS = {
    401: "a password is set and the request did not give it (HTTP basic auth)",
    403: "the Host header is not a loopback name on a loopback-only mltrack",
    503: "the database is unreachable or cannot write; try again shortly",
}
_PATH_PARAMETERS = {"iid": IID, "name": {"type": "string", "description": "a task's name"},
                    "search_id": SEARCH_ID}  # search


def _json(schema: Any, media: str = "application/json") -> dict[str, Any]:
    return {media: {"schema": schema}}


def operation(name: str, route: Route) -> dict[str, Any]:
    """One route as an OpenAPI operation object."""
    params = [{"name": p, "in": "path", "required": True, "schema": _PATH_PARAMETERS[p]}
              for p in re.findall(r"{(\w+)}", route.path)]
    params += [{"name": q, "in": "query", "required": False, "schema": dict(schema),
                "description": schema.get("description", "")}
               for q, schema in route.query.items()]
    op: dict[str, Any] = {"operationId": name, "summary": route.summary, "tags": [route.tag],
                          "parameters": params, "responses": {}}
    if route.description:
        op["description"] = route.description
    if route.body is not None:
        # Required even where the server reads nothing from it: security.py refuses
        # a POST without Content-Type: application/json (a cross-site form's)
        op["requestBody"] = {"required": True, "content": _json(route.body)}
    for status, (text, schema) in route.answers.items():
        op["responses"][str(status)] = {"description": text,
                                        "content": _json(schema, route.media)}
        if route.links and 200 <= status < 300:
            op["responses"][str(status)]["links"] = {
                name: {"operationId": target, **fields}
                for name, (target, fields) in route.links.items()}
    for status, text in {**route.errors, **COMMON_ERRORS}.items():
        op["responses"][str(status)] = {"description": text,
                                        "content": _json({"$ref": "#/components/schemas/Error"})}
    return op


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    paths: dict[str, dict[str, Any]] = {}
    for name, route in ROUTES.items():
        paths.setdefault(route.path, {})[route.method] = operation(name, route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "mltrack", "version": __version__,
                 "description": "Run and track machine-learning experiments. Errors are "
                                "{\"error\": message, \"field\": name} with a 4xx status; "
                                "state-changing requests send application/json."},
        "paths": paths,
        "components": {"schemas": {"Error": ERROR}},
    }
