"""Tasks: a name, a hyperparameter schema, declared metrics and a train function.

A task file is all a user writes to have mltrack queue, watch, resume, sort and
compare their own training code::

    task = mltrack.Task(
        name="quadratic",
        params={"lr": mltrack.Float(0.1, low=1e-4, high=1, log=True),
                "steps": mltrack.Int(5, low=1, high=100)},
        metrics=[mltrack.Metric("loss", goal="min")],
        train=train)

`train(params, run)` gets the checked hyperparameters (a dict) and a `Run` to
report through. Everything generic (validation, the form, sweeps, table
columns, sort keys, charts) comes from the schema, which is plain data: it is
stored in Redis as JSON, so a dashboard validates jobs of tasks that only
workers on other machines can run. Nothing here imports torch, Redis or Dash.
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
TASK_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
# Keys of a job record or listing that no hyperparameter or metric may take.
RESERVED = frozenset({
    "iid", "task", "status", "created", "started", "finished", "runtime", "epochs",
    "epoch", "time_training", "epochs_done", "attempts", "error", "worker",
    "progress", "device", "precision", "hyper_params", "in_update", "metrics", "best",
    "pending", "retry_of", "tokens", "time_added", "tracked", "cancel_requested",
    "traceback"})
# A metric's value sits beside the record's fields in a listing (GET /status,
# /experiments), so no metric may take any of their names. num_epochs is one,
# but mnist's hyperparameter too (hyperparameters sit apart, under
# "hyper_params"), so it is reserved from metrics only.
METRIC_RESERVED = RESERVED | {"num_epochs", "tags", "note", "search", "trial"}
MAX_SWEEP = 1000  # jobs one sweep may queue
# Words that make a metric one to minimise when its goal is not given.
_MINIMISED = ("loss", "error", "err", "mse", "mae", "rmse", "nll", "perplexity", "ppl",
              "time", "seconds", "latency", "regret", "cost", "distance", "wer", "cer")


class InvalidParams(ValueError):
    """A hyperparameter broke a rule; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TaskError(ValueError):
    """A task's own declaration is wrong (a bad name, a clash, a bad default)."""


def json_type(value: Any) -> str:
    """How a JSON value is named in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def finite_number(name: str, value: Any, rule: Callable[[], str] | None = None) -> float:
    """`value` (a JSON number) as a finite float, or InvalidParams naming `name`
    (and the rule `rule()` says, when given)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParams(name, f"must be a number, got {json_type(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        raise InvalidParams(name, "must be a finite number" + (f" ({rule()})" if rule else ""))
    return number


def _fmt(x: float) -> str:
    return f"{x:g}"


# -- parameter types ------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """Base of the parameter types: a default, a help text, and optionally the
    values of another parameter that this one applies with (`when`)."""

    default: Any
    help: str = ""
    when: Mapping[str, Sequence[Any]] | None = None

    kind = "param"

    def parse(self, name: str, value: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def rule(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "default": self.default, "help": self.help}
        if self.when:
            out["when"] = {k: list(v) for k, v in self.when.items()}
        return out


@dataclass(frozen=True)
class Float(Param):
    """A real number in [low, high] (ends excluded with low_open / high_open);
    `log` says that it spans orders of magnitude (a log slider, log sampling)."""

    default: float = 0.0
    low: float = -math.inf
    high: float = math.inf
    log: bool = False
    low_open: bool = False
    high_open: bool = False
    help: str = ""
    when: Mapping[str, Sequence[Any]] | None = None

    kind = "float"

    def rule(self) -> str:
        lo = "" if self.low == -math.inf else f"{_fmt(self.low)} {'<' if self.low_open else '<='} "
        hi = "" if self.high == math.inf else f" {'<' if self.high_open else '<='} {_fmt(self.high)}"
        if not lo and not hi:
            return "any finite number"
        return f"{lo}value{hi}"

    def parse(self, name: str, value: Any) -> float:
        number = finite_number(name, value, lambda: self.rule().replace("value", name))
        too_low = number <= self.low if self.low_open else number < self.low
        too_high = number >= self.high if self.high_open else number > self.high
        if too_low or too_high:
            raise InvalidParams(name, f"must satisfy {self.rule().replace('value', name)}, "
                                      f"got {_fmt(number)}")
        return number + 0.0  # runmeta: -0.0 is stored as 0.0, one job for "already ran?"

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        for key in ("low", "high"):
            value = getattr(self, key)
            out[key] = value if math.isfinite(value) else None
        out.update(log=self.log, low_open=self.low_open, high_open=self.high_open)
        return out


@dataclass(frozen=True)
class Int(Param):
    """A whole number in [low, high]; JSON's 5.0 is taken as 5, 5.5 is refused."""

    default: int = 0
    low: int | None = None
    high: int | None = None
    log: bool = False
    help: str = ""
    when: Mapping[str, Sequence[Any]] | None = None

    kind = "int"

    def rule(self) -> str:
        if self.low is not None and self.high is not None:
            return f"between {self.low} and {self.high}"
        if self.low is not None:
            return f"at least {self.low}"
        if self.high is not None:
            return f"at most {self.high}"
        return "any whole number"

    def parse(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidParams(name, f"must be a whole number, got {json_type(value)}")
        if isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                raise InvalidParams(name, f"must be a whole number, got {value!r}")
            value = int(value)
        if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):
            shown = value if abs(value) < 10**30 else f"a number of {len(str(abs(value)))} digits"
            raise InvalidParams(name, f"must be {self.rule()}, got {shown}")
        return value

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Choice(Param):
    """One of a list of values (strings are matched without case or spaces around)."""

    options: tuple[Any, ...] = ()
    default: Any = None
    help: str = ""
    when: Mapping[str, Sequence[Any]] | None = None

    kind = "choice"

    def __init__(self, options: Sequence[Any], default: Any = None, help: str = "",
                 when: Mapping[str, Sequence[Any]] | None = None):
        options = tuple(options)
        if not options:
            raise TaskError("a Choice needs at least one option")
        if not all(isinstance(o, (str, int, float)) and not isinstance(o, bool) for o in options):
            raise TaskError("a Choice's options are strings or numbers")
        # strings are matched without case: options must differ by more than case
        seen = [o.strip().lower() if isinstance(o, str) else o for o in options]
        if len(set(map(repr, seen))) < len(seen):
            raise TaskError(f"a Choice's options must differ (not only by case): {list(options)}")
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "default", options[0] if default is None else default)
        object.__setattr__(self, "help", help)
        object.__setattr__(self, "when", when)

    def rule(self) -> str:
        return "one of " + ", ".join(str(o) for o in self.options)

    def parse(self, name: str, value: Any) -> Any:
        if isinstance(value, str):
            wanted = value.strip().lower()
            for option in self.options:
                if isinstance(option, str) and option.lower() == wanted:
                    return option
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            for option in self.options:
                if not isinstance(option, str) and option == value:
                    return option
        raise InvalidParams(name, f"must be {self.rule()}; got {json.dumps(value)[:80]}")

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "options": list(self.options)}


@dataclass(frozen=True)
class Bool(Param):
    default: bool = False
    help: str = ""
    when: Mapping[str, Sequence[Any]] | None = None

    kind = "bool"

    def rule(self) -> str:
        return "true or false"

    def parse(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise InvalidParams(name, f"must be true or false, got {json_type(value)}")
        return value


_PARAM_TYPES: dict[str, type[Param]] = {"float": Float, "int": Int, "choice": Choice,
                                        "bool": Bool}


def param_from_dict(d: Mapping[str, Any]) -> Param:
    """The inverse of Param.to_dict (a schema read back from Redis)."""
    kind, when = d["type"], d.get("when")
    common = {"help": d.get("help", ""), "when": when}
    if kind == "float":
        return Float(d["default"], low=-math.inf if d.get("low") is None else d["low"],
                     high=math.inf if d.get("high") is None else d["high"],
                     log=d.get("log", False), low_open=d.get("low_open", False),
                     high_open=d.get("high_open", False), **common)
    if kind == "int":
        return Int(d["default"], low=d.get("low"), high=d.get("high"), log=d.get("log", False),
                   **common)
    if kind == "choice":
        return Choice(d["options"], default=d["default"], **common)
    if kind == "bool":
        return Bool(d["default"], **common)
    raise TaskError(f"unknown parameter type {kind!r}")


# -- metrics ----------------------------------------------------------------------
def goal_from_name(name: str) -> str:
    """'min' for names that read as a cost (loss, error, ...), else 'max'."""
    words = re.split(r"[_\W]+", name.lower())
    return "min" if any(w in _MINIMISED for w in words) else "max"


@dataclass(frozen=True)
class Metric:
    """A number recorded every epoch. `goal` says which way is better ('min' or
    'max'; by default from the name: loss and error go down, the rest up);
    metrics naming the same `chart` share one chart."""

    name: str
    goal: str | None = None
    primary: bool = False
    chart: str | None = None
    help: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise TaskError(f"metric name {self.name!r} must match {NAME.pattern}")
        if self.goal is None:
            object.__setattr__(self, "goal", goal_from_name(self.name))
        if self.goal not in ("min", "max"):
            raise TaskError(f"metric {self.name}: goal must be 'min' or 'max', not {self.goal!r}")
        if self.chart is None:
            object.__setattr__(self, "chart", self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "goal": self.goal, "primary": self.primary,
                "chart": self.chart, "help": self.help}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Metric":
        return cls(d["name"], goal=d.get("goal"), primary=d.get("primary", False),
                   chart=d.get("chart"), help=d.get("help", ""))


# -- the schema ---------------------------------------------------------------------
@dataclass(frozen=True)
class Schema:
    """What mltrack knows of a task without running it: its parameters and metrics."""

    name: str
    params: Mapping[str, Param]
    metrics: tuple[Metric, ...]
    epochs: str | None = None  # the parameter that gives the number of epochs, if any
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not TASK_NAME.fullmatch(self.name):
            raise TaskError(f"task name {self.name!r} must match {TASK_NAME.pattern}")
        if not self.metrics:
            raise TaskError(f"task {self.name}: declare at least one metric")
        seen: dict[str, str] = {}
        for kind, name in [*(("hyperparameter", p) for p in self.params),
                           *(("metric", m.name) for m in self.metrics)]:
            if not isinstance(name, str) or not NAME.fullmatch(name):
                raise TaskError(f"task {self.name}: the {kind} name {name!r} must be lower "
                                "case letters, digits and _ (a letter first, at most 40)")
            taken = METRIC_RESERVED if kind == "metric" else RESERVED
            if name in taken or name.startswith("best_"):
                raise TaskError(f"task {self.name}: {name!r} is a name mltrack uses itself "
                                "(pick another)")
            if name in seen:
                raise TaskError(f"task {self.name}: {name!r} is both a {seen[name]} and a {kind}")
            seen[name] = kind
        if sum(m.primary for m in self.metrics) > 1:
            raise TaskError(f"task {self.name}: at most one metric is primary")
        if not any(m.primary for m in self.metrics):  # the first one is, and says so
            first = self.metrics[0]
            object.__setattr__(self, "metrics", (Metric(first.name, first.goal, True, first.chart,
                                                        first.help), *self.metrics[1:]))
        for name, param in self.params.items():
            low, high = getattr(param, "low", None), getattr(param, "high", None)
            if low is not None and high is not None and low > high:
                raise TaskError(f"task {self.name}: {name}: low ({low}) is above high ({high})")
            if isinstance(param, Float) and param.log and not (
                    param.low > 0 or (param.low == 0 and param.low_open)):
                raise TaskError(f"task {self.name}: {name}: a log-scale Float needs low > 0 "
                                "(or low=0 with low_open=True)")
            if isinstance(param, Int) and param.log and (param.low is None or param.low < 1):
                raise TaskError(f"task {self.name}: {name}: a log-scale Int needs low >= 1")
            for other, values in (param.when or {}).items():
                if other not in self.params or other == name:
                    raise TaskError(f"task {self.name}: {name} applies when {other!r}, "
                                    "which is no other parameter of the task")
                for v in values:
                    self.params[other].parse(other, v)
            try:
                param.parse(name, param.default)
            except InvalidParams as exc:
                raise TaskError(f"task {self.name}: the default of {exc}") from None
        if self.epochs is not None and not isinstance(self.params.get(self.epochs), Int):
            found = type(self.params[self.epochs]).__name__ if self.epochs in self.params else \
                "no parameter"
            raise TaskError(f"task {self.name}: epochs must name an Int parameter; "
                            f"{self.epochs!r} is {found}")

    @property
    def primary(self) -> Metric:
        return next((m for m in self.metrics if m.primary), self.metrics[0])

    @property
    def goals(self) -> dict[str, str]:
        return {m.name: m.goal for m in self.metrics}

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}

    def applies(self, name: str, values: Mapping[str, Any]) -> bool:
        """Whether parameter `name` means something with these values of the others."""
        when = self.params[name].when
        return not when or all(values.get(k) in v for k, v in when.items())

    def parse(self, raw: Any) -> dict[str, Any]:
        """Checked hyperparameters from untrusted input, defaults filling the gaps;
        InvalidParams names the first field that breaks a rule."""
        if not isinstance(raw, Mapping):
            raise InvalidParams("hyper_params", f"must be a JSON object, not {json_type(raw)}")
        unknown = sorted(str(k) for k in raw if k not in self.params)
        if unknown:
            allowed = ", ".join(self.params) or "none"
            raise InvalidParams(unknown[0], f"unknown hyperparameter of task {self.name} "
                                            f"(allowed: {allowed})")
        out = {name: p.parse(name, raw[name]) if name in raw else p.default
               for name, p in self.params.items()}
        for name, param in self.params.items():
            if name in raw and out[name] != param.default and not self.applies(name, out):
                other, values = next(iter(param.when.items()))
                raise InvalidParams(name, f"applies only when {other} is "
                                          f"{' or '.join(str(v) for v in values)}, "
                                          f"not {out[other]}")
        return out

    def expand_sweep(self, base: Any, sweep: Any) -> list[dict[str, Any]]:
        """Every combination of the values listed in `sweep`, on top of `base`,
        each checked before any is returned (a sweep goes in whole or not at all).
        A parameter that does not apply to a combination (momentum in a sweep over
        sgd and adam) is left out of that job, so it takes its default; jobs that
        then read the same are one."""
        if base is None:
            base = {}
        if not isinstance(base, Mapping):
            raise InvalidParams("hyper_params", f"must be a JSON object, not {json_type(base)}")
        if not isinstance(sweep, Mapping) or not sweep:
            example = next(iter(self.params), "name")
            raise InvalidParams("sweep", "must be a JSON object mapping hyperparameters to "
                                         f'lists of values, e.g. {{"{example}": [...]}}')
        order = list(self.params)
        axes: list[tuple[str, list[Any]]] = []
        for name in sorted(sweep, key=lambda k: order.index(k) if k in order else len(order)):
            values = sweep[name]
            if name not in self.params:
                raise InvalidParams(str(name), f"unknown hyperparameter of task {self.name} "
                                               f"(allowed: {', '.join(order)})")
            if not isinstance(values, list) or not values:
                raise InvalidParams(name, "a sweep needs a non-empty list of values")
            # one job per distinct JSON value: 1 and true are two values (== says one)
            unique = list({json.dumps(v, sort_keys=True): v for v in values}.values())
            axes.append((name, unique))
        count = math.prod(len(v) for _, v in axes)
        if count > MAX_SWEEP:
            raise InvalidParams("sweep", f"would queue {count} jobs; at most {MAX_SWEEP} at once")
        jobs, used = [], set()
        for combination in itertools.product(*(v for _, v in axes)):
            raw = {**base, **dict(zip((n for n, _ in axes), combination))}
            dropped = self._not_applying(raw)
            used.update(n for n in raw if n not in dropped)
            jobs.append(self.parse({k: v for k, v in raw.items() if k not in dropped}))
        # a value given for a parameter that applies to no job at all is a mistake
        given = {n for n in [*base, *sweep] if n in self.params}
        for name in sorted(given - used, key=order.index):
            param = self.params[name]
            values = [base[name]] if name in base else []
            values += sweep.get(name, [])
            if all(param.parse(name, v) == param.default for v in values):
                continue  # its default never hurts
            other, values = next(iter(param.when.items()))
            raise InvalidParams(name, f"applies only when {other} is "
                                      f"{' or '.join(str(v) for v in values)}, and no job of "
                                      f"this sweep has that")
        # values that read the same once checked (5 and 5.0, "gd" and "GD") are one job,
        # as are jobs that differ only in a parameter that applies to neither
        return list({json.dumps(j, sort_keys=True): j for j in jobs}.values())

    def _not_applying(self, raw: Mapping[str, Any]) -> set[str]:
        """The parameters given in `raw` (one job of a sweep) that do not apply
        with its other values (momentum with adam): left to their defaults. A
        value that does not parse is kept, for parse to name it."""
        checked = dict(self.defaults())
        for name, value in raw.items():
            if name in self.params:
                try:
                    checked[name] = self.params[name].parse(name, value)
                except InvalidParams:
                    return set()
        return {n for n in raw if n in self.params and not self.applies(n, checked)}

    def num_epochs(self, params: Mapping[str, Any]) -> int | None:
        return int(params[self.epochs]) if self.epochs else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "epochs": self.epochs,
                "params": {n: p.to_dict() for n, p in self.params.items()},
                "metrics": [m.to_dict() for m in self.metrics],
                "primary": self.primary.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Schema":
        return cls(d["name"], {n: param_from_dict(p) for n, p in d["params"].items()},
                   tuple(Metric.from_dict(m) for m in d["metrics"]), d.get("epochs"),
                   d.get("description", ""))


# -- what train() is handed -----------------------------------------------------------
class Run(Protocol):
    """What a task's `train(params, run)` reports through (the worker implements it)."""

    checkpoint: bytes | None  # the last one run.log was given; None on a fresh start
    epochs_done: int  # the epoch `checkpoint` was saved with (0 without one): go on after it
    device: str  # "cpu", "cuda", "mps": where mltrack was told to train
    # CPU threads this job may use: its worker's share of the machine's cores
    # (all of them with one worker); size thread pools to it
    cpu_threads: int
    data_dir: Path  # a directory of the task's own, kept between jobs
    logger: logging.Logger

    def log(self, epoch: int, metrics: Mapping[str, float],
            checkpoint: bytes | None = None) -> None:
        """Record epoch `epoch` (1-based, one after another) with every declared
        metric, and the bytes to resume after it."""

    def progress(self, done: int, total: int) -> None:
        """Where the current epoch is (batches done of total), for the progress bar."""

    def should_stop(self) -> bool:
        """True when the job must stop now (cancel, shutdown, lost lease): return."""

    def describe(self, **info: str) -> None:
        """Record how the job trains (`precision`, `device`), shown in the run view."""

    def save_model(self, data: bytes) -> None:
        """Keep `data` as the run's trained model (bytes in any format; MNIST's is
        mltrack.checkpoint's): downloadable once the run is done (GET
        /experiments/<iid>/model). A later call replaces it; a run that does not
        end done keeps none."""


TrainFn = Callable[[dict[str, Any], Run], Any]


@dataclass(frozen=True)
class Task:
    """A task: its schema (parameters, metrics) and the function that trains it."""

    name: str
    params: Mapping[str, Param]
    metrics: Sequence[Metric]
    train: TrainFn
    epochs: str | None = None
    description: str = ""
    schema: Schema = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not callable(self.train):
            raise TaskError(f"task {self.name}: train must be a function train(params, run)")
        metrics = tuple(self.metrics)
        if not all(isinstance(m, Metric) for m in metrics):
            raise TaskError(f"task {self.name}: metrics are mltrack.Metric(...)")
        if not isinstance(self.params, Mapping) or not all(
                isinstance(p, Param) for p in self.params.values()):
            raise TaskError(f"task {self.name}: params map names to mltrack.Float, Int, "
                            "Choice or Bool")
        object.__setattr__(self, "metrics", metrics)
        object.__setattr__(self, "schema", Schema(self.name, dict(self.params), metrics,
                                                  self.epochs, self.description))
