"""Stand-ins for worker tests: a task's train through a Run without torch, and a fake clock."""
from __future__ import annotations

import json
import threading
import time

from mltrack.params import MNIST_METRICS, MNIST_PARAMS
from mltrack.task import Metric, Task


def epoch_metrics(epoch: int) -> dict[str, float]:
    return {"epoch": epoch, "train_loss": 1.0 / epoch, "train_accuracy": 90.0 + epoch,
            "test_loss": 1.2 / epoch, "test_accuracy": 89.0 + epoch, "time_training": 0.1 * epoch}


class FakeClock:
    """Time that moves only when a batch or a wait says so: tests of leases,
    backoff and throttling run at full speed and come out the same every time.

    Use the instance as a Worker's `clock` and `wait_until(stop)` as its `wait`.
    """

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.waits: list[float] = []  # every wait asked for, in order
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def wait_until(self, stop: threading.Event):
        """A Worker `wait`: records the wait, moves the clock past it, and
        answers True once `stop` is set (as Event.wait does)."""

        def wait(seconds: float) -> bool:
            self.waits.append(seconds)
            self.advance(seconds)
            time.sleep(0.001)  # let the other threads run: no busy spin
            return stop.is_set()

        return wait


class FakeTrain:
    """A task's train(params, run) with MNIST's hyperparameters and metrics and
    no torch: epochs of `batches` batches, `batch_seconds` each, reported
    through the Run; checkpoints name the epoch.

    With a `clock`, a batch moves that clock instead of sleeping. From epoch
    `diverge_at` on, metric `metric` is reported as `value` (NaN by default).
    `runs` records (params["seed"], first epoch trained) for every call.
    """

    def __init__(self, batches: int = 5, batch_seconds: float = 0.0, fail_at_epoch: int = 0,
                 clock: FakeClock | None = None, diverge_at: int = 0,
                 metric: str = "train_loss", value: float = float("nan")):
        self.batches, self.batch_seconds, self.fail_at_epoch = batches, batch_seconds, fail_at_epoch
        self.clock = clock
        self.diverge_at, self.metric, self.value = diverge_at, metric, value
        self.runs: list[tuple[int, int]] = []

    def _now(self) -> float:
        return self.clock() if self.clock else time.monotonic()

    def __call__(self, params, run):
        first = 1
        if run.checkpoint is not None:
            first = json.loads(run.checkpoint)["epoch"] + 1
            assert first == run.epochs_done + 1
        self.runs.append((params["seed"], first))
        run.describe(device="cpu", precision="fp32")
        for epoch in range(first, params["num_epochs"] + 1):
            for batch in range(1, self.batches + 1):
                if run.should_stop():
                    return
                if epoch == self.fail_at_epoch:
                    raise RuntimeError(f"boom at epoch {epoch}")
                if self.clock:
                    self.clock.advance(self.batch_seconds)
                else:
                    time.sleep(self.batch_seconds)
                run.progress(batch, self.batches)
            metrics = {k: v for k, v in epoch_metrics(epoch).items()
                       if k not in ("epoch", "time_training")}
            if self.diverge_at and epoch >= self.diverge_at:
                metrics[self.metric] = self.value
            run.log(epoch, metrics, checkpoint=json.dumps({"epoch": epoch}).encode())


def fake_task(train, name: str = "mnist", extra_metrics: tuple[str, ...] = ()):
    """A Task with MNIST's schema (so `store.create(HyperParams(...))` jobs are
    its jobs), or under another name with more metrics, that trains with `train`."""
    metrics = MNIST_METRICS + tuple(Metric(m) for m in extra_metrics)
    return Task(name=name, params=MNIST_PARAMS, metrics=metrics, epochs="num_epochs",
                train=train)
