"""What a job's checkpoints cost: store time per epoch, and the data dir's size.

Runs jobs through a real Worker on the embedded database, with a stand-in
train function that logs MLP-sized checkpoints (2.4 MB, as `mnist.fit` makes
for the MLP) and a clock that moves 6 s per epoch (an MLP epoch on a 2-core
machine), so 100 jobs of 10 epochs take seconds, not hours. Two settings in
the same run: every epoch's checkpoint saved under Valkey's default rewrite
threshold (mltrack before --checkpoint-every), and mltrack's defaults.

    python benchmarks/checkpoint_cost.py [--jobs 100] [--epochs 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis

import mltrack
from mltrack.embedded import EmbeddedRedis
from mltrack.store import Store
from mltrack.worker import Worker, WorkerConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes import FakeClock  # noqa: E402  (the tests' clock that moves when told)

CHECKPOINT_BYTES = 2_400_000
EPOCH_SECONDS = 6.0


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def stand_in(clock: FakeClock, record_times: list[float]) -> mltrack.Task:
    blob = os.urandom(CHECKPOINT_BYTES)  # weights do not compress; neither does this

    def train(params, run):
        for epoch in range(run.epochs_done + 1, params["steps"] + 1):
            clock.advance(EPOCH_SECONDS)
            t0 = time.perf_counter()
            run.log(epoch, {"loss": 1 / epoch, "accuracy": 90 + epoch / 10}, checkpoint=blob)
            record_times.append(time.perf_counter() - t0)

    return mltrack.Task("standin", params={"steps": mltrack.Int(10, low=1, high=1000)},
                        metrics=[mltrack.Metric("loss"), mltrack.Metric("accuracy")],
                        epochs="steps", train=train)


def run(jobs: int, epochs: int, every: float, rewrite_min: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as server:
        admin = redis.Redis.from_url(server.url)
        admin.config_set("auto-aof-rewrite-min-size", rewrite_min)
        clock, times = FakeClock(), []
        task = stand_in(clock, times)
        store = Store.from_url(server.url)
        store.register_task(task.schema)
        plain: list[float] = []  # record_epoch calls that carry no checkpoint
        record_epoch = store.record_epoch

        def timed_record_epoch(iid, attempt, metrics, checkpoint=None, **kwargs):
            t0 = time.perf_counter()
            record_epoch(iid, attempt, metrics, checkpoint, **kwargs)
            if checkpoint is None:
                plain.append(time.perf_counter() - t0)
        store.record_epoch = timed_record_epoch
        worker = Worker(store, task, config=WorkerConfig(lease=3600, checkpoint_every=every),
                        clock=clock, data_dir=tmp)
        peak = 0
        for _ in range(jobs):
            store.create({"steps": epochs}, schema=task.schema)
            worker.run_once()
            peak = max(peak, dir_size(Path(tmp) / "redis"))
        time.sleep(1.5)  # an append-only file rewrite in flight finishes
        end = dir_size(Path(tmp) / "redis")
        return {"peak": max(peak, end), "end": end, "median_ms": statistics.median(times) * 1e3,
                "store_ms": statistics.median(plain) * 1e3 if plain else float("nan"),
                "p90_ms": statistics.quantiles(times, n=10)[-1] * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    settings = [("every epoch, rewrite at 64 MB (as before)", 0.0, "64mb"),
                ("every 30 s, rewrite at 16 MB (now)", 30.0, "16mb")]
    print(f"{args.jobs} jobs x {args.epochs} epochs, {CHECKPOINT_BYTES / 1e6:.1f} MB checkpoints, "
          f"{EPOCH_SECONDS:g} s epochs\n")
    print(f"{'setting':<40} {'run.log ms':>10} {'p90 ms':>8} {'store ms':>9} "
          f"{'data dir peak MB':>17} {'at end MB':>10}")
    results = []
    for name, every, rewrite in settings:
        r = run(args.jobs, args.epochs, every, rewrite)
        results.append(r)
        print(f"{name:<40} {r['median_ms']:>10.2f} {r['p90_ms']:>8.2f} {r['store_ms']:>9.2f} "
              f"{r['peak'] / 1e6:>17.1f} "
              f"{r['end'] / 1e6:>10.1f}")
    before, now = results
    print(f"\nnow / before: run.log {now['median_ms'] / before['median_ms']:.2f}, "
          f"data dir peak {now['peak'] / before['peak']:.2f}")
    print("run.log: the whole store write of an epoch as the task sees it (metrics, summary, "
          "indexes,\nand the checkpoint when one is saved); median and 90th percentile. store: "
          "median of the\nrecord_epoch calls without a checkpoint (metrics, summary, indexes)")


if __name__ == "__main__":
    main()
