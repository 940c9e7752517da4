"""Finding the tasks a process runs: the built-in `mnist`, `--task` specs,
MLTRACK_TASKS, and the `mltrack.tasks` entry points of installed packages.

A spec is `module:attr` (`mypkg.tasks:task`) or `path/to/file.py:attr`; the
attribute defaults to `task` and may hold one Task or a list of them. Anything
that goes wrong while loading is a `TaskLoadError` whose message is the whole
story (mltrack prints it and exits 2): the user fixes their file, not mltrack.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Iterable

from mltrack.task import Task

ENTRY_POINT_GROUP = "mltrack.tasks"
DEFAULT_ATTR = "task"


class TaskLoadError(Exception):
    """A task could not be loaded; the message names the spec and the reason."""


def split_spec(spec: str) -> tuple[str, str]:
    """('module or file', 'attribute') of `spec`; the attribute defaults to `task`."""
    spec = spec.strip()
    where, sep, attr = spec.rpartition(":")
    # `C:\x\t.py` or a spec without an attribute: the part after ':' is no name
    if not sep or not attr.isidentifier() or not where:
        return spec, DEFAULT_ATTR
    return where, attr


def _is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def _reason(exc: BaseException, path: Path | None = None) -> str:
    """`Type: message`, and where in the user's code it was raised (no traceback)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):
        return text  # its message already names the file and line
    frames = traceback.extract_tb(exc.__traceback__)
    if path is not None:  # the deepest frame in the task's own file
        mine = [f for f in frames if Path(f.filename).resolve() == path]
        frames = mine or frames
    ours = str(Path(__file__).parent)  # mltrack's own frames say nothing of the user's code
    inside = [f for f in frames if "importlib" not in f.filename
              and not f.filename.startswith(("<frozen", ours))]
    if inside:
        text += f" (at {inside[-1].filename}, line {inside[-1].lineno})"
    return text


def _import_file(where: str) -> Any:
    path = Path(where).expanduser().resolve()
    if not path.is_file():
        raise TaskLoadError(f"no file {path}")
    name = path.stem if path.stem.isidentifier() else "_mltrack_task"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) != str(path):
        name = f"_mltrack_task_{abs(hash(str(path)))}"  # a module of that name exists
    elif name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TaskLoadError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    # Its siblings are importable from it, as when it is run as a script.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise TaskLoadError(_reason(exc, path)) from None
    return module


def _import_module(where: str) -> Any:
    # `python -m mltrack` finds modules in the current directory; the
    # `mltrack` script does the same, so `--task mytask:task` works from both.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        if exc.name and (where == exc.name or where.startswith(exc.name + ".")):
            raise TaskLoadError(f"no module named {exc.name!r} (looked in the current "
                                f"directory and the installed packages; a file is given "
                                f"as path/to/file.py:attr)") from None
        raise TaskLoadError(_reason(exc)) from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the module's own code failed: SystemExit too
        raise TaskLoadError(_reason(exc)) from None


def _tasks_of(value: Any, where: str, attr: str) -> list[Task]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items or not all(isinstance(t, Task) for t in items):
        kinds = ", ".join(sorted({type(t).__name__ for t in items})) or "an empty list"
        raise TaskLoadError(f"{where}:{attr} is {kinds}, not an mltrack.Task "
                            "(or a list of them)")
    return items


def load_spec(spec: str) -> list[Task]:
    """The tasks named by one spec (`module:attr` or `file.py:attr`)."""
    where, attr = split_spec(spec)
    try:
        module = _import_file(where) if _is_file(where) else _import_module(where)
    except TaskLoadError as exc:
        raise TaskLoadError(f"cannot load task {spec}: {exc}") from None
    if not hasattr(module, attr):
        found = [n for n, v in vars(module).items() if isinstance(v, Task)]
        hint = f" (it has {', '.join(found)}: name one as {where}:{found[0]})" if found else ""
        raise TaskLoadError(f"cannot load task {spec}: {where} has no attribute "
                            f"{attr!r}{hint}")
    try:
        return _tasks_of(getattr(module, attr), where, attr)
    except TaskLoadError as exc:
        raise TaskLoadError(f"cannot load task {spec}: {exc}") from None


def entry_point_tasks() -> list[tuple[str, list[Task]]]:
    """(origin, tasks) for each `mltrack.tasks` entry point of the installed packages."""
    out = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        package = f" of package {ep.dist.name}" if getattr(ep, "dist", None) else ""
        origin = f"entry point {ep.name} ({ep.value}){package}"
        try:
            value = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise TaskLoadError(f"cannot load task from {origin}: {_reason(exc)}") from None
        try:
            out.append((origin, _tasks_of(value, *split_spec(ep.value))))
        except TaskLoadError as exc:
            raise TaskLoadError(f"cannot load task from {origin}: {exc}") from None
    return out


def builtin_tasks() -> list[Task]:
    from mltrack.mnist_task import TASK

    return [TASK]


def load_tasks(specs: Iterable[str] = (), *, entry_points: bool = True) -> dict[str, Task]:
    """Every task this process runs, by name: the built-in ones, then those of
    installed packages' entry points, then `specs`. Two different tasks of one
    name are refused (the same Task reached twice is fine)."""
    found: dict[str, tuple[Task, str]] = {t.name: (t, "built in") for t in builtin_tasks()}
    sources: list[tuple[str, list[Task]]] = entry_point_tasks() if entry_points else []
    sources += [(spec, load_spec(spec)) for spec in specs if spec.strip()]
    for origin, tasks in sources:
        for task in tasks:
            if task.name in found and found[task.name][0] is not task:
                other = found[task.name][1]
                raise TaskLoadError(f"cannot load task {origin}: task {task.name} is "
                                    f"already given ({other})")
            found[task.name] = (task, origin)
    return {name: task for name, (task, _) in found.items()}


def parse_task_list(text: str) -> list[str]:
    """MLTRACK_TASKS: specs separated by commas."""
    return [s.strip() for s in text.split(",") if s.strip()]
