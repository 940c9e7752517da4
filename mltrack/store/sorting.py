"""What listings sort by: the sort keys, their indexes, their scores and default orders."""
from __future__ import annotations

from typing import Any, Callable

from mltrack.params import HyperParams

# Sort key (as the API names it) -> job hash field holding its value.
SORT_KEYS = {
    "created": "created",
    "test_accuracy": "test_accuracy",
    "best_test_accuracy": "best_test_accuracy",
    "train_loss": "train_loss",
    "test_loss": "test_loss",
    "runtime": "runtime",
    "epochs": "epochs_done",
    # hyperparameters, indexed when the job is created
    "learning_rate": "learning_rate",
    "batch_size": "batch_size",
    "num_epochs": "num_epochs",
    "model": "model",
    "optimizer": "optimizer",
}
# Listings also sort by status, in this order (within one, newest first); no
# index of its own: the per-status indexes, read one after another.
STATUS_ORDER = ("running", "waiting", "failed", "cancelled", "done")
LIST_SORTS = (*SORT_KEYS, "status")


def text_score(value: str) -> float:
    """A score that sorts strings as their first 6 characters do (UTF-8 bytes).

    It depends on the string alone, so adding a choice never reorders old jobs;
    6 bytes fit a double exactly, and ties go to the iid, as for any equal score.
    """
    score = 0.0
    for i, byte in enumerate(value.encode()[:6]):
        score += byte * 256.0 ** (5 - i)
    return score


# Hyperparameter sort keys and their scores.
HYPER_KEYS: dict[str, Callable[[HyperParams], float]] = {
    "learning_rate": lambda hp: hp.learning_rate,
    "batch_size": lambda hp: hp.batch_size,
    "num_epochs": lambda hp: hp.num_epochs,
    "model": lambda hp: text_score(hp.model),
    "optimizer": lambda hp: text_score(hp.optimizer),
}
# Keys every job has from the start; the others appear with the first epoch.
_ALWAYS_KEYS = ("created", "epochs", *HYPER_KEYS)
METRIC_KEYS = tuple(k for k in SORT_KEYS if k not in _ALWAYS_KEYS)
# Every sorted set a job may be in, per status scope.
INDEX_KEYS = (*SORT_KEYS, "pending")
# The order that puts the best first, used when the caller names none.
DEFAULT_ORDER = {
    "created": "desc",
    "test_accuracy": "desc",
    "best_test_accuracy": "desc",
    "train_loss": "asc",
    "test_loss": "asc",
    "runtime": "asc",
    "epochs": "desc",
    "learning_rate": "asc",
    "batch_size": "asc",
    "num_epochs": "asc",
    "model": "asc",
    "optimizer": "asc",
    "status": "asc",
}


def status_order(order: str) -> tuple[str, ...]:
    return STATUS_ORDER if order == "asc" else STATUS_ORDER[::-1]


def hyper_scores(params: HyperParams) -> list[Any]:
    return [repr(float(score(params))) for score in HYPER_KEYS.values()]
