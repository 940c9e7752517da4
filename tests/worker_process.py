"""A worker process for crash tests: the real Worker loop with a fake task.

    python tests/worker_process.py REDIS_URL PREFIX LEASE MODE
MODE: slow (epochs of 10 batches x 50 ms) or suicide (the process kills itself
with SIGKILL as soon as it starts a job).
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeTrain, fake_task  # noqa: E402

from mltrack.store import Store  # noqa: E402
from mltrack.worker import Worker, WorkerConfig, worker_id  # noqa: E402


def main() -> None:
    url, prefix, lease, mode = sys.argv[1:5]
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if mode == "suicide":
        def train(params, run):
            os.kill(os.getpid(), signal.SIGKILL)
    else:
        train = FakeTrain(batches=10, batch_seconds=0.05)
    worker = Worker(Store.from_url(url, prefix), fake_task(train), name=worker_id("proc"),
                    # a checkpoint every epoch: a crash resumes after the last epoch recorded
                    config=WorkerConfig(lease=float(lease), idle_poll=0.05, checkpoint_every=0),
                    stop_event=stop)
    print("worker ready", flush=True)
    worker.run()


if __name__ == "__main__":
    main()
