"""The job model: statuses and their lifecycle, the job record, the store's named errors.

Nothing here talks to Redis; `redis_store.py` reads and writes these.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any



class Status(str, Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PRUNED = "pruned"  # a search's pruner stopped it (mltrack.search)

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED, Status.PRUNED})

# The lifecycle of DESIGN.md: which states each state may move to.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.WAITING: frozenset({Status.RUNNING, Status.CANCELLED}),
    Status.RUNNING: frozenset({Status.DONE, Status.FAILED, Status.CANCELLED, Status.WAITING,
                               Status.PRUNED}),
    Status.DONE: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.PRUNED: frozenset(),
}

# What every epoch records besides its task's metrics.
EPOCH_FIELDS = ("epoch", "time_training")


class StoreError(Exception):
    """Base of the store's named errors."""


class JobNotFound(StoreError):
    def __init__(self, iid: str):
        super().__init__(f"no job with iid {iid!r}")
        self.iid = iid


class IllegalTransition(StoreError):
    # what a person asked for, said as the rule that refused it
    RULES = {"retried": "only a failed or cancelled job can be retried",
             "deleted": "a waiting or running job cannot be deleted (cancel it first)",
             "cancelled": "it has ended, so there is nothing to cancel"}

    def __init__(self, iid: str, current: str, wanted: str):
        action, _, why = wanted.partition(": ")
        if why:  # "retried: a tracked run is run again by its script"
            message = f"job {iid} is {current}; it cannot be {action}: {why}"
        elif action in self.RULES:
            message = f"job {iid} is {current}: {self.RULES[action]}"
        else:
            message = f"job {iid} is {current}; it cannot become {wanted}"
        super().__init__(message)
        self.iid, self.current, self.wanted = iid, current, wanted


class TaskNotFound(StoreError):
    def __init__(self, name: str):
        super().__init__(f"no task {name[:80]!r}")
        self.name = name


class TaskInUse(StoreError):
    """A task that cannot be removed: a worker declared it, or jobs of it are left."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"task {name} cannot be removed: {reason}")
        self.name, self.reason = name, reason


class StaleAttempt(StoreError):
    """A worker wrote for an attempt that is no longer the job's current one."""

    def __init__(self, iid: str, attempt: int):
        super().__init__(f"job {iid}: attempt {attempt} is no longer current")
        self.iid, self.attempt = iid, attempt


class JobDeleted(JobNotFound):
    """The job was deleted (its tombstone is there, for a day)."""

    def __init__(self, iid: str):
        StoreError.__init__(self, f"job {iid} was deleted")
        self.iid = iid


class NotTracked(JobNotFound):
    """A tracked-run write named a job that a worker runs, not a script."""

    def __init__(self, iid: str):
        StoreError.__init__(self, f"job {iid} is not a tracked run (a worker runs it)")
        self.iid = iid


class WrongToken(StoreError):
    """A tracked-run write carried a token that is not the run's."""

    def __init__(self, iid: str):
        super().__init__(f"wrong token for run {iid}: only the script that started it "
                         "may write to it")
        self.iid = iid


class EpochOutOfOrder(StoreError):
    def __init__(self, iid: str, epoch: int, expected: int):
        super().__init__(f"job {iid}: epoch {epoch} recorded, expected {expected}")
        self.iid, self.epoch, self.expected = iid, epoch, expected


class InvalidValue(StoreError, ValueError):
    """A value a write would store is not storable (a NaN metric, say); nothing was written."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _float(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)


@dataclass
class Job:
    """A job record as read from its hash."""

    iid: str
    status: Status
    hyper_params: dict[str, Any]
    created: float
    task: str = "mnist"
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    error: str | None = None
    traceback: str | None = None
    worker: str | None = None
    cancel_requested: bool = False
    lost: int = 0
    progress: dict[str, Any] | None = None
    device: str | None = None
    precision: str | None = None
    retry_of: str | None = None
    tracked: bool = False  # a script outside the queue runs it and reports over HTTP
    lease: float | None = None  # a tracked run's lease, seconds
    num_epochs: int | None = None  # None: the task does not say how many
    epochs_done: int = 0
    runtime: float | None = None  # seconds of training at the last recorded epoch
    metrics: dict[str, float] = field(default_factory=dict)  # each metric's last value
    best: dict[str, float] = field(default_factory=dict)  # and its best, by its goal
    search: str | None = None  # the search whose trial this job runs (mltrack.search)
    trial: int | None = None  # that trial's Optuna number
    # -- runmeta: the user's tags (lower case, in order) and note (store/annotations.py)
    tags: list[str] = field(default_factory=list)
    note: str | None = None
    # -- end runmeta

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> "Job":
        return cls(
            iid=h["iid"],
            status=Status(h["status"]),
            hyper_params=json.loads(h["hyper_params"]),
            created=float(h["created"]),
            task=h.get("task") or "mnist",
            started=_float(h.get("started")),
            finished=_float(h.get("finished")),
            attempts=int(h.get("attempts") or 0),
            error=h.get("error") or None,
            traceback=h.get("traceback") or None,
            worker=h.get("worker") or None,
            cancel_requested=h.get("cancel_requested") == "1",
            lost=int(h.get("lost") or 0),
            progress=json.loads(h["progress"]) if h.get("progress") else None,
            device=h.get("device") or None,
            precision=h.get("precision") or None,
            retry_of=h.get("retry_of") or None,
            tracked=h.get("tracked") == "1",
            lease=_float(h.get("lease")),
            num_epochs=int(h["num_epochs"]) if h.get("num_epochs") else None,
            epochs_done=int(h.get("epochs_done") or 0),
            runtime=_float(h.get("runtime")),
            metrics={k[2:]: float(v) for k, v in h.items() if k.startswith("m:")},
            best={k[2:]: float(v) for k, v in h.items() if k.startswith("b:")},
            search=h.get("search") or None,  # search
            trial=int(h["trial"]) if h.get("trial") else None,  # search
            tags=(h.get("tags") or "").split(),  # runmeta
            note=h.get("note") or None,  # runmeta
        )

    def summary(self) -> dict[str, float | None]:
        """Each metric's last value under its name and its best as best_<name>."""
        out: dict[str, float | None] = dict(self.metrics)
        out.update({f"best_{name}": value for name, value in self.best.items()})
        return out


@dataclass(frozen=True)
class Claim:
    """A job a worker now runs, under attempt number `attempt`."""

    iid: str
    attempt: int
    task: str
    hyper_params: dict[str, Any]


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    total: int
