"""The `mltrack` client commands (submit, ls, show, watch, cancel, retry, delete)
against a real mltrack process with a worker of the sample task: exit status,
what they print, and what they changed on the server."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import REPO, child_env, start_mltrack, wait_for
from mltrack.__main__ import is_client_command
from mltrack.cli import parse_value, submit_parser
from mltrack.client import Client

SAMPLE_TASK = f"{REPO / 'tests' / 'sample_tasks.py'}:TASK"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = start_mltrack(tmp_path_factory.mktemp("cli"), "--workers", "1", "--task", SAMPLE_TASK)
    yield app
    app.proc.terminate()
    app.proc.wait(30)


@pytest.fixture
def remote(server):
    with Client(server.url) as client:
        yield client


def mltrack(*args: str, url: str | None = None, timeout: float = 60,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """The console script as a user runs it; the URL from MLTRACK_URL."""
    script = Path(sys.executable).parent / "mltrack"
    extra = {"MLTRACK_URL": url} if url else {}
    return subprocess.run([str(script), *args], capture_output=True, text=True,
                          timeout=timeout, env=child_env({**extra, **(env or {})}))


def iids_of(out: str) -> list[str]:
    return [line for line in out.split() if len(line) == 32]


def test_submit_a_sweep_from_comma_lists_then_wait(server, remote):
    out = mltrack("submit", "--task", "quadratic", "--lr", "0.1,0.3", "--steps", "3",
                  "--method", "gd", "--wait", url=server.url)
    assert out.returncode == 0, out.stderr
    iids = out.stdout.split()
    assert len(iids) == 2 and "queued 2 jobs of task quadratic" in out.stderr
    records = [remote.status(i) for i in iids]
    assert [r["hyper_params"]["lr"] for r in records] == [0.1, 0.3]
    assert {r["hyper_params"]["steps"] for r in records} == {3}
    assert {r["status"] for r in records} == {"done"}  # --wait waited
    assert "6/6 epochs" in out.stderr  # its progress bar


def test_submit_one_job_with_booleans_and_the_url_option(server, remote):
    out = mltrack("--url", server.url, "submit", "--task", "quadratic", "--noisy",
                  "--x0", "-2", "--steps", "2")
    assert out.returncode == 0, out.stderr
    iid, = out.stdout.split()
    params = remote.status(iid)["hyper_params"]
    assert params["noisy"] is True and params["x0"] == -2.0 and params["steps"] == 2
    out = mltrack("submit", "--task", "quadratic", "--no-noisy", "--steps", "2",
                  "--url", server.url)
    assert out.returncode == 0, out.stderr
    assert remote.status(out.stdout.strip())["hyper_params"]["noisy"] is False
    out = mltrack("submit", "--task", "quadratic", "--noisy", "true,false", "--steps", "1",
                  url=server.url)
    assert out.returncode == 0, out.stderr
    assert [remote.status(i)["hyper_params"]["noisy"] for i in out.stdout.split()] == [True,
                                                                                      False]


@pytest.mark.parametrize("args, message", [
    (["--lr", "5"], "mltrack: lr: must satisfy 0.0001 <= lr <= 1, got 5 (HTTP 400)"),
    (["--lr", "fast"], "mltrack: lr: must be a number, got a string (HTTP 400)"),
    (["--steps", "2.5"], "mltrack: steps: must be a whole number, got 2.5 (HTTP 400)"),
    (["--method", "newton"], "mltrack: method: must be one of gd, momentum"),
    (["--noisy", "maybe"], "mltrack: noisy: must be true or false, got a string"),
    (["--lr", "0.1,2"], "lr"),  # a sweep with one bad value queues nothing
])
def test_a_bad_value_answers_the_servers_message_and_queues_nothing(server, remote, args,
                                                                    message):
    before = remote.page(task="quadratic", limit=1)["total"]
    out = mltrack("submit", "--task", "quadratic", *args, url=server.url)
    assert out.returncode == 1 and out.stdout == ""
    assert message in out.stderr and "Traceback" not in out.stderr
    assert remote.page(task="quadratic", limit=1)["total"] == before


def test_submit_usage_errors_exit_2(server):
    out = mltrack("submit", "--task", "quadratic", "--learning-rate", "0.1", url=server.url)
    assert out.returncode == 2 and "unrecognized arguments: --learning-rate" in out.stderr
    out = mltrack("submit", "--task", "nope", url=server.url)
    assert out.returncode == 1 and "mltrack: no task 'nope'" in out.stderr
    out = mltrack("submit", "--task", "quadratic", "--help", url=server.url)
    assert out.returncode == 0
    for flag in ("--lr X[,X...]", "--steps N[,N...]", "--noisy", "--no-noisy", "--method",
                 "gradient steps, one per epoch"):
        assert flag in out.stdout
    # mnist's own help has a '%' ("10x lower at 50%"): argparse read it as a format
    out = mltrack("submit", "--help", url=server.url)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "--lr-schedule" in out.stdout and "50%" in out.stdout


def test_submit_flags_come_from_the_schema():
    task = {"name": "t", "params": {
        "learning_rate": {"type": "float", "default": 0.1, "low": 0, "high": 1, "help": "lr"},
        "layers": {"type": "int", "default": 2, "low": 1, "high": 8},
        "act": {"type": "choice", "default": "relu", "options": ["relu", "tanh"]},
        "width": {"type": "choice", "default": 64, "options": [64, 128]},
        "bn": {"type": "bool", "default": False}}}
    parser = submit_parser(task)
    percent = submit_parser({"name": "p", "params": {"x": {
        "type": "choice", "default": "a%", "options": ["a%", "b"], "help": "100% sure, % s"}}})
    assert "100% sure, % s (default a%; one of a%, b)" in " ".join(percent.format_help().split())
    args = vars(parser.parse_args(["--learning-rate", "0.1,0.2", "--layers", "3", "--bn",
                                   "--act", "tanh", "--width", "128"]))
    assert args["learning_rate"] == "0.1,0.2" and args["bn"] == "true"
    assert vars(parser.parse_args(["--learning_rate", "1e-3"]))["learning_rate"] == "1e-3"
    assert vars(parser.parse_args(["--no-bn"]))["bn"] == "false"
    spec = task["params"]
    assert parse_value("1e-3", spec["learning_rate"]) == 0.001
    assert parse_value("3", spec["layers"]) == 3
    assert parse_value("3.5", spec["layers"]) == 3.5  # the server says why not
    assert parse_value("TANH", spec["act"]) == "TANH"
    assert parse_value("128", spec["width"]) == 128
    assert parse_value("Yes", spec["bn"]) is True and parse_value("0", spec["bn"]) is False


def test_ls_lists_in_the_servers_order_with_the_tasks_columns(server, remote):
    iids = remote.sweep({"steps": 2}, {"lr": [0.05, 0.2, 0.4]}, task="quadratic")
    remote.wait(iids, timeout=60, poll=0.1, progress=False)
    out = mltrack("ls", "--task", "quadratic", "--sort", "loss", "--limit", "0",
                  url=server.url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    header = lines[0].split()
    assert header[:3] == ["iid", "status", "epochs"] and "loss" in header
    assert "best_loss" in header and "lr" in header
    expected = [r["iid"][:8] for r in remote.records(task="quadratic", sort="loss")]
    shown = [line.split()[0] for line in lines[1:] if line.split()
             and len(line.split()[0]) == 8 and line.split()[0] in expected]
    assert shown == expected
    total = remote.page(task="quadratic", limit=1)["total"]
    assert f"{total} jobs" in out.stdout
    # --limit, --status, --q and --order go to the server
    out = mltrack("ls", "--task", "quadratic", "--sort", "loss", "--order", "asc",
                  "--limit", "2", "--status", "done", url=server.url)
    assert out.returncode == 0, out.stderr
    rows = [line.split()[0] for line in out.stdout.splitlines()[1:3]]
    assert rows == [r["iid"][:8] for r in remote.records(task="quadratic", sort="loss",
                                                         order="asc", status="done",
                                                         limit=2)]
    assert "2 of " in out.stdout and "--limit N for more" in out.stdout
    out = mltrack("ls", "--q", iids[1][:10], url=server.url)
    assert out.returncode == 0 and iids[1][:8] in out.stdout and iids[0][:8] not in out.stdout


def test_ls_shows_why_a_job_failed_and_what_its_rows_share(server, remote):
    for lr in (0.1, 0.2):
        run = remote.start_run(task="cli-failed", hyper_params={"lr": lr, "width": 64})
        run.log(1, {"loss": lr})
        run.finish("failed", error=f"out of memory at lr {lr}")
    out = mltrack("ls", "--task", "cli-failed", url=server.url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["iid", "status", "epochs", "loss", "best_loss", "lr", "runtime",
                                "created", "error"]
    assert lines[1].endswith("out of memory at lr 0.2") and lines[2].endswith("at lr 0.1")
    assert "same in every row: width=64" in out.stdout and "2 jobs" in out.stdout
    wide = mltrack("ls", "--task", "cli-failed", "--wide", url=server.url)
    assert "width" in wide.stdout.splitlines()[0].split()


def test_long_errors_and_tags_leave_the_other_columns_whole(server, remote):
    """20 tags of 40 characters, or an error longer than the terminal, squeezed
    iid, status and metrics to nothing."""
    runs = []
    for n, error in enumerate(["boom [/red] " + "x" * 300, "short"]):
        run = remote.start_run(task="cli-long", hyper_params={"lr": 0.1 * (n + 1)})
        run.log(1, {"loss": 0.5 + n})
        run.finish("failed", error=error)
        runs.append(run.iid)
    remote.set_tags(runs[0], [f"t{n:02d}" + "x" * 37 for n in range(20)])
    for columns in ("100", "1000"):
        out = mltrack("ls", "--task", "cli-long", env={"COLUMNS": columns}, url=server.url)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0].split() == ["iid", "status", "epochs", "loss", "best_loss", "lr",
                                    "runtime", "created", "tags", "error"]
        assert all(len(line) <= int(columns) for line in lines)
        first, second = (lines[1], lines[2]) if lines[1].startswith(runs[1][:8]) else (
            lines[2], lines[1])
        assert first.split()[:4] == [runs[1][:8], "failed", "1", "1.5"] and \
            first.endswith("short")
        assert second.split()[:4] == [runs[0][:8], "failed", "1", "0.5"]
        assert "t00x" in second and "boom [/" in second  # printed as it is, not as markup
        assert second.endswith("…")
    # a wide terminal shows 40 characters of tags and 80 of the error
    assert f"t00{'x' * 36}…" in second and f"boom [/red] {'x' * 67}…" in second
    # no room at all beside the other columns: left out, and said so; the rest whole
    out = mltrack("ls", "--task", "cli-long", env={"COLUMNS": "80"}, url=server.url)
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["iid", "status", "epochs", "loss", "best_loss", "lr",
                                "runtime", "created"]
    assert {line.split()[0] for line in lines[1:3]} == {runs[0][:8], runs[1][:8]}
    assert "tags and error left out: no room beside the other columns" in out.stdout


def test_values_that_look_like_rich_markup_print_as_typed(server, remote):
    """A tracked run's "[/x]" crashed ls, show and importance (MarkupError), and
    "[link=...]click[/link]" printed as a hidden link reading "click"."""
    values = ["[/x]", "[bold red]boom", "[link=file:///etc/passwd]click[/link]"]
    for n, value in enumerate(values):
        with remote.start_run(task="cli-markup", hyper_params={"s": value, "k": "[/k]",
                                                               "n": n}) as run:
            run.log(1, {"loss": float(n)})
    for command in (["ls", "--task", "cli-markup"], ["show", run.iid],
                    ["importance", "--task", "cli-markup"]):
        out = mltrack(*command, url=server.url)
        assert out.returncode == 0 and "Traceback" not in out.stderr, (command, out.stderr)
        assert "[/k]" in out.stdout, command  # the value every run has, as typed
    assert values[2] in mltrack("show", run.iid, url=server.url).stdout
    assert all(v in mltrack("ls", "--task", "cli-markup", url=server.url).stdout
               for v in values)


def test_ls_errors_name_the_field(server):
    out = mltrack("ls", "--sort", "colour", url=server.url)
    assert out.returncode == 1 and "mltrack: sort: must be one of" in out.stderr
    out = mltrack("ls", "--status", "sleeping", url=server.url)
    assert out.returncode == 2 and "invalid choice: 'sleeping'" in out.stderr


def test_show_prints_parameters_and_every_epoch(server, remote):
    iid = remote.submit({"lr": 0.25, "steps": 3, "x0": 4.0}, task="quadratic")
    remote.wait(iid, timeout=60, poll=0.1, progress=False)
    out = mltrack("show", iid[:8], url=server.url)  # a prefix is enough
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{iid}  task quadratic  done  epochs 3/3")
    assert "lr" in out.stdout and "0.25" in out.stdout
    epochs = remote.status(iid)["in_update"]
    lines = [line.strip() for line in out.stdout.splitlines()]
    table = lines[lines.index("epochs") + 1:]
    assert table[0].split()[:3] == ["epoch", "loss", "x"]
    for i in range(3):
        row = table[1 + i].split()
        assert row[0] == str(i + 1)
        assert float(row[1]) == pytest.approx(epochs["loss"][i], rel=1e-3)
    out = mltrack("show", "0" * 32, url=server.url)
    assert out.returncode == 1 and "no job with iid" in out.stderr


def test_show_says_where_a_running_job_is_and_prints_an_error_as_it_is(server, remote):
    with remote.start_run(task="cli-show", hyper_params={"lr": 0.1}, lease=3) as run:
        run.log(1, {"loss": 0.5})
        run.progress(120, 469)  # sent with the next heartbeat (every lease/3 s)
        wait_for(lambda: (remote.status(run.iid).get("progress") or {}).get("batch") == 120)
        out = mltrack("show", run.iid, url=server.url)
        assert out.returncode == 0, out.stderr
        assert "epoch 2: batch 120 of 469, estimating the time left" in out.stdout
    failing = remote.start_run(task="cli-show", hyper_params={"lr": 0.2})
    failing.finish("failed", error="bad [/red] markup [bold] \x1b[2J cleared")
    out = mltrack("show", failing.iid, url=server.url)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    # as typed, but the terminal's escape shown, not sent (it cleared the screen)
    assert "error: bad [/red] markup [bold] \\x1b[2J cleared" in out.stdout
    assert "\x1b" not in out.stdout
    lines = out.stdout.splitlines()  # a narrow table's title was wrapped: "para / mete / rs"
    assert lines[lines.index("parameters") + 1].split() == ["lr", "0.2"]


def test_cancel_retry_delete_several_and_report_each(live_app):
    """On live_app, which has no worker: jobs wait until told otherwise."""
    client = Client(live_app)
    try:
        iids = client.sweep({"model": "mlp"}, {"seed": [1, 2, 3]})
        out = mltrack("cancel", iids[0], iids[1][:6], url=live_app)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == [f"{iids[0]} cancelled", f"{iids[1]} cancelled"]
        assert [client.status(i)["status"] for i in iids] == ["cancelled", "cancelled",
                                                              "waiting"]
        out = mltrack("retry", iids[0], url=live_app)
        assert out.returncode == 0, out.stderr
        new = out.stdout.split()[-1]
        assert out.stdout.strip() == f"{iids[0]} retried as {new}"
        assert client.status(new)["retry_of"] == iids[0]
        # one that cannot be deleted among those that can: the others are, and the
        # exit status and the server's message say it
        out = mltrack("delete", iids[0], iids[2], iids[1], url=live_app)
        assert out.returncode == 1
        assert out.stdout.splitlines() == [f"{iids[0]} deleted", f"{iids[1]} deleted"]
        assert f"mltrack: {iids[2]}: job {iids[2]} is waiting" in out.stderr
        assert [r["iid"] for r in client.records(sort="created", order="asc")] == [iids[2], new]
        out = mltrack("show", "0" * 32, url=live_app)
        assert out.returncode == 1 and "no job with iid" in out.stderr
        out = mltrack("cancel", "xyz", url=live_app)
        assert out.returncode == 1 and "'xyz' is not an iid" in out.stderr
    finally:
        client.close()


def test_watch_shows_running_jobs_until_the_queue_is_empty(server, remote):
    """A tracked run is running for as long as the test says: watch follows it
    and ends once it is done and nothing waits."""
    run = remote.start_run(task="cli-watch", hyper_params={"lr": 0.5}, num_epochs=3)
    try:
        run.log(1, {"loss": 0.5})
        script = Path(sys.executable).parent / "mltrack"
        proc = subprocess.Popen([str(script), "watch", "--url", server.url, "--interval",
                                 "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=child_env({"COLUMNS": "200"}))
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        # Once watch has shown the running job (a busy machine takes seconds to start
        # a Python): finishing it before then would leave watch an empty queue.
        wait_for(lambda: f"{run.iid[:8]} cli-watch running" in "".join(lines)
                 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, "".join(lines)  # a job runs: still watching
        run.log(2, {"loss": 0.25})
        run.finish()
        proc.wait(60)
        reader.join(30)
        out, err = "".join(lines), proc.stderr.read()
    finally:
        run.finish()
    assert proc.returncode == 0, err
    assert f"{run.iid[:8]} cli-watch done after 2/3 epochs  loss 0.25" in out
    assert "the queue is empty (1 job ended while watching)" in out


def test_watch_leaves_quietly_on_ctrl_c(live_app):
    with Client(live_app) as client:
        client.submit({})  # no worker on live_app: it waits, and watch goes on
    script = Path(sys.executable).parent / "mltrack"
    proc = subprocess.Popen([str(script), "watch", "--url", live_app, "--interval", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    # Ctrl-C once it watches: a busy machine may take seconds to start it, and a
    # SIGINT while Python still imports is a KeyboardInterrupt traceback, not watch's
    wait_for(lambda: "waiting 1" in "".join(lines) or proc.poll() is not None, timeout=60)
    # it says why nothing moves (it waited for ever without a word)
    wait_for(lambda: "no worker runs task mnist: its jobs wait until a worker of it starts"
             in "".join(lines) or proc.poll() is not None, timeout=60)
    time.sleep(0.5)  # a few rounds of watching
    assert proc.poll() is None, "".join(lines)  # still watching
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    reader.join(30)
    out, err = "".join(lines), proc.stderr.read()
    assert proc.returncode == 0, err
    assert err == "" and "waiting 1" in out


def test_an_unreachable_mltrack_is_named(tmp_path):
    out = mltrack("ls", url="http://127.0.0.1:9")
    assert out.returncode == 1
    assert out.stderr.startswith("mltrack: cannot reach mltrack at http://127.0.0.1:9: ")


def test_serving_is_unchanged_and_client_commands_are_told_apart():
    assert is_client_command(["ls"]) and is_client_command(["--url", "http://x", "show", "a"])
    assert is_client_command(["--url=http://x", "watch"])
    from mltrack.cli import COMMANDS  # every client command reaches the client
    assert all(is_client_command([name]) for name in COMMANDS)
    for serve in ([], ["serve"], ["worker", "--redis-url", "redis://x"], ["--port", "0"],
                  ["--help"]):
        assert not is_client_command(serve)
    out = mltrack("--help")
    assert out.returncode == 0 and "--data-dir" in out.stdout  # the server's help
    from mltrack.__main__ import CLIENT_COMMANDS  # and every client command
    assert f"mltrack {'|'.join(CLIENT_COMMANDS)}" in " ".join(out.stdout.split())
    assert "|importance" in out.stdout
    out = mltrack("ls", "--help")
    assert out.returncode == 0 and "--sort" in out.stdout and "--data-dir" not in out.stdout


# -- the reviewer's findings (a new user's try) ---------------------------------------------
@pytest.mark.parametrize("flag, text", [("--x0", "1, ,2"), ("--lr", "0.3 ,0.1,"),
                                        ("--lr", ",0.1"), ("--steps", "2,,3")])
def test_an_empty_item_in_a_comma_list_is_refused_naming_the_flag(server, remote, flag, text):
    before = remote.page(limit=1)["total"]
    out = mltrack("submit", "--task", "quadratic", flag, text, url=server.url)
    assert out.returncode == 2, out
    assert f"mltrack submit: error: {flag}: an empty value in {text!r}" in out.stderr
    assert out.stdout == "" and remote.page(limit=1)["total"] == before  # nothing queued


def test_submit_says_a_tracked_only_task_cannot_be_queued(server, remote):
    with remote.start_run(task="cli-tracked-only", hyper_params={"lr": 0.1, "depth": 3}) as run:
        run.log(1, {"loss": 0.5})
    assert remote.task("cli-tracked-only")["tracked"] is True
    before = remote.page(limit=1)["total"]
    out = mltrack("submit", "--task", "cli-tracked-only", "--help", url=server.url)
    assert out.returncode == 0, out.stderr
    assert "task cli-tracked-only is tracked from scripts" in out.stdout
    assert "cannot be queued" in out.stdout and "--depth" not in out.stdout
    out = mltrack("submit", "--task", "cli-tracked-only", "--lr", "0.2", url=server.url)
    assert out.returncode == 1 and "cannot be queued with mltrack submit" in out.stderr
    assert remote.page(limit=1)["total"] == before


def test_ls_of_mixed_tasks_says_same_in_every_row_only_of_what_every_row_has(live_app, store):
    from sample_tasks import quadratic_run

    with Client(live_app) as client:
        for seed in (1, 2):  # no worker: they wait
            client.submit({"model": "cnn", "seed": seed})
    for lr in (0.1, 0.2):
        quadratic_run(store, {"lr": lr, "method": "momentum", "steps": 2})
    out = mltrack("ls", url=live_app)
    assert out.returncode == 0, out.stderr
    notes = {line.split(":")[0]: line for line in out.stdout.splitlines()
             if line.startswith("same in")}
    assert "same in every row" not in notes  # no hyperparameter is in every row
    assert "beta=0.9" in notes["same in every quadratic row"]
    assert "method=momentum" in notes["same in every quadratic row"]
    assert "model=cnn" in notes["same in every mnist row"]
    assert "beta" not in notes["same in every mnist row"]
    header = out.stdout.splitlines()[0].split()
    assert "lr" in header and "seed" in header and "beta" not in header


def test_watch_piped_prints_plain_lines_as_a_job_goes(server, remote):
    """Piped (not a terminal): a line as the job starts, one per epoch, one
    when it ends, each as it happens (read while the job still runs)."""
    import queue
    import threading

    run = remote.start_run(task="cli-watch-plain", hyper_params={"lr": 0.5}, num_epochs=3)
    lines: queue.Queue = queue.Queue()

    def until(text: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=1):
                    return
            except queue.Empty:
                pass
        raise AssertionError(f"no line with {text!r} within 30 s")

    script = Path(sys.executable).parent / "mltrack"
    proc = subprocess.Popen([str(script), "watch", "--url", server.url, "--interval", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout],
                     daemon=True).start()
    try:
        run.log(1, {"loss": 0.5})
        until(f"{run.iid[:8]} cli-watch-plain running epochs 1/3 loss 0.5")
        until("running 1  waiting 0")
        run.log(2, {"loss": 0.25})
        until(f"{run.iid[:8]} cli-watch-plain running epochs 2/3 loss 0.25")
        assert proc.poll() is None  # still watching while it runs
        run.finish()
        until(f"{run.iid[:8]} cli-watch-plain done after 2/3 epochs  loss 0.25")
        until("the queue is empty (1 job ended while watching)")
        assert proc.wait(30) == 0
    finally:
        run.finish()
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("command", [["ls"], ["show", "FIRST"], ["submit", "--help"],
                                     ["importance", "--task", "quadratic"]])
def test_output_into_a_closed_pipe_exits_quietly(server, remote, command):
    """`mltrack show IID | head -4` ended in a BrokenPipeError traceback."""
    if "FIRST" in command:
        command = ["show", remote.records(limit=1)[0]["iid"]] if remote.records(limit=1) \
            else ["show", remote.submit({"x0": 1.0}, task="quadratic")]
    script = Path(sys.executable).parent / "mltrack"
    child = subprocess.Popen([str(script), *command], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=child_env({"MLTRACK_URL": server.url}))
    child.stdout.close()  # the reader left at once (`| head -0`)
    err = child.stderr.read().decode()
    assert child.wait(60) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_submit_says_when_no_worker_runs_the_task(live_app, server, capsys):
    from mltrack.cli import main

    assert main(["submit", "--url", live_app, "--model", "mlp"]) == 0  # no worker there
    assert ("queued 1 job of task mnist\nno worker runs task mnist now: its jobs wait until "
            "a worker of it starts") in capsys.readouterr().err
    out = mltrack("submit", "--task", "quadratic", "--steps", "1", url=server.url)  # one runs it
    assert out.returncode == 0 and "no worker" not in out.stderr
