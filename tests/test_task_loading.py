"""Loading tasks: `--task module:attr` or `file.py:attr`, MLTRACK_TASKS, the
`mltrack.tasks` entry points of installed packages; a task that does not load
stops mltrack with the reason and status 2."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import child_env
from mltrack.settings import parse_settings
from mltrack.tasks import TaskLoadError, load_spec, load_tasks, split_spec

TASK_FILE = """
import mltrack

def train(params, run):
    for epoch in range(1, params["steps"] + 1):
        run.log(epoch, {{"loss": 1.0 / epoch}})

task = mltrack.Task(name="{name}", params={{"steps": mltrack.Int(3, low=1, high=10)}},
                    metrics=[mltrack.Metric("loss")], train=train)
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("spec, parts", [
    ("mypkg.tasks:task", ("mypkg.tasks", "task")),
    ("mypkg.tasks", ("mypkg.tasks", "task")),
    ("./mytask.py:digits", ("./mytask.py", "digits")),
    ("mytask.py", ("mytask.py", "task")),
    (r"C:\work\mytask.py", (r"C:\work\mytask.py", "task")),
])
def test_a_spec_names_a_module_or_file_and_an_attribute(spec, parts):
    assert split_spec(spec) == parts


def test_a_task_file_by_path_with_or_without_the_attribute(tmp_path):
    path = write(tmp_path / "first_task.py", TASK_FILE.format(name="first"))
    for spec in (f"{path}:task", str(path)):
        task, = load_spec(spec)
        assert task.name == "first" and task.schema.params["steps"].default == 3


def test_a_module_from_the_path_and_a_list_of_tasks(tmp_path, monkeypatch):
    write(tmp_path / "several_tasks.py", TASK_FILE.format(name="one") + """
other = mltrack.Task(name="two", params={}, metrics=[mltrack.Metric("loss")], train=train)
both = [task, other]
""")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [t.name for t in load_spec("several_tasks:both")] == ["one", "two"]
    tasks = load_tasks(["several_tasks:task", "several_tasks:other"], entry_points=False)
    assert list(tasks) == ["mnist", "one", "two"]


def test_a_task_file_imports_its_siblings(tmp_path):
    write(tmp_path / "sibling_model.py", "STEPS = 7\n")
    path = write(tmp_path / "uses_sibling.py", TASK_FILE.format(name="sib").replace(
        "Int(3,", "Int(__import__('sibling_model').STEPS,"))
    task, = load_spec(f"{path}:task")
    assert task.schema.params["steps"].default == 7


def test_mnist_is_always_there():
    tasks = load_tasks([], entry_points=False)
    assert list(tasks) == ["mnist"] and tasks["mnist"].schema.primary.name == "test_accuracy"


@pytest.mark.parametrize("body, spec_attr, reason", [
    ("x = 1 +\n", "task", "SyntaxError: invalid syntax"),
    ("import mltrack\n\n\nx = 1 / 0\n", "task", "ZeroDivisionError: division by zero (at "
                                                "{path}, line 4)"),
    ("import no_such_module_anywhere\n", "task",
     "ModuleNotFoundError: No module named 'no_such_module_anywhere' (at {path}, line 1)"),
    ("import mltrack\ntask = mltrack.Task(name='Bad Name', params={}, metrics=[], "
     "train=print)\n", "task", "TaskError: task name 'Bad Name' must match"),
    ("import mltrack\ntask = 3\n", "task", "{where} is int, not an mltrack.Task"),
    (TASK_FILE.format(name="named"), "tsak",
     "{where_only} has no attribute 'tsak' (it has task: name one as {where_only}:task)"),
])
def test_a_task_that_does_not_load_says_why(tmp_path, body, spec_attr, reason):
    path = write(tmp_path / "broken_task.py", body)
    spec = f"{path}:{spec_attr}"
    with pytest.raises(TaskLoadError) as caught:
        load_spec(spec)
    message = str(caught.value)
    expected = reason.format(path=path, where=f"{path}:{spec_attr}", where_only=path)
    assert message.startswith(f"cannot load task {spec}: ") and expected in message, message


def test_a_missing_file_or_module_says_where_it_looked(tmp_path):
    with pytest.raises(TaskLoadError, match=r"cannot load task ./nowhere.py:task: no file "):
        load_spec("./nowhere.py:task")
    with pytest.raises(TaskLoadError, match=r"no module named 'nowhere_module' \(looked in "
                                            r"the current directory"):
        load_spec("nowhere_module:task")


def test_two_tasks_of_one_name_are_refused(tmp_path):
    a = write(tmp_path / "dup_a.py", TASK_FILE.format(name="dup"))
    b = write(tmp_path / "dup_b.py", TASK_FILE.format(name="dup"))
    with pytest.raises(TaskLoadError, match=rf"cannot load task {b}: task dup is already "
                                            rf"given \({a}\)"):
        load_tasks([str(a), str(b)], entry_points=False)
    mine = write(tmp_path / "my_mnist.py", TASK_FILE.format(name="mnist"))
    with pytest.raises(TaskLoadError, match=r"task mnist is already given \(built in\)"):
        load_tasks([str(mine)], entry_points=False)
    assert list(load_tasks([str(a), str(a)], entry_points=False)) == ["mnist", "dup"]


def installed_package(root: Path, name: str, module_body: str, value: str) -> None:
    """A package installed as pip would: its module and a dist-info with an
    `mltrack.tasks` entry point."""
    write(root / f"{name}_pkg.py", module_body)
    info = root / f"{name}_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[mltrack.tasks]\n{name} = {value}\n")


def test_an_installed_package_adds_its_tasks_by_entry_point(tmp_path, monkeypatch):
    installed_package(tmp_path, "plugged", TASK_FILE.format(name="plugged"),
                      "plugged_pkg:task")
    monkeypatch.syspath_prepend(str(tmp_path))
    tasks = load_tasks([])
    assert "plugged" in tasks and tasks["plugged"].schema.metrics[0].name == "loss"


def test_a_broken_entry_point_names_its_package(tmp_path, monkeypatch):
    installed_package(tmp_path, "broken", "raise RuntimeError('no GPU here')\n",
                      "broken_pkg:task")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TaskLoadError) as caught:
        load_tasks([])
    assert str(caught.value).startswith(
        "cannot load task from entry point broken (broken_pkg:task) of package broken-pkg: "
        "RuntimeError: no GPU here")


def test_the_task_option_repeats_and_falls_back_to_the_environment():
    assert parse_settings(["--task", "a:task", "--task", "b.py"], environ={}).tasks == (
        "a:task", "b.py")
    env = {"MLTRACK_TASKS": "a:task, ./b.py:t ,"}
    assert parse_settings([], environ=env).tasks == ("a:task", "./b.py:t")
    assert parse_settings(["--task", "c"], environ=env).tasks == ("c",)  # the option wins
    assert parse_settings([], environ={}).tasks == ()


def mltrack_exits(tmp_path, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mltrack", "--data-dir", str(tmp_path / "d"),
                           "--workers", "0", "--port", "0", *args],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=child_env(env))


@pytest.mark.parametrize("command", [[], ["worker", "--redis-url", "redis://127.0.0.1:1"]])
def test_mltrack_stops_with_the_reason_and_status_2(tmp_path, command):
    write(tmp_path / "mytask.py", "import mltrack\n\ntask = mltrack.Task(name='x')\n")
    out = mltrack_exits(tmp_path, *command, "--task", "mytask.py:task")
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(
        "mltrack: cannot load task mytask.py:task: TypeError: Task.__init__() missing 3 "
        "required positional arguments: 'params', 'metrics', and 'train' (at ")
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "d").exists()  # stopped before any database started


def test_mltrack_tasks_in_the_environment_are_loaded(tmp_path):
    out = mltrack_exits(tmp_path, env={"MLTRACK_TASKS": "no_such_task_module"})
    assert out.returncode == 2
    assert out.stderr.startswith("mltrack: cannot load task no_such_task_module: no module "
                                 "named 'no_such_task_module'")


def test_help_lists_the_task_option():
    out = subprocess.run([sys.executable, "-m", "mltrack", "--help"], capture_output=True,
                         text=True, timeout=60, env=child_env())
    assert "--task MODULE:ATTR" in out.stdout and "MLTRACK_TASKS" in out.stdout


def test_import_mltrack_and_loading_a_task_file_need_no_torch(tmp_path):
    path = write(tmp_path / "light_task.py", TASK_FILE.format(name="light"))
    code = (f"import sys; from mltrack.tasks import load_tasks; "
            f"t = load_tasks([{str(path)!r}], entry_points=False); "
            f"assert 'torch' not in sys.modules, 'torch imported'; print(sorted(t))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=child_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['light', 'mnist']"


def test_a_module_in_the_current_directory_loads_from_the_mltrack_script_too(
        tmp_path, monkeypatch):
    """The `mltrack` console script, unlike `python -m`, has no '' on sys.path."""
    write(tmp_path / "cwd_task.py", TASK_FILE.format(name="here"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    task, = load_spec("cwd_task:task")
    assert task.name == "here"
