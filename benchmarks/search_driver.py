"""What the search driver costs: a tick with no active search (every mltrack
process pays it twice a second), and a tick of an active search that tells
Optuna how trials ended and asks for new ones, early and late in a search.
Then the searches' records (GET /searches, polled by the dashboard every
1.5 s) of those ended searches: as they are read now (per-search counts noted
by the driver, only untold trials' jobs read) against the way they were read
before (every trial's job), in the same run.

Jobs end at once here (a fake worker claims each, records one epoch and
finishes it), so what is timed is the driver: its Redis reads, the Optuna
journal's writes and the sampler. One embedded valkey-server, one run.

    python benchmarks/search_driver.py [--trials 500] [--parallel 4]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout, and the sample task

import redis  # noqa: E402

from mltrack.embedded import EmbeddedRedis  # noqa: E402
from mltrack.search import create_search, list_searches, search_record  # noqa: E402
from mltrack.search.driver import SearchDriver  # noqa: E402
from mltrack.store import Status, Store  # noqa: E402
from mltrack.store.searches import SearchStore  # noqa: E402
from sample_tasks import QUADRATIC  # noqa: E402


def finish_waiting(store: Store) -> int:
    """Claim, record and finish every waiting quadratic job; how many."""
    count = 0
    while (claim := store.claim("bench", tasks={"quadratic": QUADRATIC})) is not None:
        store.record_epoch(claim.iid, claim.attempt, {
            "epoch": 1, "time_training": 0.1, "loss": claim.hyper_params["lr"], "x": 1.0},
            goals=QUADRATIC.goals)
        store.finish(claim.iid, claim.attempt, Status.DONE)
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    with EmbeddedRedis(Path(tempfile.mkdtemp())) as server:
        store = Store(redis.Redis.from_url(server.url, decode_responses=True), prefix="bench:")
        store.register_task(QUADRATIC)
        driver = SearchDriver(store)
        idle = []
        for _ in range(200):
            started = time.perf_counter()
            driver.tick()
            idle.append(time.perf_counter() - started)
        baseline = statistics.median(idle)
        rows = [("no active search", "tick", baseline)]
        for sampler in ("random", "tpe"):
            create_search(store, None, {
                "task": "quadratic", "trials": args.trials, "parallel": args.parallel,
                "sampler": sampler, "pruner": "median", "fixed": {"steps": 1},
                "space": {"lr": {"low": 0.01, "high": 0.5, "log": True},
                          "x0": {"low": -5, "high": 5}, "method": ["gd", "momentum"]}})
            done, per_trial = 0, {}
            while True:
                started = time.perf_counter()
                driver.tick()
                took = time.perf_counter() - started
                ended = finish_waiting(store)
                if not ended:
                    break
                per_trial.setdefault(done * 5 // args.trials, []).append(took / ended)
                done += ended
            for part in (0, 4):
                if part in per_trial:
                    label = f"trials {part * args.trials // 5}-{(part + 1) * args.trials // 5}"
                    rows.append((f"{sampler}, {args.parallel} at once", f"{label}, per trial",
                                 statistics.median(per_trial[part])))
        print(f"{'search':<24}{'what':<28}{'median':>10}{'x idle tick':>13}")
        for search, what, seconds in rows:
            print(f"{search:<24}{what:<28}{seconds * 1000:>8.2f} ms{seconds / baseline:>12.0f}x")
        records(store)


def _old_records(store: Store) -> list[int]:
    """The reads of the searches' list before the per-search counts: every
    trial's job record of every search (what search_record did), counted."""
    searches = SearchStore(store)
    out = []
    for record in searches.get_many(searches.ids()):
        trials = searches.trials(record["id"])
        jobs = store.get_many(trials[n] for n in sorted(trials))
        out.append(sum(1 for j in jobs if j.status.terminal))
    return out


def records(store: Store) -> None:
    ids = SearchStore(store).ids()
    total = sum(len(SearchStore(store).trials(i)) for i in ids)
    assert [r["finished"] for r in list_searches(store)] == _old_records(store)
    timings = {}
    for label, read in (("before: every trial's job", lambda: _old_records(store)),
                        ("now: GET /searches", lambda: list_searches(store)),
                        ("now: GET /searches/<id>", lambda: search_record(store, ids[0]))):
        runs = []
        for _ in range(15):
            started = time.perf_counter()
            read()
            runs.append(time.perf_counter() - started)
        timings[label] = statistics.median(runs)
    before = timings["before: every trial's job"]
    print(f"\nrecords of {len(ids)} ended searches, {total} trials in all (median of 15)")
    print(f"{'read':<30}{'median':>10}{'x before':>10}")
    for label, seconds in timings.items():
        print(f"{label:<30}{seconds * 1000:>8.2f} ms{seconds / before:>10.3f}")


if __name__ == "__main__":
    main()
