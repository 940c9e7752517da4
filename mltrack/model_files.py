"""Trained models on the server's disk: `<data dir>/models/<iid>.mltmodel`.

Workers hand a done job's model to Redis (store/models.py); a server that
keeps models moves each to its disk (`collect`: every few seconds in the
keeper thread, and at once when GET /experiments/<iid>/model asks for one)
and keeps the `keep` most recently kept files (0: keeps none, drops every
model). The limit also applies to the files already there: the keeper trims
them at its start (a server restarted with a lower --keep-models, or 0,
removes the older files at once) and again every ORPHANS_EVERY seconds. A file is written atomically (a temporary file in the same
directory, fsynced, then renamed over) with mode 0600, and removed with its
job (the store's delete hook, and the keeper's sweep of files whose job is
gone: a job deleted through another mltrack on the same Redis).

A server that does not have a model says which server keeps it: the job's
`model_kept` names the host and directory of the server that took it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable

import redis

from mltrack.store import models as pending_models

log = logging.getLogger(__name__)

SUFFIX = ".mltmodel"
DEFAULT_KEEP = 100  # models kept on disk, the most recent (MLP 0.8 MB, CNN 1.7 MB each)
COLLECT_EVERY = 2.0  # seconds between the keeper's looks at models waiting in Redis
ORPHANS_EVERY = 60.0  # seconds between its sweeps for files whose job is gone


class ModelFiles:
    """The models one server keeps, in `directory`."""

    def __init__(self, directory: Path | str, keep: int = DEFAULT_KEEP):
        self.directory = Path(directory)
        self.keep = int(keep)
        self.where = f"{socket.gethostname()}:{self.directory.resolve()}"
        self._lock = threading.Lock()  # one writer prunes at a time

    def path(self, iid: str) -> Path:
        if not (len(iid) == 32 and all(c in "0123456789abcdef" for c in iid)):
            raise ValueError(f"not an iid: {iid[:40]!r}")
        return self.directory / f"{iid}{SUFFIX}"

    def find(self, iid: str) -> Path | None:
        path = self.path(iid)
        return path if path.is_file() else None

    def write(self, iid: str, data: bytes) -> Path:
        """Write atomically with mode 0600, then keep only the `keep` newest."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(iid)
        fd, temp = tempfile.mkstemp(prefix=f".{iid}.", suffix=".tmp", dir=self.directory)
        try:
            os.fchmod(fd, 0o600)  # mkstemp makes it 0600 already; said once more, plainly
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            with _quiet():
                os.unlink(temp)
            raise
        self.prune()
        return path

    def remove(self, iid: str) -> None:
        """Remove a job's model file, if there is one (the store's delete hook:
        the run is deleted already, so a file that cannot go is logged, not raised;
        the keeper's sweep tries again)."""
        try:
            self.path(iid).unlink()
        except ValueError:  # not an iid: no file of ours
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("could not remove the model file of run %s: %s", iid, exc)

    def files(self) -> list[Path]:
        """The kept model files, newest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.glob(f"*{SUFFIX}"):
            with _quiet():
                found.append((path.stat().st_mtime, path))
        return [p for _, p in sorted(found, key=lambda pair: pair[0], reverse=True)]

    def prune(self) -> list[Path]:
        """Remove all but the `keep` newest files; returns the removed."""
        with self._lock:
            extra = self.files()[max(self.keep, 0):]
            for path in extra:
                with _quiet():
                    path.unlink()
        if extra:
            log.info("removed %d old model file(s): --keep-models %d", len(extra), self.keep)
        return extra

    def collect(self, store: Any, iids: Iterable[str] | None = None) -> list[str]:
        """Move the models waiting in Redis (all, or those of `iids`) to disk;
        returns the iids written. A model of a job that is not done (failed
        after all, deleted) is dropped; one of a job still running (its worker
        is about to mark it done) waits for the next look."""
        waiting = pending_models.pending(store) if iids is None else list(iids)
        written = []
        for iid in waiting:
            status, data = pending_models.waiting_model(store, iid)
            if status == "running" and data is not None:
                continue
            if status == "done" and data is not None and self.keep > 0:
                self.write(iid, data)
                written.append(iid)
                pending_models.model_kept(store, iid, self.where)
            elif data is not None or iids is None:
                pending_models.model_kept(store, iid, "")
        return written

    def remove_orphans(self, store: Any) -> list[str]:
        """Remove the files whose job is gone (deleted through another mltrack)."""
        files = self.files()
        if not files:
            return []
        pipe = store.redis.pipeline(transaction=False)
        for path in files:
            pipe.exists(store.keys.job(path.name[:-len(SUFFIX)]))
        gone = [p for p, there in zip(files, pipe.execute()) if not there]
        for path in gone:
            with _quiet():
                path.unlink()
        return [p.name[:-len(SUFFIX)] for p in gone]


def _quiet() -> contextlib.suppress:
    """Ignore a file that is not there (any more): another thread removed it."""
    return contextlib.suppress(FileNotFoundError)


def run_keeper(models: ModelFiles, store: Any, stop: threading.Event) -> None:
    """Trim the files kept to `keep` at once, then move waiting models to disk
    every COLLECT_EVERY seconds and remove orphaned files and trim again every
    ORPHANS_EVERY, until `stop` (the server runs this)."""
    try:  # before any wait: a lower limit (or 0) given at a restart applies at once
        models.prune()
    except OSError as exc:
        log.warning("model keeper: cannot trim the model files: %s", exc)
    since_orphans = ORPHANS_EVERY
    while not stop.wait(COLLECT_EVERY):
        try:
            models.collect(store)
            since_orphans += COLLECT_EVERY
            if since_orphans >= ORPHANS_EVERY:
                since_orphans = 0.0
                models.remove_orphans(store)
                models.prune()  # files written by another process in this directory
        except redis.RedisError as exc:  # the database is away: next time
            log.debug("model keeper: %s", exc)
        except OSError as exc:  # a full disk: said, and tried again
            log.warning("model keeper: cannot write a model file: %s", exc)
        except Exception:
            log.exception("model keeper: unexpected error")


def start_keeper(models: ModelFiles, store: Any, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=run_keeper, args=(models, store, stop), daemon=True,
                              name="model-keeper")
    thread.start()
    return thread
