"""The smallest task: gradient descent on x², one step per epoch (the issue's example).

    python -m mltrack --task examples/quadratic.py:task
"""
import mltrack

def train(params, run):
    x, start = params["x0"], 1
    if run.checkpoint is not None:             # bytes saved with the last recorded epoch
        x, start = float(run.checkpoint.decode()), run.epochs_done + 1
    for epoch in range(start, params["steps"] + 1):
        if run.should_stop():                  # cancel, shutdown, lost lease
            return
        x -= params["lr"] * 2 * x
        run.log(epoch, {"loss": x * x, "x": x}, checkpoint=str(x).encode())

task = mltrack.Task(
    name="quadratic",
    params={"x0": mltrack.Float(3.0, low=-10, high=10),
            "lr": mltrack.Float(0.1, low=1e-4, high=1, log=True),
            "steps": mltrack.Int(5, low=1, high=100),
            "method": mltrack.Choice(["gd", "momentum"], default="gd")},
    metrics=[mltrack.Metric("loss", goal="min"), mltrack.Metric("x")],
    train=train)
