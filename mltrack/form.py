"""The submit form, from a task's schema: the widget each parameter gets, the
values a run fills it with (clone), which parameters apply, and form values ->
the jobs to queue. Pure functions: dashboard.py turns them into components.

Every number box takes one value or a comma-separated list, every choice and
Bool several ticks: more than one value on any field is a sweep, every
combination of them (the schema's own `expand_sweep`).
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

from mltrack.task import (MAX_SWEEP, Bool, Choice, Float, Int, InvalidParams, Param, Schema,
                          json_type)

# What a parameter looks like in the form.
LOG_SLIDER, TEXT, CHOICE, CHECKLIST = "log-slider", "text", "choice", "checklist"
BOOL_VALUES = {"true": True, "false": False}  # a checklist's option values, as text
FORM_ERROR = "form"  # where an error that is no single field's goes
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")  # "0,01": a European decimal comma?


def widget(param: Param) -> str:
    """A log slider with its text box for log-scale Floats, a text box for other
    numbers, a multi-select for a Choice, a checklist for a Bool."""
    if isinstance(param, Choice):
        return CHOICE
    if isinstance(param, Bool):
        return CHECKLIST
    if isinstance(param, Float) and param.log:
        return LOG_SLIDER
    return TEXT


def slider_range(param: Float) -> tuple[int, int]:
    """A log slider's ends as powers of ten: the bounds where they are finite
    and above 0, else two decades beyond the default."""
    low = (math.floor(math.log10(param.low)) if param.low > 0
           else math.floor(math.log10(param.default)) - 2)
    high = (math.ceil(math.log10(param.high)) if math.isfinite(param.high)
            else math.ceil(math.log10(param.default)) + 2)
    return low, max(high, low + 1)


def slider_marks(low: int, high: int) -> dict[int, str]:
    step = 1 if high - low <= 8 else 2
    return {e: "1" if e == 0 else f"1e{e}" for e in range(low, high + 1, step)}


def slider_to_text(exponent: float) -> str:
    return f"{10 ** exponent:.2g}"


def _last_item(text: Any) -> str | None:
    """The last value of a field's text (one value, or the last of a list)."""
    if not isinstance(text, str):
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items[-1] if items else None


def text_to_slider(text: Any, low: int, high: int) -> float | None:
    """The slider position for a typed value (the last one of a list: the one
    being typed), or None if it is no positive number (a typo, 10**400: then
    the text is the truth)."""
    try:
        value = float(_last_item(text))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    if not 0 < value < math.inf:
        return None
    return max(float(low), min(float(high), round(math.log10(value), 1)))


def slider_into_text(exponent: float, text: Any) -> str:
    """The text after the slider moved: its value, or in a list the last value
    replaced (the others of a sweep stay as typed)."""
    value = slider_to_text(exponent)
    if not isinstance(text, str):
        return value
    items = [t.strip() for t in text.split(",") if t.strip()]
    return ", ".join([*items[:-1], value]) if len(items) > 1 else value


def number_text(value: float) -> str:
    """A float as the shortest text that reads back as the same float: 0.0012345678
    stays 0.0012345678 (`:g` would round it to 0.00123457), 0.0 is "0"."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def widget_value(param: Param, value: Any) -> Any:
    """A hyperparameter's value as its widget holds it."""
    if isinstance(param, Choice):
        return [value]
    if isinstance(param, Bool):
        return ["true" if value else "false"]
    if isinstance(param, Float):
        return number_text(value)
    return str(value)


def form_values(schema: Schema, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The form of `schema` filled with `params` (a run's, for clone; full
    precision), defaults for what they lack."""
    values = {**schema.defaults(), **{k: v for k, v in (params or {}).items()
                                      if k in schema.params}}
    return {name: widget_value(p, values[name]) for name, p in schema.params.items()}


SWEEP_HINT = "Several values make a sweep: comma-separate numbers, pick several options."


def hint(param: Param) -> str:
    """The line under a field: its help (the sweep syntax is said once, above)."""
    if widget(param) == LOG_SLIDER:
        return f"{param.help} (log scale)" if param.help else "log scale"
    return param.help


def when_text(param: Param) -> str:
    """When a parameter applies: `only when optimizer is sgd or rmsprop`."""
    return "; ".join(f"only when {other} is {' or '.join(str(v) for v in values)}"
                     for other, values in (param.when or {}).items())


# -- reading the form ---------------------------------------------------------------
def _read(name: str, param: Param, item: Any) -> Any:
    """One value as typed or picked -> the JSON value the schema parses."""
    if isinstance(param, Bool):
        if isinstance(item, str) and item.strip().lower() in BOOL_VALUES:
            return BOOL_VALUES[item.strip().lower()]
        return item
    if isinstance(param, Choice) or not isinstance(item, str):
        return item
    text = item.strip()
    if isinstance(param, Int) and _INTEGER.fullmatch(text) and len(text) < 4000:
        return int(text)
    try:
        return float(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise InvalidParams(name, f"“{shown}” is not a number") from None


def field_values(name: str, param: Param, raw: Any) -> list[Any]:
    """A field's value(s), each checked against the parameter's own rule: a
    text of one value or a comma-separated list, or a dropdown's list."""
    if raw is None or raw == "" or raw == []:
        raise InvalidParams(name, f"{_words(name)} needs a value")
    if isinstance(raw, list):
        items = raw
    elif isinstance(raw, str) and widget(param) in (TEXT, LOG_SLIDER):
        items = raw.split(",")
    else:
        items = [raw]
    if len(items) > MAX_SWEEP:
        raise InvalidParams(name, f"at most {MAX_SWEEP} values")
    blank = [isinstance(item, str) and not item.strip() for item in items]
    if all(blank):
        raise InvalidParams(name, f"{_words(name)} needs a value")  # " , "
    if any(blank) and isinstance(raw, str):
        # "0.1,,0.2" or "3,": a value lost to a typo, not meant to be dropped (the
        # CLI refuses the same text; the form used to queue one job fewer than typed)
        shown = raw.strip() if len(raw.strip()) <= 40 else raw.strip()[:40] + "…"
        raise InvalidParams(name, f"{_words(name)} has an empty value in “{shown}”: give a "
                                  "value between each pair of commas")
    values = []
    for item, empty in zip(items, blank):
        if empty:
            continue  # a blank option in a dropdown's list: nothing picked there
        if isinstance(item, (list, dict)):
            raise InvalidParams(name, f"takes single values, not {json_type(item)}")
        try:
            values.append(_parse(name, param, _read(name, param, item)))
        except InvalidParams:
            if isinstance(param, Float) and isinstance(raw, str) \
                    and _DECIMAL_COMMA.fullmatch(raw.strip()):
                # "0,01" read as 0 and 01: the error about 0 would puzzle whoever typed
                # a decimal comma, so say how the text was read and what to type (only
                # where a decimal could be meant: "2,5" epochs is a sweep or a typo)
                whole, fraction = raw.strip().split(",")
                raise InvalidParams(name, f"{_words(name)}: a comma separates values, so "
                                          f"“{raw.strip()}” reads as {whole} and {fraction}; "
                                          f"for a decimal write {whole}.{fraction}") from None
            raise
    return values


def _words(name: str) -> str:
    return name.replace("_", " ")


def human_rule(param: Param) -> str:
    """A number's bounds in words: `above 0 and at most 10`, `from 1 to 100`."""
    if isinstance(param, Float):
        parts = []
        if math.isfinite(param.low):
            parts.append(f"{'above' if param.low_open else 'at least'} {param.low:g}")
        if math.isfinite(param.high):
            parts.append(f"{'below' if param.high_open else 'at most'} {param.high:g}")
        return " and ".join(parts) or "a finite number"
    if isinstance(param, Int):
        if param.low is not None and param.high is not None:
            return f"a whole number from {param.low} to {param.high}"
        if param.low is not None:
            return f"a whole number, at least {param.low}"
        if param.high is not None:
            return f"a whole number, at most {param.high}"
        return "a whole number"
    return param.rule()


def _parse(name: str, param: Param, value: Any) -> Any:
    """One value checked by its parameter; a number out of bounds is said in words
    (`learning rate must be above 0 and at most 10, not 20`)."""
    try:
        return param.parse(name, value)
    except InvalidParams:
        if isinstance(param, (Float, Int)) and isinstance(value, (int, float)) \
                and not isinstance(value, bool) and (isinstance(value, int)
                                                     or math.isfinite(value)):
            shown = f"{value:g}" if isinstance(value, float) else (
                str(value) if abs(value) < 10**30 else f"a number of {len(str(abs(value)))} digits")
            if isinstance(param, Int) and isinstance(value, float) and not value.is_integer():
                raise InvalidParams(name, f"{_words(name)} must be a whole number, "
                                          f"not {shown}") from None
            raise InvalidParams(name, f"{_words(name)} must be {human_rule(param)}, "
                                      f"not {shown}") from None
        raise


def _candidates(name: str, param: Param, raw: Any) -> list[Any] | None:
    """The values a field now holds, or None if it holds nothing readable."""
    try:
        return field_values(name, param, raw)
    except InvalidParams:
        return None


def applies(schema: Schema, values: Mapping[str, Any]) -> dict[str, bool]:
    """Which parameters mean something with the form's values: one with `when`
    applies if some value picked for each parameter it depends on allows it
    (while that one holds nothing readable, it is shown)."""
    out = {}
    for name, param in schema.params.items():
        on = True
        for other, allowed in (param.when or {}).items():
            picked = _candidates(other, schema.params[other], values.get(other))
            if picked is not None and not any(v in allowed for v in picked):
                on = False
        out[name] = on
    return out


def parse_form(schema: Schema, values: Mapping[str, Any]) -> tuple[list[dict[str, Any]],
                                                                  dict[str, str]]:
    """Form values -> (the jobs to queue, {field: error}). Each field is checked
    alone first, so each error shows next to its own field; parameters that do
    not apply are left to their defaults; then the whole, by the schema."""
    errors: dict[str, str] = {}
    base: dict[str, Any] = {}
    sweep: dict[str, list[Any]] = {}
    on = applies(schema, values)
    for name, param in schema.params.items():
        if not on[name]:
            continue
        try:
            picked = field_values(name, param, values.get(name))
        except InvalidParams as exc:
            errors[name] = exc.message
            continue
        if len(picked) == 1:
            base[name] = picked[0]
        else:
            sweep[name] = picked
    if errors:
        return [], errors
    try:
        jobs = schema.expand_sweep(base, sweep) if sweep else [schema.parse(base)]
    except InvalidParams as exc:
        return [], {exc.field if exc.field in schema.params else FORM_ERROR: exc.message}
    return jobs, {}


def form_inputs(items: Any, task: str) -> dict[str, Any] | None:
    """The form's widgets as a callback gets them (`[{"id": {"type": "param",
    "task": ..., "field": ...}, "value": ...}]`) -> {field: value}; None unless
    every one is a widget of `task` (the form is being rebuilt for another)."""
    if not isinstance(items, list):
        return None
    out = {}
    for item in items:
        cid = item.get("id") if isinstance(item, dict) else None
        if not (isinstance(cid, dict) and cid.get("type") == "param" and cid.get("task") == task
                and isinstance(cid.get("field"), str)):
            return None
        out[cid["field"]] = item.get("value")
    return out


def errors_summary(errors: dict[str, str]) -> str:
    """What the submit footer says while fields are wrong: how many and which
    (their own messages sit under each field, maybe out of view)."""
    if FORM_ERROR in errors:
        return errors[FORM_ERROR]
    names = [_words(name) for name in errors]
    if not names:
        return ""
    if len(names) == 1:
        return f"Fix {names[0]} first (see its message above)."
    return f"Fix {len(names)} fields first: {', '.join(names)} (see their messages above)."


def preview(count: int) -> str:
    return (f"This will queue {count} jobs (every combination of the listed values)."
            if count > 1 else "")
