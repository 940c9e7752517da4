"""Cost of one listing page (50 jobs) out of 100 jobs against out of 100,000,
sorted by the built-in MNIST task's metrics and by a user task's own metric.

Both stores live in one embedded valkey-server, measured in the same run, so the
ratio is what counts: sorting and paging happen in Redis sorted sets, so a page
should cost about the same whatever the total.

    python benchmarks/list_page.py [--big 100000] [--repeat 200]
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

from mltrack.embedded import EmbeddedRedis
from mltrack import Float, Int, Metric, Schema
from mltrack.params import MNIST, HyperParams
from mltrack.store import Store

# A user's task: its own hyperparameters and metrics (as a task file declares them).
QUADRATIC = Schema("quadratic", {"lr": Float(0.1, low=1e-4, high=1, log=True),
                                 "steps": Int(5, low=1, high=100)},
                   (Metric("loss", goal="min"), Metric("x")), epochs="steps")
SORTS = (("mnist", "created"), ("mnist", "test_accuracy"), ("mnist", "runtime"),
         ("mnist", "train_loss"), ("quadratic", "loss"), ("quadratic", "best_loss"),
         ("quadratic", "lr"))


def fill(store: Store, n: int, rng: random.Random) -> None:
    """n jobs of each task; half of them ran one epoch, so metric indexes hold n/2."""
    store.register_task(QUADRATIC)
    mnist = [HyperParams(model="mlp", seed=i % 1000) for i in range(1000)]
    quadratic = [{"lr": rng.uniform(1e-4, 1)} for _ in range(1000)]
    for start in range(0, n, 1000):
        store.create_many(mnist[: min(1000, n - start)], now=1e9 + start, schema=MNIST)
        store.create_many(quadratic[: min(1000, n - start)], now=1e9 + start,
                          schema=QUADRATIC)
    tasks = {"mnist": MNIST, "quadratic": QUADRATIC}
    for k in range(n):  # the oldest first: half of each task's jobs
        claim = store.claim(f"bench-{k}", tasks=tasks)  # a worker holds one job at a time
        acc = rng.uniform(80, 99)
        metrics = ({"train_loss": rng.uniform(0, 2), "train_accuracy": acc,
                    "test_loss": rng.uniform(0, 2), "test_accuracy": acc}
                   if claim.task == "mnist" else {"loss": rng.uniform(0, 9), "x": rng.uniform(-3, 3)})
        store.record_epoch(claim.iid, claim.attempt, {
            "epoch": 1, "time_training": rng.uniform(1, 60), **metrics})


def page_ms(stores: dict[str, tuple[Store, int]], task: str, sort: str, repeat: int,
            rng: random.Random) -> dict[str, float]:
    """Median ms per page for each store, the calls interleaved so that load
    on a shared machine hits both alike."""
    times: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(repeat):
        for name, (store, total) in stores.items():
            offset = rng.randrange(0, max(1, total - 50))
            t0 = time.perf_counter()
            page = store.list_jobs(sort=sort, task=task, limit=50, offset=offset)
            times[name].append(time.perf_counter() - t0)
            assert len(page.jobs) == 50
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as server:
        small, big = Store.from_url(server.url, "small:"), Store.from_url(server.url, "big:")
        t0 = time.perf_counter()
        fill(small, args.small, rng)
        fill(big, args.big, rng)
        print(f"filled {args.small:,} + {args.big:,} jobs of each task in {time.perf_counter() - t0:.1f} s\n")
        print(f"{'task':<10} {'sort':<15} {'page of 50 / ' + format(args.small, ','):>20} "
              f"{'page of 50 / ' + format(args.big, ','):>22} {'ratio':>7}")
        stores = {"small": (small, args.small), "big": (big, args.big)}
        for task, sort in SORTS:
            medians = page_ms(stores, task, sort, args.repeat, rng)
            a, b = medians["small"], medians["big"]
            print(f"{task:<10} {sort:<15} {a:>17.3f} ms {b:>19.3f} ms {b / a:>7.2f}")
        print("\nmedians; ratio = big / small (1.0 = the total does not matter)")


if __name__ == "__main__":
    main()
