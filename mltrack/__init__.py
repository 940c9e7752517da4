"""mltrack: run and track machine-learning experiments from the browser or a script.

`import mltrack` is light (no torch, no dash): it gives what a task file needs.
`mltrack.Client` (the REST client, with `requests`) is imported on first use.
"""
from __future__ import annotations

from typing import Any

from mltrack.task import (Bool, Choice, Float, Int, InvalidParams, Metric, Run, Schema, Task,
                          TaskError)

__version__ = "0.2.0"

__all__ = ["Bool", "Choice", "Float", "Int", "InvalidParams", "Metric", "Run", "Schema", "Task",
           "TaskError", "__version__", "Client", "ClientError", "RunStopped", "TrackedRun"]

_CLIENT = ("Client", "ClientError", "RunStopped", "TrackedRun")


def __getattr__(name: str) -> Any:
    # Lazily: a task file or a worker never pays for the HTTP client.
    if name in _CLIENT:
        from mltrack import client

        return getattr(client, name)
    raise AttributeError(f"module 'mltrack' has no attribute {name!r}")
