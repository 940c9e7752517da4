"""A second task beside MNIST for the web tests: the issue's quadratic, with a
Bool and a parameter that applies only with one choice, and a helper that
records its runs as a worker would (claim, one epoch per step, done)."""
from __future__ import annotations

import mltrack
from mltrack.store import Status


def train(params, run):
    x, start = params["x0"], 1
    if run.checkpoint is not None:
        x, start = float(run.checkpoint.decode()), run.epochs_done + 1
    for epoch in range(start, params["steps"] + 1):
        if run.should_stop():
            return
        x -= params["lr"] * 2 * x
        run.log(epoch, {"loss": x * x, "x": x}, checkpoint=str(x).encode())


TASK = mltrack.Task(
    name="quadratic",
    params={"x0": mltrack.Float(3.0, low=-10, high=10, help="where x starts"),
            "lr": mltrack.Float(0.1, low=1e-4, high=1, log=True, help="step size"),
            "steps": mltrack.Int(5, low=1, high=100, help="gradient steps, one per epoch"),
            "method": mltrack.Choice(["gd", "momentum"], default="gd"),
            "beta": mltrack.Float(0.9, low=0, high=1, when={"method": ["momentum"]},
                                  help="momentum's memory"),
            "noisy": mltrack.Bool(False, help="add noise to each step")},
    metrics=[mltrack.Metric("loss", goal="min"), mltrack.Metric("x", goal="max")],
    train=train, epochs="steps", description="x² by gradient descent")
QUADRATIC = TASK.schema


def quadratic_run(store, params: dict | None = None, *, finish: bool = True,
                  epochs: int | None = None, worker: str = "test-worker") -> str:
    """A quadratic job taken through claim and its epochs (all of them, or
    `epochs`), then done when `finish`; returns its iid."""
    store.register_task(QUADRATIC)
    iid = store.create(params or {}, schema=QUADRATIC)
    claim = store.claim(worker, tasks={QUADRATIC.name: QUADRATIC})
    assert claim is not None and claim.iid == iid
    hp = claim.hyper_params
    x = hp["x0"]
    for epoch in range(1, (hp["steps"] if epochs is None else epochs) + 1):
        x -= hp["lr"] * 2 * x
        store.record_epoch(iid, claim.attempt, {"epoch": epoch, "time_training": 0.5 * epoch,
                                                "loss": x * x, "x": x},
                           checkpoint=str(x).encode(), goals=QUADRATIC.goals)
    if finish:
        store.finish(iid, claim.attempt, Status.DONE)
    return iid


def final_loss(params: dict) -> float:
    """The loss `quadratic_run` records last for these (complete) hyperparameters."""
    hp = QUADRATIC.parse(params)
    x = hp["x0"]
    for _ in range(hp["steps"]):
        x -= hp["lr"] * 2 * x
    return x * x
