"""Workers: claim jobs of the tasks they have, run each task's `train(params, run)`,
and turn what it reports through the `Run` into store writes.

A worker holds a job under a lease that a heartbeat renews; a worker that dies
or hangs stops renewing it, and the reaper (every worker and the dashboard
process run one) puts the job back at the front of the queue, where the next
claim resumes it from its last checkpoint. Every write carries the attempt
number, so a worker that wakes up after its job was taken over is refused.

A database that is down, or cannot write to disk, is waited out with a backoff
that wakes at once when the worker is asked to stop; a metric that is not a
finite number ends the job as failed (`diverged at epoch 3: train loss is nan`).
"""
from __future__ import annotations

import json
import logging
import math
import numbers
import operator
import os
import random
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import redis

from mltrack.store import (DEFAULT_LEASE, DEFAULT_MAX_LOST, Claim, EpochOutOfOrder,
                           IllegalTransition, JobNotFound, StaleAttempt, Status, Store)
from mltrack.store.models import MAX_MODEL_BYTES, put_model
from mltrack.task import Schema, Task

log = logging.getLogger(__name__)

# wait(seconds) -> True when the worker is to stop; the default is its stop
# event's wait, so every pause ends at once on a stop. Tests pass a fake one.
Wait = Callable[[float], bool]
Clock = Callable[[], float]

# Batches seen and seconds spent in an epoch before a time left is shown: the
# first batches carry start-up costs and would overstate it many times over.
ESTIMATE_AFTER_BATCHES = 3
ESTIMATE_AFTER_SECONDS = 1.0

# A stored checkpoint is the task's bytes behind a one-line header that says
# which epoch they resume after and the training time at that point, so a
# task that checkpoints only now and then still resumes at the right epoch.
_CKPT_MAGIC = b"MLTRACK-CKPT1 "


def can_wait_out(exc: BaseException) -> bool:
    """True for a Redis error that passes: down, loading, or unable to write
    (MISCONF: its disk is full or read-only; READONLY: a replica). The refused
    command did not run, so sending it again later is safe."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return True
    return isinstance(exc, redis.ResponseError) and str(exc).startswith(("MISCONF", "READONLY"))


@dataclass(frozen=True)
class WorkerConfig:
    lease: float = DEFAULT_LEASE  # seconds a claim lasts without a heartbeat
    max_lost: int = DEFAULT_MAX_LOST  # lost this often, a job is failed
    idle_poll: float = 0.5  # seconds between claims while the queue is empty
    progress_every: float = 0.5  # at most 2 progress writes a second per job
    backoff_max: float = 10.0  # longest wait between tries while Redis is down
    # A checkpoint (the MLP's is 2.4 MB) is saved at most this often; the ones
    # between are held back, the last of them saved when the job stops
    # gracefully. So a kill -9 costs at most this much training, and the
    # database's append-only file grows by a checkpoint per this many seconds.
    checkpoint_every: float = 30.0

    @property
    def heartbeat(self) -> float:
        return self.lease / 6

    @property
    def reap_every(self) -> float:
        return self.lease / 3


class JobLost(Exception):
    """The job was taken over (its lease ran out) or vanished while running."""


class Abandoned(Exception):
    """The worker stops while the database cannot take the job's writes: the job
    is left as it is, and goes back to the queue when its lease runs out."""


class Diverged(Exception):
    """A metric of an epoch is not a finite number: the run cannot recover."""


class RunMisuse(Exception):
    """The task called its Run against the contract (an undeclared metric, a
    value that is not a number, an epoch out of order): the job fails."""


def check_finite(metrics: Mapping[str, Any]) -> None:
    """Raise Diverged naming the first metric that is NaN or infinite.

    Any task may report any metrics, so every value is checked, not a known few.
    """
    for name, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue  # not a number at all: refused elsewhere with its own reason
        if not math.isfinite(number):
            epoch = metrics.get("epoch", "?")
            raise Diverged(f"diverged at epoch {epoch}: {name.replace('_', ' ')} is {number!r}")


def worker_id(thread: str | None = None) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{thread or threading.current_thread().name}"


def task_data_dir(root: Path, task: str) -> Path:
    """A task's own directory under the data dir. MNIST keeps the place its
    data always had (`<data dir>/mnist`), so nothing is fetched again."""
    return root / "mnist" if task == "mnist" else root / "tasks" / task


_devices: dict[str, str] = {}


def resolve_device(name: str) -> str:
    """`auto` becomes cuda, mps or cpu (torch is asked only then, once)."""
    if name != "auto":
        return name
    if name not in _devices:
        try:
            import torch
        except ImportError:  # a NumPy-only worker: nothing but the CPU to train on
            _devices[name] = "cpu"
        else:
            mps = getattr(torch.backends, "mps", None)
            _devices[name] = ("cuda" if torch.cuda.is_available() else
                              "mps" if mps is not None and mps.is_available() else "cpu")
    return _devices[name]


def as_tasks(tasks: Task | Mapping[str, Task] | Iterable[Task]) -> dict[str, Task]:
    """{name: Task} from one Task, a mapping or a list of them."""
    if isinstance(tasks, Task):
        return {tasks.name: tasks}
    items = list(tasks.values()) if isinstance(tasks, Mapping) else list(tasks)
    if not all(isinstance(t, Task) for t in items):
        raise TypeError("a worker runs mltrack.Task objects")
    return {t.name: t for t in items}


def register_tasks(store: Store, tasks: Iterable[Task]) -> None:
    """Record each task's schema in the store, so every mltrack on it can take
    and show its jobs; warn when it replaces a different schema of that name."""
    for task in tasks:
        if not store.register_task(task.schema):
            log.warning("task %s: its schema differs from the one registered before "
                        "(another mltrack, or an older version of the task); this one "
                        "replaces it", task.name)


def pack_checkpoint(epoch: int, time_training: float, data: bytes) -> bytes:
    header = json.dumps({"epoch": epoch, "time_training": time_training}).encode()
    return _CKPT_MAGIC + header + b"\n" + data


def unpack_checkpoint(blob: bytes) -> tuple[int, float, bytes] | None:
    """(epoch, time_training, the task's bytes), or None for bytes stored
    without a header (by an mltrack before tasks)."""
    if not blob.startswith(_CKPT_MAGIC):
        return None
    header, _, data = blob[len(_CKPT_MAGIC):].partition(b"\n")
    meta = json.loads(header)
    return int(meta["epoch"]), float(meta["time_training"]), data


@dataclass
class _Running:
    """What a worker knows about the job it runs."""

    claim: Claim
    schema: Schema
    cancel: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    # how the run ended early, if it did: (error, traceback or None)
    failure: tuple[str, str | None] | None = None
    abandoned: str | None = None
    asked_to_stop: bool = False  # should_stop() answered True
    last_epoch: int = 0  # the last epoch train() logged (or resumed after)
    logged: int = 0  # epochs logged in this attempt
    train_started: float = 0.0  # worker clock; time_training counts from here
    time_before: float = 0.0  # time_training at the resume point
    # progress: (epoch, done, total, seconds into the epoch, wall time)
    latest: tuple[int, int, int, float, float] | None = None
    last_progress_write: float = -math.inf
    epoch_seconds: float | None = None  # the last whole epoch, evaluation included
    epoch_started: float = 0.0
    checkpoint_saved: float = 0.0  # worker clock at the last checkpoint saved (or the claim)
    # a newer checkpoint than the saved one, packed only if it is saved:
    # (epoch, time_training, the task's bytes)
    held_checkpoint: tuple[int, float, bytes] | None = None
    model: bytes | None = None  # runmeta: run.save_model's bytes, handed over when done
    # search: a trial's pruning (mltrack.search.pruning), looked up at its first epoch
    pruning: Any = None
    pruning_looked_up: bool = False
    pruned: bool = False  # its search's pruner stopped it

    @property
    def ended(self) -> bool:
        return self.failure is not None or self.abandoned is not None or self.lost.is_set()

    def fail(self, error: str, trace: str | None = None) -> None:
        if self.failure is None:
            self.failure = (error, trace)


class WorkerRun:
    """The `Run` a task's train(params, run) reports through (see mltrack.task.Run)."""

    def __init__(self, worker: "Worker", job: _Running, checkpoint: bytes | None,
                 epochs_done: int, data_dir: Path, task: Task):
        self.checkpoint = checkpoint
        self.epochs_done = epochs_done
        self.logger = logging.getLogger(f"mltrack.task.{task.name}")
        self._worker, self._job, self._task = worker, job, task
        self._data_dir = data_dir
        self._declared = {m.name for m in task.schema.metrics}

    @property
    def device(self) -> str:
        return resolve_device(self._worker.device)

    @property
    def cpu_threads(self) -> int:
        return self._worker.cpu_threads

    @property
    def data_dir(self) -> Path:
        self._data_dir.mkdir(parents=True, exist_ok=True)  # made when a task asks for it
        return self._data_dir

    def __repr__(self) -> str:
        return f"<Run of job {self._job.claim.iid} ({self._task.name})>"

    # -- the contract -------------------------------------------------------
    def log(self, epoch: int, metrics: Mapping[str, float],
            checkpoint: bytes | None = None) -> None:
        job = self._job
        if job.ended:  # the task caught our exception and went on: stop it again
            raise RunMisuse(job.failure[0] if job.failure else "the run has ended")
        values = self._checked(epoch, metrics, checkpoint)
        try:
            check_finite(values)  # before anything is written: a NaN epoch is never recorded
        except Diverged as exc:
            job.fail(str(exc))  # a plain reason is the whole story: no traceback
            raise
        self._worker._record(job, values, checkpoint)

    def progress(self, done: int, total: int) -> None:
        self._worker._progress(self._job, done, total)

    def should_stop(self) -> bool:
        job, worker = self._job, self._worker
        if job.cancel.is_set() or job.pruned or job.ended or worker.stop_event.is_set():
            job.asked_to_stop = True
            return True
        return False

    def describe(self, **info: Any) -> None:
        self._worker._describe(self._job, info)

    def save_model(self, data: bytes) -> None:  # runmeta: see store/models.py
        """Keep `data` (the trained model, bytes) as the run's model: handed to
        the server when the run ends done (a later call replaces it)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise self._misuse(f"run.save_model: the model must be bytes, got "
                               f"{type(data).__name__} (e.g. mltrack.checkpoint.pack_state"
                               "(model.state_dict()))")
        if len(data) > MAX_MODEL_BYTES:
            raise self._misuse(f"run.save_model: at most {MAX_MODEL_BYTES // 2**20} MiB, got "
                               f"{len(data) / 2**20:.0f} MiB")
        self._job.model = bytes(data)

    # -- checks ---------------------------------------------------------------
    def _misuse(self, message: str) -> RunMisuse:
        """Fail the job with `message` and the place in the task that caused it."""
        stack = "".join(traceback.format_stack()[:-2])
        self._job.fail(message, "Traceback (most recent call last):\n" + stack)
        return RunMisuse(message)

    def _checked(self, epoch: Any, metrics: Any, checkpoint: Any) -> dict[str, float]:
        name = self._task.name
        try:
            if isinstance(epoch, bool):
                raise TypeError
            epoch = operator.index(epoch)  # ints and numpy's integers
        except TypeError:
            raise self._misuse(f"run.log: epoch must be a whole number, got "
                               f"{type(epoch).__name__} {epoch!r:.40}") from None
        expected = self._job.last_epoch + 1
        if epoch != expected:
            raise self._misuse(f"run.log: epoch {epoch} logged, but epoch {expected} comes "
                               "next (epochs go 1, 2, 3...; a resumed run goes on after "
                               "run.epochs_done)")
        if not isinstance(metrics, Mapping):
            raise self._misuse(f"run.log: metrics must be a dict of metric names to numbers, "
                               f"got {type(metrics).__name__}")
        if not metrics:
            raise self._misuse(f"run.log: epoch {epoch} has no metrics (task {name} "
                               f"declares {', '.join(sorted(self._declared))})")
        values: dict[str, float] = {"epoch": epoch}
        for metric, value in metrics.items():
            if metric not in self._declared:
                raise self._misuse(
                    f"run.log: metric {metric!r} is not declared by task {name} (it declares "
                    f"{', '.join(sorted(self._declared))}; add mltrack.Metric({metric!r}))")
            values[metric] = self._number(metric, epoch, value)
        if checkpoint is not None and not isinstance(checkpoint, (bytes, bytearray, memoryview)):
            raise self._misuse(f"run.log: checkpoint must be bytes, got "
                               f"{type(checkpoint).__name__} (encode it, e.g. "
                               "str(x).encode(), or torch.save to an io.BytesIO)")
        return values

    def _number(self, metric: str, epoch: int, value: Any) -> float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an integer past any float: infinite, so diverged
                return math.inf if value > 0 else -math.inf
        if not isinstance(value, (str, bytes, bool)) and hasattr(value, "__float__"):
            try:  # a one-element tensor or array
                return float(value)
            except (TypeError, ValueError):
                pass
        raise self._misuse(f"run.log: metric {metric} at epoch {epoch} must be a number, "
                           f"got {type(value).__name__} {value!r:.40}")


class Wakeup:
    """Ends the idle sleep of this process's workers as soon as this process
    queues a job (the store's on_queued hook), so a job submitted to the
    dashboard starts at once instead of at the next poll. Jobs queued by
    other processes on a shared Redis are still found by polling."""

    STOP_CHECK = 0.05  # seconds: how soon a sleeping worker notices the stop

    def __init__(self, store: Store, stop_event: threading.Event):
        self._store = store
        self._stop = stop_event
        self._queued = threading.Condition()
        self._count = 0  # jobs-queued events so far
        store.on_queued.append(self.notify)

    def seen(self) -> int:
        """What sleep() compares with: take it before looking at the queue, so
        that a job queued between the look and the sleep is not slept through."""
        return self._count

    def notify(self, iids: list[str]) -> None:
        if self._stop.is_set():  # workers gone: stop listening
            try:
                self._store.on_queued.remove(self.notify)
            except ValueError:
                pass
            return
        with self._queued:
            self._count += 1
            self._queued.notify_all()

    def sleep(self, timeout: float, seen: int) -> None:
        """Up to `timeout` seconds, less if a job was queued since `seen` or the workers stop."""
        deadline = time.monotonic() + timeout
        with self._queued:
            while self._count == seen and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._queued.wait(min(left, self.STOP_CHECK))


class Worker:
    """Runs jobs of `tasks` from `store`, one at a time."""

    def __init__(self, store: Store, tasks: Task | Mapping[str, Task] | Iterable[Task], *,
                 name: str | None = None, config: WorkerConfig = WorkerConfig(),
                 stop_event: threading.Event | None = None,
                 clock: Clock = time.monotonic, wait: Wait | None = None,
                 data_dir: Path | str | None = None, device: str = "auto",
                 cpu_threads: int | None = None, wakeup: Wakeup | None = None):
        self.store = store
        self.tasks = as_tasks(tasks)
        self.schemas = {n: t.schema for n, t in self.tasks.items()}
        self.config = config
        self.id = name or worker_id()
        self.stop_event = stop_event or threading.Event()
        self.clock = clock
        self.wait = wait or self.stop_event.wait
        self.wakeup = wakeup if wait is None else None  # a test's own wait comes first
        self.device = device
        self.cpu_threads = cpu_threads or usable_cores()
        if data_dir is None:
            from mltrack.settings import default_data_dir
            data_dir = default_data_dir()
        self.data_dir = Path(data_dir)
        self.current: _Running | None = None
        self.started = time.time()
        self.jobs_done = 0
        self._last_reap = 0.0
        self._registered = False

    # -- the loop -------------------------------------------------------------
    def run(self) -> None:
        """Claim and run jobs until stop_event is set; Redis outages are waited out."""
        log.info("worker %s started (tasks: %s)", self.id, ", ".join(self.tasks))
        failures = 0
        while not self.stop_event.is_set():
            try:
                if not self._registered:
                    register_tasks(self.store, self.tasks.values())
                    self._registered = True
                self.reap_if_due()
                self.register()
                seen = self.wakeup.seen() if self.wakeup else 0
                ran = self.run_once()
                if failures:
                    log.info("worker %s: database reachable again", self.id)
                failures = 0
                if not ran and self.wakeup:
                    self.wakeup.sleep(self.config.idle_poll, seen)
                elif not ran:
                    self.wait(self.config.idle_poll)
            except redis.RedisError as exc:  # none ends the loop: wait, try again
                failures += 1
                if failures == 1:
                    log.warning("worker %s: database error (%s); retrying", self.id, exc,
                                exc_info=not can_wait_out(exc))
                self.wait(self._backoff(failures))
            except Exception:  # a bug must not kill the worker thread: log, go on
                log.exception("worker %s: unexpected error in its loop", self.id)
                self.wait(self.config.idle_poll)
        try:
            self.store.unregister_worker(self.id)
        except redis.RedisError:
            pass
        log.info("worker %s stopped", self.id)

    def run_once(self) -> bool:
        """Claim one job and run it to its end; False when the queue was empty."""
        if self.stop_event.is_set():
            return False
        claim = self.store.claim(self.id, lease=self.config.lease, tasks=self.schemas)
        if claim is None:
            return False
        self._run(claim)
        return True

    def reap_if_due(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        if now - self._last_reap >= self.config.reap_every:
            self._last_reap = now
            reap(self.store, self.config)

    def register(self) -> None:
        job = self.current
        host, pid, thread = (self.id.split(":", 2) + ["", ""])[:3]
        self.store.register_worker(self.id, {
            "id": self.id, "host": host, "pid": int(pid) if pid.isdigit() else None,
            "thread": thread, "pid_space": PID_SPACE, "tasks": sorted(self.tasks),
            "started": self.started, "jobs_done": self.jobs_done,
            "job": job.claim.iid if job else None,
        }, ttl=self.config.heartbeat * 3)

    # -- one job --------------------------------------------------------------
    def _run(self, claim: Claim) -> None:
        task = self.tasks[claim.task]  # the store hands out only jobs of these tasks
        job = _Running(claim, task.schema)
        self.current = job
        try:
            self.register()  # the dashboard shows this worker busy at once
        except redis.RedisError:
            pass  # the heartbeat registers it again shortly
        iid = claim.iid
        beat = threading.Thread(target=self._heartbeat, args=(job,), daemon=True,
                                name=f"heartbeat-{iid[:8]}")
        beat.start()
        try:
            self._train(job, task)
        except (JobLost, Abandoned):
            pass  # recorded on the job; the outcome is decided below
        finally:
            job.done.set()
            beat.join()
            self.current = None
        self._conclude(job)

    def _train(self, job: _Running, task: Task) -> None:
        c = job.claim
        blob = self._write(job, lambda: self.store.checkpoint(c.iid))
        checkpoint, epochs_done = self._resume_point(job, blob)
        log.info("worker %s runs job %s (%s, attempt %d%s)", self.id, c.iid, task.name,
                 c.attempt, f", resuming after epoch {epochs_done}" if checkpoint else "")
        run = WorkerRun(self, job, checkpoint, epochs_done,
                        task_data_dir(self.data_dir, task.name), task)
        job.last_epoch = epochs_done
        job.train_started = job.epoch_started = job.checkpoint_saved = self.clock()
        try:
            task.train(dict(c.hyper_params), run)
        except BaseException as exc:  # noqa: B902 - the task's own error: the job fails
            # (KeyboardInterrupt or SystemExit raised by the task's code too: a real
            # Ctrl-C reaches the main thread, never this one; the worker goes on)
            if not job.ended:
                job.fail(f"{type(exc).__name__}: {exc}", traceback.format_exc())

    def _resume_point(self, job: _Running, blob: bytes | None) -> tuple[bytes | None, int]:
        """The task's checkpoint and the epoch it resumes after; sets time_before."""
        if blob is None:
            return None, 0
        unpacked = unpack_checkpoint(blob)
        if unpacked is None:  # stored before tasks: it belongs to the last epoch
            before = self._write(job, lambda: self.store.get(job.claim.iid))
            job.time_before = before.runtime or 0.0
            return blob, before.epochs_done
        epoch, job.time_before, data = unpacked
        return data, epoch

    def _conclude(self, job: _Running) -> None:
        """Record how the run ended: failed, done, cancelled, or back in the queue."""
        iid, attempt = job.claim.iid, job.claim.attempt
        total = job.schema.num_epochs(job.claim.hyper_params)
        finished_all = total is not None and job.last_epoch >= total
        if job.lost.is_set():
            log.warning("job %s was taken over; worker %s drops it", iid, self.id)
        elif job.abandoned:
            log.warning("job %s left as it is: %s; it goes back to the queue when its "
                        "lease runs out", iid, job.abandoned)
        elif job.failure:
            error, trace = job.failure
            if trace:
                log.error("job %s failed: %s\n%s", iid, error, trace)
            else:
                log.warning("job %s: %s", iid, error)
            self._finish(job, Status.FAILED, error=error, traceback=trace)
        elif finished_all or not job.asked_to_stop:
            self._finish(job, Status.DONE)
        elif job.pruned:  # search: stopped by its search's pruner, its epochs kept
            self._finish(job, Status.PRUNED)
        elif job.cancel.is_set():
            self._finish(job, Status.CANCELLED)
        else:  # this worker is stopping: the job goes back, to resume elsewhere
            try:
                if job.held_checkpoint is not None:  # resume from the last epoch logged
                    blob = pack_checkpoint(*job.held_checkpoint)
                    self._write(job, lambda: self.store.save_checkpoint(iid, attempt, blob))
                self._write(job, lambda: self.store.requeue(iid, attempt))
            except (JobLost, Abandoned) as exc:
                log.warning("job %s could not be returned to the queue: %s", iid, exc)
                return
            log.info("job %s returned to the queue", iid)

    def _finish(self, job: _Running, status: Status, *, error: str | None = None,
                traceback: str | None = None) -> None:
        c = job.claim
        if status is Status.DONE and job.model is not None:  # runmeta: before it is done
            try:
                self._write(job, lambda: put_model(self.store, c.iid, c.attempt, job.model))
            except (JobLost, Abandoned):
                pass  # finish() below meets the same and says it
            except redis.RedisError as exc:  # too big for the server, say: the run is done
                log.warning("job %s: its model could not be kept: %s", c.iid, exc)
        try:
            self._write(job, lambda: self.store.finish(c.iid, c.attempt, status, error=error,
                                                       traceback=traceback))
        except (JobLost, Abandoned) as exc:
            log.warning("job %s could not be marked %s: %s", c.iid, status.value, exc)
            return
        self.jobs_done += 1
        log.info("job %s %s", c.iid, status.value)

    # -- what the Run reports -----------------------------------------------------
    def _describe(self, job: _Running, info: Mapping[str, Any]) -> None:
        c = job.claim
        if not job.logged:
            # Said before the first epoch: what came before (loading data,
            # building the model) is set-up, not training time.
            job.train_started = job.epoch_started = self.clock()
        info = {k: str(v) for k, v in info.items()}
        self._write(job, lambda: self.store.set_run_info(c.iid, c.attempt, info))

    def _record(self, job: _Running, values: dict[str, float], checkpoint: Any) -> None:
        c = job.claim
        now = self.clock()
        epoch = int(values["epoch"])
        time_training = job.time_before + (now - job.train_started)
        record = {"epoch": epoch, "time_training": time_training, **values}
        total = job.schema.num_epochs(job.claim.hyper_params)
        last = total is not None and epoch >= total  # the job ends now: it resumes never
        blob = None
        if checkpoint is not None:
            job.held_checkpoint = (epoch, time_training, bytes(checkpoint))
            if not last and now - job.checkpoint_saved >= self.config.checkpoint_every:
                blob = pack_checkpoint(*job.held_checkpoint)
        try:
            self._write(job, lambda: self.store.record_epoch(
                c.iid, c.attempt, record, blob, goals=job.schema.goals))
            if blob is not None:
                job.checkpoint_saved, job.held_checkpoint = now, None
        except EpochOutOfOrder as exc:
            if exc.expected <= epoch:
                raise
            # Trained again after an older checkpoint: the first recording stays
            # (the script refused the whole write; the checkpoint stays held),
            # and the training time goes on from it, so that the next epochs'
            # times follow the recorded ones (the repeated work is not counted).
            log.debug("job %s: epoch %d was recorded before; kept as it was", c.iid, epoch)
            recorded = self._write(job, lambda: self.store.epochs(c.iid))
            if len(recorded) >= epoch:
                job.time_before, job.train_started = recorded[epoch - 1]["time_training"], now
        job.last_epoch = epoch
        job.logged += 1
        job.epoch_seconds = now - job.epoch_started
        job.epoch_started = now
        if not last:
            self._report_trial(job, epoch, values)

    def _report_trial(self, job: _Running, epoch: int, values: Mapping[str, float]) -> None:
        """search: a trial of a search with a pruner reports the epoch to its
        study; should it be pruned, should_stop() says so from now on."""
        if not job.pruning_looked_up:  # at the first epoch: the driver linked the job by then
            job.pruning_looked_up = True
            try:
                from mltrack.search.pruning import pruning_for
                job.pruning = pruning_for(self.store, job.claim.iid)
            except Exception:  # no pruning is no reason to fail the job
                log.exception("job %s: cannot set up its search's pruning", job.claim.iid)
        if job.pruning is not None and job.pruning.report(epoch, values):
            log.info("job %s pruned at epoch %d by its search's pruner", job.claim.iid, epoch)
            job.pruned = True

    def _progress(self, job: _Running, done: Any, total: Any) -> None:
        now = self.clock()
        try:
            done, total = int(done), int(total)
        except (TypeError, ValueError):
            return  # progress is for show: a bad value is not worth a job
        job.latest = (job.last_epoch + 1, done, total, now - job.epoch_started, time.time())
        if now - job.last_progress_write < self.config.progress_every:
            return
        job.last_progress_write = now
        try:  # never hold training up for a progress line: the heartbeat retries
            self._beat(job)
        except redis.RedisError:
            pass

    def _progress_line(self, job: _Running) -> dict[str, Any] | None:
        if job.latest is None:
            return None
        epoch, done, total, elapsed, at = job.latest
        return {"epoch": epoch, "batch": done, "batches": total,
                "eta_seconds": self._time_left(job, epoch, done, total, elapsed), "at": at}

    @staticmethod
    def _time_left(job: _Running, epoch: int, batch: int, batches: int,
                   elapsed: float) -> float | None:
        """Seconds left in the run, or None while it is too early to tell."""
        if job.epoch_seconds is None and (batch < ESTIMATE_AFTER_BATCHES
                                          or elapsed < ESTIMATE_AFTER_SECONDS):
            return None  # no whole epoch measured, and too little of this one
        per_batch = elapsed / max(batch, 1)
        epoch_estimate = job.epoch_seconds or per_batch * batches
        # Without a number of epochs, what progress() counts is all there is to go.
        total = job.schema.num_epochs(job.claim.hyper_params) or epoch
        remaining_epochs = max(total - epoch, 0)
        return round(max(batches - batch, 0) * per_batch + remaining_epochs * epoch_estimate, 1)

    # -- heartbeat and writes ---------------------------------------------------
    def _beat(self, job: _Running) -> None:
        """Renew the lease, store progress, and learn of a cancel; one round trip."""
        c = job.claim
        try:
            if self.store.heartbeat(c.iid, c.attempt, self.config.lease,
                                    progress=self._progress_line(job)):
                job.cancel.set()
        except (StaleAttempt, IllegalTransition, JobNotFound):
            job.lost.set()

    def _heartbeat(self, job: _Running) -> None:
        # The lease is renewed on the database's clock, so this paces itself in
        # real time; it ends with the job, whatever the database answers.
        while not job.done.wait(self.config.heartbeat):
            try:
                self._beat(job)
                self.register()
            except redis.RedisError as exc:
                log.warning("job %s: heartbeat failed (%s); retrying", job.claim.iid, exc)
            except Exception:  # a bug must not end the lease renewals
                log.exception("job %s: unexpected error in the heartbeat", job.claim.iid)

    def _write(self, job: _Running, write: Callable[[], Any]) -> Any:
        """Run a store write, waiting out a database that is down or cannot
        write; a refused write means the job was taken over (JobLost), and a
        stop while waiting leaves the job to its lease (Abandoned)."""
        failures = 0
        while True:
            try:
                return write()
            except (StaleAttempt, IllegalTransition, JobNotFound) as exc:
                job.lost.set()
                raise JobLost(str(exc)) from exc
            except redis.RedisError as exc:
                if not can_wait_out(exc):
                    raise
                failures += 1
                if failures == 1:
                    log.warning("job %s: the database cannot take a write (%s); retrying",
                                job.claim.iid, exc)
                if job.lost.is_set():
                    raise JobLost("lost while the database was unreachable") from exc
                if self.wait(self._backoff(failures)):
                    job.abandoned = (f"worker {self.id} stops and the database cannot take "
                                     f"its writes ({exc})")
                    raise Abandoned(job.abandoned) from exc

    def _backoff(self, failures: int) -> float:
        """Exponential with jitter: 0.25 s, 0.5 s, 1 s ... up to backoff_max."""
        return min(self.config.backoff_max, 0.25 * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: there
        return False
    try:  # a zombie is gone too (killed, not yet waited for by its parent)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _pid_space() -> str | None:
    """This process's PID namespace ("pid:[4026531836]"), None off Linux: a pid
    names a process only within its namespace (a container's pid 203 is not ours)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


PID_SPACE = _pid_space()


def _dead_here(worker: str, spaces: Mapping[str, str | None]) -> bool:
    """Whether worker id `worker` (host:pid:thread) names a thread of a process
    of this machine, not this one, that is gone. `spaces`: the PID namespace each
    live worker registered; one registered in another namespace (a container
    that shares the host name) cannot be judged from here, so it is not."""
    name, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    if spaces.get(worker) not in (None, PID_SPACE):
        return False
    return (name == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid()
            and _process_gone(int(pid)))


def requeue_jobs_of_dead_workers(store: Store, config: WorkerConfig = WorkerConfig()
                                 ) -> dict[str, Status]:
    """Running jobs whose worker was a thread of a process of this machine that
    is gone (an mltrack killed with -9, say) are requeued now, not once their
    lease runs out, so a restart resumes them at once; and those workers leave
    the list of live workers now, not when their registration expires. Called
    for the embedded database only: its socket is private to this machine and
    this user, so a worker id's host and pid name a process here. (On a shared
    Redis another machine may share the host name; its jobs wait for their lease.)"""
    live = store.live_workers()
    spaces = {str(info.get("id", "")): info.get("pid_space") for info in live}
    for worker in spaces:
        if _dead_here(worker, spaces):
            store.unregister_worker(worker)
    dead = {iid: worker for iid, worker in store.running_workers().items()
            if _dead_here(worker, spaces)}
    if not store.expire_leases(dead):
        return {}
    requeued = store.reap(config.max_lost)
    for iid, status in requeued.items():
        log.warning("job %s: its worker %s is gone (its process ended): now %s",
                    iid, dead.get(iid, "?"), status.value)
    return requeued


def reap(store: Store, config: WorkerConfig) -> None:
    """Requeue (or fail) the running jobs whose lease ran out, saying so."""
    for iid, status in store.reap(config.max_lost).items():
        # a worker's job goes back to the queue; a script's run (no worker) fails
        log.warning("job %s: its lease ran out (its %s stopped reporting): now %s", iid,
                    "script" if status is Status.FAILED and _tracked(store, iid) else "worker",
                    status.value)


def _tracked(store: Store, iid: str) -> bool:
    try:
        return store.get(iid).tracked
    except Exception:  # deleted meanwhile, or the database away: only the log's word
        return False


def run_reaper(store: Store, stop_event: threading.Event,
               config: WorkerConfig = WorkerConfig()) -> None:
    """Reap expired leases every `config.reap_every` seconds (the dashboard runs this)."""
    failing = False
    while True:
        try:
            reap(store, config)
            failing = False
        except redis.RedisError as exc:  # no Redis error ends the reaper
            if not failing:
                log.warning("reaper: %s; trying again every %.0f s", exc, config.reap_every)
            failing = True
        except Exception:
            log.exception("reaper: unexpected error")
        if stop_event.wait(config.reap_every):
            return


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def start_workers(store: Store, tasks: Mapping[str, Task], count: int,
                  stop_event: threading.Event, config: WorkerConfig = WorkerConfig(), *,
                  data_dir: Path | None = None, device: str = "auto") -> list[threading.Thread]:
    """`count` worker threads (daemons) sharing `stop_event`. The cores are
    split between them (run.cpu_threads), so that jobs side by side do not
    fight over the same cores: together never slower than one after another."""
    threads = []
    share = max(1, usable_cores() // max(count, 1))
    wakeup = Wakeup(store, stop_event) if count else None
    for n in range(count):
        name = f"worker-{n + 1}"
        worker = Worker(store, tasks, name=worker_id(name), config=config,
                        stop_event=stop_event, data_dir=data_dir, device=device,
                        cpu_threads=share, wakeup=wakeup)
        thread = threading.Thread(target=worker.run, name=name, daemon=True)
        thread.start()
        threads.append(thread)
    return threads
