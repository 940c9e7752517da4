"""The form's "Search" mode: beside one job or a grid, start an Optuna search
from the browser.

Each hyperparameter of the task is fixed (the value in its field above),
searched over choices (the values listed in its field above: several numbers
comma-separated, several options picked) or over a range (low, high, log
scale: numbers only). Then the trials, the sampler, how many run at once, the
pruner and the objective. The body goes to `mltrack.search.create_search`
in-process (the same checks as POST /searches); a refusal is shown next to the
field it names and changes nothing.

`search_body` and `error_targets` are pure (tested alone); `layout` and
`register_callbacks` are the Dash side, hooked into the form by dashboard.py.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping

import dash
from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from mltrack import form, views
from mltrack.task import Float, Int, InvalidParams, Param, Schema

MODE_JOBS, MODE_SEARCH = "jobs", "search"
FIXED, RANGE, CHOICES = "fixed", "range", "choices"
SAMPLERS = [("tpe", "TPE"), ("random", "random"), ("grid", "grid")]
PRUNERS = [("none", "none"), ("median", "median"), ("halving", "successive halving")]
SETTINGS = ("trials", "sampler", "parallel", "pruner", "objective", "name")
DEFAULT_TRIALS, DEFAULT_PARALLEL = 20, 2
MAX_NAME = 200
_INTEGER = re.compile(r"\s*[+-]?[0-9]{1,9}\s*")
SPACE_HINT = ("Per hyperparameter: fixed takes the value in its field above; choices "
              "searches the values listed there (comma-separated, or several picked); "
              "range searches between low and high.")

# Pattern-matching ids of the space editor (the task in the id, as the form's own)
HOW = {"type": "search-how", "task": ALL, "field": ALL}
LOW = {"type": "search-low", "task": ALL, "field": ALL}
HIGH = {"type": "search-high", "task": ALL, "field": ALL}
LOG = {"type": "search-log", "task": ALL, "field": ALL}
ERRORS = {"type": "search-error", "field": ALL}
SETTING_ERRORS = {"type": "search-setting-error", "field": ALL}


def is_number(param: Param) -> bool:
    return isinstance(param, (Float, Int))


def how_options(param: Param) -> list[dict[str, str]]:
    options = [{"label": "fixed", "value": FIXED}]
    if is_number(param):
        options.append({"label": "range", "value": RANGE})
    options.append({"label": "choices", "value": CHOICES})
    return options


def default_range(param: Param) -> tuple[str, str, bool]:
    """The range boxes' first text: the schema's bounds where finite, else a
    decade around the default (a user edits them anyway)."""
    if not is_number(param):
        return "", "", False
    low, high = param.low, param.high
    default = param.default
    if low is None or (isinstance(low, float) and not math.isfinite(low)):
        low = default / 10 if param.log and default > 0 else default - abs(default or 1)
    if high is None or (isinstance(high, float) and not math.isfinite(high)):
        high = default * 10 if param.log else default + abs(default or 1)
    if isinstance(param, Float) and param.log and low <= 0:
        low = default / 100
    if isinstance(param, Int):
        return str(int(low)), str(int(high)), bool(param.log)
    return form.number_text(float(low)), form.number_text(float(high)), bool(param.log)


# -- the body ---------------------------------------------------------------------------
def _one_number(name: str, param: Param, text: Any, end: str) -> Any:
    """A range end as typed -> the number, checked against the parameter's bounds."""
    if text is None or (isinstance(text, str) and not text.strip()):
        raise InvalidParams(name, f"the range needs a {end} value")
    values = form.field_values(name, param, text if isinstance(text, str) else str(text))
    if len(values) != 1:
        raise InvalidParams(name, f"the range's {end} is one number")
    return values[0]


def _whole(text: Any, name: str, low: int, high: int) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    elif isinstance(text, str) and _INTEGER.fullmatch(text):
        value = int(text)
    else:
        raise InvalidParams(name, f"{name} must be a whole number from {low} to {high}")
    if not low <= value <= high:
        raise InvalidParams(name, f"{name} must be a whole number from {low} to {high}, "
                                  f"not {value}")
    return value


def search_body(schema: Schema, values: Mapping[str, Any], how: Mapping[str, Any],
                ranges: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any]
                ) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The form in search mode -> (the POST /searches body, {field: error}).
    `values` are the form's fields (as `form.form_inputs` reads them), `how`
    each one's mode, `ranges` {name: {"low", "high", "log"}}; a parameter that
    does not apply with the values picked (momentum's beta with adam) is left out."""
    errors: dict[str, str] = {}
    space: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    on = form.applies(schema, values)
    for name, param in schema.params.items():
        if not on[name]:
            continue
        mode = how.get(name) or FIXED
        mode = mode if isinstance(mode, str) else ""
        try:
            if mode == RANGE and is_number(param):
                spec = ranges.get(name) or {}
                low = _one_number(name, param, spec.get("low"), "low")
                high = _one_number(name, param, spec.get("high"), "high")
                if not low < high:
                    raise InvalidParams(name, f"the range's low ({low:g}) must be below its "
                                              f"high ({high:g})")
                log = bool(spec.get("log"))
                if log and low <= 0:
                    raise InvalidParams(name, "a log range needs a low above 0")
                space[name] = {"low": low, "high": high, "log": log}
            elif mode == CHOICES:
                picked = form.field_values(name, param, values.get(name))
                if len(picked) > 1:
                    space[name] = picked
                else:
                    fixed[name] = picked[0]
            elif mode == FIXED:
                picked = form.field_values(name, param, values.get(name))
                if len(picked) != 1:
                    raise InvalidParams(name, f"fixed takes one value, not {len(picked)}: "
                                              "choose “choices” to search over them")
                fixed[name] = picked[0]
            else:
                raise InvalidParams(name, "choose fixed, range or choices")
        except InvalidParams as exc:
            errors[name] = exc.message
    body: dict[str, Any] = {"task": schema.name, "space": space, "fixed": fixed}
    try:
        body["trials"] = _whole(settings.get("trials"), "trials", 1, 10_000)
    except InvalidParams as exc:
        errors["trials"] = exc.message
    try:
        body["parallel"] = _whole(settings.get("parallel"), "parallel", 1, 1_000)
    except InvalidParams as exc:
        errors["parallel"] = exc.message
    sampler = settings.get("sampler")
    if not isinstance(sampler, str) or sampler not in [s for s, _ in SAMPLERS]:
        errors["sampler"] = "choose a sampler"
    body["sampler"] = sampler
    pruner = settings.get("pruner") or "none"
    if not isinstance(pruner, str) or pruner not in [p for p, _ in PRUNERS]:
        errors["pruner"] = "choose a pruner (or none)"
    body["pruner"] = None if pruner == "none" else pruner
    metric = settings.get("objective") or schema.primary.name
    if not isinstance(metric, str) or metric not in schema.goals:
        errors["objective"] = f"the objective is one of {', '.join(schema.goals)}"
    else:
        body["objective"] = {"metric": metric, "goal": schema.goals[metric]}
    name = settings.get("name")
    if isinstance(name, str) and name.strip():
        if len(name) > MAX_NAME:
            errors["name"] = f"a name is at most {MAX_NAME} characters"
        body["name"] = name.strip()
    if not space and not errors:
        errors[form.FORM_ERROR] = ("Nothing to search: set at least one hyperparameter to "
                                   "range or choices.")
    return (None if errors else body), errors


def error_targets(field: str, schema: Schema) -> str:
    """Where a refusal of create_search shows: the hyperparameter or setting its
    field names (`space.lr`, `fixed.lr`, `lr`, `objective.metric`), else the footer."""
    parts = [p for p in re.split(r"[.\[\]/]+", field or "") if p]
    for part in parts:
        if part in schema.params:
            return part
    for part in parts:
        if part in SETTINGS:
            return part
    return form.FORM_ERROR


def search_errors(errors: Mapping[str, str], schema: Schema) -> str:
    """The footer's line while some fields are wrong."""
    if form.FORM_ERROR in errors:
        return errors[form.FORM_ERROR]
    names = [n.replace("_", " ") for n in errors]
    if not names:
        return ""
    return ("Fix " + (names[0] if len(names) == 1 else f"{len(names)} fields: "
                      + ", ".join(names)) + " first (see the message beside it).")


# -- the page -----------------------------------------------------------------------------
def _space_row(task: str, name: str, param: Param) -> html.Div:
    low, high, log = default_range(param)
    key = {"task": task, "field": name}
    range_boxes = html.Div([
        dcc.Input(id={"type": "search-low", **key}, value=low, type="text",
                  className="text-input search-low", placeholder="low", autoComplete="off"),
        dcc.Input(id={"type": "search-high", **key}, value=high, type="text",
                  className="text-input search-high", placeholder="high", autoComplete="off"),
        dcc.Checklist(id={"type": "search-log", **key},
                      options=[{"label": "log", "value": "log"}],
                      value=["log"] if log else [], inline=True, className="checklist"),
    ], id={"type": "search-range", **key}, className="search-range",
        style={"display": "none"}) if is_number(param) else html.Div()
    return html.Div([
        html.Span(views.header_name(name), className="search-name", title=param.rule()),
        dcc.Dropdown(id={"type": "search-how", **key}, options=how_options(param), value=FIXED,
                     clearable=False, searchable=False, className="search-how"),
        range_boxes,
        html.Div(id={"type": "search-error", "field": name}, className="field-error"),
    ], className="search-row")


def space_rows(schema: Schema) -> list[html.Div]:
    return [_space_row(schema.name, n, p) for n, p in schema.params.items()]


def objective_options(schema: Schema) -> list[dict[str, str]]:
    return [{"label": f"{views.header_name(m.name)} ({m.goal})", "value": m.name}
            for m in schema.metrics]


def _setting(label: str, control: Any, name: str) -> html.Div:
    return html.Div([html.Label(label, className="field-label"), control,
                     html.Div(id={"type": "search-setting-error", "field": name},
                              className="field-error")], className="field")


def mode_switch() -> dcc.RadioItems:
    """Jobs (one or a grid) or a search: what the form's submit does."""
    return dcc.RadioItems(id="form-mode", options=[
        {"label": "Jobs (one or a grid)", "value": MODE_JOBS},
        {"label": "Search (Optuna)", "value": MODE_SEARCH}], value=MODE_JOBS, inline=True,
        className="checklist form-mode")


def layout(schema: Schema) -> html.Div:
    """The search panel under the form's fields, hidden until the mode is search."""
    return html.Div([
        html.H3("Search space", className="search-title"),
        html.P(SPACE_HINT, className="field-hint"),
        html.Div(space_rows(schema), id="search-space", className="search-space"),
        html.Div([
            _setting("Trials", dcc.Input(id="search-trials", value=str(DEFAULT_TRIALS),
                                         type="text", className="text-input"), "trials"),
            _setting("At once", dcc.Input(id="search-parallel", value=str(DEFAULT_PARALLEL),
                                          type="text", className="text-input"), "parallel"),
            _setting("Sampler", dcc.Dropdown(id="search-sampler", value="tpe", clearable=False,
                                             searchable=False,
                                             options=[{"label": l, "value": v}
                                                      for v, l in SAMPLERS]), "sampler"),
            _setting("Pruner", dcc.Dropdown(id="search-pruner", value="median",
                                            clearable=False, searchable=False,
                                            options=[{"label": l, "value": v}
                                                     for v, l in PRUNERS]), "pruner"),
        ], className="form-fields"),
        _setting("Objective", dcc.Dropdown(id="search-objective", clearable=False,
                                           searchable=False, options=objective_options(schema),
                                           value=schema.primary.name), "objective"),
        _setting("Name (optional)", dcc.Input(id="search-name", type="text", value="",
                                              className="text-input",
                                              placeholder="e.g. lr and batch size"), "name"),
        html.Div([
            html.Div(id="search-form-error", className="field-error"),
            html.Button("Start search", id="search-submit", className="button primary",
                        n_clicks=0),
            html.Div(id="search-started", className="submit-result"),
        ], className="form-submit"),
    ], id="search-panel", className="search-panel", style={"display": "none"})


def _ticked(value: Any) -> bool:
    """A log checklist's value: ["log"] when ticked (anything else a page sends: not)."""
    return isinstance(value, list) and "log" in value


def _by_field(items: Any, task: str) -> dict[str, Any] | None:
    """A pattern-matching State's items -> {field: value}, None unless all of `task`."""
    if not isinstance(items, list):
        return None
    out = {}
    for item in items:
        cid = item.get("id") if isinstance(item, dict) else None
        if not (isinstance(cid, dict) and cid.get("task") == task
                and isinstance(cid.get("field"), str)):
            return None
        out[cid["field"]] = item.get("value")
    return out


def register_callbacks(app: dash.Dash, store: Any,
                       queueable: Callable[[], Mapping[str, Schema]],
                       params_state: Mapping[str, Any]) -> None:
    """The search mode's callbacks. `queueable()` gives the tasks the form may
    queue (dashboard's own rule); `params_state` is the form's fields' id pattern."""

    @app.callback(Output("search-panel", "style"), Output("form-submit", "style"),
                  Input("form-mode", "value"))
    def mode(value):
        search = value == MODE_SEARCH
        return {"display": "block" if search else "none"}, {"display": "none" if search
                                                            else "block"}

    @app.callback(Output("search-space", "children"), Output("search-objective", "options"),
                  Output("search-objective", "value"), Input("form-task", "value"),
                  prevent_initial_call=True)
    def rows(task):
        schema = queueable().get(task) if isinstance(task, str) else None
        if schema is None:
            raise PreventUpdate
        return space_rows(schema), objective_options(schema), schema.primary.name

    @app.callback(Output({"type": "search-range", "task": MATCH, "field": MATCH}, "style"),
                  Input({"type": "search-how", "task": MATCH, "field": MATCH}, "value"))
    def show_range(how):
        return {"display": "flex" if how == RANGE else "none"}

    @app.callback(Output(ERRORS, "children"), Output(SETTING_ERRORS, "children"),
                  Output("search-form-error", "children"),
                  Output("search-started", "children"),
                  Output("grid-version", "data", allow_duplicate=True),
                  Output("search-selected", "data", allow_duplicate=True),
                  Input("search-submit", "n_clicks"), State(params_state, "value"),
                  State(HOW, "value"), State(LOW, "value"), State(HIGH, "value"),
                  State(LOG, "value"), State("search-trials", "value"),
                  State("search-parallel", "value"), State("search-sampler", "value"),
                  State("search-pruner", "value"), State("search-objective", "value"),
                  State("search-name", "value"), State("form-task", "value"),
                  State("grid-version", "data"), prevent_initial_call=True)
    def submit(clicks, _values, _how, _low, _high, _log, trials, parallel, sampler, pruner,
               objective, name, task, version):
        if not isinstance(clicks, int) or clicks < 1:
            raise PreventUpdate
        schema = queueable().get(task) if isinstance(task, str) else None
        states = ctx.states_list
        values = form.form_inputs(states[0], task) if schema else None
        how, lows, highs, logs = (_by_field(states[i], task) for i in range(1, 5))
        if values is None or how is None or set(values) != set(schema.params):
            return ([no_update] * len(ctx.outputs_list[0]), [no_update] * len(ctx.outputs_list[1]),
                    "The form is changing task; try again.", "", no_update, no_update)
        ranges = {n: {"low": (lows or {}).get(n), "high": (highs or {}).get(n),
                      "log": _ticked((logs or {}).get(n))} for n in schema.params}
        settings = {"trials": trials, "parallel": parallel, "sampler": sampler,
                    "pruner": pruner, "objective": objective, "name": name}
        body, errors = search_body(schema, values, how, ranges, settings)
        record = None
        if body is not None:
            record, errors = _create(store, body, schema)
        param_errors = [errors.get(o["id"]["field"], "") for o in ctx.outputs_list[0]]
        setting_errors = [errors.get(o["id"]["field"], "") for o in ctx.outputs_list[1]]
        if record is None:
            return (param_errors, setting_errors, search_errors(errors, schema), "", no_update,
                    no_update)
        n = record.get("trials", body["trials"])
        label = record.get("name") or record["id"][:8]
        result = html.Span([f"Started search {label} ({n} trials). ",
                            html.A("See it in Searches", href="#searches")])
        return (param_errors, setting_errors, "", result, views.next_version(version),
                record["id"])


def _create(store: Any, body: dict[str, Any], schema: Schema
            ) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """create_search in-process; its refusal -> {field: message} (nothing created)."""
    from mltrack.store import InvalidValue

    try:
        from mltrack.search import create_search
    except ImportError:  # the search engine is not installed in this build
        return None, {form.FORM_ERROR: "Searches are not available in this mltrack."}
    try:
        record = create_search(store, store.schemas(), body)
    except (InvalidValue, InvalidParams) as exc:
        field = getattr(exc, "field", "") or ""
        message = getattr(exc, "message", None) or str(exc)
        if field and message.startswith(f"{field}: "):  # InvalidValue says its field first
            message = message[len(field) + 2:]
        return None, {error_targets(field, schema): message}
    return record, {}
