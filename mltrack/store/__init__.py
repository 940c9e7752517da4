"""The job store: the only package that spells a Redis key.

`model` holds the job model (statuses, transitions, `Job`, errors), `sorting`
what listings sort by, `text` the text search, `keys` and `lua/` the key scheme
and the scripts, `redis_store` the `Store` that puts them together.
"""
from mltrack.store.model import (EPOCH_FIELDS, TERMINAL, TRANSITIONS, Claim,
                                  EpochOutOfOrder, IllegalTransition, InvalidValue, Job,
                                  JobDeleted,
                                  JobNotFound, NotTracked, Page, StaleAttempt, Status,
                                  StoreError, TaskInUse, TaskNotFound, WrongToken)
from mltrack.store.redis_store import DEFAULT_LEASE, DEFAULT_MAX_LOST, DEFAULT_PREFIX, Store
from mltrack.store.sorting import STATUS_ORDER, SortKey, sort_keys, text_score

__all__ = [
    "DEFAULT_LEASE", "DEFAULT_MAX_LOST", "DEFAULT_PREFIX", "EPOCH_FIELDS", "STATUS_ORDER",
    "SortKey", "sort_keys", "TERMINAL", "TRANSITIONS", "Claim", "EpochOutOfOrder", "IllegalTransition",
    "InvalidValue", "Job", "JobDeleted", "JobNotFound", "NotTracked", "Page", "StaleAttempt",
    "Status", "Store",
    "StoreError", "TaskInUse", "TaskNotFound", "WrongToken", "text_score",
]
