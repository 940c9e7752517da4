"""A stand-in for mnist.fit with the same contract, for worker tests (no torch)."""
from __future__ import annotations

import json
import time
from types import SimpleNamespace


def epoch_metrics(epoch: int) -> dict[str, float]:
    return {"epoch": epoch, "train_loss": 1.0 / epoch, "train_accuracy": 90.0 + epoch,
            "test_loss": 1.2 / epoch, "test_accuracy": 89.0 + epoch, "time_training": 0.1 * epoch}


class FakeFit:
    """Epochs of `batches` batches, `batch_seconds` each; checkpoints name the epoch.

    `runs` records (params.seed, first epoch trained) for every call.
    """

    def __init__(self, batches: int = 5, batch_seconds: float = 0.0, fail_at_epoch: int = 0):
        self.batches, self.batch_seconds, self.fail_at_epoch = batches, batch_seconds, fail_at_epoch
        self.runs: list[tuple[int, int]] = []

    def __call__(self, params, *, on_start, on_epoch, on_progress, should_stop, resume_from):
        first = json.loads(resume_from)["epoch"] + 1 if resume_from else 1
        self.runs.append((params.seed, first))
        on_start({"device": "cpu", "precision": "fp32"})
        for epoch in range(first, params.num_epochs + 1):
            started = time.monotonic()
            for batch in range(1, self.batches + 1):
                if should_stop():
                    return SimpleNamespace(stopped=True)
                if epoch == self.fail_at_epoch:
                    raise RuntimeError(f"boom at epoch {epoch}")
                time.sleep(self.batch_seconds)
                on_progress({"epoch": epoch, "batch": batch, "batches": self.batches,
                             "epoch_seconds": time.monotonic() - started})
            on_epoch(epoch_metrics(epoch), json.dumps({"epoch": epoch}).encode())
        return SimpleNamespace(stopped=False)
