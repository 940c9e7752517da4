"""Wall time from submit to the first epoch at or above 99.0% test accuracy,
through the real server and worker: the defaults against the fast preset.

Starts `python -m mltrack` (one worker) on a fresh data dir with MNIST linked
in, submits each job with mltrack.Client, and watches its epochs; a job is
cancelled once it has reached the target. Median of --repeat runs per row.

    python benchmarks/time_to_accuracy.py [--repeat 3] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mltrack import Client, ClientError
from mltrack.params import FAST_PRESET
from mltrack.settings import default_data_dir

TARGET = 99.0
ROWS = {
    # mltrack's defaults (Adam 1e-3, batch 128, the CNN), given epochs enough to get there
    "defaults": {"num_epochs": 12},
    "fast preset": dict(FAST_PRESET),
    # the preset before cnn_small: the same schedule on the seed's CNN
    "cnn onecycle": {**FAST_PRESET, "model": "cnn"},
}


def start(data_dir: Path, device: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "mltrack", "--port", "0", "--data-dir",
                             str(data_dir), "--workers", "1", "--device", device],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        found = re.search(r"dashboard at (http://\S+)", line)
        if found:
            threading.Thread(target=lambda: [*proc.stdout], daemon=True).start()
            return proc, found.group(1)
    raise SystemExit("mltrack did not start")


def stop(client: Client, iid: str) -> None:
    try:
        client.cancel(iid)
    except ClientError as exc:
        if exc.status != 409:  # 409: it ended already
            raise


def time_to_target(client: Client, params: dict, timeout: float) -> tuple[float | None, int]:
    """(seconds from submit to the first epoch >= TARGET or None, epochs it took)."""
    started = time.perf_counter()
    iid = client.submit(params)
    while time.perf_counter() - started < timeout:
        record = client.status(iid)
        accuracies = (record.get("in_update") or {}).get("test_accuracy") or []
        reached = next((n for n, a in enumerate(accuracies, 1) if a is not None and a >= TARGET),
                       None)
        if reached is not None:
            elapsed = time.perf_counter() - started
            stop(client, iid)
            return elapsed, reached
        if record["status"] in ("done", "failed", "cancelled"):
            return None, len(accuracies)
        time.sleep(0.05)
    stop(client, iid)
    return None, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir() / "mnist")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma separated: " + ", ".join(ROWS))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run at most")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "mnist").symlink_to(args.data_dir.expanduser().resolve())
        proc, url = start(Path(tmp), args.device)
        try:
            client = Client(url)
            print(f"to {TARGET}% test accuracy on {args.device}, median of {args.repeat}\n")
            print(f"{'row':<12} {'median s':>9} {'vs first':>9} {'runs s':>22} {'epochs':>7}  "
                  "hyperparameters")
            first = None
            for name in args.rows.split(","):
                params = ROWS[name]
                runs = [time_to_target(client, params, args.timeout) for _ in range(args.repeat)]
                times = [t for t, _ in runs if t is not None]
                median = statistics.median(times) if len(times) == len(runs) else None
                first = first if first is not None else median
                ratio = f"{median / first:.2f}" if median and first else "-"
                shown = ", ".join("-" if t is None else f"{t:.1f}" for t, _ in runs)
                print(f"{name:<12} {'never' if median is None else f'{median:.1f}':>9} "
                      f"{ratio:>9} {shown:>22} {max(e for _, e in runs):>7}  {params}",
                      flush=True)
            print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
