"""Searches through real processes: `python -m mltrack` killed with SIGKILL in
the middle of a search and started again on the same data dir ends with
exactly its trials; a `python -m mltrack worker` on a shared Redis drives a
search and prunes its trials (the study is in that Redis)."""
from __future__ import annotations

import json

import pytest

from helpers import ChildProcess, start_mltrack, wait_for
from mltrack.search import create_search, search_record
from mltrack.search.study import open_study
from mltrack.store import Status, Store
from mltrack.store.searches import SearchStore

# A quadratic with a pause per epoch (so trials are mid-run when mltrack is
# killed), and `ramp` for pruning: its score is q at every epoch.
TASK_FILE = '''
import time
import mltrack

def train(params, run):
    x, start = params["x0"], 1
    if run.checkpoint is not None:
        x, start = float(run.checkpoint.decode()), run.epochs_done + 1
    for epoch in range(start, params["steps"] + 1):
        for _ in range(4):
            if run.should_stop():
                return
            time.sleep(params["pause"] / 4)
        x -= params["lr"] * 2 * x
        run.log(epoch, {"loss": x * x}, checkpoint=str(x).encode())

task = mltrack.Task(
    name="slowquad",
    params={"x0": mltrack.Float(3.0, low=-10, high=10),
            "lr": mltrack.Float(0.1, low=1e-4, high=1, log=True),
            "steps": mltrack.Int(3, low=1, high=100),
            "pause": mltrack.Float(0.0, low=0, high=5)},
    metrics=[mltrack.Metric("loss", goal="min")], epochs="steps", train=train)

def ramp_train(params, run):
    for epoch in range(run.epochs_done + 1, params["rounds"] + 1):
        for _ in range(4):
            if run.should_stop():
                return
            time.sleep(0.01)
        run.log(epoch, {"score": params["q"]})

ramp = mltrack.Task(name="ramp", params={"q": mltrack.Float(0.5, low=0, high=1),
                                         "rounds": mltrack.Int(4, low=1, high=20)},
                    metrics=[mltrack.Metric("score", goal="max")], train=ramp_train,
                    epochs="rounds")
'''


@pytest.fixture
def task_file(tmp_path):
    path = tmp_path / "search_tasks.py"
    path.write_text(TASK_FILE)
    return path


@pytest.fixture
def started():
    running: list = []
    yield running
    for proc in running:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def test_kill_9_of_mltrack_mid_search_then_restart_runs_exactly_its_trials(tmp_path, task_file,
                                                                          started):
    data_dir = tmp_path / "data"
    args = ("--task", f"{task_file}:task", "--workers", "2", "--lease", "1.5")
    app = start_mltrack(data_dir, *args)
    started.append(app.proc)
    answer = app.post("/searches", {"task": "slowquad", "trials": 8, "parallel": 2,
                                    "space": {"lr": {"low": 0.01, "high": 0.5, "log": True}},
                                    "fixed": {"pause": 0.4}})
    assert answer.status_code == 201, answer.text
    search_id = answer.json()["id"]
    # killed with trials done, trials running and trials not asked yet
    before = wait_for(lambda: (lambda r: r if r["finished"] >= 2 and r["running"] >= 1 else None)(
        app.get(f"/searches/{search_id}").json()), timeout=60, step=0.05)
    assert before["started"] < 8
    app.proc.kill()
    app.proc.wait(10)
    again = start_mltrack(data_dir, *args)
    started.append(again.proc)
    done = wait_for(lambda: (lambda r: r if r["status"] == "done" else None)(
        again.get(f"/searches/{search_id}").json()), timeout=90, step=0.2)
    assert done["started"] == done["finished"] == done["done"] == 8 and len(done["iids"]) == 8
    assert done["iids"][:before["started"]] == before["iids"]
    listed = again.get(f"/experiments?search={search_id}&limit=100").json()
    assert listed["total"] == 8 and {j["iid"] for j in listed["results"]} == set(done["iids"])
    assert again.get("/experiments?task=slowquad").json()["total"] == 8  # no job beside them
    assert max(j["attempts"] for j in listed["results"]) >= 2  # a trial resumed after the kill
    assert all(j["epochs_done"] == 3 for j in listed["results"])
    # Optuna: each trial told once, with its job's last loss
    store = Store.from_url(f"unix://{data_dir / 'redis' / 'valkey.sock'}")
    trials = open_study(store, search_id, SearchStore(store).get(search_id)["spec"]).trials
    complete = {t.number: t.value for t in trials if t.state.name == "COMPLETE"}
    assert len(complete) == 8
    assert all(t.state.name in ("COMPLETE", "FAIL") for t in trials)
    assert sorted(complete.values()) == sorted(j["loss"] for j in listed["results"])
    store.redis.close()


def test_a_worker_process_drives_a_search_and_prunes_its_trials(store, redis_server, task_file,
                                                                started):
    worker = ChildProcess("-m", "mltrack", "worker", "--redis-url", redis_server.url,
                          "--key-prefix", store.prefix, "--task", f"{task_file}:ramp",
                          "--lease", "2")
    started.append(worker.proc)
    wait_for(lambda: "ramp" in store.schemas(), timeout=60, step=0.1)
    record = create_search(store, None, {
        "task": "ramp", "space": {"q": {"low": 0.0, "high": 1.0}}, "fixed": {"rounds": 4},
        "trials": 12, "sampler": "random", "parallel": 1, "pruner": "median", "seed": 7})
    done = wait_for(lambda: (lambda r: r if r["status"] == "done" else None)(
        search_record(store, record["id"])), timeout=90, step=0.2)
    assert done["started"] == done["finished"] == 12, json.dumps(done)
    jobs = store.get_many(done["iids"])
    pruned = [j for j in jobs if j.status is Status.PRUNED]
    assert len(pruned) >= 2 and done["pruned"] == len(pruned)
    assert all(j.epochs_done == 1 < j.num_epochs for j in pruned)
    states = {t.number: t.state.name for t in open_study(
        store, record["id"], SearchStore(store).get(record["id"])["spec"]).trials}
    assert all(states[j.trial] == "PRUNED" for j in pruned)
    assert all(states[j.trial] == "COMPLETE" for j in jobs if j.status is Status.DONE)
