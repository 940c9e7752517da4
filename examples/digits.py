"""Handwritten digits with a small PyTorch network: a real task of its own.

The data is scikit-learn's bundled copy of the UCI digits (1,797 images of
8x8 pixels; it ships inside the scikit-learn wheel, nothing is downloaded).
The task has its own hyperparameters (one that applies only with SGD) and
metrics, resumes from its checkpoint after a crash or a restart, reports
progress within each epoch, and trains in about a second on a laptop CPU.

    pip install scikit-learn
    python -m mltrack --task examples/digits.py:task
"""
from __future__ import annotations

import functools
import io

import torch
import torch.nn.functional as F
from torch import nn

import mltrack


@functools.lru_cache(maxsize=None)
def load(device: str) -> tuple[torch.Tensor, ...]:
    """(train x, train y, validation x, validation y) on `device`: one fixed
    80/20 split, so every job is measured on the same 360 images."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)  # pixels are 0..16
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, val = order[:1437], order[1437:]
    return tuple(t.to(device) for t in (x[train], y[train], x[val], y[val]))


def build(params: dict) -> tuple[nn.Module, torch.optim.Optimizer]:
    # Seeded without touching the global generator other jobs may be using.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params["seed"])
        model = nn.Sequential(nn.Linear(64, params["hidden"]), nn.ReLU(),
                              nn.Linear(params["hidden"], 10))
    if params["optimizer"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=params["learning_rate"],
                                    momentum=params["momentum"],
                                    weight_decay=params["weight_decay"])
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=params["learning_rate"],
                                     weight_decay=params["weight_decay"])
    return model, optimizer


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train()
    return F.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item() * 100


def train(params: dict, run: mltrack.Run) -> None:
    train_x, train_y, val_x, val_y = load(run.device)
    model, optimizer = build(params)
    model.to(run.device)
    batches = torch.Generator().manual_seed(params["seed"])  # the batch order
    start = 1
    if run.checkpoint is not None:  # everything the next epoch depends on
        state = torch.load(io.BytesIO(run.checkpoint), weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        batches.set_state(state["batches"])
        start = run.epochs_done + 1
    run.describe(device=run.device, precision="fp32")

    size = params["batch_size"]
    steps = -(-len(train_x) // size)
    for epoch in range(start, params["num_epochs"] + 1):
        order = torch.randperm(len(train_x), generator=batches).to(run.device)
        loss_sum = correct = 0.0
        for step in range(steps):
            if run.should_stop():
                return
            idx = order[step * size:(step + 1) * size]
            out = model(train_x[idx])
            loss = F.cross_entropy(out, train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == train_y[idx]).sum().item()
            run.progress(step + 1, steps)
        val_loss, val_accuracy = evaluate(model, val_x, val_y)
        buffer = io.BytesIO()
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "batches": batches.get_state()}, buffer)
        run.log(epoch, {"val_accuracy": val_accuracy, "val_loss": val_loss,
                        "train_loss": loss_sum / len(train_x),
                        "train_accuracy": correct * 100 / len(train_x)},
                checkpoint=buffer.getvalue())


task = mltrack.Task(
    name="digits",
    description="8x8 handwritten digits (scikit-learn's copy), a one-hidden-layer network",
    params={
        "hidden": mltrack.Int(64, low=4, high=1024, log=True, help="hidden units"),
        "optimizer": mltrack.Choice(["adam", "sgd"], default="adam"),
        "learning_rate": mltrack.Float(0.003, low=1e-5, high=1.0, log=True,
                                       help="step size"),
        "momentum": mltrack.Float(0.9, low=0.0, high=1.0, high_open=True,
                                  when={"optimizer": ["sgd"]}, help="SGD only"),
        "weight_decay": mltrack.Float(0.0, low=0.0, high=0.1, help="L2 penalty"),
        "batch_size": mltrack.Int(32, low=1, high=1437, log=True, help="images per step"),
        "num_epochs": mltrack.Int(20, low=1, high=500, help="passes over 1,437 images"),
        "seed": mltrack.Int(0, low=0, high=2**31 - 1, help="initial weights, batch order"),
    },
    metrics=[
        mltrack.Metric("val_accuracy", goal="max", chart="accuracy", primary=True,
                       help="% right on the 360 held-out images"),
        mltrack.Metric("val_loss", goal="min", chart="loss"),
        mltrack.Metric("train_loss", goal="min", chart="loss"),
        mltrack.Metric("train_accuracy", goal="max", chart="accuracy"),
    ],
    epochs="num_epochs",
    train=train)
