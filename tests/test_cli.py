"""`python -m mltrack` as a user runs it: real processes, real signals.

These start no workers (--workers 0): training has tests of its own (test_e2e).
"""
from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import gone, server_pid, start_mltrack, valkey_wrapper, wait_for

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
    (["--checkpoint-every", "-1"], {}, "--checkpoint-every"),
    ([], {"MLTRACK_CHECKPOINT_EVERY": "nan"}, "--checkpoint-every"),
])
def test_bad_settings_are_refused_with_the_option_named(tmp_path, args, env, message):
    out = subprocess.run([sys.executable, "-m", "mltrack", "--data-dir", str(tmp_path), *args],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, **env})
    assert out.returncode == 2 and message in out.stderr


def run_mltrack(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "mltrack", "--workers", "0", *args],
                          capture_output=True, text=True, timeout=60)


def test_a_port_in_use_is_refused_with_the_reason(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_mltrack("--port", str(port), "--data-dir", str(tmp_path))
    assert out.returncode == 2, out.stderr
    assert f"mltrack: cannot listen on http://127.0.0.1:{port}/: Address already in use" \
        in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "redis" / "server.json").exists()  # its database was stopped


def test_a_read_only_data_dir_is_refused_with_the_reason(tmp_path):
    data = tmp_path / "read-only"
    data.mkdir()
    data.chmod(0o500)
    # root writes anywhere; without CAP_DAC_OVERRIDE it meets the mode like anyone
    prefix = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search") \
        if os.geteuid() == 0 else ()
    out = run_mltrack("--port", "0", "--data-dir", str(data), prefix=prefix)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"mltrack: cannot use the data dir {data}: Permission denied")
    assert "Traceback" not in out.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o500  # and its mode is left alone


def test_a_data_dir_that_is_a_file_is_refused_with_the_reason(tmp_path):
    (tmp_path / "file").write_text("")
    out = run_mltrack("--port", "0", "--data-dir", str(tmp_path / "file"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"mltrack: cannot use the data dir {tmp_path / 'file'}: ")


def test_an_existing_data_dir_keeps_its_mode(tmp_path):
    """`--data-dir ~` turned the home directory 0700."""
    tmp_path.chmod(0o755)
    app = start_mltrack(tmp_path, "--workers", "0")
    try:
        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755
        assert stat.S_IMODE((tmp_path / "redis").stat().st_mode) == 0o700
    finally:
        app.proc.terminate()
        app.proc.wait(30)


def health(app) -> int:
    try:
        return app.get("/health").status_code
    except OSError:
        return 0


def in_append_only_file(data_dir, text: str) -> bool:
    return any(text.encode() in aof.read_bytes()
               for aof in (data_dir / "redis" / "appendonlydir").glob("*.incr.aof"))


def test_a_killed_database_is_restarted_and_keeps_its_data(tmp_path):
    """kill -9 of the embedded server: mltrack answered 503 for ever."""
    app = start_mltrack(tmp_path, "--workers", "0")
    try:
        iid = app.post("/train", {}).json()["iid"]
        # With `appendfsync everysec` the server may hold a write back for up to
        # 2 s while an fsync is slow (a busy disk): kill it once the job is in its file.
        wait_for(lambda: in_append_only_file(tmp_path, iid))
        killed = server_pid(tmp_path)
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: server_pid(tmp_path) != killed and health(app) == 200)
        assert app.get(f"/status/{iid}").json()["status"] == "waiting"
        assert app.post("/train", {}).status_code == 201
        # The watchdog logs "restarted" after the new server answers (and writes
        # server.json), and a thread reads the child's output: wait for the lines.
        ended = f"valkey-server pid {killed} ended (killed by SIGKILL); restarting"
        wait_for(lambda: ended in (log := "".join(app.lines))
                 and "restarted, valkey-server pid" in log)
    finally:
        app.proc.terminate()
        assert app.proc.wait(30) == 0


def test_a_database_that_cannot_be_restarted_ends_mltrack_with_the_reason(tmp_path):
    script, mode = valkey_wrapper(tmp_path)
    app = start_mltrack(tmp_path / "data", "--workers", "0",
                        env={"MLTRACK_VALKEY_SERVER": str(script)})
    try:
        mode.write_text("fail")  # from now on the server cannot start
        os.kill(server_pid(tmp_path / "data"), signal.SIGKILL)
        assert app.proc.wait(60) == 1
        # the output thread reads the last lines when it gets the CPU
        wanted = ("mltrack: the embedded database",
                  "could not be kept running: 3 restarts within 60 s",
                  "valkey-wrapper: told to fail")  # the server's own last words
        try:
            wait_for(lambda: all(w in "".join(app.lines) for w in wanted))
        except AssertionError:
            raise AssertionError("".join(app.lines)) from None
    finally:
        if app.proc.poll() is None:
            app.proc.kill()


def test_waitress_queue_warnings_are_kept_for_debug():
    """One dashboard tab logged 'Task queue depth is 6' 172 times in 9 minutes."""
    import logging

    from mltrack.serve import configure_logging

    queue = logging.getLogger("waitress.queue")
    before = queue.level
    try:
        queue.setLevel(logging.NOTSET)
        configure_logging("debug")
        assert queue.isEnabledFor(logging.WARNING)
        configure_logging("info")
        assert not queue.isEnabledFor(logging.WARNING) and queue.isEnabledFor(logging.ERROR)
        assert logging.getLogger("waitress").isEnabledFor(logging.WARNING)  # the rest is kept
    finally:
        queue.setLevel(before)
