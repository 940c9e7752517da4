"""What listings sort by: sort names as the API spells them, the index behind
each, and which way is best first.

Every job is in the indexes `created` and `epochs`, one `p:<name>` per
hyperparameter of its task (scored by value), and, once an epoch is recorded,
`runtime`, `m:<metric>` (last value) and `b:<metric>` (best value). Until then
it waits in `missing:<key>` for those (scored by creation), so that a listing
sorted by a metric shows the jobs without one last. A listing sorted by a
hyperparameter or metric holds the jobs of the tasks that have it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from mltrack.task import Param, Schema

# Listings also sort by status, in this order (within one, newest first): the
# per-status indexes, read one after another.
STATUS_ORDER = ("running", "waiting", "failed", "cancelled", "pruned", "done")
# Sorts every job has, with the order that puts the best first.
BUILTIN_SORTS = {"created": "desc", "epochs": "desc", "runtime": "asc", "status": "asc"}
# Keys without a value until the first epoch.
LATE_KEYS = ("runtime",)


def text_score(value: str) -> float:
    """A score that sorts strings as their first 6 characters do (UTF-8 bytes).

    It depends on the string alone, so adding a choice never reorders old jobs;
    6 bytes fit a double exactly, and ties go to the iid, as for any equal score.
    """
    score = 0.0
    for i, byte in enumerate(value.encode()[:6]):
        score += byte * 256.0 ** (5 - i)
    return score


def param_score(param: Param, value: Any) -> float:
    if isinstance(value, str):
        return text_score(value)
    return float(value)


def status_order(order: str) -> tuple[str, ...]:
    return STATUS_ORDER if order == "asc" else STATUS_ORDER[::-1]


@dataclass(frozen=True)
class SortKey:
    name: str  # as the API spells it: created, test_accuracy, best_test_accuracy, learning_rate
    index: str  # the index key: created, m:test_accuracy, b:test_accuracy, p:learning_rate
    default_order: str  # the order that puts the best first
    late: bool  # without a value until the first epoch (listed last until then)


def sort_keys(schemas: Iterable[Schema]) -> dict[str, SortKey]:
    """Every sort name the given tasks offer. Where tasks disagree (a metric of
    one is a hyperparameter of another), a metric wins and the first task's goal."""
    keys = {name: SortKey(name, name, order, name in LATE_KEYS)
            for name, order in BUILTIN_SORTS.items()}
    schemas = list(schemas)
    for schema in schemas:
        for name in schema.params:
            keys.setdefault(name, SortKey(name, f"p:{name}", "asc", False))
    for schema in schemas:
        for metric in schema.metrics:
            order = "desc" if metric.goal == "max" else "asc"
            for name, index in ((metric.name, f"m:{metric.name}"),
                                (f"best_{metric.name}", f"b:{metric.name}")):
                if name not in keys or keys[name].index.startswith("p:"):
                    keys[name] = SortKey(name, index, order, True)
    return keys


def index_scores(schema: Schema, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(index key, score) of a new job's hyperparameters."""
    return [(f"p:{name}", repr(param_score(schema.params[name], value)))
            for name, value in params.items() if name in schema.params]


def late_indexes(schema: Schema) -> list[str]:
    """Index keys a new job of this task has no value for until its first epoch."""
    return [*LATE_KEYS, *(f"{kind}:{m.name}" for m in schema.metrics for kind in ("m", "b"))]


__all__ = ["BUILTIN_SORTS", "STATUS_ORDER", "SortKey", "index_scores",
           "late_indexes", "param_score", "sort_keys", "status_order", "text_score"]
