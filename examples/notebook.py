# %% [markdown]
# # mltrack from a notebook
#
# Cells for VS Code, PyCharm or Jupyter (`jupytext --to notebook examples/notebook.py`),
# or run it whole: `python examples/notebook.py`. It needs a running mltrack
# (`python -m mltrack` in a terminal) and talks to it at `MLTRACK_URL`
# (default http://127.0.0.1:8050). Nothing here imports torch: the training
# happens in mltrack's worker, or, for the tracked loop, right here.

# %%
import math
import os
import time

import mltrack

client = mltrack.Client()
print(client.health())
TASK = os.environ.get("MLTRACK_EXAMPLE_TASK", "mnist")  # the tests run it on a small task

# %% [markdown]
# ## A sweep, waited for with a progress bar
# Every combination of the lists is one job. `wait` shows a bar of their epochs
# (a widget in Jupyter) and returns the final records.

# %%
if TASK == "mnist":
    base, grid = {"model": "mlp", "num_epochs": 2, "batch_size": 1024}, \
        {"learning_rate": [0.01, 0.001]}
else:  # another task: its first float parameter, at its default and half of it
    params = client.task(TASK)["params"]
    name = next(n for n, p in params.items() if p["type"] == "float" and not p.get("when"))
    base, grid = {}, {name: [params[name]["default"], params[name]["default"] / 2]}
iids = client.sweep(base, grid, task=TASK)
records = client.wait(iids)
print([r["status"] for r in records])

# %% [markdown]
# ## The table as a DataFrame
# The same rows, in the same order, as the dashboard sorted by the task's primary metric.

# %%
primary = client.task(TASK)["primary"]
df = client.experiments(sort=primary, task=TASK)
df[["iid", "status", *grid, primary, f"best_{primary}", "runtime"]].head(10)

# %%
history = client.history(iids)
history.pivot(index="epoch", columns="iid", values=primary)

# %% [markdown]
# ## Track a loop that runs here
# The run shows live in the dashboard (task `notebook-demo`) with its curves.
# Leaving the block marks it done; an exception marks it failed. Cancel it in
# the dashboard and `run.should_stop()` turns true.

# %%
with client.start_run(task="notebook-demo", hyper_params={"lr": 0.05, "width": 64},
                      num_epochs=5) as run:
    for epoch in range(1, 6):
        if run.should_stop():
            break
        time.sleep(0.2)  # your training step here
        run.log(epoch, {"loss": math.exp(-0.05 * 10 * epoch), "val_acc": 80 + 3 * epoch})
print(run.iid, client.status(run.iid)["status"])
client.history(run.iid)
