"""What tracking costs per epoch: store writes against the epoch's time.

Runs real MNIST jobs (the built-in task, through its Run) through a Worker on the embedded database, timing every
store call the worker makes, and the same training bare (fit with no
callbacks) in the same run as the baseline.

    python benchmarks/tracking_overhead.py [--epochs 2] [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from mltrack.embedded import EmbeddedRedis
from mltrack.mnist import fit, load_mnist, resolve_device
from mltrack.params import HyperParams
from mltrack.settings import default_data_dir
from mltrack.store import Store
from mltrack.mnist_task import TASK
from mltrack.worker import Worker

TIMED = ("claim", "checkpoint", "set_run_info", "heartbeat", "record_epoch", "finish")


def timed_store(store: Store, spent: dict[str, list[float]]) -> Store:
    for name in TIMED:
        method = getattr(store, name)

        def wrapper(*args, _method=method, _name=name, **kwargs):
            t0 = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent[_name].append(time.perf_counter() - t0)
        setattr(store, name, wrapper)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir() / "mnist")
    args = parser.parse_args()
    device = resolve_device("auto")
    data = load_mnist(args.data_dir, device)
    print(f"{'job':<22} {'bare s/epoch':>12} {'tracked s/epoch':>15} {'store ms/epoch':>14} "
          f"{'writes/epoch':>12} {'store share':>11}")
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as server:
        # a worker finds MNIST in <its data dir>/mnist, as mltrack does
        (Path(tmp) / "mnist").symlink_to(args.data_dir.expanduser().resolve())
        for model, batch in (("mlp", 128), ("cnn", 1024)):
            params = HyperParams(model=model, batch_size=batch, num_epochs=args.epochs)
            bare = fit(params, data, device=device)
            bare_epoch = bare.epochs[-1]["time_training"] / args.epochs
            spent: dict[str, list[float]] = defaultdict(list)
            store = timed_store(Store.from_url(server.url, f"{model}:"), spent)
            iid = store.create(params)
            Worker(store, TASK, data_dir=tmp, device=str(device)).run_once()
            job = store.get(iid)
            tracked_epoch = job.runtime / args.epochs
            store_seconds = sum(sum(v) for v in spent.values()) / args.epochs
            writes = sum(len(v) for v in spent.values()) / args.epochs
            print(f"{model + ' batch ' + str(batch):<22} {bare_epoch:>12.2f} {tracked_epoch:>15.2f} "
                  f"{store_seconds * 1000:>14.2f} {writes:>12.1f} "
                  f"{store_seconds / tracked_epoch:>10.3%}")
            per_call = {k: statistics.median(v) * 1000 for k, v in spent.items()}
            print("    median ms per call: " + ", ".join(f"{k} {v:.2f}" for k, v in per_call.items()))


if __name__ == "__main__":
    main()
