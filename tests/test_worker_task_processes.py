"""A user's task through the whole product: `python -m mltrack --task file.py:task`
(the dashboard and API) and `python -m mltrack worker --task ...` processes on
one Redis, killed with real signals."""
from __future__ import annotations

import json
import signal
import time
import uuid

import pytest

from helpers import ChildProcess, start_mltrack, wait_for

LEASE = "1.5"
# The quadratic with a pause per epoch (so a worker can be killed
# mid-run) and a trace of which process trained which epoch from where.
TASK_FILE = '''
import json, os, time
import mltrack

TRACE = {trace!r}

def train(params, run):
    x, start = params["x0"], 1
    if run.checkpoint is not None:
        x, start = float(run.checkpoint.decode()), run.epochs_done + 1
    with open(TRACE, "a") as f:
        f.write(json.dumps({{"pid": os.getpid(), "start": start, "x": x}}) + "\\n")
    for epoch in range(start, params["steps"] + 1):
        for part in range(1, 5):
            if run.should_stop():
                return
            time.sleep(params["pause"] / 4)
            run.progress(part, 4)
        x -= params["lr"] * 2 * x
        run.log(epoch, {{"loss": x * x, "x": x}}, checkpoint=str(x).encode())

task = mltrack.Task(
    name="slowquad",
    params={{"x0": mltrack.Float(3.0, low=-10, high=10),
            "lr": mltrack.Float(0.1, low=1e-4, high=1, log=True),
            "steps": mltrack.Int(5, low=1, high=100),
            "pause": mltrack.Float(0.0, low=0, high=5, help="seconds per epoch")}},
    metrics=[mltrack.Metric("loss", goal="min"), mltrack.Metric("x")],
    epochs="steps", train=train)
'''


def losses(x0: float, lr: float, steps: int) -> list[float]:
    out, x = [], x0
    for _ in range(steps):
        x -= lr * 2 * x
        out.append(x * x)
    return out


@pytest.fixture
def task_file(tmp_path):
    trace = tmp_path / "trace.jsonl"
    path = tmp_path / "slowquad_task.py"
    path.write_text(TASK_FILE.format(trace=str(trace)))
    return path, trace


@pytest.fixture
def prefix(redis_server):
    import redis

    name = f"tasks-{uuid.uuid4().hex[:8]}:"
    yield name
    client = redis.Redis.from_url(redis_server.url)
    keys = client.keys(name + "*")
    if keys:
        client.delete(*keys)
    client.close()


class WorkerProcess(ChildProcess):
    """`python -m mltrack worker` on the shared Redis."""

    def __init__(self, url: str, prefix: str, *args: str):
        super().__init__("-m", "mltrack", "worker", "--redis-url", url, "--key-prefix", prefix,
                         "--lease", LEASE, *args)


@pytest.fixture
def started():
    """Processes to stop at the end of a test, whatever happened."""
    running: list = []
    yield running
    for thing in running:
        proc = getattr(thing, "proc", thing)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def status(app, iid):
    return app.get(f"/status/{iid}").json()


def test_a_task_from_a_file_runs_end_to_end(tmp_path, task_file, started):
    path, _ = task_file
    app = start_mltrack(tmp_path / "data", "--task", f"{path}:task")
    started.append(app)
    # the worker thread registers itself just after the server answers
    def slowquad():
        return {t["name"]: t for t in app.get("/tasks").json()["tasks"]}["slowquad"]
    wait_for(lambda: slowquad()["workers"] == 1, timeout=20, step=0.1)
    assert slowquad()["primary"] == "loss"
    bad = app.post("/train", {"task": "slowquad", "hyper_params": {"lr": 5}})
    assert bad.status_code == 400 and bad.json()["field"] == "lr"
    iids = [app.post("/train", {"task": "slowquad", "hyper_params": {"lr": lr, "steps": 4}}
                     ).json()["iid"] for lr in (0.1, 0.3)]
    wait_for(lambda: all(status(app, i)["status"] == "done" for i in iids), timeout=60,
             step=0.1)
    for iid, lr in zip(iids, (0.1, 0.3)):
        body = status(app, iid)
        assert body["task"] == "slowquad" and body["in_update"]["epoch"] == [1, 2, 3, 4]
        assert body["in_update"]["loss"] == pytest.approx(losses(3.0, lr, 4))
    by_loss = app.get("/experiments?task=slowquad&sort=loss").json()["results"]
    assert [r["iid"] for r in by_loss] == [iids[1], iids[0]]  # lower loss first


def test_kill_9_of_a_worker_resumes_the_task_from_its_checkpoint(
        tmp_path, task_file, redis_server, prefix, started):
    path, trace = task_file
    spec = f"{path}:task"
    app = start_mltrack(tmp_path / "data", "--redis-url", redis_server.url, "--key-prefix",
                        prefix, "--workers", "0", "--task", spec)
    started.append(app)
    params = {"x0": 5.0, "lr": 0.05, "steps": 8, "pause": 0.4}
    iid = app.post("/train", {"task": "slowquad", "hyper_params": params}).json()["iid"]
    # a checkpoint every epoch: the resume point is the last epoch recorded
    first = WorkerProcess(redis_server.url, prefix, "--task", spec, "--checkpoint-every", "0")
    started.append(first)
    wait_for(lambda: status(app, iid)["epochs_done"] >= 2 and status(app, iid)["progress"],
             timeout=60, step=0.05)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    kept = status(app, iid)["epochs_done"]
    second = WorkerProcess(redis_server.url, prefix, "--task", spec)
    started.append(second)
    wait_for(lambda: status(app, iid)["status"] == "done", timeout=90, step=0.1)
    body = status(app, iid)
    assert body["in_update"]["epoch"] == list(range(1, 9))  # every epoch once
    assert body["attempts"] == 2
    assert body["in_update"]["loss"] == pytest.approx(losses(5.0, 0.05, 8))
    runs = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [r["pid"] for r in runs] == [first.proc.pid, second.proc.pid]
    # the second process started after the last checkpoint, from its x
    assert runs[1]["start"] == kept + 1
    assert runs[1]["x"] ** 2 == pytest.approx(losses(5.0, 0.05, 8)[kept - 1])
    assert f"resuming after epoch {kept}" in second.output
    times = body["in_update"]["time_training"]
    assert times == sorted(times)


def test_a_job_of_a_task_no_worker_has_waits_and_says_so(
        tmp_path, task_file, redis_server, prefix, started):
    path, _ = task_file
    spec = f"{path}:task"
    app = start_mltrack(tmp_path / "data", "--redis-url", redis_server.url, "--key-prefix",
                        prefix, "--workers", "0", "--task", spec)
    started.append(app)
    mnist_only = WorkerProcess(redis_server.url, prefix)  # a live worker, without slowquad
    started.append(mnist_only)
    wait_for(lambda: app.get("/workers").json()["total"] == 1, timeout=30)
    assert app.get("/workers").json()["workers"][0]["tasks"] == ["mnist"]
    iid = app.post("/train", {"task": "slowquad", "hyper_params": {"steps": 2}}).json()["iid"]
    wait_for(lambda: "mltrack worker" in mnist_only.output)
    time.sleep(1.5)  # three claim rounds of the live worker (it polls every 0.5 s)
    assert status(app, iid)["status"] == "waiting"
    described = app.get("/tasks/slowquad").json()
    assert described["workers"] == 0 and described["waiting"] == 1
    assert described["note"] == "no worker runs task slowquad"
    joined = WorkerProcess(redis_server.url, prefix, "--task", spec)
    started.append(joined)
    wait_for(lambda: status(app, iid)["status"] == "done", timeout=60, step=0.1)
    assert status(app, iid)["worker"].split(":")[1] == str(joined.proc.pid)
    described = app.get("/tasks").json()["tasks"]
    assert {t["name"]: t["note"] for t in described}["slowquad"] is None
