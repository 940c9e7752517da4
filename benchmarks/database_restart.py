"""How long mltrack is without its embedded database after `kill -9` of the
valkey-server, and how long SIGTERM takes while the database is dead.

    python benchmarks/database_restart.py [--rounds 10]

Starts `python -m mltrack --workers 0` on a fresh data dir, creates jobs, then:
- restart: kill -9 the valkey-server; time until GET /health answers 200 again
  (polled every 10 ms); checks every job created before is still there;
- dead stop: with MLTRACK_VALKEY_SERVER pointing to a wrapper whose restarts
  never answer, kill -9 the server, then SIGTERM mltrack; time until it exits.
Prints a table: rounds, min / median / max seconds.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import server_pid, start_mltrack, valkey_wrapper, wait_for  # noqa: E402


def health(app) -> int:
    try:
        return app.get("/health").status_code
    except OSError:
        return 0


def restart_rounds(rounds: int) -> list[float]:
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        app = start_mltrack(data, "--workers", "0", "--log-level", "warning")
        try:
            iids = [app.post("/train", {"seed": n}).json()["iid"] for n in range(20)]
            for _ in range(rounds):
                killed = server_pid(data)
                os.kill(killed, signal.SIGKILL)
                started = time.monotonic()
                wait_for(lambda: server_pid(data) != killed and health(app) == 200,
                         timeout=60, step=0.01)
                seconds.append(time.monotonic() - started)
                iids.append(app.post("/train", {}).json()["iid"])
                # the watchdog allows 3 restarts a minute: wait the window out
                time.sleep(0 if len(seconds) % 3 else 61)
            listed = app.get("/experiments", params={"limit": 1000}).json()
            assert {r["iid"] for r in listed["results"]} == set(iids), "a job was lost"
        finally:
            app.proc.terminate()
            app.proc.wait(60)
    return seconds


def dead_stop_rounds(rounds: int) -> list[float]:
    seconds = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            script, mode = valkey_wrapper(Path(tmp))
            data = Path(tmp) / "data"
            app = start_mltrack(data, "--workers", "0", "--log-level", "warning",
                                env={"MLTRACK_VALKEY_SERVER": str(script)})
            mode.write_text("hang")
            os.kill(server_pid(data), signal.SIGKILL)
            wait_for(lambda: health(app) == 503, timeout=30)
            started = time.monotonic()
            app.proc.terminate()
            app.proc.wait(120)
            seconds.append(time.monotonic() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    rows = [("kill -9 -> /health 200", restart_rounds(args.rounds)),
            ("SIGTERM, database dead -> exit", dead_stop_rounds(args.rounds))]
    print(f"{'what':32} {'rounds':>6} {'min s':>7} {'median s':>9} {'max s':>7}")
    for name, values in rows:
        print(f"{name:32} {len(values):6d} {min(values):7.2f} {statistics.median(values):9.2f} "
              f"{max(values):7.2f}")


if __name__ == "__main__":
    main()
