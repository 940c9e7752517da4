"""The trained model: run.save_model -> Redis -> the server's data dir ->
GET /experiments/<iid>/model; retention, deletion, and the 404s that say why."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import mltrack
from mltrack.app import create_app
from mltrack.model_files import ModelFiles
from mltrack.store import Status
from mltrack.store import models as pending_models
from mltrack.worker import Worker, WorkerConfig

FAST = WorkerConfig(lease=3.0, idle_poll=0.02, progress_every=0.0)


def saving(params, run):
    """Two epochs, then its 'model': the bytes of its seed."""
    for epoch in (1, 2):
        run.log(epoch, {"loss": 1 / epoch})
    if params["fail"]:
        raise RuntimeError("broke after saving nothing")
    run.save_model(f"model of seed {params['seed']}".encode())


def silent(params, run):
    run.log(1, {"loss": 1.0})


def task(train=saving, name="saver"):
    return mltrack.Task(name=name, params={"seed": mltrack.Int(0, low=0, high=10**6),
                                           "fail": mltrack.Bool(False)},
                        metrics=[mltrack.Metric("loss", goal="min")], train=train)


def run_job(store, params=None, the_task=None):
    the_task = the_task or task()
    store.register_task(the_task.schema)
    iid = store.create(params or {}, schema=the_task.schema)
    assert Worker(store, the_task, config=FAST).run_once()
    return iid


@pytest.fixture
def models(tmp_path):
    return ModelFiles(tmp_path / "models", keep=3)


@pytest.fixture
def web(store, models):
    app = create_app(store, models=models)
    app.config["TESTING"] = True
    return app.test_client()


def test_a_done_runs_model_is_downloaded_from_the_servers_disk(store, models, web):
    iid = run_job(store, {"seed": 5})
    assert store.get(iid).status is Status.DONE
    assert pending_models.pending(store) == [iid]  # waits in Redis for a server
    r = web.get(f"/experiments/{iid}/model")
    assert r.status_code == 200 and r.data == b"model of seed 5"
    assert r.mimetype == "application/octet-stream"
    assert f"saver-{iid}.mltmodel" in r.headers["Content-Disposition"]
    path = models.path(iid)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.tmp"))  # written through a temporary file, renamed
    # out of Redis now: only on disk
    assert pending_models.pending(store) == []
    assert not store.redis.exists(store.keys.model(iid))
    assert web.get(f"/experiments/{iid}/model").data == b"model of seed 5"


def test_the_keeper_moves_models_without_a_request_and_deleting_the_run_deletes_the_file(
        store, models, web):
    a, b = run_job(store, {"seed": 1}), run_job(store, {"seed": 2})
    assert sorted(models.collect(store)) == sorted([a, b])
    assert models.find(a) and models.find(b)
    assert web.delete(f"/experiments/{a}").status_code == 200
    assert models.find(a) is None
    store.delete(b)  # the dashboard's bulk delete calls the store: the same hook
    assert models.find(b) is None
    r = web.get(f"/experiments/{a}/model")
    assert r.status_code == 404 and r.json["error"] == f"run {a} was deleted"  # as tags/note say
    # a file whose job went through another mltrack is swept up
    c = run_job(store, {"seed": 3})
    models.collect(store)
    store.on_delete.clear()
    store.delete(c)
    assert models.find(c) is not None
    assert models.remove_orphans(store) == [c] and models.find(c) is None


def test_retention_keeps_the_most_recent_models(store, models, web):
    iids = []
    for seed in range(5):
        iids.append(run_job(store, {"seed": seed}))
        models.collect(store)
        os.utime(models.path(iids[-1]), (1000 + seed, 1000 + seed))  # one a second apart
    assert [p.name[:32] for p in models.files()] == iids[:1:-1]
    r = web.get(f"/experiments/{iids[0]}/model")
    assert r.status_code == 404
    assert "no longer kept" in r.json["error"] and "--keep-models 3" in r.json["error"]
    assert web.get(f"/experiments/{iids[4]}/model").status_code == 200


def test_the_download_answers_byte_ranges_and_head_gives_the_length(store, models, web):
    iid = run_job(store, {"seed": 12345})
    whole = b"model of seed 12345"
    r = web.get(f"/experiments/{iid}/model", headers={"Range": "bytes=0-4"})
    assert r.status_code == 206 and r.data == whole[:5]
    assert r.headers["Content-Range"] == f"bytes 0-4/{len(whole)}"
    r = web.get(f"/experiments/{iid}/model", headers={"Range": "bytes=9-"})  # curl -C -
    assert r.status_code == 206 and r.data == whole[9:]
    r = web.head(f"/experiments/{iid}/model")
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(whole))
    assert r.headers["Accept-Ranges"] == "bytes"


def test_a_lower_keep_models_at_a_restart_trims_the_kept_files_at_once(store, tmp_path):
    import threading

    from mltrack.model_files import run_keeper
    before = ModelFiles(tmp_path / "models", keep=5)
    iids = [run_job(store, {"seed": seed}) for seed in range(3)]
    before.collect(store)
    for n, iid in enumerate(iids):
        os.utime(before.path(iid), (1000 + n, 1000 + n))
    stop = threading.Event()
    stop.set()  # the keeper's first step only: what a restart does before any wait
    run_keeper(ModelFiles(tmp_path / "models", keep=1), store, stop)
    assert [p.name[:32] for p in before.files()] == [iids[2]]
    web = create_app(store, models=ModelFiles(tmp_path / "models", keep=0)).test_client()
    run_keeper(ModelFiles(tmp_path / "models", keep=0), store, stop)
    assert before.files() == []
    r = web.get(f"/experiments/{iids[2]}/model")
    assert r.status_code == 404 and "--keep-models 0" in r.json["error"]


def test_keep_models_0_keeps_none(store, tmp_path):
    none = ModelFiles(tmp_path / "none", keep=0)
    web = create_app(store, models=none).test_client()
    iid = run_job(store)
    r = web.get(f"/experiments/{iid}/model")
    assert r.status_code == 404 and "--keep-models 0" in r.json["error"]
    assert pending_models.pending(store) == [] and not none.files()


@pytest.mark.parametrize("ending", ["failed", "cancelled", "pruned"])
def test_a_run_that_did_not_end_done_has_no_model(store, web, ending):
    if ending == "failed":
        iid = run_job(store, {"fail": True})
    else:
        the_task = task()
        store.register_task(the_task.schema)
        iid = store.create({}, schema=the_task.schema)
        claim = store.claim("w", tasks={"saver": the_task.schema})
        if ending == "cancelled":
            store.cancel(iid)
        store.finish(iid, claim.attempt, Status(ending))
    assert store.get(iid).status.value == ending
    r = web.get(f"/experiments/{iid}/model")
    assert r.status_code == 404
    assert r.json["error"] == (f"run {iid} is {ending}: only a done run has a model (its final "
                               "weights)")
    assert pending_models.pending(store) == []


def test_the_404s_say_why(store, models, web, tmp_path):
    quiet = run_job(store, the_task=task(silent, "quiet"))
    r = web.get(f"/experiments/{quiet}/model")
    assert r.status_code == 404 and "saved no model" in r.json["error"]
    assert r.is_json and json.loads(r.data)["error"]
    # kept by another mltrack (its own data dir): this one names it
    iid = run_job(store)
    other = ModelFiles(tmp_path / "elsewhere", keep=3)
    other.collect(store)
    r = web.get(f"/experiments/{iid}/model")
    assert r.status_code == 404 and other.where in r.json["error"]
    # an mltrack that keeps no models; an unknown and a malformed iid
    plain = create_app(store).test_client()
    assert "keeps no models" in plain.get(f"/experiments/{iid}/model").json["error"]
    assert web.get(f"/experiments/{'0' * 32}/model").status_code == 404
    assert web.get("/experiments/nope/model").status_code == 404


def test_save_model_takes_bytes_only(store):
    def wrong(params, run):
        run.log(1, {"loss": 1.0})
        run.save_model("a string")

    iid = run_job(store, the_task=task(wrong, "wrong"))
    job = store.get(iid)
    assert job.status is Status.FAILED and "run.save_model: the model must be bytes" in job.error


def test_put_model_is_fenced_by_attempt(store):
    the_task = task()
    store.register_task(the_task.schema)
    iid = store.create({}, schema=the_task.schema)
    claim = store.claim("w", tasks={"saver": the_task.schema})
    from mltrack.store import StaleAttempt
    with pytest.raises(StaleAttempt):
        pending_models.put_model(store, iid, claim.attempt + 1, b"x")
    assert pending_models.pending(store) == []


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    from mltrack import mnist
    root = Path("/tmp/mnistdata")
    if not (root / "MNIST" / "raw").is_dir():
        root = tmp_path_factory.mktemp("mnist")
    mnist._load(root, mnist.torch.device("cpu"))  # fetched here if missing
    return root


def test_an_mnist_mlp_model_loads_and_classifies(store, models, web, mnist_root, tmp_path,
                                                 monkeypatch):
    """The built-in task saves its final weights; load_model builds the network
    from the downloaded file, and it classifies as the run measured. Trained on
    a slice of MNIST (a test, not a benchmark)."""
    import torch

    from mltrack import mnist
    from mltrack.checkpoint import pack_state
    from mltrack.mnist_task import TASK, load_model
    full = mnist.load_mnist(mnist_root)
    part = mnist.MnistData(full.train_x[:4000], full.train_y[:4000], full.test_x[:2000],
                           full.test_y[:2000], "a slice")
    monkeypatch.setattr(mnist, "load_mnist", lambda root, device="cpu": part)
    iid = store.create({"model": "mlp", "num_epochs": 1, "batch_size": 32})
    assert Worker(store, TASK, config=FAST, data_dir=tmp_path, device="cpu").run_once()
    job = store.get(iid)
    assert job.status is Status.DONE
    r = web.get(f"/experiments/{iid}/model")
    assert r.status_code == 200
    net = load_model(r.data)
    with torch.no_grad():
        accuracy = (net(part.test_x).argmax(1) == part.test_y).float().mean().item() * 100
    assert accuracy > 75 and abs(accuracy - job.metrics["test_accuracy"]) < 1.5
    assert load_model(models.path(iid)).fc1.weight.shape == (256, 784)
    with pytest.raises(ValueError, match="not an mltrack MNIST model"):
        load_model(pack_state({"format": "something else"}))


@pytest.fixture
def models_url(store, models):
    """The real app keeping models in `models`, on a free loopback port."""
    from helpers import serving
    with serving(create_app(store, models=models), threads=4) as url:
        yield url


def test_the_client_cli_keeper_thread_and_setting(store, models, models_url, tmp_path, capsys):
    import threading

    from helpers import wait_for
    from mltrack import cli
    from mltrack.client import Client, ClientError
    from mltrack.model_files import start_keeper
    from mltrack.settings import parse_settings
    stop = threading.Event()
    start_keeper(models, store, stop)
    try:
        iid = run_job(store, {"seed": 8})
        wait_for(lambda: models.find(iid))  # moved with no request
    finally:
        stop.set()
    with Client(models_url) as api:
        assert api.model(iid, tmp_path / "m.bin") == b"model of seed 8"
        assert (tmp_path / "m.bin").read_bytes() == b"model of seed 8"
        failed = run_job(store, {"fail": True})
        with pytest.raises(ClientError) as caught:
            api.model(failed)
        assert caught.value.status == 404 and "is failed" in str(caught.value)
    out = tmp_path / "cli.mltmodel"
    assert cli.main(["--url", models_url, "model", iid[:6], "-o", str(out)]) == 0
    assert out.read_bytes() == b"model of seed 8"
    assert cli.main(["--url", models_url, "model", failed]) == 1
    assert "only a done run has a model" in capsys.readouterr().err
    assert parse_settings(["--keep-models", "0"], environ={}).keep_models == 0
    assert parse_settings([], environ={"MLTRACK_KEEP_MODELS": "7"}).keep_models == 7
    assert parse_settings([], environ={}).keep_models == 100
    with pytest.raises(SystemExit):
        parse_settings(["--keep-models", "-1"], environ={})


def test_mltrack_model_output_errors_stdout_and_force(store, models_url, tmp_path,
                                                      capsysbinary, monkeypatch):
    import requests

    from mltrack import cli
    iid = run_job(store, {"seed": 9})
    url = ["--url", models_url, "model", iid[:8]]
    for target, said in [(tmp_path, "is a directory"),
                         (tmp_path / "nofolder" / "m.bin", "does not exist")]:
        assert cli.main([*url, "-o", str(target)]) == 1
        err = capsysbinary.readouterr().err.decode()
        assert err.startswith("mltrack: ") and said in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    existing = tmp_path / "old.mltmodel"
    existing.write_bytes(b"keep me")
    assert cli.main([*url, "-o", str(existing)]) == 1
    assert "--force" in capsysbinary.readouterr().err.decode()
    assert existing.read_bytes() == b"keep me"
    assert cli.main([*url, "-o", str(existing), "--force"]) == 0
    assert existing.read_bytes() == b"model of seed 9"
    capsysbinary.readouterr()
    assert cli.main([*url, "-o", "-"]) == 0  # stdout, as bytes
    assert capsysbinary.readouterr().out == b"model of seed 9"
    monkeypatch.chdir(tmp_path)  # the default name, here
    assert cli.main(url) == 0
    assert (tmp_path / f"saver-{iid}.mltmodel").read_bytes() == b"model of seed 9"
    # through waitress too: HEAD's length and a resumed download
    head = requests.head(f"{models_url}/experiments/{iid}/model", timeout=10)
    assert head.headers["Content-Length"] == str(len(b"model of seed 9"))
    part = requests.get(f"{models_url}/experiments/{iid}/model", headers={"Range": "bytes=6-"},
                        timeout=10)
    assert part.status_code == 206 and part.content == b"of seed 9"
