"""Submit -> started: how long a queued job waits for an idle worker of the same
process, woken by the store's on_queued hook (mltrack's way) against one that
only polls the queue every 0.5 s (the baseline, measured in the same run; a
worker in another process on a shared Redis still works this way).

A trivial task (its train returns at once) on the embedded database, so the
figure is the pick-up alone. Jobs are queued at arbitrary moments against the
poll (0.137 s apart), as a person clicking Submit would.

    python benchmarks/pickup_latency.py [--jobs 20]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time

import mltrack
from mltrack.embedded import EmbeddedRedis
from mltrack.store import Store
from mltrack.worker import Worker, WorkerConfig, start_workers

started: dict[int, float] = {}


def train(params, run) -> None:
    started[params["n"]] = time.perf_counter()


TASK = mltrack.Task(name="pickup", params={"n": mltrack.Int(0, low=0, high=10**6)},
                    metrics=[mltrack.Metric("loss", goal="min")], train=train)


def pickup_ms(store: Store, jobs: int, offset: int) -> list[float]:
    """Milliseconds from each create to its train starting."""
    out = []
    for n in range(offset, offset + jobs):
        time.sleep(0.137)  # an arbitrary phase against the 0.5 s poll
        queued = time.perf_counter()
        store.create({"n": n}, schema=TASK.schema)
        while n not in started:
            time.sleep(0.0002)
        out.append((started[n] - queued) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    config = WorkerConfig(idle_poll=0.5)  # the default
    with tempfile.TemporaryDirectory() as data, EmbeddedRedis(data) as db:
        store = Store.from_url(db.url, "bench:")
        store.register_task(TASK.schema)
        stop = threading.Event()
        threads = start_workers(store, {TASK.name: TASK}, 1, stop, config, data_dir=data)
        woken = pickup_ms(store, args.jobs, 0)
        stop.set()
        for thread in threads:
            thread.join()
        stop = threading.Event()  # a worker with no wake-up: it polls
        polling = Worker(store, TASK, config=config, stop_event=stop, data_dir=data)
        thread = threading.Thread(target=polling.run, daemon=True)
        thread.start()
        polled = pickup_ms(store, args.jobs, args.jobs)
        stop.set()
        thread.join()
    print(f"| submit -> started, median of {args.jobs} (p90) | polling every 0.5 s | woken "
          "| ratio |")
    print("|---|---|---|---|")
    p90 = lambda xs: statistics.quantiles(xs, n=10)[-1]  # noqa: E731
    print(f"| an idle worker in the same process | {statistics.median(polled):.1f} ms "
          f"({p90(polled):.0f}) | {statistics.median(woken):.1f} ms ({p90(woken):.0f}) | "
          f"{statistics.median(polled) / statistics.median(woken):.0f}x |")


if __name__ == "__main__":
    main()
