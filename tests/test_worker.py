"""Worker tests: the real store and server, a fake training function."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from fakes import FakeFit
from helpers import wait_for
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
    assert Worker(store, FakeFit(), config=FAST).run_once() is False


def test_a_job_runs_to_done_with_every_epoch_once(store, redis_client):
    iid = store.create(HyperParams(model="mlp", num_epochs=3))
    fit = FakeFit()
    assert Worker(store, fit, config=FAST).run_once() is True
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
    worker = Worker(store, FakeFit(fail_at_epoch=2), config=FAST)
    worker.run_once()
    job = store.get(bad)
    assert job.status is Status.FAILED and job.error == "RuntimeError: boom at epoch 2"
    assert "Traceback" in job.traceback and "boom" in job.traceback
    assert job.epochs_done == 1  # the epoch it finished is kept
    worker.run_once()
    assert store.get(good).status is Status.DONE


def test_cancel_of_a_running_job_stops_it_within_a_batch(store):
    iid = store.create(HyperParams(model="mlp", num_epochs=50))
    fit = FakeFit(batches=4, batch_seconds=0.02)
    thread = in_thread(Worker(store, fit, config=FAST))
    wait_for(lambda: store.get(iid).epochs_done >= 2)
    assert store.cancel(iid) is Status.RUNNING
    thread.join(5)
    assert not thread.is_alive()
    job = store.get(iid)
    assert job.status is Status.CANCELLED and 2 <= job.epochs_done < 50
    assert len(store.epochs(iid)) == job.epochs_done


def test_progress_and_time_left_are_stored_while_running(store):
    iid = store.create(HyperParams(model="mlp", num_epochs=3))
    thread = in_thread(Worker(store, FakeFit(batches=20, batch_seconds=0.03), config=FAST))
    progress = wait_for(lambda: store.get(iid).progress)
    assert progress["batches"] == 20 and 1 <= progress["batch"] <= 20
    assert progress["eta_seconds"] > 0 and progress["epoch"] >= 1
    thread.join(10)
    assert store.get(iid).progress is None  # gone with the run


def test_progress_writes_are_throttled(store, monkeypatch):
    iid = store.create(HyperParams(model="mlp", num_epochs=2))
    beats = []
    real = store.heartbeat
    monkeypatch.setattr(store, "heartbeat", lambda *a, **k: beats.append(time.monotonic())
                        or real(*a, **k))
    config = WorkerConfig(lease=30, progress_every=0.5)
    started = time.monotonic()
    Worker(store, FakeFit(batches=100, batch_seconds=0.01), config=config).run_once()
    seconds = time.monotonic() - started
    assert store.get(iid).status is Status.DONE
    assert len(beats) <= seconds * 2 + 2, (len(beats), seconds)


def test_a_stopping_worker_returns_its_job_and_the_next_resumes_it(store):
    iid = store.create(HyperParams(model="mlp", num_epochs=6))
    stop = threading.Event()
    fit = FakeFit(batches=5, batch_seconds=0.01)
    thread = in_thread(Worker(store, fit, config=FAST, stop_event=stop))
    wait_for(lambda: store.get(iid).epochs_done >= 2)
    stop.set()
    thread.join(5)
    job = store.get(iid)
    assert job.status is Status.WAITING and store.checkpoint(iid) is not None
    assert store.queue_length() == 1
    done_before = job.epochs_done
    Worker(store, fit, config=FAST).run_once()
    assert fit.runs[-1] == (0, done_before + 1)  # resumed after the last recorded epoch
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4, 5, 6]
    assert store.get(iid).status is Status.DONE


def test_a_job_taken_over_refuses_the_old_workers_writes(store):
    iid = store.create(HyperParams(model="mlp", num_epochs=4))
    gate = threading.Event()

    class Paused(FakeFit):
        """Pauses after epoch 1, as a SIGSTOPped process would."""

        def __call__(self, params, **kw):
            on_epoch = kw["on_epoch"]

            def pausing(metrics, ckpt):
                on_epoch(metrics, ckpt)
                if metrics["epoch"] == 1:
                    gate.wait(10)
            return super().__call__(params, **{**kw, "on_epoch": pausing})

    config = WorkerConfig(lease=1.0, idle_poll=0.02)
    old = Worker(store, Paused(), name="old", config=config)
    old._heartbeat = lambda job: None  # its heartbeat is frozen too
    thread = in_thread(old)
    wait_for(lambda: store.get(iid).epochs_done == 1)
    time.sleep(1.2)  # the lease runs out
    assert store.reap() == {iid: Status.WAITING}
    new_fit = FakeFit()
    Worker(store, new_fit, name="new", config=config).run_once()
    assert new_fit.runs == [(0, 2)]
    gate.set()  # the old worker wakes up and tries to record epoch 2
    thread.join(5)
    job = store.get(iid)
    assert job.status is Status.DONE and job.attempts == 2 and job.worker == "new"
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4]


def test_a_job_lost_three_times_is_failed(store):
    iid = store.create(HyperParams(model="mlp"))
    for attempt in (1, 2, 3):
        claim = store.claim("doomed", lease=0.0)
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
    fit = FakeFit(batches=1)
    stop = threading.Event()
    workers = [Worker(store, fit, name=f"w{n}", config=FAST, stop_event=stop) for n in range(4)]
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
        thread = in_thread(Worker(store, FakeFit(batches=5, batch_seconds=0.04), config=FAST))
        wait_for(lambda: store.get(iid).epochs_done >= 1)
        server.stop()
        time.sleep(1.0)  # the worker trains on, and its writes wait
        server.start()
        thread.join(30)
        assert not thread.is_alive()
        job = store.get(iid)
        assert job.status is Status.DONE
        assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4, 5, 6]
    finally:
        server.stop()


def test_workers_are_listed_while_alive(store):
    stop = threading.Event()
    worker = Worker(store, FakeFit(), name="host:1:worker-1", config=FAST, stop_event=stop)
    thread = in_thread(worker, once=False)
    listed = wait_for(lambda: store.live_workers())
    assert listed[0]["id"] == "host:1:worker-1" and listed[0]["host"] == "host"
    stop.set()
    thread.join(5)
    assert store.live_workers() == []


def test_a_dead_workers_registration_expires(store):
    store.register_worker("gone", {"id": "gone"}, ttl=0.2)
    assert [w["id"] for w in store.live_workers()] == ["gone"]
    time.sleep(0.3)
    assert store.live_workers() == []
