"""Shared test helpers: waiting for a condition, running mltrack as a process."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests


def wait_for(predicate, timeout=30.0, step=0.02):
    """Poll `predicate` until it returns something true; that value is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting")


START_TIMEOUT = 60


class Running:
    def __init__(self, proc: subprocess.Popen, url: str, lines: list[str]):
        self.proc, self.url, self.lines = proc, url, lines

    def get(self, path, **kw):
        return requests.get(self.url + path.lstrip("/"), timeout=10, **kw)

    def post(self, path, body):
        return requests.post(self.url + path.lstrip("/"), json=body, timeout=10)


def start_mltrack(data_dir: Path, *args: str, env: dict | None = None) -> Running:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltrack", "--port", "0", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})})
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"dashboard at (http://\S+)", line)
        if found:
            # keep draining its output so a chatty log never blocks it
            threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
            return Running(proc, found.group(1), lines)
    proc.kill()
    raise AssertionError("mltrack did not start:\n" + "".join(lines))


def server_pid(data_dir: Path) -> int:
    return json.loads((data_dir / "redis" / "server.json").read_text())["pid"]


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.05)
    return False
