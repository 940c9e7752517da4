"""`python -m mltrack` as a user runs it: real processes, real signals.

These start no workers (--workers 0): training has tests of its own (test_e2e).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import gone, server_pid, start_mltrack

@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_start_take_a_job_stop_and_find_it_again(tmp_path, stop_signal):
    app = start_mltrack(tmp_path, "--workers", "0")
    assert app.url.startswith("http://127.0.0.1:")
    assert app.get("/health").json()["status"] == "ok"
    assert "mltrack" in app.get("/").text
    iid = app.post("/train", {"hyper_params": {"model": "mlp", "num_epochs": 2}}).json()["iid"]
    db_pid = server_pid(tmp_path)
    app.proc.send_signal(stop_signal)
    assert app.proc.wait(30) == 0
    assert gone(db_pid), "the embedded server outlived mltrack"
    again = start_mltrack(tmp_path, "--workers", "0")
    try:
        listed = again.get("/experiments").json()
        assert [r["iid"] for r in listed["results"]] == [iid]
        assert listed["results"][0]["hyper_params"]["model"] == "mlp"
    finally:
        again.proc.terminate()
        again.proc.wait(30)


def test_kill_9_then_restart_replaces_the_orphaned_server(tmp_path):
    app = start_mltrack(tmp_path, "--workers", "0")
    iid = app.post("/train", {}).json()["iid"]
    orphan = server_pid(tmp_path)
    app.proc.kill()
    app.proc.wait(10)
    assert not gone(orphan, timeout=0.5), "the server should survive a kill -9 of mltrack"
    again = start_mltrack(tmp_path, "--workers", "0")
    try:
        assert gone(orphan), "two servers on one data dir"
        assert server_pid(tmp_path) != orphan
        assert again.get(f"/status/{iid}").json()["status"] == "waiting"
    finally:
        again.proc.terminate()
        again.proc.wait(30)


def test_a_second_mltrack_on_the_same_data_dir_is_told_why(tmp_path):
    app = start_mltrack(tmp_path, "--workers", "0")
    try:
        second = subprocess.run(
            [sys.executable, "-m", "mltrack", "--port", "0", "--workers", "0",
             "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "in use by another mltrack" in second.stderr
        assert app.get("/health").status_code == 200  # the first one is unharmed
    finally:
        app.proc.terminate()
        app.proc.wait(30)


def test_redis_url_uses_that_server_and_starts_none(tmp_path, redis_server, redis_client):
    app = start_mltrack(tmp_path / "unused", "--workers", "0", "--redis-url", redis_server.url,
                        "--key-prefix", "cli:")
    try:
        iid = app.post("/train", {}).json()["iid"]
        assert redis_client.hget(f"cli:job:{iid}", "status") == "waiting"
        assert not (tmp_path / "unused").exists()
    finally:
        app.proc.terminate()
        app.proc.wait(30)


def test_settings_come_from_the_environment_too(tmp_path):
    app = start_mltrack(tmp_path, env={"MLTRACK_KEY_PREFIX": "envtest:", "MLTRACK_WORKERS": "0"})
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
