"""Workers: claim jobs from the queue, train them, and turn training events into store writes.

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

import logging
import math
import os
import random
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import redis

from mltrack.params import HyperParams
from mltrack.store import (DEFAULT_LEASE, DEFAULT_MAX_LOST, Claim, IllegalTransition,
                           JobNotFound, StaleAttempt, Status, Store)

log = logging.getLogger(__name__)

# train_fn(params, *, on_start, on_epoch, on_progress, should_stop, resume_from) -> result
# with a `.stopped` attribute; mltrack.mnist.fit is the real one.
TrainFn = Callable[..., Any]
# wait(seconds) -> True when the worker is to stop; the default is its stop
# event's wait, so every pause ends at once on a stop. Tests pass a fake one.
Wait = Callable[[float], bool]
Clock = Callable[[], float]

# Batches seen and seconds spent in an epoch before a time left is shown: the
# first batches carry start-up costs and would overstate it many times over.
ESTIMATE_AFTER_BATCHES = 3
ESTIMATE_AFTER_SECONDS = 1.0


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


def check_finite(metrics: dict[str, Any]) -> None:
    """Raise Diverged naming the first metric that is NaN or infinite.

    Any task may report any metrics, so every value is checked, not a known few.
    """
    for name, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue  # not a number at all: the store refuses it with its own reason
        if not math.isfinite(number):
            epoch = metrics.get("epoch", "?")
            raise Diverged(f"diverged at epoch {epoch}: {name.replace('_', ' ')} is {number!r}")


def worker_id(thread: str | None = None) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{thread or threading.current_thread().name}"


@dataclass
class _Running:
    """What a worker knows about the job it runs."""

    claim: Claim
    cancel: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    progress: dict[str, Any] | None = None
    last_progress_write: float = 0.0
    epoch_seconds: float | None = None  # the last whole epoch, evaluation included
    last_epoch_end: float | None = None


class Worker:
    """Runs jobs from `store` with `train_fn`, one at a time."""

    def __init__(self, store: Store, train_fn: TrainFn, *, name: str | None = None,
                 config: WorkerConfig = WorkerConfig(),
                 stop_event: threading.Event | None = None,
                 clock: Clock = time.monotonic, wait: Wait | None = None):
        self.store = store
        self.train_fn = train_fn
        self.config = config
        self.id = name or worker_id()
        self.stop_event = stop_event or threading.Event()
        self.clock = clock
        self.wait = wait or self.stop_event.wait
        self.current: _Running | None = None
        self.started = time.time()
        self.jobs_done = 0
        self._last_reap = 0.0

    # -- the loop -------------------------------------------------------------
    def run(self) -> None:
        """Claim and run jobs until stop_event is set; Redis outages are waited out."""
        log.info("worker %s started", self.id)
        failures = 0
        while not self.stop_event.is_set():
            try:
                self.reap_if_due()
                self.register()
                ran = self.run_once()
                if failures:
                    log.info("worker %s: database reachable again", self.id)
                failures = 0
                if not ran:
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
        claim = self.store.claim(self.id, lease=self.config.lease)
        if claim is None:
            return False
        self._run(claim)
        return True

    def reap_if_due(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        if now - self._last_reap >= self.config.reap_every:
            self._last_reap = now
            for iid, status in self.store.reap(self.config.max_lost).items():
                log.warning("job %s lost its worker (lease expired): now %s", iid, status.value)

    def register(self) -> None:
        job = self.current
        host, pid, thread = (self.id.split(":", 2) + ["", ""])[:3]
        self.store.register_worker(self.id, {
            "id": self.id, "host": host, "pid": int(pid) if pid.isdigit() else None,
            "thread": thread,
            "started": self.started, "jobs_done": self.jobs_done,
            "job": job.claim.iid if job else None,
        }, ttl=self.config.heartbeat * 3)

    # -- one job --------------------------------------------------------------
    def _run(self, claim: Claim) -> None:
        job = _Running(claim)
        self.current = job
        try:
            self.register()  # the dashboard shows this worker busy at once
        except redis.RedisError:
            pass  # the heartbeat registers it again shortly
        iid, attempt = claim.iid, claim.attempt
        beat = threading.Thread(target=self._heartbeat, args=(job,), daemon=True,
                                name=f"heartbeat-{iid[:8]}")
        beat.start()
        try:
            resume = self._write(job, lambda: self.store.checkpoint(iid))
            log.info("worker %s runs job %s (attempt %d%s)", self.id, iid, attempt,
                     ", resuming" if resume else "")
            result = self.train_fn(
                claim.hyper_params,
                on_start=lambda info: self._on_start(job, info),
                on_epoch=lambda metrics, ckpt: self._on_epoch(job, metrics, ckpt),
                on_progress=lambda info: self._on_progress(job, info),
                should_stop=lambda: (job.cancel.is_set() or job.lost.is_set()
                                     or self.stop_event.is_set()),
                resume_from=resume,
            )
        except JobLost:
            log.warning("job %s was taken over; worker %s drops it", iid, self.id)
            return
        except Abandoned as exc:
            log.warning("job %s left as it is: %s; it goes back to the queue when its "
                        "lease runs out", iid, exc)
            return
        except Diverged as exc:  # a plain reason is the whole story: no traceback
            log.warning("job %s: %s", iid, exc)
            self._finish(job, Status.FAILED, error=str(exc))
            return
        except Exception as exc:
            if job.lost.is_set():
                return
            log.exception("job %s failed", iid)
            message = f"{type(exc).__name__}: {exc}"
            self._finish(job, Status.FAILED, error=message, traceback=traceback.format_exc())
            return
        finally:
            job.done.set()
            beat.join()
            self.current = None
        if job.lost.is_set():
            log.warning("job %s was taken over; worker %s drops it", iid, self.id)
        elif not getattr(result, "stopped", False):
            self._finish(job, Status.DONE)
        elif job.cancel.is_set():
            self._finish(job, Status.CANCELLED)
        else:  # this worker is stopping: the job goes back, to resume elsewhere
            try:
                self._write(job, lambda: self.store.requeue(iid, attempt))
            except (JobLost, Abandoned) as exc:
                log.warning("job %s could not be returned to the queue: %s", iid, exc)
                return
            log.info("job %s returned to the queue", iid)

    def _finish(self, job: _Running, status: Status, **fields: str) -> None:
        c = job.claim
        try:
            self._write(job, lambda: self.store.finish(c.iid, c.attempt, status, **fields))
        except (JobLost, Abandoned) as exc:
            log.warning("job %s could not be marked %s: %s", c.iid, status.value, exc)
            return
        self.jobs_done += 1
        log.info("job %s %s", c.iid, status.value)

    def _on_start(self, job: _Running, info: dict[str, Any]) -> None:
        c = job.claim
        self._write(job, lambda: self.store.set_run_info(c.iid, c.attempt, info))

    def _on_epoch(self, job: _Running, metrics: dict[str, float], checkpoint: bytes) -> None:
        check_finite(metrics)  # before anything is written: a NaN epoch is never recorded
        c = job.claim
        now = self.clock()
        if job.last_epoch_end is not None:
            job.epoch_seconds = now - job.last_epoch_end
        job.last_epoch_end = now
        self._write(job, lambda: self.store.record_epoch(c.iid, c.attempt, metrics, checkpoint))

    def _on_progress(self, job: _Running, info: dict[str, Any]) -> None:
        now = self.clock()
        if job.last_epoch_end is None:
            job.last_epoch_end = now - info.get("epoch_seconds", 0.0)
        job.progress = {
            "epoch": info["epoch"], "batch": info["batch"], "batches": info["batches"],
            "eta_seconds": self._time_left(job, info),
            "at": time.time(),
        }
        if now - job.last_progress_write < self.config.progress_every:
            return
        job.last_progress_write = now
        try:  # never hold training up for a progress line: the heartbeat retries
            self._beat(job)
        except redis.RedisError:
            pass

    @staticmethod
    def _time_left(job: _Running, info: dict[str, Any]) -> float | None:
        """Seconds left in the run, or None while it is too early to tell."""
        batch, batches, elapsed = info["batch"], info["batches"], info["epoch_seconds"]
        if job.epoch_seconds is None and (batch < ESTIMATE_AFTER_BATCHES
                                          or elapsed < ESTIMATE_AFTER_SECONDS):
            return None  # no whole epoch measured, and too little of this one
        per_batch = elapsed / max(batch, 1)
        epoch_estimate = job.epoch_seconds or per_batch * batches
        remaining_epochs = (job.claim.hyper_params.get("num_epochs") or info["epoch"]) - info["epoch"]
        return round(per_batch * (batches - batch) + remaining_epochs * epoch_estimate, 1)

    # -- heartbeat and writes ---------------------------------------------------
    def _beat(self, job: _Running) -> None:
        """Renew the lease, store progress, and learn of a cancel; one round trip."""
        c = job.claim
        try:
            if self.store.heartbeat(c.iid, c.attempt, self.config.lease, progress=job.progress):
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
                    raise Abandoned(f"worker {self.id} stops and the database cannot take "
                                    f"its writes ({exc})") from exc

    def _backoff(self, failures: int) -> float:
        """Exponential with jitter: 0.25 s, 0.5 s, 1 s ... up to backoff_max."""
        return min(self.config.backoff_max, 0.25 * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)


def run_reaper(store: Store, stop_event: threading.Event,
               config: WorkerConfig = WorkerConfig()) -> None:
    """Reap expired leases every `config.reap_every` seconds (the dashboard runs this)."""
    failing = False
    while True:
        try:
            for iid, status in store.reap(config.max_lost).items():
                log.warning("job %s lost its worker (lease expired): now %s", iid, status.value)
            failing = False
        except redis.RedisError as exc:  # no Redis error ends the reaper
            if not failing:
                log.warning("reaper: %s; trying again every %.0f s", exc, config.reap_every)
            failing = True
        except Exception:
            log.exception("reaper: unexpected error")
        if stop_event.wait(config.reap_every):
            return


def mnist_train_fn(data_dir: Path, device: str = "auto") -> TrainFn:
    """The real training function: MNIST from `data_dir`, on `device`."""

    def train(params: dict[str, Any] | HyperParams, **callbacks: Any) -> Any:
        from mltrack import mnist  # torch is imported only where training happens

        if not isinstance(params, HyperParams):
            params = HyperParams(**params)
        dev = mnist.resolve_device(device)
        data = mnist.load_mnist(data_dir, dev)
        return mnist.fit(params, data, device=dev, **callbacks)

    return train


def start_workers(store: Store, train_fn: TrainFn, count: int, stop_event: threading.Event,
                  config: WorkerConfig = WorkerConfig()) -> list[threading.Thread]:
    """`count` worker threads (daemons) sharing `stop_event`."""
    threads = []
    for n in range(count):
        name = f"worker-{n + 1}"
        worker = Worker(store, train_fn, name=worker_id(name), config=config,
                        stop_event=stop_event)
        thread = threading.Thread(target=worker.run, name=name, daemon=True)
        thread.start()
        threads.append(thread)
    return threads
