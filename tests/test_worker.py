"""Worker tests: the real store and server, a fake task (its train reports through a Run)."""
from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter

import pytest

from fakes import FakeClock, FakeTrain, epoch_metrics, fake_task
from helpers import DiskCannotWrite, wait_for
from mltrack.embedded import EmbeddedRedis
from mltrack.params import HyperParams
from mltrack.store import Status, Store
from mltrack.worker import Worker, WorkerConfig

FAST = WorkerConfig(lease=3.0, idle_poll=0.02, progress_every=0.05)


def in_thread(worker: Worker, once: bool = True) -> threading.Thread:
    thread = threading.Thread(target=worker.run_once if once else worker.run, daemon=True)
    thread.start()
    return thread


def test_an_empty_queue_runs_nothing(store):
    assert Worker(store, fake_task(FakeTrain()), config=FAST).run_once() is False


def test_a_job_runs_to_done_with_every_epoch_once(store, redis_client):
    iid = store.create(HyperParams(model="mlp", num_epochs=3))
    fit = FakeTrain()
    assert Worker(store, fake_task(fit), config=FAST).run_once() is True
    job = store.get(iid)
    assert job.status is Status.DONE and job.epochs_done == 3 and job.finished
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3]
    assert job.device == "cpu" and job.precision == "fp32"
    # the checkpoint and the lease go with the job's end
    assert store.checkpoint(iid) is None
    assert redis_client.zscore("test:leases", iid) is None


def test_a_failing_job_is_failed_and_the_worker_goes_on(store):
    bad = store.create(HyperParams(model="mlp", num_epochs=3))
    good = store.create(HyperParams(model="mlp", num_epochs=1))
    worker = Worker(store, fake_task(FakeTrain(fail_at_epoch=2)), config=FAST)
    worker.run_once()
    job = store.get(bad)
    assert job.status is Status.FAILED and job.error == "RuntimeError: boom at epoch 2"
    assert "Traceback" in job.traceback and "boom" in job.traceback
    assert job.epochs_done == 1  # the epoch it finished is kept
    worker.run_once()
    assert store.get(good).status is Status.DONE


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_a_task_that_raises_keyboardinterrupt_or_systemexit_fails_its_job_only(store, error):
    def train(params, run):
        raise error("from the task's own code")

    bad = store.create(HyperParams(model="mlp", num_epochs=1))
    good = store.create(HyperParams(model="mlp", num_epochs=1))
    worker = Worker(store, fake_task(train), config=FAST)
    worker.run_once()  # the worker thread lives on
    assert store.get(bad).status is Status.FAILED
    assert store.get(bad).error.startswith(error.__name__)
    worker.stop_event.set()
    assert Worker(store, fake_task(FakeTrain()), config=FAST).run_once()
    assert store.get(good).status is Status.DONE


def test_cancel_of_a_running_job_stops_it_within_a_batch(store):
    iid = store.create(HyperParams(model="mlp", num_epochs=50))
    fit = FakeTrain(batches=4, batch_seconds=0.02)
    thread = in_thread(Worker(store, fake_task(fit), config=FAST))
    wait_for(lambda: store.get(iid).epochs_done >= 2)
    assert store.cancel(iid) is Status.RUNNING
    thread.join(30)  # (returns as soon as it ends)
    assert not thread.is_alive()
    job = store.get(iid)
    assert job.status is Status.CANCELLED and 2 <= job.epochs_done < 50
    assert len(store.epochs(iid)) == job.epochs_done


def test_progress_and_time_left_are_stored_while_running(store):
    iid = store.create(HyperParams(model="mlp", num_epochs=3))
    thread = in_thread(Worker(store, fake_task(FakeTrain(batches=20, batch_seconds=0.03)),
                              config=FAST))
    progress = wait_for(lambda: store.get(iid).progress)
    assert progress["batches"] == 20 and 1 <= progress["batch"] <= 20 and progress["epoch"] >= 1
    progress = wait_for(lambda: (store.get(iid).progress or {}).get("eta_seconds") and
                        store.get(iid).progress)
    assert progress["eta_seconds"] > 0 and progress["at"] <= time.time()
    thread.join(10)
    assert store.get(iid).progress is None  # gone with the run


def record_progress(store, monkeypatch, clock) -> list[tuple[float, dict]]:
    """(time, progress) of every heartbeat the worker sends."""
    beats = []
    real = store.heartbeat
    monkeypatch.setattr(store, "heartbeat", lambda *a, **k: beats.append(
        (clock(), k.get("progress"))) or real(*a, **k))
    return beats


def test_progress_writes_are_throttled(store, monkeypatch):
    iid = store.create(HyperParams(model="mlp", num_epochs=2))
    clock = FakeClock()
    beats = record_progress(store, monkeypatch, clock)
    # an hour's lease: the heartbeat thread stays out of it; 2 epochs of 8
    # batches of 1/8 s on the fake clock, progress written every 0.5 s at most
    config = WorkerConfig(lease=3600, progress_every=0.5)
    fit = FakeTrain(batches=8, batch_seconds=0.125, clock=clock)
    Worker(store, fake_task(fit), config=config, clock=clock).run_once()
    assert store.get(iid).status is Status.DONE
    assert [t - 1000 for t, _ in beats] == [0.125, 0.625, 1.125, 1.625]


def test_time_left_says_estimating_until_enough_of_an_epoch_ran(store, monkeypatch):
    """The first batches carry start-up costs: at batch 1, the old estimate of
    a job that takes 8 s said 127 s."""
    store.create(HyperParams(model="mlp", num_epochs=3))
    clock = FakeClock()
    beats = record_progress(store, monkeypatch, clock)
    config = WorkerConfig(lease=3600, progress_every=0.0)  # every progress line written
    fit = FakeTrain(batches=10, batch_seconds=0.25, clock=clock)
    Worker(store, fake_task(fit), config=config, clock=clock).run_once()
    eta = {(p["epoch"], p["batch"]): p["eta_seconds"] for _, p in beats}
    # epoch 1: estimating for 3 batches and 1 s; then 0.25 s a batch
    assert [eta[1, b] for b in (1, 2, 3)] == [None, None, None]
    assert eta[1, 4] == round(6 * 0.25 + 2 * 2.5, 1) and eta[1, 10] == 2 * 2.5
    # from epoch 2 on, the last whole epoch (2.5 s) is known: an estimate at once
    assert eta[2, 1] == round(9 * 0.25 + 1 * 2.5, 1) and eta[3, 1] == round(9 * 0.25, 1)
    assert all(isinstance(p["at"], float) for _, p in beats)


@pytest.mark.parametrize("metric, value, reason", [
    ("train_loss", math.nan, "diverged at epoch 3: train loss is nan"),
    ("test_loss", math.inf, "diverged at epoch 3: test loss is inf"),
    ("test_accuracy", -math.inf, "diverged at epoch 3: test accuracy is -inf"),
    ("grad_norm", math.nan, "diverged at epoch 3: grad norm is nan"),  # any task's metric
])
def test_a_diverged_run_fails_with_the_reason_and_keeps_its_finite_epochs(
        store, metric, value, reason):
    task = fake_task(FakeTrain(diverge_at=3, metric=metric, value=value), name="custom",
                     extra_metrics=("grad_norm",))
    iid = store.create(HyperParams(model="mlp", num_epochs=5), schema=task.schema)
    after = store.create(HyperParams(model="mlp", num_epochs=1), schema=task.schema)
    worker = Worker(store, task, config=FAST)
    worker.run_once()
    job = store.get(iid)
    assert job.status is Status.FAILED and job.error == reason
    assert not job.traceback  # the reason says it all
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2]  # not the non-finite one
    assert job.epochs_done == 2 and job.metrics["train_loss"] == epoch_metrics(2)["train_loss"]
    worker.run_once()
    assert store.get(after).status is Status.DONE


def test_a_stopping_worker_returns_its_job_and_the_next_resumes_it(store):
    iid = store.create(HyperParams(model="mlp", num_epochs=6))
    stop = threading.Event()
    fit = FakeTrain(batches=5, batch_seconds=0.01)
    thread = in_thread(Worker(store, fake_task(fit), config=FAST, stop_event=stop))
    wait_for(lambda: store.get(iid).epochs_done >= 2)
    stop.set()
    thread.join(5)
    job = store.get(iid)
    assert job.status is Status.WAITING and store.checkpoint(iid) is not None
    assert store.queue_length() == 1
    done_before = job.epochs_done
    Worker(store, fake_task(fit), config=FAST).run_once()
    assert fit.runs[-1] == (0, done_before + 1)  # resumed after the last recorded epoch
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4, 5, 6]
    assert store.get(iid).status is Status.DONE


def test_a_job_taken_over_refuses_the_old_workers_writes(store):
    iid = store.create(HyperParams(model="mlp", num_epochs=4))
    gate = threading.Event()

    class Paused(FakeTrain):
        """Pauses after epoch 1, as a SIGSTOPped process would."""

        def __call__(self, params, run):
            log = run.log

            def pausing(epoch, metrics, checkpoint=None):
                log(epoch, metrics, checkpoint)
                if epoch == 1:
                    gate.wait(60)
            run.log = pausing
            return super().__call__(params, run)

    # every epoch; a lease that a busy machine cannot outlast between the epoch and
    # the first reap below (which must find it within its lease)
    config = WorkerConfig(lease=10.0, idle_poll=0.02, checkpoint_every=0)
    old = Worker(store, fake_task(Paused()), name="old", config=config)
    old._heartbeat = lambda job: None  # its heartbeat is frozen too
    thread = in_thread(old)
    wait_for(lambda: store.get(iid).epochs_done == 1)
    assert store.reap() == {}  # within its lease
    # the reaper as it runs a minute later: the lease has run out
    assert store.reap(now=time.time() + 60) == {iid: Status.WAITING}
    new_fit = FakeTrain()
    Worker(store, fake_task(new_fit), name="new", config=config).run_once()
    assert new_fit.runs == [(0, 2)]
    gate.set()  # the old worker wakes up and tries to record epoch 2
    thread.join(5)
    job = store.get(iid)
    assert job.status is Status.DONE and job.attempts == 2 and job.worker == "new"
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4]


def test_a_job_lost_three_times_is_failed(store):
    iid = store.create(HyperParams(model="mlp"))
    for attempt in (1, 2, 3):
        claim = store.claim("doomed", lease=1.0)
        assert (claim.iid, claim.attempt) == (iid, attempt)
        expected = Status.FAILED if attempt == 3 else Status.WAITING
        assert store.reap(now=time.time() + 10) == {iid: expected}
    job = store.get(iid)
    assert job.status is Status.FAILED and "lost 3 times" in job.error
    assert store.queue_length() == 0


def test_a_thousand_tiny_jobs_through_four_workers_run_once_each(redis_server):
    store = Store.from_url(redis_server.url, "thousand:")
    iids = store.create_many([HyperParams(model="mlp", num_epochs=1, seed=n)
                              for n in range(1000)])
    fit = FakeTrain(batches=1)
    stop = threading.Event()
    workers = [Worker(store, fake_task(fit), name=f"w{n}", config=FAST, stop_event=stop)
               for n in range(4)]
    threads = [in_thread(w, once=False) for w in workers]
    wait_for(lambda: store.counts()["done"] == 1000, timeout=120, step=0.2)
    stop.set()
    for t in threads:
        t.join(5)
    runs = Counter(seed for seed, _ in fit.runs)
    assert len(runs) == 1000 and set(runs.values()) == {1}
    assert sum(w.jobs_done for w in workers) == 1000
    assert all(w.jobs_done > 0 for w in workers)
    assert all(len(store.epochs(i)) == 1 for i in iids[::50])
    store.redis.flushdb()


def test_the_job_survives_a_restart_of_the_database(tmp_path):
    server = EmbeddedRedis(tmp_path).start()
    try:
        store = Store.from_url(server.url, "restart:")
        iid = store.create(HyperParams(model="mlp", num_epochs=6))
        clock, stop = FakeClock(), threading.Event()
        worker = Worker(store, fake_task(FakeTrain(batches=5, batch_seconds=0.04)), config=FAST,
                        stop_event=stop, clock=clock, wait=clock.wait_until(stop))
        thread = in_thread(worker)
        wait_for(lambda: store.get(iid).epochs_done >= 1)
        server.stop()
        # the worker trains on, and its writes wait, longer each time
        wait_for(lambda: len(clock.waits) >= 4)
        server.start()
        thread.join(30)
        assert not thread.is_alive()
        job = store.get(iid)
        assert job.status is Status.DONE
        assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4, 5, 6]
        for n, expected in enumerate([0.25, 0.5, 1.0, 2.0]):
            assert 0.8 * expected <= clock.waits[n] <= 1.2 * expected  # with jitter
        assert max(clock.waits) <= 1.2 * FAST.backoff_max
    finally:
        server.stop()


def test_a_stop_ends_the_wait_for_a_dead_database_at_once(tmp_path, caplog):
    """The retry sleep ignored the stop: SIGTERM with the database down took 61 s."""
    server = EmbeddedRedis(tmp_path).start()
    try:
        store = Store.from_url(server.url, "deadstop:")
        iid = store.create(HyperParams(model="mlp", num_epochs=50))
        stop = threading.Event()
        thread = in_thread(Worker(store, fake_task(FakeTrain(batches=4, batch_seconds=0.02)),
                                  config=WorkerConfig(backoff_max=600), stop_event=stop),
                           once=False)
        wait_for(lambda: store.get(iid).epochs_done >= 1)
        server.stop()
        # it waits to write an epoch
        wait_for(lambda: re.search(r"job \w+: .*database.*; retrying", caplog.text))
        stop.set()
        thread.join(30)  # its retry sleep is up to 600 s: a stop must end it
        assert not thread.is_alive(), "the worker still waits for the database"
        assert "goes back to the queue when its lease runs out" in caplog.text
        server.start()  # the job was left as it was: its lease brings it back
        assert store.get(iid).status is Status.RUNNING
        assert store.reap(now=time.time() + 60) == {iid: Status.WAITING}
    finally:
        server.stop()


def test_no_thread_dies_while_the_database_cannot_write(tmp_path, caplog):
    """MISCONF (a full or read-only disk) mid-run: the heartbeat thread died and
    the job failed with a ResponseError. Now everything waits until it can write."""
    server = EmbeddedRedis(tmp_path).start()
    try:
        store = Store.from_url(server.url, "misconf:")
        iid = store.create(HyperParams(model="mlp", num_epochs=4))
        stop = threading.Event()
        config = WorkerConfig(lease=1.2, idle_poll=0.02, progress_every=0.05)
        worker = Worker(store, fake_task(FakeTrain(batches=5, batch_seconds=0.05)), config=config,
                        stop_event=stop)
        thread = in_thread(worker, once=False)
        wait_for(lambda: store.get(iid).epochs_done >= 1)
        with DiskCannotWrite(server.redis_dir, server.url):
            wait_for(lambda: "heartbeat failed" in caplog.text and "MISCONF" in caplog.text)
            wait_for(lambda: "cannot take a write" in caplog.text)
            beats = [t for t in threading.enumerate() if t.name == f"heartbeat-{iid[:8]}"]
            assert beats and beats[0].is_alive(), "the heartbeat thread died"
            time.sleep(2 * config.heartbeat)  # a few more failed rounds
            assert beats[0].is_alive() and thread.is_alive()
        wait_for(lambda: store.get(iid).status is Status.DONE)
        assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4]
        later = store.create(HyperParams(model="mlp", num_epochs=1))
        wait_for(lambda: store.get(later).status is Status.DONE)  # the loop goes on
        stop.set()
        thread.join(10)
    finally:
        server.stop()


def test_workers_are_listed_while_alive(store):
    stop = threading.Event()
    worker = Worker(store, fake_task(FakeTrain()), name="host:1:worker-1", config=FAST,
                    stop_event=stop)
    thread = in_thread(worker, once=False)
    listed = wait_for(lambda: store.live_workers())
    assert listed[0]["id"] == "host:1:worker-1" and listed[0]["host"] == "host"
    assert listed[0]["pid"] == 1  # a number, not the string "1"
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert store.live_workers() == []


def test_a_dead_workers_registration_expires(store):
    # (0.2 s was less than a busy machine may take between these two lines)
    store.register_worker("gone", {"id": "gone"}, ttl=2)
    assert [w["id"] for w in store.live_workers()] == ["gone"]
    wait_for(lambda: store.live_workers() == [])


def test_jobs_of_a_dead_process_of_this_machine_are_requeued_at_once(store):
    """A restart after kill -9 of mltrack resumed its job only once its lease ran out."""
    import os
    import socket
    import subprocess

    from mltrack.worker import PID_SPACE, requeue_jobs_of_dead_workers

    host = socket.gethostname()
    ended = subprocess.Popen(["true"])
    ended.wait()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        holders = {
            "dead": f"{host}:{ended.pid}:worker-1",
            "alive": f"{host}:{alive.pid}:worker-1",
            "this process": f"{host}:{os.getpid()}:worker-1",
            "another machine": f"elsewhere:{ended.pid}:worker-1",
            # a container sharing the host name: its pids are not ours to look up
            "another pid namespace": f"{host}:{ended.pid}:worker-2",
        }
        jobs = {}
        for what, worker in holders.items():
            jobs[what] = store.create(HyperParams(seed=len(jobs)))
            assert store.claim(worker, lease=3600).iid == jobs[what]
        for what, worker in holders.items():
            space = "pid:[1]" if what == "another pid namespace" else PID_SPACE
            store.register_worker(worker, {"id": worker, "pid_space": space}, ttl=3600)
        tracked, _ = store.start_tracked("script", {"lr": 0.1}, {"loss": "min"}, lease=3600)
        assert store.running_workers() == {**{jobs[w]: holders[w] for w in holders},
                                           tracked: store.get(tracked).worker}
        assert requeue_jobs_of_dead_workers(store) == {jobs["dead"]: Status.WAITING}
        assert store.get(jobs["dead"]).lost == 1
        assert store.queue_length() == 1
        for what in ("alive", "this process", "another machine", "another pid namespace"):
            assert store.get(jobs[what]).status is Status.RUNNING
        assert store.get(tracked).status is Status.RUNNING
        # the dead worker is no longer listed as live (its registration would last an hour)
        assert sorted(w["id"] for w in store.live_workers()) == sorted(
            holders[w] for w in ("alive", "this process", "another machine",
                                 "another pid namespace"))
        # a job claimed meanwhile by another worker keeps its lease
        again = store.claim(f"{host}:{alive.pid}:worker-2", lease=3600)
        assert again.iid == jobs["dead"]
        assert store.expire_leases({jobs["dead"]: holders["dead"]}) == []
        assert requeue_jobs_of_dead_workers(store) == {}
    finally:
        alive.kill()
        alive.wait()


def test_the_reaper_says_whose_lease_ran_out(store, caplog):
    """A script's lost run was logged as 'lost its worker': it has none."""
    from mltrack.worker import reap

    store.create(HyperParams())
    queued = store.claim("w1", lease=5, now=1000.0).iid
    tracked, _ = store.start_tracked("script", {"lr": 0.1}, {"loss": "min"}, lease=5,
                                     now=1000.0)
    store.redis.zadd(store.keys.leases, {queued: 0, tracked: 0})  # both ran out long ago
    with caplog.at_level("WARNING", logger="mltrack.worker"):
        reap(store, WorkerConfig())
    said = {r.getMessage() for r in caplog.records}
    assert f"job {queued}: its lease ran out (its worker stopped reporting): now waiting" in said
    assert f"job {tracked}: its lease ran out (its script stopped reporting): now failed" in said
