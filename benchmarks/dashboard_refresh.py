"""Server time of the dashboard's refresh callbacks with 10,000 jobs, against 100.

Each refresh (every 1.5 s per open browser) runs the header callback (counts,
running jobs, workers, queue estimate) and the grid's row request for the
visible block; a run view of two runs redraws when they change. Timed through
Dash's real endpoint (/_dash-update-component) with Flask's test client, both
store sizes in one run, medians.

    python benchmarks/dashboard_refresh.py [--jobs 10000] [--repeat 100]
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

from mltrack.app import create_app
from mltrack.embedded import EmbeddedRedis
from mltrack.params import HyperParams
from mltrack.store import Status, Store


def fill(store: Store, n: int, rng: random.Random) -> list[str]:
    """n jobs: most done with 3 epochs, some failed or cancelled, 2 running, the rest waiting."""
    params = [HyperParams(model=rng.choice(["mlp", "cnn"]), optimizer=rng.choice(["adam", "sgd"]),
                          learning_rate=rng.choice([0.1, 0.01, 0.001]), num_epochs=3, seed=i)
              for i in range(n)]
    iids = []
    for start in range(0, n, 1000):
        iids += store.create_many(params[start:start + 1000])
    for k in range(int(n * 0.8)):
        claim = store.claim(f"bench-{k}")  # a worker holds one job at a time
        for e in range(1, 4):
            store.record_epoch(claim.iid, claim.attempt, {
                "epoch": e, "train_loss": rng.uniform(0, 1), "train_accuracy": rng.uniform(90, 99),
                "test_loss": rng.uniform(0, 1), "test_accuracy": rng.uniform(90, 99),
                "time_training": 3.0 * e})
        fate = Status.DONE if k % 10 else rng.choice([Status.FAILED, Status.CANCELLED])
        if k >= 2:
            store.finish(claim.iid, claim.attempt, fate)
        else:
            store.heartbeat(claim.iid, claim.attempt, 3600, progress={
                "epoch": 2, "batch": 10, "batches": 60, "eta_seconds": 30})
    return iids


def requests(iids: list[str]) -> dict[str, dict]:
    return {
        "header": {
            "output": "header-counts.children",
            "outputs": {"id": "header-counts", "property": "children"},
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 5}],
            "changedPropIds": ["tick.n_intervals"]},
        "rows (sort by test acc)": {
            "output": "jobs-grid.getRowsResponse",
            "outputs": {"id": "jobs-grid", "property": "getRowsResponse"},
            "inputs": [{"id": "jobs-grid", "property": "getRowsRequest", "value": {
                "startRow": 0, "endRow": 100, "filterModel": {},
                "sortModel": [{"colId": "test_accuracy", "sort": "desc"}]}}],
            "state": [{"id": "status-filter", "property": "value", "value": None},
                      {"id": "text-filter", "property": "value", "value": None},
                      {"id": "task-filter", "property": "value", "value": None}],
            "changedPropIds": ["jobs-grid.getRowsRequest"]},
        "run view (2 runs)": {
            "output": "..run-graphs.children...run-details.children...run-signature.data..",
            "outputs": [{"id": "run-graphs", "property": "children"},
                        {"id": "run-details", "property": "children"},
                        {"id": "run-signature", "property": "data"}],
            "inputs": [{"id": "run-select", "property": "value", "value": iids[-3:-1]},
                       {"id": "tick", "property": "n_intervals", "value": 5}],
            "state": [{"id": "run-signature", "property": "data", "value": None}],
            "changedPropIds": ["run-select.value"]},
    }


def time_callbacks(client, payloads: dict[str, dict], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in payloads}
    for _ in range(repeat):
        for name, payload in payloads.items():
            t0 = time.perf_counter()
            response = client.post("/_dash-update-component", json=payload)
            times[name].append(time.perf_counter() - t0)
            assert response.status_code == 200, (name, response.status_code, response.data[:300])
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as server:
        results = {}
        for n in (args.small, args.jobs):
            store = Store.from_url(server.url, f"n{n}:")
            t0 = time.perf_counter()
            iids = fill(store, n, rng)
            print(f"filled {n:,} jobs in {time.perf_counter() - t0:.1f} s")
            client = create_app(store).test_client()
            client.get("/")  # build the layout once
            results[n] = (client, requests(iids))
        # interleave the sizes, so machine load hits both alike
        medians = {n: {} for n in results}
        for _ in range(3):
            for n, (client, payloads) in results.items():
                for name, ms in time_callbacks(client, payloads, args.repeat // 3).items():
                    medians[n].setdefault(name, []).append(ms)
        print(f"\n{'callback':<26} {args.small:>9,} jobs {args.jobs:>9,} jobs {'ratio':>7}")
        total = {n: 0.0 for n in results}
        for name in medians[args.small]:
            a = statistics.median(medians[args.small][name])
            b = statistics.median(medians[args.jobs][name])
            total[args.small] += a
            total[args.jobs] += b
            print(f"{name:<26} {a:>11.1f} ms {b:>11.1f} ms {b / a:>7.2f}")
        print(f"{'one refresh (all three)':<26} {total[args.small]:>11.1f} ms "
              f"{total[args.jobs]:>11.1f} ms {total[args.jobs] / total[args.small]:>7.2f}")
        print("\nmedian server time per callback through /_dash-update-component")


if __name__ == "__main__":
    main()
