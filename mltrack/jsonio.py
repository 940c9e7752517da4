"""Strict JSON in and out of the Flask server.

Out: `NaN` and `Infinity` are not JSON, and a browser's `JSON.parse` refuses a
body that carries them; a stored metric that is not finite is written as
null ("no value"), wherever it sits in the answer.

In: request bodies must be strict JSON too (no `NaN` / `Infinity` tokens) and
at most `MAX_DEPTH` levels deep, so no nested value can exhaust the stack of
the code that reads it. A body that breaks either rule is invalid JSON (400).
"""
from __future__ import annotations

import json
import math
from typing import Any

from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 100


def finite(value: Any) -> Any:
    """`value` with every non-finite float, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0); no recursion."""
    if not isinstance(value, (dict, list)):
        return 0
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        deepest = max(deepest, level)
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


MAX_INT_DIGITS = 4000  # below Python's own limit, whose message tells about sys internals


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"JSON integer with {len(text.lstrip('-'))} digits; at most "
                         f"{MAX_INT_DIGITS} are read")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"model": "mlp", "model": "cnn"} would silently be a CNN: ambiguous, refused
    out = dict(pairs)
    if len(out) < len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"the key {twice[:80]!r} is given twice in one object")
    return out


def strict_loads(text: str | bytes, **kwargs: Any) -> Any:
    """Parse strict JSON, refusing NaN/Infinity, a key given twice in one object
    and nesting over MAX_DEPTH (ValueError)."""
    kwargs.setdefault("parse_constant", _refuse_constant)
    kwargs.setdefault("parse_int", _bounded_int)
    kwargs.setdefault("object_pairs_hook", _unique_keys)
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if isinstance(value, (dict, list)) and depth(value) > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with non-finite floats written as null and strict parsing."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("default", lambda o: finite(self.default(o)))
        kwargs["allow_nan"] = False
        return super().dumps(finite(obj), **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_loads(s, **kwargs)
