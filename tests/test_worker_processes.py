"""Workers as real processes, killed and paused with real signals."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from helpers import ChildProcess, wait_for
from mltrack.params import HyperParams
from mltrack.store import Status

HELPER = Path(__file__).parent / "worker_process.py"
LEASE = 1.5


class WorkerProcess(ChildProcess):
    def __init__(self, url: str, prefix: str, mode: str = "slow"):
        super().__init__(str(HELPER), url, prefix, str(LEASE), mode)

    def stop(self) -> None:
        super().stop(timeout=15)


@pytest.fixture
def procs():
    started: list[WorkerProcess] = []
    yield started
    for p in started:
        p.stop()


def test_sigkill_mid_epoch_resumes_elsewhere_from_the_last_epoch(store, redis_server, procs):
    iid = store.create(HyperParams(model="mlp", num_epochs=6))
    procs.append(WorkerProcess(redis_server.url, store.prefix))
    wait_for(lambda: store.get(iid).epochs_done >= 2 and store.get(iid).progress)
    procs[0].proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    done_before = store.get(iid).epochs_done
    procs.append(WorkerProcess(redis_server.url, store.prefix))
    # taken over once the lease has run out (a new Python starts first: seconds on a
    # busy machine, so no duration is asserted; the time is printed)
    wait_for(lambda: store.get(iid).attempts == 2, timeout=60)
    resumed_after = time.monotonic() - killed_at
    wait_for(lambda: store.get(iid).status is Status.DONE)
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4, 5, 6]
    wait_for(lambda: f"runs job {iid} (mnist, attempt 2, resuming after epoch"
             in procs[1].output)  # read from its pipe by a thread
    print(f"\nkill-to-resume: {resumed_after:.2f} s (lease {LEASE} s), "
          f"{done_before} epochs kept")


def test_sigstop_past_the_lease_and_the_stale_worker_is_refused(store, redis_server, procs):
    iid = store.create(HyperParams(model="mlp", num_epochs=5))
    procs.append(WorkerProcess(redis_server.url, store.prefix))
    wait_for(lambda: store.get(iid).epochs_done >= 1)
    procs[0].proc.send_signal(signal.SIGSTOP)
    procs.append(WorkerProcess(redis_server.url, store.prefix))
    wait_for(lambda: store.get(iid).attempts == 2)
    procs[0].proc.send_signal(signal.SIGCONT)  # wakes up still believing it runs the job
    wait_for(lambda: store.get(iid).status is Status.DONE)
    wait_for(lambda: "taken over" in procs[0].output)
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2, 3, 4, 5]
    assert store.get(iid).worker.endswith(f":{procs[1].proc.pid}:proc")


def test_a_job_that_kills_its_worker_every_time_fails_after_three(store, redis_server, procs):
    iid = store.create(HyperParams(model="mlp"))
    for attempt in (1, 2, 3):
        p = WorkerProcess(redis_server.url, store.prefix, mode="suicide")
        procs.append(p)
        assert p.proc.wait(30) == -signal.SIGKILL
        assert store.get(iid).attempts == attempt
        time.sleep(LEASE + 0.1)
    store.reap()  # what the next worker or the dashboard does
    job = store.get(iid)
    assert job.status is Status.FAILED and "lost 3 times" in job.error
