"""mltrack: run and track machine-learning experiments from the browser or a script.

`import mltrack` is light (no torch, no dash): it gives what a task file needs.
"""
from mltrack.task import (Bool, Choice, Float, Int, InvalidParams, Metric, Run, Schema, Task,
                          TaskError)

__version__ = "0.2.0"

__all__ = ["Bool", "Choice", "Float", "Int", "InvalidParams", "Metric", "Run", "Schema", "Task",
           "TaskError", "__version__"]
