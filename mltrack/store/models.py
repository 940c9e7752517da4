"""A done job's model on its way from the worker that trained it to a server's disk.

A worker may run on another machine, with its own data dir: it cannot write
into the server's. So it hands the bytes to Redis (`put_model`, fenced by
attempt, under a key that expires after MODEL_TTL), just before it marks the
job done, and the server that keeps models (model_files.py) moves them to its
data dir within seconds (or at once when one is asked for) and deletes the key:
Redis holds a model only for that moment. The job's hash records the model's
size (`model_bytes`) and, once on disk, which server keeps it (`model_kept`),
so that a server without the file can say where it is.
"""
from __future__ import annotations

from typing import Any

from mltrack.store.model import InvalidValue, Status

MODEL_TTL = 86400  # seconds a model waits in Redis for a server to take it
MAX_MODEL_BYTES = 256 * 2**20  # Redis takes at most 512 MB in one value


def put_model(store: Any, iid: str, attempt: int, data: bytes) -> None:
    """Keep a running job's model until a server takes it (fenced by attempt)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidValue("model", f"must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_MODEL_BYTES:
        raise InvalidValue("model", f"at most {MAX_MODEL_BYTES // 2**20} MiB, got "
                                    f"{len(data) / 2**20:.0f} MiB")
    store._check(store._run("put_model", iid, str(attempt), MODEL_TTL, data), iid,
                 Status.RUNNING, attempt)


def pending(store: Any) -> list[str]:
    """The iids whose model waits in Redis."""
    return sorted(store.redis.smembers(store.keys.models_pending))


def waiting_model(store: Any, iid: str) -> tuple[str | None, bytes | None]:
    """(the job's status or None if it is gone, the model's bytes or None)."""
    pipe = store._raw.pipeline(transaction=False)
    pipe.hget(store.keys.job(iid), "status")
    pipe.get(store.keys.model(iid))
    status, data = pipe.execute()
    return (status.decode() if status is not None else None), data


def model_kept(store: Any, iid: str, where: str) -> None:
    """The model left Redis: kept on `where`'s disk, or dropped ('')."""
    store._run("model_kept", iid, where)


def model_info(store: Any, iid: str) -> tuple[int | None, str | None]:
    """(the size its worker saved, the server that keeps it), None where not."""
    size, where = store.redis.hmget(store.keys.job(iid), "model_bytes", "model_kept")
    return (int(size) if size else None), (where or None)
