"""A worker runs any mltrack.Task: what train(params, run) reports through the
Run becomes store writes, checked against the task's declared metrics."""
from __future__ import annotations

import logging
import threading
import time

import pytest

import mltrack
from fakes import FakeClock
from helpers import wait_for
from mltrack.params import MNIST_METRICS, MNIST_PARAMS, HyperParams
from mltrack.store import Status
from mltrack.worker import (Worker, WorkerConfig, pack_checkpoint, register_tasks, start_workers,
                            unpack_checkpoint)

FAST = WorkerConfig(lease=3.0, idle_poll=0.02, progress_every=0.0)


def make_task(train, name="toy", epochs="steps", **params):
    return mltrack.Task(
        name=name,
        params={"steps": mltrack.Int(4, low=1, high=100),
                "lr": mltrack.Float(0.5, low=0, high=1), **params},
        metrics=[mltrack.Metric("loss", goal="min"), mltrack.Metric("score")],
        epochs=epochs, train=train)


def run_one(store, task, params=None, **kwargs):
    store.register_task(task.schema)
    iid = store.create(params or {}, schema=task.schema)
    worker = Worker(store, task, config=kwargs.pop("config", FAST), **kwargs)
    assert worker.run_once() is True
    return iid, store.get(iid)


def steps(params, run):
    """Counts down `steps` epochs; its state is the epoch it is at."""
    start = int(run.checkpoint) + 1 if run.checkpoint is not None else 1
    for epoch in range(start, params["steps"] + 1):
        if run.should_stop():
            return
        run.progress(1, 1)
        run.log(epoch, {"loss": 1 / epoch, "score": epoch * params["lr"]},
                checkpoint=str(epoch).encode())


def test_a_task_of_its_own_runs_to_done_with_its_metrics(store):
    iid, job = run_one(store, make_task(steps), {"steps": 3})
    assert job.status is Status.DONE and job.task == "toy"
    epochs = store.epochs(iid)
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert [e["loss"] for e in epochs] == [1, 0.5, 1 / 3]
    assert job.metrics == {"loss": 1 / 3, "score": 1.5}
    assert job.best == {"loss": 1 / 3, "score": 1.5}  # each by its own goal
    assert all(e["time_training"] >= 0 for e in epochs)
    assert "toy" in store.schemas()  # registered by the worker


def test_the_worker_says_which_tasks_it_runs(store):
    stop = threading.Event()
    worker = Worker(store, [make_task(steps), make_task(steps, name="other")], config=FAST,
                    stop_event=stop)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    listed = wait_for(lambda: store.live_workers())
    assert listed[0]["tasks"] == ["other", "toy"]
    assert {"toy", "other"} <= set(store.schemas())
    stop.set()
    thread.join(5)


def test_a_worker_claims_only_jobs_of_its_tasks(store):
    task = make_task(steps)
    store.register_task(task.schema)
    mnist_job = store.create(HyperParams(num_epochs=1))
    toy_job = store.create({"steps": 1}, schema=task.schema)
    worker = Worker(store, task, config=FAST)
    assert worker.run_once() is True and worker.run_once() is False
    assert store.get(toy_job).status is Status.DONE
    assert store.get(mnist_job).status is Status.WAITING  # waits for a worker that has mnist


def test_a_different_schema_of_the_same_name_is_warned_of(store, caplog):
    store.register_task(make_task(steps).schema)
    changed = make_task(steps, extra=mltrack.Bool(False))
    with caplog.at_level(logging.WARNING):
        register_tasks(store, [changed])
    assert "task toy: its schema differs from the one registered before" in caplog.text
    assert "extra" in store.schemas()["toy"].params  # the running code's schema wins


@pytest.mark.parametrize("logged, reason", [
    ({"loss": 1.0, "acc": 0.5}, "run.log: metric 'acc' is not declared by task toy (it "
                                "declares loss, score; add mltrack.Metric('acc'))"),
    ({"loss": "0.5"}, "run.log: metric loss at epoch 1 must be a number, got str '0.5'"),
    ({"loss": None}, "run.log: metric loss at epoch 1 must be a number, got NoneType None"),
    ({"loss": True}, "run.log: metric loss at epoch 1 must be a number, got bool True"),
    ({}, "run.log: epoch 1 has no metrics (task toy declares loss, score)"),
])
def test_a_metric_against_the_declaration_fails_the_job_naming_it(store, logged, reason):
    def train(params, run):
        run.log(1, logged)

    iid, job = run_one(store, make_task(train))
    assert job.status is Status.FAILED and job.error == reason
    assert "in train" in job.traceback  # where the task called it
    assert store.epochs(iid) == []


def test_a_task_that_swallows_the_error_still_fails(store):
    def train(params, run):
        for epoch in (1, 2):
            try:
                run.log(epoch, {"loss": 1.0, "bogus": 2.0})
            except Exception:
                pass

    _, job = run_one(store, make_task(train))
    assert job.status is Status.FAILED and "'bogus' is not declared" in job.error


@pytest.mark.parametrize("epochs, reason", [
    ((1, 3), "run.log: epoch 3 logged, but epoch 2 comes next"),
    ((1, 1), "run.log: epoch 1 logged, but epoch 2 comes next"),
    ((0,), "run.log: epoch 0 logged, but epoch 1 comes next"),
    ((1.5,), "run.log: epoch must be a whole number, got float 1.5"),
])
def test_epochs_out_of_order_fail_the_job(store, epochs, reason):
    def train(params, run):
        for epoch in epochs:
            run.log(epoch, {"loss": 1.0})

    _, job = run_one(store, make_task(train))
    assert job.status is Status.FAILED and job.error.startswith(reason)


def test_a_checkpoint_that_is_not_bytes_fails_the_job(store):
    def train(params, run):
        run.log(1, {"loss": 1.0}, checkpoint="3.0")

    _, job = run_one(store, make_task(train))
    assert job.status is Status.FAILED
    assert job.error.startswith("run.log: checkpoint must be bytes, got str")


def test_numpy_and_torch_scalars_are_numbers(store):
    import numpy as np
    import torch

    def train(params, run):
        run.log(np.int64(1), {"loss": np.float32(0.25), "score": torch.tensor(2.0)})

    iid, job = run_one(store, make_task(train, epochs=None))
    assert job.status is Status.DONE and store.epochs(iid)[0]["score"] == 2.0


def test_an_exception_in_train_fails_the_job_with_its_message_and_traceback(store):
    def train(params, run):
        run.log(1, {"loss": 1.0})
        raise KeyError("weights")

    iid, job = run_one(store, make_task(train))
    assert job.status is Status.FAILED and job.error == "KeyError: 'weights'"
    assert 'raise KeyError("weights")' in job.traceback
    assert job.epochs_done == 1


def test_sys_exit_in_train_fails_the_job_and_not_the_worker(store):
    def train(params, run):
        raise SystemExit(3)

    _, job = run_one(store, make_task(train))
    assert job.status is Status.FAILED and job.error == "SystemExit: 3"


@pytest.mark.parametrize("value", [float("inf"), 10**400])
def test_a_non_finite_metric_fails_the_job_as_diverged(store, value):
    def train(params, run):
        run.log(1, {"loss": 1.0})
        run.log(2, {"loss": value})  # 10**400: past any float, so infinite too

    iid, job = run_one(store, make_task(train))
    assert job.status is Status.FAILED and job.error == "diverged at epoch 2: loss is inf"
    assert not job.traceback and [e["epoch"] for e in store.epochs(iid)] == [1]


def stopping_at(stop: threading.Event, epoch: int):
    """`steps`, with `stop` set once `epoch` is logged (a shutdown mid-run)."""
    def train(params, run):
        log = run.log

        def logging_then_stopping(n, metrics, checkpoint=None):
            log(n, metrics, checkpoint)
            if n == epoch:
                stop.set()
        run.log = logging_then_stopping
        steps(params, run)
    return train


def test_shutdown_returns_the_job_and_the_next_worker_resumes_from_its_checkpoint(store):
    stop = threading.Event()
    iid, job = run_one(store, make_task(stopping_at(stop, 2)), {"steps": 5}, stop_event=stop)
    assert job.status is Status.WAITING and job.epochs_done == 2
    seen = []

    def resume(params, run):
        seen.append((run.checkpoint, run.epochs_done))
        steps(params, run)

    Worker(store, make_task(resume), config=FAST).run_once()
    assert seen == [(b"2", 2)]
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4, 5]
    assert store.get(iid).status is Status.DONE


def test_cancel_mid_run_cancels(store):
    task = make_task(lambda params, run: [time.sleep(0.01) for _ in iter(run.should_stop, True)])
    store.register_task(task.schema)
    iid = store.create({}, schema=task.schema)
    thread = threading.Thread(target=Worker(store, task, config=FAST).run_once, daemon=True)
    thread.start()
    wait_for(lambda: store.get(iid).status is Status.RUNNING)
    store.cancel(iid)
    thread.join(10)
    assert store.get(iid).status is Status.CANCELLED


def test_a_run_that_logged_every_epoch_is_done_even_if_asked_to_stop(store):
    """Asked to stop after its last epoch, it had nothing left to do: done, not requeued."""
    stop = threading.Event()
    _, job = run_one(store, make_task(stopping_at(stop, 3)), {"steps": 3}, stop_event=stop)
    assert job.status is Status.DONE


def test_a_task_without_a_number_of_epochs_is_done_when_train_returns(store):
    def train(params, run):
        for epoch in range(1, 3):
            run.log(epoch, {"loss": 1.0 / epoch})

    iid, job = run_one(store, make_task(train, epochs=None))
    assert job.status is Status.DONE and job.num_epochs is None and job.epochs_done == 2


def test_a_task_that_checkpoints_now_and_then_resumes_at_its_last_checkpoint(store):
    """Checkpoints at epochs 2 and 4 only, stopped after epoch 5: it resumes
    after epoch 4, trains epoch 5 again (its first record stays) and goes on."""
    stop = threading.Event()
    calls = []

    def train(params, run):
        x = float(run.checkpoint) if run.checkpoint is not None else 1.0
        calls.append((run.epochs_done, run.checkpoint))
        for epoch in range(run.epochs_done + 1, params["steps"] + 1):
            if run.should_stop():
                return
            x *= 0.5
            run.log(epoch, {"loss": x}, checkpoint=str(x).encode() if epoch % 2 == 0 else None)
            if epoch == 5 and not stop.is_set() and len(calls) == 1:
                stop.set()

    task = make_task(train)
    iid, job = run_one(store, task, {"steps": 7}, stop_event=stop)
    assert job.status is Status.WAITING and job.epochs_done == 5
    Worker(store, task, config=FAST).run_once()
    assert calls == [(0, None), (4, b"0.0625")]
    epochs = store.epochs(iid)
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5, 6, 7]
    assert [e["loss"] for e in epochs] == [0.5 ** n for n in range(1, 8)]
    assert store.get(iid).status is Status.DONE


def test_a_task_without_checkpoints_starts_over_and_records_each_epoch_once(store):
    stop = threading.Event()

    def train(params, run):
        assert run.checkpoint is None and run.epochs_done == 0
        for epoch in range(1, params["steps"] + 1):
            if run.should_stop():
                return
            run.log(epoch, {"loss": 1.0 / epoch})
            if epoch == 2 and not stop.is_set():
                stop.set()

    task = make_task(train)
    iid, _ = run_one(store, task, {"steps": 4}, stop_event=stop)
    Worker(store, task, config=FAST).run_once()
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4]
    assert store.get(iid).status is Status.DONE


def test_time_training_counts_from_describe_and_adds_up_across_resumes(store):
    clock, stop = FakeClock(), threading.Event()

    def train(params, run):
        clock.advance(100)  # loading data: not training time
        run.describe(device="cpu")
        start = int(run.checkpoint) + 1 if run.checkpoint else 1
        for epoch in range(start, params["steps"] + 1):
            if run.should_stop():
                return
            clock.advance(2.0)
            run.log(epoch, {"loss": 1.0}, checkpoint=str(epoch).encode())
            if epoch == 2:
                stop.set()

    task = make_task(train)
    iid, _ = run_one(store, task, {"steps": 4}, stop_event=stop, clock=clock)
    stop.clear()
    Worker(store, task, config=FAST, clock=clock, stop_event=stop).run_once()
    assert [e["time_training"] for e in store.epochs(iid)] == [2.0, 4.0, 6.0, 8.0]
    assert store.get(iid).runtime == 8.0


def test_progress_gives_a_time_left_over_the_remaining_epochs(store, monkeypatch):
    clock = FakeClock()
    beats = []
    real = store.heartbeat
    monkeypatch.setattr(store, "heartbeat", lambda *a, **k: beats.append(k.get("progress"))
                        or real(*a, **k))

    def train(params, run):
        for epoch in range(1, params["steps"] + 1):
            for batch in range(1, 11):
                clock.advance(0.5)
                run.progress(batch, 10)
            run.log(epoch, {"loss": 1.0})

    run_one(store, make_task(train), {"steps": 3}, clock=clock,
            config=WorkerConfig(lease=3600, progress_every=0.0))
    eta = {(p["epoch"], p["batch"]): p["eta_seconds"] for p in beats}
    assert eta[1, 2] is None  # too early to tell
    assert eta[1, 4] == 6 * 0.5 + 2 * 5.0 and eta[2, 1] == 9 * 0.5 + 5.0
    assert eta[3, 10] == 0


def test_a_stored_checkpoint_from_before_tasks_resumes_after_the_last_epoch(store):
    """Checkpoints written by the worker before tasks had no header: they
    belong to the job's last recorded epoch."""
    iid = store.create(HyperParams(num_epochs=3))
    claim = store.claim("old-mltrack")
    store.record_epoch(iid, claim.attempt, {"epoch": 1, "time_training": 7.5, "loss": 1.0},
                       b"legacy-bytes")
    store.requeue(iid, claim.attempt)
    seen = []

    def train(params, run):
        seen.append((run.checkpoint, run.epochs_done))
        for epoch in range(run.epochs_done + 1, 4):
            run.log(epoch, {"test_accuracy": 90.0})

    task = mltrack.Task(name="mnist", params=MNIST_PARAMS, metrics=MNIST_METRICS,
                        epochs="num_epochs", train=train)
    Worker(store, task, config=FAST).run_once()
    assert seen == [(b"legacy-bytes", 1)]
    epochs = store.epochs(iid)
    assert [e["epoch"] for e in epochs] == [1, 2, 3] and epochs[1]["time_training"] >= 7.5


def test_the_stored_checkpoint_is_the_tasks_bytes_behind_a_header(store):
    stop = threading.Event()
    iid, _ = run_one(store, make_task(stopping_at(stop, 2)), {"steps": 5}, stop_event=stop)
    epoch, time_training, data = unpack_checkpoint(store.checkpoint(iid))
    assert (epoch, data) == (2, b"2") and time_training == store.get(iid).runtime
    blob = pack_checkpoint(7, 1.5, b"\x00\nany bytes")
    assert unpack_checkpoint(blob) == (7, 1.5, b"\x00\nany bytes")
    assert unpack_checkpoint(b"raw bytes of an older mltrack") is None


def test_the_run_gives_a_device_and_a_data_dir_of_the_tasks_own(store, tmp_path):
    seen = {}

    def train(params, run):
        seen.update(device=run.device, data_dir=run.data_dir, logger=run.logger.name)
        (run.data_dir / "cache").write_text("kept between jobs")
        run.log(1, {"loss": 1.0})

    run_one(store, make_task(train, epochs=None), data_dir=tmp_path, device="cpu")
    assert seen == {"device": "cpu", "data_dir": tmp_path / "tasks" / "toy",
                    "logger": "mltrack.task.toy"}
    assert (tmp_path / "tasks" / "toy" / "cache").read_text() == "kept between jobs"


def ten_second_epochs(clock, after_log=lambda epoch: None, seconds=10):
    """`steps` epochs of 10 s each on `clock`; calls after_log(epoch) after each."""
    def train(params, run):
        start = int(run.checkpoint) + 1 if run.checkpoint is not None else 1
        for epoch in range(start, params["steps"] + 1):
            if run.should_stop():
                return
            clock.advance(seconds)
            run.log(epoch, {"loss": 1 / epoch, "score": float(run.epochs_done)},
                    checkpoint=str(epoch).encode())
            after_log(epoch)
    return train


def saved_epoch(store, iid):
    blob = store.checkpoint(iid)
    return None if blob is None else unpack_checkpoint(blob)[0]


@pytest.mark.parametrize("every, steps, expected", [
    # 10 s epochs: saved 30 s and 60 s after the start
    (30, 8, [None, None, 3, 3, 3, 6, 6, 6]),
    # never for the last epoch: the job ends with it
    (30, 6, [None, None, 3, 3, 3, 3]),
    (0, 4, [1, 2, 3, 3]),
])
def test_a_checkpoint_is_saved_at_most_every_checkpoint_every_seconds(store, every, steps,
                                                                       expected):
    clock, saved = FakeClock(), []
    train = ten_second_epochs(clock, lambda epoch: saved.append(saved_epoch(store, iid)))
    task = make_task(train)
    store.register_task(task.schema)
    iid = store.create({"steps": steps}, schema=task.schema)
    config = WorkerConfig(lease=3600, checkpoint_every=every)
    Worker(store, task, config=config, clock=clock, wait=clock.wait_until).run_once()
    assert saved == expected
    assert [e["epoch"] for e in store.epochs(iid)] == list(range(1, steps + 1))  # every one


def test_after_a_kill_9_only_the_epochs_after_the_checkpoint_run_again_each_recorded_once(store):
    """The first worker stops answering after epoch 5 (as a killed process
    would): the next resumes from the checkpoint of epoch 3, trains 4 and 5
    again, keeps their first records (the rule: a recorded epoch is never
    replaced) and records 6 to 8."""
    gate, clock = threading.Event(), FakeClock()

    def freeze_after_5(epoch):
        if epoch == 5:
            gate.wait(10)

    task = make_task(ten_second_epochs(clock, freeze_after_5))
    store.register_task(task.schema)
    iid = store.create({"steps": 8}, schema=task.schema)
    config = WorkerConfig(lease=1.0, idle_poll=0.02, checkpoint_every=30)
    old = Worker(store, task, name="old", config=config, clock=clock)
    old._heartbeat = lambda job: None  # a killed process beats no more
    thread = threading.Thread(target=old.run_once, daemon=True)
    thread.start()
    wait_for(lambda: store.get(iid).epochs_done == 5)
    assert store.reap(now=time.time() + 60) == {iid: Status.WAITING}
    seen, new_clock = [], FakeClock()

    def resume(params, run):
        seen.append(run.epochs_done)
        ten_second_epochs(new_clock, seconds=5)(params, run)  # a quicker machine

    Worker(store, make_task(resume), name="new", config=config, clock=new_clock).run_once()
    gate.set()
    thread.join(10)
    assert seen == [3]
    epochs = store.epochs(iid)
    assert [e["epoch"] for e in epochs] == list(range(1, 9))
    # epochs 4 and 5 as the first worker recorded them (score: epochs done at its start)
    assert [e["score"] for e in epochs] == [0, 0, 0, 0, 0, 3, 3, 3]
    # the training time goes on from the last recorded epoch (50 s), 5 s an epoch
    assert [e["time_training"] for e in epochs] == [10, 20, 30, 40, 50, 55, 60, 65]
    assert store.get(iid).status is Status.DONE


def test_a_graceful_stop_saves_the_checkpoint_held_back(store):
    clock, stop = FakeClock(), threading.Event()
    task = make_task(ten_second_epochs(clock, lambda epoch: epoch == 5 and stop.set()))
    store.register_task(task.schema)
    iid = store.create({"steps": 8}, schema=task.schema)
    config = WorkerConfig(lease=3600, checkpoint_every=30)
    Worker(store, task, config=config, clock=clock, stop_event=stop).run_once()
    assert store.get(iid).status is Status.WAITING
    assert saved_epoch(store, iid) == 5  # not 3, the last one saved on the way


def test_workers_side_by_side_split_the_cores_between_them(store, monkeypatch):
    monkeypatch.setattr("mltrack.worker.usable_cores", lambda: 8)
    seen, stop = [], threading.Event()
    task = make_task(lambda params, run: seen.append(run.cpu_threads))
    store.register_task(task.schema)
    for _ in range(3):
        store.create({}, schema=task.schema)
    threads = start_workers(store, {"toy": task}, 3, stop, FAST)
    wait_for(lambda: len(seen) == 3)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert seen == [2, 2, 2]  # 8 cores // 3 workers
    assert Worker(store, task).cpu_threads == 8  # one worker alone: every core


def test_idle_workers_start_a_job_this_process_queues_without_waiting_for_their_poll(store):
    """With a poll of an hour, only the wake-up can start the jobs: queued one
    by one (the API's create) and through the already-ran check (a transaction)."""
    from mltrack.store import fingerprints

    seen, stop = [], threading.Event()
    task = make_task(lambda params, run: seen.append(params["x"]), x=mltrack.Int(0, low=0, high=9))
    store.register_task(task.schema)
    idle = WorkerConfig(lease=30, idle_poll=3600)
    threads = start_workers(store, {"toy": task}, 2, stop, idle)
    try:
        wait_for(lambda: len(store.live_workers()) == 2)  # both asleep on an empty queue
        store.create({"x": 1}, schema=task.schema)
        wait_for(lambda: seen == [1])
        fingerprints.create_missing(store, task.schema, [task.schema.parse({"x": 2})])
        wait_for(lambda: seen == [1, 2])
    finally:
        stop.set()
        for thread in threads:  # asleep for an hour, they still stop at once
            thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert store.on_queued and not store.on_queued[0](["x"])  # a late call is harmless
    assert store.on_queued == []  # and unhooks the stopped workers


def test_workers_started_again_on_the_same_store_are_woken_too(store):
    """The stopped workers' hook removed itself while the store looped over its
    hooks, and the loop skipped the next one: the new workers' wake-up."""
    seen = []
    task = make_task(lambda params, run: seen.append(params["steps"]))
    store.register_task(task.schema)
    idle = WorkerConfig(lease=30, idle_poll=3600)
    first = threading.Event()
    for thread in start_workers(store, {"toy": task}, 1, first, idle):
        first.set()
        thread.join(30)
    again = threading.Event()
    threads = start_workers(store, {"toy": task}, 1, again, idle)
    try:
        wait_for(lambda: len(store.live_workers()) >= 1)
        store.create({"steps": 3}, schema=task.schema)
        wait_for(lambda: seen == [3])
    finally:
        again.set()
        for thread in threads:
            thread.join(30)


def test_the_mnist_task_trains_with_its_workers_share_of_the_cores(monkeypatch, tmp_path):
    """torch's thread count is set in the worker's own thread (OpenMP keeps it
    per thread), so another worker, or the main thread, keeps its own."""
    import torch
    from mltrack import mnist, mnist_task

    seen = {}

    def fake_fit(*args, **kwargs):
        seen["threads"] = torch.get_num_threads()

    monkeypatch.setattr(mnist, "fit", fake_fit)
    monkeypatch.setattr(mnist, "load_mnist", lambda root, device: None)
    before = torch.get_num_threads()

    class OneThreadRun:
        device, data_dir, cpu_threads, checkpoint = "cpu", tmp_path, 1, None
        describe = log = progress = should_stop = None  # the fake fit calls none

    thread = threading.Thread(target=mnist_task.train, args=(HyperParams().to_dict(),
                                                             OneThreadRun()))
    thread.start()
    thread.join(30)
    assert seen == {"threads": 1}
    assert torch.get_num_threads() == before  # the main thread's is its own


def test_a_one_cycle_run_taken_over_after_a_kill_follows_the_uninterrupted_curve(
        store, monkeypatch):
    """The MNIST task on a small synthetic set (CPU, fp32): the first worker
    stops answering after epoch 2, the next resumes from its checkpoint, and
    the recorded curve is the one a run without the break draws."""
    from mltrack import mnist
    from mltrack.mnist_task import TASK
    from test_mnist import synthetic_arrays

    tiny = mnist.MnistData.from_arrays(*synthetic_arrays())
    monkeypatch.setattr(mnist, "load_mnist", lambda root, device: tiny)
    monkeypatch.setattr(mnist, "fast_precision", lambda device: "fp32")
    # a rate low enough that the loss is still far from 0 after 4 epochs
    params = HyperParams(model="mlp", num_epochs=4, batch_size=64, learning_rate=0.0003,
                         lr_schedule="onecycle", seed=4)
    whole = mnist.fit(params, tiny, precision="fp32")
    iid = store.create(params)
    config = WorkerConfig(lease=1.0, idle_poll=0.02, checkpoint_every=0)
    gate = threading.Event()
    old = Worker(store, TASK, name="old", config=config, device="cpu")
    record = old._record
    old._record = lambda job, values, ckpt: (record(job, values, ckpt),
                                             values["epoch"] == 2 and gate.wait(20))
    old._heartbeat = lambda job: None  # a killed process beats no more
    thread = threading.Thread(target=old.run_once, daemon=True)
    thread.start()
    wait_for(lambda: store.get(iid).epochs_done == 2, timeout=60)
    assert store.reap(now=time.time() + 60) == {iid: Status.WAITING}
    Worker(store, TASK, name="new", config=config, device="cpu").run_once()
    gate.set()
    thread.join(30)
    assert store.get(iid).status is Status.DONE and store.get(iid).attempts == 2
    recorded = store.epochs(iid)
    assert [e["epoch"] for e in recorded] == [1, 2, 3, 4]
    for kept, reference in zip(recorded, whole.epochs):
        assert kept["test_loss"] == pytest.approx(reference["test_loss"], rel=1e-5)
        assert kept["train_accuracy"] == pytest.approx(reference["train_accuracy"], rel=1e-5)
