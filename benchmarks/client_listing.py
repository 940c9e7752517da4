"""Client().experiments() over 10,000 jobs against the same listing fetched page
by page with raw HTTP (requests).

The jobs are created directly in the store (half of them with a recorded
epoch, so metric columns hold values); a real mltrack process (--workers 0)
serves them from that database, so the server's time is not the benchmark's
process's. Each way is run `--repeat` times, interleaved; medians.

    python benchmarks/client_listing.py [--jobs 10000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from mltrack.client import Client
from mltrack.embedded import EmbeddedRedis
from mltrack.params import MNIST, HyperParams
from mltrack.store import Store

REPO = Path(__file__).resolve().parent.parent


def fill(store: Store, n: int, rng: random.Random) -> None:
    for start in range(0, n, 1000):
        store.create_many([HyperParams(model=rng.choice(["mlp", "cnn"]), seed=start + i,
                                       learning_rate=rng.choice([0.1, 0.01, 0.001]))
                           for i in range(min(1000, n - start))], now=1e9 + start, schema=MNIST)
    for k in range(n // 2):
        claim = store.claim(f"bench-{k}", tasks={"mnist": MNIST})
        acc = rng.uniform(80, 99)
        store.record_epoch(claim.iid, claim.attempt, {
            "epoch": 1, "time_training": rng.uniform(1, 60), "train_loss": rng.uniform(0, 2),
            "train_accuracy": acc - 1, "test_loss": rng.uniform(0, 2), "test_accuracy": acc})


def serve(redis_url: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "mltrack", "--port", "0", "--workers", "0",
                             "--redis-url", redis_url, "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO)
    for line in proc.stdout:
        found = re.search(r"dashboard at (http://\S+)/", line)
        if found:
            # keep reading its log, so that a full pipe never blocks it
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, found.group(1)
    raise SystemExit("mltrack did not start")


def raw_pages(url: str, size: int, sort: str) -> list[dict]:
    """What a hand-written script does: GET /experiments page by page."""
    rows: list[dict] = []
    with requests.Session() as session:
        offset = 0
        while True:
            page = session.get(f"{url}/experiments", params={
                "sort": sort, "limit": size, "offset": offset}, timeout=60).json()
            rows += page["results"]
            offset += size
            if offset >= page["total"]:
                return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sort", default="test_accuracy")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as db:
        t0 = time.perf_counter()
        fill(Store.from_url(db.url), args.jobs, random.Random(0))
        print(f"filled {args.jobs:,} jobs in {time.perf_counter() - t0:.1f} s")
        proc, url = serve(db.url)
        try:
            client = Client(url)
            ways = {
                "raw HTTP, pages of 1000 (baseline)": lambda: raw_pages(url, 1000, args.sort),
                "raw HTTP, pages of 100 (the default)": lambda: raw_pages(url, 100, args.sort),
                "Client().records() (list of dicts)": lambda: client.records(sort=args.sort),
                "Client().experiments() (DataFrame)": lambda: client.experiments(sort=args.sort),
            }
            for way in ways.values():  # warm: imports (pandas), connections, caches
                way()
            times: dict[str, list[float]] = {name: [] for name in ways}
            sizes: dict[str, int] = {}
            for _ in range(args.repeat):
                for name, way in ways.items():
                    t0 = time.perf_counter()
                    result = way()
                    times[name].append(time.perf_counter() - t0)
                    sizes[name] = len(result)
            order = [r["iid"] for r in raw_pages(url, 1000, args.sort)]
            assert list(client.experiments(sort=args.sort)["iid"]) == order
        finally:
            proc.terminate()
            proc.wait(30)
    base = statistics.median(times["raw HTTP, pages of 1000 (baseline)"])
    print(f"\nlisting of {args.jobs:,} jobs sorted by {args.sort}, median of {args.repeat}\n")
    print(f"{'way':<40} {'rows':>7} {'median s':>9} {'ratio':>6}")
    for name, t in times.items():
        median = statistics.median(t)
        print(f"{name:<40} {sizes[name]:>7,} {median:>9.3f} {median / base:>6.2f}")
    print("\nsame order as the raw pages: yes")


if __name__ == "__main__":
    main()
