"""Server time of the analysis panel's parts at 1,000 and 10,000 runs.

For each size: the runs are read from the store as the panel reads them (the
baseline: pages of 1,000 of the most recent done runs), turned into a run set,
then each part is timed: the importance (PED-ANOVA, which the panel uses, and
fANOVA with 16 trees of depth 8; both including the in-memory Optuna study
they need), and each chart built as mltrack builds it (plain plotly.js dicts)
against `optuna.visualization` on the same study (study built beforehand, not
counted). Medians of `--repeat` runs; the ratio is to the store read measured
in the same run. Runs: the quadratic task (4 varying hyperparameters: a log
float, a float, an int, a choice), one epoch each, done.

    python benchmarks/analysis_charts.py [--sizes 1000,10000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # this checkout's mltrack, the sample task

from mltrack import analysis, views  # noqa: E402
from mltrack.analysis_view import MAX_RUNS  # noqa: E402
from mltrack.api import MAX_PAGE  # noqa: E402
from mltrack.embedded import EmbeddedRedis  # noqa: E402
from mltrack.store import Status, Store  # noqa: E402
from mltrack import table_query  # noqa: E402
from sample_tasks import QUADRATIC  # noqa: E402


def fill(store: Store, n: int, rng: random.Random) -> None:
    """n done quadratic runs of one epoch, the loss driven mostly by lr."""
    store.register_task(QUADRATIC)
    params = [{"lr": 10 ** rng.uniform(-4, 0), "x0": rng.uniform(-10, 10),
               "method": rng.choice(["gd", "momentum"]), "steps": 1} for _ in range(n)]
    for start in range(0, n, 1000):
        store.create_many(params[start:start + 1000], schema=QUADRATIC)
    tasks = {QUADRATIC.name: QUADRATIC}
    for _ in range(n):
        claim = store.claim("bench", tasks=tasks)
        loss = (math.log10(claim.hyper_params["lr"]) + 2) ** 2 + 0.1 * rng.random()
        store.record_epoch(claim.iid, claim.attempt, {"epoch": 1, "time_training": 0.1,
                                                      "loss": loss, "x": rng.random()},
                           goals=QUADRATIC.goals)
        store.finish(claim.iid, claim.attempt, Status.DONE)


def read_runs(store: Store) -> list:
    """The panel's read: the most recent done runs of the task, pages of MAX_PAGE."""
    where = views.TableFilter(status="done", task=QUADRATIC.name)
    jobs: list = []
    while len(jobs) < MAX_RUNS:
        got = table_query.page(store, where, "created", "desc", len(jobs), MAX_PAGE)
        jobs += got.jobs
        if len(got.jobs) < MAX_PAGE:
            break
    return jobs


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import optuna
    import optuna.visualization as vis

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows: dict[str, dict[int, float]] = {}
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        store = Store.from_url(server.url, prefix="bench:")
        for n in sizes:
            store.redis.flushdb()
            fill(store, n, random.Random(n))
            jobs = read_runs(store)
            assert len(jobs) == n, len(jobs)
            objective = analysis.objective_of(QUADRATIC)
            runs = analysis.run_set(jobs, QUADRATIC, objective)
            study = analysis.study(runs)
            r = args.repeat
            parts = {
                "read runs from the store (baseline)": lambda: read_runs(store),
                "run set (jobs -> points)": lambda: analysis.run_set(jobs, QUADRATIC, objective),
                "in-memory Optuna study": lambda: analysis.study(runs),
                "importance: PED-ANOVA (+ study)": lambda: analysis.importances(runs),
                "importance: fANOVA 16x8 (+ study)":
                    lambda: analysis.importances(runs, analysis.FANOVA),
                "parallel coordinates: mltrack": lambda: analysis.parallel_figure(runs),
                "parallel coordinates: optuna.visualization":
                    lambda: vis.plot_parallel_coordinate(study),
                "slice charts: mltrack": lambda: analysis.slice_figures(runs),
                "slice charts: optuna.visualization": lambda: vis.plot_slice(study),
                "best so far: mltrack": lambda: analysis.best_so_far_figure(runs),
                "best so far: optuna.visualization": lambda: vis.plot_optimization_history(study),
                "whole panel (read, importance, every chart)": lambda: _panel(store),
            }
            for name, fn in parts.items():
                rows.setdefault(name, {})[n] = median_ms(fn, r if "fANOVA" not in name
                                                         else max(1, r // 2))
            print(f"measured {n} runs", file=sys.stderr)
    width = max(map(len, rows))
    print(f"{'median ms (ratio to the store read)':<{width}}"
          + "".join(f"{n:>22,}" for n in sizes))
    base = rows["read runs from the store (baseline)"]
    for name, cells in rows.items():
        print(f"{name:<{width}}" + "".join(
            f"{cells[n]:>12.1f} ({cells[n] / base[n]:>5.2f}x)" for n in sizes))


def _panel(store: Store) -> None:
    from mltrack.analysis_view import body

    runs = analysis.run_set(read_runs(store), QUADRATIC, analysis.objective_of(QUADRATIC))
    body(runs)


if __name__ == "__main__":
    main()
