"""A search's body checked against its task's schema: `check_spec(body, schemas) -> spec`.

Every rule names the field it is about (`space.learning_rate`, `fixed.model`,
`objective.metric`, `trials`...) in an `InvalidValue(field, message)`, and
nothing is written before all of them passed. Pure: no Redis, no Optuna.

The spec (what the store keeps, and the record shows)::

    {"task": "mnist",
     "space": {"learning_rate": {"low": 1e-4, "high": 0.1, "log": true},   # a range
               "optimizer": ["adam", "sgd"]},                             # choices
     "fixed": {"model": "mlp"}, "trials": 8, "sampler": "tpe", "parallel": 2,
     "objective": {"metric": "test_accuracy", "goal": "max"}, "pruner": "median",
     "seed": null}

A range of an Int parameter is of whole numbers (sampled as ints), of a
Float parameter of reals. The grid sampler takes lists of values only: a
grid over a range would need a step, and a list says the same more plainly.
"""
from __future__ import annotations

import json
import math
import unicodedata
from typing import Any, Mapping

from mltrack.store.model import InvalidValue
from mltrack.task import Bool, Float, Int, InvalidParams, Param, Schema, json_type

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving")
MAX_TRIALS = 10_000
MAX_PARALLEL = 1_000
MAX_CHOICES = 1_000
MAX_SEED = 2**31 - 1
MAX_NAME = 200
MAX_GRID = 10_000  # points of a grid search (Optuna's GridSampler lists every one in memory)
# bidirectional overrides and isolates: they reorder a terminal's line (the CLI's tables)
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))
BODY_KEYS = ("task", "space", "fixed", "trials", "sampler", "parallel", "objective", "pruner",
             "name", "seed")
RANGE_KEYS = ("low", "high", "log")



def _param_of(schema: Schema, name: Any, field: str) -> Any:
    """The task's hyperparameter `name`, or a 400 at `field` naming those it has."""
    param = schema.params.get(name)
    if param is None:
        raise InvalidValue(field, f"task {schema.name} has no hyperparameter {str(name)[:80]!r} "
                                  f"(it has {', '.join(schema.params) or 'none'})")
    return param

def _whole(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not value.is_integer()):
        raise InvalidValue(field, f"must be a whole number, got {_shown(value)}")
    if not low <= value <= high:
        raise InvalidValue(field, f"must be between {low} and {high}, got {int(value)}")
    return int(value)


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (bool, int, float, str)) else None
    return text if text is not None and len(text) <= 40 else json_type(value)


def _one_of(field: str, value: Any, options: tuple[str, ...], allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or value not in options:
        none = " or null" if allow_none else ""
        raise InvalidValue(field, f"must be one of {', '.join(options)}{none}; got {_shown(value)}")
    return value


def _parse(field: str, param: Param, name: str, value: Any) -> Any:
    try:
        return param.parse(name, value)
    except InvalidParams as exc:
        raise InvalidValue(field, exc.message) from None


def check_range(field: str, name: str, param: Param, given: Mapping[str, Any]) -> dict[str, Any]:
    """{"low", "high", "log"} of a number parameter, inside the parameter's own bounds."""
    if not isinstance(param, (Int, Float)):
        kind = "true or false" if isinstance(param, Bool) else "one of its options"
        raise InvalidValue(field, f"{name} is a {param.kind}: give a list of values ({kind}), "
                                  "not a range")
    unknown = sorted(str(k) for k in given if k not in RANGE_KEYS)
    if unknown:
        raise InvalidValue(field, f"unknown key {unknown[0][:40]!r} in a range (it takes low, "
                                  "high and log)")
    for end in ("low", "high"):
        if end not in given:
            raise InvalidValue(field, f"a range needs low and high; {end} is missing")
    log = given.get("log", False)
    if not isinstance(log, bool):
        raise InvalidValue(field, f"log must be true or false, got {_shown(log)}")
    low, high = (_parse(field, param, name, given[end]) for end in ("low", "high"))
    if low == high:
        raise InvalidValue(field, f"the range is empty (low = high = {low:g}); give low < high, "
                                  "or put the value in fixed")
    if low > high:
        raise InvalidValue(field, f"low ({low:g}) is above high ({high:g})")
    if log and low <= 0:
        raise InvalidValue(field, f"a log range needs low > 0, got low = {low:g}")
    return {"low": low, "high": high, "log": log}


def check_choices(field: str, name: str, param: Param, given: list[Any]) -> list[Any]:
    """The distinct values of a list, each one the parameter takes."""
    if not given:
        raise InvalidValue(field, "give at least one value")
    if len(given) > MAX_CHOICES:
        raise InvalidValue(field, f"give at most {MAX_CHOICES} values, got {len(given)}")
    values = [_parse(field, param, name, v) for v in given]
    # one of each (5 and 5.0 read the same once checked)
    return list({json.dumps(v): v for v in values}.values())


def _check_space(space: Any, schema: Schema, sampler: str) -> dict[str, Any]:
    if not isinstance(space, Mapping):
        raise InvalidValue("space", f"must be a JSON object (hyperparameter -> a range or a list "
                                    f"of values), got {json_type(space)}")
    if not space:
        raise InvalidValue("space", "give at least one hyperparameter to search over")
    out: dict[str, Any] = {}
    for name, given in space.items():
        field = f"space.{str(name)[:80]}"
        param = _param_of(schema, name, field)
        if isinstance(given, list):
            out[name] = check_choices(field, name, param, given)
        elif isinstance(given, Mapping):
            if sampler == "grid":
                raise InvalidValue(field, "the grid sampler takes a list of values for each "
                                          "hyperparameter, not a range")
            out[name] = check_range(field, name, param, given)
        else:
            raise InvalidValue(field, 'must be a range {"low": ..., "high": ..., "log": false} '
                                      f"or a list of values, got {json_type(given)}")
    return out


def _check_name(name: str) -> None:
    """A label is shown on one line of a table: no control characters, no
    lone surrogates (they cannot be stored as UTF-8), no bidi overrides."""
    for at, char in enumerate(name):
        kind = unicodedata.category(char)
        if kind == "Cs":
            raise InvalidValue("name", f"has a lone surrogate (U+{ord(char):04X}) at {at}: "
                                       "not a character; give text")
        if kind == "Cc" or ord(char) in _BIDI:
            raise InvalidValue("name", f"has the control character U+{ord(char):04X} at {at}; "
                                       "a name is one line of printable text")


def _unmet(name: str, schema: Schema, space: Mapping[str, Any],
           fixed: Mapping[str, Any]) -> tuple[str, list[Any]] | None:
    """(other, its values that make `name` apply) when no trial of this search
    meets `name`'s condition (`when`), else None."""
    for other, allowed in (schema.params[name].when or {}).items():
        if other in space:
            possible = space[other] if isinstance(space[other], list) else None
            if possible is None or any(v in allowed for v in possible):
                continue
        elif fixed.get(other, schema.params[other].default) in allowed:
            continue
        return other, list(allowed)
    return None


def conditional(schema: Schema, space: Mapping[str, Any]) -> list[str]:
    """The searched hyperparameters whose condition (`when`) depends on
    another searched one (beta, applying only when the searched method is
    momentum): the driver suggests them only to trials where they apply
    (Optuna's define-by-run), so Optuna never records a value a job did
    not run with."""
    return [n for n in space if any(o in space for o in (schema.params[n].when or {}))]


def _check_conditions(space: Mapping[str, Any], fixed: Mapping[str, Any], schema: Schema,
                      sampler: str) -> None:
    for name in space:
        unmet = _unmet(name, schema, space, fixed)
        if unmet is not None:
            other, allowed = unmet
            raise InvalidValue(f"space.{name}", f"applies only when {other} is "
                                                f"{' or '.join(str(v) for v in allowed)}, and no "
                                                "trial of this search has that; fix "
                                                f"{other} to it, or search {other} too")
    if sampler == "grid":
        for name in conditional(schema, space):
            other = next(o for o in schema.params[name].when if o in space)
            raise InvalidValue(f"space.{name}", f"applies only with some values of {other}, "
                                                "which the grid varies too: grid points that "
                                                f"differ only in {name} would be the same job; "
                                                f"fix {other}, or use the tpe or random sampler")


def _check_fixed(fixed: Any, space: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    if fixed is None:
        fixed = {}
    if not isinstance(fixed, Mapping):
        raise InvalidValue("fixed", f"must be a JSON object (hyperparameter -> value), "
                                    f"got {json_type(fixed)}")
    out = {}
    for name, value in fixed.items():
        field = f"fixed.{str(name)[:80]}"
        param = _param_of(schema, name, field)
        if name in space:
            raise InvalidValue(field, f"{name} is in the space too; search it or fix it, not both")
        out[name] = _parse(field, param, name, value)
    # a fixed value that can apply with no trial (momentum fixed, optimizer adam) is a mistake
    for name, value in out.items():
        if value == schema.params[name].default:
            continue
        unmet = _unmet(name, schema, space, out)
        if unmet is not None:
            other, allowed = unmet
            raise InvalidValue(f"fixed.{name}", f"applies only when {other} is "
                                                f"{' or '.join(str(v) for v in allowed)}, and no "
                                                "trial of this search has that")
    return out


def _check_objective(objective: Any, schema: Schema) -> dict[str, str]:
    if objective is None:
        return {"metric": schema.primary.name, "goal": schema.primary.goal}
    if not isinstance(objective, Mapping):
        raise InvalidValue("objective", f'must be a JSON object {{"metric": name, "goal": "min" '
                                        f'or "max"}}, got {json_type(objective)}')
    unknown = sorted(str(k) for k in objective if k not in ("metric", "goal"))
    if unknown:
        raise InvalidValue(f"objective.{unknown[0][:40]}", "unknown key (it takes metric and goal)")
    goals = schema.goals
    metric = objective.get("metric", schema.primary.name)
    if not isinstance(metric, str) or metric not in goals:
        raise InvalidValue("objective.metric", f"task {schema.name} has no metric "
                                               f"{_shown(metric)} (it has {', '.join(goals)})")
    goal = objective.get("goal", goals[metric])
    if goal not in ("min", "max"):
        raise InvalidValue("objective.goal", f"must be min or max, got {_shown(goal)}")
    # The table's best_<metric>, the dashboard and the analysis all follow the
    # metric's declared goal: a search the other way would call the worst run best.
    if goal != goals[metric]:
        word = "minimised" if goals[metric] == "min" else "maximised"
        raise InvalidValue("objective.goal", f"{metric} is {word} (task {schema.name} declares "
                                             f"its goal {goals[metric]}); leave goal out or give "
                                             f"{goals[metric]}")
    return {"metric": metric, "goal": goal}


def grid_size(space: Mapping[str, Any]) -> int:
    return math.prod(len(v) for v in space.values() if isinstance(v, list))


def check_spec(body: Any, schemas: Mapping[str, Schema], tracked: frozenset[str] = frozenset()
               ) -> tuple[Schema, dict[str, Any]]:
    """(the task's schema, the checked spec) of a search body; InvalidValue names the field."""
    if not isinstance(body, Mapping):
        raise InvalidValue("body", f"must be a JSON object, got {json_type(body)}")
    unknown = sorted(str(k) for k in body if k not in BODY_KEYS)
    if unknown:
        raise InvalidValue(unknown[0][:80], f"unknown field (allowed: {', '.join(BODY_KEYS)})")
    task = body.get("task", "mnist")
    if not isinstance(task, str):
        raise InvalidValue("task", f"must be a task's name, got {json_type(task)}")
    if task in tracked:
        raise InvalidValue("task", f"task {task[:80]} is tracked from scripts; no worker runs it, "
                                   "so no search can queue its trials")
    schema = schemas.get(task)
    if schema is None:
        raise InvalidValue("task", f"no task {task[:80]!r} (known: {', '.join(sorted(schemas))})")
    sampler = _one_of("sampler", body.get("sampler", "tpe"), SAMPLERS)
    pruner = _one_of("pruner", body.get("pruner"), PRUNERS, allow_none=True)
    if "trials" not in body:
        raise InvalidValue("trials", "is required: how many trials the search runs")
    trials = _whole("trials", body["trials"], 1, MAX_TRIALS)
    parallel = _whole("parallel", body.get("parallel", 1), 1, MAX_PARALLEL)
    seed = body.get("seed")
    if seed is not None:
        seed = _whole("seed", seed, 0, MAX_SEED)
    name = body.get("name", "")
    if name is None:
        name = ""
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise InvalidValue("name", f"must be a string of at most {MAX_NAME} characters")
    _check_name(name)
    space = _check_space(body.get("space"), schema, sampler)
    fixed = _check_fixed(body.get("fixed"), space, schema)
    objective = _check_objective(body.get("objective"), schema)
    _check_conditions(space, fixed, schema, sampler)
    if sampler == "grid" and grid_size(space) > MAX_GRID:
        raise InvalidValue("space", f"the grid has {grid_size(space)} points (the product of "
                                    f"the lists' lengths); a grid search takes at most "
                                    f"{MAX_GRID}: give fewer values, or use the tpe or random "
                                    "sampler")
    if sampler == "grid" and trials > grid_size(space):
        raise InvalidValue("trials", f"the grid has {grid_size(space)} points; a grid search "
                                     f"runs at most that many trials, not {trials}")
    return schema, {"task": schema.name, "name": name, "space": space, "fixed": fixed,
                    "trials": trials, "sampler": sampler, "parallel": parallel,
                    "objective": objective, "pruner": pruner, "seed": seed}


def applies(schema: Schema, spec: Mapping[str, Any], name: str,
            sampled: Mapping[str, Any]) -> bool:
    """Whether searched `name` applies to a trial with these fixed and sampled values."""
    values = {**schema.defaults(), **spec["fixed"], **sampled}
    return schema.applies(name, values)


def sampled_names(schema: Schema, spec: Mapping[str, Any], sampled: Mapping[str, Any]
                  ) -> set[str]:
    """The searched hyperparameters a complete trial with these values has:
    every one, less the conditional ones that do not apply to it."""
    return {n for n in spec["space"]
            if n not in conditional(schema, spec["space"]) or applies(schema, spec, n, sampled)}


def trial_params(schema: Schema, spec: Mapping[str, Any], sampled: Mapping[str, Any]
                 ) -> dict[str, Any]:
    """A trial's checked hyperparameters: fixed, then the sampled values; one
    that does not apply with the others (momentum with adam) is left to its
    default, as in a sweep. InvalidParams if they do not pass the schema."""
    raw = {**spec["fixed"], **sampled}
    dropped = schema._not_applying(raw)
    return schema.parse({k: v for k, v in raw.items() if k not in dropped})
