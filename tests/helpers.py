"""Shared test helpers: waiting for a condition, running mltrack as a process."""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests


@contextlib.contextmanager
def serving(app, threads: int = 8):
    """The WSGI app on waitress on a free loopback port; yields its URL."""
    import waitress

    from mltrack.security import SERVER_MAX_BODY
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads,
                                    max_request_body_size=SERVER_MAX_BODY)
    stopping = threading.Event()

    def run():
        try:
            server.run()
        except (OSError, ValueError):
            # close() below, called from the test's thread, closes sockets this loop may
            # be in a select() on (a browser's keep-alive connections): EBADF, once stopping
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stopping.set()
        # Requests still in flight (the browser polls until its fixture ends) finish
        # first, before the store's fixtures flush the database under them, and
        # before close() closes the server's wake-up pipe: a request thread that
        # ends later writes b"x" to that file descriptor number, which by then may
        # be a new Redis connection's socket ("unknown command 'x*8'" at teardown).
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        server.close()
        thread.join(5)


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
REPO = Path(__file__).resolve().parent.parent


def child_env(extra: dict | None = None) -> dict:
    """The environment for a child Python: this checkout's mltrack first, whatever
    checkout an editable install points at."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


class ChildProcess:
    """A child Python with this checkout on its path; its output is collected as it comes."""

    def __init__(self, *argv: str):
        self.proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=child_env())
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (after SIGCONT, should it be paused), then wait for it to end."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
        self.proc.wait(timeout)


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
        env=child_env(env))
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


def in_append_only_file(redis_dir: Path, text: str) -> bool:
    """`text` is in the server's append-only files (so a kill -9 cannot lose it).

    With `appendfsync everysec` valkey may answer a write and hold it back from
    the file for up to 2 s while an earlier fsync is slow (a busy disk): a test
    that kills the server waits for what it needs to be here first. The file
    is written in the order the writes ran, so every earlier write is in too."""
    return any(text.encode() in aof.read_bytes()
               for aof in (Path(redis_dir) / "appendonlydir").glob("*.aof"))


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


class DiskCannotWrite:
    """Makes a real valkey-server answer MISCONF, as it does when its disk is
    full or read-only, and mends it again.

    A directory where the snapshot goes makes BGSAVE fail at its last step
    (rename), even for root; with `stop-writes-on-bgsave-error yes` (the
    default) the server then refuses every write with MISCONF until a BGSAVE
    succeeds, exactly as after a failed save on a full disk.
    """

    def __init__(self, redis_dir: Path, url: str):
        import redis

        self.blocker = Path(redis_dir) / "dump.rdb"
        self.client = redis.Redis.from_url(url, decode_responses=True)

    def _save(self) -> str:
        self.client.bgsave()
        return wait_for(lambda: (not self.client.info("persistence")["rdb_bgsave_in_progress"]
                                 and self.client.info("persistence")["rdb_last_bgsave_status"]))

    def __enter__(self) -> "DiskCannotWrite":
        self.blocker.unlink(missing_ok=True)
        self.blocker.mkdir()
        (self.blocker / "in-the-way").touch()
        assert self._save() == "err"
        return self

    def __exit__(self, *exc_info) -> None:
        (self.blocker / "in-the-way").unlink()
        self.blocker.rmdir()
        assert self._save() == "ok"  # space is back: the server takes writes again
        self.client.close()


def valkey_wrapper(directory: Path) -> tuple[Path, Path]:
    """A stand-in for valkey-server (for MLTRACK_VALKEY_SERVER) that runs the
    real one, unless its mode file says `fail` (exit 1 at once) or `hang`
    (never answer). Returns (the script, its mode file): a test breaks the
    next restart by writing the mode file."""
    from mltrack.embedded import find_server_binary

    real = find_server_binary()
    script = Path(directory) / "valkey-wrapper.sh"
    mode = Path(directory) / "valkey-wrapper.mode"
    script.write_text(f"""#!/bin/sh
case "$(cat '{mode}' 2>/dev/null)" in
  fail) echo "valkey-wrapper: told to fail" >&2; exit 1 ;;
  hang) exec tail -f "$@" ;;  # never answers; its command line names the config
esac
exec '{real}' "$@"
""")
    script.chmod(0o755)
    return script, mode
