"""Tracked runs: a task's schema inferred from what scripts outside the queue report.

A script tracked with POST /runs needs no declared task. The task's schema is
inferred from the runs and kept in the task registry, marked `"tracked": true`,
so its runs list, sort and chart like any job:

- a hyperparameter's type comes from its first value: a float is a Float, an
  integer an Int (a later fraction widens it to a Float), true/false a Bool, a
  string a Choice whose options grow with each new string (at most
  MAX_CHOICES); a later value of another kind is refused, naming the field;
- a metric is declared by the run's `"metrics"` goals or, when first logged,
  with a goal from its name (loss, error... are minimised, the rest maximised);
  the first metric of a task is its primary one;
- names follow the rule of task names (NAME, none of RESERVED, no `best_`).

Tracking into a task that a worker declared (or the built-in mnist) does not
change its schema: the hyperparameters are checked against it as for POST
/train (defaults fill the gaps), only its metrics may be logged, and a goal
given must be the declared one. So a tracked run never clashes with a task
that a worker runs.

Pure functions over registry entries (the JSON dicts of the registry); the
store writes them. Nothing here imports Redis or Flask.
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any, Mapping

from mltrack.api_spec import MAX_METRICS, MAX_PARAMS, listed
from mltrack.params import MNIST
from mltrack.task import (METRIC_RESERVED, NAME, RESERVED, TASK_NAME, Bool, Choice, Float, Int,
                          InvalidParams, Metric, Param, Schema, finite_number, goal_from_name,
                          json_type, param_from_dict)

MAX_CHOICES = 100  # distinct strings one tracked hyperparameter takes
# A tracked task's size (MAX_PARAMS, MAX_METRICS) is declared with the routes:
# every log rewrites its registry entry and GET /tasks shows it whole.
MAX_TEXT = 200  # characters of a string hyperparameter
MAX_WHOLE = 2**53  # integers beyond this lose digits as a sort score
DESCRIPTION = "tracked from scripts (POST /runs)"


def check_task_name(name: Any) -> str:
    if not isinstance(name, str) or not TASK_NAME.fullmatch(name):
        shown = name[:80] if isinstance(name, str) else json_type(name)
        raise InvalidParams("task", f"a task name is lower case letters, digits, '_', '.' and "
                                    f"'-' (a letter first, at most 64); got {shown!r}")
    return name


def check_name(name: Any, kind: str) -> str:
    """A hyperparameter's or metric's name, by the rule of declared tasks."""
    shown = str(name)[:80]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidParams(shown, f"a {kind} name is lower case letters, digits and _ "
                                   f"(a letter first, at most 40): {NAME.pattern}")
    reserved = METRIC_RESERVED if kind == "metric" else RESERVED
    if name in reserved or name.startswith("best_"):
        raise InvalidParams(name, f"{name!r} is a name mltrack uses itself; pick another "
                                  f"{kind} name")
    return name


def _value(name: str, value: Any) -> Any:
    """A hyperparameter's value checked for storing: a finite number, a short
    string (spaces around dropped) or a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_WHOLE:
            raise InvalidParams(name, "a whole number must be at most 2**53 in size")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidParams(name, "must be a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise InvalidParams(name, f"a string value is at most {MAX_TEXT} characters")
        if not value.strip():  # it would be an option nobody can see or pick
            raise InvalidParams(name, "must not be empty (nor only spaces)")
        if any(unicodedata.category(c) == "Cc" for c in value.strip()):
            # a newline or tab in an option breaks table rows and the form's lists
            raise InvalidParams(name, "must not hold control characters (newline, tab...)")
        return value.strip()
    raise InvalidParams(name, f"must be a number, a string or true/false, got {json_type(value)}")


def _kind(param: Param) -> str:
    return {Bool: "true or false", Choice: "a string", Int: "a number",
            Float: "a number"}[type(param)]


def _infer(value: Any) -> Param:
    if isinstance(value, bool):
        return Bool(value)
    if isinstance(value, int):
        return Int(value)
    if isinstance(value, float):
        return Float(value)
    return Choice([value])


def _merge_value(task: str, name: str, param: Param, value: Any) -> tuple[Param, Any]:
    """(the parameter, widened or with a new option if need be; the value as stored)."""
    clash = InvalidParams(name, f"task {task} tracks {name} as {_kind(param)}; "
                                f"got {json_type(value)}")
    if isinstance(param, Bool):
        if not isinstance(value, bool):
            raise clash
        return param, value
    if isinstance(param, (Int, Float)):
        if isinstance(value, (bool, str)):
            raise clash
        if isinstance(param, Int):
            if isinstance(value, float) and not value.is_integer():
                return Float(float(param.default)), value  # a fraction: widen to a Float
            return param, int(value)
        return param, float(value)
    # a Choice of strings
    if not isinstance(value, str):
        raise clash
    try:
        return param, param.parse(name, value)  # an option already (matched without case)
    except InvalidParams:
        pass
    if len(param.options) >= MAX_CHOICES:
        raise InvalidParams(name, f"task {task} has seen {MAX_CHOICES} different {name} "
                                  "values already, the most a tracked string takes") from None
    return Choice([*param.options, value], default=param.default), value


@dataclass
class Entry:
    """A task registry entry: a declared schema, or a tracked task's (whose
    metrics may still be none: then it is not a Schema yet)."""

    name: str
    params: dict[str, Param]
    metrics: list[Metric]
    tracked: bool
    declared: Schema | None = None

    @classmethod
    def read(cls, name: str, data: Mapping[str, Any] | None) -> "Entry | None":
        """The entry of task `name` as stored (None: none yet; mnist is built in)."""
        if data is None:
            if name != MNIST.name:
                return None
            return cls(name, dict(MNIST.params), list(MNIST.metrics), False, MNIST)
        params = {n: param_from_dict(p) for n, p in data["params"].items()}
        metrics = [Metric.from_dict(m) for m in data["metrics"]]
        if data.get("tracked") is True:
            return cls(name, params, metrics, True)
        schema = Schema.from_dict(data)
        return cls(name, dict(schema.params), list(schema.metrics), False, schema)

    @property
    def goals(self) -> dict[str, str]:
        return {m.name: m.goal for m in self.metrics}

    def to_dict(self) -> dict[str, Any]:
        """The registry's JSON: Schema.to_dict's form plus `"tracked": true`."""
        metrics = [Metric(m.name, m.goal, i == 0, m.chart, m.help).to_dict()
                   for i, m in enumerate(self.metrics)]
        return {"name": self.name, "description": DESCRIPTION, "epochs": None,
                "params": {n: p.to_dict() for n, p in self.params.items()},
                "metrics": metrics, "primary": metrics[0]["name"] if metrics else None,
                "tracked": True}


def _check_size(entry: Entry) -> None:
    """InvalidParams when a tracked task would outgrow MAX_PARAMS or MAX_METRICS."""
    for field_name, kind, count, most in (("hyper_params", "hyperparameters",
                                           len(entry.params), MAX_PARAMS),
                                          ("metrics", "metrics", len(entry.metrics),
                                           MAX_METRICS)):
        if count > most:
            raise InvalidParams(field_name, f"task {entry.name} would have {count} {kind}; a "
                                            f"tracked task has at most {most}")


@dataclass(frozen=True)
class Plan:
    """What starting a run changes: the task's new entry (None: unchanged),
    the run's checked hyperparameters and the goals of the task's metrics."""

    entry: dict[str, Any] | None
    params: dict[str, Any]
    goals: dict[str, str]
    num_epochs: int | None = None


def _check_goals(task: str, metrics: Mapping[str, Any]) -> dict[str, str]:
    goals = {}
    for name, goal in metrics.items():
        check_name(name, "metric")
        if goal not in ("min", "max"):
            raise InvalidParams(str(name), f"a goal is \"min\" or \"max\", got {json_type(goal)}")
        goals[name] = goal
    return goals


def _declared_epochs(schema: Schema, params: Mapping[str, Any],
                     num_epochs: int | None) -> int | None:
    """The run's epoch count: a declared task says it in a hyperparameter (its
    `epochs`, e.g. mnist's num_epochs, quadratic's steps), which a body's
    num_epochs must agree with; a task without one takes the body's."""
    declared = schema.num_epochs(params)
    if declared is None:
        return num_epochs
    if num_epochs is not None and num_epochs != declared:
        raise InvalidParams("num_epochs", f"task {schema.name} takes its epochs from its "
                                          f"hyperparameter {schema.epochs} ({declared} here); "
                                          f"leave num_epochs out or give {declared}, "
                                          f"not {num_epochs}")
    return declared


def plan_run(task: str, stored: Mapping[str, Any] | None, hyper_params: Mapping[str, Any],
             metrics: Mapping[str, Any], num_epochs: int | None = None) -> Plan:
    """Check a new run of `task` against its stored entry (None: a new task),
    and extend the entry if it is a tracked one. InvalidParams names the field.
    The plan's num_epochs is the run's epoch count (see _declared_epochs)."""
    entry = Entry.read(check_task_name(task), stored)
    goals = _check_goals(task, metrics)
    if entry is not None and not entry.tracked:
        params = entry.declared.parse(hyper_params)
        epochs = _declared_epochs(entry.declared, params, num_epochs)
        for name, goal in goals.items():
            if name not in entry.goals:
                raise InvalidParams(name, f"task {task} is declared by its worker and has no "
                                          f"metric {name} (its metrics: "
                                          f"{listed(entry.goals)})")
            if entry.goals[name] != goal:
                raise InvalidParams(name, f"task {task} declares goal {entry.goals[name]} "
                                          f"for {name}, not {goal}")
        return Plan(None, params, entry.goals, epochs)
    entry = entry or Entry(task, {}, [], True)
    params_before = dict(entry.params)
    metric_names = {m.name for m in entry.metrics}
    out: dict[str, Any] = {}
    for name, raw in hyper_params.items():
        check_name(name, "hyperparameter")
        if name in metric_names or name in goals:
            raise InvalidParams(name, f"{name} is a metric of task {task}, not a hyperparameter")
        value = _value(name, raw)
        if name in entry.params:
            entry.params[name], out[name] = _merge_value(task, name, entry.params[name], value)
        else:
            entry.params[name], out[name] = _infer(value), value
    known = entry.goals
    for name, goal in goals.items():
        if name in entry.params:
            raise InvalidParams(name, f"{name} is a hyperparameter of task {task}, not a metric")
        if name in known and known[name] != goal:
            raise InvalidParams(name, f"task {task} tracks {name} with goal {known[name]}, "
                                      f"not {goal}")
        if name not in known:
            entry.metrics.append(Metric(name, goal))
    _check_size(entry)
    changed = entry.params != params_before or len(entry.metrics) != len(metric_names)
    return Plan(entry.to_dict() if changed or stored is None else None, out, entry.goals,
                num_epochs)


def plan_log(task: str, stored: Mapping[str, Any] | None,
             metrics: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, float],
                                                  dict[str, str]]:
    """Check one logged epoch's metrics of a run of `task`: (the task's new
    entry if a tracked task gained a metric, else None; the values; every
    goal). A declared task takes only its own metrics."""
    values = {check_name(name, "metric"): finite_number(name, value)
              for name, value in metrics.items()}
    entry = Entry.read(task, stored)
    if entry is None:  # its entry vanished (a registry wiped by hand): start it again
        entry = Entry(task, {}, [], True)
    known = entry.goals
    new = [name for name in values if name not in known]
    if not entry.tracked:
        if new:
            raise InvalidParams(new[0], f"task {task} is declared by its worker and has no "
                                        f"metric {new[0]} (its metrics: {listed(known)})")
        return None, values, known
    for name in new:
        if name in entry.params:
            raise InvalidParams(name, f"{name} is a hyperparameter of task {task}, not a metric")
        entry.metrics.append(Metric(name, goal_from_name(name)))
    _check_size(entry)
    return (entry.to_dict() if new else None), values, entry.goals
