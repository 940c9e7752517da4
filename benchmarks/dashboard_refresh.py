"""Server time of the dashboard's refresh callbacks with 10,000 jobs, against 100.

Each refresh (every 1.5 s per open browser) runs the header callback (counts,
running jobs, workers, queue estimate; since issue 10 answered with the rows),
the grid's row request for the visible block and the run view's check for news (and, since the compare view, the run
selector's labels); the run view redraws only when a shown run changed (timed
apart: 2 and 8 runs). Timed through
Dash's real endpoint (/_dash-update-component) with Flask's test client, both
store sizes in one run, medians.

    python benchmarks/dashboard_refresh.py [--jobs 10000] [--repeat 100]
"""
from __future__ import annotations

import argparse
import os
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


def _body(app, fragment: str, values: dict, changed: list[str]) -> dict:
    """A callback request as the page sends it, for the one server callback whose
    output key holds `fragment` (built from the app's own callback map, so the
    same benchmark times older and newer run views alike)."""
    dash_app = app.extensions["mltrack.dash"]
    keys = [k for k, cb in dash_app.callback_map.items() if fragment in k and "callback" in cb]
    assert len(keys) == 1, (fragment, keys)
    key, cb = keys[0], dash_app.callback_map[keys[0]]

    def item(dep):
        cid = dep["id"]
        if cid.startswith("{"):  # a pattern: no such component in a fresh page
            return []
        name = f"{cid}.{dep['property']}"
        return {"id": cid, "property": dep["property"],
                **({"value": values[name]} if name in values else {})}

    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = []
    for part in parts:
        cid, _, prop = part.rpartition(".")
        outputs.append([] if cid.startswith("{") else {"id": cid, "property": prop})
    body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": [item(d) for d in cb["inputs"]], "changedPropIds": changed}
    if cb["state"]:
        body["state"] = [item(d) for d in cb["state"]]
    return body


def requests(app, client, iids: list[str]) -> dict[str, dict]:
    chosen = iids[-3:-1]  # two finished runs
    view = {"run-select.value": chosen, "tick.n_intervals": 5}
    redraw = _body(app, "run-graphs.children", view, ["run-select.value"])
    answer = client.post("/_dash-update-component", json=redraw).get_json()
    signature = answer["response"]["run-signature"]["data"]
    tick = _body(app, "run-graphs.children", {**view, "run-signature.data": signature},
                 ["tick.n_intervals"])
    rows = _body(app, "jobs-grid.getRowsResponse", {
        "jobs-grid.getRowsRequest": {
            "startRow": 0, "endRow": 100, "filterModel": {},
            "sortModel": [{"colId": "test_accuracy", "sort": "desc"}]}},
        ["jobs-grid.getRowsRequest"])
    out = {}
    if "header-counts" not in rows["output"]:  # a callback of its own (before issue 10)
        out["header"] = _body(app, "header-counts.children", {"tick.n_intervals": 5},
                              ["tick.n_intervals"])
    out["rows (sort by test acc)" if out else "rows + header (test acc)"] = rows
    out["run view, tick (2 runs)"] = tick
    labels = [k for k in app.extensions["mltrack.dash"].callback_map if "run-labels.data" in k]
    if labels:  # the selector's labels follow the runs' status (one refresh reads them)
        options = [{"label": i, "value": i} for i in chosen]
        out["run labels, tick (2 runs)"] = _body(
            app, "run-labels.data", {"run-select.value": chosen, "run-select.options": options,
                                     "tick.n_intervals": 5}, ["tick.n_intervals"])
    out["run view redraw (2 runs)"] = redraw
    out["run view redraw (8 runs)"] = _body(
        app, "run-graphs.children", {"run-select.value": iids[-9:-1], "tick.n_intervals": 5},
        ["run-select.value"])
    return out


REDRAWS = ("run view redraw",)  # not part of every refresh: only when a shown run changed


def time_callbacks(client, payloads: dict[str, dict], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in payloads}
    for _ in range(repeat):
        for name, payload in payloads.items():
            t0 = time.perf_counter()
            response = client.post("/_dash-update-component", json=payload)
            times[name].append(time.perf_counter() - t0)
            # 204: nothing changed, nothing sent (a refresh of an unchanged run view)
            assert response.status_code in (200, 204), (name, response.status_code,
                                                        response.data[:300])
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
            app = create_app(store)
            client = app.test_client()
            client.get("/")  # build the layout once
            results[n] = (client, requests(app, client, iids))
        # interleave the sizes, so machine load hits both alike
        medians = {n: {} for n in results}
        for _ in range(3):
            for n, (client, payloads) in results.items():
                for name, ms in time_callbacks(client, payloads, args.repeat // 3).items():
                    medians[n].setdefault(name, []).append(ms)
        print(f"\n{'callback':<28} {args.small:>9,} jobs {args.jobs:>9,} jobs {'ratio':>7}")
        total = {n: 0.0 for n in results}
        for name in medians[args.small]:
            a = statistics.median(medians[args.small][name])
            b = statistics.median(medians[args.jobs][name])
            if not name.startswith(REDRAWS):
                total[args.small] += a
                total[args.jobs] += b
            print(f"{name:<28} {a:>11.1f} ms {b:>11.1f} ms {b / a:>7.2f}")
        print(f"{'one refresh (no redraw)':<28} {total[args.small]:>11.1f} ms "
              f"{total[args.jobs]:>11.1f} ms {total[args.jobs] / total[args.small]:>7.2f}")
        # the costliest refresh: one that also redraws 8 shown runs (a run recorded an epoch)
        eight = "run view redraw (8 runs)"
        if eight in medians[args.small]:
            whole = {n: total[n] + statistics.median(medians[n][eight]) for n in results}
            print(f"{'one refresh + 8-run redraw':<28} {whole[args.small]:>11.1f} ms "
                  f"{whole[args.jobs]:>11.1f} ms {whole[args.jobs] / whole[args.small]:>7.2f}")
        print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"({os.cpu_count()} cores)")
        print("\nmedian server time per callback through /_dash-update-component")


if __name__ == "__main__":
    main()
