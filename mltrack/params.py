"""Hyperparameters of a training job: the one place that says what is allowed."""
from __future__ import annotations

import json
import math
import itertools
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adadelta")
MODELS = ("cnn", "mlp")
# Momentum is a parameter of these optimizers only; elsewhere a non-zero value
# would be silently ignored, so it is refused instead.
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")
MAX_SEED = 2**31 - 1
MAX_SWEEP = 1000  # jobs one sweep may queue


class InvalidParams(ValueError):
    """A hyperparameter broke a rule; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class HyperParams:
    optimizer: str = "adam"
    learning_rate: float = 0.001
    num_epochs: int = 5
    batch_size: int = 128
    model: str = "cnn"
    momentum: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, raw: Any) -> "HyperParams":
        """Build from untrusted input (a JSON object); defaults fill what is missing."""
        if not isinstance(raw, Mapping):
            raise InvalidParams("hyper_params", f"must be a JSON object, not {_json_type(raw)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise InvalidParams(
                unknown[0], f"unknown hyperparameter (allowed: {', '.join(sorted(known))})"
            )
        return cls(**raw)

    def __post_init__(self) -> None:
        # Check and normalise every field, however the object was built.
        checked = {
            "optimizer": _choice("optimizer", self.optimizer, OPTIMIZERS),
            "learning_rate": _number("learning_rate", self.learning_rate, low=0.0, high=10.0,
                                     low_open=True, rule="0 < learning_rate <= 10"),
            "num_epochs": _integer("num_epochs", self.num_epochs, 1, 100),
            "batch_size": _integer("batch_size", self.batch_size, 1, 8192),
            "model": _choice("model", self.model, MODELS),
            "momentum": _number("momentum", self.momentum, low=0.0, high=1.0,
                                high_open=True, rule="0 <= momentum < 1"),
            "weight_decay": _number("weight_decay", self.weight_decay, low=0.0, high=1.0,
                                    rule="0 <= weight_decay <= 1"),
            "seed": _integer("seed", self.seed, 0, MAX_SEED),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if self.momentum and self.optimizer not in MOMENTUM_OPTIMIZERS:
            raise InvalidParams(
                "momentum",
                f"applies only to {' and '.join(MOMENTUM_OPTIMIZERS)}, not {self.optimizer}",
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _json_type(value: Any) -> str:
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


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise InvalidParams(field, f"must be a string, one of {', '.join(allowed)}; got {_json_type(value)}")
    normalised = value.strip().lower()
    if normalised not in allowed:
        raise InvalidParams(field, f"must be one of {', '.join(allowed)}; got {value!r}")
    return normalised


def _integer(field: str, value: Any, low: int, high: int) -> int:
    # JSON has one number type: 5.0 is accepted as 5, 5.5 is not.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParams(field, f"must be an integer, got {_json_type(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidParams(field, f"must be an integer, got {value!r}")
        value = int(value)
    if not low <= value <= high:
        raise InvalidParams(field, f"must be between {low} and {high}, got {value}")
    return value


def _number(field: str, value: Any, *, low: float, high: float, rule: str,
            low_open: bool = False, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParams(field, f"must be a number, got {_json_type(value)}")
    try:
        value = float(value)
    except OverflowError:  # an integer with hundreds of digits
        value = math.inf
    if not math.isfinite(value):
        raise InvalidParams(field, f"must be a finite number ({rule})")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise InvalidParams(field, f"must satisfy {rule}, got {value:g}")
    return value


def expand_sweep(base: Any, sweep: Any) -> list[HyperParams]:
    """Every combination of the values listed in `sweep`, on top of `base`.

    `sweep` maps a hyperparameter to a list of values, e.g. {"learning_rate":
    [0.1, 0.01], "optimizer": ["adam", "sgd"]} gives 4 jobs. Every combination
    is checked before any is returned, so a sweep goes in whole or not at all.
    """
    if base is None:
        base = {}
    if not isinstance(base, Mapping):
        raise InvalidParams("hyper_params", f"must be a JSON object, not {_json_type(base)}")
    if not isinstance(sweep, Mapping) or not sweep:
        raise InvalidParams("sweep", "must be a JSON object mapping hyperparameters to lists "
                                     'of values, e.g. {"learning_rate": [0.1, 0.01]}')
    known = [f.name for f in fields(HyperParams)]
    axes: list[tuple[str, list[Any]]] = []
    for name in sorted(sweep, key=lambda k: known.index(k) if k in known else len(known)):
        values = sweep[name]
        if name not in known:
            raise InvalidParams(str(name), f"unknown hyperparameter (allowed: {', '.join(known)})")
        if not isinstance(values, list) or not values:
            raise InvalidParams(name, "a sweep needs a non-empty list of values")
        # one job per distinct JSON value: 1 and true are two values (== says one)
        unique = list({json.dumps(v, sort_keys=True): v for v in values}.values())
        axes.append((name, unique))
    count = math.prod(len(v) for _, v in axes)
    if count > MAX_SWEEP:
        raise InvalidParams("sweep", f"would queue {count} jobs; at most {MAX_SWEEP} at once")
    jobs = []
    for combination in itertools.product(*(v for _, v in axes)):
        raw = {**base, **dict(zip((n for n, _ in axes), combination))}
        jobs.append(HyperParams.parse(raw))
    return jobs
