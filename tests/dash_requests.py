"""Dash callback requests built the way Dash's renderer builds them, for tests that
post to /_dash-update-component without a browser."""
from __future__ import annotations

import json
from typing import Any

import dash

CALLBACK_PATH = "/_dash-update-component"


def dash_app(server) -> dash.Dash:
    return server.extensions["mltrack.dash"]


def server_callbacks(server) -> list[str]:
    """The output keys of every callback that runs on the server (not in the page)."""
    return [k for k, cb in dash_app(server).callback_map.items() if "callback" in cb]


def find_callback(server, fragment: str) -> str:
    """The output key of the one server-side callback whose key contains `fragment`."""
    keys = [k for k in server_callbacks(server) if fragment in k]
    assert len(keys) == 1, (fragment, keys)
    return keys[0]


def _split_outputs(key: str) -> list[tuple[Any, str]]:
    """'..a.b...c.d@hash..' -> [("a", "b"), ("c", "d@hash")]; ids as JSON when dicts."""
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    out = []
    for part in parts:
        cid, _, prop = part.rpartition(".")
        out.append((json.loads(cid) if cid.startswith("{") else cid, prop))
    return out


def _layout_ids(server) -> list[Any]:
    layout = dash_app(server).layout
    root = layout() if callable(layout) else layout
    return [c.id for c in root._traverse() if getattr(c, "id", None) is not None]


def _concrete(server, cid: Any) -> Any:
    """A pattern-matching id -> the list of layout ids it matches; a plain id as is."""
    if not isinstance(cid, dict):
        return None
    fixed = {k: v for k, v in cid.items() if not isinstance(v, list)}
    return [i for i in _layout_ids(server) if isinstance(i, dict) and set(i) == set(cid)
            and all(i[k] == v for k, v in fixed.items())]


def is_match(cid: Any) -> bool:
    """A MATCH id: the renderer sends one item for it (the one that fired), not a list."""
    wild = [v for v in cid.values() if isinstance(v, list)] if isinstance(cid, dict) else []
    return bool(wild) and all(v == ["MATCH"] for v in wild)


def id_key(cid: Any) -> str:
    """An id as Dash writes it in prop ids: dicts as sorted compact JSON."""
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) \
        else str(cid)


def _item(cid, prop: str, values: dict[str, Any] | None) -> dict[str, Any]:
    item = {"id": cid, "property": prop}
    key = f"{id_key(cid)}.{prop}"
    if values is not None and key in values:
        item["value"] = values[key]
    return item


def _deps(server, specs, values: dict[str, Any]) -> list[Any]:
    out = []
    for spec in specs:
        if isinstance(spec["id"], str) and spec["id"].startswith("{"):  # a pattern, as JSON
            spec = {**spec, "id": json.loads(spec["id"])}
        matches = _concrete(server, spec["id"])
        if matches is None:
            out.append(_item(spec["id"], spec["property"], values))
        elif is_match(spec["id"]):  # the first widget of the layout that matches
            out.append(_item(matches[0], spec["property"], values))
        else:
            out.append([{**_item(i, spec["property"], values),
                         "value": values.get(f"{id_key(i)}.{spec['property']}")}
                        for i in matches])
    return out


def callback_body(server, key: str, values: dict[str, Any] | None = None,
                  changed: list[str] | None = None) -> dict[str, Any]:
    """The body the renderer posts for callback `key`: `values` maps "id.prop" to the
    value of an input or state, `changed` lists the inputs that fired it."""
    values = values or {}
    cb = dash_app(server).callback_map[key]
    outputs = []
    for cid, prop in _split_outputs(key):
        matches = _concrete(server, cid)
        if matches is None:
            outputs.append({"id": cid, "property": prop})
        elif is_match(cid):
            outputs.append({"id": matches[0], "property": prop})
        else:
            outputs.append([{"id": i, "property": prop} for i in matches])
    body = {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": _deps(server, cb["inputs"], values),
        "changedPropIds": changed or [],
    }
    if cb["state"]:
        body["state"] = _deps(server, cb["state"], values)
    return body
