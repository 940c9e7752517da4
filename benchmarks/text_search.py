"""Cost of a text search (`q`) page at 50,000 jobs, words and metric filters
(`test_accuracy>97`), and the longest single Redis call.

A search reads the token index word by word and one page of matches, in calls
that each do a bounded amount of work, so that the database keeps answering
everybody else while a search runs. The plain listing page (no `q`) is the
baseline measured in the same run; the longest call comes from the server's
SLOWLOG (every command logged, scripts as one call).

    python benchmarks/text_search.py [--jobs 50000] [--repeat 30]
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

import redis

from mltrack.embedded import EmbeddedRedis
from mltrack.params import HyperParams
from mltrack.store import Status, Store


def fill(store: Store, n: int, rng: random.Random) -> list[str]:
    """n jobs of varied hyperparameters; 60% ran an epoch and ended done or failed."""
    params = [HyperParams(model=rng.choice(["mlp", "cnn"]),
                          optimizer=rng.choice(["adam", "adamw", "sgd", "rmsprop"]),
                          learning_rate=rng.choice([0.1, 0.03, 0.01, 0.003, 0.001, 0.0003]),
                          batch_size=rng.choice([32, 64, 128, 256, 512]),
                          num_epochs=rng.randint(1, 20), seed=i) for i in range(n)]
    iids = []
    for start in range(0, n, 1000):
        iids += store.create_many(params[start:start + 1000], now=1e9 + start)
    for k in range(int(n * 0.6)):
        claim = store.claim(f"bench-{k}")
        acc = rng.uniform(80, 99)
        store.record_epoch(claim.iid, claim.attempt, {
            "epoch": 1, "train_loss": rng.uniform(0, 2), "train_accuracy": acc,
            "test_loss": rng.uniform(0, 2), "test_accuracy": acc, "time_training": 5.0})
        store.finish(claim.iid, claim.attempt, Status.DONE if k % 7 else Status.FAILED)
    return iids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as server:
        store = Store.from_url(server.url, "bench:")
        t0 = time.perf_counter()
        iids = fill(store, args.jobs, rng)
        print(f"filled {args.jobs:,} jobs in {time.perf_counter() - t0:.1f} s\n")
        queries = ["", "sgd", "mlp sgd 0.01", "cnn adamw 256", "done adam", iids[123][:6],
                   "0.0", "0", "nothing-matches", "test_accuracy>97",
                   "test_accuracy>50", "sgd test_accuracy>90", "train_loss<0.1 done"]
        admin = redis.Redis.from_url(server.url, decode_responses=True)
        admin.config_set("slowlog-log-slower-than", 0)
        admin.config_set("slowlog-max-len", 100_000)
        print(f"{'q':<22} {'sort':<14} {'matches':>8} {'first ms':>9} {'page ms':>9} "
              f"{'/ no q':>8} {'longest call ms':>16}")
        for sort in ("created", "test_accuracy"):
            baseline = None
            for q in queries:
                admin.slowlog_reset()
                t = time.perf_counter()
                store.list_jobs(sort=sort, text=q, limit=50)  # the first: builds what it keeps
                first = (time.perf_counter() - t) * 1000
                times, total = [], 0
                for _ in range(args.repeat):
                    offset = rng.choice([0, 0, 0, 200])
                    t = time.perf_counter()
                    page = store.list_jobs(sort=sort, text=q, limit=50, offset=offset)
                    times.append((time.perf_counter() - t) * 1000)
                    total = page.total
                longest = max(e["duration"] for e in admin.slowlog_get(100_000)) / 1000
                median = statistics.median(times)
                baseline = baseline or median
                print(f"{q or '(none)':<22} {sort:<14} {total:>8,} {first:>9.2f} {median:>9.2f} "
                      f"{median / baseline:>8.1f} {longest:>16.2f}")
        print("\nfirst: the first page of a query (a word that spans several tokens is "
              "gathered then and kept);\npage: median of", args.repeat, "more pages of 50 "
              "(offsets 0 and 200); longest call: the slowest single\ncommand or script the "
              "server ran for all of them")


if __name__ == "__main__":
    main()
