"""The example tasks in examples/, run by a real Worker on the real store: they
train, report progress, and resume from their own checkpoints."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mltrack.store import Status
from mltrack.tasks import load_spec
from mltrack.worker import Worker, WorkerConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONFIG = WorkerConfig(lease=30, idle_poll=0.02, progress_every=0.0)


@pytest.fixture
def one_thread():
    """Tiny models on 2 shared cores: each op would wait for a descheduled
    second thread (100 ms a step instead of 1 ms)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def stop_after(store, monkeypatch, epoch: int) -> threading.Event:
    """A stop event that is set once `epoch` is recorded: the worker is shut
    down there, as by Ctrl-C, and gives its job back."""
    stop = threading.Event()
    real = store.record_epoch

    def record(iid, attempt, metrics, *args, **kwargs):
        real(iid, attempt, metrics, *args, **kwargs)
        if metrics["epoch"] == epoch:
            stop.set()
    monkeypatch.setattr(store, "record_epoch", record)
    return stop


def run_job(store, task, params, tmp_path, **kwargs) -> str:
    store.register_task(task.schema)
    iid = store.create(params, schema=task.schema)
    Worker(store, task, config=CONFIG, data_dir=tmp_path, device="cpu", **kwargs).run_once()
    return iid


def test_the_quadratic_example_descends_and_resumes_from_its_checkpoint(
        store, monkeypatch, tmp_path):
    task, = load_spec(f"{EXAMPLES / 'quadratic.py'}:task")
    params = {"x0": 3.0, "lr": 0.1, "steps": 6}
    expected = [(3.0 * 0.8 ** k) ** 2 for k in range(1, 7)]  # x <- x - 0.2 x
    whole = run_job(store, task, params, tmp_path)
    assert [e["loss"] for e in store.epochs(whole)] == pytest.approx(expected)
    assert store.get(whole).status is Status.DONE

    stop = stop_after(store, monkeypatch, 2)
    iid = run_job(store, task, params, tmp_path, stop_event=stop)
    assert store.get(iid).status is Status.WAITING and store.get(iid).epochs_done == 2
    monkeypatch.undo()
    Worker(store, task, config=CONFIG, data_dir=tmp_path).run_once()
    job = store.get(iid)
    assert job.status is Status.DONE and job.attempts == 2
    epochs = store.epochs(iid)
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5, 6]
    # x went on from the checkpoint (from x0 again, epoch 3 would say 3.0 * 0.8)
    assert [e["loss"] for e in epochs] == pytest.approx(expected)


def test_the_digits_example_learns_reports_progress_and_resumes_exactly(
        store, monkeypatch, tmp_path, one_thread):
    task, = load_spec(f"{EXAMPLES / 'digits.py'}:task")
    params = {"num_epochs": 6, "hidden": 32, "batch_size": 64, "learning_rate": 0.01}
    beats = []
    heartbeat = store.heartbeat
    monkeypatch.setattr(store, "heartbeat", lambda *a, **k: beats.append(k.get("progress"))
                        or heartbeat(*a, **k))
    whole = run_job(store, task, params, tmp_path)
    job = store.get(whole)
    assert job.status is Status.DONE, job.error
    assert job.metrics["val_accuracy"] > 90 and job.best["val_loss"] < 0.5
    assert job.device == "cpu" and job.precision == "fp32"
    progress = [p for p in beats if p]
    assert {p["batches"] for p in progress} == {23}  # 1,437 images, 64 a step
    assert {p["epoch"] for p in progress} == set(range(1, 7))
    uninterrupted = store.epochs(whole)

    stop = stop_after(store, monkeypatch, 3)
    iid = run_job(store, task, params, tmp_path, stop_event=stop)
    assert store.get(iid).status is Status.WAITING and store.get(iid).epochs_done == 3
    monkeypatch.undo()
    Worker(store, task, config=CONFIG, data_dir=tmp_path, device="cpu").run_once()
    resumed = store.epochs(iid)
    assert [e["epoch"] for e in resumed] == [1, 2, 3, 4, 5, 6]
    assert store.get(iid).attempts == 2
    # the model, the optimizer and the batch order came back from the
    # checkpoint: the same numbers as the run that was never stopped
    for a, b in zip(resumed, uninterrupted):
        for metric in ("val_accuracy", "val_loss", "train_loss"):
            assert a[metric] == pytest.approx(b[metric], rel=1e-6, abs=1e-9), (a, b)
    times = [e["time_training"] for e in resumed]
    assert times == sorted(times)  # training time adds up across the two attempts


def readme_task_file() -> str:
    """The task file of the README's "Write your own task", as a reader copies it."""
    text = (EXAMPLES.parent / "README.md").read_text()
    section = text.split("## Write your own task", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_task_file_runs_as_written(store, tmp_path, client):
    path = tmp_path / "mytask.py"
    path.write_text(readme_task_file())
    task, = load_spec(f"{path}:task")
    iid = run_job(store, task, {"lr": 0.25, "steps": 3}, tmp_path)
    assert [e["loss"] for e in store.epochs(iid)] == pytest.approx([2.25, 0.5625, 0.140625])
    job = store.get(iid)
    assert job.status is Status.DONE and job.num_epochs == 3
    # the README's curl bodies, as the API takes them
    one = client.post("/train", json={"task": "quadratic", "hyper_params": {"lr": 0.3,
                                                                            "steps": 20}})
    assert one.status_code == 201, one.json
    sweep = client.post("/sweep", json={"task": "quadratic",
                                        "sweep": {"lr": [0.01, 0.1, 0.3]}})
    assert sweep.status_code == 201 and sweep.json["count"] == 3, sweep.json
    listed = client.get("/experiments?task=quadratic&sort=best_loss").json
    assert listed["results"][0]["iid"] == iid  # the finished job, lowest loss first
