"""mltrack.Client against a real mltrack: the live_app fixture (the real app on
waitress over the real store, no workers) for listings and errors, and a real
mltrack process with a worker of the sample task for jobs that run."""
from __future__ import annotations

import math
import random
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

import mltrack
from helpers import REPO, ChildProcess, child_env, start_mltrack, wait_for
from lossy_proxy import hang_up
from mltrack.client import Client, ClientError, RunStopped
from mltrack.params import MNIST, HyperParams
from sample_tasks import quadratic_run

SAMPLE_TASK = f"{REPO / 'tests' / 'sample_tasks.py'}:TASK"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real mltrack with one worker that runs the sample quadratic task."""
    app = start_mltrack(tmp_path_factory.mktemp("client"), "--workers", "1",
                        "--task", SAMPLE_TASK)
    yield app
    app.proc.terminate()
    app.proc.wait(30)


@pytest.fixture
def remote(server):
    with Client(server.url) as client:
        yield client


@pytest.fixture
def api(live_app):
    """A client of live_app, closed before the server (no connection left open)."""
    with Client(live_app) as client:
        yield client


def quadratic_losses(x0: float, lr: float, steps: int) -> list[float]:
    x, out = x0, []
    for _ in range(steps):
        x -= lr * 2 * x
        out.append(x * x)
    return out


# -- import ---------------------------------------------------------------------------
def test_the_client_imports_neither_torch_dash_redis_nor_pandas():
    code = ("import sys, mltrack; mltrack.Client; from mltrack.client import Client; "
            "print(sorted(m for m in ('torch', 'dash', 'flask', 'redis', 'pandas', 'tqdm') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=child_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- jobs that run ------------------------------------------------------------------------
def test_submit_sweep_wait_history_on_a_real_worker(remote, capsys):
    one = remote.submit({"lr": 0.2, "steps": 3}, task="quadratic")
    two = remote.sweep({"steps": 3, "x0": 2.0}, {"lr": [0.1, 0.3]}, task="quadratic")
    assert len(two) == 2 and len({one, *two}) == 3
    records = remote.wait([one, *two], timeout=60, poll=0.1)
    assert [r["iid"] for r in records] == [one, *two]  # the order given
    assert [r["status"] for r in records] == ["done"] * 3
    assert [r["hyper_params"]["lr"] for r in records] == [0.2, 0.1, 0.3]
    # the bar counted every epoch of the three jobs (tqdm writes to stderr)
    assert "9/9" in capsys.readouterr().err
    single = remote.wait(one, progress=False)
    assert isinstance(single, dict) and single["iid"] == one

    history = remote.history([one, *two])
    assert list(history.columns[:2]) == ["iid", "epoch"]
    assert {"loss", "x", "time_training"} <= set(history.columns)
    assert list(history["iid"]) == [one] * 3 + [two[0]] * 3 + [two[1]] * 3
    assert list(history["epoch"]) == [1, 2, 3] * 3
    assert list(history["loss"]) == pytest.approx(
        quadratic_losses(3.0, 0.2, 3) + quadratic_losses(2.0, 0.1, 3)
        + quadratic_losses(2.0, 0.3, 3))
    assert len(remote.history(one)) == 3

    status = remote.status(one)
    assert status["status"] == "done" and status["in_update"]["epoch"] == [1, 2, 3]


def test_wait_for_more_jobs_than_it_reads_a_round(remote):
    from mltrack.client import WAIT_BATCH

    n = WAIT_BATCH + 7
    x0s = [round(-9 + 18 * k / n, 3) for k in range(n)]  # within x0's bounds, -10..10
    iids = remote.sweep({"steps": 1}, {"x0": x0s}, task="quadratic")
    records = remote.wait(iids, timeout=120, poll=0.05, progress=False)
    assert [r["iid"] for r in records] == iids
    assert {r["status"] for r in records} == {"done"}
    assert [r["hyper_params"]["x0"] for r in records] == x0s


def test_wait_gives_up_after_its_timeout_naming_the_jobs(api, live_app):
    client = api
    iid = client.submit({"model": "mlp"})  # no worker here: it waits for ever
    # (a wait that ignored its timeout would never raise: pytest's timeout ends it;
    # no duration is asserted, a busy CI machine answers late)
    with pytest.raises(ClientError, match=f"timed out after 0.5 s; 1 job\\(s\\) not finished: "
                                          f"{iid}"):
        client.wait([iid], timeout=0.5, poll=0.1, progress=False)


# -- listings ---------------------------------------------------------------------------------
def fill(store, n: int, seed: int = 0) -> None:
    """n MNIST jobs, each third given one epoch with a random accuracy (ties
    included), so that a sort by test_accuracy mixes scored and unscored jobs."""
    rng = random.Random(seed)
    for start in range(0, n, 1000):
        params = [HyperParams(model=rng.choice(["mlp", "cnn"]), seed=start + i,
                              learning_rate=rng.choice([0.1, 0.01, 0.001]))
                  for i in range(min(1000, n - start))]
        store.create_many(params, now=1e9 + start, schema=MNIST)
    for k in range(n // 3):
        claim = store.claim(f"test-{k}", tasks={"mnist": MNIST})
        acc = rng.choice([90.0, 95.5, 97.25]) + rng.randrange(0, 100) / 10
        store.record_epoch(claim.iid, claim.attempt, {
            "epoch": 1, "time_training": 1.0, "train_loss": 0.5, "train_accuracy": acc - 1,
            "test_loss": 0.25, "test_accuracy": acc})


def raw_listing(url: str, size: int, **params) -> list[dict]:
    """The listing fetched page by page with raw HTTP, `size` rows a page."""
    rows, offset = [], 0
    while True:
        page = requests.get(f"{url}/experiments", params={**params, "limit": size,
                                                          "offset": offset}, timeout=30).json()
        rows += page["results"]
        offset += size
        if offset >= page["total"]:
            return rows


def test_experiments_is_the_servers_listing_across_pages(api, live_app, store):
    fill(store, 2300)
    client = api
    for query in ({"sort": "test_accuracy"}, {"sort": "created", "order": "asc"},
                  {"sort": "learning_rate", "status": "waiting"}, {"q": "mlp"}):
        frame = client.experiments(**query)
        raw = raw_listing(live_app, 300, **query)
        assert list(frame["iid"]) == [r["iid"] for r in raw], query
        assert len(frame) == requests.get(f"{live_app}/experiments", params=query,
                                          timeout=30).json()["total"]
    frame = client.experiments(sort="test_accuracy")
    assert len(frame) == 2300  # three pages of the server's largest
    scored = frame["test_accuracy"].notna()
    assert scored.sum() == 2300 // 3 and scored[:2300 // 3].all()  # scored first
    assert list(frame["test_accuracy"][scored]) == sorted(frame["test_accuracy"][scored],
                                                          reverse=True)
    # hyperparameters and metrics are columns, the values the server's
    raw = raw_listing(live_app, 1000, sort="test_accuracy")
    for i in (0, 5, 2299):
        row, record = frame.iloc[i], raw[i]
        for name, value in record["hyper_params"].items():
            assert row[name] == value
        for name in ("test_accuracy", "best_test_accuracy", "train_loss", "epochs_done"):
            assert (row[name] == record[name]) or (record[name] is None and math.isnan(row[name]))
        assert row["created"].timestamp() == pytest.approx(record["created"])
    assert list(frame.columns[:3]) == ["iid", "task", "status"]


def test_experiments_limit_and_filters(api, live_app, store):
    fill(store, 1500, seed=1)
    client = api
    first = client.experiments(sort="test_accuracy", limit=1200)
    assert list(first["iid"]) == [r["iid"] for r in raw_listing(live_app, 400,
                                                                sort="test_accuracy")][:1200]
    assert list(client.experiments(limit=7)["iid"]) == list(client.experiments()["iid"][:7])
    done = client.experiments(status="running")
    assert len(done) == 500 and set(done["status"]) == {"running"}
    quadratic_run(store, {"lr": 0.5, "steps": 2})
    mixed = client.experiments(task="quadratic")
    assert list(mixed["task"]) == ["quadratic"] and mixed["loss"][0] == pytest.approx(0.0)
    assert {"lr", "x0", "steps", "loss", "best_loss", "x", "best_x"} <= set(mixed.columns)
    assert len(client.experiments(q="nothing-matches-this")) == 0
    records = client.records(sort="created", limit=3)
    assert [r["iid"] for r in records] == list(client.experiments(limit=3)["iid"])


def test_a_task_hyperparameter_named_like_another_tasks_metric_gets_its_own_column():
    from mltrack.client import records_frame

    frame = records_frame([
        {"iid": "a" * 32, "task": "one", "status": "done", "hyper_params": {"x": 1},
         "num_epochs": 3, "loss": 0.5, "best_loss": 0.4},
        {"iid": "b" * 32, "task": "two", "status": "done", "hyper_params": {"lr": 0.1},
         "num_epochs": 2, "x": 7.0, "best_x": 8.0}])
    assert frame["params.x"].tolist()[0] == 1 and frame["x"].tolist()[1] == 7.0
    assert list(frame.columns[:7]) == ["iid", "task", "status", "params.x", "lr", "loss",
                                       "best_loss"]


# -- cancel, retry, delete, errors ------------------------------------------------------------
def test_cancel_retry_delete(api, live_app):
    client = api
    iid = client.submit({"model": "mlp", "learning_rate": 0.05})
    assert client.status(iid)["status"] == "waiting"
    assert client.cancel(iid)["status"] == "cancelled"
    assert client.status(iid)["status"] == "cancelled"
    again = client.retry(iid)
    assert again != iid
    retried = client.status(again)
    assert retried["status"] == "waiting" and retried["retry_of"] == iid
    assert retried["hyper_params"]["learning_rate"] == 0.05
    with pytest.raises(ClientError) as refused:
        client.delete(again)  # waiting: not finished
    assert refused.value.status == 409 and "waiting" in refused.value.message
    client.delete(iid)
    with pytest.raises(ClientError) as gone:
        client.status(iid)
    assert gone.value.status == 404 and iid in gone.value.message


@pytest.mark.parametrize("call, status, field, message", [
    (lambda c: c.submit({"learning_rate": 20}), 400, "learning_rate",
     "learning_rate: must satisfy 0 < learning_rate <= 10, got 20"),
    (lambda c: c.submit({}, task="nope"), 400, "task", "no task 'nope'"),
    (lambda c: c.sweep({}, {"optimizer": ["adam", "sgdx"]}), 400, "optimizer", "sgdx"),
    (lambda c: c.experiments(sort="colour"), 400, "sort", "must be one of"),
    (lambda c: c.experiments(status="sleeping"), 400, "status", "sleeping"),
    (lambda c: c.cancel("0" * 32), 404, None, "no job with iid"),
    (lambda c: c.history("0" * 32), 404, None, "no job with iid"),
    (lambda c: c.task("nope"), 404, None, "no task 'nope'"),
])
def test_errors_carry_the_status_field_and_the_servers_message(remote, call, status, field,
                                                               message):
    with pytest.raises(ClientError) as error:
        call(remote)
    assert error.value.status == status and error.value.field == field
    assert message in error.value.message and message in str(error.value)
    assert isinstance(error.value, mltrack.ClientError)


def test_an_unreachable_mltrack_is_named_in_the_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ClientError) as error:
        Client(f"http://127.0.0.1:{port}").health()
    assert error.value.status is None
    assert str(error.value).startswith(f"cannot reach mltrack at http://127.0.0.1:{port}: "
                                       "connection refused")
    assert "MLTRACK_URL" in str(error.value)


@pytest.fixture
def guarded(tmp_path):
    """A real mltrack with a password (MLTRACK_PASSWORD in its environment)."""
    app = start_mltrack(tmp_path, "--workers", "0", env={"MLTRACK_PASSWORD": "s3cret"})
    yield app.url.rstrip("/")
    app.proc.terminate()
    app.proc.wait(30)


def test_url_and_password_from_the_arguments_or_the_environment(guarded, monkeypatch):
    monkeypatch.delenv("MLTRACK_PASSWORD", raising=False)
    with pytest.raises(ClientError) as refused, Client(guarded) as client:
        client.health()
    assert refused.value.status == 401 and "MLTRACK_PASSWORD" in refused.value.message
    with Client(guarded, password="s3cret") as client:
        assert client.health()["status"] == "ok"
    monkeypatch.setenv("MLTRACK_URL", guarded)
    monkeypatch.setenv("MLTRACK_PASSWORD", "s3cret")
    with Client() as from_env:
        assert from_env.url == guarded and from_env.health()["status"] == "ok"
    monkeypatch.delenv("MLTRACK_URL")
    assert Client().url == "http://127.0.0.1:8050"


# -- tracking a script --------------------------------------------------------------------------
def test_a_tracked_run_is_live_then_done(remote):
    with remote.start_run(task="track-done", hyper_params={"lr": 0.01, "layers": 4,
                                                           "opt": "sgd", "bn": True},
                          metrics={"val_acc": "max"}) as run:
        assert remote.status(run.iid)["status"] == "running"
        for epoch in range(1, 4):
            run.log(epoch, {"loss": 1.0 / epoch, "val_acc": 50.0 + epoch})
        live = remote.status(run.iid)
        assert live["status"] == "running" and live["in_update"]["epoch"] == [1, 2, 3]
        assert not run.should_stop()
    record = remote.status(run.iid)
    assert record["status"] == "done" and record["task"] == "track-done"
    assert record["hyper_params"] == {"lr": 0.01, "layers": 4, "opt": "sgd", "bn": True}
    history = remote.history(run.iid)
    assert list(history["loss"]) == [1.0, 0.5, pytest.approx(1 / 3)]
    assert list(history["val_acc"]) == [51.0, 52.0, 53.0]
    goals = {m["name"]: m["goal"] for m in remote.task("track-done")["metrics"]}
    assert goals == {"val_acc": "max", "loss": "min"}  # loss: from its name
    frame = remote.experiments(task="track-done", sort="loss")
    assert list(frame["iid"]) == [run.iid] and frame["loss"][0] == pytest.approx(1 / 3)


def test_an_exception_fails_the_run_with_the_error_and_goes_on_up(remote):
    with pytest.raises(ZeroDivisionError):
        with remote.start_run(task="track-fail", hyper_params={"lr": 0.1}) as run:
            run.log(1, {"loss": 0.5})
            1 / 0
    record = remote.status(run.iid)
    assert record["status"] == "failed"
    assert record["error"] == "ZeroDivisionError: division by zero"
    assert record["in_update"]["loss"] == [0.5]


def test_a_run_without_with_is_finished_by_hand_once(remote):
    run = remote.start_run(task="track-hand", hyper_params={"seed": 3})
    run.log(1, {"loss": 2.0})
    run.finish()
    run.finish()  # once only
    assert remote.status(run.iid)["status"] == "done"
    with pytest.raises(ClientError, match="finished"):
        run.log(2, {"loss": 1.0})
    failed = remote.start_run(task="track-hand", hyper_params={"seed": 4})
    failed.finish("failed", error="out of memory")
    record = remote.status(failed.iid)
    assert record["status"] == "failed" and record["error"] == "out of memory"


def test_numpy_scalars_are_sent_as_numbers(remote):
    import numpy as np

    iid = remote.submit({"lr": np.float64(0.25), "steps": np.int64(2)}, task="quadratic")
    assert remote.status(iid)["hyper_params"]["lr"] == 0.25
    with remote.start_run(task="track-numpy", hyper_params={"layers": np.int64(4)}) as run:
        run.log(1, {"loss": np.float32(0.5), "count": np.int64(7)})
    record = remote.status(run.iid)
    assert record["hyper_params"] == {"layers": 4}
    assert record["in_update"]["loss"] == [0.5] and record["in_update"]["count"] == [7]
    with pytest.raises(ClientError) as error:
        remote.submit({"lr": {1, 2}}, task="quadratic")
    assert error.value.field == "body" and "set" in error.value.message


def test_a_bad_metric_is_refused_naming_it(remote):
    with remote.start_run(task="track-bad") as run:
        with pytest.raises(ClientError) as nan:
            run.log(1, {"loss": float("nan")})
        assert nan.value.field == "loss" and "finite" in nan.value.message
        with pytest.raises(ClientError) as text:
            run.log(1, {"loss": "low"})
        assert text.value.field == "loss"
        run.log(1, {"loss": 0.5})
    assert remote.status(run.iid)["in_update"]["loss"] == [0.5]


def test_a_run_cancelled_from_the_api_stops_the_script(remote):
    after_block = []
    with remote.start_run(task="track-cancel", lease=3) as run:
        run.log(1, {"loss": 1.0})
        remote.cancel(run.iid)
        # the next heartbeat (every lease/3 s) hears it
        wait_for(run.should_stop)
        with pytest.raises(RunStopped) as stopped:
            run.log(2, {"loss": 0.5})
        assert stopped.value.status == 409
        run.log(3, {"loss": 0.25})  # raises again; the block swallows its own RunStopped
        after_block.append("not reached")
    after_block.append("reached")
    assert after_block == ["reached"]
    record = remote.status(run.iid)
    assert record["status"] == "cancelled" and record["in_update"]["epoch"] == [1]


class LossyHttpProxy:
    """A TCP proxy in front of mltrack that, once `lossy` is set, throws away
    every `every`-th piece of an answer and closes the connection: the server
    did the request, the client never hears so, or hears half (a network
    blip). Counted, not random: never two answers in a row, so the test
    cannot fail by bad luck."""

    def __init__(self, upstream_port: int, every: int = 3):
        self.upstream_port, self.every = upstream_port, every
        self.lossy = False
        self.pieces = self.dropped = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _drop(self) -> bool:
        with self.lock:
            self.pieces += 1
            if self.pieces % self.every:
                return False
            self.dropped += 1
            return True

    def _pump(self, source, sink, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if replies and self.lossy and self._drop():
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            hang_up(source, sink)


def test_a_tracked_run_resends_what_got_no_answer_and_records_each_epoch_once(server,
                                                                             remote):
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    proxy = LossyHttpProxy(port)
    try:
        with Client(proxy.url) as lossy:
            run = lossy.start_run(task="track-lossy", hyper_params={"lr": 0.1}, lease=30)
            proxy.lossy = True  # from here on, answers get lost (not POST /runs': not resent)
            with run:
                for epoch in range(1, 13):
                    run.log(epoch, {"loss": 1.0 / epoch})
        assert proxy.dropped >= 3  # the blips happened
    finally:
        proxy.close()
    record = remote.status(run.iid)
    assert record["status"] == "done"
    assert record["in_update"]["epoch"] == list(range(1, 13))
    assert record["in_update"]["loss"] == [pytest.approx(1.0 / e) for e in range(1, 13)]


TRACKED_SCRIPT = """
import sys, time, mltrack
client = mltrack.Client(sys.argv[1])
with client.start_run(task="track-killed", hyper_params={"lr": 0.1}, lease=float(sys.argv[2])) as run:
    print(run.iid, flush=True)
    run.log(1, {"loss": 1.0})
    print("logged", flush=True)
    time.sleep(3600)
"""


def test_a_tracked_script_killed_with_9_is_failed_as_lost_after_its_lease(remote, server,
                                                                         tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRACKED_SCRIPT)
    lease = 2.0
    child = ChildProcess(str(script), server.url, str(lease))
    try:
        wait_for(lambda: "logged" in child.output, timeout=60)
        iid = child.output.split()[0]
        # alive past three leases: its heartbeat thread keeps it running
        time.sleep(3 * lease)
        assert remote.status(iid)["status"] == "running"
        child.proc.kill()
        child.proc.wait(10)
        # failed once its lease runs out (within the wait's 60 s; no duration asserted)
        record = wait_for(lambda: (r := remote.status(iid))["status"] != "running" and r,
                          timeout=60, step=0.1)
        assert record["status"] == "failed" and "lost" in record["error"]
        assert record["in_update"]["epoch"] == [1]
    finally:
        if child.proc.poll() is None:
            child.proc.kill()


def test_the_notebook_example_runs_against_a_live_mltrack(server, remote):
    out = subprocess.run([sys.executable, str(REPO / "examples" / "notebook.py")],
                         capture_output=True, text=True, timeout=120,
                         env=child_env({"MLTRACK_URL": server.url,
                                        "MLTRACK_EXAMPLE_TASK": "quadratic"}))
    assert out.returncode == 0, out.stderr
    assert "['done', 'done']" in out.stdout
    tracked = remote.experiments(task="notebook-demo")
    assert tracked["status"].tolist()[0] == "done" and tracked["epochs_done"].tolist()[0] == 5
    assert f"{tracked['iid'][0]} done" in out.stdout


# -- the reviewer's findings (a new user's try) ---------------------------------------------
def metric_names_of(task: dict) -> set[str]:
    metrics = task.get("metrics") or []
    names = [m if isinstance(m, str) else m["name"] for m in metrics]
    return {n for name in names for n in (name, f"best_{name}")}


def test_every_record_field_of_the_server_is_a_column_of_its_own_not_a_metric(remote):
    """Each key of a live record is a record field the client knows or a metric
    of the job's task: none (`tracked`, say) is taken for a metric."""
    from mltrack.client import RECORD_FIELDS, metric_names

    with remote.start_run(task="record-fields", hyper_params={"lr": 0.1}) as run:
        run.log(1, {"loss": 0.5})
    queued = remote.submit({"lr": 0.1, "steps": 1}, task="quadratic")
    remote.wait(queued, timeout=60, poll=0.1, progress=False)
    for iid in (run.iid, queued):
        record = remote.status(iid)
        listed = remote.records(q=iid)[0]
        declared = metric_names_of(remote.task(record["task"]))
        for r in (record, listed):
            assert set(metric_names(r)) <= declared, set(metric_names(r)) - declared
            assert set(r) <= set(RECORD_FIELDS) | declared | {"hyper_params"}
    frame = remote.experiments(q=run.iid)
    assert frame["tracked"].tolist() == [True]
    # the record's fields come after every metric: `tracked` is one of them
    assert list(frame.columns[-2:]) == ["cancel_requested", "tracked"]
    assert "best_tracked" not in frame.columns


def test_mixed_tasks_have_one_num_epochs_column_and_params_dot_for_a_clash(api, live_app,
                                                                            store):
    client = api
    mnist = client.submit({"model": "mlp", "num_epochs": 4})
    quadratic_run(store, {"lr": 0.5, "steps": 2})
    frame = client.experiments()
    assert "params.num_epochs" not in frame.columns  # mnist's is the record's num_epochs
    assert list(frame.columns).count("num_epochs") == 1
    by_iid = dict(zip(frame["iid"], frame["num_epochs"]))
    assert by_iid[mnist] == 4 and sorted(by_iid.values()) == [2, 4]
    # a tracked run whose hyperparameter num_epochs is not its epoch count
    with client.start_run(task="clash", hyper_params={"num_epochs": 7}, num_epochs=3) as run:
        run.log(1, {"loss": 1.0})
    frame = client.experiments()
    row = frame[frame["iid"] == run.iid].iloc[0]
    assert row["num_epochs"] == 3 and row["params.num_epochs"] == 7
    assert frame[frame["iid"] == mnist].iloc[0]["params.num_epochs"] == 4


@pytest.mark.parametrize("bad", [-5, -1, 2.5, "10", True])
def test_a_bad_limit_is_refused_naming_it_and_0_means_every_row(api, live_app, store, bad):
    client = api
    for _ in range(3):
        client.submit({"model": "mlp"})
    with pytest.raises(ClientError) as refused:
        client.experiments(limit=bad)
    assert refused.value.field == "limit" and "limit: must be a whole number" in str(
        refused.value)
    with pytest.raises(ClientError, match="limit"):
        client.records(limit=bad)
    assert len(client.experiments(limit=0)) == 3 == len(client.experiments(limit=None))
    assert len(client.records(limit=0)) == 3 and len(client.experiments(limit=2)) == 2


@pytest.mark.parametrize("values", [0.1, "0.1", 3, None])
def test_a_sweep_of_a_single_value_is_refused_naming_the_field(remote, values):
    before = remote.page(limit=1)["total"]
    with pytest.raises(ClientError) as refused:
        remote.sweep({"steps": 1}, {"lr": values, "x0": [1.0, 2.0]}, task="quadratic")
    assert refused.value.field == "lr" and "lr: a sweep takes a list of values" in str(
        refused.value)
    assert remote.page(limit=1)["total"] == before  # nothing queued
    # lists, tuples and ranges are lists of values
    iids = remote.sweep({"lr": 0.1}, {"steps": range(1, 3), "x0": (1.0,)}, task="quadratic")
    assert len(iids) == 2


def test_the_repr_of_an_error_shows_its_status_and_field(remote):
    with pytest.raises(ClientError) as refused:
        remote.submit({"lr": 99}, task="quadratic")
    error = refused.value
    assert error.status == 400 and error.field == "lr"
    assert repr(error) == f"ClientError({error.message!r}, status=400, field='lr')"
    assert repr(ClientError("no answer")) == "ClientError('no answer')"


def test_a_cancelled_run_reads_cancelled_with_the_servers_own_message(remote):
    run = remote.start_run(task="track-cancel-status", lease=30)
    try:
        run.log(1, {"loss": 1.0})
        remote.cancel(run.iid)
        # what the server answers this run's writes now, word for word
        answer = requests.post(f"{remote.url}/runs/{run.iid}/log", timeout=30,
                               json={"token": run._token, "epoch": 2, "metrics": {"loss": 0.5}})
        assert answer.status_code == 409
        with pytest.raises(RunStopped):
            run.log(2, {"loss": 0.5})
        assert run.status == "cancelled" and run.stop_reason == answer.json()["error"]
    finally:
        run.finish()
    assert run.status == "cancelled" and "cancelled" in repr(run)


def test_a_run_failed_as_lost_reads_lost(remote):
    """A run whose lease ran out (its heartbeats stopped) is failed as lost by
    the server: the script's next write says so in `run.status`."""
    from mltrack.client import TrackedRun

    started = requests.post(f"{remote.url}/runs", timeout=30,
                            json={"task": "track-lost", "hyper_params": {}, "lease": 1}).json()
    wait_for(lambda: remote.status(started["iid"])["status"] == "failed", timeout=60)
    assert remote.status(started["iid"])["error"].startswith("lost")
    answer = requests.post(f"{remote.url}/runs/{started['iid']}/heartbeat", timeout=30,
                           json={"token": started["token"]})
    assert answer.status_code == 409
    run = TrackedRun(remote, started["iid"], started["token"], lease=30)
    try:
        with pytest.raises(RunStopped):
            run.log(1, {"loss": 1.0})
        assert run.status == "lost" and run.stop_reason == answer.json()["error"]
    finally:
        run.finish()
