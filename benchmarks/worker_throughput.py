"""Jobs per minute with 1, 2 and 4 worker threads in one process, the cores
split between them (mltrack's way) or not (each worker's torch using every
core, as before).

Runs real MNIST jobs of the built-in task through real Workers on the
embedded database, as `python -m mltrack --workers N` does.

    python benchmarks/worker_throughput.py [--jobs 8] [--epochs 2] [--model mlp]
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from mltrack.embedded import EmbeddedRedis
from mltrack.mnist import load_mnist
from mltrack.mnist_task import TASK
from mltrack.params import HyperParams
from mltrack.settings import default_data_dir
from mltrack.store import Status, Store
from mltrack.worker import Worker, WorkerConfig, usable_cores, worker_id


def jobs_per_minute(server_url: str, data_dir: Path, workers: int, split: bool, jobs: int,
                    params: HyperParams, prefix: str) -> float:
    store = Store.from_url(server_url, prefix)
    iids = store.create_many([params] * jobs)
    threads_each = max(1, usable_cores() // workers) if split else usable_cores()
    stop = threading.Event()
    started = time.perf_counter()
    threads = []
    for n in range(workers):
        worker = Worker(store, TASK, name=worker_id(f"bench-{n}"), stop_event=stop,
                        config=WorkerConfig(idle_poll=0.05), data_dir=data_dir,
                        device="cpu", cpu_threads=threads_each)
        threads.append(threading.Thread(target=worker.run, daemon=True))
        threads[-1].start()
    while any(job.status is not Status.DONE for job in store.get_many(iids)):
        failed = [j for j in store.get_many(iids) if j.status is Status.FAILED]
        if failed:
            raise SystemExit(f"a job failed: {failed[0].error}")
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join(30)
    return jobs / elapsed * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir() / "mnist")
    args = parser.parse_args()
    params = HyperParams(model=args.model, num_epochs=args.epochs)
    load_mnist(args.data_dir)  # fetched once, before any clock runs
    cores = usable_cores()
    print(f"{args.jobs} {args.model} jobs of {args.epochs} epochs, {cores} cores\n")
    print(f"{'workers':>7} {'cores each':>18} {'jobs/min':>9} {'vs 1 worker':>12}")
    settings = [(1, True), (2, True), (2, False), (4, True), (4, False)]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as server:
        (Path(tmp) / "mnist").symlink_to(args.data_dir.expanduser().resolve())
        baseline = None
        for n, (workers, split) in enumerate(settings):
            rate = jobs_per_minute(server.url, Path(tmp), workers, split, args.jobs, params,
                                   f"bench{n}:")
            baseline = baseline or rate
            each = max(1, cores // workers) if split else cores
            label = f"{each}" + ("" if split else " (all, unsplit)")
            print(f"{workers:>7} {label:>18} {rate:>9.2f} {rate / baseline:>12.2f}")


if __name__ == "__main__":
    main()
