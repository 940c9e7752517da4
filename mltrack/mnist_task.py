"""The built-in task `mnist`, written through the same door as a user's task:
its schema (params.MNIST_PARAMS, MNIST_METRICS) and a train function that
hands `mnist.fit`'s callbacks to the Run. torch is imported when a job trains,
not when this module is (the dashboard and `import mltrack` stay light)."""
from __future__ import annotations

from typing import Any

from mltrack.params import MNIST, MNIST_METRICS, MNIST_PARAMS, HyperParams
from mltrack.task import Run, Task

METRICS = tuple(m.name for m in MNIST_METRICS)


def train(params: dict[str, Any], run: Run) -> None:
    from mltrack import mnist

    import torch

    # This worker thread's share of the cores, for training and evaluation
    # alike. With OpenMP (PyTorch's CPU backend) the setting is the calling
    # thread's own, so workers side by side each keep theirs.
    torch.set_num_threads(run.cpu_threads)
    hp = HyperParams(**params)
    device = mnist.resolve_device(run.device)
    data = mnist.load_mnist(run.data_dir, device)  # once per process and device
    mnist.fit(
        hp, data, device=device,
        on_start=lambda info: run.describe(**info),
        on_epoch=lambda metrics, checkpoint: run.log(
            metrics["epoch"], {name: metrics[name] for name in METRICS}, checkpoint),
        on_progress=lambda info: run.progress(info["batch"], info["batches"]),
        should_stop=run.should_stop,
        resume_from=run.checkpoint)


TASK = Task(name="mnist", params=MNIST_PARAMS, metrics=MNIST_METRICS, epochs="num_epochs",
            train=train, description=MNIST.description)
assert TASK.schema == MNIST  # one schema for the store's default and the worker
