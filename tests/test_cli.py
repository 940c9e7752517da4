"""`python -m mltrack` as a user runs it: real processes, real signals."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

START_TIMEOUT = 60


class Running:
    def __init__(self, proc: subprocess.Popen, url: str, lines: list[str]):
        self.proc, self.url, self.lines = proc, url, lines

    def get(self, path, **kw):
        return requests.get(self.url + path.lstrip("/"), timeout=10, **kw)

    def post(self, path, body):
        return requests.post(self.url + path.lstrip("/"), json=body, timeout=10)


def start(data_dir: Path, *args: str, env: dict | None = None) -> Running:
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


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_start_take_a_job_stop_and_find_it_again(tmp_path, stop_signal):
    app = start(tmp_path)
    assert app.url.startswith("http://127.0.0.1:")
    assert app.get("/health").json()["status"] == "ok"
    assert "mltrack" in app.get("/").text
    iid = app.post("/train", {"hyper_params": {"model": "mlp", "num_epochs": 2}}).json()["iid"]
    db_pid = server_pid(tmp_path)
    app.proc.send_signal(stop_signal)
    assert app.proc.wait(30) == 0
    assert gone(db_pid), "the embedded server outlived mltrack"
    again = start(tmp_path)
    try:
        listed = again.get("/experiments").json()
        assert [r["iid"] for r in listed["results"]] == [iid]
        assert listed["results"][0]["hyper_params"]["model"] == "mlp"
    finally:
        again.proc.terminate()
        again.proc.wait(30)


def test_kill_9_then_restart_replaces_the_orphaned_server(tmp_path):
    app = start(tmp_path)
    iid = app.post("/train", {}).json()["iid"]
    orphan = server_pid(tmp_path)
    app.proc.kill()
    app.proc.wait(10)
    assert not gone(orphan, timeout=0.5), "the server should survive a kill -9 of mltrack"
    again = start(tmp_path)
    try:
        assert gone(orphan), "two servers on one data dir"
        assert server_pid(tmp_path) != orphan
        assert again.get(f"/status/{iid}").json()["status"] == "waiting"
    finally:
        again.proc.terminate()
        again.proc.wait(30)


def test_a_second_mltrack_on_the_same_data_dir_is_told_why(tmp_path):
    app = start(tmp_path)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "mltrack", "--port", "0", "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "in use by another mltrack" in second.stderr
        assert app.get("/health").status_code == 200  # the first one is unharmed
    finally:
        app.proc.terminate()
        app.proc.wait(30)


def test_redis_url_uses_that_server_and_starts_none(tmp_path, redis_server, redis_client):
    app = start(tmp_path / "unused", "--redis-url", redis_server.url, "--key-prefix", "cli:")
    try:
        iid = app.post("/train", {}).json()["iid"]
        assert redis_client.hget(f"cli:job:{iid}", "status") == "waiting"
        assert not (tmp_path / "unused").exists()
    finally:
        app.proc.terminate()
        app.proc.wait(30)


def test_settings_come_from_the_environment_too(tmp_path):
    app = start(tmp_path, env={"MLTRACK_KEY_PREFIX": "envtest:"})
    try:
        app.post("/train", {})
    finally:
        app.proc.terminate()
        app.proc.wait(30)
    import redis
    from mltrack.embedded import EmbeddedRedis
    with EmbeddedRedis(tmp_path) as server:
        keys = redis.Redis.from_url(server.url, decode_responses=True).keys("*")
        assert keys and all(k.startswith("envtest:") for k in keys)


def test_console_script_and_help():
    script = Path(sys.executable).parent / "mltrack"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for option in ("--host", "--port", "--data-dir", "--redis-url", "MLTRACK_PASSWORD"):
        assert option in out.stdout


@pytest.mark.parametrize("args, env, message", [
    (["--port", "99999"], {}, "--port"),
    ([], {"MLTRACK_PORT": "http"}, "--port"),
    (["--host", "0.0.0.0"], {"MLTRACK_PASSWORD": ""}, "MLTRACK_PASSWORD"),
    (["--key-prefix", ""], {}, "--key-prefix"),
])
def test_bad_settings_are_refused_with_the_option_named(tmp_path, args, env, message):
    out = subprocess.run([sys.executable, "-m", "mltrack", "--data-dir", str(tmp_path), *args],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, **env})
    assert out.returncode == 2 and message in out.stderr
