"""The built-in task `mnist`, written through the same door as a user's task:
its schema (params.MNIST_PARAMS, MNIST_METRICS) and a train function that
hands `mnist.fit`'s callbacks to the Run. torch is imported when a job trains,
not when this module is (the dashboard and `import mltrack` stay light)."""
from __future__ import annotations

import os
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
    result = mnist.fit(
        hp, data, device=device,
        on_start=lambda info: run.describe(**info),
        on_epoch=lambda metrics, checkpoint: run.log(
            metrics["epoch"], {name: metrics[name] for name in METRICS}, checkpoint),
        on_progress=lambda info: run.progress(info["batch"], info["batches"]),
        should_stop=run.should_stop,
        resume_from=run.checkpoint)
    # runmeta: the final weights, for download (a run stopped early or diverged keeps none)
    save = getattr(run, "save_model", None)  # a Run from before models: none
    if save is None or result is None or result.stopped or result.diverged:
        return
    final = result.checkpoint or run.checkpoint
    if final is not None:
        save(model_bytes(final, params))


# -- runmeta: the trained model (GET /experiments/<iid>/model) ------------------------
MODEL_FORMAT = "mltrack-mnist-model-1"


def model_bytes(checkpoint: bytes, params: dict[str, Any]) -> bytes:
    """A run's model file from its last checkpoint: the weights (the model's
    state_dict) and what builds the network, without the optimizer's state,
    in mltrack.checkpoint's pickle-free format."""
    from mltrack.checkpoint import pack_state, unpack_state

    state = unpack_state(checkpoint)
    epochs = state.get("epochs") or []
    return pack_state({"format": MODEL_FORMAT, "task": "mnist", "model": params["model"],
                       "hyper_params": dict(params), "metrics": epochs[-1] if epochs else {},
                       "state_dict": state["model"]})


def load_model(source: "bytes | str | os.PathLike[str]") -> Any:
    """The torch module of a downloaded MNIST model file (or its bytes), in eval
    mode: `load_model("mnist-<iid>.mltmodel")(images)` gives the logits of
    images normalised as in training (mltrack.mnist.MEAN, STD), shape (N, 1, 28, 28)."""
    from pathlib import Path

    from mltrack import mnist
    from mltrack.checkpoint import CheckpointError, unpack_state

    data = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    state = unpack_state(data)
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
        raise CheckpointError("not an mltrack MNIST model file")
    net = mnist.MODELS[state["model"]]()
    net.load_state_dict(state["state_dict"])
    return net.eval()


TASK = Task(name="mnist", params=MNIST_PARAMS, metrics=MNIST_METRICS, epochs="num_epochs",
            train=train, description=MNIST.description)
assert TASK.schema == MNIST  # one schema for the store's default and the worker
